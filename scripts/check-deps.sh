#!/usr/bin/env bash
# The embedding library stays small: no CLI, web-server or sandbox crates in
# its normal dependencies, no SQLite without its `sqlite` feature, no Redis
# client without its `redis` feature, and no need
# for the wasm32-wasip2 target unless `embedded` is on.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
tree=$(cargo tree -p chipi-session-host -e normal --prefix none --locked)
for crate in axum clap tower hyper-util chipi-session-sandbox chipi-session-component; do
    if grep -q "^$crate v" <<<"$tree"; then
        echo "check-deps: chipi-session-host depends on $crate" >&2
        fail=1
    fi
done
tree=$(cargo tree -p chipi-session-host -e normal --no-default-features --prefix none --locked)
if grep -q "^rusqlite v" <<<"$tree"; then
    echo "check-deps: chipi-session-host --no-default-features depends on rusqlite" >&2
    fail=1
fi
if grep -q "^redis v" <<<"$tree"; then
    echo "check-deps: chipi-session-host --no-default-features depends on redis" >&2
    fail=1
fi
exit $fail
