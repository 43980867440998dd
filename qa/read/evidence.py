"""What the reader knows of one candidate sentence: its features and its score."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Evidence:
    """A candidate sentence's features and score (kept for diagnostics and model fitting)."""

    sentence_id: int
    score: float
    rank: int
    features: Mapping[str, float]
