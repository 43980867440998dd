"""Reports of an evaluation run: ``report.json``, ``report.md``, PNG charts and baseline deltas."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qa.errors import BaselineError

# (key in report.json "figures", label, unit): the figures a baseline comparison covers.
HEADLINE: tuple[tuple[str, str, str], ...] = (
    ("answer.hit", "answer hit", "%"),
    ("answer.hit@3", "answer hit at 3", "%"),  # any of the first three answers
    ("baselines.top_sentence_answer_hit", "top-sentence baseline answer hit", "%"),
    ("baselines.never_abstain_answer_hit", "never-abstain answer hit", "%"),
    ("retrieval.hit@1", "retrieval hit@1", "%"),
    ("retrieval.hit@5", "retrieval hit@5", "%"),
    ("retrieval.hit@10", "retrieval hit@10", "%"),
    ("retrieval.mrr@10", "MRR@10", ""),
    ("answer.em_answered", "EM (answered)", "%"),
    ("answer.f1_answered", "F1 (answered)", "%"),
    ("answer.em_all", "EM (all answerable)", "%"),
    ("answer.f1_all", "F1 (all answerable)", "%"),
    ("abstention.abstain_rate", "abstain rate (unanswerable)", "%"),
    ("abstention.false_abstain_rate", "false-abstain rate (answerable)", "%"),
    ("abstention.precision", "abstention precision", "%"),
    ("abstention.recall", "abstention recall", "%"),
    ("abstention.f1", "abstention F1", "%"),
    ("citations.validity", "citation validity", "%"),
    ("calibration.ece", "calibration error (ECE)", ""),
    ("latency.client_ms.p50", "latency p50", "ms"),
    ("latency.client_ms.p95", "latency p95", "ms"),
    ("latency.client_ms.p99", "latency p99", "ms"),
    ("latency.server_ms.p50", "server total p50", "ms"),
    ("latency.server_ms.p95", "server total p95", "ms"),
    ("latency.server_ms.p99", "server total p99", "ms"),
    ("latency.throughput_qps", "throughput", "q/s"),
)
CHARTS = ("hit_at_k.png", "reliability.png", "latency.png")
ABSTENTION_CHART = "abstention_pr.png"  # only when the set has unanswerable questions
OVERLAP_NOTE = (
    "Answerable questions in thirds by the share of their content terms (stemmed, no stopwords) "
    "found in the gold document's first sentence holding a gold answer."
)
TERCILE_HEADER = (
    "overlap tercile", "questions", "overlap", "answer hit", "false abstain", "hit@5",
    "top sentence", "never abstain",
)  # fmt: skip
NEVER_ABSTAIN = "baselines.never_abstain_answer_hit"
BASELINES_NOTE = (
    "Trivial stand-ins on the same questions. Top sentence, for the reader: the sentence of the "
    "top-ranked passage sharing most of the question's content terms. Never abstain, for the "
    "answer gate: the answer, or on abstaining what the service came closest to quoting. Neither "
    "ever abstains, so both are wrong on every unanswerable question."
)
BASELINES_HEADER = ("figure", "product", "top-sentence baseline", "never-abstain baseline")


def lookup(figures: dict[str, Any], dotted: str) -> Any:
    """``figures["a"]["b"]`` for ``"a.b"``; None if any step is missing."""
    node: Any = figures
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def headline(figures: dict[str, Any]) -> dict[str, float | None]:
    """The headline figures as a flat ``{dotted key: value}`` map."""
    return {key: lookup(figures, key) for key, _, _ in HEADLINE}


def deltas(current: dict[str, Any], baseline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{key: {old, new, delta}}`` for every headline figure of two reports' ``figures``."""
    old, new = headline(baseline), headline(current)
    return {
        key: {"old": old[key], "new": new[key], "delta": _diff(new[key], old[key])} for key in new
    }


def _diff(new: float | None, old: float | None) -> float | None:
    return None if new is None or old is None else new - old


