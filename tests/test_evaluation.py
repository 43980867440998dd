"""Metric functions on hand-made records, plus property tests of the normalisation."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qa.eval.evaluation import (
    Judgement,
    aggregate,
    answer_hit,
    baselines,
    contains_answer,
    doc_matches,
    exact_match,
    expected_calibration_error,
    failed,
    first_correct_rank,
    judge,
    never_abstain_hit,
    normalize,
    overlap_terciles,
    percentile,
    prf,
    reciprocal_rank,
    reliability,
    squad_normalize,
    term_overlap,
    token_f1,
    top_sentence,
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
        question="Who is Russia's envoy?",
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
        qid="q", question="Who?", golds=["Rogozin"], gold_docs=["a.txt"], response=resp,
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
    f = aggregate([*RUN, failed("e1", True, "HTTP 500", 99999.0)], wall_s=1.0)
    assert f["counts"]["errors"] == 1
    assert f["answer"]["hit"] == pytest.approx(2 / 5)
    assert f["latency"]["client_ms"]["p99"] < 99999.0


def test_term_overlap_is_the_share_of_question_terms_in_the_sentence() -> None:
    sentence = "Dmitry Rogozin, Russia's envoy to the alliance, said."
    # Terms are stemmed and stopword-free: {russia, envoy, nato}; "NATO" is not in the sentence.
    assert term_overlap("Who is Russia's envoy to NATO?", sentence) == pytest.approx(2 / 3)
    assert term_overlap("Which envoys are Russians?", sentence) == 1.0  # stems meet
    assert term_overlap("Who speaks for Moscow?", sentence) == 0.0
    assert term_overlap("Who is it?", sentence) is None  # stopwords only: nothing to share


def _o(qid: str, overlap: float | None, hit: bool, abstained: bool, rank: int | None) -> Judgement:
    return Judgement(
        id=qid, answerable=True, abstained=abstained, answer_hit=hit, rank=rank,
        exact_match=0.0, f1=0.0, confidence=0.5, citations=1, citations_valid=1,
        latency_ms=1.0, server_ms=None, overlap=overlap,
    )  # fmt: skip


OVERLAP_RUN = [
    _o("q1", 0.9, True, False, 1),
    _o("q2", 0.1, False, True, None),
    _o("q3", 0.5, True, False, 2),
    _o("q4", 0.0, False, True, 7),
    _o("q5", 0.5, False, False, 4),
    _o("q6", 0.7, True, False, 1),
    _o("q7", 1.0, True, False, 1),
    _o("q8", None, False, False, None),  # no gold sentence found: left out
    _j("u1", False, True, False, None, 0.2),  # unanswerable: left out
]


def test_overlap_terciles_split_by_rank_with_the_largest_third_last() -> None:
    low, middle, high = overlap_terciles(OVERLAP_RUN)
    assert [t["tercile"] for t in (low, middle, high)] == ["low", "middle", "high"]
    # Ranked q4 0.0, q2 0.1 | q3 0.5, q5 0.5 | q6 0.7, q1 0.9, q7 1.0: 7 questions as 2, 2, 3.
    assert low == {
        "tercile": "low", "count": 2, "overlap_min": 0.0, "overlap_max": 0.1,
        "answer_hit": 0.0, "false_abstain_rate": 1.0, "hit@5": 0.0,
        "top_sentence_hit": None, "never_abstain_hit": None,  # no baselines recorded
    }  # fmt: skip
    assert (middle["count"], middle["overlap_min"], middle["overlap_max"]) == (2, 0.5, 0.5)
    assert (middle["answer_hit"], middle["false_abstain_rate"], middle["hit@5"]) == (0.5, 0.0, 1.0)
    assert (high["count"], high["overlap_min"], high["overlap_max"]) == (3, 0.7, 1.0)
    assert (high["answer_hit"], high["false_abstain_rate"], high["hit@5"]) == (1.0, 0.0, 1.0)


def test_overlap_terciles_need_three_questions_and_a_measured_hit_at_5() -> None:
    assert overlap_terciles(OVERLAP_RUN[:2]) == []
    assert overlap_terciles(RUN) == []  # no overlaps recorded (an older run)
    assert [t["count"] for t in overlap_terciles(OVERLAP_RUN[:3])] == [1, 1, 1]
    assert all(t["hit@5"] is None for t in overlap_terciles(OVERLAP_RUN, depth=3))
    assert aggregate(OVERLAP_RUN)["overlap_terciles"] == overlap_terciles(OVERLAP_RUN)


def test_overlap_round_trips_and_defaults_to_none_for_older_records() -> None:
    j = OVERLAP_RUN[0]
    assert Judgement.from_dict(j.to_dict()) == j
    old = {k: v for k, v in j.to_dict().items() if k != "overlap"}
    assert Judgement.from_dict(old).overlap is None


PASSAGE = "Russia's envoy to NATO spoke at length. Later, Dmitry Rogozin left. NATO agreed."


def _ask(passage_texts: list[str], **fields: object) -> dict:
    """An ``/api/ask`` response with these passage texts, abstaining unless ``answer`` is given."""
    answer = fields.pop("answer", None)
    return {**_response(answer, None, 0.5, [("a.txt", t) for t in passage_texts]), **fields}


def _judge(
    response: dict, golds: list[str], question: str = "Who is Russia's envoy to NATO?"
) -> Judgement:
    return judge(
        qid="q", question=question, golds=golds, gold_docs=[], response=response,
        citations_valid=0, latency_ms=1.0,
    )  # fmt: skip


def test_top_sentence_takes_the_top_passage_s_sentence_with_most_question_terms() -> None:
    # {russia, envoy, nato}: the first sentence has all three, the last only "nato".
    resp = _ask([PASSAGE, "Dmitry Rogozin is Russia's envoy to NATO."])
    assert top_sentence("Who is Russia's envoy to NATO?", resp) == (
        "Russia's envoy to NATO spoke at length."
    )  # the second passage's better sentence is not looked at
    assert top_sentence("Did Rogozin leave?", resp) == "Later, Dmitry Rogozin left."
    # Ties go to the earlier sentence: "NATO" alone is in the first and the last.
    assert top_sentence("When did NATO vote?", resp) == "Russia's envoy to NATO spoke at length."
    assert top_sentence("Who is it?", resp) == "Russia's envoy to NATO spoke at length."
    assert top_sentence("Who?", _ask([])) is None
    assert top_sentence("Who?", {}) is None


def test_top_sentence_baseline_hits_only_when_its_sentence_holds_a_gold() -> None:
    # The passage holds the answer, but not in the sentence sharing most of the question.
    assert _judge(_ask([PASSAGE]), ["Rogozin"]).baseline_top_sentence_hit is False
    assert _judge(_ask([PASSAGE]), ["Rogozin"], "Did Rogozin leave?").baseline_top_sentence_hit
    assert _judge(_ask([PASSAGE]), []).baseline_top_sentence_hit is False  # never abstains
    assert _judge(_ask([]), ["Rogozin"]).baseline_top_sentence_hit is False


def test_never_abstain_baseline_reads_the_answer_or_else_closest() -> None:
    said = "Dmitry Rogozin, the envoy, said."

    def never(golds: tuple[str, ...] = ("Rogozin",), **fields: object) -> bool | None:
        return _judge(_ask([PASSAGE], **fields), list(golds)).baseline_never_abstain_hit

    # Answered: the answer is what it quoted, whatever "closest" holds.
    answered = _judge(_ask([PASSAGE], answer=said, closest=None), ["Rogozin"])
    assert answered.answer_hit and answered.baseline_never_abstain_hit is True
    abstained = _judge(_ask([PASSAGE], closest=said), ["Rogozin"])
    assert not abstained.answer_hit and abstained.baseline_never_abstain_hit is True
    assert never(closest="NATO agreed.") is False
    assert never(closest=None) is False  # no candidate at all
    assert never() is None  # an older server: no "closest" key, so unknown
    assert never((), closest=said) is False  # unanswerable: never abstaining is wrong
    assert never_abstain_hit(False, said, {}, ["Rogozin"]) is True  # no key needed when answered


def _b(j: Judgement, top: bool | None, never: bool | None) -> Judgement:
    return replace(j, baseline_top_sentence_hit=top, baseline_never_abstain_hit=never)


# RUN with baselines: the top sentence hits a1, a2; never abstaining, a3 quotes the answer.
BASELINE_RUN = [
    _b(RUN[0], True, True),
    _b(RUN[1], True, False),
    _b(RUN[2], False, True),  # a3: a false abstention whose closest quote holds the answer
    _b(RUN[3], False, True),
    _b(RUN[4], False, False),  # u1: abstained, closest said (no gold to hold)
    _b(RUN[5], False, False),
]


def test_baselines_beside_the_product_figures() -> None:
    f = aggregate(BASELINE_RUN)
    assert f["answer"]["hit"] == 0.5
    assert f["baselines"] == {
        "top_sentence_answer_hit": 0.5,
        "never_abstain_answer_hit": 0.75,  # a1, a4 answered right; a3 would have
        "never_abstain_unknown": 0,
        "abstain_rate": 0.0,
        "false_abstain_rate": 0.0,
    }
    assert Judgement.from_dict(BASELINE_RUN[2].to_dict()) == BASELINE_RUN[2]


def test_never_abstain_is_a_lower_bound_then_n_a_as_closest_goes_missing() -> None:
    some = [*BASELINE_RUN[:2], _b(RUN[2], False, None), *BASELINE_RUN[3:]]
    b = baselines(some)
    assert b["never_abstain_answer_hit"] == 0.5 and b["never_abstain_unknown"] == 1
    # No abstention (answerable or not) said what came closest: not a figure at all.
    none = [*some[:4], _b(RUN[4], False, None), some[5]]
    assert baselines(none)["never_abstain_answer_hit"] is None
    # Without any abstention the gate never acted: never-abstain is the product itself.
    answered = [j for j in none if not j.abstained]
    assert baselines(answered)["never_abstain_answer_hit"] == aggregate(answered)["answer"]["hit"]


def test_baselines_of_older_records_and_failures() -> None:
    old = baselines(RUN)  # records from before the baselines: nothing measured
    assert old["top_sentence_answer_hit"] is None and old["never_abstain_answer_hit"] is None
    b = baselines([*BASELINE_RUN, failed("e1", True, "HTTP 500", 1.0)])
    assert b["top_sentence_answer_hit"] == pytest.approx(2 / 5)  # a failure misses for all
    assert b["never_abstain_answer_hit"] == pytest.approx(3 / 5)
    only_answerable = baselines(BASELINE_RUN[:4])
    assert only_answerable["abstain_rate"] is None and only_answerable["false_abstain_rate"] == 0.0


def test_overlap_terciles_carry_the_baselines() -> None:
    # Low third q4, q2 (both falsely abstained): the top sentence hits q4, closest holds q2's.
    marked = {"q4": (True, False), "q2": (False, True)}
    run = [_b(j, *marked.get(j.id, (j.answer_hit, j.answer_hit))) for j in OVERLAP_RUN]
    low, middle, _ = overlap_terciles(run)
    assert (low["top_sentence_hit"], low["never_abstain_hit"]) == (0.5, 0.5)
    assert (middle["top_sentence_hit"], middle["never_abstain_hit"]) == (0.5, 0.5)
    # A run whose abstentions never said what came closest shows no never-abstain figure in any
    # third, not even in those without an abstention.
    older = [_b(j, j.answer_hit, None if j.abstained else j.answer_hit) for j in OVERLAP_RUN]
    assert all(t["never_abstain_hit"] is None for t in overlap_terciles(older))
    assert aggregate(older)["baselines"]["never_abstain_answer_hit"] is None


def test_abstention_curve_gives_each_thresholds_operating_point() -> None:
    from qa.eval.evaluation import abstention_curve

    answerable = [j for j in RUN if j.answerable]  # confidences .95 .85 .10 .55
    unanswerable = [j for j in RUN if not j.answerable]  # .20 .90
    curve = abstention_curve(answerable, unanswerable, steps=4)
    assert [p["threshold"] for p in curve] == [0.0, 0.25, 0.5, 0.75, 1.0]
    # Below 0.25: a3 (answerable) and u1 abstain.
    assert curve[1]["precision"] == 0.5 and curve[1]["recall"] == 0.5
    # Below 1.0: everything abstains, as never answering does.
    assert curve[4]["recall"] == 1.0 and curve[4]["precision"] == 2 / 6
    assert abstention_curve(answerable, []) is None
    assert aggregate(RUN, wall_s=1.0)["abstention"]["curve"][0]["recall"] == 0.0


def test_best_operating_point_is_the_curves_best_f1() -> None:
    from qa.eval.report import best_operating_point

    abstention = aggregate(RUN, wall_s=1.0)["abstention"]
    best = best_operating_point(abstention)
    assert best is not None
    assert best["f1"] == max(p["f1"] for p in abstention["curve"] if p["f1"] is not None)
    assert best_operating_point({"curve": None}) is None
