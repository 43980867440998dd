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


def calibration_article(title: str) -> bool:
    """A fifth of the articles (Adler-32, independent of the split's CRC-32): within "fit", the
    ones kept from the cross-encoder's training to fit how its score is used.
    """
    return zlib.adler32(title.encode("utf-8")) % 5 == 0


def article_titles(path: Path) -> dict[str, str]:
    """Question id to its article's title, for a SQuAD JSON file."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {
        qa["id"]: article["title"]
        for article in data["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    }


def question_ids(path: Path, split: str) -> set[str]:
    """Ids of the questions of a SQuAD file whose article belongs to ``split``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    return {qid for qid, title in article_titles(path).items() if split_of(title) == split}
