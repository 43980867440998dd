"""Typed records that flow between the stages; dicts appear only at the JSON boundary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """A source file: its raw text, the cleaned text, and where each cleaned character came from.

    ``offsets[i]`` is the index in ``raw_text`` of cleaned character ``text[i]``, so a cleaned span
    ``[s, e)`` cites ``raw_text[offsets[s] : offsets[e - 1] + 1]``.
    """

    doc_id: str
    title: str
    raw_text: str
    text: str
    offsets: tuple[int, ...]

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """Raw-text offsets of the cleaned span ``[start, end)`` (``end > start``)."""
        return self.offsets[start], self.offsets[end - 1] + 1


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


@dataclass(frozen=True)
class Citation:
    """A verbatim quote: ``quote == raw_text_of(doc_id)[start:end]``."""

    n: int
    doc_id: str
    title: str
    start: int
    end: int
    quote: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``POST /api/ask``."""
        return {
            "question": self.question,
            "answerable": self.answerable,
            "answer": self.text,
            "short_answer": self.short_answer,
            "confidence": round(self.confidence, 4),
            "message": self.message,
            "closest": self.closest,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [h.to_dict() for h in self.hits],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }
