"""Which storage backends the tests can run on here."""

from __future__ import annotations

import importlib.util

import pytest

HAS_MILVUS = all(importlib.util.find_spec(m) for m in ("pymilvus", "milvus_lite"))
needs_milvus = pytest.mark.skipif(
    not HAS_MILVUS, reason="pymilvus and milvus-lite are not installed (pip install -e '.[milvus]')"
)
BACKENDS = [pytest.param("faiss"), pytest.param("milvus", marks=needs_milvus)]
