"""Sentence splitting and the stemmed, stopword-free terms used for lexical matching."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.ingest.cleaning import clean
from qa.text import (
    CONTEXT_CHARS,
    STOPWORDS,
    content_terms,
    in_context,
    split_sentences,
    stem,
    titled,
    words,
)


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Smith went to Washington. He left.", ["Mr. Smith went to Washington.", "He left."]),
        (
            "The U.S. Navy sent a cruiser. It sailed.",
            ["The U.S. Navy sent a cruiser.", "It sailed."],
        ),
        ("Photo by J. Scott Applewhite. Next one.", ["Photo by J. Scott Applewhite.", "Next one."]),
        (
            "Dr. Jones and Gen. Makarov met. They talked.",
            ["Dr. Jones and Gen. Makarov met.", "They talked."],
        ),
        (
            "It was held on Dec. 8 in Brussels. Fine.",
            ["It was held on Dec. 8 in Brussels.", "Fine."],
        ),
        (
            "Daly et al. (2002) found it, as Eq. (4) and Sec. 4.2 show. Next.",
            ["Daly et al. (2002) found it, as Eq. (4) and Sec. 4.2 show.", "Next."],
        ),
        ("Is it ready? Yes! It is.", ["Is it ready?", "Yes!", "It is."]),
        ("He said “Yes.” Then he left.", ["He said “Yes.”", "Then he left."]),
        ("Prices rose. 40 people came.", ["Prices rose.", "40 people came."]),
        ("It ended. “Next,” he said.", ["It ended.", "“Next,” he said."]),
        ("Version 2.5 shipped today.", ["Version 2.5 shipped today."]),
        ("a lower-case start. another one", ["a lower-case start. another one"]),
        (
            "A headline with no stop\nThe body starts here.",
            ["A headline with no stop", "The body starts here."],
        ),
        ("ends mid\nline", ["ends mid", "line"]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_split_sentences_empty_and_blank_lines() -> None:
    assert split_sentences("") == []
    assert sentences("One.\n\nTwo.") == ["One.", "Two."]


_SENTENCE_TEXT = st.lists(
    st.sampled_from(
        ["Mr.", "U.S.", "J.", "word", "Word", "2010", "?", "!", ".", " ", " ", "\n", "“", "”", "é"]
    ),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(raw=_SENTENCE_TEXT)
def test_sentence_spans_are_ordered_trimmed_and_cover_all_words(raw: str) -> None:
    text = clean(raw).text  # sentences are split in cleaned text
    spans = split_sentences(text)
    assert all(0 <= a < b <= len(text) for a, b in spans)
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:], strict=False))
    for a, b in spans:
        assert "\n" not in text[a:b]
        assert not text[a].isspace()
    covered = set().union(*(range(a, b) for a, b in spans)) if spans else set()
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_words_keep_inner_hyphens_and_apostrophes() -> None:
    assert words("SM-3 Russia’s long-range (NATO) e.g.") == [
        "SM-3",
        "Russia’s",
        "long-range",
        "NATO",
        "e",
        "g",
    ]


def test_stem_lowercases_and_drops_possessive() -> None:
    assert stem("Missiles") == "missil" == stem("missile")
    assert stem("Russia's") == "russia" == stem("Russia’s")
    assert stem("deployed") == stem("deploying") == "deploy"


def test_content_terms_stem_and_drop_stopwords() -> None:
    assert content_terms("The missiles were deployed in the north of Europe") == [
        "missil",
        "deploy",
        "north",
        "europ",
    ]
    assert content_terms("what is it and where was he") == []


def test_stopword_list_has_question_words() -> None:
    assert {"what", "who", "when", "where", "the", "of"} <= STOPWORDS


def test_hyphen_compounds_yield_whole_term_and_word_parts() -> None:
    terms = content_terms("the NATO-Russia council")
    assert terms == ["nato-russia", "nato", "russia", "council"]
    assert set(content_terms("long-range missiles")) >= {"long-rang", "long", "rang", "missil"}


def test_codes_do_not_yield_bare_numbers_or_stopword_parts() -> None:
    assert "2" not in content_terms("the TPY-2 radar")
    assert "3" not in content_terms("SM-3")
    terms = content_terms("state-of-the-art")
    assert "of" not in terms and "the" not in terms
    assert "state" in terms and "art" in terms


def test_question_and_answer_share_terms() -> None:
    question = set(content_terms("When did the volcano erupt?"))
    answer = set(content_terms("Eyjafjallajokull erupted in April 2010, the volcano's worst."))
    assert {"volcano", "erupt"} <= question & answer


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        ("Super Bowl 50", "It was played in 2016.", "Super Bowl 50. It was played in 2016."),
        ("Is NATO ready?", "Yes.", "Is NATO ready? Yes."),
        ("Moscow talks", "Moscow talks began on Monday.", "Moscow talks began on Monday."),
        ("  ", "Untitled text.", "Untitled text."),
        (
            "Techniques to Study B Cells https://www.ncbi.nlm.nih.gov/pmc/articles/PMC5/",
            "We review them.",
            "Techniques to Study B Cells. We review them.",
        ),
        ("https://example.org/a", "Only an address.", "Only an address."),
    ],
)
def test_titled_heads_a_passage_with_its_title_once(title: str, text: str, expected: str) -> None:
    assert titled(title, text) == expected


def test_in_context_heads_a_sentence_with_title_and_the_sentence_before() -> None:
    assert in_context("Bridge", "It is red.", "It opened in 1937.") == (
        "Bridge. It is red. It opened in 1937."
    )
    assert in_context("Bridge", "", "It opened in 1937.") == titled("Bridge", "It opened in 1937.")


def test_in_context_cuts_a_long_sentence_before_at_a_word_and_keeps_its_start() -> None:
    before = "The Golden Gate Bridge " + "spans the strait " * 30
    shown = in_context("", before, "It opened in 1937.")
    assert shown.startswith("The Golden Gate Bridge spans")
    assert shown.endswith(" … It opened in 1937.")
    cut = shown[: -len(" … It opened in 1937.")]
    assert len(cut) <= CONTEXT_CHARS and before.startswith(cut)
    assert before[len(cut)] == " "  # cut between words, not inside one
