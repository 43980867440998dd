"""How the chat looks: answers, citations, passages and documents drawn with rich.

Everything takes the client layer's records (``Answer``, ``Hit``, ``DocumentText``). On a terminal, highlights are styles; in plain output (not a
terminal, or ``--color never``) they become ``**markers**`` so the emphasis survives a pipe.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from qa.schema import Answer, Hit

if TYPE_CHECKING:
    from qa.clients import DocumentText

HIGHLIGHT = "bold black on yellow"
CONTEXT_CHARS = 700  # characters shown either side of a quote by /open
PASSAGE_CHARS = 320  # a closest passage is cut to this many characters


def make_console(
    color: str = "auto", file: TextIO | None = None, record: bool = False, width: int | None = None
) -> Console:
    """A console that is plain when not on a terminal; rich itself honours ``NO_COLOR``."""
    force = {"always": True, "never": False}.get(color)
    console = Console(
        file=file or sys.stdout,
        force_terminal=force,
        no_color=True if color == "never" else None,
        record=record,
        width=width,
        highlight=False,
        emoji=False,
    )
    # Hard-wrapping at 80 columns would split citations mid-line in pipes and files.
    console.soft_wrap = not console.is_terminal
    return console


def indented(console: Console, text: Text, n: int) -> None:
    """Print ``text`` indented by ``n`` columns, wrapped lines included."""
    if console.soft_wrap:  # a pipe: one long line per paragraph, so a prefix is enough
        console.print(Text(" " * n) + text)
    else:
        console.print(Padding(text, (0, 0, 0, n), expand=False))


def is_plain(console: Console) -> bool:
    """True when styles will not show, so highlights need visible markers instead."""
    return console.color_system is None


def find_span(haystack: str, needle: str | None) -> tuple[int, int] | None:
    """Where ``needle`` sits in ``haystack``: exact match first, then ignoring case."""
    if not needle:
        return None
    at = haystack.find(needle)
    if at >= 0:
        return at, at + len(needle)
    match = re.search(re.escape(needle), haystack, flags=re.IGNORECASE)
    return match.span() if match else None


def highlighted(text: str, span: tuple[int, int] | None, console: Console, base: str = "") -> Text:
    """``text`` with ``text[span]`` highlighted, as a style or as ``**markers**``."""
    out = Text(style=base)
    if span is None:
        out.append(text)
        return out
    start, end = span
    out.append(text[:start])
    if is_plain(console):
        out.append("**" + text[start:end] + "**")
    else:
        out.append(text[start:end], style=HIGHLIGHT)
    out.append(text[end:])
    return out


def collapse(text: str) -> str:
    """One line of display text: runs of whitespace become one space."""
    return " ".join(text.split())


def clip(text: str, limit: int) -> str:
    """Cut ``text`` at a word boundary near ``limit`` characters."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


def confidence_text(confidence: float) -> Text:
    """``confidence 0.87`` with a small bar, coloured by how sure the reader is."""
    level = "green" if confidence >= 0.75 else "yellow" if confidence >= 0.5 else "red"
    filled = round(confidence * 10)
    out = Text("Confidence: ", style="bold")
    out.append(f"{confidence:.2f} ", style=level)
    out.append("█" * filled, style=level)
    out.append("░" * (10 - filled), style="dim")
    return out


def source_label(
    n: int | str, title: str, doc_id: str, start: int, end: int, page: int | None = None
) -> Text:
    """``[n] title (doc_id, chars start-end)``, with ``p. N`` after the id for a PDF's page."""
    out = Text()
    out.append(f"[{n}] ", style="bold cyan")
    out.append(title, style="bold")
    where = f"{doc_id}, p. {page}" if page is not None else doc_id
    out.append(f" ({where}, chars {start}-{end})", style="dim")
    return out


def render_banner(console: Console, description: str, health: dict[str, Any]) -> None:
    """What is loaded and how to use the prompt."""
    docs, chunks = health.get("documents", "?"), health.get("chunks", "?")
    corpus = (health.get("index") or {}).get("corpus")
    if corpus and "corpus" not in description:  # a server says where its documents came from
        description += f", corpus {corpus}"
    console.print(Text.assemble(("qa chat", "bold magenta"), f" - {description}"))
    console.print(Text(f"{docs} documents, {chunks} passages indexed", style="dim"))
    console.print(Text("Ask a question, or /help for commands. Ctrl-D quits.", style="dim"))


