"""The short answer inside a quoted sentence: the words that answer the question.

Two sources. The cross-encoder's span head, trained on SQuAD questions, reads the question and the
sentence together and points at the answer's words; it answers any kind of question. The rules
below find spans of the kind the question asks for (a date for "when", a person for "who") among
the sentence's words that the question does not already say. The span head's pick is kept when it
is of the asked-for kind; otherwise the best typed span is, and when the sentence holds no span
of that kind there is no short answer rather than a wrong one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from qa.read import answer_types
from qa.text import content_terms, stem, words

# Share of a candidate span's words that must be absent from the question.
_NOVEL_SHARE = 0.5
# Characters a span-head pick may have beyond a typed span it holds ("in [1998]", "[35] people").
_TYPED_SLACK = 12


def choose(
    text: str,
    q_terms: frozenset[str],
    kind: str | None,
    learned: tuple[int, int] | None,
) -> str | None:
    """The short answer in ``text``: the span head's pick ``text[start:end]`` when it agrees
    with the question's expected ``kind``, else the rules' typed span, else none.
    """
    if learned is not None:
        start, end = learned
        picked = text[start:end].strip(" ,.;:")
        if picked and _fits_kind(text, start, end, q_terms, kind):
            return picked
    return short_answer(text, q_terms, kind)


def _fits_kind(text: str, start: int, end: int, q_terms: frozenset[str], kind: str | None) -> bool:
    """Whether the span ``text[start:end]`` answers a question of ``kind``.

    Untyped and "which" questions take any span that says something the question does not;
    strictly typed ones need a span of their kind inside it, give or take a few words.
    """
    picked = text[start:end]
    terms = content_terms(picked)
    if terms and all(t in q_terms for t in terms):
        return False  # the question's own words are no answer
    if kind is None or kind not in answer_types.STRICT_TYPES:
        return True
    return any(
        s.start >= start and s.end <= end and (end - start) - (s.end - s.start) <= _TYPED_SLACK
        for s in novel_spans(text, q_terms, kind)
    )


def novel_spans(text: str, q_terms: frozenset[str], kind: str) -> list[answer_types.Span]:
    """Candidate spans of ``kind`` in ``text``, less what the question already says.

    A name span often carries the title the question asks about ("Russian Foreign Minister Sergei
    Lavrov" for "Which Russian foreign minister…"): the question's words are trimmed off its ends.
    What remains must be mostly new to the question, and must not start with a joiner ("… Affairs
    and Security Policy" is the tail of the same title, not a name).
    """
    return list(_iter_novel_spans(text, q_terms, kind))


def has_novel_span(text: str, q_terms: frozenset[str], kind: str) -> bool:
    """Whether ``novel_spans`` would find one (the reader's type features need no more)."""
    return next(_iter_novel_spans(text, q_terms, kind), None) is not None


def _iter_novel_spans(text: str, q_terms: frozenset[str], kind: str) -> Iterator[answer_types.Span]:
    for span in answer_types.iter_candidate_spans(text, kind):
        if kind in answer_types.NAME_KINDS:
            trimmed = _trim_question_words(text, span, q_terms, kind)
            if trimmed is None:
                continue
            span = trimmed
        terms = content_terms(span.text)
        new = [t for t in terms if t not in q_terms]
        if terms and len(new) >= _NOVEL_SHARE * len(terms):
            yield span


def _trim_question_words(
    text: str, span: answer_types.Span, q_terms: frozenset[str], kind: str
) -> answer_types.Span | None:
    """Cut the question's words off the front (and, for a person, the end) of a name span.

    A person's name holds none of the question's words: what still does is a title ("Deputy
    Secretary General for ..."). For things, a trailing question word is the name's head noun
    ("New START [Treaty]") and stays.
    """
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(span.text)]

    def echoes(word: str) -> bool:
        return stem(word) in q_terms or word.lower() in answer_types.JOINERS

    lo, hi = 0, len(tokens)
    while lo < hi and echoes(tokens[lo][2]):
        lo += 1
    person = kind == answer_types.PERSON
    while person and hi > lo and echoes(tokens[hi - 1][2]):
        hi -= 1
    if lo == hi or (lo > 0 and tokens[lo - 1][2].lower() in answer_types.JOINERS):
        return None
    if person and any(stem(word) in q_terms for _, _, word in tokens[lo:hi]):
        return None
    if not any(ch.isalpha() for _, _, word in tokens[lo:hi] for ch in word):
        return span  # "Phase [3]": a bare number is not a name; keep the whole span
    start, end = span.start + tokens[lo][0], span.start + tokens[hi - 1][1]
    return answer_types.Span(start, end, text[start:end], attached=lo > 0)


_TOKEN = re.compile(r"\S+")


def short_answer(text: str, q_terms: frozenset[str], kind: str | None) -> str | None:
    """The span of the asked-for kind nearest to the question's words in ``text``, if any."""
    if kind is None:
        return None
    spans = novel_spans(text, q_terms, kind)
    if not spans:
        return None
    anchors = [(i, i + len(w)) for i, w in _word_positions(text) if stem(w) in q_terms]
    if not anchors:
        return spans[0].text

    def gap(span: answer_types.Span) -> int:
        """Characters between the span and the nearest question word."""
        return min(max(a_start - span.end, span.start - a_end, 0) for a_start, a_end in anchors)

    def preference(span: answer_types.Span) -> int:
        if any(text[span.end : a_start].strip() == "(" for a_start, _ in anchors):
            return 2  # "Full Name (ACRONYM)" where the question says ACRONYM: its own subject
        # For a person, the question's words before a name are a title ("Foreign Minister
        # [Sergei Lavrov]"): best. For a place or thing they are part of the same name
        # ("Mediterranean [Sea]"): worst.
        if kind == answer_types.PERSON:
            return 0 if span.attached else 1
        return 1 if span.attached else 0

    return min(spans, key=lambda s: (preference(s), gap(s), s.start)).text


def _word_positions(text: str) -> list[tuple[int, str]]:
    positions, pos = [], 0
    for word in words(text):
        pos = text.find(word, pos)
        positions.append((pos, word))
        pos += len(word)
    return positions
