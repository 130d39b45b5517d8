#!/bin/sh
# devlog-server container entrypoint.
#   serve [ARGS]  apply database migrations (retrying while the database comes up), then exec the server
#   ANY OTHER     exec it as given (e.g. `devlog-server migrate`, `sh`)
set -eu
if [ "${1:-serve}" != "serve" ]; then
    exec "$@"
fi
[ $# -gt 0 ] && shift
tries=${DEVLOG_SERVER_MIGRATE_TRIES:-30}
n=1
until devlog-server migrate; do
    if [ "$n" -ge "$tries" ]; then
        echo "entrypoint: database migrations failed $n times; giving up" >&2
        exit 1
    fi
    echo "entrypoint: database migrations failed (attempt $n of $tries); retrying in 2s" >&2
    n=$((n + 1))
    sleep 2
done
exec devlog-server serve --no-migrate --host 0.0.0.0 --port "${DEVLOG_SERVER_PORT:-8000}" "$@"
