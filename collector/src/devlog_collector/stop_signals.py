"""Ctrl-C and SIGTERM as a request to stop at the next commit, for `devlog collect` and `devlog start`.

Both commands write the store in transactions that carry the files' cursors, so stopping between two
commits loses nothing; a KeyboardInterrupt in the middle of one would only roll it back, but it would
also skip what a clean stop does (the run record, the indexes a large load dropped, the exporter's
threads). So the first SIGINT or SIGTERM sets an event the collector checks; the previous handlers
come back at once, so a second signal acts as usual (Ctrl-C twice stops at once).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from devlog_collector.log import get_logger

__all__ = ["stop_on_signals"]

log = get_logger("collect")


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[list[int]]:
    """Within the block, the first SIGINT or SIGTERM sets `stop`; yields the signals received.

    Outside the main thread (where Python cannot install handlers) it changes nothing.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()
        # (A signal during structlog's first import, under `-v`, cannot log: the stop counts, not its line.)
        with contextlib.suppress(Exception):
            log.info("stop_requested", signal=signal.Signals(signum).name)
        for sig, old in previous.items():  # a second signal acts as usual
            signal.signal(sig, old)

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handler)
    try:
        yield received
    finally:
        for sig, old in previous.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, old)
