"""Reading a corpus into Documents: one reader per format, decoding, and the skipped-files report.

``corpus``     folders, single files and SQuAD JSON → ``Corpus(documents, skipped)``
``formats``    one reader per format (.txt/.md, .pdf, .html/.htm, .docx) → ``Extracted`` text
``html_text``  HTML → visible article text, blocks kept as paragraphs
``encoding``   bytes → text (byte-order marks, UTF-8, detected legacy encodings); binary refused
``limits``     what one document may inflate to, parse and hold (QA_MAX_*); past it, skipped
``documents``  text → ``Document`` (cleaned, with the offset map), titles, fingerprints
"""

from __future__ import annotations

from qa.ingest.corpus import Corpus, load_corpus, read_document, scan_corpus
from qa.ingest.documents import (
    TEXT_RULES,
    corpus_fingerprint,
    derive_title,
    make_document,
    sha256_text,
)
from qa.ingest.formats import SUPPORTED_SUFFIXES, TEXT_SUFFIXES, Extracted, read_file
from qa.ingest.limits import ReadLimits
from qa.schema import SkippedFile

__all__ = [
    "SUPPORTED_SUFFIXES",
    "TEXT_RULES",
    "TEXT_SUFFIXES",
    "Corpus",
    "Extracted",
    "ReadLimits",
    "SkippedFile",
    "corpus_fingerprint",
    "derive_title",
    "load_corpus",
    "make_document",
    "read_document",
    "read_file",
    "scan_corpus",
    "sha256_text",
]
