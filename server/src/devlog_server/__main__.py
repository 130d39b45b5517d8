"""`python -m devlog_server` runs the `devlog-server` command line."""

from __future__ import annotations

from devlog_server.cli import main

if __name__ == "__main__":
    main()
