"""Retrieval at 10k, 100k and 1M chunks: build time, disk, query RSS, latency, recall vs exact.

The collections are synthetic, built from SQuAD v1.1 dev's real sentences: each chunk is 3 to 6
sentences drawn at random, its BM25 terms are theirs, and its vector is NOT the encoder's: it is
the mean of its sentences' real MiniLM vectors plus Gaussian noise, normalised (embedding a
million chunks would take this machine hours). The script says how close the stand-ins
are by embedding a sample of chunks for real. Questions are real SQuAD questions, each embedded
alone by the real encoder in the query process, as a server does.

Each size is built with the product's own modules (``qa.store.dense`` with "auto", the factory
chosen by size; ``qa.store.lexical``) into a folder, then a fresh query process loads it as a
server does (vectors and BM25 memory-mapped) and times dense search, BM25 and their reciprocal
rank fusion per question. Recall@10 compares the dense top 10 with exact search over the same
vectors. Not included: the product's two sentence-level rankings (about four times as many rows
as chunks) and its store.json of texts. `make bench-scale`; `--sizes 10000,100000` is quicker.
Then the same questions restricted by a filter to 1% and to 25% of the documents
(``bench_filtered``): recall@10 against exact search over the rows kept, and latency.
The CPU (model, cores, vector extensions) is printed first and last.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import bench_filtered
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEPTH = 50  # each ranking's depth before fusion, as the product's candidate_depth
RRF_K = 5  # the product's fusion constant (Settings.rrf_k)
NOISE = 0.01  # per-dimension standard deviation added to a stand-in vector before normalising
VECTORS = "chunks.npy"


def squad_text(path: Path) -> tuple[list[str], list[str]]:
    """SQuAD's distinct sentences (split as the product splits them) and its questions."""
    from qa.text import split_sentences

    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    sentences: dict[str, None] = {}
    questions = []
    for article in data:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for start, end in split_sentences(context):
                sentences.setdefault(context[start:end].strip(), None)
            questions.extend(qa["question"] for qa in paragraph["qas"])
    return [s for s in sentences if len(s) > 20], questions


def embed(texts: list[str], cache: Path) -> np.ndarray:
    """Real MiniLM vectors of ``texts`` (the product's default encoder), cached in ``cache``."""
    if cache.exists():
        vectors = np.load(cache)
        if len(vectors) == len(texts):
            return vectors
    from qa.build import default_embedder
    from qa.config import Settings

    vectors = default_embedder(Settings()).encode(texts, progress=True, desc="real vectors")
    np.save(cache, vectors)
    return vectors


