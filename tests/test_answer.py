"""The extractive reader: cited answers, short answers, abstention, and answer-type cues."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.ingest.cleaning import display_form
from qa.pipeline import QAPipeline
from qa.read import answer_types
from qa.read.answer import Evidence, Reader, confidence_features
from qa.read.answer_types import candidate_spans, expected_type
from qa.read.reader_model import FEATURES, HAND_SET, ReaderModel
from qa.read.short_answer import short_answer
from qa.read.terms import TermStats, question_terms
from qa.schema import Answer, Chunk, Hit, Sentence


def assert_citations_valid(pipeline: QAPipeline, answer: Answer) -> None:
    """Every citation quotes its document verbatim; an answer has citations, an abstention none."""
    assert 0.0 <= answer.confidence <= 1.0
    assert answer.answerable == (answer.text is not None) == bool(answer.citations)
    if not answer.answerable:
        assert answer.short_answer is None
    for n, citation in enumerate(answer.citations, start=1):
        title, raw = pipeline.document(citation.doc_id)
        assert citation.n == n
        assert citation.title == title
        assert 0 <= citation.start < citation.end <= len(raw)
        assert citation.quote == raw[citation.start : citation.end]
    for rank, hit in enumerate(answer.hits, start=1):
        assert hit.rank == rank
        raw = pipeline.document_text(hit.chunk.doc_id)
        assert 0 <= hit.chunk.start < hit.chunk.end <= len(raw)


def assert_answer_matches_quote(answer: Answer) -> None:
    """The answer text is the readable form of the quoted raw text."""
    (citation,) = answer.citations
    assert answer.text is not None
    assert " ".join(answer.text.split()) == display_form(citation.quote)


# --- the fixture corpus --------------------------------------------------------------------------


def test_when_question_gets_a_cited_date(fixture_pipeline: QAPipeline) -> None:
    answer = fixture_pipeline.ask("When did Eyjafjallajokull erupt?")
    assert answer.answerable
    assert answer.short_answer == "April 2010"
    assert answer.confidence >= fixture_pipeline.abstain_threshold
    (citation,) = answer.citations
    assert citation.doc_id == "volcanoes.txt"
    assert citation.title == "Iceland's restless volcanoes"
    raw = fixture_pipeline.document_text("volcanoes.txt")
    assert citation.quote == raw[citation.start : citation.end]
    assert citation.quote.startswith("Eyjafjallajokull erupted in April 2010")
    assert "air-\nspace" in citation.quote  # the quote is raw text ...
    assert "European airspace" in (answer.text or "")  # ... the answer is readable text
    assert_answer_matches_quote(answer)
    assert_citations_valid(fixture_pipeline, answer)


@pytest.mark.parametrize(
    ("question", "short", "doc_id"),
    [
        ("How many flights were cancelled?", "100,000", "volcanoes.txt"),
        ("Who decoded the waggle dance?", "Karl von Frisch", "nested/bees.md"),
        ("How many eggs can a queen bee lay in a day?", "2,000", "nested/bees.md"),
        ("How many seismometers monitor the volcano?", "40", "volcanoes.txt"),
    ],
)
def test_fixture_short_answers(
    fixture_pipeline: QAPipeline, question: str, short: str, doc_id: str
) -> None:
    answer = fixture_pipeline.ask(question)
    assert answer.answerable
    assert answer.short_answer is not None and short in answer.short_answer
    assert short in (answer.text or "")
    assert answer.citations[0].doc_id == doc_id
    assert_citations_valid(fixture_pipeline, answer)


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of Peru?",
        "Who painted the Mona Lisa?",
        "What is the boiling point of mercury?",
        # Answered (0.43) by a gate fitted on reworded questions before it read "known".
        "Who wrote Hamlet?",
    ],
)
def test_unrelated_question_abstains_but_returns_passages(
    fixture_pipeline: QAPipeline, question: str
) -> None:
    answer = fixture_pipeline.ask(question)
    assert not answer.answerable
    assert answer.text is None and answer.short_answer is None
    assert answer.citations == ()
    assert answer.confidence < fixture_pipeline.abstain_threshold
    assert len(answer.hits) == 2  # both chunks of the fixture corpus are still shown
    data = answer.to_dict()
    assert data["answer"] is None and data["citations"] == [] and len(data["passages"]) == 2


_VOCABULARY = [
    "volcano", "erupt", "Eyjafjallajokull", "ash", "flights", "cancelled", "Iceland", "bees",
    "queen", "eggs", "waggle", "dance", "Frisch", "seismometers", "Peru", "capital", "airspace",
    "honey", "hive", "when", "who", "how many", "where", "which", "did", "the", "was", "what",
]  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(words=st.lists(st.sampled_from(_VOCABULARY), min_size=1, max_size=8))
def test_every_citation_quotes_the_raw_text(fixture_pipeline: QAPipeline, words: list[str]) -> None:
    question = " ".join(words) + "?"
    answer = fixture_pipeline.ask(question, top_k=2)
    assert_citations_valid(fixture_pipeline, answer)


# --- the seed articles ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "short", "doc_id"),
    [
        ("When did NATO leaders meet in Lisbon?", "November 2010", "003_3a87499ce45bfa06.txt"),
        (
            "Which Russian foreign minister held a press conference in Brussels?",
            "Sergei Lavrov",
            "002_04c91fd3f0a7243f.txt",
        ),
        (
            "When did Obama and Medvedev agree to analyze ballistic missile challenges?",
            "July 2009",
            "001_bdc9815c2310340a.txt",
        ),
    ],
)
def test_seed_answers(seed_pipeline: QAPipeline, question: str, short: str, doc_id: str) -> None:
    answer = seed_pipeline.ask(question)
    assert answer.answerable
    assert answer.short_answer is not None and short in answer.short_answer
    assert answer.citations[0].doc_id == doc_id
    assert_citations_valid(seed_pipeline, answer)
    assert_answer_matches_quote(answer)


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("Which interceptor is the phased adaptive approach based on?", "SM-3 interceptor"),
        ("Which think tank hosted the talk Rogozin gave on March 30?", "East West Institute"),
        ("What did NATO leaders decide to develop at the Lisbon summit?", "capability to defend"),
    ],
)
def test_seed_answer_sentences(seed_pipeline: QAPipeline, question: str, words: str) -> None:
    answer = seed_pipeline.ask(question)
    assert answer.answerable
    assert words in (answer.text or "")
    assert_citations_valid(seed_pipeline, answer)


@pytest.mark.parametrize(
    "question",
    [
        "What is the tallest mountain in Africa?",
        "Who composed the Moonlight Sonata?",
        "How many goals did Pele score in his career?",
        "When was the Eiffel Tower built?",
        "What is photosynthesis?",
        "Who wrote Hamlet?",
    ],
)
def test_seed_abstains_on_unanswerable_questions(seed_pipeline: QAPipeline, question: str) -> None:
    answer = seed_pipeline.ask(question)
    assert not answer.answerable
    assert answer.text is None and answer.citations == ()
    assert answer.hits  # passages are still returned


def test_seed_who_question_short_answer_is_the_name(seed_pipeline: QAPipeline) -> None:
    answer = seed_pipeline.ask(
        "Who is NATO's Deputy Assistant Secretary General for Political Affairs?"
    )
    assert answer.answerable
    assert answer.short_answer is not None and "Appathurai" in answer.short_answer


# --- answer types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who decoded the waggle dance?", answer_types.PERSON),
        ("Whose plan was rejected?", answer_types.PERSON),
        ("When did the volcano erupt?", answer_types.DATE),
        ("What year was the treaty signed?", answer_types.DATE),
        ("In which month will they meet?", answer_types.DATE),
        ("How many flights were cancelled?", answer_types.NUMBER),
        ("How long did the closure last?", answer_types.DURATION),
        ("What percentage of members agreed?", answer_types.NUMBER),
        ("How much water does the lake hold?", answer_types.NUMBER),
        ("How much does one interceptor cost?", answer_types.MONEY),
        ("How much did the shield cost?", answer_types.MONEY),
        ("Where is the volcano?", answer_types.PLACE),
        ("Which city hosted the summit?", answer_types.PLACE),
        ("Which treaty was ratified?", answer_types.NAME),
        ("What is the name of the cruiser?", answer_types.NAME),
        ("What kind of radar will be deployed?", None),
        ("What type of missile is it?", None),
        ("Why did Russia object?", None),
        ("How does the sectoral system work?", None),
    ],
)
def test_expected_type(question: str, kind: str | None) -> None:
    assert expected_type(question) == kind


SENTENCE = (
    "On April 14, 2010 and again in March, in 1998 and in the 1940s, the project cost $2.5 billion "
    "and 300 million euros; 100,000 flights, 40% of crews and two hundred people stayed while "
    "Karl von Frisch met Dmitry Rogozin in Brussels."
)


def _spans(kind: str) -> list[str]:
    return [s.text for s in candidate_spans(SENTENCE, kind)]


def test_candidate_dates() -> None:
    assert _spans(answer_types.DATE) == ["April 14, 2010", "March", "1998", "1940s"]


def test_candidate_numbers() -> None:
    spans = _spans(answer_types.NUMBER)
    for expected in ["100,000", "40%", "two hundred", "1998"]:
        assert expected in spans


def test_candidate_money() -> None:
    assert _spans(answer_types.MONEY) == ["$2.5 billion", "300 million euros"]


def test_candidate_names() -> None:
    spans = _spans(answer_types.PERSON)
    assert "Karl von Frisch" in spans and "Dmitry Rogozin" in spans
    assert "March" not in spans  # calendar words are not names
    assert "Brussels" not in spans  # "in Brussels" is a place ...
    assert "Brussels" in _spans(answer_types.NAME)  # ... and still a name


def test_candidate_spans_are_slices_of_the_sentence() -> None:
    for kind in [answer_types.DATE, answer_types.NUMBER, answer_types.MONEY, answer_types.NAME]:
        for span in candidate_spans(SENTENCE, kind):
            assert SENTENCE[span.start : span.end] == span.text


def test_sentence_initial_common_word_is_not_a_name() -> None:
    spans = [s.text for s in candidate_spans("The meeting was held in Brussels.", "place")]
    assert spans == ["Brussels"]


# --- reader pieces -------------------------------------------------------------------------------


def test_question_terms_drop_stopwords_and_question_filler() -> None:
    assert question_terms("What kind of radar did they name?") == frozenset({"radar"})
    assert question_terms("How many flights were cancelled?") == frozenset({"flight", "cancel"})


def test_idf_weighs_rare_and_unseen_terms_more() -> None:
    stats = TermStats.from_term_sets([frozenset({"nato", "missil"}), frozenset({"nato"})] * 5)
    assert stats.weight("missil") > stats.weight("nato")
    assert stats.weight("unseen") > stats.weight("missil")


def _evidence(dense: float, window: float, strict: bool, typed_span: bool) -> Evidence:
    features = {
        "dense": dense,
        "cover": window,
        "window": window,
        "strict_hit": float(strict and typed_span),
        "strict_miss": float(strict and not typed_span),
    }
    return Evidence(0, 0.0, 1, features)


def _confidence(model: ReaderModel, evidence: Evidence) -> float:
    return model.confidence(confidence_features(evidence, [evidence]))


@pytest.mark.parametrize("model", [HAND_SET, ReaderModel.load()], ids=["hand-set", "packaged"])
def test_confidence_grows_with_evidence_and_needs_a_typed_span(model: ReaderModel) -> None:
    low = _confidence(model, _evidence(0.2, 0.2, False, False))
    high = _confidence(model, _evidence(0.7, 1.0, False, False))
    assert 0.0 <= low < model.threshold < high <= 1.0
    with_date = _confidence(model, _evidence(0.5, 0.8, True, True))
    without_date = _confidence(model, _evidence(0.5, 0.8, True, False))
    assert with_date > without_date


def test_short_answer_picks_the_span_nearest_the_question_words() -> None:
    text = "In 1990 the fund was set up, and the volcano erupted in April 2010."
    q_terms = question_terms("When did the volcano erupt?")
    assert short_answer(text, q_terms, answer_types.DATE) == "April 2010"
    assert short_answer(text, q_terms, None) is None
    assert short_answer("No dates here.", q_terms, answer_types.DATE) is None


def test_short_answer_skips_spans_the_question_already_contains() -> None:
    text = "Rogozin met Makarov in Brussels."
    assert short_answer(text, question_terms("Who did Rogozin meet?"), answer_types.PERSON) == (
        "Makarov"
    )


def test_reader_candidates_carry_every_model_feature(fixture_pipeline: QAPipeline) -> None:
    rows = fixture_pipeline.reader_candidates("When did Eyjafjallajokull erupt?")
    assert rows
    for evidence, text in rows:
        # The ranker's features, and the question's "known" share for the gate.
        assert set(evidence.features) == {*FEATURES, "known"}
        assert evidence.features["known"] == 1.0  # both words are in the fixture corpus
        assert 0.0 < evidence.features["passage"] <= 1.0
        assert evidence.features["inv_rank"] == 1.0 / evidence.rank
        assert text
    # The top passage's sentences have passage score 1; a sentence's two embeddings differ
    # unless it starts with its title.
    assert max(e.features["passage"] for e, _ in rows) == 1.0
    assert any(e.features["dense"] != e.features["dense_titled"] for e, _ in rows)


def test_citations_carry_the_page_of_a_paged_document() -> None:
    raw = (
        "The society was founded in 1887 by Margaret Quill.\n\nGull Point Light is 41 metres tall."
    )
    second = raw.index("Gull")
    sentences = [
        Sentence(0, "l.pdf", raw[: second - 2], 0, second - 2),
        Sentence(1, "l.pdf", raw[second:], second, len(raw)),
    ]
    vectors = np.eye(2, 8, dtype=np.float32)
    chunk = Chunk(0, "l.pdf", raw, 0, len(raw), 20, 0, 1)
    reader = Reader(
        sentences,
        vectors,
        {"l.pdf": ("Lighthouses", raw)},
        threshold=0.0,
        page_starts={"l.pdf": (0, second)},
    )
    reading = reader.read("How tall is Gull Point Light?", vectors[1], [Hit(chunk, 1.0, 1)])
    (cite,) = reading.citations
    assert cite.quote == raw[cite.start : cite.end] and "41 metres" in cite.quote
    assert cite.page == 2 and cite.to_dict()["page"] == 2
    no_pages = Reader(sentences, vectors, {"l.pdf": ("Lighthouses", raw)}, threshold=0.0)
    (plain,) = no_pages.read(
        "How tall is Gull Point Light?", vectors[1], [Hit(chunk, 1.0, 1)]
    ).citations
    assert plain.page is None and plain.to_dict()["page"] is None
