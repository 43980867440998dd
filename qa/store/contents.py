"""What an index holds, as typed records: documents, sentences, chunks and their vectors.

On disk (``save``/``load``): the records memory-mapped, read when asked for (``qa.store.records``),
beside the vectors; builds before that kept every record in one JSON file, still read.

Sentences and chunks are numbered globally in document order, so each document owns one
contiguous run of rows. ``IndexContents.pieces`` cuts the contents into per-document pieces and
``IndexContents.assemble`` puts pieces back together, renumbered: an incremental build keeps the
pieces of unchanged documents (their vectors above all) and embeds only the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from qa.errors import IndexMismatch
from qa.schema import Chunk, DocumentSummary, Sentence
from qa.store.records import (
    CHUNK_FIELDS,
    CHUNK_ROWS,
    DOCUMENT_ROWS,
    SENTENCE_FIELDS,
    SENTENCE_ROWS,
    TEXTS,
    DocumentTexts,
    Records,
    Texts,
    TextWriter,
    chunk_records,
    save_rows,
    sentence_records,
)
from qa.text import titled

STORE = "store.json"  # per document: id, title, checksum, pages (every record, before format 2)
STORE_FORMAT = 2
SENTENCE_VECTORS = "sentences.npy"
CHUNK_VECTORS = "chunks.npy"
REBUILD_HINT = "rebuild it with `qa index --force` (or `make index`)"


class SentenceVectors(NamedTuple):
    """Two embeddings of every sentence, one row each."""

    bare: np.ndarray  # the sentence alone: what the reader compares with the question
    titled: np.ndarray  # headed by its document's title: what retrieval searches


@dataclass(frozen=True)
class StoredDocument:
    """A document as the index keeps it: queries never read the corpus, only this."""

    doc_id: str
    title: str
    raw_text: str  # what citations' offsets point into (a PDF's or web page's extracted text)
    sha256: str  # of raw_text: decides whether the document changed since the build
    page_starts: tuple[int, ...] = ()  # raw_text offset where each page begins (PDFs)
    # Its type and author's fields (``qa.ingest.metadata``): a change of these alone keeps the
    # document's sentences, chunks and vectors (``qa.build``).
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class DocumentPieces:
    """One document with its sentences and chunks numbered from 0, and their vectors."""

    document: StoredDocument
    sentences: tuple[Sentence, ...]
    chunks: tuple[Chunk, ...]
    chunk_vectors: np.ndarray
    sentence_vectors: SentenceVectors


@dataclass(frozen=True)
class IndexContents:
    """Everything an index is built from; FAISS and BM25 are derived from it."""

    documents: Sequence[StoredDocument]
    sentences: Sequence[Sentence]
    chunks: Sequence[Chunk]
    chunk_vectors: np.ndarray  # one row per chunk, embedded with its document's title
    sentence_vectors: SentenceVectors
    # Loaded from disk: doc_id -> (title, raw text), each raw text read when asked for.
    texts: Mapping[str, tuple[str, str]] | None = field(default=None, compare=False, repr=False)

    def titled_chunk_texts(self) -> list[str]:
        """Each chunk's text headed by its document's title, as retrieval ranks chunks."""
        title_of = {d.doc_id: d.title for d in self.documents}
        return [titled(title_of[c.doc_id], c.text) for c in self.chunks]

    def document_texts(self) -> Mapping[str, tuple[str, str]]:
        """``doc_id -> (title, raw_text)`` of every document."""
        if self.texts is not None:
            return self.texts
        return {d.doc_id: (d.title, d.raw_text) for d in self.documents}

    def document_listing(self) -> list[DocumentSummary]:
        """Every document's id, title and length in characters, by doc_id; a loaded index
        reads no document's text for it."""
        if isinstance(self.texts, DocumentTexts):
            listed = self.texts.listing()
        else:
            listed = ((d.doc_id, d.title, len(d.raw_text)) for d in self.documents)
        return [DocumentSummary(*row) for row in sorted(listed)]

    def pieces(self) -> dict[str, DocumentPieces]:
        """Each document's piece by doc_id (renumbered from 0)."""
        sentence_runs = _runs([s.doc_id for s in self.sentences])
        chunk_runs = _runs([c.doc_id for c in self.chunks])
        out: dict[str, DocumentPieces] = {}
        for doc in self.documents:
            s0, s1 = sentence_runs.get(doc.doc_id, (0, 0))
            c0, c1 = chunk_runs.get(doc.doc_id, (0, 0))
            out[doc.doc_id] = DocumentPieces(
                document=doc,
                sentences=tuple(_shift_sentence(s, -s0) for s in self.sentences[s0:s1]),
                chunks=tuple(_shift_chunk(c, -c0, -s0) for c in self.chunks[c0:c1]),
                chunk_vectors=self.chunk_vectors[c0:c1],
                sentence_vectors=SentenceVectors(
                    self.sentence_vectors.bare[s0:s1], self.sentence_vectors.titled[s0:s1]
                ),
            )
        return out

    @classmethod
    def assemble(cls, pieces: Sequence[DocumentPieces], dim: int) -> IndexContents:
        """The pieces, in the order given, numbered globally."""
        sentences: list[Sentence] = []
        chunks: list[Chunk] = []
        for piece in pieces:
            s0, c0 = len(sentences), len(chunks)
            sentences.extend(_shift_sentence(s, s0) for s in piece.sentences)
            chunks.extend(_shift_chunk(c, c0, s0) for c in piece.chunks)

        def stack(arrays: list[np.ndarray]) -> np.ndarray:
            arrays = [a for a in arrays if len(a)]
            if not arrays:
                return np.zeros((0, dim), dtype=np.float32)
            return np.ascontiguousarray(np.concatenate(arrays), dtype=np.float32)

        return cls(
            documents=tuple(p.document for p in pieces),
            sentences=tuple(sentences),
            chunks=tuple(chunks),
            chunk_vectors=stack([p.chunk_vectors for p in pieces]),
            sentence_vectors=SentenceVectors(
                stack([p.sentence_vectors.bare for p in pieces]),
                stack([p.sentence_vectors.titled for p in pieces]),
            ),
        )

    def save(self, folder: Path) -> None:
        meta = [
            {
                "doc_id": d.doc_id,
                "title": d.title,
                "sha256": d.sha256,
                "page_starts": list(d.page_starts),
                "chars": len(d.raw_text),  # listed without reading the text
                "meta": dict(d.meta),
            }
            for d in self.documents
        ]
        row_of = {d.doc_id: i for i, d in enumerate(self.documents)}
        with (folder / TEXTS).open("wb") as f:
            texts = TextWriter(f)
            documents = [texts.add(d.raw_text) for d in self.documents]
            sentences = [
                (row_of[s.doc_id], s.start, s.end, *texts.add(s.text)) for s in self.sentences
            ]
            chunks = [
                (
                    row_of[c.doc_id],
                    c.start,
                    c.end,
                    c.n_tokens,
                    c.first_sentence,
                    c.last_sentence,
                    *texts.add(c.text),
                )
                for c in self.chunks
            ]
        save_rows(folder, DOCUMENT_ROWS, documents, 2)
        save_rows(folder, SENTENCE_ROWS, sentences, SENTENCE_FIELDS)
        save_rows(folder, CHUNK_ROWS, chunks, CHUNK_FIELDS)
        store = {"format": STORE_FORMAT, "documents": meta}
        (folder / STORE).write_text(json.dumps(store, ensure_ascii=False), encoding="utf-8")
        np.save(folder / SENTENCE_VECTORS, np.stack(self.sentence_vectors, axis=1))
        np.save(folder / CHUNK_VECTORS, self.chunk_vectors)

    @classmethod
    def load(cls, folder: Path) -> IndexContents:
        """Read what ``save`` wrote, the vectors and records memory-mapped; damage is an
        ``IndexMismatch``."""
        try:
            store = json.loads((folder / STORE).read_text(encoding="utf-8"))
            if "sentences" in store:  # a build before format 2: every record in the JSON
                documents, sentences, chunks = _json_records(store)
                texts = None
            else:
                documents, sentences, chunks, texts = _mapped_records(folder, store)
            # Memory-mapped, read-only: a query reads the rows it compares, not the whole file
            # (at a million chunks the vectors alone are gigabytes).
            sentence_vectors = np.load(folder / SENTENCE_VECTORS, mmap_mode="r")
            chunk_vectors = np.load(folder / CHUNK_VECTORS, mmap_mode="r")
        except (OSError, ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as exc:
            raise IndexMismatch(
                f"the chunk store in {folder} is damaged ({exc}); {REBUILD_HINT}"
            ) from exc
        if sentence_vectors.ndim != 3 or sentence_vectors.shape[:2] != (
            len(sentences),
            len(SentenceVectors._fields),
        ):
            raise IndexMismatch(
                f"the sentence vectors in {folder} do not match its sentences; {REBUILD_HINT}"
            )
        if chunk_vectors.ndim != 2 or len(chunk_vectors) != len(chunks):
            raise IndexMismatch(
                f"the chunk vectors in {folder} do not match its chunks; {REBUILD_HINT}"
            )
        if texts is None:
            known = {d.doc_id for d in documents}
            if any(s.doc_id not in known for s in sentences) or any(
                not 0 <= c.first_sentence <= c.last_sentence < len(sentences) for c in chunks
            ):
                raise IndexMismatch(
                    f"the chunk store in {folder} refers to rows it lacks; {REBUILD_HINT}"
                )
        return cls(
            documents=documents,
            sentences=sentences,
            chunks=chunks,
            chunk_vectors=chunk_vectors,
            sentence_vectors=SentenceVectors(sentence_vectors[:, 0], sentence_vectors[:, 1]),
            texts=texts,
        )


def _json_records(
    store: dict[str, Any],
) -> tuple[tuple[StoredDocument, ...], tuple[Sentence, ...], tuple[Chunk, ...]]:
    """The records of a store written before format 2, all in its JSON."""
    documents = tuple(
        StoredDocument(
            doc_id=d["doc_id"],
            title=d["title"],
            raw_text=d["raw_text"],
            sha256=d["sha256"],
            page_starts=tuple(d.get("page_starts", ())),
            meta=d.get("meta") or {},
        )
        for d in store["documents"]
    )
    sentences = tuple(
        Sentence(sentence_id=i, doc_id=doc_id, text=text, start=start, end=end)
        for i, (doc_id, start, end, text) in enumerate(store["sentences"])
    )
    chunks = tuple(
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
    )
    return documents, sentences, chunks


def _mapped_records(
    folder: Path, store: dict[str, Any]
) -> tuple[Records[StoredDocument], Records[Sentence], Records[Chunk], DocumentTexts]:
    """The records of a format-2 store, memory-mapped and checked against each other."""
    if store.get("format") != STORE_FORMAT:
        raise ValueError(f"store format {store.get('format')!r}, not {STORE_FORMAT}")
    meta = store["documents"]
    texts = Texts(folder / TEXTS)
    rows = {
        name: np.load(folder / name, mmap_mode="r")
        for name in (DOCUMENT_ROWS, SENTENCE_ROWS, CHUNK_ROWS)
    }
    _check_rows(rows, len(meta), len(texts))
    doc_ids = [m["doc_id"] for m in meta]

    def document(i: int, row: list[int]) -> StoredDocument:
        m = meta[i]
        raw = texts.get(*row)
        return StoredDocument(
            m["doc_id"], m["title"], raw, m["sha256"], tuple(m["page_starts"]), m.get("meta") or {}
        )

    return (
        Records(rows[DOCUMENT_ROWS], document),
        sentence_records(rows[SENTENCE_ROWS], doc_ids, texts),
        chunk_records(rows[CHUNK_ROWS], doc_ids, texts),
        DocumentTexts(meta, rows[DOCUMENT_ROWS], texts),
    )


def _check_rows(rows: dict[str, np.ndarray], n_documents: int, n_bytes: int) -> None:
    """``ValueError`` unless every row has its fields, names a document and a sentence the store
    has, and points at text inside the texts file."""
    widths = {DOCUMENT_ROWS: 2, SENTENCE_ROWS: SENTENCE_FIELDS, CHUNK_ROWS: CHUNK_FIELDS}
    for name, width in widths.items():
        if rows[name].ndim != 2 or rows[name].shape[1] != width:
            raise ValueError(f"{name} has shape {rows[name].shape}, not (rows, {width})")
    documents, sentences, chunks = (rows[n] for n in widths)
    if len(documents) != n_documents:
        raise ValueError(f"{len(documents)} document rows for {n_documents} documents")
    for name, table in rows.items():
        offset, length = table[:, -2], table[:, -1]
        if len(table) and ((offset < 0) | (length < 0) | (offset + length > n_bytes)).any():
            raise ValueError(f"{name} points outside the texts")
    for name, table in ((SENTENCE_ROWS, sentences), (CHUNK_ROWS, chunks)):
        if len(table) and ((table[:, 0] < 0) | (table[:, 0] >= n_documents)).any():
            raise ValueError(f"{name} names documents the store lacks")
    if len(chunks):
        first, last = chunks[:, 4], chunks[:, 5]
        if ((first < 0) | (first > last) | (last >= len(sentences))).any():
            raise ValueError(f"{CHUNK_ROWS} names sentences the store lacks")


# Renumbering builds new records directly: dataclasses.replace is several times slower, and an
# incremental build renumbers every sentence of the collection twice.
def _shift_sentence(s: Sentence, by: int) -> Sentence:
    return Sentence(s.sentence_id + by, s.doc_id, s.text, s.start, s.end)


def _shift_chunk(c: Chunk, by: int, sentences_by: int) -> Chunk:
    return Chunk(
        c.chunk_id + by,
        c.doc_id,
        c.text,
        c.start,
        c.end,
        c.n_tokens,
        c.first_sentence + sentences_by,
        c.last_sentence + sentences_by,
    )


def _runs(doc_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """``doc_id -> (first row, end row)`` of each contiguous run."""
    runs: dict[str, tuple[int, int]] = {}
    for row, doc_id in enumerate(doc_ids):
        start = runs[doc_id][0] if doc_id in runs else row
        runs[doc_id] = (start, row + 1)
    return runs
