"""Cleaning raw document text for retrieval and display, keeping a map back to the raw characters.

The rules are generic, for web pages and PDF text: boilerplate lines (icon/menu runs, paywall and
subscription prompts, photo credits) and exactly repeated lines are dropped; words hyphenated across
a line break are rejoined; hard-wrapped lines are unwrapped; whitespace is collapsed. Paragraph
breaks survive as a single ``\\n`` in the cleaned text so sentence splitting can respect them. In
markdown, the syntax goes too (heading, quote and list markers, emphasis and code markers, link
targets) and each list item is a line of its own, never glued to the next one.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_SENTENCE_PUNCT = re.compile(r"[.!?;:,]")
_PAYWALL = re.compile(
    r"\b(subscribe|subscription|subscriber|sign up|sign in|log in|newsletter|"
    r"free (?:stories|articles)|unlimited (?:stories|access|articles|journalism|digital)|"
    r"you['’]ve read \d+|\d+ of \d+ (?:free )?(?:stories|articles)|for your first month|"
    r"get unlimited|already a (?:subscriber|member)|create (?:a |an )?(?:free )?account|"
    r"share this (?:article|story)|follow us on|all rights reserved|advertisement)\b",
    re.IGNORECASE,
)
_CREDIT_WORDS = re.compile(r"^(?:photos?|images?|pictures?|credits?|photograph(?:s|er)?)\b", re.I)
# "J. Scott Applewhite/AP", "Jane Roe / Getty Images": a short name, a slash, an agency.
_SLASH_CREDIT = re.compile(
    r"^[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,4}\s*/\s*[A-Z][\w&.'’-]*(?:\s+[A-Z][\w&.'’-]*){0,3}$"
)
# A PDF's "(cont'd)" marks a jump to another column: the text does not flow across it.
_CONTINUED = re.compile(r"\(\s*(?:cont(?:inued)?|con['’]?t?['’]?d)\s*\)", re.IGNORECASE)
# A footnote number stuck to the end of a sentence in PDF text: "Directorate.2 A more ...".
_FOOTNOTE = re.compile(r"(?<=[a-z][.!?][”\"’)])\d{1,2}(?=\s)|(?<=[a-z][.!?])\d{1,2}(?=\s)")
# What opens a markdown line: quote markers, then a heading's hashes or a list item's bullet.
_MARKDOWN_LINE = re.compile(
    r"[ \t]*(?:>[ \t]?)*[ \t]*(?:(?P<heading>#{1,6})[ \t]+|(?P<item>[-*+]|\d{1,3}[.)])[ \t]+)?"
)
# Inline markdown: `code`, a link "[text](url)", emphasis (*em*, **strong**, _em_, __strong__)
# around words, and a marker or half a link whose partner lies outside the text (a quote that
# starts or ends inside one: "Lavrov* said", "see [the guide", "run `make"). "2 * 3 * 4",
# snake_case_names and "[citation needed]" are not markdown syntax.
_INLINE_MARKDOWN = re.compile(
    r"(?P<tick>`+)(?P<code>[^\s`](?:[^\n]*?[^\s`])??)(?P=tick)(?!`)"
    r"|!?\[(?P<label>[^\[\]\n]+)\]\([^()\s]*(?:\s+\"[^\"\n]*\")?\)"
    r"|(?<![\w*])(?P<mark>\*{1,3}|_{1,3})(?=[^\s*_])(?P<body>(?:(?!\n\s*\n).)+?)(?<=[^\s*_])(?P=mark)(?![\w*])"
    r"|(?<=[^\s*_])(?:\*{1,3}|_{1,3})(?![\w*])|(?<![\w*])(?:\*{1,3}|_{1,3})(?=[^\s*_])"
    r"|!?\[(?![^\]]*\])|\]\([^()\s]+(?:\s+\"[^\"\n]*\")?\)|`+",
    re.DOTALL,
)
_WRAPPED_LINE_CHARS = 100  # median line length below this means the text is hard-wrapped


@dataclass(frozen=True)
class CleanText:
    """Cleaned text and, for each of its characters, the index of the raw character it came from."""

    text: str
    offsets: tuple[int, ...]


@dataclass
class _Line:
    start: int  # raw offset of the line's first character
    text: str
    item: bool = False  # a markdown list item: it starts a sentence of its own


def is_boilerplate(line: str) -> bool:
    """True for a line that is page furniture rather than content."""
    stripped = line.strip()
    if not stripped:
        return False
    words = stripped.split()
    if len(words) <= 25 and _PAYWALL.search(stripped):
        return True
    if len(words) <= 12 and not stripped.endswith((".", "?", "!")):
        if _CREDIT_WORDS.match(stripped) or _SLASH_CREDIT.match(stripped):
            return True
    return _looks_like_menu(words, stripped)


def _looks_like_menu(words: list[str], line: str) -> bool:
    """A long run of words with no punctuation, often sharing an affix ("…icon"), is a menu."""
    if len(words) < 8 or _SENTENCE_PUNCT.search(line):
        return False
    if len(words) >= 25:
        return True
    grams: Counter[str] = Counter()
    for word in words:
        lower = word.lower()
        grams.update({lower[i : i + 4] for i in range(len(lower) - 3)})
    common = grams.most_common(1)
    return bool(common) and common[0][1] >= 0.3 * len(words)


def _split_lines(raw: str) -> list[_Line]:
    lines, pos = [], 0
    for piece in raw.splitlines(keepends=True):
        body = piece.rstrip("\r\n")
        lines.append(_Line(pos, body))
        pos += len(piece)
    return lines


def _is_hard_wrapped(lines: list[_Line]) -> bool:
    lengths = sorted(len(line.text.strip()) for line in lines if line.text.strip())
    return len(lengths) >= 5 and lengths[len(lengths) // 2] < _WRAPPED_LINE_CHARS


def _paragraphs(raw: str, markdown: bool) -> list[list[_Line]]:
    """Group kept lines into paragraphs; dropped and blank lines separate paragraphs."""
    lines = _split_lines(raw)
    wrapped = _is_hard_wrapped(lines)
    seen: set[str] = set()
    last_kept = ""
    paragraphs: list[list[_Line]] = [[]]
    for line in lines:
        marker = _MARKDOWN_LINE.match(line.text) if markdown else None
        heading = bool(marker and marker.group("heading"))
        if marker and marker.end():
            line = _Line(
                line.start + marker.end(), line.text[marker.end() :], bool(marker.group("item"))
            )
        key = " ".join(line.text.split())
        # A repeat is boilerplate, unless it ends a word the line before broke with a hyphen.
        repeated = len(key.split()) >= 3 and key in seen and not _ends_hyphenated(last_kept, key)
        if not key or is_boilerplate(key) or repeated:
            paragraphs.append([])
            continue
        seen.add(key)
        last_kept = key
        if heading or line.item or not wrapped:
            paragraphs.append([])  # a heading, list item or unwrapped line starts a paragraph
        kept, continued = _cut_continuation(line)
        if kept.text.strip():
            paragraphs[-1].append(kept)
        if heading or not wrapped or continued:
            paragraphs.append([])
    return [p for p in paragraphs if p]


def _ends_hyphenated(line: str, following: str) -> bool:
    """Whether ``following`` finishes a word ``line`` broke with a hyphen (as ``_hyphenated``)."""
    return (
        len(line) >= 2 and line[-1] in "-\u00ad" and line[-2].isalpha() and following[:1].islower()
    )


def _cut_continuation(line: _Line) -> tuple[_Line, bool]:
    """Cut a "(cont'd)" marker and what follows it: the text goes on in another column."""
    match = _CONTINUED.search(line.text)
    if not match:
        return line, False
    return _Line(line.start, line.text[: match.start()]), True


def clean(raw: str, *, markdown: bool = False) -> CleanText:
    """Clean ``raw`` text; every output character maps to a raw character."""
    out: list[str] = []
    offsets: list[int] = []
    syntax = _markdown_positions(raw) if markdown else frozenset()
    spelling = _Spelling(raw)
    for paragraph in _paragraphs(raw, markdown):
        joined: list[tuple[str, int]] = []
        for line in paragraph:
            chars = _line_chars(line, syntax)
            if not chars:
                continue
            if joined:
                _join(raw, joined, chars, spelling)
            joined.extend(chars)
        if not joined:
            continue
        if out:
            sep = "\n" if paragraph[0].item else _paragraph_separator(out, joined)
            if sep == "-":  # hyphenated across a paragraph break: "mis-" + "sile"
                if not spelling.keeps_hyphen(out, len(out) - 1, joined, 0):  # "self-attention"
                    out.pop()
                    offsets.pop()
            elif sep:
                out.append(sep)
                offsets.append(_space_before(raw, joined[0][1], offsets[-1]))
        for ch, pos in joined:
            out.append(ch)
            offsets.append(pos)
    text = "".join(out)
    return _drop_footnotes(CleanText(text, tuple(offsets)))


def _is_space(ch: str) -> bool:
    """Whitespace, or a byte-order mark (which some editors leave mid-file)."""
    return ch.isspace() or ch == "\ufeff"


def _markdown_positions(raw: str) -> frozenset[int]:
    """Raw offsets of inline markdown syntax, which the cleaned text leaves out."""
    return frozenset(pos for start, end in _inline_markdown(raw) for pos in range(start, end))


def _inline_markdown(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of inline markdown syntax in ``text[start:end]``: markers and link targets."""
    spans: list[tuple[int, int]] = []
    for match in _INLINE_MARKDOWN.finditer(text, start, len(text) if end is None else end):
        inner = next((name for name in ("code", "label", "body") if match.group(name)), None)
        if inner is None:  # a marker without its partner: all syntax
            spans.append(match.span())
            continue
        spans += [(match.start(), match.start(inner)), (match.end(inner), match.end())]
        if inner != "code":  # code is literal; link text and emphasis may hold more markup
            spans += _inline_markdown(text, match.start(inner), match.end(inner))
    return spans


