"""The FAISS and BM25 indexes, the index folder (manifest, atomic builds) and rebuild decisions."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from corpora import write_corpus

from qa.build import check_text_rules
from qa.config import Settings
from qa.errors import IndexMismatch, IndexUnavailable
from qa.ingest import TEXT_RULES
from qa.pipeline import QAPipeline, build_index
from qa.schema import DocumentSummary
from qa.store import (
    CURRENT,
    MANIFEST,
    IndexContents,
    check_settings,
    live_build,
    read_manifest,
    write_build,
    write_manifest,
)  # fmt: skip
from qa.store.contents import SENTENCE_VECTORS, STORE
from qa.store.dense import CHUNK_FILE, ChunkIndex
from qa.store.lexical import LexicalIndex

TINY_CORPUS = {
    "comets.txt": "Comets of the outer system\n\nHalley's Comet returns every 76 years. "
    "It was last seen from Earth in 1986.\n",
    "deep/tides.md": "# Ocean tides\n\nTides are caused by the gravity of the Moon and the Sun. "
    "Spring tides happen at new and full moon.\n",
}


def unit_vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def copy_index(settings: Settings, dest: Path) -> Settings:
    """A private copy of a built index folder, safe to damage."""
    shutil.copytree(settings.index_dir, dest, symlinks=True)
    return settings.with_overrides(index_dir=dest)


@pytest.fixture(scope="module")
def tiny_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """An index over a two-document corpus, built once for this module."""
    root = tmp_path_factory.mktemp("tiny")
    settings = Settings(corpus=write_corpus(root / "corpus", TINY_CORPUS), index_dir=root / "index")
    report = build_index(settings, progress=False)
    assert report.built and report.documents == 2
    return settings


# --- FAISS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", ["Flat", "HNSW32"])
def test_faiss_save_load_round_trip(tmp_path: Path, factory: str) -> None:
    vectors = unit_vectors(200)
    index = ChunkIndex.build(vectors, factory)
    assert (index.size, index.dim) == (200, 16)
    queries = unit_vectors(5, seed=1)
    before = [index.search(q, 10) for q in queries]
    index.save(tmp_path)
    loaded = ChunkIndex.load(tmp_path)
    assert (loaded.size, loaded.dim) == (200, 16)
    assert [loaded.search(q, 10) for q in queries] == before


def test_faiss_search_is_cosine_best_first() -> None:
    vectors = unit_vectors(50)
    index = ChunkIndex.build(vectors)
    results = index.search(vectors[7], 5)
    assert results[0][0] == 7 and results[0][1] == pytest.approx(1.0, abs=1e-5)
    scores = [s for _, s in results]
    assert scores == sorted(scores, reverse=True)
    expected = np.argsort(-(vectors @ vectors[7]))[:5].tolist()
    assert [row for row, _ in results] == expected


def test_faiss_search_k_larger_than_index_and_zero() -> None:
    index = ChunkIndex.build(unit_vectors(3))
    assert len(index.search(unit_vectors(1)[0], 10)) == 3
    assert index.search(unit_vectors(1)[0], 0) == []


def test_faiss_bad_factory_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="index_factory"):
        ChunkIndex.build(unit_vectors(4), "NoSuchIndex")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "missing"])
def test_damaged_faiss_file_is_an_index_mismatch(tmp_path: Path, damage: str) -> None:
    ChunkIndex.build(unit_vectors(20)).save(tmp_path)
    path = tmp_path / CHUNK_FILE
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a faiss index at all")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    with pytest.raises(IndexMismatch, match="--force"):
        ChunkIndex.load(tmp_path)


# --- BM25 --------------------------------------------------------------------------------------


def test_bm25_ranks_by_shared_stemmed_terms_and_round_trips(tmp_path: Path) -> None:
    texts = [
        "The volcano erupted and ash closed the airspace.",
        "Honey bees dance to show where flowers are.",
        "",  # a chunk with no terms must not break the index
        "Volcanoes erupt; eruptions of volcanoes are studied.",
    ]
    index = LexicalIndex.build(texts)
    results = index.search("Which volcanoes erupted?", 10)
    assert {row for row, _ in results} == {0, 3}
    assert results[0][0] == 3  # more matching terms
    assert index.search("the of and", 10) == []  # stopwords only
    assert index.search("submarine", 10) == []
    index.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path, len(texts))
    assert loaded.search("Which volcanoes erupted?", 10) == results


def test_damaged_bm25_is_an_index_mismatch(tmp_path: Path) -> None:
    LexicalIndex.build(["alpha beta", "gamma delta"]).save(tmp_path)
    for path in (tmp_path / "bm25").iterdir():
        path.write_bytes(b"garbage")
    with pytest.raises(IndexMismatch, match="--force"):
        LexicalIndex.load(tmp_path, 2)
    shutil.rmtree(tmp_path / "bm25")
    with pytest.raises(IndexMismatch):
        LexicalIndex.load(tmp_path, 2)


# --- atomic builds -------------------------------------------------------------------------------


def _writer(content: str):
    def write(folder: Path) -> None:
        write_manifest(folder, {"content": content})

    return write


def _leftovers(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.name.startswith(".tmp"))


def test_write_build_makes_the_new_build_live(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    first = write_build(index_dir, _writer("one"))
    assert (index_dir / CURRENT).is_symlink()
    assert live_build(index_dir) == first.resolve()
    assert read_manifest(index_dir) == {"content": "one"}
    second = write_build(index_dir, _writer("two"))
    assert live_build(index_dir) == second.resolve()
    assert read_manifest(index_dir) == {"content": "two"}
    assert not first.exists()  # the superseded build is removed
    assert sorted(p.name for p in index_dir.glob("build-*")) == [second.name]
    assert _leftovers(index_dir) == []


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failed_write_build_keeps_the_live_build(tmp_path: Path, error: BaseException) -> None:
    index_dir = tmp_path / "index"
    first = write_build(index_dir, _writer("one"))

    def failing(folder: Path) -> None:
        write_manifest(folder, {"content": "half-written"})
        (folder / "partial.bin").write_bytes(b"\x00" * 100)
        raise error

    with pytest.raises(type(error)):
        write_build(index_dir, failing)
    assert live_build(index_dir) == first.resolve()
    assert read_manifest(index_dir) == {"content": "one"}
    assert sorted(p.name for p in index_dir.glob("build-*")) == [first.name]
    assert _leftovers(index_dir) == []


def test_failed_build_index_keeps_the_previous_index_usable(
    tiny_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = copy_index(tiny_settings, tmp_path / "index")
    live_before = live_build(settings.index_dir)

    def broken_save(self, folder: Path) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(LexicalIndex, "save", broken_save)
    with pytest.raises(OSError, match="no space"):
        build_index(settings, force=True, progress=False)
    monkeypatch.undo()
    assert live_build(settings.index_dir) == live_before
    assert _leftovers(settings.index_dir) == []
    pipeline = QAPipeline.load(settings)
    answer = pipeline.ask("How often does Halley's Comet return?")
    assert answer.answerable and "76 years" in (answer.text or "")


def test_read_manifest_without_an_index(tmp_path: Path) -> None:
    with pytest.raises(IndexUnavailable, match="qa index") as info:
        read_manifest(tmp_path)
    assert not isinstance(info.value, IndexMismatch)
    assert live_build(tmp_path / "nope") is None


@pytest.mark.parametrize("content", ["{broken", "[1, 2]", ""])
def test_unreadable_manifest_is_an_index_mismatch(tmp_path: Path, content: str) -> None:
    (tmp_path / MANIFEST).write_text(content, encoding="utf-8")
    with pytest.raises(IndexMismatch, match="--force"):
        read_manifest(tmp_path)


def test_check_settings_names_every_difference(tmp_path: Path) -> None:
    built = {"settings": {"chunk_tokens": 180, "faiss_factory": "Flat", "model": "m"}}
    check_settings(built, {"chunk_tokens": 180, "faiss_factory": "Flat"}, tmp_path)  # no error
    with pytest.raises(IndexMismatch) as info:
        check_settings(
            built, {"chunk_tokens": 100, "faiss_factory": "HNSW32", "model": "m"}, tmp_path
        )
    message = str(info.value)
    assert "chunk_tokens: built with 180, now 100" in message
    assert "faiss_factory: built with 'Flat', now 'HNSW32'" in message
    assert "model" not in message.split("(")[1].split(")")[0]
    assert "--force" in message


def test_an_index_of_another_faiss_factory_only_needs_re_indexing(tmp_path: Path) -> None:
    built = {"settings": {"chunk_tokens": 180, "faiss_factory": "Flat"}}
    with pytest.raises(IndexMismatch) as info:
        check_settings(built, {"chunk_tokens": 180, "faiss_factory": "auto"}, tmp_path)
    assert "`qa index` re-indexes it from its stored vectors" in str(info.value)
    assert "--force" not in str(info.value)


# --- build_index and loading ---------------------------------------------------------------------


def test_build_index_skips_an_unchanged_corpus_and_rebuilds_when_asked_or_stale(
    tiny_settings: Settings, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_settings.corpus, corpus)
    settings = copy_index(tiny_settings, tmp_path / "index").with_overrides(corpus=corpus)
    # Another corpus folder with the same documents: re-pointed, nothing re-embedded.
    moved = build_index(settings, progress=False)
    assert moved.built and (moved.added, moved.updated, moved.unchanged) == (0, 0, 2)
    live = live_build(settings.index_dir)
    manifest = read_manifest(settings.index_dir)
    assert manifest["corpus"] == str(corpus.resolve())

    again = build_index(settings, progress=False)
    assert not again.built and again.folder == live and again.chunks == manifest["counts"]["chunks"]
    assert read_manifest(settings.index_dir) == manifest

    forced = build_index(settings, force=True, progress=False)
    assert forced.built and forced.folder != live
    assert live_build(settings.index_dir) == forced.folder.resolve()

    (corpus / "comets.txt").write_text(
        TINY_CORPUS["comets.txt"] + "\nIt will return in 2061.\n", encoding="utf-8"
    )
    stale = build_index(settings, progress=False)
    assert stale.built and stale.folder != forced.folder
    assert not build_index(settings, progress=False).built
    pipeline = QAPipeline.load(settings)
    assert "2061" in pipeline.document_text("comets.txt")
    assert "2061" in pipeline.search("return in 2061", top_k=1)[0].chunk.text


def test_build_with_other_settings_rebuilds_everything(
    tiny_settings: Settings, tmp_path: Path
) -> None:
    """A changed build setting re-embeds every document: nothing stored is reused."""
    settings = copy_index(tiny_settings, tmp_path / "index").with_overrides(chunk_tokens=99)
    report = build_index(settings, progress=False)
    assert report.built and (report.added, report.unchanged) == (2, 0)
    assert read_manifest(settings.index_dir)["settings"]["chunk_tokens"] == 99


@pytest.mark.parametrize(
    ("override", "name"),
    [
        ({"chunk_tokens": 100}, "chunk_tokens"),
        ({"chunk_overlap_sentences": 0}, "chunk_overlap_sentences"),
        ({"faiss_factory": "HNSW32"}, "faiss_factory"),
    ],
)
def test_loading_an_index_built_with_other_settings(
    tiny_settings: Settings, override: dict, name: str
) -> None:
    with pytest.raises(IndexMismatch) as info:
        QAPipeline.load(tiny_settings.with_overrides(**override))
    assert name in str(info.value)
    # Another FAISS factory needs only re-indexing; other settings, a rebuild.
    hint = "`qa index` re-indexes" if name == "faiss_factory" else "--force"
    assert hint in str(info.value)


def test_an_index_split_by_older_rules_is_served_until_the_next_build_resplits_it(
    tiny_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Documents' checksums are of their text: only the recorded rules tell that sentence
    splitting or cleaning changed since the build."""
    settings = copy_index(tiny_settings, tmp_path / "index")
    folder = live_build(settings.index_dir)
    assert folder is not None
    manifest = read_manifest(settings.index_dir)
    del manifest["settings"]["text_rules"]  # as written before the rules had a version
    write_manifest(folder, manifest)
    with caplog.at_level("WARNING"):
        pipeline = QAPipeline.load(settings)
    said = f"split into sentences by text rules 1, now {TEXT_RULES}: `qa index` re-splits it"
    assert said in caplog.text
    assert "Tides" in pipeline.search("tides", top_k=1)[0].chunk.text
    health = pipeline.health()
    assert (health["status"], health["stale"], health["text_rules"]) == ("stale", [], said)
    assert check_text_rules(settings) == said  # `qa index --check` prints it and exits 1

    report = build_index(settings, progress=False)
    assert report.built and (report.added, report.unchanged) == (2, 0)
    assert read_manifest(settings.index_dir)["settings"]["text_rules"] == TEXT_RULES
    caplog.clear()
    health = QAPipeline.load(settings).health()
    assert "text rules" not in caplog.text
    assert (health["status"], health["text_rules"]) == ("ok", None)
    assert check_text_rules(settings) is None


