"""A living collection: incremental builds, an index that remembers its corpus, checksums,
leftovers of killed builds, stale files, and a server that follows the index on disk."""

from __future__ import annotations

import errno
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from backends import BACKENDS
from corpora import CORPUS, GLACIER, change_three_ways, live_contents, write_corpus
from embedders import NeverEmbeds

from qa.build import build_index, check_index
from qa.config import Settings
from qa.errors import CorpusError, IndexMismatch, IndexUnavailable, InvalidSetting
from qa.ingest import sha256_text
from qa.pipeline import QAPipeline, ensure_index
from qa.serve.api import create_app
from qa.serve.live import LivePipeline
from qa.store import SourceChange, live_build, read_manifest


@pytest.fixture()
def living(tmp_path: Path) -> Settings:
    """A fresh corpus folder and its index, private to one test."""
    corpus = write_corpus(tmp_path / "corpus", CORPUS)
    settings = Settings(corpus=corpus, index_dir=tmp_path / "index")
    build_index(settings, progress=False)
    return settings


# --- incremental builds --------------------------------------------------------------------------


def test_adding_changing_and_removing_files_costs_only_what_changed(living: Settings) -> None:
    before = live_contents(living).pieces()
    corpus = living.corpus
    assert corpus is not None
    change_three_ways(corpus)

    report = build_index(living, progress=False)
    assert report.built
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 1)
    assert "added 1, updated 1, removed 1, unchanged 1" in report.summary()

    after = live_contents(living).pieces()
    assert sorted(after) == ["comets.txt", "deep/tides.md", "glacier.txt"]
    # The unchanged document kept its stored vectors: nothing of it was embedded again.
    kept, old = after["deep/tides.md"], before["deep/tides.md"]
    assert np.array_equal(kept.chunk_vectors, old.chunk_vectors)
    assert np.array_equal(kept.sentence_vectors.titled, old.sentence_vectors.titled)
    # Rows stay numbered globally and every chunk points at its own document's sentences.
    whole = live_contents(living)
    assert [s.sentence_id for s in whole.sentences] == list(range(len(whole.sentences)))
    for chunk in whole.chunks:
        assert {
            whole.sentences[i].doc_id for i in range(chunk.first_sentence, chunk.last_sentence + 1)
        } == {chunk.doc_id}

    pipeline = QAPipeline.load(living)
    assert "2061" in pipeline.document_text("comets.txt")
    assert "2061" in pipeline.search("return in 2061", top_k=1)[0].chunk.text
    answer = pipeline.ask("How long is the Aletsch Glacier?")
    assert answer.answerable and answer.citations[0].doc_id == "glacier.txt"
    assert "bees.txt" not in {d.doc_id for d in pipeline.documents()}
    assert not build_index(living, progress=False).built


def test_a_bad_faiss_factory_is_refused_before_any_embedding(living: Settings) -> None:
    with pytest.raises(InvalidSetting, match="index_factory"):
        build_index(
            living.with_overrides(faiss_factory="NotAnIndex42"),
            force=True,
            progress=False,
            embedder=NeverEmbeds("before the settings were checked"),  # type: ignore[arg-type]
        )


# --- the index remembers its corpus ---------------------------------------------------------------


def test_an_index_is_rebuilt_from_its_own_corpus_when_none_is_given(living: Settings) -> None:
    """`qa chat --index-dir X` without --corpus must never rebuild X from the sample articles."""
    without_corpus = Settings(index_dir=living.index_dir)
    assert without_corpus.corpus is None
    assert not build_index(without_corpus, progress=False).built
    corpus = living.corpus
    assert corpus is not None
    (corpus / "glacier.txt").write_text(GLACIER, encoding="utf-8")
    report = build_index(without_corpus, progress=False)
    assert report.built and report.added == 1 and report.documents == 4
    assert read_manifest(living.index_dir)["corpus"] == str(corpus.resolve())


def test_an_index_whose_corpus_is_gone_is_kept_not_rebuilt(living: Settings) -> None:
    corpus = living.corpus
    assert corpus is not None
    shutil.rmtree(corpus)
    without_corpus = Settings(index_dir=living.index_dir)
    with pytest.raises(CorpusError, match="no longer exists.*--corpus"):
        build_index(without_corpus, progress=False)
    assert ensure_index(without_corpus, progress=False) is None  # chat goes on with the index
    assert QAPipeline.load(without_corpus).health()["documents"] == 3


def test_cli_index_without_corpus_uses_the_remembered_one(living: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "qa.cli", "index", "--index-dir", str(living.index_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith("QA_")},
    )
    # An up-to-date run exits while the model may still be loading: never an abort.
    assert result.returncode == 0, result.stderr
    assert "terminate called" not in result.stderr
    assert "up to date" in result.stdout
    assert read_manifest(living.index_dir)["counts"]["documents"] == 3


