"""``qa eval`` / ``scripts/evaluate.py``: run a question set and report the figures."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from qa import __version__
from qa.clients import Client, HttpClient, LocalClient
from qa.config import Settings
from qa.errors import ClientError, QAError, ServerUnreachable
from qa.eval.evaluation import Judgement, aggregate
from qa.eval.questions import Question, load_questions, sample
from qa.eval.report import (
    BASELINES_HEADER,
    TERCILE_HEADER,
    baseline_rows,
    delta_rows,
    deltas,
    describe_miss,
    load_baseline,
    misses,
    summary_rows,
    tercile_rows,
    write_report,
)
from qa.eval.runner import (
    RECORDS,
    RunState,
    now_iso,
    open_run,
    run_questions,
)
from qa.eval.splits import SPLITS, question_ids
from qa.filters import filters_option


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of the evaluation tool."""
    p = argparse.ArgumentParser(
        prog="qa eval",
        description="Run a question set (JSONL or SQuAD JSON) and report answer, retrieval, "
        "abstention, citation and latency figures.",
    )
    p.add_argument("questions", type=Path, help="question file: .jsonl or SQuAD .json")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--url", help="a running server (e.g. http://127.0.0.1:8000); default: in-process"
    )
    where.add_argument("--index-dir", type=Path, help="index folder for in-process runs")
    p.add_argument("--out", type=Path, help="output folder (default: reports/<timestamp>)")
    p.add_argument("--top-k", type=_bounded(1, 50), default=10, help="passages requested (10)")
    p.add_argument("--concurrency", type=_bounded(1, 256), default=1, help="worker threads (1)")
    p.add_argument(
        "--batch",
        action="store_true",
        help="ask in batches of 64 (POST /api/ask/batch with --url), answered side by side; "
        "a question's latency is then the time since the answer before it",
    )
    p.add_argument("--limit", type=_bounded(1, 10**9), help="a random sample of N questions")
    p.add_argument("--seed", type=int, default=0, help="sampling seed for --limit (0)")
    p.add_argument(
        "--split",
        choices=SPLITS,
        help="SQuAD files only: keep the questions of the fit (even-numbered) or held-out "
        "(odd-numbered) articles, the split the reader model was fitted on",
    )
    p.add_argument(
        "--filters",
        type=filters_option,
        metavar="JSON",
        help='ask every question of the documents these filters keep, e.g. \'{"type": "pdf"}\'',
    )
    p.add_argument("--baseline", type=Path, help="an earlier report.json to compare against")
    p.add_argument("--fresh", action="store_true", help="start over instead of resuming --out")
    p.add_argument("--max-misses", type=_bounded(0, 10**9), default=20, help="misses to print")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _bounded(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; 0 when it completes, 2 on a setup error, 130 when interrupted."""
    args = build_parser().parse_args(argv)
    try:
        return evaluate(args)
    except (QAError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = f": run the same command with --out {args.out} to resume" if args.out else ""
        print(f"\ninterrupted{hint}", file=sys.stderr)
        return 130


def evaluate(args: argparse.Namespace) -> int:
    """Load, run (resuming what ``--out`` already holds), report and print."""
    questions = load_questions(args.questions)
    if args.split:
        keep = question_ids(args.questions, args.split)
        questions = [q for q in questions if q.id in keep]
    selected = sample(questions, args.limit, args.seed)
    baseline = load_baseline(args.baseline) if args.baseline else None
    client, source = open_client(args)
    health = _health(client)
    args.out = args.out or Path("reports") / datetime.now().strftime("%Y%m%d-%H%M%S")
    key = {
        "questions": str(args.questions.resolve()),
        "seed": args.seed,
        "split": args.split,
        "top_k": args.top_k,
        **source,
        # Only when given: runs without filters resume as they did before there were any.
        **({"filters": args.filters} if args.filters is not None else {}),
    }
    started = now_iso()
    state, done = open_run(args.out, key, health.get("index", health), args.fresh)
    pending = [q for q in selected if q.id not in done]
    print(
        f"{len(selected)} questions ({len(selected) - len(pending)} already done) against "
        f"{source['url'] or source['index_dir']} -> {args.out}",
        file=sys.stderr,
    )
    _run_session(args, client, state, selected, pending, done)
    records = [done[q.id] for q in selected]
    figures = aggregate(
        _judgements(records), wall_s=state.wall_s, completed=state.completed, depth=args.top_k
    )
    report: dict[str, Any] = {
        "settings": {
            **{
                k: getattr(args, k)
                for k in ("limit", "seed", "split", "top_k", "concurrency", "filters")
            },
            "questions": str(args.questions),
            "questions_sha256": hashlib.sha256(args.questions.read_bytes()).hexdigest(),
            **source,
            "out": str(args.out),
            "qa_version": __version__,
        },
        "index": health,
        "started": started,
        "finished": now_iso(),
        "sessions": state.sessions,
        "figures": figures,
    }
    if baseline is not None:
        report["baseline"] = str(args.baseline)
        report["deltas"] = deltas(figures, baseline)
    _rewrite_records(args.out, records, done)
    write_report(args.out, report, records)
    _print(report, records, args.max_misses)
    return 0


def open_client(args: argparse.Namespace) -> tuple[Client, dict[str, str | None]]:
    """The server named by ``--url``, or the index in ``--index-dir`` loaded in-process (never
    built: an evaluation measures the index it is given); and where answers come from.
    """
    if args.url:
        http = HttpClient(args.url)
        return http, {"url": http.base_url, "index_dir": None}
    settings = Settings.from_env().with_overrides(index_dir=args.index_dir)
    local = LocalClient.open(settings, build=False)
    return local, {"url": None, "index_dir": str(settings.index_dir)}


def _health(client: Client) -> dict[str, Any]:
    """The service's health, the first request of a run; a server that fails it is named with
    what went wrong in one short line (the chat words the same errors for a conversation).
    """
    try:
        return client.health()
    except ClientError as exc:
        if isinstance(exc, ServerUnreachable):
            text = f"cannot reach {exc.url}: {exc.detail}"
        elif exc.status is not None and exc.status >= 400:
            text = f"{exc.url}/api/health answered {exc.status} (is it a qa server?): {exc.detail}"
        else:
            text = f"{exc.url} is not a qa server (no JSON from /api/health)"
        raise type(exc)(text, url=exc.url, status=exc.status, detail=exc.detail) from exc


def _run_session(
    args: argparse.Namespace,
    client: Client,
    state: RunState,
    selected: list[Question],
    pending: list[Question],
    done: dict[str, dict],
) -> None:
    from tqdm import tqdm

    running = _Running()
    for q in selected:
        if q.id in done:
            running.add(done[q.id]["verdict"])
    bar = tqdm(
        total=len(selected),
        initial=len(selected) - len(pending),
        unit="q",
        desc="eval",
        disable=True if args.no_progress else None,
    )
    log = (args.out / RECORDS).open("a", encoding="utf-8")
    finished = 0

    def on_done(record: dict) -> None:
        nonlocal finished
        log.write(json.dumps(record, ensure_ascii=False) + "\n")
        log.flush()  # so a crash loses at most the questions still in flight
        finished += 1
        # Failed records count in this report; load_records() drops them so a resume retries.
        done[record["id"]] = record
        running.add(record["verdict"])
        bar.update()
        bar.set_postfix_str(str(running), refresh=False)

    clock, started = time.perf_counter(), now_iso()
    try:
        run_questions(
            pending,
            client,
            top_k=args.top_k,
            concurrency=args.concurrency,
            on_done=on_done,
            filters=args.filters,
            batch=args.batch,
        )
    finally:
        bar.close()
        log.close()
        if finished:
            elapsed = round(time.perf_counter() - clock, 3)
            state.sessions.append(
                {"started": started, "elapsed_s": elapsed, "completed": finished,
                 "concurrency": args.concurrency, "batch": args.batch}
            )  # fmt: skip
            state.save(args.out)


class _Running:
    """Answer hit and abstain rate so far, updated per record (a full recount would be O(n²))."""

    def __init__(self) -> None:
        self.answerable = self.hits = self.unanswerable = self.abstained = 0

    def add(self, verdict: dict[str, Any]) -> None:
        if verdict["answerable"]:
            self.answerable += 1
            self.hits += bool(verdict["answer_hit"])
        else:
            self.unanswerable += 1
            self.abstained += bool(verdict["abstained"])

    def __str__(self) -> str:
        shown = []
        if self.answerable:
            shown.append(f"hit={100 * self.hits / self.answerable:.0f}%")
        if self.unanswerable:
            shown.append(f"abstain={100 * self.abstained / self.unanswerable:.0f}%")
        return " ".join(shown)


def _judgements(records: list[dict]) -> list[Judgement]:
    return [Judgement.from_dict(r["verdict"]) for r in records]


def _rewrite_records(out: Path, records: list[dict], done: dict[str, dict]) -> None:
    # The append log becomes one record per question, in question-file order, keeping any
    # finished questions outside this selection for a later, larger --limit.
    chosen = {r["id"] for r in records}
    ordered = records + [r for i, r in done.items() if i not in chosen]
    tmp = out / (RECORDS + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered), "utf-8")
    tmp.replace(out / RECORDS)


def _print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A titled table, columns aligned; nothing when it has no rows."""
    if not rows:
        return
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print(title)
    for row in table:
        cells = [f"{cell:<{w}}" for cell, w in zip(row, widths, strict=True)]
        print("  " + "  ".join(cells).rstrip())


def _print(report: dict[str, Any], records: list[dict], max_misses: int) -> None:
    counts = report["figures"]["counts"]
    print(
        f"\n{counts['questions']} questions: {counts['answerable']} answerable, "
        f"{counts['unanswerable']} unanswerable, {counts['errors']} errors"
    )
    rows = summary_rows(report["figures"])
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    _print_table(
        "\nagainst trivial baselines (neither ever abstains):",
        BASELINES_HEADER,
        baseline_rows(report["figures"]),
    )
    _print_table(
        "\nby overlap of question and gold answer sentence (answerable):",
        TERCILE_HEADER,
        tercile_rows(report["figures"]),
    )
    if report.get("deltas"):
        print(f"\nagainst {report['baseline']}:")
        for label, old, new, delta in delta_rows(report["deltas"]):
            print(f"  {label:<{width}}  {old:>10} -> {new:>10}  {delta}")
    wrong = misses(records)
    print(f"\nmisses: {len(wrong)}" + (f" (first {max_misses})" if len(wrong) > max_misses else ""))
    for m in wrong[:max_misses]:
        question, gold, said = describe_miss(m)
        print(f"  [{m['id']}] {m['miss']}: {question}\n      gold: {gold}\n      we:   {said}")
    print(f"\nreport: {Path(report['settings']['out']) / 'report.md'}")
