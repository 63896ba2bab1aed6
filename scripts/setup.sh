#!/usr/bin/env bash
# Installs what the build needs on a fresh machine: the wasm32-wasip2 target of
# the pinned toolchain (rust-toolchain.toml), openssl, redis-server and, when
# missing, Python's venv (Debian packages); checks Node.js and Python versions.
# Safe to run repeatedly.
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
# The Node.js package (host/node) needs Node >= 20.19 with npm; the Python
# package (host/python) needs Python >= 3.9 with venv and pip (Debian's
# python3-venv when missing).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "error: Node.js >= 20.19 with npm is required (host/node, tests/interop)" >&2
  exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "error: Node.js >= 20.19 is required, found $(node --version)" >&2
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "installing python3 (Debian package)" >&2
  apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip
fi
if ! python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)'; then
  echo "error: Python >= 3.9 is required, found $(python3 --version)" >&2
  exit 1
fi
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "installing python3-venv (Debian package)" >&2
  apt-get update -qq && apt-get install -y -qq python3-venv
fi
