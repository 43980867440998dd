"""Which documents, and so which rows, a filter keeps in a loaded build.

Every document's id, metadata and first chunk and sentence row are held once per load; a
filter's rows are worked out when it is first asked and kept for the next questions that bring
it (a chat's ``/in`` or an evaluation's ``--filters`` asks every question with the same one).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qa.errors import IndexMismatch
from qa.filters import DocumentFilter
from qa.ingest.metadata import doc_type
from qa.store.contents import REBUILD_HINT, IndexContents
from qa.store.records import DocumentTexts, Records
from qa.store.rowset import AllowedRows, RowSet

CACHED_FILTERS = 64


class DocumentScope:
    """The documents of a build with their fields, and where each one's rows begin."""

    def __init__(
        self,
        doc_ids: Sequence[str],
        fields: Sequence[Mapping[str, Any]],
        chunk_bounds: np.ndarray,
        sentence_bounds: np.ndarray,
    ) -> None:
        self._doc_ids = doc_ids
        # A build made before documents had metadata has no type: its doc id's suffix says it.
        self._fields = [
            f if "type" in f else {**f, "type": doc_type(d)}
            for d, f in zip(doc_ids, fields, strict=True)
        ]
        self._chunk_bounds = chunk_bounds
        self._sentence_bounds = sentence_bounds
        self._cache: OrderedDict[str, AllowedRows | None] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def of(cls, contents: IndexContents) -> DocumentScope:
        """The scope of a build's contents (a loaded one reads no document's text for it)."""
        if isinstance(contents.texts, DocumentTexts):
            listed = contents.texts.fields()
        else:
            listed = [(d.doc_id, d.meta) for d in contents.documents]
        doc_ids = [doc_id for doc_id, _ in listed]
        row_of = {doc_id: i for i, doc_id in enumerate(doc_ids)}
        return cls(
            doc_ids,
            [fields for _, fields in listed],
            _bounds(contents.chunks, row_of, "chunks"),
            _bounds(contents.sentences, row_of, "sentences"),
        )

    def rows(self, where: DocumentFilter | None) -> AllowedRows | None:
        """The rows of the documents ``where`` keeps; None when it keeps every one (or is None),
        so that nothing needs restricting."""
        if where is None:
            return None
        key = where.key
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        allowed = self._allowed(where)
        with self._lock:
            self._cache[key] = allowed
            while len(self._cache) > CACHED_FILTERS:
                self._cache.popitem(last=False)
        return allowed

    def _allowed(self, where: DocumentFilter) -> AllowedRows | None:
        kept = np.fromiter(
            (
                i
                for i, (d, f) in enumerate(zip(self._doc_ids, self._fields, strict=True))
                if where.matches(d, f)
            ),
            dtype=np.int64,
        )
        if len(kept) == len(self._doc_ids):
            return None
        return AllowedRows(
            RowSet.of_runs(self._chunk_bounds, kept),
            RowSet.of_runs(self._sentence_bounds, kept),
            len(kept),
        )


def _bounds(records: Sequence[Any], row_of: Mapping[str, int], what: str) -> np.ndarray:
    """Where each document's ``records`` (chunks or sentences) begin, then their end: a
    document's records are one run, in document order."""
    if isinstance(records, Records):  # memory-mapped: the document's row is the first column
        owners = np.asarray(records.column(0), dtype=np.int64)
    else:
        owners = np.fromiter((row_of[r.doc_id] for r in records), dtype=np.int64)
    if len(owners) and (np.diff(owners) < 0).any():
        raise IndexMismatch(f"the index's {what} are not in document order; {REBUILD_HINT}")
    return np.searchsorted(owners, np.arange(len(row_of) + 1), side="left").astype(np.int64)
