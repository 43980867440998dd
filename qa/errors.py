"""The exceptions qa raises on purpose.

QAError                      base; every message says what to do next
├── InvalidRequest           a question or parameter the service will not take (HTTP 400)
├── DocumentNotFound         unknown or unsafe document id (HTTP 404)
├── CorpusError              the corpus folder or file cannot be read or holds no documents
├── DependencyMissing        the bundled model or offline tokenizer is not installed
└── IndexUnavailable         no usable index (HTTP 503)
    └── IndexMismatch        an index built with other settings, or damaged: rebuild it
"""

from __future__ import annotations


class QAError(Exception):
    """Base class: an error the user can act on."""

    code = "qa_error"


class InvalidRequest(QAError):
    code = "invalid_request"


class DocumentNotFound(QAError):
    code = "not_found"


class CorpusError(QAError):
    code = "corpus_error"


class DependencyMissing(QAError):
    code = "dependency_missing"


class IndexUnavailable(QAError):
    code = "index_unavailable"


class IndexMismatch(IndexUnavailable):
    code = "index_mismatch"
