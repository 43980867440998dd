"""A build's searchable index in Milvus (``QA_BACKEND=milvus``); the only package that imports pymilvus.

Each build writes two collections, one of chunks and one of sentences. A row holds the passage's
id (its row in the build's contents), document id, character offsets, text, dense vector, and the
BM25 sparse vector Milvus derives from the text with its BM25 function. At query time Milvus runs
the dense and BM25 searches, and fuses the chunks' two rankings itself (hybrid search, RRF).

The manifest names a build's collections, so switching builds stays the index folder's atomic
symlink swap: a failed or killed build never touches the collections in use. The collections of
the build a new one replaced are kept until the next build (a server still answering from it
reloads within seconds); older ones, and those of killed builds, are dropped.

Milvus Lite's analyzer has no stemmer, so Milvus gets the terms ``qa.text`` makes (stemmed, no
stopwords), joined by spaces: both backends rank by the same terms, BM25 with bm25s's k1 and b.
"""

from qa.store.milvus.client import MilvusTarget, connect
from qa.store.milvus.collections import (
    MAX_VARCHAR,
    Passages,
    drop,
    drop_unused,
    exists,
    milvus_terms,
    new_namespace,
    write,
)
from qa.store.milvus.search import Collection, MilvusSearch, open_collections

__all__ = [
    "MAX_VARCHAR",
    "Collection",
    "MilvusSearch",
    "MilvusTarget",
    "Passages",
    "connect",
    "drop",
    "drop_unused",
    "exists",
    "milvus_terms",
    "new_namespace",
    "open_collections",
    "write",
]
