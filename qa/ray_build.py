"""A build's chunk-and-embed step as a Ray Data job (``qa index --ray``).

The driver (this process) reads the corpus, decides what changed and writes the index, as in any
build; only the documents to chunk and embed go to Ray. Each worker is an actor that loads the
bi-encoder once and runs ``qa.build.embed_documents`` on batches of documents, so chunks,
offsets and vectors are the in-process build's exactly: the bi-encoder embeds each text alone
(``qa.embedding.OnnxEmbedder``), so the other documents a Ray batch holds do not move a vector.
This is the only module that imports ray.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import re
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from qa import __version__
from qa.build import default_embedder, embed_documents
from qa.config import Settings
from qa.embedding import Embedder
from qa.errors import DependencyMissing, RayJobFailed
from qa.runtime import BI_ENCODER, encoder_runtime, set_inference_threads
from qa.schema import Document
from qa.store import DocumentPieces

# At most this many documents a batch: enough to keep a worker busy between hand-overs, and
# several batches a worker, so a slow one is not left holding a long tail alone.
MAX_BATCH_DOCUMENTS = 64
BATCHES_PER_WORKER = 4
CONNECT_TIMEOUT_S = 5.0
# A traceback's last line: "OSError: message", "qa.errors.DependencyMissing: message".
_ERROR_LINE = re.compile(r"^((?:\w+\.)*\w+): (.+)$", re.MULTILINE)
INSTALL_HINT = "install it with `pip install -e '.[ray]'` (`make install` does)"

EmbedderLoader = Callable[[Settings], Embedder]


@dataclass(frozen=True)
class RayEmbedStep:
    """``qa.build.EmbedStep`` on Ray: at ``address``, or on a Ray started here for the build.

    ``load`` makes each worker's embedder; it is pickled to the workers, so it must be importable
    there (every node needs qa installed, the same version as the driver). A process already
    connected to Ray (``ray.init`` done) runs the job there and stays connected.
    """

    address: str = ""
    num_cpus: int | None = None  # of a Ray started here; None: every core
    load: EmbedderLoader = default_embedder

    def __call__(
        self, docs: Sequence[Document], settings: Settings, progress: bool
    ) -> dict[str, DocumentPieces]:
        """Each document's chunks, sentences and vectors by doc_id, embedded on Ray."""
        encoder_runtime(settings, BI_ENCODER)  # a bad QA_RUNTIME/QA_INT8 fails here, not on Ray
        ray = _import_ray()
        if not docs:
            return {}
        with _connected(ray, self.address, self.num_cpus, progress):
            return _run_job(ray, docs, settings, self.load, progress)


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise DependencyMissing(f"`qa index --ray` needs Ray (ray[data]): {INSTALL_HINT}") from exc
    return ray


@contextmanager
def _connected(ray: Any, address: str, num_cpus: int | None, progress: bool) -> Iterator[None]:
    """Ray for the length of the job: a process already connected keeps its connection; else
    connect to ``address`` or start Ray here, and disconnect (or stop it) afterwards."""
    if ray.is_initialized():
        yield
        return
    if address:
        _check_address(address)
        _say(progress, f"connecting to the Ray cluster at {address}")
    else:
        _say(progress, "starting Ray on this machine")
    try:
        ray.init(
            address=address or "local",
            num_cpus=None if address else (num_cpus or os.cpu_count()),
            include_dashboard=False,
            # Not its start-up notices (a local Ray's token authentication): qa says what runs.
            logging_level=logging.ERROR,
            log_to_driver=True,  # workers' errors and warnings reach the build's output
        )
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"the Ray cluster at {address}" if address else "a Ray on this machine"
        hint = ""
        if address and "RAY_AUTH_MODE" not in os.environ:
            # Clusters started with `ray start` use token authentication by default, and Ray
            # sends a token to an explicit address only when told to.
            hint = (
                "; a cluster with token authentication (Ray's default) needs RAY_AUTH_MODE=token "
                "and its token (RAY_AUTH_TOKEN, or ~/.ray/auth_token) in this environment"
            )
        raise RayJobFailed(f"could not connect to {where}: {exc}{hint}") from exc
    try:
        yield
    finally:
        ray.shutdown()


def _check_address(address: str) -> None:
    """Refuse Ray Client addresses, and fail in seconds on a host:port where nothing listens:
    ray.init retries such an address for minutes. "auto" is left to Ray."""
    if address.startswith("ray://"):
        # Tried with Ray 2.60: Ray Data's streaming executor needs a driver of the cluster
        # ("'Worker' object has no attribute 'core_worker'") and Ray Client gives none.
        raise RayJobFailed(
            f"{address} is a Ray Client address, which cannot run Ray Data jobs: run `qa index "
            "--ray` where it reaches the head's GCS port (--ray-address HOST:6379), or on a node "
            "of the cluster with --ray-address auto"
        )
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise RayJobFailed(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}): start its head node "
            "(`ray start --head`) or give another --ray-address (QA_RAY_ADDRESS)"
        ) from exc


