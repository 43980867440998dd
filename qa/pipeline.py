"""Composition used by every edge: build the index, load it, answer questions."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qa.build import (
    BuildReport,
    build_index,
    default_embedder,
    load_settings,
    older_text_rules,
)
from qa.config import Settings
from qa.embedding import Embedder
from qa.errors import CorpusError, DocumentNotFound, IndexMismatch, InvalidRequest
from qa.filters import NO_MATCH_MESSAGE, parse_filters
from qa.ingest.cleaning import display_form
from qa.read.answer import Evidence, Reader
from qa.read.language import (
    SEARCH_TERMS_MESSAGE,
    looks_like_search_terms,
    non_english_language,
    unsupported_message,
)
from qa.read.reader_model import ReaderModel
from qa.read.related_terms import load_related_terms
from qa.read.reranker import fitted_reader_model, load_cross_encoder
from qa.read.retrieval import retriever_for
from qa.read.terms import TermStats
from qa.runtime import CROSS_ENCODER, available_cores, encoder_runtime, set_inference_threads
from qa.schema import Answer, DocumentSummary, Hit, RankedAnswer
from qa.store import IndexStore, LocalSearch, SourceChange, changed_sources
from qa.store.dense import set_search_threads
from qa.store.milvus import MilvusSearch
from qa.store.rowset import AllowedRows
from qa.store.scope import DocumentScope

log = logging.getLogger(__name__)
# Passages the reader looks at, whatever top_k the caller wants shown. 10 rather than 5: on SQuAD
# v1.1's calibration fifth (fit articles the cross-encoder never saw) answer hit .855 -> .862,
# lowest-overlap tercile .662 -> .667, at the same latency (the cross-encoder still rereads only
# the linear model's best 5 sentences; rereading 10 lost .009 and doubled its cost).
ANSWER_DEPTH = 10
# Answers one question may ask for (``ask``'s ``answers``): each past the first costs a reread.
MAX_ANSWERS = 10


def ensure_index(settings: Settings, *, progress: bool = True) -> BuildReport | None:
    """Bring the index up to date with its corpus if that corpus is there; an index whose corpus
    is gone is used as it is (with a warning), never rebuilt from another corpus.
    """
    try:
        return build_index(settings, progress=progress)
    except CorpusError as exc:
        if IndexStore(settings.index_dir).live() is None:
            raise
        _say(progress, f"warning: {exc}; using the index as it is")
        return None


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


def _milvus_summary(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """Where a Milvus build's collections are (never a token)."""
    entry = manifest.get("milvus")
    if not isinstance(entry, dict):
        return None
    return {k: entry.get(k) for k in ("uri", "collections", "index")}


def _term_stats(search: LocalSearch | MilvusSearch) -> TermStats | None:
    """The sentences' term weights from the sentence BM25 index where this machine holds one
    (None: the reader counts them over the sentences)."""
    if isinstance(search, LocalSearch):
        lexical = search.sentence_lexical
        return TermStats.from_frequencies(lexical.document_frequencies(), lexical.size)
    return None


class QuestionsInFlight:
    """How many questions this pipeline is answering at once, and so how many cores the one
    asking may read on: its own plus those no other question is using."""

    def __init__(self, cores: int) -> None:
        self.cores = cores
        self._count = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def one(self) -> Iterator[None]:
        with self._lock:
            self._count += 1
        try:
            yield
        finally:
            with self._lock:
                self._count -= 1

    def width(self) -> int:
        """Cores for a question inside ``one()``: 1 under load, where reading ahead would only
        take turns from other questions and spend a core on pairs the early stop may not need."""
        return max(1, self.cores - self._count + 1)


