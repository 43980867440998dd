"""Questions the English-only models cannot read get an honest abstention, not a guess."""

from __future__ import annotations

import pytest

from qa.pipeline import QAPipeline
from qa.read.language import looks_like_search_terms, non_english_language, unsupported_message


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("Кто такой Рогозин?", "Russian"),
        ("Что сказал Рогозин о НАТО?", "Russian"),
        ("Хто такий Рогозін?", "Ukrainian"),
        ("俄罗斯驻北约代表是谁？", "Chinese"),
        ("什么是NATO？", "Chinese"),
        ("東京の人口は何人ですか？", "Japanese"),
        ("누가 나토 대사입니까?", "Korean"),
        ("من هو روغوزين؟", "Arabic"),
        ("Τι είναι το ΝΑΤΟ;", "Greek"),
        ("Qui est le représentant de la Russie auprès de l'OTAN ?", "French"),
        ("Qu'a dit Rogozine sur la défense antimissile ?", "French"),
        ("Wer ist der russische Botschafter bei der NATO?", "German"),
        ("Was ist die NATO?", "German"),
        ("¿Quién es el embajador de Rusia en la OTAN?", "Spanish"),
        ("Chi è l'ambasciatore russo presso la NATO?", "Italian"),
        ("Quem é o embaixador da Rússia na OTAN?", "Portuguese"),
    ],
)
def test_foreign_questions_are_recognised(question: str, language: str) -> None:
    assert non_english_language(question) == language


@pytest.mark.parametrize(
    "question",
    [
        "Who is Sergei Lavrov?",
        "What did Rogozin say about the café?",
        "Who wrote Le Comte de Monte Cristo?",
        "Between what two years did Picasso paint La Famille de Saltimbanques?",
        "Who is Сергей Лавров?",
        "Who wrote 红楼梦?",
        "Was Rogozin at the summit?",
        "Is the sea wall in Den Helder finished?",
        "Die Hard was released when?",
        "El Niño effects on the monsoon?",
        "Beyonce's grandma's name was?",
        "Rogozin?",
        "NATO",
        "2010?",
    ],
)
def test_english_questions_with_foreign_names_pass(question: str) -> None:
    assert non_english_language(question) is None


def test_the_message_names_the_language() -> None:
    assert unsupported_message("Russian") == (
        "Only English questions are supported; this question looks like Russian."
    )


def test_pipeline_abstains_without_reading(
    fixture_pipeline: QAPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a question the models cannot read must not reach them")

    monkeypatch.setattr(fixture_pipeline._reader, "read", fail)
    monkeypatch.setattr(fixture_pipeline._retriever, "search", fail)
    answer = fixture_pipeline.ask("Когда извергся вулкан?")
    assert not answer.answerable
    assert answer.text is None and answer.short_answer is None and answer.citations == ()
    assert answer.hits == () and answer.confidence == 0.0
    assert answer.message == unsupported_message("Russian")
    data = answer.to_dict()
    assert data["message"] == answer.message and data["passages"] == []


def test_english_answers_carry_no_message(fixture_pipeline: QAPipeline) -> None:
    answer = fixture_pipeline.ask("When did Eyjafjallajokull erupt?")
    assert answer.answerable and answer.message is None
    assert answer.to_dict()["message"] is None


@pytest.mark.parametrize("text", ["Rogozin", "missile defence", "NATO!", "Lavrov Rasmussen"])
def test_one_or_two_words_without_a_question_form_are_search_terms(text: str) -> None:
    assert looks_like_search_terms(text)


@pytest.mark.parametrize(
    "text",
    ["Rogozin?", "Who is Rogozin", "Why", "Is NATO", "Where did Lavrov speak", "Define SM-3"],
)
def test_questions_however_short_are_not_search_terms(text: str) -> None:
    assert not looks_like_search_terms(text)