# --- stale corpus --------------------------------------------------------------------------------


def test_check_and_health_report_files_changed_since_the_build(living: Settings) -> None:
    pipeline = QAPipeline.load(living)
    assert check_index(living) == [] and pipeline.health()["status"] == "ok"
    corpus = living.corpus
    assert corpus is not None
    (corpus / "comets.txt").write_text("Comets\n\nAll rewritten.\n", encoding="utf-8")
    (corpus / "new.md").write_text("# New\n\nA new file.\n", encoding="utf-8")
    (corpus / "bees.txt").unlink()
    expected = [
        SourceChange("bees.txt", "removed"),
        SourceChange("comets.txt", "changed"),
        SourceChange("new.md", "added"),
    ]
    assert check_index(living) == expected
    health = pipeline.health()
    assert health["status"] == "stale"
    assert health["stale"] == [{"path": c.path, "change": c.change} for c in expected]
    # Citations still quote what the index holds, not the edited file.
    answer = pipeline.ask("How often does Halley's Comet return?")
    cite = answer.citations[0]
    assert pipeline.document_text(cite.doc_id)[cite.start : cite.end] == cite.quote

    result = subprocess.run(
        [sys.executable, "-m", "qa.cli", "index", "--check", "--index-dir", str(living.index_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "changed: comets.txt" in result.stdout and "3 corpus files changed" in result.stdout


def test_ask_and_chat_warn_on_stderr_while_the_index_is_stale(
    living: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.chat.terminal import main as chat_main
    from qa.cli import main as cli_main

    question = "How often does Halley's Comet return?"
    where = ["--index-dir", str(living.index_dir)]
    assert cli_main(["ask", question, *where]) == 0
    assert "stale" not in capsys.readouterr().err
    assert living.corpus is not None
    (living.corpus / "comets.txt").write_text("Comets\n\nHalley's Comet is gone.\n", "utf-8")
    warning = "warning: the index is stale: 1 corpus file changed since it was built"

    assert cli_main(["ask", question, *where]) == 0
    out, err = capsys.readouterr()
    assert "76 years" in json.loads(out)["answer"]  # still the indexed text, as /api/health says
    assert warning in err and "comets.txt (changed)" in err and "run `qa index`" in err

    monkeypatch.setattr(sys, "stdin", io.StringIO(question + "\n"))
    assert chat_main(["--no-build", *where, "--color", "never"]) == 0
    out, err = capsys.readouterr()
    assert "76 years" in out
    assert warning in err and "comets.txt (changed)" in err


# --- a full disk ---------------------------------------------------------------------------------


def _short_write(folder: Path) -> None:
    (folder / "store.json").write_bytes(b"{" * 61408)  # half a file, as a full disk leaves it
    raise OSError("125952 requested and 61408 written")  # numpy's tofile: no errno


def _no_space(folder: Path) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder / "chunks.npy"))


def _faiss_no_space(index: object, path: str) -> None:
    raise RuntimeError(
        "Error in void faiss::write_index(const Index*, IOWriter*, int) at index_write.cpp:499: "
        f"Error: 'ret == (size * 4)' failed: write error in {path}: 4051 != 320000 "
        "(No space left on device)"
    )


def _over_quota(*args: object, **kwargs: object) -> None:
    raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), "/elsewhere/model-cache")


