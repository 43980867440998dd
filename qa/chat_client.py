"""Where the chat gets its answers: the local index in-process, or a running qa server over HTTP.

Both backends speak the JSON shapes of the HTTP API, so the renderer never needs to know which one
it is talking to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

import requests

from qa.config import Settings
from qa.errors import InvalidRequest, QAError

if TYPE_CHECKING:
    from qa.pipeline import QAPipeline


class ChatError(Exception):
    """A problem the chat reports as one line; the session cannot go on without fixing it."""


class RequestRejected(ChatError):
    """One question or document the backend refused; the session itself can go on."""


class Backend(Protocol):
    """What the chat needs from a source of answers."""

    description: str

    def health(self) -> dict[str, Any]:
        """The ``GET /api/health`` body."""
        ...

    def ask(self, question: str, top_k: int) -> dict[str, Any]:
        """The ``POST /api/ask`` body for one question."""
        ...

    def document(self, doc_id: str) -> dict[str, Any]:
        """The ``GET /api/documents/<doc_id>`` body: ``doc_id``, ``title``, raw ``text``."""
        ...

    def titles(self) -> dict[str, str]:
        """Document titles by ``doc_id`` (passages carry only the id)."""
        ...


class LocalBackend:
    """Answers from the index on this machine, building it first if it is missing or stale."""

    def __init__(self, pipeline: QAPipeline, settings: Settings) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.description = f"corpus {settings.corpus}, index {settings.index_dir}"
        self._titles: dict[str, str] | None = None

    @classmethod
    def open(cls, settings: Settings, build: bool = True) -> LocalBackend:
        """Build the index if needed (progress on stderr), then load it."""
        # Imported here because the pipeline pulls in torch, which --url mode never needs.
        from qa.pipeline import QAPipeline, ensure_index

        try:
            if build:
                ensure_index(settings, progress=True)
            pipeline = QAPipeline.load(settings)
        except QAError as exc:
            raise ChatError(str(exc)) from exc
        return cls(pipeline, settings)

    def health(self) -> dict[str, Any]:
        """Index summary straight from the pipeline."""
        return self.pipeline.health()

    def ask(self, question: str, top_k: int) -> dict[str, Any]:
        """Ask the pipeline; a question it will not take is a per-question problem."""
        try:
            return self.pipeline.ask(question, top_k=top_k).to_dict()
        except InvalidRequest as exc:
            raise RequestRejected(str(exc)) from exc
        except QAError as exc:
            raise ChatError(str(exc)) from exc

    def document(self, doc_id: str) -> dict[str, Any]:
        """The raw text of one document."""
        try:
            text = self.pipeline.document_text(doc_id)
        except QAError as exc:
            raise RequestRejected(str(exc)) from exc
        return {"doc_id": doc_id, "title": self.titles().get(doc_id, doc_id), "text": text}

    def titles(self) -> dict[str, str]:
        """Titles by doc id, read once."""
        if self._titles is None:
            self._titles = {d["doc_id"]: d["title"] for d in self.pipeline.documents()}
        return self._titles


class HttpBackend:
    """Answers from a running qa server (``make run``)."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        self.base_url = normalise_url(url)
        self.description = f"server {self.base_url}"
        self.timeout = timeout
        self._session = requests.Session()
        self._titles: dict[str, str] | None = None

    def health(self) -> dict[str, Any]:
        """``GET /api/health``; also the first check that the server is there at all."""
        return self._request("GET", "/api/health")

    def ask(self, question: str, top_k: int) -> dict[str, Any]:
        """``POST /api/ask``."""
        return self._request("POST", "/api/ask", {"question": question, "top_k": top_k})

    def document(self, doc_id: str) -> dict[str, Any]:
        """``GET /api/documents/<doc_id>``; ids may hold ``/``, which stays a path separator."""
        return self._request("GET", "/api/documents/" + quote(doc_id, safe="/"))

    def titles(self) -> dict[str, str]:
        """Titles by doc id from ``GET /api/documents``, read once."""
        if self._titles is None:
            body = self._request("GET", "/api/documents")
            self._titles = {d["doc_id"]: d["title"] for d in body.get("documents", [])}
        return self._titles

    def _request(self, method: str, path: str, payload: Any = None) -> dict[str, Any]:
        url = self.base_url + path
        try:
            resp = self._session.request(method, url, json=payload, timeout=self.timeout)
        except requests.exceptions.ConnectionError as exc:
            raise ChatError(
                f"cannot reach the qa server at {self.base_url} (is it running? `make run`)"
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise ChatError(f"the qa server at {self.base_url} did not answer in time") from exc
        except requests.exceptions.RequestException as exc:
            raise ChatError(f"request to {url} failed: {exc}") from exc
        try:
            body = resp.json()
        except ValueError as exc:
            raise ChatError(
                f"{url} answered HTTP {resp.status_code} without qa JSON; is that a qa server?"
            ) from exc
        if resp.status_code >= 400 or not isinstance(body, dict):
            raise _http_error(resp.status_code, body)
        return body


def _http_error(status: int, body: Any) -> ChatError:
    """Turn the API's ``{"error": {...}}`` body into the right exception."""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    text = f"server said: {message}" if message else f"server answered HTTP {status}"
    # 4xx other than 405 is about this one request; 5xx and 405 mean the server is not usable.
    if 400 <= status < 500 and status != 405:
        return RequestRejected(text)
    return ChatError(text)


def normalise_url(url: str) -> str:
    """``host:port`` or ``http://host:port/`` → ``http://host:port``; reject anything else."""
    raw = url.strip()
    candidate = raw if "://" in raw else "http://" + raw
    parts = urlsplit(candidate)
    try:
        parts.port  # noqa: B018 - accessing it validates the port number
    except ValueError as exc:
        raise ChatError(f"bad --url {url!r}: the port is not a number in 1-65535") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChatError(f"bad --url {url!r}: expected something like http://127.0.0.1:8000")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
