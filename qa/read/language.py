"""Telling an English question from one in a language the models cannot read.

The embedding model and the reader's word features are English only: a question in Russian or
French would be answered with confidence from words the service did not understand. Two cheap
cues, no model: the script of the question's letters (Cyrillic, CJK, Arabic...), and for
Latin-script languages how many of its words are common French, German, Spanish, Italian or
Portuguese function words ("le", "der", "el") against English ones. A foreign name or title in
an English question ("Who is Sergei Lavrov?", "Who wrote Le Comte de Monte Cristo?") passes.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

# A word is a run of letters; apostrophes split it ("qu'est-ce" → "qu", "est", "ce").
_WORD = re.compile(r"[^\W\d_]+")
# A question opening with one of these is English whatever names or titles follow.
_ENGLISH_OPENERS = frozenset("who whom whose what when where which why how".split())
_ENGLISH = frozenset(
    """the a an of to in on at by for with from about into and or not is are was were be been
    has have had do does did can could will would should shall may might must what who whom whose
    when where which why how many much long this that these those it its he she they his her
    their there than between after before during under over other some all any most more""".split()
)
# Frequent function words of each language. A few are English words too (German "was", "die"):
# a language is told only when its words outnumber the English ones.
_LATIN_LANGUAGES = {
    "French": frozenset(
        """le la les un une des du de et est sont qui que quoi quel quelle quels quelles où
        comment pourquoi quand combien dans pour avec sur par pas ce cette ces il elle ils elles
        au aux été était ont leur qu""".split()
    ),
    "German": frozenset(
        """der die das den dem des ein eine einen einem einer und ist sind war waren wer wie was
        wo wann warum welche welcher welches nicht mit von zu auf für im vom zum zur hat haben
        wurde wurden es sie er ich wir dass oder bei nach aus über""".split()
    ),
    "Spanish": frozenset(
        """el la los las un una unos unas de del y es son fue fueron qué que quién quiénes cuál
        cuándo dónde cómo cuántos cuántas por para con en se su sus lo al más está están hay""".split()
    ),
    "Italian": frozenset(
        """il lo la gli le un una uno di del della dei degli delle è chi che cosa quale quali
        quando dove perché quanto quanti quante per con su non sono era ha hanno nel nella al
        alla""".split()
    ),
    "Portuguese": frozenset(
        """o os um uma de do da dos das é que quem qual quais quando onde porque por para com em
        na nos nas não foi são ser seu sua""".split()
    ),
}
# The language a question in each non-Latin script most likely is (a script's name otherwise).
_SCRIPT_LANGUAGES = {
    "CYRILLIC": "Russian",
    "CJK": "Chinese",
    "HIRAGANA": "Japanese",
    "KATAKANA": "Japanese",
    "HANGUL": "Korean",
    "ARABIC": "Arabic",
    "HEBREW": "Hebrew",
    "GREEK": "Greek",
    "DEVANAGARI": "Hindi",
    "THAI": "Thai",
}
# Chinese and Japanese do not put spaces between words: each character counts as one.
_UNSPACED = {"Chinese", "Japanese"}
_UKRAINIAN_LETTERS = frozenset("іїєґІЇЄҐ")


def non_english_language(question: str) -> str | None:
    """The language ``question`` looks written in when that is plainly not English, else None."""
    words = _WORD.findall(question)
    if not words or words[0].lower() in _ENGLISH_OPENERS:
        return None
    english = sum(w.lower() in _ENGLISH for w in words)
    foreign, latin = _script_counts(words)
    if foreign and sum(foreign.values()) >= latin and english < 2:
        # Japanese writes with Chinese characters too; its kana tell it apart.
        language = "Japanese" if "Japanese" in foreign else foreign.most_common(1)[0][0]
        if language == "Russian" and _UKRAINIAN_LETTERS & set(question):
            return "Ukrainian"
        return language
    return _latin_language(words, english)


# Words that open a question asked without a question mark ("is it true that ...").
_QUESTION_OPENERS = _ENGLISH_OPENERS | frozenset(
    "is are was were do does did can could will would should has have had name list tell give "
    "explain describe define".split()
)
SEARCH_TERMS_MESSAGE = (
    "This looks like a search term rather than a question; the passages below mention it. "
    "Ask a full question for a quoted answer."
)


def looks_like_search_terms(question: str) -> bool:
    """One or two words, no question mark, no question word: "Rogozin", "missile defence".

    The reader answers questions; handed a bare name it would quote any sentence that mentions
    it, with the confidence of an exact match.
    """
    words = _WORD.findall(question)
    if "?" in question or len(words) > 2 or not words:
        return False
    return words[0].lower() not in _QUESTION_OPENERS


def unsupported_message(language: str) -> str:
    """What the service says to a question in ``language``."""
    return f"Only English questions are supported; this question looks like {language}."


def _script_counts(words: list[str]) -> tuple[Counter[str], int]:
    """Words in each non-Latin script's language, and the number of Latin-script words."""
    foreign: Counter[str] = Counter()
    latin = 0
    for word in words:
        scripts = Counter(_script(letter) for letter in word)
        if set(scripts) == {"LATIN"}:
            latin += 1
            continue
        for script, letters in scripts.items():
            if script == "LATIN":
                continue
            language = _SCRIPT_LANGUAGES.get(script, script.title())
            foreign[language] += letters if language in _UNSPACED else 1
    return foreign, latin


def _script(letter: str) -> str:
    """The Unicode script of a letter, from its name ("CYRILLIC SMALL LETTER A")."""
    name = unicodedata.name(letter, "")
    if "LATIN" in name or not name:
        return "LATIN"
    return next((script for script in _SCRIPT_LANGUAGES if script in name), name.split()[0])


def _latin_language(words: list[str], english: int) -> str | None:
    """A Latin-script language whose function words outnumber the English ones, if any."""
    lowered = [w.lower() for w in words]
    hits = {
        name: sum(w in vocabulary for w in lowered) for name, vocabulary in _LATIN_LANGUAGES.items()
    }
    language, count = max(hits.items(), key=lambda item: item[1])
    return language if count >= 2 and count > english else None
