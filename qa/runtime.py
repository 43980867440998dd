"""ONNX Runtime for the two encoders: each model exported once from its bundled weights, cached.

The bi-encoder and the cross-encoder are both a BERT encoder (token ids in, last hidden states
out) with their pooling and heads in numpy. ``onnx_model`` exports that encoder with
``torch.onnx.export`` (batch and sequence axes dynamic, so a batch is padded only to its longest
text), checks it against torch on a padded batch, optionally quantises its matrix products to
int8, and caches the files under a hash of the weights: ``QA_MODEL_CACHE``, else
``share/qa/onnx`` in the virtual environment (``cache_dir``). Files are written to a temporary name and
renamed, under a lock, so a worker never reads half a model and two never export the same one.
Nothing is downloaded. ``OnnxUnavailable`` says why ONNX Runtime cannot be used; the encoders'
loaders then fall back to torch with a warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import Settings
from qa.errors import InvalidSetting

log = logging.getLogger(__name__)

ONNX, TORCH = "onnx", "torch"
BI_ENCODER, CROSS_ENCODER = "bi-encoder", "cross-encoder"
ENCODERS = (BI_ENCODER, CROSS_ENCODER)
# Bump when the exported graph or the quantisation changes: cached files of other recipes are ignored.
RECIPE = "qa-onnx-1;opset17;int8=matmul-per-channel-qint8"
OPSET = 17  # onnxruntime 1.2x and 1.3x run it; the legacy exporter's best-tested opset
WEIGHT_FILES = ("config.json", "model.safetensors", "pytorch_model.bin")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "last_hidden_state"
MAX_EXPORT_DIFF = 1e-3  # largest |ONNX - torch| on a real token's hidden state for a good export


class OnnxUnavailable(RuntimeError):
    """ONNX Runtime cannot run this model here (not installed, export failed, cache unwritable)."""


@dataclass(frozen=True)
class EncoderRuntime:
    """How one encoder runs: ``kind`` is ``onnx`` or ``torch``; ``int8`` applies to ONNX only."""

    kind: str = TORCH
    int8: bool = False
    cache: Path | None = None

    @property
    def label(self) -> str:
        """``torch``, ``onnx-fp32`` or ``onnx-int8``."""
        return TORCH if self.kind == TORCH else f"onnx-{'int8' if self.int8 else 'fp32'}"


def encoder_runtime(settings: Settings, encoder: str) -> EncoderRuntime:
    """The runtime for ``encoder`` (``BI_ENCODER`` or ``CROSS_ENCODER``) under ``settings``."""
    kind = settings.runtime.strip().lower()
    if kind not in (ONNX, TORCH):
        raise InvalidSetting(f"QA_RUNTIME={settings.runtime!r}: use {ONNX!r} or {TORCH!r}")
    int8 = kind == ONNX and encoder in int8_encoders(settings.int8)
    return EncoderRuntime(kind, int8, settings.model_cache)


def int8_encoders(setting: str) -> frozenset[str]:
    """The encoders a ``QA_INT8`` setting names: a comma-separated list, ``all`` or ``none``."""
    names = {n.strip().lower() for n in setting.split(",") if n.strip()}
    if names <= {"none"}:
        return frozenset()
    if names == {"all"}:
        return frozenset(ENCODERS)
    unknown = names - set(ENCODERS)
    if unknown:
        raise InvalidSetting(
            f"QA_INT8={setting!r}: name {', '.join(ENCODERS)}, 'all' or 'none' "
            f"(not {', '.join(sorted(unknown))})"
        )
    return frozenset(names)


# --- threads ----------------------------------------------------------------------------------

_threads = 0  # 0: ONNX Runtime's and torch's own default (every core)


def set_inference_threads(n: int) -> None:
    """Intra-op threads for both runtimes in this process (0 leaves their default).

    One thread per query is fastest when requests run concurrently on few cores: with two torch
    threads under load, a single query took 15x longer here (490 ms vs 34 ms). ONNX sessions
    made before the change are reopened on their next call; torch is set only if loaded.
    """
    global _threads
    _threads = max(0, int(n))
    if "torch" in sys.modules:
        use_threads_in_torch()


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system says)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def inference_parallelism() -> int:
    """How many single-threaded runs this process may have going at once: its thread setting,
    else one a core."""
    return _threads or available_cores()


def use_threads_in_torch() -> None:
    """Apply the thread setting to torch (torch encoders call this when they load)."""
    import torch

    if _threads > 0 and torch.get_num_threads() != _threads:
        torch.set_num_threads(_threads)


# --- sessions ---------------------------------------------------------------------------------


class OnnxEncoder:
    """An ONNX Runtime session over one exported encoder: padded token ids in, hidden states out.

    ``run`` is thread-safe (ONNX Runtime allows concurrent runs of one session). ``threads``
    fixes the session's intra-op threads; by default it follows ``set_inference_threads``.
    """

    def __init__(self, path: Path, threads: int | None = None) -> None:
        try:
            import onnxruntime
        except ImportError as exc:
            raise OnnxUnavailable("onnxruntime is not installed") from exc
        self._ort = onnxruntime
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fixed_threads = threads
        self._session, self._threads = self._open(self._wanted_threads()), self._wanted_threads()
        self._inputs = {i.name for i in self._session.get_inputs()}

    def _wanted_threads(self) -> int:
        return _threads if self._fixed_threads is None else self._fixed_threads

    def _open(self, threads: int) -> Any:
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads == 1:  # nothing to hand work to: no spinning pool threads
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return self._ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # a damaged or foreign file: say which, let the caller fall back
            raise OnnxUnavailable(f"ONNX Runtime cannot load {self.path}: {exc}") from exc

    def run(self, ids: np.ndarray, mask: np.ndarray, type_ids: np.ndarray) -> np.ndarray:
        """Last hidden states, float32 ``[batch, tokens, hidden]``, for int64 ``[batch, tokens]``."""
        if self._threads != self._wanted_threads():
            with self._lock:
                wanted = self._wanted_threads()
                if self._threads != wanted:
                    self._session, self._threads = self._open(wanted), wanted
        feed = dict(zip(INPUTS, (ids, mask, type_ids), strict=True))
        return self._session.run([OUTPUT], {k: v for k, v in feed.items() if k in self._inputs})[0]


def pad(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Token id rows padded with 0 to the longest of them, and the attention mask."""
    width = max(len(r) for r in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mean of each row's hidden states over its real tokens (padding left out)."""
    weights = mask[..., None].astype(hidden.dtype)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


# --- the cache --------------------------------------------------------------------------------


def cache_dir(cache: Path | None = None) -> Path:
    """Where exported models live: ``cache``, else the virtual environment's ``share/qa/onnx``
    (``make install`` fills it; a process with another HOME still finds it), else
    ``$XDG_CACHE_HOME/qa/onnx`` outside one."""
    if cache is not None:
        return Path(cache).expanduser()
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix) / "share" / "qa" / "onnx"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qa" / "onnx"


