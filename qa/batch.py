"""Many questions at once (``POST /api/ask/batch``, ``qa ask --file``): answered side by side on
the cores there are, and given back in order, each as soon as it and those before it are ready.

A question the pipeline refuses, or one that fails, gives its error in its place; the others are
still answered. Only the batch itself, or options that apply to all of it, refuse it whole.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from qa.errors import InvalidRequest, QAError
from qa.runtime import available_cores
from qa.schema import MAX_BATCH_QUESTIONS, BatchItem

if TYPE_CHECKING:
    from qa.pipeline import QAPipeline

log = logging.getLogger(__name__)
MAX_QUESTIONS = MAX_BATCH_QUESTIONS  # a request's; longer lists go in batches of this many


def checked_questions(questions: object) -> list[object]:
    """``questions`` if it is a list of 1 to ``MAX_QUESTIONS`` items; ``InvalidRequest`` if not
    (each item is checked as it is asked: a bad one fails alone)."""
    if not isinstance(questions, list) or not 1 <= len(questions) <= MAX_QUESTIONS:
        raise InvalidRequest(f"'questions' must be a list of 1 to {MAX_QUESTIONS} questions")
    return questions


def ask_batch(
    pipeline: QAPipeline,
    questions: Sequence[object],
    top_k: object = None,
    answers: object = 1,
    filters: object = None,
) -> Iterator[BatchItem]:
    """The answers to ``questions`` in order. The options (``filters`` among them) are checked
    now (``InvalidRequest`` for the whole batch); the questions are asked as the iterator is
    read."""
    k, n = pipeline.checked_options(top_k, answers)
    if filters is not None:
        pipeline.allowed_rows(filters)  # kept by the pipeline for the questions that follow
    return _answered(pipeline, list(questions), k, n, filters)


def _answered(
    pipeline: QAPipeline, questions: list[object], k: int, n: int, filters: object
) -> Iterator[BatchItem]:
    # As many at once as there are cores: each question then reads on one, as under load.
    pool = ThreadPoolExecutor(max(1, available_cores()), thread_name_prefix="qa-batch")
    try:
        futures = [
            pool.submit(_one, pipeline, i, q, k, n, filters) for i, q in enumerate(questions)
        ]
        for future in futures:
            yield future.result()
    finally:
        # A reader that stops early (a client gone) leaves the questions not started unasked.
        pool.shutdown(wait=False, cancel_futures=True)


def _one(
    pipeline: QAPipeline, index: int, question: object, k: int, n: int, filters: object
) -> BatchItem:
    try:
        return BatchItem(index, answer=pipeline.ask(question, k, n, filters))  # type: ignore[arg-type]
    except QAError as exc:
        return BatchItem(index, error_code=exc.code, error_message=str(exc))
    except Exception:  # one question's failure is its own: the batch goes on
        log.exception("question %d of a batch failed", index)
        return BatchItem(index, error_code="internal_error", error_message="internal server error")
