"""Ctrl-C (SIGINT) while a call runs: the call ends by KeyboardInterrupt,
never a crash or a swallowed interrupt, and the engine works afterwards.

Each phase runs interrupt_child.py in a subprocess, makes one part of the
operation slow (a sandbox endpoint, or a store or token source that blocks),
and sends SIGINT at a random point inside that window (the seed is printed;
set CHIPI_INTERRUPT_SEED to replay it, CHIPI_INTERRUPT_RUNS to repeat).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from chipi_session import MemoryStore, SessionEngine

from conftest import PIN, Sandbox

CHILD = str(Path(__file__).with_name("interrupt_child.py"))
#: How long the slow part of a phase blocks (sandbox delay or callback sleep).
PAUSE_MS = 1500
#: The signal lands this far into the slow part, at most.
WINDOW_MS = 1200
RUNS = int(os.environ.get("CHIPI_INTERRUPT_RUNS", "1"))

#: Sandbox faults of the phases slowed down there; each delays one request.
FAULTS: Dict[str, Dict[str, Any]] = {
    "chain-id": {"endpoint": "rpc", "rpc_method": "starknet_chainId"},
    "register": {"endpoint": "prepare-typed-data"},
    "execute": {"endpoint": "execute-sponsored-transaction"},
    "wait": {"endpoint": "rpc", "rpc_method": "starknet_getTransactionReceipt"},
}
#: The state of the wallet's session after the interrupted operation.
STATE_AFTER = {
    "chain-id": {"none"},
    # The interrupt may land once the record was written (the call then ends
    # and KeyboardInterrupt follows it).
    "guest": {"none", "created"},
    "register": {"created"},
    "token": {"created"},
    "execute": {"active"},
    "store": {"active"},
    "wait": {"active"},
}


def faulted_request_arrived(sb: Sandbox, phase: str, seen: int) -> bool:
    """True once the sandbox received the request the phase's fault delays."""
    fault = FAULTS[phase]
    for req in sb.requests()[seen:]:
        if not req["path"].endswith(fault["endpoint"]):
            continue
        method = fault.get("rpc_method")
        if method is None or (isinstance(req["body"], dict) and req["body"].get("method") == method):
            return True
    return False


def read_event(proc: subprocess.Popen) -> Dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"the child ended early: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}"
    return json.loads(line)


