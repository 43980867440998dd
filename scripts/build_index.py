#!/usr/bin/env python3
"""Build the index: clean, chunk and embed a corpus into a FAISS index (same as `qa index`)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["index", *sys.argv[1:]]))
