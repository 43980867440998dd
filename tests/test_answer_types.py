"""Answer-type cues and candidate spans: dates are not places, temperatures are not durations,
places are not people."""

from __future__ import annotations

import pytest

from qa.read import answer_types
from qa.read.answer_types import (
    DATE,
    DURATION,
    NAME,
    NAME_KINDS,
    NUMBER,
    PERSON,
    PLACE,
    STRICT_TYPES,
    candidate_spans,
    expected_type,
)
from qa.read.short_answer import short_answer
from qa.read.terms import question_terms


def texts(sentence: str, kind: str) -> list[str]:
    return [span.text for span in candidate_spans(sentence, kind)]


# --- what a question asks for ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How long should the tart bake?", DURATION),
        ("How long did the closure last?", DURATION),
        ("How long does it take to reach the summit?", DURATION),
        ("How many years did he serve as mayor?", DURATION),
        ("How many days does the festival run?", DURATION),
        ("How long is the bridge?", NUMBER),  # a length, not a time
        ("How long was the runway?", NUMBER),
        ("How far is the lighthouse from the shore?", NUMBER),
        ("How tall is the tower?", NUMBER),
        ("How high is the volcano?", NUMBER),
        ("How many flights were cancelled?", NUMBER),
        ("How much does one interceptor cost?", answer_types.MONEY),
        ("Where was Super Bowl 50 played?", PLACE),
        ("Who designed the lighthouse?", PERSON),
        ("When did the volcano erupt?", DATE),
    ],
)
def test_expected_type(question: str, kind: str | None) -> None:
    assert expected_type(question) == kind


def test_duration_is_strict_and_not_a_name_kind() -> None:
    """The reader treats a sentence without a duration as unable to answer "how long"."""
    assert DURATION in STRICT_TYPES
    assert DURATION not in NAME_KINDS


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Bake at 180 degrees for 25 minutes.", ["25 minutes"]),
        ("The war lasted three years.", ["three years"]),
        ("Let it rest for two and a half hours.", ["two and a half hours"]),
        ("Ferment it for 10 to 15 days.", ["10 to 15 days"]),
        ("Allow an hour, or 1.5 hours in winter.", ["an hour", "1.5 hours"]),
        ("The station has broadcast since 1951.", ["since 1951"]),
        ("He held the post from 1892 to 1894.", ["from 1892 to 1894"]),
        ("The region has been inhabited for thousands of years.", ["thousands of years"]),
        ("Feed the starter twice a day.", []),  # a rate, not a duration
        ("Bake at 180 degrees.", []),
        ("In 2016, 40 people came.", []),
    ],
)
def test_duration_spans(sentence: str, expected: list[str]) -> None:
    assert texts(sentence, DURATION) == expected


def test_how_long_never_answers_with_a_temperature() -> None:
    text = "Bake at 180 degrees for 25 minutes, until golden."
    q_terms = question_terms("How long should the tart bake?")
    assert short_answer(text, q_terms, expected_type("How long should the tart bake?")) == (
        "25 minutes"
    )
    assert short_answer("Bake at 180 degrees until golden.", q_terms, DURATION) is None


def test_duration_spans_are_slices_of_the_sentence() -> None:
    sentence = "It ran from 1961 to 1972, for eleven years, with a 25-minute break."
    spans = candidate_spans(sentence, DURATION)
    assert [s.text for s in spans] == ["from 1961 to 1972", "eleven years", "25-minute"]
    for span in spans:
        assert sentence[span.start : span.end] == span.text


# --- dates are not places or people ------------------------------------------------------------

SUPER_BOWL = (
    "The game was played on February 7, 2016, at Levi's Stadium in the San Francisco Bay Area "
    "at Santa Clara, California."
)


@pytest.mark.parametrize("kind", [PLACE, PERSON, NAME])
def test_dates_are_not_name_spans(kind: str) -> None:
    spans = texts(SUPER_BOWL, kind)
    assert not any(span.startswith("February") for span in spans)


def test_where_question_gets_a_place_not_a_date() -> None:
    question = "Where was Super Bowl 50 played?"
    spans = texts(SUPER_BOWL, PLACE)
    assert spans == ["Levi's Stadium", "San Francisco Bay Area", "Santa Clara", "California"]
    short = short_answer(SUPER_BOWL, question_terms(question), expected_type(question))
    assert short in spans


@pytest.mark.parametrize(
    "sentence",
    [
        "They met on Monday, March 30.",
        "It opened in May 2010.",
        "The vote is on 7 June.",
        "The talks resume in Sept. 2011.",
    ],
)
def test_calendar_expressions_are_not_places(sentence: str) -> None:
    assert texts(sentence, PLACE) == []


def test_names_with_numbers_stay_names() -> None:
    assert "Super Bowl 50" in texts("Super Bowl 50 was a great game.", NAME)
    assert texts("Theresa May met Merkel.", PERSON) == ["Theresa May", "Merkel"]


# --- places are not people ---------------------------------------------------------------------


def test_who_question_does_not_answer_with_a_place() -> None:
    text = "The lighthouse stands on the coast of Scotland."
    assert texts(text, PERSON) == []
    assert texts(text, PLACE) == ["Scotland"]
    assert short_answer(text, question_terms("Who designed the lighthouse?"), PERSON) is None


def test_who_question_prefers_the_person_over_the_place() -> None:
    text = "Robert Stevenson built the lighthouse in Scotland in 1811."
    assert texts(text, PERSON) == ["Robert Stevenson"]


@pytest.mark.parametrize(
    "sentence",
    [
        "The ships sank in the North Sea.",
        "They crossed the Forth Bridge.",
        "It flows into the Pacific Ocean.",
        "The Bell Rock Lighthouse was lit.",
        "He sailed up the Amazon River.",
        "The visitors come from Kansas City.",
        "The fighting broke out near Kabul.",
        "The summit was held at Lisbon.",
    ],
)
def test_places_and_structures_are_not_persons(sentence: str) -> None:
    assert texts(sentence, PERSON) == []


@pytest.mark.parametrize(
    ("sentence", "person"),
    [
        ("The plan was drafted by Lavrov.", "Lavrov"),
        ("According to Lavrov, talks went well.", "Lavrov"),
        ("A letter to Rogozin arrived.", "Rogozin"),  # "to" names people as often as places
        ("The ball was stripped from Newton.", "Newton"),
        ("The play was staged in Sophocles' lifetime.", "Sophocles"),
        ("The talk was given in Brussels by Dmitry Rogozin.", "Dmitry Rogozin"),
        ("It was decoded by Karl von Frisch in the 1940s.", "Karl von Frisch"),
    ],
)
def test_persons_survive_the_place_filter(sentence: str, person: str) -> None:
    assert person in texts(sentence, PERSON)


def test_organisations_can_answer_who() -> None:
    """ "Who commissioned the bridge?" is often answered by an organisation."""
    assert texts("It was commissioned by Gateshead Council.", PERSON) == ["Gateshead Council"]


def test_where_still_finds_places_after_prepositions() -> None:
    assert texts("The meeting was held in Brussels.", PLACE) == ["Brussels"]
