#!/usr/bin/env bash
# Installs the pinned JavaScript dependencies of the interop harness (tests/interop only).
#
# Runs `npm ci` (exact versions from package-lock.json, nothing else) when node_modules is
# missing or older than package-lock.json; otherwise does nothing. Safe to call from several
# test processes at once (serialized with flock when available). Exit status 0 = ready.
set -euo pipefail

src="${BASH_SOURCE[0]}"
case "$src" in */*) here="${src%/*}" ;; *) here=. ;; esac
here="$(cd "$here" && pwd)"
cd "$here"

if ! command -v node >/dev/null 2>&1; then
  echo "tests/interop/install.sh: 'node' is not on PATH; install Node.js >= 20.19 to run the interop tests" >&2
  exit 127
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "tests/interop/install.sh: 'npm' is not on PATH; install npm (ships with Node.js) to run the interop tests" >&2
  exit 127
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "tests/interop/install.sh: Node.js $(node -v) is too old; @chipi-stack/backend 14.4.0 needs >= 20.19" >&2
  exit 1
fi

# npm writes node_modules/.package-lock.json on every successful install; use it as the stamp.
needs_install() {
  [ ! -d node_modules ] && return 0
  [ ! -f node_modules/.package-lock.json ] && return 0
  [ package-lock.json -nt node_modules/.package-lock.json ] && return 0
  return 1
}

install() {
  if needs_install; then
    echo "tests/interop/install.sh: installing pinned packages (npm ci)" >&2
    # --ignore-scripts: none of the pinned packages has install scripts; keep it that way.
    npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2
    touch node_modules/.package-lock.json
  fi
}

if command -v flock >/dev/null 2>&1; then
  lock="${TMPDIR:-/tmp}/chipi-interop-install-$(printf '%s' "$here" | cksum | cut -d' ' -f1).lock"
  exec 9>"$lock"
  flock 9
  install
  flock -u 9
else
  install
fi
