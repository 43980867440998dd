"""The real server under slow, idle and malformed clients: it stays up, and every error is JSON.

One gunicorn process (``qa serve --client-timeout 2``) over the seed index, driven through raw
sockets where a well-behaved client library would not misbehave on purpose.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests
from servers import serving

CLIENT_TIMEOUT = 2.0
QUESTION = "How many people died in the airport bombing?"


@pytest.fixture(scope="module")
def server(seed_settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """``qa serve`` with a short client timeout; yields (base URL, port)."""
    env = {"QA_INDEX_DIR": str(seed_settings.index_dir)}
    log_path: Path = tmp_path_factory.mktemp("limits-server") / "server.log"
    with serving(env, log_path, ["--client-timeout", str(CLIENT_TIMEOUT)]) as running:
        yield running.url, running.port


def _connect(port: int, stack: ExitStack, send: bytes = b"") -> socket.socket:
    sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=30))
    if send:
        sock.sendall(send)
    return sock


def _response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP response from a raw socket: status, headers (lower-case names), body."""
    response = http.client.HTTPResponse(sock)
    try:
        response.begin()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        response.close()


def _assert_json_error(status: int, headers: dict[str, str], body: bytes, want: int, code: str):
    assert status == want, body
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in body.decode() and "<html" not in body.decode()


def _ask(url: str, timeout: float) -> requests.Response:
    return requests.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=timeout)


def test_idle_and_half_sent_connections_do_not_stall_questions(server):
    url, port = server
    with ExitStack() as stack:
        for i in range(40):  # ten times the server's threads
            _connect(
                port, stack, b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-" if i % 2 else b""
            )
        start = time.monotonic()
        answer = _ask(url, timeout=30)
        elapsed = time.monotonic() - start
        assert requests.get(f"{url}/api/health", timeout=5).json()["status"] == "ok"
    assert answer.status_code == 200 and "35" in answer.json()["answer"]
    assert elapsed < 10


def test_clients_that_never_hang_up_do_not_stall_the_server(server):
    # Each gets a "Connection: close" response; gunicorn's own close drains such a socket on its
    # event loop for up to 2 s, so 30 of them used to hold every other client for a minute.
    url, port = server
    with ExitStack() as stack:
        for _ in range(30):
            _connect(port, stack, b"GET /api/health HTTP/1.0\r\n\r\n")
        time.sleep(0.5)
        start = time.monotonic()
        assert requests.get(f"{url}/api/health", timeout=10).status_code == 200
        assert time.monotonic() - start < 3


