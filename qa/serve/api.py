"""The HTTP API: a Flask app factory; the only module that imports flask."""

from __future__ import annotations

import hmac
import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request, send_from_directory
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestTimeout

from qa.batch import ask_batch, checked_questions
from qa.config import Settings
from qa.errors import (
    DependencyMissing,
    DocumentNotFound,
    DocumentTooLarge,
    IndexUnavailable,
    InvalidRequest,
    NotAuthorized,
    QAError,
    UpdateRefused,
    UpdatesOff,
)
from qa.filters import NO_MATCH_MESSAGE
from qa.pipeline import QAPipeline
from qa.serve.live import LivePipeline
from qa.updates import checked_doc_id, delete_document, is_text_id, put_document

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024
STATIC_FOLDER = str(Path(__file__).resolve().parent.parent / "static")  # qa/static: the page
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # PUT /api/documents/<id>: a whole PDF or DOCX
MAX_BATCH_BODY_BYTES = 1024 * 1024  # POST /api/ask/batch: 64 questions of up to 2,000 characters
_STATUS = {
    InvalidRequest: 400,
    NotAuthorized: 401,
    UpdatesOff: 403,
    DocumentNotFound: 404,
    UpdateRefused: 409,
    DocumentTooLarge: 413,  # an upload past QA_MAX_INFLATED_MB, _TEXT_CHARS or _MARKUP_NODES
    IndexUnavailable: 503,
    DependencyMissing: 503,
}
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

bp = Blueprint("qa", __name__)


def create_app(
    test_config: dict[str, Any] | None = None, pipeline: QAPipeline | None = None
) -> Flask:
    """Build the app; the index and model load here, once per process.

    ``test_config`` may hold ``QA_SETTINGS`` (a ``Settings``) and any Flask config keys. Without
    an index the app still starts and answers 503 with how to build one.
    """
    app = Flask(__name__, static_folder=STATIC_FOLDER)
    # Werkzeug answers "//" in a path (/api/documents//etc/passwd, or %2F decoded to "/") with a
    # 308 redirect and an HTML body, and Flask sends routing redirects past the error handlers.
    # Unmerged, such a path is a JSON 404 like any other unknown route or document.
    app.url_map.merge_slashes = False
    app.config.from_mapping(MAX_CONTENT_LENGTH=MAX_BODY_BYTES)
    if test_config:
        app.config.update(test_config)
    settings = app.config.get("QA_SETTINGS") or Settings.from_env()
    app.config["QA_SETTINGS"] = settings
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]  (Flask 3 ignores JSON_SORT_KEYS)
    # A given pipeline is served as it is (tests); otherwise the live build, reloaded on change.
    app.extensions["qa"] = pipeline or LivePipeline(settings)
    app.register_blueprint(bp)
    app.register_error_handler(QAError, _qa_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _pipeline() -> QAPipeline:
    served = current_app.extensions["qa"]
    return served.get() if isinstance(served, LivePipeline) else served


def _json_body() -> dict[str, Any]:
    """The request's JSON object; 415/400/413 for anything else."""
    if not request.is_json:
        raise _Unsupported()
    raw = _read_body()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the body is not valid JSON ({exc})") from None
    except RecursionError:  # e.g. [[[[...]]]] a thousand deep: 2 KB that would be a 500
        raise InvalidRequest("the body's JSON is nested too deeply") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    return body


def _read_body() -> bytes:
    """The raw body; 413 past MAX_CONTENT_LENGTH, 408 when the client stops sending it."""
    try:
        return request.get_data(cache=False)
    except ClientDisconnected as exc:
        # The server's socket timeout (qa.serve) fired while the client still owed body bytes.
        if isinstance(exc.__context__, TimeoutError):
            raise RequestTimeout("the request body did not arrive in time") from None
        raise


class _Unsupported(QAError):
    code = "unsupported_media_type"

    def __init__(self) -> None:
        super().__init__("send the body as JSON with 'Content-Type: application/json'")


@bp.get("/")
def page() -> Any:
    """The browser page."""
    return send_from_directory(current_app.static_folder or "static", "index.html")


# Answers ``POST /api/ask`` gives when the request does not say ("answers"): the best and two
# other possible ones, as the page shows them.
ANSWERS = 3


@bp.post("/api/ask")
def ask() -> Any:
    body = _json_body()
    if "question" not in body:
        raise InvalidRequest("'question' is required")
    answer = _pipeline().ask(
        body["question"], body.get("top_k"), body.get("answers", ANSWERS), body.get("filters")
    )
    return jsonify(answer.to_dict())


@bp.post("/api/ask/batch")
def ask_batch_route() -> Any:
    """Many questions: one line of JSON per question, in order, each sent when it is ready."""
    request.max_content_length = MAX_BATCH_BODY_BYTES
    body = _json_body()
    if "questions" not in body:
        raise InvalidRequest("'questions' is required")
    items = ask_batch(
        _pipeline(),
        checked_questions(body["questions"]),
        body.get("top_k"),
        body.get("answers", ANSWERS),
        body.get("filters"),
    )
    lines = (json.dumps(item.to_dict(), ensure_ascii=False) + "\n" for item in items)
    return current_app.response_class(lines, mimetype="application/x-ndjson")


@bp.post("/api/search")
def search() -> Any:
    body = _json_body()
    if "query" not in body:
        raise InvalidRequest("'query' is required")
    pipeline = _pipeline()
    hits = pipeline.search(body["query"], body.get("top_k"), body.get("filters"))
    found: dict[str, Any] = {"passages": [h.to_dict() for h in hits]}
    within = pipeline.allowed_rows(body.get("filters")) if not hits else None
    if within is not None and within.empty:  # said, as /api/ask says it
        found["message"] = NO_MATCH_MESSAGE
    return jsonify(found)


@bp.get("/api/health")
def health() -> Any:
    body = _pipeline().health()
    served = current_app.extensions["qa"]
    if isinstance(served, LivePipeline) and served.error is not None:
        # A newer build failed to load: this one still answers, but say so.
        body["status"] = "degraded"
        body["index_error"] = str(served.error)
    return jsonify(body)


@bp.get("/api/documents")
def documents() -> Any:
    return jsonify({"documents": [d.to_dict() for d in _pipeline().documents()]})


@bp.get("/api/documents/<path:doc_id>")
def document(doc_id: str) -> Any:
    # Documents are served from the loaded index, never from the file system, so no id can
    # reach outside the corpus.
    title, text = _pipeline().document(doc_id)
    return jsonify({"doc_id": doc_id, "title": title, "text": text})


@bp.put("/api/documents/<path:doc_id>")
def put_document_route(doc_id: str) -> Any:
    """Add or replace a document: ``{"text": ..., "meta": {...}}`` (text formats), a multipart
    upload in the field ``file`` (its metadata as JSON in the field ``meta``), or the file's
    bytes as the body (``application/octet-stream``)."""
    settings = _require_admin()
    checked_doc_id(doc_id)  # a bad id is named before the body is looked at
    request.max_content_length = MAX_UPLOAD_BYTES
    meta: object = None
    if request.is_json:
        body = _json_body()
        text, meta = body.get("text"), body.get("meta")
        if not isinstance(text, str):
            raise InvalidRequest("'text' (a string) is required in a JSON body")
        if not is_text_id(doc_id):
            raise InvalidRequest(
                f"{doc_id!r} is not a text document: upload the file itself (multipart field "
                "'file', or the bytes with Content-Type: application/octet-stream)"
            )
        data = text.encode("utf-8")
    elif request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise InvalidRequest("a multipart upload needs the file in the field 'file'")
        data = upload.read()
        meta = _form_meta(request.form.get("meta"))
    else:
        data = _read_body()
    result = put_document(settings, doc_id, data, embedder=_embedder(), meta=meta)
    _reload()
    return jsonify(result.to_dict()), 201 if result.status == "created" else 200


def _form_meta(field: str | None) -> object:
    """A multipart upload's ``meta`` field: the document's metadata as JSON (None without)."""
    if field is None:
        return None
    try:
        return json.loads(field)
    except ValueError as exc:
        raise InvalidRequest(f"the form field 'meta' is not JSON ({exc})") from None


@bp.delete("/api/documents/<path:doc_id>")
def delete_document_route(doc_id: str) -> Any:
    settings = _require_admin()
    result = delete_document(settings, doc_id, embedder=_embedder())
    _reload()
    return jsonify(result.to_dict())


def _require_admin() -> Any:
    """The settings, once the request carries the admin token; 403 while updates are off."""
    settings = current_app.config["QA_SETTINGS"]
    if not settings.admin_token:
        raise UpdatesOff(
            "document updates are off: start the server with QA_ADMIN_TOKEN set to turn them on"
        )
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), settings.admin_token.encode()
    ):
        raise NotAuthorized("send 'Authorization: Bearer <QA_ADMIN_TOKEN>' to change documents")
    return settings


