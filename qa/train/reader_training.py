"""Fitting the reader model on SQuAD questions: a sentence ranker and an answer-confidence model.

Both are logistic regressions over the reader's named features. The ranker learns which sentence
holds the answer (label: the sentence contains a gold answer, judged as in evaluation); the
confidence model learns whether the chosen sentence is right, from answerable and unanswerable
questions alike, so its output is a calibrated probability and 0.5 is the natural threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression
from tqdm import tqdm

from qa.eval.evaluation import contains_answer
from qa.eval.questions import Question
from qa.pipeline import QAPipeline
from qa.read.reader_model import (
    CONFIDENCE_FEATURES,
    FEATURES,
    GATE_FEATURES,
    HAND_SET,
    MEANING_FEATURES,
    Gate,
)


@dataclass(frozen=True)
class Candidates:
    """One question's candidate sentences: a feature matrix and which rows hold a gold answer."""

    answerable: bool
    features: np.ndarray  # (n, len(FEATURES))
    labels: np.ndarray  # (n,) bool


def collect(
    pipeline: QAPipeline, questions: Sequence[Question], progress: bool = True
) -> list[Candidates]:
    """Run retrieval and feature extraction for each question (no model scoring involved)."""
    groups = []
    for q in tqdm(questions, desc="features", disable=not progress, unit="q"):
        rows = pipeline.reader_candidates(q.question)
        if not rows:
            continue
        features = np.array([[e.features[name] for name in FEATURES] for e, _ in rows])
        labels = np.array([q.answerable and contains_answer(text, q.answers) for _, text in rows])
        groups.append(Candidates(q.answerable, features, labels))
    return groups


def fit_ranker(groups: Sequence[Candidates], l2: float = 1e-3) -> dict[str, float]:
    """Weights of a conditional logit: a softmax over each question's candidate sentences that
    puts the most probability on the answer-bearing ones (answerable questions only).

    Listwise, because the reader keeps only its top sentence: classifying each sentence on its own
    (plain logistic regression) ranked worse than the hand-set weights even on its own data.
    """
    usable = [g for g in groups if g.answerable and g.labels.any()]
    start = np.array([HAND_SET.score_weights.get(name, 0.0) for name in FEATURES])

    def loss_and_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = l2 * float(w @ w), 2 * l2 * w
        for g in usable:
            scores = g.features @ w
            p_all = _softmax(scores)
            p_pos = _softmax(scores[g.labels])
            loss += _logsumexp(scores) - _logsumexp(scores[g.labels])
            grad += p_all @ g.features - p_pos @ g.features[g.labels]
        return loss / len(usable), grad / len(usable)

    result = minimize(loss_and_grad, start, jac=True, method="L-BFGS-B")
    return {name: round(float(w), 4) for name, w in zip(FEATURES, result.x, strict=True)}


def _logsumexp(x: np.ndarray) -> float:
    top = float(x.max())
    return top + float(np.log(np.exp(x - top).sum()))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def confidence_rows(
    groups: Sequence[Candidates], ranker: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """For each question, the chosen sentence's features plus its margin, and whether it is right."""
    weights = np.array([ranker.get(name, 0.0) for name in FEATURES])
    rows, labels = [], []
    for g in groups:
        scores = g.features @ weights
        order = np.argsort(-scores)
        best = order[0]
        margin = scores[best] - scores[order[1]] if len(order) > 1 else 1.0
        rows.append([*g.features[best], min(float(margin), 1.0)])
        labels.append(bool(g.answerable and g.labels[best]))
    return np.array(rows), np.array(labels)


def fit_confidence(x: np.ndarray, y: np.ndarray) -> tuple[dict[str, float], float]:
    model = LogisticRegression(C=1.0, max_iter=2000).fit(x, y)
    weights = {
        n: round(float(w), 4) for n, w in zip(CONFIDENCE_FEATURES, model.coef_[0], strict=True)
    }
    return weights, round(float(model.intercept_[0]), 4)


def ranking_accuracy(groups: Sequence[Candidates], ranker: dict[str, float]) -> float:
    """Share of answerable questions whose top-scored sentence holds a gold answer."""
    _, right = confidence_rows([g for g in groups if g.answerable], ranker)
    return float(right.mean()) if len(right) else 0.0


def gate_rows(
    pipeline: QAPipeline,
    questions: Sequence[Question],
    progress: bool = True,
    without_gold: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """For each question, the gate's features of the sentence the reader would quote after the
    cross-encoder's reread, and whether the quoted text holds a gold answer (never, for an
    unanswerable question). ``without_gold`` hides the question's gold documents from the
    reader: the answer is then (almost always) not there, while the rest of its article is.
    """
    rows, labels = [], []
    for q in tqdm(questions, desc="gate features", disable=not progress, unit="q"):
        without = frozenset(q.docs) if without_gold else frozenset()
        candidate = pipeline.gate_candidate(q.question, without)
        if candidate is None:
            continue
        features, text = candidate
        rows.append([features.get(name, 0.0) for name in GATE_FEATURES])
        labels.append(q.answerable and contains_answer(text, q.answers))
    return np.array(rows), np.array(labels)


def fit_gate(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
    features: Sequence[str] = MEANING_FEATURES,
    threshold: float = 0.5,
    calibrating: np.ndarray | None = None,
) -> Gate:
    """A logistic answer gate over ``features`` (columns of ``x`` are ``GATE_FEATURES``; rows
    weighted by ``weights``): its output is the probability that the quoted text holds the answer.

    ``calibrating`` (a row mask): the rows whose odds of a right quote the output should match.
    The features' directions are fitted on every row; then one scale and offset of the gate's
    logit on these rows alone (Platt scaling). Rows left out still teach which features tell
    right from wrong, without moving the probabilities the service reports toward their mix.
    """
    weights = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    columns = [GATE_FEATURES.index(name) for name in features]
    model = LogisticRegression(C=1.0, max_iter=5000).fit(x[:, columns], y, sample_weight=weights)
    coef, bias = model.coef_[0], float(model.intercept_[0])
    if calibrating is not None:
        logit = x[calibrating][:, columns] @ coef + bias
        platt = LogisticRegression(C=1e6, max_iter=5000).fit(
            logit[:, None], y[calibrating], sample_weight=weights[calibrating]
        )
        scale, offset = float(platt.coef_[0][0]), float(platt.intercept_[0])
        coef, bias = coef * scale, bias * scale + offset
    named = {n: round(float(w), 4) for n, w in zip(features, coef, strict=True)}
    return Gate(named, round(bias, 4), threshold)
