#!/usr/bin/env bash
# Copy the session component into the Python package before it is built:
# $CHIPI_SESSION_GUEST_WASM, or target/wasm32-wasip2/release/chipi_session_guest.wasm
# of the repository (CARGO_TARGET_DIR honoured).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
src="${CHIPI_SESSION_GUEST_WASM:-${CARGO_TARGET_DIR:-$root/target}/wasm32-wasip2/release/chipi_session_guest.wasm}"
dest="$here/src/chipi_session/chipi_session_guest.wasm"
if [[ ! -f "$src" ]]; then
    echo "error: the component $src is missing; build it with" >&2
    echo "  cargo build -p chipi-session-guest --target wasm32-wasip2 --release" >&2
    echo "or point CHIPI_SESSION_GUEST_WASM at it" >&2
    exit 1
fi
cp "$src" "$dest.tmp"
mv "$dest.tmp" "$dest"
echo "copied $src -> $dest" >&2
