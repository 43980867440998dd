"""Many questions at once: POST /api/ask/batch (NDJSON, in order) and `qa ask --file`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import jsonschema
import pytest
import requests

from qa.batch import MAX_QUESTIONS, ask_batch
from qa.errors import InvalidRequest
from tests.test_api import SPEC
from tests.test_chat import chat_env, run_chat  # noqa: F401  (chat_env: a fixture)

GOOD = "What did Russia threaten to do about missile defence?"
OTHER = "Where will NATO leaders meet?"


def _lines(body: bytes) -> list[dict]:
    return [json.loads(line) for line in body.decode("utf-8").splitlines()]


def _check_line(line: dict) -> None:
    jsonschema.validate(
        line, {"$ref": "#/components/schemas/BatchLine", "components": SPEC["components"]}
    )


def test_a_batch_answers_each_question_in_order_and_a_bad_one_fails_alone(client):
    response = client.post(
        "/api/ask/batch", json={"questions": [GOOD, "???", OTHER, 42], "answers": 2}
    )
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    lines = _lines(response.data)
    assert [line["index"] for line in lines] == [0, 1, 2, 3]
    for line in lines:
        _check_line(line)
    assert lines[1]["error"]["code"] == "invalid_request"
    assert "'question'" in lines[3]["error"]["message"]
    for i, question in ((0, GOOD), (2, OTHER)):
        single = client.post("/api/ask", json={"question": question, "answers": 2}).get_json()
        del single["timings_ms"], lines[i]["timings_ms"]
        assert lines[i] == {"index": i, **single}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "'questions'"),
        ({"questions": "What?"}, "'questions'"),
        ({"questions": []}, "'questions'"),
        ({"questions": [GOOD] * (MAX_QUESTIONS + 1)}, "'questions'"),
        ({"questions": [GOOD], "top_k": 0}, "'top_k'"),
        ({"questions": [GOOD], "answers": 11}, "'answers'"),
    ],
)
def test_a_bad_batch_or_option_refuses_the_whole_batch(client, body, named):
    response = client.post("/api/ask/batch", json=body)
    assert response.status_code == 400
    assert named in response.get_json()["error"]["message"]


def test_the_batch_line_schema_is_the_answer_schema_with_an_index():
    line = SPEC["components"]["schemas"]["BatchLine"]["oneOf"][0]
    answer = SPEC["components"]["schemas"]["AskResponse"]
    assert line["properties"] == {"index": line["properties"]["index"], **answer["properties"]}
    assert line["required"] == ["index", *answer["required"]]


def test_a_full_batch_over_http_streams_every_line(live_server):
    questions = [GOOD, OTHER] * (MAX_QUESTIONS // 2)
    with requests.post(
        f"{live_server}/api/ask/batch", json={"questions": questions}, stream=True, timeout=300
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert [line["index"] for line in lines] == list(range(MAX_QUESTIONS))
    assert all(line["answerable"] and len(line["answers"]) == 3 for line in lines[::2])
    assert len({line["answer"] for line in lines[::2]}) == 1


class _Pipeline:
    """Answers after a delay per question; question "boom" raises, "slow" takes longest."""

    def __init__(self) -> None:
        self.finished: list[str] = []
        self.lock = threading.Lock()

    def checked_options(self, top_k, answers):
        if top_k == -1:
            raise InvalidRequest("'top_k' must be an integer from 1 to 50")
        return 5, 1

    def ask(self, question, top_k, answers, filters=None):
        time.sleep(0.3 if question == "slow" else 0.01)
        if question == "boom":
            raise RuntimeError("a bug")
        with self.lock:
            self.finished.append(question)
        from qa.schema import Answer

        return Answer(question, False, None, None, 0.0, (), ())


def test_items_come_in_order_even_when_a_later_one_is_ready_first_and_a_crash_stays_local():
    pipeline = _Pipeline()
    items = list(ask_batch(pipeline, ["slow", "boom", "fast", "fast2"]))  # type: ignore[arg-type]
    assert [item.index for item in items] == [0, 1, 2, 3]
    assert pipeline.finished.index("fast") < pipeline.finished.index("slow")
    assert items[1].to_dict() == {
        "index": 1,
        "error": {"code": "internal_error", "message": "internal server error"},
    }
    assert items[3].answer is not None and items[3].answer.question == "fast2"
    with pytest.raises(InvalidRequest):
        ask_batch(pipeline, ["a"], top_k=-1)  # type: ignore[arg-type]


def test_qa_ask_file_prints_one_line_per_question_in_order(seed_settings, tmp_path: Path):
    questions = tmp_path / "questions.txt"
    questions.write_text(f"{GOOD}\n\n???\n{OTHER}\n", encoding="utf-8")
    env = {
        **os.environ,
        "QA_INDEX_DIR": str(seed_settings.index_dir),
        "QA_CORPUS": str(seed_settings.corpus),
    }
    result = subprocess.run(
        [sys.executable, "-m", "qa.cli", "ask", "--file", str(questions), "--answers", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr  # one question got an error
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["index"] for line in lines] == [0, 1, 2]
    assert lines[0]["question"] == GOOD and len(lines[0]["answers"]) == 2
    assert lines[1]["error"]["code"] == "invalid_request"
    assert lines[2]["question"] == OTHER


def test_the_http_client_asks_many_in_order_and_refuses_bad_options(live_server):
    from qa.clients import HttpClient
    from qa.errors import RequestRejected

    client = HttpClient(live_server)
    items = list(client.ask_many([GOOD, "???", OTHER], 3, answers=2))
    assert [item.index for item in items] == [0, 1, 2]
    assert items[0].answer is not None and len(items[0].answer.answers) == 2
    assert items[1].answer is None and items[1].error_code == "invalid_request"
    assert items[2].answer is not None and items[2].answer.question == OTHER
    with pytest.raises(RequestRejected, match="'top_k'"):
        list(client.ask_many([GOOD], 0))


def test_the_local_client_asks_more_than_a_request_holds(seed_pipeline):
    from qa.clients import LocalClient

    questions = [GOOD, OTHER] * (MAX_QUESTIONS // 2 + 1)  # 66: two batches
    items = list(LocalClient(seed_pipeline).ask_many(questions, 3))
    assert [item.index for item in items] == list(range(len(questions)))
    assert items[64].answer is not None and items[64].answer.question == GOOD


def test_chat_batch_asks_a_file_of_questions_in_order(chat_env, tmp_path: Path):  # noqa: F811
    questions = tmp_path / "questions.txt"
    questions.write_text(f"{GOOD}\n\n???\n{OTHER}\n", encoding="utf-8")
    result = run_chat(
        chat_env, f"/batch {questions}\n/batch {tmp_path / 'missing.txt'}\n", "--json"
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["question"] for line in lines] == [GOOD, OTHER]
    assert "question 2 (???)" in result.stderr and "cannot read" in result.stderr


def test_an_evaluation_in_batches_judges_the_same_answers(seed_settings, live_server, tmp_path):
    from qa.eval.cli import main

    questions = Path(__file__).parent / "fixtures" / "seeds-lowoverlap.jsonl"
    runs = {}
    for name, where in (("one", ["--index-dir", seed_settings.index_dir]),
                        ("batch", ["--url", live_server, "--batch"])):  # fmt: skip
        out = tmp_path / name
        assert main([str(questions), *map(str, where), "--out", str(out), "--limit", "12",
                     "--no-progress"]) == 0  # fmt: skip
        runs[name] = {
            json.loads(line)["id"]: json.loads(line)
            for line in (out / "questions.jsonl").read_text().splitlines()
        }
    assert runs["one"].keys() == runs["batch"].keys()
    for qid, record in runs["batch"].items():
        assert record["answer"] == runs["one"][qid]["answer"]
        assert record["verdict"]["answer_hit"] == runs["one"][qid]["verdict"]["answer_hit"]


@pytest.mark.parametrize(("path", "kib"), [("/api/ask", 64), ("/api/ask/batch", 1024)])
def test_a_body_over_a_routes_limit_is_a_413_naming_that_limit(client, path, kib):
    body = json.dumps({"question": "x" * (kib * 1024), "questions": ["x"]})
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code == 413
    assert f"larger than {kib} KiB" in response.get_json()["error"]["message"]
