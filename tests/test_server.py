"""End to end: the real gunicorn server process answering over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


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


@pytest.mark.parametrize(
    "path",
    [
        "/api/documents//etc/passwd",
        "/api/documents/%2Fetc%2Fpasswd",
        f"/api/documents/{SEEDS.resolve() / 'x.txt'}",
    ],
)
def test_slashes_in_a_document_id_are_a_json_404_over_http(live_server, path):
    response = requests.get(f"{live_server}{path}", timeout=10, allow_redirects=False)
    assert response.status_code == 404, response.headers.get("Location")
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "not_found"
