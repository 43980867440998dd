"""The dense vector index over chunks; the only module that imports faiss.

Small collections are searched exactly (``Flat``). Larger ones get an approximate index chosen by
their size (``DenseSpec.choose``): an HNSW graph up to a few hundred thousand vectors, then IVF-PQ,
whose compressed codes keep a million vectors in tens of MB. IVF-PQ's candidates are re-scored
exactly against the stored float32 vectors, which a query process maps from disk: only the
candidates' rows are read.
"""

from __future__ import annotations

import errno
import math
import mmap
import os
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qa.errors import IndexMismatch, InvalidSetting
from qa.store.rowset import RowSet

CHUNK_FILE = "chunks.faiss"
SENTENCE_FILE = "sentences.faiss"

AUTO = "auto"  # the factory chosen by the number of vectors
# Below this, exact search costs a few ms (50k x 384 floats is 77 MB): no recall to lose.
EXACT_BELOW = 50_000
# Below this, HNSW keeps its float32 vectors and graph in RAM (300k: about 540 MB); above, PQ codes.
GRAPH_BELOW = 300_000
HNSW_EF_SEARCH = 128  # HNSW32 recall@10 .991 over 100k stand-in chunks (make bench-scale)
PQ_REFINE = 10  # IVF-PQ: candidates re-scored exactly per result wanted
TRAIN_PER_LIST = 64  # IVF training vectors per list: k-means needs no more to place its centroids
ADD_BATCH = 65_536  # vectors copied into RAM at a time while adding: bounds the build's memory
# A filter that keeps at most this many rows is searched exactly over them (a few ms; 1% of a
# million chunks): an HNSW walk or IVF's probed lists find few of a sparse set. Above it, FAISS
# searches with the filter's rows as an IDSelector, HNSW's walk widened by as much as they thin
# the index (at most MAX_FILTERED_EF).
EXACT_ROWS = 20_000
MAX_FILTERED_EF = 2_048


@dataclass(frozen=True)
class DenseSpec:
    """How one dense index is made and searched; recorded in the manifest."""

    factory: str  # a FAISS index_factory string
    search: str = ""  # FAISS ParameterSpace settings for queries, e.g. "efSearch=128"
    refine: int = 0  # > 0: fetch k * refine candidates and re-score them on the exact vectors

    @classmethod
    def choose(cls, n: int, dim: int, factory: str = AUTO) -> DenseSpec:
        """The spec for ``n`` vectors of ``dim``: ``factory`` as given, or by size for "auto"."""
        if factory != AUTO:
            return cls(factory, _search_params(factory), _refine(factory))
        if n < EXACT_BELOW:
            return cls("Flat")
        if n < GRAPH_BELOW:
            return cls("HNSW32", f"efSearch={HNSW_EF_SEARCH}")
        # About sqrt(n) lists of n / sqrt(n) vectors; 8 dimensions per PQ code byte; "np": no
        # polysemous training, which serves Hamming filtering we do not use and was 9 of 10 s of
        # training in the tests.
        lists = 2 ** round(math.log2(math.sqrt(n)))
        chosen = f"IVF{lists},PQ{_pq_bytes(dim)}np"
        return cls(chosen, _search_params(chosen), PQ_REFINE)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DenseSpec:
        return cls(str(data["factory"]), str(data.get("search", "")), int(data.get("refine", 0)))


