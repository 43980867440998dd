"""The reader's two linear models: how to rank candidate sentences, and how sure to be of the best.

Both read the same named features (see ``FEATURES``). The weights live in a JSON file shipped with
the package (``reader_model.json``), fitted by ``scripts/train_reader.py`` on SQuAD articles and
held out from the articles it is measured on; ``HAND_SET`` are the weights chosen by hand on the
development set before any fitting, kept as the fallback and the baseline.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from qa.errors import InvalidSetting

FEATURES = (
    "dense",  # cosine similarity of the question's and the sentence's embeddings
    "dense_titled",  # ... the sentence's headed by its document's title
    "cover",  # IDF-weighted share of the question's terms in the sentence
    "window",  # ... in the sentence, its neighbours and the document title
    "related",  # ... missing from those, but linked in WordNet to one of their words
    "bigram",  # share of the question's adjacent term pairs found adjacent in the sentence
    "novelty",  # share of the sentence's terms the question lacks (an answer adds something)
    "inv_rank",  # 1 / rank of the best passage holding the sentence
    "passage",  # that passage's fused retrieval score / the top passage's
    "strict_hit",  # a strictly typed question (when, how many...) and a span of that type
    "strict_miss",  # ... and no such span
    "soft_hit",  # a "which" question and a name span the question lacks
    "length",  # words in the sentence / 60, capped at 1
)
CONFIDENCE_FEATURES = (*FEATURES, "margin")  # margin: best score minus the runner-up's
GATE_FEATURES = (
    *CONFIDENCE_FEATURES,
    "cross",  # the cross-encoder's logit for the chosen sentence
    "cross_margin",  # ... less the best logit among the other sentences reread
    "linear",  # the chosen sentence's linear ranking score
    "agree",  # 1 when the linear ranker's best is also the sentence chosen after the reread
    "known",  # IDF share of the question's words (or a WordNet relative) found in the collection
)
# What the shipped gate weighs: meaning (embedding similarity, the cross-encoder's reading, the
# answer type) and agreement between rankings, not shared words. SQuAD's questions, which it is
# fitted on, were written beside their paragraph and share its words; a gate that learns to
# trust overlap there abstains on questions people word their own way. The passage's rank is
# left out too: the fit hides gold passages to make unanswerable questions, which shifts ranks.
# "known" counts words too, but anywhere in the collection, not in the sentence: whether the
# question is about what the documents hold at all.
MEANING_FEATURES = (
    "dense",
    "dense_titled",
    "strict_hit",
    "strict_miss",
    "soft_hit",
    "passage",
    "cross",
    "cross_margin",
    "agree",
    "known",
)
DEFAULT_FILE = "reader_model.json"
# As fitted for the shipped cross-encoder (scripts/train_reranker.py), for files that predate it.
DEFAULT_RERANK = {"depth": 5, "cross": 1.0, "linear": 0.55}


@dataclass(frozen=True)
class Gate:
    """Whether to answer, once the cross-encoder has reread the candidates: a logistic model
    over ``GATE_FEATURES`` of the chosen sentence; abstain below ``threshold``.
    """

    weights: Mapping[str, float]
    bias: float
    threshold: float = 0.5

    def confidence(self, features: Mapping[str, float]) -> float:
        """Probability that the chosen sentence answers the question."""
        return _logistic(self.bias + sum(w * features.get(n, 0.0) for n, w in self.weights.items()))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Gate:
        unknown = set(data["weights"]) - set(GATE_FEATURES)
        if unknown:
            raise InvalidSetting(f"answer gate names unknown features: {sorted(unknown)}")
        return cls(dict(data["weights"]), float(data["bias"]), float(data.get("threshold", 0.5)))


def _logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True)
class ReaderModel:
    """Weights for sentence ranking and for the answer's confidence; abstain below ``threshold``."""

    score_weights: Mapping[str, float]
    confidence_weights: Mapping[str, float]
    confidence_bias: float
    threshold: float = 0.5
    provenance: Mapping[str, Any] = field(default_factory=dict)
    # With a cross-encoder: how many of the linear ranker's best sentences it rereads, and the
    # final score = cross * its logit + linear * the linear score; the logit no sentence is
    # expected to pass ("ceiling"), and from each linear rank on ("ceilings", a list).
    rerank: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_RERANK))
    # With a cross-encoder: the answer gate read after the reread (None: the confidence model
    # above decides before it).
    gate: Gate | None = None

    def score(self, features: Mapping[str, float]) -> float:
        """Ranking score of one candidate sentence (higher is better)."""
        return sum(w * features.get(name, 0.0) for name, w in self.score_weights.items())

    def confidence(self, features: Mapping[str, float]) -> float:
        """Probability that the chosen sentence answers the question."""
        return _logistic(
            self.confidence_bias
            + sum(w * features.get(name, 0.0) for name, w in self.confidence_weights.items())
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReaderModel:
        unknown = (set(data["score_weights"]) | set(data["confidence_weights"])) - set(
            CONFIDENCE_FEATURES
        )
        if unknown:
            raise InvalidSetting(f"reader model names unknown features: {sorted(unknown)}")
        return cls(
            score_weights=dict(data["score_weights"]),
            confidence_weights=dict(data["confidence_weights"]),
            confidence_bias=float(data["confidence_bias"]),
            threshold=float(data.get("threshold", 0.5)),
            provenance=dict(data.get("provenance", {})),
            rerank={**DEFAULT_RERANK, **data.get("rerank", {})},
            gate=Gate.from_dict(data["gate"]) if data.get("gate") else None,
        )

    @classmethod
    def load(cls, path: Path | None = None) -> ReaderModel:
        """The model in ``path``, else the packaged one, else ``HAND_SET``."""
        if path is not None:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        packaged = resources.files("qa").joinpath(DEFAULT_FILE)
        if packaged.is_file():
            return cls.from_dict(json.loads(packaged.read_text(encoding="utf-8")))
        return HAND_SET


# Chosen by hand on the development set (36 questions) before any fitting.
HAND_SET = ReaderModel(
    score_weights={
        "dense": 1.0,
        "cover": 1.0,
        "window": 0.5,
        "strict_hit": 0.35,
        "soft_hit": 0.0875,
        "inv_rank": 0.1,
    },
    confidence_weights={"window": 6.0, "dense": 4.0, "strict_hit": 0.5, "strict_miss": -2.5},
    confidence_bias=-4.7,
    threshold=0.5,
    provenance={"fitted": False, "note": "hand-set on the seeds development set"},
)
