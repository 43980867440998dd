"""A small WordNet 3.0 database written in the real files' layout, byte offsets and all, for tests
of what reads it (qa.wordnet): rewording training questions and relating a question's words."""

from __future__ import annotations

from pathlib import Path

# key: (pos, words, tagged sense count, broader term's key). Each broader link is written both
# ways, as WordNet's files have it: "@" (hypernym) on the narrower synset, "~" on the broader.
SYNSETS = {
    "missile": ("n", ["missile", "rocket"], 9, "weapon"),
    "weapon": ("n", ["weapon", "arm"], 12, None),
    "radar": ("n", ["radar"], 3, "device"),  # no synonym: its broader term stands in
    "device": ("n", ["device"], 20, None),
    "test": ("v", ["test", "prove", "try_out"], 15, None),
    "deploy": ("v", ["deploy"], 6, "position"),  # a verb with no synonym is left alone
    "position": ("v", ["position"], 4, None),
    "test_n": ("n", ["trial", "test"], 5, None),  # "test" as a noun, rarer than the verb
}
_POS_FILE = {"n": "noun", "v": "verb", "a": "adj"}


def write_wordnet(folder: Path, line_end: str = "\n") -> Path:
    """``SYNSETS`` as WordNet database files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    header = "  1 A test database in WordNet's layout." + line_end
    links: dict[str, list[tuple[str, str]]] = {key: [] for key in SYNSETS}
    for key, (_, _, _, broader) in SYNSETS.items():
        if broader:
            links[key].append(("@", broader))
            links[broader].append(("~", key))
    # Offsets first (a line's length does not depend on the offsets it holds: all are 8 digits).
    # Offsets count Unix line ends: the loader reads a CRLF copy as if it had them.
    offsets: dict[str, int] = {}
    sizes = {pos: len(header.replace(line_end, "\n")) for pos in _POS_FILE}
    for key, (pos, words, _, _) in SYNSETS.items():
        offsets[key] = sizes[pos]
        placeholder = [(symbol, 0, SYNSETS[target][0]) for symbol, target in links[key]]
        sizes[pos] += len(_synset_line(0, pos, words, placeholder)) + 1
    lines: dict[str, list[str]] = {pos: [] for pos in _POS_FILE}
    for key, (pos, words, _, _) in SYNSETS.items():
        pointers = [(s, offsets[target], SYNSETS[target][0]) for s, target in links[key]]
        lines[pos].append(_synset_line(offsets[key], pos, words, pointers))
    for pos, name in _POS_FILE.items():
        data = header + "".join(line + line_end for line in lines[pos])
        (folder / f"data.{name}").write_bytes(data.encode())
        index = []
        for key, (p, words, tagged, _) in SYNSETS.items():
            if p == pos:
                for word in words:
                    index.append(f"{word} {pos} 1 1 @ 1 {tagged} {offsets[key]:08d}  ")
        (folder / f"index.{name}").write_text(header + "".join(f"{x}\n" for x in sorted(index)))
    (folder / "noun.exc").write_text("")
    (folder / "verb.exc").write_text("proven prove\n")
    return folder


def _synset_line(
    offset: int, pos: str, words: list[str], pointers: list[tuple[str, int, str]]
) -> str:
    listed = " ".join(f"{w} 0" for w in words)
    linked = "".join(f" {symbol} {target:08d} {p} 0000" for symbol, target, p in pointers)
    return f"{offset:08d} 05 {pos} {len(words):02x} {listed} {len(pointers):03d}{linked} | a gloss"
