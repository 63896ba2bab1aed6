#!/usr/bin/env bash
# Benchmarks the chipi-session CLI against Chipi's own SDK (@chipi-stack/backend, pinned
# in tests/interop/package-lock.json) in one run, on the same local sandbox backend.
#
# It starts `chipi-session sandbox` on a free loopback port, then runs:
#   - ours: `chipi-session ... --json bench` (component startup and instantiation, session
#     create/register, a first execute, then warm executes spread over several wallets with
#     some concurrency, client CPU per execute, resident memory per idle session key);
#   - the SDK: tests/interop/sdk_bench.mjs (startup, create, register, a first
#     executeTransactionWithSession, then warm executes one after the other, client CPU per
#     execute).
# Every execute is a distinct transfer. The sandbox runs in its own process, so the CPU
# figures are the client's alone. Both clients talk to the same sandbox over 127.0.0.1, so
# the difference is the client's own cost, not the network's. Note that our
# executesPerSecond uses BENCH_CONCURRENCY concurrent executes and the SDK's is sequential.
#
# It prints a table (metric | chipi-session | Chipi SDK | SDK/ours ratio) and writes it to
# target/bench/table.txt, with both raw results and the ratios in target/bench/bench.json.
# The numbers depend on the machine, its load and the build; compare runs made on the same
# machine only.
#
# Environment:
#   BENCH_EXECUTES      executes of our bench (default 200)
#   BENCH_WALLETS       wallets our bench spreads the executes over (default 16)
#   BENCH_CONCURRENCY   concurrent executes in our bench (default 2)
#   BENCH_SDK_EXECUTES  executes of the SDK bench (default 50, at least 2; the SDK is slow)
#   CHIPI_SESSION_BIN   use this chipi-session binary instead of building one
set -euo pipefail
# A relative CHIPI_SESSION_BIN is relative to where the script was started.
case "${CHIPI_SESSION_BIN:-}" in
  /*) ;;
  */*) CHIPI_SESSION_BIN="$PWD/$CHIPI_SESSION_BIN" ;;
esac
cd "$(dirname "$0")/.."

executes="${BENCH_EXECUTES:-200}"
wallets="${BENCH_WALLETS:-16}"
concurrency="${BENCH_CONCURRENCY:-2}"
sdk_executes="${BENCH_SDK_EXECUTES:-50}"
for setting in "BENCH_EXECUTES=$executes" "BENCH_WALLETS=$wallets" \
  "BENCH_CONCURRENCY=$concurrency" "BENCH_SDK_EXECUTES=$sdk_executes"; do
  case "${setting#*=}" in
    '' | *[!0-9]* | 0*)
      echo "bench: ${setting%%=*} must be a positive integer, got '${setting#*=}'" >&2
      exit 2
      ;;
  esac
done
if [ "$sdk_executes" -lt 2 ]; then
  echo "bench: BENCH_SDK_EXECUTES must be at least 2 (one cold execute, then warm ones)" >&2
  exit 2
fi

if [ -n "${CHIPI_SESSION_BIN:-}" ]; then
  bin="$CHIPI_SESSION_BIN"
  if ! command -v "$bin" >/dev/null; then
    echo "bench: CHIPI_SESSION_BIN=$bin is not an executable" >&2
    exit 1
  fi
else
  scripts/setup.sh
  # The component once, shared with the CLI build (as scripts/test.sh does).
  cargo build --release --locked --target wasm32-wasip2 -p chipi-session-guest
  target_dir="${CARGO_TARGET_DIR:-target}"
  case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
  CHIPI_SESSION_GUEST_WASM="$target_dir/wasm32-wasip2/release/chipi_session_guest.wasm"
  export CHIPI_SESSION_GUEST_WASM
  cargo build --release --locked -p chipi-session-cli
  bin="${CARGO_TARGET_DIR:-target}/release/chipi-session"
fi
tests/interop/install.sh

# Warm the compiled-component cache, so startupMs measures a start with a
# warm cache (a cold start compiles the component: about a second).
"$bin" bench --executes 2 --wallets 1 --concurrency 1 --json >/dev/null

