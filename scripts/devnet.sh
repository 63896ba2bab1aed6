#!/usr/bin/env bash
# Runs starknet-devnet 0.10.1 on 127.0.0.1 with Chipi's session account class, for the
# real-VM suite (scripts/test-devnet.sh) and for trying the CLI against a real Starknet VM.
#
#   scripts/devnet.sh                 start it, print its URL, serve until Ctrl-C
#   scripts/devnet.sh CMD [ARGS...]   start it, run CMD with CHIPI_DEVNET_URL set, stop it
#
# It installs starknet-devnet with `cargo install --locked` when it is missing (about 680
# crates: 35 to 75 minutes on 2 cores), then starts it on a free loopback port with the
# class from CHIPI_ACCOUNT_CLASS (default ../shared/cairo/chipi_session_account_v32.contract_class.json)
# as its predeployed account class (--account-class-custom), a fixed seed
# (CHIPI_DEVNET_SEED, default 20261125) and CHIPI_DEVNET_ACCOUNTS accounts (default 10), waits until it answers JSON-RPC,
# prints `CHIPI_DEVNET_URL=http://127.0.0.1:PORT/rpc` on stdout, and stops it on exit
# (failures and Ctrl-C included). Its log is in CHIPI_DEVNET_LOG (default a temporary file,
# printed when it fails to start).
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.10.1
class="${CHIPI_ACCOUNT_CLASS:-../shared/cairo/chipi_session_account_v32.contract_class.json}"
seed="${CHIPI_DEVNET_SEED:-20261125}"
accounts="${CHIPI_DEVNET_ACCOUNTS:-10}"

if ! command -v starknet-devnet >/dev/null 2>&1 ||
  ! starknet-devnet --version 2>/dev/null | grep -q " $version"; then
  echo "devnet: installing starknet-devnet $version with cargo install --locked;" \
    "this compiles about 680 crates and takes 35 to 75 minutes on 2 cores" >&2
  cargo install starknet-devnet --version "$version" --locked >&2
fi
if [ ! -f "$class" ]; then
  echo "devnet: account class $class not found (set CHIPI_ACCOUNT_CLASS)" >&2
  exit 1
fi

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="${CHIPI_DEVNET_LOG:-$(mktemp "${TMPDIR:-/tmp}/chipi-devnet.XXXXXX")}"
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

starknet-devnet --host 127.0.0.1 --port "$port" --seed "$seed" --accounts "$accounts" \
  --account-class-custom "$class" >"$log" 2>&1 &
pid=$!
url="http://127.0.0.1:$port/rpc"
ready=0
for ((i = 0; i < 600; i++)); do
  if python3 - "$url" 2>/dev/null <<'PY'
import json, sys, urllib.request
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "starknet_chainId", "params": []})
req = urllib.request.Request(sys.argv[1], body.encode(), {"content-type": "application/json"})
sys.exit(0 if "result" in json.load(urllib.request.urlopen(req, timeout=2)) else 1)
PY
  then
    ready=1
    break
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
if [ "$ready" -ne 1 ]; then
  echo "devnet: starknet-devnet did not answer on $url; its log ($log):" >&2
  tail -n 40 "$log" >&2
  exit 1
fi
export CHIPI_DEVNET_URL="$url"
echo "CHIPI_DEVNET_URL=$url"
if [ "$#" -gt 0 ]; then
  "$@"
else
  echo "devnet: serving on $url (Ctrl-C to stop)" >&2
  wait "$pid"
fi
