"""Reading a corpus (a folder of documents, one document, or a SQuAD-format JSON file).

A file that cannot be indexed is skipped with its reason, never silently and never fatally:
``scan_corpus`` returns the documents and the skipped files; only a corpus with no documents at
all is an error.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from qa.errors import CorpusError, UnreadableFile
from qa.ingest.documents import make_document, sha256_text
from qa.ingest.formats import read_file
from qa.ingest.limits import DEFAULT_LIMITS, ReadLimits
from qa.ingest.metadata import META_SUFFIX, SQUAD_TYPE, doc_type, is_sidecar, read_sidecar
from qa.schema import Document, SkippedFile

log = logging.getLogger(__name__)

_EXPECTED = "expected .txt, .md, .pdf, .html or .docx files, or a SQuAD-format .json file"
_LISTED = 5  # skipped files named in a log line or an error message; the rest are counted


@dataclass(frozen=True)
class Corpus:
    """What a corpus holds: documents sorted by ``doc_id``, and skipped files sorted by path."""

    documents: list[Document]
    skipped: list[SkippedFile]
    # Files of a folder corpus found but not read because the caller already holds them.
    known: list[str] = field(default_factory=list)


def scan_corpus(
    path: Path,
    *,
    known: Collection[str] = (),
    known_texts: Mapping[str, str] | None = None,
    progress: bool = False,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> Corpus:
    """Every readable document under ``path`` and every skipped file with its reason.

    ``path`` is a folder (nested folders included, hidden ones left out), a single document, or a
    SQuAD-format ``.json`` file. ``CorpusError`` if it is missing or yields no document. Files of
    a folder whose relative path is in ``known`` (unchanged since an earlier read, say) are not
    read again, only listed in ``Corpus.known``: extracting a PDF is the slow part of a scan.
    Likewise a SQuAD paragraph whose id maps to the sha256 of its text in ``known_texts`` is not
    cleaned again (cleaning is the slow part there). A file past ``limits`` is skipped.
    """
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"corpus not found: {path}")
    found: list[str] = []
    if path.is_file() and path.suffix.lower() == ".json":
        docs, skipped = [], []
        for doc_id, doc in _read_squad(path, known_texts or {}):
            if doc is None:
                found.append(doc_id)
            else:
                docs.append(doc)
    elif path.is_file():
        docs, skipped = _read_files(path.parent, [path], limits)
    else:
        to_read: list[Path] = []
        sidecars: list[str] = []
        for file in _walk(path):
            rel = file.relative_to(path).as_posix()
            if is_sidecar(rel):  # another file's metadata, read with it
                sidecars.append(rel)
            elif rel in known:
                found.append(rel)
            else:
                to_read.append(file)
        if progress and to_read:
            from tqdm import tqdm

            to_read = tqdm(to_read, desc="reading", unit="file", file=sys.stderr)
        docs, skipped = _read_files(path, to_read, limits)
        skipped += _unused_sidecars(path, sidecars)
    skipped.sort(key=lambda s: s.path)
    if skipped:
        log.warning(
            "skipped %d file%s in %s: %s", len(skipped), _s(skipped), path, _summary(skipped)
        )
    if not docs and not found:
        note = f"; {len(skipped)} file{_s(skipped)} skipped: {_summary(skipped)}" if skipped else ""
        raise CorpusError(f"no documents in {path}: {_EXPECTED}{note}")
    return Corpus(sorted(docs, key=lambda d: d.doc_id), skipped, sorted(found))


def load_corpus(path: Path) -> list[Document]:
    """All documents under ``path``, sorted by ``doc_id``; a clear error if there are none."""
    return scan_corpus(path).documents


def read_document(file: Path, doc_id: str, limits: ReadLimits = DEFAULT_LIMITS) -> Document:
    """The document in ``file``; ``UnreadableFile`` with the reason if it cannot be indexed."""
    extracted = read_file(file, limits)
    if extracted.replaced:
        log.warning(
            "%s: %d undecodable bytes in %s text replaced with U+FFFD",
            doc_id,
            extracted.replaced,
            extracted.encoding,
        )
    elif extracted.encoding not in (None, "utf-8"):
        log.info("%s: read as %s", doc_id, extracted.encoding)
    doc = make_document(
        doc_id,
        extracted.text,
        title=extracted.title,
        markdown=extracted.markdown,
        page_starts=extracted.page_starts,
    )
    if not doc.text:
        raise UnreadableFile("no text left after cleaning (only page furniture)")
    try:
        given = read_sidecar(file)
    except ValueError as exc:  # a scan lists it with the skipped files; the text is indexed
        log.info("%s%s not used: %s", doc_id, META_SUFFIX, exc)
        given = {}
    return replace(doc, meta={**doc.meta, **given, "type": doc_type(file.name)})


def _unused_sidecars(root: Path, sidecars: Iterable[str]) -> list[SkippedFile]:
    """Metadata files that apply to no document, or cannot be used, with the reason."""
    unused = []
    for rel in sidecars:
        target = root / rel[: -len(META_SUFFIX)]
        if not target.is_file():
            unused.append(SkippedFile(rel, f"metadata of {target.name}, which is not there"))
            continue
        try:
            read_sidecar(target)
        except ValueError as exc:
            unused.append(SkippedFile(rel, f"metadata not used: {exc}"))
    return unused


def _read_files(
    root: Path, files: Iterable[Path], limits: ReadLimits
) -> tuple[list[Document], list[SkippedFile]]:
    docs: list[Document] = []
    skipped: list[SkippedFile] = []
    for file in files:
        rel = file.relative_to(root).as_posix()
        try:
            if not file.is_file():
                raise UnreadableFile("not a regular file (a broken link, socket or pipe)")
            docs.append(read_document(file, rel, limits))
        except UnreadableFile as exc:
            log.info("skipping %s: %s", rel, exc)
            skipped.append(SkippedFile(rel, str(exc)))
        except Exception as exc:  # a bug or a library's surprise in one file must not stop a build
            log.warning("failed to read %s", rel, exc_info=True)
            skipped.append(SkippedFile(rel, f"failed to read ({type(exc).__name__}: {exc})"))
    return docs, skipped


def _walk(folder: Path) -> Iterator[Path]:
    """Files under ``folder`` in sorted order; hidden files and folders (.git, swap files) left out."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath, name)


