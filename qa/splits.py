"""The one article split for anything fitted on SQuAD: by a stable hash of the article's title.

Splitting by article, never by question, keeps near-duplicate questions about one paragraph from
landing on both sides; hashing the title (not its position) keeps an article on the same side in
every file it appears in (SQuAD v2.0 dev reuses v1.1 dev's articles in another order).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

SPLITS = ("fit", "heldout")


def split_of(title: str) -> str:
    """ "fit" or "heldout" for an article title (CRC-32 parity: deterministic, no seed)."""
    return "fit" if zlib.crc32(title.encode("utf-8")) % 2 == 0 else "heldout"


def question_ids(path: Path, split: str) -> set[str]:
    """Ids of the questions of a SQuAD file whose article belongs to ``split``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {
        qa["id"]
        for article in data["data"]
        if split_of(article["title"]) == split
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    }
