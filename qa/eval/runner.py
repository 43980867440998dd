"""Run a question set against the pipeline in-process or a server over HTTP, resumably.

Each finished question is appended to ``questions.jsonl`` in the output folder as it completes;
``run.json`` beside it holds the settings that must match for a later run to continue it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from qa.clients import Client
from qa.errors import ClientError, QAError, RunMismatch
from qa.eval.evaluation import (
    Judgement,
    contains_answer,
    failed,
    judge,
    term_overlap,
    top_sentence,
)
from qa.eval.questions import Question
from qa.ingest.cleaning import clean
from qa.schema import Answer
from qa.text import split_sentences

RECORDS = "questions.jsonl"
# Answers asked for each question: the first is judged as the answer, the three for "hit at 3".
ANSWERS = 3
STATE = "run.json"
_MARKDOWN_SUFFIXES = (".md", ".markdown")  # cleaned as markdown at ingest, so here too


def failure_text(exc: QAError) -> str:
    """How a failed request is listed against its question: short, and naming the HTTP status or
    the pipeline's error code (``HTTP 500: ...``, ``connection refused``, ``invalid_request: ...``).
    """
    if isinstance(exc, ClientError):
        if exc.status is not None and exc.status >= 400:
            return f"HTTP {exc.status}: {exc.detail}"
        return exc.detail
    return f"{exc.code}: {exc}"


def document_text(client: Client, doc_id: str) -> str | None:
    """The raw text of ``doc_id``, or None if the service cannot give it."""
    try:
        return client.document(doc_id).text
    except QAError:
        return None


class DocumentCache:
    """Raw document texts fetched once per doc id, shared by the worker threads."""

    def __init__(self, fetch: Callable[[str], str | None]) -> None:
        self._fetch = fetch
        self._texts: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def get(self, doc_id: str) -> str | None:
        """The raw text of ``doc_id``, or None if the service does not know it."""
        with self._lock:
            if doc_id in self._texts:
                return self._texts[doc_id]
        text = self._fetch(doc_id)  # outside the lock: a slow fetch must not block the others
        with self._lock:
            self._texts[doc_id] = text
        return text


def citation_valid(citation: dict[str, Any], docs: DocumentCache) -> bool:
    """True if the cited document's raw text sliced at ``[start:end]`` equals the quote."""
    text = docs.get(str(citation.get("doc_id", "")))
    start, end = citation.get("start"), citation.get("end")
    if text is None or not isinstance(start, int) or not isinstance(end, int):
        return False
    return text[start:end] == citation.get("quote")


@lru_cache(maxsize=256)
def _sentences(raw: str, markdown: bool) -> tuple[str, ...]:
    text = clean(raw, markdown=markdown).text
    return tuple(text[start:end] for start, end in split_sentences(text))


def gold_sentence(raw: str, golds: Sequence[str], markdown: bool = False) -> str | None:
    """The first sentence of the cleaned ``raw`` text that holds a gold answer, or None."""
    return next((s for s in _sentences(raw, markdown) if contains_answer(s, golds)), None)


def question_overlap(q: Question, docs: DocumentCache) -> float | None:
    """Share of ``q``'s content terms in the sentence of its first gold doc holding a gold answer."""
    for doc_id in q.docs if q.answerable else ():
        raw = docs.get(doc_id)
        markdown = doc_id.lower().endswith(_MARKDOWN_SUFFIXES)
        found = gold_sentence(raw, q.answers, markdown) if raw else None
        if found is not None:
            return term_overlap(q.question, found)
    return None


def evaluate_one(
    q: Question,
    client: Client,
    docs: DocumentCache,
    top_k: int,
    filters: Mapping[str, Any] | None = None,
) -> dict:
    """Ask one question (of the documents ``filters`` keep), judge the answer, and return its
    ``questions.jsonl`` record."""
    started = time.perf_counter()
    try:
        answer: Answer | str = client.ask(q.question, top_k, ANSWERS, filters)
    except QAError as exc:
        answer = failure_text(exc)
    return judged(q, answer, (time.perf_counter() - started) * 1000, docs)


def judged(q: Question, answer: Answer | str, latency: float, docs: DocumentCache) -> dict:
    """The ``questions.jsonl`` record of ``q`` given its answer, or why it has none."""
    if isinstance(answer, str):
        verdict = failed(q.id, q.answerable, answer, latency, question_overlap(q, docs))
        return _record(q, {}, [], verdict)
    # Judged and recorded in the API's JSON shape: the records are JSON, and a resumed run reads
    # back records written by earlier versions.
    response = answer.to_dict()
    valid = [citation_valid(c, docs) for c in response.get("citations", [])]
    verdict = judge(
        qid=q.id,
        question=q.question,
        golds=q.answers,
        gold_docs=q.docs,
        response=response,
        citations_valid=sum(valid),
        latency_ms=latency,
        overlap=question_overlap(q, docs),
    )
    return _record(q, response, valid, verdict)


