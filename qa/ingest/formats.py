"""One reader per file format: bytes → ``Extracted`` text (plus pages and title where known).

The text a reader returns becomes the document's ``raw_text``: what citations slice and what
``GET /api/documents/<id>`` serves. A file that cannot be read raises ``UnreadableFile`` with
the reason the skipped-files report lists. pypdf and python-docx are imported here only.

Each reader holds to ``ReadLimits`` (``qa.ingest.limits``): a file past one raises
``DocumentTooLarge`` before the reader holds much more than the limit, so a decompression bomb
(2.7 MB of DOCX that inflates to 1 GB) is refused in bounded memory.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import docx
from docx.document import Document as DocxDocument
from docx.table import Table, _Cell
from pypdf import PasswordType, PdfReader
from pypdf.constants import PageAttributes
from pypdf.generic import ArrayObject, StreamObject

from qa.errors import UnreadableFile
from qa.ingest.encoding import declared_charset, decode_text
from qa.ingest.html_text import html_to_text
from qa.ingest.limits import DEFAULT_LIMITS, ReadLimits

_PAGE_BREAK = "\n\n"  # between PDF pages: a paragraph break, so no sentence spans two pages
_BLOCK_BREAK = "\n\n"  # between DOCX paragraphs and table rows
_CELL_SEPARATOR = " | "
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted Office files and legacy .doc

_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})  # what Word writes
_READ_BLOCK = 1 << 16  # a DOCX part is inflated this much at a time
_BYTES_PER_CHAR = 4  # at most, in any encoding a text file is read in

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


def read_plain(data: bytes, limits: ReadLimits = DEFAULT_LIMITS) -> Extracted:
    """A plain-text file, in whatever encoding it is in."""
    # A file with more bytes than the longest text allowed can take (a byte-order mark aside)
    # is refused before it is decoded.
    limits.check_text((len(data) - _BYTES_PER_CHAR) // _BYTES_PER_CHAR)
    decoded = decode_text(data)
    return Extracted(decoded.text, encoding=decoded.encoding, replaced=decoded.replaced)


def read_markdown(data: bytes, limits: ReadLimits = DEFAULT_LIMITS) -> Extracted:
    """A markdown file: its text as is; cleaning drops the syntax from the indexed form."""
    return replace(read_plain(data, limits), markdown=True)


def read_html(data: bytes, limits: ReadLimits = DEFAULT_LIMITS) -> Extracted:
    """The article text of a web page, without scripts, styles, navigation and footers."""
    if len(data) > limits.max_inflated_bytes:  # the whole page is parsed into a tree in memory
        raise limits.too_inflated("the HTML page is", len(data))
    decoded = decode_text(data, declared_charset(data))
    # Start tags (and comments): each a node of the parsed tree, some 300 bytes of memory.
    tags = decoded.text.count("<") - decoded.text.count("</")
    limits.check_markup(tags, "the HTML page has", "tags")
    text, title = html_to_text(decoded.text)
    if not text.strip():
        raise UnreadableFile("no text outside scripts, navigation and other page furniture")
    return Extracted(text, title=title, encoding=decoded.encoding, replaced=decoded.replaced)


def read_pdf(data: bytes, limits: ReadLimits = DEFAULT_LIMITS) -> Extracted:
    """A PDF's text layer, page by page; scanned pages have none (no OCR)."""
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise UnreadableFile("encrypted PDF (needs a password)")
        if not reader.pages:
            raise UnreadableFile("unreadable PDF (no pages)")
        pages = _pdf_pages(reader, limits)
    except UnreadableFile:
        raise
    except Exception as exc:  # pypdf raises many kinds on damaged files; none may stop a build
        raise UnreadableFile(f"unreadable PDF ({_describe(exc)})") from exc
    if not any(pages):
        raise UnreadableFile("no text layer; OCR not supported")
    text, starts = _join_pages(pages)
    return Extracted(text, page_starts=starts)


def _pdf_pages(reader: PdfReader, limits: ReadLimits) -> list[str]:
    """Each page's text, stopping at the first page past a limit.

    pypdf keeps every content stream it inflates (up to 75 MB each), so many pages of small
    compressed streams could take gigabytes: each page's are inflated and counted before its
    text is extracted from them.
    """
    pages: list[str] = []
    inflated = chars = 0
    for page in reader.pages:
        contents = page.get(PageAttributes.CONTENTS)
        contents = contents.get_object() if contents is not None else None
        streams = contents if isinstance(contents, ArrayObject) else [contents]
        for stream in streams:
            stream = stream.get_object() if stream is not None else None
            if isinstance(stream, StreamObject):
                inflated += len(stream.get_data())
                if inflated > limits.max_inflated_bytes:
                    raise limits.too_inflated(
                        f"the content of its first {len(pages) + 1} pages inflates to"
                    )
        pages.append((page.extract_text() or "").strip())
        chars += len(pages[-1])
        limits.check_text(chars)
    return pages


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


