"""Several answers to one question: over HTTP, in the pipeline, the clients and the chat."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from qa.clients import HttpClient
from qa.schema import Answer
from tests.test_api import check_schema
from tests.test_chat import chat_env, run_chat  # noqa: F401  (chat_env: a fixture)

QUESTION = "What did Russia threaten to do about missile defence?"


def _sentences(citations: list[dict[str, Any]]) -> set[tuple[str, int]]:
    return {(c["doc_id"], offset) for c in citations for offset in range(c["start"], c["end"])}


def test_ask_gives_three_answers_by_default_from_different_sentences(client, seed_pipeline):
    body = client.post("/api/ask", json={"question": QUESTION}).get_json()
    check_schema(body, "AskResponse")
    assert body["answerable"]
    answers = body["answers"]
    assert len(answers) == 3
    first = answers[0]
    assert (first["answer"], first["short_answer"], first["citations"]) == (
        body["answer"],
        body["short_answer"],
        body["citations"],
    )
    assert first["confidence"] == body["confidence"]
    seen: set[tuple[str, int]] = set()
    for answer in answers:
        for c in answer["citations"]:
            assert seed_pipeline.document_text(c["doc_id"])[c["start"] : c["end"]] == c["quote"]
        covered = _sentences(answer["citations"])
        assert not covered & seen, "two answers quote the same text"
        seen |= covered
    others = [a["confidence"] for a in answers[1:]]
    assert others == sorted(others, reverse=True)


@pytest.mark.parametrize("n", [1, 5])
def test_answers_sets_how_many_and_the_first_stays_the_same(client, n):
    three = client.post("/api/ask", json={"question": QUESTION}).get_json()
    body = client.post("/api/ask", json={"question": QUESTION, "answers": n}).get_json()
    check_schema(body, "AskResponse")
    assert len(body["answers"]) == n
    assert body["answers"][0] == three["answers"][0]
    assert (body["answer"], body["confidence"]) == (three["answer"], three["confidence"])


def test_an_abstention_has_no_answers(client):
    body = client.post("/api/ask", json={"question": "How do I bake sourdough bread?"}).get_json()
    check_schema(body, "AskResponse")
    assert body["answerable"] is False and body["answers"] == []


@pytest.mark.parametrize("bad", [0, 11, "3", True, 2.5])
def test_a_bad_number_of_answers_is_a_400_naming_it(client, bad):
    response = client.post("/api/ask", json={"question": QUESTION, "answers": bad})
    assert response.status_code == 400
    assert "'answers'" in response.get_json()["error"]["message"]


def test_the_http_client_reads_the_other_answers_back(live_server):
    answer = HttpClient(live_server).ask(QUESTION, 3, answers=3)
    assert answer.answerable and len(answer.answers) == 3
    assert answer.answers[0].text == answer.text
    assert Answer.from_dict(answer.to_dict()) == answer
    # An older server's answer (no "answers") reads back as one answer.
    old = answer.to_dict()
    del old["answers"]
    assert Answer.from_dict(old).others == ()


def test_chat_more_shows_the_other_answers(chat_env: dict[str, str]):  # noqa: F811
    result = run_chat(chat_env, f"/more\n{QUESTION}\n/more\n")
    assert result.returncode == 0, result.stderr
    assert "no answer yet" in result.stderr
    more = result.stdout.split("Other possible answers to:", 1)[1]
    assert re.search(r"^2\. ", more, flags=re.MULTILINE)
    assert re.search(r"^3\. ", more, flags=re.MULTILINE)
    assert re.search(r"\[2\] .+ \(\S+, chars \d+-\d+\)", more)


def test_chat_json_lines_carry_the_answers(chat_env: dict[str, str]):  # noqa: F811
    result = run_chat(chat_env, QUESTION + "\n", "--json")
    assert len(json.loads(result.stdout.splitlines()[0])["answers"]) == 3
