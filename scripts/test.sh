#!/usr/bin/env bash
# The whole test suite: formatting, lints, the host library's dependency
# rules, unit tests (guest natively and on wasm32-wasip2, host crates), the
# end-to-end tests that load the real .wasm into the real host and talk to the
# sandbox over 127.0.0.1 (with a throwaway Redis server for the Redis store),
# the Node.js and Python packages (built, then tested against the sandbox), and
# a replay of the fuzz corpora and regressions.
#
# Each phase is timed; a table of the phases' wall times (and the total) is
# printed at the end, also when a phase fails, so every log shows where the
# time goes.
set -euo pipefail
cd "$(dirname "$0")/.."

phase_names=()
phase_seconds=()
current_phase=""
suite_started=$SECONDS

# `phase NAME COMMAND...`: run the command as one timed phase.
phase() {
    local name=$1 started=$SECONDS
    shift
    echo "== phase: $name" >&2
    current_phase=$name
    "$@"
    current_phase=""
    phase_names+=("$name")
    phase_seconds+=($((SECONDS - started)))
}

# The table of the phases that ran, and the total wall time.
print_phases() {
    local i total=$((SECONDS - suite_started))
    echo
    echo "phase wall times (scripts/test.sh)"
    printf '%-28s %9s\n' "phase" "wall"
    for i in "${!phase_names[@]}"; do
        printf '%-28s %6dm%02ds\n' "${phase_names[$i]}" \
            $((phase_seconds[i] / 60)) $((phase_seconds[i] % 60))
    done
    printf '%-28s %6dm%02ds\n' "total" $((total / 60)) $((total % 60))
}

redis_dir=""
on_exit() {
    local status=$?
    if [[ -n "$redis_dir" ]]; then
        scripts/redis.sh stop "$redis_dir" || true
        rm -rf "$redis_dir"
    fi
    print_phases
    if [[ $status -ne 0 ]]; then
        echo "scripts/test.sh: failed (exit $status)${current_phase:+ in phase: $current_phase}" >&2
    fi
    exit "$status"
}
trap on_exit EXIT

phase setup scripts/setup.sh
phase fmt cargo fmt --all -- --check

# A throwaway Redis server on 127.0.0.1 for the Redis store's tests, stopped
# on exit (failures included).
redis_dir=$(mktemp -d "${TMPDIR:-/tmp}/chipi-session-redis.XXXXXX")
CHIPI_TEST_REDIS_URL=$(scripts/redis.sh start "$redis_dir")
CHIPI_TEST_REDISS_URL=$(cat "$redis_dir/tls.url")
CHIPI_TEST_REDIS_CA="$redis_dir/ca.crt"
export CHIPI_TEST_REDIS_URL CHIPI_TEST_REDISS_URL CHIPI_TEST_REDIS_CA

# Build the component once; every crate that embeds it (CLI, tests, fuzz
# target) uses this build instead of building its own under OUT_DIR.
phase "wasm32 component build" \
    cargo build --release --locked --target wasm32-wasip2 -p chipi-session-guest
export CHIPI_SESSION_GUEST_WASM="$PWD/target/wasm32-wasip2/release/chipi_session_guest.wasm"

phase "clippy workspace" cargo clippy --workspace --all-targets --locked -- -D warnings
# The real-VM suite (scripts/test-devnet.sh) is built only with this feature; lint it here too.
phase "clippy devnet feature" \
    cargo clippy -p chipi-session-e2e --features devnet --all-targets --locked -- -D warnings
phase "clippy guest wasm32" \
    cargo clippy -p chipi-session-guest --target wasm32-wasip2 --all-targets --locked -- -D warnings
phase "dependency rules" scripts/check-deps.sh

phase "cargo test workspace" cargo test --workspace --locked -- --show-output
# The guest's unit tests again on wasm32-wasip2 (32-bit usize), run in
# wasmtime by tests/wasi-runner (the runner .cargo/config.toml names).
phase "wasi runner build" cargo build -p chipi-session-wasi-runner --locked
phase "guest tests wasm32" cargo test -p chipi-session-guest --target wasm32-wasip2 --locked

# The Node.js and Python packages: each loads the same component and runs its
# tests (lifecycle, refusals, failures, stores) against `chipi-session
# sandbox` processes on 127.0.0.1.
phase "cli build" cargo build -p chipi-session-cli --locked
CHIPI_SESSION_BIN="$PWD/target/debug/chipi-session"
export CHIPI_SESSION_BIN
node_package() {
    (cd host/node && npm ci --no-audit --no-fund && npm run build && npm test)
}
phase "node package" node_package
phase "python package" host/python/run_tests.sh -q

# Build the fuzz targets and run each over its committed corpus and
# regressions (no fuzzing campaign; see fuzz/README.md).
phase "fuzz replay" scripts/fuzz.sh replay
