"""The gthread worker ``qa serve`` runs: no client, slow or idle, can hold a thread for long.

Stock gthread hands each new connection to a thread, which then blocks in the HTTP parser until
the request head is complete. With 4 threads, 4 connections that sent half a request line took the
server offline for good (issue 10: a health check waited 180 s and more). A read timeout alone
frees each thread after T seconds, but slow connections come back and queue for threads ahead of
real clients, so it takes more threads than slow connections (stacks, GIL contention with the
models' work) to leave one free. Measured with scripts/bench_serve.py (16 clients for 15 s while
200 connections are held open, half idle and half with half a request sent, on 2 cores): stock
gthread with 4 or with 32 threads, and gthread with a 10 s read timeout and 32 threads, answered
no question at all (every client's first waited past 15 s).

So this worker reads requests in its event loop, where a connection costs a buffer and a file
descriptor, not a thread (as nginx and async servers do):

- a connection reaches a thread only once its whole head is buffered, so a thread never waits
  for a head; a head not complete within ``client_timeout`` seconds gets a 408, one past the
  limits a 414 or 431, without ever occupying a thread;
- likewise its body (``qa.serve.bodies``: a Content-Length or chunked, up to the largest any route
  takes, else a 413): 200 connections that sent a head and half a body held every thread and
  kept /api/health from answering for 20 s (issue 28). A body from which nothing arrives for
  ``client_timeout`` seconds gets a 408; one that keeps arriving is waited for, costing memory
  (``MAX_RECEIVING_BYTES`` in all, past it a 503) but no thread. ``Expect: 100-continue`` is
  answered when the body is awaited;
- client sockets carry a ``client_timeout`` socket timeout in blocking mode, so the waits a thread
  can still make (writing a response to a client that does not read) end;
- a connection closed after a response lingers in the event loop to drain what the client still
  sends, rather than in gunicorn's blocking ``close_graceful`` on the event loop's thread;
- the server's own errors (400, 408, 414, 431, 500 ...) are the API's JSON errors.

With the same 200 connections open, this worker answered the 16 clients as fast as with none
open, without an error (``make bench-serve BENCH_ARGS="--idle 200"``; figures in the README).

It relies on gunicorn 27's gthread (``TConn.data_ready``, ``murder_pending``, ``finish_request``).
"""

from __future__ import annotations

import errno
import re
import socket
import time
from collections import OrderedDict, deque
from functools import partial
from selectors import EVENT_READ
from typing import Any

from gunicorn import http, util
from gunicorn.workers.gthread import TConn, ThreadWorker

from qa.serve.bodies import BodyProgress, BodyRefused, BufferedUnreader, framing
from qa.serve.raw import error_response, status_of

# A request head ends with an empty line; bare LFs are let through for gunicorn's parser to refuse.
_HEAD_END = re.compile(rb"\n\r?\n")
# Heads are buffered in the event loop, so their total size is capped here whatever gunicorn's
# per-line limits allow (50 fields of 8 KiB would be 400 KiB per connection).
MAX_HEAD_BYTES = 64 * 1024
# How long a connection being closed may keep sending before it is cut (gunicorn's own linger).
LINGER_SECONDS = 2.0
# Bodies being received are held in memory until whole; past this much in all (five uploads at
# their limit), a body that grows gets a 503 rather than the worker's memory.
MAX_RECEIVING_BYTES = 256 * 1024 * 1024
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class TimedSocket(socket.socket):
    """A client socket whose blocking mode always has a timeout.

    gthread switches sockets between non-blocking (in the selector) and blocking (in a thread)
    with ``setblocking``; here blocking means "block at most ``io_timeout`` seconds".
    """

    io_timeout: float = 10.0

    @classmethod
    def adopt(cls, sock: socket.socket, io_timeout: float) -> TimedSocket:
        """Take over an accepted socket's file descriptor."""
        timed = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        timed.io_timeout = io_timeout
        return timed

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(self.io_timeout)
        else:
            super().setblocking(False)


class _Conn(TConn):  # type: ignore[misc]
    """gthread's connection, with the head (and body) read so far and a deadline for the current
    stage."""

    def __init__(self, worker: QAWorker, *args: Any) -> None:
        super().__init__(*args)
        self.worker = worker
        self.head = bytearray()
        self.body = bytearray()  # every byte after the head, while the body is awaited
        self.progress: BodyProgress | None = None
        self.continued = False  # a "100 Continue" went out for the current request
        self.deadline = 0.0

    def close(self, graceful: bool = False) -> None:
        # gthread calls this on its event loop, where a blocking drain would stall every client.
        if graceful:
            self.worker.linger(self)
        else:
            super().close()


