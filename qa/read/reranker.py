"""A cross-encoder that reads a question and a candidate sentence together and scores the pair.

The bi-encoder embeds question and sentence apart, so it cannot tell the sentence that names the
game from the one that says who won it; reading both at once can. The model is the bundled
all-MiniLM-L6-v2 fine-tuned on SQuAD v1.1 questions of the fit articles (``scripts/train_reranker.py``):
the mean of its last hidden states over the pair, then one linear unit. It lives in a folder:
``config.json`` and ``model.safetensors`` (the encoder), the tokenizer's files, and ``head.json``.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import DependencyMissing

HEAD_FILE = "head.json"
MAX_TOKENS = 128  # a question and one sentence; the longer of the two is cut from its end
MAX_SPAN_TOKENS = 30  # the longest short answer the span head may pick


@dataclass(frozen=True)
class AnswerSpan:
    """Where the span head puts the answer in a passage: ``passage[start:end]``."""

    start: int
    end: int
    score: float  # start logit + end logit


class CrossEncoder:
    """Scores (question, passage) pairs; higher means the passage more likely answers."""

    def __init__(self, folder: Path) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        folder = Path(folder)
        if not (folder / HEAD_FILE).is_file():
            raise DependencyMissing(
                f"no cross-encoder in {folder} (no {HEAD_FILE}); train one with "
                "`make reranker`, or set QA_RERANKER=off to rank with the linear model alone"
            )
        import torch
        from transformers import AutoModel, AutoTokenizer

        self._torch = torch
        # The Rust tokenizer refuses concurrent calls ("Already borrowed"); the server and the
        # evaluator answer on several threads. Tokenizing takes well under a millisecond.
        self._tokenizer_lock = threading.Lock()
        self._tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self._encoder = AutoModel.from_pretrained(
            str(folder), local_files_only=True, dtype=torch.float32
        ).eval()
        head = json.loads((folder / HEAD_FILE).read_text(encoding="utf-8"))
        self._weight = torch.tensor(head["weight"], dtype=torch.float32)
        self._bias = float(head["bias"])
        self._span_weight = (
            torch.tensor(head["span_weight"], dtype=torch.float32).T
            if "span_weight" in head
            else None
        )
        self._span_bias = torch.tensor(head.get("span_bias", [0.0, 0.0]), dtype=torch.float32)
        self.provenance = head.get("provenance", {})

    @property
    def reads_spans(self) -> bool:
        """Whether this model has a span head (older ones only score)."""
        return self._span_weight is not None

    def score(self, question: str, passages: Sequence[str]) -> np.ndarray:
        """One score (a logit) per passage."""
        return self.read(question, passages, spans=False)[0]

    def read(
        self,
        question: str,
        passages: Sequence[str],
        from_chars: Sequence[int] | None = None,
        *,
        spans: bool = True,
    ) -> tuple[np.ndarray, list[AnswerSpan | None]]:
        """A logit per passage, and where in each the span head puts the answer (at or after
        character ``from_chars[i]``: a title heading the passage is not an answer); no spans
        without a span head, or when ``spans`` is false (scoring only).
        """
        spans = spans and self.reads_spans
        if not passages:
            return np.zeros(0, dtype=np.float32), []
        torch = self._torch
        with self._tokenizer_lock:
            encoded = self._tokenizer(
                [question] * len(passages),
                list(passages),
                padding=True,
                truncation="longest_first",
                max_length=MAX_TOKENS,
                return_offsets_mapping=spans,
                return_tensors="pt",
            )
        offsets = encoded.pop("offset_mapping", None)
        with torch.inference_mode():
            hidden = self._encoder(**encoded).last_hidden_state
            logits = mean_pool(hidden, encoded["attention_mask"]) @ self._weight + self._bias
            if not spans:
                return logits.numpy().astype(np.float32), [None] * len(passages)
            ends = (hidden @ self._span_weight + self._span_bias).numpy()
        found = [
            best_span(
                ends[i, :, 0],
                ends[i, :, 1],
                offsets[i].tolist(),
                [sid == 1 for sid in encoded.sequence_ids(i)],  # the passage's tokens
                from_chars[i] if from_chars else 0,
            )
            for i in range(len(passages))
        ]
        return logits.numpy().astype(np.float32), found


def best_span(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: Sequence[Sequence[int]],
    in_passage: Sequence[bool],
    from_char: int,
) -> AnswerSpan | None:
    """The highest-scoring token span (start ≤ end, at most ``MAX_SPAN_TOKENS``) of passage
    tokens that start at or after ``from_char``, in characters of the passage.
    """
    usable = [
        t
        for t, ((a, b), ok) in enumerate(zip(offsets, in_passage, strict=True))
        if ok and b > a and a >= from_char
    ]
    if not usable:
        return None
    idx = np.array(usable)
    scores = start_logits[idx][:, None] + end_logits[idx][None, :]
    gaps = idx[None, :] - idx[:, None]
    scores = np.where((gaps >= 0) & (gaps < MAX_SPAN_TOKENS), scores, -np.inf)
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return AnswerSpan(offsets[idx[i]][0], offsets[idx[j]][1], float(scores[i, j]))


def mean_pool(hidden, attention_mask):
    """The mean of each sequence's hidden states over its real tokens (padding left out)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1)


PACKAGED = Path(__file__).resolve().parent.parent / "models" / "cross-encoder"  # qa/models/
OFF = "off"


@functools.lru_cache(maxsize=4)  # one copy per process, however often an index reloads
def load_cross_encoder(setting: str) -> CrossEncoder | None:
    """The cross-encoder a ``QA_RERANKER`` setting names.

    Empty: the packaged one (none if the package lacks it: ranking falls back to the linear
    model); ``off``: none; anything else: a folder, which must hold one.
    """
    if setting.strip().lower() == OFF:
        return None
    if not setting.strip():
        return CrossEncoder(PACKAGED) if (PACKAGED / HEAD_FILE).is_file() else None
    return CrossEncoder(Path(setting).expanduser())
