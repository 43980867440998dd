"""Running the HTTP API under gunicorn: the worker, its timeouts and limits, the command line.

``options`` holds the settings and the ``qa serve`` options (no gunicorn import, so the CLI stays
light); ``runner`` starts gunicorn in this process with them; ``worker`` is the gthread worker that
reads request heads in its event loop, bounds every wait on a client and answers the server's own
errors as JSON; ``raw`` formats those answers. The Flask app itself is ``qa.serve.api:create_app``.
"""

from __future__ import annotations

from qa.config import Settings
from qa.errors import InvalidSetting
from qa.serve.options import ServeOptions, add_arguments

__all__ = ["ServeOptions", "add_arguments", "serve"]


def serve(settings: Settings, options: ServeOptions) -> int:
    """Serve the API over ``settings``' index until gunicorn stops; returns its exit status."""
    from qa.serve.runner import run

    if settings.backend == "milvus" and not settings.milvus_uri and options.workers > 1:
        # Milvus Lite locks its file to one process: every worker after the first would fail.
        raise InvalidSetting(
            f"--workers {options.workers} cannot share the Milvus Lite file in the index folder: "
            "serve with one worker, or run a Milvus server and set QA_MILVUS_URI=http://host:19530"
        )

    return run(settings, options)