def render_answer(
    console: Console, answer: Answer, titles: dict[str, str], echo: bool = True
) -> None:
    """One answer block: the answer, its confidence and citations, or an abstention."""
    if echo:  # piped output needs the question; at the prompt it is already on screen
        console.print(Text.assemble(("Q: ", "bold"), answer.question))
    if not answer.answerable or not answer.text:
        render_abstention(console, answer, titles)
        return
    text, short = answer.text, answer.short_answer
    if short:
        console.print(Text.assemble(("A: ", "bold"), (short, "bold green")))
    indented(console, highlighted(text, find_span(text, short), console), 3)
    console.print(confidence_text(answer.confidence))
    console.print(Text("Citations:", style="bold"))
    for cite in answer.citations:
        label = source_label(cite.n, cite.title, cite.doc_id, cite.start, cite.end, cite.page)
        indented(console, label, 2)
        indented(console, Text("“" + collapse(cite.quote) + "”", style="italic"), 6)


def render_others(console: Console, answer: Answer) -> None:
    """The other possible answers after the first, numbered from 2, each with its source."""
    console.print(Text(f"Other possible answers to: {answer.question}", style="bold"))
    for n, other in enumerate(answer.others, start=2):
        head = Text(f"{n}. ", style="bold cyan")
        if other.short_answer:
            head.append(other.short_answer, style="bold green")
            head.append("  ")
        head.append(f"(confidence {other.confidence:.2f})", style="dim")
        console.print(head)
        indented(
            console, highlighted(other.text, find_span(other.text, other.short_answer), console), 3
        )
        for cite in other.citations:
            label = source_label(n, cite.title, cite.doc_id, cite.start, cite.end, cite.page)
            indented(console, label, 3)


def render_abstention(console: Console, answer: Answer, titles: dict[str, str]) -> None:
    """The reader declined: say so plainly and show what came closest."""
    if answer.message:  # declined for a reason other than the documents, such as the language
        console.print(Text(answer.message, style="bold red"))
        if not answer.hits:
            return
    console.print(
        Text.assemble(
            ("Not found in the documents", "bold red"),
            f" (confidence {answer.confidence:.2f}). Closest passages:",
        )
    )
    render_passages(console, answer.hits, titles)


def render_passages(console: Console, hits: Sequence[Hit], titles: dict[str, str]) -> None:
    """Retrieved passages in rank order, each cut to a readable length."""
    if not hits:
        console.print(Text("  (no passages retrieved)", style="dim"))
    for hit in hits:
        chunk = hit.chunk
        title = titles.get(chunk.doc_id, chunk.doc_id)
        label = source_label(hit.rank, title, chunk.doc_id, chunk.start, chunk.end)
        label.append(f" score {hit.score:.4f}", style="dim")
        indented(console, label, 2)
        indented(console, Text(clip(collapse(chunk.text), PASSAGE_CHARS)), 6)


def render_document(console: Console, doc: DocumentText, start: int, end: int) -> None:
    """The text around ``[start, end)`` of a document, with that span highlighted in place."""
    text = doc.text
    lo, hi = context_window(text, start, end, CONTEXT_CHARS)
    console.print(source_label("doc", doc.title, doc.doc_id, start, end))
    body = highlighted(text[lo:hi], (start - lo, end - lo), console)
    if lo > 0:
        body = Text("… ") + body
    if hi < len(text):
        body.append(" …")
    console.print(body)


def context_window(text: str, start: int, end: int, radius: int) -> tuple[int, int]:
    """About ``radius`` characters either side of a span, widened to whole words."""
    lo, hi = max(0, start - radius), min(len(text), end + radius)
    # Step to a word boundary so the excerpt does not open or close mid-word.
    while 0 < lo < start and not text[lo - 1].isspace():
        lo -= 1
    while end < hi < len(text) and not text[hi].isspace():
        hi += 1
    return lo, hi


HELP = [
    ("/k N", "retrieve N passages per question (now {k})"),
    ("/sources", "show the passages behind the last answer"),
    ("/more", "other possible answers to the last question"),
    ("/batch FILE", "ask every line of FILE at once; the answers in order"),
    ("/open N", "show cited document N around the quote, highlighted"),
    ("/in GLOB", "ask only documents whose id matches GLOB, e.g. reports/2023/* (/in: all)"),
    ("/help", "this list"),
    ("/quit", "leave (Ctrl-D and Ctrl-C work too)"),
]


def render_help(console: Console, top_k: int) -> None:
    """The command list."""
    for command, what in HELP:
        console.print(Text.assemble((f"  {command:<12}", "bold cyan"), what.format(k=top_k)))
