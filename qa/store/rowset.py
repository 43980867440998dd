"""Rows of an index that a filter allows, and exact search over them.

A build numbers its chunks and sentences in document order (``qa.store.contents``), so the rows
of the documents a filter keeps are a few contiguous runs: kept as sorted ``[start, end)`` pairs,
they turn into whatever each search needs (row ids, a FAISS bitmap, a Milvus expression) when it
is first asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

# Runs read in place, each a slice of the (memory-mapped) vectors; more, shorter runs are
# gathered into one array first (a slice costs a few microseconds however short it is).
MAX_SLICES = 256


@dataclass(frozen=True, eq=False)
class RowSet:
    """Some of the ``total`` rows of an index, as sorted, disjoint ``[start, end)`` runs."""

    starts: np.ndarray
    ends: np.ndarray
    total: int

    @classmethod
    def of_runs(cls, bounds: np.ndarray, picked: np.ndarray) -> RowSet:
        """The rows of the picked runs, where run ``i`` is ``bounds[i]`` to ``bounds[i + 1]``
        (``bounds`` ascending: each document's first row, then the end of the last)."""
        picked = np.asarray(picked, dtype=np.int64)
        starts, ends = bounds[picked], bounds[picked + 1]
        starts, ends = starts[ends > starts], ends[ends > starts]
        if len(starts) > 1:  # neighbouring documents make one run: fewer slices to read
            joined = starts[1:] == ends[:-1]
            starts = starts[np.concatenate(([True], ~joined))]
            ends = ends[np.concatenate((~joined, [True]))]
        return cls(starts.astype(np.int64), ends.astype(np.int64), int(bounds[-1]))

    @cached_property
    def size(self) -> int:
        """How many rows."""
        return int((self.ends - self.starts).sum())

    def runs(self) -> Iterator[tuple[int, int]]:
        """The ``(start, end)`` runs, in order."""
        return zip(self.starts.tolist(), self.ends.tolist(), strict=True)

    @cached_property
    def ids(self) -> np.ndarray:
        """Every row, ascending (int64): 8 bytes a row, so asked for small sets only (a
        bitmap takes one bit a row of the index)."""
        lengths = self.ends - self.starts
        # Each row is its run's start plus its place within the run.
        offsets = np.repeat(self.starts - np.cumsum(lengths) + lengths, lengths)
        return offsets + np.arange(self.size, dtype=np.int64)

    @cached_property
    def bitmap(self) -> np.ndarray:
        """One bit a row of the index, set for these: FAISS's ``IDSelectorBitmap`` layout."""
        mask = np.zeros(self.total, dtype=bool)
        for start, end in self.runs():
            mask[start:end] = True
        return np.packbits(mask, bitorder="little")

    def contains(self, rows: np.ndarray) -> np.ndarray:
        """Whether each of ``rows`` is one of these (a bool each), read from the bitmap."""
        rows = np.asarray(rows, dtype=np.int64)
        return ((self.bitmap[rows >> 3] >> (rows & 7)) & 1).astype(bool)

    def nearest(self, vectors: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The ``k`` of these rows of ``vectors`` with the highest inner product with
        ``query``, exactly, as ``(row, score)``: best first, ties by row."""
        base = np.asarray(vectors)  # a plain view: slicing a np.memmap costs several times more
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        if len(self.starts) <= MAX_SLICES:
            parts = [base[start:end] @ query for start, end in self.runs()]
            scores = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        else:
            scores = base[self.ids] @ query
        k = min(k, len(scores))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        rows, best = self.ids[top], scores[top]
        order = np.lexsort((rows, -best))
        return [(int(rows[i]), float(best[i])) for i in order]


@dataclass(frozen=True)
class AllowedRows:
    """The chunks and sentences of the ``documents`` documents a filter keeps."""

    chunks: RowSet
    sentences: RowSet
    documents: int

    @property
    def empty(self) -> bool:
        """Whether no document passes (the question then has nothing to be answered from)."""
        return self.documents == 0
