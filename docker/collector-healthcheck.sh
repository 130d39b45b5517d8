#!/bin/sh
# Collector container health: `devlog status` opens the store and reports `devlog start` running
# (it holds the store's writer lock). Exit 0 healthy, 1 not.
devlog status --json | python -c 'import json, sys; sys.exit(0 if json.load(sys.stdin).get("collector_running") else 1)'
