"""End to end: the real gunicorn server process answering over real HTTP."""

from __future__ import annotations

import requests


def test_server_answers_a_question_over_http(live_server, seed_pipeline):
    response = requests.post(
        f"{live_server}/api/ask",
        json={"question": "How many people died in the airport bombing?"},
        timeout=60,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["answerable"] is True
    assert "35" in body["answer"]
    citation = body["citations"][0]
    document = requests.get(f"{live_server}/api/documents/{citation['doc_id']}", timeout=10).json()
    assert document["text"][citation["start"] : citation["end"]] == citation["quote"]


def test_server_survives_bad_requests(live_server):
    bad = requests.post(
        f"{live_server}/api/ask", data="{", headers={"Content-Type": "application/json"}, timeout=10
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"
    huge = requests.post(f"{live_server}/api/ask", json={"question": "a" * 100_000}, timeout=10)
    assert huge.status_code == 413
    assert requests.get(f"{live_server}/api/health", timeout=10).json()["status"] == "ok"
