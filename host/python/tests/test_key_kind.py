"""The encrypt key's kind: stated with ``encrypt_key_kind``, never inferred
from the key's text."""

from __future__ import annotations

import base64
import secrets

import pytest

from chipi_session import ChipiSessionError, MemoryStore, SessionEngine

from conftest import PIN, Sandbox, transfer


def high_entropy_key(size: int = 32) -> str:
    """``size`` random bytes in unpadded base64url."""
    return base64.urlsafe_b64encode(secrets.token_bytes(size)).rstrip(b"=").decode()


def session_transfers(sb: Sandbox, wallet, amount: int) -> int:
    return sum(
        1
        for t in sb.transactions(wallet["publicKey"])
        if t["signer"]["kind"] == "session"
        and any(int(c["calldata"][1], 0) == amount for c in t["calls"])
    )


def test_high_entropy_round_trip_and_pin_kind_refused(sandbox: Sandbox, engines) -> None:
    key = high_entropy_key()
    wallet = sandbox.new_wallet(pin=key)  # Chipi's owner key is sealed under the same text
    store = MemoryStore()
    engine = SessionEngine(store=store, get_bearer_token=lambda: sandbox.token)
    engines.append(engine)
    s = engine.session(
        wallet=wallet, encrypt_key=key, encrypt_key_kind="high-entropy", config=sandbox.config()
    )
    created = s.create_session(duration_seconds=3600)
    assert created.encrypted_private_key.startswith("v1.hkdf-sha256.")
    s.register_session(max_calls=5, allowed_entrypoints=["transfer"])
    s.execute_with_session([transfer(1)])
    st = s.get_session_status()
    assert (st.state, st.remaining_calls) == ("active", 4)
    s.close()

    # The same text as a PIN (the default kind) is refused, naming the kind.
    as_pin = engine.session(wallet=wallet, encrypt_key=key, config=sandbox.config())
    with pytest.raises(ChipiSessionError) as info:
        as_pin.execute_with_session([transfer(2)])
    assert info.value.code == "SESSION_DECRYPTION_FAILED", info.value
    assert "`high-entropy`" in info.value.message
    assert session_transfers(sandbox, wallet, 2) == 0

    # A cold session of the right kind on another engine signs again.
    other = SessionEngine(store=store, get_bearer_token=lambda: sandbox.token)
    engines.append(other)
    again = other.session(
        wallet=wallet, encrypt_key=key, encrypt_key_kind="high-entropy", config=sandbox.config()
    )
    again.execute_with_session([transfer(3)])
    assert session_transfers(sandbox, wallet, 3) == 1
    assert again.get_session_status().remaining_calls == 3


def test_the_kind_is_never_inferred_from_the_text(sandbox: Sandbox, engines) -> None:
    engine = SessionEngine(get_bearer_token=lambda: sandbox.token)
    engines.append(engine)
    # The `hkdf:` prefix of earlier versions is an ordinary PIN now.
    prefixed = "hkdf:" + high_entropy_key()
    wallet = sandbox.new_wallet(pin=prefixed)
    s = engine.session(wallet=wallet, encrypt_key=prefixed, config=sandbox.config())
    assert s.create_session(duration_seconds=3600).encrypted_private_key.startswith("v1.argon2id.")
    s.register_session(max_calls=2)
    assert s.get_session_status().state == "active"

    # A high-entropy key shorter than 32 bytes is refused, never stretched.
    short = high_entropy_key(31)
    weak = engine.session(wallet=sandbox.new_wallet(pin=short), encrypt_key=short,
                          encrypt_key_kind="high-entropy", config=sandbox.config())
    with pytest.raises(ChipiSessionError) as info:
        weak.create_session(duration_seconds=3600)
    assert info.value.code == "INVALID_INPUT", info.value
    assert weak.get_session_status().state == "none"

    # A PIN-sealed session opened as high-entropy is refused too.
    pin_wallet = sandbox.new_wallet()
    by_pin = engine.session(wallet=pin_wallet, encrypt_key=PIN, config=sandbox.config())
    by_pin.create_session(duration_seconds=3600)
    wrong = engine.session(wallet=pin_wallet, encrypt_key=high_entropy_key(),
                           encrypt_key_kind="high-entropy", config=sandbox.config())
    with pytest.raises(ChipiSessionError) as info:
        wrong.register_session(max_calls=2)
    assert info.value.code == "SESSION_DECRYPTION_FAILED", info.value
    assert sandbox.transactions(pin_wallet["publicKey"]) == []

    for bad in ("hkdf", "PIN", None, 1):
        with pytest.raises(ChipiSessionError) as info:
            engine.session(wallet=wallet, encrypt_key=PIN, encrypt_key_kind=bad,  # type: ignore[arg-type]
                           config=sandbox.config())
        assert info.value.code == "INVALID_INPUT"
