"""Hybrid retrieval: dense (FAISS) and lexical (BM25) rankings of chunks, fused by reciprocal rank."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qa.index import ChunkIndex
from qa.lexical import LexicalIndex
from qa.schema import Chunk, Hit


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[int, float]]:
    """Fuse ranked id lists: score(id) = sum of weight / (k + rank); best first, ties by id."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


class Retriever:
    """Finds the chunks most likely to answer a question."""

    def __init__(
        self, chunks: Sequence[Chunk], dense: ChunkIndex, lexical: LexicalIndex, *,
        depth: int = 50, rrf_k: int = 60,
    ) -> None:
        if dense.size != len(chunks) or lexical.size != len(chunks):
            raise ValueError("dense index, lexical index and chunk list disagree in size")
        self._chunks = chunks
        self._dense = dense
        self._lexical = lexical
        self._depth = depth
        self._rrf_k = rrf_k

    def search(self, question: str, question_vector: np.ndarray, k: int) -> list[Hit]:
        """The ``k`` best chunks for ``question`` (whose embedding is ``question_vector``)."""
        depth = max(self._depth, k)
        dense = [row for row, _ in self._dense.search(question_vector, depth)]
        lexical = [row for row, _ in self._lexical.search(question, depth)]
        fused = reciprocal_rank_fusion([dense, lexical], k=self._rrf_k)[:k]
        return [Hit(self._chunks[row], score, rank) for rank, (row, score) in enumerate(fused, 1)]
