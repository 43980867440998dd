#!/usr/bin/env python
"""Terminal chat over the qa index; see ``python scripts/chat.py --help``."""

from __future__ import annotations

import sys
from pathlib import Path

# Prefer this checkout's package, so the script works without `pip install -e .`.
ROOT = Path(__file__).resolve().parent.parent
if (ROOT / "qa" / "__init__.py").exists():
    sys.path.insert(0, str(ROOT))

from qa.chat.terminal import main  # noqa: E402 - needs the path set up above

if __name__ == "__main__":
    sys.exit(main())
