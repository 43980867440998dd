"""QA_CHUNK_VECTORS=sentences: a chunk's vector is the mean of its titled sentences' vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.build import build_index
from qa.config import Settings
from qa.errors import InvalidSetting
from qa.pipeline import QAPipeline
from qa.store.contents import IndexContents

FIXTURE_CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"


def _build(tmp_path: Path, chunk_vectors: str) -> Settings:
    settings = Settings(
        corpus=FIXTURE_CORPUS, index_dir=tmp_path / chunk_vectors, chunk_vectors=chunk_vectors
    )
    report = build_index(settings, progress=False)
    assert report.built
    return settings


def test_sentence_mean_chunks_embed_no_chunk_text_and_still_answer(tmp_path: Path) -> None:
    settings = _build(tmp_path, "sentences")
    live = settings.index_dir / "current"
    manifest = json.loads((live / "manifest.json").read_text())
    assert manifest["settings"]["chunk_vectors"] == "sentences"
    contents = IndexContents.load(live)
    for chunk, vector in zip(contents.chunks, contents.chunk_vectors, strict=True):
        rows = contents.sentence_vectors.titled[chunk.first_sentence : chunk.last_sentence + 1]
        mean = rows.mean(axis=0)
        assert np.allclose(vector, mean / np.linalg.norm(mean), atol=1e-5)
    answer = QAPipeline.load(settings).ask("Who decoded the waggle dance?")
    assert answer.answerable and answer.short_answer == "Karl von Frisch"


def test_the_default_is_not_named_so_older_indexes_still_match(tmp_path: Path) -> None:
    settings = _build(tmp_path, "embedded")
    manifest = json.loads((settings.index_dir / "current" / "manifest.json").read_text())
    assert "chunk_vectors" not in manifest["settings"]
    # Asking for the other kind of chunk vectors rebuilds the index.
    other = Settings(corpus=FIXTURE_CORPUS, index_dir=settings.index_dir, chunk_vectors="sentences")
    assert build_index(other, progress=False).built


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidSetting, match="QA_CHUNK_VECTORS"):
        Settings(chunk_vectors="tokens")
