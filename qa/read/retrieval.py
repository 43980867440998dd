"""Hybrid retrieval: dense and lexical (BM25) rankings of chunks and of their sentences, fused by
reciprocal rank; from FAISS and BM25 files (``Retriever``) or from Milvus (``HybridRetriever``).

A filter's rows (``AllowedRows``) restrict all four rankings inside each search, not after it:
the best passages of the documents kept are found however far down the whole collection's
ranking they would lie.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from qa.errors import IndexMismatch
from qa.schema import Chunk, Hit
from qa.store import LocalSearch
from qa.store.dense import ChunkIndex
from qa.store.lexical import LexicalIndex
from qa.store.milvus import MilvusSearch
from qa.store.rowset import AllowedRows, RowSet


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]],
    k: int = 60,
    weights: Sequence[float] | None = None,
    start: Sequence[tuple[int, float]] = (),
) -> list[tuple[int, float]]:
    """Fuse ranked id lists: score(id) = sum of weight / (k + rank); best first, ties by id.

    ``start``: scores already fused from other rankings (by Milvus), added to.
    """
    weights = weights or [1.0] * len(rankings)
    scores: dict[int, float] = dict(start)
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


class HybridStore(Protocol):
    """A store that ranks passages by dense vector and by BM25, and fuses both rankings itself."""

    size: int

    def dense(
        self, vector: np.ndarray, k: int, within: RowSet | None = None
    ) -> list[tuple[int, float]]: ...

    def lexical(
        self, query: str, k: int, within: RowSet | None = None
    ) -> list[tuple[int, float]]: ...

    def fused(
        self, query: str, vector: np.ndarray, k: int, rrf_k: int, within: RowSet | None = None
    ) -> list[tuple[int, float]]: ...


def retriever_for(
    chunks: Sequence[Chunk], search: LocalSearch | MilvusSearch, *, depth: int, rrf_k: int
) -> Retriever | HybridRetriever:
    """The retriever over a loaded build's searchable index, whichever backend holds it."""
    if isinstance(search, LocalSearch):
        return Retriever(
            chunks,
            search.dense,
            search.sentence_dense,
            search.lexical,
            search.sentence_lexical,
            depth=depth,
            rrf_k=rrf_k,
        )
    return HybridRetriever(chunks, search.chunks, search.sentences, depth=depth, rrf_k=rrf_k)


class Retriever:
    """Finds the chunks most likely to answer a question.

    Four rankings are fused, each of the chunks themselves and of their sentences, by embedding
    similarity and by BM25: a chunk that mixes topics dilutes its own embedding and term counts,
    while its single best sentence does not.
    """

    def __init__(
        self,
        chunks: Sequence[Chunk],
        dense: ChunkIndex,
        sentence_index: ChunkIndex,
        lexical: LexicalIndex,
        sentence_lexical: LexicalIndex,
        *,
        depth: int = 50,
        rrf_k: int = 60,
    ) -> None:
        if dense.size != len(chunks) or lexical.size != len(chunks):
            raise IndexMismatch("dense index, lexical index and chunk list disagree in size")
        if sentence_index.size != sentence_lexical.size:
            raise IndexMismatch("the sentence indexes disagree in size")
        self._chunks = chunks
        self._dense = dense
        self._sentences = sentence_index
        self._owners = SentenceOwners(chunks, sentence_index.size)
        self._lexical = lexical
        self._sentence_lexical = sentence_lexical
        self._depth = depth
        self._rrf_k = rrf_k

    def search(
        self, question: str, question_vector: np.ndarray, k: int, within: AllowedRows | None = None
    ) -> list[Hit]:
        """The ``k`` best chunks for ``question`` (whose embedding is ``question_vector``); with
        ``within``, of those rows only."""
        depth = max(self._depth, k)
        chunks, sentences = _split(within)
        rankings = [
            [row for row, _ in self._dense.search(question_vector, depth, chunks)],
            self._owners.rank_chunks(self._sentences.search(question_vector, depth, sentences)),
            [row for row, _ in self._lexical.search(question, depth, chunks)],
            self._owners.rank_chunks(self._sentence_lexical.search(question, depth, sentences)),
        ]
        fused = reciprocal_rank_fusion(rankings, k=self._rrf_k)[:k]
        return [Hit(self._chunks[row], score, rank) for rank, (row, score) in enumerate(fused, 1)]


