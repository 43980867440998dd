"""Small corpora written into a test's own folder, and what an index built from one holds."""

from __future__ import annotations

from pathlib import Path

from qa.config import Settings
from qa.store import IndexContents, live_build

# Three small documents (one in a subfolder), and a fourth to add: the living-index tests' corpus.
CORPUS = {
    "comets.txt": "Comets of the outer system\n\nHalley's Comet returns every 76 years. "
    "It was last seen from Earth in 1986.\n",
    "deep/tides.md": "# Ocean tides\n\nTides are caused by the gravity of the Moon and the Sun. "
    "Spring tides happen at new and full moon.\n",
    "bees.txt": "Honey bees\n\nA honey bee colony has a single queen. Worker bees live for about "
    "six weeks in summer.\n",
}
GLACIER = (
    "Glaciers\n\nThe Aletsch Glacier is the largest glacier in the Alps, 23 kilometres long.\n"
)


def change_three_ways(corpus: Path) -> None:
    """One file of ``CORPUS`` added (glacier), one changed (comets), one removed (bees)."""
    (corpus / "glacier.txt").write_text(GLACIER, encoding="utf-8")
    (corpus / "comets.txt").write_text(
        CORPUS["comets.txt"] + "It will return in 2061.\n", encoding="utf-8"
    )
    (corpus / "bees.txt").unlink()


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
