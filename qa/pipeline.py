"""Composition used by every edge: build the index, load it, answer questions."""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa import __version__
from qa.answer import Evidence, Reader
from qa.chunking import chunk_corpus
from qa.cleaning import display_form
from qa.config import MODEL_NAME, TOKENIZER_NAME, Settings
from qa.embedding import Embedder, MiniLMEmbedder, set_torch_threads
from qa.errors import DocumentNotFound, IndexMismatch, IndexUnavailable, InvalidRequest
from qa.index import SENTENCE_FILE, ChunkIndex
from qa.ingest import corpus_fingerprint, load_corpus
from qa.language import (
    SEARCH_TERMS_MESSAGE,
    looks_like_search_terms,
    non_english_language,
    unsupported_message,
)
from qa.lexical import SENTENCE_BM25_DIR, LexicalIndex
from qa.reader_model import ReaderModel
from qa.reranker import load_cross_encoder
from qa.retrieval import Retriever
from qa.schema import Answer, Hit
from qa.store import (
    FORMAT_VERSION,
    SentenceVectors,
    check_settings,
    live_build,
    load_store,
    read_manifest,
    save_store,
    write_build,
    write_manifest,
)
from qa.text import titled

log = logging.getLogger(__name__)
ANSWER_DEPTH = 5  # passages the reader looks at, whatever top_k the caller wants shown

_embedder_lock = threading.Lock()
_embedders: dict[int, Embedder] = {}


def default_embedder(settings: Settings) -> Embedder:
    """One model per process: loading it is the slow part of start-up."""
    with _embedder_lock:
        if settings.embed_batch_size not in _embedders:
            _embedders[settings.embed_batch_size] = MiniLMEmbedder(settings.embed_batch_size)
        return _embedders[settings.embed_batch_size]


def build_settings(settings: Settings) -> dict[str, Any]:
    """The settings an index is built with; loading refuses an index whose settings differ."""
    return {
        "format_version": FORMAT_VERSION,
        "model": MODEL_NAME,
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap_sentences": settings.chunk_overlap_sentences,
        "tokenizer": TOKENIZER_NAME,
        "faiss_factory": settings.faiss_factory,
    }


@dataclass(frozen=True)
class BuildReport:
    """What ``build_index`` did."""

    built: bool
    folder: Path
    documents: int
    chunks: int
    seconds: float


def build_index(
    settings: Settings,
    *,
    force: bool = False,
    progress: bool = True,
    embedder: Embedder | None = None,
) -> BuildReport:
    """Build the index for ``settings.corpus`` unless an identical one is already live."""
    started = time.perf_counter()
    docs = load_corpus(settings.corpus)
    fingerprint = corpus_fingerprint(docs)
    expected = build_settings(settings)
    manifest = None if force else _current_manifest(settings.index_dir, expected, fingerprint)
    if manifest is not None:
        folder = live_build(settings.index_dir)
        assert folder is not None
        _say(progress, f"index in {settings.index_dir} is up to date ({len(docs)} documents)")
        return BuildReport(False, folder, len(docs), manifest["counts"]["chunks"], 0.0)

    _say(progress, f"indexing {len(docs)} documents from {settings.corpus}")
    embedder = embedder or default_embedder(settings)
    sentences, chunks = chunk_corpus(
        docs,
        budget=settings.chunk_tokens,
        overlap=settings.chunk_overlap_sentences,
        fits_model=embedder.fits,
    )
    _say(
        progress, f"embedding {len(chunks)} chunks and {len(sentences)} sentences (bare and titled)"
    )
    title_of = {doc.doc_id: doc.title for doc in docs}
    chunk_texts = [titled(title_of[c.doc_id], c.text) for c in chunks]
    chunk_vectors = embedder.encode(chunk_texts, progress=progress)
    sentence_vectors = SentenceVectors(
        bare=embedder.encode([s.text for s in sentences], progress=progress),
        titled=embedder.encode(
            [titled(title_of[s.doc_id], s.text) for s in sentences], progress=progress
        ),
    )
    dense = ChunkIndex.build(chunk_vectors, settings.faiss_factory)
    sentence_index = ChunkIndex.build(sentence_vectors.titled, settings.faiss_factory)
    lexical = LexicalIndex.build(chunk_texts)
    # Untitled: every sentence of a document would otherwise match its title's words.
    sentence_lexical = LexicalIndex.build([s.text for s in sentences])

    def write(folder: Path) -> None:
        dense.save(folder)
        sentence_index.save(folder, SENTENCE_FILE)
        lexical.save(folder)
        sentence_lexical.save(folder, SENTENCE_BM25_DIR)
        save_store(folder, docs, sentences, chunks, sentence_vectors)
        write_manifest(
            folder,
            {
                "settings": expected,
                "model_dim": embedder.dim,
                "corpus": str(settings.corpus),
                "documents": fingerprint,
                "counts": {
                    "documents": len(docs),
                    "sentences": len(sentences),
                    "chunks": len(chunks),
                },
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "build_seconds": round(time.perf_counter() - started, 2),
                "qa_version": __version__,
            },
        )

    folder = write_build(settings.index_dir, write)
    seconds = time.perf_counter() - started
    _say(progress, f"index written to {folder} in {seconds:.1f}s")
    return BuildReport(True, folder, len(docs), len(chunks), seconds)


