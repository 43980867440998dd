"""Loading question sets: our JSONL format, SQuAD JSON, sampling and the errors on bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.eval.questions import Question, QuestionFileError, load_questions, sample

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
SHARED_EVAL = Path("/work/shared/eval/seeds-dev.jsonl")


def test_jsonl_loads_fields_and_answerability() -> None:
    questions = load_questions(FIXTURES / "questions.jsonl")
    assert len(questions) == 8
    first = questions[0]
    assert first == Question(
        id="t-01",
        question="Who is the NATO Secretary General?",
        answers=("Anders Fogh Rasmussen", "Rasmussen"),
        docs=("002_04c91fd3f0a7243f.txt",),
    )
    assert first.answerable
    unanswerable = [q.id for q in questions if not q.answerable]
    assert unanswerable == ["t-06", "t-07"]


def test_question_is_frozen() -> None:
    q = load_questions(FIXTURES / "questions.jsonl")[0]
    with pytest.raises(AttributeError):
        q.question = "changed"  # type: ignore[misc]


def test_squad_paragraph_doc_ids_and_impossible_questions() -> None:
    questions = {q.id: q for q in load_questions(FIXTURES / "squad-mini.json")}
    assert list(questions) == ["tt-1", "tt-2", "tt-3", "op-1"]
    # Repeated annotator answers are kept once, in order.
    assert questions["tt-1"].answers == ("1901", "in 1901")
    assert questions["tt-1"].docs == ("Tiny_Town/0",)
    assert questions["tt-3"].docs == ("Tiny_Town/1",)
    # The paragraph index counts paragraphs without questions too.
    assert questions["op-1"].docs == ("Other/Place/1",)
    impossible = questions["tt-2"]
    assert not impossible.answerable and impossible.docs == ()


@pytest.mark.skipif(not SHARED_EVAL.exists(), reason="shared question sets not mounted")
def test_the_real_sets_load() -> None:
    dev = load_questions(SHARED_EVAL)
    assert len(dev) == 36 and any(not q.answerable for q in dev)
    v2 = load_questions("/work/shared/bench/external/squad-v2.0-dev-rebuilt.json")
    assert len(v2) == 11873
    assert sum(not q.answerable for q in v2) == 5945
    assert v2[0].docs == ("Normans/0",)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.jsonl", "question file not found"),
        ("bad-line.jsonl", "bad-line.jsonl:2: not valid JSON"),
        ("bad-answers.jsonl", "'answers' must be a list of strings"),
        ("duplicate-ids.jsonl", "duplicate question id 'same'"),
        ("squad-broken.json", "not a SQuAD file"),
    ],
)
def test_bad_files_raise_a_readable_error(name: str, message: str) -> None:
    with pytest.raises(QuestionFileError, match=message):
        load_questions(FIXTURES / name)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    with pytest.raises(QuestionFileError, match="holds no questions"):
        load_questions(path)


def test_question_file_error_is_a_value_error() -> None:
    assert issubclass(QuestionFileError, ValueError)


def _many(n: int) -> list[Question]:
    return [Question(id=f"q{i}", question=f"q {i}?", answers=("a",), docs=()) for i in range(n)]


def test_sample_is_fixed_by_limit_and_seed() -> None:
    qs = _many(100)
    assert sample(qs, 10, seed=1) == sample(qs, 10, seed=1)
    assert sample(qs, 10, seed=1) != sample(qs, 10, seed=2)
    assert len(sample(qs, 10, seed=1)) == 10


def test_a_larger_sample_extends_a_smaller_one() -> None:
    qs = _many(100)
    small, large = sample(qs, 3, seed=7), sample(qs, 6, seed=7)
    assert set(small) < set(large)
    # Kept in file order, so reports read like the question file.
    assert large == sorted(large, key=qs.index)


def test_no_limit_keeps_every_question_in_order() -> None:
    qs = _many(5)
    assert sample(qs, None, seed=3) == qs
    assert sample(qs, 50, seed=3) == qs