def test_query_settings_do_not_need_a_rebuild(tiny_settings: Settings) -> None:
    pipeline = QAPipeline.load(tiny_settings.with_overrides(top_k=2, abstain_threshold=0.9))
    assert len(pipeline.search("tides", top_k=1)) == 1


def test_loading_with_a_model_of_another_dimension(tiny_settings: Settings) -> None:
    class OtherModel:
        name, dim, max_tokens = "other", 3, 128

    with pytest.raises(IndexMismatch, match="--force"):
        QAPipeline.load(tiny_settings, embedder=OtherModel())  # type: ignore[arg-type]


def test_no_index_is_index_unavailable(tmp_path: Path) -> None:
    settings = Settings(corpus=tmp_path, index_dir=tmp_path / "index")
    with pytest.raises(IndexUnavailable, match="qa index") as info:
        QAPipeline.load(settings)
    assert not isinstance(info.value, IndexMismatch)


def test_a_build_folder_can_be_given_directly(tiny_settings: Settings) -> None:
    folder = live_build(tiny_settings.index_dir)
    assert folder is not None and folder.name.startswith("build-")
    pipeline = QAPipeline.load(tiny_settings.with_overrides(index_dir=folder))
    assert pipeline.health()["documents"] == 2


def _damage(settings: Settings, what: str) -> None:
    folder = live_build(settings.index_dir)
    assert folder is not None
    if what == "store-json":
        (folder / STORE).write_text("{not json", encoding="utf-8")
    elif what == "store-shape":
        store = json.loads((folder / STORE).read_text(encoding="utf-8"))
        store["chunks"] = [["only", "three", "fields"]]
        (folder / STORE).write_text(json.dumps(store), encoding="utf-8")
    elif what == "store-missing":
        (folder / STORE).unlink()
    elif what == "vectors":
        np.save(folder / SENTENCE_VECTORS, np.zeros((1, 384), dtype=np.float32))
    elif what == "faiss":
        (folder / CHUNK_FILE).write_bytes(b"junk")
    elif what == "bm25":
        shutil.rmtree(folder / "bm25")
    elif what == "manifest":
        (folder / MANIFEST).write_text("{", encoding="utf-8")


