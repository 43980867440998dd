"""Choosing the short answer: the span head's pick when it is of the asked-for kind."""

from __future__ import annotations

from qa.read import answer_types
from qa.read.short_answer import choose
from qa.read.terms import question_terms

TEXT = "The lighthouse was designed by Robert Stevenson in 1811 on the coast of Scotland."


def _at(text: str, words: str) -> tuple[int, int]:
    start = text.index(words)
    return start, start + len(words)


def test_a_learned_span_of_the_right_kind_is_kept() -> None:
    q = "When was the lighthouse designed?"
    assert choose(TEXT, question_terms(q), answer_types.DATE, _at(TEXT, "in 1811")) == "in 1811"


def test_a_learned_span_of_the_wrong_kind_gives_way_to_a_typed_one() -> None:
    q = "When was the lighthouse designed?"
    got = choose(TEXT, question_terms(q), answer_types.DATE, _at(TEXT, "Robert Stevenson"))
    assert got == "1811"


def test_no_span_of_the_asked_for_kind_means_no_short_answer() -> None:
    text = "The lighthouse stands on the coast of Scotland."
    q = "How many keepers did the lighthouse have?"
    assert choose(text, question_terms(q), answer_types.NUMBER, _at(text, "Scotland")) is None


def test_untyped_questions_take_the_learned_span() -> None:
    q = "Why was the lighthouse built there?"
    got = choose(TEXT, question_terms(q), None, _at(TEXT, "on the coast of Scotland"))
    assert got == "on the coast of Scotland"


def test_the_questions_own_words_are_no_answer() -> None:
    q = "Who designed the lighthouse?"
    assert choose(TEXT, question_terms(q), None, _at(TEXT, "The lighthouse")) is None


def test_without_a_learned_span_the_rules_decide() -> None:
    q = "Who designed the lighthouse?"
    assert choose(TEXT, question_terms(q), answer_types.PERSON, None) == "Robert Stevenson"
