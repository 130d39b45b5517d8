"""Background export for `devlog start`: one worker thread per auto-sync remote.

Each remote gets its own thread, its own store connection and its own HTTP client, so a remote that
is down, slow or backfilling a million events never holds up collection or the other remotes
(the fan-out head-of-line blocking that Fluent Bit and Vector users report). A worker exports at
its remote's `sync_interval`, and sooner when the collector calls `notify_new_events()`; after a
transient failure it waits out its backoff (new events do not cut a backoff short), which starts over
when the failed pass had delivered batches first (a server rate-limiting a long backfill). A paused remote
(401/403/404) is re-checked each interval and resumes once `devlog export` or a config change
un-pauses it.

`stop()` lets each worker finish the batch it is sending (so the cursor commit that follows a
server's 2xx is not lost), then joins the threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from devlog_collector.config import Config
from devlog_collector.export.client import Backoff
from devlog_collector.export.routing import Router
from devlog_collector.log import get_logger

__all__ = ["ExportDaemon"]

log = get_logger("export.daemon")

#: After a new-events notification, wait this long so a burst of commits becomes one batch.
NOTIFY_DEBOUNCE_S: Final = 1.0


class _Worker:
    """The export loop of one remote (runs in its own thread)."""

    def __init__(
        self,
        name: str,
        config: Config,
        db_path: Path,
        stopping: threading.Event,
        backoff: Backoff,
    ) -> None:
        self.name = name
        self.config = config
        self.db_path = db_path
        self.stopping = stopping
        self.backoff = backoff
        self.wake = threading.Event()
        self.interval = config.export.remotes[name].sync_interval.total_seconds()
        self.thread = threading.Thread(target=self._run, name=f"devlog-export-{name}", daemon=True)

    def _wait(self, seconds: float, *, wakeable: bool) -> None:
        deadline = time.monotonic() + max(0.0, seconds)
        while not self.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if wakeable and self.wake.is_set():
                self.wake.clear()
                # Debounce: let a burst of commits accumulate, but never wait past the deadline.
                self.stopping.wait(min(NOTIFY_DEBOUNCE_S, left))
                return
            (self.wake if wakeable else self.stopping).wait(min(left, 0.5))

    def _run(self) -> None:
        from devlog_collector.export.exporter import RemoteExporter

        exporter: RemoteExporter | None = None
        try:
            while not self.stopping.is_set():
                self.wake.clear()
                try:
                    if exporter is None:
                        exporter = RemoteExporter.open(self.name, self.config, self.db_path)
                    outcome = exporter.sync(should_stop=self.stopping.is_set)
                except Exception:
                    # A store hiccup (disk full, locked too long) must not end background export.
                    log.exception("export_pass_failed", remote=self.name)
                    self._wait(self.backoff.next_delay(), wakeable=False)
                    continue
                if self.stopping.is_set():
                    break
                if outcome.paused or outcome.busy:
                    self._wait(self.interval, wakeable=False)
                elif outcome.error is not None:
                    if outcome.batches:
                        # It delivered batches before failing (a server that rate-limits a long
                        # backfill): wait what the server asks, not a backoff grown pass by pass.
                        self.backoff.reset()
                    delay = self.backoff.next_delay(outcome.retry_after)
                    log.info("export_retry_scheduled", remote=self.name, delay_s=round(delay, 3))
                    self._wait(delay, wakeable=False)
                else:
                    self.backoff.reset()
                    if outcome.caught_up:
                        self._wait(self.interval, wakeable=True)
        except Exception:
            log.exception("export_worker_crashed", remote=self.name)
        finally:
            if exporter is not None:
                exporter.close()


class ExportDaemon:
    """Runs the auto-sync remotes of `config` in the background (see the module docstring).

    Args:
        config: the collector configuration; remotes with `auto_sync: true` and routing rules run.
        db_path: the local store.
        backoff_factory: makes each worker's retry schedule (tests inject a fast one).
    """

    def __init__(
        self,
        config: Config,
        db_path: Path,
        *,
        backoff_factory: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.config = config
        self.db_path = db_path
        self._stopping = threading.Event()
        router = Router(config)
        self._workers = [
            _Worker(name, config, db_path, self._stopping, backoff_factory())
            for name, remote in sorted(config.export.remotes.items())
            if remote.auto_sync and router.has_rules(name)
        ]
        self._started = False

    @property
    def remotes(self) -> list[str]:
        """The remotes this daemon exports to."""
        return [w.name for w in self._workers]

    def start(self) -> None:
        """Start one background thread per auto-sync remote; returns immediately."""
        if self._started:
            return
        self._started = True
        for worker in self._workers:
            worker.thread.start()
        if self._workers:
            log.info("export_daemon_started", remotes=self.remotes)

    def notify_new_events(self) -> None:
        """New events were committed: export them soon (after a short debounce)."""
        for worker in self._workers:
            worker.wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish in-flight batches and stop the workers (waits at most `timeout` seconds in total)."""
        self._stopping.set()
        for worker in self._workers:
            worker.wake.set()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            if worker.thread.is_alive():
                worker.thread.join(max(0.0, deadline - time.monotonic()))
            if worker.thread.is_alive():
                log.warning("export_worker_still_running", remote=worker.name)