def load_baseline(path: Path) -> dict[str, Any]:
    """The ``figures`` of an earlier ``report.json``; ``BaselineError`` if unusable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"baseline report not found: {path}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise BaselineError(f"cannot read baseline report {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("figures"), dict):
        raise BaselineError(f"{path} is not a report.json from an evaluation run")
    return data["figures"]


def fmt(value: Any, unit: str) -> str:
    """A figure for humans: fractions as percentages, times in ms, missing as a dash."""
    if value is None:
        return "-"
    if unit == "%":
        return f"{100 * value:.1f}%"
    if unit == "ms":
        return f"{value:.0f} ms"
    if unit == "q/s":
        return f"{value:.2f} q/s"
    return f"{value:.3f}"


def fmt_delta(value: float | None, unit: str) -> str:
    """A signed difference in the figure's own unit (percentage points for rates)."""
    if value is None:
        return "-"
    if unit == "%":
        return f"{100 * value:+.1f} pp"
    if unit == "ms":
        return f"{value:+.0f} ms"
    if unit == "q/s":
        return f"{value:+.2f} q/s"
    return f"{value:+.3f}"


def summary_rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, formatted value) for each headline figure."""
    return [(label, _summary_cell(figures, key, unit)) for key, label, unit in HEADLINE]


def _summary_cell(figures: dict[str, Any], key: str, unit: str) -> str:
    return never_abstain_cell(figures) if key == NEVER_ABSTAIN else fmt(lookup(figures, key), unit)


def never_abstain_cell(figures: dict[str, Any]) -> str:
    """The never-abstain answer hit; "n/a" if no abstention said what came closest, else a bound."""
    b = figures.get("baselines") or {}
    if b.get("never_abstain_answer_hit") is None:
        measurable = b.get("false_abstain_rate") is not None  # answerable questions were asked
        return "n/a (no 'closest' in the responses)" if measurable else "-"
    unknown = b.get("never_abstain_unknown")
    bound = f" (lower bound: {unknown} abstained without 'closest')" if unknown else ""
    return fmt(b["never_abstain_answer_hit"], "%") + bound


def baseline_rows(figures: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The product against the two baselines under :data:`BASELINES_HEADER`; none if unmeasured."""
    b = figures.get("baselines")
    if not b or b["false_abstain_rate"] is None:  # an older report, or no answerable questions
        return []
    rows = [
        (
            "answer hit (answerable)",
            fmt(lookup(figures, "answer.hit"), "%"),
            fmt(b["top_sentence_answer_hit"], "%"),
            never_abstain_cell(figures),
        ),
        ("false-abstain rate (answerable)", *_rates(figures, "false_abstain_rate")),
    ]
    if b["abstain_rate"] is not None:
        rows.append(("abstain rate (unanswerable)", *_rates(figures, "abstain_rate")))
    return rows


def _rates(figures: dict[str, Any], key: str) -> tuple[str, str, str]:
    zero = fmt(figures["baselines"][key], "%")
    return fmt(figures["abstention"][key], "%"), zero, zero


def tercile_rows(figures: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per overlap tercile under :data:`TERCILE_HEADER`; none if the run has no split."""
    return [
        (
            t["tercile"],
            str(t["count"]),
            f"{t['overlap_min']:.2f}-{t['overlap_max']:.2f}",
            fmt(t["answer_hit"], "%"),
            fmt(t["false_abstain_rate"], "%"),
            fmt(t["hit@5"], "%"),
            fmt(t.get("top_sentence_hit"), "%"),
            fmt(t.get("never_abstain_hit"), "%"),
        )
        for t in figures.get("overlap_terciles") or []
    ]


def delta_rows(table: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(label, old, new, delta) for each headline figure of a baseline comparison."""
    return [
        (
            label,
            fmt(table[key]["old"], unit),
            fmt(table[key]["new"], unit),
            fmt_delta(table[key]["delta"], unit),
        )
        for key, label, unit in HEADLINE
    ]


def misses(records: Sequence[dict]) -> list[dict]:
    """Records judged wrong, worst first: confident wrong answers, false abstentions, errors."""

    def kind(r: dict) -> str | None:
        v = r["verdict"]
        if v.get("error"):
            return "error"
        if v["abstained"]:
            return "false abstain" if v["answerable"] else None
        return None if v["answer_hit"] else "wrong answer"

    order = {"wrong answer": 0, "false abstain": 1, "error": 2}
    found = [{**r, "miss": k} for r in records if (k := kind(r))]
    return sorted(found, key=lambda r: (order[r["miss"]], -(r["verdict"]["confidence"] or 0.0)))


def describe_miss(r: dict) -> tuple[str, str, str]:
    """(question, gold, what we answered) for printing."""
    gold = " | ".join(r["gold_answers"]) or "(unanswerable)"
    if r["miss"] == "error":
        said = f"error: {r['verdict']['error']}"
    elif r["miss"] == "false abstain":
        said = f"(abstained, confidence {r['verdict']['confidence']:.2f})"
    else:
        answer = " ".join(str(r.get("answer") or "").split())
        answer = answer if len(answer) <= 160 else answer[:159] + "…"
        short = r.get("short_answer")
        said = f"[{short}] {answer}" if short and short != answer else answer
        said = f"{said} (confidence {r['verdict']['confidence']:.2f})"
    return r["question"], gold, said


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def esc(cell: str) -> str:
        return str(cell).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]


