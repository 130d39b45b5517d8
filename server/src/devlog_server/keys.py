"""API keys: the token format, the keyed hash stored at rest, and the key table's operations.

A token looks like `dvl_<key id>_<secret>` (12-character id, 32-character secret, base62). Only the
id, a per-key salt and `HMAC-SHA256(pepper, salt + token)` are stored, where the pepper is the server
secret `DEVLOG_SERVER_KEY_PEPPER` (optional, recommended). Tokens are long random strings, so a fast
keyed hash is as safe as a slow KDF and costs microseconds per request instead of bcrypt's
milliseconds; comparison is constant-time. The full token is shown once, on creation.

Bootstrap keys (`DEVLOG_SERVER_BOOTSTRAP_KEYS`) may carry any secret string; a token that is not in
the `dvl_` format gets a key id derived from its hash, so lookups stay one primary-key read.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from devlog_server.db.models import ApiKeyModel
from devlog_server.errors import AmbiguousKeyError, UnknownKeyError, UserInputError
from devlog_server.globs import WorkspaceMatcher, glob_problem, globs_problem

__all__ = [
    "ALL_SCOPES",
    "ApiKey",
    "BootstrapKey",
    "CreatedKey",
    "check_workspace_globs",
    "create_key",
    "find_key",
    "generate_token",
    "hash_token",
    "key_id_for_token",
    "list_keys",
    "parse_bootstrap_keys",
    "revoke_key",
]

ALL_SCOPES: Final = ("ingest", "read", "admin")
DEFAULT_SCOPES: Final = ("ingest", "read")
_ALPHABET: Final = string.ascii_letters + string.digits
# Matched with `fullmatch`, never `match` + `$`: Python's `$` also matches before a final newline,
# so `"alice\n"` would pass as a name (and print as a different one in every list).
_TOKEN_RE: Final = re.compile(r"dvl_([A-Za-z0-9]{12})_([A-Za-z0-9]{20,128})")
#: Key names, as the admin API's OpenAPI document states them (`KEY_NAME_PATTERN`).
KEY_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$"
_NAME_RE: Final = re.compile(KEY_NAME_PATTERN.removeprefix("^").removesuffix("$"))
MAX_TOKEN_LENGTH: Final = 512


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def generate_token() -> tuple[str, str]:
    """A new (key id, token) pair in the `dvl_<id>_<secret>` format."""
    key_id = _random(12)
    return key_id, f"dvl_{key_id}_{_random(32)}"


def key_id_for_token(token: str) -> str:
    """The key id a token is looked up by: embedded in `dvl_` tokens, derived from others."""
    match = _TOKEN_RE.fullmatch(token)
    if match:
        return match.group(1)
    digest = hashlib.sha256(b"devlog-key-id\x00" + token.encode("utf-8", "surrogatepass")).digest()
    return "b" + base64.b32encode(digest).decode().lower()[:11]


def hash_token(token: str, salt: str, pepper: bytes) -> str:
    """`HMAC-SHA256(pepper, salt + token)` as hex: what the key table stores."""
    message = salt.encode() + b"\x00" + token.encode("utf-8", "surrogatepass")
    return hmac.new(pepper or b"devlog-no-pepper", message, hashlib.sha256).hexdigest()


def _hint(token: str) -> str:
    return f"{token[:8]}…{token[-4:]}" if len(token) > 16 else "…"


@dataclass(frozen=True)
class ApiKey:
    """A key as the server uses it (never holds the token)."""

    id: str
    name: str
    scopes: tuple[str, ...]
    workspaces: tuple[str, ...]
    hint: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    matcher: WorkspaceMatcher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "matcher", WorkspaceMatcher(self.workspaces, key_id=self.id))

    def has_scope(self, scope: str) -> bool:
        """Whether the key grants `scope` (`admin` grants every scope)."""
        return scope in self.scopes or "admin" in self.scopes

    @property
    def revoked(self) -> bool:
        """True once the key has been revoked."""
        return self.revoked_at is not None


@dataclass(frozen=True)
class CreatedKey:
    """A key just created, with its token (shown to the operator once)."""

    key: ApiKey
    token: str


def _normalise_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    """The scopes deduplicated and lower-cased; an empty list is refused, not widened to the default:
    whoever sent `"scopes": []` meant a key with less, not one that may ingest and read. Callers pass
    `DEFAULT_SCOPES` themselves when no scopes were given at all."""
    cleaned = tuple(dict.fromkeys(s.strip().lower() for s in scopes if s.strip()))
    if not cleaned:
        raise UserInputError(
            f"scopes: give at least one of {', '.join(ALL_SCOPES)} (leave scopes out for the default, "
            f"{' and '.join(DEFAULT_SCOPES)})"
        )
    unknown = [s for s in cleaned if s not in ALL_SCOPES]
    if unknown:
        raise UserInputError(f"unknown scope(s) {', '.join(unknown)}: use {', '.join(ALL_SCOPES)}")
    return cleaned


def _check_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise UserInputError(f"invalid key name {name!r}: letters, digits and _ . @ - (max 128)")


def _check_secret(name: str, token: str) -> None:
    if not token or len(token) > MAX_TOKEN_LENGTH or any(c.isspace() for c in token):
        raise UserInputError(f"invalid secret for key {name!r}: 1-{MAX_TOKEN_LENGTH} characters, no spaces")


def check_workspace_globs(workspaces: Sequence[str]) -> tuple[str, ...]:
    """The key's workspace globs, stripped; raises UserInputError naming a glob that cannot be used.

    Checked when a key is created (CLI, admin API, bootstrap) with the flags used for matching, so a
    glob that could never compile is refused at once instead of being stored.
    """
    globs = tuple(w.strip() for w in workspaces)
    for pattern in globs:
        problem = glob_problem(pattern)
        if problem is not None:
            raise UserInputError(f"workspace glob {pattern[:200]!r} {problem}")
    problem = globs_problem(globs)
    if problem is not None:
        raise UserInputError(f"the workspace globs {problem}")
    return globs


def _row_to_key(r: Any) -> ApiKey:
    return ApiKey(
        id=r.id,
        name=r.name,
        scopes=tuple(r.scopes.split()),
        workspaces=tuple(json.loads(r.workspaces)),
        hint=r.hint,
        created_at=_utc(r.created_at),
        revoked_at=_utc(r.revoked_at) if r.revoked_at else None,
        last_used_at=_utc(r.last_used_at) if r.last_used_at else None,
    )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


_COLUMNS = [
    ApiKeyModel.id,
    ApiKeyModel.name,
    ApiKeyModel.scopes,
    ApiKeyModel.workspaces,
    ApiKeyModel.hint,
    ApiKeyModel.created_at,
    ApiKeyModel.revoked_at,
    ApiKeyModel.last_used_at,
]


async def create_key(
    conn: AsyncConnection,
    name: str,
    *,
    pepper: bytes,
    scopes: Sequence[str] = DEFAULT_SCOPES,
    workspaces: Sequence[str] = (),
    token: str | None = None,
) -> CreatedKey:
    """Create a key named `name`; a random `dvl_` token unless `token` is given (bootstrap)."""
    _check_name(name)
    clean_scopes = _normalise_scopes(scopes)
    globs = check_workspace_globs(workspaces)
    created_token = token is None
    if token is None:
        key_id, token = generate_token()
    else:
        _check_secret(name, token)
        key_id = key_id_for_token(token)
    # A name may not be any key's id, nor the new id any key's name (revoked keys included), so
    # `keys revoke NAME_OR_ID` always means one key (see `revoke_key`).
    m = ApiKeyModel
    existing = await conn.execute(
        select(m.id, m.name, m.revoked_at)
        .where((m.name == name) | (m.id == key_id) | (m.id == name) | (m.name == key_id))
        .order_by((m.name == name).desc())
    )
    taken = existing.first()
    if taken is not None:
        raise UserInputError(_taken_message(name, key_id, taken, generated=created_token))
    salt = secrets.token_hex(16)
    now = datetime.now(UTC)
    await conn.execute(
        insert(ApiKeyModel).values(
            id=key_id,
            name=name,
            salt=salt,
            hash=hash_token(token, salt, pepper),
            scopes=" ".join(clean_scopes),
            workspaces=json.dumps(list(globs)),
            hint=_hint(token),
            created_at=now,
        )
    )
    key = ApiKey(id=key_id, name=name, scopes=clean_scopes, workspaces=globs, hint=_hint(token), created_at=now)
    return CreatedKey(key=key, token=token)


def _taken_message(name: str, key_id: str, taken: Any, *, generated: bool) -> str:
    """Why a key named `name` with id `key_id` cannot be created (`taken` is the row in the way), and
    what to do instead.

    Names stay unique for good, revoked keys included: logs, ingest health and `keys revoke NAME`
    keep meaning one key, and a revoked key cannot come back under a new secret. Rotating a key is
    therefore a new key under a new name (docs/server.md, "Rotating a key").
    """
    existing_name, revoked_at = taken.name, taken.revoked_at
    if existing_name != name:
        if taken.id == name:
            return (
                f"{name!r} is the id of key {existing_name!r}; a name may not be another key's id "
                "(`keys revoke` takes either): choose another name"
            )
        if taken.id == key_id:
            return f"a key with that secret already exists (key {existing_name!r}); use another secret"
        # The new key's id is an existing key's name: drawn at random, so only ever by chance.
        retry = "create it again (a new id is drawn)" if generated else "use another secret"
        return f"the new key's id would be {key_id!r}, the name of another key; {retry}"
    if revoked_at is not None:
        return (
            f"a key named {name!r} already exists and was revoked on {_utc(revoked_at):%Y-%m-%d}; a revoked "
            f"key's name is never reused: create the new key under another name (such as {name[:120] + '-2'!r})"
        )
    return (
        f"a key named {name!r} already exists; to rotate it, create a key under another name, "
        f"switch its users to the new token, then revoke {name!r}"
    )


async def find_key(conn: AsyncConnection, token: str, *, pepper: bytes) -> ApiKey | None:
    """The key a presented token belongs to, or None (unknown id or wrong secret)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    key_id = key_id_for_token(token)
    result = await conn.execute(select(ApiKeyModel.salt, ApiKeyModel.hash, *_COLUMNS).where(ApiKeyModel.id == key_id))
    row = result.first()
    if row is None:
        return None
    if not hmac.compare_digest(row.hash, hash_token(token, row.salt, pepper)):
        return None
    return _row_to_key(row)


