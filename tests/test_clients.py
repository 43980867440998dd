"""The client layer chat and evaluation share: the same records and errors in-process and over HTTP."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import requests

from qa.clients import DocumentText, HttpClient, LocalClient
from qa.errors import (
    BadResponse,
    ClientError,
    InvalidRequest,
    InvalidSetting,
    QAError,
    RequestRejected,
    ServerUnreachable,
)
from qa.eval.runner import failure_text
from qa.schema import Answer

QUESTION = "Who is Russia's envoy to NATO?"


class FakeResponse:
    """What a ``requests`` response offers the client: a status, a body and its text."""

    def __init__(self, status: int, body: Any = None, text: str | None = None) -> None:
        self.status_code = status
        self._body = body
        self.text = text if text is not None else ""

    def json(self) -> Any:
        if self._body is None:
            raise ValueError("no JSON")
        return self._body


class FakeSession:
    """Stands in for a ``requests.Session``: answers every request with one response or error."""

    def __init__(self, reply: FakeResponse | Exception) -> None:
        self.reply = reply
        self.calls: list[tuple[str, str, Any]] = []

    def get(self, url: str, timeout: float) -> FakeResponse:
        return self._answer("GET", url, None)

    def post(self, url: str, json: Any, timeout: float) -> FakeResponse:
        return self._answer("POST", url, json)

    def _answer(self, method: str, url: str, payload: Any) -> FakeResponse:
        self.calls.append((method, url, payload))
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def http_with(reply: FakeResponse | Exception) -> tuple[HttpClient, FakeSession]:
    client = HttpClient("qa.example:8000/")
    session = FakeSession(reply)
    client._local.session = session
    return client, session


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- records across the HTTP edge ----------------------------------------------------------------


def test_an_answer_survives_its_json_unchanged(seed_pipeline: Any) -> None:
    for question in (QUESTION, "What is the capital of Peru?"):
        data = seed_pipeline.ask(question, 3).to_dict()
        answer = Answer.from_dict(data)
        assert answer.to_dict() == data
        assert all(c.quote for c in answer.citations)
        assert [h.rank for h in answer.hits] == [1, 2, 3]


def test_an_older_server_s_answer_keeps_closest_unknown() -> None:
    data = {
        "question": "Who?",
        "answerable": False,
        "answer": None,
        "confidence": 0.1,
        "citations": [{"n": 1, "doc_id": "a", "title": "A", "start": 0, "end": 1, "quote": "x"}],
        "passages": [],
    }
    answer = Answer.from_dict(data)
    assert answer.closest is None and not answer.closest_known
    assert answer.citations[0].page is None and answer.message is None
    assert "closest" not in answer.to_dict()
    assert Answer.from_dict({**data, "closest": None}).to_dict()["closest"] is None


@pytest.mark.parametrize(
    "body",
    [[], {"answer": "x"}, {**error_body("x", "y")}, {"question": "q", "answerable": True}],
)
def test_what_is_not_an_answer_is_a_value_error(body: Any) -> None:
    with pytest.raises(ValueError, match="not an answer"):
        Answer.from_dict(body)


# --- the same errors in-process and over HTTP ------------------------------------------------------


def test_local_client_rejects_one_question_and_one_document(seed_pipeline: Any) -> None:
    client = LocalClient(seed_pipeline)
    with pytest.raises(RequestRejected, match="empty") as caught:
        client.ask("   ", 5)
    assert isinstance(caught.value.__cause__, InvalidRequest)
    assert failure_text(caught.value).startswith("invalid_request: ")
    with pytest.raises(RequestRejected, match="no document"):
        client.document("no/such/doc.txt")
    doc_id, title = next(iter(client.titles().items()))
    assert client.document(doc_id) == DocumentText(
        doc_id, title, seed_pipeline.document_text(doc_id)
    )


def test_local_and_http_clients_give_the_same_records(seed_pipeline: Any, live_server: str):
    local, http = LocalClient(seed_pipeline), HttpClient(live_server)
    mine, theirs = local.ask(QUESTION, 5), http.ask(QUESTION, 5)
    assert theirs.text == mine.text and theirs.short_answer == mine.short_answer
    assert theirs.citations == mine.citations
    assert theirs.confidence == pytest.approx(mine.confidence, abs=1e-3)
    assert [(h.rank, h.chunk.doc_id, h.chunk.chunk_id, h.chunk.text) for h in theirs.hits] == [
        (h.rank, h.chunk.doc_id, h.chunk.chunk_id, h.chunk.text) for h in mine.hits
    ]
    assert http.titles() == local.titles()
    cite = mine.citations[0]
    assert http.document(cite.doc_id) == local.document(cite.doc_id)
    for client in (local, http):
        with pytest.raises(RequestRejected):
            client.ask("???", 5)
        with pytest.raises(RequestRejected):
            client.document("no-such-doc.txt")


def test_http_client_asks_with_json_and_reads_the_answer_back() -> None:
    data = Answer("q", False, None, None, 0.25, (), ()).to_dict()
    client, session = http_with(FakeResponse(200, data))
    assert client.ask("q", 3) == Answer("q", False, None, None, 0.25, (), ())
    assert session.calls == [
        ("POST", "http://qa.example:8000/api/ask", {"question": "q", "top_k": 3, "answers": 1})
    ]


@pytest.mark.parametrize(
    ("reply", "kind", "message", "listed"),
    [
        (
            FakeResponse(400, error_body("invalid_request", "'question' is empty")),
            RequestRejected,
            "server said: 'question' is empty",
            "HTTP 400: 'question' is empty",
        ),
        (
            FakeResponse(404, error_body("not_found", "no such route")),
            RequestRejected,
            "server said: no such route",
            "HTTP 404: no such route",
        ),
        (
            FakeResponse(503, error_body("index_unavailable", "no index; run `qa index`")),
            BadResponse,
            "server said: no index; run `qa index`",
            "HTTP 503: no index; run `qa index`",
        ),
        (FakeResponse(405, {}), BadResponse, "server answered HTTP 405", "HTTP 405: "),
        (
            FakeResponse(502, text="<html>\n<h1>Bad   Gateway</h1></html>"),
            BadResponse,
            "answered HTTP 502 without qa JSON; is that a qa server?",
            "HTTP 502: <html> <h1>Bad Gateway</h1></html>",
        ),
        (
            FakeResponse(200, text="hello"),
            BadResponse,
            "answered HTTP 200 without qa JSON",
            "not qa JSON: hello",
        ),
        (FakeResponse(200, {"documents": []}), BadResponse, "without qa JSON", "not qa JSON: "),
        (
            requests.exceptions.ReadTimeout("read timed out"),
            ServerUnreachable,
            "the qa server at http://qa.example:8000 did not answer in time",
            "timed out",
        ),
    ],
)
def test_http_failures_are_client_errors_worded_for_chat_and_for_eval(
    reply: Any, kind: type[ClientError], message: str, listed: str
) -> None:
    client, _ = http_with(reply)
    with pytest.raises(kind) as caught:
        client.ask("q", 5)
    error = caught.value
    assert isinstance(error, ClientError) and isinstance(error, QAError)
    assert message in str(error) and "\n" not in str(error)
    assert failure_text(error).startswith(listed)
    assert error.url == "http://qa.example:8000"


def test_a_document_listing_without_ids_is_a_bad_response() -> None:
    client, _ = http_with(FakeResponse(200, {"documents": [{"title": "No id"}]}))
    with pytest.raises(BadResponse, match="without qa JSON") as caught:
        client.titles()
    assert "a document without its id" in str(caught.value.detail)


def test_nothing_listening_is_server_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServerUnreachable, match="cannot reach the qa server at") as caught:
        HttpClient(url).health()
    assert caught.value.url == url and caught.value.detail == "connection refused"
    assert failure_text(caught.value) == "connection refused"


@pytest.mark.parametrize("url", ["ftp://host", "http://", "host:port"])
def test_a_bad_url_is_an_invalid_setting(url: str) -> None:
    with pytest.raises(InvalidSetting, match="bad --url"):
        HttpClient(url)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            FakeResponse(503, error_body("index_unavailable", "no index")),
            "error: http://qa.example/api/health answered 503 (is it a qa server?): no index",
        ),
        (FakeResponse(200, text="<html>"), "error: http://qa.example is not a qa server"),
    ],
)
def test_eval_names_a_server_that_fails_its_health_check(
    reply: FakeResponse,
    expected: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from qa.eval.cli import main

    monkeypatch.setattr(requests, "Session", lambda: FakeSession(reply))
    questions = Path(__file__).parent / "fixtures" / "eval" / "questions.jsonl"
    argv = [str(questions), "--url", "qa.example", "--out", str(tmp_path / "o"), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(expected) and "\n" not in err
