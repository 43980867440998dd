"""The low-overlap development set: well formed, gold answers in their articles, few shared words."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.eval.evaluation import normalize
from qa.eval.questions import Question, load_questions
from qa.eval.runner import DocumentCache, question_overlap

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
LOWOVERLAP = Path(__file__).parent / "fixtures" / "seeds-lowoverlap.jsonl"


@pytest.fixture(scope="module")
def questions() -> list[Question]:
    return load_questions(LOWOVERLAP)


def _raw(doc_id: str) -> str:
    return (SEEDS / doc_id).read_text(encoding="utf-8")


def test_ids_are_unique_and_numbered(questions: list[Question]) -> None:
    ids = [q.id for q in questions]
    assert len(ids) == len(set(ids))
    assert ids == [f"lowov-{n:02d}" for n in range(1, len(ids) + 1)]


def test_answerable_and_unanswerable_counts_and_every_article_asked(
    questions: list[Question],
) -> None:
    answerable = [q for q in questions if q.answerable]
    assert (len(answerable), len(questions) - len(answerable)) == (42, 10)
    assert {d for q in answerable for d in q.docs} == {p.name for p in SEEDS.glob("*.txt")}
    assert all(not q.docs for q in questions if not q.answerable)


def test_every_gold_answer_occurs_in_a_named_article(questions: list[Question]) -> None:
    for q in questions:
        if not q.answerable:
            continue
        assert q.docs, q.id
        texts = [normalize(_raw(doc)) for doc in q.docs]
        for gold in q.answers:
            assert normalize(gold), q.id
            assert any(normalize(gold) in text for text in texts), (q.id, gold)


def test_questions_share_few_terms_with_their_gold_sentence(questions: list[Question]) -> None:
    # The evaluation's own overlap measure, on the seed files read from disk.
    docs = DocumentCache(_raw)
    overlaps = [question_overlap(q, docs) for q in questions if q.answerable]
    assert None not in overlaps  # every gold answer sits inside one sentence of its article
    found = [o for o in overlaps if o is not None]
    assert sum(found) / len(found) <= 0.2
    assert max(found) <= 0.5