@pytest.mark.parametrize("where", ["short write", "no space", "faiss", "over quota"])
def test_a_full_disk_during_qa_index_is_one_line_and_the_old_index_stays(
    living: Settings,
    where: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import faiss

    import qa.build
    from qa.cli import main as cli_main
    from qa.store import IndexContents

    before = live_build(living.index_dir)
    assert living.corpus is not None
    (living.corpus / "comets.txt").write_text("Comets\n\nHalley's Comet is gone.\n", "utf-8")
    if where == "short write":
        monkeypatch.setattr(IndexContents, "save", lambda self, folder: _short_write(folder))
    elif where == "no space":
        monkeypatch.setattr(IndexContents, "save", lambda self, folder: _no_space(folder))
    elif where == "faiss":
        monkeypatch.setattr(faiss, "write_index", _faiss_no_space)
    else:  # outside the build folder's writes: caught at the command line
        monkeypatch.setattr(qa.build, "_build", _over_quota)

    assert cli_main(["index", "--quiet", "--index-dir", str(living.index_dir)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("qa: error: the disk is full: the new index could not be written")
    assert f"the previous index ({before.name}) is unchanged and still served" in err
    assert live_build(living.index_dir) == before
    assert [p.name for p in living.index_dir.iterdir() if p.name.startswith(".tmp")] == []
    pipeline = QAPipeline.load(living)
    assert "76 years" in pipeline.document_text("comets.txt")
    assert pipeline.health()["stale"] == [{"path": "comets.txt", "change": "changed"}]


def test_an_index_folder_that_cannot_be_written_is_one_line_and_the_old_index_stays(
    living: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import qa.build
    from qa.cli import main as cli_main

    before = live_build(living.index_dir)
    assert living.corpus is not None
    (living.corpus / "comets.txt").write_text("Comets\n\nHalley's Comet is gone.\n", "utf-8")
    where = str(living.index_dir / ".build.lock")

    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), where)

    monkeypatch.setattr(qa.build, "_build", refused)
    assert cli_main(["index", "--quiet", "--index-dir", str(living.index_dir)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"qa: error: cannot build the index in {living.index_dir} ({where})")
    assert "Permission denied" in err and "the previous index, if any, is unchanged" in err
    assert live_build(living.index_dir) == before


# --- damage, checksums, leftovers ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["chunks.faiss", "sentences.npy", "store.json", "chunks.npy"])
def test_random_bytes_in_any_artefact_fail_its_checksum(living: Settings, name: str) -> None:
    folder = live_build(living.index_dir)
    assert folder is not None
    path = folder / name
    data = bytearray(path.read_bytes())
    rng = random.Random(name)
    for _ in range(16):  # same size, different bytes: loads fine without a checksum
        data[rng.randrange(len(data) // 2, len(data))] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexMismatch, match=f"{name} \\(changed\\).*checksums"):
        QAPipeline.load(living)


def test_leftovers_of_killed_builds_are_removed_by_the_next_build(living: Settings) -> None:
    index_dir = living.index_dir
    (index_dir / ".tmp-build-20260101T000000-deadbeef").mkdir()
    (index_dir / ".tmp-build-20260101T000000-deadbeef" / "chunks.faiss").write_bytes(b"x" * 99)
    (index_dir / ".tmp-link-20260101T000000-deadbeef").symlink_to("nowhere")
    (index_dir / "build-20250101T000000-cafecafe").mkdir()  # a build never made live
    build_index(living, force=True, progress=False)
    names = sorted(p.name for p in index_dir.iterdir())
    assert [n for n in names if n.startswith((".tmp", "build-"))] == [live_build(index_dir).name]


# --- a server that follows the index -------------------------------------------------------------


def test_live_pipeline_follows_new_builds_and_waits_for_a_first_one(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", CORPUS)
    settings = Settings(corpus=corpus, index_dir=tmp_path / "index", reload_seconds=0.0)
    live = LivePipeline(settings)
    with pytest.raises(IndexUnavailable, match="qa index"):
        live.get()
    build_index(settings, progress=False)
    first = live.get()
    assert first.health()["documents"] == 3
    (corpus / "glacier.txt").write_text(GLACIER, encoding="utf-8")
    build_index(settings, progress=False)
    second = live.get()
    assert second is not first and second.health()["documents"] == 4
    assert live.get() is second  # loaded once per build


def test_a_damaged_build_is_a_503_and_the_server_keeps_running(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", CORPUS)
    settings = Settings(corpus=corpus, index_dir=tmp_path / "index", reload_seconds=0.0)
    build_index(settings, progress=False)
    folder = live_build(settings.index_dir)
    assert folder is not None
    (folder / "chunks.faiss").write_bytes(b"junk")
    client = create_app({"TESTING": True, "QA_SETTINGS": settings}).test_client()
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "index_mismatch"
    assert "checksums" in response.get_json()["error"]["message"]
    build_index(settings, force=True, progress=False)
    assert client.get("/api/health").status_code == 200


@pytest.mark.parametrize("backend", BACKENDS)
def test_questions_never_fail_while_the_index_changes(tmp_path: Path, backend: str) -> None:
    """Load + update: builds switch in while threads ask (with Milvus, builds write new
    collections and drop old ones); every answer comes from one build."""
    corpus = write_corpus(tmp_path / "corpus", CORPUS)
    settings = Settings(
        corpus=corpus, index_dir=tmp_path / "index", backend=backend, reload_seconds=0.0
    )
    build_index(settings, progress=False)
    live = LivePipeline(settings)
    errors: list[BaseException] = []
    answered = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            try:
                answer = live.get().ask("How often does Halley's Comet return?")
                cite = answer.citations[0]
                assert cite.quote and "76 years" in cite.quote
                answered.append(answer)
            except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
                errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for i in range(4):
            (corpus / f"extra-{i}.txt").write_text(f"Note {i}\n\nFiller number {i}.\n", "utf-8")
            build_index(settings, progress=False)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors, errors[:3]
    assert answered and live.get().health()["documents"] == 7


# --- kill -9 at random moments -------------------------------------------------------------------


def test_kill_9_during_a_build_leaves_the_old_or_the_new_index(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", CORPUS)
    settings = Settings(corpus=corpus, index_dir=tmp_path / "index")
    build_index(settings, progress=False)
    rng = random.Random(7)
    command = [
        sys.executable, "-m", "qa.cli", "index", "--quiet", "--index-dir", str(settings.index_dir),
    ]  # fmt: skip
    text = CORPUS["comets.txt"]
    for round_ in range(6):
        old = read_manifest(settings.index_dir)["documents"]["comets.txt"]
        text = CORPUS["comets.txt"] + f"Revision {round_}.\n"
        (corpus / "comets.txt").write_text(text, encoding="utf-8")
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 9.0))  # model load, embedding, writing: anywhere
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # Always a whole index, of the old state or the new one, never a mix.
        now = read_manifest(settings.index_dir)["documents"]["comets.txt"]
        assert now in {old, sha256_text(text)}
        pipeline = QAPipeline.load(Settings(index_dir=settings.index_dir))
        assert pipeline.health()["documents"] == 3
        assert sha256_text(pipeline.document_text("comets.txt")) == now
    report = build_index(Settings(index_dir=settings.index_dir), progress=False)
    assert [p.name for p in settings.index_dir.iterdir() if p.name.startswith(".tmp")] == []
    assert report.documents == 3
    assert QAPipeline.load(settings).document_text("comets.txt") == text


def test_unchanged_files_are_not_read_again(
    living: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Extracting a PDF is the slow part of a scan: a file whose bytes did not change is kept."""
    import qa.ingest.corpus as corpus_module

    read: list[str] = []
    real = corpus_module.read_document

    def counting(file: Path, doc_id: str, *limits: object):
        read.append(doc_id)
        return real(file, doc_id, *limits)

    monkeypatch.setattr(corpus_module, "read_document", counting)
    corpus = living.corpus
    assert corpus is not None
    (corpus / "bees.txt").write_text(CORPUS["bees.txt"] + "Drones do not sting.\n", "utf-8")
    os.utime(corpus / "comets.txt")  # touched, same bytes: still not read
    report = build_index(living, progress=False)
    assert read == ["bees.txt"]
    assert (report.updated, report.unchanged) == (1, 2)
    assert "Drones" in QAPipeline.load(living).document_text("bees.txt")


def test_artefacts_that_disagree_in_size_are_a_mismatch_not_a_crash(living: Settings) -> None:
    """Even with checksums that match (rewritten by hand), sizes are checked against each other."""
    from qa.store.dense import ChunkIndex
    from qa.store.folder import checksums, file_sizes, read_manifest_in, write_manifest

    folder = live_build(living.index_dir)
    assert folder is not None
    extra = np.eye(7, 384, dtype=np.float32)
    ChunkIndex.build(extra).save(folder)  # 7 chunks where the store has 3
    manifest = read_manifest_in(folder)
    write_manifest(
        folder, {**manifest, "checksums": checksums(folder), "sizes": file_sizes(folder)}
    )
    with pytest.raises(IndexMismatch, match="disagrees with itself on the number of chunks"):
        QAPipeline.load(living)
    client = create_app({"TESTING": True, "QA_SETTINGS": living}).test_client()
    assert client.get("/api/health").status_code == 503


def test_a_squad_file_reindexes_only_the_paragraph_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qa.ingest.corpus as corpus_module

    squad = {
        "data": [
            {
                "title": "Tides",
                "paragraphs": [{"context": text, "qas": []} for text in CORPUS.values()],
            }
        ]
    }
    corpus = tmp_path / "squad.json"
    corpus.write_text(json.dumps(squad), encoding="utf-8")
    settings = Settings(corpus=corpus, index_dir=tmp_path / "index")
    build_index(settings, progress=False)
    cleaned: list[str] = []
    real = corpus_module.make_document

    def counting(doc_id: str, raw: str, **kwargs):
        cleaned.append(doc_id)
        return real(doc_id, raw, **kwargs)

    monkeypatch.setattr(corpus_module, "make_document", counting)
    squad["data"][0]["paragraphs"][1]["context"] += " Neap tides are weaker."
    corpus.write_text(json.dumps(squad), encoding="utf-8")
    report = build_index(settings, progress=False)
    assert cleaned == ["Tides/1"]
    assert (report.updated, report.unchanged) == (1, 2)
    assert "Neap" in QAPipeline.load(settings).document_text("Tides/1")