def _run_job(
    ray: Any,
    docs: Sequence[Document],
    settings: Settings,
    load: EmbedderLoader,
    progress: bool,
) -> dict[str, DocumentPieces]:
    # One bar below, counting documents like a local build, instead of Ray Data's own.
    ray.data.DataContext.get_current().enable_progress_bars = False
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    workers = min(cpus, len(docs))
    per_batch = max(
        1, min(MAX_BATCH_DOCUMENTS, math.ceil(len(docs) / workers / BATCHES_PER_WORKER))
    )
    _say(
        progress,
        f"embedding {len(docs)} documents on Ray: {workers} workers, {per_batch} documents a batch",
    )
    # Documents and pieces travel pickled: Arrow cannot hold them as they are, and Ray Data
    # would warn on every batch before pickling them itself.
    dataset = ray.data.from_items([{"document": pickle.dumps(d)} for d in docs]).map_batches(
        _EmbedWorker,
        fn_constructor_args=(settings, load, __version__),
        batch_size=per_batch,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
    )
    pieces: dict[str, DocumentPieces] = {}
    try:
        with _quiet_ray_data(), _bar(progress, len(docs)) as bar:
            for batch in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
                for blob in batch.column("pieces").to_pylist():
                    piece: DocumentPieces = pickle.loads(blob)
                    pieces[piece.document.doc_id] = piece
                bar(batch.num_rows)
    except Exception as exc:  # Ray wraps what failed on a worker in its own exception types
        raise RayJobFailed(
            f"the Ray embedding job failed, so nothing was written (the live index is as it "
            f"was): {_root_cause(exc)}"
        ) from exc
    missing = {d.doc_id for d in docs} - pieces.keys()
    if missing:
        raise RayJobFailed(f"the Ray job returned no pieces for {len(missing)} documents")
    return pieces


class _EmbedWorker:
    """A Ray actor: one embedder, loaded once, embedding batches of pickled documents."""

    def __init__(self, settings: Settings, load: EmbedderLoader, driver_version: str) -> None:
        if driver_version != __version__:
            raise RayJobFailed(
                f"this Ray node runs qa {__version__}, the build's driver qa {driver_version}: "
                "install the same qa on every node"
            )
        # One inference thread: the actor holds one CPU, and Ray runs one actor per CPU.
        set_inference_threads(1)
        self._settings = settings
        self._embedder = load(settings)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        docs = [pickle.loads(blob) for blob in batch.column("document").to_pylist()]
        pieces = embed_documents(docs, self._settings, self._embedder, False)
        blobs = [pickle.dumps(pieces[d.doc_id]) for d in docs]
        return pa.table({"pieces": pa.array(blobs, type=pa.large_binary())})


def _root_cause(exc: BaseException) -> str:
    """The worker's own error behind Ray's wrappers, as one line. Ray hands it on as the text of
    the remote traceback (an actor that failed to start keeps no exception object), where a line
    ``Type: message`` at the margin names it; Ray's own such lines are skipped."""
    seen: set[int] = set()
    inner: BaseException | None = exc
    while inner is not None and id(inner) not in seen:
        seen.add(id(inner))
        for name, message in _ERROR_LINE.findall(str(inner)):
            if not name.startswith("ray."):
                return f"{name.rsplit('.', 1)[-1]}: {message.strip()}"
        inner = inner.__cause__
    lines = str(exc).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__


class _NoProgressBarNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Progress bars disabled")


@contextmanager
def _quiet_ray_data() -> Iterator[None]:
    """Ray Data's warnings, but not its notices of each execution or of its bars being off."""
    logger = logging.getLogger("ray.data")
    # A filter acts only on its own logger's records: this one is the module that warns.
    bars = logging.getLogger("ray.data._internal.progress")
    level, notice = logger.level, _NoProgressBarNotice()
    logger.setLevel(logging.WARNING)
    bars.addFilter(notice)
    try:
        yield
    finally:
        bars.removeFilter(notice)
        logger.setLevel(level)


@contextmanager
def _bar(enabled: bool, total: int) -> Iterator[Callable[[int], object]]:
    if not enabled:
        yield lambda n: None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc="embedding on Ray", unit="doc", file=sys.stderr) as bar:
        yield bar.update


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(f"qa: {message}", file=sys.stderr, flush=True)
