"""The in-process client: a ``QAPipeline`` over an index on this machine."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from qa.clients.base import DocumentText, in_batches
from qa.errors import DocumentNotFound, InvalidRequest, RequestRejected
from qa.schema import Answer, BatchItem

if TYPE_CHECKING:
    from qa.config import Settings
    from qa.pipeline import QAPipeline


class LocalClient:
    """Answers from a pipeline loaded in this process; thread-safe, as the pipeline is."""

    def __init__(self, pipeline: QAPipeline, description: str | None = None) -> None:
        self.pipeline = pipeline
        self.description = description or f"index {pipeline.settings.index_dir}"
        self._titles: dict[str, str] | None = None

    @classmethod
    def open(cls, settings: Settings, *, build: bool = True) -> LocalClient:
        """Load the index in ``settings.index_dir``; with ``build``, first bring it up to date
        with its corpus (progress on stderr). ``IndexUnavailable`` when there is none to load.
        """
        # Imported here: the pipeline pulls in torch, which HTTP clients never need.
        from qa.pipeline import QAPipeline, ensure_index

        if build:
            ensure_index(settings, progress=True)
        where = f"index {settings.index_dir}"
        if settings.corpus is not None:
            where = f"corpus {settings.corpus}, {where}"
        return cls(QAPipeline.load(settings), where)

    def health(self) -> dict[str, Any]:
        """The pipeline's health summary, as the server would give it."""
        return dict(self.pipeline.health())

    def ask(
        self, question: str, top_k: int, answers: int = 1, filters: Mapping[str, Any] | None = None
    ) -> Answer:
        """Ask the pipeline; a question (or filter) it will not take is ``RequestRejected``."""
        try:
            return self.pipeline.ask(question, top_k, answers, filters)
        except InvalidRequest as exc:
            raise RequestRejected(str(exc), detail=f"{exc.code}: {exc}") from exc

    def ask_many(
        self,
        questions: Sequence[str],
        top_k: int,
        answers: int = 1,
        filters: Mapping[str, Any] | None = None,
    ) -> Iterator[BatchItem]:
        """The pipeline's answers to ``questions``, in batches, side by side (``qa.batch``)."""
        from qa.batch import ask_batch

        for start, part in in_batches(questions):
            try:
                items = ask_batch(self.pipeline, part, top_k, answers, filters)
            except InvalidRequest as exc:
                raise RequestRejected(str(exc), detail=f"{exc.code}: {exc}") from exc
            for item in items:
                yield replace(item, index=item.index + start)

    def document(self, doc_id: str) -> DocumentText:
        """One document's raw text, exactly as indexed."""
        try:
            title, text = self.pipeline.document(doc_id)
        except DocumentNotFound as exc:
            raise RequestRejected(str(exc), detail=f"{exc.code}: {exc}") from exc
        return DocumentText(doc_id=doc_id, title=title, text=text)

    def titles(self) -> dict[str, str]:
        """Titles by doc id, read once."""
        if self._titles is None:
            self._titles = {d.doc_id: d.title for d in self.pipeline.documents()}
        return self._titles
