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
# Against the sandbox process our bench has one wallet, so its pool phase runs the
# executes on one warm session.
#
# It also measures the session stores and a store shared by two processes, with a
# throwaway Redis server (scripts/redis.sh, stopped on exit):
#   - store: `chipi-session bench --only store --store-ops BENCH_STORE_OPS` on an SQLite
#     file and on Redis: reads and successful compare-and-swaps of a 2 KiB value per
#     second, one after the other, and their medians;
#   - Redis, one process: `chipi-session bench --only throughput` with the sessions in
#     Redis (BENCH_SHARED_EXECUTES executes, BENCH_CONCURRENCY in flight), wallet A;
#   - Redis, two processes: the same, twice at once, wallets A and B of the one sandbox
#     process, the sessions of both in the same Redis store (same key prefix). Combined
#     executes per second = (executes of A + executes of B) / (last end - first start),
#     the window of each process being its throughput phase (first execute sent to last
#     answer), in wall-clock time; the overlap of the two windows is reported too.
#
# And the same component in its three hosts, on one wallet each of the same sandbox,
# executes one after the other, sessions in memory: the Rust host (`chipi-session bench
# --only latency --store memory:`), the Node.js package (host/node/bench/warm_execute.mjs)
# and the Python package (host/python/bench/warm_execute.py): client CPU per warm execute
# (the whole client process, worker threads included) and the median.
#
# It prints a table (metric | chipi-session | Chipi SDK | SDK/ours ratio) and the store and
# shared-Redis tables, writes them to target/bench/table.txt, with the raw results and the
# ratios in target/bench/bench.json. The numbers depend on the machine, its load and the
# build; compare runs made on the same machine only.
#
# Environment:
#   BENCH_EXECUTES         executes of our bench (default 200)
#   BENCH_WALLETS          wallets our bench spreads the executes over (default 16)
#   BENCH_CONCURRENCY      concurrent executes in our bench (default 2)
#   BENCH_SDK_EXECUTES     executes of the SDK bench (default 50, at least 2; the SDK is slow)
#   BENCH_STORE_OPS        reads and compare-and-swaps of the store measure (default 2000)
#   BENCH_SHARED_EXECUTES  executes of each Redis throughput process (default 400)
#   BENCH_HOSTS_EXECUTES   warm executes of each host in the hosts comparison (default 200)
#   CHIPI_SESSION_BIN      use this chipi-session binary instead of building one
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
store_ops="${BENCH_STORE_OPS:-2000}"
shared_executes="${BENCH_SHARED_EXECUTES:-400}"
hosts_executes="${BENCH_HOSTS_EXECUTES:-200}"
for setting in "BENCH_EXECUTES=$executes" "BENCH_WALLETS=$wallets" \
  "BENCH_CONCURRENCY=$concurrency" "BENCH_SDK_EXECUTES=$sdk_executes" \
  "BENCH_STORE_OPS=$store_ops" "BENCH_SHARED_EXECUTES=$shared_executes" \
  "BENCH_HOSTS_EXECUTES=$hosts_executes"; do
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
if [ "$shared_executes" -lt 2 ]; then
  echo "bench: BENCH_SHARED_EXECUTES must be at least 2" >&2
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
# The Node.js and Python packages, for the hosts comparison.
(cd host/node && npm ci --no-audit --no-fund >&2 && npm run build >&2)
python_venv="$(dirname "$(dirname "$(host/python/install.sh)")")"

# Warm the compiled-component cache, so startupMs measures a start with a
# warm cache (a cold start compiles the component: about a second).
"$bin" bench --executes 2 --wallets 1 --concurrency 1 --json >/dev/null

pin=123456
tmp=""
sandbox_pid=""
redis_dir=""
shared_pids=()
cleanup() {
  for pid in "${shared_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$sandbox_pid" ]; then
    kill "$sandbox_pid" 2>/dev/null || true
    wait "$sandbox_pid" 2>/dev/null || true
  fi
  if [ -n "$redis_dir" ]; then
    scripts/redis.sh stop "$redis_dir" || true
  fi
  if [ -n "$tmp" ]; then
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
tmp="$(mktemp -d)"

# Run `chipi-session ... --json bench ARGS...` (global options first), its JSON into OUT;
# stop the script, showing what it printed, when it fails.
run_bench() {
  local what="$1" out="$2" status=0
  shift 2
  "$bin" "$@" >"$out" 2>"$out.err" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "bench: FAILED: $what: \`chipi-session bench\` exited with status $status; it printed:" >&2
    cat "$out" >&2
    tail -n 40 "$out.err" >&2
    exit 1
  fi
}

# A throwaway Redis server; its URL (with its password) goes to the CLI in CHIPI_STORE,
# never on a command line.
echo "bench: starting a throwaway Redis server" >&2
redis_dir="$tmp/redis"
redis_url="$(scripts/redis.sh start "$redis_dir")"

echo "bench: store measure ($store_ops reads and compare-and-swaps each, SQLite then Redis)" >&2
run_bench "store measure on SQLite" "$tmp/store_sqlite.json" \
  --store "sqlite:$tmp/store-ops.sqlite" --json bench --only store --store-ops "$store_ops"
CHIPI_STORE="$redis_url" run_bench "store measure on Redis" "$tmp/store_redis.json" \
  --json bench --only store --store-ops "$store_ops"

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

