"""`DEVLOG_SERVER_BOOTSTRAP_KEYS`: create the keys a demo or container needs, at start-up, if absent.

A key whose name already exists is left untouched (its secret is not compared or replaced), so
restarting a container never rotates or duplicates keys. The secrets are never logged.
"""

from __future__ import annotations

import structlog
from sqlalchemy.exc import IntegrityError

from devlog_server.db.engine import Database
from devlog_server.errors import UserInputError
from devlog_server.keys import BootstrapKey, create_key, list_keys, parse_bootstrap_keys

__all__ = ["bootstrap_keys"]

_log = structlog.get_logger("devlog_server.bootstrap")


async def bootstrap_keys(db: Database, spec: str, pepper: bytes) -> list[str]:
    """Create the keys of `spec` that do not exist yet; returns the names created.

    Several workers or replicas may start at once: if another one creates a key first (a unique
    violation), the attempt is repeated and then finds the key present.
    """
    try:
        wanted = parse_bootstrap_keys(spec)
    except UserInputError as exc:
        raise UserInputError(f"DEVLOG_SERVER_BOOTSTRAP_KEYS: {exc}") from exc
    try:
        return await _create_missing(db, wanted, pepper)
    except IntegrityError:
        return await _create_missing(db, wanted, pepper)


async def _create_missing(db: Database, wanted: list[BootstrapKey], pepper: bytes) -> list[str]:
    created: list[str] = []
    async with db.write() as conn:
        existing = {key.name for key in await list_keys(conn)}
        for entry in wanted:
            if entry.name in existing:
                _log.info("bootstrap_key_exists", name=entry.name)
                continue
            try:
                result = await create_key(
                    conn,
                    entry.name,
                    pepper=pepper,
                    scopes=entry.scopes,
                    workspaces=entry.workspaces,
                    token=entry.secret,
                )
            except UserInputError as exc:
                raise UserInputError(f"DEVLOG_SERVER_BOOTSTRAP_KEYS: {exc}") from exc
            existing.add(entry.name)
            created.append(entry.name)
            _log.info("bootstrap_key_created", name=entry.name, key_id=result.key.id, scopes=list(result.key.scopes))
    return created