def render_markdown(report: dict[str, Any], records: Sequence[dict], max_misses: int = 50) -> str:
    """``report.md``: settings, summary table, baseline deltas, charts and the worst misses."""
    s, figures, counts = report["settings"], report["figures"], report["figures"]["counts"]
    source = s.get("url") or s.get("index_dir")
    lines = [
        "# Evaluation report",
        "",
        f"- questions: `{s['questions']}` ({counts['questions']} asked: {counts['answerable']} "
        f"answerable, {counts['unanswerable']} unanswerable; {counts['errors']} errors)",
        f"- limit {s['limit']}, seed {s['seed']}, top-k {s['top_k']}, "
        f"concurrency {s['concurrency']}, against `{source}`",
        f"- index: {_index_line(report.get('index') or {})}",
        *_split_line(s.get("split")),
        f"- finished {report['finished']}",
        "",
        "## Summary",
        "",
        *_table(("figure", "value"), summary_rows(figures)),
    ]
    if baselines := baseline_rows(figures):
        lines += ["", "## Baselines", "", BASELINES_NOTE, ""]
        lines += _table(BASELINES_HEADER, baselines)
    if terciles := tercile_rows(figures):
        lines += ["", "## By overlap of question and gold answer sentence", "", OVERLAP_NOTE, ""]
        lines += _table(TERCILE_HEADER, terciles)
    if report.get("deltas"):
        lines += ["", f"## Against baseline `{report.get('baseline')}`", ""]
        lines += _table(("figure", "baseline", "now", "delta"), delta_rows(report["deltas"]))
    lines += _operating_point(report["figures"]["abstention"])
    lines += ["", "## Charts", ""] + [f"![{name}]({name})" for name in report.get("charts", [])]
    wrong = misses(records)
    lines += ["", f"## Worst misses ({len(wrong)} in all, first {min(len(wrong), max_misses)})", ""]
    rows = [(m["id"], m["miss"], *describe_miss(m)) for m in wrong[:max_misses]]
    lines += _table(("id", "kind", "question", "gold", "we said"), rows)
    return "\n".join(lines) + "\n"


def best_operating_point(abstention: dict[str, Any]) -> dict[str, Any] | None:
    """The point of the abstention curve with the best F1; None without a curve."""
    curve = [p for p in abstention.get("curve") or [] if p["f1"] is not None]
    return max(curve, key=lambda p: p["f1"]) if curve else None


def _operating_point(abstention: dict[str, Any]) -> list[str]:
    """The threshold of confidence whose abstentions score the best F1, beside never answering."""
    best = best_operating_point(abstention)
    if best is None:
        return []
    return [
        "",
        f"Best abstention F1 over thresholds: {fmt(best['f1'], '%')} when abstaining below "
        f"confidence {best['threshold']:.3f} (precision {fmt(best['precision'], '%')}, recall "
        f"{fmt(best['recall'], '%')}); never answering: "
        f"{fmt(abstention['baseline_never_answer_f1'], '%')}.",
    ]


