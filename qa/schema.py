"""Typed records that flow between the stages; dicts appear only at the JSON boundary."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """A source file: its raw text, the cleaned text, and where each cleaned character came from.

    ``offsets[i]`` is the index in ``raw_text`` of cleaned character ``text[i]``, so a cleaned span
    ``[s, e)`` cites ``raw_text[offsets[s] : offsets[e - 1] + 1]``. For a PDF, ``raw_text`` is the
    extracted text and ``page_starts[p]`` the raw offset where page ``p + 1`` begins; other
    formats have no pages (``()``). ``meta`` holds its type and the fields its author gave
    (``qa.ingest.metadata``), which filters select by.
    """

    doc_id: str
    title: str
    raw_text: str
    text: str
    offsets: tuple[int, ...]
    page_starts: tuple[int, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """Raw-text offsets of the cleaned span ``[start, end)`` (``end > start``)."""
        return self.offsets[start], self.offsets[end - 1] + 1

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding raw offset ``offset``; None for a document without pages."""
        return page_of(self.page_starts, offset)


def page_of(page_starts: Sequence[int], offset: int) -> int | None:
    """The 1-based page holding raw offset ``offset``, given each page's start; None without pages.

    An empty page starts where the next one does, so the offset belongs to the later page.
    """
    if not page_starts:
        return None
    return max(bisect_right(page_starts, offset), 1)


@dataclass(frozen=True)
class DocumentSummary:
    """An indexed document as ``GET /api/documents`` lists it: its id, title and length in
    characters."""

    doc_id: str
    title: str
    chars: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DocumentSummary:
        doc_id = str(data["doc_id"])
        return cls(doc_id, str(data.get("title") or doc_id), int(data.get("chars") or 0))


@dataclass(frozen=True)
class SkippedFile:
    """A corpus file that was not indexed, and why (``path`` is relative, with ``/``)."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Sentence:
    """One sentence of a document: display text plus raw-file offsets."""

    sentence_id: int
    doc_id: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Chunk:
    """A retrieval unit: consecutive sentences of one document within a token budget."""

    chunk_id: int
    doc_id: str
    text: str
    start: int
    end: int
    n_tokens: int
    first_sentence: int
    last_sentence: int  # inclusive

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and 1-based rank."""

    chunk: Chunk
    score: float
    rank: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "doc_id": self.chunk.doc_id,
            "chunk_id": self.chunk.chunk_id,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "score": round(self.score, 6),
            "text": self.chunk.text,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Hit:
        """Read a passage of the API's JSON back; it carries no token count or sentence range
        (``n_tokens`` 0, sentences -1).
        """
        chunk = Chunk(
            chunk_id=int(data["chunk_id"]),
            doc_id=str(data["doc_id"]),
            text=str(data["text"]),
            start=int(data["start"]),
            end=int(data["end"]),
            n_tokens=0,
            first_sentence=-1,
            last_sentence=-1,
        )
        return cls(chunk=chunk, score=float(data["score"]), rank=int(data["rank"]))


@dataclass(frozen=True)
class Citation:
    """A verbatim quote: ``quote == raw_text_of(doc_id)[start:end]``.

    ``page`` is the 1-based page where the quote starts in a paged document (a PDF); None otherwise.
    """

    n: int
    doc_id: str
    title: str
    start: int
    end: int
    quote: str
    page: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Citation:
        """Read a citation of the API's JSON back (``page`` may be absent: an older server)."""
        page = data.get("page")
        return cls(
            n=int(data["n"]),
            doc_id=str(data["doc_id"]),
            title=str(data["title"]),
            start=int(data["start"]),
            end=int(data["end"]),
            quote=str(data["quote"]),
            page=None if page is None else int(page),
        )


