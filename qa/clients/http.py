"""The HTTP client: a running qa server (``make run``), one ``requests`` session per thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from qa.clients.base import DocumentText, in_batches
from qa.errors import BadResponse, ClientError, InvalidSetting, RequestRejected, ServerUnreachable
from qa.schema import Answer, BatchItem, DocumentSummary


class HttpClient:
    """Answers from a qa server at ``url`` (``host:port`` or ``http://host:port/...``)."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        self.base_url = normalise_url(url)
        self.description = f"server {self.base_url}"
        self.timeout = timeout
        self._local = threading.local()  # requests.Session is not documented as thread-safe
        self._titles: dict[str, str] | None = None

    def health(self) -> dict[str, Any]:
        """``GET /api/health``; also the first check that a qa server is there at all."""
        return self._get("/api/health")

    def ask(
        self, question: str, top_k: int, answers: int = 1, filters: Mapping[str, Any] | None = None
    ) -> Answer:
        """``POST /api/ask``, read back into an ``Answer``."""
        payload: dict[str, Any] = {"question": question, "top_k": top_k, "answers": answers}
        if filters is not None:  # sent only when given: other requests stay as they were
            payload["filters"] = dict(filters)
        body = self._post("/api/ask", payload)
        try:
            return Answer.from_dict(body)
        except ValueError as exc:
            raise self._not_qa(self.base_url + "/api/ask", 200, str(exc)) from exc

    def ask_many(
        self,
        questions: Sequence[str],
        top_k: int,
        answers: int = 1,
        filters: Mapping[str, Any] | None = None,
    ) -> Iterator[BatchItem]:
        """``POST /api/ask/batch``, in batches of at most 64, each line read as it arrives."""
        for start, part in in_batches(questions):
            payload: dict[str, Any] = {"questions": part, "top_k": top_k, "answers": answers}
            if filters is not None:
                payload["filters"] = dict(filters)
            for line in self._stream("/api/ask/batch", payload):
                try:
                    item = BatchItem.from_dict(line)
                except ValueError as exc:
                    raise self._not_qa(self.base_url + "/api/ask/batch", 200, str(exc)) from exc
                yield replace(item, index=item.index + start)

    def _stream(self, path: str, payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """POST ``payload`` and yield each line of the NDJSON answer as it arrives; a refusal
        of the whole request raises as ``_send`` would."""
        url = self.base_url + path
        resp = self._send_raw(
            path, lambda s, u: s.post(u, json=payload, timeout=self.timeout, stream=True)
        )
        with resp:
            if resp.status_code >= 400:
                try:
                    body = resp.json()
                except ValueError as exc:
                    raise self._not_qa(url, resp.status_code, _text_line(resp)) from exc
                raise _http_error(self.base_url, resp.status_code, body, resp)
            try:
                for raw in resp.iter_lines():
                    if raw:
                        yield json.loads(raw)
            except (ValueError, requests.exceptions.RequestException) as exc:
                raise self._not_qa(url, resp.status_code, f"a broken line: {exc}") from exc

    def document(self, doc_id: str) -> DocumentText:
        """``GET /api/documents/<doc_id>``."""
        path = document_path(doc_id)
        body = self._get(path)
        try:
            return DocumentText.from_dict(body, doc_id)
        except ValueError as exc:
            raise self._not_qa(self.base_url + path, 200, str(exc)) from exc

    def titles(self) -> dict[str, str]:
        """Titles by doc id from ``GET /api/documents``, read once."""
        if self._titles is None:
            body = self._get("/api/documents")
            try:
                listed = [DocumentSummary.from_dict(d) for d in body.get("documents", [])]
            except (KeyError, TypeError, ValueError) as exc:
                url = self.base_url + "/api/documents"
                raise self._not_qa(url, 200, f"a document without its id: {exc}") from exc
            self._titles = {d.doc_id: d.title for d in listed}
        return self._titles

    def _session(self) -> Any:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def _get(self, path: str) -> dict[str, Any]:
        return self._send(path, lambda s, url: s.get(url, timeout=self.timeout))

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self._send(path, lambda s, url: s.post(url, json=payload, timeout=self.timeout))

    def _send(self, path: str, call: Callable[[Any, str], Any]) -> dict[str, Any]:
        """One request; every way it can fail becomes a ``ClientError``."""
        url = self.base_url + path
        resp = self._send_raw(path, call)
        status = resp.status_code
        try:
            body = resp.json()
        except ValueError as exc:
            raise self._not_qa(url, status, _text_line(resp)) from exc
        if status >= 400:
            raise _http_error(self.base_url, status, body, resp)
        if not isinstance(body, dict):
            raise self._not_qa(url, status, "not a JSON object")
        return body

    def _send_raw(self, path: str, call: Callable[[Any, str], Any]) -> Any:
        """The response to one request; failing to reach the server is a ``ServerUnreachable``."""
        url, base = self.base_url + path, self.base_url
        try:
            return call(self._session(), url)
        except requests.exceptions.ConnectionError as exc:
            raise ServerUnreachable(
                f"cannot reach the qa server at {base} (is it running? `make run`)",
                url=base,
                detail=_reason(exc),
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise ServerUnreachable(
                f"the qa server at {base} did not answer in time", url=base, detail="timed out"
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise ServerUnreachable(
                f"request to {url} failed: {exc}", url=base, detail=_reason(exc)
            ) from exc

    def _not_qa(self, url: str, status: int, detail: str) -> ClientError:
        return BadResponse(
            f"{url} answered HTTP {status} without qa JSON; is that a qa server?",
            url=self.base_url,
            status=status,
            detail=detail if status >= 400 else f"not qa JSON: {detail}",
        )


def document_path(doc_id: str) -> str:
    """The route of one document: ids may hold ``/``, which stays a path separator, and every
    other reserved character is quoted (``a?b#c.txt`` → ``a%3Fb%23c.txt``).
    """
    return "/api/documents/" + quote(doc_id, safe="/")


def _http_error(base: str, status: int, body: Any, resp: Any) -> ClientError:
    """The API's ``{"error": {...}}`` body as the right exception."""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    text = f"server said: {message}" if message else f"server answered HTTP {status}"
    detail = str(message) if message else _text_line(resp)
    # 4xx other than 405 is about this one request; 5xx and 405 mean the server is not usable.
    kind = RequestRejected if 400 <= status < 500 and status != 405 else BadResponse
    return kind(text, url=base, status=status, detail=detail)


def _text_line(resp: Any) -> str:
    # An HTML error page or a stray body: one line of it is enough.
    return " ".join(str(getattr(resp, "text", "")).split())[:120]


def _reason(exc: Exception) -> str:
    # requests nests the useful part ("Connection refused") deep inside a long repr.
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out"):
        if marker in text:
            return marker.lower()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def normalise_url(url: str) -> str:
    """``host:port`` or ``http://host:port/`` → ``http://host:port``; ``InvalidSetting`` otherwise."""
    raw = url.strip()
    candidate = raw if "://" in raw else "http://" + raw
    parts = urlsplit(candidate)
    try:
        parts.port  # noqa: B018 - accessing it validates the port number
    except ValueError as exc:
        raise InvalidSetting(f"bad --url {url!r}: the port is not a number in 1-65535") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidSetting(f"bad --url {url!r}: expected something like http://127.0.0.1:8000")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
