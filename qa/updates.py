"""Adding, replacing and removing one document of a folder corpus while the service runs.

The corpus folder stays the source of truth: an update writes (or deletes) the file there, with
an atomic rename, and then rebuilds the index incrementally, so `qa index`, stale detection and
the API always agree on what the collection holds.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from qa.build import update_corpus
from qa.config import Settings
from qa.embedding import Embedder
from qa.errors import DocumentNotFound, DocumentTooLarge, InvalidRequest, UnreadableFile
from qa.ingest import SUPPORTED_SUFFIXES, TEXT_SUFFIXES, ReadLimits, read_document
from qa.ingest.metadata import checked_fields, sidecar_of

MAX_DOC_ID_CHARS = 255


@dataclass(frozen=True)
class UpdateResult:
    """What an update did, and the build that now answers."""

    doc_id: str
    status: str  # "created", "updated", "unchanged" or "deleted"
    documents: int
    build: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "status": self.status,
            "documents": self.documents,
            "build": self.build,
            "seconds": round(self.seconds, 3),
        }


def checked_doc_id(doc_id: str) -> PurePosixPath:
    """``doc_id`` as a safe relative path inside the corpus, with a supported extension."""
    path = PurePosixPath(doc_id)
    problems = (
        not doc_id
        or len(doc_id) > MAX_DOC_ID_CHARS
        or path.is_absolute()
        or "\\" in doc_id
        or any(part in ("", ".", "..") or part.startswith(".") for part in doc_id.split("/"))
        or not all(ch.isprintable() for ch in doc_id)
    )
    if problems:
        raise InvalidRequest(
            f"{doc_id!r} is not a usable document id: use a relative path such as "
            "'notes/minutes.txt' (no '..', no hidden parts)"
        )
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise InvalidRequest(
            f"{doc_id!r} has no supported extension; use one of "
            + ", ".join(sorted(SUPPORTED_SUFFIXES))
        )
    return path


def is_text_id(doc_id: str) -> bool:
    """Whether a document of this id can be sent as plain text (``{"text": ...}``)."""
    return PurePosixPath(doc_id).suffix.lower() in TEXT_SUFFIXES


def put_document(
    settings: Settings,
    doc_id: str,
    data: bytes,
    *,
    embedder: Embedder | None = None,
    meta: object = None,
) -> UpdateResult:
    """Add or replace the document ``doc_id`` with the file content ``data``; with ``meta`` (a
    dict of fields, ``qa.ingest.metadata``), its metadata too, written beside it as
    ``<doc_id>.meta.json`` (``{}`` removes it; None leaves it as it is).

    The content is read as the index would read it first: a file it would skip (binary, empty,
    no text layer) is a 400 with the reason, one past the settings' read limits
    (``DocumentTooLarge``) a 413, and the corpus is left as it was.
    """
    rel = checked_doc_id(doc_id)
    sidecar = _sidecar_bytes(meta)
    _check_readable(rel, data, ReadLimits.of(settings))

    def change(corpus: Path) -> str:
        target = corpus / rel
        same_meta = sidecar is None or _bytes_of(sidecar_of(target)) == (sidecar or None)
        if target.is_file() and target.read_bytes() == data and same_meta:
            return "unchanged"
        status = "updated" if target.exists() else "created"
        target.parent.mkdir(parents=True, exist_ok=True)
        if sidecar == b"":
            sidecar_of(target).unlink(missing_ok=True)
        elif sidecar is not None:  # first, so the document is never read without it
            _write_atomically(sidecar_of(target), sidecar)
        _write_atomically(target, data)
        return status

    return _result(settings, doc_id, change, embedder)


def delete_document(
    settings: Settings, doc_id: str, *, embedder: Embedder | None = None
) -> UpdateResult:
    """Remove the document ``doc_id`` from the corpus and the index."""
    rel = checked_doc_id(doc_id)

    def change(corpus: Path) -> str:
        target = corpus / rel
        if not target.is_file():
            raise DocumentNotFound(f"no document with id {doc_id!r} in {corpus}")
        target.unlink()
        sidecar_of(target).unlink(missing_ok=True)
        for parent in target.parents:  # folders the deletion emptied
            if parent == corpus or any(parent.iterdir()):
                break
            parent.rmdir()
        return "deleted"

    return _result(settings, doc_id, change, embedder)


def _result(
    settings: Settings, doc_id: str, change: Callable[[Path], str], embedder: Embedder | None
) -> UpdateResult:
    status, report = update_corpus(settings, change, embedder=embedder)
    return UpdateResult(doc_id, status, report.documents, report.folder.name, report.seconds)


def _sidecar_bytes(meta: object) -> bytes | None:
    """The ``.meta.json`` to write for ``meta`` (b"": remove it; None: leave it); a 400 naming
    the field that cannot be metadata."""
    if meta is None:
        return None
    try:
        fields = checked_fields(meta, "meta")
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    return json.dumps(fields, ensure_ascii=False, indent=2).encode() + b"\n" if fields else b""


def _bytes_of(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _write_atomically(target: Path, data: bytes) -> None:
    # Hidden name: a scan running meanwhile ignores it; the rename is atomic.
    tmp = target.with_name(f".qa-upload-{uuid.uuid4().hex}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _check_readable(rel: PurePosixPath, data: bytes, limits: ReadLimits) -> None:
    with tempfile.TemporaryDirectory(prefix="qa-upload-") as tmp:
        file = Path(tmp) / rel.name
        file.write_bytes(data)
        try:
            read_document(file, str(rel), limits)
        except DocumentTooLarge as exc:
            raise DocumentTooLarge(f"{str(rel)!r} cannot be indexed: {exc}") from None
        except UnreadableFile as exc:
            raise InvalidRequest(f"{str(rel)!r} cannot be indexed: {exc}") from None
