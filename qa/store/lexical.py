"""BM25 over the same chunks as the dense index; the only module that imports bm25s.

A loaded index is memory-mapped: its score matrix stays on disk and a query reads the postings of
its own terms only (the vocabulary is read into RAM).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

from qa.errors import IndexMismatch
from qa.store.rowset import RowSet
from qa.text import content_terms

BM25_DIR = "bm25"  # chunks; sentences have their own index in SENTENCE_BM25_DIR
SENTENCE_BM25_DIR = "bm25-sentences"
logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets its own logger to DEBUG
PLACEHOLDER = "\x00"  # the one term of a text that has none: bm25s cannot index an empty list


class LexicalIndex:
    """BM25 ranking of texts (chunks or sentences) by stemmed, stopword-free terms (``qa.text``)."""

    def __init__(self, retriever: bm25s.BM25, size: int) -> None:
        self._retriever = retriever
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        return cls.from_terms([content_terms(t) for t in texts])

    @classmethod
    def from_terms(cls, terms: Sequence[list[str]]) -> LexicalIndex:
        """The index of texts already analysed with ``qa.text.content_terms``."""
        retriever = bm25s.BM25()
        # An empty token list would break bm25s; a placeholder term matches no query.
        retriever.index([t or [PLACEHOLDER] for t in terms], show_progress=False)
        return cls(retriever, len(terms))

    def search(self, query: str, k: int, within: RowSet | None = None) -> list[tuple[int, float]]:
        """Up to ``k`` texts sharing a term with ``query``, as ``(row, bm25 score)``, best first;
        with ``within``, of those rows only."""
        terms = content_terms(query)
        k = min(k, self.size)
        if not terms or k <= 0:
            return []
        scores = self._retriever.get_scores(terms)
        # Choose among the texts that share a term only: bm25s's own selection partitions every
        # score, zeros included, which took 43 of 45 ms a query over a million chunks. A filter
        # keeps its own rows of those (exact, as bm25s's weight_mask would be, without a mask
        # as long as the index to multiply every score by).
        rows = np.flatnonzero(scores > 0)
        if within is not None:
            rows = rows[within.contains(rows)]
        if len(rows) > k:
            rows = rows[np.argpartition(-scores[rows], k - 1)[:k]]
        best = np.lexsort((rows, -scores[rows]))  # best first, ties by row
        return [(int(rows[i]), float(scores[rows[i]])) for i in best]

    def document_frequencies(self) -> dict[str, int]:
        """How many of the indexed texts hold each term: the lengths of the score matrix's
        columns (every posting scores above 0), read without loading the postings."""
        counts = np.diff(np.asarray(self._retriever.scores["indptr"]))
        return {
            term: int(counts[column])
            for term, column in self._retriever.vocab_dict.items()
            if column < len(counts) and term != PLACEHOLDER
        }

    def save(self, folder: Path, name: str = BM25_DIR) -> None:
        self._retriever.save(str(folder / name))

    @classmethod
    def load(cls, folder: Path, size: int, name: str = BM25_DIR) -> LexicalIndex:
        try:
            retriever = bm25s.BM25.load(str(folder / name), mmap=True)
        except (OSError, ValueError, KeyError) as exc:
            raise IndexMismatch(
                f"the BM25 index in {folder} cannot be read ({exc}); rebuild it with `qa index --force`"
            ) from exc
        return cls(retriever, size)