class HybridRetriever:
    """The same four rankings as ``Retriever``, from a store that fuses the chunks' dense and
    BM25 rankings itself (Milvus's hybrid search); the sentences' two rankings are added to that
    fusion here, since a sentence ranks the chunks that hold it.
    """

    def __init__(
        self,
        chunks: Sequence[Chunk],
        chunk_store: HybridStore,
        sentence_store: HybridStore,
        *,
        depth: int = 50,
        rrf_k: int = 60,
    ) -> None:
        if chunk_store.size != len(chunks):
            raise IndexMismatch("the chunk collection and the chunk list disagree in size")
        self._chunks = chunks
        self._store = chunk_store
        self._sentences = sentence_store
        self._owners = SentenceOwners(chunks, sentence_store.size)
        self._depth = depth
        self._rrf_k = rrf_k

    def search(
        self, question: str, question_vector: np.ndarray, k: int, within: AllowedRows | None = None
    ) -> list[Hit]:
        """The ``k`` best chunks for ``question`` (whose embedding is ``question_vector``); with
        ``within``, of those rows only."""
        depth = max(self._depth, k)
        chunk_rows, sentence_rows = _split(within)
        by_sentence = [
            self._owners.rank_chunks(self._sentences.dense(question_vector, depth, sentence_rows)),
            self._owners.rank_chunks(self._sentences.lexical(question, depth, sentence_rows)),
        ]
        chunks = self._store.fused(question, question_vector, depth, self._rrf_k, chunk_rows)
        fused = reciprocal_rank_fusion(by_sentence, k=self._rrf_k, start=chunks)
        # Sums of the same terms added in another order differ in their last bits: rounded, the
        # rows the faiss backend ties stay tied, and are ordered by row.
        fused.sort(key=lambda item: (-round(item[1], 12), item[0]))
        return [
            Hit(self._chunks[row], score, rank) for rank, (row, score) in enumerate(fused[:k], 1)
        ]


def _split(within: AllowedRows | None) -> tuple[RowSet | None, RowSet | None]:
    """The chunk rows and the sentence rows of a filter (None, None: every row)."""
    return (within.chunks, within.sentences) if within is not None else (None, None)


class SentenceOwners:
    """For each sentence, the chunks that contain it (more than one where chunks overlap).

    Chunks run through each document in order, so their first and last sentences never go back:
    the chunks holding sentence ``s`` are the run from the first whose last sentence reaches
    ``s`` to the last whose first sentence is at or before it. Two arrays instead of a list per
    sentence (some 300 MB of lists at five million sentences).
    """

    def __init__(self, chunks: Sequence[Chunk], n_sentences: int) -> None:
        bounds = np.array(
            [(c.first_sentence, c.last_sentence) for c in chunks], dtype=np.int64
        ).reshape(len(chunks), 2)
        self._first, self._last = bounds[:, 0].copy(), bounds[:, 1].copy()
        if (np.diff(self._first) < 0).any() or (np.diff(self._last) < 0).any():
            raise IndexMismatch(
                "the index's chunks are not in document order; rebuild it with `qa index --force`"
            )
        self._n_sentences = n_sentences

    def rank_chunks(self, sentences: Sequence[tuple[int, float]]) -> list[int]:
        """Chunks in the order of their best-ranked sentence in ``sentences`` (best first)."""
        ranking: list[int] = []
        seen: set[int] = set()
        for run in self._runs([sentence for sentence, _ in sentences]):
            for chunk in run:
                if chunk not in seen:
                    seen.add(chunk)
                    ranking.append(chunk)
        return ranking

    def chunks_of(self, sentence: int) -> range:
        return self._runs([sentence])[0]

    def _runs(self, sentences: Sequence[int]) -> list[range]:
        """The chunks holding each sentence (none for one outside the index): both bisections
        for all the sentences at once, one numpy call each, not two a sentence."""
        ids = np.asarray(sentences, dtype=np.int64)
        inside = ((ids >= 0) & (ids < self._n_sentences)).tolist()
        los = np.searchsorted(self._last, ids, side="left").tolist()
        his = np.searchsorted(self._first, ids, side="right").tolist()
        return [
            range(lo, max(lo, hi)) if ok else range(0)
            for lo, hi, ok in zip(los, his, inside, strict=True)
        ]
