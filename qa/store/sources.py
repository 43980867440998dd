"""The corpus files an index was built from, and which of them changed since.

The manifest records each file's size, modification time and content hash. Checking freshness
stats every file and hashes only those whose size or time moved, so ``/api/health`` can afford
it on every call.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SourceStats = dict[str, list[Any]]  # relative path -> [size, mtime_ns, sha256]


@dataclass(frozen=True, order=True)
class SourceChange:
    """A corpus file ``added``, ``changed`` or ``removed`` since the build (``path`` relative)."""

    path: str
    change: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def source_files(corpus: Path) -> dict[str, Path]:
    """Every file that belongs to the corpus (hidden files and folders are not), by relative path."""
    corpus = Path(corpus)
    if corpus.is_file():
        return {corpus.name: corpus}
    if not corpus.is_dir():
        return {}
    files = {}
    for path in corpus.rglob("*"):
        rel = path.relative_to(corpus)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            files[rel.as_posix()] = path
    return dict(sorted(files.items()))


def source_stats(corpus: Path) -> SourceStats:
    """What the manifest records about each corpus file."""
    out: SourceStats = {}
    for rel, path in source_files(corpus).items():
        stat = path.stat()
        out[rel] = [stat.st_size, stat.st_mtime_ns, sha256_file(path)]
    return out


def changed_sources(corpus: Path, recorded: SourceStats) -> list[SourceChange]:
    """Files added, changed or removed since ``recorded``, by path."""
    now = source_files(corpus)
    changes = []
    for rel, path in now.items():
        if rel not in recorded:
            changes.append(SourceChange(rel, "added"))
            continue
        size, mtime_ns, sha = recorded[rel]
        try:
            stat = path.stat()
            if (stat.st_size, stat.st_mtime_ns) != (size, mtime_ns) and sha256_file(path) != sha:
                changes.append(SourceChange(rel, "changed"))
        except OSError:
            changes.append(SourceChange(rel, "removed"))
    changes.extend(SourceChange(rel, "removed") for rel in recorded if rel not in now)
    return sorted(changes)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
