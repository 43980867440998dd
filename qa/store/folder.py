"""The index folder on disk: builds switched in atomically, a build lock, checksums.

Layout of ``index_dir``: ``current`` is a symlink to the live ``build-*`` folder. A build is written
into a hidden temporary folder beside it and only then made live by atomically replacing the
symlink, so an interrupted or failed build never touches the index in use, and a reader that
resolves ``current`` sees either the whole old build or the whole new one. A process killed
mid-build (even with SIGKILL) leaves only hidden ``.tmp-*`` leftovers, which the next build
removes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from qa.errors import DiskFull, IndexMismatch, IndexUnavailable
from qa.store.sources import sha256_file

MANIFEST = "manifest.json"
CURRENT = "current"
LOCK = ".build.lock"
REBUILD_HINT = "rebuild it with `qa index --force` (or `make index`)"
# numpy's ndarray.tofile (under np.save) reports a short write without an errno.
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")


def live_build(index_dir: Path) -> Path | None:
    """The folder holding the live build, or None when nothing has been built."""
    if (index_dir / MANIFEST).is_file():
        return index_dir  # a plain build folder given directly
    current = index_dir / CURRENT
    return current.resolve() if current.is_dir() else None


@contextlib.contextmanager
def build_lock(index_dir: Path, *, wait_message: str | None = None) -> Iterator[None]:
    """One build (CLI or API update) at a time per index folder, across processes.

    An OS file lock, so a build killed with SIGKILL releases it with its process.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if wait_message:
                print(wait_message, file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_leftovers(index_dir: Path) -> list[str]:
    """Delete what killed builds left behind and builds no longer live; the names removed.

    Call it holding ``build_lock``: another build's temporary folder is not a leftover.
    """
    live = live_build(index_dir)
    removed = []
    for path in index_dir.glob(".tmp-*"):
        removed.append(path.name)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    for old in index_dir.glob("build-*"):
        if live is None or old.resolve() != live:
            removed.append(old.name)
            shutil.rmtree(old, ignore_errors=True)
    return removed


def write_build(index_dir: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp_folder)``, then make that folder the live build in one atomic step."""
    index_dir.mkdir(parents=True, exist_ok=True)
    tag = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    tmp = index_dir / f".tmp-build-{tag}"
    tmp.mkdir()
    try:
        write(tmp)
        final = index_dir / f"build-{tag}"
        tmp.rename(final)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if is_disk_full(exc):
            raise disk_full(exc, index_dir) from exc
        raise
    link = index_dir / f".tmp-link-{tag}"
    link.symlink_to(final.name)
    os.replace(link, index_dir / CURRENT)
    for old in index_dir.glob("build-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that found no space: ENOSPC, EDQUOT (over quota), or numpy's
    short write ("125952 requested and 61408 written"), which carries no errno."""
    if not isinstance(exc, OSError):
        return False
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return exc.errno is None and bool(_SHORT_WRITE.search(str(exc)))


def disk_full(exc: OSError, index_dir: Path) -> DiskFull:
    """The one-line error for a build of ``index_dir`` that ran out of space; says what is live."""
    live = live_build(index_dir)
    kept = (
        f"the previous index ({live.name}) is unchanged and still served"
        if live is not None
        else "no index was written"
    )
    return DiskFull(
        f"the disk is full: the new index could not be written in {index_dir} ({exc}); {kept}. "
        "Free some space and run `qa index` again"
    )


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")


def read_manifest(index_dir: Path) -> dict[str, Any]:
    """The live build's manifest; ``IndexUnavailable`` if there is none."""
    folder = live_build(index_dir)
    if folder is None:
        raise IndexUnavailable(
            f"no index in {index_dir}: build one with `qa index` (or `make index`)"
        )
    return read_manifest_in(folder)


def read_manifest_in(folder: Path) -> dict[str, Any]:
    """The manifest of one build folder; ``IndexMismatch`` if it is unreadable."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexMismatch(
            f"the manifest in {folder} is unreadable ({exc}); {REBUILD_HINT}"
        ) from exc
    if not isinstance(manifest, dict):
        raise IndexMismatch(f"the manifest in {folder} is not an object; {REBUILD_HINT}")
    return manifest


# Settings recorded since a later version, with the value every index before it was built with.
SETTING_DEFAULTS = {"backend": "faiss", "text_rules": 1}


def recorded_settings(manifest: dict[str, Any]) -> dict[str, Any]:
    """The settings a build was made with, including those its version did not record."""
    return {**SETTING_DEFAULTS, **manifest.get("settings", {})}


def check_settings(manifest: dict[str, Any], expected: dict[str, Any], index_dir: Path) -> None:
    """Refuse an index built with other settings, naming each difference."""
    built = recorded_settings(manifest)
    differing = [k for k, v in expected.items() if built.get(k) != v]
    if differing:
        diffs = "; ".join(
            f"{k}: built with {built.get(k)!r}, now {expected[k]!r}" for k in differing
        )
        # The searchable index alone (FAISS's, or Milvus's) is derived from the stored vectors.
        hint = (
            "`qa index` re-indexes it from its stored vectors, without embedding again"
            if set(differing) <= {"faiss_factory", "backend"}
            else REBUILD_HINT
        )
        if "backend" in differing:
            hint = f"set QA_BACKEND={built.get('backend')} to use it as it is, or {hint}"
        raise IndexMismatch(
            f"the index in {index_dir} does not match the current settings ({diffs}); {hint}"
        )


def checksums(folder: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every file of a build except the manifest."""
    return {name: sha256_file(path) for name, path in _build_files(folder).items()}


def file_sizes(folder: Path) -> dict[str, int]:
    """``relative path -> bytes`` of every file of a build except the manifest."""
    return {name: path.stat().st_size for name, path in _build_files(folder).items()}


def _build_files(folder: Path) -> dict[str, Path]:
    return {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def verify_checksums(
    folder: Path, manifest: dict[str, Any], *, hash_limit: int | None = None
) -> None:
    """``IndexMismatch`` naming each file that is missing, extra or not what was written.

    A file the manifest records as larger than ``hash_limit`` bytes is checked by its size
    alone (every file is hashed when it is None, or when the manifest records no sizes).
    """
    expected = manifest.get("checksums")
    if not isinstance(expected, dict):
        raise IndexMismatch(f"the manifest in {folder} has no checksums; {REBUILD_HINT}")
    sizes = manifest.get("sizes")
    sizes = sizes if isinstance(sizes, dict) else {}
    found = _build_files(folder)

    def intact(name: str) -> bool:
        size = sizes.get(name)
        if size is not None and found[name].stat().st_size != size:
            return False
        if size is not None and hash_limit is not None and size > hash_limit:
            return True
        return sha256_file(found[name]) == expected[name]

    bad = sorted(
        [f"{name} (changed)" for name in expected if name in found and not intact(name)]
        + [f"{name} (missing)" for name in expected if name not in found]
        + [f"{name} (unexpected)" for name in found if name not in expected]
    )
    if bad:
        raise IndexMismatch(
            f"the index in {folder} is damaged: {', '.join(bad)} fail the manifest's checksums; "
            + REBUILD_HINT
        )
