"""Real documents: text in any common encoding, PDF pages, HTML without its furniture, DOCX, and
the skipped-files report; answers over a mixed folder quote exact slices of the extracted text."""

from __future__ import annotations

import random
from pathlib import Path

import docx
import pytest
from fpdf import FPDF

from qa.config import Settings
from qa.errors import CorpusError, UnreadableFile
from qa.ingest import Corpus, SkippedFile, load_corpus, scan_corpus
from qa.ingest.encoding import decode_text
from qa.ingest.html_text import html_to_text
from qa.pipeline import QAPipeline, build_index
from qa.schema import Document, page_of

LATIN1_TEXT = (
    "The café on Rue Verte\n\n"
    "The café on Rue Verte is owned by Hélène Dubois, who opened it in 1987. "
    "She bakes the bread herself every morning, and the crème brûlée is famous.\n"
)
PDF_PAGE_1 = (
    "The Lighthouse Society keeps twelve lighthouses along the southern coast. "
    "It was founded in 1887 by Margaret Quill in Portsmouth."
)
PDF_PAGE_2 = "Gull Point Light stands 41 metres tall and was first lit in 1902."
HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Example News - The Saltmarsh ferry</title>
<style>.nav { color: red } body { font-family: serif }</style>
<script>var trackingSecret = "zebra-42"; console.log("tracking");</script>
</head><body>
<header><div class="logo">Example News site banner</div></header>
<nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li>
<li><a href="/subscribe">Subscribe today</a></li></ul></nav>
<div role="navigation">Breadcrumb trail: News / Travel</div>
<main><article>
<h1>The Saltmarsh ferry</h1>
<p>The Saltmarsh ferry carries 300 passengers between Harwick and Elden Island.</p>
<p>It was built in 1964 in a shipyard in Glasgow</p><p>Its captain is Morag Finlay</p>
<ul><li>Crossing time: 40 minutes</li><li>Daily sailings: six</li></ul>
</article></main>
<aside>Related: ten best pizzas in town</aside>
<noscript>Please enable JavaScript to read the comments</noscript>
<form><label>Email</label><input name="email"><button>Sign me up</button></form>
<footer>Copyright 2024 Example News. Cookie settings.</footer>
<script>document.write("injected footer text");</script>
</body></html>
"""


def _pdf(pages: list[str]) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 8, text)
        else:
            pdf.rect(20, 20, 60, 40)  # a page of drawing only, like a scan without a text layer
    return bytes(pdf.output())


def _docx(path: Path) -> None:
    document = docx.Document()
    document.add_heading("Orchard harvest report", level=1)
    document.add_paragraph("The Hillside orchard harvested 12 tonnes of apples in 2023.")
    document.add_paragraph(
        "Most of the harvest was pressed into cider by the village co-operative."
    )
    table = document.add_table(rows=3, cols=2)
    for row, (variety, trees) in zip(
        table.rows, [("Variety", "Trees"), ("Bramley", "140"), ("Cox", "95")], strict=True
    ):
        row.cells[0].text, row.cells[1].text = variety, trees
    document.save(str(path))


def write_mixed_folder(root: Path) -> Path:
    """The issue's mixed folder: every format and encoding, plus files that must be skipped."""
    files: dict[str, bytes] = {
        "notes/glacier.txt": (
            b"Glacier monitoring in Norway\n\nThe Jostedal glacier has retreated 2.8 kilometres "
            b"since 1900, according to the national water directorate.\n"
        ),
        "latin1.txt": LATIN1_TEXT.encode("latin-1"),
        "utf16.txt": (
            "Beekeeping in Slovenia\n\nSlovenia has about 10,000 beekeepers, "
            "roughly one for every 200 inhabitants.\n"
        ).encode("utf-16"),  # with its byte-order mark
        "bom.txt": "\ufeffThe Carniolan bee\n\nThe Carniolan bee is known for its gentle temper.\n".encode(),
        "guide.md": b"# Tea brewing guide\n\nGreen tea is brewed at **80 degrees Celsius**.\n",
        "reports/lighthouse.pdf": _pdf([PDF_PAGE_1, PDF_PAGE_2]),
        "web/ferry.html": HTML.encode(),
        "binary.txt": bytes(random.Random(9).randrange(256) for _ in range(2048)) + b"\x00" * 16,
        "empty.txt": b"",
        "blank.md": b"  \n\n\t \n",
        "image.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "data.xyz": b"some text in a format nobody knows",
        "scans/scanned.pdf": _pdf([""]),
        "broken.pdf": b"%PDF-1.4\nthis is not really a PDF",
        "broken.docx": b"this is not a zip package",
        ".hidden/secret.txt": b"Hidden folders are never read.\n",
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "docs").mkdir()
    _docx(root / "docs" / "orchard.docx")
    return root


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mixed_folder(tmp_path_factory.mktemp("mixed"))


