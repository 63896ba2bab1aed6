#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests (guest natively, host),
# end-to-end tests that load the real .wasm into the real host and talk to
# the sandbox over 127.0.0.1, and a replay of the fuzz corpora and regressions.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace -- --show-output
# Build the fuzz targets and run each over its committed corpus and
# regressions (no fuzzing campaign; see fuzz/README.md).
scripts/fuzz.sh replay
