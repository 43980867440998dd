"""Error responses written straight to a socket, for errors the server meets before the app runs.

They carry the API's error shape, ``{"error": {"code", "message"}}``, so a client parses a 414
from gunicorn the way it parses a 400 from Flask.
"""

from __future__ import annotations

import json
from http import HTTPStatus

# Codes as qa.serve.api names them; the reason phrases are RFC 9110's.
_CODES = {
    400: ("bad_request", "Bad Request"),
    403: ("forbidden", "Forbidden"),
    408: ("request_timeout", "Request Timeout"),
    413: ("payload_too_large", "Content Too Large"),
    414: ("uri_too_long", "URI Too Long"),
    417: ("expectation_failed", "Expectation Failed"),
    431: ("request_header_fields_too_large", "Request Header Fields Too Large"),
    500: ("internal_error", "Internal Server Error"),
    501: ("not_implemented", "Not Implemented"),
    503: ("service_unavailable", "Service Unavailable"),
}


def error_code(status: int) -> str:
    """The API's error code for an HTTP status."""
    if status in _CODES:
        return _CODES[status][0]
    return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")


def error_response(status: int, message: str) -> bytes:
    """A complete HTTP/1.1 response carrying ``message`` as a JSON error; it closes the connection."""
    reason = _CODES[status][1] if status in _CODES else HTTPStatus(status).phrase
    body = json.dumps(
        {"error": {"code": error_code(status), "message": message}}, separators=(",", ":")
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def status_of(response: bytes) -> int:
    """The status code in a raw response's status line (500 if there is none)."""
    try:
        return int(response.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 500
