"""The HTTP API through Flask's test client, with the real model and a real index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from qa.config import Settings
from qa.serve.api import create_app

SPEC = json.loads((Path(__file__).resolve().parent.parent / "qa" / "openapi.json").read_text())


def check_schema(body: Any, name: str) -> None:
    """Validate a response body against a schema of the OpenAPI document."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}
    jsonschema.validate(body, schema)


def test_openapi_document_is_valid_and_served(client):
    validate(SPEC)
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == SPEC


def test_ask_answers_with_valid_citations(client, seed_pipeline):
    response = client.post(
        "/api/ask", json={"question": "Who represents Russia at NATO on missile defence?"}
    )
    assert response.status_code == 200
    body = response.get_json()
    check_schema(body, "AskResponse")
    assert body["answerable"] is True
    assert "Rogozin" in body["answer"]
    assert body["citations"], "an answer must cite its source"
    for citation in body["citations"]:
        raw = seed_pipeline.document_text(citation["doc_id"])
        assert raw[citation["start"] : citation["end"]] == citation["quote"]
    assert len(body["passages"]) == 5
    assert [p["rank"] for p in body["passages"]] == [1, 2, 3, 4, 5]
    assert body["timings_ms"]["total"] >= body["timings_ms"]["retrieve"]


def test_ask_abstains_when_documents_do_not_hold_the_answer(client):
    response = client.post(
        "/api/ask", json={"question": "What is the best way to bake sourdough bread?"}
    )
    body = response.get_json()
    check_schema(body, "AskResponse")
    assert body["answerable"] is False
    assert body["answer"] is None and body["citations"] == []
    assert body["passages"], "passages are still returned for the user to read"


def test_top_k_controls_passages(client):
    body = client.post(
        "/api/ask", json={"question": "Where will NATO leaders meet?", "top_k": 2}
    ).get_json()
    assert len(body["passages"]) == 2


def test_search_returns_passages(client):
    response = client.post("/api/search", json={"query": "Iranian missile range", "top_k": 3})
    body = response.get_json()
    check_schema(body, "SearchResponse")
    assert len(body["passages"]) == 3
    assert body["passages"][0]["score"] >= body["passages"][-1]["score"]


def test_health_and_documents(client, seed_pipeline):
    health = client.get("/api/health").get_json()
    check_schema(health, "Health")
    assert health["documents"] == 5 and health["chunks"] > 5
    listing = client.get("/api/documents").get_json()
    check_schema(listing, "DocumentList")
    doc_id = listing["documents"][0]["doc_id"]
    doc = client.get(f"/api/documents/{doc_id}").get_json()
    check_schema(doc, "DocumentText")
    assert doc["text"] == (Path(__file__).resolve().parent.parent / "seeds" / doc_id).read_text(
        "utf-8"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/api/documents/../pyproject.toml",
        "/api/documents/..%2F..%2Fetc%2Fpasswd",
        "/api/documents/nope.txt",
    ],
)
def test_document_ids_never_leave_the_corpus(client, path):
    response = client.get(path)
    assert response.status_code == 404
    check_schema(response.get_json(), "Error")


SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SLASHED = [
    "/api/documents//etc/passwd",
    "/api/documents/%2Fetc%2Fpasswd",
    f"/api/documents/{sorted(SEEDS.glob('*.txt'))[0]}",  # an absolute corpus path: "//"
    "/api//documents",
    "/api/documents/",
]


@pytest.mark.parametrize("path", SLASHED)
def test_doubled_slashes_are_a_json_404_not_a_redirect(client, path):
    response = client.get(path)
    assert response.status_code == 404, response.headers.get("Location")
    assert response.mimetype == "application/json"
    check_schema(response.get_json(), "Error")


BAD_ASKS = [
    ({"json": {}}, 400),
    ({"json": {"question": ""}}, 400),
    ({"json": {"question": "   \n\t "}}, 400),
    ({"json": {"question": "\x00\x01\x02"}}, 400),
    ({"json": {"question": "???"}}, 400),
    ({"json": {"question": "🙂🙂"}}, 400),
    ({"json": {"question": 42}}, 400),
    ({"json": {"question": ["a"]}}, 400),
    ({"json": {"question": "x" * 2001}}, 400),
    ({"json": {"question": "ok?", "top_k": 0}}, 400),
    ({"json": {"question": "ok?", "top_k": 51}}, 400),
    ({"json": {"question": "ok?", "top_k": "5"}}, 400),
    ({"json": {"question": "ok?", "top_k": True}}, 400),
    ({"json": [1, 2]}, 400),
    ({"json": "question"}, 400),
    ({"data": "{not json", "content_type": "application/json"}, 400),
    ({"data": b"\xff\xfe", "content_type": "application/json"}, 400),
    ({"data": "question=hi", "content_type": "application/x-www-form-urlencoded"}, 415),
    ({"data": "hi"}, 415),
    ({"data": json.dumps({"question": "a" * 70_000}), "content_type": "application/json"}, 413),
]


