"""Exactly once (docs/signing-pipeline.md, section 2) through the Python API:
idempotency keys on every signing method, lost answers, and waits that name
their hash, against the sandbox with fault injection."""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

import pytest

from chipi_session import ChipiSessionError, MemoryStore, Session, SessionEngine

from conftest import PIN, TOKEN, Sandbox, transfer

LOST_EXECUTE_ANSWER = {
    "drop_answer": True,
    "endpoint": "execute-sponsored-transaction",
    "remaining": 1,
}


def registered(
    sb: Sandbox, engines: list, max_calls: int = 10, store: Optional[MemoryStore] = None
) -> Tuple[MemoryStore, Dict[str, Any], Session]:
    """A session of a new wallet, created and registered for transfers:
    (store, wallet, session)."""
    store = MemoryStore() if store is None else store
    engine = SessionEngine(store=store, get_bearer_token=lambda: sb.token)
    engines.append(engine)
    wallet = sb.new_wallet()
    s = engine.session(wallet=wallet, encrypt_key=PIN, config=sb.config())
    s.create_session(duration_seconds=3600)
    s.register_session(max_calls=max_calls, allowed_entrypoints=["transfer"])
    return store, wallet, s


def signed_by(sb: Sandbox, wallet: Dict[str, Any], kind: str) -> List[Dict[str, Any]]:
    """Transactions of the wallet the sandbox executed, signed by `owner` or `session`."""
    return [t for t in sb.transactions(wallet["publicKey"]) if t["signer"]["kind"] == kind]


def transfers_of(sb: Sandbox, wallet: Dict[str, Any], amount: int) -> List[str]:
    """Hashes of the session transfers of `amount` the sandbox executed."""
    return [
        t["hash"]
        for t in signed_by(sb, wallet, "session")
        if any(int(c["calldata"][1], 0) == amount for c in t["calls"])
    ]


def prepares(sb: Sandbox) -> int:
    """`prepare-typed-data` requests received (one per signature made)."""
    return sum(1 for r in sb.requests() if r["path"].endswith("prepare-typed-data"))


def test_lost_answer_then_status_then_retry_with_the_key_is_one_transaction(
    fresh_sandbox: Sandbox, engines
) -> None:
    sb = fresh_sandbox
    _, wallet, s = registered(sb, engines)
    sb.admin("POST", "/sandbox/faults", LOST_EXECUTE_ANSWER)
    with pytest.raises(ChipiSessionError) as info:
        s.execute_with_session([transfer(5)], idempotency_key="k1")
    assert info.value.code == "TRANSACTION_PENDING", info.value
    landed = transfers_of(sb, wallet, 5)
    assert len(landed) == 1, "the transaction landed although its answer was lost"

    st = s.get_session_status()
    assert (st.state, st.remaining_calls) == ("active", 9)

    signed = prepares(sb)
    try:
        again = s.execute_with_session([transfer(5)], idempotency_key="k1")
    except ChipiSessionError as err:
        assert err.code == "ALREADY_EXECUTED", err
        assert "nonce 0x" in err.message
    else:
        assert again == landed[0]
    assert transfers_of(sb, wallet, 5) == landed, "never a second payment"
    assert len(signed_by(sb, wallet, "session")) == 1
    assert prepares(sb) == signed, "nothing signed again"
    assert s.get_session_status().remaining_calls == 9, "counted once"

    # Another key is another intent, even for the same calls.
    other = s.execute_with_session([transfer(5)], idempotency_key="k2")
    assert other not in landed
    assert len(transfers_of(sb, wallet, 5)) == 2
    assert s.get_session_status().remaining_calls == 8


def test_a_key_is_one_intent_after_success_and_names_its_calls(sandbox: Sandbox, engines) -> None:
    sb = sandbox
    store, wallet, s = registered(sb, engines)
    first = s.execute_with_session([transfer(7)], idempotency_key="order-7")
    assert first.startswith("0x")
    signed = prepares(sb)

    assert s.execute_with_session([transfer(7)], idempotency_key="order-7") == first
    assert s.execute_with_session([transfer(7)], "order-7") == first  # positional
    # Another engine on the same store (as another process would be) once the
    # warm session wrote its landing.
    s.lock()
    engine = SessionEngine(store=store, get_bearer_token=lambda: sb.token)
    engines.append(engine)
    elsewhere = engine.session(wallet=wallet, encrypt_key=PIN, config=sb.config())
    assert elsewhere.execute_with_session([transfer(7)], idempotency_key="order-7") == first
    assert transfers_of(sb, wallet, 7) == [first], "nothing new landed"
    assert prepares(sb) == signed, "nothing signed"

    # The same calls under another key: a second payment, on purpose.
    second = s.execute_with_session([transfer(7)], idempotency_key="order-7b")
    assert second != first
    assert transfers_of(sb, wallet, 7) == [first, second]

    # A key names its calls.
    with pytest.raises(ChipiSessionError) as info:
        s.execute_with_session([transfer(8)], idempotency_key="order-7")
    assert info.value.code == "INVALID_INPUT", info.value
    assert transfers_of(sb, wallet, 8) == []
    assert s.get_session_status().remaining_calls == 8


