"""Terminal chat: ask questions of the local index or of a running server (``qa chat``).

Interactive on a terminal (readline editing and history, slash commands); with questions piped on
stdin it prints one answer block per line, or one JSON response per line with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from qa.chat import render
from qa.clients import Client, HttpClient, LocalClient
from qa.clients.base import stale_warning
from qa.config import Settings
from qa.errors import InvalidSetting, QAError, RequestRejected
from qa.schema import Answer

PROMPT = "qa> "
# Answers asked for each question: the first is shown, ``/more`` shows the others.
ANSWERS = 3
HISTORY_FILE = Path("~/.qa_chat_history")


class Quit(Exception):
    """Raised by ``/quit`` to end the session."""


@dataclass
class ChatSession:
    """The state of one conversation: client, passage count and the last answer."""

    client: Client
    out: Console
    err: Console
    top_k: int
    max_top_k: int
    json_mode: bool = False
    echo: bool = True  # repeat each question above its answer
    last: Answer | None = None
    failures: int = field(default=0)
    within: str | None = None  # ``/in GLOB``: only documents whose id matches it are asked

    def handle(self, line: str) -> None:
        """Run one input line: a ``/command`` or a question."""
        line = line.strip()
        if not line:
            return
        if line.startswith("/"):
            self.command(line)
        else:
            self.ask(line)

    def ask(self, question: str) -> None:
        """Ask and show the answer; a refused question is reported, not fatal."""
        try:
            answer = self.client.ask(question, self.top_k, ANSWERS, self.filters())
        except RequestRejected as exc:
            self.failures += 1
            self.error(str(exc))
            return
        self.show(answer)

    def filters(self) -> dict[str, str] | None:
        """The API's filters for ``/in``'s pattern (None: every document)."""
        return {"doc_id": self.within} if self.within is not None else None

    def batch(self, arg: str) -> None:
        """``/batch FILE``: every non-blank line of FILE asked at once, answers in order."""
        if not arg:
            self.error("/batch needs a file of questions, one a line")
            return
        try:
            text = Path(arg).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.error(f"cannot read {arg}: {exc}")
            return
        questions = [line.strip() for line in text.splitlines() if line.strip()]
        if not questions:
            self.error(f"{arg} holds no questions")
            return
        try:
            for item in self.client.ask_many(questions, self.top_k, ANSWERS, self.filters()):
                if item.answer is None:
                    self.failures += 1
                    self.error(
                        f"question {item.index + 1} ({questions[item.index]}): {item.error_message}"
                    )
                else:
                    self.show(item.answer)
        except RequestRejected as exc:
            self.failures += 1
            self.error(str(exc))

    def show(self, answer: Answer) -> None:
        """Print an answer (as JSON in ``--json`` mode); it becomes the last one."""
        self.last = answer
        if self.json_mode:
            # Written directly: rich's print_json would pretty-print over several lines.
            self.out.file.write(json.dumps(answer.to_dict(), ensure_ascii=False) + "\n")
            self.out.file.flush()
            return
        render.render_answer(self.out, answer, self.titles(), echo=self.echo)

    def command(self, line: str) -> None:
        """Dispatch a slash command."""
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name in ("/quit", "/exit", "/q"):
            raise Quit
        if name in ("/help", "/?"):
            render.render_help(self.out, self.top_k)
        elif name == "/k":
            self.set_k(arg)
        elif name == "/sources":
            self.sources()
        elif name == "/more":
            self.more()
        elif name == "/open":
            self.open(arg)
        elif name == "/in":
            self.restrict(arg)
        elif name == "/batch":
            self.batch(arg)
        else:
            self.error(f"unknown command {name}; /help lists the commands")

    def set_k(self, arg: str) -> None:
        """``/k N``: how many passages to retrieve."""
        if not arg.isdigit() or not 1 <= int(arg) <= self.max_top_k:
            self.error(f"/k needs a whole number from 1 to {self.max_top_k} (now {self.top_k})")
            return
        self.top_k = int(arg)
        self.out.print(Text(f"Retrieving {self.top_k} passages per question."))

    def restrict(self, arg: str) -> None:
        """``/in GLOB``: ask only documents whose id matches GLOB from now on; ``/in``: all."""
        self.within = arg or None
        if self.within is None:
            self.out.print(Text("Asking every document."))
        else:
            self.out.print(Text(f"Asking only documents whose id matches {self.within}."))

    def sources(self) -> None:
        """``/sources``: the passages behind the last answer."""
        if self.last is None:
            self.error("no answer yet; ask a question first")
            return
        self.out.print(Text(f"Passages for: {self.last.question}", style="bold"))
        render.render_passages(self.out, self.last.hits, self.titles())

    def more(self) -> None:
        """``/more``: the other possible answers to the last question."""
        if self.last is None:
            self.error("no answer yet; ask a question first")
            return
        if not self.last.others:
            self.out.print(Text("No other possible answers to the last question.", style="dim"))
            return
        render.render_others(self.out, self.last)

    def open(self, arg: str) -> None:
        """``/open N``: citation N's document around the quote, highlighted in place."""
        citations = self.last.citations if self.last is not None else ()
        if not citations:
            self.error("no citations to open; ask a question that gets an answer first")
            return
        if not arg.isdigit() or not 1 <= int(arg) <= len(citations):
            self.error(f"/open needs a citation number from 1 to {len(citations)}")
            return
        cite = citations[int(arg) - 1]
        try:
            doc = self.client.document(cite.doc_id)
        except RequestRejected as exc:
            self.error(str(exc))
            return
        render.render_document(self.out, doc, cite.start, cite.end)

    def titles(self) -> dict[str, str]:
        """Document titles, or ids alone if the service cannot list them."""
        try:
            return self.client.titles()
        except RequestRejected:
            return {}

    def error(self, message: str) -> None:
        """One line on stderr."""
        self.err.print(Text.assemble(("error: ", "bold red"), message))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="qa chat",
        description="Ask questions of the documents. Interactive on a terminal; "
        "otherwise reads one question per line from stdin.",
    )
    parser.add_argument("--url", help="talk to a running qa server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: $QA_CORPUS or seeds/)")
    parser.add_argument("--index-dir", type=Path, help="index folder (default: $QA_INDEX_DIR)")
    parser.add_argument(
        "--no-build", action="store_true", help="fail instead of building the index"
    )
    parser.add_argument("-k", "--top-k", type=int, help="passages to retrieve per question")
    parser.add_argument("--json", action="store_true", help="print the API's JSON, one per line")
    parser.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    return parser.parse_args(argv)


