"""The exceptions qa raises on purpose.

QAError                      base; every message says what to do next
├── InvalidRequest           a question or parameter the service will not take (HTTP 400)
├── DocumentNotFound         unknown or unsafe document id (HTTP 404)
├── CorpusError              the corpus folder or file cannot be read or holds no documents
│   └── UnreadableFile       one file is skipped: unsupported, binary, empty, encrypted, no text
│       └── DocumentTooLarge past QA_MAX_INFLATED_MB, _TEXT_CHARS or _MARKUP_NODES (upload: 413)
├── InvalidSetting           a setting, QA_* variable or model file qa cannot use (also a ValueError)
├── DependencyMissing        the bundled model or offline tokenizer is not installed
├── NotAuthorized            a document update without the admin token (HTTP 401)
├── UpdatesOff               document updates while no admin token is configured (HTTP 403)
├── UpdateRefused            an update the corpus cannot take (a SQuAD-file corpus) (HTTP 409)
├── RayJobFailed             `qa index --ray`: no Ray cluster at the address, or its job failed
├── DiskFull                 the disk (or quota) filled while writing a build; the old one stays live
├── ClientError              chat or eval could not get what it asked a qa service for
│   ├── ServerUnreachable    no reply over HTTP: connection refused, timed out, a broken transfer
│   ├── BadResponse          a reply no working qa server gives: not qa JSON, a 5xx, a 405
│   └── RequestRejected      the service refused this one question or document id (a 4xx)
├── EvalError                an evaluation cannot start from what it was given
│   ├── QuestionFileError    a question file missing, unreadable or malformed (also a ValueError)
│   ├── BaselineError        a --baseline that is not an evaluation's report.json (also a ValueError)
│   └── RunMismatch          --out holds a run with other settings or index (pass --fresh)
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


class UnreadableFile(CorpusError):
    """One corpus file cannot be indexed; its message is the reason listed for it, not fatal."""

    code = "unreadable_file"


class DocumentTooLarge(UnreadableFile):
    """One file would take more to read than a document may: it inflates (a DOCX's parts, a
    PDF's pages) or parses past ``QA_MAX_INFLATED_MB``, its markup has more nodes than
    ``QA_MAX_MARKUP_NODES``, or its text more characters than ``QA_MAX_TEXT_CHARS``. Skipped by
    a build; an upload of it is refused with a 413."""

    code = "document_too_large"


class InvalidSetting(QAError, ValueError):
    """A setting, environment variable or model file qa cannot use (also a ValueError)."""

    code = "invalid_setting"


class NotAuthorized(QAError):
    code = "unauthorized"


class UpdatesOff(QAError):
    code = "updates_off"


class UpdateRefused(QAError):
    code = "update_refused"


class RayJobFailed(QAError):
    """The Ray cluster could not be reached or the embedding job failed; nothing was written."""

    code = "ray_job_failed"


class IndexNotWritable(QAError):
    """The index folder (or a file the build needs) could not be written for a reason other than
    space: permissions, a read-only file system. Nothing was replaced."""

    code = "index_not_writable"


class DiskFull(QAError):
    """No space (or quota) left to write a build: nothing was replaced, the previous index is
    still the live one."""

    code = "disk_full"


class DependencyMissing(QAError):
    code = "dependency_missing"


class IndexUnavailable(QAError):
    code = "index_unavailable"


class IndexMismatch(IndexUnavailable):
    code = "index_mismatch"


class ClientError(QAError):
    """A client (``qa.clients``) could not get what it asked for.

    ``str(exc)`` is the sentence for a person; ``url`` is the server's base URL (None in-process),
    ``status`` the HTTP status when a server replied, and ``detail`` the short form a list of
    failures shows: the server's own message, the transport's reason ("connection refused"), or
    the pipeline's error code and message.
    """

    code = "client_error"

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.detail = message if detail is None else detail


class ServerUnreachable(ClientError):
    code = "server_unreachable"


class BadResponse(ClientError):
    code = "bad_response"


class RequestRejected(ClientError):
    """One question or document the service refused; a chat or an evaluation goes on."""

    code = "request_rejected"


class EvalError(QAError):
    code = "eval_error"


class QuestionFileError(EvalError, ValueError):
    code = "question_file"


class BaselineError(EvalError, ValueError):
    code = "baseline"


class RunMismatch(EvalError):
    code = "run_mismatch"
