"""Filters that restrict a question to some documents: by id glob, file type and metadata fields.

A request's ``"filters"`` object maps a field to a condition; a document must meet them all::

    {"doc_id": "reports/2023/*",          # a glob (fnmatch, case-sensitive; * spans "/"), or a list
     "type": ["pdf", "docx"],             # a value (equality) or a list (any of them)
     "year": {"gte": 2020, "lt": 2024},   # eq, in, gt, gte, lt, lte
     "team": {"in": ["a", "b"]}}

``doc_id`` is the document's id and ``type`` its format (``qa.ingest.metadata``); every other name
is a field of the document's metadata. Ranges compare numbers with numbers and strings with
strings (ISO dates ``YYYY-MM-DD`` order as strings). A document lacking a field does not match a
condition on it; one whose field is a list matches when any of its items does. A malformed
filter is ``InvalidRequest`` naming the field.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qa.errors import InvalidRequest

Scalar = str | int | float | bool
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
DOC_ID = "doc_id"
OPERATORS = ("eq", "in", "gt", "gte", "lt", "lte")
RANGES = {"gt": (1,), "gte": (0, 1), "lt": (-1,), "lte": (-1, 0)}  # allowed signs of cmp(v, bound)
MAX_VALUES = 1000  # values one "in" (or list) may hold: a filter is not a way to send a corpus
# An answer's (and a search's) message when the filters keep no document: not an error, since
# documents come and go, but nothing to answer from.
NO_MATCH_MESSAGE = "No document matches the filters, so there is nothing to answer from."


@dataclass(frozen=True)
class Condition:
    """One field's condition: its value is one of each group of ``choices`` (globs for
    ``doc_id``; ``eq`` and ``in`` each give a group) and within every bound of ``bounds``
    (``(operator, value)`` pairs)."""

    field: str
    choices: tuple[tuple[Scalar, ...], ...] = ()
    bounds: tuple[tuple[str, Scalar], ...] = ()

    def matches(self, value: object) -> bool:
        """Whether a document whose field holds ``value`` (None: it has none) meets it."""
        if isinstance(value, list):
            return any(self.matches(item) for item in value)
        if value is None:
            return False
        if self.field == DOC_ID:
            return all(
                any(fnmatch.fnmatchcase(str(value), str(glob)) for glob in group)
                for group in self.choices
            )
        return all(any(_equal(value, v) for v in group) for group in self.choices) and all(
            _within(value, op, bound) for op, bound in self.bounds
        )


@dataclass(frozen=True)
class DocumentFilter:
    """Conditions a document must all meet."""

    conditions: tuple[Condition, ...]

    def matches(self, doc_id: str, fields: Mapping[str, Any]) -> bool:
        """Whether the document ``doc_id`` with metadata ``fields`` (its type among them) passes."""
        return all(
            c.matches(doc_id if c.field == DOC_ID else fields.get(c.field)) for c in self.conditions
        )

    @property
    def key(self) -> str:
        """A canonical text of the filter: equal for equal filters, and true never equals 1."""
        return json.dumps(
            [[c.field, [[_tagged(v) for v in group] for group in c.choices],
              [[o, _tagged(b)] for o, b in c.bounds]] for c in self.conditions]
        )  # fmt: skip


def parse_filters(raw: object) -> DocumentFilter | None:
    """The filter a request's ``"filters"`` gives; None for none (absent, null or ``{}``);
    ``InvalidRequest`` naming the field for a malformed one."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidRequest(
            "'filters' must be an object of field -> condition, e.g. "
            '{"doc_id": "reports/*", "type": "pdf", "year": {"gte": 2020}}'
        )
    conditions = tuple(_condition(str(name), spec) for name, spec in sorted(raw.items()))
    return DocumentFilter(conditions) if conditions else None


def filters_option(text: str) -> dict[str, Any]:
    """A ``--filters`` command-line value (``qa ask``, ``qa eval``): a JSON object, checked as
    a request's ``filters`` is; ``argparse.ArgumentTypeError`` saying what is wrong."""
    try:
        raw = json.loads(text)
        parse_filters(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    except InvalidRequest as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return raw  # type: ignore[no-any-return]


def _condition(name: str, spec: object) -> Condition:
    where = f"filters.{name}"
    if not FIELD_NAME.fullmatch(name):
        raise InvalidRequest(
            f"{where}: a field name is letters, digits, '_', '.' or '-' (at most 64, starting "
            "with a letter or '_')"
        )
    if name == DOC_ID:
        return _doc_id_condition(spec, where)
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(OPERATORS))
        if unknown:
            raise InvalidRequest(
                f"{where}: unknown operator {unknown[0]!r}; use {', '.join(OPERATORS)}"
            )
        if not spec:
            raise InvalidRequest(
                f"{where}: give a value, a list, or operators ({', '.join(OPERATORS)})"
            )
        choices = []
        if "eq" in spec:
            choices.append((_scalar(spec["eq"], f"{where}.eq"),))
        if "in" in spec:
            choices.append(_listed(spec["in"], f"{where}.in"))
        bounds = tuple((op, _bound(spec[op], f"{where}.{op}")) for op in RANGES if op in spec)
        if len({isinstance(b, str) for _, b in bounds}) > 1:
            raise InvalidRequest(f"{where}: bounds must all be numbers or all be strings (dates)")
        return Condition(name, tuple(choices), bounds)
    if isinstance(spec, list):
        return Condition(name, (_listed(spec, where),))
    return Condition(name, ((_scalar(spec, where),),))


def _doc_id_condition(spec: object, where: str) -> Condition:
    """``doc_id`` takes globs only: one, a list, ``{"eq": glob}`` or ``{"in": [globs]}``."""
    if isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in ("eq", "in"):
        op, spec = next(iter(spec.items()))
        where = f"{where}.{op}"
    globs = spec if isinstance(spec, list) else [spec]
    if not globs or len(globs) > MAX_VALUES or not all(isinstance(g, str) and g for g in globs):
        raise InvalidRequest(
            f'{where}: doc_id takes a glob such as "reports/2023/*" or a list of 1 to '
            f"{MAX_VALUES} globs (no ranges)"
        )
    return Condition(DOC_ID, (tuple(globs),))


def _scalar(value: object, where: str) -> Scalar:
    if isinstance(value, str | bool | int | float) and value == value:  # NaN is not a value
        return value
    raise InvalidRequest(f"{where}: expected a string, number or boolean, got {_kind(value)}")


def _listed(values: object, where: str) -> tuple[Scalar, ...]:
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_VALUES:
        raise InvalidRequest(f"{where}: expected a list of 1 to {MAX_VALUES} values")
    return tuple(_scalar(v, where) for v in values)


def _bound(value: object, where: str) -> Scalar:
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value != value:
        raise InvalidRequest(
            f"{where}: expected a number or a date string (YYYY-MM-DD), got {_kind(value)}"
        )
    return value


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", type(None): "null"}.get(
        type(value), f"{type(value).__name__} {value!r}"
    )


def _family(value: object) -> str | None:
    """What a value compares with: booleans with booleans, numbers with numbers, strings with
    strings (True is not 1 here)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    return None


def _equal(value: object, wanted: Scalar) -> bool:
    return _family(value) == _family(wanted) and value == wanted


def _within(value: object, op: str, bound: Scalar) -> bool:
    family = _family(value)
    if family is None or family == "bool" or family != _family(bound):
        return False
    sign = (value > bound) - (value < bound)  # type: ignore[operator]
    return sign in RANGES[op]


def _tagged(value: Scalar) -> list[Any]:
    return [_family(value), value]