def open_client(args: argparse.Namespace, settings: Settings) -> Client:
    """The server named by ``--url``, or the local index (built first unless ``--no-build``)."""
    if args.url:
        client = HttpClient(args.url)
        client.health()  # fail now, in one line, if nothing is listening
        return client
    return LocalClient.open(settings, build=not args.no_build)


def setup_history() -> None:
    """Readline editing plus a history file kept between sessions, where readline exists."""
    try:
        import readline
    except ImportError:  # not on every platform; input() still works without it
        return
    path = HISTORY_FILE.expanduser()
    try:
        readline.read_history_file(path)
    except OSError:
        pass  # first run, or an unreadable file: start with an empty history
    readline.set_history_length(1000)
    import atexit

    atexit.register(_save_history, readline, path)


def _save_history(readline: Any, path: Path) -> None:
    try:
        readline.write_history_file(path)
    except OSError:
        pass  # a read-only home is no reason to fail on exit


def interactive(session: ChatSession) -> int:
    """The prompt loop; Ctrl-D, Ctrl-C at the prompt and ``/quit`` all leave with status 0."""
    setup_history()
    while True:
        try:
            line = input(PROMPT)
        except (EOFError, KeyboardInterrupt):
            session.out.print()
            return 0
        try:
            session.handle(line)
        except Quit:
            return 0
        except KeyboardInterrupt:
            session.error("interrupted")  # Ctrl-C during an answer cancels just that answer
        except QAError as exc:
            session.error(str(exc))  # e.g. the server went away; it may come back
        session.out.print()


def piped(session: ChatSession, lines: Iterable[str]) -> int:
    """One answer per input line; stops at the first error that is not about one question."""
    first = True
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not first and not session.json_mode:
            session.out.print()
        first = False
        try:
            session.handle(line)
        except Quit:
            break
    return 1 if session.failures else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``qa chat`` and ``scripts/chat.py``; returns the exit status."""
    args = parse_args(argv)
    out = render.make_console(args.color)
    err = render.make_console(args.color, file=sys.stderr)
    try:
        settings = Settings.from_env().with_overrides(corpus=args.corpus, index_dir=args.index_dir)
        top_k = settings.top_k if args.top_k is None else args.top_k
        if not 1 <= top_k <= settings.max_top_k:
            raise InvalidSetting(f"--top-k must be from 1 to {settings.max_top_k}")
        tty = sys.stdin.isatty()
        if tty:
            err.print(Text("Loading…", style="dim"))
        client = open_client(args, settings)
        health = client.health()
        warning = stale_warning(health)  # the server's, or the local index's, /api/health
        if warning:
            err.print(Text(warning, style="yellow"))
        session = ChatSession(client, out, err, top_k, settings.max_top_k, json_mode=args.json)
        if not tty:
            return piped(session, sys.stdin)
        session.echo = False
        render.render_banner(out, client.description, health)
        return interactive(session)
    except QAError as exc:  # one line: no index, no corpus, no server, a bad option
        err.print(Text.assemble(("error: ", "bold red"), str(exc)))
        return 1
    except ValueError as exc:  # a malformed QA_* variable, say
        err.print(Text.assemble(("error: ", "bold red"), str(exc)))
        return 2
    except BrokenPipeError:
        # The reader (e.g. `head`) left; point stdout at devnull so the exit flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # an unreadable index folder, a full disk while building
        err.print(Text.assemble(("error: ", "bold red"), str(exc)))
        return 1
    except KeyboardInterrupt:
        err.print()
        return 130
