"""PUT and DELETE /api/documents/<doc_id> over real HTTP, and a server that follows `qa index`.

One gunicorn server with two workers serves a private corpus; updates go through one worker and
every worker must answer from the new state within its reload interval.
"""

from __future__ import annotations

import io
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from corpora import write_corpus
from servers import Server, start_server

from qa.build import build_index
from qa.config import Settings
from qa.ingest import sha256_text
from qa.pipeline import QAPipeline
from qa.serve.api import create_app
from qa.store import read_manifest

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CORPUS = {
    "comets.txt": "Comets of the outer system\n\nHalley's Comet returns every 76 years. "
    "It was last seen from Earth in 1986.\n",
    "tides.md": "# Ocean tides\n\nTides are caused by the gravity of the Moon and the Sun.\n",
}
GLACIER = (
    "Glaciers\n\nThe Aletsch Glacier is the largest glacier in the Alps, 23 kilometres long.\n"
)


def _corpus(folder: Path) -> Path:
    return write_corpus(folder, CORPUS)


def _serve(index_dir: Path, log_path: Path, workers: int = 2) -> Server:
    env = {"QA_INDEX_DIR": str(index_dir), "QA_ADMIN_TOKEN": TOKEN, "QA_RELOAD_SECONDS": "0.5"}
    return start_server(env, log_path, ["--workers", str(workers)])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    root = tmp_path_factory.mktemp("updates")
    settings = Settings(corpus=_corpus(root / "corpus"), index_dir=root / "index")
    build_index(settings, progress=False)
    server = _serve(settings.index_dir, root / "server.log")
    try:
        yield server.url, settings
    finally:
        server.stop()


def _builds_seen(url: str, n: int = 12) -> set[str]:
    """The builds the workers answer from (gunicorn spreads requests over them)."""
    return {
        requests.get(f"{url}/api/health", timeout=30).json()["index"]["build"] for _ in range(n)
    }


