"""Question sets: our JSONL format and SQuAD JSON (v1.1 and v2.0), loaded into ``Question`` records.

JSONL: one ``{"id", "question", "answers", "docs"}`` object a line; no ``answers`` = unanswerable.
SQuAD: each question's doc is its paragraph, ``<title>/<0-based paragraph index>``, and
``is_impossible`` questions are unanswerable (no answers, no docs, as in the JSONL format).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import QuestionFileError  # defined in the tree; importable from here as before


@dataclass(frozen=True)
class Question:
    """One question with its acceptable answers and the documents that hold them."""

    id: str
    question: str
    answers: tuple[str, ...]
    docs: tuple[str, ...]

    @property
    def answerable(self) -> bool:
        """False when the corpus does not answer it and the right response is to abstain."""
        return bool(self.answers)


def load_questions(path: str | Path) -> list[Question]:
    """Read a JSONL or SQuAD JSON question set; raise ``QuestionFileError`` with the reason."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QuestionFileError(f"question file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionFileError(f"cannot read question file {path}: {exc}") from exc
    squad = _as_squad(text) if path.suffix != ".jsonl" else None
    questions = list(_from_squad(squad, path) if squad is not None else _from_jsonl(text, path))
    if not questions:
        raise QuestionFileError(f"{path} holds no questions")
    _check_unique(questions, path)
    return questions


def sample(questions: Sequence[Question], limit: int | None, seed: int) -> list[Question]:
    """A fixed random sample: the same ``limit`` and ``seed`` give the same questions.

    The sample for a larger limit starts with the sample for a smaller one (same seed), so a run
    can be extended with a higher ``--limit`` and keep what it already has.
    """
    if limit is None or limit >= len(questions):
        return list(questions)
    order = list(range(len(questions)))
    random.Random(seed).shuffle(order)
    return [questions[i] for i in sorted(order[:limit])]


def _as_squad(text: str) -> dict[str, Any] | None:
    # A whole-file JSON object with "data" is SQuAD; anything else is tried as JSONL.
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) and "data" in data else None


def _from_jsonl(text: str, path: Path) -> Iterator[Question]:
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionFileError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        yield _from_record(record, f"{path}:{n}")


def _from_record(record: Any, where: str) -> Question:
    if not isinstance(record, dict):
        raise QuestionFileError(f"{where}: expected a JSON object")
    for key in ("id", "question"):
        if not isinstance(record.get(key), (str, int)) or str(record[key]).strip() == "":
            raise QuestionFileError(f"{where}: missing or empty {key!r}")
    return Question(
        id=str(record["id"]),
        question=str(record["question"]),
        answers=_strings(record, "answers", where),
        docs=_strings(record, "docs", where, required=False),
    )


def _strings(record: dict[str, Any], key: str, where: str, required: bool = True) -> tuple:
    value = record.get(key)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QuestionFileError(f"{where}: {key!r} must be a list of strings")
    return tuple(value)


def _from_squad(data: dict[str, Any], path: Path) -> Iterator[Question]:
    try:
        for article in data["data"]:
            title = article["title"]
            for p_index, paragraph in enumerate(article["paragraphs"]):
                for qa in paragraph["qas"]:
                    yield _squad_question(qa, f"{title}/{p_index}")
    except (KeyError, TypeError) as exc:
        raise QuestionFileError(f"{path}: not a SQuAD file (bad or missing {exc})") from None


def _squad_question(qa: dict[str, Any], doc_id: str) -> Question:
    impossible = bool(qa.get("is_impossible", False))
    # Annotators often repeat the same span; keep each text once, in order.
    answers = () if impossible else tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
    return Question(
        id=str(qa["id"]),
        question=qa["question"],
        answers=answers,
        docs=() if impossible else (doc_id,),
    )


def _check_unique(questions: Sequence[Question], path: Path) -> None:
    seen: set[str] = set()
    for q in questions:
        if q.id in seen:
            raise QuestionFileError(f"{path}: duplicate question id {q.id!r}")
        seen.add(q.id)
