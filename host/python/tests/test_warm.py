"""Warm sessions left unclosed: collected sessions release their resource,
the engine keeps at most ``max_warm_sessions`` and drops idle ones."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
import time
from typing import List, Optional

import pytest

from chipi_session import ChipiSessionError, MemoryStore, Session, SessionEngine

from conftest import PIN, Sandbox, transfer


def rss_bytes() -> int:
    """Resident set size of this process (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def wait_until(condition, what: str, limit_s: float = 30.0) -> None:
    """Poll ``condition`` until true; fails after ``limit_s`` (a bound on a
    hang, not a timing assertion)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def test_ten_thousand_unclosed_sessions_stay_bounded(sandbox: Sandbox, engines) -> None:
    limit, idle_s = 64, 0.5
    engine = SessionEngine(
        get_bearer_token=lambda: sandbox.token, max_warm_sessions=limit, idle_timeout_seconds=idle_s
    )
    engines.append(engine)
    wallet = sandbox.new_wallet()
    kept: List[Session] = []
    most = 0
    rss = {}
    for i in range(10_000):
        s = engine.session(wallet=wallet, encrypt_key=PIN, config=sandbox.config())
        assert s.get_session_status().state == "none"  # makes its resource
        most = max(most, engine.warm_sessions)
        if i % 10 == 0:
            kept.append(s)  # still referenced, never closed
        if i + 1 in (2_000, 10_000):
            gc.collect()
            rss[i + 1] = rss_bytes()
    print(f"most warm sessions {most}, RSS at 2,000 {rss[2_000] >> 20} MiB, "
          f"at 10,000 {rss[10_000] >> 20} MiB")
    assert 1 <= most <= limit
    # 8,000 more sessions, 800 of them kept: about a MiB of Python objects
    # (with every resource kept, it grows by some 2 KiB per session).
    assert rss[10_000] - rss[2_000] < 8 << 20
    assert engine.instances_created == 1

    # After the idle limit, using one session drops every other one first.
    time.sleep(2 * idle_s)
    assert kept[0].get_session_status().state == "none"
    assert engine.warm_sessions == 1
    # Without any call, the background sweep drops the last one.
    wait_until(lambda: engine.warm_sessions == 0, "the idle sweep")
    # Every session still works (its next call makes a new resource).
    assert kept[-1].get_session_status().state == "none"
    assert engine.warm_sessions == 1


def test_warm_limit_drops_the_least_recently_used_and_writes_its_landing(
    sandbox: Sandbox, engines
) -> None:
    store = MemoryStore()
    engine = SessionEngine(store=store, get_bearer_token=lambda: sandbox.token, max_warm_sessions=2)
    engines.append(engine)
    sessions = [
        engine.session(wallet=sandbox.new_wallet(), encrypt_key=PIN, config=sandbox.config())
        for _ in range(3)
    ]
    first = sessions[0]
    first.create_session(duration_seconds=3600)
    first.register_session(max_calls=5, allowed_entrypoints=["transfer"])
    first.execute_with_session([transfer(1)])
    [key] = store._values

    def pending() -> int:
        return len(json.loads(store.get(key) or b"{}").get("pending", []))

    assert pending() == 1  # the warm execute's landing is deferred
    sessions[1].get_session_status()
    assert (engine.warm_sessions, pending()) == (2, 1)
    sessions[2].get_session_status()  # drops the least recently used: the first
    assert (engine.warm_sessions, pending()) == (2, 0)
    st = first.get_session_status()
    assert (st.state, st.remaining_calls) == ("active", 4)
    first.execute_with_session([transfer(2)])
    assert first.get_session_status().remaining_calls == 3
    assert engine.instances_created == 1


def test_collected_sessions_release_their_resource_from_any_thread(
    sandbox: Sandbox, engines
) -> None:
    victims: List[Optional[Session]] = []

    class DroppingStore(MemoryStore):
        """Drops the last reference to a session inside the component's call,
        so its finalizer runs there, on the calling thread."""

        def get(self, key: str) -> Optional[bytes]:
            if victims:
                victims.pop()
                gc.collect()
            return super().get(key)

    engine = SessionEngine(store=DroppingStore(), get_bearer_token=lambda: sandbox.token)
    engines.append(engine)
    wallet = sandbox.new_wallet()

    def open_one() -> Session:
        s = engine.session(wallet=wallet, encrypt_key=PIN, config=sandbox.config())
        s.get_session_status()
        return s

    # Collected on another thread.
    def work() -> None:
        for _ in range(20):
            open_one()

    t = threading.Thread(target=work)
    t.start()
    t.join(60)
    assert not t.is_alive()
    # Collected inside a call of this thread.
    victims.append(open_one())
    keeper = open_one()
    assert engine.warm_sessions <= 2
    keeper.get_session_status()
    assert victims == []
    assert engine.warm_sessions == 1  # only the keeper
    assert engine.instances_created == 1


SHUTDOWN = r"""
import json, sys
from chipi_session import SessionEngine
args = json.loads(sys.argv[1])
engine = SessionEngine(get_bearer_token=lambda: args["token"], idle_timeout_seconds=0.2)
sessions = [engine.session(wallet=args["wallet"], encrypt_key="1234", config=args["config"])
            for _ in range(5)]
for s in sessions:
    s.get_session_status()
print("warm", engine.warm_sessions, flush=True)
del sessions[:3]
"""


def test_unclosed_sessions_at_interpreter_exit(sandbox: Sandbox) -> None:
    args = {"wallet": sandbox.new_wallet(), "config": sandbox.config(), "token": sandbox.token}
    done = subprocess.run(
        [sys.executable, "-c", SHUTDOWN, json.dumps(args)],
        capture_output=True, text=True, timeout=120,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "warm 5\n", "")


def test_warm_options_are_checked() -> None:
    for options in ({"max_warm_sessions": 0}, {"max_warm_sessions": 1.5},
                    {"idle_timeout_seconds": 0}, {"idle_timeout_seconds": float("inf")},
                    {"idle_timeout_seconds": "5"}):
        with pytest.raises(ChipiSessionError) as info:
            SessionEngine(**options)
        assert info.value.code == "INVALID_INPUT", options
