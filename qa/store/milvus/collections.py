"""Writing a build's collections, and dropping those no build needs (see the package's docstring)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qa.errors import IndexUnavailable
from qa.store.dense import EXACT_BELOW
from qa.text import content_terms

KINDS = ("chunks", "sentences")
MAX_VARCHAR = 65_535  # bytes: Milvus's longest VARCHAR
INSERT_BATCH = 1_000
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}  # bm25s's defaults, as the faiss backend ranks
HNSW_PARAMS = {"M": 32, "efConstruction": 40}  # FAISS's HNSW32, as "auto" builds it there


@dataclass(frozen=True)
class Passages:
    """What one collection holds; row i is passage i (chunk or sentence) of the build."""

    doc_ids: Sequence[str]
    starts: Sequence[int]
    ends: Sequence[int]
    texts: Sequence[str]  # as BM25 and the embedding saw them (chunks headed by their title)
    vectors: np.ndarray


def milvus_terms(text: str) -> str:
    """The text as Milvus's BM25 analyses it: ``qa.text``'s terms, each one word for Milvus's
    standard tokenizer ("nato-russia" becomes "nato_russia", not two more terms)."""
    return _fit(" ".join(re.sub(r"\W", "_", term) for term in content_terms(text)))


def _fit(text: str) -> str:
    """``text`` cut to Milvus's longest VARCHAR: only a sentence with no space for 20k+ words,
    which no question matches, is this long; the contents keep the whole text."""
    data = text.encode("utf-8")
    return text if len(data) <= MAX_VARCHAR else data[:MAX_VARCHAR].decode("utf-8", "ignore")


def new_namespace(prefix: str) -> str:
    """A name part of its own for one index folder's collections (several can share a Milvus)."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def write(client: Any, namespace: str, passages: dict[str, Passages]) -> dict[str, Any]:
    """New collections holding ``passages`` by kind; the manifest's entry naming them.

    A failure drops what was written and raises ``IndexUnavailable``.
    """
    from pymilvus.exceptions import MilvusException

    tag = f"{time.strftime('%Y%m%dT%H%M%S')}_{uuid.uuid4().hex[:8]}"
    names = {kind: f"{namespace}_{tag}_{kind}" for kind in passages}
    indexes = {}
    try:
        for kind, rows in passages.items():
            indexes[kind] = _create(client, names[kind], rows)
            for start in range(0, len(rows.texts), INSERT_BATCH):
                client.insert(names[kind], _rows(rows, start, start + INSERT_BATCH))
            client.flush(names[kind])
    except BaseException as exc:
        drop(client, names.values())
        if isinstance(exc, MilvusException):
            raise IndexUnavailable(f"Milvus refused the build ({exc.message})") from exc
        raise
    return {"namespace": namespace, "collections": names, "index": indexes}


def _create(client: Any, name: str, rows: Passages) -> dict[str, Any]:
    """Create the collection; the dense index by size, as the faiss backend's "auto" chooses."""
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_field("start", DataType.INT64)
    schema.add_field("end", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_field(
        "terms",
        DataType.VARCHAR,
        max_length=MAX_VARCHAR,
        enable_analyzer=True,
        analyzer_params={"tokenizer": "standard"},
    )
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=int(rows.vectors.shape[1]))
    schema.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["terms"],
            output_field_names=["sparse"],
        )
    )
    exact = len(rows.texts) < EXACT_BELOW
    dense = (
        {"index_type": "FLAT", "params": {}}
        if exact
        else {"index_type": "HNSW", "params": HNSW_PARAMS}
    )
    params = client.prepare_index_params()
    params.add_index(field_name="dense", metric_type="IP", **dense)
    params.add_index(
        field_name="sparse",
        index_type="SPARSE_INVERTED_INDEX",
        metric_type="BM25",
        params=BM25_PARAMS,
    )
    client.create_collection(name, schema=schema, index_params=params)
    return dense


def _rows(rows: Passages, start: int, end: int) -> list[dict[str, Any]]:
    end = min(end, len(rows.texts))
    vectors = np.asarray(rows.vectors[start:end], dtype=np.float32)
    return [
        {
            "id": i,
            "doc_id": rows.doc_ids[i],
            "start": int(rows.starts[i]),
            "end": int(rows.ends[i]),
            "text": _fit(rows.texts[i]),
            "terms": milvus_terms(rows.texts[i]),
            "dense": vectors[i - start].tolist(),
        }
        for i in range(start, end)
    ]


def drop(client: Any, names: Sequence[str] | Any) -> None:
    """Drop collections, ignoring those already gone."""
    for name in names:
        try:
            client.drop_collection(name)
        except Exception:  # noqa: BLE001 - a leftover that cannot be dropped now is retried later
            pass


def drop_unused(client: Any, namespace: str, keep: set[str]) -> list[str]:
    """Drop this index folder's collections not in ``keep``; the names dropped."""
    unused = [
        name
        for name in client.list_collections()
        if name.startswith(f"{namespace}_") and name not in keep
    ]
    drop(client, unused)
    return unused


def exists(client: Any, entry: dict[str, Any]) -> bool:
    """Whether every collection a manifest's entry names is in this Milvus."""
    return all(client.has_collection(name) for name in entry.get("collections", {}).values())
