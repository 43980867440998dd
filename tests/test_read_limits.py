"""Decompression bombs and oversized documents: each format's reader refuses a document past
QA_MAX_INFLATED_MB, QA_MAX_MARKUP_NODES or QA_MAX_TEXT_CHARS before holding much more than the
limit; `qa index` skips it with a reason naming the limit, and an upload of it is a 413."""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docx
import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from qa.config import Settings
from qa.errors import DocumentTooLarge, InvalidSetting, UnreadableFile
from qa.ingest import ReadLimits, read_file
from qa.ingest.formats import read_docx, read_html, read_pdf

MB = 1 << 20
TOKEN = "s3cret-token"
PADDING = 30 * MB  # of spaces in word/document.xml: some 30 KB compressed


def docx_bomb(padding: int = PADDING, body: str = "<w:p/>", repeat: int = 0) -> bytes:
    """A real DOCX whose word/document.xml carries ``padding`` spaces and ``repeat`` copies of
    ``body`` more: small compressed, large inflated."""
    base = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("The harbour master's report.")
    document.save(base)
    out = io.BytesIO()
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                extra = b" " * padding + body.encode() * repeat
                data = data.replace(b"<w:body>", b"<w:body>" + extra)
            bomb.writestr(info.filename, data)
    return out.getvalue()


def lie_about_size(package: bytes, name: str, size: int) -> bytes:
    """``package`` with the member ``name`` declared ``size`` bytes long, with the CRC of its
    first ``size`` bytes: a reader that trusts the header and checks the CRC finds nothing wrong.
    """
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        info = z.getinfo(name)
        crc = zlib.crc32(z.read(name)[:size])
    data = bytearray(package)
    struct.pack_into("<II", data, info.header_offset + 14, crc, info.compress_size)
    struct.pack_into("<I", data, info.header_offset + 22, size)
    central = data.rfind(b"PK\x01\x02" + data[info.header_offset + 4 : info.header_offset + 8])
    while data[central + 46 : central + 46 + len(name)] != name.encode():
        central = data.find(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", data, central + 16, crc)
    struct.pack_into("<I", data, central + 24, size)
    return bytes(data)


@contextmanager
def counting_inflation(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every block zlib inflates within, by size: what a reader really unpacked."""
    blocks: list[int] = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self, *args: Any) -> None:
            self._inner = real(*args)

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            out = self._inner.decompress(data, max_length)
            blocks.append(len(out))
            return out

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    with monkeypatch.context() as patch:
        patch.setattr(zlib, "decompressobj", Counting)
        yield blocks


def pdf_with_padding(pages: list[str], padding: int) -> bytes:
    """A PDF whose every page's content stream carries ``padding`` spaces, compressed."""
    doc = FPDF()
    doc.set_font("Helvetica", size=12)
    for text in pages:
        doc.add_page()
        doc.multi_cell(0, 8, text)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(bytes(doc.output()))))
    for page in writer.pages:
        content = page.get_contents()
        assert content is not None
        content.set_data(content.get_data() + b" " * padding)
        page.replace_contents(content)
        page.compress_content_streams()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- DOCX: declared sizes, a lying header, markup ---------------------------------------------


def test_a_docx_bomb_is_refused_from_its_declared_sizes_before_inflating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bomb = docx_bomb()
    assert len(bomb) < 100_000
    with counting_inflation(monkeypatch) as inflated, pytest.raises(DocumentTooLarge) as refused:
        read_docx(bomb, ReadLimits(max_inflated_bytes=MB))
    assert re.fullmatch(
        r"too large to read: its parts inflate to 30\.\d MB, over the limit of 1 MB "
        r"\(QA_MAX_INFLATED_MB\)",
        str(refused.value),
    )
    assert sum(inflated) == 0


def test_a_docx_whose_header_lies_is_inflated_no_further_than_it_declares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    liar = lie_about_size(docx_bomb(), "word/document.xml", 4096)
    with zipfile.ZipFile(io.BytesIO(liar)) as z:
        assert z.getinfo("word/document.xml").file_size == 4096
    # Within every limit by its headers; python-docx reading the package itself would inflate
    # all 30 MB of the part before cutting it to 4 KB.
    with counting_inflation(monkeypatch) as inflated, pytest.raises(UnreadableFile) as refused:
        read_docx(liar, ReadLimits(max_inflated_bytes=2 * MB))
    assert str(refused.value).startswith("unreadable DOCX")
    assert sum(inflated) < 2 * MB


def test_a_docx_of_empty_paragraphs_is_refused_by_its_markup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bomb = docx_bomb(padding=0, repeat=500_000)  # 3 MB of "<w:p/>"; python-docx: some 100 MB
    with counting_inflation(monkeypatch) as inflated, pytest.raises(DocumentTooLarge) as refused:
        read_docx(bomb, ReadLimits(max_markup_nodes=100_000))
    assert str(refused.value) == (
        "too large to read: its XML has more than the limit of 100,000 elements and attributes "
        "(QA_MAX_MARKUP_NODES)"
    )
    assert sum(inflated) < MB  # stopped within the first blocks of the part


