"""`stop_on_signals`: SIGINT/SIGTERM set the stop event, whatever else is going on when they land."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import pytest

from devlog_collector import stop_signals
from devlog_collector.stop_signals import stop_on_signals


def test_a_signal_during_the_logging_librarys_first_import_still_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    """`devlog -v collect` stopped 0.2 s in: the handler's log line re-entered structlog's import
    under way and raised `partially initialized module 'structlog'`, a traceback and exit 1."""

    class HalfImported:
        def info(self, *_args: Any, **_kwargs: Any) -> None:
            raise AttributeError("partially initialized module 'structlog' has no attribute 'configure'")

    monkeypatch.setattr(stop_signals, "log", HalfImported())
    stop = threading.Event()
    with stop_on_signals(stop) as received:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    assert received == [signal.SIGTERM]