def _line_chars(line: _Line, skip: frozenset[int] = frozenset()) -> list[tuple[str, int]]:
    """The line's characters, less those at raw offsets in ``skip``, with whitespace runs
    collapsed to one space, trimmed."""
    chars: list[tuple[str, int]] = []
    for i, ch in enumerate(line.text):
        if line.start + i in skip:
            continue
        if _is_space(ch):
            if chars and chars[-1][0] != " ":
                chars.append((" ", line.start + i))
        else:
            chars.append((ch, line.start + i))
    if chars and chars[-1][0] == " ":
        chars.pop()
    return chars


def _hyphenated(before: list[tuple[str, int]], after: list[tuple[str, int]]) -> bool:
    return (
        len(before) >= 2
        and before[-1][0] in "-\u00ad"
        and before[-2][0].isalpha()
        and after[0][0].islower()
    )


class _Spelling:
    """How a document itself spells the words it breaks at a line end with a hyphen.

    Most such breaks split one word ("compu-" + "tational"), but some fall on a compound's own
    hyphen ("locality-" + "sensitive", "self-" + "attention"), common in papers' two-column
    text. The document tells them apart where it writes the word elsewhere on one line. Read
    at the first such break: most documents have none.
    """

    def __init__(self, raw: str) -> None:
        self._raw = raw

    @functools.cached_property
    def compounds(self) -> frozenset[str]:
        """Each hyphenated pair of words written within a line, as "a-b"."""
        pairs: set[str] = set()
        for match in _IN_LINE_COMPOUND.finditer(self._raw):
            parts = match.group().lower().split("-")
            pairs.update(f"{a}-{b}" for a, b in zip(parts, parts[1:], strict=False))
        return frozenset(pairs)

    @functools.cached_property
    def words(self) -> frozenset[str]:
        """Every word the document writes, lower case."""
        return frozenset(w.lower() for w in _LETTERS.findall(self._raw))

    def keeps_hyphen(
        self, before: Sequence[object], hyphen: int, after: Sequence[object], start: int
    ) -> bool:
        """Whether the hyphen at ``before[hyphen]`` joins a compound that goes on at
        ``after[start]``: written so within a line, and never as one word. The sequences hold
        characters or (character, offset) pairs. A soft hyphen never stays."""
        if _char(before[hyphen]) != "-":
            return False
        head = _letters(before, hyphen - 1, -1)
        tail = _letters(after, start, 1)
        return f"{head}-{tail}" in self.compounds and head + tail not in self.words


