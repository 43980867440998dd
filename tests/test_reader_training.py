"""The reader's fitting code on made-up candidates whose answer one feature gives away."""

from __future__ import annotations

import numpy as np

from qa.read.reader_model import CONFIDENCE_FEATURES, FEATURES
from qa.train.reader_training import (
    Candidates,
    confidence_rows,
    fit_confidence,
    fit_ranker,
    ranking_accuracy,
)


def _groups(n: int, seed: int = 0) -> list[Candidates]:
    """Questions of 6 candidates each; the answer-bearing one has the highest "cover"."""
    rng = np.random.default_rng(seed)
    cover = FEATURES.index("cover")
    groups = []
    for _ in range(n):
        features = rng.normal(size=(6, len(FEATURES)))
        labels = np.zeros(6, dtype=bool)
        labels[int(np.argmax(features[:, cover]))] = True
        groups.append(Candidates(True, features, labels))
    return groups


def test_fitted_ranker_learns_the_telling_feature() -> None:
    weights = fit_ranker(_groups(200))
    assert set(weights) == set(FEATURES)
    assert weights["cover"] == max(weights.values()) > 0
    assert ranking_accuracy(_groups(100, seed=1), weights) > 0.95
    assert ranking_accuracy(_groups(100, seed=1), {"length": 1.0}) < 0.5


def test_confidence_rows_hold_the_chosen_sentence_and_whether_it_is_right() -> None:
    groups = _groups(50)
    unanswerable = Candidates(False, groups[0].features, np.zeros(6, dtype=bool))
    x, right = confidence_rows([*groups, unanswerable], {"cover": 1.0})
    assert x.shape == (51, len(CONFIDENCE_FEATURES))
    assert right[:50].all() and not right[50]
    assert (x[:, -1] >= 0).all()  # the margin over the runner-up
    weights, bias = fit_confidence(x, right)
    assert set(weights) == set(CONFIDENCE_FEATURES) and isinstance(bias, float)


def test_fitted_gate_reads_only_meaning_features_and_honours_row_weights() -> None:
    from qa.read.reader_model import GATE_FEATURES, MEANING_FEATURES
    from qa.train.reader_training import fit_gate

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, len(GATE_FEATURES)))
    cross, window = GATE_FEATURES.index("cross"), GATE_FEATURES.index("window")
    y = x[:, cross] + 0.3 * rng.normal(size=400) > 0
    x[:, window] = y * 2.0  # shared words give the answer away here, and must not be used
    gate = fit_gate(x, y)
    assert set(gate.weights) == set(MEANING_FEATURES) and gate.weights["cross"] > 1.0
    sure = [gate.confidence(dict(zip(GATE_FEATURES, r, strict=True))) for r in x]
    assert np.mean((np.array(sure) >= gate.threshold) == y) > 0.9
    # Rows weighted up pull the bias their way: mostly-negative heavy rows lower confidence.
    heavy = np.where(y, 0.1, 10.0)
    assert fit_gate(x, y, heavy).bias < gate.bias


def test_gate_calibrated_on_some_rows_reports_their_odds_and_keeps_the_others_ranking() -> None:
    from qa.read.reader_model import GATE_FEATURES
    from qa.train.reader_training import fit_gate

    rng = np.random.default_rng(1)
    n = 2000
    x = rng.normal(size=(n, len(GATE_FEATURES)))
    cross, dense = GATE_FEATURES.index("cross"), GATE_FEATURES.index("dense")
    # The first half: mostly right, told apart by "cross". The second: always wrong (questions
    # that have no answer), told apart by a low "dense".
    y = np.zeros(n, dtype=bool)
    y[: n // 2] = x[: n // 2, cross] + 0.5 * rng.normal(size=n // 2) > -1.0
    x[n // 2 :, dense] -= 1.5
    first = np.arange(n) < n // 2

    def sure(gate):
        return np.array([gate.confidence(dict(zip(GATE_FEATURES, r, strict=True))) for r in x])

    mixed = fit_gate(x, y)
    calibrated = fit_gate(x, y, calibrating=first)
    # Fitted on the mix, the first half's confidence is pulled down toward the mix's odds;
    # calibrated on it, its mean confidence matches its share of right quotes.
    assert sure(mixed)[first].mean() < y[first].mean() - 0.1
    assert abs(sure(calibrated)[first].mean() - y[first].mean()) < 0.03
    # The second half still taught the gate that a low "dense" means no answer.
    assert calibrated.weights["dense"] > 0.3
    assert sure(calibrated)[~first].mean() < sure(calibrated)[first].mean() - 0.2
