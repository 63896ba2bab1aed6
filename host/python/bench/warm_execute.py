#!/usr/bin/env python3
"""CPU cost of one warm execute in the Python host.

Creates and registers a session (max calls large), runs one warm-up execute,
then N warm executes of distinct transfers (N from argv[1] or
CHIPI_BENCH_EXECUTES, default 200) and prints one JSON line:

    {"host": "python", "executes": N, "cpuPerExecuteMs": ..., "executeMedianMs": ...}

cpuPerExecuteMs is the process CPU time (user + sys of every thread, from
time.process_time) over the N executes divided by N; executeMedianMs the
median wall time of one execute. The sandbox comes from CHIPI_BENCH_API_URL,
CHIPI_BENCH_RPC_URL, CHIPI_BENCH_API_KEY, CHIPI_BENCH_TOKEN and
CHIPI_BENCH_WALLET (wallet JSON file, its PIN in CHIPI_BENCH_PIN, default 1234); when they are absent the
script starts `chipi-session sandbox` itself (CHIPI_SESSION_BIN, default
target/release/chipi-session of the repository) and stops it at exit.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, Optional, Tuple

from chipi_session import SessionEngine

PIN = os.environ.get("CHIPI_BENCH_PIN") or "1234"
TOKEN_ADDRESS = "0x049d36570d4e46f48e99674bd3fcc84644ddd6b96f7c741b1562b82f9e004dc7"
RECIPIENT = "0xc0ffee"
ENV = ("CHIPI_BENCH_API_URL", "CHIPI_BENCH_RPC_URL", "CHIPI_BENCH_API_KEY", "CHIPI_BENCH_TOKEN", "CHIPI_BENCH_WALLET")


def start_sandbox(workdir: str) -> Tuple[subprocess.Popen, Dict[str, Any]]:
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    binary = os.environ.get("CHIPI_SESSION_BIN") or os.path.join(root, "target", "release", "chipi-session")
    if not os.path.isfile(binary):
        sys.exit(f"error: no sandbox given (CHIPI_BENCH_*) and no chipi-session binary at {binary}")
    wallet_path = os.path.join(workdir, "wallet.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIPI_")}
    proc = subprocess.Popen(
        [binary, "--json", "sandbox", "--listen", "127.0.0.1:0", "--pin", PIN, "--wallet-out", wallet_path],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        proc.wait()
        sys.exit("error: the sandbox exited without printing its URLs")
    info = json.loads(line)
    return proc, {
        "api_url": info["apiUrl"],
        "rpc_url": info["rpcUrl"],
        "api_key": info["apiKey"],
        "token": info["bearerToken"],
        "wallet": wallet_path,
    }


def run(n: int, target: Dict[str, Any]) -> Dict[str, Any]:
    with open(target["wallet"]) as f:
        wallet = json.load(f)
    config = {"api_base_url": target["api_url"], "api_key": target["api_key"], "rpc_urls": [target["rpc_url"]]}
    base = time.time_ns() % 10**12  # distinct amounts across runs on one sandbox
    with SessionEngine(get_bearer_token=lambda: target["token"]) as engine:
        s = engine.session(wallet=wallet, encrypt_key=PIN, config=config)
        s.create_session(duration_seconds=3600, replace_existing=True)
        s.register_session(max_calls=n + 10, allowed_entrypoints=["transfer"])

        def execute(i: int) -> None:
            s.execute_with_session(
                [{"contract_address": TOKEN_ADDRESS, "entrypoint": "transfer", "calldata": [RECIPIENT, str(base + i), "0x0"]}]
            )

        execute(0)  # warm-up
        walls = []
        cpu_start = time.process_time()
        for i in range(1, n + 1):
            t = time.perf_counter()
            execute(i)
            walls.append((time.perf_counter() - t) * 1000)
        cpu = (time.process_time() - cpu_start) * 1000
    return {
        "host": "python",
        "executes": n,
        "cpuPerExecuteMs": round(cpu / n, 3),
        "executeMedianMs": round(statistics.median(walls), 3),
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("CHIPI_BENCH_EXECUTES", "200"))
    if n <= 0:
        sys.exit("error: the number of executes must be positive")
    proc: Optional[subprocess.Popen] = None
    if all(os.environ.get(k) for k in ENV):
        target = {
            "api_url": os.environ["CHIPI_BENCH_API_URL"],
            "rpc_url": os.environ["CHIPI_BENCH_RPC_URL"],
            "api_key": os.environ["CHIPI_BENCH_API_KEY"],
            "token": os.environ["CHIPI_BENCH_TOKEN"],
            "wallet": os.environ["CHIPI_BENCH_WALLET"],
        }
    else:
        proc, target = start_sandbox(tempfile.mkdtemp(prefix="chipi-py-bench-"))
    try:
        print(json.dumps(run(n, target)), flush=True)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
