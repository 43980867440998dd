"""The HTTP API: a Flask app factory; the only module that imports flask."""

from __future__ import annotations

import json
import logging
from importlib import resources
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException

from qa.config import Settings
from qa.errors import (
    DependencyMissing,
    DocumentNotFound,
    IndexUnavailable,
    InvalidRequest,
    QAError,
)
from qa.pipeline import QAPipeline

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024
_STATUS = {
    InvalidRequest: 400,
    DocumentNotFound: 404,
    IndexUnavailable: 503,
    DependencyMissing: 503,
}
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
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
    app = Flask(__name__)
    app.config.from_mapping(MAX_CONTENT_LENGTH=MAX_BODY_BYTES)
    if test_config:
        app.config.update(test_config)
    settings = app.config.get("QA_SETTINGS") or Settings.from_env()
    app.config["QA_SETTINGS"] = settings
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]  (Flask 3 ignores JSON_SORT_KEYS)
    app.extensions["qa"] = pipeline or _load_pipeline(settings)
    app.register_blueprint(bp)
    app.register_error_handler(QAError, _qa_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _load_pipeline(settings: Settings) -> QAPipeline | QAError:
    try:
        return QAPipeline.load(settings)
    except (IndexUnavailable, DependencyMissing) as exc:
        log.error("serving without an index: %s", exc)
        return exc


def _pipeline() -> QAPipeline:
    loaded = current_app.extensions["qa"]
    if isinstance(loaded, QAError):
        raise loaded
    return loaded


def _json_body() -> dict[str, Any]:
    """The request's JSON object; 415/400/413 for anything else."""
    if not request.is_json:
        raise _Unsupported()
    raw = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    return body


class _Unsupported(QAError):
    code = "unsupported_media_type"

    def __init__(self) -> None:
        super().__init__("send the body as JSON with 'Content-Type: application/json'")


@bp.get("/")
def page() -> Any:
    """The browser page."""
    return send_from_directory(current_app.static_folder or "static", "index.html")


@bp.post("/api/ask")
def ask() -> Any:
    body = _json_body()
    if "question" not in body:
        raise InvalidRequest("'question' is required")
    answer = _pipeline().ask(body["question"], body.get("top_k"))
    return jsonify(answer.to_dict())


@bp.post("/api/search")
def search() -> Any:
    body = _json_body()
    if "query" not in body:
        raise InvalidRequest("'query' is required")
    hits = _pipeline().search(body["query"], body.get("top_k"))
    return jsonify({"passages": [h.to_dict() for h in hits]})


@bp.get("/api/health")
def health() -> Any:
    return jsonify(_pipeline().health())


@bp.get("/api/documents")
def documents() -> Any:
    return jsonify({"documents": _pipeline().documents()})


@bp.get("/api/documents/<path:doc_id>")
def document(doc_id: str) -> Any:
    # Documents are served from the loaded index, never from the file system, so no id can
    # reach outside the corpus.
    title, text = _pipeline().document(doc_id)
    return jsonify({"doc_id": doc_id, "title": title, "text": text})


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
    return _error(status, exc.code, str(exc))


def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    messages = {
        404: "no such route or document",
        413: f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB",
    }
    message = messages.get(status, exc.description or exc.name)
    return _error(status, _HTTP_CODES.get(status, exc.name.lower().replace(" ", "_")), message)


def _unexpected_error(exc: Exception) -> Any:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    log.exception("unexpected error on %s %s", request.method, request.path)
    return _error(500, "internal_error", "internal server error")