async def list_keys(conn: AsyncConnection) -> list[ApiKey]:
    """Every key, oldest first (revoked ones included)."""
    result = await conn.execute(select(*_COLUMNS).order_by(ApiKeyModel.created_at, ApiKeyModel.name))
    return [_row_to_key(row) for row in result]


async def revoke_key(conn: AsyncConnection, name_or_id: str) -> ApiKey:
    """Revoke a key by name or id; raises UnknownKeyError when there is no such key.

    `create_key` keeps names and ids apart, but a database from before that rule may hold a key
    named like another key's id. Then `name_or_id` means two keys and neither is revoked
    (AmbiguousKeyError naming both): revoking is not undone, so it is never a guess.
    """
    result = await conn.execute(
        select(*_COLUMNS).where((ApiKeyModel.name == name_or_id) | (ApiKeyModel.id == name_or_id))
    )
    rows = result.all()
    if not rows:
        raise UnknownKeyError(f"no key named {name_or_id!r}")
    if len(rows) > 1:
        by_id = next(r for r in rows if r.id == name_or_id)
        by_name = next(r for r in rows if r.id != name_or_id)
        raise AmbiguousKeyError(
            f"{name_or_id!r} is both the id of key {by_id.name!r} and the name of the key with id "
            f"{by_name.id!r}; nothing was revoked: revoke {by_id.name!r} by its name or {by_name.id!r} by its id"
        )
    key = _row_to_key(rows[0])
    if key.revoked_at is None:
        now = datetime.now(UTC)
        await conn.execute(update(ApiKeyModel).where(ApiKeyModel.id == key.id).values(revoked_at=now))
        key = dataclasses.replace(key, revoked_at=now)
    return key


