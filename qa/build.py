"""Building an index from a corpus, incrementally: only added and changed documents are chunked
and embedded; unchanged ones keep their stored pieces (vectors included)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from qa import __version__
from qa.config import DEFAULT_CORPUS, MODEL_NAME, TOKENIZER_NAME, Settings
from qa.embedding import Embedder, load_embedder
from qa.errors import CorpusError, IndexUnavailable, InvalidSetting, UpdateRefused
from qa.ingest import TEXT_RULES, ReadLimits, scan_corpus, sha256_text
from qa.ingest.chunking import chunk_corpus
from qa.ingest.metadata import META_SUFFIX
from qa.runtime import BI_ENCODER, EncoderRuntime, encoder_runtime
from qa.schema import Chunk, Document, SkippedFile
from qa.store import (
    FORMAT_VERSION,
    DocumentPieces,
    IndexContents,
    IndexStore,
    SentenceVectors,
    SourceChange,
    StoredDocument,
    changed_sources,
    recorded_settings,
    source_stats,
)
from qa.store.dense import ChunkIndex
from qa.text import titled

# The chunk-and-embed step: new or changed documents -> their pieces. The default embeds in this
# process; ``qa.ray_build.RayEmbedStep`` runs the same step as a Ray Data job.
EmbedStep = Callable[[Sequence[Document], Settings, bool], dict[str, DocumentPieces]]

_embedder_lock = threading.Lock()
_embedders: dict[tuple[int, EncoderRuntime], Embedder] = {}


def default_embedder(settings: Settings) -> Embedder:
    """One model per process: loading it is the slow part of start-up."""
    key = (settings.embed_batch_size, encoder_runtime(settings, BI_ENCODER))
    with _embedder_lock:
        if key not in _embedders:
            _embedders[key] = load_embedder(*key)
        return _embedders[key]


def _load_and_warm(settings: Settings) -> None:
    """Load the model and run it once: a fresh process's first batch pays for setting torch up."""
    default_embedder(settings).encode(["warm up"])


def build_settings(settings: Settings) -> dict[str, Any]:
    """The settings an index is built with; loading refuses an index whose settings differ."""
    return {
        "format_version": FORMAT_VERSION,
        "model": MODEL_NAME,
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap_sentences": settings.chunk_overlap_sentences,
        "tokenizer": TOKENIZER_NAME,
        "faiss_factory": settings.faiss_factory,
        "backend": settings.backend,
        "text_rules": TEXT_RULES,
        # Named only when not the default, so indexes built before it existed still match.
        **(
            {"chunk_vectors": settings.chunk_vectors}
            if settings.chunk_vectors != "embedded"
            else {}
        ),
    }


# What the searchable index alone depends on: another value re-indexes the stored vectors.
INDEX_ONLY = ("faiss_factory", "backend")
# What an index may have been built with otherwise and still be served: sentences cut by older
# rules are consistent with their vectors and offsets; the next `qa index` re-splits them.
SERVABLE_ANYWAY = ("text_rules",)


def load_settings(settings: Settings) -> dict[str, Any]:
    """The build settings a loaded index must have been built with (``SERVABLE_ANYWAY`` aside)."""
    return {k: v for k, v in build_settings(settings).items() if k not in SERVABLE_ANYWAY}


def older_text_rules(manifest: dict[str, Any]) -> str | None:
    """What to tell when a build's sentences were cut by other text rules than this version's
    (``qa.ingest.TEXT_RULES``); None when they are this version's."""
    built = recorded_settings(manifest)["text_rules"]
    if built == TEXT_RULES:
        return None
    return f"split into sentences by text rules {built}, now {TEXT_RULES}: `qa index` re-splits it"


@dataclass(frozen=True)
class BuildReport:
    """What ``build_index`` did: ``built`` is False when the index was already up to date."""

    built: bool
    folder: Path
    documents: int
    chunks: int
    seconds: float
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: tuple[SkippedFile, ...] = field(default=())
    # Seconds per phase (``PhaseTimer``), in the order they ran; empty when nothing was built.
    phases: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return _summary(
            {
                "added": self.added,
                "updated": self.updated,
                "removed": self.removed,
                "unchanged": self.unchanged,
            }
        )


