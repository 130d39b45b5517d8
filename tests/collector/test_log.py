"""Structured logging: levels match the stdlib's, quiet commands never import structlog, stderr only."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from devlog_collector import log


def test_level_numbers_are_the_stdlib_levels() -> None:
    assert (log.DEBUG, log.INFO, log.WARNING, log.ERROR, log.CRITICAL) == (
        logging.DEBUG,
        logging.INFO,
        logging.WARNING,
        logging.ERROR,
        logging.CRITICAL,
    )


def test_messages_below_the_threshold_cost_no_import_and_enabled_ones_go_to_stderr_as_json() -> None:
    script = (
        "import sys\n"
        "from devlog_collector.log import configure_logging, get_logger\n"
        "configure_logging(0, json=True)\n"
        "log = get_logger('unit')\n"
        "log.info('quiet_fact', n=1)\n"
        "assert 'structlog' not in sys.modules and 'logging' not in sys.modules, sorted(sys.modules)\n"
        "log.warning('loud_fact', n=2)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    record = json.loads(done.stderr.strip().splitlines()[-1])
    assert record["event"] == "loud_fact" and record["n"] == 2 and record["level"] == "warning"
    assert record["component"] == "unit"
