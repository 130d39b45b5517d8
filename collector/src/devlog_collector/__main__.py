"""`python -m devlog_collector` (used by tests that run the collector as a subprocess)."""

from devlog_collector.cli import main

main()