def _read_squad(
    file: Path, known_texts: Mapping[str, str]
) -> Iterator[tuple[str, Document | None]]:
    """Each paragraph of a SQuAD file becomes a document ``<title>/<paragraph index>``; None for
    one whose text hashes to its ``known_texts`` entry (the caller holds it already).
    """
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        paragraphs = [
            (str(article.get("title", "untitled")), i, paragraph["context"])
            for article in data["data"]
            for i, paragraph in enumerate(article.get("paragraphs", []))
        ]
        if not all(isinstance(context, str) for _, _, context in paragraphs):
            raise TypeError("a paragraph's context is not a string")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorpusError(
            f"{file} is not a SQuAD-format JSON file (expected data[].paragraphs[].context): {exc!r}"
        ) from exc
    for title, i, context in paragraphs:
        doc_id = f"{title}/{i}"
        if known_texts.get(doc_id) == sha256_text(context):
            yield doc_id, None
        else:
            doc = make_document(doc_id, context, title=title.replace("_", " "))
            yield doc_id, replace(doc, meta={"type": SQUAD_TYPE})


def _summary(skipped: list[SkippedFile]) -> str:
    named = ", ".join(f"{s.path} ({s.reason})" for s in skipped[:_LISTED])
    more = len(skipped) - _LISTED
    return f"{named} and {more} more" if more > 0 else named


def _s(items: list[SkippedFile]) -> str:
    return "" if len(items) == 1 else "s"