# Words joined by hyphens within one line: "state-of-the-art"; "SM-3" does not count (a digit).
_IN_LINE_COMPOUND = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)+")
_LETTERS = re.compile(r"[^\W\d_]+")


def _char(item: object) -> str:
    return item if isinstance(item, str) else item[0]  # type: ignore[index]


def _letters(items: Sequence[object], index: int, step: int) -> str:
    """The run of letters from ``items[index]`` walking by ``step`` (-1: the word ending
    there), in reading order, lower case."""
    letters = []
    while 0 <= index < len(items) and _char(items[index]).isalpha():
        letters.append(_char(items[index]))
        index += step
    return "".join(letters[::step]).lower()


def _join(
    raw: str, joined: list[tuple[str, int]], nxt: list[tuple[str, int]], spelling: _Spelling
) -> None:
    """Unwrap a soft line break: rejoin a hyphenated word (keeping the hyphen of a compound the
    document writes with one) or put one space in its place."""
    if _hyphenated(joined, nxt):
        if not spelling.keeps_hyphen(joined, len(joined) - 1, nxt, 0):
            joined.pop()
    else:
        joined.append((" ", _space_after(raw, joined[-1][1], nxt[0][1])))


# A separator maps to raw whitespace between the characters it separates; markdown syntax left
# out of the cleaned text ("**bold**\n") can stand between them and the line break.
def _space_after(raw: str, after: int, before: int) -> int:
    """The first raw whitespace offset after ``after`` (and before ``before``)."""
    return next((pos for pos in range(after + 1, before) if _is_space(raw[pos])), after + 1)


