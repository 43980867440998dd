"""What an index holds, as typed records: documents, sentences, chunks and their vectors.

Sentences and chunks are numbered globally in document order, so each document owns one
contiguous run of rows. ``IndexContents.pieces`` cuts the contents into per-document pieces and
``IndexContents.assemble`` puts pieces back together, renumbered: an incremental build keeps the
pieces of unchanged documents (their vectors above all) and embeds only the rest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from qa.errors import IndexMismatch
from qa.schema import Chunk, Sentence

STORE = "store.json"
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

    documents: tuple[StoredDocument, ...]
    sentences: tuple[Sentence, ...]
    chunks: tuple[Chunk, ...]
    chunk_vectors: np.ndarray  # one row per chunk, embedded with its document's title
    sentence_vectors: SentenceVectors

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
        store = {
            "documents": [
                {
                    "doc_id": d.doc_id,
                    "title": d.title,
                    "raw_text": d.raw_text,
                    "sha256": d.sha256,
                    "page_starts": list(d.page_starts),
                }
                for d in self.documents
            ],
            "sentences": [[s.doc_id, s.start, s.end, s.text] for s in self.sentences],
            "chunks": [
                [c.doc_id, c.start, c.end, c.n_tokens, c.first_sentence, c.last_sentence, c.text]
                for c in self.chunks
            ],
        }
        (folder / STORE).write_text(json.dumps(store, ensure_ascii=False), encoding="utf-8")
        np.save(folder / SENTENCE_VECTORS, np.stack(self.sentence_vectors, axis=1))
        np.save(folder / CHUNK_VECTORS, self.chunk_vectors)

    @classmethod
    def load(cls, folder: Path) -> IndexContents:
        """Read what ``save`` wrote, the vectors memory-mapped; damage is an ``IndexMismatch``."""
        try:
            store = json.loads((folder / STORE).read_text(encoding="utf-8"))
            documents = tuple(
                StoredDocument(
                    doc_id=d["doc_id"],
                    title=d["title"],
                    raw_text=d["raw_text"],
                    sha256=d["sha256"],
                    page_starts=tuple(d.get("page_starts", ())),
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
                for i, (doc_id, start, end, n_tokens, first, last, text) in enumerate(
                    store["chunks"]
                )
            )
            # Memory-mapped, read-only: a query reads the rows it compares, not the whole file
            # (at a million chunks the vectors alone are gigabytes).
            sentence_vectors = np.load(folder / SENTENCE_VECTORS, mmap_mode="r")
            chunk_vectors = np.load(folder / CHUNK_VECTORS, mmap_mode="r")
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
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
        )


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
