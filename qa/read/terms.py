"""The words a question and a candidate sentence share, weighed by how rare each is in the
collection (``TermStats``), and which of a question's words say what it is about
(``question_terms``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from qa.text import STOPWORDS, stem, words

# Words that shape a question but are not what it is about.
_QUESTION_FILLER = frozenset(
    "kind type sort name named call called many much year years date day time person people thing "
    "way happen happened exactly around approximately roughly".split()
)


@dataclass(frozen=True)
class TermStats:
    """Inverse document frequencies over sentences; unseen terms weigh the most."""

    idf: Mapping[str, float]
    unseen_idf: float

    @classmethod
    def from_term_sets(cls, term_sets: Iterable[frozenset[str]]) -> TermStats:
        df: dict[str, int] = {}
        n = 0
        for terms in term_sets:
            n += 1
            for term in terms:
                df[term] = df.get(term, 0) + 1
        return cls.from_frequencies(df, n)

    @classmethod
    def from_frequencies(cls, df: Mapping[str, int], n: int) -> TermStats:
        """From how many of ``n`` sentences hold each term (e.g. the sentence BM25 index's)."""
        idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        return cls(idf, math.log(1 + (n + 0.5) / 0.5))

    def weight(self, term: str) -> float:
        return self.idf.get(term, self.unseen_idf)

    def known(self, term: str) -> bool:
        """Whether any sentence of the collection holds ``term``."""
        return term in self.idf


def question_terms(question: str) -> frozenset[str]:
    """The stemmed terms a good answer sentence should share with the question."""
    return frozenset(
        stem(w)
        for w in words(question)
        if w.lower() not in STOPWORDS and w.lower() not in _QUESTION_FILLER
    )
