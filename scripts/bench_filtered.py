"""The filtered measurement of ``bench_scale.py``: questions restricted to a share of documents.

The synthetic chunks are cut into documents of 1 to 20 consecutive chunks (a build keeps each
document's chunks together), and a filter keeps a share of the documents picked at random (1%,
then 25%): scattered runs of rows, the hard case (a folder glob keeps one run). The query
process searches dense and BM25 within the kept rows, as the product does for a filter
(``qa.store.rowset``: exactly over the rows up to ``EXACT_ROWS``, else FAISS with an
IDSelector), and fuses them; recall@10 compares the dense top 10 with exact search over the
kept rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

FILTERS = "filters.json"
SHARES = (0.01, 0.25)  # of the documents


def make_filters(n: int, folder: Path, shares: tuple[float, ...] = SHARES) -> None:
    """Cut ``n`` chunks into documents and write each share's kept runs of rows."""
    from qa.store.rowset import RowSet

    rng = np.random.default_rng(n + 1)
    bounds = np.concatenate(([0], np.cumsum(rng.integers(1, 21, size=n))))
    bounds = np.append(bounds[bounds < n], n)  # the last document ends at the last chunk
    documents = len(bounds) - 1
    out = {}
    for share in shares:
        picked = np.sort(rng.choice(documents, max(1, round(share * documents)), replace=False))
        rows = RowSet.of_runs(bounds, picked)
        out[f"{share:g}"] = {
            "documents": len(picked),
            "of_documents": documents,
            "starts": rows.starts.tolist(),
            "ends": rows.ends.tolist(),
        }
    (folder / FILTERS).write_text(json.dumps(out), encoding="utf-8")


def load_filters(folder: Path, total: int) -> dict[str, Any]:
    """Each share's rows, as the query process searches within them."""
    from qa.store.rowset import RowSet

    listed = json.loads((folder / FILTERS).read_text(encoding="utf-8"))
    return {
        share: RowSet(np.array(f["starts"], np.int64), np.array(f["ends"], np.int64), total)
        for share, f in listed.items()
    }


def time_question(
    dense: Any,
    lexical: Any,
    fuse: Callable[..., Any],
    question: str,
    vector: np.ndarray,
    filters: dict[str, Any],
    out: dict[str, dict[str, list]],
) -> None:
    """Search each filter's rows for one question (already embedded), as a server would."""
    for share, rows in filters.items():
        t0 = time.perf_counter()
        found = dense.search(vector, 50, rows)
        words = lexical.search(question, 50, rows)
        fuse([[r for r, _ in found], [r for r, _ in words]], k=5)
        elapsed = (time.perf_counter() - t0) * 1000
        entry = out.setdefault(share, {"hybrid": [], "top10": []})
        entry["hybrid"].append(elapsed)
        entry["top10"].append([r for r, _ in found[:10]])


def figures(folder: Path, vectors: np.ndarray, queries: np.ndarray, measured: dict) -> list[dict]:
    """Each filter's share of rows, dense path, recall@10 against exact search over its rows,
    and latency."""
    from qa.store import dense as dense_module

    listed = json.loads((folder / FILTERS).read_text(encoding="utf-8"))
    filters = load_filters(folder, len(vectors))
    out = []
    for share, rows in filters.items():
        exact = _exact_top10(vectors, rows.ids, queries)
        found = measured[share]["top10"]
        recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(found, exact, strict=True)])
        hybrid = measured[share]["hybrid"]
        out.append(
            {
                "share": share,
                "documents": listed[share]["documents"],
                "of_documents": listed[share]["of_documents"],
                "rows": rows.size,
                "exact": rows.size <= dense_module.EXACT_ROWS,
                "recall10": float(recall),
                "p50": float(np.percentile(hybrid, 50)),
                "p95": float(np.percentile(hybrid, 95)),
            }
        )
    return out


def _exact_top10(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray) -> list[list[int]]:
    """The exact top 10 of ``ids`` per query, by inner product, in blocks of rows."""
    best: list[list[tuple[float, int]]] = [[] for _ in queries]
    for start in range(0, len(ids), 100_000):
        block = ids[start : start + 100_000]
        scores = queries @ np.asarray(vectors[block]).T
        for q, row_scores in enumerate(scores):
            top = np.argsort(-row_scores, kind="stable")[:10]
            best[q] = sorted(best[q] + [(-float(row_scores[i]), int(block[i])) for i in top])[:10]
    return [[row for _, row in found] for found in best]


def print_table(results: list[dict]) -> None:
    """One row per size and filter."""
    print(
        "\n| chunks | filter keeps | rows kept | dense search | recall@10 vs exact over the kept "
        "rows | filtered hybrid p50 / p95 |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        for f in r["filtered"]:
            how = "exact over the rows" if f["exact"] else f"{r['factory']} + IDSelector"
            print(
                f"| {r['chunks']:,} | {float(f['share']):.0%} of {f['of_documents']:,} documents "
                f"| {f['rows']:,} ({f['rows'] / r['chunks']:.1%}) | {how} | {f['recall10']:.3f} "
                f"| {f['p50']:.1f} / {f['p95']:.1f} ms |"
            )
    print(
        "\nFiltered hybrid = dense and BM25 within the kept rows, depth 50 each, and their fusion "
        "(the question's embedding not included); documents of 1-20 chunks, kept at random."
    )