def _split_line(split: str | None) -> list[str]:
    """Which SQuAD articles were asked: anything fitted must be reported on the held-out ones."""
    if not split:
        return []
    return [
        f"- split: {split} articles only (qa.eval.splits: CRC-32 parity of the article title; the reader "
        "model is fitted on 'fit' articles)"
    ]


def _index_line(health: dict[str, Any]) -> str:
    manifest = health.get("index") or {}
    return (
        f"{health.get('documents')} documents, {health.get('chunks')} chunks, "
        f"model `{health.get('model')}`, built {manifest.get('built_at')} "
        f"from `{manifest.get('corpus')}`"
    )


def write_charts(out_dir: Path, figures: dict[str, Any], records: Sequence[dict]) -> list[str]:
    """Draw the hit@k curve, reliability diagram and latency histogram; return the file names."""
    # The object API with an Agg canvas keeps pyplot's global state (and GUI backends) out.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def save(fig: Figure, name: str) -> None:
        FigureCanvasAgg(fig)
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=100)

    curve = figures["retrieval"]["hit_at_k"]
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    measured = [(k, 100 * v) for k, v in enumerate(curve, start=1) if v is not None]
    ax.plot([k for k, _ in measured], [v for _, v in measured], marker="o")
    ks = list(range(1, len(curve) + 1))
    ax.set(xlabel="k (passages)", ylabel="retrieval hit@k (%)", ylim=(0, 102), xticks=ks)
    ax.set_title("Retrieval hit@k (answerable questions)")
    ax.grid(alpha=0.3)
    save(fig, CHARTS[0])

    bins = [b for b in figures["calibration"]["bins"] if b["count"]]
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    ax.bar(centres, [b["accuracy"] for b in bins], width=0.09, alpha=0.7, label="fraction hit")
    for x, b in zip(centres, bins, strict=True):
        ax.annotate(str(b["count"]), (x, b["accuracy"]), ha="center", va="bottom", fontsize=8)
    ax.set(xlabel="confidence", ylabel="answer hit rate", xlim=(0, 1), ylim=(0, 1.05))
    ax.set_title("Reliability of answered questions (n per bar)")
    ax.legend(loc="upper left", fontsize=8)
    save(fig, CHARTS[1])

    latencies = [r["verdict"]["latency_ms"] for r in records if not r["verdict"].get("error")]
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    ax.hist(latencies or [0.0], bins=30)
    for q in ("p50", "p95"):
        value = figures["latency"]["client_ms"][q]
        if value is not None:
            ax.axvline(value, color="red", linestyle=":", label=f"{q} {value:.0f} ms")
    ax.set(xlabel="client latency per question (ms)", ylabel="questions")
    ax.set_title("Latency")
    if latencies:
        ax.legend(fontsize=8)
    save(fig, CHARTS[2])
    curve = figures["abstention"].get("curve")
    if not curve:
        return list(CHARTS)
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    ax.plot([p["recall"] for p in curve], [p["precision"] for p in curve], marker=".")
    never = figures["abstention"]["baseline_never_answer_f1"]
    best = best_operating_point(figures["abstention"])
    if best is not None:
        ax.plot([best["recall"]], [best["precision"]], "o", color="red")
    ax.set(xlabel="abstention recall", ylabel="abstention precision", xlim=(0, 1), ylim=(0, 1.05))
    # Two lines: one is cut off at this figure's width.
    ax.set_title(
        "Abstaining below each confidence\n"
        + (f"best F1 {best['f1']:.3f} below {best['threshold']:.3f} (red); " if best else "")
        + f"never answering {never:.3f}",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    save(fig, ABSTENTION_CHART)
    return [*CHARTS, ABSTENTION_CHART]


def write_report(out_dir: Path, report: dict[str, Any], records: Sequence[dict]) -> None:
    """Write charts, ``report.json`` and ``report.md`` into ``out_dir``."""
    report["charts"] = write_charts(out_dir, report["figures"], records)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out_dir / "report.md").write_text(render_markdown(report, records), encoding="utf-8")
