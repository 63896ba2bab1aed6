"""The session lifecycle against the sandbox, and the component's refusals."""

from __future__ import annotations

import os

import pytest

from chipi_session import ChipiSessionError, FileStore, SessionEngine

from conftest import PIN, Sandbox, transfer


def test_lifecycle_until_max_calls_then_revoke_and_clear(sandbox: Sandbox, engines, tmp_path) -> None:
    store = FileStore(tmp_path / "sessions.json")
    engine = SessionEngine(store=store, get_bearer_token=lambda: sandbox.token)
    engines.append(engine)
    wallet = sandbox.new_wallet()
    s = engine.session(wallet=wallet, encrypt_key=PIN, config=sandbox.config())

    st = s.get_session_status()
    assert (st.state, st.is_active, st.session, st.remaining_calls) == ("none", False, None, None)

    key = s.create_session(duration_seconds=3600)
    assert key.public_key.startswith("0x")
    assert key.encrypted_private_key.startswith("v1.")
    st = s.get_session_status()
    assert (st.state, st.is_active, st.on_chain) == ("created", False, None)
    assert st.session == key

    tx1 = s.register_session(max_calls=2, allowed_entrypoints=["transfer"])
    st = s.get_session_status()
    assert (st.state, st.is_active, st.remaining_calls) == ("active", True, 2)
    assert st.on_chain is not None
    assert (st.on_chain.max_calls, st.on_chain.calls_used, st.on_chain.allowed_entrypoints_len) == (2, 0, 1)
    assert st.on_chain.valid_until == key.valid_until

    tx2 = s.execute_with_session([transfer(100)])
    st = s.get_session_status()
    assert (st.state, st.is_active, st.remaining_calls) == ("active", True, 1)

    tx3 = s.execute_with_session([transfer(200)])
    st = s.get_session_status()
    assert (st.state, st.is_active, st.remaining_calls) == ("expired", False, 0)

    with pytest.raises(ChipiSessionError) as info:
        s.execute_with_session([transfer(300)])
    assert info.value.code == "SESSION_MAX_CALLS_EXCEEDED"

    txs = sandbox.transactions(wallet["publicKey"])
    assert [t["hash"] for t in txs] == [tx1, tx2, tx3]
    assert [t["signer"]["kind"] for t in txs] == ["owner", "session", "session"]
    assert [int(t["calls"][0]["calldata"][1], 0) for t in txs[1:]] == [100, 200]

    tx4 = s.revoke_session()
    st = s.get_session_status()
    assert (st.state, st.is_active) == ("revoked", False)
    assert sandbox.transactions(wallet["publicKey"])[-1]["hash"] == tx4

    s.clear_session()
    st = s.get_session_status()
    assert (st.state, st.is_active, st.session) == ("none", False, None)
    engine.close()
    # The file store holds no record of the wallet any more.
    assert os.path.exists(store.path)
    assert store.get("chipi-session/v1/session/" + wallet["publicKey"]) is None


def test_warm_session_landing_is_written_on_close_and_seen_by_another_engine(
    sandbox: Sandbox, engines, tmp_path
) -> None:
    path = tmp_path / "shared.json"
    wallet = sandbox.new_wallet()
    first = SessionEngine(store=FileStore(path), get_bearer_token=lambda: sandbox.token)
    engines.append(first)
    s = first.session(wallet=wallet, encrypt_key=PIN, config=sandbox.config())
    s.create_session(duration_seconds=3600)
    s.register_session(max_calls=5, allowed_entrypoints=["transfer"])
    hashes = {s.execute_with_session([transfer(n)]) for n in (1, 2, 3)}
    assert len(hashes) == 3
    # The last execute's landing is deferred: closing the engine writes it.
    before = path.read_bytes()
    first.close()
    assert path.read_bytes() != before

    second = SessionEngine(store=FileStore(path), get_bearer_token=lambda: sandbox.token)
    engines.append(second)
    other = second.session(wallet=wallet, encrypt_key=PIN, config=sandbox.config())
    st = other.get_session_status()
    assert (st.state, st.remaining_calls) == ("active", 2)
    other.execute_with_session([transfer(4)])
    assert other.get_session_status().remaining_calls == 1
    assert len(sandbox.transactions(wallet["publicKey"])) == 5  # register + 4 executes


