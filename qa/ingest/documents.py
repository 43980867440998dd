"""Text → ``Document``: cleaning with the offset map, the title, and the corpus fingerprint."""

from __future__ import annotations

import hashlib

from qa.ingest.cleaning import CleanText, clean
from qa.ingest.metadata import front_matter
from qa.schema import Document
from qa.text import split_sentences

# The rules that turn a file's text into sentences: cleaning (``qa.ingest.cleaning``) and
# splitting (``qa.text.split_sentences``). A document's checksum is of its text, so a change of
# rules alone would leave an index's sentences as the old rules cut them: bump this when the
# rules change what a document's sentences are, and the next ``qa index`` re-splits every one.
# 2: papers' reference abbreviations ("et al.", "Eq.") end no sentence; a compound broken at its
# own hyphen at a line end keeps the hyphen where the document writes it so within a line.
# 3: a Markdown file's front matter is its metadata, not text (``qa.ingest.metadata``); a web
# address in a title heads no passage the encoders read (``qa.text.titled``).
TEXT_RULES = 3
_TITLE_MAX_WORDS = 20
_FALLBACK_TITLE_CHARS = 80


def make_document(
    doc_id: str,
    raw: str,
    *,
    title: str | None = None,
    markdown: bool = False,
    page_starts: tuple[int, ...] = (),
) -> Document:
    """Clean ``raw`` and wrap it as a Document; the title comes from its first headline.

    Markdown's front matter becomes the document's ``meta``, and its text starts after it (the
    offsets still point into the whole ``raw``, front matter included).
    """
    fields, body = front_matter(raw) if markdown else ({}, 0)
    cleaned = clean(raw[body:], markdown=markdown)
    if body:
        cleaned = CleanText(cleaned.text, tuple(o + body for o in cleaned.offsets))
    return Document(
        doc_id=doc_id,
        title=title or derive_title(cleaned.text) or doc_id,
        raw_text=raw,
        text=cleaned.text,
        offsets=cleaned.offsets,
        page_starts=page_starts,
        meta=fields,
    )


def corpus_fingerprint(docs: list[Document]) -> dict[str, str]:
    """``doc_id -> sha256`` of each document's raw text: what decides whether an index is stale."""
    return {d.doc_id: sha256_text(d.raw_text) for d in docs}


def sha256_text(text: str) -> str:
    """Hex sha256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def derive_title(text: str) -> str:
    """The first paragraph if it reads as a headline, else the start of the first sentence."""
    first_para = text.split("\n", 1)[0].strip()
    if not first_para:
        return ""
    n_words = len(first_para.split())
    if n_words <= _TITLE_MAX_WORDS and not first_para.endswith((".", "!", ",", ";", ":")):
        return first_para
    spans = split_sentences(text)
    sentence = text[spans[0][0] : spans[0][1]] if spans else first_para
    if len(sentence) <= _FALLBACK_TITLE_CHARS:
        return sentence
    return sentence[:_FALLBACK_TITLE_CHARS].rsplit(" ", 1)[0].rstrip(",;:—-– ") + "…"