def ensure_index(settings: Settings, *, progress: bool = True) -> BuildReport:
    """Build the index if it is missing or stale; otherwise do nothing."""
    return build_index(settings, progress=progress)


def _current_manifest(
    index_dir: Path, expected: dict[str, Any], fingerprint: dict[str, str]
) -> dict[str, Any] | None:
    """The live manifest if it was built from this corpus with these settings, else None."""
    try:
        manifest = read_manifest(index_dir)
    except IndexUnavailable:
        return None
    same = manifest.get("settings") == expected and manifest.get("documents") == fingerprint
    return manifest if same else None


def _not_read(question: str, message: str, started: float, hits: tuple[Hit, ...] = ()) -> Answer:
    """An abstention for a question the reader does not read, saying why; ``hits`` when
    retrieval has something to show (search terms), none for a language it cannot read.
    """
    total = (time.perf_counter() - started) * 1000
    return Answer(
        question=question,
        answerable=False,
        text=None,
        short_answer=None,
        confidence=0.0,
        citations=(),
        hits=hits,
        timings_ms={"retrieve": total if hits else 0.0, "answer": 0.0, "total": total},
        message=message,
    )


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(f"qa: {message}", file=sys.stderr, flush=True)


class QAPipeline:
    """A loaded index plus the model: answers questions; read-only and thread-safe after load."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self._embedder = embedder
        self.manifest = read_manifest(settings.index_dir)
        check_settings(self.manifest, build_settings(settings), settings.index_dir)
        if self.manifest.get("model_dim") != embedder.dim:
            raise IndexMismatch(
                f"the index in {settings.index_dir} holds {self.manifest.get('model_dim')}-dimensional "
                f"vectors but the model gives {embedder.dim}; rebuild it with `qa index --force`"
            )
        folder = live_build(settings.index_dir)
        assert folder is not None
        documents, sentences, chunks, sentence_vectors = load_store(folder)
        self._documents = {d["doc_id"]: (d["title"], d["raw_text"]) for d in documents}
        self._retriever = Retriever(
            chunks,
            ChunkIndex.load(folder),
            ChunkIndex.load(folder, SENTENCE_FILE),
            LexicalIndex.load(folder, len(chunks)),
            LexicalIndex.load(folder, len(sentences), SENTENCE_BM25_DIR),
            depth=settings.candidate_depth,
            rrf_k=settings.rrf_k,
        )
        self._reader = Reader(
            sentences,
            sentence_vectors.bare,
            self._documents,
            titled_vectors=sentence_vectors.titled,
            model=ReaderModel.load(settings.reader_model),
            threshold=settings.abstain_threshold,
            cross_encoder=load_cross_encoder(settings.reranker),
        )
        self._n_chunks = len(chunks)

    @classmethod
    def load(cls, settings: Settings, embedder: Embedder | None = None) -> QAPipeline:
        """Load the index in ``settings.index_dir``; ``IndexUnavailable`` if there is none."""
        read_manifest(settings.index_dir)  # fail fast, before the model loads
        set_torch_threads(settings.query_threads)
        return cls(settings, embedder or default_embedder(settings))

    @property
    def abstain_threshold(self) -> float:
        """Confidence below which the pipeline abstains (settings, else the reader model's)."""
        return self._reader.threshold

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        """Answer ``question`` with quotes from the documents, or abstain."""
        question = self._check_question(question)
        k = self._check_top_k(top_k)
        started = time.perf_counter()
        language = non_english_language(question)
        if language is not None:
            return _not_read(question, unsupported_message(language), started)
        vector = self._embedder.encode([question])[0]
        hits = self._retriever.search(question, vector, max(k, ANSWER_DEPTH))
        retrieved = time.perf_counter()
        if looks_like_search_terms(question):
            return _not_read(question, SEARCH_TERMS_MESSAGE, started, tuple(hits[:k]))
        reading = self._reader.read(question, vector, hits[:ANSWER_DEPTH])
        done = time.perf_counter()
        return Answer(
            question=question,
            answerable=reading.answerable,
            # The quoted sentences' display form: markdown a .txt file spells out is dropped too.
            text=display_form(reading.text) if reading.text is not None else None,
            short_answer=reading.short_answer,
            confidence=reading.confidence,
            citations=reading.citations,
            hits=tuple(hits[:k]),
            closest=display_form(reading.closest) if reading.closest is not None else None,
            timings_ms={
                "retrieve": (retrieved - started) * 1000,
                "answer": (done - retrieved) * 1000,
                "total": (done - started) * 1000,
            },
        )

    def reader_candidates(self, question: str) -> list[tuple[Evidence, str]]:
        """Every sentence the reader weighs for ``question``, with its text (fitting, diagnostics)."""
        question = self._check_question(question)
        vector = self._embedder.encode([question])[0]
        hits = self._retriever.search(question, vector, ANSWER_DEPTH)
        return [
            (e, self._reader.sentence_text(e.sentence_id))
            for e in self._reader.candidates(question, vector, hits)
        ]

    def gate_candidate(
        self, question: str, without: frozenset[str] = frozenset()
    ) -> tuple[dict[str, float], str] | None:
        """The answer gate's features for the sentence the reader would quote, and that text;
        passages of the documents in ``without`` are left out (a question whose answer is not
        there: unanswerable, yet about what the collection holds).
        """
        question = self._check_question(question)
        vector = self._embedder.encode([question])[0]
        hits = self._retriever.search(
            question, vector, ANSWER_DEPTH + 5 if without else ANSWER_DEPTH
        )
        hits = [h for h in hits if h.chunk.doc_id not in without][:ANSWER_DEPTH]
        return self._reader.gate_candidate(question, vector, hits)

    def titled_sentence(self, sentence_id: int) -> str:
        """A sentence headed by its document's title (cross-encoder training)."""
        return self._reader.titled_sentence(sentence_id)

    def search(self, query: str, top_k: int | None = None) -> list[Hit]:
        """Retrieval only: the ``top_k`` passages for ``query``."""
        query = self._check_question(query, what="query")
        vector = self._embedder.encode([query])[0]
        return self._retriever.search(query, vector, self._check_top_k(top_k))

    def documents(self) -> list[dict[str, Any]]:
        """Every document's id, title and length in characters."""
        return [
            {"doc_id": doc_id, "title": title, "chars": len(raw)}
            for doc_id, (title, raw) in sorted(self._documents.items())
        ]

    def document(self, doc_id: str) -> tuple[str, str]:
        """``(title, raw_text)`` of one document; ``DocumentNotFound`` for any other id."""
        try:
            return self._documents[doc_id]
        except KeyError:
            raise DocumentNotFound(f"no document with id {doc_id!r}") from None

    def document_text(self, doc_id: str) -> str:
        """The raw text of one document, exactly as indexed (citations point into it)."""
        return self.document(doc_id)[1]

    def health(self) -> dict[str, Any]:
        """Status, counts and a summary of the index manifest."""
        return {
            "status": "ok",
            "documents": len(self._documents),
            "chunks": self._n_chunks,
            "model": self._embedder.name,
            "index": {
                "dir": str(self.settings.index_dir),
                "corpus": self.manifest.get("corpus"),
                "built_at": self.manifest.get("built_at"),
                "settings": self.manifest.get("settings"),
                "counts": self.manifest.get("counts"),
                "qa_version": self.manifest.get("qa_version"),
            },
            "reader": {
                "threshold": self._reader.threshold,
                "provenance": dict(self._reader.model.provenance),
                "cross_encoder": (
                    dict(self._reader.cross_encoder.provenance)
                    if self._reader.cross_encoder is not None
                    else None
                ),
            },
        }

    def _check_question(self, question: object, what: str = "question") -> str:
        if not isinstance(question, str):
            raise InvalidRequest(f"'{what}' must be a string")
        if len(question) > self.settings.max_question_chars:
            raise InvalidRequest(
                f"'{what}' is {len(question)} characters; the limit is {self.settings.max_question_chars}"
            )
        # Control characters (NUL, terminal escapes) carry no meaning in a question: drop them.
        cleaned = " ".join(
            "".join(
                " " if ch.isspace() else ch for ch in question if ch.isspace() or ch.isprintable()
            ).split()
        )
        if not cleaned:
            raise InvalidRequest(f"'{what}' is empty")
        # "???" or "🙂" leaves retrieval nothing to match and the reader nothing to read.
        if not any(ch.isalnum() for ch in cleaned):
            raise InvalidRequest(f"'{what}' has no words, only punctuation, symbols or emoji")
        return cleaned

    def _check_top_k(self, top_k: object) -> int:
        if top_k is None:
            return self.settings.top_k
        if (
            isinstance(top_k, bool)
            or not isinstance(top_k, int)
            or not 1 <= top_k <= self.settings.max_top_k
        ):
            raise InvalidRequest(f"'top_k' must be an integer from 1 to {self.settings.max_top_k}")
        return top_k
