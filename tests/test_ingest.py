"""Reading a corpus: folders of .txt/.md files, SQuAD JSON, titles, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.errors import CorpusError
from qa.ingest import corpus_fingerprint, derive_title, load_corpus, make_document, sha256_text

FIXTURE_CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def squad(tmp_path: Path, data: object, name: str = "squad.json") -> Path:
    return write(tmp_path / name, json.dumps(data))


# --- folders ----------------------------------------------------------------------------------


def test_fixture_corpus_loads_nested_markdown_and_ignores_csv() -> None:
    docs = load_corpus(FIXTURE_CORPUS)
    assert [d.doc_id for d in docs] == ["nested/bees.md", "volcanoes.txt"]
    bees, volcanoes = docs
    assert bees.title == "Honey bees and their hives"  # the "# " marker is stripped
    assert volcanoes.title == "Iceland's restless volcanoes"
    assert bees.raw_text == (FIXTURE_CORPUS / "nested" / "bees.md").read_text(encoding="utf-8")
    assert "Subscribe" not in bees.text
    assert "Jane Roe" not in volcanoes.text
    assert "European airspace" in volcanoes.text


def test_folder_loading_rules(tmp_path: Path) -> None:
    write(tmp_path / "b.txt", "Plain headline\n\nBody of b.\n")
    write(tmp_path / "sub" / "deeper" / "a.md", "## Markdown Title\n\nBody of a.\n")
    write(tmp_path / "c.markdown", "Another one\n\nBody of c.\n")
    write(tmp_path / "d.TEXT", "Upper-case suffix\n\nBody of d.\n")
    write(tmp_path / ".hidden.txt", "hidden file\n")
    write(tmp_path / ".git" / "notes.txt", "inside a hidden folder\n")
    write(tmp_path / "sub" / ".cache" / "x.md", "hidden nested folder\n")
    write(tmp_path / "image.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    write(tmp_path / "data.csv", "a,b,c\n")
    write(tmp_path / "data.json", '{"data": []}')  # JSON inside a folder is not a document
    (tmp_path / "folder.txt").mkdir()  # a folder named like a text file
    docs = load_corpus(tmp_path)
    assert [d.doc_id for d in docs] == ["b.txt", "c.markdown", "d.TEXT", "sub/deeper/a.md"]
    by_id = {d.doc_id: d for d in docs}
    assert by_id["sub/deeper/a.md"].title == "Markdown Title"
    assert by_id["sub/deeper/a.md"].text == "Markdown Title\nBody of a."
    assert by_id["b.txt"].title == "Plain headline"
    assert by_id["b.txt"].text == "Plain headline\nBody of b."


def test_markdown_heading_is_not_stripped_from_txt(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "# Not markdown\n\nBody.\n")
    (doc,) = load_corpus(tmp_path)
    assert doc.title == "# Not markdown"


def test_documents_carry_a_valid_offset_map(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "# Title\n\nSome  body text, hyphen-\nated here.\n")
    (doc,) = load_corpus(tmp_path)
    assert len(doc.offsets) == len(doc.text)
    for ch, pos in zip(doc.text, doc.offsets, strict=True):
        if not ch.isspace():
            assert doc.raw_text[pos] == ch
    start = doc.text.index("Some")
    end = start + len("Some  body".replace("  ", " "))
    raw_start, raw_end = doc.raw_span(start, end)
    assert doc.raw_text[raw_start:raw_end] == "Some  body"


def test_damaged_utf8_is_replaced_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(
        tmp_path / "bad.txt", "Café headline\n\nStill readable naïve text.\n".encode() + b"\xff\n"
    )
    (doc,) = load_corpus(tmp_path)
    assert "\ufffd" in doc.raw_text
    assert doc.title == "Café headline"  # UTF-8, not cp1252 "CafÃ©"
    assert "Still readable naïve text." in doc.text
    assert "bad.txt" in caplog.text and "U+FFFD" in caplog.text


def test_bytes_that_are_not_utf8_are_decoded_not_replaced(tmp_path: Path) -> None:
    write(tmp_path / "bad.txt", b"Bad \xff\xfe bytes in a headline\n\nStill readable text.\n")
    (doc,) = load_corpus(tmp_path)
    assert "\ufffd" not in doc.raw_text
    assert "Still readable text." in doc.text


def test_documents_are_sorted_by_doc_id(tmp_path: Path) -> None:
    for name in ["z.txt", "a.txt", "m/b.txt", "B.txt"]:
        write(tmp_path / name, f"Document {name}\n\nText.\n")
    ids = [d.doc_id for d in load_corpus(tmp_path)]
    assert ids == sorted(ids)


# --- titles -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Iceland's restless volcanoes\nBody.", "Iceland's restless volcanoes"),
        ("A headline: with a colon inside\nBody.", "A headline: with a colon inside"),
        ("Short sentence. And more.", "Short sentence."),
        ("Ends with a colon:\nBody.", "Ends with a colon:"),
        ("", ""),
    ],
)
def test_derive_title(text: str, title: str) -> None:
    assert derive_title(text) == title


def test_long_first_sentence_title_is_truncated_at_a_word() -> None:
    text = (
        "BRUSSELS — As NATO and Russia prepare for a June meeting of defense ministers, Moscow is "
        "laying out its concerns with Western missile defense plans. Next sentence."
    )
    title = derive_title(text)
    assert title.endswith("…")
    assert len(title) <= 81
    assert text.startswith(title[:-1])
    assert title[:-1] == title[:-1].rstrip()
    assert title == "BRUSSELS — As NATO and Russia prepare for a June meeting of defense ministers…"


def test_headline_longer_than_twenty_words_is_not_a_headline() -> None:
    line = " ".join(f"word{i}" for i in range(25))
    title = derive_title(line + "\nBody.")
    assert title.endswith("…") and len(title) <= 81


def test_title_falls_back_to_doc_id_for_empty_text() -> None:
    doc = make_document("empty.txt", "   \n\n ")
    assert doc.title == "empty.txt"
    assert doc.text == ""


# --- SQuAD -------------------------------------------------------------------------------------


def test_squad_paragraphs_become_documents(tmp_path: Path) -> None:
    path = squad(
        tmp_path,
        {
            "version": "v2.0",
            "data": [
                {
                    "title": "Super_Bowl_50",
                    "paragraphs": [
                        {"context": "Super Bowl 50 was played in 2016.", "qas": []},
                        {"context": "The Broncos won.", "qas": []},
                    ],
                },
                {
                    "title": "Apollo",
                    "paragraphs": [{"context": "Apollo 11 landed in 1969.", "qas": []}],
                },
            ],
        },
    )
    docs = load_corpus(path)
    assert [d.doc_id for d in docs] == ["Apollo/0", "Super_Bowl_50/0", "Super_Bowl_50/1"]
    by_id = {d.doc_id: d for d in docs}
    assert by_id["Super_Bowl_50/1"].title == "Super Bowl 50"
    assert by_id["Super_Bowl_50/1"].raw_text == "The Broncos won."
    assert by_id["Apollo/0"].text == "Apollo 11 landed in 1969."


def test_squad_fixture_file_loads() -> None:
    docs = load_corpus(FIXTURE_CORPUS.parent / "eval" / "squad-mini.json")
    assert docs and all("/" in d.doc_id for d in docs)
    assert any(d.doc_id == "Tiny_Town/0" and d.title == "Tiny Town" for d in docs)


# --- errors -----------------------------------------------------------------------------------


def test_missing_path_is_a_corpus_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="not found"):
        load_corpus(tmp_path / "nope")


def test_empty_folder_is_a_corpus_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"no documents .*\.txt, \.md, \.pdf, \.html or \.docx"):
        load_corpus(tmp_path)


def test_folder_with_only_ignored_files_is_a_corpus_error(tmp_path: Path) -> None:
    write(tmp_path / "notes.csv", "a,b\n")
    write(tmp_path / ".hidden.md", "# Hidden\n")
    with pytest.raises(
        CorpusError, match=r"no documents.*1 file skipped: notes\.csv \(unsupported"
    ):
        load_corpus(tmp_path)


@pytest.mark.parametrize(
    "content",
    ["{bad json", "", "[1, 2]", '{"version": "v2.0"}', "\xff"],
    ids=["syntax", "empty", "list", "no-data", "not-utf8"],
)
def test_bad_json_file_is_a_corpus_error(tmp_path: Path, content: str) -> None:
    path = write(tmp_path / "bad.json", content.encode("latin-1"))
    with pytest.raises(CorpusError, match="not a SQuAD-format JSON file"):
        load_corpus(path)


def test_squad_with_no_paragraphs_is_a_corpus_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no documents"):
        load_corpus(squad(tmp_path, {"data": []}))


@pytest.mark.parametrize(
    "data",
    [
        {"data": [{"title": "T", "paragraphs": [{"text": "no context key"}]}]},
        {"data": 5},
        {"data": [1]},
        {"data": [{"title": "T", "paragraphs": [{"context": 5}]}]},
    ],
    ids=["no-context", "data-not-list", "article-not-object", "context-not-string"],
)
def test_malformed_squad_structure_is_a_corpus_error(tmp_path: Path, data: object) -> None:
    with pytest.raises(CorpusError, match="not a SQuAD-format JSON file"):
        load_corpus(squad(tmp_path, data))


# --- fingerprint ------------------------------------------------------------------------------


def test_fingerprint_changes_with_the_text(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "Alpha\n\nOne.\n")
    before = corpus_fingerprint(load_corpus(tmp_path))
    assert before == {"a.txt": sha256_text("Alpha\n\nOne.\n")}
    write(tmp_path / "a.txt", "Alpha\n\nTwo.\n")
    assert corpus_fingerprint(load_corpus(tmp_path)) != before
