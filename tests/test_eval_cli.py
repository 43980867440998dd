"""The evaluation tool end to end: real runs on the seed index, resume, errors, baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qa.clients import DocumentText
from qa.errors import BadResponse, RequestRejected
from qa.eval import cli as eval_cli
from qa.eval.cli import main
from qa.eval.evaluation import answer_hit, contains_answer, normalize
from qa.schema import Answer

QUESTIONS = Path(__file__).parent / "fixtures" / "eval" / "questions.jsonl"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "questions.jsonl").read_text().splitlines()]


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def _run(*args: str) -> int:
    return main([*map(str, args), "--no-progress"])


@pytest.fixture(scope="module")
def full_run(seed_settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One in-process run over the whole fixture set, shared by the checks below."""
    out = tmp_path_factory.mktemp("eval") / "run"
    assert _run(QUESTIONS, "--index-dir", seed_settings.index_dir, "--out", out) == 0
    return out


def test_run_writes_every_output_file(full_run: Path) -> None:
    for name in ("report.json", "report.md", "questions.jsonl", "run.json"):
        assert (full_run / name).stat().st_size > 0
    for name in ("hit_at_k.png", "reliability.png", "latency.png"):
        assert (full_run / name).read_bytes().startswith(PNG_MAGIC)
    md = (full_run / "report.md").read_text()
    assert "| answer hit |" in md and "![reliability.png](reliability.png)" in md