def synthesize(
    n: int, sentence_vectors: np.ndarray, sentence_terms: list[list[str]], out: Path
) -> tuple[list[list[str]], list[list[int]]]:
    """Write ``n`` stand-in chunk vectors to ``out``; each chunk's terms and sentence rows."""
    rng = np.random.default_rng(n)
    lengths = rng.integers(3, 7, size=n)
    rows = [rng.integers(0, len(sentence_vectors), size=k).tolist() for k in lengths]
    vectors = np.lib.format.open_memmap(
        out, mode="w+", dtype=np.float32, shape=(n, sentence_vectors.shape[1])
    )
    for start in range(0, n, 50_000):
        block = np.stack([sentence_vectors[r].mean(axis=0) for r in rows[start : start + 50_000]])
        block += rng.normal(scale=NOISE, size=block.shape).astype(np.float32)
        vectors[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    vectors.flush()
    del vectors
    terms = [[t for r in chunk for t in sentence_terms[r]] for chunk in rows]
    return terms, rows


def build(folder: Path, terms: list[list[str]]) -> tuple[float, float, str]:
    """Build and save the dense and BM25 indexes over ``folder``'s vectors: the seconds of each
    and the FAISS factory chosen."""
    from qa.store.dense import ChunkIndex
    from qa.store.lexical import LexicalIndex

    started = time.perf_counter()
    dense = ChunkIndex.build(np.load(folder / VECTORS, mmap_mode="r"), "auto")
    dense.save(folder)
    (folder / "spec.json").write_text(json.dumps(dense.spec.to_dict()), encoding="utf-8")
    middle = time.perf_counter()
    LexicalIndex.from_terms(terms).save(folder)
    return middle - started, time.perf_counter() - middle, dense.spec.factory


def disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def rss_mb() -> dict[str, float]:
    """This process's resident set, MiB: all of it, its highest, and the part that is its own
    memory (anonymous) rather than pages of mapped files (clean page cache, reclaimable)."""
    status = Path("/proc/self/status").read_text().split("\n")
    value = {
        line.split(":")[0]: int(line.split()[1])
        for line in status
        if line.startswith(("Vm", "Rss"))
    }
    names = {"VmRSS": "rss", "VmHWM": "highest", "RssAnon": "anon", "RssFile": "file"}
    return {name: value[key] / 1024 for key, name in names.items()}


def mapped_mb(folder: Path) -> dict[str, float]:
    """MiB of each of ``folder``'s files that this process has mapped (/proc/self/smaps)."""
    mapped: dict[str, float] = {}
    current = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if len(head) >= 6 and "-" in head[0] and head[5].startswith(str(folder)):
            current = Path(head[5]).relative_to(folder).as_posix()
        elif len(head) >= 6 and "-" in head[0]:
            current = None
        elif current and line.startswith("Rss:"):
            mapped[current] = mapped.get(current, 0.0) + int(head[1]) / 1024
    return {name: round(mb, 1) for name, mb in sorted(mapped.items()) if mb >= 1}


def query_process(folder: Path, questions: Path) -> None:
    """Load ``folder`` as a server would and time every question; one JSON line on stdout."""
    from qa.build import default_embedder
    from qa.config import Settings
    from qa.read.retrieval import reciprocal_rank_fusion
    from qa.runtime import set_inference_threads
    from qa.store.dense import ChunkIndex, DenseSpec, set_search_threads
    from qa.store.lexical import LexicalIndex

    set_inference_threads(1)  # a server's query threads, Settings.query_threads
    set_search_threads(1)
    started = time.perf_counter()
    embedder = default_embedder(Settings())
    embedder.encode(["warm up"])
    vectors = np.load(folder / VECTORS, mmap_mode="r")
    spec = DenseSpec.from_dict(json.loads((folder / "spec.json").read_text(encoding="utf-8")))
    dense = ChunkIndex.load(folder, spec=spec, vectors=vectors)
    lexical = LexicalIndex.load(folder, len(vectors))
    filters = bench_filtered.load_filters(folder, len(vectors))
    loaded, load_s = rss_mb(), time.perf_counter() - started
    timings: dict[str, list[float]] = {"embed": [], "dense": [], "bm25": [], "hybrid": []}
    query_vectors, top10 = [], []
    filtered: dict[str, dict[str, list]] = {}
    for question in json.loads(questions.read_text(encoding="utf-8")):
        t0 = time.perf_counter()
        vector = embedder.encode([question])[0]
        t1 = time.perf_counter()
        found = dense.search(vector, DEPTH)
        t2 = time.perf_counter()
        words = lexical.search(question, DEPTH)  # the question's stemming included
        t3 = time.perf_counter()
        reciprocal_rank_fusion([[r for r, _ in found], [r for r, _ in words]], k=RRF_K)
        t4 = time.perf_counter()
        timings["embed"].append((t1 - t0) * 1000)
        timings["dense"].append((t2 - t1) * 1000)
        timings["bm25"].append((t3 - t2) * 1000)
        timings["hybrid"].append((t4 - t1) * 1000)
        query_vectors.append(vector.tolist())
        top10.append([r for r, _ in found[:10]])
        bench_filtered.time_question(
            dense, lexical, reciprocal_rank_fusion, question, vector, filters, filtered
        )
    print(
        json.dumps(
            {
                "rss_loaded": loaded,
                "load_s": load_s,
                "rss_after": rss_mb(),
                "mapped_after": mapped_mb(folder),
                "timings": timings,
                "vectors": query_vectors,
                "top10": top10,
                "filtered": filtered,
            }
        )
    )


def exact_top10(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The exact top 10 rows per query, by inner product, scanning in blocks."""
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    best_scores = np.zeros((len(queries), 0), dtype=np.float32)
    for start in range(0, len(vectors), 100_000):
        scores = queries @ np.asarray(vectors[start : start + 100_000]).T
        rows = np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)
        best_scores = np.concatenate([best_scores, scores], axis=1)
        best_rows = np.concatenate([best_rows, rows], axis=1)
        keep = np.argsort(-best_scores, axis=1, kind="stable")[:, :10]
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
        best_rows = np.take_along_axis(best_rows, keep, axis=1)
    return best_rows


def stand_in_cosine(
    folder: Path, rows: list[list[int]], sentences: list[str], sample: int
) -> float:
    """Mean cosine between stand-in vectors and the real encoder's for ``sample`` chunks."""
    from qa.build import default_embedder
    from qa.config import Settings

    picked = random.Random(0).sample(range(len(rows)), min(sample, len(rows)))
    texts = [" ".join(sentences[r] for r in rows[i]) for i in picked]
    real = default_embedder(Settings()).encode(texts)
    stand_ins = np.load(folder / VECTORS, mmap_mode="r")[sorted(picked)]
    order = np.argsort(np.argsort(picked))  # stand_ins are in sorted order; texts in picked
    return float(np.mean(np.sum(real * stand_ins[order], axis=1)))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run_size(n: int, args: argparse.Namespace, text: dict) -> dict:
    folder = args.work / f"{n}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    terms, rows = synthesize(n, text["vectors"], text["terms"], folder / VECTORS)
    bench_filtered.make_filters(n, folder)
    made = time.perf_counter() - started
    print(f"  {n:,} chunks synthesised in {made:.1f}s; building ...", flush=True)
    dense_s, bm25_s, factory = build(folder, terms)
    del terms
    print(f"  built ({factory}) in {dense_s:.1f}s + BM25 {bm25_s:.1f}s; querying ...", flush=True)
    command = [sys.executable, __file__, "--query-process", str(folder), str(text["questions"])]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"the query process failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    mapped = ", ".join(f"{name} {mb:,.0f}" for name, mb in report["mapped_after"].items())
    print(f"  mapped after the questions, MiB: {mapped or 'none'}", flush=True)
    queries = np.asarray(report["vectors"], dtype=np.float32)
    exact = exact_top10(np.load(folder / VECTORS, mmap_mode="r"), queries)
    recall = np.mean(
        [len(set(a) & set(e.tolist())) / 10 for a, e in zip(report["top10"], exact, strict=True)]
    )
    cosine = stand_in_cosine(folder, rows, text["sentences"], args.check_sample)
    filtered = bench_filtered.figures(
        folder, np.load(folder / VECTORS, mmap_mode="r"), queries, report["filtered"]
    )
    result = {
        "chunks": n,
        "factory": factory,
        "build_dense_s": dense_s,
        "build_bm25_s": bm25_s,
        "disk_mb": disk_mb(folder),
        "recall10": float(recall),
        "stand_in_cosine": cosine,
        "filtered": filtered,
        "load_s": report["load_s"],
        **{f"loaded_{k}": v for k, v in report["rss_loaded"].items()},
        **{f"after_{k}": v for k, v in report["rss_after"].items()},
        **{
            f"{name}_{q}": percentile(values, q)
            for name, values in report["timings"].items()
            for q in (50, 95)
        },
    }
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def print_table(results: list[dict], n_questions: int) -> None:
    print(
        "\n| chunks | FAISS index | build: FAISS + BM25 | disk | query RSS: loaded / after (own + mapped files) | "
        "dense p50 / p95 | BM25 p50 / p95 | hybrid p50 / p95 | recall@10 vs exact |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['chunks']:,} | {r['factory']} | {r['build_dense_s']:.1f} + {r['build_bm25_s']:.1f} s "
            f"| {r['disk_mb']:,.0f} MiB "
            f"| {r['loaded_rss']:,.0f} / {r['after_rss']:,.0f} MiB "
            f"({r['after_anon']:,.0f} + {r['after_file']:,.0f}) "
            f"| {r['dense_50']:.2f} / {r['dense_95']:.2f} ms "
            f"| {r['bm25_50']:.1f} / {r['bm25_95']:.1f} ms "
            f"| {r['hybrid_50']:.1f} / {r['hybrid_95']:.1f} ms | {r['recall10']:.3f} |"
        )
    print(
        f"\n{n_questions} SQuAD questions per size, one at a time, one thread. hybrid = dense "
        f"depth {DEPTH} + BM25 depth {DEPTH} + reciprocal rank fusion (the chunk rankings only)."
    )
    print(
        "Question embedding (not in the figures above): p50 "
        + ", ".join(f"{r['embed_50']:.1f}" for r in results)
        + " ms. Query process load time: "
        + ", ".join(f"{r['load_s']:.1f}" for r in results)
        + " s (the model included)."
    )
    print(
        "Vectors are STAND-INS (mean of 3-6 real sentence vectors + noise); cosine to the real "
        "encoder's vector of the same chunk text, mean over a sample: "
        + ", ".join(f"{r['stand_in_cosine']:.3f}" for r in results)
        + ". RSS after queries counts the pages of memory-mapped files it read (clean page "
        "cache, shared and reclaimable): 'own' is the process's anonymous memory."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="chunk counts, commas")
    parser.add_argument(
        "--squad", type=Path, default=ROOT.parent / "shared/bench/external/squad-v1.1-dev.json"
    )
    parser.add_argument("--work", type=Path, default=ROOT / "build/bench-scale")
    parser.add_argument("--questions", type=int, default=200, help="questions per size")
    parser.add_argument("--real-sentences", type=int, default=6000, help="sentences embedded")
    parser.add_argument("--check-sample", type=int, default=100, help="chunks embedded for real")
    parser.add_argument("--keep", action="store_true", help="keep each size's folder")
    parser.add_argument("--query-process", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.query_process:
        query_process(*args.query_process)
        return 0

    from qa.hardware import describe_cpu
    from qa.text import content_terms

    print(describe_cpu(), flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    sentences, questions = squad_text(args.squad)
    sentences = random.Random(0).sample(sentences, min(args.real_sentences, len(sentences)))
    print(f"{len(sentences):,} SQuAD sentences, embedded by the real encoder ...", flush=True)
    vectors = embed(sentences, args.work / f"sentences-{len(sentences)}.npy")
    asked = random.Random(1).sample(questions, min(args.questions, len(questions)))
    (args.work / "questions.json").write_text(json.dumps(asked), encoding="utf-8")
    text = {
        "sentences": sentences,
        "vectors": vectors,
        "terms": [content_terms(s) for s in sentences],
        "questions": args.work / "questions.json",
    }
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        print(f"{n:,} chunks:", flush=True)
        results.append(run_size(n, args, text))
        print(json.dumps(results[-1]), flush=True)
    print_table(results, len(asked))
    bench_filtered.print_table(results)
    print(f"\n({describe_cpu()}; niceness {os.nice(0)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
