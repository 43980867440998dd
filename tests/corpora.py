"""Small corpora written into a test's own folder, and what an index built from one holds."""

from __future__ import annotations

from pathlib import Path

from qa.config import Settings
from qa.store import IndexContents, live_build


def write_corpus(folder: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``folder`` (UTF-8, folders made) and return it."""
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def live_contents(settings: Settings) -> IndexContents:
    """What the live build of ``settings.index_dir`` holds."""
    folder = live_build(settings.index_dir)
    assert folder is not None
    return IndexContents.load(folder)