def test_report_holds_settings_index_manifest_and_sane_figures(
    full_run: Path, seed_settings: Any
) -> None:
    report = _report(full_run)
    s = report["settings"]
    assert (s["top_k"], s["limit"], s["url"]) == (10, None, None)
    assert s["index_dir"] == str(seed_settings.index_dir)
    assert report["index"]["documents"] == 5 and "settings" in report["index"]["index"]
    f = report["figures"]
    assert f["counts"] == {
        "questions": 8, "answerable": 6, "unanswerable": 2,
        "answered": f["counts"]["answered"], "abstained": f["counts"]["abstained"], "errors": 0,
    }  # fmt: skip
    r = f["retrieval"]
    assert 0.0 <= r["hit@1"] <= r["hit@5"] <= r["hit@10"] <= 1.0
    assert r["hit@10"] >= 0.5  # the fixture questions quote their article almost verbatim
    assert 0.0 <= f["answer"]["hit"] <= 1.0
    lat = f["latency"]["client_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert f["latency"]["throughput_qps"] > 0


def test_records_agree_with_the_judging_rules(full_run: Path, seed_settings: Any) -> None:
    records = _records(full_run)
    assert [r["id"] for r in records] == [f"t-0{i}" for i in range(1, 9)]
    for r in records:
        v = r["verdict"]
        answered = not v["abstained"]
        assert v["answer_hit"] == answer_hit(answered, r["answer"], r["gold_answers"])
        assert len(r["passages"]) == 10
        for c in r["citations"]:
            # Judge citations independently of the service: the file as decoded UTF-8.
            raw = (seed_settings.corpus / c["doc_id"]).read_bytes().decode("utf-8")
            assert c["valid"] == (raw[c["start"] : c["end"]] == c["quote"])
    report = _report(full_run)
    hits = sum(r["verdict"]["answer_hit"] for r in records)
    assert report["figures"]["answer"]["hit"] == pytest.approx(hits / 6)


def test_records_carry_overlap_and_the_report_splits_it_in_thirds(full_run: Path) -> None:
    records = {r["id"]: r for r in _records(full_run)}
    for r in records.values():
        assert r["overlap"] == r["verdict"]["overlap"]
        assert (r["overlap"] is None) == (not r["gold_answers"])
    # t-01 asks for the "NATO Secretary General": every term is in its gold sentence.
    assert records["t-01"]["overlap"] == 1.0
    terciles = _report(full_run)["figures"]["overlap_terciles"]
    assert [t["count"] for t in terciles] == [2, 2, 2]
    assert terciles[0]["overlap_min"] == min(r["overlap"] or 1.0 for r in records.values())
    md = (full_run / "report.md").read_text()
    assert "## By overlap of question and gold answer sentence" in md


def test_resume_runs_only_the_new_questions(seed_settings: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    common = ("--index-dir", seed_settings.index_dir, "--out", out, "--seed", "5")
    assert _run(QUESTIONS, *common, "--limit", "3") == 0
    first = {r["id"]: r for r in _records(out)}
    assert len(first) == 3

    assert _run(QUESTIONS, *common, "--limit", "6") == 0
    second = {r["id"]: r for r in _records(out)}
    assert len(second) == 6 and set(first) < set(second)
    # Re-asked questions would have fresh timings; the old records are kept as they were.
    for qid, record in first.items():
        assert second[qid]["verdict"]["latency_ms"] == record["verdict"]["latency_ms"]
    sessions = json.loads((out / "run.json").read_text())["sessions"]
    assert [s["completed"] for s in sessions] == [3, 3]
    assert _report(out)["figures"]["counts"]["questions"] == 6


def test_other_settings_refuse_to_resume_until_fresh(
    seed_settings: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    common = ("--index-dir", seed_settings.index_dir, "--out", out, "--limit", "2")
    assert _run(QUESTIONS, *common) == 0
    capsys.readouterr()
    assert _run(QUESTIONS, *common, "--top-k", "3") == 2
    err = capsys.readouterr().err.strip()
    assert "different settings" in err and "--fresh" in err and "\n" not in err
    assert _run(QUESTIONS, *common, "--top-k", "3", "--fresh") == 0
    assert json.loads((out / "run.json").read_text())["key"]["top_k"] == 3
    assert _report(out)["figures"]["retrieval"]["hit@5"] is None  # not measured at top-k 3


def test_baseline_deltas(full_run: Path, seed_settings: Any, tmp_path: Path) -> None:
    out = tmp_path / "again"
    args = (QUESTIONS, "--index-dir", seed_settings.index_dir, "--out", out)
    assert _run(*args, "--baseline", full_run / "report.json") == 0
    report = _report(out)
    hit = report["deltas"]["answer.hit"]
    assert hit["old"] == _report(full_run)["figures"]["answer"]["hit"]
    assert hit["delta"] == pytest.approx(hit["new"] - hit["old"])
    assert "latency.client_ms.p95" in report["deltas"]
    assert "## Against baseline" in (out / "report.md").read_text()


def test_http_run_matches_in_process(full_run: Path, live_server: str, tmp_path: Path) -> None:
    out = tmp_path / "http"
    assert _run(QUESTIONS, "--url", live_server, "--out", out, "--concurrency", "3") == 0
    local = {r["id"]: r for r in _records(full_run)}
    for r in _records(out):
        assert r["answer"] == local[r["id"]]["answer"]
        assert r["first_correct_rank"] == local[r["id"]]["first_correct_rank"]
        assert all(c["valid"] for c in r["citations"]) == all(
            c["valid"] for c in local[r["id"]]["citations"]
        )
    assert _report(out)["settings"]["url"] == live_server.rstrip("/")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--url", "http://127.0.0.1:9"), "cannot reach http://127.0.0.1:9"),
        (("--baseline", "/nonexistent/report.json"), "baseline report not found"),
    ],
)
def test_setup_errors_are_one_line(
    extra: tuple[str, ...], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(QUESTIONS, "--out", tmp_path / "o", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_missing_question_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path / "nope.jsonl", "--out", tmp_path / "o") == 2
    assert (
        capsys.readouterr().err.strip() == f"error: question file not found: {tmp_path}/nope.jsonl"
    )


def test_no_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(QUESTIONS, "--index-dir", tmp_path / "empty", "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err


class FakeBackend:
    """Answers from a table; ``fail`` ids raise like a server error would."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.index_dir = Path("/fake/index")
        self.fail = fail or set()
        self.asked: list[str] = []
        self.text = "Anders Fogh Rasmussen met Sergei Lavrov in Brussels."

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "index": {"built_at": "fixed"}}

    def ask(self, question: str, top_k: int, answers: int = 1, filters: Any = None) -> Answer:
        self.asked.append(question)
        if any(normalize(q) in normalize(question) for q in self.fail):
            raise BadResponse("server said: boom", status=500, detail="boom")
        return Answer.from_dict(self.body(question))

    def body(self, question: str) -> dict[str, Any]:
        cite = {"n": 1, "doc_id": "d", "title": "D", "start": 0, "end": 6, "quote": "Anders"}
        passage = {"rank": 1, "doc_id": "002_04c91fd3f0a7243f.txt", "chunk_id": 0, "start": 0}
        return {
            "question": question,
            "answerable": True,
            "answer": self.text,
            "short_answer": "Lavrov",
            "confidence": 0.7,
            "citations": [cite],
            "passages": [{**passage, "end": len(self.text), "score": 1.0, "text": self.text}],
            "timings_ms": {"total": 1.0},
        }

    def document(self, doc_id: str) -> DocumentText:
        if doc_id != "d":
            raise RequestRejected(f"no document with id {doc_id!r}")
        return DocumentText(doc_id, doc_id, self.text)


def test_failed_questions_are_reported_then_retried_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FakeBackend(fail={"capital of Australia"})
    monkeypatch.setattr(eval_cli.LocalClient, "open", lambda settings, build: backend)
    out = tmp_path / "run"
    assert _run(QUESTIONS, "--out", out) == 0
    f = _report(out)["figures"]
    assert f["counts"]["errors"] == 1
    assert f["citations"]["validity"] == 1.0
    assert f["answer"]["hit"] == pytest.approx(3 / 6)  # Rasmussen, Lavrov, Brussels
    assert f["abstention"]["abstain_rate"] == 0.0
    misses = (out / "report.md").read_text()
    assert misses.index("wrong answer") < misses.index("error: HTTP 500")

    backend.fail, backend.asked = set(), []
    assert _run(QUESTIONS, "--out", out) == 0
    assert backend.asked == ["What is the capital of Australia?"]
    assert _report(out)["figures"]["counts"]["errors"] == 0


def test_a_line_cut_short_by_a_crash_is_asked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FakeBackend()
    monkeypatch.setattr(eval_cli.LocalClient, "open", lambda settings, build: backend)
    out = tmp_path / "run"
    assert _run(QUESTIONS, "--out", out, "--concurrency", "4") == 0
    lines = (out / "questions.jsonl").read_text().splitlines()
    (out / "questions.jsonl").write_text("\n".join(lines[:5]) + "\n" + lines[5][:40])
    backend.asked = []
    assert _run(QUESTIONS, "--out", out) == 0
    assert len(backend.asked) == 3
    assert len(_records(out)) == 8


class SeedDocsBackend(FakeBackend):
    """The fake answers, with the seed articles served as documents."""

    def document(self, doc_id: str) -> DocumentText:
        path = SEEDS / doc_id
        if path.is_file():
            return DocumentText(doc_id, doc_id, path.read_text(encoding="utf-8"))
        return super().document(doc_id)


def test_overlap_terciles_are_printed_and_tabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(eval_cli.LocalClient, "open", lambda settings, build: SeedDocsBackend())
    out = tmp_path / "run"
    assert _run(QUESTIONS, "--out", out) == 0
    # Overlaps of the six answerable fixture questions: t-08 1/3, t-04 2/3, the rest 1.
    printed = capsys.readouterr().out
    assert "by overlap of question and gold answer sentence (answerable):" in printed
    rows = [line.split() for line in printed.splitlines() if line.startswith("  low ")]
    # Of the lowest two, the fake answer and passage hold t-08's "Brussels", not t-04's gold; the
    # one-sentence passage is the answer too, so both baselines score as the product does.
    assert rows == [["low", "2", "0.33-0.67", "50.0%", "0.0%", "50.0%", "50.0%", "50.0%"]]
    md = (out / "report.md").read_text()
    assert "| overlap tercile | questions | overlap |" in md
    assert "| high | 2 | 1.00-1.00 |" in md


def test_records_carry_both_baselines(full_run: Path) -> None:
    records = _records(full_run)
    for r in records:
        v = r["verdict"]
        assert r["baseline_top_sentence_hit"] == v["baseline_top_sentence_hit"]
        assert v["baseline_top_sentence_hit"] == contains_answer(
            r["baseline_top_sentence"], r["gold_answers"]
        )
        assert r["baseline_never_abstain_hit"] == v["baseline_never_abstain_hit"]
        if not v["abstained"]:
            assert v["baseline_never_abstain_hit"] == v["answer_hit"]
    f = _report(full_run)["figures"]
    tops = [r["baseline_top_sentence_hit"] for r in records if r["gold_answers"]]
    assert f["baselines"]["top_sentence_answer_hit"] == pytest.approx(sum(tops) / len(tops))
    never = f["baselines"]["never_abstain_answer_hit"]
    assert never is None or never >= f["answer"]["hit"]  # it can only add hits
    assert "## Baselines" in (full_run / "report.md").read_text()


class GatedBackend(FakeBackend):
    """The fake answers, abstaining on questions about NATO with ``closest`` set (or left out)."""

    passage = (
        "Sergei Lavrov is Russia's foreign minister. "
        "The NATO Secretary General, Anders Fogh Rasmussen, met him in Brussels."
    )

    def __init__(self, with_closest: bool = True) -> None:
        super().__init__()
        self.with_closest = with_closest

    def body(self, question: str) -> dict[str, Any]:
        response = super().body(question)
        response["passages"][0]["text"] = self.passage
        if "NATO" in question:
            response.update(answerable=False, answer=None, short_answer=None, citations=[])
        if self.with_closest:
            response["closest"] = None if response["answer"] else self.text
        return response


def test_baselines_are_printed_and_tabled_beside_the_product(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(eval_cli.LocalClient, "open", lambda settings, build: GatedBackend())
    out = tmp_path / "run"
    assert _run(QUESTIONS, "--out", out) == 0
    # The product answers only t-05 right (Lavrov) and abstains on t-01 and t-08, whose closest
    # quote holds Rasmussen and Brussels. The top sentence hits t-01 and t-05; on t-08 the two
    # sentences tie ("russia" against "nato") and the earlier, Lavrov's, is taken.
    f = _report(out)["figures"]
    assert f["answer"]["hit"] == pytest.approx(1 / 6)
    assert f["baselines"]["top_sentence_answer_hit"] == pytest.approx(2 / 6)
    assert f["baselines"]["never_abstain_answer_hit"] == pytest.approx(3 / 6)
    records = {r["id"]: r for r in _records(out)}
    assert records["t-01"]["closest"] == FakeBackend().text
    assert records["t-08"]["baseline_top_sentence"].startswith("Sergei Lavrov")
    printed = capsys.readouterr().out
    assert "  top-sentence baseline answer hit  33.3%\n" in printed
    assert "  never-abstain answer hit          50.0%\n" in printed
    table = printed.split("against trivial baselines (neither ever abstains):\n")[1]
    rows = [[c.strip() for c in line.split("  ") if c] for line in table.splitlines()[:4]]
    assert rows == [
        ["figure", "product", "top-sentence baseline", "never-abstain baseline"],
        ["answer hit (answerable)", "16.7%", "33.3%", "50.0%"],
        ["false-abstain rate (answerable)", "33.3%", "0.0%", "0.0%"],
        ["abstain rate (unanswerable)", "0.0%", "0.0%", "0.0%"],
    ]
    md = (out / "report.md").read_text()
    assert "## Baselines" in md
    assert "| answer hit (answerable) | 16.7% | 33.3% | 50.0% |" in md
    assert "| false-abstain rate (answerable) | 33.3% | 0.0% | 0.0% |" in md
    assert "| abstain rate (unanswerable) | 0.0% | 0.0% | 0.0% |" in md


def test_never_abstain_is_n_a_when_no_response_says_what_came_closest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(eval_cli.LocalClient, "open", lambda settings, build: GatedBackend(False))
    out = tmp_path / "run"
    assert _run(QUESTIONS, "--out", out) == 0
    f = _report(out)["figures"]
    assert f["baselines"]["never_abstain_answer_hit"] is None
    assert f["baselines"]["top_sentence_answer_hit"] == pytest.approx(2 / 6)
    unknown = [r["id"] for r in _records(out) if r["baseline_never_abstain_hit"] is None]
    assert unknown == ["t-01", "t-08"]  # the abstentions: what they came closest to is unsaid
    printed = capsys.readouterr().out
    summary = [
        line for line in printed.splitlines() if line.startswith("  never-abstain answer hit")
    ]
    assert summary and summary[0].endswith("n/a (no 'closest' in the responses)")
    md = (out / "report.md").read_text()
    assert "| answer hit (answerable) | 16.7% | 33.3% | n/a (no 'closest' in the responses) |" in md


def test_no_overlap_section_without_gold_sentences(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(eval_cli.LocalClient, "open", lambda settings, build: FakeBackend())
    out = tmp_path / "run"
    assert _run(QUESTIONS, "--out", out) == 0
    assert _report(out)["figures"]["overlap_terciles"] == []
    assert "by overlap" not in capsys.readouterr().out
    assert "## By overlap" not in (out / "report.md").read_text()


class RecordingSession:
    """Stands in for a ``requests.Session``: records URLs, answers 200 with a document."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def get(self, url: str, timeout: float) -> Any:
        self.urls.append(url)
        return type("Resp", (), {"status_code": 200, "json": lambda self: {"text": "raw"}})()


def test_http_document_ids_quote_each_segment_and_keep_slashes() -> None:
    from qa.clients import HttpClient

    backend = HttpClient("http://qa.example/")
    session = RecordingSession()
    backend._local.session = session
    assert backend.document("Sky_(United Kingdom)/3").text == "raw"
    assert backend.document("a?b#c.txt").text == "raw"
    assert session.urls == [
        "http://qa.example/api/documents/Sky_%28United%20Kingdom%29/3",
        "http://qa.example/api/documents/a%3Fb%23c.txt",
    ]


def test_deltas_cover_every_headline_figure_and_survive_missing_ones() -> None:
    from qa.eval.report import HEADLINE, deltas, fmt_delta

    old = {"answer": {"hit": 0.5}, "latency": {"client_ms": {"p95": 200.0}}}
    new = {"answer": {"hit": 0.75}, "latency": {"client_ms": {"p95": 150.0}}}
    table = deltas(new, old)
    assert set(table) == {key for key, _, _ in HEADLINE}
    assert table["answer.hit"] == {"old": 0.5, "new": 0.75, "delta": 0.25}
    assert table["latency.client_ms.p95"]["delta"] == -50.0
    assert table["retrieval.hit@1"] == {"old": None, "new": None, "delta": None}
    assert fmt_delta(0.25, "%") == "+25.0 pp" and fmt_delta(-50.0, "ms") == "-50 ms"
