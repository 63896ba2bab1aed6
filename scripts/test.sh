#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests (guest natively, host),
# and end-to-end tests that load the real .wasm into the real host and talk to
# the sandbox over 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace -- --show-output