class QAPipeline:
    """A loaded index plus the model: answers questions; read-only and thread-safe after load."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self._embedder = embedder
        loaded = IndexStore.of(settings).load(load_settings(settings))
        self.manifest = loaded.manifest
        self.folder = loaded.folder
        # Served as it is (its sentences match its vectors and offsets), but said.
        self.older_rules = older_text_rules(self.manifest)
        if self.older_rules:
            log.warning("qa: the index in %s was %s", settings.index_dir, self.older_rules)
        if self.manifest.get("model_dim") != embedder.dim:
            raise IndexMismatch(
                f"the index in {settings.index_dir} holds {self.manifest.get('model_dim')}-dimensional "
                f"vectors but the model gives {embedder.dim}; rebuild it with `qa index --force`"
            )
        contents = loaded.contents
        self._contents = contents
        self._documents = contents.document_texts()
        self._retriever = retriever_for(
            contents.chunks, loaded.search, depth=settings.candidate_depth, rrf_k=settings.rrf_k
        )
        self._reader = Reader(
            contents.sentences,
            contents.sentence_vectors.bare,
            self._documents,
            titled_vectors=contents.sentence_vectors.titled,
            model=ReaderModel.load(settings.reader_model or fitted_reader_model(settings.reranker)),
            threshold=settings.abstain_threshold,
            cross_encoder=load_cross_encoder(
                settings.reranker, encoder_runtime(settings, CROSS_ENCODER)
            ),
            page_starts={d.doc_id: d.page_starts for d in contents.documents if d.page_starts},
            term_stats=_term_stats(loaded.search),
            related_terms=load_related_terms(settings.wordnet),
            cache_pairs=settings.pair_cache,
        )
        self._n_chunks = len(contents.chunks)
        self._scope = DocumentScope.of(contents)  # which rows a request's filters keep
        self._in_flight = QuestionsInFlight(available_cores())

    @classmethod
    def load(cls, settings: Settings, embedder: Embedder | None = None) -> QAPipeline:
        """Load the index in ``settings.index_dir``; ``IndexUnavailable`` if there is none."""
        IndexStore(settings.index_dir).manifest()  # fail fast, before the model loads
        set_inference_threads(settings.query_threads)
        set_search_threads(settings.query_threads)
        return cls(settings, embedder or default_embedder(settings))

    @property
    def embedder(self) -> Embedder:
        """The model this pipeline embeds questions with (shared with index updates)."""
        return self._embedder

    @property
    def abstain_threshold(self) -> float:
        """Confidence below which the pipeline abstains (settings, else the reader model's)."""
        return self._reader.threshold

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        answers: int | None = 1,
        filters: object = None,
    ) -> Answer:
        """Answer ``question`` with quotes from the documents, or abstain; with ``answers`` > 1,
        other possible answers too (``Answer.others``, up to ``answers - 1``); with ``filters``
        (``qa.filters``), from the documents they keep only."""
        question = self._check_question(question)
        k, n = self.checked_options(top_k, answers)
        within = self.allowed_rows(filters)
        with self._in_flight.one():
            return self._answer(question, k, n, within)

    def allowed_rows(self, filters: object) -> AllowedRows | None:
        """The rows a request's ``filters`` keep (None: every row); ``InvalidRequest`` naming
        the field of a malformed filter."""
        return self._scope.rows(parse_filters(filters))

    def _answer(
        self, question: str, k: int, answers: int = 1, within: AllowedRows | None = None
    ) -> Answer:
        started = time.perf_counter()
        if within is not None and within.empty:
            return _not_read(question, NO_MATCH_MESSAGE, started)
        language = non_english_language(question)
        if language is not None:
            return _not_read(question, unsupported_message(language), started)
        vector = self._embedder.encode([question])[0]
        hits = self._retriever.search(question, vector, max(k, ANSWER_DEPTH), within)
        retrieved = time.perf_counter()
        if looks_like_search_terms(question):
            return _not_read(question, SEARCH_TERMS_MESSAGE, started, tuple(hits[:k]))
        width = self._in_flight.width()
        reading = self._reader.read(
            question, vector, hits[:ANSWER_DEPTH], width=width, answers=answers
        )
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
            others=tuple(
                RankedAnswer(display_form(o.text or ""), o.short_answer, o.confidence, o.citations)
                for o in reading.others
            ),
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

    def shown_sentence(self, sentence_id: int, context: int = 0) -> str:
        """A sentence as a cross-encoder reads it: headed by its document's title and, with
        ``context`` 1, the sentence before it (cross-encoder training)."""
        return self._reader.shown_sentence(sentence_id, context)

    def search(self, query: str, top_k: int | None = None, filters: object = None) -> list[Hit]:
        """Retrieval only: the ``top_k`` passages for ``query`` (of the documents ``filters``
        keep; none when they keep none)."""
        query = self._check_question(query, what="query")
        k, within = self._check_top_k(top_k), self.allowed_rows(filters)
        if within is not None and within.empty:
            return []
        vector = self._embedder.encode([query])[0]
        return self._retriever.search(query, vector, k, within)

    def documents(self) -> list[DocumentSummary]:
        """Every document's id, title and length in characters, by id."""
        return self._contents.document_listing()

    def document(self, doc_id: str) -> tuple[str, str]:
        """``(title, raw_text)`` of one document; ``DocumentNotFound`` for any other id."""
        try:
            return self._documents[doc_id]
        except KeyError:
            raise DocumentNotFound(f"no document with id {doc_id!r}") from None

    def document_text(self, doc_id: str) -> str:
        """The raw text of one document, exactly as indexed (citations point into it)."""
        return self.document(doc_id)[1]

    def stale(self) -> list[SourceChange]:
        """Corpus files added, changed or removed since the build (the index still answers from
        what it holds, and citations stay exact slices of that)."""
        corpus = self.manifest.get("corpus")
        if not corpus or not Path(corpus).exists():
            return []
        return changed_sources(Path(corpus), self.manifest.get("sources", {}))

    def health(self) -> dict[str, Any]:
        """Status, counts, stale corpus files (and older text rules), skipped files and a
        summary of the manifest."""
        stale = self.stale()
        return {
            "status": "stale" if stale or self.older_rules else "ok",
            "stale": [change.to_dict() for change in stale],
            "text_rules": self.older_rules,
            "skipped": self.manifest.get("skipped", []),
            "documents": len(self._documents),
            "chunks": self._n_chunks,
            "model": self._embedder.name,
            "index": {
                "dir": str(self.settings.index_dir),
                "corpus": self.manifest.get("corpus"),
                "built_at": self.manifest.get("built_at"),
                "build": self.folder.name,
                "settings": self.manifest.get("settings"),
                "faiss": self.manifest.get("faiss"),  # what "auto" chose for each index
                "milvus": _milvus_summary(self.manifest),
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

    def checked_options(self, top_k: object, answers: object) -> tuple[int, int]:
        """``ask``'s ``top_k`` and ``answers`` as numbers (defaults filled in); ``InvalidRequest``
        naming the option when one is out of range."""
        return self._check_top_k(top_k), self._check_answers(answers)

    def _check_answers(self, answers: object) -> int:
        return _whole_number("answers", answers, 1, MAX_ANSWERS)

    def _check_top_k(self, top_k: object) -> int:
        return _whole_number("top_k", top_k, self.settings.top_k, self.settings.max_top_k)


def _whole_number(name: str, value: object, default: int, highest: int) -> int:
    """A request's option ``name``: ``default`` when not given, else a whole number from 1 to
    ``highest`` (``InvalidRequest`` naming it otherwise; ``true`` is not 1)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= highest:
        raise InvalidRequest(f"'{name}' must be an integer from 1 to {highest}")
    return value
