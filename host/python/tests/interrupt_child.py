"""Child process of test_interrupt.py: runs one operation of a phase and is
sent SIGINT by the test while the operation is in flight.

argv[1] is a JSON object: ``phase``, ``wallet``, ``config`` (the sandbox),
``token`` and ``pause_s`` (how long a slow store or token source blocks).
Protocol, one JSON line per event on stdout:

- ``{"event": "ready", ...}`` after the phase's setup; the child then waits
  for one line on stdin (the test has set its faults) before the operation;
- ``{"event": "inside"}`` printed by a slow callback when it starts blocking,
  or by the store's ``get`` when the component goes on computing;
- ``{"event": "interrupted", ...}`` when the operation raised
  ``KeyboardInterrupt``, then ``{"event": "after", ...}`` with what the same
  engine and a fresh one answer afterwards; the ``KeyboardInterrupt`` is then
  re-raised, so the process ends by SIGINT;
- ``{"event": "finished"}`` if the operation returned instead.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Dict, Optional

from chipi_session import ChipiSessionError, MemoryStore, SessionEngine

PIN = "1234"
TOKEN = "0x049d36570d4e46f48e99674bd3fcc84644ddd6b96f7c741b1562b82f9e004dc7"
#: The amount of the transfer the "execute" phase interrupts.
AMOUNT = 4242


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def transfer(amount: int) -> Dict[str, Any]:
    return {"contract_address": TOKEN, "entrypoint": "transfer",
            "calldata": ["0xc0ffee", str(amount), "0x0"]}


class Store(MemoryStore):
    """A memory store that can block in ``get`` (``slow``) or announce that
    its ``get`` returned (``mark``), once armed."""

    def __init__(self, pause_s: float) -> None:
        super().__init__()
        self.pause_s = pause_s
        self.slow = False
        self.mark = False

    def get(self, key: str) -> Optional[bytes]:
        if self.slow:
            self.slow = False
            emit("inside")
            time.sleep(self.pause_s)
        value = super().get(key)
        if self.mark:
            self.mark = False
            emit("inside")
        return value


def main() -> None:
    args = json.loads(sys.argv[1])
    phase = args["phase"]
    store = Store(args["pause_s"])
    slow_token = {"on": False}

    def token() -> str:
        if slow_token["on"]:
            slow_token["on"] = False
            emit("inside")
            time.sleep(args["pause_s"])
        return args["token"]

    config = dict(args["config"])
    if phase == "guest":
        config["chain_id"] = "SN_SEPOLIA"  # no RPC: the component computes after the read
    engine = SessionEngine(store=store, get_bearer_token=token)
    s = engine.session(wallet=args["wallet"], encrypt_key=PIN, config=config)

    tx = None
    if phase in ("register", "token", "execute", "wait", "store"):
        s.create_session(duration_seconds=3600)
    if phase in ("execute", "wait", "store"):
        s.register_session(max_calls=10, allowed_entrypoints=["transfer"])
    if phase == "wait":
        tx = s.execute_with_session([transfer(1)])

    ops = {
        "chain-id": lambda: s.create_session(duration_seconds=3600),
        "guest": lambda: s.create_session(duration_seconds=3600),
        "register": lambda: s.register_session(max_calls=10, allowed_entrypoints=["transfer"]),
        "token": lambda: s.register_session(max_calls=10, allowed_entrypoints=["transfer"]),
        "execute": lambda: s.execute_with_session([transfer(AMOUNT)], idempotency_key="k"),
        "store": lambda: s.get_session_status(),
        "wait": lambda: s.wait_for_transaction(tx, timeout_ms=20_000),
    }
    emit("ready", transaction_hash=tx)
    sys.stdin.readline()
    store.slow = phase == "store"
    store.mark = phase == "guest"
    slow_token["on"] = phase == "token"
    try:
        ops[phase]()
    except KeyboardInterrupt as err:
        emit("interrupted", transaction_hash=getattr(err, "transaction_hash", None),
             instances=engine.instances_created)
        after: Dict[str, Any] = {"state": s.get_session_status().state,
                                 "instances": engine.instances_created}
        if phase == "execute":
            try:
                after["retry"] = s.execute_with_session([transfer(AMOUNT)], idempotency_key="k")
            except ChipiSessionError as retry_err:
                after["retry"] = retry_err.code
        with SessionEngine(store=store, get_bearer_token=token) as fresh:
            other = fresh.session(wallet=args["wallet"], encrypt_key=PIN, config=config)
            after["fresh_state"] = other.get_session_status().state
        emit("after", **after)
        raise
    emit("finished")


if __name__ == "__main__":
    main()
