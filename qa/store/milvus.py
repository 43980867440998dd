"""A build's searchable index in Milvus (``QA_BACKEND=milvus``); the only module that imports pymilvus.

Each build writes two collections, one of chunks and one of sentences. A row holds the passage's
id (its row in the build's contents), document id, character offsets, text, dense vector, and the
BM25 sparse vector Milvus derives from the text with its BM25 function. At query time Milvus runs
the dense and BM25 searches, and fuses the chunks' two rankings itself (hybrid search, RRF).

The manifest names a build's collections, so switching builds stays the index folder's atomic
symlink swap: a failed or killed build never touches the collections in use. The collections of
the build a new one replaced are kept until the next build (a server still answering from it
reloads within seconds); older ones, and those of killed builds, are dropped.

Milvus Lite's analyzer has no stemmer, so Milvus gets the terms ``qa.text`` makes (stemmed, no
stopwords), joined by spaces: both backends rank by the same terms, BM25 with bm25s's k1 and b.
"""

from __future__ import annotations

import bisect
import logging
import re
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from qa.errors import DependencyMissing, IndexMismatch, IndexUnavailable
from qa.store.dense import EXACT_BELOW, HNSW_EF_SEARCH
from qa.text import content_terms

KINDS = ("chunks", "sentences")
MAX_VARCHAR = 65_535  # bytes: Milvus's longest VARCHAR
INSERT_BATCH = 1_000
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}  # bm25s's defaults, as the faiss backend ranks
HNSW_PARAMS = {"M": 32, "efConstruction": 40}  # FAISS's HNSW32, as "auto" builds it there
INSTALL_HINT = "QA_BACKEND=milvus needs pymilvus and milvus-lite: pip install -e '.[milvus]'"
CONNECT_SECONDS = 10.0  # how long to wait for a Milvus server before saying it is unreachable
# Both log every failure with its traceback; qa raises a QAError that says what to do instead.
for _name in ("pymilvus", "milvus_lite"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

_clients: dict[tuple[str, str], Any] = {}
_clients_lock = threading.Lock()


@dataclass(frozen=True)
class MilvusTarget:
    """Which Milvus an index folder's collections live in, and how they are named."""

    uri: str  # a Milvus Lite file (ends in .db) or a server's http(s):// URI
    token: str = ""
    prefix: str = "qa"


@dataclass(frozen=True)
class Passages:
    """What one collection holds; row i is passage i (chunk or sentence) of the build."""

    doc_ids: Sequence[str]
    starts: Sequence[int]
    ends: Sequence[int]
    texts: Sequence[str]  # as BM25 and the embedding saw them (chunks headed by their title)
    vectors: np.ndarray


def connect(target: MilvusTarget) -> Any:
    """The process's ``MilvusClient`` for a target (a Milvus Lite file is opened once a process)."""
    uri, token = target.uri, target.token
    try:
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException
    except ImportError as exc:
        raise DependencyMissing(f"{INSTALL_HINT} ({exc})") from exc
    if uri.endswith(".db"):
        # Milvus Lite's in-process gRPC server logs an error for each call it does not implement
        # (AllocTimestamp, which pymilvus tries after creating an index, and then does without).
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    with _clients_lock:
        if (uri, token) not in _clients:
            try:
                _clients[uri, token] = MilvusClient(uri=uri, token=token, timeout=CONNECT_SECONDS)
            except MilvusException as exc:
                raise IndexUnavailable(_unreachable(uri, exc)) from exc
        return _clients[uri, token]


def _unreachable(uri: str, exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    if uri.endswith(".db"):
        # Milvus Lite locks its file for one process: a running `qa serve`, or a second worker.
        return (
            f"cannot open the Milvus Lite file {uri} ({message}); another process may hold it: "
            "Milvus Lite serves one process, so stop it, or run a Milvus server and set "
            "QA_MILVUS_URI=http://host:19530"
        )
    return f"cannot reach Milvus at {uri} ({message}); check QA_MILVUS_URI and QA_MILVUS_TOKEN"


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


class Collection:
    """One build's collection of chunks or sentences, loaded and searchable."""

    def __init__(self, client: Any, name: str, size: int, index: dict[str, Any]) -> None:
        self._client = client
        self.name = name
        self.size = size
        self._dense_params: dict[str, Any] = {"metric_type": "IP"}
        if index.get("index_type") == "HNSW":
            self._dense_params["params"] = {"ef": HNSW_EF_SEARCH}

    def dense(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The ``k`` rows nearest to ``vector`` as ``(row, cosine)``, best first."""
        k = min(k, self.size)
        if k <= 0:
            return []
        return _by_score(
            self._call(
                "search",
                data=[_listed(vector)],
                anns_field="dense",
                limit=k,
                search_params=self._search_params(k),
                output_fields=["id"],
            )
        )

    def lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` rows sharing a term with ``query``, as ``(row, BM25 score)``, best first."""
        terms = milvus_terms(query)
        k = min(k, self.size)
        if not terms or k <= 0:
            return []
        return _by_score(
            self._call(
                "search",
                data=[terms],
                anns_field="sparse",
                limit=k,
                search_params={"metric_type": "BM25"},
                output_fields=["id"],
            )
        )

    def fused(self, query: str, vector: np.ndarray, k: int, rrf_k: int) -> list[tuple[int, float]]:
        """Every row in the dense or the BM25 top ``k``, scored by Milvus's reciprocal-rank
        fusion of the two rankings (sum of 1 / (rrf_k + rank)), best first."""
        from pymilvus import AnnSearchRequest, RRFRanker

        terms = milvus_terms(query)
        k = min(k, self.size)
        if k <= 0:
            return []
        if not terms:  # one ranking: nothing for Milvus to fuse
            return [
                (row, 1.0 / (rrf_k + rank))
                for rank, (row, _) in enumerate(self.dense(vector, k), start=1)
            ]
        requests = [
            AnnSearchRequest(
                data=[_listed(vector)], anns_field="dense", param=self._search_params(k), limit=k
            ),
            AnnSearchRequest(
                data=[terms], anns_field="sparse", param={"metric_type": "BM25"}, limit=k
            ),
        ]
        # A limit of both lists' length: every row either ranking found comes back, as the faiss
        # backend's fusion counts them all.
        fused = self._call(
            "hybrid_search", reqs=requests, ranker=RRFRanker(rrf_k), limit=2 * k,
            output_fields=["id"],
        )  # fmt: skip
        sums = _rrf_sums(rrf_k, k)
        return [(row, _nearest(sums, score)) for row, score in fused]

    def _search_params(self, k: int) -> dict[str, Any]:
        params = dict(self._dense_params)
        if "params" in params:  # HNSW explores at least as many candidates as it returns
            params["params"] = {"ef": max(HNSW_EF_SEARCH, k)}
        return params

    def _call(self, method: str, **kwargs: Any) -> list[tuple[int, float]]:
        from pymilvus.exceptions import MilvusException

        try:
            result = getattr(self._client, method)(self.name, **kwargs)
        except MilvusException as exc:
            raise IndexUnavailable(
                f"Milvus could not search {self.name} ({exc.message}); if the collection is "
                "gone, `qa index` writes it again from the stored vectors"
            ) from exc
        # Milvus Lite gives BM25 scores negated (as distances), a Milvus server positive.
        return [(int(hit["id"]), abs(float(hit["distance"]))) for hit in result[0]]


@dataclass(frozen=True)
class MilvusSearch:
    """A loaded build's collections."""

    chunks: Collection
    sentences: Collection


def open_collections(
    client: Any, entry: dict[str, Any], counts: dict[str, int], where: str
) -> MilvusSearch:
    """A build's collections, loaded; ``IndexMismatch`` if one is missing or of another size."""
    from pymilvus.exceptions import MilvusException

    hint = "`qa index` writes it again from the stored vectors"
    try:
        out = {}
        for kind in KINDS:
            name = entry["collections"][kind]
            if not client.has_collection(name):
                raise IndexMismatch(f"the Milvus collection {name} of {where} is missing; {hint}")
            client.load_collection(name)
            rows = int(client.get_collection_stats(name)["row_count"])
            if rows != counts[kind]:
                raise IndexMismatch(
                    f"the Milvus collection {name} of {where} holds {rows} rows, not "
                    f"{counts[kind]}; {hint}"
                )
            out[kind] = Collection(client, name, rows, entry.get("index", {}).get(kind, {}))
        return MilvusSearch(out["chunks"], out["sentences"])
    except (KeyError, TypeError) as exc:
        raise IndexMismatch(f"the manifest's Milvus entry of {where} is malformed; {hint}") from exc
    except MilvusException as exc:
        raise IndexUnavailable(
            f"Milvus could not load {where}'s collections ({exc.message})"
        ) from exc


def _by_score(hits: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Best first, equal scores by row, as FAISS and bm25s order them (Milvus keeps its own
    order among equals: sentences with the same BM25 score then ranked apart from faiss's)."""
    return sorted(hits, key=lambda hit: (-hit[1], hit[0]))


@lru_cache(maxsize=16)
def _rrf_sums(rrf_k: int, k: int) -> list[float]:
    """Every score RRF can give a row of two rankings ``k`` deep, exactly, in order."""
    terms = [0.0] + [1.0 / (rrf_k + rank) for rank in range(1, k + 1)]
    return sorted({a + b for i, a in enumerate(terms) for b in terms[i:] if a + b > 0})


def _nearest(sums: list[float], score: float) -> float:
    """The exact sum Milvus's float32 ``score`` stands for: rows the faiss backend ties (ranks
    1 and 3 against 3 and 1, say) then tie here too, and are ordered by row as there."""
    i = bisect.bisect_left(sums, score)
    near = [sums[j] for j in (i - 1, i) if 0 <= j < len(sums)]
    best = min(near, key=lambda s: abs(s - score), default=score)
    return best if abs(best - score) <= 1e-6 * max(score, 1e-9) else score


def _listed(vector: np.ndarray) -> list[float]:
    return np.asarray(vector, dtype=np.float32).reshape(-1).tolist()
