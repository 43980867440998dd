"""Sentence splitting and the word-level analysis shared by lexical retrieval and answer scoring."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer  # PyStemmer: the Snowball stemmers, also used by bm25s

# Abbreviations after which a period does not end a sentence.
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "gen", "lt", "col", "maj", "capt", "adm", "sgt", "cpl",
    "sen", "rep", "gov", "pres", "st", "jr", "sr", "no", "vs", "etc", "inc", "co", "corp", "ltd",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "e.g", "i.e", "u.s", "u.k", "u.n", "a.m", "p.m", "fig", "approx", "dept", "est", "mt", "ft",
    # Papers' references: "Daly et al. (2002) found", "see Eq. (4)", "in Sec. 4.2", "Vol. 2".
    "al", "cf", "eq", "eqs", "eqn", "figs", "sec", "secs", "ref", "refs", "vol", "pp", "resp",
    "viz",
}  # fmt: skip
# A sentence ends at . ! ? (plus closing quotes/brackets) before whitespace and a capital,
# a digit or an opening quote.
_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])")
_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom whose why will with would you your yours yourself yourselves according also said say says
    """.split()
)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Spans ``[start, end)`` of the sentences in cleaned text; a newline always ends one."""
    spans: list[tuple[int, int]] = []
    for para_start, para_end in _paragraph_spans(text):
        start = para_start
        for match in _BOUNDARY.finditer(text, para_start, para_end):
            if _is_abbreviation(text, start, match.start()):
                continue
            spans.append((start, match.end()))
            start = _skip_space(text, match.end(), para_end)
        if start < para_end:
            spans.append((start, para_end))
    return spans


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in re.finditer(r"\n", text):
        if match.start() > start:
            spans.append((start, match.start()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def _skip_space(text: str, pos: int, end: int) -> int:
    while pos < end and text[pos].isspace():
        pos += 1
    return pos


def _is_abbreviation(text: str, sent_start: int, period: int) -> bool:
    """Is the word before ``period`` an abbreviation or an initial ("J. Scott")?"""
    if text[period] != ".":
        return False
    word_start = period
    while word_start > sent_start and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:period].lstrip("\"'“‘([").lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def words(text: str) -> list[str]:
    """Word tokens, keeping inner hyphens and apostrophes ("SM-3", "Russia's")."""
    return _WORD.findall(text)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1 << 17)  # words repeat (Zipf): indexing 13k texts stems a few thousand
def stem(word: str) -> str:
    """Lower-cased Snowball stem of one word, possessive "'s" dropped.

    "-ian" loses its "n", so a place and its people meet: Russia/Russian, India/Indian.
    """
    lower = word.lower().replace("’", "'")
    if lower.endswith("'s"):
        lower = lower[:-2]
    stemmed = _stemmer().stemWord(lower)
    return stemmed[:-1] if len(stemmed) >= 6 and stemmed.endswith("ian") else stemmed


def content_terms(text: str) -> list[str]:
    """Stemmed, stopword-free terms: what lexical matching compares.

    A hyphenated compound counts whole and by its word parts, so "NATO-Russia" also matches
    "NATO"; codes like "TPY-2" do not yield a bare "2".
    """
    terms = []
    for word in words(text):
        if word.lower() in STOPWORDS:
            continue
        terms.append(stem(word))
        if "-" in word:
            terms.extend(
                stem(p)
                for p in word.split("-")
                if len(p) >= 3 and p.isalpha() and p.lower() not in STOPWORDS
            )
    return terms


_URL = re.compile(r"\bhttps?://\S+")


def titled(title: str, text: str) -> str:
    """A passage as the embedding model and BM25 see it: headed by its document's title.

    Passages often name their subject only in the title ("It was founded in 1890"); the title
    lets both rankings match a question that names it. The quoted text never includes it.
    """
    # A web address in a title (a paper's "... https://www.ncbi.nlm.nih.gov/pmc/articles/PMC...")
    # says nothing of the subject and costs the encoders a dozen tokens a passage.
    title = " ".join(_URL.sub(" ", title).split())
    if not title or text.startswith(title):
        return text
    return f"{title} {text}" if title[-1] in ".!?:" else f"{title}. {text}"


# The previous sentence a cross-encoder trained with context reads is cut to this many characters
# (at a word): its start usually names who or what "he" or "it" of the next one is.
CONTEXT_CHARS = 200


def in_context(title: str, previous: str, text: str) -> str:
    """A sentence headed by its document's title and the sentence before it (cut to
    ``CONTEXT_CHARS``), as a cross-encoder trained with context reads it; ``text`` always ends it.
    With no sentence before (or no context read), ``titled(title, text)``.
    """
    previous = previous.strip()
    if len(previous) > CONTEXT_CHARS:
        cut = previous.rfind(" ", 0, CONTEXT_CHARS)
        previous = previous[: cut if cut > 0 else CONTEXT_CHARS].rstrip() + " …"
    return titled(title, f"{previous} {text}" if previous else text)
