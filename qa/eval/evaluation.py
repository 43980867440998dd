"""Metrics over question sets, by the judging rules in ``eval/README.md``: pure functions, no I/O.

A question is judged once, into a :class:`Judgement`; :func:`aggregate` turns a list of them into
the figures of a run. Judgements round-trip through JSON so a resumed run can aggregate old ones.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from qa.text import content_terms, split_sentences

HIT_AT_K = (1, 5, 10)
MRR_DEPTH = 10
RELIABILITY_BINS = 10
TERCILES = ("low", "middle", "high")  # of question/gold-sentence overlap, by rank

# Typographic characters that NFKD leaves alone but a reader would call the same as ASCII.
_TYPOGRAPHY = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
        "\u2015": "-", "\u2212": "-", "\ufe58": "-", "\ufe63": "-", "\uff0d": "-",
        "\u00ad": None,  # soft hyphen: invisible, only marks a possible break
    }
)  # fmt: skip
# "inter-\nnational" is one word split by the line width, not a compound.
_LINE_HYPHEN = re.compile(r"(\w)-[ \t]*\r?\n\s*(\w)")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize(text: str) -> str:
    """Judging form: NFKD without accents, ASCII quotes/dashes, hyphenation rejoined, lower."""
    # Decomposing can yield capitals ("℠" -> "SM") and lower-casing can yield combining marks
    # ("İ" -> "i̇"), so fold both ways twice to reach a fixed point.
    text = _strip_accents(_strip_accents(text).lower()).lower().translate(_TYPOGRAPHY)
    text = _LINE_HYPHEN.sub(r"\1\2", text)
    return " ".join(text.split())


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def contains_answer(text: str | None, golds: Iterable[str]) -> bool:
    """True if the normalised ``text`` contains any normalised, non-empty gold answer."""
    if not text:
        return False
    haystack = normalize(text)
    return any(needle and needle in haystack for needle in map(normalize, golds))


def answer_hit(answered: bool, answer: str | None, golds: Sequence[str]) -> bool:
    """The service answered (did not abstain) and its answer contains a gold answer."""
    return answered and contains_answer(answer, golds)


def doc_matches(doc_id: str, gold_docs: Sequence[str]) -> bool:
    """True if ``doc_id`` names one of ``gold_docs`` (or any doc when no gold doc is given)."""
    if not gold_docs:
        return True
    # A corpus may live in a sub-folder, so "sub/000_x.txt" still names gold "000_x.txt".
    return any(doc_id == gold or doc_id.endswith("/" + gold) for gold in gold_docs)


def first_correct_rank(
    passages: Sequence[tuple[str, str]], gold_docs: Sequence[str], golds: Sequence[str]
) -> int | None:
    """1-based rank of the first ``(doc_id, text)`` passage of a gold doc holding a gold answer."""
    if not golds:
        return None
    for rank, (doc_id, text) in enumerate(passages, start=1):
        if doc_matches(doc_id, gold_docs) and contains_answer(text, golds):
            return rank
    return None


def hit_at(rank: int | None, k: int) -> bool:
    """Retrieval hit@k given the rank of the first correct passage."""
    return rank is not None and rank <= k


def reciprocal_rank(rank: int | None, depth: int = MRR_DEPTH) -> float:
    """1/rank if the first correct passage is within ``depth``, else 0."""
    return 1.0 / rank if rank is not None and rank <= depth else 0.0


def term_overlap(question: str, sentence: str) -> float | None:
    """Share of the question's distinct content terms found in ``sentence``; None if it has none."""
    terms = set(content_terms(question))
    if not terms:
        return None
    return len(terms & set(content_terms(sentence))) / len(terms)


def top_sentence(question: str, response: dict[str, Any]) -> str | None:
    """The top-ranked passage's sentence sharing most of the question's terms (earliest on ties)."""
    passages = response.get("passages") or []
    text = (passages[0].get("text") or "") if passages else ""
    terms = set(content_terms(question))
    sentences = [text[start:end].strip() for start, end in split_sentences(text)]
    # max() keeps the first of equal scores, so ties go to the earlier sentence.
    return max(sentences, key=lambda s: len(terms & set(content_terms(s))), default=None)


def never_abstain_hit(
    abstained: bool, answer: str | None, response: dict[str, Any], golds: Sequence[str]
) -> bool | None:
    """Answer hit had the gate never abstained: the answer, else ``closest``; None if unsaid."""
    if not abstained:
        return contains_answer(answer, golds)
    if "closest" not in response:  # an older server: what it would have quoted is unknown
        return None
    return contains_answer(response["closest"], golds)


