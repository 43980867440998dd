"""How ``qa serve`` runs gunicorn: one frozen record of options, and the command-line flags for it."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class ServeOptions:
    """Where to listen, how many workers and threads, and how long and how much a client may take.

    ``client_timeout`` bounds every wait on a client: the whole request head must arrive within it
    (else 408), and each read of a body or write of a response may block that long at most.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    # One process: each loads the models (about 500 MB); threads share one copy.
    workers: int = 1
    # Threads run the app only (heads are read in the event loop), so a few per core suffice.
    threads: int = 4
    client_timeout: float = 10.0
    # Idle keep-alive connections cost a file descriptor each, no thread: keep them a while.
    keepalive: int = 5
    # Heartbeat: gthread's event loop (not a request) must check in this often; loading the
    # models comes before the first check-in, and takes a minute on a busy 2-core machine.
    timeout: int = 120
    graceful_timeout: int = 20
    # Open connections per worker, idle ones included; beyond it new ones wait in the backlog.
    worker_connections: int = 1000
    # 0: never recycle. A recycled worker reloads the models for seconds, and with one worker
    # nothing answers meanwhile; set it only against a leak.
    max_requests: int = 0
    limit_request_line: int = 4094
    limit_request_fields: int = 50
    limit_request_field_size: int = 8190

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServeOptions:
        """The options ``add_arguments`` put on ``args``."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})

    def gunicorn_settings(self) -> dict[str, Any]:
        """gunicorn settings (names as in its configuration file), less the worker class."""
        return {
            "bind": f"{self.host}:{self.port}",
            "workers": self.workers,
            "threads": self.threads,
            "timeout": self.timeout,
            "graceful_timeout": self.graceful_timeout,
            "keepalive": self.keepalive,
            "worker_connections": self.worker_connections,
            "max_requests": self.max_requests,
            "max_requests_jitter": self.max_requests // 10,
            "limit_request_line": self.limit_request_line,
            "limit_request_fields": self.limit_request_fields,
            "limit_request_field_size": self.limit_request_field_size,
            "accesslog": "-",
            # Else every server on the machine would share ~/.gunicorn/gunicorn.ctl (tests and
            # benchmarks run several at once), and qa has no use for gunicornc.
            "control_socket_disable": True,
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``qa serve`` flags, one per ``ServeOptions`` field."""
    d = ServeOptions()
    add = parser.add_argument
    add("--host", default=os.environ.get("HOST", d.host))
    add("--port", type=int, default=int(os.environ.get("PORT", str(d.port))))
    add("--workers", type=int, default=d.workers, help="processes (each loads the models)")
    add("--threads", type=int, default=d.threads, help="threads per process")
    add(
        "--client-timeout",
        type=float,
        default=d.client_timeout,
        metavar="SECONDS",
        help="time a client has to send the request head (else 408), and the longest one read "
        f"of a body or write of a response may wait (default {d.client_timeout:g})",
    )
    add("--keep-alive", dest="keepalive", type=int, default=d.keepalive, metavar="SECONDS")
    add("--timeout", type=int, default=d.timeout, metavar="SECONDS", help="worker heartbeat")
    add("--graceful-timeout", type=int, default=d.graceful_timeout, metavar="SECONDS")
    add("--worker-connections", type=int, default=d.worker_connections, metavar="N")
    add("--max-requests", type=int, default=d.max_requests, metavar="N", help="0: never recycle")
    add("--limit-request-line", type=int, default=d.limit_request_line, metavar="BYTES")
    add("--limit-request-fields", type=int, default=d.limit_request_fields, metavar="N")
    add("--limit-request-field-size", type=int, default=d.limit_request_field_size, metavar="BYTES")
