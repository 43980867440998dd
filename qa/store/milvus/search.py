"""Searching a loaded build's collections: dense, BM25, and Milvus's hybrid search with RRF."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from qa.errors import IndexMismatch, IndexUnavailable
from qa.store.dense import HNSW_EF_SEARCH
from qa.store.milvus.collections import KINDS, milvus_terms
from qa.store.rowset import RowSet


class Collection:
    """One build's collection of chunks or sentences, loaded and searchable."""

    def __init__(self, client: Any, name: str, size: int, index: dict[str, Any]) -> None:
        self._client = client
        self.name = name
        self.size = size
        self._graph = index.get("index_type") == "HNSW"

    def dense(
        self, vector: np.ndarray, k: int, within: RowSet | None = None
    ) -> list[tuple[int, float]]:
        """The ``k`` rows nearest to ``vector`` as ``(row, cosine)``, best first; with
        ``within``, of those rows only."""
        k = min(k, self.size if within is None else within.size)
        if k <= 0:
            return []
        return _by_score(
            self._call(
                "search",
                data=[_listed(vector)],
                filter=_expression(within),
                anns_field="dense",
                limit=k,
                search_params=self._search_params(k),
                output_fields=["id"],
            )
        )

    def lexical(self, query: str, k: int, within: RowSet | None = None) -> list[tuple[int, float]]:
        """Up to ``k`` rows sharing a term with ``query``, as ``(row, BM25 score)``, best first;
        with ``within``, of those rows only."""
        terms = milvus_terms(query)
        k = min(k, self.size if within is None else within.size)
        if not terms or k <= 0:
            return []
        return _by_score(
            self._call(
                "search",
                data=[terms],
                filter=_expression(within),
                anns_field="sparse",
                limit=k,
                search_params={"metric_type": "BM25"},
                output_fields=["id"],
            )
        )

    def fused(
        self, query: str, vector: np.ndarray, k: int, rrf_k: int, within: RowSet | None = None
    ) -> list[tuple[int, float]]:
        """Every row in the dense or the BM25 top ``k``, scored by Milvus's reciprocal-rank
        fusion of the two rankings (sum of 1 / (rrf_k + rank)), best first; with ``within``,
        of those rows only."""
        from pymilvus import AnnSearchRequest, RRFRanker

        terms = milvus_terms(query)
        k = min(k, self.size if within is None else within.size)
        if k <= 0:
            return []
        if not terms:  # one ranking: nothing for Milvus to fuse
            return [
                (row, 1.0 / (rrf_k + rank))
                for rank, (row, _) in enumerate(self.dense(vector, k, within), start=1)
            ]
        expression = _expression(within) or None
        requests = [
            AnnSearchRequest(
                data=[_listed(vector)],
                anns_field="dense",
                param=self._search_params(k),
                limit=k,
                expr=expression,
            ),
            AnnSearchRequest(
                data=[terms],
                anns_field="sparse",
                param={"metric_type": "BM25"},
                limit=k,
                expr=expression,
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
        if not self._graph:
            return {"metric_type": "IP"}
        # HNSW explores at least as many candidates as it returns (ef >= limit).
        return {"metric_type": "IP", "params": {"ef": max(HNSW_EF_SEARCH, k)}}

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


def _expression(within: RowSet | None) -> str:
    """A Milvus filter keeping to ``within``'s rows ("" for all): their runs of ids, or the
    ids themselves where that is shorter (many one-row documents)."""
    if within is None:
        return ""
    runs = " or ".join(
        f"(id >= {start} and id < {end})" if end - start > 1 else f"id == {start}"
        for start, end in within.runs()
    )
    if within.size * 9 >= len(runs):  # about 9 characters an id ("1234567, ")
        return runs
    return f"id in {within.ids.tolist()}"


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
