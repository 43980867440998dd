"""The terminal chat: piped and JSON modes in a subprocess, the prompt in a pseudo-terminal."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

from qa.chat import render
from qa.chat.terminal import ChatSession, main
from qa.clients import HttpClient, normalise_url
from qa.errors import InvalidSetting, RequestRejected
from qa.schema import Answer

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "chat.py"
QUESTION = "Who is Russia's envoy to NATO?"
CITATION = re.compile(r"\[(\d+)\] (.+) \((\S+), chars (\d+)-(\d+)\)")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def chat_env(seed_settings: Any, tmp_path: Path) -> dict[str, str]:
    """The child's environment: the session's seed index, a scratch HOME, no colour forcing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.pop("NO_COLOR", None)
    env.update(
        QA_INDEX_DIR=str(seed_settings.index_dir),
        QA_CORPUS=str(seed_settings.corpus),
        HOME=str(tmp_path),  # the readline history file lands here, not in the real home
    )
    return env


def run_chat(
    env: dict[str, str], stdin: str, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python scripts/chat.py ARGS`` with ``stdin`` piped in."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )


def seed_text(corpus: Path, doc_id: str) -> str:
    """Raw text of one seed document, read the way the API promises offsets into it."""
    return (corpus / doc_id).read_text(encoding="utf-8")


def assert_rogozin_block(stdout: str, corpus: Path) -> None:
    """An answer naming Rogozin, and a first citation whose offsets slice the real file."""
    assert "Rogozin" in stdout
    match = CITATION.search(stdout)
    assert match, f"no citation line in:\n{stdout}"
    doc_id, start, end = match.group(3), int(match.group(4)), int(match.group(5))
    quote = seed_text(corpus, doc_id)[start:end]
    assert quote.strip(), "citation offsets slice to nothing"
    # The block shows the quote (whitespace collapsed) right under its label.
    assert " ".join(quote.split()) in stdout


def free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- piped mode, in-process index --------------------------------------------------------------


def test_piped_question_prints_answer_and_citation(chat_env: dict[str, str], seed_settings: Any):
    result = run_chat(chat_env, QUESTION + "\n")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert_rogozin_block(result.stdout, seed_settings.corpus)
    assert "Confidence:" in result.stdout
    assert not ANSI.search(result.stdout), "escape codes in output that is not a terminal"


def test_piped_json_is_the_api_shape_one_per_line(chat_env: dict[str, str], seed_settings: Any):
    result = run_chat(
        chat_env, f"{QUESTION}\n\nWhat does Rogozin say about missile defense?\n", "--json"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2  # the blank input line is skipped, not asked
    first = json.loads(lines[0])
    assert set(first) >= {
        "question",
        "answerable",
        "answer",
        "short_answer",
        "confidence",
        "citations",
        "passages",
        "timings_ms",
    }
    assert first["question"] == QUESTION
    assert first["answerable"] and "Rogozin" in first["answer"]
    for cite in first["citations"]:
        assert (
            seed_text(seed_settings.corpus, cite["doc_id"])[cite["start"] : cite["end"]]
            == cite["quote"]
        )
    assert json.loads(lines[1])["passages"]


def test_piped_commands_sources_and_open(chat_env: dict[str, str], seed_settings: Any):
    result = run_chat(chat_env, f"/k 2\n{QUESTION}\n/sources\n/open 1\n")
    assert result.returncode == 0, result.stderr
    assert "Retrieving 2 passages" in result.stdout
    sources = result.stdout.split("Passages for:", 1)[1]
    ranks = re.findall(r"^\s+\[(\d+)\] .* score ", sources, flags=re.MULTILINE)
    assert ranks == ["1", "2"]  # /k 2 took effect
    # /open prints the cited text in place with the quote marked (plain output uses **markers**).
    cite = CITATION.search(result.stdout)
    assert cite
    quote = seed_text(seed_settings.corpus, cite.group(3))[int(cite.group(4)) : int(cite.group(5))]
    assert f"**{quote}**" in result.stdout.split("[doc]", 1)[1]


def test_piped_off_corpus_question_abstains_with_passages(chat_env: dict[str, str]):
    result = run_chat(chat_env, "What is the capital of Peru?\n")
    assert result.returncode == 0, result.stderr
    assert "Not found in the documents" in result.stdout
    assert "Citations:" not in result.stdout
    passages = re.findall(r"^  \[(\d+)\] .* score ", result.stdout, flags=re.MULTILINE)
    assert passages == ["1", "2", "3", "4", "5"]  # the default top_k closest passages


def test_qa_chat_subcommand_reaches_the_chat(chat_env: dict[str, str]):
    result = subprocess.run(
        [sys.executable, "-m", "qa.cli", "chat", "--url", "http://"],
        input="",
        capture_output=True,
        text=True,
        env=chat_env,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: bad --url"), result.stderr


def test_fresh_index_is_built_with_progress(chat_env: dict[str, str], tmp_path: Path):
    chat_env["QA_INDEX_DIR"] = str(tmp_path / "fresh-index")
    result = run_chat(chat_env, QUESTION + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip(), "building an index should show progress on stderr"
    assert any((tmp_path / "fresh-index").iterdir())
    assert_rogozin_block(result.stdout, Path(chat_env["QA_CORPUS"]))


# --- piped mode against the server --------------------------------------------------------------


def test_piped_question_against_server(
    chat_env: dict[str, str], seed_settings: Any, live_server: str
):
    chat_env["QA_INDEX_DIR"] = str(
        Path(chat_env["HOME"]) / "unused"
    )  # must not touch a local index
    result = run_chat(chat_env, QUESTION + "\n", "--url", live_server)
    assert result.returncode == 0, result.stderr
    assert_rogozin_block(result.stdout, seed_settings.corpus)
    assert not (Path(chat_env["HOME"]) / "unused").exists()


def test_http_backend_reads_documents_and_reports_unknown_ones(live_server: str):
    backend = HttpClient(live_server + "/")
    titles = backend.titles()
    assert titles
    doc_id = next(iter(titles))
    assert backend.document(doc_id).text
    with pytest.raises(RequestRejected, match="server said"):
        backend.document("no/such/doc.txt")


# --- errors are one line ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--url", "http://127.0.0.1:{port}"], "cannot reach the qa server"),
        (["--url", "http://"], "bad --url"),
        (["--url", "http://127.0.0.1:99999"], "bad --url"),
    ],
)
def test_url_errors_are_one_line(chat_env: dict[str, str], args: list[str], expected: str):
    args = [a.format(port=free_port()) for a in args]
    result = run_chat(chat_env, QUESTION + "\n", *args, timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], (
        result.stderr
    )


def test_missing_index_is_one_line(chat_env: dict[str, str], tmp_path: Path):
    chat_env["QA_INDEX_DIR"] = str(tmp_path / "no-index")
    result = run_chat(chat_env, QUESTION + "\n", "--no-build")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def test_missing_corpus_is_one_line(chat_env: dict[str, str], tmp_path: Path):
    chat_env["QA_INDEX_DIR"] = str(tmp_path / "no-index")
    chat_env["QA_CORPUS"] = str(tmp_path / "no-corpus")
    result = run_chat(chat_env, QUESTION + "\n")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: "), result.stderr


# --- the interactive prompt in a pseudo-terminal -----------------------------------------------


def spawn_chat(env: dict[str, str]) -> pexpect.spawn:
    """The chat on a pseudo-terminal, as a person would start it."""
    env = {**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    return pexpect.spawn(
        sys.executable,
        [str(SCRIPT)],
        env=env,
        cwd=str(ROOT),
        encoding="utf-8",
        dimensions=(40, 120),
        timeout=180,
        # A terminal's shell starts programs with Ctrl-C's default action; a runner started in
        # the background (`cmd &` in a script) ignores SIGINT, and the child would inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_interactive_session(chat_env: dict[str, str], seed_settings: Any):
    child = spawn_chat(chat_env)
    try:
        child.expect(r"(\d+) documents")
        assert int(child.match.group(1)) == len(list(seed_settings.corpus.glob("*.txt")))
        child.expect_exact("qa> ")
        child.sendline(QUESTION)
        child.expect("Rogozin")
        child.expect_exact("Confidence:")
        # A long title wraps the citation line (and its styling) on the 120-column terminal.
        child.expect(r"\[1\] [\s\S]+?\(\S+, chars[\s\S]{0,40}?\d+-\d+\)")
        child.expect_exact("qa> ")
        child.sendline("/open 1")
        # On a terminal the quote is highlighted with a style (yellow background), not markers.
        child.expect(r"\x1b\[[0-9;]*43m")
        child.expect_exact("qa> ")
        child.sendline("/k 0")
        child.expect_exact("/k needs a whole number")
        child.expect_exact("qa> ")
        child.sendeof()  # Ctrl-D
        child.expect(pexpect.EOF)
        transcript = child.before
    finally:
        child.close()
    assert child.exitstatus == 0
    assert "Traceback" not in transcript
    assert (Path(chat_env["HOME"]) / ".qa_chat_history").read_text().count(QUESTION) == 1


def test_interactive_ctrl_c_exits_cleanly(chat_env: dict[str, str]):
    child = spawn_chat(chat_env)
    try:
        child.expect_exact("qa> ")
        child.sendintr()  # Ctrl-C at the prompt
        child.expect(pexpect.EOF)
        transcript = child.before
    finally:
        child.close()
    assert child.exitstatus == 0, transcript
    assert "Traceback" not in transcript and "KeyboardInterrupt" not in transcript


# --- rendering and parsing, in-process ---------------------------------------------------------


class FakeBackend:
    """Canned API bodies, for the cases the real index does not produce on demand."""

    description = "fake"

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def health(self) -> dict[str, Any]:
        return {"documents": 1, "chunks": 1}

    def ask(self, question: str, top_k: int, answers: int = 1, filters: Any = None) -> Answer:
        self.filters = filters
        return Answer.from_dict({**self.body, "question": question})

    def document(self, doc_id: str) -> Any:
        raise RequestRejected("not found")

    def titles(self) -> dict[str, str]:
        return {"a.txt": "Doc A"}


def session_for(body: dict[str, Any]) -> tuple[ChatSession, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    session = ChatSession(
        FakeBackend(body),
        render.make_console("never", file=out),
        render.make_console("never", file=err),
        top_k=5,
        max_top_k=50,
    )
    return session, out, err


def test_abstention_says_not_found_and_shows_passages():
    passage = {
        "rank": 1,
        "doc_id": "a.txt",
        "chunk_id": 0,
        "start": 0,
        "end": 9,
        "score": 0.5,
        "text": "cheese is\n  made of milk",
    }
    session, out, _ = session_for(
        {
            "answerable": False,
            "answer": None,
            "short_answer": None,
            "confidence": 0.12,
            "citations": [],
            "passages": [passage],
        }
    )
    session.handle("What is the moon made of?")
    text = out.getvalue()
    assert "Not found in the documents (confidence 0.12)" in text
    assert "[1] Doc A (a.txt, chars 0-9) score 0.5000" in text
    assert "cheese is made of milk" in text


def test_abstention_with_a_message_shows_the_message_instead_of_not_found():
    message = "Only English questions are supported; this question looks like Russian."
    session, out, _ = session_for(
        {
            "answerable": False,
            "answer": None,
            "short_answer": None,
            "confidence": 0.0,
            "message": message,
            "citations": [],
            "passages": [],
        }
    )
    session.handle("Кто такой Рогозин?")
    text = out.getvalue()
    assert message in text
    assert "Not found in the documents" not in text and "no passages" not in text


def test_short_answer_is_marked_inside_the_answer_case_insensitively():
    session, out, _ = session_for(
        {
            "answerable": True,
            "answer": "The envoy is dmitry rogozin.",
            "short_answer": "Dmitry Rogozin",
            "confidence": 0.9,
            "citations": [],
            "passages": [],
        }
    )
    session.handle("who?")
    assert "The envoy is **dmitry rogozin**." in out.getvalue()


def test_a_pdf_citation_shows_its_page():
    cite = {"n": 1, "title": "Lighthouses", "start": 90, "end": 155, "quote": "Gull Point Light"}
    session, out, _ = session_for(
        {
            "answerable": True,
            "answer": "Gull Point Light stands 41 metres tall.",
            "short_answer": "41 metres",
            "confidence": 0.9,
            "citations": [
                {**cite, "doc_id": "lighthouse.pdf", "page": 2},
                {**cite, "n": 2, "doc_id": "notes.txt", "page": None},
            ],
            "passages": [],
        }
    )
    session.handle("How tall is Gull Point Light?")
    text = out.getvalue()
    assert "[1] Lighthouses (lighthouse.pdf, p. 2, chars 90-155)" in text
    assert "[2] Lighthouses (notes.txt, chars 90-155)" in text


def test_commands_without_an_answer_explain_themselves():
    session, _, err = session_for({})
    for line in ["/sources", "/open 1", "/k 51", "/nope"]:
        session.handle(line)
    messages = err.getvalue().splitlines()
    assert len(messages) == 4 and all(m.startswith("error: ") for m in messages)
    assert session.top_k == 5


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://localhost:8000/", "http://localhost:8000"),
        ("https://qa.example/base/", "https://qa.example/base"),
    ],
)
def test_normalise_url(url: str, expected: str):
    assert normalise_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://host", "http://", "http://host:port", ""])
def test_normalise_url_rejects(url: str):
    with pytest.raises(InvalidSetting, match="bad --url"):
        normalise_url(url)


def test_main_reports_bad_top_k_without_loading_anything(capsys: pytest.CaptureFixture[str]):
    assert main(["--top-k", "0", "--url", "http://127.0.0.1:1"]) == 1
    assert capsys.readouterr().err.startswith("error: --top-k must be from 1 to")
