"""Request bodies read in the worker's event loop: where a body ends, and handing it to gunicorn.

``qa.serve.worker`` gives a request to a thread only once its body is here too. These are its
pieces that need no event loop: ``framing`` reads from a request head how its body ends,
``BodyProgress`` follows the bytes received until it does (a length, or chunked encoding scanned
chunk by chunk), and ``BufferedUnreader`` serves gunicorn's parser the bytes read ahead before it
reads the socket again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gunicorn.http.unreader import SocketUnreader

# The largest body any route takes (qa.serve.api.MAX_UPLOAD_BYTES, a document upload): a body
# declared larger is refused before it is read; each route refuses its own limit after.
MAX_BODY_BYTES = 50 * 1024 * 1024
# Chunked encoding's own bytes (size lines, line ends) on top of the data, allowed for.
CHUNKED_SLACK = 64 * 1024
# A chunk-size line is a few hex digits and maybe an extension (gunicorn allows a field's size).
MAX_CHUNK_LINE = 8192

_FIELD = re.compile(rb"^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*\r?$", re.M)
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_COMPRESSION = {b"gzip", b"deflate", b"compress"}


class BodyRefused(Exception):
    """A body the event loop answers itself: ``status`` (400, 413) and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Framing:
    """How a request's body ends: after ``length`` bytes, or chunked when ``length`` is None."""

    length: int | None
    expects_continue: bool = False


def framing(head: bytes) -> Framing | None:
    """How the body of the request with this head ends; None when there is no body to wait for.

    None too when the framing is one gunicorn's parser refuses (two lengths, a length that is no
    number, chunked with a length, another transfer coding ...): it answers 400 or 501 from the
    head alone. Raises ``BodyRefused`` (413) for a length over ``MAX_BODY_BYTES``.
    """
    lines = head.split(b"\n", 1)
    fields: dict[bytes, list[bytes]] = {}
    for name, value in _FIELD.findall(lines[1] if len(lines) > 1 else b""):
        fields.setdefault(name.lower(), []).append(value)
    lengths = fields.get(b"content-length", [])
    codings = fields.get(b"transfer-encoding", [])
    http11 = lines[0].rstrip().endswith(b"HTTP/1.1")
    expects = http11 and [v.lower() for v in fields.get(b"expect", [])] == [b"100-continue"]
    if codings:
        # gunicorn takes "chunked" last, once, after compression codings (it closes the
        # connection after those); anything else is its 400 or 501.
        named = [c.strip(b" \t").lower() for value in codings for c in value.split(b",")]
        chunked = named[-1:] == [b"chunked"] and set(named[:-1]) <= _COMPRESSION
        return Framing(None, expects) if chunked and http11 and not lengths else None
    if len(lengths) != 1 or not lengths[0].isdigit():
        return None
    length = int(lengths[0])
    if length > MAX_BODY_BYTES:
        raise BodyRefused(413, f"the request body is larger than {MAX_BODY_BYTES // 2**20} MiB")
    return Framing(length, expects) if length else None


class BodyProgress:
    """Follows a body's bytes as they arrive: ``add`` says whether the whole body is here."""

    def __init__(self, framing: Framing) -> None:
        self.framing = framing
        self.scanned = 0  # chunked: where the next chunk-size line starts
        self.trailers = False  # chunked: the last chunk seen, its trailers not yet ended

    def complete(self, body: bytes | bytearray) -> bool:
        """Whether ``body`` (every byte after the head so far) holds the whole body.

        Raises ``BodyRefused``: 413 past ``MAX_BODY_BYTES``, 400 for broken chunked encoding.
        """
        if self.framing.length is not None:
            return len(body) >= self.framing.length
        if len(body) > MAX_BODY_BYTES + CHUNKED_SLACK:
            raise BodyRefused(413, f"the request body is larger than {MAX_BODY_BYTES // 2**20} MiB")
        return self._chunked_complete(body)

    def _chunked_complete(self, body: bytes | bytearray) -> bool:
        while not self.trailers:
            eol = body.find(b"\r\n", self.scanned)
            if eol < 0:
                if len(body) - self.scanned > MAX_CHUNK_LINE:
                    raise BodyRefused(400, "a chunk-size line of the body has no end")
                return False
            size = bytes(body[self.scanned : eol]).split(b";", 1)[0].rstrip(b" \t")
            if not _HEX.fullmatch(size):
                raise BodyRefused(400, "the body's chunked encoding is malformed")
            n = int(size, 16)
            if n == 0:
                self.trailers, self.scanned = True, eol
                break
            end = eol + 2 + n + 2
            if len(body) < end:
                return False
            if body[end - 2 : end] != b"\r\n":
                raise BodyRefused(400, "the body's chunked encoding is malformed")
            self.scanned = end
        # "0\r\n", then trailer fields, each ending CRLF, then an empty line: CRLF CRLF from
        # the last chunk's line end on.
        if body.find(b"\r\n\r\n", self.scanned) >= 0:
            return True
        if len(body) - self.scanned > MAX_CHUNK_LINE * 8:
            raise BodyRefused(400, "the body's trailer fields have no end")
        return False


class BufferedUnreader(SocketUnreader):  # type: ignore[misc]
    """gunicorn's socket reader, serving first the bytes the event loop read ahead of the head
    (``read_ahead``), then the socket as usual."""

    def __init__(self, sock: object, max_chunk: int = 8192) -> None:
        super().__init__(sock, max_chunk)
        self.ahead: bytes | bytearray = b""
        self._at = 0

    def read_ahead(self, data: bytes | bytearray) -> None:
        """Serve ``data`` (not copied) before anything still to come from the socket."""
        self.ahead = self.ahead[self._at :] + data if self._at < len(self.ahead) else data
        self._at = 0

    def chunk(self, size_hint: int | None = None) -> bytes:
        if self._at < len(self.ahead):
            size = max(self.mxchunk, min(size_hint or 0, self.max_body_chunk))
            with memoryview(self.ahead) as view:
                piece = bytes(view[self._at : self._at + size])
            self._at += len(piece)
            if self._at == len(self.ahead):
                self.ahead, self._at = b"", 0
            return piece
        data: bytes = super().chunk(size_hint)
        return data

    def settle(self) -> None:
        """Move what is left read ahead into gunicorn's own buffer, where its worker looks for a
        next request already received (pipelining) before waiting on the socket."""
        if self._at < len(self.ahead):
            rest = bytes(self.ahead[self._at :])
            self.ahead, self._at = b"", 0
            self.buf.seek(0, 2)
            self.buf.write(rest)
