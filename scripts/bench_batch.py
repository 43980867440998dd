#!/usr/bin/env python3
"""A batch against the same questions asked one by one: `qa serve` on a free port, then 64
questions (the seeds development sets, or SQuAD's for a SQuAD index) as 64 sequential
``POST /api/ask`` requests and as one ``POST /api/ask/batch``, in turns, a few rounds.

    scripts/bench_batch.py [--index-dir index] [--rounds 3] [--answers 3]

Prints the CPU, each round's seconds both ways, and the batch's time to its first line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_serve import free_port, load_questions, start_server, wait_healthy  # noqa: E402

from qa.batch import MAX_QUESTIONS  # noqa: E402
from qa.hardware import describe_cpu  # noqa: E402

SQUAD = Path(__file__).resolve().parent.parent.parent / "shared/bench/external/squad-v1.1-dev.json"


def one_by_one(port: int, questions: list[str], answers: int) -> float:
    """Seconds for ``questions`` asked in turn on one kept-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    started = time.perf_counter()
    for question in questions:
        body = json.dumps({"question": question, "answers": answers})
        conn.request("POST", "/api/ask", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"/api/ask answered {response.status}")
    return time.perf_counter() - started


def as_batch(port: int, questions: list[str], answers: int) -> tuple[float, float]:
    """Seconds for one batch of ``questions``, and until its first line arrived."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    body = json.dumps({"questions": questions, "answers": answers})
    started = time.perf_counter()
    conn.request("POST", "/api/ask/batch", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    first = response.readline()
    first_s = time.perf_counter() - started
    rest = response.read().decode("utf-8").splitlines()
    total = time.perf_counter() - started
    lines = [json.loads(first), *(json.loads(line) for line in rest if line)]
    if response.status != 200 or [line["index"] for line in lines] != list(range(len(questions))):
        sys.exit(f"/api/ask/batch answered {response.status} with {len(lines)} lines")
    if any("error" in line for line in lines):
        sys.exit(f"a question of the batch failed: {next(x for x in lines if 'error' in x)}")
    return total, first_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index-dir", type=Path, default=Path("index"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--answers", type=int, default=3)
    args = parser.parse_args()
    args.server_command, args.serve_arg = None, []
    print(describe_cpu(), flush=True)
    source, questions = load_questions(args.index_dir, SQUAD, "auto")
    questions = (questions * MAX_QUESTIONS)[:MAX_QUESTIONS]
    port = free_port()
    log_path = Path(tempfile.mkdtemp(prefix="bench-batch-")) / "server.log"
    proc = start_server(args, port, log_path, None)
    try:
        wait_healthy(proc, port, log_path, limit=300)
        one_by_one(port, questions[:4], args.answers)  # warm-up
        print(f"{len(questions)} questions of {source}, {args.answers} answers")
        print("round  one by one (s)  batch (s)  batch first line (s)")
        for r in range(1, args.rounds + 1):
            single = one_by_one(port, questions, args.answers)
            batch, first = as_batch(port, questions, args.answers)
            print(f"{r:>5}  {single:>14.2f}  {batch:>9.2f}  {first:>20.2f}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
