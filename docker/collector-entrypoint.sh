#!/bin/sh
# devlog collector container entrypoint: prepare the config and (for the demo) the agent logs, then
# exec the command (default `devlog start`).
#
#   DEVLOG_CONFIG_TEMPLATE  copied to $DEVLOG_HOME/config.yaml when that file does not exist yet, so
#                           `devlog remote add` can edit it and edits survive restarts (volume)
#   DEVLOG_DEMO_DIR         when set and holding no demo yet, `devlog demo` writes logs there first
#   DEVLOG_DEMO_SEED, DEVLOG_DEMO_SESSIONS   passed to `devlog demo` (defaults 7 and 6)
set -eu
home=${DEVLOG_HOME:-$HOME/.devlog}
mkdir -p "$home"
chmod 700 "$home" 2>/dev/null || true
if [ -z "${DEVLOG_CONFIG:-}" ] && [ ! -f "$home/config.yaml" ] && [ -n "${DEVLOG_CONFIG_TEMPLATE:-}" ]; then
    cp "$DEVLOG_CONFIG_TEMPLATE" "$home/config.yaml"
    chmod 600 "$home/config.yaml"
    echo "entrypoint: wrote $home/config.yaml from $DEVLOG_CONFIG_TEMPLATE" >&2
fi
if [ -n "${DEVLOG_DEMO_DIR:-}" ] && [ ! -f "$DEVLOG_DEMO_DIR/demo-manifest.json" ]; then
    devlog demo "$DEVLOG_DEMO_DIR" --seed "${DEVLOG_DEMO_SEED:-7}" --sessions "${DEVLOG_DEMO_SESSIONS:-6}" >/dev/null
fi
exec "$@"
