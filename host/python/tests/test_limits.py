"""Size limits at the boundary of the component: store values handed to it
and the text of each call's arguments."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional

import pytest

from chipi_session import (
    MAX_ARGUMENT_BYTES,
    MAX_STORE_VALUE_BYTES,
    ChipiSessionError,
    FileStore,
    MemoryStore,
    SessionEngine,
)

from conftest import PIN, TOKEN, Sandbox, transfer

class HandingStore(MemoryStore):
    """A memory store whose ``get`` hands out ``value`` instead, when set
    (without copying it), and counts its reads."""

    def __init__(self) -> None:
        super().__init__()
        self.value: Optional[bytes] = None
        self.gets = 0

    def get(self, key: str) -> Optional[bytes]:
        self.gets += 1
        if self.value is not None:
            return self.value
        return super().get(key)


def test_limits_are_the_documented_values() -> None:
    assert MAX_STORE_VALUE_BYTES == 8 * 1024 * 1024
    assert MAX_ARGUMENT_BYTES == 1_048_576


@pytest.mark.parametrize("size", [MAX_STORE_VALUE_BYTES + 1, 300 * 1024 * 1024])
def test_oversized_store_value_is_store_error_and_the_instance_keeps_working(
    sandbox: Sandbox, engines, size: int
) -> None:
    store = HandingStore()
    engine = SessionEngine(store=store, get_bearer_token=lambda: sandbox.token)
    engines.append(engine)
    s = engine.session(wallet=sandbox.new_wallet(), encrypt_key=PIN, config=sandbox.config())
    assert s.get_session_status().state == "none"

    store.value = b"{" * size
    with pytest.raises(ChipiSessionError) as info:
        s.get_session_status()
    store.value = None
    err = info.value
    assert err.code == "STORE_ERROR", err
    assert f"store value of {size} bytes exceeds the 8 MiB limit of a session record" in err.message
    assert len(err.message) < 1000  # the value is never echoed

    # Answered through the import: the same instance goes on.
    s.create_session(duration_seconds=3600)
    assert s.get_session_status().state == "created"
    assert engine.instances_created == 1


def test_store_value_cap_covers_the_file_store_and_spares_the_limit(
    sandbox: Sandbox, engines, tmp_path
) -> None:
    path = tmp_path / "sessions.json"
    store = FileStore(path)
    engine = SessionEngine(store=store, get_bearer_token=lambda: sandbox.token)
    engines.append(engine)
    s = engine.session(wallet=sandbox.new_wallet(), encrypt_key=PIN, config=sandbox.config())
    s.create_session(duration_seconds=3600)
    [key] = json.loads(path.read_text())
    record = store.get(key)

    over = b"[" * (MAX_STORE_VALUE_BYTES + 1)
    assert store.compare_and_swap(key, record, over)
    with pytest.raises(ChipiSessionError) as info:
        s.get_session_status()
    assert info.value.code == "STORE_ERROR"
    assert f"store value of {MAX_STORE_VALUE_BYTES + 1} bytes exceeds" in info.value.message

    # A value of exactly the limit reaches the component, which refuses it
    # as a record it cannot read, not as too large.
    at_limit = b"[" * MAX_STORE_VALUE_BYTES
    assert store.compare_and_swap(key, over, at_limit)
    with pytest.raises(ChipiSessionError) as info:
        s.get_session_status()
    assert "exceeds" not in info.value.message
    assert store.compare_and_swap(key, at_limit, record)
    assert s.get_session_status().state == "created"
    assert engine.instances_created == 1


def big_calls(calls: int, felts: int) -> List[Dict[str, Any]]:
    """``calls`` transfers, each with ``felts`` 66-byte felts of calldata."""
    return [
        {
            "contract_address": TOKEN,
            "entrypoint": "transfer",
            "calldata": [f"0x{(i * felts + j):064x}" for j in range(felts)],
        }
        for i in range(calls)
    ]


def test_oversized_arguments_are_refused_before_the_component(sandbox: Sandbox, engines) -> None:
    store = HandingStore()
    engine = SessionEngine(store=store, get_bearer_token=lambda: sandbox.token)
    engines.append(engine)
    wallet = sandbox.new_wallet()
    s = engine.session(wallet=wallet, encrypt_key=PIN, config=sandbox.config())
    received = len(sandbox.requests())

    huge = "1" * (300 * 1024 * 1024)
    two_mib = [f"0x{i:064x}" for i in range((2 << 20) // 66 + 1)]
    for calls in (
        [{"contract_address": TOKEN, "entrypoint": "transfer", "calldata": [huge]}],
        [{"contract_address": TOKEN, "entrypoint": "transfer", "calldata": two_mib}],
    ):
        with pytest.raises(ChipiSessionError) as info:
            s.execute_with_session(calls)
        err = info.value
        assert err.code == "INVALID_INPUT", err
        found = re.search(r"hold (\d+) bytes of text, more than the limit of 1048576 bytes", err.message)
        assert found, err.message
        assert int(found.group(1)) > len(calls[0]["calldata"][0]) * len(calls[0]["calldata"])
    with pytest.raises(ChipiSessionError) as info:
        s.register_session(allowed_entrypoints=["e" * 64] * 20_000)
    assert info.value.code == "INVALID_INPUT"
    with pytest.raises(ChipiSessionError) as info:
        s.set_spending_policy(token="0x" + "1" * (1 << 20), max_per_call=1, max_per_window=2,
                              window_seconds=60)
    assert info.value.code == "INVALID_INPUT"
    with pytest.raises(ChipiSessionError) as info:
        s.wait_for_transaction("0x" + "f" * (1 << 20))
    assert info.value.code == "INVALID_INPUT"
    # The session context: the encrypt key (multi-byte text counts its bytes)
    # and the configuration.
    for key, config in (("é" * (1 << 19) + "x", sandbox.config()),
                        (PIN, sandbox.config(api_key="k" * (MAX_ARGUMENT_BYTES + 1)))):
        with pytest.raises(ChipiSessionError) as info:
            engine.session(wallet=wallet, encrypt_key=key, config=config)
        assert info.value.code == "INVALID_INPUT"
        assert "the session context" in info.value.message
    # Nothing entered the component, nothing was sent.
    assert (engine.instances_created, store.gets) == (0, 0)
    assert len(sandbox.requests()) == received

    # The engine works, and a large valid call still goes through.
    s.create_session(duration_seconds=3600)
    s.register_session(max_calls=5, allowed_entrypoints=["transfer"])
    calls = big_calls(64, 64)
    tx = s.execute_with_session(calls)
    landed = [t for t in sandbox.transactions(wallet["publicKey"]) if t["hash"] == tx]
    assert len(landed) == 1
    assert [len(c["calldata"]) for c in landed[0]["calls"]] == [64] * 64
    assert s.get_session_status().remaining_calls == 4
