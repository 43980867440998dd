"""Start gunicorn in this process with ``qa``'s worker, options and app."""

from __future__ import annotations

import os
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from qa.config import Settings
from qa.serve.options import ServeOptions
from qa.serve.worker import QAWorker


class QAServer(BaseApplication):  # type: ignore[misc]
    """gunicorn configured from ``ServeOptions`` (no config file, no GUNICORN_CMD_ARGS)."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        settings: dict[str, Any] = self.options.gunicorn_settings()
        settings["worker_class"] = QAWorker.configured(self.options.client_timeout)
        for name, value in settings.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        # In each worker after the fork: the models load there, not in the master.
        from qa.serve.api import create_app

        return create_app()


def run(settings: Settings, options: ServeOptions) -> int:
    """Serve until gunicorn exits (it ends the process with its own status)."""
    # The app reads its settings from the environment in each worker.
    os.environ["QA_INDEX_DIR"] = str(settings.index_dir)
    if settings.corpus is not None:
        os.environ["QA_CORPUS"] = str(settings.corpus)
    url = f"http://{options.host}:{options.port}"
    print(f"qa: serving {settings.index_dir} on {url}", file=sys.stderr)
    QAServer(options).run()
    return 0
