"""Reciprocal rank fusion on hand-made rankings, and the hybrid Retriever."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.errors import IndexMismatch
from qa.pipeline import QAPipeline
from qa.read.retrieval import Retriever, reciprocal_rank_fusion
from qa.schema import Chunk
from qa.store.dense import ChunkIndex
from qa.store.lexical import LexicalIndex

# --- reciprocal rank fusion ----------------------------------------------------------------------


def test_rrf_single_ranking_keeps_its_order_and_scores() -> None:
    fused = reciprocal_rank_fusion([[30, 10, 20]], k=60)
    assert [item for item, _ in fused] == [30, 10, 20]
    assert [score for _, score in fused] == pytest.approx([1 / 61, 1 / 62, 1 / 63])


def test_rrf_sums_over_lists_and_counts_items_in_one_list_only() -> None:
    fused = dict(reciprocal_rank_fusion([[1, 2, 3], [3, 4]], k=10))
    assert fused[1] == pytest.approx(1 / 11)
    assert fused[2] == pytest.approx(1 / 12)
    assert fused[3] == pytest.approx(1 / 13 + 1 / 11)
    assert fused[4] == pytest.approx(1 / 12)
    assert set(fused) == {1, 2, 3, 4}


def test_rrf_agreement_beats_a_single_first_place() -> None:
    fused = reciprocal_rank_fusion([[7, 5], [9, 5], [8, 5]], k=60)
    assert fused[0][0] == 5


def test_rrf_ties_are_broken_by_id() -> None:
    # 4 and 2 are each first in one list and second in the other: equal scores.
    fused = reciprocal_rank_fusion([[4, 2], [2, 4]], k=60)
    assert [item for item, _ in fused] == [2, 4]
    assert fused[0][1] == fused[1][1]
    fused = reciprocal_rank_fusion([[9], [3], [6]])
    assert [item for item, _ in fused] == [3, 6, 9]


def test_rrf_weights() -> None:
    plain = reciprocal_rank_fusion([[1], [2]], k=60)
    assert [item for item, _ in plain] == [1, 2]  # a tie, broken by id
    weighted = reciprocal_rank_fusion([[1], [2]], k=60, weights=[1.0, 2.0])
    assert [item for item, _ in weighted] == [2, 1]
    assert dict(weighted)[2] == pytest.approx(2 / 61)
    assert dict(reciprocal_rank_fusion([[1, 2]], weights=[0.0]))[1] == 0.0


def test_rrf_small_k_sharpens_the_head() -> None:
    # With k=1 being first in one list beats being second in two; with k=60 it does not.
    rankings = [[1, 2], [3, 2]]
    assert reciprocal_rank_fusion(rankings, k=60)[0][0] == 2
    sharp = dict(reciprocal_rank_fusion(rankings, k=1))
    assert sharp[1] == pytest.approx(1 / 2) and sharp[2] == pytest.approx(2 / 3)


def test_rrf_empty_and_mismatched_weights() -> None:
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[1], [2]], weights=[1.0])


# --- Retriever with hand-made vectors ------------------------------------------------------------


def _chunk(i: int, first: int, last: int, text: str) -> Chunk:
    return Chunk(i, "doc.txt", text, 0, len(text), 5, first, last)


def _basis(i: int, dim: int = 4) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[i] = 1.0
    return v


@pytest.fixture()
def toy_retriever() -> Retriever:
    # Three chunks over five sentences; chunk 1 overlaps chunks 0 and 2 by one sentence each.
    chunks = [
        _chunk(0, 0, 1, "volcano ash cloud"),
        _chunk(1, 1, 3, "honey bees dance"),
        _chunk(2, 3, 4, "ocean tides moon"),
    ]
    dense = ChunkIndex.build(np.stack([_basis(0), _basis(1), _basis(2)]))
    sentences = ChunkIndex.build(np.stack([_basis(0), _basis(0), _basis(3), _basis(2), _basis(2)]))
    sentence_texts = ["volcano", "ash cloud honey", "bees dance", "ocean", "tides moon"]
    return Retriever(
        chunks,
        dense,
        sentences,
        LexicalIndex.build([c.text for c in chunks]),
        LexicalIndex.build(sentence_texts),
    )


def test_retriever_fuses_dense_sentence_and_lexical_rankings(toy_retriever: Retriever) -> None:
    hits = toy_retriever.search("ocean tides", _basis(2), k=3)
    assert [h.chunk.chunk_id for h in hits][0] == 2
    assert [h.rank for h in hits] == [1, 2, 3]
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_retriever_ranks_chunks_by_their_best_sentence(toy_retriever: Retriever) -> None:
    # Sentence 2 (only in chunk 1) matches the query best; no chunk vector does.
    assert toy_retriever._owners.rank_chunks([(2, 1.0), (0, 0.5)])[0] == 1
    ranking = toy_retriever._owners.rank_chunks([(1, 1.0), (4, 0.5)])
    assert ranking == [0, 1, 2]  # sentence 1 is shared by chunks 0 and 1
    assert len(ranking) == len(set(ranking))


def test_retriever_fuses_sentence_bm25(toy_retriever: Retriever) -> None:
    # "honey" is in chunk 1's text but in sentence 1, which chunk 0 shares: the sentence ranking
    # puts chunk 0 first, and with dense rankings indifferent the fused order follows it.
    hits = toy_retriever.search("cloud honey", np.full(4, 0.5, dtype=np.float32), k=3)
    assert {h.chunk.chunk_id for h in hits[:2]} == {0, 1}


def test_retriever_lexical_match_wins_when_vectors_do_not_help(toy_retriever: Retriever) -> None:
    hits = toy_retriever.search("bees", np.full(4, 0.5, dtype=np.float32), k=1)
    assert hits[0].chunk.chunk_id == 1


def test_retriever_k_limits_hits(toy_retriever: Retriever) -> None:
    assert len(toy_retriever.search("volcano", _basis(0), k=1)) == 1
    assert len(toy_retriever.search("volcano", _basis(0), k=10)) == 3


def test_retriever_refuses_indexes_of_another_size() -> None:
    chunks = [_chunk(0, 0, 0, "a b"), _chunk(1, 1, 1, "c d")]
    one = ChunkIndex.build(np.stack([_basis(0)]))
    two = ChunkIndex.build(np.stack([_basis(0), _basis(1)]))
    sentence_lexical = LexicalIndex.build(["a b", "c d"])
    with pytest.raises(IndexMismatch, match="disagree"):
        Retriever(chunks, one, two, LexicalIndex.build(["a b", "c d"]), sentence_lexical)
    with pytest.raises(IndexMismatch, match="disagree"):
        Retriever(chunks, two, two, LexicalIndex.build(["a b"]), sentence_lexical)
    with pytest.raises(IndexMismatch, match="disagree"):
        Retriever(chunks, two, two, LexicalIndex.build(["a b", "c d"]), LexicalIndex.build(["a"]))


# --- Retriever over the fixture index ------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "doc_id"),
    [
        ("When did the volcano erupt?", "volcanoes.txt"),
        ("ash cloud over Europe", "volcanoes.txt"),
        ("How do bees tell each other where flowers are?", "nested/bees.md"),
        ("queen egg laying", "nested/bees.md"),
    ],
)
def test_fixture_search_finds_the_right_document(
    fixture_pipeline: QAPipeline, query: str, doc_id: str
) -> None:
    hits = fixture_pipeline.search(query, top_k=2)
    assert hits[0].chunk.doc_id == doc_id
    assert hits[0].rank == 1


def test_fixture_search_hits_quote_the_raw_document(fixture_pipeline: QAPipeline) -> None:
    (hit,) = fixture_pipeline.search("Eyjafjallajokull", top_k=1)
    raw = fixture_pipeline.document_text(hit.chunk.doc_id)
    assert "Eyjafjallajokull erupted in April 2010" in hit.chunk.text
    assert raw[hit.chunk.start : hit.chunk.end].startswith(hit.chunk.text[:20])
    assert hit.to_dict()["doc_id"] == "volcanoes.txt"


def test_document_frequencies_count_the_texts_holding_each_term(tmp_path) -> None:
    texts = ["Missiles, missiles and radars.", "Radars in Poland.", "", "Poland and Romania."]
    index = LexicalIndex.build(texts)
    want = {"missil": 1, "radar": 2, "poland": 2, "romania": 1}
    assert index.document_frequencies() == want  # the empty text's placeholder is left out
    index.save(tmp_path)
    assert LexicalIndex.load(tmp_path, len(texts)).document_frequencies() == want  # mapped


def test_the_readers_term_weights_are_the_sentence_indexs(fixture_pipeline: QAPipeline) -> None:
    from qa.read.terms import TermStats
    from qa.text import content_terms

    reader = fixture_pipeline._reader
    counted = TermStats.from_term_sets(frozenset(content_terms(s.text)) for s in reader._sentences)
    assert reader._stats == counted


@given(
    documents=st.lists(
        st.tuples(st.integers(1, 12), st.integers(1, 5), st.integers(0, 2)), min_size=1, max_size=6
    )
)
@settings(max_examples=150, deadline=None)
def test_sentence_owners_are_the_chunks_that_hold_each_sentence(documents) -> None:
    """Documents of n sentences cut into chunks of `size` sentences overlapping by `overlap`."""
    from qa.read.retrieval import SentenceOwners

    chunks, first_sentence = [], 0
    for n, size, overlap in documents:
        start = 0
        while True:
            end = min(start + size, n) - 1
            chunks.append(
                Chunk(len(chunks), "d", "t", 0, 1, 5, first_sentence + start, first_sentence + end)
            )
            if end == n - 1:
                break
            start = max(start + 1, end + 1 - overlap)
        first_sentence += n
    owners = SentenceOwners(chunks, first_sentence)
    for sentence in range(first_sentence):
        want = [c.chunk_id for c in chunks if c.first_sentence <= sentence <= c.last_sentence]
        assert list(owners.chunks_of(sentence)) == want
    assert list(owners.chunks_of(first_sentence)) == []


def test_chunks_out_of_document_order_are_a_mismatch() -> None:
    from qa.read.retrieval import SentenceOwners

    chunks = [Chunk(0, "d", "t", 0, 1, 5, 3, 4), Chunk(1, "d", "t", 0, 1, 5, 0, 2)]
    with pytest.raises(IndexMismatch, match="document order"):
        SentenceOwners(chunks, 5)
