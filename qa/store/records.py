"""A build's documents, sentences and chunks on disk, each record read when it is asked for.

The texts (documents' raw text, then each sentence's and chunk's) lie one after another in one
UTF-8 file, and each record is one row of int64s in a ``.npy`` file; both are memory-mapped. A
question reads the few dozen sentences it ranks, so a million chunks' five million sentences stay
on disk instead of costing gigabytes of Python objects (as one JSON store did: 125 MiB for
20,000 chunks). What is per document and small (id, title, checksum, pages) stays in JSON.
"""

from __future__ import annotations

import mmap
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, overload

import numpy as np

from qa.schema import Chunk, Sentence

TEXTS = "texts.bin"
DOCUMENT_ROWS = "rows-documents.npy"  # raw text's byte offset and length
SENTENCE_ROWS = "rows-sentences.npy"  # document row, start, end, text's byte offset and length
CHUNK_ROWS = "rows-chunks.npy"  # document row, start, end, n_tokens, first and last sentence, text
SENTENCE_FIELDS = 5
CHUNK_FIELDS = 8

T = TypeVar("T")


class TextWriter:
    """Appends texts to the texts file; ``add`` says where each lies."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._offset = 0

    def add(self, text: str) -> tuple[int, int]:
        data = text.encode("utf-8")
        self._file.write(data)
        self._offset += len(data)
        return self._offset - len(data), len(data)


def save_rows(folder: Path, name: str, rows: list[tuple[int, ...]], fields: int) -> None:
    np.save(folder / name, np.array(rows, dtype=np.int64).reshape(len(rows), fields))


class Texts:
    """The texts file, memory-mapped."""

    def __init__(self, path: Path) -> None:
        with path.open("rb") as f:
            # mmap cannot map an empty file (a build of documents with no text)
            self._map = (
                mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if path.stat().st_size else b""
            )

    def __len__(self) -> int:
        return len(self._map)

    def get(self, offset: int, length: int) -> str:
        return self._map[offset : offset + length].decode("utf-8")


class Records(Sequence[T]):
    """Records made on access from the rows of a (memory-mapped) array."""

    def __init__(self, rows: np.ndarray, make: Callable[[int, list[int]], T]) -> None:
        self._rows = np.asarray(rows)  # a plain view: indexing a np.memmap costs ~10x more
        self._make = make

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self._one(i) for i in range(*index.indices(len(self)))]
        i = operator.index(index)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"record {index} of {len(self)}")
        return self._one(i)

    def _one(self, i: int) -> T:
        return self._make(i, self._rows[i].tolist())

    def column(self, field: int) -> np.ndarray:
        """One field of every row (e.g. the document's row of each chunk), not made into records."""
        return self._rows[:, field]

    def __iter__(self) -> Iterator[T]:
        for i in range(len(self)):
            yield self._one(i)

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence (a tuple of records, say) holding equal records in order."""
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # compared by value, like a list


def sentence_records(rows: np.ndarray, doc_ids: Sequence[str], texts: Texts) -> Records[Sentence]:
    def make(i: int, row: list[int]) -> Sentence:
        doc, start, end, offset, length = row
        return Sentence(i, doc_ids[doc], texts.get(offset, length), start, end)

    return Records(rows, make)


def chunk_records(rows: np.ndarray, doc_ids: Sequence[str], texts: Texts) -> Records[Chunk]:
    def make(i: int, row: list[int]) -> Chunk:
        doc, start, end, n_tokens, first, last, offset, length = row
        return Chunk(i, doc_ids[doc], texts.get(offset, length), start, end, n_tokens, first, last)

    return Records(rows, make)


class DocumentTexts(Mapping[str, tuple[str, str]]):
    """``doc_id -> (title, raw_text)``, each raw text read when it is asked for."""

    def __init__(self, meta: Sequence[Mapping[str, Any]], rows: np.ndarray, texts: Texts) -> None:
        self._row = {m["doc_id"]: i for i, m in enumerate(meta)}
        self._meta = meta
        self._rows = np.asarray(rows)
        self._texts = texts

    def __getitem__(self, doc_id: str) -> tuple[str, str]:
        i = self._row[doc_id]
        offset, length = self._rows[i].tolist()
        return self._meta[i]["title"], self._texts.get(offset, length)

    def __iter__(self) -> Iterator[str]:
        return iter(self._row)

    def listing(self) -> Iterator[tuple[str, str, int]]:
        """Each document's ``(doc_id, title, length in characters)``, in store order; a text is
        read only for a build made before the store kept its length."""
        for i, m in enumerate(self._meta):
            chars = m.get("chars")
            if chars is None:
                chars = len(self._texts.get(*self._rows[i].tolist()))
            yield m["doc_id"], m["title"], int(chars)

    def fields(self) -> list[tuple[str, Mapping[str, Any]]]:
        """Each document's ``(doc_id, metadata)``, in store order, without reading its text."""
        return [(m["doc_id"], m.get("meta") or {}) for m in self._meta]

    def __len__(self) -> int:
        return len(self._row)
