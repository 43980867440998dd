"""Where a request body ends, as the server's event loop reads it (``qa.serve.bodies``)."""

from __future__ import annotations

import pytest

from qa.serve.bodies import (
    MAX_BODY_BYTES,
    BodyProgress,
    BodyRefused,
    BufferedUnreader,
    Framing,
    framing,
)


def _head(*fields: str, line: str = "POST /api/ask HTTP/1.1") -> bytes:
    return ("\r\n".join([line, "Host: x", *fields]) + "\r\n\r\n").encode()


@pytest.mark.parametrize(
    "fields, line, want",
    [
        ((), "GET /api/health HTTP/1.1", None),
        (("Content-Length: 0",), "POST / HTTP/1.1", None),
        (("Content-Length: 12",), "POST / HTTP/1.1", Framing(12)),
        (("content-length:12 ",), "POST / HTTP/1.0", Framing(12)),
        (("Transfer-Encoding: chunked",), "POST / HTTP/1.1", Framing(None)),
        (("Transfer-Encoding: gzip, Chunked",), "POST / HTTP/1.1", Framing(None)),
        (("Expect: 100-continue", "Content-Length: 5"), "POST / HTTP/1.1", Framing(5, True)),
        (("Expect: 100-continue", "Content-Length: 5"), "POST / HTTP/1.0", Framing(5)),
        # framings gunicorn's parser refuses from the head alone: nothing to wait for
        (("Content-Length: 5", "Content-Length: 5"), "POST / HTTP/1.1", None),
        (("Content-Length: -5",), "POST / HTTP/1.1", None),
        (("Content-Length: 5", "Transfer-Encoding: chunked"), "POST / HTTP/1.1", None),
        (("Transfer-Encoding: chunked",), "POST / HTTP/1.0", None),
        (("Transfer-Encoding: chunked, gzip",), "POST / HTTP/1.1", None),
        (("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"), "POST / HTTP/1.1", None),
    ],
)
def test_framing(fields, line, want):
    assert framing(_head(*fields, line=line)) == want


def test_a_declared_length_over_the_largest_limit_is_413():
    assert framing(_head(f"Content-Length: {MAX_BODY_BYTES}")) == Framing(MAX_BODY_BYTES)
    with pytest.raises(BodyRefused) as refused:
        framing(_head(f"Content-Length: {MAX_BODY_BYTES + 1}"))
    assert refused.value.status == 413 and "50 MiB" in refused.value.message


def test_a_length_body_is_complete_at_its_length():
    progress = BodyProgress(Framing(5))
    assert not progress.complete(b"abcd")
    assert progress.complete(b"abcde")
    assert progress.complete(b"abcdeGET / HTTP/1.1\r\n")  # a pipelined request after it


@pytest.mark.parametrize(
    "body",
    [
        b"0\r\n\r\n",
        b"5\r\nhello\r\n0\r\n\r\n",
        b"5;name=value\r\nhello\r\n1A\r\n" + b"z" * 26 + b"\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n",
    ],
    ids=["empty", "one", "extension-and-hex", "trailers"],
)
def test_a_chunked_body_is_complete_only_at_its_end(body):
    # Fed a byte at a time, as a slow client might send it.
    progress = BodyProgress(Framing(None))
    for n in range(len(body)):
        assert not progress.complete(body[:n]), body[:n]
    assert progress.complete(body)


@pytest.mark.parametrize(
    "body",
    [b"zz\r\nhello\r\n", b"5\r\nhelloXX0\r\n\r\n", b"\r\n", b"5" * 9000],
    ids=["not-hex", "no-line-end", "no-size", "endless-size-line"],
)
def test_broken_chunked_encoding_is_400(body):
    with pytest.raises(BodyRefused) as refused:
        BodyProgress(Framing(None)).complete(body)
    assert refused.value.status == 400


class _Socket:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def recv(self, size: int) -> bytes:
        piece, self.data = self.data[:size], self.data[size:]
        return piece


def test_the_unreader_serves_what_was_read_ahead_then_the_socket():
    unreader = BufferedUnreader(_Socket(b"and then the socket"))
    unreader.unread(b"HEAD|")
    unreader.read_ahead(bytearray(b"ahead|" * 5000))
    assert unreader.read(5) == b"HEAD|"
    got = b""
    while piece := unreader.read():
        got += piece
    assert got == b"ahead|" * 5000 + b"and then the socket"


def test_what_is_left_read_ahead_settles_into_gunicorns_buffer():
    unreader = BufferedUnreader(_Socket(b""))
    unreader.read_ahead(b"B" * 10000 + b"GET / HTTP/1.1\r\n\r\n")
    assert unreader.read(10000) == b"B" * 10000  # a body of known length: read up to its end
    assert unreader.ahead  # the next request, still read ahead
    unreader.settle()
    assert unreader.buf.getvalue() == b"GET / HTTP/1.1\r\n\r\n"  # where gthread looks for it
    assert unreader.read() == b"GET / HTTP/1.1\r\n\r\n"
