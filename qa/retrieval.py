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
    """Finds the chunks most likely to answer a question.

    Three rankings are fused: chunks by embedding similarity, chunks by their single most similar
    sentence (a chunk that mixes topics dilutes its own embedding), and chunks by BM25.
    """

    def __init__(
        self,
        chunks: Sequence[Chunk],
        dense: ChunkIndex,
        sentence_index: ChunkIndex,
        lexical: LexicalIndex,
        *,
        depth: int = 50,
        rrf_k: int = 60,
    ) -> None:
        if dense.size != len(chunks) or lexical.size != len(chunks):
            raise ValueError("dense index, lexical index and chunk list disagree in size")
        self._chunks = chunks
        self._dense = dense
        self._sentences = sentence_index
        self._chunks_of_sentence = _chunks_of_sentence(chunks, sentence_index.size)
        self._lexical = lexical
        self._depth = depth
        self._rrf_k = rrf_k

    def search(self, question: str, question_vector: np.ndarray, k: int) -> list[Hit]:
        """The ``k`` best chunks for ``question`` (whose embedding is ``question_vector``)."""
        depth = max(self._depth, k)
        dense = [row for row, _ in self._dense.search(question_vector, depth)]
        by_sentence = self._rank_by_sentence(question_vector, depth)
        lexical = [row for row, _ in self._lexical.search(question, depth)]
        fused = reciprocal_rank_fusion([dense, by_sentence, lexical], k=self._rrf_k)[:k]
        return [Hit(self._chunks[row], score, rank) for rank, (row, score) in enumerate(fused, 1)]

    def _rank_by_sentence(self, question_vector: np.ndarray, depth: int) -> list[int]:
        """Chunks in the order of their best-matching sentence."""
        ranking: list[int] = []
        seen: set[int] = set()
        for sentence, _ in self._sentences.search(question_vector, depth):
            for chunk in self._chunks_of_sentence[sentence]:
                if chunk not in seen:
                    seen.add(chunk)
                    ranking.append(chunk)
        return ranking


def _chunks_of_sentence(chunks: Sequence[Chunk], n_sentences: int) -> list[list[int]]:
    """For each sentence, the chunks that contain it (more than one where chunks overlap)."""
    owners: list[list[int]] = [[] for _ in range(n_sentences)]
    for chunk in chunks:
        for sid in range(chunk.first_sentence, chunk.last_sentence + 1):
            owners[sid].append(chunk.chunk_id)
    return owners