def test_camel_case_wallet_and_config_and_receipt(sandbox: Sandbox, engines) -> None:
    engine = SessionEngine(get_bearer_token=lambda: sandbox.token)
    engines.append(engine)
    wallet = sandbox.new_wallet()
    assert set(wallet) == {"publicKey", "encryptedPrivateKey", "walletType"}
    snake = {
        "public_key": wallet["publicKey"],
        "encrypted_private_key": wallet["encryptedPrivateKey"],
        "wallet_type": wallet["walletType"].lower(),
    }
    camel_config = {
        "apiBaseUrl": sandbox.api_url,
        "apiKey": sandbox.api_key,
        "rpcUrls": [sandbox.rpc_url],
        "defaultDurationSeconds": 600,
        "defaultMaxCalls": 3,
    }
    s = engine.session(wallet=snake, encrypt_key=PIN, config=camel_config)
    s.create_session()
    s.register_session(allowed_entrypoints=["transfer"])
    st = s.get_session_status()
    assert st.on_chain is not None and st.on_chain.max_calls == 3
    assert st.session is not None and st.on_chain.valid_until == st.session.valid_until
    tx = s.execute_with_session({"contractAddress": transfer(1)["contract_address"],
                                 "entrypoint": "transfer", "calldata": ["0xc0ffee", 7, 0]})
    receipt = s.wait_for_transaction(tx, timeout_ms=5000)
    assert (receipt.transaction_hash, receipt.execution_status) == (tx, "succeeded")
    assert receipt.finality_status.startswith("ACCEPTED")


def test_wrong_pin_is_session_decryption_failed(sandbox: Sandbox, engines) -> None:
    engine = SessionEngine(get_bearer_token=lambda: sandbox.token)
    engines.append(engine)
    wallet = sandbox.new_wallet()
    s = engine.session(wallet=wallet, encrypt_key="9999", config=sandbox.config())
    s.create_session()  # only the new session key is encrypted with it
    with pytest.raises(ChipiSessionError) as info:
        s.register_session(max_calls=2)
    assert info.value.code == "SESSION_DECRYPTION_FAILED"
    assert sandbox.transactions(wallet["publicKey"]) == []


def test_ready_wallet_is_invalid_wallet_type(sandbox: Sandbox, engines) -> None:
    engine = SessionEngine(get_bearer_token=lambda: sandbox.token)
    engines.append(engine)
    wallet = sandbox.new_wallet("READY")
    assert wallet["walletType"] == "READY"
    s = engine.session(wallet=wallet, encrypt_key=PIN, config=sandbox.config())
    with pytest.raises(ChipiSessionError) as info:
        s.create_session()
    assert info.value.code == "INVALID_WALLET_TYPE_FOR_SESSION"
    assert s.get_session_status().state == "none"


def test_wrong_bearer_token_is_backend_401(sandbox: Sandbox, engines) -> None:
    engine = SessionEngine(get_bearer_token=lambda: "not-the-token")
    engines.append(engine)
    wallet = sandbox.new_wallet()
    s = engine.session(wallet=wallet, encrypt_key=PIN, config=sandbox.config())
    s.create_session()
    with pytest.raises(ChipiSessionError) as info:
        s.register_session(max_calls=2)
    err = info.value
    assert (err.code, err.status, err.backend_code) == ("BACKEND_ERROR", 401, "UNAUTHORIZED")
    assert err.message.startswith("HTTP 401 [UNAUTHORIZED]: ")
    assert sandbox.transactions(wallet["publicKey"]) == []


def test_invalid_arguments_are_invalid_input_and_send_nothing(sandbox: Sandbox, engines) -> None:
    engine = SessionEngine(get_bearer_token=lambda: sandbox.token)
    engines.append(engine)
    wallet = sandbox.new_wallet()
    for bad_wallet in ({"publicKey": "0x1"}, {**wallet, "walletType": "OTHER"}, "0x1"):
        with pytest.raises(ChipiSessionError) as info:
            engine.session(wallet=bad_wallet, encrypt_key=PIN, config=sandbox.config())
        assert info.value.code == "INVALID_INPUT"
    with pytest.raises(ChipiSessionError) as info:
        engine.session(wallet=wallet, encrypt_key=PIN, config=sandbox.config(rpc_url=["x"]))
    assert info.value.code == "INVALID_INPUT"
    s = engine.session(wallet=wallet, encrypt_key=PIN, config=sandbox.config())
    with pytest.raises(ChipiSessionError) as info:
        s.register_session(max_calls=-1)
    assert info.value.code == "INVALID_INPUT"
    with pytest.raises(ChipiSessionError) as info:
        s.execute_with_session([{"contract_address": "0x1", "entrypoint": "transfer", "calldata": [1.5]}])
    assert info.value.code == "INVALID_INPUT"
    assert engine.instances_created <= 1

