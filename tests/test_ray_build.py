"""`qa index --ray`: chunking and embedding as a Ray Data job, on a real Ray in local mode.

Starting Ray costs seconds here, so the seed articles are embedded on Ray once for the module and
compared with the session's in-process build; the other tests each pay for one start.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import ray
from corpora import live_contents

from qa.build import build_index, default_embedder
from qa.config import Settings
from qa.errors import DependencyMissing, RayJobFailed
from qa.eval.questions import load_questions
from qa.ingest import load_corpus
from qa.pipeline import QAPipeline
from qa.ray_build import RayEmbedStep
from qa.store import live_build, read_manifest

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
QUESTIONS = Path(__file__).parent / "fixtures" / "eval" / "questions.jsonl"
FIXTURE_CORPUS = Path(__file__).parent / "fixtures" / "corpus"
BEES_EDITED = (
    "# Honey bees and their hives\n\nA colony of honey bees is led by a single queen. In summer a "
    "worker bee lives for about six weeks.\n"
)


def corpus_and_index(tmp_path: Path) -> Settings:
    """A copy of the fixture corpus (two documents and a skipped file) indexed in-process."""
    corpus = shutil.copytree(FIXTURE_CORPUS, tmp_path / "corpus")
    settings = Settings(corpus=corpus, index_dir=tmp_path / "index")
    build_index(settings, progress=False)
    return settings


@pytest.fixture(scope="module")
def ray_seed_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The seed articles embedded on Ray (local mode, two CPUs)."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:
        settings = Settings(corpus=SEEDS, index_dir=tmp_path_factory.mktemp("ray-seeds"))
        report = build_index(settings, progress=False, embed_step=RayEmbedStep())
        # A build keeps a connection it did not make.
        assert report.built and report.added == 5 and ray.is_initialized()
    finally:
        ray.shutdown()
    return settings


def test_ray_build_holds_the_same_documents_sentences_chunks_and_vectors(
    ray_seed_settings: Settings, seed_settings: Settings
) -> None:
    on_ray, local = live_contents(ray_seed_settings), live_contents(seed_settings)
    assert on_ray.documents == local.documents
    assert on_ray.sentences == local.sentences  # texts, ids and raw offsets
    assert on_ray.chunks == local.chunks
    ray_manifest, local_manifest = (
        read_manifest(s.index_dir) for s in (ray_seed_settings, seed_settings)
    )
    assert ray_manifest["settings"] == local_manifest["settings"]
    # Each text is embedded alone (qa.embedding.OnnxEmbedder), so the other documents a Ray
    # batch holds cannot move its vector, even with the bi-encoder in int8 (the default).
    for ray_rows, local_rows in [
        (on_ray.chunk_vectors, local.chunk_vectors),
        (on_ray.sentence_vectors.bare, local.sentence_vectors.bare),
        (on_ray.sentence_vectors.titled, local.sentence_vectors.titled),
    ]:
        assert np.array_equal(np.asarray(ray_rows), np.asarray(local_rows))


def test_ray_build_answers_as_the_local_build_does(
    ray_seed_settings: Settings, seed_pipeline: QAPipeline
) -> None:
    on_ray = QAPipeline.load(ray_seed_settings)
    questions = load_questions(QUESTIONS)
    assert len(questions) == 8
    for q in questions:
        got, expected = on_ray.ask(q.question), seed_pipeline.ask(q.question)
        assert (got.text, got.short_answer, got.answerable) == (
            expected.text,
            expected.short_answer,
            expected.answerable,
        ), q.id
        assert [(c.doc_id, c.start, c.end) for c in got.citations] == [
            (c.doc_id, c.start, c.end) for c in expected.citations
        ], q.id
        assert got.confidence == expected.confidence, q.id


def test_incremental_ray_build_embeds_only_the_changed_file(tmp_path: Path) -> None:
    settings = corpus_and_index(tmp_path)
    before = live_contents(settings).pieces()
    assert settings.corpus is not None
    (settings.corpus / "nested" / "bees.md").write_text(BEES_EDITED, encoding="utf-8")

    result = subprocess.run(
        [sys.executable, "-m", "qa.cli", "index", "--ray", "--index-dir", str(settings.index_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith("QA_")},
    )
    assert result.returncode == 0, result.stderr
    assert "starting Ray on this machine" in result.stderr
    assert "embedding 1 documents on Ray" in result.stderr
    assert "added 0, updated 1, removed 0, unchanged 1" in result.stdout
    after = live_contents(settings).pieces()
    assert "six weeks" in " ".join(s.text for s in after["nested/bees.md"].sentences)
    kept, old = after["volcanoes.txt"], before["volcanoes.txt"]  # stored vectors, bit for bit
    assert kept.sentences == old.sentences and kept.chunks == old.chunks
    assert np.array_equal(kept.chunk_vectors, old.chunk_vectors)
    assert np.array_equal(kept.sentence_vectors.bare, old.sentence_vectors.bare)
    answer = QAPipeline.load(settings).ask("How long does a worker bee live in summer?")
    assert "six weeks" in (answer.text or "")


def test_a_failed_ray_job_leaves_the_live_index_as_it_was(tmp_path: Path) -> None:
    settings = corpus_and_index(tmp_path)
    live, manifest = live_build(settings.index_dir), read_manifest(settings.index_dir)
    assert settings.corpus is not None
    (settings.corpus / "nested" / "bees.md").write_text(BEES_EDITED, encoding="utf-8")

    # Defined in here, so Ray ships them by value: its workers cannot import the tests.
    def load_nothing(settings: Settings):
        """A worker that cannot load the model (a node without its files, say)."""
        raise OSError("model files missing on this node")

    class FailingEmbedder:
        """The real model, but it fails on its first batch (a worker out of memory, say)."""

        def __init__(self, settings: Settings) -> None:
            real = default_embedder(settings)
            self.name, self.dim, self.max_tokens = real.name, real.dim, real.max_tokens
            self.fits = real.fits

        def encode(self, texts, **kwargs):
            raise MemoryError("cannot allocate the batch")

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:  # one Ray for both jobs: a build keeps a connection it did not make
        for load, error in [
            (load_nothing, "OSError: model files missing on this node"),
            (FailingEmbedder, "MemoryError: cannot allocate the batch"),
        ]:
            with pytest.raises(RayJobFailed, match=f"nothing was written.*: {error}$"):
                build_index(settings, progress=False, embed_step=RayEmbedStep(load=load))
            assert ray.is_initialized()
    finally:
        ray.shutdown()
    assert live_build(settings.index_dir) == live
    assert read_manifest(settings.index_dir) == manifest
    answer = QAPipeline.load(settings).ask("How many eggs can the queen lay a day?")
    assert "2,000 eggs" in (answer.text or "")


def test_a_ray_address_where_nothing_listens_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port just freed: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env["QA_RAY_ADDRESS"] = f"127.0.0.1:{port}"
    result = subprocess.run(
        [sys.executable, "-m", "qa.cli", "index", "--ray", "--corpus", str(FIXTURE_CORPUS)]
        + ["--index-dir", str(tmp_path / "index")],
        capture_output=True,
        text=True,
        timeout=120,  # ray.init alone would retry such an address for minutes
        env=env,
    )
    assert result.returncode == 1
    assert f"qa: error: no Ray cluster answers at 127.0.0.1:{port}" in result.stderr
    assert "ray start --head" in result.stderr
    assert live_build(tmp_path / "index") is None


def test_a_ray_client_address_is_refused_with_what_to_do_instead(seed_settings: Settings) -> None:
    docs = load_corpus(SEEDS)[:1]
    with pytest.raises(RayJobFailed, match="Ray Client address.*--ray-address auto"):
        RayEmbedStep(address="ray://127.0.0.1:10001")(docs, seed_settings, False)


def test_without_ray_installed_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, seed_settings: Settings
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets without the package
    with pytest.raises(DependencyMissing, match=r"pip install -e '\.\[ray\]'"):
        RayEmbedStep()([], seed_settings, False)