pin=123456
tmp=""
sandbox_pid=""
cleanup() {
  if [ -n "$sandbox_pid" ]; then
    kill "$sandbox_pid" 2>/dev/null || true
    wait "$sandbox_pid" 2>/dev/null || true
  fi
  if [ -n "$tmp" ]; then
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
tmp="$(mktemp -d)"

# The sandbox prints one JSON line, {apiUrl, rpcUrl, apiKey, bearerToken, wallet}, once it
# listens; with port 0 the URLs carry the port it got.
echo "bench: starting the sandbox" >&2
: >"$tmp/sandbox.out"
"$bin" sandbox --listen 127.0.0.1:0 --pin "$pin" --wallet-out "$tmp/wallet.json" --json \
  >"$tmp/sandbox.out" 2>"$tmp/sandbox.err" &
sandbox_pid=$!
sandbox_json=""
ready=0
for ((i = 0; i < 300; i++)); do
  # `read` succeeds only on a complete (newline-terminated) line.
  if IFS= read -r sandbox_json <"$tmp/sandbox.out"; then
    ready=1
    break
  fi
  if ! kill -0 "$sandbox_pid" 2>/dev/null; then
    echo "bench: the sandbox exited before it was ready:" >&2
    cat "$tmp/sandbox.err" >&2
    exit 1
  fi
  sleep 0.1
done
if [ "$ready" -ne 1 ]; then
  echo "bench: the sandbox printed nothing within 30 s:" >&2
  cat "$tmp/sandbox.err" >&2
  exit 1
fi

# Our CLI's global options, and the SDK bench's ARGS.json (the wallet file the sandbox
# wrote is already {publicKey, encryptedPrivateKey, walletType}, what the SDK takes).
# shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
sandbox_fields="$(
  node -e '
    const fs = require("node:fs");
    const [line, pin, executions, argsPath] = process.argv.slice(1);
    const s = JSON.parse(line);
    for (const k of ["apiUrl", "rpcUrl", "apiKey", "bearerToken", "wallet"]) {
      if (typeof s[k] !== "string" || s[k] === "" || /\s/.test(s[k])) {
        throw new Error(`sandbox JSON: bad or missing ${k}: ${line}`);
      }
    }
    const wallet = JSON.parse(fs.readFileSync(s.wallet, "utf8"));
    fs.writeFileSync(argsPath, JSON.stringify({
      apiUrl: s.apiUrl, rpcUrl: s.rpcUrl, apiKey: s.apiKey, bearerToken: s.bearerToken,
      wallet, encryptKey: pin, executions: Number(executions),
    }));
    console.log([s.apiUrl, s.rpcUrl, s.apiKey, s.bearerToken, s.wallet].join("\n"));
  ' "$sandbox_json" "$pin" "$sdk_executes" "$tmp/sdk_args.json"
)"
{
  read -r api_url
  read -r rpc_url
  read -r api_key
  read -r bearer_token
  read -r wallet_file
} <<<"$sandbox_fields"

echo "bench: chipi-session bench ($executes executes, $wallets wallets, concurrency $concurrency)" >&2
ours_status=0
"$bin" --api-url "$api_url" --rpc-url "$rpc_url" --api-key "$api_key" \
  --bearer-token "$bearer_token" --wallet "$wallet_file" --encrypt-key "$pin" \
  --store "$tmp/ours.sqlite" --json \
  bench --executes "$executes" --wallets "$wallets" --concurrency "$concurrency" \
  >"$tmp/ours.json" || ours_status=$?
if [ "$ours_status" -ne 0 ]; then
  echo "bench: FAILED: \`chipi-session bench\` exited with status $ours_status; it printed:" >&2
  cat "$tmp/ours.json" >&2
  exit 1
fi

echo "bench: Chipi SDK bench ($sdk_executes executes, sequential)" >&2
sdk_status=0
node tests/interop/sdk_bench.mjs "$tmp/sdk_args.json" >"$tmp/sdk.json" 2>"$tmp/sdk.err" ||
  sdk_status=$?
if [ "$sdk_status" -ne 0 ]; then
  echo "bench: FAILED: tests/interop/sdk_bench.mjs exited with status $sdk_status:" >&2
  cat "$tmp/sdk.json" >&2
  tail -n 40 "$tmp/sdk.err" >&2
  exit 1
fi

config="{\"executes\":$executes,\"wallets\":$wallets,\"concurrency\":$concurrency,\"sdkExecutes\":$sdk_executes}"
node scripts/bench_report.mjs "$tmp/ours.json" "$tmp/sdk.json" target/bench "$config"
echo "bench: wrote target/bench/bench.json and target/bench/table.txt" >&2
