"""``IndexStore``: the one owner of an index folder, on this machine (FAISS and BM25 files).

It saves, loads, checks and replaces every artefact of a build and its manifest; nothing else
knows a file name inside ``index_dir``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import IndexMismatch, IndexUnavailable
from qa.store.contents import IndexContents
from qa.store.dense import SENTENCE_FILE, ChunkIndex, DenseSpec
from qa.store.folder import (
    REBUILD_HINT,
    build_lock,
    check_settings,
    checksums,
    file_sizes,
    live_build,
    read_manifest,
    read_manifest_in,
    remove_leftovers,
    verify_checksums,
    write_build,
    write_manifest,
)
from qa.store.lexical import SENTENCE_BM25_DIR, LexicalIndex
from qa.text import titled

LOAD_HASH_LIMIT = 64 << 20  # bytes: files above it are checked by size when a build is loaded


@dataclass(frozen=True)
class LoadedIndex:
    """A live build read back, checked and ready to search."""

    folder: Path
    manifest: dict[str, Any]
    contents: IndexContents
    dense: ChunkIndex  # chunks, titled
    sentence_dense: ChunkIndex  # sentences, titled
    lexical: LexicalIndex  # chunks, titled
    sentence_lexical: LexicalIndex  # sentences, untitled


class IndexStore:
    """The index folder ``index_dir``: builds, the live one, its manifest and checks."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)

    def live(self) -> Path | None:
        """The live build's folder (a new one after every build), or None."""
        return live_build(self.index_dir)

    def manifest(self) -> dict[str, Any]:
        """The live build's manifest; ``IndexUnavailable`` if there is none."""
        return read_manifest(self.index_dir)

    def lock(self, wait_message: str | None = None) -> AbstractContextManager[None]:
        """Hold it around any change: one build or update at a time, across processes."""
        return build_lock(self.index_dir, wait_message=wait_message)

    def previous(self, expected: dict[str, Any]) -> tuple[dict[str, Any], IndexContents] | None:
        """The live build's manifest and contents, to reuse; None when there is none, it was
        built with other settings, or it is damaged (then everything is rebuilt).
        """
        try:
            folder = self._live_or_raise()
            manifest = read_manifest_in(folder)
            check_settings(manifest, expected, self.index_dir)
            verify_checksums(folder, manifest)
            return manifest, IndexContents.load(folder)
        except IndexUnavailable:
            return None

    def load(self, expected: dict[str, Any]) -> LoadedIndex:
        """Read and check the live build: ``IndexUnavailable`` without one, ``IndexMismatch``
        when it was built with other settings or any file fails its checksum.
        """
        folder = self._live_or_raise()
        try:
            return self._load(folder, expected)
        except IndexMismatch:
            # A build switched in while we read: the folder we resolved is gone. Read the new one
            # (a folder that is simply damaged is not read twice).
            again = self.live()
            if again is None or again == folder or not again.exists():
                raise
            return self._load(again, expected)

    def write(self, contents: IndexContents, manifest: dict[str, Any]) -> Path:
        """Derive FAISS and BM25 from ``contents``, write them with the contents and the
        manifest (plus counts and checksums) into a new build, and make it live.

        Hold ``lock()`` around it. Leftovers of killed builds are removed first.
        """
        remove_leftovers(self.index_dir)
        factory = manifest["settings"]["faiss_factory"]
        title_of = {d.doc_id: d.title for d in contents.documents}
        chunk_texts = [titled(title_of[c.doc_id], c.text) for c in contents.chunks]
        dim = int(contents.chunk_vectors.shape[1])
        # Each index by its own size: a collection has about five sentences per chunk.
        specs = {
            "chunks": DenseSpec.choose(len(contents.chunks), dim, factory),
            "sentences": DenseSpec.choose(len(contents.sentences), dim, factory),
        }
        dense = ChunkIndex.build(contents.chunk_vectors, specs["chunks"])
        sentence_dense = ChunkIndex.build(contents.sentence_vectors.titled, specs["sentences"])
        lexical = LexicalIndex.build(chunk_texts)
        # Untitled: every sentence of a document would otherwise match its title's words.
        sentence_lexical = LexicalIndex.build([s.text for s in contents.sentences])

        def write(folder: Path) -> None:
            dense.save(folder)
            sentence_dense.save(folder, SENTENCE_FILE)
            lexical.save(folder)
            sentence_lexical.save(folder, SENTENCE_BM25_DIR)
            contents.save(folder)
            counts = {
                "documents": len(contents.documents),
                "sentences": len(contents.sentences),
                "chunks": len(contents.chunks),
            }
            faiss = {name: spec.to_dict() for name, spec in specs.items()}
            write_manifest(
                folder,
                {
                    **manifest,
                    "counts": counts,
                    "faiss": faiss,
                    "checksums": checksums(folder),
                    "sizes": file_sizes(folder),
                },
            )

        return write_build(self.index_dir, write)

    def _live_or_raise(self) -> Path:
        folder = self.live()
        if folder is None:
            raise IndexUnavailable(
                f"no index in {self.index_dir}: build one with `qa index` (or `make index`)"
            )
        return folder

    def _load(self, folder: Path, expected: dict[str, Any]) -> LoadedIndex:
        manifest = read_manifest_in(folder)
        check_settings(manifest, expected, self.index_dir)
        # Every worker loads each new build: hashing gigabytes of vectors each time (about 18 GB
        # at a million chunks) would hold a reload for minutes. Big files are checked by size
        # (a build is switched in whole, so damage that keeps the size is rot, not a torn write);
        # a build that reuses this one hashes every file first (``previous``).
        verify_checksums(folder, manifest, hash_limit=LOAD_HASH_LIMIT)
        contents = IndexContents.load(folder)
        loaded = LoadedIndex(
            folder=folder,
            manifest=manifest,
            contents=contents,
            dense=ChunkIndex.load(
                folder, spec=_spec(manifest, "chunks"), vectors=contents.chunk_vectors
            ),
            sentence_dense=ChunkIndex.load(
                folder,
                SENTENCE_FILE,
                spec=_spec(manifest, "sentences"),
                vectors=contents.sentence_vectors.titled,
            ),
            lexical=LexicalIndex.load(folder, len(contents.chunks)),
            sentence_lexical=LexicalIndex.load(folder, len(contents.sentences), SENTENCE_BM25_DIR),
        )
        sizes = {
            "chunks": {len(contents.chunks), loaded.dense.size, len(contents.chunk_vectors)},
            "sentences": {len(contents.sentences), loaded.sentence_dense.size},
        }
        wrong = [name for name, found in sizes.items() if len(found) != 1]
        if wrong:
            raise IndexMismatch(
                f"the index in {folder} disagrees with itself on the number of "
                f"{' and '.join(wrong)}; {REBUILD_HINT}"
            )
        return loaded


def _spec(manifest: dict[str, Any], name: str) -> DenseSpec:
    """How the build made its ``name`` index (builds before "faiss" was recorded: the setting)."""
    recorded = manifest.get("faiss", {}).get(name)
    if isinstance(recorded, dict):
        try:
            return DenseSpec.from_dict(recorded)
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexMismatch(
                f"the manifest's FAISS {name} entry is malformed; {REBUILD_HINT}"
            ) from exc
    return DenseSpec(str(manifest.get("settings", {}).get("faiss_factory", "Flat")))
