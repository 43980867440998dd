"""The index folder on disk: manifest, chunk store and vectors, written atomically.

Layout of ``index_dir``: ``current`` is a symlink to the live ``build-*`` folder. A build is written
into a hidden temporary folder beside it and only then made live by atomically replacing the
symlink, so an interrupted or failed build never touches the index in use.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from qa.errors import IndexMismatch, IndexUnavailable
from qa.schema import Chunk, Document, Sentence

FORMAT_VERSION = 4  # 3: "-ian" stems (BM25 terms changed); 4: titled passages, sentence BM25
MANIFEST = "manifest.json"
STORE = "store.json"
SENTENCE_VECTORS = "sentences.npy"
CURRENT = "current"
REBUILD_HINT = "rebuild it with `qa index --force` (or `make index`)"


def live_build(index_dir: Path) -> Path | None:
    """The folder holding the live build, or None when nothing has been built."""
    if (index_dir / MANIFEST).is_file():
        return index_dir  # a plain build folder given directly
    current = index_dir / CURRENT
    return current.resolve() if current.is_dir() else None


def write_build(index_dir: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp_folder)``, then make that folder the live build in one atomic step."""
    index_dir.mkdir(parents=True, exist_ok=True)
    tag = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    tmp = index_dir / f".tmp-build-{tag}"
    tmp.mkdir()
    try:
        write(tmp)
        final = index_dir / f"build-{tag}"
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    link = index_dir / f".tmp-link-{tag}"
    link.symlink_to(final.name)
    os.replace(link, index_dir / CURRENT)
    for old in index_dir.glob("build-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")


def read_manifest(index_dir: Path) -> dict[str, Any]:
    """The live build's manifest; ``IndexUnavailable`` if there is none."""
    folder = live_build(index_dir)
    if folder is None:
        raise IndexUnavailable(
            f"no index in {index_dir}: build one with `qa index` (or `make index`)"
        )
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexMismatch(
            f"the manifest in {folder} is unreadable ({exc}); {REBUILD_HINT}"
        ) from exc
    if not isinstance(manifest, dict):
        raise IndexMismatch(f"the manifest in {folder} is not an object; {REBUILD_HINT}")
    return manifest


def check_settings(manifest: dict[str, Any], expected: dict[str, Any], index_dir: Path) -> None:
    """Refuse an index built with other settings, naming each difference."""
    built = manifest.get("settings", {})
    diffs = [
        f"{k}: built with {built.get(k)!r}, now {v!r}"
        for k, v in expected.items()
        if built.get(k) != v
    ]
    if diffs:
        raise IndexMismatch(
            f"the index in {index_dir} does not match the current settings ({'; '.join(diffs)}); "
            + REBUILD_HINT
        )


class SentenceVectors(NamedTuple):
    """Two embeddings of every sentence, one row each."""

    bare: np.ndarray  # the sentence alone: what the reader compares with the question
    titled: np.ndarray  # headed by its document's title: what retrieval searches


def save_store(
    folder: Path,
    docs: list[Document],
    sentences: list[Sentence],
    chunks: list[Chunk],
    sentence_vectors: SentenceVectors,
) -> None:
    """Write documents (raw text kept, so queries never read the corpus), sentences and chunks."""
    store = {
        "documents": [{"doc_id": d.doc_id, "title": d.title, "raw_text": d.raw_text} for d in docs],
        "sentences": [[s.doc_id, s.start, s.end, s.text] for s in sentences],
        "chunks": [
            [c.doc_id, c.start, c.end, c.n_tokens, c.first_sentence, c.last_sentence, c.text]
            for c in chunks
        ],
    }
    (folder / STORE).write_text(json.dumps(store, ensure_ascii=False), encoding="utf-8")
    np.save(folder / SENTENCE_VECTORS, np.stack(sentence_vectors, axis=1))


def load_store(
    folder: Path,
) -> tuple[list[dict[str, str]], list[Sentence], list[Chunk], SentenceVectors]:
    """Read what ``save_store`` wrote; damage is an ``IndexMismatch`` naming the fix."""
    try:
        store = json.loads((folder / STORE).read_text(encoding="utf-8"))
        sentences = [
            Sentence(sentence_id=i, doc_id=doc_id, text=text, start=start, end=end)
            for i, (doc_id, start, end, text) in enumerate(store["sentences"])
        ]
        chunks = [
            Chunk(
                chunk_id=i,
                doc_id=doc_id,
                text=text,
                start=start,
                end=end,
                n_tokens=n_tokens,
                first_sentence=first,
                last_sentence=last,
            )
            for i, (doc_id, start, end, n_tokens, first, last, text) in enumerate(store["chunks"])
        ]
        vectors = np.load(folder / SENTENCE_VECTORS)
        documents = store["documents"]
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise IndexMismatch(
            f"the chunk store in {folder} is damaged ({exc}); {REBUILD_HINT}"
        ) from exc
    if vectors.ndim != 3 or vectors.shape[:2] != (len(sentences), len(SentenceVectors._fields)):
        raise IndexMismatch(
            f"the sentence vectors in {folder} do not match its sentences; {REBUILD_HINT}"
        )
    return documents, sentences, chunks, SentenceVectors(vectors[:, 0], vectors[:, 1])