class PhaseTimer:
    """Seconds per build phase, each lap from the end of the last one: the laps add up to the
    build's time. A phase timed twice adds up too."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        """End ``phase`` now."""
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._last
        self._last = now

    def summary(self, total: float) -> str:
        """``reading 1.2s, chunking 0.4s, ...; total 12.3s``."""
        laps = ", ".join(f"{phase} {s:.1f}s" for phase, s in self.seconds.items())
        return f"{laps}; total {total:.1f}s"


def corpus_of(settings: Settings, index_dir: Path | None = None) -> Path:
    """The corpus to build from: the one given, else the one the index was built from, else the
    sample articles. An index is never rebuilt from another corpus unless it is given.
    """
    if settings.corpus is not None:
        return Path(settings.corpus)
    store = IndexStore(index_dir or settings.index_dir)
    try:
        remembered = store.manifest().get("corpus")
    except IndexUnavailable:
        remembered = None
    if not remembered:
        return DEFAULT_CORPUS
    corpus = Path(remembered)
    if not corpus.exists():
        raise CorpusError(
            f"the index in {store.index_dir} was built from {corpus}, which no longer exists; "
            "give --corpus (or QA_CORPUS) to build it from another corpus"
        )
    return corpus


def build_index(
    settings: Settings,
    *,
    force: bool = False,
    progress: bool = True,
    embedder: Embedder | None = None,
    embed_step: EmbedStep | None = None,
) -> BuildReport:
    """Bring the index in ``settings.index_dir`` up to date with its corpus (``corpus_of``).

    ``force`` re-embeds everything. ``embed_step`` replaces the in-process chunking and embedding
    (``embedder`` is then unused). One build at a time per index folder; a failed or killed
    build leaves the live index as it was.
    """
    store = IndexStore.of(settings)
    with store.lock(wait_message=f"qa: waiting for another build of {settings.index_dir}"):
        return _build(
            store,
            settings,
            force=force,
            progress=progress,
            embedder=embedder,
            embed_step=embed_step,
        )


def _build(
    store: IndexStore,
    settings: Settings,
    *,
    force: bool,
    progress: bool,
    embedder: Embedder | None,
    embed_step: EmbedStep | None = None,
) -> BuildReport:
    started = time.perf_counter()
    timer = PhaseTimer()
    # Fail now, before any model work.
    ChunkIndex.check_factory(settings.faiss_factory)
    if settings.backend == "milvus":
        if settings.faiss_factory != "auto":
            raise InvalidSetting(
                f"QA_FAISS_FACTORY={settings.faiss_factory!r} applies to the faiss backend; with "
                "Milvus the dense index is chosen by size (FLAT, then HNSW): leave it at 'auto'"
            )
        store.connect()
    corpus = corpus_of(settings).resolve()
    if embedder is None and embed_step is None:
        # Loading the model takes seconds: start it now, while the corpus and the stored index
        # are read, so an update that must embed a little does not wait for it afterwards.
        # Not a daemon: a process that exits (index up to date) while a daemon thread is inside
        # ONNX Runtime's or torch's native code is aborted ("terminate called ..."); Python
        # waits for this one instead.
        threading.Thread(target=_load_and_warm, args=(settings,)).start()
    expected = build_settings(settings)
    # The searchable index is derived from the stored vectors: another FAISS factory or backend
    # re-indexes, never re-embeds.
    reusable = {k: v for k, v in expected.items() if k not in INDEX_ONLY}
    previous = None if force else store.previous(reusable)
    old_manifest, old_pieces = (previous[0], previous[1].pieces()) if previous else ({}, {})
    sources = source_stats(corpus)
    plan = _plan(corpus, sources, old_manifest, old_pieces, progress, ReadLimits.of(settings))
    counts = plan.counts()
    timer.lap("reading")  # the stored index, the corpus's files, their text cleaned

    # Same documents from the same files: nothing to write. (Same documents from files moved or
    # touched: a new build that embeds nothing, so the manifest's sources stay true.)
    same_files = (old_manifest.get("corpus"), old_manifest.get("sources")) == (str(corpus), sources)
    same_settings = recorded_settings(old_manifest) == expected
    if (
        previous is not None
        and not plan.fresh
        and not plan.removed
        and same_files
        and same_settings
        and store.searchable(old_manifest)
    ):
        n = len(plan.documents)
        _say(progress, f"index in {store.index_dir} is up to date ({n} documents)")
        folder = store.live()
        assert folder is not None
        return BuildReport(
            False,
            folder,
            n,
            old_manifest["counts"]["chunks"],
            0.0,
            unchanged=n,
            skipped=plan.skipped,
        )

    _say(progress, f"{_summary(counts)} documents")
    fresh = [plan.fresh[i] for i in sorted(plan.fresh)]
    pieces: dict[str, DocumentPieces] = {}
    if embed_step is not None and fresh:
        pieces = embed_step(fresh, settings, progress)
        dim = next(iter(pieces.values())).chunk_vectors.shape[1]
        timer.lap("chunking and embedding")
    elif fresh or previous is None:
        embedder = embedder or default_embedder(settings)
        timer.lap("waiting for the model")  # it loads meanwhile reading, in a thread
        dim = embedder.dim
        pieces = embed_documents(fresh, settings, embedder, progress, timer)
    else:  # only removals or a moved corpus: nothing to embed
        dim = int(old_manifest["model_dim"])
    contents = IndexContents.assemble(
        [pieces.get(i) or _kept(old_pieces[i], plan.documents[i]) for i in sorted(plan.documents)],
        dim,
    )
    searchable = "Milvus collections" if settings.backend == "milvus" else "FAISS, BM25"
    _say(progress, f"writing the index ({searchable}, store)")
    folder = store.write(
        contents,
        {
            "settings": expected,
            "model_dim": dim,
            "corpus": str(corpus),
            "documents": {d.doc_id: d.sha256 for d in contents.documents},
            "sources": sources,
            "skipped": [s.to_dict() for s in plan.skipped],
            "changes": counts,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "build_seconds": round(time.perf_counter() - started, 2),
            "qa_version": __version__,
        },
    )
    timer.lap("writing")  # the searchable index (FAISS and BM25, or Milvus) and the store
    seconds = time.perf_counter() - started
    _say(progress, f"index written to {folder} in {seconds:.1f}s")
    _say(progress, f"time per phase: {timer.summary(seconds)}")
    return BuildReport(
        True,
        folder,
        len(contents.documents),
        len(contents.chunks),
        seconds,
        skipped=plan.skipped,
        phases=dict(timer.seconds),
        **counts,
    )


@dataclass(frozen=True)
class _Plan:
    """What a build will hold, against what the live build holds."""

    documents: dict[str, StoredDocument]  # every document of the new build, by doc_id
    fresh: dict[str, Document]  # added or changed: to chunk and embed
    added: int
    removed: tuple[str, ...]
    skipped: tuple[SkippedFile, ...]

    def counts(self) -> dict[str, int]:
        return {
            "added": self.added,
            "updated": len(self.fresh) - self.added,
            "removed": len(self.removed),
            "unchanged": len(self.documents) - len(self.fresh),
        }


def _plan(
    corpus: Path,
    sources: dict[str, list[Any]],
    old_manifest: dict[str, Any],
    old_pieces: dict[str, DocumentPieces],
    progress: bool,
    limits: ReadLimits,
) -> _Plan:
    """Read the corpus, except what the live build already holds as it is: folder files whose
    bytes did not change (a folder document's id is its path) and SQuAD paragraphs whose text did
    not (their stored pieces are kept); then compare with the live build.
    """
    old_sources = old_manifest.get("sources", {})
    known = {
        rel
        for rel, (_, _, sha) in sources.items()
        if rel in old_pieces
        and rel in old_sources
        and old_sources[rel][2] == sha
        and _same_sidecar(rel, sources, old_sources)
    }
    _say(progress, f"reading {corpus}" + (f" ({len(known)} files unchanged)" if known else ""))
    scanned = scan_corpus(
        corpus,
        known=known if corpus.is_dir() else (),
        known_texts={doc_id: piece.document.sha256 for doc_id, piece in old_pieces.items()},
        progress=progress,
        limits=limits,
    )
    documents = {d.doc_id: _stored(d) for d in scanned.documents}
    documents.update({rel: old_pieces[rel].document for rel in scanned.known})
    # A document whose metadata alone changed keeps its pieces (``_kept``): not fresh.
    fresh = {
        d.doc_id: d
        for d in scanned.documents
        if d.doc_id not in old_pieces
        or replace(old_pieces[d.doc_id].document, meta=d.meta) != documents[d.doc_id]
    }
    return _Plan(
        documents=documents,
        fresh=fresh,
        added=sum(doc_id not in old_pieces for doc_id in fresh),
        removed=tuple(doc_id for doc_id in old_pieces if doc_id not in documents),
        skipped=tuple(scanned.skipped),
    )


def _stored(doc: Document) -> StoredDocument:
    return StoredDocument(
        doc_id=doc.doc_id,
        title=doc.title,
        raw_text=doc.raw_text,
        sha256=sha256_text(doc.raw_text),
        page_starts=tuple(doc.page_starts),
        meta=dict(doc.meta),
    )


def _same_sidecar(rel: str, sources: dict[str, list[Any]], old: dict[str, Any]) -> bool:
    """Whether a file's metadata file (``qa.ingest.metadata``) is as it was: both absent, or
    both there with the same hash; otherwise the file is read again for its new metadata."""
    now, then = sources.get(rel + META_SUFFIX), old.get(rel + META_SUFFIX)
    return (now is None) == (then is None) and (now is None or now[2] == then[2])


def _kept(piece: DocumentPieces, document: StoredDocument) -> DocumentPieces:
    """A stored piece under the document as read now: the same text, maybe new metadata."""
    return piece if piece.document == document else replace(piece, document=document)


def embed_documents(
    docs: Sequence[Document],
    settings: Settings,
    embedder: Embedder,
    progress: bool,
    timer: PhaseTimer | None = None,
) -> dict[str, DocumentPieces]:
    """Chunk and embed ``docs``; each document's piece by doc_id. ``timer`` times each step."""
    if not docs:
        return {}
    lap = timer.lap if timer is not None else lambda phase: None
    sentences, chunks = chunk_corpus(
        docs,
        budget=settings.chunk_tokens,
        overlap=settings.chunk_overlap_sentences,
        fits_model=embedder.fits,
    )
    lap("chunking")  # sentences split, windows cut to the model's tokens
    title_of = {d.doc_id: d.title for d in docs}
    if settings.chunk_vectors == "embedded":
        chunk_vectors = embedder.encode(
            [titled(title_of[c.doc_id], c.text) for c in chunks],
            progress=progress,
            desc="embedding chunks",
        )
        lap("embedding chunks")
    bare = embedder.encode(
        [s.text for s in sentences], progress=progress, desc="embedding sentences"
    )
    lap("embedding sentences")
    titled_vectors = embedder.encode(
        [titled(title_of[s.doc_id], s.text) for s in sentences],
        progress=progress,
        desc="embedding titled sentences",
    )
    lap("embedding titled sentences")
    if settings.chunk_vectors != "embedded":
        chunk_vectors = _sentence_means(chunks, titled_vectors)
    # One contents of the new documents, cut into per-document pieces.
    batch = IndexContents(
        documents=tuple(_stored(d) for d in docs),
        sentences=tuple(sentences),
        chunks=tuple(chunks),
        chunk_vectors=chunk_vectors,
        sentence_vectors=SentenceVectors(bare, titled_vectors),
    )
    return batch.pieces()


def _sentence_means(chunks: Sequence[Chunk], vectors: np.ndarray) -> np.ndarray:
    """Each chunk's vector as the unit-length mean of its sentences' (rows of ``vectors``)."""
    out = np.stack([vectors[c.first_sentence : c.last_sentence + 1].mean(axis=0) for c in chunks])
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.maximum(norms, 1e-12)).astype(np.float32)


