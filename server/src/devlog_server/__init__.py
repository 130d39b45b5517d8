"""devlog ingest server: receives exported agent events, stores them, serves an API.

The application is built by `devlog_server.app.create_app(settings)`; the `devlog-server` command
(`devlog_server.cli`) runs it under uvicorn, applies migrations and manages API keys.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
