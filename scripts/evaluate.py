"""Evaluate the service on a question set: ``python scripts/evaluate.py QUESTIONS [--url URL]``."""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import qa  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.eval.cli import main

if __name__ == "__main__":
    sys.exit(main())
