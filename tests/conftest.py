"""Shared fixtures: settings → built index → pipeline → app → client, and a live gunicorn server.

The seed index is built once per test session into a temporary folder; tests never touch the
repository's own ``index/``. The fixture corpus's pipeline and the API's app are parametrised by
storage backend: every test of theirs runs on FAISS and on Milvus (Milvus Lite).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from backends import BACKENDS
from servers import serving

from qa.config import Settings
from qa.pipeline import QAPipeline, build_index

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
FIXTURE_CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No QA_* variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("QA_"):
            monkeypatch.delenv(name)


def _built(
    corpus: Path, tmp_path_factory: pytest.TempPathFactory, name: str, backend: str = "faiss"
) -> Settings:
    settings = Settings(corpus=corpus, index_dir=tmp_path_factory.mktemp(name), backend=backend)
    build_index(settings, progress=False)
    return settings


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose index over the real seed articles is built once per session."""
    return _built(SEEDS, tmp_path_factory, "seed-index")


@pytest.fixture(scope="session")
def seed_pipeline(seed_settings: Settings) -> QAPipeline:
    return QAPipeline.load(seed_settings)


@pytest.fixture(scope="session")
def milvus_seed_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The seed articles indexed in Milvus (a Milvus Lite file in the index folder)."""
    return _built(SEEDS, tmp_path_factory, "seed-index-milvus", "milvus")


@pytest.fixture(scope="session")
def milvus_seed_pipeline(milvus_seed_settings: Settings) -> QAPipeline:
    return QAPipeline.load(milvus_seed_settings)


@pytest.fixture(scope="session", params=BACKENDS)
def fixture_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Settings whose index over the tiny hand-written corpus in tests/fixtures/corpus is built,
    once per backend."""
    return _built(FIXTURE_CORPUS, tmp_path_factory, f"fixture-index-{request.param}", request.param)


@pytest.fixture(scope="session")
def fixture_pipeline(fixture_settings: Settings) -> QAPipeline:
    return QAPipeline.load(fixture_settings)


@pytest.fixture(params=BACKENDS)
def app(request: pytest.FixtureRequest):
    """The API over the seed index, on each backend."""
    from qa.serve.api import create_app

    prefix = "" if request.param == "faiss" else "milvus_"
    settings = request.getfixturevalue(f"{prefix}seed_settings")
    pipeline = request.getfixturevalue(f"{prefix}seed_pipeline")
    return create_app({"TESTING": True, "QA_SETTINGS": settings}, pipeline=pipeline)


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def live_server(seed_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real gunicorn process serving the seed index; yields its base URL."""
    env = {"QA_INDEX_DIR": str(seed_settings.index_dir), "QA_CORPUS": str(seed_settings.corpus)}
    with serving(env, tmp_path_factory.mktemp("server") / "server.log") as server:
        yield server.url


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A four-layer BERT with random weights and heads, in a cross-encoder folder: the real
    tokenizer, so pairs are tokenized as in training; small enough to train in a test.
    """
    import json
    import shutil

    import numpy as np
    import torch
    from transformers import BertConfig, BertModel

    from qa.read.reranker import HEAD_FILE, PACKAGED

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    BertModel(config).save_pretrained(str(folder))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(PACKAGED / name, folder / name)
    rng = np.random.default_rng(0)
    head = {
        "weight": rng.normal(0, 4, 32).tolist(),
        "bias": 0.5,
        "span_weight": rng.normal(0, 0.5, (2, 32)).tolist(),
        "span_bias": [0.0, 0.0],
        "provenance": {"base": "random, for tests"},
    }
    (folder / HEAD_FILE).write_text(json.dumps(head), encoding="utf-8")
    return folder