def _summary(counts: dict[str, int]) -> str:
    """``added N, updated N, removed N, unchanged N``."""
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(f"qa: {message}", file=sys.stderr, flush=True)


def update_corpus(
    settings: Settings,
    change: Callable[[Path], str],
    *,
    embedder: Embedder | None = None,
) -> tuple[str, BuildReport]:
    """Apply ``change(corpus folder)`` and rebuild incrementally, both under the build lock, so
    concurrent updates queue and never interleave; ``change`` returns what it did.

    A crash between the two leaves the file changed and the old index live: it is reported
    stale and the next build catches up.
    """
    store = IndexStore.of(settings)
    with store.lock():
        if settings.corpus is None and store.live() is None:
            raise UpdateRefused(
                f"there is no index in {settings.index_dir} yet, so no corpus to change: build "
                "one with `qa index --corpus <folder>` first"
            )
        corpus = corpus_of(settings)
        if not corpus.is_dir():
            raise UpdateRefused(
                f"the corpus {corpus} is a single file, not a folder: documents cannot be "
                "added or removed one by one; edit it and run `qa index`"
            )
        what = change(corpus)
        return what, _build(store, settings, force=False, progress=False, embedder=embedder)


def check_index(settings: Settings) -> list[SourceChange]:
    """Corpus files added, changed or removed since the live build (``qa index --check``)."""
    manifest = IndexStore(settings.index_dir).manifest()
    corpus = corpus_of(settings)
    return changed_sources(corpus, manifest.get("sources", {}))


def check_text_rules(settings: Settings) -> str | None:
    """``older_text_rules`` of the live build (``qa index --check``)."""
    return older_text_rules(IndexStore(settings.index_dir).manifest())
