"""Answer-type cues: what kind of answer a question asks for, and candidate spans of that kind."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

PERSON, DATE, NUMBER, MONEY, PLACE, NAME = "person", "date", "number", "money", "place", "name"
DURATION = "duration"

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_YEAR = r"(?:1[0-9]{3}|20[0-9]{2})s?"
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    r"eighty|ninety|hundred|thousand|million|billion|trillion|dozen|dozens|hundreds|thousands)"
)
_TIME_UNIT = (
    r"(?:seconds?|minutes?|hours?|days?|weeks?|fortnights?|months?|years?|decades?|centur(?:y|ies)"
    r"|millenni(?:um|a))"
)
# "25", "two and a half", "an", "half an": how many of a time unit.
_AMOUNT = (
    rf"(?:\d+(?:[.,]\d+)*|{_NUMBER_WORD}(?:[\s-]+(?:and\s+)?{_NUMBER_WORD})*"
    r"|(?:thousands|hundreds|millions)\s+of|half\s+an?|an?|a\s+few|several|many)"
    r"(?:\s+and\s+a\s+half)?"
)
_PATTERNS = {
    DATE: re.compile(
        rf"\b(?:{_MONTH}\s+{_YEAR}\b|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+{_YEAR})?"
        rf"|\d{{1,2}}\s+{_MONTH}(?:\s+{_YEAR})?|{_MONTH}(?=[\s,.;])|{_YEAR}|(?:spring|summer|autumn|fall|winter)\s+(?:of\s+)?{_YEAR})"
    ),
    MONEY: re.compile(
        r"(?:[$€£¥]\s?\d[\d,.]*(?:\s+(?:million|billion|trillion))?|\b\d[\d,.]*\s+(?:million\s+|billion\s+)?"
        r"(?:dollars|euros|pounds|yen|rubles|roubles|USD|EUR))",
        re.IGNORECASE,
    ),
    NUMBER: re.compile(
        rf"(?:\b\d[\d,.]*%?|\b{_NUMBER_WORD}(?:[\s-]+{_NUMBER_WORD})*\b)", re.IGNORECASE
    ),
    # "25 minutes", "three years", "10 to 15 days", "a 25-minute"; not the rate in "twice a day".
    # A stretch between dates answers "how long" too: "since 1951", "from 1892 to 1894".
    DURATION: re.compile(
        rf"(?<!\bper )(?<!\bonce )(?<!\btwice )(?<![\w.,])"
        rf"{_AMOUNT}(?:\s*(?:-|–|to|or)\s*{_AMOUNT})?[\s-]+{_TIME_UNIT}\b"
        rf"|\b(?:since|until)\s+(?:the\s+)?(?:{_MONTH}\s+)?{_YEAR}\b"
        rf"|\b(?:from\s+)?(?:{_MONTH}\s+)?{_YEAR}\s*(?:–|-|to|until)\s*(?:{_MONTH}\s+)?{_YEAR}\b",
        re.IGNORECASE,
    ),
}
_PERSON_NOUNS = (
    r"person|man|woman|minister|general|president|official|leader|ambassador|envoy|spokesman|"
    r"spokeswoman|secretary|chancellor|king|queen|emperor|author|writer|scientist|player|"
    r"coach|actor|actress|singer|founder|director|chief|commander|governor|senator|mayor|physicist"
)
# A run of capitalised words, allowing a few lower-case joiners ("Institute for Peace Research").
_NAME_SPAN = re.compile(
    r"(?:[A-Z][\w’'.-]*[\w]|[A-Z])(?:\s+(?:(?:of|for|and|the|de|von|van|la|al)\s+)?"
    r"(?:[A-Z][\w’'.-]*[\w]|[A-Z]|\d[\w-]*))*"
)
_TYPE_CUES: list[tuple[re.Pattern[str], str | None]] = [
    (
        re.compile(
            r"\bhow (?:much|many dollars)\b.*\b(?:cost|price|pay|paid|spend|spent|worth|budget|fund)",
            re.I,
        ),
        MONEY,
    ),
    # "How long is the bridge?" asks for a length; otherwise "how long" asks for a time.
    (
        re.compile(
            rf"\bhow (?:long(?! (?:is|was|are|were) the\b)|many {_TIME_UNIT})\b",
            re.I,
        ),
        DURATION,
    ),
    (
        re.compile(
            r"\b(?:how (?:many|much|long|far|old|large|big|high|tall|wide|deep)|what (?:number|percentage|percent|amount)|what (?:is|was|are|were) the (?:range|distance|length|height|population|size|speed|number))\b",
            re.I,
        ),
        NUMBER,
    ),
    (
        re.compile(
            r"\b(?:when|what (?:year|date|month|day|time)|which (?:year|date|month|day))\b", re.I
        ),
        DATE,
    ),
    (re.compile(r"\b(?:who|whom|whose)\b", re.I), PERSON),
    (re.compile(rf"\b(?:which|what)\s+(?:\w+\s+){{0,2}}?(?:{_PERSON_NOUNS})\b", re.I), PERSON),
    (
        re.compile(
            r"\b(?:where|(?:what|which) (?:city|country|countries|state|place|region|town|continent|capital|location))\b",
            re.I,
        ),
        PLACE,
    ),
    (re.compile(r"\bwhat (?:kind|type|sort)s? of\b", re.I), None),
    (re.compile(r"\b(?:which|what (?:is|was) the name)\b", re.I), NAME),
]
# Kinds whose spans are runs of capitalised words, and the small words allowed inside them.
NAME_KINDS = {"person", "place", "name"}
JOINERS = {"of", "for", "and", "the", "de", "von", "van", "la", "al"}
# Only these cues are strict: a sentence lacking such a span cannot answer the question.
STRICT_TYPES = {PERSON, DATE, NUMBER, MONEY, PLACE, DURATION}


@dataclass(frozen=True)
class Span:
    """A candidate answer span inside a sentence: ``text[start:end]``."""

    start: int
    end: int
    text: str
    # True when the question's own words were trimmed off its front ("Foreign Minister [Lavrov]"):
    # the span stands in apposition to what the question asks about.
    attached: bool = False


def expected_type(question: str) -> str | None:
    """The kind of answer the question asks for, or None when it gives no cue."""
    for pattern, kind in _TYPE_CUES:
        if pattern.search(question):
            return kind  # the first cue that matches decides, even when it says "no type"
    return None


def candidate_spans(sentence: str, kind: str) -> list[Span]:
    """Spans of ``sentence`` that could be an answer of ``kind``."""
    return list(iter_candidate_spans(sentence, kind))


def iter_candidate_spans(sentence: str, kind: str) -> Iterator[Span]:
    """``candidate_spans``, one at a time: whoever needs only the first stops early."""
    if kind in _PATTERNS:
        for m in _PATTERNS[kind].finditer(sentence):
            yield _trimmed(sentence, m.start(), m.end())
        return
    for m in _NAME_SPAN.finditer(sentence):
        if _is_calendar_expression(m.group()):
            continue
        span = Span(m.start(), m.end(), m.group())
        if (kind == PLACE or kind == PERSON) and _is_sentence_initial_word(sentence, span):
            continue
        if kind == PERSON and not _could_be_person(sentence, span):
            continue
        yield span


def _trimmed(sentence: str, start: int, end: int) -> Span:
    while end > start and sentence[end - 1] in " ,.;:":
        end -= 1
    return Span(start, end, sentence[start:end])


_CALENDAR_WORD = re.compile(
    rf"{_MONTH}|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday", re.IGNORECASE
)
_NUMERAL = re.compile(r"\d[\d,.]*(?:st|nd|rd|th|s)?")


def _is_calendar_expression(text: str) -> bool:
    """Calendar words and numbers only ("February 7", "Monday", "May 2010"): a date, not a name."""
    return all(
        _CALENDAR_WORD.fullmatch(token) or _NUMERAL.fullmatch(token)
        for token in text.replace(",", " ").split()
    )


# Head nouns that make a name a place or a structure, not a person ("North Sea", "Forth Bridge").
# Organisations stay: "Who commissioned the bridge?" is often answered by one ("Gateshead Council").
_PLACE_HEADS = frozenset(
    """Sea Seas Ocean Gulf Bay River Lake Island Islands Mountain Mountains Mount Valley
    Desert Coast Peninsula Strait Canal Republic Kingdom Empire States Province County
    City Town Village Street Avenue Road Square Park Bridge Tower Lighthouse Castle Palace
    Cathedral Stadium Airport Station Harbour Harbor Port""".split()
)
# A lone name right after these is where something is: "in Brussels", "the coast of Scotland".
_PLACE_BEFORE = re.compile(
    r"(?:\b(?:in|at|near)|\b(?:coast|shores?|city|town|village|capital|island|region|province|"
    r"state|county|country|kingdom|republic|port|north|south|east|west|centre|center|heart|"
    r"outskirts|part|area)\s+of)\s+(?:the\s+)?$",
    re.IGNORECASE,
)
# ... unless what follows reads as a person: "in Sophocles' play", "..., who said".
_PERSON_FOLLOWS = re.compile(r"[’'](?:s\b)?|,?\s+(?:who|whom|whose|said|says|told)\b")


def _could_be_person(sentence: str, span: Span) -> bool:
    """False for a span that is plainly a place or a structure rather than a person's name."""
    words = span.text.split()
    heads = {words[-1]} | {w for w, nxt in zip(words, words[1:], strict=False) if nxt == "of"}
    if heads & _PLACE_HEADS:
        return False
    if len(words) > 1:
        return True  # "Dmitry Rogozin" after "in" is still a person
    before = sentence[max(0, span.start - 24) : span.start]
    return not _PLACE_BEFORE.search(before) or bool(_PERSON_FOLLOWS.match(sentence, span.end))


def _is_sentence_initial_word(sentence: str, span: Span) -> bool:
    """A lone capitalised word at the start of a sentence is usually not a name ("The", "But")."""
    return span.start == 0 and " " not in span.text and span.text.lower() in _COMMON_INITIALS


_COMMON_INITIALS = {
    "the", "a", "an", "but", "and", "or", "if", "in", "on", "at", "as", "it", "this", "that",
    "these", "those", "he", "she", "they", "we", "i", "there", "then", "so", "while", "when",
    "after", "before", "since", "even", "still", "first", "second", "third", "some", "most",
    "many", "other", "such", "despite", "although", "however", "thus", "indeed", "ahead",
    "earlier", "also", "both", "each", "one", "yes", "no", "for", "from", "with", "by",
}  # fmt: skip
