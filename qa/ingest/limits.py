"""What one document may take to read: the bytes its reader unpacks or parses in memory (a
DOCX's inflated parts, a PDF's page contents, an HTML page), the nodes of its parsed markup (a
DOCX's XML, an HTML page: 100-300 bytes of memory each, from as little as 4 bytes of file) and the
characters of its text. Settings ``QA_MAX_INFLATED_MB``, ``QA_MAX_MARKUP_NODES`` and
``QA_MAX_TEXT_CHARS``; past any, a build skips the file and an upload of it is a 413.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa.errors import DocumentTooLarge

if TYPE_CHECKING:
    from qa.config import Settings

_MB = 1 << 20


@dataclass(frozen=True)
class ReadLimits:
    """What one document may take to read; past any limit it is ``DocumentTooLarge``."""

    max_inflated_bytes: int = 100 * _MB  # unpacked or parsed in memory (QA_MAX_INFLATED_MB)
    max_text_chars: int = 20_000_000  # of extracted text (QA_MAX_TEXT_CHARS)
    max_markup_nodes: int = 1_000_000  # elements, and XML attributes (QA_MAX_MARKUP_NODES)

    @classmethod
    def of(cls, settings: Settings) -> ReadLimits:
        """The limits ``settings`` set (``QA_MAX_INFLATED_MB``, ``QA_MAX_TEXT_CHARS``,
        ``QA_MAX_MARKUP_NODES``)."""
        return cls(
            settings.max_inflated_mb * _MB, settings.max_text_chars, settings.max_markup_nodes
        )

    def too_inflated(self, what: str, size: int | None = None) -> DocumentTooLarge:
        """The error for a document whose reader would unpack or parse more than it may:
        ``what`` is e.g. "its parts inflate to", ``size`` the bytes if known."""
        amount = f"{_mb(size)}, over" if size is not None else "more than"
        limit = f"{self.max_inflated_bytes / _MB:g} MB"
        return DocumentTooLarge(
            f"too large to read: {what} {amount} the limit of {limit} (QA_MAX_INFLATED_MB)"
        )

    def check_markup(self, nodes: int, where: str, kind: str) -> None:
        """``DocumentTooLarge`` if ``nodes`` of markup are more than a document may parse:
        ``where`` has them ("its XML has"), ``kind`` is what they are ("tags")."""
        if nodes > self.max_markup_nodes:
            raise DocumentTooLarge(
                f"too large to read: {where} more than the limit of {self.max_markup_nodes:,} "
                f"{kind} (QA_MAX_MARKUP_NODES)"
            )

    def check_text(self, chars: int) -> None:
        """``DocumentTooLarge`` if ``chars`` characters of text are more than a document may hold."""
        if chars > self.max_text_chars:
            raise DocumentTooLarge(
                f"too large to read: its text has more than the limit of "
                f"{self.max_text_chars:,} characters (QA_MAX_TEXT_CHARS)"
            )


DEFAULT_LIMITS = ReadLimits()


def _mb(n_bytes: int) -> str:
    """``n_bytes`` in megabytes (MiB), to one decimal."""
    return f"{n_bytes / _MB:,.1f} MB"