def test_a_request_head_that_never_completes_gets_408_json(server):
    _, port = server
    with ExitStack() as stack:
        sock = _connect(port, stack, b"POST /api/ask HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()
        status, headers, body = _response(sock)
    assert CLIENT_TIMEOUT - 0.5 <= time.monotonic() - start < CLIENT_TIMEOUT + 5
    _assert_json_error(status, headers, body, 408, "request_timeout")
    assert headers["connection"] == "close"


JSON_POST = b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
BODY = json.dumps({"question": QUESTION}).encode()


@pytest.mark.parametrize(
    "framing, sent",
    [
        (b"Content-Length: 100\r\n", b'{"quest'),
        (b"Transfer-Encoding: chunked\r\n", b'7\r\n{"quest\r\n'),
    ],
    ids=["length", "chunked"],
)
def test_a_body_that_never_completes_gets_408_json(server, framing, sent):
    _, port = server
    with ExitStack() as stack:
        sock = _connect(port, stack, JSON_POST + framing + b"\r\n" + sent)
        start = time.monotonic()
        status, headers, body = _response(sock)
    assert CLIENT_TIMEOUT - 0.5 <= time.monotonic() - start < CLIENT_TIMEOUT + 5
    _assert_json_error(status, headers, body, 408, "request_timeout")


def test_half_sent_bodies_do_not_stall_questions(server):
    # Each sent a whole head and half its body: they used to hold every thread, a round of 4
    # per client timeout, so /api/health waited 20 s behind 40 of them (issue 28).
    url, port = server
    with ExitStack() as stack:
        for i in range(100):
            if i % 2:
                _connect(
                    port, stack, JSON_POST + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY[:20]
                )
            else:
                _connect(port, stack, JSON_POST + b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"que')
        time.sleep(0.3)
        start = time.monotonic()
        assert requests.get(f"{url}/api/health", timeout=10).json()["status"] == "ok"
        health = time.monotonic() - start
        answer = _ask(url, timeout=30)
        elapsed = time.monotonic() - start
    assert health < 1.5
    assert answer.status_code == 200 and "35" in answer.json()["answer"]
    assert elapsed < 10


def test_bodies_that_arrive_in_pieces_are_answered(server):
    _, port = server
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (BODY[:10], BODY[10:])) + b"0\r\n\r\n"
    requests_in_pieces = [
        (
            JSON_POST + b"Content-Length: %d\r\n\r\n" % len(BODY),
            [BODY[:10], BODY[10:30], BODY[30:]],
        ),
        (
            JSON_POST + b"Transfer-Encoding: chunked\r\n\r\n",
            [chunked[:9], chunked[9:25], chunked[25:]],
        ),
    ]
    for head, pieces in requests_in_pieces:
        with ExitStack() as stack:
            sock = _connect(port, stack, head)
            for piece in pieces:
                time.sleep(0.4)  # each wait well under the client timeout
                sock.sendall(piece)
            status, _, body = _response(sock)
        assert status == 200, body
        assert "35" in json.loads(body)["answer"]


def test_expect_100_continue_is_answered_once(server):
    _, port = server
    head = JSON_POST + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(BODY)
    with ExitStack() as stack:
        sock = _connect(port, stack, head)
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"  # before any body byte
        sock.sendall(BODY + b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert b"100 Continue" not in received  # not a second time, from gunicorn
    assert received.startswith(b"HTTP/1.1 200 ") and b'"35' in received
    assert received.count(b"HTTP/1.1 200 ") == 2  # the pipelined request after it too


def test_a_body_over_every_limit_is_413_json_before_it_is_sent(server):
    _, port = server
    head = JSON_POST + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % (60 * 2**20)
    with ExitStack() as stack:
        sock = _connect(port, stack, head)
        _assert_json_error(*_response(sock), 413, "payload_too_large")


@pytest.mark.parametrize("complete", [True, False], ids=["whole", "never-ending"])
def test_a_request_line_over_the_limit_is_414_json(server, complete):
    _, port = server
    line = b"GET /api/health?" + b"a" * 5000
    with ExitStack() as stack:
        sock = _connect(port, stack, line + (b" HTTP/1.1\r\nHost: x\r\n\r\n" if complete else b""))
        _assert_json_error(*_response(sock), 414, "uri_too_long")


@pytest.mark.parametrize(
    "headers",
    [
        b"".join(b"X-Field-%d: 1\r\n" % i for i in range(60)) + b"\r\n",  # too many
        b"X-Big: " + b"a" * 9000 + b"\r\n\r\n",  # one too large
        b"".join(b"X-Field-%d: 1\r\n" % i for i in range(60)),  # too many, never ending
        b"X-Big: " + b"a" * 9000,  # too large, never ending
    ],
    ids=["many", "large", "many-never-ending", "large-never-ending"],
)
def test_too_many_or_too_large_header_fields_are_431_json(server, headers):
    _, port = server
    with ExitStack() as stack:
        sock = _connect(port, stack, b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + headers)
        _assert_json_error(*_response(sock), 431, "request_header_fields_too_large")


def test_a_malformed_request_line_is_400_json(server):
    _, port = server
    with ExitStack() as stack:
        sock = _connect(port, stack, b"GET /api/health HTTP/9.x\r\nHost: x\r\n\r\n")
        _assert_json_error(*_response(sock), 400, "bad_request")


def test_deeply_nested_json_is_400_json(server):
    url, _ = server
    body = "[" * 1000 + "]" * 1000  # about 2 KB
    response = requests.post(
        f"{url}/api/ask", data=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    _assert_json_error(
        response.status_code,
        {k.lower(): v for k, v in response.headers.items()},
        response.content,
        400,
        "invalid_request",
    )
    assert requests.get(f"{url}/api/health", timeout=10).status_code == 200


def test_405_names_the_allowed_methods(server):
    url, _ = server
    response = requests.get(f"{url}/api/ask", timeout=10)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert "POST" in allowed and "GET" not in allowed


def test_keep_alive_connections_are_reused(server):
    _, port = server
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        statuses = []
        for _ in range(3):
            conn.request("GET", "/api/health")
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
            if statuses == [200]:
                first_socket = conn.sock
        assert statuses == [200, 200, 200]
        assert conn.sock is first_socket  # never reopened
    finally:
        conn.close()
