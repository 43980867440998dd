"""A cross-encoder that reads a question and a candidate sentence together and scores the pair.

The bi-encoder embeds question and sentence apart, so it cannot tell the sentence that names the
game from the one that says who won it; reading both at once can. The model is the bundled
all-MiniLM-L6-v2 fine-tuned on SQuAD v1.1 questions of the fit articles (``scripts/train_reranker.py``):
the mean of its last hidden states over the pair, then one linear unit. It lives in a folder:
``config.json`` and ``model.safetensors`` (the encoder), the tokenizer's files, and ``head.json``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa.errors import DependencyMissing

HEAD_FILE = "head.json"
MAX_TOKENS = 128  # a question and one sentence; the longer of the two is cut from its end


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
        self.provenance = head.get("provenance", {})

    def score(self, question: str, passages: Sequence[str]) -> np.ndarray:
        """One score (a logit) per passage."""
        if not passages:
            return np.zeros(0, dtype=np.float32)
        torch = self._torch
        with self._tokenizer_lock:
            encoded = self._tokenizer(
                [question] * len(passages),
                list(passages),
                padding=True,
                truncation="longest_first",
                max_length=MAX_TOKENS,
                return_tensors="pt",
            )
        with torch.inference_mode():
            hidden = self._encoder(**encoded).last_hidden_state
            logits = mean_pool(hidden, encoded["attention_mask"]) @ self._weight + self._bias
        return logits.numpy().astype(np.float32)


def mean_pool(hidden, attention_mask):
    """The mean of each sequence's hidden states over its real tokens (padding left out)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1)


PACKAGED = Path(__file__).resolve().parent / "models" / "cross-encoder"
OFF = "off"


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