def squad_normalize(text: str) -> str:
    """Official SQuAD answer normalisation: lower, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str | None, golds: Sequence[str]) -> float:
    """SQuAD exact match, max over golds (0 for no prediction or no golds)."""
    if prediction is None or not golds:
        return 0.0
    pred = squad_normalize(prediction)
    return float(any(pred == squad_normalize(g) for g in golds))


def token_f1(prediction: str | None, golds: Sequence[str]) -> float:
    """SQuAD token F1, max over golds (0 for no prediction or no golds)."""
    if prediction is None or not golds:
        return 0.0
    return max(_f1(squad_normalize(prediction).split(), squad_normalize(g).split()) for g in golds)


def _f1(pred: list[str], gold: list[str]) -> float:
    if not pred or not gold:
        return float(pred == gold)  # both empty counts as agreement, as in the official script
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def prf(true_pos: int, false_pos: int, false_neg: int) -> dict[str, float | None]:
    """Precision, recall and F1 (``None`` where the denominator is zero)."""
    precision = true_pos / (true_pos + false_pos) if true_pos + false_pos else None
    recall = true_pos / (true_pos + false_neg) if true_pos + false_neg else None
    if precision is None or recall is None:
        f1 = None if recall is None else 0.0
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation, like numpy's default."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class Judgement:
    """The verdicts on one question, everything :func:`aggregate` needs."""

    id: str
    answerable: bool  # the gold side: does the question have an answer?
    abstained: bool
    answer_hit: bool
    rank: int | None  # first correct passage, 1-based, within the passages returned
    exact_match: float
    f1: float
    confidence: float
    citations: int
    citations_valid: int
    latency_ms: float
    server_ms: float | None
    error: str | None = None
    overlap: float | None = None  # question terms in the gold answer sentence; None: not found
    # Trivial stand-ins, judged like answer_hit; None: not measured (an older record, or an
    # abstention whose response did not say what came closest).
    baseline_top_sentence_hit: bool | None = None  # the top passage's best sentence, for the reader
    baseline_never_abstain_hit: bool | None = None  # answer or closest quote, for the answer gate
    # Whether any of the first three answers (the API's "answers") holds a gold answer; None: the
    # response gave no "answers" (an older server or record).
    answer_hit_at_3: bool | None = None

    @property
    def answered(self) -> bool:
        """The service gave an answer (no abstention, no error)."""
        return not self.abstained and self.error is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Judgement:
        """Rebuild from :meth:`to_dict` output, ignoring unknown keys."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def judge(
    *,
    qid: str,
    question: str,
    golds: Sequence[str],
    gold_docs: Sequence[str],
    response: dict[str, Any],
    citations_valid: int,
    latency_ms: float,
    overlap: float | None = None,
) -> Judgement:
    """Judge one ``POST /api/ask`` response against the gold answers and documents."""
    abstained = not response.get("answerable", False) or response.get("answer") is None
    answer = None if abstained else response.get("answer")
    # EM/F1 want the short span; an answer without one is judged on its full text.
    short = None if abstained else (response.get("short_answer") or answer)
    passages = [(p["doc_id"], p.get("text", "")) for p in response.get("passages", [])]
    timings = response.get("timings_ms") or {}
    return Judgement(
        id=qid,
        answerable=bool(golds),
        abstained=abstained,
        answer_hit=answer_hit(not abstained, answer, golds),
        rank=first_correct_rank(passages, gold_docs, golds),
        exact_match=exact_match(short, golds),
        f1=token_f1(short, golds),
        confidence=float(response.get("confidence", 0.0)),
        citations=len(response.get("citations", [])),
        citations_valid=citations_valid,
        latency_ms=latency_ms,
        server_ms=timings.get("total"),
        overlap=overlap,
        baseline_top_sentence_hit=contains_answer(top_sentence(question, response), golds),
        baseline_never_abstain_hit=never_abstain_hit(abstained, answer, response, golds),
        answer_hit_at_3=_hit_among(response, golds, 3),
    )


def _hit_among(response: dict[str, Any], golds: Sequence[str], n: int) -> bool | None:
    """Whether one of the first ``n`` answers holds a gold answer; None without ``answers``."""
    if "answers" not in response:
        return None
    return any(contains_answer(a.get("answer"), golds) for a in response["answers"][:n])


def failed(
    qid: str, answerable: bool, error: str, latency_ms: float, overlap: float | None = None
) -> Judgement:
    """The judgement of a question whose request failed: no answer, no passages."""
    return Judgement(
        id=qid, answerable=answerable, abstained=False, answer_hit=False, rank=None,
        exact_match=0.0, f1=0.0, confidence=0.0, citations=0, citations_valid=0,
        latency_ms=latency_ms, server_ms=None, error=error, overlap=overlap,
        baseline_top_sentence_hit=False, baseline_never_abstain_hit=False,
    )  # fmt: skip


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None