def _space_before(raw: str, before: int, after: int) -> int:
    """The last raw whitespace offset before ``before`` (and after ``after``)."""
    return next((pos for pos in range(before - 1, after, -1) if _is_space(raw[pos])), before - 1)


def _paragraph_separator(out: list[str], nxt: list[tuple[str, int]]) -> str:
    """Paragraphs are separated by a newline, unless the next one visibly continues a sentence."""
    if len(out) >= 2 and out[-1] in "-\u00ad" and out[-2].isalpha() and nxt[0][0].islower():
        return "-"
    if nxt[0][0].islower() and out[-1] not in '.!?”"':
        return " "
    return "\n"


def _drop_footnotes(cleaned: CleanText) -> CleanText:
    keep = [True] * len(cleaned.text)
    for match in _FOOTNOTE.finditer(cleaned.text):
        for i in range(match.start(), match.end()):
            keep[i] = False
    if all(keep):
        return cleaned
    text = "".join(ch for ch, k in zip(cleaned.text, keep, strict=True) if k)
    offsets = tuple(o for o, k in zip(cleaned.offsets, keep, strict=True) if k)
    return CleanText(text, offsets)


def display_form(raw_fragment: str, document: str | None = None) -> str:
    """The display form of a raw quote: hyphenation across line breaks rejoined, markdown syntax
    dropped (list items joined with "; "), spaces collapsed.

    ``document``: the raw text the quote comes from, whose own spelling tells a compound broken
    at its hyphen ("self-" + "attention") from a split word, as ``clean`` does; without it every
    such break is rejoined as one word.
    """
    spelling = _Spelling(document) if document is not None else None

    def rejoin(m: re.Match[str]) -> str:
        if not m.group(1).islower():
            return m.group(0)
        if spelling is not None and spelling.keeps_hyphen(m.string, m.start(), m.string, m.end()):
            return m.group(0)[0]
        return ""

    text = _LINE_BREAK_HYPHEN.sub(rejoin, raw_fragment)
    # As ``clean`` does: line markers read off each line, inline syntax off the whole text.
    syntax = _markdown_positions(text)
    parts: list[str] = []
    line_start = 0
    for line in text.split("\n"):
        marker = _MARKDOWN_LINE.match(line)
        assert marker is not None  # every part of the pattern is optional
        body = " ".join(
            "".join(
                ch
                for i, ch in enumerate(line[marker.end() :], line_start + marker.end())
                if i not in syntax
            ).split()
        )
        line_start += len(line) + 1
        if not body:
            continue
        # List items read as a list, not as one run-on sentence: "flour; sugar; butter".
        if marker.group("item") and parts and parts[-1][-1] not in ".,;:!?":
            parts[-1] += ";"
        parts.append(body)
    return " ".join(parts)


# A hyphen at a line end between letters; rejoined only when the next letter is lower case,
# exactly as ``clean`` does.
_LINE_BREAK_HYPHEN = re.compile(r"(?<=[^\W\d_])[-\u00ad][ \t]*\r?\n\s*(?=([^\W\d_]))")
