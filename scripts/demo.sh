#!/usr/bin/env bash
# Builds the CLI (with the component embedded) and runs the demo on the
# embedded local sandbox. Extra arguments go to the demo, e.g. `--json`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p chipi-session-cli
exec target/release/chipi-session demo "$@"
