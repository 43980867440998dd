"""``IndexStore``: the one owner of an index folder and of its builds' searchable indexes.

It saves, loads, checks and replaces every artefact of a build and its manifest; nothing else
knows a file name inside ``index_dir``, nor a Milvus collection. The searchable index is FAISS and
BM25 files beside the contents (backend "faiss"), or Milvus collections the manifest names
(backend "milvus", ``qa.store.milvus``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.config import Settings
from qa.errors import IndexMismatch, IndexUnavailable
from qa.store import milvus
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
    recorded_settings,
    remove_leftovers,
    verify_checksums,
    write_build,
    write_manifest,
)
from qa.store.lexical import SENTENCE_BM25_DIR, LexicalIndex
from qa.store.milvus import MilvusSearch, MilvusTarget

LOAD_HASH_LIMIT = 64 << 20  # bytes: files above it are checked by size when a build is loaded

MILVUS_LITE_FILE = "milvus.db"  # the default Milvus: a Milvus Lite file in the index folder


@dataclass(frozen=True)
class LocalSearch:
    """A build's FAISS and BM25 indexes (backend "faiss")."""

    dense: ChunkIndex  # chunks, titled
    sentence_dense: ChunkIndex  # sentences, titled
    lexical: LexicalIndex  # chunks, titled
    sentence_lexical: LexicalIndex  # sentences, untitled


@dataclass(frozen=True)
class LoadedIndex:
    """A live build read back, checked and ready to search."""

    folder: Path
    manifest: dict[str, Any]
    contents: IndexContents
    search: LocalSearch | MilvusSearch


