"""What every client offers, and the record of one document's text."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from qa.schema import MAX_BATCH_QUESTIONS, Answer, BatchItem


@dataclass(frozen=True)
class DocumentText:
    """One document as the service serves it: ``text`` is the raw text citations slice."""

    doc_id: str
    title: str
    text: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], doc_id: str) -> DocumentText:
        """Read ``GET /api/documents/<doc_id>``; ``ValueError`` if it holds no text."""
        text = data.get("text")
        if not isinstance(text, str):
            raise ValueError(f"no text for document {doc_id!r}")
        got = str(data.get("doc_id") or doc_id)
        return cls(doc_id=got, title=str(data.get("title") or got), text=text)


class Client(Protocol):
    """A source of answers: the local index or a running server.

    Errors are ``qa.errors.QAError``s: ``RequestRejected`` when the service refuses this one
    question or document id, other ``ClientError``s when it cannot be reached or is not a qa
    service, and the pipeline's own (``IndexUnavailable``...) in-process.
    """

    description: str

    def health(self) -> dict[str, Any]:
        """The ``GET /api/health`` body: status, counts, the index manifest summary."""
        ...

    def ask(
        self, question: str, top_k: int, answers: int = 1, filters: Mapping[str, Any] | None = None
    ) -> Answer:
        """The answer to one question, with ``top_k`` passages and, with ``answers`` > 1, up
        to ``answers - 1`` other possible answers (``Answer.others``); with ``filters``
        (``qa.filters``), from the documents they keep only."""
        ...

    def ask_many(
        self,
        questions: Sequence[str],
        top_k: int,
        answers: int = 1,
        filters: Mapping[str, Any] | None = None,
    ) -> Iterator[BatchItem]:
        """Many questions at once, answered in order, each as soon as it is ready; a question
        refused alone gives its error in its place (``RequestRejected`` for bad options)."""
        ...

    def document(self, doc_id: str) -> DocumentText:
        """One document's raw text; ``RequestRejected`` for an unknown id."""
        ...

    def titles(self) -> dict[str, str]:
        """Document titles by ``doc_id`` (passages carry only the id)."""
        ...


_NAMED_CHANGES = 3  # files a stale-index warning names; the rest are counted


def stale_warning(health: Mapping[str, Any]) -> str | None:
    """The line to print on stderr before answers from an index its ``/api/health`` body calls
    stale (corpus files changed since the build, or older text rules); None when it is current.
    """
    if health.get("status") != "stale":
        return None
    reasons = []
    changes = [c for c in health.get("stale") or [] if isinstance(c, Mapping)]
    if changes:
        named = ", ".join(f"{c.get('path')} ({c.get('change')})" for c in changes[:_NAMED_CHANGES])
        if len(changes) > _NAMED_CHANGES:
            named += f" and {len(changes) - _NAMED_CHANGES} more"
        files = "file" if len(changes) == 1 else "files"
        reasons.append(f"{len(changes)} corpus {files} changed since it was built: {named}")
    if health.get("text_rules"):
        reasons.append(f"it was {health['text_rules']}")
    because = "; ".join(reasons) or "it was built from another state of its corpus"
    return (
        f"warning: the index is stale: {because}. Answers quote the text as it was indexed; "
        "run `qa index` to update it"
    )


def in_batches(questions: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    """``questions`` cut into requests of at most ``MAX_BATCH_QUESTIONS``, each with the index
    of its first question (``ask_many`` adds it to each answer's place in its batch)."""
    for start in range(0, len(questions), MAX_BATCH_QUESTIONS):
        yield start, list(questions[start : start + MAX_BATCH_QUESTIONS])