def _until(predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return predicate()


def test_updates_need_the_admin_token(served: tuple[str, Settings]) -> None:
    url, _ = served
    no_auth = requests.put(f"{url}/api/documents/x.txt", json={"text": "Hi."}, timeout=30)
    assert no_auth.status_code == 401
    assert no_auth.headers["WWW-Authenticate"].startswith("Bearer")
    assert no_auth.json()["error"]["code"] == "unauthorized"
    wrong = requests.delete(
        f"{url}/api/documents/comets.txt", headers={"Authorization": "Bearer nope"}, timeout=30
    )
    assert wrong.status_code == 401
    assert requests.get(f"{url}/api/documents/comets.txt", timeout=30).status_code == 200


def test_updates_are_off_without_a_token(tmp_path: Path) -> None:
    settings = Settings(corpus=_corpus(tmp_path / "corpus"), index_dir=tmp_path / "index")
    build_index(settings, progress=False)
    client = create_app({"TESTING": True, "QA_SETTINGS": settings}).test_client()
    response = client.put("/api/documents/x.txt", json={"text": "Hello."}, headers=AUTH)
    assert response.status_code == 403
    assert "QA_ADMIN_TOKEN" in response.get_json()["error"]["message"]


def test_put_ask_replace_and_delete_through_http(served: tuple[str, Settings]) -> None:
    url, settings = served
    assert settings.corpus is not None
    created = requests.put(
        f"{url}/api/documents/notes/glacier.txt", json={"text": GLACIER}, headers=AUTH, timeout=120
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "created" and created.json()["documents"] == 3
    assert (settings.corpus / "notes" / "glacier.txt").read_text(encoding="utf-8") == GLACIER
    # The next question sees it, whichever worker answers.
    for _ in range(4):
        answer = requests.post(
            f"{url}/api/ask", json={"question": "How long is the Aletsch Glacier?"}, timeout=60
        ).json()
        if answer["citations"] and answer["citations"][0]["doc_id"] == "notes/glacier.txt":
            continue
        # A worker that did not take the update catches up within its reload interval.
        time.sleep(1.0)
    assert _until(lambda: len(_builds_seen(url)) == 1)
    answer = requests.post(
        f"{url}/api/ask", json={"question": "How long is the Aletsch Glacier?"}, timeout=60
    ).json()
    assert answer["citations"][0]["doc_id"] == "notes/glacier.txt"
    assert "23 kilometres" in answer["citations"][0]["quote"]

    same = requests.put(
        f"{url}/api/documents/notes/glacier.txt", json={"text": GLACIER}, headers=AUTH, timeout=120
    )
    assert same.status_code == 200 and same.json()["status"] == "unchanged"
    upload = requests.put(
        f"{url}/api/documents/notes/glacier.txt",
        files={"file": ("glacier.txt", io.BytesIO(GLACIER.replace("23", "22").encode()))},
        headers=AUTH,
        timeout=120,
    )
    assert upload.status_code == 200 and upload.json()["status"] == "updated"
    assert _until(
        lambda: (
            "22 kilometres"
            in requests.get(f"{url}/api/documents/notes/glacier.txt", timeout=30).json()["text"]
        )
    )

    deleted = requests.delete(f"{url}/api/documents/notes/glacier.txt", headers=AUTH, timeout=120)
    assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
    assert not (settings.corpus / "notes").exists()
    assert _until(
        lambda: (
            requests.get(f"{url}/api/documents/notes/glacier.txt", timeout=30).status_code == 404
        )
    )
    again = requests.delete(f"{url}/api/documents/notes/glacier.txt", headers=AUTH, timeout=60)
    assert again.status_code == 404
    assert _until(lambda: requests.get(f"{url}/api/health", timeout=30).json()["stale"] == [])


@pytest.mark.parametrize(
    ("doc_id", "body", "reason"),
    [
        ("%2E%2E/escape.txt", {"json": {"text": "Hi there."}}, "document id"),  # ../
        (".hidden.txt", {"json": {"text": "Hi there."}}, "document id"),
        ("notes/picture.png", {"json": {"text": "Hi there."}}, "extension"),
        ("report.pdf", {"json": {"text": "Hi there."}}, "upload the file"),
        ("blank.txt", {"json": {"text": "   \n"}}, "empty"),
        ("blob.txt", {"data": bytes(range(256)) * 8}, "binary"),
        ("text.txt", {"json": {"txt": "typo"}}, "'text'"),
    ],
)
def test_bad_updates_are_400s_and_change_nothing(
    served: tuple[str, Settings], doc_id: str, body: dict, reason: str
) -> None:
    url, settings = served
    before = read_manifest(settings.index_dir)["documents"]
    headers = dict(AUTH)
    if "data" in body:
        headers["Content-Type"] = "application/octet-stream"
    response = requests.put(f"{url}/api/documents/{doc_id}", headers=headers, timeout=60, **body)
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]["message"]
    assert read_manifest(settings.index_dir)["documents"] == before
    assert settings.corpus is not None and not (settings.corpus.parent / "escape.txt").exists()


def test_every_worker_follows_a_cli_build(served: tuple[str, Settings]) -> None:
    url, settings = served
    assert settings.corpus is not None
    (settings.corpus / "glacier.txt").write_text(GLACIER, encoding="utf-8")
    health = requests.get(f"{url}/api/health", timeout=30).json()
    assert health["status"] == "stale"
    assert {"path": "glacier.txt", "change": "added"} in health["stale"]
    report = build_index(Settings(index_dir=settings.index_dir), progress=False)
    assert report.added == 1
    assert _until(lambda: _builds_seen(url) == {report.folder.name})
    documents = requests.get(f"{url}/api/documents", timeout=30).json()["documents"]
    assert "glacier.txt" in {d["doc_id"] for d in documents}


def test_a_squad_file_corpus_refuses_updates(tmp_path: Path) -> None:
    squad = tmp_path / "mini-squad.json"
    squad.write_text(
        '{"data": [{"title": "Tides", "paragraphs": [{"context": "Tides follow the Moon.",'
        ' "qas": []}]}]}',
        encoding="utf-8",
    )
    settings = Settings(corpus=squad, index_dir=tmp_path / "index", admin_token=TOKEN)
    build_index(settings, progress=False)
    client = create_app({"TESTING": True, "QA_SETTINGS": settings}).test_client()
    response = client.put("/api/documents/new.txt", json={"text": "Hello there."}, headers=AUTH)
    assert response.status_code == 409
    assert "single file" in response.get_json()["error"]["message"]


def test_kill_9_during_an_api_update_leaves_the_old_or_the_new_state(tmp_path: Path) -> None:
    settings = Settings(corpus=_corpus(tmp_path / "corpus"), index_dir=tmp_path / "index")
    build_index(settings, progress=False)
    assert settings.corpus is not None
    rng = random.Random(11)
    for round_ in range(3):
        server = _serve(settings.index_dir, tmp_path / f"server-{round_}.log", workers=1)
        old = read_manifest(settings.index_dir)["documents"].get("glacier.txt")
        text = GLACIER + f"Measured in round {round_}.\n"
        try:
            requests.put(
                f"{server.url}/api/documents/glacier.txt",
                json={"text": text},
                headers=AUTH,
                timeout=rng.uniform(0.05, 1.5),
            )
        except requests.RequestException:
            pass  # the update is still running in the server when it is killed
        server.kill()  # master and worker, mid-update
        now = read_manifest(settings.index_dir)["documents"].get("glacier.txt")
        assert now in {old, sha256_text(text)}
        documents = QAPipeline.load(Settings(index_dir=settings.index_dir)).health()["documents"]
        assert documents == (2 if now is None else 3)
    report = build_index(Settings(index_dir=settings.index_dir), progress=False)
    assert [p.name for p in settings.index_dir.iterdir() if p.name.startswith(".tmp")] == []
    assert report.documents == 3
