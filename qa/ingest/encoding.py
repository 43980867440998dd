"""Bytes → text: byte-order marks, UTF-8, then charset-normalizer; binary and empty files refused.

The only module that imports charset-normalizer. A file that is not text raises
``UnreadableFile`` with the reason the skipped-files report shows.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

from charset_normalizer import from_bytes

from qa.errors import UnreadableFile

# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Short Western text is as plausible in cp1250 as in cp1252 to charset-normalizer ("Hélène" comes
# out "Hélčne"); the models read English, so among equally plausible guesses Western ones win.
_PREFERRED = ("cp1252", "latin_1", "iso8859_15")
_TIE = 1e-6
_MAX_CONTROL_SHARE = 0.05  # more control or unassigned characters than this is not text
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class Decoded:
    """A file's text, the encoding it was read in, and how many bad bytes became U+FFFD."""

    text: str
    encoding: str
    replaced: int = 0


def decode_text(data: bytes, declared: str | None = None) -> Decoded:
    """``data`` as text (byte-order mark removed); ``UnreadableFile`` if empty or not text.

    ``declared`` is an encoding the file names itself (an HTML ``<meta charset>``): used when
    there is no byte-order mark and the bytes are not UTF-8, if it decodes them.
    """
    if not data.strip():
        raise UnreadableFile("empty file" if not data else "empty file (whitespace only)")
    decoded = _decode(data, declared)
    if not decoded.text.strip():
        raise UnreadableFile("empty file (whitespace only)")
    if _control_share(decoded.text) > _MAX_CONTROL_SHARE:
        raise UnreadableFile("binary file (mostly non-printable characters)")
    return decoded


def declared_charset(data: bytes) -> str | None:
    """The charset an HTML file declares in a ``<meta>`` tag near its start, if any."""
    match = _META_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii", errors="replace") if match else None


def _decode(data: bytes, declared: str | None) -> Decoded:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(data[len(bom) :].decode(encoding), f"{encoding} with BOM")
            except UnicodeDecodeError as exc:
                raise UnreadableFile(f"not valid {encoding} after its byte-order mark") from exc
    if b"\x00" in data:
        raise UnreadableFile("binary file (NUL bytes)")
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    salvaged = _mostly_utf8(data)
    if salvaged is not None:
        return salvaged
    if declared:
        try:
            return Decoded(data.decode(declared), f"{declared} (declared)")
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong or unknown declaration: detect instead
    return _detected(data)


def _mostly_utf8(data: bytes) -> Decoded | None:
    """UTF-8 with a few bad bytes (replaced), when valid multi-byte characters outnumber them.

    Valid UTF-8 sequences almost never occur by chance in a single-byte encoding, so a file that
    has them is UTF-8 that got damaged, not cp1252 that should be read as "Ã©".
    """
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    wide = sum(1 for ch in text if ord(ch) > 127 and ch != "\ufffd")
    return Decoded(text, "utf-8", replaced=bad) if wide > bad else None


def _detected(data: bytes) -> Decoded:
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise UnreadableFile("binary file (no text encoding fits its bytes)")
    tied = [
        m for m in matches if m.chaos <= best.chaos + _TIE and m.coherence >= best.coherence - _TIE
    ]
    for preferred in _PREFERRED:
        if any(preferred in m.could_be_from_charset for m in tied):
            text = data.decode(preferred, errors="replace")
            return Decoded(text, preferred, replaced=text.count("\ufffd"))
    return Decoded(str(best), best.encoding)


def _control_share(text: str) -> float:
    """Share of control, private-use, unassigned or replacement characters in ``text``."""
    sample = text[:100_000]
    odd = sum(
        1
        for ch in sample
        if ch == "\ufffd"
        or (unicodedata.category(ch) in ("Cc", "Co", "Cn", "Cs") and ch not in _ALLOWED_CONTROLS)
    )
    return odd / len(sample)
