"""Failures of the host side: stores and token sources that raise, traps,
the time and memory limits, the allow-list, warnings."""

from __future__ import annotations

import threading
import time
from typing import Optional

import pytest

from chipi_session import ChipiSessionError, MemoryStore, SessionEngine

from conftest import PIN, Sandbox, transfer


class FlakyStore(MemoryStore):
    """A memory store whose methods can be made to raise, sleep or answer
    nonsense."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_get: Optional[BaseException] = None
        self.fail_cas: Optional[BaseException] = None
        self.get_result: object = None
        self.use_get_result = False
        self.sleep_get = 0.0
        self.gets = 0
        self.cases = 0

    def get(self, key: str) -> Optional[bytes]:
        self.gets += 1
        if self.sleep_get:
            time.sleep(self.sleep_get)
        if self.fail_get is not None:
            raise self.fail_get
        if self.use_get_result:
            return self.get_result  # type: ignore[return-value]
        return super().get(key)

    def compare_and_swap(self, key: str, expected: Optional[bytes], new: Optional[bytes]) -> bool:
        self.cases += 1
        if self.fail_cas is not None:
            raise self.fail_cas
        return super().compare_and_swap(key, expected, new)


class Abort(BaseException):
    """Not an Exception: cannot be reported through the import."""


def flaky_session(sandbox: Sandbox, engines, max_calls: int, **options):
    """An engine on a FlakyStore and a session of a new wallet, created and
    registered for ``max_calls`` transfers: (store, engine, session)."""
    store = FlakyStore()
    engine = SessionEngine(store=store, get_bearer_token=lambda: sandbox.token, **options)
    engines.append(engine)
    s = engine.session(wallet=sandbox.new_wallet(), encrypt_key=PIN, config=sandbox.config())
    s.create_session(duration_seconds=3600)
    s.register_session(max_calls=max_calls, allowed_entrypoints=["transfer"])
    return store, engine, s


def test_store_that_raises_is_store_error_and_the_instance_keeps_working(
    sandbox: Sandbox, engines
) -> None:
    store, engine, s = flaky_session(sandbox, engines, 10)
    s.execute_with_session([transfer(1)])
    assert engine.instances_created == 1

    store.fail_get = OSError("disk on fire")
    with pytest.raises(ChipiSessionError) as info:
        s.get_session_status()
    assert info.value.code == "STORE_ERROR"
    assert "disk on fire" in info.value.message
    store.fail_get = None

    store.fail_cas = RuntimeError("read-only")
    with pytest.raises(ChipiSessionError) as info:
        s.execute_with_session([transfer(2)])
    assert info.value.code == "STORE_ERROR"
    assert "read-only" in info.value.message
    store.fail_cas = None

    store.use_get_result, store.get_result = True, "not bytes"
    with pytest.raises(ChipiSessionError) as info:
        s.get_session_status()
    assert info.value.code == "STORE_ERROR"
    assert "returned str" in info.value.message
    store.use_get_result = False

    # Reported through the imports: same instance, and it still works.
    h = s.execute_with_session([transfer(3)])
    st = s.get_session_status()
    assert (st.state, st.remaining_calls) == ("active", 8)
    assert engine.instances_created == 1
    assert h.startswith("0x")


def test_token_source_that_raises_is_unauthorized_and_the_instance_keeps_working(
    sandbox: Sandbox, engines
) -> None:
    token = {"fail": True}

    def get_token() -> str:
        if token["fail"]:
            raise RuntimeError("token service down")
        return sandbox.token

    engine = SessionEngine(get_bearer_token=get_token)
    engines.append(engine)
    wallet = sandbox.new_wallet()
    s = engine.session(wallet=wallet, encrypt_key=PIN, config=sandbox.config())
    s.create_session()
    with pytest.raises(ChipiSessionError) as info:
        s.register_session(max_calls=2)
    assert info.value.code == "UNAUTHORIZED"
    assert "token service down" in info.value.message
    assert sandbox.transactions(wallet["publicKey"]) == []
    token["fail"] = False
    s.register_session(max_calls=2)
    assert s.get_session_status().state == "active"
    assert engine.instances_created == 1


def test_callback_interrupted_by_base_exception_traps_and_instance_is_recreated(
    sandbox: Sandbox, engines
) -> None:
    store, engine, s = flaky_session(sandbox, engines, 3)
    assert engine.instances_created == 1

    store.fail_get = Abort()
    with pytest.raises(Abort):
        s.execute_with_session([transfer(1)])
    store.fail_get = None

    # A new instance (and a new resource for the session) serves the next call.
    st = s.get_session_status()
    assert (st.state, st.remaining_calls) == ("active", 3)
    assert engine.instances_created == 2
    s.execute_with_session([transfer(2)])
    assert s.get_session_status().remaining_calls == 2


def test_time_limit_traps_with_host_error_and_instance_is_recreated(
    sandbox: Sandbox, engines
) -> None:
    # Time blocked in a host callback (or in host HTTP) cannot be interrupted:
    # the limit strikes as soon as control returns to the component.
    store = FlakyStore()
    engine = SessionEngine(store=store, get_bearer_token=lambda: sandbox.token, timeout_ms=300)
    engines.append(engine)
    s = engine.session(wallet=sandbox.new_wallet(), encrypt_key=PIN, config=sandbox.config())
    assert s.get_session_status().state == "none"
    assert engine.instances_created == 1

    store.sleep_get = 0.6
    started = time.monotonic()
    with pytest.raises(ChipiSessionError) as info:
        s.get_session_status()
    elapsed = time.monotonic() - started
    store.sleep_get = 0.0
    assert info.value.code == "HOST_ERROR"
    assert "ran past its time limit of 300 ms" in info.value.message
    assert 0.6 <= elapsed < 5

    assert s.get_session_status().state == "none"
    assert engine.instances_created == 2


def test_time_limit_interrupts_the_component_while_it_computes(sandbox: Sandbox, engines) -> None:
    # Argon2id of create_session runs inside the component for tens of ms.
    engine = SessionEngine(get_bearer_token=lambda: sandbox.token, timeout_ms=10)
    engines.append(engine)
    s = engine.session(wallet=sandbox.new_wallet(), encrypt_key=PIN, config=sandbox.config())
    started = time.monotonic()
    with pytest.raises(ChipiSessionError) as info:
        s.create_session()
    assert info.value.code == "HOST_ERROR"
    assert "ran past its time limit of 10 ms" in info.value.message
    assert time.monotonic() - started < 5
    assert engine.instances_created == 1


def test_memory_limit_is_host_error(sandbox: Sandbox, engines) -> None:
    engine = SessionEngine(get_bearer_token=lambda: sandbox.token, max_memory_bytes=64 * 1024)
    engines.append(engine)
    s = engine.session(wallet=sandbox.new_wallet(), encrypt_key=PIN, config=sandbox.config())
    with pytest.raises(ChipiSessionError) as info:
        s.get_session_status()
    assert info.value.code == "HOST_ERROR"
    assert "instantiated" in info.value.message


def test_refused_host_is_transport_error_and_nothing_is_sent(fresh_sandbox: Sandbox, engines) -> None:
    sb = fresh_sandbox
    port = sb.rpc_url.split(":")[2].split("/")[0]
    api_origin = sb.api_url.rsplit("/v1", 1)[0]
    engine = SessionEngine(
        get_bearer_token=lambda: sb.token, allow_config_hosts=False, allow_hosts=[api_origin]
    )
    engines.append(engine)
    # The same sandbox under another host name.
    config = sb.config(rpc_urls=[f"http://localhost:{port}/rpc"])
    with pytest.raises(ChipiSessionError) as info:
        engine.session(wallet=sb.wallet, encrypt_key=PIN, config=config)
    assert info.value.code == "TRANSPORT_ERROR"
    assert info.value.message == f"refused: http://localhost:{port} is not allow-listed"
    # https-only bare entries do not allow plain http either.
    bare = SessionEngine(
        get_bearer_token=lambda: sb.token, allow_config_hosts=False, allow_hosts=[f"127.0.0.1:{port}"]
    )
    engines.append(bare)
    with pytest.raises(ChipiSessionError) as info:
        bare.session(wallet=sb.wallet, encrypt_key=PIN, config=sb.config())
    assert info.value.code == "TRANSPORT_ERROR"
    assert sb.requests() == []
    assert engine.instances_created == 0

    # The allow-listed configuration works against the same sandbox.
    s = engine.session(wallet=sb.wallet, encrypt_key=PIN, config=sb.config())
    s.create_session()
    s.register_session(max_calls=1)
    assert s.get_session_status().state == "active"
    assert len(sb.requests()) > 0


def test_bad_allow_host_entry_is_invalid_input() -> None:
    for entry in ("https://user:pw@host:443", "ftp://host", "host:99999", "host/path"):
        with pytest.raises(ChipiSessionError) as info:
            SessionEngine(allow_hosts=[entry])
        assert info.value.code == "INVALID_INPUT", entry
        assert "pw" not in info.value.message


def test_warnings_reach_on_warning(sandbox: Sandbox, engines) -> None:
    warnings = []
    store = FlakyStore()
    engine = SessionEngine(
        store=store, get_bearer_token=lambda: sandbox.token, on_warning=warnings.append
    )
    engines.append(engine)
    s = engine.session(wallet=sandbox.new_wallet(), encrypt_key=PIN, config=sandbox.config())
    s.create_session()
    s.register_session(max_calls=5, allowed_entrypoints=["transfer"])
    tx = s.execute_with_session([transfer(1)])
    assert warnings == []
    # The warm execute's landing is written by lock(); make that write fail.
    store.fail_cas = RuntimeError("store offline")
    s.lock()
    store.fail_cas = None
    assert len(warnings) == 1
    assert warnings[0].startswith(f"transaction {tx} was accepted")
    assert "store offline" in warnings[0]
    # The next operation settles it from the chain, counted once.
    assert s.get_session_status().remaining_calls == 4


def test_concurrent_sessions_on_one_engine(sandbox: Sandbox, engines) -> None:
    engine = SessionEngine(get_bearer_token=lambda: sandbox.token)
    engines.append(engine)
    wallets = [sandbox.new_wallet() for _ in range(2)]
    sessions = [engine.session(wallet=w, encrypt_key=PIN, config=sandbox.config()) for w in wallets]
    for s in sessions:
        s.create_session()
        s.register_session(max_calls=10, allowed_entrypoints=["transfer"])
    hashes: list = []
    errors: list = []

    def run(i: int) -> None:
        try:
            for n in range(3):
                hashes.append(sessions[i % 2].execute_with_session([transfer(1000 * i + n)]))
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(set(hashes)) == 12
    for s in sessions:
        assert s.get_session_status().remaining_calls == 4
    assert engine.instances_created == 1


def test_closed_engine_and_session_refuse_calls(sandbox: Sandbox) -> None:
    with SessionEngine(get_bearer_token=lambda: sandbox.token) as engine:
        with engine.session(wallet=sandbox.new_wallet(), encrypt_key=PIN, config=sandbox.config()) as s:
            assert s.get_session_status().state == "none"
        with pytest.raises(ChipiSessionError) as info:
            s.get_session_status()
        assert (info.value.code, info.value.message) == ("HOST_ERROR", "the session is closed")
        other = engine.session(wallet=sandbox.new_wallet(), encrypt_key=PIN, config=sandbox.config())
    with pytest.raises(ChipiSessionError) as info:
        other.get_session_status()
    assert info.value.code == "HOST_ERROR"