@pytest.mark.parametrize(
    "what", ["store-json", "store-shape", "store-missing", "vectors", "faiss", "bm25", "manifest"]
)
def test_damaged_index_is_an_index_mismatch(
    tiny_settings: Settings, tmp_path: Path, what: str
) -> None:
    settings = copy_index(tiny_settings, tmp_path / "index")
    QAPipeline.load(settings)  # the copy is sound
    _damage(settings, what)
    with pytest.raises(IndexMismatch, match="--force"):
        QAPipeline.load(settings)


def test_store_round_trip(tiny_settings: Settings) -> None:
    folder = live_build(tiny_settings.index_dir)
    assert folder is not None
    contents = IndexContents.load(folder)
    documents, sentences, chunks = contents.documents, contents.sentences, contents.chunks
    vectors = contents.sentence_vectors
    assert [d.doc_id for d in documents] == ["comets.txt", "deep/tides.md"]
    assert vectors.bare.shape == vectors.titled.shape == (len(sentences), 384)
    assert contents.chunk_vectors.shape == (len(chunks), 384)
    # Titles change the embedding of sentences that do not start with them.
    assert not np.allclose(vectors.bare, vectors.titled)
    raw = {d.doc_id: d.raw_text for d in documents}
    for s in sentences:
        assert raw[s.doc_id][s.start] == s.text[0]
    for c in chunks:
        assert raw[c.doc_id][c.start : c.end].startswith(c.text.split()[0])
    manifest = read_manifest(tiny_settings.index_dir)
    assert manifest["counts"] == {
        "documents": 2, "sentences": len(sentences), "chunks": len(chunks),
    }  # fmt: skip
    assert set(manifest["documents"]) == {"comets.txt", "deep/tides.md"}


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_load_checks_big_files_by_size_and_a_build_hashes_them(
    tiny_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading hashes files up to ``LOAD_HASH_LIMIT`` and sizes the rest; a build that reuses the
    live one hashes everything, so rot that keeps a size is caught before it spreads."""
    import qa.store.local as local
    from qa.store import IndexStore
    from qa.store.folder import verify_checksums

    settings = copy_index(tiny_settings, tmp_path / "index")
    folder = live_build(settings.index_dir)
    assert folder is not None
    manifest = read_manifest(settings.index_dir)
    assert manifest["sizes"][STORE] == (folder / STORE).stat().st_size
    vectors = folder / SENTENCE_VECTORS
    monkeypatch.setattr(local, "LOAD_HASH_LIMIT", vectors.stat().st_size - 1)
    _flip_a_byte(vectors)  # same size: not hashed when loading
    QAPipeline.load(settings)
    with pytest.raises(IndexMismatch, match=f"{SENTENCE_VECTORS} \\(changed\\)"):
        verify_checksums(folder, manifest)
    assert IndexStore(settings.index_dir).previous(manifest["settings"]) is None  # rebuilt
    with vectors.open("ab") as f:
        f.write(b"\0")  # a size that is not the recorded one: caught when loading too
    with pytest.raises(IndexMismatch, match=f"{SENTENCE_VECTORS} \\(changed\\)"):
        QAPipeline.load(settings)


def _rewrite_manifest_sums(folder: Path) -> None:
    """As a hand-edited build would: checksums that match whatever is there now."""
    from qa.store.folder import checksums, file_sizes, read_manifest_in

    manifest = read_manifest_in(folder)
    write_manifest(
        folder, {**manifest, "checksums": checksums(folder), "sizes": file_sizes(folder)}
    )


@pytest.mark.parametrize("damage", ["rows-shape", "rows-document", "rows-text", "rows-sentence"])
def test_records_that_disagree_are_a_mismatch_even_with_matching_checksums(
    tiny_settings: Settings, tmp_path: Path, damage: str
) -> None:
    from qa.store.records import CHUNK_ROWS, SENTENCE_ROWS, TEXTS

    settings = copy_index(tiny_settings, tmp_path / "index")
    folder = live_build(settings.index_dir)
    assert folder is not None
    sentences = np.load(folder / SENTENCE_ROWS)
    chunks = np.load(folder / CHUNK_ROWS)
    if damage == "rows-shape":
        np.save(folder / CHUNK_ROWS, chunks[:, :3])
    elif damage == "rows-document":
        sentences[-1, 0] = 2  # the store has documents 0 and 1
        np.save(folder / SENTENCE_ROWS, sentences)
    elif damage == "rows-text":
        sentences[0, 3] = (folder / TEXTS).stat().st_size  # text past the end of the file
        np.save(folder / SENTENCE_ROWS, sentences)
    else:
        chunks[-1, 5] = len(sentences)  # a last sentence the store lacks
        np.save(folder / CHUNK_ROWS, chunks)
    _rewrite_manifest_sums(folder)
    with pytest.raises(IndexMismatch, match="is damaged"):
        QAPipeline.load(settings)


def test_a_store_of_the_json_format_still_loads(tiny_settings: Settings, tmp_path: Path) -> None:
    """Builds before the memory-mapped records kept every record in store.json."""
    from qa.store.records import CHUNK_ROWS, DOCUMENT_ROWS, SENTENCE_ROWS, TEXTS

    settings = copy_index(tiny_settings, tmp_path / "index")
    folder = live_build(settings.index_dir)
    assert folder is not None
    mapped = IndexContents.load(folder)
    old = {
        "documents": [
            {
                "doc_id": d.doc_id,
                "title": d.title,
                "raw_text": d.raw_text,
                "sha256": d.sha256,
                "page_starts": list(d.page_starts),
            }
            for d in mapped.documents
        ],
        "sentences": [[s.doc_id, s.start, s.end, s.text] for s in mapped.sentences],
        "chunks": [
            [c.doc_id, c.start, c.end, c.n_tokens, c.first_sentence, c.last_sentence, c.text]
            for c in mapped.chunks
        ],
    }
    (folder / STORE).write_text(json.dumps(old), encoding="utf-8")
    for name in (TEXTS, DOCUMENT_ROWS, SENTENCE_ROWS, CHUNK_ROWS):
        (folder / name).unlink()
    _rewrite_manifest_sums(folder)
    loaded = IndexContents.load(folder)
    # That format kept no metadata (documents' types and fields came with format 2's stores).
    assert list(loaded.documents) == [replace(d, meta={}) for d in mapped.documents]
    assert list(loaded.sentences) == list(mapped.sentences)
    assert list(loaded.chunks) == list(mapped.chunks)
    assert dict(loaded.document_texts()) == dict(mapped.document_texts())
    question = "When was Halley's Comet last seen?"
    assert (
        QAPipeline.load(settings).ask(question).text
        == QAPipeline.load(tiny_settings).ask(question).text
    )


def test_mapped_records_read_like_a_sequence(tiny_settings: Settings) -> None:
    folder = live_build(tiny_settings.index_dir)
    assert folder is not None
    contents = IndexContents.load(folder)
    sentences = contents.sentences
    assert [s.sentence_id for s in sentences] == list(range(len(sentences)))
    assert sentences[-1] == sentences[len(sentences) - 1]
    assert sentences[1:3] == [sentences[1], sentences[2]]
    assert sentences == tuple(sentences) and tuple(sentences) == sentences  # by value
    assert sentences != tuple(sentences)[:-1]
    with pytest.raises(IndexError):
        sentences[len(sentences)]
    raw = contents.document_texts()["comets.txt"][1]
    assert all(raw[s.start : s.end] == s.text for s in sentences if s.doc_id == "comets.txt")


def test_documents_are_listed_without_reading_their_texts(
    tiny_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.store.records import Texts

    folder = live_build(tiny_settings.index_dir)
    assert folder is not None
    contents = IndexContents.load(folder)
    want = sorted(
        (DocumentSummary(d.doc_id, d.title, len(d.raw_text)) for d in contents.documents),
        key=lambda d: d.doc_id,
    )

    def no_reading(*_: object) -> str:
        raise AssertionError("a document's text was read to list it")

    monkeypatch.setattr(Texts, "get", no_reading)
    assert IndexContents.load(folder).document_listing() == want
    monkeypatch.undo()

    # A store written before it kept each document's length: the texts are read instead.
    settings = copy_index(tiny_settings, tmp_path / "index")
    older = live_build(settings.index_dir)
    assert older is not None
    store = json.loads((older / STORE).read_text(encoding="utf-8"))
    for meta in store["documents"]:
        del meta["chars"]
    (older / STORE).write_text(json.dumps(store), encoding="utf-8")
    _rewrite_manifest_sums(older)
    assert IndexContents.load(older).document_listing() == want
    assert QAPipeline.load(settings).documents() == want
