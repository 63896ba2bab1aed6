#!/usr/bin/env bash
# Installs what the build needs on a fresh machine: the wasm32-wasip2 target of
# the pinned toolchain (rust-toolchain.toml), openssl and redis-server (Debian
# packages). Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found; install Rust with rustup first" >&2
  exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  echo "installing the wasm32-wasip2 target" >&2
  rustup target add wasm32-wasip2
fi
# The sandbox tests check CryptoJS ciphertexts with an independent decryptor.
if ! command -v openssl >/dev/null 2>&1; then
  echo "installing openssl (Debian package)" >&2
  apt-get update -qq && apt-get install -y -qq openssl
fi
# The Redis store's tests and benchmark run a throwaway redis-server
# (scripts/redis.sh).
if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server (Debian package)" >&2
  apt-get update -qq && apt-get install -y -qq redis-server
fi
