"""One reader per file format: bytes → ``Extracted`` text (plus pages and title where known).

The text a reader returns becomes the document's ``raw_text``: what citations slice and what
``GET /api/documents/<id>`` serves. A file that cannot be read raises ``UnreadableFile`` with
the reason the skipped-files report lists. pypdf and python-docx are imported here only.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import docx
from docx.document import Document as DocxDocument
from docx.table import Table, _Cell
from pypdf import PasswordType, PdfReader

from qa.errors import UnreadableFile
from qa.ingest.encoding import declared_charset, decode_text
from qa.ingest.html_text import html_to_text

_PAGE_BREAK = "\n\n"  # between PDF pages: a paragraph break, so no sentence spans two pages
_BLOCK_BREAK = "\n\n"  # between DOCX paragraphs and table rows
_CELL_SEPARATOR = " | "
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted Office files and legacy .doc

# pypdf logs what it repairs or gives up on ("EOF marker not found") without the file's name; the
# skipped-files report says it with the name, and a repaired file needs no warning.
logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Extracted:
    """A file's text as indexed, with each page's start offset (PDF) and a title if it has one."""

    text: str
    page_starts: tuple[int, ...] = ()
    title: str | None = None
    markdown: bool = False
    encoding: str | None = None  # of a text or HTML file, as read
    replaced: int = 0  # undecodable bytes that became U+FFFD


def read_plain(data: bytes) -> Extracted:
    """A plain-text file, in whatever encoding it is in."""
    decoded = decode_text(data)
    return Extracted(decoded.text, encoding=decoded.encoding, replaced=decoded.replaced)


def read_markdown(data: bytes) -> Extracted:
    """A markdown file: its text as is; cleaning drops the syntax from the indexed form."""
    return replace(read_plain(data), markdown=True)


def read_html(data: bytes) -> Extracted:
    """The article text of a web page, without scripts, styles, navigation and footers."""
    decoded = decode_text(data, declared_charset(data))
    text, title = html_to_text(decoded.text)
    if not text.strip():
        raise UnreadableFile("no text outside scripts, navigation and other page furniture")
    return Extracted(text, title=title, encoding=decoded.encoding, replaced=decoded.replaced)


def read_pdf(data: bytes) -> Extracted:
    """A PDF's text layer, page by page; scanned pages have none (no OCR)."""
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise UnreadableFile("encrypted PDF (needs a password)")
        if not reader.pages:
            raise UnreadableFile("unreadable PDF (no pages)")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except UnreadableFile:
        raise
    except Exception as exc:  # pypdf raises many kinds on damaged files; none may stop a build
        raise UnreadableFile(f"unreadable PDF ({_describe(exc)})") from exc
    if not any(pages):
        raise UnreadableFile("no text layer; OCR not supported")
    text, starts = _join_pages(pages)
    return Extracted(text, page_starts=starts)


def _join_pages(pages: list[str]) -> tuple[str, tuple[int, ...]]:
    """Pages joined by a paragraph break, and where each begins (an empty page: where the next)."""
    parts: list[str] = []
    starts: list[int] = []
    pos = 0
    for page in pages:
        if pos and page:
            parts.append(_PAGE_BREAK)
            pos += len(_PAGE_BREAK)
        starts.append(pos)
        parts.append(page)
        pos += len(page)
    return "".join(parts), tuple(starts)


def read_docx(data: bytes) -> Extracted:
    """A Word document's paragraphs and table rows (cells joined by " | "), in document order."""
    if data.startswith(_OLE_MAGIC):
        raise UnreadableFile("encrypted or legacy Word file (not a .docx package)")
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = [block for block in _docx_blocks(document) if block.strip()]
        title = (document.core_properties.title or "").strip() or None
    except Exception as exc:  # zipfile, lxml and python-docx each raise their own kinds
        raise UnreadableFile(f"unreadable DOCX ({_describe(exc)})") from exc
    if not blocks:
        raise UnreadableFile("no text in the document")
    return Extracted(_BLOCK_BREAK.join(blocks), title=title)


def _docx_blocks(container: DocxDocument | _Cell) -> Iterator[str]:
    """Paragraph texts, and one line per table row, from a document or a table cell."""
    for item in container.iter_inner_content():
        if isinstance(item, Table):
            yield from _docx_rows(item)
        else:
            yield item.text


def _docx_rows(table: Table) -> Iterator[str]:
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell repeats in every column it spans
                continue
            seen.add(id(cell._tc))
            text = " ".join(b.strip() for b in _docx_blocks(cell) if b.strip())
            if text:
                cells.append(text)
        if cells:
            yield _CELL_SEPARATOR.join(cells)


def _describe(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


FileReader = Callable[[bytes], Extracted]

FORMATS: dict[str, FileReader] = {
    ".txt": read_plain,
    ".text": read_plain,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".pdf": read_pdf,
    ".html": read_html,
    ".htm": read_html,
    ".docx": read_docx,
}
TEXT_SUFFIXES = frozenset(s for s, r in FORMATS.items() if r in (read_plain, read_markdown))
SUPPORTED_SUFFIXES = frozenset(FORMATS)


def read_file(path: Path) -> Extracted:
    """Extract the text of the file at ``path``; ``UnreadableFile`` says why it cannot be."""
    suffix = path.suffix.lower()
    reader = FORMATS.get(suffix)
    if reader is None:
        raise UnreadableFile(
            f"unsupported format {suffix}" if suffix else "unsupported format (no extension)"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"cannot read the file ({exc.strerror or exc})") from exc
    if not data:
        raise UnreadableFile("empty file")
    return reader(data)