async def touch_key(conn: AsyncConnection, key_id: str, when: datetime) -> None:
    """Record that a key was used (called at most once a minute per key and process)."""
    await conn.execute(update(ApiKeyModel).where(ApiKeyModel.id == key_id).values(last_used_at=when))


@dataclass(frozen=True)
class BootstrapKey:
    """One entry of `DEVLOG_SERVER_BOOTSTRAP_KEYS`."""

    name: str
    secret: str
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    workspaces: tuple[str, ...] = ()


def parse_bootstrap_keys(value: str) -> list[BootstrapKey]:
    """Parse `name:secret[:scope+scope[:glob|glob]]` entries separated by commas.

    The glob list is the last field, so a glob may itself contain `:`; globs cannot contain `,` or `|`.
    Everything `create_key` would refuse is refused here, so the settings check at start-up catches a
    bad entry before the server listens. Messages name the entry by position and name, never by its
    text, which holds the secret.
    """
    keys: list[BootstrapKey] = []
    for number, raw in enumerate(value.split(","), start=1):
        entry = raw.strip()
        if not entry:
            continue
        parts = [part.strip() for part in entry.split(":", 3)]
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise UserInputError(f"entry {number} is not name:secret[:scopes[:globs]]")
        name, secret = parts[0], parts[1]
        try:
            _check_name(name)
            _check_secret(name, secret)
            scopes = _normalise_scopes(parts[2].split("+")) if len(parts) > 2 and parts[2] else DEFAULT_SCOPES
            globs = check_workspace_globs(parts[3].split("|")) if len(parts) > 3 else ()
        except UserInputError as exc:
            raise UserInputError(f"entry {number} ({name[:128]!r}): {exc}") from exc
        keys.append(BootstrapKey(name=name, secret=secret, scopes=scopes, workspaces=globs))
    return keys