def read_docx(data: bytes, limits: ReadLimits = DEFAULT_LIMITS) -> Extracted:
    """A Word document's paragraphs and table rows (cells joined by " | "), in document order."""
    if data.startswith(_OLE_MAGIC):
        raise UnreadableFile("encrypted or legacy Word file (not a .docx package)")
    try:
        document = docx.Document(_inflated_package(data, limits))
        blocks = [block for block in _docx_blocks(document) if block.strip()]
        title = (document.core_properties.title or "").strip() or None
    except UnreadableFile:
        raise
    except Exception as exc:  # zipfile, lxml and python-docx each raise their own kinds
        raise UnreadableFile(f"unreadable DOCX ({_describe(exc)})") from exc
    if not blocks:
        raise UnreadableFile("no text in the document")
    limits.check_text(sum(map(len, blocks)) + len(_BLOCK_BREAK) * (len(blocks) - 1))
    return Extracted(_BLOCK_BREAK.join(blocks), title=title)


def _inflated_package(data: bytes, limits: ReadLimits) -> io.BytesIO:
    """The DOCX package with its parts inflated and stored uncompressed, once they are known to
    inflate to no more than ``limits.max_inflated_bytes`` in all; python-docx reads that copy.

    The sizes the package declares are checked first, without inflating anything; then each
    part is inflated a block at a time and counted. zipfile's own ``read()`` inflates a whole
    part before cutting it to its declared size, so a header that lies about the size would let
    python-docx hold all of it.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        # A name given twice is read as its last entry, as zipfile (and python-docx) would.
        parts = [i for i in {i.filename: i for i in package.infolist()}.values() if not i.is_dir()]
        declared = sum(info.file_size for info in parts)
        if declared > limits.max_inflated_bytes:
            raise limits.too_inflated("its parts inflate to", declared)
        methods = {info.compress_type for info in parts} - _ZIP_METHODS
        if methods:
            raise UnreadableFile(f"unreadable DOCX (zip compression method {min(methods)})")
        copy = io.BytesIO()
        inflated = nodes = 0
        with zipfile.ZipFile(copy, "w", zipfile.ZIP_STORED) as stored:
            for info in parts:
                xml = info.filename.lower().endswith((".xml", ".rels"))
                big = info.file_size >= zipfile.ZIP64_LIMIT  # past QA_MAX_INFLATED_MB=2048
                with (
                    package.open(info) as source,
                    stored.open(info.filename, "w", force_zip64=big) as target,
                ):
                    while block := source.read(_READ_BLOCK):
                        inflated += len(block)
                        if inflated > limits.max_inflated_bytes:
                            raise limits.too_inflated("its parts inflate to")
                        if xml:  # python-docx parses every XML part whole
                            nodes += _xml_nodes(block)
                            limits.check_markup(nodes, "its XML has", "elements and attributes")
                        target.write(block)
    copy.seek(0)
    return copy


def _xml_nodes(xml: bytes) -> int:
    """About how many elements and attributes ``xml`` holds: start tags and "=" signs (a node
    costs lxml some 80-220 bytes; an empty tag is 4 bytes of file)."""
    return xml.count(b"<") - xml.count(b"</") + xml.count(b"=")


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


FileReader = Callable[[bytes, ReadLimits], Extracted]

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


def read_file(path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> Extracted:
    """Extract the text of the file at ``path``; ``UnreadableFile`` says why it cannot be
    (``DocumentTooLarge`` when it is past ``limits``)."""
    suffix = path.suffix.lower()
    reader = FORMATS.get(suffix)
    if reader is None:
        raise UnreadableFile(
            f"unsupported format {suffix}" if suffix else "unsupported format (no extension)"
        )
    try:
        _check_file_size(reader, path.stat().st_size, limits)
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"cannot read the file ({exc.strerror or exc})") from exc
    if not data:
        raise UnreadableFile("empty file")
    extracted = reader(data, limits)
    limits.check_text(len(extracted.text))
    return extracted


def _check_file_size(reader: FileReader, size: int, limits: ReadLimits) -> None:
    """Refuse before reading a text or HTML file whose size alone puts it past ``limits``."""
    if reader in (read_plain, read_markdown):
        limits.check_text((size - _BYTES_PER_CHAR) // _BYTES_PER_CHAR)
    elif reader is read_html and size > limits.max_inflated_bytes:
        raise limits.too_inflated("the HTML page is", size)
