"""A document's metadata: its type (format), and fields its author gives.

Fields come from a Markdown file's front matter (``---`` lines of ``key: value`` at the top) and
from a ``<file name>.meta.json`` beside the file (a JSON object, which wins where both name a
field); ``PUT /api/documents/<id>`` writes that file. Values are strings, numbers, booleans
(dates as ISO strings, ``YYYY-MM-DD``, which order as strings) or lists of them. ``type`` is the
document's format and ``doc_id`` its id, so neither can be given. Filters (``qa.filters``) select
documents by these fields.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path, PurePosixPath
from typing import Any

from qa.filters import FIELD_NAME
from qa.ingest.formats import FORMATS, read_docx, read_html, read_markdown, read_pdf, read_plain

log = logging.getLogger(__name__)

Value = str | int | float | bool | list[str | int | float | bool]
META_SUFFIX = ".meta.json"
RESERVED = ("doc_id", "type")
SQUAD_TYPE = "squad"  # a paragraph of a SQuAD-format JSON corpus
MAX_FIELDS = 64
MAX_VALUE_CHARS = 1_000
MAX_ITEMS = 100
MAX_SIDECAR_BYTES = 64 * 1024
_TYPES = {
    read_plain: "txt",
    read_markdown: "md",
    read_pdf: "pdf",
    read_html: "html",
    read_docx: "docx",
}
_FENCE, _END = "---", ("---", "...")
_KEY_LINE = re.compile(r"(?P<key>[^\s:#-][^:]*?)[ \t]*:(?:[ \t]+(?P<value>.*?))?[ \t]*")
_ITEM_LINE = re.compile(r"[ \t]*-(?:[ \t]+(?P<value>.*?))?[ \t]*")
_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def doc_type(name: str) -> str | None:
    """The type of a document named ``name`` (its id or file name): ``txt``, ``md``, ``pdf``,
    ``html`` or ``docx`` (``.text``, ``.markdown`` and ``.htm`` are their formats too)."""
    return _TYPES.get(FORMATS.get(PurePosixPath(name).suffix.lower()))  # type: ignore[arg-type]


def is_sidecar(name: str) -> bool:
    """Whether a corpus file is another file's metadata rather than a document."""
    return name.endswith(META_SUFFIX)


def sidecar_of(file: Path) -> Path:
    """Where the metadata of ``file`` lies."""
    return file.with_name(file.name + META_SUFFIX)


def checked_fields(fields: object, where: str = "meta") -> dict[str, Value]:
    """``fields`` as metadata; ``ValueError`` naming the field (``where.name``) if it cannot be."""
    if not isinstance(fields, dict):
        raise ValueError(f"{where}: expected a JSON object of field -> value")
    if len(fields) > MAX_FIELDS:
        raise ValueError(f"{where}: {len(fields)} fields; at most {MAX_FIELDS}")
    out: dict[str, Value] = {}
    for name, value in fields.items():
        if name in RESERVED:
            raise ValueError(f"{where}.{name}: reserved (the document's {name} is set by qa)")
        if not isinstance(name, str) or not FIELD_NAME.fullmatch(name):
            raise ValueError(
                f"{where}: {name!r} is not a field name (letters, digits, '_', '.' or '-', at "
                "most 64, starting with a letter or '_')"
            )
        if isinstance(value, list):
            if len(value) > MAX_ITEMS:
                raise ValueError(f"{where}.{name}: more than {MAX_ITEMS} items")
            out[name] = [_checked(item, f"{where}.{name}") for item in value]
        else:
            out[name] = _checked(value, f"{where}.{name}")
    return out


def _checked(value: object, where: str) -> str | int | float | bool:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: {value} is not a number JSON can hold")
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        raise ValueError(f"{where}: longer than {MAX_VALUE_CHARS:,} characters")
    if isinstance(value, str | bool | int | float):
        return value
    kind = "null" if value is None else "an object" if isinstance(value, dict) else "a list"
    raise ValueError(f"{where}: expected a string, number, boolean or a list of them, got {kind}")


def read_sidecar(file: Path) -> dict[str, Value]:
    """The fields in ``file``'s ``.meta.json``, {} without one; ``ValueError`` saying why one
    cannot be used."""
    path = sidecar_of(file)
    try:
        if not path.is_file():
            return {}
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            raise ValueError(f"larger than {MAX_SIDECAR_BYTES // 1024} KiB")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a readable JSON object ({exc})") from None
    return checked_fields(data, "meta")


def front_matter(raw: str) -> tuple[dict[str, Value], int]:
    """The fields of a Markdown text's front matter, and the offset where its body begins
    (``{}, 0`` when it has none).

    Front matter is ``---`` on the first line, ``key: value`` lines (or ``- item`` lines under
    an empty key), then ``---`` or ``...``. Lines of any other shape mean the first ``---`` was
    a horizontal rule: then there is no front matter, and nothing of the text is lost.
    """
    lines = raw.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != _FENCE:
        return {}, 0
    pos = len(lines[0])
    body: list[str] = []
    for line in lines[1:]:
        pos += len(line)
        if line.rstrip() in _END:
            fields = _parse(body)
            return (fields, pos) if fields is not None else ({}, 0)
        body.append(line.rstrip("\r\n"))
    return {}, 0  # never closed


def _parse(lines: list[str]) -> dict[str, Value] | None:
    """The fields of front matter lines; None if a line is not of front matter's shape."""
    fields: dict[str, Any] = {}
    dropped: set[str] = set()
    key = None  # the last key: "- item" lines below it add to its list
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = _ITEM_LINE.fullmatch(line)
        if item:
            value = _value(item["value"] or "")
            if key is not None and isinstance(fields[key], list) and value is not None:
                fields[key].append(value)
            continue
        if line[0].isspace():
            # Indented, not an item: the last key holds a nested mapping or a folded string,
            # more than a value; it is left out.
            if key is not None:
                dropped.add(key)
            continue
        pair = _KEY_LINE.fullmatch(line)
        if pair is None:
            return None
        key = pair["key"].strip("\"'")
        value = _value(pair["value"] or "")
        fields[key] = [] if value is None else value
    return _usable({k: v for k, v in fields.items() if k not in dropped})


def _usable(fields: dict[str, Any]) -> dict[str, Value]:
    """The fields metadata may hold; the others dropped with a note in the log."""
    out: dict[str, Value] = {}
    for name, value in fields.items():
        if value == []:
            continue  # "key:" with nothing under it
        try:
            out.update(checked_fields({name: value}, "front matter"))
        except ValueError as exc:
            log.info("front matter field dropped: %s", exc)
    return out


def _value(text: str) -> Value | None:
    """A front matter value, read as YAML reads the simple ones: quoted strings, ``[a, b]``
    lists, true/false, integers and decimals; anything else is a string (``2023-04-01`` too)."""
    text = text.strip()
    if text[:1] in ("'", '"') and len(text) >= 2 and text[-1] == text[0]:
        return text[1:-1]
    text = re.split(r"\s#", text, maxsplit=1)[0].strip()  # a comment after the value
    if text in ("", "~") or text.lower() == "null":
        return None
    if text.startswith("[") and text.endswith("]"):
        items = [_value(part) for part in text[1:-1].split(",")]
        return [item for item in items if item is not None and not isinstance(item, list)]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text