def test_a_docx_within_the_limits_reads_as_before() -> None:
    extracted = read_docx(docx_bomb(padding=MB // 2), ReadLimits(max_inflated_bytes=2 * MB))
    assert extracted.text == "The harbour master's report."


# --- PDF, HTML, text --------------------------------------------------------------------------


def test_a_pdf_whose_pages_inflate_past_the_limit_is_refused_at_the_page() -> None:
    pdf = pdf_with_padding(["The first page.", "The second page.", "The third page."], MB)
    assert len(pdf) < 100_000
    assert read_pdf(pdf).text.startswith("The first page.")
    with pytest.raises(DocumentTooLarge) as refused:
        read_pdf(pdf, ReadLimits(max_inflated_bytes=3 * MB // 2))
    assert str(refused.value) == (
        "too large to read: the content of its first 2 pages inflates to more than the limit "
        "of 1.5 MB (QA_MAX_INFLATED_MB)"
    )


def test_html_past_its_size_or_its_tags_is_refused_before_parsing() -> None:
    page = ("<html><body>" + "<p>Tides follow the Moon." * 2000 + "</body></html>").encode()
    assert "Tides follow the Moon." in read_html(page).text
    with pytest.raises(DocumentTooLarge, match=r"QA_MAX_MARKUP_NODES"):
        read_html(page, ReadLimits(max_markup_nodes=1000))
    with pytest.raises(DocumentTooLarge, match=r"the HTML page is 0\.0 MB, over the limit"):
        read_html(page, ReadLimits(max_inflated_bytes=len(page) - 1))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("long.txt", ("Tides follow the Moon. " * 100).encode()),
        ("long.md", ("# Tides\n\n" + "Tides follow the Moon. " * 100).encode()),
        ("long.html", ("<p>" + "Tides follow the Moon. " * 100).encode()),
        ("long.pdf", pdf_with_padding(["Tides follow the Moon. " * 40] * 3, 0)),
        (
            "long.docx",
            docx_bomb(padding=0, body="<w:p><w:r><w:t>Tides.</w:t></w:r></w:p>", repeat=400),
        ),
    ],
)
def test_every_format_is_refused_past_the_text_limit(
    tmp_path: Path, name: str, data: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert len(read_file(path).text) > 1000
    with pytest.raises(DocumentTooLarge) as refused:
        read_file(path, ReadLimits(max_text_chars=1000))
    assert str(refused.value) == (
        "too large to read: its text has more than the limit of 1,000 characters "
        "(QA_MAX_TEXT_CHARS)"
    )


def test_a_text_file_is_refused_by_its_size_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.txt"
    path.write_bytes(b"tide " * 2000)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read a file too large"))
    with pytest.raises(DocumentTooLarge, match="QA_MAX_TEXT_CHARS"):
        read_file(path, ReadLimits(max_text_chars=1000))


# --- settings, qa index, the API ---------------------------------------------------------------


def test_the_limits_are_settings() -> None:
    settings = Settings.from_env(
        {"QA_MAX_INFLATED_MB": "3", "QA_MAX_TEXT_CHARS": "500", "QA_MAX_MARKUP_NODES": "70"}
    )
    assert ReadLimits.of(settings) == ReadLimits(3 * MB, 500, 70)
    assert ReadLimits.of(Settings()) == ReadLimits()
    with pytest.raises(InvalidSetting, match="QA_MAX_INFLATED_MB=0 must be at least 1"):
        Settings(max_inflated_mb=0)


def test_qa_index_skips_a_bomb_with_the_limit_and_the_setting_in_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from qa.cli import main as cli_main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "tides.txt").write_text("Tides\n\nTides follow the Moon.\n", encoding="utf-8")
    (corpus / "bomb.docx").write_bytes(docx_bomb())
    monkeypatch.setenv("QA_MAX_INFLATED_MB", "1")
    index = ["--corpus", str(corpus), "--index-dir", str(tmp_path / "index"), "--quiet"]
    assert cli_main(["index", *index]) == 0
    err = capsys.readouterr().err
    assert re.search(
        r"^skipped bomb\.docx: too large to read: its parts inflate to 30\.\d MB, over the "
        r"limit of 1 MB \(QA_MAX_INFLATED_MB\)$",
        err,
        re.MULTILINE,
    ), err
    assert "skipped tides.txt" not in err and "1 files skipped" in err


@pytest.mark.parametrize(
    ("doc_id", "body", "setting"),
    [
        ("bomb.docx", {"data": docx_bomb()}, "QA_MAX_INFLATED_MB"),
        ("long.txt", {"json": {"text": "Tides follow the Moon. " * 100}}, "QA_MAX_TEXT_CHARS"),
    ],
)
def test_an_upload_past_a_limit_is_a_413_naming_it(
    tmp_path: Path, doc_id: str, body: dict[str, Any], setting: str
) -> None:
    from qa.serve.api import create_app

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    settings = Settings(
        corpus=corpus,
        index_dir=tmp_path / "index",
        admin_token=TOKEN,
        max_inflated_mb=1,
        max_text_chars=1000,
    )
    client = create_app({"TESTING": True, "QA_SETTINGS": settings}).test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if "data" in body:
        headers["Content-Type"] = "application/octet-stream"
    response = client.put(f"/api/documents/{doc_id}", headers=headers, **body)
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "document_too_large"
    assert error["message"].startswith(f"'{doc_id}' cannot be indexed: too large to read: ")
    assert f"({setting})" in error["message"]
    assert list(corpus.iterdir()) == []
