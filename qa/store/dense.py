"""The dense vector index over chunks; the only module that imports faiss."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from qa.errors import IndexMismatch, InvalidSetting

CHUNK_FILE = "chunks.faiss"
SENTENCE_FILE = "sentences.faiss"


class ChunkIndex:
    """Inner-product search over unit vectors (cosine similarity); row i is chunk (or sentence) i."""

    def __init__(self, index: faiss.Index) -> None:
        self._index = index

    @staticmethod
    def check_factory(factory: str, dim: int = 384) -> None:
        """``InvalidSetting`` unless FAISS can make an index from ``factory``."""
        try:
            faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise InvalidSetting(
                f'invalid FAISS index_factory string {factory!r} (e.g. "Flat", "HNSW32"): '
                f"{str(exc).splitlines()[0]}"
            ) from exc

    @classmethod
    def build(cls, vectors: np.ndarray, factory: str = "Flat") -> ChunkIndex:
        """Index ``vectors`` (float32, L2-normalised) with a FAISS ``index_factory`` string."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        try:
            index = faiss.index_factory(vectors.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise InvalidSetting(f"invalid FAISS index_factory string {factory!r}: {exc}") from exc
        if not index.is_trained:
            index.train(vectors)
        index.add(vectors)
        return cls(index)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The ``k`` nearest chunks to one query vector as ``(row, cosine)``, best first."""
        k = min(k, self.size)
        if k <= 0:
            return []
        scores, rows = self._index.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), k)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def save(self, folder: Path, name: str = CHUNK_FILE) -> None:
        faiss.write_index(self._index, str(folder / name))

    @classmethod
    def load(cls, folder: Path, name: str = CHUNK_FILE) -> ChunkIndex:
        """Read the index; a missing or damaged file is an ``IndexMismatch`` (rebuild)."""
        try:
            return cls(faiss.read_index(str(folder / name)))
        except RuntimeError as exc:
            raise IndexMismatch(
                f"the FAISS index in {folder} cannot be read ({str(exc).splitlines()[0]}); "
                "rebuild it with `qa index --force`"
            ) from exc
