"""Running a real `qa serve` (gunicorn) for tests that talk HTTP over sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests


@dataclass(frozen=True)
class Server:
    proc: subprocess.Popen
    url: str
    port: int

    def kill(self) -> None:
        """SIGKILL the master and its workers at once (they share a process group)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/api/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False  # not listening yet, or the worker is still loading the model


def start_server(
    env: dict[str, str], log_path: Path, args: Sequence[str] = (), timeout: float = 180
) -> Server:
    """``qa serve`` on a free port with ``env`` (QA_* from the caller only), once healthy."""
    port = free_port()
    command = [sys.executable, "-m", "qa.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | env
    # A file, not a pipe: nobody reads the access log, and a full pipe would block the server.
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*command, *args],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", port)
    deadline = time.monotonic() + timeout
    while not healthy(server.url):
        if proc.poll() is not None:
            output = log_path.read_text(errors="replace")
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{output}")
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"the server did not become healthy within {timeout:.0f} s")
        time.sleep(0.5)
    return server


@contextmanager
def serving(env: dict[str, str], log_path: Path, args: Sequence[str] = ()) -> Iterator[Server]:
    server = start_server(env, log_path, args)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def milvus_server(data_dir: Path, log_path: Path, timeout: float = 60) -> Iterator[str]:
    """A Milvus Lite gRPC server in its own process (as a Milvus standalone is); yields its URI.

    Several processes (gunicorn workers, ``qa index``) can share it, where a Milvus Lite file is
    one process's.
    """
    port = free_port()
    command = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data_dir)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Milvus Lite did not start:\n{log_path.read_text(errors='replace')}"
                    ) from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
