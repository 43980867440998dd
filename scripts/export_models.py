"""Export the bundled encoders to ONNX (fp32 and int8) into the model cache: ``make models``.

Servers and tests then load them without paying for the export; a model already exported is
not exported again (the cache is keyed by a hash of its weights). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

try:
    import qa  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.config import Settings
from qa.embedding import bundled_model_folder
from qa.read.reranker import PACKAGED, PACKAGED_FAST
from qa.runtime import OnnxUnavailable, cache_dir, onnx_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="model cache (default: QA_MODEL_CACHE, else the venv's share/qa/onnx)",
    )
    args = parser.parse_args(argv)
    cache = args.cache or Settings.from_env().model_cache
    print(f"qa: ONNX models in {cache_dir(cache)}", file=sys.stderr)
    encoders = (
        ("bi-encoder", bundled_model_folder()),
        ("cross-encoder", PACKAGED),
        ("cross-encoder (fast)", PACKAGED_FAST),
    )
    for name, folder in encoders:
        for int8 in (False, True):
            started = time.perf_counter()
            try:
                path = onnx_model(folder, int8=int8, cache=cache)
            except OnnxUnavailable as exc:
                print(f"qa: {name}: {exc}; it will run on torch", file=sys.stderr)
                return 1
            seconds = time.perf_counter() - started
            print(
                f"qa: {name} {'int8' if int8 else 'fp32'}: {path.name} ({seconds:.1f}s)",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
