"""The Milvus backend (QA_BACKEND=milvus) on a real Milvus Lite: its settings, what a build writes
to Milvus and drops, how it stays in step with incremental builds, and serving over HTTP.

The behaviours both backends share (answers, exact citations, health, bad input) run on both
through conftest's parametrised ``fixture_settings`` and ``app``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from backends import needs_milvus
from corpora import CORPUS, GLACIER, change_three_ways, write_corpus
from embedders import NeverEmbeds
from servers import free_port, milvus_server, start_server

from qa.build import build_index
from qa.config import Settings
from qa.errors import DependencyMissing, IndexMismatch, IndexUnavailable, InvalidSetting
from qa.pipeline import QAPipeline
from qa.store import IndexContents, IndexStore, live_build, read_manifest
from qa.store import milvus as milvus_module
from qa.store.milvus import client as milvus_client
from qa.text import titled

pytestmark = needs_milvus

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def living(tmp_path: Path) -> Settings:
    """A corpus folder and its index in a Milvus Lite file, private to one test."""
    corpus = write_corpus(tmp_path / "corpus", CORPUS)
    settings = Settings(corpus=corpus, index_dir=tmp_path / "index", backend="milvus")
    build_index(settings, progress=False)
    return settings


def client_of(settings: Settings) -> Any:
    return milvus_module.connect(IndexStore.of(settings).milvus)


def entry(settings: Settings) -> dict[str, Any]:
    return read_manifest(settings.index_dir)["milvus"]


def ours(settings: Settings) -> set[str]:
    """The collections of this index folder in its Milvus."""
    namespace = entry(settings)["namespace"]
    return {n for n in client_of(settings).list_collections() if n.startswith(f"{namespace}_")}


def rows(settings: Settings, kind: str) -> list[dict[str, Any]]:
    name = entry(settings)["collections"][kind]
    return client_of(settings).query(
        name, filter="id >= 0", output_fields=["id", "doc_id", "start", "end", "text"]
    )


# --- settings --------------------------------------------------------------------------------------


def test_backend_settings_are_read_and_checked(tmp_path: Path) -> None:
    assert Settings().backend == "faiss"
    settings = Settings.from_env({"QA_BACKEND": "milvus", "QA_INDEX_DIR": str(tmp_path)})
    assert settings.backend == "milvus"
    assert IndexStore.of(settings).milvus.uri == str(tmp_path / "milvus.db")
    remote = Settings.from_env({"QA_MILVUS_URI": "http://milvus:19530", "QA_MILVUS_TOKEN": "a:b"})
    assert (IndexStore.of(remote).milvus.uri, IndexStore.of(remote).milvus.token) == (
        "http://milvus:19530",
        "a:b",
    )
    with pytest.raises(InvalidSetting, match="faiss, milvus"):
        Settings.from_env({"QA_BACKEND": "elastic"})
    with pytest.raises(InvalidSetting, match="QA_MILVUS_PREFIX"):
        Settings.from_env({"QA_MILVUS_PREFIX": "9-lives"})


def test_a_faiss_factory_with_milvus_is_refused_before_any_embedding(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", CORPUS)
    settings = Settings(
        corpus=corpus, index_dir=tmp_path / "index", backend="milvus", faiss_factory="HNSW32"
    )
    with pytest.raises(InvalidSetting, match="faiss backend"):
        build_index(settings, progress=False, embedder=NeverEmbeds("with a refused setting"))


def test_without_pymilvus_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pymilvus", None)  # as if it were not installed
    corpus = write_corpus(tmp_path / "corpus", CORPUS)
    settings = Settings(corpus=corpus, index_dir=tmp_path / "index", backend="milvus")
    with pytest.raises(DependencyMissing, match=r"pip install -e '\.\[milvus\]'"):
        build_index(settings, progress=False, embedder=NeverEmbeds("without pymilvus"))
    assert live_build(settings.index_dir) is None


def test_an_unreachable_milvus_server_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(milvus_client, "CONNECT_SECONDS", 1.0)
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    corpus = write_corpus(tmp_path / "corpus", CORPUS)
    settings = Settings(
        corpus=corpus, index_dir=tmp_path / "index", backend="milvus", milvus_uri=uri
    )
    with pytest.raises(IndexUnavailable, match=f"cannot reach Milvus at {uri}"):
        build_index(settings, progress=False, embedder=NeverEmbeds("with Milvus down"))


def test_milvus_ranks_by_the_terms_the_faiss_backend_ranks_by() -> None:
    # Milvus's standard tokenizer splits on non-word characters: a compound stays one term.
    assert milvus_module.milvus_terms("The NATO-Russia council's talks") == (
        "nato_russia nato russia council talk"
    )
    assert milvus_module.milvus_terms("the of and") == ""
    # A "sentence" with no space to cut at fits Milvus's longest text field all the same.
    assert len(milvus_module.milvus_terms("é" * 70_000).encode()) <= milvus_module.MAX_VARCHAR


# --- what a build writes, keeps and drops ----------------------------------------------------------


def test_milvus_holds_each_passage_with_exact_offsets(living: Settings) -> None:
    folder = live_build(living.index_dir)
    assert folder is not None
    contents = IndexContents.load(folder)
    raw = {d.doc_id: d.raw_text for d in contents.documents}
    sentences = sorted(rows(living, "sentences"), key=lambda r: r["id"])
    assert len(sentences) == len(contents.sentences)
    for row, sentence in zip(sentences, contents.sentences, strict=True):
        assert (row["doc_id"], row["start"], row["end"]) == (
            sentence.doc_id, sentence.start, sentence.end,
        )  # fmt: skip
        assert row["text"] == sentence.text
    title = {d.doc_id: d.title for d in contents.documents}
    chunks = sorted(rows(living, "chunks"), key=lambda r: r["id"])
    assert [(r["doc_id"], r["start"], r["end"], r["text"]) for r in chunks] == [
        (c.doc_id, c.start, c.end, titled(title[c.doc_id], c.text)) for c in contents.chunks
    ]
    answer = QAPipeline.load(living).ask("How often does Halley's Comet return?")
    citation = answer.citations[0]
    assert citation.quote == raw[citation.doc_id][citation.start : citation.end]
    assert "76 years" in citation.quote


def test_incremental_builds_keep_milvus_in_step(living: Settings) -> None:
    first = set(entry(living)["collections"].values())
    corpus = living.corpus
    assert corpus is not None
    change_three_ways(corpus)
    report = build_index(living, progress=False)
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 1)

    second = set(entry(living)["collections"].values())
    assert not first & second
    # The replaced build's collections stay while a server may still answer from them.
    assert ours(living) == first | second
    assert sorted(entry(living)["replaced"]) == sorted(first)
    docs = {r["doc_id"] for r in rows(living, "sentences")}
    assert docs == {"comets.txt", "deep/tides.md", "glacier.txt"}  # bees.txt removed
    assert any("2061" in r["text"] for r in rows(living, "chunks") if r["doc_id"] == "comets.txt")

    pipeline = QAPipeline.load(living)
    answer = pipeline.ask("How long is the Aletsch Glacier?")
    assert answer.answerable and answer.citations[0].doc_id == "glacier.txt"
    assert "2061" in pipeline.search("return in 2061", top_k=1)[0].chunk.text

    # A removal embeds nothing, and the build before the replaced one is dropped.
    (corpus / "deep" / "tides.md").unlink()
    report = build_index(living, progress=False, embedder=NeverEmbeds("for a removal"))
    assert report.removed == 1
    third = set(entry(living)["collections"].values())
    assert ours(living) == second | third
    assert "deep/tides.md" not in {r["doc_id"] for r in rows(living, "chunks")}
    assert not build_index(living, progress=False).built


def test_a_failed_build_leaves_the_live_index_and_drops_what_it_wrote(
    living: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, manifest = ours(living), read_manifest(living.index_dir)
    assert living.corpus is not None
    (living.corpus / "glacier.txt").write_text(GLACIER, encoding="utf-8")

    def disk_full(self: IndexContents, folder: Path) -> None:
        raise OSError("No space left on device")

    # After Milvus took the new collections: the folder cannot be written.
    monkeypatch.setattr(IndexContents, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        build_index(living, progress=False)
    monkeypatch.undo()
    assert read_manifest(living.index_dir) == manifest
    assert ours(living) == before
    pipeline = QAPipeline.load(living)
    assert pipeline.health()["documents"] == 3
    assert pipeline.ask("How often does Halley's Comet return?").answerable


def test_collections_of_killed_builds_are_dropped_and_other_folders_kept(
    living: Settings, tmp_path: Path
) -> None:
    client = client_of(living)
    namespace = entry(living)["namespace"]
    killed = f"{namespace}_20260101T000000_deadbeef_chunks"  # a build killed while writing
    client.create_collection(killed, dimension=4)
    # Another index folder with its own collections in the same Milvus.
    other = Settings(
        corpus=write_corpus(tmp_path / "other", {"glacier.txt": GLACIER}),
        index_dir=tmp_path / "other-index",
        backend="milvus",
        milvus_uri=IndexStore.of(living).milvus.uri,
    )
    build_index(other, progress=False)
    build_index(living, force=True, progress=False)
    assert killed not in client.list_collections()
    assert set(entry(other)["collections"].values()) <= set(client.list_collections())
    assert QAPipeline.load(other).ask("How long is the Aletsch Glacier?").answerable


def test_large_collections_get_an_hnsw_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.store.milvus import collections

    monkeypatch.setattr(collections, "EXACT_BELOW", 1)  # even these few rows get a graph
    corpus = write_corpus(tmp_path / "corpus", CORPUS)
    settings = Settings(corpus=corpus, index_dir=tmp_path / "index", backend="milvus")
    build_index(settings, progress=False)
    assert {kind: spec["index_type"] for kind, spec in entry(settings)["index"].items()} == {
        "chunks": "HNSW",
        "sentences": "HNSW",
    }
    answer = QAPipeline.load(settings).ask("How often does Halley's Comet return?")
    assert answer.answerable and "76 years" in answer.citations[0].quote


def test_a_collection_dropped_under_a_server_is_a_503(living: Settings) -> None:
    from qa.serve.api import create_app

    client = create_app({"TESTING": True, "QA_SETTINGS": living}).test_client()
    assert client.post("/api/ask", json={"question": "What causes tides?"}).status_code == 200
    for name in entry(living)["collections"].values():
        client_of(living).drop_collection(name)
    response = client.post("/api/ask", json={"question": "What causes tides?"})
    assert response.status_code == 503
    assert "qa index" in response.get_json()["error"]["message"]


def test_missing_collections_are_written_again_from_the_stored_vectors(living: Settings) -> None:
    client = client_of(living)
    for name in entry(living)["collections"].values():
        client.drop_collection(name)
    with pytest.raises(IndexMismatch, match="`qa index` writes it again"):
        QAPipeline.load(living)
    report = build_index(living, progress=False, embedder=NeverEmbeds("to rewrite collections"))
    assert report.built
    assert QAPipeline.load(living).ask("How often does Halley's Comet return?").answerable


def test_switching_backends_reindexes_without_embedding(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", CORPUS)
    faiss = Settings(corpus=corpus, index_dir=tmp_path / "index")
    build_index(faiss, progress=False)
    question = "What causes the tides?"
    on_faiss = QAPipeline.load(faiss).ask(question)
    milvus = Settings(corpus=corpus, index_dir=tmp_path / "index", backend="milvus")
    report = build_index(milvus, progress=False, embedder=NeverEmbeds("switching backend"))
    assert report.built and report.unchanged == 3
    on_milvus = QAPipeline.load(milvus).ask(question)
    assert on_milvus.citations == on_faiss.citations
    assert [h.chunk for h in on_milvus.hits] == [h.chunk for h in on_faiss.hits]
    with pytest.raises(IndexMismatch, match="set QA_BACKEND=milvus"):
        QAPipeline.load(faiss)


# --- over HTTP -------------------------------------------------------------------------------------


def _qa(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "qa.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def _ask(url: str, question: str) -> dict[str, Any]:
    response = requests.post(f"{url}/api/ask", json={"question": question}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def _cited_exactly(url: str, answer: dict[str, Any]) -> bool:
    for citation in answer["citations"]:
        doc = requests.get(f"{url}/api/documents/{citation['doc_id']}", timeout=30).json()
        if doc["text"][citation["start"] : citation["end"]] != citation["quote"]:
            return False
    return bool(answer["citations"])


def test_a_server_answers_from_a_milvus_lite_file(tmp_path: Path) -> None:
    """`qa index`, then `qa serve` (one process holds the Milvus Lite file); an update through the
    API; and a `qa index` beside the server is refused with the reason."""
    import os

    corpus = write_corpus(tmp_path / "corpus", CORPUS)
    index_dir = tmp_path / "index"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | {
        "QA_BACKEND": "milvus",
        "QA_INDEX_DIR": str(index_dir),
        "QA_ADMIN_TOKEN": TOKEN,
        "QA_RELOAD_SECONDS": "0.5",
    }
    built = _qa("index", "--quiet", "--corpus", str(corpus), env=env)
    assert built.returncode == 0, built.stderr
    server_env = {k: v for k, v in env.items() if k.startswith("QA_")}
    server = start_server(server_env, tmp_path / "server.log", ["--workers", "1"])
    try:
        health = requests.get(f"{server.url}/api/health", timeout=30).json()
        assert health["index"]["settings"]["backend"] == "milvus"
        assert health["index"]["milvus"]["uri"] == str(index_dir / "milvus.db")
        answer = _ask(server.url, "How often does Halley's Comet return?")
        assert answer["answerable"] and _cited_exactly(server.url, answer)
        bad = requests.post(f"{server.url}/api/ask", json={"question": "???"}, timeout=30)
        assert bad.status_code == 400

        put = requests.put(
            f"{server.url}/api/documents/glacier.txt", json={"text": GLACIER}, headers=AUTH,
            timeout=120,
        )  # fmt: skip
        assert put.status_code == 201, put.text
        answer = _ask(server.url, "How long is the Aletsch Glacier?")
        assert answer["citations"][0]["doc_id"] == "glacier.txt"
        assert _cited_exactly(server.url, answer)

        (corpus / "extra.txt").write_text("Extra\n\nSomething new.\n", encoding="utf-8")
        refused = _qa("index", "--quiet", env=env)
        assert refused.returncode == 1
        assert "another process may hold it" in refused.stderr
        assert "QA_MILVUS_URI" in refused.stderr
    finally:
        server.stop()


def test_several_workers_cannot_share_a_milvus_lite_file(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | {
        "QA_BACKEND": "milvus",
        "QA_INDEX_DIR": str(tmp_path / "index"),
    }
    refused = _qa("serve", "--workers", "2", "--port", str(free_port()), env=env)
    assert refused.returncode == 1
    assert "cannot share the Milvus Lite file" in refused.stderr
    assert "QA_MILVUS_URI" in refused.stderr


def test_workers_share_a_milvus_server(tmp_path: Path) -> None:
    """A Milvus server (Milvus Lite's, in its own process) shared by two gunicorn workers and
    this process: an update through one worker reaches both."""
    with milvus_server(tmp_path / "milvus-data", tmp_path / "milvus.log") as uri:
        corpus = write_corpus(tmp_path / "corpus", CORPUS)
        settings = Settings(
            corpus=corpus, index_dir=tmp_path / "index", backend="milvus", milvus_uri=uri
        )
        build_index(settings, progress=False)
        env = {
            "QA_BACKEND": "milvus",
            "QA_MILVUS_URI": uri,
            "QA_INDEX_DIR": str(settings.index_dir),
            "QA_ADMIN_TOKEN": TOKEN,
            "QA_RELOAD_SECONDS": "0.5",
        }
        server = start_server(env, tmp_path / "server.log", ["--workers", "2"])
        try:
            put = requests.put(
                f"{server.url}/api/documents/glacier.txt", json={"text": GLACIER}, headers=AUTH,
                timeout=120,
            )  # fmt: skip
            assert put.status_code == 201, put.text
            build = put.json()["build"]
            for _ in range(40):  # both workers catch up within their reload interval
                seen = {
                    requests.get(f"{server.url}/api/health", timeout=30).json()["index"]["build"]
                    for _ in range(8)
                }
                if seen == {build}:
                    break
                threading.Event().wait(0.5)
            assert seen == {build}
            for _ in range(4):
                answer = _ask(server.url, "How long is the Aletsch Glacier?")
                assert answer["citations"][0]["doc_id"] == "glacier.txt"
                assert _cited_exactly(server.url, answer)
        finally:
            server.stop()


# --- the same retrieval as the faiss backend -------------------------------------------------------

LOW_OVERLAP = Path(__file__).resolve().parent / "fixtures" / "seeds-lowoverlap.jsonl"


def test_milvus_fusion_is_the_rrf_of_its_own_two_rankings(milvus_seed_pipeline: QAPipeline) -> None:
    from qa.read.retrieval import reciprocal_rank_fusion

    store = milvus_seed_pipeline._retriever._store  # type: ignore[union-attr]
    for question in ("Lavrov press conference", "When did NATO leaders meet in Lisbon?"):
        vector = milvus_seed_pipeline.embedder.encode([question])[0]
        dense = [row for row, _ in store.dense(vector, 20)]
        lexical = [row for row, _ in store.lexical(question, 20)]
        expected = reciprocal_rank_fusion([dense, lexical], k=5)
        assert store.fused(question, vector, 20, 5) == expected


def test_both_backends_retrieve_and_answer_alike(
    seed_pipeline: QAPipeline, milvus_seed_pipeline: QAPipeline
) -> None:
    """Our low-overlap questions on the seed articles: the same ten passages, the same answer
    and citations, whichever backend searched."""
    import json

    questions = [json.loads(line)["question"] for line in LOW_OVERLAP.read_text().splitlines()]
    for question in questions[:12]:
        faiss, milvus = (
            seed_pipeline.ask(question, top_k=10),
            milvus_seed_pipeline.ask(question, 10),
        )
        assert [h.chunk for h in milvus.hits] == [h.chunk for h in faiss.hits], question
        assert (milvus.text, milvus.citations) == (faiss.text, faiss.citations), question
