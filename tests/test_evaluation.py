"""Metric functions on hand-made records, plus property tests of the normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qa.evaluation import (
    Judgement,
    aggregate,
    answer_hit,
    contains_answer,
    doc_matches,
    exact_match,
    expected_calibration_error,
    first_correct_rank,
    judge,
    normalize,
    percentile,
    prf,
    reciprocal_rank,
    reliability,
    squad_normalize,
    token_f1,
)


def test_normalize_folds_typography_accents_case_and_space() -> None:
    raw = "  Dmitry  Rogózin’s “plan” — ‘ok’\tNOW "
    assert normalize(raw) == "dmitry rogozin's \"plan\" - 'ok' now"


def test_normalize_rejoins_a_word_hyphenated_across_a_line_break() -> None:
    assert normalize("inter-\nnational") == "international"
    assert normalize("inter- \r\n   national") == "international"
    # A hyphen inside a line is a real compound and stays.
    assert normalize("anti-missile") == "anti-missile"


def test_normalize_compatibility_forms() -> None:
    assert normalize("ﬁne") == "fine"  # ligature
    assert normalize("soft\u00adhyphen") == "softhyphen"
    assert normalize("Phase\u00a03") == "phase 3"  # no-break space


@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(st.text())
def test_normalize_output_has_no_runs_of_whitespace_or_upper_case(text: str) -> None:
    out = normalize(text)
    assert out == out.strip()
    assert "  " not in out and "\n" not in out
    assert out == out.lower()


@given(st.text(), st.text(min_size=1), st.text())
def test_a_gold_is_found_wherever_it_sits_between_spaces(
    before: str, gold: str, after: str
) -> None:
    if normalize(gold):
        assert contains_answer(f"{before} {gold} {after}", [gold])


def test_contains_answer_ignores_empty_golds_and_missing_text() -> None:
    assert not contains_answer("anything", ["", "   "])
    assert not contains_answer(None, ["x"])
    assert contains_answer("Envoy Dmitry Rogozin said", ["nobody", "dmitry ROGOZIN"])


def test_answer_hit_requires_an_answer() -> None:
    assert answer_hit(True, "It was Rogozin.", ["Rogozin"])
    assert not answer_hit(False, "It was Rogozin.", ["Rogozin"])
    assert not answer_hit(True, "It was Zadra.", ["Rogozin"])
    assert not answer_hit(True, "It was Rogozin.", [])  # unanswerable: no answer is a hit


def test_doc_matches_exact_or_subfolder_only() -> None:
    assert doc_matches("a.txt", ["a.txt"])
    assert doc_matches("seeds/a.txt", ["a.txt"])
    assert not doc_matches("ba.txt", ["a.txt"])
    assert not doc_matches("Title/30", ["Title/3"])
    assert doc_matches("anything", [])


def test_first_correct_rank_needs_gold_doc_and_gold_text() -> None:
    passages = [
        ("other.txt", "Rogozin is here but in the wrong doc"),
        ("gold.txt", "the gold doc without the answer"),
        ("gold.txt", "the envoy, Dmitry Rogozin, said"),
    ]
    assert first_correct_rank(passages, ["gold.txt"], ["Dmitry Rogozin"]) == 3
    assert first_correct_rank(passages, [], ["Rogozin"]) == 1
    assert first_correct_rank(passages, ["gold.txt"], ["Zadra"]) is None
    assert first_correct_rank(passages, ["gold.txt"], []) is None


def test_hit_and_reciprocal_rank() -> None:
    assert reciprocal_rank(1) == 1.0
    assert reciprocal_rank(4) == 0.25
    assert reciprocal_rank(11) == 0.0
    assert reciprocal_rank(None) == 0.0


def test_squad_normalisation_matches_the_official_rules() -> None:
    assert squad_normalize("The  Denver Broncos!") == "denver broncos"
    assert squad_normalize("an apple, a pear") == "apple pear"
    assert squad_normalize("theatre") == "theatre"  # only whole-word articles go


def test_exact_match_and_f1_take_the_best_gold() -> None:
    assert exact_match("Denver Broncos.", ["Carolina", "the Denver Broncos"]) == 1.0
    assert exact_match("Broncos", ["Denver Broncos"]) == 0.0
    assert token_f1("Broncos", ["Denver Broncos"]) == pytest.approx(2 / 3)
    assert token_f1("the Denver Broncos team", ["Denver Broncos", "x"]) == pytest.approx(0.8)
    assert token_f1(None, ["x"]) == 0.0
    assert token_f1("x", []) == 0.0


def test_prf_handles_empty_denominators() -> None:
    assert prf(3, 1, 1) == {"precision": 0.75, "recall": 0.75, "f1": 0.75}
    assert prf(0, 0, 4) == {"precision": None, "recall": 0.0, "f1": 0.0}
    assert prf(0, 0, 0) == {"precision": None, "recall": None, "f1": None}


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4, 5], 95) == pytest.approx(4.8)
    assert percentile([7], 99) == 7
    assert percentile([], 50) is None


@given(st.lists(st.floats(0, 1e6), min_size=1), st.floats(0, 100), st.floats(0, 100))
def test_percentile_is_monotone_and_bounded(values: list[float], q1: float, q2: float) -> None:
    low, high = sorted((q1, q2))
    p_low, p_high = percentile(values, low), percentile(values, high)
    assert p_low is not None and p_high is not None
    assert min(values) <= p_low <= p_high + 1e-9 <= max(values) + 1e-9


def _response(answer: str | None, short: str | None, conf: float, passages: list) -> dict:
    return {
        "answerable": answer is not None,
        "answer": answer,
        "short_answer": short,
        "confidence": conf,
        "citations": [{"n": 1, "doc_id": "a.txt", "start": 0, "end": 3, "quote": "abc"}],
        "passages": [{"rank": i + 1, "doc_id": d, "text": t} for i, (d, t) in enumerate(passages)],
        "timings_ms": {"retrieve": 1.0, "answer": 2.0, "total": 3.5},
    }


def test_judge_reads_the_api_response() -> None:
    resp = _response("Rogozin said no.", "Rogozin", 0.9, [("b.txt", "x"), ("a.txt", "Rogozin")])
    j = judge(
        qid="q1",
        golds=["Dmitry Rogozin", "Rogozin"],
        gold_docs=["a.txt"],
        response=resp,
        citations_valid=1,
        latency_ms=12.0,
    )
    assert j.answered and j.answer_hit and not j.abstained
    assert j.rank == 2
    assert j.exact_match == 1.0 and j.f1 == 1.0
    assert (j.citations, j.citations_valid, j.server_ms) == (1, 1, 3.5)
    assert Judgement.from_dict(j.to_dict()) == j


def test_judge_abstention_scores_nothing() -> None:
    resp = _response(None, None, 0.2, [("a.txt", "Rogozin")])
    j = judge(
        qid="q", golds=["Rogozin"], gold_docs=["a.txt"], response=resp,
        citations_valid=0, latency_ms=1.0,
    )  # fmt: skip
    assert j.abstained and not j.answered and not j.answer_hit
    assert j.rank == 1  # retrieval is judged apart from the answer
    assert j.exact_match == 0.0 and j.f1 == 0.0


def _j(qid: str, answerable: bool, abstained: bool, hit: bool, rank: int | None, conf: float,
       em: float = 0.0, f1: float = 0.0, latency: float = 10.0) -> Judgement:  # fmt: skip
    return Judgement(
        id=qid, answerable=answerable, abstained=abstained, answer_hit=hit, rank=rank,
        exact_match=em, f1=f1, confidence=conf, citations=0 if abstained else 2,
        citations_valid=0 if abstained else 1, latency_ms=latency, server_ms=latency / 2,
    )  # fmt: skip


RUN = [
    _j("a1", True, False, True, 1, 0.95, em=1.0, f1=1.0, latency=10),
    _j("a2", True, False, False, 3, 0.85, em=0.0, f1=0.5, latency=20),
    _j("a3", True, True, False, None, 0.10, latency=30),  # false abstain
    _j("a4", True, False, True, 2, 0.55, em=0.0, f1=0.5, latency=40),
    _j("u1", False, True, False, None, 0.20, latency=50),  # right abstain
    _j("u2", False, False, False, None, 0.90, latency=60),  # answered the unanswerable
]


def test_aggregate_hand_computed_figures() -> None:
    f = aggregate(RUN, wall_s=2.0, depth=10)
    assert f["counts"] == {
        "questions": 6, "answerable": 4, "unanswerable": 2,
        "answered": 4, "abstained": 2, "errors": 0,
    }  # fmt: skip
    assert f["answer"]["hit"] == 0.5
    assert f["answer"]["hit_when_answered"] == pytest.approx(2 / 3)
    assert f["answer"]["em_answered"] == pytest.approx(1 / 3)
    assert f["answer"]["f1_answered"] == pytest.approx(2 / 3)
    assert f["answer"]["em_all"] == 0.25
    assert f["answer"]["f1_all"] == 0.5
    r = f["retrieval"]
    assert (r["hit@1"], r["hit@5"], r["hit@10"]) == (0.25, 0.75, 0.75)
    assert r["mrr@10"] == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)
    assert r["hit_at_k"][:3] == [0.25, 0.5, 0.75]
    a = f["abstention"]
    assert a["abstain_rate"] == 0.5 and a["false_abstain_rate"] == 0.25
    # abstained on u1 (right) and a3 (wrong); missed u2
    assert (a["precision"], a["recall"], a["f1"]) == (0.5, 0.5, 0.5)
    assert a["baseline_always_answer_f1"] == 0.0
    assert a["baseline_never_answer_f1"] == pytest.approx(2 * (1 / 3) / (1 / 3 + 1))
    assert f["citations"] == {
        "total": 8,
        "valid": 4,
        "validity": 0.5,
        "answers_without_citation": 0,
    }
    lat = f["latency"]
    assert lat["client_ms"]["p50"] == 35 and lat["server_ms"]["p50"] == 17.5
    assert lat["throughput_qps"] == 3.0


def test_throughput_counts_only_the_timed_questions() -> None:
    # A resumed run timed 4 of its 6 questions (a crashed session recorded no time).
    lat = aggregate(RUN, wall_s=2.0, completed=4)["latency"]
    assert lat["throughput_qps"] == 2.0 and lat["completed"] == 4


def test_aggregate_marks_unmeasured_depths() -> None:
    f = aggregate(RUN, depth=3)
    assert f["retrieval"]["hit@5"] is None and f["retrieval"]["hit@10"] is None
    assert f["retrieval"]["hit_at_k"][2] == 0.75
    assert len(f["retrieval"]["hit_at_k"]) == 10


def test_aggregate_with_no_unanswerable_questions_leaves_abstention_undefined() -> None:
    f = aggregate(RUN[:4])
    assert f["abstention"]["abstain_rate"] is None
    assert f["abstention"]["baseline_always_answer_f1"] is None
    assert f["latency"]["throughput_qps"] is None


def test_reliability_bins_only_answered_questions_and_counts_hits() -> None:
    bins = reliability(RUN)
    assert sum(b["count"] for b in bins) == 4
    top = bins[9]  # a1 (hit, 0.95) and u2 (wrong, 0.90)
    assert top["count"] == 2 and top["accuracy"] == 0.5
    assert top["confidence"] == pytest.approx(0.925)
    assert bins[8]["count"] == 1 and bins[8]["accuracy"] == 0.0  # a2 at 0.85
    ece = expected_calibration_error(bins)
    assert ece == pytest.approx((2 * 0.425 + 0.85 + 0.45) / 4)


def test_errors_count_as_misses_and_leave_latency_alone() -> None:
    from qa.evaluation import failed

    f = aggregate([*RUN, failed("e1", True, "HTTP 500", 99999.0)], wall_s=1.0)
    assert f["counts"]["errors"] == 1
    assert f["answer"]["hit"] == pytest.approx(2 / 5)
    assert f["latency"]["client_ms"]["p99"] < 99999.0