# More wallets of the same sandbox (its admin endpoint): the second process of the
# shared-Redis run (two processes on one wallet would replace each other's session), and
# one per host of the hosts comparison.
new_wallet() {
  # shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
  node -e '
    const fs = require("node:fs");
    const [apiUrl, pin, out] = process.argv.slice(1);
    const base = apiUrl.replace(/\/v1\/?$/, "");
    (async () => {
      const res = await fetch(`${base}/sandbox/wallets`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ pin }),
      });
      const body = await res.json();
      if (res.status !== 201 || typeof body.publicKey !== "string") {
        throw new Error(`POST /sandbox/wallets: ${res.status} ${JSON.stringify(body)}`);
      }
      const { publicKey, encryptedPrivateKey, walletType } = body;
      fs.writeFileSync(out, JSON.stringify({ publicKey, encryptedPrivateKey, walletType }));
    })().catch((e) => { console.error(e.message); process.exit(1); });
  ' "$api_url" "$pin" "$1"
}
wallet_b_file="$tmp/wallet_b.json"
new_wallet "$wallet_b_file"
sandbox_args=(--api-url "$api_url" --rpc-url "$rpc_url" --api-key "$api_key"
  --bearer-token "$bearer_token" --encrypt-key "$pin")

echo "bench: chipi-session bench ($executes executes, $wallets wallets, concurrency $concurrency)" >&2
run_bench "chipi-session bench" "$tmp/ours.json" \
  "${sandbox_args[@]}" --wallet "$wallet_file" --store "$tmp/ours.sqlite" --json \
  bench --executes "$executes" --wallets "$wallets" --concurrency "$concurrency"

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

# One warm execute in each host: the same component on the same sandbox, one wallet
# each, executes one after the other, sessions in memory.
echo "bench: hosts: Rust, Node.js, Python ($hosts_executes warm executes each)" >&2
for host in rust node python; do
  new_wallet "$tmp/wallet_$host.json"
done
run_bench "Rust host" "$tmp/host_rust.json" "${sandbox_args[@]}" \
  --wallet "$tmp/wallet_rust.json" --store memory: --json \
  bench --executes "$hosts_executes" --wallets 1 --concurrency 1 --only latency
for host in node python; do
  status=0
  case "$host" in
    node) runner=(node host/node/bench/warm_execute.mjs) ;;
    python) runner=("$python_venv/bin/python" host/python/bench/warm_execute.py) ;;
  esac
  CHIPI_BENCH_API_URL="$api_url" CHIPI_BENCH_RPC_URL="$rpc_url" CHIPI_BENCH_API_KEY="$api_key" \
    CHIPI_BENCH_TOKEN="$bearer_token" CHIPI_BENCH_WALLET="$tmp/wallet_$host.json" \
    CHIPI_BENCH_PIN="$pin" CHIPI_BENCH_EXECUTES="$hosts_executes" \
    "${runner[@]}" >"$tmp/host_$host.json" 2>"$tmp/host_$host.err" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "bench: FAILED: the $host host bench exited with status $status; it printed:" >&2
    cat "$tmp/host_$host.json" >&2
    tail -n 40 "$tmp/host_$host.err" >&2
    exit 1
  fi
done

shared_bench=(--json bench --only throughput --executes "$shared_executes"
  --concurrency "$concurrency")
echo "bench: Redis store, one process ($shared_executes executes, concurrency $concurrency)" >&2
CHIPI_STORE="$redis_url" run_bench "Redis, one process" "$tmp/redis_one.json" \
  "${sandbox_args[@]}" --wallet "$wallet_file" "${shared_bench[@]}"

echo "bench: Redis store, two processes at once ($shared_executes executes each)" >&2
CHIPI_STORE="$redis_url" "$bin" "${sandbox_args[@]}" --wallet "$wallet_file" \
  "${shared_bench[@]}" >"$tmp/redis_a.json" 2>"$tmp/redis_a.json.err" &
shared_pids+=("$!")
CHIPI_STORE="$redis_url" "$bin" "${sandbox_args[@]}" --wallet "$wallet_b_file" \
  "${shared_bench[@]}" >"$tmp/redis_b.json" 2>"$tmp/redis_b.json.err" &
shared_pids+=("$!")
shared_failed=0
for i in 0 1; do
  status=0
  wait "${shared_pids[$i]}" || status=$?
  if [ "$status" -ne 0 ]; then
    out="$tmp/redis_$([ "$i" -eq 0 ] && echo a || echo b).json"
    echo "bench: FAILED: Redis, two processes: process $((i + 1)) exited with status $status; it printed:" >&2
    cat "$out" >&2
    tail -n 40 "$out.err" >&2
    shared_failed=1
  fi
done
shared_pids=()
if [ "$shared_failed" -ne 0 ]; then
  exit 1
fi

config="{\"executes\":$executes,\"wallets\":$wallets,\"concurrency\":$concurrency,\"sdkExecutes\":$sdk_executes,\"storeOps\":$store_ops,\"sharedExecutes\":$shared_executes,\"hostsExecutes\":$hosts_executes}"
node scripts/bench_report.mjs "$tmp/ours.json" "$tmp/sdk.json" target/bench "$config" \
  --store "SQLite=$tmp/store_sqlite.json" --store "Redis=$tmp/store_redis.json" \
  --redis-one "$tmp/redis_one.json" --redis-two "$tmp/redis_a.json" "$tmp/redis_b.json" \
  --host "Rust (wasmtime)=$tmp/host_rust.json" --host "Node.js (jco)=$tmp/host_node.json" \
  --host "Python (wasmtime-py)=$tmp/host_python.json"
echo "bench: wrote target/bench/bench.json and target/bench/table.txt" >&2
