"""Reading a corpus (a folder of .txt/.md files or a SQuAD-format JSON file) into Documents."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from qa.cleaning import clean
from qa.errors import CorpusError
from qa.schema import Document
from qa.text import split_sentences

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown"}
_MARKDOWN_SUFFIXES = {".md", ".markdown"}
_TITLE_MAX_WORDS = 20
_FALLBACK_TITLE_CHARS = 80


def load_corpus(path: Path) -> list[Document]:
    """All documents under ``path``, sorted by ``doc_id``; a clear error if there are none."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"corpus not found: {path}")
    docs = list(_read_squad(path) if path.is_file() else _read_folder(path))
    if not docs:
        raise CorpusError(
            f"no documents in {path}: expected .txt or .md files, or a SQuAD-format .json file"
        )
    return sorted(docs, key=lambda d: d.doc_id)


def corpus_fingerprint(docs: list[Document]) -> dict[str, str]:
    """``doc_id -> sha256`` of each document's raw text: what decides whether an index is stale."""
    return {d.doc_id: sha256_text(d.raw_text) for d in docs}


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_folder(folder: Path) -> Iterator[Document]:
    for file in sorted(folder.rglob("*")):
        rel = file.relative_to(folder)
        if not file.is_file() or file.suffix.lower() not in TEXT_SUFFIXES:
            continue
        if any(part.startswith(".") for part in rel.parts):
            continue  # hidden files and folders (.git, editor swap files)
        data = file.read_bytes()
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError:
            log.warning("%s is not valid UTF-8; undecodable bytes are replaced", rel)
            raw = data.decode("utf-8", errors="replace")
        yield make_document(rel.as_posix(), raw, markdown=file.suffix.lower() in _MARKDOWN_SUFFIXES)


def _read_squad(file: Path) -> Iterator[Document]:
    """Each paragraph of a SQuAD file becomes a document ``<title>/<paragraph index>``."""
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
        yield make_document(f"{title}/{i}", context, title=title.replace("_", " "))


def make_document(
    doc_id: str, raw: str, *, title: str | None = None, markdown: bool = False
) -> Document:
    """Clean ``raw`` and wrap it as a Document; the title comes from its first headline."""
    cleaned = clean(raw, markdown=markdown)
    return Document(
        doc_id=doc_id,
        title=title or derive_title(cleaned.text) or doc_id,
        raw_text=raw,
        text=cleaned.text,
        offsets=cleaned.offsets,
    )


def derive_title(text: str) -> str:
    """The first paragraph if it reads as a headline, else the start of the first sentence."""
    first_para = text.split("\n", 1)[0].strip()
    if not first_para:
        return ""
    n_words = len(first_para.split())
    if n_words <= _TITLE_MAX_WORDS and not first_para.endswith((".", "!", ",", ";", ":")):
        return first_para
    spans = split_sentences(text)
    sentence = text[spans[0][0] : spans[0][1]] if spans else first_para
    if len(sentence) <= _FALLBACK_TITLE_CHARS:
        return sentence
    return sentence[:_FALLBACK_TITLE_CHARS].rsplit(" ", 1)[0].rstrip(",;:—-– ") + "…"
