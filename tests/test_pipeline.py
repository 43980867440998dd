"""QAPipeline: request validation, documents, health, and the shape of an answer."""

from __future__ import annotations

import pytest

from qa.build import build_settings
from qa.config import Settings
from qa.errors import DocumentNotFound, InvalidRequest
from qa.pipeline import ANSWER_DEPTH, QAPipeline, QuestionsInFlight, build_index


@pytest.mark.parametrize(
    "question",
    ["", "   ", "\n\t ", "\x00", "\x00\x01\x7f", " \x1b\x07\x08 ", 42, None, ["When?"]],
    ids=["empty", "spaces", "whitespace", "nul", "controls", "escape-only", "int", "none", "list"],
)
def test_ask_rejects_empty_or_non_text_questions(fixture_pipeline: QAPipeline, question) -> None:
    with pytest.raises(InvalidRequest):
        fixture_pipeline.ask(question)


@pytest.mark.parametrize("question", ["???", "!!!", "...", "🙂🙂", "¿¡", "— … «»", "#$%^&*()"])
def test_ask_and_search_reject_questions_without_words(
    fixture_pipeline: QAPipeline, question: str
) -> None:
    with pytest.raises(InvalidRequest, match="'question' has no words"):
        fixture_pipeline.ask(question)
    with pytest.raises(InvalidRequest, match="'query' has no words"):
        fixture_pipeline.search(question)


@pytest.mark.parametrize("question", ["2010?", "NATO?!", "Что?", "為什麼？"])
def test_a_single_word_or_number_in_any_script_is_a_question(
    fixture_pipeline: QAPipeline, question: str
) -> None:
    fixture_pipeline.ask(question)  # no InvalidRequest