def _embedder() -> Any:
    """The model the served pipeline already holds (no second copy), if one is loaded."""
    try:
        return _pipeline().embedder
    except IndexUnavailable:
        return None


def _reload() -> None:
    """This worker answers from the new build at once; the others within reload_seconds."""
    served = current_app.extensions["qa"]
    if isinstance(served, LivePipeline):
        served.refresh(force=True)


@bp.get("/api/openapi.json")
def openapi() -> Any:
    spec = resources.files("qa").joinpath("openapi.json").read_text(encoding="utf-8")
    return current_app.response_class(spec, mimetype="application/json")


def _error(status: int, code: str, message: str) -> Any:
    return jsonify({"error": {"code": code, "message": message}}), status


def _qa_error(exc: QAError) -> Any:
    if isinstance(exc, _Unsupported):
        return _error(415, exc.code, str(exc))
    status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 500)
    body, status = _error(status, exc.code, str(exc))
    if isinstance(exc, NotAuthorized):
        return body, status, {"WWW-Authenticate": 'Bearer realm="qa"'}
    return body, status


def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    messages = {
        404: "no such route or document",
        413: f"the request body is larger than {_body_limit() // 1024} KiB, this route's limit",
    }
    message = messages.get(status, exc.description or exc.name)
    response, status = _error(
        status, _HTTP_CODES.get(status, exc.name.lower().replace(" ", "_")), message
    )
    # Keep what the exception says in headers: Allow on a 405, Retry-After, WWW-Authenticate.
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response, status


def _body_limit() -> int:
    """The body limit of the request being answered (routes that take files or batches raise it)."""
    try:
        return int(request.max_content_length or MAX_BODY_BYTES)
    except RuntimeError:  # outside a request
        return MAX_BODY_BYTES


def _unexpected_error(exc: Exception) -> Any:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    log.exception("unexpected error on %s %s", request.method, request.path)
    return _error(500, "internal_error", "internal server error")
