"""Scale: the FAISS index chosen by size, its recall against exact search, memory-mapped loading,
and the manifest's record of what was built."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np
import pytest
from corpora import write_corpus
from embedders import NeverEmbeds

from qa.build import build_index
from qa.config import Settings
from qa.errors import IndexMismatch
from qa.pipeline import QAPipeline
from qa.store import IndexContents, IndexStore, LocalSearch, live_build, read_manifest
from qa.store import dense as dense_module
from qa.store.dense import AUTO, ChunkIndex, DenseSpec, set_search_threads
from qa.store.lexical import LexicalIndex

CORPUS = {
    "comets.txt": "Comets of the outer system\n\nHalley's Comet returns every 76 years. "
    "It was last seen from Earth in 1986.\n",
    "deep/tides.md": "# Ocean tides\n\nTides are caused by the gravity of the Moon and the Sun. "
    "Spring tides happen at new and full moon.\n",
}


def clustered(n: int, dim: int = 32, clusters: int = 50, seed: int = 0) -> np.ndarray:
    """Unit vectors in clusters, as text embeddings are (uniform noise would be too easy on IVF
    and too hard on everything)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    vectors = centres[rng.integers(0, clusters, size=n)] + rng.normal(scale=0.6, size=(n, dim))
    vectors = vectors.astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def recall_at_10(index: ChunkIndex, vectors: np.ndarray, queries: np.ndarray) -> float:
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    # As retrieval asks: 50 deep (candidate_depth), of which the top 10 count.
    found = [[row for row, _ in index.search(q, 50)[:10]] for q in queries]
    return float(
        np.mean([len(set(f) & set(e.tolist())) / 10 for f, e in zip(found, exact, strict=True)])
    )


@pytest.fixture(autouse=True)
def one_search_thread() -> Iterator[None]:
    """FAISS on one OpenMP thread, as a query process runs it: on busy cores, two threads made
    PQ training several times slower."""
    before = faiss.omp_get_max_threads()
    set_search_threads(1)
    yield
    set_search_threads(before)


@pytest.fixture
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The size tiers shrunk 100-fold, so a test set of thousands reaches every tier."""
    monkeypatch.setattr(dense_module, "EXACT_BELOW", 500)
    monkeypatch.setattr(dense_module, "GRAPH_BELOW", 3_000)


# --- the factory by size ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "factory", "search", "refine"),
    [
        (36, "Flat", "", 0),  # the seeds
        (2_067, "Flat", "", 0),  # SQuAD v1.1 dev
        (49_999, "Flat", "", 0),
        (50_000, "HNSW32", "efSearch=128", 0),
        (299_999, "HNSW32", "efSearch=128", 0),
        (300_000, "IVF512,PQ48np", "nprobe=128", 10),
        (1_000_000, "IVF1024,PQ48np", "nprobe=256", 10),
    ],
)
def test_auto_chooses_the_factory_by_size(n: int, factory: str, search: str, refine: int) -> None:
    assert DenseSpec.choose(n, 384) == DenseSpec(factory, search, refine)


def test_a_given_factory_is_kept_with_search_settings_that_hold_recall() -> None:
    assert DenseSpec.choose(10, 384, "Flat") == DenseSpec("Flat")
    assert DenseSpec.choose(10, 384, "HNSW32") == DenseSpec("HNSW32", "efSearch=128")
    assert DenseSpec.choose(10, 384, "IVF256,PQ48") == DenseSpec("IVF256,PQ48", "nprobe=64", 10)
    assert DenseSpec.choose(10, 384, "IVF256,Flat").refine == 0  # exact codes: no re-scoring
    ChunkIndex.check_factory(AUTO)  # no error


def test_pq_code_size_divides_the_dimension() -> None:
    assert DenseSpec.choose(1_000_000, 384).factory.endswith(",PQ48np")
    assert DenseSpec.choose(1_000_000, 100).factory.endswith(",PQ10np")  # 100 / 8 is not whole


# --- recall of the approximate indexes against exact search ----------------------------------------


@pytest.mark.parametrize(("n", "factory"), [(2_000, "HNSW32"), (10_000, "IVF128,PQ4np")])
def test_approximate_search_recalls_what_exact_search_finds(
    small_thresholds: None, n: int, factory: str
) -> None:
    vectors = clustered(n)
    index = ChunkIndex.build(vectors, AUTO)
    assert index.spec.factory == factory
    queries = clustered(50, seed=1)
    assert recall_at_10(index, vectors, queries) >= 0.95
    # Re-scored on the exact vectors: the scores are the true cosines, best first.
    results = index.search(queries[0], 10)
    assert [s for _, s in results] == sorted((s for _, s in results), reverse=True)
    for row, score in results:
        assert score == pytest.approx(float(vectors[row] @ queries[0]), abs=1e-5)


def test_an_index_that_re_scores_needs_its_vectors(tmp_path: Path) -> None:
    built = ChunkIndex.build(clustered(3_000), DenseSpec("IVF16,PQ4np", "nprobe=4", 10))
    built.save(tmp_path)
    with pytest.raises(IndexMismatch, match="vectors"):
        ChunkIndex.load(tmp_path, spec=built.spec)


# --- memory-mapped loading ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "factory"), [(400, "Flat"), (2_000, "HNSW32"), (10_000, "IVF128,PQ4np")]
)
def test_memory_mapped_vectors_give_the_same_answers(
    small_thresholds: None, tmp_path: Path, n: int, factory: str
) -> None:
    vectors = clustered(n)
    built = ChunkIndex.build(vectors, AUTO)
    assert built.spec.factory == factory
    built.save(tmp_path)
    np.save(tmp_path / "vectors.npy", vectors)
    mapped = np.load(tmp_path / "vectors.npy", mmap_mode="r")
    loaded = ChunkIndex.load(tmp_path, spec=built.spec, vectors=mapped)
    queries = clustered(20, seed=2)
    assert [loaded.search(q, 20) for q in queries] == [built.search(q, 20) for q in queries]


def test_rows_are_read_from_the_file_as_the_mapping_holds_them(tmp_path: Path) -> None:
    """Re-scoring reads rows with pread (no mapping): of a matrix, and of the titled half of the
    sentences' (bare, titled) vector pairs, a strided view."""
    from qa.store.dense import RowReader

    pairs = np.stack([clustered(500, seed=3), clustered(500, seed=4)], axis=1)
    np.save(tmp_path / "pairs.npy", pairs)
    mapped = np.load(tmp_path / "pairs.npy", mmap_mode="r")
    rows = np.array([0, 7, 250, 489])
    for view in (mapped[:, 0], mapped[:, 1], mapped[10:, 1]):
        reader = RowReader.of(view)
        assert reader is not None
        assert np.array_equal(reader.rows(rows), np.asarray(view[rows]))
    assert RowReader.of(pairs[:, 1]) is None  # in memory: indexed as it is


