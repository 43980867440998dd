"""The pipeline a server answers with, following the index on disk.

Every few seconds a request looks at which build is live; when a build has been switched in (by
``qa index``, or by an update through another worker), one request thread loads it while the
others go on answering from the old one, and then the reference is swapped: a question is
answered wholly from one build, never from a half-applied change. A server started before any
index exists starts answering as soon as one is built; a damaged build is a 503 with the reason,
never a crash.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from qa.config import Settings
from qa.errors import IndexUnavailable, QAError
from qa.pipeline import QAPipeline
from qa.store import IndexStore

log = logging.getLogger(__name__)


class LivePipeline:
    """Hands out the pipeline of the live build, reloading it when the build changes."""

    def __init__(
        self,
        settings: Settings,
        *,
        loader: Callable[[Settings], QAPipeline] = QAPipeline.load,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._store = IndexStore(settings.index_dir)
        self._loader = loader
        self._clock = clock
        self._reload_lock = threading.Lock()
        self._pipeline: QAPipeline | None = None
        self._loaded_build: Path | None = None
        self._failed_build: Path | None = None  # not retried until another build is live
        self._error: QAError | None = None
        self._checked_at = float("-inf")
        self.refresh(force=True)

    def get(self) -> QAPipeline:
        """The pipeline to answer with; ``IndexUnavailable`` (a 503) while there is none."""
        if self._clock() - self._checked_at >= self.settings.reload_seconds:
            self.refresh()
        pipeline = self._pipeline
        if pipeline is None:
            raise self._error or IndexUnavailable(f"no index in {self.settings.index_dir}")
        return pipeline

    @property
    def error(self) -> QAError | None:
        """Why the live build could not be loaded, when it could not (the old one may serve)."""
        return self._error

    def refresh(self, *, force: bool = False) -> None:
        """Load the live build if it is not the one loaded. One thread loads; the others keep
        the current pipeline meanwhile (``force`` waits for the load instead).
        """
        if not self._reload_lock.acquire(blocking=force):
            return
        try:
            self._checked_at = self._clock()
            live = self._store.live()
            if live is not None and live == self._loaded_build and self._pipeline is not None:
                return
            if live is None and self._pipeline is not None:
                return  # the index folder was emptied: keep answering from memory
            if live is not None and live == self._failed_build:
                return
            try:
                pipeline = self._loader(self.settings)
            except QAError as exc:
                if self._error is None or str(exc) != str(self._error):
                    log.error("cannot load the index: %s", exc)
                self._error, self._failed_build = exc, live
                return
            except Exception as exc:  # noqa: BLE001 - a damaged build must not take a worker down
                log.exception("cannot load the index in %s", self.settings.index_dir)
                self._error = IndexUnavailable(
                    f"the index in {self.settings.index_dir} cannot be loaded ({exc!r}); "
                    "rebuild it with `qa index --force`"
                )
                self._failed_build = live
                return
            self._pipeline, self._loaded_build = pipeline, pipeline.folder
            self._error = self._failed_build = None
            log.warning("answering from %s", pipeline.folder)
        finally:
            self._reload_lock.release()
