"""The index folder's one owner: what an index holds, how it is written, checked and replaced.

- ``contents``: typed records of an index (documents, sentences, chunks, vectors), per-document
  pieces for incremental builds; ``records``: those records memory-mapped on disk;
- ``folder``: the atomic build switch, the build lock, checksums, the manifest;
- ``sources``: the corpus files a build came from, and which changed since;
- ``local``: ``IndexStore``, which writes and loads builds with their FAISS and BM25 files, or
  with their Milvus collections;
- ``milvus``: a build's collections in Milvus (``QA_BACKEND=milvus``).
"""

from qa.store.contents import (
    DocumentPieces,
    IndexContents,
    SentenceVectors,
    StoredDocument,
)
from qa.store.folder import (
    CURRENT,
    MANIFEST,
    REBUILD_HINT,
    check_settings,
    live_build,
    read_manifest,
    recorded_settings,
    write_build,
    write_manifest,
)
from qa.store.local import IndexStore, LoadedIndex, LocalSearch
from qa.store.sources import SourceChange, changed_sources, source_stats

FORMAT_VERSION = 5  # 4: titled passages, sentence BM25; 5: checksums, chunk vectors, page starts

__all__ = [
    "CURRENT",
    "FORMAT_VERSION",
    "MANIFEST",
    "REBUILD_HINT",
    "DocumentPieces",
    "IndexContents",
    "IndexStore",
    "LoadedIndex",
    "LocalSearch",
    "SentenceVectors",
    "StoredDocument",
    "SourceChange",
    "changed_sources",
    "check_settings",
    "live_build",
    "read_manifest",
    "recorded_settings",
    "source_stats",
    "write_build",
    "write_manifest",
]