def run_phase(sb: Sandbox, phase: str, rng: random.Random) -> Dict[str, Any]:
    """Run one interrupted child; returns its events, return code and stderr."""
    wallet = sb.new_wallet()
    args = {"phase": phase, "wallet": wallet, "config": sb.config(), "token": sb.token,
            "pause_s": PAUSE_MS / 1000}
    proc = subprocess.Popen(
        [sys.executable, CHILD, json.dumps(args)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        ready = read_event(proc)
        assert ready["event"] == "ready", ready
        seen = len(sb.requests())
        if phase in FAULTS:
            sb.admin("POST", "/sandbox/faults", {**FAULTS[phase], "delay_ms": PAUSE_MS, "remaining": 1})
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        if phase in FAULTS:
            deadline = time.monotonic() + 30
            while not faulted_request_arrived(sb, phase, seen):
                assert time.monotonic() < deadline, "the delayed request never arrived"
                time.sleep(0.005)
            window = WINDOW_MS
        else:
            inside = read_event(proc)
            assert inside["event"] == "inside", inside
            # The guest computes for tens of ms after its store read returns.
            window = 30 if phase == "guest" else WINDOW_MS
        time.sleep(rng.uniform(0, window) / 1000)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sb.admin("DELETE", "/sandbox/faults")
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {"code": proc.returncode, "stderr": err, "events": events, "wallet": wallet,
            "transaction_hash": ready.get("transaction_hash")}


@pytest.mark.parametrize("phase", list(STATE_AFTER))
def test_sigint_during_a_call_raises_keyboard_interrupt_and_the_engine_works_after(
    sandbox: Sandbox, phase: str
) -> None:
    seed = int(os.environ.get("CHIPI_INTERRUPT_SEED") or random.randrange(1 << 32))
    print(f"phase {phase}: CHIPI_INTERRUPT_SEED={seed}")
    rng = random.Random(seed)
    for _ in range(RUNS):
        res = run_phase(sandbox, phase, rng)
        stderr = res["stderr"]
        summary = f"seed {seed}: exit {res['code']}, events {res['events']}, stderr:\n{stderr}"
        # Killed by the SIGINT Python re-sends itself after an uncaught
        # KeyboardInterrupt: never a crash (-11), never a normal exit.
        assert res["code"] == -signal.SIGINT, summary
        assert "Exception ignored" not in stderr, summary
        assert stderr.rstrip().splitlines()[-1] == "KeyboardInterrupt", summary
        kinds = [e["event"] for e in res["events"]]
        assert kinds[-2:] == ["interrupted", "after"], summary
        interrupted, after = res["events"][-2], res["events"][-1]
        assert after["state"] in STATE_AFTER[phase], summary
        assert after["fresh_state"] == after["state"], summary
        if phase == "wait":
            # The hash that was waited for is never hidden.
            assert interrupted["transaction_hash"] == res["transaction_hash"], summary
        if phase == "execute":
            landed: List[str] = [
                t["hash"] for t in sandbox.transactions(res["wallet"]["publicKey"])
                if t["signer"]["kind"] == "session"
            ]
            assert len(landed) == 1, summary  # never a second payment
            assert after["retry"] in (landed[0], "ALREADY_EXECUTED"), summary
            if interrupted["transaction_hash"] is not None:
                assert interrupted["transaction_hash"] == landed[0], summary


def test_sigint_inside_a_store_callback_in_process(sandbox: Sandbox, engines) -> None:
    """Deterministic: the signal arrives while the store's ``get`` runs."""
    class SignallingStore(MemoryStore):
        def __init__(self) -> None:
            super().__init__()
            self.armed = False
            self.finished = False

        def get(self, key: str):
            if self.armed:
                self.armed = False
                signal.raise_signal(signal.SIGINT)
                self.finished = True  # never reached: interrupted right there
            return super().get(key)

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    store = SignallingStore()
    engine = SessionEngine(store=store, get_bearer_token=lambda: sandbox.token)
    engines.append(engine)
    s = engine.session(wallet=sandbox.new_wallet(), encrypt_key=PIN, config=sandbox.config())
    s.create_session(duration_seconds=3600)
    store.armed = True
    with pytest.raises(KeyboardInterrupt) as info:
        s.get_session_status()
    assert info.value.transaction_hash is None  # type: ignore[attr-defined]
    assert not store.finished
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert s.get_session_status().state == "created"
    assert engine.instances_created == 2


def test_another_sigint_handler_runs_after_the_call(sandbox: Sandbox, engines) -> None:
    seen: List[str] = []

    class SignallingStore(MemoryStore):
        armed = False

        def get(self, key: str):
            if self.armed:
                self.armed = False
                signal.raise_signal(signal.SIGINT)
                seen.append("store went on")
            return super().get(key)

    store = SignallingStore()
    engine = SessionEngine(store=store, get_bearer_token=lambda: sandbox.token)
    engines.append(engine)
    s = engine.session(wallet=sandbox.new_wallet(), encrypt_key=PIN, config=sandbox.config())
    handler = lambda signum, frame: seen.append(f"handler {signum}")  # noqa: E731
    previous = signal.signal(signal.SIGINT, handler)
    try:
        store.armed = True
        assert s.get_session_status().state == "none"
        seen.append("call returned")
        assert signal.getsignal(signal.SIGINT) is handler
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == ["store went on", f"handler {int(signal.SIGINT)}", "call returned"]
    assert engine.instances_created == 1