@pytest.fixture(scope="module")
def corpus(mixed: Path) -> Corpus:
    return scan_corpus(mixed)


@pytest.fixture(scope="module")
def docs(corpus: Corpus) -> dict[str, Document]:
    return {d.doc_id: d for d in corpus.documents}


# --- which files load, which are skipped and why ----------------------------------------------


def test_every_format_loads_and_the_rest_is_skipped_with_a_reason(
    mixed: Path, corpus: Corpus
) -> None:
    assert [d.doc_id for d in corpus.documents] == [
        "bom.txt",
        "docs/orchard.docx",
        "guide.md",
        "latin1.txt",
        "notes/glacier.txt",
        "reports/lighthouse.pdf",
        "utf16.txt",
        "web/ferry.html",
    ]
    reasons = {s.path: s.reason for s in corpus.skipped}
    assert list(reasons) == sorted(reasons)
    assert reasons == {
        "binary.txt": "binary file (NUL bytes)",
        "blank.md": "empty file (whitespace only)",
        "broken.docx": reasons["broken.docx"],
        "broken.pdf": reasons["broken.pdf"],
        "data.xyz": "unsupported format .xyz",
        "empty.txt": "empty file",
        "image.png": "unsupported format .png",
        "scans/scanned.pdf": "no text layer; OCR not supported",
    }
    assert reasons["broken.docx"].startswith("unreadable DOCX (")
    assert reasons["broken.pdf"].startswith("unreadable PDF (")
    assert all(isinstance(s, SkippedFile) for s in corpus.skipped)
    assert corpus.skipped[0].to_dict() == {
        "path": "binary.txt",
        "reason": "binary file (NUL bytes)",
    }
    assert load_corpus(mixed) == corpus.documents  # callers that want only documents


def test_skipped_files_are_logged_by_name(mixed: Path, caplog: pytest.LogCaptureFixture) -> None:
    scan_corpus(mixed)
    assert "skipped 8 files" in caplog.text
    assert "binary.txt (binary file (NUL bytes))" in caplog.text


def test_a_folder_of_only_skipped_files_is_an_error_that_lists_them(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    with pytest.raises(
        CorpusError, match=r"2 files skipped: empty\.txt \(empty file\), photo\.jpg"
    ):
        scan_corpus(tmp_path)


def test_a_single_document_is_a_corpus(mixed: Path) -> None:
    (doc,) = load_corpus(mixed / "reports" / "lighthouse.pdf")
    assert doc.doc_id == "lighthouse.pdf"
    assert PDF_PAGE_2 in doc.raw_text


# --- text encodings ---------------------------------------------------------------------------


def test_latin1_text_comes_out_right(docs: dict[str, Document]) -> None:
    doc = docs["latin1.txt"]
    assert doc.raw_text == LATIN1_TEXT
    assert "Hélène Dubois" in doc.text and "\ufffd" not in doc.raw_text
    assert doc.title == "The café on Rue Verte"


def test_utf16_and_utf8_bom_are_decoded_without_the_mark(docs: dict[str, Document]) -> None:
    assert docs["utf16.txt"].raw_text.startswith("Beekeeping in Slovenia\n")
    assert "10,000 beekeepers" in docs["utf16.txt"].text
    assert docs["bom.txt"].raw_text.startswith("The Carniolan bee\n")
    assert docs["bom.txt"].title == "The Carniolan bee"


def test_markdown_keeps_its_raw_text(docs: dict[str, Document]) -> None:
    doc = docs["guide.md"]
    assert "**80 degrees Celsius**" in doc.raw_text
    assert "80 degrees Celsius" in doc.text and "**" not in doc.text
    assert doc.title == "Tea brewing guide"


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ("“Smart quotes” – cost €5…".encode("cp1252"), "“Smart quotes” – cost €5…"),
        ("Zürich, naïve façade, señor".encode("latin-1"), "Zürich, naïve façade, señor"),
        ("Big-endian UTF-16 text".encode("utf-16-be"), None),  # no mark: NUL bytes
        (b"\xfe\xff" + "Big-endian, marked".encode("utf-16-be"), "Big-endian, marked"),
        ("Привет, как дела? Это тест.".encode("cp1251"), "Привет, как дела? Это тест."),
    ],
    ids=["cp1252", "latin-1", "utf16-without-bom", "utf16-be-bom", "cp1251"],
)
def test_decode_text(data: bytes, text: str | None) -> None:
    if text is None:
        with pytest.raises(UnreadableFile, match="binary"):
            decode_text(data)
    else:
        assert decode_text(data).text == text


def test_mostly_control_characters_are_binary() -> None:
    with pytest.raises(UnreadableFile, match="binary"):
        decode_text(bytes(range(1, 32)) * 20 + b"a few letters")


# --- PDF pages --------------------------------------------------------------------------------


