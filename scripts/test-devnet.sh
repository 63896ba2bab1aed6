#!/usr/bin/env bash
# The real-VM suite: the session lifecycle against Chipi's session account (v32) running
# on starknet-devnet, with the real component in the real host and the sandbox relaying
# Chipi's two endpoints to the node (tests/devnet).
#
# Installs what it needs like scripts/test.sh (scripts/setup.sh), and starknet-devnet
# 0.10.1 when it is missing (scripts/devnet.sh: 35 to 75 minutes on 2 cores the first
# time). Then it builds the component, starts the devnet with the class from
# CHIPI_ACCOUNT_CLASS (default ../shared/cairo/chipi_session_account_v32.contract_class.json),
# runs the suite one test at a time (they share the node and move its clock; one of them
# runs the CLI through create, register, execute, status and revoke with
# `chipi-session sandbox --devnet-rpc`), and stops the devnet.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --locked --target wasm32-wasip2 -p chipi-session-guest
export CHIPI_SESSION_GUEST_WASM="$target/wasm32-wasip2/release/chipi_session_guest.wasm"
cargo clippy -p chipi-session-e2e --features devnet --all-targets --locked -- -D warnings
cargo build -p chipi-session-e2e --features devnet --tests --locked
cargo build -p chipi-session-cli --locked
export CHIPI_SESSION_BIN="$target/debug/chipi-session"

scripts/devnet.sh cargo test -p chipi-session-e2e --features devnet --test devnet --locked \
  -- --test-threads=1