@pytest.mark.parametrize(("kwargs", "status"), BAD_ASKS)
def test_bad_requests_get_clear_json_errors_and_the_service_keeps_answering(client, kwargs, status):
    response = client.post("/api/ask", **kwargs)
    assert response.status_code == status
    body = response.get_json()
    check_schema(body, "Error")
    assert body["error"]["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    follow_up = client.post("/api/ask", json={"question": "Where will NATO leaders meet in May?"})
    assert follow_up.status_code == 200 and follow_up.get_json()["answerable"] is True


@pytest.mark.parametrize("question", ["???", "!!!", "...", "🙂🙂", " ¿¡ — … ", "#$%&*"])
def test_a_question_without_words_is_a_clear_400(client, question):
    response = client.post("/api/ask", json={"question": question})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"] == "'question' has no words, only punctuation, symbols or emoji"
    search = client.post("/api/search", json={"query": question})
    assert (
        search.status_code == 400
        and "'query' has no words" in search.get_json()["error"]["message"]
    )


def test_a_question_with_a_digit_is_taken(client):
    response = client.post("/api/ask", json={"question": "2010?"})
    assert response.status_code == 200
    check_schema(response.get_json(), "AskResponse")


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("Кто представляет Россию в НАТО?", "Russian"),
        ("Qui représente la Russie auprès de l'OTAN ?", "French"),
        ("谁代表俄罗斯出席北约？", "Chinese"),
    ],
)
def test_a_question_not_in_english_gets_an_abstention_that_says_why(client, question, language):
    response = client.post("/api/ask", json={"question": question})
    assert response.status_code == 200
    body = response.get_json()
    check_schema(body, "AskResponse")
    assert body["answerable"] is False and body["answer"] is None and body["citations"] == []
    assert body["message"] == (
        f"Only English questions are supported; this question looks like {language}."
    )
    assert body["passages"] == []


@pytest.mark.parametrize(
    "question", ["Who is Dmitry Rogozin?", "What did Rogozin say about the café in Brussels?"]
)
def test_english_questions_with_foreign_names_carry_no_message(client, question):
    body = client.post("/api/ask", json={"question": question}).get_json()
    check_schema(body, "AskResponse")
    assert body["message"] is None
    assert body["passages"]


@pytest.mark.parametrize("terms", ["Rogozin", "missile defence"])
def test_search_terms_get_passages_and_a_message_not_an_answer(client, terms):
    body = client.post("/api/ask", json={"question": terms}).get_json()
    check_schema(body, "AskResponse")
    assert body["answerable"] is False and body["answer"] is None and body["confidence"] == 0
    assert body["message"].startswith("This looks like a search term rather than a question")
    assert body["passages"]


def test_an_abstention_shows_what_came_closest_and_an_answer_does_not(client):
    abstained = client.post(
        "/api/ask", json={"question": "What is the boiling point of liquid nitrogen in kelvin?"}
    ).get_json()
    check_schema(abstained, "AskResponse")
    assert abstained["answerable"] is False
    assert isinstance(abstained["closest"], str) and abstained["closest"]
    answered = client.post(
        "/api/ask", json={"question": "Who is Russia's envoy to NATO?"}
    ).get_json()
    check_schema(answered, "AskResponse")
    assert answered["answerable"] is True and answered["closest"] is None


def test_unknown_route_and_wrong_method(client):
    assert client.get("/api/nothing").status_code == 404
    response = client.get("/api/ask")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_unexpected_errors_are_a_generic_500(seed_settings, seed_pipeline, monkeypatch):
    app = create_app({"QA_SETTINGS": seed_settings}, pipeline=seed_pipeline)

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(seed_pipeline, "ask", explode)
    response = app.test_client().post("/api/ask", json={"question": "anything?"})
    assert response.status_code == 500
    assert response.get_json() == {
        "error": {"code": "internal_error", "message": "internal server error"}
    }
    assert "secret" not in response.get_data(as_text=True)


def test_without_an_index_the_service_says_how_to_build_one(tmp_path):
    app = create_app({"QA_SETTINGS": Settings(corpus=tmp_path, index_dir=tmp_path / "none")})
    client = app.test_client()
    for response in (client.post("/api/ask", json={"question": "hi?"}), client.get("/api/health")):
        assert response.status_code == 503
        assert "qa index" in response.get_json()["error"]["message"]
    assert client.post("/api/ask", json={}).status_code == 400  # the request is still checked


def test_browser_page_is_served(client):
    with client.get("/") as response:
        assert response.status_code == 200
        assert b"<form" in response.data
