"""The ids a first history load has stored, kept in memory while the event-id index is dropped.

Keeping a unique index of random UUIDs current costs SQLite a rewrite of most of its pages on every
commit; a first load into an empty store (`Store.begin_bulk_load`) drops the index instead and
answers "is this id stored, and at which `seq`?" from this map, which holds every id stored since
(the store held none before). Additions are staged per transaction and applied only once it has
committed, so a rolled-back commit leaves no id behind. Past `MAX_LOADED_IDS` ids (~175 bytes each)
the load builds the index after all and goes on without the map: memory stays bounded on any history.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_LOADED_IDS", "LoadedIds"]

#: Ids kept before the load builds the id index and stops using the map (~45 MB at this size: the
#: collector stays well under 150 MB of memory on any history).
MAX_LOADED_IDS: Final = 250_000


class LoadedIds:
    """id -> seq of every event stored since the load began (plus the ones of the open transaction)."""

    def __init__(self, limit: int | None = None) -> None:
        self._seqs: dict[str, int] = {}
        self._staged: dict[str, int] = {}
        self.limit = MAX_LOADED_IDS if limit is None else limit

    def seq(self, event_id: str) -> int | None:
        """Where `event_id` is stored (this transaction's additions included), or None."""
        staged = self._staged.get(event_id)
        return staged if staged is not None else self._seqs.get(event_id)

    def seqs(self, event_ids: list[str]) -> list[int | None]:
        """`seq` of each of `event_ids` (one call for a commit's events instead of one per event)."""
        staged, stored = self._staged, self._seqs
        if not staged:
            return [stored.get(event_id) for event_id in event_ids]
        return [staged.get(event_id, stored.get(event_id)) for event_id in event_ids]

    def stage_run(self, event_ids: list[str], first_seq: int) -> None:
        """Record that the open transaction stored `event_ids` at consecutive seqs from `first_seq`."""
        self._staged.update(zip(event_ids, range(first_seq, first_seq + len(event_ids)), strict=True))

    def stage(self, event_id: str, seq: int) -> None:
        """Record that the open transaction stored `event_id` at `seq`."""
        self._staged[event_id] = seq

    def begin(self) -> None:
        """Forget what a transaction that did not commit staged."""
        self._staged = {}

    def committed(self) -> None:
        """The transaction committed: its additions become part of the map."""
        self._seqs.update(self._staged)
        self._staged = {}

    def full(self) -> bool:
        return len(self._seqs) >= self.limit

    def __len__(self) -> int:
        return len(self._seqs)