def test_ask_rejects_over_long_questions(fixture_pipeline: QAPipeline) -> None:
    limit = fixture_pipeline.settings.max_question_chars
    with pytest.raises(InvalidRequest, match=str(limit)):
        fixture_pipeline.ask("volcano " * (limit // 8 + 1))
    fixture_pipeline.ask(("volcano " * limit)[: limit - 1] + "?")  # at the limit: accepted


@pytest.mark.parametrize("top_k", [0, -1, 51, 1000, 2.5, "3", True])
def test_ask_and_search_reject_bad_top_k(fixture_pipeline: QAPipeline, top_k) -> None:
    with pytest.raises(InvalidRequest, match="top_k"):
        fixture_pipeline.ask("When did the volcano erupt?", top_k=top_k)
    with pytest.raises(InvalidRequest, match="top_k"):
        fixture_pipeline.search("volcano", top_k=top_k)


def test_search_rejects_an_empty_query(fixture_pipeline: QAPipeline) -> None:
    with pytest.raises(InvalidRequest, match="query"):
        fixture_pipeline.search("  ")


def test_question_whitespace_is_normalised(fixture_pipeline: QAPipeline) -> None:
    answer = fixture_pipeline.ask("  When did\n Eyjafjallajokull\t erupt?  ")
    assert answer.question == "When did Eyjafjallajokull erupt?"
    assert answer.short_answer == "April 2010"


def test_top_k_limits_passages_but_not_the_answer(seed_pipeline: QAPipeline) -> None:
    question = "When did NATO leaders meet in Lisbon?"
    one = seed_pipeline.ask(question, top_k=1)
    many = seed_pipeline.ask(question, top_k=10)
    default = seed_pipeline.ask(question)
    assert len(one.hits) == 1 and len(many.hits) == 10
    assert len(default.hits) == seed_pipeline.settings.top_k
    # The reader always looks at ANSWER_DEPTH passages, so the answer does not depend on top_k.
    assert one.text == many.text == default.text
    assert one.citations == many.citations
    # The ranking is the same whatever the depth: the shorter list is the longer one's head.
    assert [h.chunk.chunk_id for h in many.hits[: len(default.hits)]] == [
        h.chunk.chunk_id for h in default.hits
    ]
    assert ANSWER_DEPTH >= len(many.hits)  # every passage shown here was read


def test_search_returns_ranked_hits(seed_pipeline: QAPipeline) -> None:
    hits = seed_pipeline.search("Lavrov press conference", top_k=3)
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].chunk.doc_id == "002_04c91fd3f0a7243f.txt"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_answer_to_dict_shape(fixture_pipeline: QAPipeline) -> None:
    data = fixture_pipeline.ask("Who decoded the waggle dance?", top_k=2).to_dict()
    assert set(data) == {
        "question", "answerable", "answer", "short_answer", "confidence", "message", "closest",
        "citations", "answers", "passages", "timings_ms",
    }  # fmt: skip
    assert len(data["answers"]) == 1  # the pipeline gives one unless asked for more
    assert data["message"] is None
    assert data["answerable"] is True and data["short_answer"] == "Karl von Frisch"
    assert set(data["citations"][0]) == {"n", "doc_id", "title", "start", "end", "quote", "page"}
    assert data["citations"][0]["page"] is None  # a .txt document has no pages
    assert data["citations"][0]["doc_id"] == "nested/bees.md"
    assert [p["rank"] for p in data["passages"]] == [1, 2]
    assert set(data["timings_ms"]) == {"retrieve", "answer", "total"}
    assert all(v >= 0 for v in data["timings_ms"].values())


def test_documents_and_document(fixture_pipeline: QAPipeline) -> None:
    docs = fixture_pipeline.documents()
    assert [d.doc_id for d in docs] == ["nested/bees.md", "volcanoes.txt"]
    title, raw = fixture_pipeline.document("volcanoes.txt")
    assert title == "Iceland's restless volcanoes"
    assert raw.startswith("Iceland's restless volcanoes\n")
    assert {d.doc_id: d.chars for d in docs}["volcanoes.txt"] == len(raw)
    assert fixture_pipeline.document_text("volcanoes.txt") == raw


@pytest.mark.parametrize("doc_id", ["nope.txt", "notes.csv", "../volcanoes.txt", "", "nested"])
def test_unknown_document_is_not_found(fixture_pipeline: QAPipeline, doc_id: str) -> None:
    with pytest.raises(DocumentNotFound):
        fixture_pipeline.document(doc_id)


def test_health(fixture_pipeline: QAPipeline, fixture_settings: Settings) -> None:
    health = fixture_pipeline.health()
    assert health["status"] == "ok"
    assert health["documents"] == 2
    assert health["chunks"] == health["index"]["counts"]["chunks"] >= 2
    assert health["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert health["index"]["settings"] == build_settings(fixture_settings)
    assert health["index"]["dir"] == str(fixture_settings.index_dir)


def test_pipeline_is_read_only_across_questions(fixture_pipeline: QAPipeline) -> None:
    first = fixture_pipeline.ask("How many flights were cancelled?")
    fixture_pipeline.ask("What is the capital of Peru?")
    again = fixture_pipeline.ask("How many flights were cancelled?")
    assert (first.text, first.short_answer, first.citations) == (
        again.text, again.short_answer, again.citations,
    )  # fmt: skip
    assert first.confidence == pytest.approx(again.confidence)


def test_answers_read_without_markdown_syntax_and_quotes_stay_raw(tmp_path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "tart.md").write_text(
        "# Apple tart\n\n## Baking\n\n"
        "- Bake the **apple tart** at 180 degrees for `25 minutes`.\n"
        "- Serve it warm with [vanilla ice cream](https://example.com/ice_cream).\n",
        encoding="utf-8",
    )
    (corpus / "lighthouse.txt").write_text(
        "The Bell Rock lighthouse was built by **Robert Stevenson** between 1807 and 1810.\n",
        encoding="utf-8",
    )
    settings = Settings(corpus=corpus, index_dir=tmp_path / "index")
    build_index(settings, progress=False)
    pipeline = QAPipeline.load(settings)

    tart = pipeline.ask("How long should the apple tart bake?")
    assert tart.answerable and tart.short_answer == "25 minutes"
    assert tart.text is not None and tart.text.startswith(
        "Bake the apple tart at 180 degrees for 25 minutes."
    )
    assert "**" not in tart.text and "`" not in tart.text and "- " not in tart.text
    assert "**apple tart**" in tart.citations[0].quote  # the quote is the raw text, exactly

    lighthouse = pipeline.ask("Who built the Bell Rock lighthouse?")
    assert lighthouse.answerable and lighthouse.short_answer == "Robert Stevenson"
    assert lighthouse.text == (
        "The Bell Rock lighthouse was built by Robert Stevenson between 1807 and 1810."
    )  # a .txt file's markdown is dropped from the answer too


def test_gate_candidate_can_hide_the_gold_document(fixture_pipeline: QAPipeline) -> None:
    question = "Who decoded the waggle dance?"
    features, text = fixture_pipeline.gate_candidate(question)
    assert "Frisch" in text and {"cross", "cross_margin", "agree"} <= set(features)
    hidden = fixture_pipeline.gate_candidate(question, frozenset({"nested/bees.md"}))
    assert hidden is None or "Frisch" not in hidden[1]


def test_a_question_reads_on_the_cores_no_other_question_uses() -> None:
    in_flight = QuestionsInFlight(cores=2)
    with in_flight.one():
        assert in_flight.width() == 2  # alone: its own core and the idle one
        with in_flight.one():
            assert in_flight.width() == 1  # two questions on two cores: one each
        assert in_flight.width() == 2
