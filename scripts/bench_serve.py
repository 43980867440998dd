"""Load-test the real server: ``python scripts/bench_serve.py [--index-dir DIR] [--seconds T]``.

Prints the CPU (model, cores, vector extensions), starts ``qa serve`` on a free port, waits for
/api/health, then over HTTP (stdlib only):

1. one client asks ``--questions`` questions one after another: p50/p95;
2. ``--clients`` clients ask for ``--seconds``: throughput, p50/p95/p99, errors, the server's
   RSS (master and workers, from /proc) when the load starts and at its highest, and its CPU an
   answer over the load;
3. with ``--idle N``, N connections stay open meanwhile, half idle and half with half a request
   sent, each reopened whenever the server closes it;
4. one client again.

``--rerankers off,default,fast`` does all of it for each ``QA_RERANKER`` setting, one server after
the other, in one run.

Questions: SQuAD's when the index was built from a SQuAD file (``--squad``), else the seeds
development sets. ``--server-command`` benches another server (e.g. stock gunicorn) the same way.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:
    from qa.hardware import describe_cpu
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))
    from qa.hardware import describe_cpu
SEEDS_QUESTIONS = [
    ROOT.parent / "shared" / "eval" / "seeds-dev.jsonl",
    ROOT.parent / "shared" / "eval" / "seeds-dev-paraphrase.jsonl",
]
SQUAD = ROOT.parent / "shared" / "bench" / "external" / "squad-v1.1-dev.json"
HALF_REQUEST = b"POST /api/ask HTTP/1.1\r\nHost: bench\r\nContent-Type: applic"


@dataclass
class Results:
    """Latencies (ms) of successful questions, and failures by kind."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ms: float | None, error: str | None = None) -> None:
        with self.lock:
            if error is None and ms is not None:
                self.latencies.append(ms)
            else:
                self.errors[error or "?"] = self.errors.get(error or "?", 0) + 1


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values; nan when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def load_questions(index_dir: Path, squad: Path, source: str) -> tuple[str, list[str]]:
    """The question set to ask: SQuAD's for a SQuAD index, else the seeds development sets."""
    if source == "auto":
        corpus = ""
        for manifest in (index_dir / "current" / "manifest.json", index_dir / "manifest.json"):
            if manifest.exists():
                corpus = str(json.loads(manifest.read_text()).get("corpus") or "")
                break
        source = "squad" if corpus.endswith(".json") or "squad" in str(index_dir) else "seeds"
    if source == "squad":
        data = json.loads(squad.read_text(encoding="utf-8"))["data"]
        questions = [
            qa["question"] for art in data for par in art["paragraphs"] for qa in par["qas"]
        ]
        return f"SQuAD ({squad.name})", random.Random(0).sample(
            questions, min(2000, len(questions))
        )
    questions = [
        json.loads(line)["question"]
        for path in SEEDS_QUESTIONS
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return "seeds dev + paraphrase", questions


def ask(conn: http.client.HTTPConnection, question: str) -> tuple[float, str | None]:
    """POST one question on a kept-alive connection: (milliseconds, error or None)."""
    body = json.dumps({"question": question})
    start = time.perf_counter()
    conn.request("POST", "/api/ask", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    ms = (time.perf_counter() - start) * 1000
    return ms, None if response.status == 200 else f"HTTP {response.status}"


def client_loop(port: int, questions: list[str], deadline: float, out: Results, timeout: float):
    """Ask questions until the deadline, reconnecting after a failure."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    i = random.randrange(len(questions))
    while time.monotonic() < deadline:
        try:
            ms, error = ask(conn, questions[i % len(questions)])
            out.add(ms, error)
        except (OSError, http.client.HTTPException) as exc:
            out.add(None, type(exc).__name__)
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        i += 1
    conn.close()


class IdleHolder(threading.Thread):
    """Keeps n connections open, half idle and half with a half-sent request; reopens closed ones."""

    def __init__(self, port: int, n: int) -> None:
        super().__init__(daemon=True)
        self.port, self.n = port, n
        self.stop = threading.Event()
        self.reopened = 0
        self.failed = 0
        self.selector = selectors.DefaultSelector()

    def _open(self, half: bool) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        if half:
            sock.sendall(HALF_REQUEST)
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ, half)

    def open_all(self) -> None:
        for i in range(self.n):
            self._open(half=i % 2 == 1)

    def run(self) -> None:
        while not self.stop.is_set():
            for key, _ in self.selector.select(timeout=0.2):
                # The server answered (408) or closed it: drop it and open another.
                self.selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
                try:
                    self._open(half=key.data)
                    self.reopened += 1
                except OSError:
                    self.failed += 1
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()


def server_pids(master: int) -> list[int]:
    """The server's master process and its children (its workers)."""
    pids = [master]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(entry.name))
    return pids


def server_rss_mib(master: int) -> float:
    """Resident memory of the server's master process and its children, in MiB."""
    total_kib = 0
    for pid in server_pids(master):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


def server_cpu_seconds(master: int) -> float:
    """CPU time (user + system) the server's processes have used so far."""
    ticks = 0
    for pid in server_pids(master):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


class RssSampler(threading.Thread):
    """Samples the server's RSS twice a second: first and highest value."""

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.stop = threading.Event()
        self.samples: list[float] = []

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append(server_rss_mib(self.master))
            self.stop.wait(0.5)


def start_server(
    args: argparse.Namespace,
    port: int,
    log_path: Path,
    reranker: str | None,
    pair_cache: str | None = None,
) -> subprocess.Popen[bytes]:
    """``qa serve`` (or ``--server-command``) on port, its output going to log_path; with
    ``reranker`` and ``pair_cache``, those ``QA_RERANKER`` and ``QA_PAIR_CACHE`` settings (None:
    the environment's)."""
    if args.server_command:
        command = shlex.split(args.server_command.format(port=port, index_dir=args.index_dir))
    else:
        command = [sys.executable, "-m", "qa.cli", "serve", "--index-dir", str(args.index_dir)]
        command += ["--host", "127.0.0.1", "--port", str(port), *args.serve_arg]
    env = {**os.environ, "QA_INDEX_DIR": str(args.index_dir)}
    if reranker is not None:  # "default": the packaged cross-encoder, which is QA_RERANKER empty
        env["QA_RERANKER"] = "" if reranker == "default" else reranker
    if pair_cache is not None:
        env["QA_PAIR_CACHE"] = pair_cache
    with log_path.open("wb") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(proc: subprocess.Popen[bytes], port: int, log_path: Path, limit: float) -> float:
    """Seconds until /api/health answered 200; exits if the server dies or never answers."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if proc.poll() is not None:
            sys.exit(f"the server exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit(f"the server was not healthy within {limit:.0f} s; log: {log_path}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def single_client(port: int, questions: list[str], n: int, timeout: float) -> Results:
    out = Results()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    for question in (questions * (n // len(questions) + 1))[:n]:
        try:
            out.add(*ask(conn, question))
        except (OSError, http.client.HTTPException) as exc:
            out.add(None, type(exc).__name__)
            conn.close()
    conn.close()
    return out


def load_test(args: argparse.Namespace, port: int, questions: list[str]) -> Results:
    out = Results()
    deadline = time.monotonic() + args.seconds
    clients = [
        threading.Thread(
            target=client_loop, args=(port, questions, deadline, out, args.request_timeout)
        )
        for _ in range(args.clients)
    ]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    return out


def report_row(name: str, res: Results, seconds: float | None) -> str:
    n, lat = len(res.latencies), res.latencies
    rate = f"{n / seconds:8.1f}" if seconds else f"{'-':>8}"
    errors = sum(res.errors.values())
    cells = [percentile(lat, q) for q in (50, 95, 99)]
    return f"{name:<28}{n:>7}{rate}{cells[0]:>9.0f}{cells[1]:>9.0f}{cells[2]:>9.0f}{errors:>8}" + (
        f"  {res.errors}" if res.errors else ""
    )


@dataclass
class Bench:
    """One server setting's figures."""

    boot: float
    log_path: Path
    single: Results
    load: Results
    after: Results
    rss: list[float]
    server_cpu: float  # seconds, over the load
    own_cpu: float  # the benchmark's, over the load
    holder: IdleHolder | None


def bench(
    args: argparse.Namespace,
    questions: list[str],
    reranker: str | None,
    pair_cache: str | None = None,
) -> Bench:
    """Start a server, ask one client's questions, load it, ask again, stop it."""
    port = free_port()
    log_path = Path(tempfile.mkdtemp(prefix="bench-serve-")) / "server.log"
    proc = start_server(args, port, log_path, reranker, pair_cache)
    try:
        boot = wait_healthy(proc, port, log_path, limit=300)
        single_client(port, questions, 3, args.request_timeout)  # warm-up
        single = single_client(port, questions, args.questions, args.request_timeout)
        holder = IdleHolder(port, args.idle) if args.idle else None
        if holder:
            holder.open_all()
            holder.start()
        sampler = RssSampler(proc.pid)
        sampler.start()
        time.sleep(0.6)
        cpu_before, own_before = server_cpu_seconds(proc.pid), time.process_time()
        load = load_test(args, port, questions)
        server_cpu = server_cpu_seconds(proc.pid) - cpu_before
        own_cpu = time.process_time() - own_before
        sampler.stop.set()
        sampler.join()
        if holder:
            holder.stop.set()
            holder.join()
        after = single_client(port, questions, 5, args.request_timeout)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return Bench(
        boot,
        log_path,
        single,
        load,
        after,
        sampler.samples or [float("nan")],
        server_cpu,
        own_cpu,
        holder,
    )


def print_bench(args: argparse.Namespace, result: Bench) -> None:
    print(f"healthy after {result.boot:.1f} s; server log: {result.log_path}")
    print(
        f"{'run':<28}{'answers':>7}{'q/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
    )
    print(report_row("1 client, in turn", result.single, None))
    name = f"{args.clients} clients x {args.seconds:g} s"
    print(
        report_row(name + (f" + {args.idle} idle" if args.idle else ""), result.load, args.seconds)
    )
    print(report_row("1 client, after the load", result.after, None))
    rss = result.rss
    print(f"server RSS: {rss[0]:.0f} MiB at the start of the load, max {max(rss):.0f} MiB")
    # Where the cores went under load: the server's CPU an answer, and how much the benchmark's
    # own clients took from it (both on this machine).
    answers = max(len(result.load.latencies), 1)
    cores = os.cpu_count() or 1
    print(
        f"under load: server CPU {1000 * result.server_cpu / answers:.1f} ms an answer, "
        f"{100 * result.server_cpu / (args.seconds * cores):.0f}% of {cores} cores; "
        f"benchmark clients {100 * result.own_cpu / (args.seconds * cores):.0f}%"
    )
    if result.holder:
        print(
            f"idle connections: {args.idle} held, {result.holder.reopened} reopened after the "
            f"server closed them ({result.holder.failed} reopenings failed)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, default=ROOT / "index")
    parser.add_argument("--questions", type=int, default=60, help="single-client questions")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--idle", type=int, default=0, help="idle/half-request connections held")
    parser.add_argument("--source", choices=["auto", "seeds", "squad"], default="auto")
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--request-timeout", type=float, default=30)
    parser.add_argument("--serve-arg", action="append", default=[], help="passed to qa serve")
    parser.add_argument("--server-command", help="instead of qa serve; {port}, {index_dir}")
    parser.add_argument(
        "--rerankers",
        help="comma-separated QA_RERANKER settings benched one after another (default,fast,off)",
    )
    parser.add_argument(
        "--pair-caches",
        help="comma-separated QA_PAIR_CACHE settings, each benched with each --rerankers one "
        "(e.g. 0,8192: the questions repeat, so with a cache most pairs are read once)",
    )
    args = parser.parse_args()
    args.index_dir = args.index_dir.resolve()

    print(describe_cpu(), flush=True)
    label, questions = load_questions(args.index_dir, args.squad, args.source)
    # One run, several cross-encoders (e.g. "default,fast,off"): the same questions, the same
    # hour, one server after the other; none named: the environment's setting.
    settings = [None] if not args.rerankers else [r.strip() for r in args.rerankers.split(",")]
    caches = [None] if not args.pair_caches else [c.strip() for c in args.pair_caches.split(",")]
    print(f"server: {args.server_command or 'qa serve ' + ' '.join(args.serve_arg)}")
    # The questions repeat (the load asks them again and again): a server keeping the
    # cross-encoder's readings (QA_PAIR_CACHE) reads each pair once.
    print(f"index: {args.index_dir}  questions: {label} ({len(questions)}, asked again in turn)")
    failed = False
    for reranker in settings:
        for cache in caches:
            result = bench(args, questions, reranker, cache)
            shown = reranker if reranker is not None else os.environ.get("QA_RERANKER") or "default"
            kept = cache if cache is not None else os.environ.get("QA_PAIR_CACHE") or "default"
            print(f"\n== QA_RERANKER={shown} QA_PAIR_CACHE={kept}")
            print_bench(args, result)
            failed = failed or any(r.errors for r in (result.single, result.load, result.after))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
