#!/usr/bin/env bash
# Install ccusage (the peer tool devlog's Claude Code and Codex token totals are checked against)
# into an ignored folder of the repository, and print the path of its binary on stdout.
#
# Why pinned: ccusage 20 is a native binary behind the npm package; 20.0.24 is the newest release
# whose Linux x64 binary is published. tests/collector/sources/test_ccusage_parity.py runs it.
#
# Usage: scripts/install-ccusage.sh [PREFIX]   (PREFIX defaults to .tools/ccusage in the repo)
#        export DEVLOG_CCUSAGE="$(scripts/install-ccusage.sh)"
set -euo pipefail

VERSION="20.0.24"
repo="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${1:-$repo/.tools/ccusage}"
bin="$prefix/node_modules/.bin/ccusage"

installed_version() {
  [ -x "$bin" ] || return 1
  "$bin" --version 2>/dev/null | awk '{print $NF}'
}

if [ "$(installed_version || true)" != "$VERSION" ]; then
  command -v npm >/dev/null || { echo "install-ccusage: npm is not installed" >&2; exit 1; }
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) platform="@ccusage/ccusage-linux-x64@$VERSION" ;;
    *) echo "install-ccusage: no pinned ccusage binary for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
  esac
  mkdir -p "$prefix"
  [ -f "$prefix/package.json" ] || echo '{"private": true}' >"$prefix/package.json"
  npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error \
    "ccusage@$VERSION" "$platform" >&2
fi

"$bin" --version >/dev/null 2>&1 || { echo "install-ccusage: $bin does not run" >&2; exit 1; }
echo "$bin"