def weights_key(folder: Path) -> str:
    """A hash of a model folder's weights and config, and of the export recipe."""
    digest = hashlib.sha256(RECIPE.encode())
    for name in WEIGHT_FILES:
        path = Path(folder) / name
        if path.is_file():
            digest.update(f"\0{name}\0".encode())
            with path.open("rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
    return digest.hexdigest()[:24]


def cached_paths(folder: Path, cache: Path | None = None) -> tuple[Path, Path]:
    """The fp32 and int8 files for the model in ``folder`` (whether or not exported yet)."""
    key = weights_key(folder)
    root = cache_dir(cache)
    return root / f"{key}-fp32.onnx", root / f"{key}-int8.onnx"


def onnx_model(folder: Path, *, int8: bool, cache: Path | None = None) -> Path:
    """The ONNX file for the encoder in ``folder``, exported (and quantised) on first use."""
    fp32, quantised = cached_paths(folder, cache)
    target = quantised if int8 else fp32
    if target.is_file():
        return target
    try:
        fp32.parent.mkdir(parents=True, exist_ok=True)
        with _locked(fp32.parent / f".{fp32.stem}.lock"):
            if not fp32.is_file():
                log.info("exporting %s to %s", folder, fp32)
                write_atomically(fp32, lambda tmp: export_encoder(folder, tmp))
            if int8 and not quantised.is_file():
                write_atomically(quantised, lambda tmp: quantise(fp32, tmp))
    except OnnxUnavailable:
        raise
    except Exception as exc:  # torch's exporter and the quantiser fail in many ways
        raise OnnxUnavailable(f"exporting {folder} to ONNX failed: {exc}") from exc
    return target


def write_atomically(dest: Path, write: Callable[[Path], None]) -> None:
    """Call ``write`` on a temporary file beside ``dest``, then rename it to ``dest``: readers see
    the old file or the whole new one, never part of one."""
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        write(tmp)
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --- export -----------------------------------------------------------------------------------


def export_encoder(folder: Path, dest: Path) -> None:
    """Export the BERT encoder in ``folder`` to ONNX at ``dest``, checked against torch."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder), local_files_only=True, dtype=torch.float32)
    encoder = _hidden_states(model).eval()  # export restores the mode: dropout must stay off
    ids, mask = (torch.from_numpy(a) for a in pad([[101, 7592, 2088, 102], [101, 102]]))
    sample = (ids, mask, torch.zeros_like(ids))  # a padded row, so the mask is traced as data
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, OUTPUT)}
    with warnings.catch_warnings():
        # The legacy exporter is deprecated, and tracing warns about shape checks that hold for
        # every input here; the check below is what tells a good export.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            encoder,
            sample,
            str(dest),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(INPUTS),
            output_names=[OUTPUT],
            dynamic_axes=axes,
        )
    _check_export(encoder, dest)


def _hidden_states(model: Any) -> Any:
    """``model`` as a module of three tensors that returns only its last hidden states."""
    import torch

    class HiddenStates(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    return HiddenStates()


def _check_export(encoder: Any, path: Path) -> None:
    """Compare the exported model with torch on a batch of other lengths, with padding."""
    import torch

    rng = np.random.default_rng(0)
    rows = [rng.integers(1000, 20000, size=n).tolist() for n in (23, 7, 15)]
    ids, mask = pad([[101, *r, 102] for r in rows])
    type_ids = np.zeros_like(ids)
    type_ids[0, 12:] = 1  # a pair, as the cross-encoder reads
    with torch.inference_mode():
        want = encoder(*(torch.from_numpy(a) for a in (ids, mask, type_ids))).numpy()
    got = OnnxEncoder(path).run(ids, mask, type_ids)
    diff = float(np.abs(got - want)[mask.astype(bool)].max())
    if not diff <= MAX_EXPORT_DIFF:
        raise OnnxUnavailable(f"the ONNX export differs from torch by {diff:.2g}")


def quantise(source: Path, dest: Path) -> None:
    """Dynamic int8 quantisation of the matrix products' weights, one scale per output column
    (one scale per matrix cost the bi-encoder's vectors cosine 0.96 to fp32; per column, 0.993).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    advice = _NoPreprocessingAdvice()  # it advises pre-processing, meant for image models
    logging.getLogger().addFilter(advice)
    try:
        quantize_dynamic(
            str(source),
            str(dest),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        logging.getLogger().removeFilter(advice)


class _NoPreprocessingAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()
