"""Layer 2: selective export of the local store to remotes (routing, content policies, delivery).

Modules: `routing` (which remotes an event goes to), `content` (what of it may leave: policies and
redaction), `client` (HTTP, error mapping, backoff), `exporter` (cursor, batches, dead letters),
`status` (per-remote state for `devlog export --status`), `daemon` (background auto-sync threads).
Submodules are imported directly; this package imports nothing so `devlog --help` stays fast.
"""