def test_bm25_loaded_memory_mapped_ranks_as_built(tmp_path: Path) -> None:
    texts = [f"document {i} about {word}" for i, word in enumerate(["tides", "comets"] * 50)]
    built = LexicalIndex.build(texts)
    built.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path, len(texts))
    assert isinstance(loaded._retriever.scores["data"], np.memmap)
    for query in ["tides", "comets document 7", "nothing shared"]:
        assert loaded.search(query, 10) == built.search(query, 10)


def test_bm25_takes_the_best_of_the_texts_sharing_a_term_ties_by_row() -> None:
    index = LexicalIndex.build(["ocean tides"] * 4 + ["comets return"] * 3 + ["nothing here"])
    assert [row for row, _ in index.search("tides", 2)] == [0, 1]
    # "comets" is in fewer texts than "tides": it weighs more; the last text shares no term.
    assert [row for row, _ in index.search("tides comets", 10)] == [4, 5, 6, 0, 1, 2, 3]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(corpus=write_corpus(tmp_path / "corpus", CORPUS), index_dir=tmp_path / "index")


def test_a_loaded_index_maps_its_vectors_and_answers_as_from_memory(settings: Settings) -> None:
    build_index(settings, progress=False)
    folder = live_build(settings.index_dir)
    assert folder is not None
    contents = IndexContents.load(folder)
    for vectors in (contents.chunk_vectors, contents.sentence_vectors.titled):
        assert isinstance(vectors, np.memmap) and not vectors.flags.writeable
    in_memory = ChunkIndex.load(folder, vectors=np.array(contents.chunk_vectors))
    mapped = IndexStore(settings.index_dir).load(read_manifest(settings.index_dir)["settings"])
    query = np.array(contents.chunk_vectors[0])
    assert isinstance(mapped.search, LocalSearch)
    assert mapped.search.dense.search(query, 5) == in_memory.search(query, 5)
    answer = QAPipeline.load(settings).ask("How often does Halley's Comet return?")
    assert answer.answerable and answer.citations[0].doc_id == "comets.txt"


# --- the manifest ----------------------------------------------------------------------------------


def test_the_manifest_records_each_factory(settings: Settings) -> None:
    build_index(settings, progress=False)
    manifest = read_manifest(settings.index_dir)
    assert manifest["settings"]["faiss_factory"] == AUTO
    flat = {"factory": "Flat", "search": "", "refine": 0}
    assert manifest["faiss"] == {"chunks": flat, "sentences": flat}
    assert QAPipeline.load(settings).health()["index"]["faiss"] == manifest["faiss"]


def test_a_recorded_factory_is_what_loads(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dense_module, "EXACT_BELOW", 1)  # even these few vectors get a graph
    build_index(settings, progress=False)
    manifest = read_manifest(settings.index_dir)
    graph = {"factory": "HNSW32", "search": "efSearch=128", "refine": 0}
    assert manifest["faiss"] == {"chunks": graph, "sentences": graph}
    monkeypatch.undo()  # what loads is the manifest's record, not today's thresholds
    pipeline = QAPipeline.load(settings)
    assert pipeline.search("ocean tides moon", top_k=1)[0].chunk.doc_id == "deep/tides.md"


def test_another_factory_reindexes_without_embedding(settings: Settings) -> None:
    build_index(settings, progress=False)
    before = live_build(settings.index_dir)
    graph = settings.with_overrides(faiss_factory="HNSW32")
    report = build_index(
        graph, progress=False, embedder=NeverEmbeds("again for a new FAISS factory")
    )  # type: ignore[arg-type]
    assert report.built and (report.added, report.updated, report.unchanged) == (0, 0, 2)
    assert live_build(settings.index_dir) != before
    manifest = read_manifest(settings.index_dir)
    assert manifest["settings"]["faiss_factory"] == "HNSW32"
    assert manifest["faiss"]["chunks"]["factory"] == "HNSW32"
    assert not build_index(graph, progress=False).built  # and then it is up to date