@dataclass(frozen=True)
class RankedAnswer:
    """One of several answers to a question (``POST /api/ask``'s ``answers``): a quote, its
    short answer, how sure the service is of it, and where it comes from."""

    text: str
    short_answer: str | None
    confidence: float
    citations: tuple[Citation, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "short_answer": self.short_answer,
            "confidence": round(self.confidence, 4),
            "citations": [c.to_dict() for c in self.citations],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RankedAnswer:
        short = data.get("short_answer")
        return cls(
            text=str(data["answer"]),
            short_answer=None if short is None else str(short),
            confidence=float(data["confidence"]),
            citations=tuple(Citation.from_dict(c) for c in data["citations"]),
        )


@dataclass(frozen=True)
class Answer:
    """What the service says to a question; ``text`` is None when it abstains.

    ``message`` says why it abstained when the reason is not the documents (a question in a
    language it cannot read); None otherwise.
    """

    question: str
    answerable: bool
    text: str | None
    short_answer: str | None
    confidence: float
    citations: tuple[Citation, ...]
    hits: tuple[Hit, ...]
    timings_ms: dict[str, float] = field(default_factory=dict)
    message: str | None = None
    # On an abstention, the text it would have quoted had it answered; None when it answers.
    closest: str | None = None
    # False only for an answer read back from a server too old to say what came closest (no
    # "closest" key): to_dict() leaves the key out again, so "unknown" stays apart from "none".
    closest_known: bool = True
    # Other possible answers after this one, best first, when several were asked for.
    others: tuple[RankedAnswer, ...] = ()

    @property
    def answers(self) -> tuple[RankedAnswer, ...]:
        """Every answer, this one first; none when it abstains."""
        if not self.answerable or self.text is None:
            return ()
        first = RankedAnswer(self.text, self.short_answer, self.confidence, self.citations)
        return (first, *self.others)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``POST /api/ask``."""
        data = {
            "question": self.question,
            "answerable": self.answerable,
            "answer": self.text,
            "short_answer": self.short_answer,
            "confidence": round(self.confidence, 4),
            "message": self.message,
            "closest": self.closest,
            "citations": [c.to_dict() for c in self.citations],
            "answers": [a.to_dict() for a in self.answers],
            "passages": [h.to_dict() for h in self.hits],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }
        if not self.closest_known:
            del data["closest"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Answer:
        """Read the JSON of ``POST /api/ask`` back into the record it was written from (a client's
        side of the HTTP edge); ``ValueError`` if it is not that shape. ``short_answer``,
        ``message``, ``closest``, ``answers`` and ``timings_ms`` may be absent (older servers).
        """
        try:
            text, short = data["answer"], data.get("short_answer")
            message, closest = data.get("message"), data.get("closest")
            others = tuple(RankedAnswer.from_dict(a) for a in (data.get("answers") or [])[1:])
            return cls(
                question=str(data["question"]),
                answerable=bool(data["answerable"]),
                text=None if text is None else str(text),
                short_answer=None if short is None else str(short),
                confidence=float(data["confidence"]),
                citations=tuple(Citation.from_dict(c) for c in data["citations"]),
                hits=tuple(Hit.from_dict(p) for p in data["passages"]),
                timings_ms={str(k): float(v) for k, v in (data.get("timings_ms") or {}).items()},
                message=None if message is None else str(message),
                closest=None if closest is None else str(closest),
                closest_known="closest" in data,
                others=others,
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(
                f"not an answer from a qa server ({type(exc).__name__}: {exc})"
            ) from exc


MAX_BATCH_QUESTIONS = 64  # one ``POST /api/ask/batch``'s; clients send more in batches of this


@dataclass(frozen=True)
class BatchItem:
    """One question's place in a batch (``POST /api/ask/batch``), and its answer or why it has
    none."""

    index: int
    answer: Answer | None = None
    error_code: str | None = None
    error_message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A line of ``POST /api/ask/batch``: the answer's JSON, or an ``error`` object."""
        if self.answer is not None:
            return {"index": self.index, **self.answer.to_dict()}
        return {
            "index": self.index,
            "error": {"code": self.error_code, "message": self.error_message},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchItem:
        """Read a line of ``POST /api/ask/batch`` back; ``ValueError`` if it is not that shape."""
        try:
            index = int(data["index"])
            error = data.get("error")
            if isinstance(error, Mapping):
                return cls(
                    index,
                    error_code=str(error.get("code")),
                    error_message=str(error.get("message")),
                )
            return cls(index, answer=Answer.from_dict(data))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a line of a qa batch ({type(exc).__name__}: {exc})") from exc