def _pq_bytes(dim: int) -> int:
    """Bytes of a PQ code: one per 8 dimensions, a divisor of ``dim`` as FAISS needs."""
    m = max(1, dim // 8)
    while dim % m:
        m -= 1
    return m


def _search_params(factory: str) -> str:
    """Query settings that keep recall@10 near 0.95 or above (FAISS's defaults do not)."""
    if "HNSW" in factory:
        return f"efSearch={HNSW_EF_SEARCH}"
    lists = _ivf_lists(factory)
    if lists:
        # A quarter of the lists: IVF1024,PQ48 over 1M stand-in chunks (make bench-scale), 500
        # candidates re-scored, recall@10 .928 / .958 / .975 probing 64 / 128 / 256 lists, p50
        # 2.4 / 3.8 / 7.7 ms.
        return f"nprobe={min(lists, max(16, lists // 4))}"
    return ""


def _ivf_lists(factory: str) -> int:
    for part in factory.split(","):
        if part.startswith("IVF") and part[3:].isdigit():
            return int(part[3:])
    return 0


def _refine(factory: str) -> int:
    """Lossy codes (PQ, SQ) rank their candidates only roughly: re-score them exactly."""
    return PQ_REFINE if any(code in factory for code in ("PQ", "SQ")) else 0


class ChunkIndex:
    """Inner-product search over unit vectors (cosine similarity); row i is chunk (or sentence) i.

    ``vectors`` (the exact rows, typically memory-mapped) are needed only for a ``spec`` that
    refines its candidates.
    """

    def __init__(
        self,
        index: faiss.Index,
        spec: DenseSpec | None = None,
        vectors: np.ndarray | None = None,
    ) -> None:
        self._index = index
        self.spec = spec or DenseSpec("Flat")
        if self.spec.refine and vectors is None:
            raise IndexMismatch(f"a {self.spec.factory} index needs its vectors to re-score")
        if self.spec.search:
            try:
                faiss.ParameterSpace().set_index_parameters(index, self.spec.search)
            except RuntimeError as exc:
                raise InvalidSetting(
                    f"FAISS cannot set {self.spec.search!r} on {self.spec.factory}"
                ) from exc
        self._vectors = vectors
        self._rows = RowReader.of(vectors) if self.spec.refine and vectors is not None else None

    @staticmethod
    def check_factory(factory: str, dim: int = 384) -> None:
        """``InvalidSetting`` unless FAISS can make an index from ``factory`` (or it is "auto")."""
        if factory == AUTO:
            return
        try:
            faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise InvalidSetting(
                f'invalid FAISS index_factory string {factory!r} (e.g. "auto", "Flat", "HNSW32"): '
                f"{str(exc).splitlines()[0]}"
            ) from exc

    @classmethod
    def build(cls, vectors: np.ndarray, factory: str | DenseSpec = "Flat") -> ChunkIndex:
        """Index ``vectors`` (float32, L2-normalised) with a FAISS ``index_factory`` string, "auto"
        or a ``DenseSpec``. ``vectors`` may be memory-mapped: they are copied a batch at a time.
        """
        n, dim = vectors.shape
        spec = factory if isinstance(factory, DenseSpec) else DenseSpec.choose(n, dim, factory)
        try:
            index = faiss.index_factory(dim, spec.factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise InvalidSetting(
                f"invalid FAISS index_factory string {spec.factory!r}: {exc}"
            ) from exc
        if not index.is_trained:
            index.train(_training_sample(vectors, spec.factory))
        for start in range(0, n, ADD_BATCH):
            index.add(np.ascontiguousarray(vectors[start : start + ADD_BATCH], dtype=np.float32))
        return cls(index, spec, vectors)  # the vectors also serve filtered exact search

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def search(
        self, vector: np.ndarray, k: int, within: RowSet | None = None
    ) -> list[tuple[int, float]]:
        """The ``k`` nearest chunks to one query vector as ``(row, cosine)``, best first; with
        ``within``, the nearest of those rows."""
        within = within if within is not None and within.size < self.size else None
        k = min(k, self.size if within is None else within.size)
        if k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        params, keep = None, None
        if within is not None:
            if within.size <= EXACT_ROWS and self._vectors is not None:
                return within.nearest(self._vectors, query[0], k)
            params, keep = self._selecting(within)
        depth = min(self.size, k * self.spec.refine) if self.spec.refine else k
        scores, rows = self._index.search(query, depth, params=params)
        del keep  # the selector and its bitmap had to outlive the search
        if not self.spec.refine:
            return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]
        assert self._vectors is not None
        # Rows in file order: the reads then go forward through the file.
        candidates = np.sort(rows[0][rows[0] >= 0])
        found = self._rows.rows(candidates) if self._rows else self._vectors[candidates]
        exact = np.asarray(found, dtype=np.float32) @ query[0]
        best = np.argsort(-exact, kind="stable")[:k]
        return [(int(candidates[i]), float(exact[i])) for i in best]

    def _selecting(self, within: RowSet) -> tuple[Any, tuple[Any, ...]]:
        """FAISS search parameters keeping to ``within``'s rows, as the index is otherwise
        searched; and the objects they point to, which must live as long as they are used."""
        index = self._index
        selector = faiss.IDSelectorBitmap(index.ntotal, faiss.swig_ptr(within.bitmap))
        params: Any
        if isinstance(index, faiss.IndexHNSW):
            params = faiss.SearchParametersHNSW()
            # The walk passes over the rows left out: widen it as much as they thin the index.
            widened = index.hnsw.efSearch * index.ntotal / max(within.size, 1)
            params.efSearch = int(min(MAX_FILTERED_EF, max(index.hnsw.efSearch, widened)))
        elif isinstance(index, faiss.IndexIVF):
            params = faiss.SearchParametersIVF()
            params.nprobe = index.nprobe
        else:
            params = faiss.SearchParameters()
        params.sel = selector
        return params, (selector, within)

    def save(self, folder: Path, name: str = CHUNK_FILE) -> None:
        try:
            faiss.write_index(self._index, str(folder / name))
        except RuntimeError as exc:
            # FAISS says a failed write as "... write error in <file>: 4051 != 320000 (No space
            # left on device)": raise the OSError it stands for, so a full disk reads as one.
            code = next((c for c in (errno.ENOSPC, errno.EDQUOT) if os.strerror(c) in str(exc)), 0)
            if not code:
                raise
            raise OSError(code, os.strerror(code), str(folder / name)) from exc

    @classmethod
    def load(
        cls,
        folder: Path,
        name: str = CHUNK_FILE,
        *,
        spec: DenseSpec | None = None,
        vectors: np.ndarray | None = None,
    ) -> ChunkIndex:
        """Read the index; a missing or damaged file is an ``IndexMismatch`` (rebuild)."""
        try:
            index = faiss.read_index(str(folder / name))
        except RuntimeError as exc:
            raise IndexMismatch(
                f"the FAISS index in {folder} cannot be read ({str(exc).splitlines()[0]}); "
                "rebuild it with `qa index --force`"
            ) from exc
        return cls(index, spec, vectors)


class RowReader:
    """Reads rows of a memory-mapped float32 matrix with ``pread``, without mapping them.

    Re-scoring reads a few hundred rows a question at random. Through the mapping, each page
    fault also maps the cached pages around it (fault-around, which MADV_RANDOM does not stop):
    at a million chunks, 200 questions left the whole 1.5 GB vectors file in the process's RSS.
    """

    def __init__(self, path: str, start: int, stride: int, width: int) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)
        self._start, self._stride, self._width = start, stride, width

    @classmethod
    def of(cls, vectors: np.ndarray) -> RowReader | None:
        """A reader of ``vectors``' file, or None when they are not a float32 memory-mapped
        matrix with contiguous rows (then they are indexed as they are)."""
        mapping = getattr(vectors, "_mmap", None)
        path = getattr(vectors, "filename", None)
        if (
            not isinstance(mapping, mmap.mmap)
            or not path
            or vectors.ndim != 2
            or vectors.dtype != np.float32
            or vectors.strides[1] != vectors.itemsize
        ):
            return None
        # Where the first row lies in the file: its distance from the mapping's start, plus the
        # file offset the mapping starts at (np.memmap aligns it down to the granularity).
        base = np.frombuffer(mapping, dtype=np.uint8).__array_interface__["data"][0]
        offset = int(getattr(vectors, "offset", 0))
        aligned = offset - offset % mmap.ALLOCATIONGRANULARITY
        start = vectors.__array_interface__["data"][0] - base + aligned
        return cls(str(path), start, vectors.strides[0], vectors.shape[1])

    def rows(self, rows: np.ndarray) -> np.ndarray:
        size = self._width * 4
        out = np.empty((len(rows), self._width), dtype=np.float32)
        for i, row in enumerate(rows.tolist()):
            data = os.pread(self._fd, size, self._start + row * self._stride)
            out[i] = np.frombuffer(data, dtype=np.float32)
        return out


def set_search_threads(n: int) -> None:
    """OpenMP threads FAISS searches with in this process (0 leaves its default, every core).

    A query process searches one question per thread: more OpenMP threads gain nothing there,
    and on busy cores their waiting costs more than the search (Flat over 10k vectors on this
    2-core machine: p50 16 ms with 2 threads, 0.9 ms with 1).
    """
    if n > 0:
        faiss.omp_set_num_threads(n)


def _training_sample(vectors: np.ndarray, factory: str) -> np.ndarray:
    """A fixed random sample big enough to train ``factory`` (every row for small sets)."""
    n = len(vectors)
    wanted = max(_ivf_lists(factory) * TRAIN_PER_LIST, 10_000)
    if n <= wanted:
        return np.ascontiguousarray(vectors, dtype=np.float32)
    rows = np.sort(np.random.default_rng(0).choice(n, wanted, replace=False))
    return np.ascontiguousarray(vectors[rows], dtype=np.float32)
