"""One client layer for everything that asks a qa service: the chat and the evaluation.

``LocalClient`` answers from an index in this process; ``HttpClient`` from a running server. Both
return the same records (``qa.schema.Answer``, ``DocumentText``) and raise the same errors
(``qa.errors.ClientError`` and its kinds; ``RequestRejected`` for one refused question or
document id, after which a session goes on).
"""

from __future__ import annotations

from qa.clients.base import Client, DocumentText
from qa.clients.http import HttpClient, normalise_url
from qa.clients.local import LocalClient

__all__ = ["Client", "DocumentText", "HttpClient", "LocalClient", "normalise_url"]
