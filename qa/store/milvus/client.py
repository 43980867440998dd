"""The process's connection to Milvus: one ``MilvusClient`` per URI, errors that say what to do."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from qa.errors import DependencyMissing, IndexUnavailable

INSTALL_HINT = "QA_BACKEND=milvus needs pymilvus and milvus-lite: pip install -e '.[milvus]'"
CONNECT_SECONDS = 10.0  # how long to wait for a Milvus server before saying it is unreachable
# Both log every failure with its traceback; qa raises a QAError that says what to do instead.
for _name in ("pymilvus", "milvus_lite"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

_clients: dict[tuple[str, str], Any] = {}
_clients_lock = threading.Lock()


@dataclass(frozen=True)
class MilvusTarget:
    """Which Milvus an index folder's collections live in, and how they are named."""

    uri: str  # a Milvus Lite file (ends in .db) or a server's http(s):// URI
    token: str = ""
    prefix: str = "qa"


def connect(target: MilvusTarget) -> Any:
    """The process's ``MilvusClient`` for a target (a Milvus Lite file is opened once a process)."""
    uri, token = target.uri, target.token
    try:
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException
    except ImportError as exc:
        raise DependencyMissing(f"{INSTALL_HINT} ({exc})") from exc
    if uri.endswith(".db"):
        # Milvus Lite's in-process gRPC server logs an error for each call it does not implement
        # (AllocTimestamp, which pymilvus tries after creating an index, and then does without).
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    with _clients_lock:
        if (uri, token) not in _clients:
            try:
                _clients[uri, token] = MilvusClient(uri=uri, token=token, timeout=CONNECT_SECONDS)
            except MilvusException as exc:
                raise IndexUnavailable(_unreachable(uri, exc)) from exc
        return _clients[uri, token]


def _unreachable(uri: str, exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    if uri.endswith(".db"):
        # Milvus Lite locks its file for one process: a running `qa serve`, or a second worker.
        return (
            f"cannot open the Milvus Lite file {uri} ({message}); another process may hold it: "
            "Milvus Lite serves one process, so stop it, or run a Milvus server and set "
            "QA_MILVUS_URI=http://host:19530"
        )
    return f"cannot reach Milvus at {uri} ({message}); check QA_MILVUS_URI and QA_MILVUS_TOKEN"
