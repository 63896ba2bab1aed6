#!/usr/bin/env bash
# The whole test suite: formatting, lints, the host library's dependency
# rules, unit tests (guest natively and on wasm32-wasip2, host crates), the
# end-to-end tests that load the real .wasm into the real host and talk to the
# sandbox over 127.0.0.1 (with a throwaway Redis server for the Redis store),
# the Node.js and Python packages (built, then tested against the sandbox), and
# a replay of the fuzz corpora and regressions.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check

# A throwaway Redis server on 127.0.0.1 for the Redis store's tests, stopped
# on exit (failures included).
redis_dir=$(mktemp -d "${TMPDIR:-/tmp}/chipi-session-redis.XXXXXX")
trap 'scripts/redis.sh stop "$redis_dir"; rm -rf "$redis_dir"' EXIT
CHIPI_TEST_REDIS_URL=$(scripts/redis.sh start "$redis_dir")
CHIPI_TEST_REDISS_URL=$(cat "$redis_dir/tls.url")
CHIPI_TEST_REDIS_CA="$redis_dir/ca.crt"
export CHIPI_TEST_REDIS_URL CHIPI_TEST_REDISS_URL CHIPI_TEST_REDIS_CA

# Build the component once; every crate that embeds it (CLI, tests, fuzz
# target) uses this build instead of building its own under OUT_DIR.
cargo build --release --locked --target wasm32-wasip2 -p chipi-session-guest
export CHIPI_SESSION_GUEST_WASM="$PWD/target/wasm32-wasip2/release/chipi_session_guest.wasm"

cargo clippy --workspace --all-targets --locked -- -D warnings
# The real-VM suite (scripts/test-devnet.sh) is built only with this feature; lint it here too.
cargo clippy -p chipi-session-e2e --features devnet --all-targets --locked -- -D warnings
cargo clippy -p chipi-session-guest --target wasm32-wasip2 --all-targets --locked -- -D warnings
scripts/check-deps.sh

cargo test --workspace --locked -- --show-output
# The guest's unit tests again on wasm32-wasip2 (32-bit usize), run in
# wasmtime by tests/wasi-runner (the runner .cargo/config.toml names).
cargo build -p chipi-session-wasi-runner --locked
cargo test -p chipi-session-guest --target wasm32-wasip2 --locked

# The Node.js and Python packages: each loads the same component and runs its
# tests (lifecycle, refusals, failures, stores) against `chipi-session
# sandbox` processes on 127.0.0.1.
cargo build -p chipi-session-cli --locked
CHIPI_SESSION_BIN="$PWD/target/debug/chipi-session"
export CHIPI_SESSION_BIN
(cd host/node && npm ci --no-audit --no-fund && npm run build && npm test)
host/python/run_tests.sh -q

# Build the fuzz targets and run each over its committed corpus and
# regressions (no fuzzing campaign; see fuzz/README.md).
scripts/fuzz.sh replay
