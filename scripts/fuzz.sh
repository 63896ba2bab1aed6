#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer) on the stable toolchain. See fuzz/README.md.
#
#   scripts/fuzz.sh build              build every target
#   scripts/fuzz.sh replay             run every target over its committed corpus and
#                                      fuzz/regressions/<target> (no fuzzing); fails on any
#                                      crash. The replay is an ordinary test of the root
#                                      workspace (fuzz/targets/tests/replay.rs, part of
#                                      scripts/test.sh); this runs only that test.
#   scripts/fuzz.sh run TARGET [RUNS]  fuzz TARGET (default 1000000 runs) into its corpus;
#                                      extra libFuzzer flags: FUZZ_ARGS="-max_total_time=600"
#   scripts/fuzz.sh cmin TARGET        minimize TARGET's corpus in place
#   scripts/fuzz.sh tmin TARGET FILE   minimize a crashing input
#   scripts/fuzz.sh seeds              regenerate the seed corpora (fuzz/seedgen)
#   scripts/fuzz.sh list               list the targets
#
# Build choices (measured, see fuzz/README.md): --sanitizer none (safe Rust; we look
# for panics, traps, OOM, time-outs), release with debug assertions and overflow
# checks (-a). The six native targets build with --no-default-features so they do
# not compile wasmtime; only `component` links the host. The targets themselves are
# functions of the crate fuzz/targets; the binaries in fuzz/fuzz_targets are their
# libFuzzer entries.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

# cargo-fuzz passes -Z flags to rustc; allow them on the stable toolchain.
export RUSTC_BOOTSTRAP=1

NATIVE_TARGETS=(typed_data typed_data_mutate envelope_open cryptojs_decrypt call_parse responses)
ALL_TARGETS=("${NATIVE_TARGETS[@]}" component)

COMMON=(--sanitizer none -a)

ensure_cargo_fuzz() {
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
        cargo install cargo-fuzz --locked
    fi
}

is_native() {
    local t
    for t in "${NATIVE_TARGETS[@]}"; do
        [[ $t == "$1" ]] && return 0
    done
    return 1
}

check_target() {
    local t
    for t in "${ALL_TARGETS[@]}"; do
        [[ $t == "$1" ]] && return 0
    done
    echo "fuzz.sh: unknown target '$1' (targets: ${ALL_TARGETS[*]})" >&2
    exit 2
}

# Build flags of one target (campaign builds).
flags() {
    if is_native "$1"; then
        echo "${COMMON[@]} --no-default-features"
    else
        echo "${COMMON[@]}"
    fi
}

# libFuzzer options of one target: input size and per-input time limit.
libfuzzer_opts() {
    case $1 in
        typed_data) echo "-max_len=16384 -timeout=10 -dict=fuzz/dicts/json.dict" ;;
        typed_data_mutate) echo "-max_len=2048 -timeout=10" ;;
        envelope_open) echo "-max_len=1024 -timeout=10" ;;
        cryptojs_decrypt) echo "-max_len=8192 -timeout=10" ;;
        call_parse) echo "-max_len=4096 -timeout=10" ;;
        responses) echo "-max_len=16384 -timeout=10 -dict=fuzz/dicts/json.dict" ;;
        component) echo "-max_len=4096 -timeout=60" ;;
    esac
}

build_all() {
    ensure_cargo_fuzz
    # One cargo invocation for the six native targets (no wasmtime), one for the
    # component target (wasmtime + the guest built for wasm32-wasip2 by host/component/build.rs).
    # shellcheck disable=SC2046
    cargo fuzz build ${COMMON[@]} --no-default-features
    cargo fuzz build ${COMMON[@]} component
}

replay() {
    # The same functions the libFuzzer binaries call, in the root workspace's
    # test build; see fuzz/targets/tests/replay.rs.
    cargo test --locked --workspace --test replay -- --show-output
}

run_target() {
    local t=$1 runs=${2:-1000000}
    check_target "$t"
    ensure_cargo_fuzz
    mkdir -p "fuzz/corpus/$t"
    # shellcheck disable=SC2046,SC2086
    cargo fuzz run $(flags "$t") "$t" "fuzz/corpus/$t" -- \
        -runs="$runs" $(libfuzzer_opts "$t") -rss_limit_mb=2048 -print_final_stats=1 \
        ${FUZZ_ARGS:-}
}

case ${1:-} in
    build) build_all ;;
    replay) replay ;;
    run)
        [[ $# -ge 2 ]] || { echo "usage: $0 run TARGET [RUNS]" >&2; exit 2; }
        run_target "$2" "${3:-}"
        ;;
    cmin)
        [[ $# -ge 2 ]] || { echo "usage: $0 cmin TARGET" >&2; exit 2; }
        check_target "$2"
        ensure_cargo_fuzz
        # shellcheck disable=SC2046
        # Set-cover merge on edge coverage only (no hit-count buckets): the smallest
        # corpus that keeps every edge, a few hundred files instead of thousands.
        cargo fuzz cmin $(flags "$2") "$2" "fuzz/corpus/$2" -- $(libfuzzer_opts "$2") -rss_limit_mb=2048 \
            -set_cover_merge=1 -use_counters=0
        ;;
    tmin)
        [[ $# -ge 3 ]] || { echo "usage: $0 tmin TARGET FILE" >&2; exit 2; }
        check_target "$2"
        ensure_cargo_fuzz
        # shellcheck disable=SC2046
        cargo fuzz tmin $(flags "$2") "$2" "$3"
        ;;
    seeds) cargo run --release --manifest-path fuzz/seedgen/Cargo.toml -- "$ROOT/fuzz/corpus" ;;
    list) printf '%s\n' "${ALL_TARGETS[@]}" ;;
    *)
        sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