def reliability(judgements: Sequence[Judgement], bins: int = RELIABILITY_BINS) -> list[dict]:
    """Answered questions binned by confidence, each bin's mean confidence vs fraction of hits.

    Correct means an answer hit, so an answer to an unanswerable question is always wrong.
    """
    buckets: list[list[Judgement]] = [[] for _ in range(bins)]
    for j in judgements:
        if j.answered:
            conf = min(max(j.confidence, 0.0), 1.0)
            buckets[min(int(conf * bins), bins - 1)].append(j)
    return [
        {
            "low": i / bins,
            "high": (i + 1) / bins,
            "count": len(b),
            "confidence": _mean(j.confidence for j in b),
            "accuracy": _mean(float(j.answer_hit) for j in b),
        }
        for i, b in enumerate(buckets)
    ]


def expected_calibration_error(bins: Sequence[dict]) -> float | None:
    """Count-weighted mean gap between confidence and accuracy over reliability bins."""
    total = sum(b["count"] for b in bins)
    if not total:
        return None
    return (
        sum(b["count"] * abs(b["confidence"] - b["accuracy"]) for b in bins if b["count"]) / total
    )


def overlap_terciles(judgements: Sequence[Judgement], depth: int = 10) -> list[dict[str, Any]]:
    """Answerable questions with an overlap split by its rank into thirds, with each third's figures.

    Ties are ordered by id, so equal overlaps may fall in neighbouring thirds; under three such
    questions give no split (an empty list). The never-abstain baseline is shown only where the
    whole run's is (:func:`closest_reported`).
    """
    ranked = sorted(
        (j for j in judgements if j.answerable and j.overlap is not None),
        key=lambda j: (j.overlap, j.id),
    )
    n, parts = len(ranked), len(TERCILES)
    if n < parts:
        return []
    thirds = [ranked[i * n // parts : (i + 1) * n // parts] for i in range(parts)]
    reported = closest_reported(judgements)
    return [
        _tercile(name, third, depth, reported) for name, third in zip(TERCILES, thirds, strict=True)
    ]


def _tercile(name: str, third: Sequence[Judgement], depth: int, reported: bool) -> dict[str, Any]:
    return {
        "tercile": name,
        "count": len(third),
        "overlap_min": third[0].overlap,
        "overlap_max": third[-1].overlap,
        "answer_hit": _mean(float(j.answer_hit) for j in third),
        "false_abstain_rate": _mean(float(j.abstained) for j in third),
        "hit@5": _mean(float(hit_at(j.rank, 5)) for j in third) if depth >= 5 else None,
        "top_sentence_hit": top_sentence_answer_hit(third),
        "never_abstain_hit": never_abstain_answer_hit(third) if reported else None,
    }


def top_sentence_answer_hit(judgements: Sequence[Judgement]) -> float | None:
    """The top-sentence baseline's answer hit on the answerable questions; None if not measured."""
    hits = [j.baseline_top_sentence_hit for j in judgements if j.answerable]
    return None if None in hits else _mean(float(bool(h)) for h in hits)


def never_abstain_answer_hit(judgements: Sequence[Judgement]) -> float | None:
    """The never-abstain baseline's answer hit on the answerable questions.

    An answered question counts its own answer hit; an abstention whose response did not say what
    came closest counts as a miss (a lower bound), and when no abstention said it: None.
    """
    if not closest_reported(judgements):
        return None
    return _mean(float(_never_abstain(j)) for j in judgements if j.answerable)


def closest_reported(judgements: Sequence[Judgement]) -> bool:
    """False when responses abstained but none said what came closest (an older server)."""
    abstained = [j for j in judgements if j.abstained]
    return not abstained or any(j.baseline_never_abstain_hit is not None for j in abstained)


def _never_abstain(j: Judgement) -> bool:
    return j.answer_hit if j.answered else bool(j.baseline_never_abstain_hit)


def baselines(judgements: Sequence[Judgement]) -> dict[str, Any]:
    """The trivial stand-ins' figures: neither abstains, so both are wrong on every unanswerable."""
    answerable = [j for j in judgements if j.answerable]
    return {
        "top_sentence_answer_hit": top_sentence_answer_hit(judgements),
        "never_abstain_answer_hit": never_abstain_answer_hit(judgements),
        # Answerable abstentions with no closest quote: each counted as a miss above.
        "never_abstain_unknown": sum(
            j.abstained and j.baseline_never_abstain_hit is None for j in answerable
        ),
        "abstain_rate": 0.0 if len(answerable) < len(judgements) else None,
        "false_abstain_rate": 0.0 if answerable else None,
    }


def _latency(values: Sequence[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "mean": _mean(values),
    }


def abstention_curve(
    answerable: Sequence[Judgement], unanswerable: Sequence[Judgement], steps: int = 40
) -> list[dict[str, float | None]] | None:
    """Abstention precision, recall and F1 had the service abstained below each threshold of
    confidence (0 to 1 in ``steps``): the operating points the answer gate could have had.
    None without both kinds of question.
    """
    if not answerable or not unanswerable:
        return None
    points = []
    for i in range(steps + 1):
        t = i / steps
        tp = sum(j.confidence < t for j in unanswerable)
        fp = sum(j.confidence < t for j in answerable)
        points.append({"threshold": t, **prf(tp, fp, len(unanswerable) - tp)})
    return points


def aggregate(
    judgements: Sequence[Judgement],
    *,
    wall_s: float | None = None,
    completed: int | None = None,
    depth: int = 10,
) -> dict[str, Any]:
    """All figures of a run; rates are fractions in [0, 1], ``None`` where undefined.

    Throughput is ``completed`` questions (default: all judged) over ``wall_s`` seconds.
    ``depth`` is how many passages were requested: hit@k beyond it was not measured (None).
    """
    answerable = [j for j in judgements if j.answerable]
    unanswerable = [j for j in judgements if not j.answerable]
    answered_ok = [j for j in answerable if j.answered]
    ranks = [j.rank for j in answerable]
    curve = [
        _mean(float(hit_at(r, k)) for r in ranks) if k <= depth else None
        for k in range(1, max(depth, max(HIT_AT_K)) + 1)
    ]
    tp = sum(j.abstained for j in unanswerable)
    fp = sum(j.abstained for j in answerable)
    abstention = prf(tp, fp, len(unanswerable) - tp)
    never = prf(len(unanswerable), len(answerable), 0)  # abstains on everything
    bins = reliability(judgements)
    cited = sum(j.citations for j in judgements)
    ok = [j for j in judgements if j.error is None]
    server = [j.server_ms for j in ok if j.server_ms is not None]
    timed = len(judgements) if completed is None else completed
    return {
        "counts": {
            "questions": len(judgements),
            "answerable": len(answerable),
            "unanswerable": len(unanswerable),
            "answered": sum(j.answered for j in judgements),
            "abstained": sum(j.abstained for j in judgements),
            "errors": sum(j.error is not None for j in judgements),
        },
        "answer": {
            "hit": _mean(float(j.answer_hit) for j in answerable),
            "hit@3": _mean(
                float(j.answer_hit_at_3) for j in answerable if j.answer_hit_at_3 is not None
            ),
            "hit_when_answered": _mean(float(j.answer_hit) for j in answered_ok),
            "em_answered": _mean(j.exact_match for j in answered_ok),
            "f1_answered": _mean(j.f1 for j in answered_ok),
            "em_all": _mean(j.exact_match for j in answerable),
            "f1_all": _mean(j.f1 for j in answerable),
        },
        "retrieval": {
            **{f"hit@{k}": curve[k - 1] for k in HIT_AT_K},
            f"mrr@{MRR_DEPTH}": _mean(reciprocal_rank(r) for r in ranks),
            "hit_at_k": curve,
        },
        "abstention": {
            "abstain_rate": _mean(float(j.abstained) for j in unanswerable),
            "false_abstain_rate": _mean(float(j.abstained) for j in answerable),
            **abstention,
            "baseline_always_answer_f1": 0.0 if unanswerable else None,
            "baseline_never_answer_f1": never["f1"],
            "curve": abstention_curve(answerable, unanswerable),
        },
        "baselines": baselines(judgements),
        "citations": {
            "total": cited,
            "valid": sum(j.citations_valid for j in judgements),
            "validity": sum(j.citations_valid for j in judgements) / cited if cited else None,
            "answers_without_citation": sum(j.answered and not j.citations for j in judgements),
        },
        "calibration": {"ece": expected_calibration_error(bins), "bins": bins},
        "overlap_terciles": overlap_terciles(judgements, depth),
        "latency": {
            "client_ms": _latency([j.latency_ms for j in ok]),
            "server_ms": _latency(server),
            "wall_s": wall_s,
            "completed": timed,
            "throughput_qps": timed / wall_s if wall_s else None,
        },
    }
