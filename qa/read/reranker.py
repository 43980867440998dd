"""A cross-encoder that reads a question and a candidate sentence together and scores the pair.

The bi-encoder embeds question and sentence apart, so it cannot tell the sentence that names the
game from the one that says who won it; reading both at once can. The model is the bundled
all-MiniLM-L6-v2 fine-tuned on SQuAD v1.1 questions of the fit articles (``scripts/train_reranker.py``):
the mean of its last hidden states over the pair, then one linear unit. It lives in a folder:
``config.json`` and ``model.safetensors`` (the encoder), the tokenizer's files, and ``head.json``.
The encoder runs on ONNX Runtime or on torch (``qa.runtime``); the heads are read in numpy.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa import runtime as rt
from qa.errors import DependencyMissing

log = logging.getLogger(__name__)

HEAD_FILE = "head.json"
MAX_TOKENS = 128  # a question and one sentence; the longer of the two is cut from its end
# A model trained with the sentence before each candidate (``head.json``'s "context_sentences";
# ``qa.text.in_context``) reads longer pairs: cut at 128, the candidate itself, which ends the
# passage, lost its end.
CONTEXT_MAX_TOKENS = 192
MAX_SPAN_TOKENS = 30  # the longest short answer the span head may pick


def max_tokens(context_sentences: int) -> int:
    """The longest pair a model reads (and is trained on): longer with a sentence of context."""
    return CONTEXT_MAX_TOKENS if context_sentences else MAX_TOKENS


@dataclass(frozen=True)
class AnswerSpan:
    """Where the span head puts the answer in a passage: ``passage[start:end]``."""

    start: int
    end: int
    score: float  # start logit + end logit


@dataclass(frozen=True)
class _Pairs:
    """A tokenized, padded batch of (question, passage) pairs through the encoder."""

    hidden: np.ndarray  # float32 [pairs, tokens, hidden]
    mask: np.ndarray  # [pairs, tokens], 1 for real tokens
    offsets: list[list[tuple[int, int]]] | None  # per token, in characters of its own text
    in_passage: list[list[bool]] | None  # per token: whether it is the passage's


class _PairEncoder(Protocol):
    runtime: str

    def encode(self, question: str, passages: list[str], spans: bool) -> _Pairs: ...


class CrossEncoder:
    """Scores (question, passage) pairs; higher means the passage more likely answers."""

    def __init__(self, folder: Path, runtime: rt.EncoderRuntime | None = None) -> None:
        """The model in ``folder`` on ``runtime`` (torch if none is given; on torch, with a
        warning, where ONNX Runtime cannot run it)."""
        folder = Path(folder)
        if not (folder / HEAD_FILE).is_file():
            raise DependencyMissing(
                f"no cross-encoder in {folder} (no {HEAD_FILE}); train one with "
                "`make reranker`, or set QA_RERANKER=off to rank with the linear model alone"
            )
        runtime = runtime or rt.EncoderRuntime()
        head = json.loads((folder / HEAD_FILE).read_text(encoding="utf-8"))
        # How many sentences before a candidate head it when this model reads it (0 or 1).
        self.context_sentences = int(head.get("context_sentences", 0))
        limit = max_tokens(self.context_sentences)
        self._pairs: _PairEncoder | None = None
        if runtime.kind == rt.ONNX:
            try:
                self._pairs = _OnnxPairs(folder, runtime, limit)
            except rt.OnnxUnavailable as exc:
                log.warning("qa: the cross-encoder runs on torch: %s", exc)
        if self._pairs is None:
            self._pairs = _TorchPairs(folder, limit)
        self.runtime = self._pairs.runtime
        self._weight = np.asarray(head["weight"], dtype=np.float32)
        self._bias = np.float32(head["bias"])
        self._span_weight = (
            np.asarray(head["span_weight"], dtype=np.float32).T if "span_weight" in head else None
        )
        self._span_bias = np.asarray(head.get("span_bias", [0.0, 0.0]), dtype=np.float32)
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
        assert self._pairs is not None
        pairs = self._pairs.encode(question, list(passages), spans)
        pooled = rt.mean_pool(pairs.hidden, pairs.mask)
        logits = (pooled @ self._weight + self._bias).astype(np.float32)
        if not spans:
            return logits, [None] * len(passages)
        assert pairs.offsets is not None and pairs.in_passage is not None
        ends = pairs.hidden @ self._span_weight + self._span_bias
        found = [
            best_span(
                ends[i, :, 0],
                ends[i, :, 1],
                pairs.offsets[i],
                pairs.in_passage[i],
                from_chars[i] if from_chars else 0,
            )
            for i in range(len(passages))
        ]
        return logits, found


class _TorchPairs:
    """The encoder through transformers on torch."""

    runtime = rt.TORCH

    def __init__(self, folder: Path, limit: int = MAX_TOKENS) -> None:
        self._limit = limit
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        import torch
        from transformers import AutoModel, AutoTokenizer

        rt.use_threads_in_torch()
        self._torch = torch
        # The Rust tokenizer refuses concurrent calls ("Already borrowed"); the server and the
        # evaluator answer on several threads. Tokenizing takes well under a millisecond.
        self._tokenizer_lock = threading.Lock()
        self._tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self._encoder = AutoModel.from_pretrained(
            str(folder), local_files_only=True, dtype=torch.float32
        ).eval()

    def encode(self, question: str, passages: list[str], spans: bool) -> _Pairs:
        with self._tokenizer_lock:
            encoded = self._tokenizer(
                [question] * len(passages),
                passages,
                padding=True,
                truncation="longest_first",
                max_length=self._limit,
                return_offsets_mapping=spans,
                return_tensors="pt",
            )
        offsets = encoded.pop("offset_mapping", None)
        with self._torch.inference_mode():
            hidden = self._encoder(**encoded).last_hidden_state.numpy()
        return _Pairs(
            hidden,
            encoded["attention_mask"].numpy(),
            [[(a, b) for a, b in row] for row in offsets.tolist()] if spans else None,
            [[sid == 1 for sid in encoded.sequence_ids(i)] for i in range(len(passages))]
            if spans
            else None,
        )


class _OnnxPairs:
    """The encoder on ONNX Runtime, tokenized with the tokenizers library (no torch)."""

    def __init__(self, folder: Path, runtime: rt.EncoderRuntime, limit: int = MAX_TOKENS) -> None:
        from tokenizers import Tokenizer

        self._encoder = rt.OnnxEncoder(
            rt.onnx_model(folder, int8=runtime.int8, cache=runtime.cache)
        )
        self.runtime = runtime.label
        # Configured once and only read after: threads may share it (transformers reconfigures
        # its tokenizer on every call, hence the torch path's lock).
        self._tokenizer: Any = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(limit, strategy="longest_first")
        self._tokenizer.enable_padding()  # to the longest pair of the batch

    def encode(self, question: str, passages: list[str], spans: bool) -> _Pairs:
        encodings = self._tokenizer.encode_batch([(question, p) for p in passages])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        type_ids = np.array([e.type_ids for e in encodings], dtype=np.int64)
        # One pair per run, unpadded. int8 dynamic quantisation scales each activation tensor by
        # its largest value, so in a batch a pair's logit moved with its batch-mates and their
        # padding (by up to 1.1 on the seeds questions); alone it is its own, and no work goes
        # into padding pairs of 20 to 120 tokens to the longest. SQuAD v1.1 calibration fifth:
        # top sentence .888 -> .889; held-out v1.1 p50 75 -> 58 ms.
        rows = [
            self._encoder.run(ids[i : i + 1, :n], mask[i : i + 1, :n], type_ids[i : i + 1, :n])[0]
            for i, n in enumerate(mask.sum(axis=1))
        ]
        hidden = np.zeros((*ids.shape, rows[0].shape[-1]), dtype=np.float32)
        for i, row in enumerate(rows):
            hidden[i, : len(row)] = row
        return _Pairs(
            hidden,
            mask,
            [e.offsets for e in encodings] if spans else None,
            [[sid == 1 for sid in e.sequence_ids] for e in encodings] if spans else None,
        )


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
# A 3-layer student of the packaged model (``qa.train.distillation``): half the CPU a question.
PACKAGED_FAST = PACKAGED.parent / "cross-encoder-fast"
OFF = "off"
FAST = "fast"
# The reader model fitted with a cross-encoder (its mix with the linear score, its ceiling and
# the answer gate read its logits), kept in the cross-encoder's folder where it is not the
# packaged one: a folder and the numbers fitted on its scores travel together.
FITTED_READER_MODEL = "reader_model.json"


def reranker_folder(setting: str) -> Path | None:
    """The folder a ``QA_RERANKER`` setting names: None for ``off``; empty is the packaged
    model, ``fast`` its 3-layer student, anything else a folder path."""
    name = setting.strip()
    if name.lower() == OFF:
        return None
    if not name:
        return PACKAGED
    if name.lower() == FAST:
        return PACKAGED_FAST
    return Path(name).expanduser()


def fitted_reader_model(setting: str) -> Path | None:
    """The reader model fitted with the cross-encoder ``setting`` names, where its folder holds
    one (``reader_model.json``); None otherwise (the packaged reader model applies)."""
    folder = reranker_folder(setting)
    if folder is None or not (folder / FITTED_READER_MODEL).is_file():
        return None
    return folder / FITTED_READER_MODEL


@functools.lru_cache(maxsize=4)  # one copy per process, however often an index reloads
def load_cross_encoder(
    setting: str, runtime: rt.EncoderRuntime | None = None
) -> CrossEncoder | None:
    """The cross-encoder a ``QA_RERANKER`` setting names, on ``runtime`` (torch if none).

    Empty: the packaged one (none if the package lacks it: ranking falls back to the linear
    model); ``off``: none; ``fast``: the packaged 3-layer student; anything else: a folder,
    which must hold one.
    """
    folder = reranker_folder(setting)
    if folder is None:
        return None
    if not setting.strip():
        return CrossEncoder(PACKAGED, runtime) if (PACKAGED / HEAD_FILE).is_file() else None
    return CrossEncoder(folder, runtime)