def evaluate_batched(
    pending: Sequence[Question],
    client: Client,
    docs: DocumentCache,
    top_k: int,
    filters: Mapping[str, Any] | None,
) -> Iterator[dict]:
    """``pending`` asked in batches (``Client.ask_many``), each record as its answer arrives;
    a question's latency is the time since the answer before it arrived."""
    last, done = time.perf_counter(), set()
    try:
        items = client.ask_many([q.question for q in pending], top_k, ANSWERS, filters)
        for item in items:
            now = time.perf_counter()
            answer = item.answer or f"{item.error_code}: {item.error_message}"
            done.add(item.index)
            yield judged(pending[item.index], answer, (now - last) * 1000, docs)
            last = now
    except QAError as exc:  # a batch refused or cut off: the questions it left fail with it
        for i, q in enumerate(pending):
            if i not in done:
                yield judged(q, failure_text(exc), 0.0, docs)


def _record(q: Question, response: dict, valid: list[bool], verdict: Judgement) -> dict:
    return {
        "id": q.id,
        "question": q.question,
        "gold_answers": list(q.answers),
        "gold_docs": list(q.docs),
        "answer": response.get("answer"),
        "short_answer": response.get("short_answer"),
        "confidence": response.get("confidence"),
        "citations": [
            {**c, "valid": ok} for c, ok in zip(response.get("citations", []), valid, strict=True)
        ],
        # Passage texts are left out: the rank below already says what they were needed for.
        "passages": [
            {k: p.get(k) for k in ("rank", "doc_id", "chunk_id", "score")}
            for p in response.get("passages", [])
        ],
        "first_correct_rank": verdict.rank,
        "overlap": verdict.overlap,
        # The trivial stand-ins: the top passage's best sentence for the reader, and the answer or
        # else what the service came closest to quoting (null: answered or no candidate) for the gate.
        "closest": response.get("closest"),
        "baseline_top_sentence": top_sentence(q.question, response) if response else None,
        "baseline_top_sentence_hit": verdict.baseline_top_sentence_hit,
        "baseline_never_abstain_hit": verdict.baseline_never_abstain_hit,
        "timings_ms": response.get("timings_ms"),
        "verdict": verdict.to_dict(),
    }


@dataclass
class RunState:
    """What an output folder remembers between sessions of one run."""

    key: dict[str, Any]
    index: Any
    sessions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        """Time spent answering, summed over sessions (start-up excluded)."""
        return sum(s["elapsed_s"] for s in self.sessions)

    @property
    def completed(self) -> int:
        """Questions answered in :attr:`wall_s`; a crashed session recorded neither."""
        return sum(s["completed"] for s in self.sessions)

    def save(self, out_dir: Path) -> None:
        """Write ``run.json``."""
        data = {"key": self.key, "index": self.index, "sessions": self.sessions}
        (out_dir / STATE).write_text(json.dumps(data, indent=2, default=str) + "\n")


def open_run(out_dir: Path, key: dict[str, Any], index: Any, fresh: bool) -> tuple[RunState, dict]:
    """Start or continue the run in ``out_dir``: its state and the finished records by id."""
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path, records_path = out_dir / STATE, out_dir / RECORDS
    if fresh or not state_path.exists():
        records_path.unlink(missing_ok=True)
        state = RunState(key=key, index=index)
        state.save(out_dir)
        return state, {}
    old = json.loads(state_path.read_text())
    for name, now, then in [("settings", key, old.get("key")), ("index", index, old.get("index"))]:
        if _jsonable(now) != then:
            raise RunMismatch(
                f"{out_dir} holds a run with different {name}; pass --fresh to start over "
                "or choose another --out"
            )
    state = RunState(key=key, index=index, sessions=old.get("sessions", []))
    return state, load_records(records_path)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def load_records(path: Path) -> dict[str, dict]:
    """Finished records by id; the last one wins and failed ones are dropped so they rerun."""
    records: dict[str, dict] = {}
    if not path.exists():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash: that question simply runs again
        if record.get("verdict", {}).get("error") is None:
            records[record["id"]] = record
        else:
            records.pop(record["id"], None)
    return records


def run_questions(
    pending: Sequence[Question],
    client: Client,
    *,
    top_k: int,
    concurrency: int,
    on_done: Callable[[dict], None],
    filters: Mapping[str, Any] | None = None,
    batch: bool = False,
) -> None:
    """Answer ``pending`` on ``concurrency`` threads (with ``batch``: in batches, the service
    answering side by side), calling ``on_done`` in this thread per record.

    On KeyboardInterrupt, queued questions are cancelled and the interrupt propagates; what has
    been passed to ``on_done`` is already saved.
    """
    docs = DocumentCache(lambda doc_id: document_text(client, doc_id))
    if batch:
        for record in evaluate_batched(pending, client, docs, top_k, filters):
            on_done(record)
        return
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="qa-eval")
    try:
        futures: list[Future] = [
            pool.submit(evaluate_one, q, client, docs, top_k, filters) for q in pending
        ]
        for future in as_completed(futures):
            on_done(future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def now_iso() -> str:
    """The current UTC time, ISO 8601, seconds precision."""
    return datetime.now(UTC).isoformat(timespec="seconds")