class _Captured:
    """Stands in for the client socket while gunicorn's handle_error picks status and logs."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0

    def sendall(self, data: bytes) -> None:
        self.data += data


class QAWorker(ThreadWorker):  # type: ignore[misc]
    """gthread that reads request heads in its event loop and answers its errors as JSON."""

    client_timeout: float = 10.0

    @classmethod
    def configured(cls, client_timeout: float) -> type[QAWorker]:
        """This worker class with its timeout set (gunicorn instantiates the class itself)."""
        return type(cls.__name__, (cls,), {"client_timeout": client_timeout})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heads: deque[_Conn] = deque()  # reading a head, oldest deadline first
        # Reading a body: earliest deadline first (each byte received moves a connection last).
        self.bodies: OrderedDict[_Conn, None] = OrderedDict()
        self.receiving = 0  # bytes held in ``bodies``
        self.lingering: deque[_Conn] = deque()  # answered, draining until the client hangs up
        cfg = self.cfg
        gunicorn_head = cfg.limit_request_line + cfg.limit_request_fields * (
            cfg.limit_request_field_size + 2
        )
        self.max_head = min(MAX_HEAD_BYTES, gunicorn_head + 4)
        # TLS and HTTP/2 bytes cannot be read as a plain HTTP/1 head: leave them to gthread.
        self.reads_heads = not cfg.is_ssl and cfg.http2_cleartext == "off"

    # -- connections from the listener and from keep-alive -------------------------------------

    def accept(self, listener: socket.socket) -> None:
        if not self.reads_heads:
            return super().accept(listener)
        try:
            sock, addr = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return None
            raise
        self.nr_conns += 1
        sock = TimedSocket.adopt(sock, self.client_timeout)
        conn = _Conn(self, self.cfg, sock, addr, listener.getsockname())
        self._await_head(conn)
        return None

    def on_client_socket_readable(self, conn: _Conn, client: socket.socket) -> None:
        if not self.reads_heads:
            return super().on_client_socket_readable(conn, client)
        # A kept-alive connection starts its next request: read its head here too.
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._await_head(conn)
        self._on_head_data(conn)
        return None

    def _await_head(self, conn: _Conn) -> None:
        conn.head = bytearray()
        conn.deadline = time.monotonic() + self.client_timeout
        self.heads.append(conn)
        self.poller.register(conn.sock, EVENT_READ, partial(self._on_head_data, conn))

    def _on_head_data(self, conn: _Conn, _sock: socket.socket | None = None) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client hung up before sending a whole head
            self._end_head(conn)
            self.nr_conns -= 1
            conn.close()
            return
        searched = max(0, len(conn.head) - 2)
        conn.head += data
        if end := _HEAD_END.search(conn.head, searched):
            self._end_head(conn)
            self._after_head(conn, end.end())
        elif rejection := self._over_limits(conn.head):
            self._end_head(conn)
            self._reject(conn, *rejection)

    def _over_limits(self, head: bytearray) -> tuple[int, str] | None:
        """414 or 431 as soon as an incomplete head is past a limit gunicorn's parser would apply."""
        cfg = self.cfg
        lines = head.count(b"\n")
        if lines == 0 or (lines == 1 and head.startswith(b"\r\n")):  # still the request line
            if len(head) > cfg.limit_request_line + 2:
                return 414, f"the request line is longer than {cfg.limit_request_line} bytes"
        elif lines > cfg.limit_request_fields + 1:
            return 431, f"the request has more than {cfg.limit_request_fields} header fields"
        elif len(head) - head.rfind(b"\n") - 1 > cfg.limit_request_field_size + 2:
            return 431, f"a header field is longer than {cfg.limit_request_field_size} bytes"
        if len(head) > self.max_head:
            return 431, f"the request head is larger than {self.max_head} bytes"
        return None

    def _end_head(self, conn: _Conn) -> None:
        self.poller.unregister(conn.sock)
        self.heads.remove(conn)

    def _after_head(self, conn: _Conn, head_end: int) -> None:
        """A whole head is here: hand the request to a thread if its body is too (or it has
        none), else read the body here first."""
        head, rest = bytes(conn.head[:head_end]), conn.head[head_end:]
        conn.head, conn.continued = bytearray(), False
        try:
            framed = framing(head)
            progress = BodyProgress(framed) if framed else None
            if progress is None or progress.complete(rest):
                self._dispatch(conn, head, rest)
                return
        except BodyRefused as exc:
            self._reject(conn, exc.status, exc.message)
            return
        if progress.framing.expects_continue:  # the client waits for this before sending it
            try:
                conn.sock.send(CONTINUE)  # small: fits the send buffer
                conn.continued = True
            except OSError:
                pass
        conn.head, conn.body, conn.progress = bytearray(head), rest, progress
        self.receiving += len(rest)
        conn.deadline = time.monotonic() + self.client_timeout
        self.bodies[conn] = None
        self.poller.register(conn.sock, EVENT_READ, partial(self._on_body_data, conn))

    def _on_body_data(self, conn: _Conn, _sock: socket.socket | None = None) -> None:
        try:
            data = conn.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client hung up midway through its body
            self._end_body(conn)
            self.nr_conns -= 1
            conn.close()
            return
        conn.body += data
        self.receiving += len(data)
        assert conn.progress is not None
        try:
            if self.receiving > MAX_RECEIVING_BYTES:
                raise BodyRefused(503, "the server is receiving too many request bodies at once")
            done = conn.progress.complete(conn.body)
        except BodyRefused as exc:
            self._end_body(conn)
            self._reject(conn, exc.status, exc.message)
            return
        if done:
            head, body = bytes(conn.head), conn.body
            self._end_body(conn)
            self._dispatch(conn, head, body)
        else:  # a client that keeps sending keeps its connection, as a thread's reads allowed
            conn.deadline = time.monotonic() + self.client_timeout
            self.bodies.move_to_end(conn)

    def _end_body(self, conn: _Conn) -> None:
        self.poller.unregister(conn.sock)
        del self.bodies[conn]
        self.receiving -= len(conn.body)
        conn.head, conn.body, conn.progress = bytearray(), bytearray(), None

    def _dispatch(self, conn: _Conn, head: bytes, ahead: bytes | bytearray) -> None:
        """Hand a request whose head (and body) are here to a thread: the parser reads them
        first, then the socket."""
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            conn.parser.unreader = BufferedUnreader(conn.sock)
        conn.parser.unreader.unread(head)
        conn.parser.unreader.read_ahead(ahead)
        conn.data_ready = True  # gthread must not wait for data: it is here
        self.enqueue_req(conn)

    def _reject(self, conn: _Conn, status: int, message: str) -> None:
        """Answer an error for a connection no longer in a stage of its own, and close it."""
        self.nr_conns -= 1
        # Like gunicorn's own invalid requests; a timeout is routine for idle clients.
        log = self.log.info if status == 408 else self.log.warning
        log("Invalid request from ip=%s: %s %s", conn.client[0], status, message)
        try:
            conn.sock.send(error_response(status, message))  # small: fits the send buffer
        except OSError:
            pass
        self.linger(conn)

    # -- closing without blocking -----------------------------------------------------------------

    def linger(self, conn: _Conn) -> None:
        """Close after the client hangs up or ``LINGER_SECONDS``, so no RST cuts the response."""
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            util.close(conn.sock)
            return
        conn.deadline = time.monotonic() + LINGER_SECONDS
        self.lingering.append(conn)
        self.poller.register(conn.sock, EVENT_READ, partial(self._on_linger_data, conn))

    def _on_linger_data(self, conn: _Conn, _sock: socket.socket) -> None:
        try:
            if conn.sock.recv(65536):
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self.poller.unregister(conn.sock)
        self.lingering.remove(conn)
        util.close(conn.sock)

    def murder_pending(self) -> None:
        """gthread's expiry pass, run every loop: end heads and lingers past their deadline."""
        super().murder_pending()
        now = time.monotonic()
        while self.heads and (self.heads[0].deadline <= now or not self.alive):
            conn = self.heads[0]
            self._end_head(conn)
            if conn.head and self.alive:
                self._reject(
                    conn, 408, f"the request head did not arrive within {self.client_timeout:g} s"
                )
            else:  # nothing sent yet, or shutting down: nothing is owed
                self.nr_conns -= 1
                util.close(conn.sock)
        while self.bodies:
            conn = next(iter(self.bodies))
            if conn.deadline > now and self.alive:
                break
            self._end_body(conn)
            if self.alive:
                self._reject(
                    conn,
                    408,
                    f"the request body stopped arriving: nothing for {self.client_timeout:g} s",
                )
            else:
                self.nr_conns -= 1
                util.close(conn.sock)
        while self.lingering and self.lingering[0].deadline <= now:
            conn = self.lingering.popleft()
            self.poller.unregister(conn.sock)
            util.close(conn.sock)

    # -- in the threads -----------------------------------------------------------------------------

    def handle(self, conn: _Conn) -> Any:
        try:
            return super().handle(conn)
        finally:
            unreader = getattr(conn.parser, "unreader", None)
            if isinstance(unreader, BufferedUnreader):
                unreader.settle()

    def handle_request(self, req: Any, conn: _Conn) -> bool:
        if conn.continued:  # sent from the event loop, before the body came: not twice
            req._expected_100_continue = False
        try:
            return bool(super().handle_request(req, conn))
        except TimeoutError:
            # The client stopped reading the response (or sending the body past the app): the
            # connection is unusable; this is the client's doing, not a server error to log.
            self.log.info("Timed out on %s, closing", conn.client[0])
            raise StopIteration() from None

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """Answer gunicorn's own errors (bad request line, limits ...) as the API's JSON errors."""
        captured = _Captured()
        # gunicorn decides the status (its table of parser errors) and logs; the page is dropped.
        super().handle_error(req, captured, addr, exc)
        status = status_of(captured.data)
        try:
            util.write_nonblock(client, error_response(status, self._message(status, exc)))
        except Exception:  # as in gunicorn: the client may be gone
            self.log.debug("Failed to send error message.")

    def _message(self, status: int, exc: BaseException) -> str:
        cfg = self.cfg
        if status == 414:
            return f"the request line is longer than {cfg.limit_request_line} bytes"
        if status == 431:
            return (
                f"the request has more than {cfg.limit_request_fields} header fields or one "
                f"longer than {cfg.limit_request_field_size} bytes"
            )
        if status == 500:
            return "internal server error"
        return f"malformed request: {exc}" if status == 400 else str(exc)