def test_bad_idempotency_keys_are_invalid_input_and_send_nothing(sandbox: Sandbox, engines) -> None:
    sb = sandbox
    _, wallet, s = registered(sb, engines)
    signed = prepares(sb)
    for bad in (7, b"k", ["k"], "", "k" * 257, "é" * 129, "a\nb", "a\x00b", "a\x7fb"):
        with pytest.raises(ChipiSessionError) as info:
            s.execute_with_session([transfer(1)], idempotency_key=bad)  # type: ignore[arg-type]
        assert info.value.code == "INVALID_INPUT", (bad, info.value)
    for call in (
        lambda: s.revoke_session(idempotency_key=1),  # type: ignore[arg-type]
        lambda: s.register_session(max_calls=2, idempotency_key=1),  # type: ignore[arg-type]
        lambda: s.remove_spending_policy(TOKEN, idempotency_key=1),  # type: ignore[arg-type]
        lambda: s.set_spending_policy(
            token=TOKEN, max_per_call=1, max_per_window=2, window_seconds=60,
            idempotency_key=1,  # type: ignore[arg-type]
        ),
    ):
        with pytest.raises(ChipiSessionError) as info:
            call()
        assert info.value.code == "INVALID_INPUT"
        assert "idempotency_key" in info.value.message
    assert prepares(sb) == signed
    assert signed_by(sb, wallet, "session") == []
    # 256 bytes (128 two-byte characters) is the longest key.
    assert s.execute_with_session([transfer(1)], idempotency_key="é" * 128).startswith("0x")


def test_wait_with_failing_receipts_is_pending_with_the_hash(
    fresh_sandbox: Sandbox, engines
) -> None:
    sb = fresh_sandbox
    _, _, s = registered(sb, engines)
    tx = s.execute_with_session([transfer(3)], idempotency_key="wait-3")
    sb.admin("POST", "/sandbox/faults", {"status": 503, "rpc_method": "starknet_getTransactionReceipt"})
    started = time.monotonic()
    with pytest.raises(ChipiSessionError) as info:
        s.wait_for_transaction(tx, timeout_ms=3000)
    elapsed = time.monotonic() - started
    err = info.value
    assert err.code == "TRANSACTION_PENDING", err
    assert err.transaction_hash == tx
    assert tx in err.message
    # It kept polling the failing node until its time ran out.
    assert 2.5 <= elapsed < 20, elapsed
    polls = [
        r for r in sb.requests()
        if isinstance(r["body"], dict) and r["body"].get("method") == "starknet_getTransactionReceipt"
    ]
    assert len(polls) >= 2

    sb.admin("DELETE", "/sandbox/faults")
    receipt = s.wait_for_transaction(tx, timeout_ms=5000)
    assert (receipt.transaction_hash, receipt.execution_status) == (tx, "succeeded")

    # Every failure of the wait names the hash it waited for.
    with pytest.raises(ChipiSessionError) as info:
        s.wait_for_transaction(tx, timeout_ms=-1)
    assert (info.value.code, info.value.transaction_hash) == ("INVALID_INPUT", tx)
    s.close()
    with pytest.raises(ChipiSessionError) as info:
        s.wait_for_transaction(tx, timeout_ms=1000)
    assert (info.value.code, info.value.transaction_hash) == ("HOST_ERROR", tx)


def test_owner_operations_retried_with_their_key_return_the_same_hash(
    sandbox: Sandbox, engines
) -> None:
    sb = sandbox
    engine = SessionEngine(get_bearer_token=lambda: sb.token)
    engines.append(engine)
    wallet = sb.new_wallet()
    s = engine.session(wallet=wallet, encrypt_key=PIN, config=sb.config())
    s.create_session(duration_seconds=3600)

    reg = s.register_session(max_calls=5, allowed_entrypoints=["transfer"], idempotency_key="reg-1")
    assert s.register_session(
        max_calls=5, allowed_entrypoints=["transfer"], idempotency_key="reg-1"
    ) == reg
    assert [t["hash"] for t in signed_by(sb, wallet, "owner")] == [reg]

    policy = {"token": TOKEN, "maxPerCall": "100", "maxPerWindow": "1000", "windowSeconds": 3600}
    pol = s.set_spending_policy(policy, idempotency_key="pol-1")
    assert s.set_spending_policy(policy, idempotency_key="pol-1") == pol
    got = s.get_spending_policy(TOKEN)
    assert got is not None and (got.max_per_call, got.max_per_window) == ("100", "1000")

    rm = s.remove_spending_policy(TOKEN, idempotency_key="rm-1")
    assert s.remove_spending_policy(TOKEN, "rm-1") == rm
    assert s.get_spending_policy(TOKEN) is None

    revoke = s.revoke_session(idempotency_key="revoke-1")
    assert s.get_session_status().state == "revoked"
    signed = prepares(sb)
    assert s.revoke_session(idempotency_key="revoke-1") == revoke
    assert s.revoke_session("revoke-1") == revoke
    assert prepares(sb) == signed, "nothing signed again"
    assert [t["hash"] for t in signed_by(sb, wallet, "owner")] == [reg, pol, rm, revoke]
    assert s.get_session_status().state == "revoked"


def test_error_constructor_stays_compatible() -> None:
    err = ChipiSessionError("TRANSPORT_ERROR", "down")
    assert (err.code, err.message, err.status, err.backend_code, err.transaction_hash) == (
        "TRANSPORT_ERROR", "down", None, None, None,
    )
    assert str(err) == "TRANSPORT_ERROR: down"
    err = ChipiSessionError("BACKEND_ERROR", "HTTP 502: x", status=502, transaction_hash="0x1")
    assert (err.status, err.backend_code, err.transaction_hash) == (502, None, "0x1")