class IndexStore:
    """The index folder ``index_dir``: builds, the live one, its manifest and checks.

    ``milvus`` says where builds with the Milvus backend keep their collections (by default a
    Milvus Lite file in the index folder).
    """

    def __init__(self, index_dir: Path, milvus: MilvusTarget | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.milvus = milvus or MilvusTarget(str(self.index_dir / MILVUS_LITE_FILE))

    @classmethod
    def of(cls, settings: Settings) -> IndexStore:
        """The store of ``settings.index_dir``, with the Milvus the settings name."""
        uri = settings.milvus_uri or str(Path(settings.index_dir) / MILVUS_LITE_FILE)
        target = MilvusTarget(uri, settings.milvus_token, settings.milvus_prefix)
        return cls(settings.index_dir, target)

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

    def connect(self) -> None:
        """Reach the Milvus builds are written to: ``DependencyMissing`` without pymilvus,
        ``IndexUnavailable`` when it does not answer."""
        milvus.connect(self.milvus)

    def searchable(self, manifest: dict[str, Any]) -> bool:
        """Whether the build of ``manifest`` has its searchable index where the settings point
        (Milvus collections can be dropped, or QA_MILVUS_URI name another Milvus)."""
        if _backend(manifest) != "milvus":
            return True
        return milvus.exists(milvus.connect(self.milvus), manifest.get("milvus", {}))

    def write(self, contents: IndexContents, manifest: dict[str, Any]) -> Path:
        """Derive the searchable index from ``contents`` (FAISS and BM25 files, or Milvus
        collections), write it with the contents and the manifest (plus counts and checksums)
        into a new build, and make it live.

        Hold ``lock()`` around it. Leftovers of killed builds are removed first.
        """
        remove_leftovers(self.index_dir)
        counts = {
            "documents": len(contents.documents),
            "sentences": len(contents.sentences),
            "chunks": len(contents.chunks),
        }
        if _backend(manifest) == "milvus":
            return self._write_milvus(contents, {**manifest, "counts": counts})
        save_index, index_entry = self._faiss_files(contents, manifest)
        return self._write_build(contents, {**manifest, "counts": counts}, save_index, index_entry)

    def _write_build(
        self,
        contents: IndexContents,
        manifest: dict[str, Any],
        save_index: Callable[[Path], None],
        index_entry: dict[str, Any],
    ) -> Path:
        def write(folder: Path) -> None:
            save_index(folder)
            contents.save(folder)
            write_manifest(
                folder,
                {
                    **manifest,
                    **index_entry,
                    "checksums": checksums(folder),
                    "sizes": file_sizes(folder),
                },
            )

        return write_build(self.index_dir, write)

    def _write_milvus(self, contents: IndexContents, manifest: dict[str, Any]) -> Path:
        """New collections for the build, switched in with its folder; the collections of the
        build before the one replaced (and of killed builds) dropped."""
        client = milvus.connect(self.milvus)
        live = self._live_milvus_entry()
        namespace = live.get("namespace") or milvus.new_namespace(self.milvus.prefix)
        live_names = set(live.get("collections", {}).values())
        milvus.drop_unused(client, namespace, live_names | set(live.get("replaced", [])))
        entry = milvus.write(client, namespace, _passages(contents))
        entry["replaced"] = sorted(live_names)
        entry["uri"] = self.milvus.uri  # where it was written; loading uses the settings' URI
        try:
            folder = self._write_build(contents, manifest, lambda _: None, {"milvus": entry})
        except BaseException:
            milvus.drop(client, entry["collections"].values())
            raise
        # A server still on the replaced build reloads within seconds: keep its collections.
        milvus.drop_unused(client, namespace, set(entry["collections"].values()) | live_names)
        return folder

    def _live_milvus_entry(self) -> dict[str, Any]:
        folder = self.live()
        if folder is None:
            return {}
        try:
            entry = read_manifest_in(folder).get("milvus")
        except IndexMismatch:
            return {}
        return entry if isinstance(entry, dict) else {}

    def _faiss_files(
        self, contents: IndexContents, manifest: dict[str, Any]
    ) -> tuple[Callable[[Path], None], dict[str, Any]]:
        """What writes a build's FAISS and BM25 files, and the manifest's entry for them."""
        factory = manifest["settings"]["faiss_factory"]
        chunk_texts = contents.titled_chunk_texts()
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

        def save(folder: Path) -> None:
            dense.save(folder)
            sentence_dense.save(folder, SENTENCE_FILE)
            lexical.save(folder)
            sentence_lexical.save(folder, SENTENCE_BM25_DIR)

        return save, {"faiss": {name: spec.to_dict() for name, spec in specs.items()}}

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
        if _backend(manifest) == "milvus":
            counts = {"chunks": len(contents.chunks), "sentences": len(contents.sentences)}
            search = milvus.open_collections(
                milvus.connect(self.milvus), manifest.get("milvus", {}), counts, str(folder)
            )
            return LoadedIndex(folder, manifest, contents, search)
        local = LocalSearch(
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
            "chunks": {len(contents.chunks), local.dense.size, len(contents.chunk_vectors)},
            "sentences": {len(contents.sentences), local.sentence_dense.size},
        }
        wrong = [name for name, found in sizes.items() if len(found) != 1]
        if wrong:
            raise IndexMismatch(
                f"the index in {folder} disagrees with itself on the number of "
                f"{' and '.join(wrong)}; {REBUILD_HINT}"
            )
        return LoadedIndex(folder, manifest, contents, local)


def _backend(manifest: dict[str, Any]) -> str:
    """The backend a build was written for."""
    return str(recorded_settings(manifest)["backend"])


def _passages(contents: IndexContents) -> dict[str, milvus.Passages]:
    """The Milvus rows of a build: chunks headed by their title, sentences bare (as BM25 sees
    them in the faiss backend), each with the vector retrieval searches."""
    chunks, sentences = contents.chunks, contents.sentences
    return {
        "chunks": milvus.Passages(
            doc_ids=[c.doc_id for c in chunks],
            starts=[c.start for c in chunks],
            ends=[c.end for c in chunks],
            texts=contents.titled_chunk_texts(),
            vectors=contents.chunk_vectors,
        ),
        "sentences": milvus.Passages(
            doc_ids=[s.doc_id for s in sentences],
            starts=[s.start for s in sentences],
            ends=[s.end for s in sentences],
            texts=[s.text for s in sentences],
            vectors=contents.sentence_vectors.titled,
        ),
    }


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