def test_pdf_text_and_page_starts(docs: dict[str, Document]) -> None:
    doc = docs["reports/lighthouse.pdf"]
    assert len(doc.page_starts) == 2 and doc.page_starts[0] == 0
    second = doc.raw_text.index("Gull Point Light")
    first = doc.raw_text.index("Margaret Quill")
    assert doc.page_at(first) == 1
    assert doc.page_at(second) == 2
    assert doc.raw_text[doc.page_starts[1] :].startswith("Gull Point Light")
    assert "founded in 1887" in doc.text  # the line break pypdf keeps is unwrapped
    assert doc.title == doc.raw_text[: len(doc.title)].rstrip("…")
    assert docs["notes/glacier.txt"].page_starts == ()
    assert docs["notes/glacier.txt"].page_at(5) is None


def test_page_of() -> None:
    assert page_of((), 10) is None
    assert [page_of((0, 100, 250), at) for at in (0, 99, 100, 249, 250, 10_000)] == [
        1,
        1,
        2,
        2,
        3,
        3,
    ]
    assert page_of((0, 0, 50), 0) == 2  # an empty first page starts where the second does


# --- HTML -------------------------------------------------------------------------------------


def test_html_keeps_the_article_and_drops_the_furniture(docs: dict[str, Document]) -> None:
    doc = docs["web/ferry.html"]
    assert doc.title == "The Saltmarsh ferry"
    for kept in ("300 passengers between Harwick and Elden Island", "Crossing time: 40 minutes"):
        assert kept in doc.raw_text
    for dropped in (
        "trackingSecret",
        "zebra-42",
        "font-family",
        "site banner",
        "Home",
        "Subscribe today",
        "Breadcrumb",
        "pizzas",
        "enable JavaScript",
        "Sign me up",
        "Copyright",
        "injected footer",
    ):
        assert dropped not in doc.raw_text, dropped
    # Blocks are paragraphs: two sentences without a full stop never run together.
    assert "in Glasgow\n\nIts captain is Morag Finlay" in doc.raw_text


def test_html_blocks_inline_markup_and_whitespace() -> None:
    text, title = html_to_text(
        "<title> Page </title><div>First <b>bold</b>\n   block</div><div>Second<br>line</div>"
        "<table><tr><th>Name</th><td>Value</td></tr></table><pre>a  b</pre>"
    )
    assert text == "First bold block\n\nSecond\nline\n\nName | Value\n\na  b"
    assert title == "Page"


def test_html_in_a_declared_legacy_charset(tmp_path: Path) -> None:
    page = '<html><head><meta charset="windows-1252"></head><body><p>Crème brûlée</p></body></html>'
    (tmp_path / "page.htm").write_bytes(page.encode("cp1252"))
    (doc,) = load_corpus(tmp_path)
    assert doc.raw_text == "Crème brûlée"


# --- DOCX -------------------------------------------------------------------------------------


def test_docx_paragraphs_and_table_cells(docs: dict[str, Document]) -> None:
    doc = docs["docs/orchard.docx"]
    assert doc.title == "Orchard harvest report"
    assert "The Hillside orchard harvested 12 tonnes of apples in 2023." in doc.raw_text
    assert "Variety | Trees\n\nBramley | 140\n\nCox | 95" in doc.raw_text


# --- answers over the mixed folder ------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed_pipeline(mixed: Path, tmp_path_factory: pytest.TempPathFactory) -> QAPipeline:
    settings = Settings(corpus=mixed, index_dir=tmp_path_factory.mktemp("mixed-index"))
    build_index(settings, progress=False)
    return QAPipeline.load(settings)


@pytest.mark.parametrize(
    ("question", "doc_id", "words"),
    [
        ("How many passengers does the Saltmarsh ferry carry?", "web/ferry.html", "300"),
        ("How many tonnes of apples did the Hillside orchard harvest?", "docs/orchard.docx", "12"),
        ("Who owns the café on Rue Verte?", "latin1.txt", "Hélène Dubois"),
    ],
)
def test_answers_quote_the_extracted_text_exactly(
    mixed_pipeline: QAPipeline, question: str, doc_id: str, words: str
) -> None:
    answer = mixed_pipeline.ask(question, 5)
    assert answer.answerable and answer.citations, answer
    cite = answer.citations[0]
    assert cite.doc_id == doc_id
    assert words in cite.quote
    assert mixed_pipeline.document_text(doc_id)[cite.start : cite.end] == cite.quote
    assert cite.page is None


def test_pdf_citation_carries_its_page(mixed_pipeline: QAPipeline) -> None:
    answer = mixed_pipeline.ask("How tall is Gull Point Light?", 5)
    assert answer.answerable and answer.citations, answer
    cite = answer.citations[0]
    assert cite.doc_id == "reports/lighthouse.pdf"
    text = mixed_pipeline.document_text(cite.doc_id)
    assert text[cite.start : cite.end] == cite.quote and "41 metres" in cite.quote
    assert cite.page == 2
    assert cite.to_dict()["page"] == 2
