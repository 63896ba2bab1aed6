#!/usr/bin/env bash
# The whole test suite: formatting, lints, the host library's dependency
# rules, unit tests (guest natively and on wasm32-wasip2, host crates), the
# end-to-end tests that load the real .wasm into the real host and talk to the
# sandbox over 127.0.0.1 (with a throwaway Redis server for the Redis store),
# the Node.js and Python packages (built, then tested against the sandbox), and
# a replay of the fuzz corpora and regressions (tests of fuzz/targets).
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

# `phases_side_by_side NAME1 FUNCTION1 NAME2 FUNCTION2 ...`: run the
# functions at once as timed phases, each into its own log, printed whole
# (one after the other) once all have ended; fails if any failed, naming it.
phases_side_by_side() {
    local dir i names=() pids=() failed=() status seconds
    dir=$(mktemp -d "${TMPDIR:-/tmp}/chipi-session-phases.XXXXXX")
    while (($#)); do
        i=${#names[@]}
        names+=("$1")
        echo "== phase: $1 (side by side)" >&2
        (
            started=$SECONDS
            set +e
            (set -e; "$2") >"$dir/$i.log" 2>&1
            status=$?
            echo "$status $((SECONDS - started))" >"$dir/$i.end"
        ) &
        pids+=($!)
        shift 2
    done
    current_phase="${names[*]}"
    wait "${pids[@]}" || true
    for i in "${!names[@]}"; do
        read -r status seconds <"$dir/$i.end" || { status=1; seconds=0; }
        phase_names+=("${names[$i]}")
        phase_seconds+=("$seconds")
        echo "== output of phase: ${names[$i]} (exit $status)" >&2
        cat "$dir/$i.log"
        if [[ $status -ne 0 ]]; then failed+=("${names[$i]}"); fi
    done
    rm -rf "$dir"
    if ((${#failed[@]})); then
        current_phase="${failed[*]}"
        return 1
    fi
    current_phase=""
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

# Clippy runs inside the builds instead of in check passes of their own: the
# builds below use clippy-driver as the compiler of the workspace's crates
# (what `cargo clippy` does over `cargo check`), with `-D warnings`, so each
# crate is compiled once and linted in that compilation, for every target the
# tests build (`--all-targets`: libraries, binaries, tests, benches, examples),
# natively and for wasm32-wasip2. A lint fails the build phase that hit it.
# The runs then find everything built (same compiler wrapper, same flags).
RUSTC_WORKSPACE_WRAPPER=$(rustup which clippy-driver)
CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS

# The set-up itself, checked: a crate with a clippy finding must fail to build
# under it (so a clippy that stopped reading CLIPPY_ARGS fails here instead of
# letting every lint through).
lint_check() {
    local dir=target/lint-check
    rm -rf "$dir"
    mkdir -p "$dir/src"
    printf '%s\n' '[package]' 'name = "lint-check"' 'version = "0.0.0"' 'edition = "2021"' \
        '[workspace]' >"$dir/Cargo.toml"
    printf '%s\n' '//! A clippy finding.' '/// Sums.' \
        'pub fn sum() -> u8 { vec![1u8, 2].iter().map(|x| x.clone()).sum() }' >"$dir/src/lib.rs"
    if (cd "$dir" && cargo build --quiet 2>build.log); then
        echo "lint check: a clippy finding did not fail the build (is clippy-driver the wrapper?)" >&2
        return 1
    fi
    if ! grep -q "clippy::" "$dir/build.log"; then
        echo "lint check: the build failed without a clippy finding:" >&2
        cat "$dir/build.log" >&2
        return 1
    fi
    rm -rf "$dir"
}
phase "lint check" lint_check

# Build the component once; every crate that embeds it (CLI, tests, fuzz
# targets) uses this build instead of building its own under OUT_DIR.
phase "wasm32 component build+lint" \
    cargo build --release --locked --target wasm32-wasip2 -p chipi-session-guest
export CHIPI_SESSION_GUEST_WASM="$PWD/target/wasm32-wasip2/release/chipi_session_guest.wasm"

# Every native target of the workspace, built and linted once: the CLI and
# the wasm32 test runner binaries (their integration tests need them), and
# the fuzz targets, whose tests replay the committed corpora and regressions.
phase "native build+lint" cargo test --workspace --all-targets --locked --no-run
# The real-VM suite (scripts/test-devnet.sh) is built only with this feature;
# build and lint it here too (features unified as above: only the e2e crate
# is compiled again).
phase "devnet build+lint" \
    cargo test --workspace --features chipi-session-e2e/devnet --test devnet --locked --no-run
phase "dependency rules" scripts/check-deps.sh

phase "cargo test workspace" cargo test --workspace --locked -- --show-output
# The guest's unit tests again on wasm32-wasip2 (32-bit usize), run in
# wasmtime by tests/wasi-runner (the runner .cargo/config.toml names, built
# above). `--release` (the bench profile) shares the dependencies and build
# tools the component build above compiled; the workspace's Cargo.toml keeps
# debug assertions and overflow checks on for the guest crate in that profile,
# as in the dev profile.
phase "guest wasm32 build+lint" \
    cargo test --release -p chipi-session-guest --target wasm32-wasip2 --all-targets --locked --no-run
phase "guest tests wasm32" \
    cargo test --release -p chipi-session-guest --target wasm32-wasip2 --locked

# The Node.js and Python packages: each loads the same component and runs its
# tests (lifecycle, refusals, failures, stores) against `chipi-session
# sandbox` processes on 127.0.0.1 (each its own, on ports the OS picks; they
# share no files), side by side.
CHIPI_SESSION_BIN="$PWD/target/debug/chipi-session"
export CHIPI_SESSION_BIN
# (Each runs in a subshell of its own, with `set -e`: see phases_side_by_side.)
node_package() {
    cd host/node
    npm ci --no-audit --no-fund
    npm run build
    npm test
}
python_package() {
    host/python/run_tests.sh -q
}
phases_side_by_side "node package" node_package "python package" python_package
