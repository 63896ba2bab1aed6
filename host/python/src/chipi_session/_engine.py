"""The session engine: the component on wasmtime, warm sessions, host imports."""

from __future__ import annotations

import atexit
import math
import os
import re
import signal
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import wasmtime
from wasmtime import component as wc

from . import _fastbytes
from ._allow import Origin, origin_of_url, parse_allow_list
from ._core_dumps import exclude_from_core_dumps
from ._errors import HOST_ERROR, ChipiSessionError, from_session_error
from ._stores import MemoryStore, SessionStore
from ._types import (
    EncryptKeyKind,
    SessionData,
    SessionKeyData,
    SessionStatus,
    SpendingPolicy,
    TransactionReceipt,
)

#: File name of the component inside the installed package.
COMPONENT_FILE = "chipi_session_guest.wasm"

_SESSION_IFACE = "chipi:session/session@0.5.0"
_STORE_IFACE = "chipi:session/store@0.5.0"
_CREDENTIALS_IFACE = "chipi:session/credentials@0.5.0"
_METHODS = (
    "create-session",
    "register-session",
    "execute-with-session",
    "revoke-session",
    "clear-session",
    "get-session-status",
    "set-spending-policy",
    "get-spending-policy",
    "remove-spending-policy",
    "wait-for-transaction",
    "lock",
)

#: Whether list<u8> values use the fast conversions (see ``_fastbytes``).
FAST_BYTE_LISTS = _fastbytes.PATCHED

#: Longest value a store ``get`` may hand to the component: a longer one is
#: answered as the store failing (``STORE_ERROR``) instead of being copied into
#: the component's memory. No session record is written above it.
MAX_STORE_VALUE_BYTES = 8 * 1024 * 1024
#: Most UTF-8 bytes of text (every string of the arguments together) one call
#: into the component may carry; past it the call is refused with
#: ``INVALID_INPUT`` before anything enters the component.
MAX_ARGUMENT_BYTES = 1024 * 1024
#: Default most warm sessions (``wallet-session`` resources) of one engine.
DEFAULT_MAX_WARM_SESSIONS = 1024
#: Default idle time after which a warm session's resource is dropped.
DEFAULT_IDLE_TIMEOUT_SECONDS = 300.0

_U32 = 2**32 - 1
_U64 = 2**64 - 1
_TICK_MS = 10
_DEFAULT_TIMEOUT_MS = 60_000
_DEFAULT_MAX_MEMORY = 256 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def component_path() -> str:
    """Path of the component shipped inside the installed package."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), COMPONENT_FILE)


def fit_timeout_ms(hard_ms: int, asked: Optional[int]) -> int:
    """The component's ``timeout-ms``: ``asked`` (or the hard limit) kept
    below the engine's hard per-call limit by a tenth of it (at most 5 s), so
    the component reports transport errors itself before the host stops it.
    Mirrors ``fit_timeout_ms`` of the Rust host."""
    margin = min(hard_ms // 10, 5_000)
    fitted = max(hard_ms - margin, 0)
    return fitted if asked is None else min(asked, fitted)


# --------------------------------------------------------------------------
# The compiled component, shared by every engine of the process.


class _Ticker:
    """Increments an engine's epoch every ``_TICK_MS`` while a call runs.

    Each store's deadline is a number of ticks, so one ticker serves every
    store of the engine and a store's deadline never depends on another's.
    The thread sleeps while no call is in flight.
    """

    def __init__(self, engine: wasmtime.Engine) -> None:
        self._engine = engine
        self._cv = threading.Condition()
        self._active = 0
        self._thread: Optional[threading.Thread] = None

    def enter(self) -> None:
        with self._cv:
            self._active += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="chipi-session-epoch", daemon=True
                )
                self._thread.start()
            self._cv.notify()

    def leave(self) -> None:
        with self._cv:
            self._active -= 1

    def _run(self) -> None:
        while True:
            with self._cv:
                while self._active == 0:
                    self._cv.wait()
            time.sleep(_TICK_MS / 1000)
            self._engine.increment_epoch()


class _Compiled:
    """A wasmtime engine (epoch interruption on) and the component compiled
    for it."""

    def __init__(self, path: str) -> None:
        config = wasmtime.Config()
        config.epoch_interruption = True
        self.engine = wasmtime.Engine(config)
        try:
            self.component = wc.Component.from_file(self.engine, path)
        except (wasmtime.WasmtimeError, OSError) as err:
            raise ChipiSessionError(
                HOST_ERROR, f"the component {path} could not be compiled: {err}"
            ) from None
        self.ticker = _Ticker(self.engine)


_COMPILED: Dict[Tuple[str, int, int], _Compiled] = {}
_COMPILED_LOCK = threading.Lock()


def _compiled(path: str) -> _Compiled:
    try:
        st = os.stat(path)
    except OSError:
        raise ChipiSessionError(
            HOST_ERROR,
            f"the component {path} is missing; build the package after copying "
            f"chipi_session_guest.wasm into it (host/python/build_component.sh)",
        ) from None
    key = (path, st.st_size, st.st_mtime_ns)
    with _COMPILED_LOCK:
        found = _COMPILED.get(key)
        if found is None:
            found = _Compiled(path)
            _COMPILED[key] = found
        return found


# --------------------------------------------------------------------------
# Lowering of arguments (records with the WIT's kebab-case field names).


def _record(**fields: Any) -> wc.Record:
    rec = wc.Record()
    for name, value in fields.items():
        setattr(rec, name.replace("_", "-"), value)
    return rec


def _invalid(message: str) -> ChipiSessionError:
    return ChipiSessionError("INVALID_INPUT", message)


def _pick(source: Mapping[str, Any], what: str, *names: str, required: bool = True) -> Any:
    for name in names:
        if name in source and source[name] is not None:
            return source[name]
    if required:
        raise _invalid(f"{what} needs `{names[0]}`")
    return None


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _invalid(f"{what} must be a string, not {type(value).__name__}")
    return value


def _uint(value: Any, what: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"{what} must be an integer, not {type(value).__name__}")
    if value < 0 or value > limit:
        raise _invalid(f"{what} must be between 0 and {limit}")
    return value


def _opt_uint(value: Any, what: str, limit: int) -> Optional[int]:
    return None if value is None else _uint(value, what, limit)


def _idempotency_key(value: Any) -> Optional[str]:
    """The ``idempotency-key`` option: ``None`` or a string (the component
    checks its length, 1 to 256 bytes, and refuses control characters)."""
    if value is None:
        return None
    return _string(value, "idempotency_key")


def _intent(idempotency_key: Any) -> wc.Record:
    """The WIT ``intent-options`` record."""
    return _record(idempotency_key=_idempotency_key(idempotency_key))


def _check_keys(source: Mapping[str, Any], what: str, known: Iterable[str]) -> None:
    allowed = set(known)
    unknown = sorted(str(k) for k in source if k not in allowed)
    if unknown:
        raise _invalid(f"unknown {what} field(s): {', '.join(unknown)}")


_WALLET_KEYS = (
    "publicKey",
    "public_key",
    "address",
    "encryptedPrivateKey",
    "encrypted_private_key",
    "walletType",
    "wallet_type",
    # Chipi returns more fields with a wallet; they are not needed here.
    "normalizedPublicKey",
    "normalized_public_key",
    "ownerPublicKey",
    "owner_public_key",
    "classHash",
    "class_hash",
)


def _wallet(wallet: Any) -> wc.Record:
    if not isinstance(wallet, Mapping):
        raise _invalid("wallet must be a dict like {publicKey, encryptedPrivateKey, walletType}")
    address = _string(_pick(wallet, "wallet", "publicKey", "public_key", "address"), "wallet publicKey")
    encrypted = _string(
        _pick(wallet, "wallet", "encryptedPrivateKey", "encrypted_private_key"),
        "wallet encryptedPrivateKey",
    )
    kind = _string(_pick(wallet, "wallet", "walletType", "wallet_type"), "wallet walletType")
    if kind.lower() not in ("chipi", "ready"):
        raise _invalid(f"wallet walletType must be CHIPI or READY, not `{kind}`")
    return _record(address=address, encrypted_private_key=encrypted, wallet_type=kind.lower())


#: The cases of the WIT ``encrypt-key-kind`` enum.
ENCRYPT_KEY_KINDS = ("pin", "high-entropy")


def _encrypt_key_kind(value: Any) -> str:
    """The ``encrypt-key-kind`` of the session context: stated by the caller,
    never inferred from the key's text."""
    if not isinstance(value, str) or value not in ENCRYPT_KEY_KINDS:
        raise _invalid(f"encrypt_key_kind must be 'pin' or 'high-entropy', not {value!r}")
    return value


_CONFIG_FIELDS = {
    "api_base_url": ("api_base_url", "apiBaseUrl"),
    "api_key": ("api_key", "apiKey"),
    "rpc_urls": ("rpc_urls", "rpcUrls"),
    "chain_id": ("chain_id", "chainId"),
    "default_duration_seconds": ("default_duration_seconds", "defaultDurationSeconds"),
    "default_max_calls": ("default_max_calls", "defaultMaxCalls"),
    "timeout_ms": ("timeout_ms", "timeoutMs"),
}


def _config(config: Any, hard_ms: int) -> Tuple[wc.Record, List[str]]:
    """The WIT ``config`` record and the URLs it names."""
    if not isinstance(config, Mapping):
        raise _invalid("config must be a dict like {api_base_url, api_key, rpc_urls}")
    _check_keys(config, "config", [n for names in _CONFIG_FIELDS.values() for n in names])

    def get(field: str, required: bool = True) -> Any:
        return _pick(config, "config", *_CONFIG_FIELDS[field], required=required)

    api_base_url = _string(get("api_base_url"), "config api_base_url")
    api_key = _string(get("api_key"), "config api_key")
    rpc_urls = get("rpc_urls")
    if isinstance(rpc_urls, str) or not isinstance(rpc_urls, Sequence):
        raise _invalid("config rpc_urls must be a list of URLs")
    rpc_urls = [_string(u, "config rpc_urls entry") for u in rpc_urls]
    chain_id = get("chain_id", False)
    if chain_id is not None:
        chain_id = _string(chain_id, "config chain_id")
    duration = get("default_duration_seconds", False)
    max_calls = get("default_max_calls", False)
    timeout = _opt_uint(get("timeout_ms", False), "config timeout_ms", _U64)
    rec = _record(
        api_base_url=api_base_url,
        api_key=api_key,
        rpc_urls=rpc_urls,
        chain_id=chain_id,
        default_duration_seconds=_uint(
            21600 if duration is None else duration, "config default_duration_seconds", _U64
        ),
        default_max_calls=_uint(
            1000 if max_calls is None else max_calls, "config default_max_calls", _U32
        ),
        timeout_ms=fit_timeout_ms(hard_ms, timeout),
    )
    return rec, [api_base_url, *rpc_urls]


def _felt(value: Any, what: str) -> str:
    if isinstance(value, bool):
        raise _invalid(f"{what} must be a string or an integer")
    if isinstance(value, int):
        if value < 0:
            raise _invalid(f"{what} must not be negative")
        return str(value)
    return _string(value, what)


def _calls(calls: Any) -> List[wc.Record]:
    if isinstance(calls, Mapping):
        calls = [calls]
    if isinstance(calls, (str, bytes)) or not isinstance(calls, Sequence):
        raise _invalid("calls must be a list of {contract_address, entrypoint, calldata}")
    out = []
    for i, call in enumerate(calls):
        if not isinstance(call, Mapping):
            raise _invalid(f"call {i} must be a dict")
        _check_keys(
            call, f"call {i}", ("contract_address", "contractAddress", "entrypoint", "calldata")
        )
        address = _string(
            _pick(call, f"call {i}", "contract_address", "contractAddress"),
            f"call {i} contract_address",
        )
        entrypoint = _string(_pick(call, f"call {i}", "entrypoint"), f"call {i} entrypoint")
        calldata = _pick(call, f"call {i}", "calldata", required=False) or []
        if isinstance(calldata, (str, bytes)) or not isinstance(calldata, Sequence):
            raise _invalid(f"call {i} calldata must be a list")
        out.append(
            _record(
                contract_address=address,
                entrypoint=entrypoint,
                calldata=[_felt(v, f"call {i} calldata entry") for v in calldata],
            )
        )
    return out


def _text_bytes(value: Any) -> int:
    """UTF-8 size of every string in a lowered argument (records, lists,
    options). ASCII strings are measured without encoding them."""
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, (list, tuple)):
        return sum(_text_bytes(v) for v in value)
    if isinstance(value, wc.Record):
        return sum(_text_bytes(v) for v in vars(value).values())
    return 0


def _check_size(what: str, args: Sequence[Any]) -> None:
    """Refuse arguments carrying more than ``MAX_ARGUMENT_BYTES`` of text
    (``INVALID_INPUT``), before they are lowered into the component."""
    size = _text_bytes(args)
    if size > MAX_ARGUMENT_BYTES:
        raise _invalid(
            f"the arguments of {what} hold {size} bytes of text, more than the limit of "
            f"{MAX_ARGUMENT_BYTES} bytes"
        )


# --------------------------------------------------------------------------
# Lifting of results.


def _field(rec: Any, name: str) -> Any:
    return getattr(rec, name)


def _key_data(rec: Any) -> SessionKeyData:
    return SessionKeyData(
        public_key=_field(rec, "public-key"),
        encrypted_private_key=_field(rec, "encrypted-private-key"),
        valid_until=_field(rec, "valid-until"),
    )


def _status(rec: Any) -> SessionStatus:
    session = _field(rec, "session")
    on_chain = _field(rec, "on-chain")
    return SessionStatus(
        state=_field(rec, "state"),
        is_active=_field(rec, "is-active"),
        remaining_calls=_field(rec, "remaining-calls"),
        session=None if session is None else _key_data(session),
        on_chain=None
        if on_chain is None
        else SessionData(
            valid_until=_field(on_chain, "valid-until"),
            max_calls=_field(on_chain, "max-calls"),
            calls_used=_field(on_chain, "calls-used"),
            allowed_entrypoints_len=_field(on_chain, "allowed-entrypoints-len"),
            allowed_entrypoints=list(_field(on_chain, "allowed-entrypoints")),
        ),
    )


def _policy(rec: Any) -> SpendingPolicy:
    return SpendingPolicy(
        token=_field(rec, "token"),
        max_per_call=_field(rec, "max-per-call"),
        max_per_window=_field(rec, "max-per-window"),
        window_seconds=_field(rec, "window-seconds"),
        spent=_field(rec, "spent"),
        window_start=_field(rec, "window-start"),
    )


def _receipt(rec: Any) -> TransactionReceipt:
    return TransactionReceipt(
        transaction_hash=_field(rec, "transaction-hash"),
        finality_status=_field(rec, "finality-status"),
        execution_status=_field(rec, "execution-status"),
        revert_reason=_field(rec, "revert-reason"),
        block_number=_field(rec, "block-number"),
    )


def _unwrap(result: Any) -> Any:
    """The ``ok`` value of a ``result<T, session-error>`` lifted by
    wasmtime-py (untagged: a ``Variant`` is always the error)."""
    if isinstance(result, wc.Variant):
        raise from_session_error(result.tag, result.payload)
    return result


# --------------------------------------------------------------------------
# One instance of the component in its own store.


class _Instance:
    def __init__(self, store: wasmtime.Store, instance: wc.Instance, generation: int) -> None:
        self.store = store
        self.generation = generation
        iface = instance.get_export_index(store, _SESSION_IFACE)
        if iface is None:
            raise ChipiSessionError(HOST_ERROR, f"the component does not export {_SESSION_IFACE}")

        def func(name: str) -> wc.Func:
            index = instance.get_export_index(store, name, iface)
            found = None if index is None else instance.get_func(store, index)
            if found is None:
                raise ChipiSessionError(HOST_ERROR, f"the component does not export `{name}`")
            return found

        self.constructor = func("[constructor]wallet-session")
        self.methods = {name: func(f"[method]wallet-session.{name}") for name in _METHODS}


class _Interrupted(wasmtime.WasmtimeError):
    """Raised from a host callback to trap the call once it was interrupted
    (a callback raised a ``BaseException``, or SIGINT arrived); the interrupt
    is re-raised when the call has ended."""


class _SigintGuard:
    """Defers SIGINT while a call runs on the main thread.

    Python runs signal handlers between bytecodes of the main thread; during a
    call that is inside wasmtime's ctypes callbacks, where an exception must
    never escape (ctypes prints "Exception ignored" and the component goes on
    with an undefined answer). While installed, a SIGINT handled by Python's
    default handler records one ``KeyboardInterrupt`` and asks the engine to
    stop the call (``SessionEngine._interrupt``); the engine raises it when
    the call has ended. Another Python handler runs after the call instead.
    Nothing is installed off the main thread or when SIGINT is ignored or not
    handled by Python.
    """

    def __init__(self, engine: "SessionEngine") -> None:
        self._engine = engine
        self._previous: Any = None
        self._frames: List[Any] = []
        #: The interrupt, once SIGINT arrived.
        self.interrupt: Optional[KeyboardInterrupt] = None
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGINT)
        if callable(previous):
            self._previous = previous
            signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self._previous is not signal.default_int_handler:
            self._frames.append(frame)
            return
        if self.interrupt is None:
            self.interrupt = KeyboardInterrupt()
            self.interrupt.transaction_hash = None  # type: ignore[attr-defined]
        self._engine._interrupt(self, self.interrupt)

    def restore(self) -> None:
        """Put the previous handler back; run it for each deferred signal."""
        previous, self._previous = self._previous, None
        if previous is None:
            return
        signal.signal(signal.SIGINT, previous)
        frames, self._frames = self._frames, []
        for frame in frames:
            previous(signal.SIGINT, frame)


class _Warm:
    """A session's ``wallet-session`` resource, shared by the ``Session`` and
    its engine. It never refers to the ``Session``, so an unclosed session
    can be collected; its finalizer hands this to the engine to drop."""

    __slots__ = ("resource", "generation", "last_used")

    def __init__(self) -> None:
        self.resource: Optional[wc.ResourceAny] = None
        self.generation = -1
        self.last_used = 0.0


def _retire(engine_ref: "weakref.ReferenceType[SessionEngine]", warm: _Warm) -> None:
    """Finalizer of a ``Session``: may run on any thread, inside a call of
    the engine or at shutdown, so it only queues the resource; the engine
    drops it under its lock (next call, background sweep or ``close``)."""
    engine = engine_ref()
    if engine is not None and warm.resource is not None:
        engine._retired.append(warm)


_STOPPING = threading.Event()
_SWEEPERS: "weakref.WeakSet[threading.Thread]" = weakref.WeakSet()


def _sweep_loop(engine_ref: "weakref.ReferenceType[SessionEngine]", period: float) -> None:
    """Background sweep of one engine until it is closed or collected, or the
    interpreter exits."""
    while not _STOPPING.wait(period):
        engine = engine_ref()
        if engine is None or engine._closed:
            return
        try:
            engine._background_sweep()
        except BaseException:  # a sweep must not end the thread; the instance was discarded
            pass
        del engine


@atexit.register
def _stop_sweepers() -> None:
    """Stop the background sweeps before the interpreter finalizes (a sweep
    inside the component must not be cut off there)."""
    _STOPPING.set()
    for thread in list(_SWEEPERS):
        thread.join(timeout=30)


class SessionEngine:
    """Runs the session component for any number of wallets.

    ``store`` keeps one record per wallet (``MemoryStore()`` by default; see
    ``chipi_session.SessionStore``). ``get_bearer_token`` returns the bearer
    token sent to the Chipi backend (called whenever the component needs it;
    an exception becomes ``UNAUTHORIZED``).

    Options:

    - ``allow_hosts``: extra origins (``[SCHEME://]HOST[:PORT]``, a bare host
      meaning https only) a session's configuration may name;
    - ``allow_config_hosts`` (default ``True``): allow the origins of each
      session's ``api_base_url`` and ``rpc_urls``; when ``False`` they must be
      in ``allow_hosts``, else ``session()`` raises ``TRANSPORT_ERROR``;
    - ``timeout_ms``: hard time limit of one call (default 60000); the
      component's own ``timeout-ms`` is fitted below it;
    - ``max_memory_bytes``: linear memory limit of the instance (256 MiB);
    - ``max_warm_sessions`` (default 1024): most sessions keeping a warm
      ``wallet-session`` resource; past it the least recently used one is
      dropped (its next call unlocks the key again);
    - ``idle_timeout_seconds`` (default 300): a warm session unused this long
      is dropped (its unlocked key zeroized), on the engine's next call or
      by a background sweep;
    - ``allow_core_dumps`` (default ``False``): unless set, the engine
      excludes the process's memory from core dumps on Linux (see
      ``exclude_from_core_dumps``), so no dump holds a key;
    - ``on_warning``: called with each ``warning: ...`` line the component
      writes to stderr (prefix removed), after the call returns;
    - ``component``: path of another build of the component.

    One call runs at a time per engine (a lock); every session of an engine
    shares one instance. A trap or host failure discards the instance; the
    next call makes a new one. SIGINT during a call on the main thread stops
    the call and raises ``KeyboardInterrupt`` once it has ended.
    """

    def __init__(
        self,
        store: Optional[SessionStore] = None,
        get_bearer_token: Optional[Callable[[], str]] = None,
        *,
        allow_hosts: Iterable[str] = (),
        allow_config_hosts: bool = True,
        timeout_ms: int = _DEFAULT_TIMEOUT_MS,
        max_memory_bytes: int = _DEFAULT_MAX_MEMORY,
        max_warm_sessions: int = DEFAULT_MAX_WARM_SESSIONS,
        idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
        allow_core_dumps: bool = False,
        on_warning: Optional[Callable[[str], None]] = None,
        component: Optional[str] = None,
    ) -> None:
        for name, value in (
            ("timeout_ms", timeout_ms),
            ("max_memory_bytes", max_memory_bytes),
            ("max_warm_sessions", max_warm_sessions),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise _invalid(f"{name} must be a positive integer")
        if (
            isinstance(idle_timeout_seconds, bool)
            or not isinstance(idle_timeout_seconds, (int, float))
            or not 0 < idle_timeout_seconds < math.inf
        ):
            raise _invalid("idle_timeout_seconds must be a positive number of seconds")
        try:
            self._allow: List[Origin] = parse_allow_list(allow_hosts)
        except ValueError as err:
            raise _invalid(str(err)) from None
        self._allow_config_hosts = bool(allow_config_hosts)
        self._store: SessionStore = store if store is not None else MemoryStore()
        self._get_token = get_bearer_token
        self._timeout_ms = timeout_ms
        self._max_memory = max_memory_bytes
        self._max_warm = max_warm_sessions
        self._idle_timeout = float(idle_timeout_seconds)
        self._on_warning = on_warning
        if not allow_core_dumps:
            exclude_from_core_dumps()
        self._compiled = _compiled(os.path.abspath(component or component_path()))
        self._linker = self._make_linker()

        self._lock = threading.Lock()
        self._call_thread: Optional[int] = None
        self._instance: Optional[_Instance] = None
        self._generation = 0
        # Warm sessions of the instance, least recently used first.
        self._warm: "OrderedDict[_Warm, None]" = OrderedDict()
        # Resources of collected sessions, to drop (appended by finalizers).
        self._retired: List[_Warm] = []
        self._sweeper: Optional[threading.Thread] = None
        # The SIGINT guard of the main thread's call in flight, if any.
        self._guard: Optional[_SigintGuard] = None
        # What stops the call in flight (a callback's BaseException, SIGINT).
        self._pending: Optional[BaseException] = None
        self._in_user_code = False
        self._stderr = bytearray()
        self._closed = False
        #: How many instances of the component this engine has created (a
        #: trap or host failure discards the instance in use).
        self.instances_created = 0

    @property
    def warm_sessions(self) -> int:
        """How many ``wallet-session`` resources the engine holds in its
        instance (sessions with a warm, possibly unlocked key)."""
        return len(self._warm)

    # -- imports ----------------------------------------------------------

    def _make_linker(self) -> wc.Linker:
        linker = wc.Linker(self._compiled.engine)
        linker.add_wasip2()
        linker.add_wasi_http()
        me = weakref.ref(self)

        def store_get(_ctx: Any, key: str) -> Any:
            engine = me()
            if engine is None:
                return "the session engine is gone"
            return engine._store_get(key)

        def store_cas(_ctx: Any, key: str, expected: Any, new: Any) -> Any:
            engine = me()
            if engine is None:
                return "the session engine is gone"
            return engine._store_cas(key, expected, new)

        def bearer_token(_ctx: Any) -> Any:
            engine = me()
            if engine is None:
                return wc.Variant("err", "the session engine is gone")
            return engine._bearer_token()

        with linker.root() as root:
            with root.add_instance(_STORE_IFACE) as iface:
                iface.add_func("get", store_get)
                iface.add_func("compare-and-swap", store_cas)
            with root.add_instance(_CREDENTIALS_IFACE) as iface:
                iface.add_func("bearer-token", bearer_token)
        return linker

    def _user_call(self, func: Callable[..., Any], *args: Any) -> Tuple[bool, Any]:
        """Run a callback the user gave (store, token source) inside an
        import: ``(True, value)``, or ``(False, err)`` for an ``Exception``
        the import reports. Any other ``BaseException``, and a SIGINT arriving
        meanwhile, traps the call (``_Interrupted``); it is raised again when
        the call has ended. An exception escaping a host function would trap
        the call too, so the imports only return values."""
        outcome: Tuple[bool, Any] = (False, None)
        if self._pending is None:
            try:
                try:
                    self._in_user_code = True
                    outcome = (True, func(*args))
                finally:
                    self._in_user_code = False
            except Exception as err:
                outcome = (False, err)
            except BaseException as err:
                if self._pending is None:
                    self._pending = err
        if self._pending is not None:
            raise _Interrupted("the call was interrupted")
        return outcome

    # `lookup` lowers untagged (bytes / None / str), the CAS result untagged
    # (bool / str), the token result tagged (Variant).

    def _store_get(self, key: str) -> Any:
        ok, value = self._user_call(self._store.get, key)
        if not ok:  # reported to the component as `failed`
            return f"store get failed: {type(value).__name__}: {value}"
        if value is None:
            return None
        if not isinstance(value, (bytes, bytearray, memoryview)):
            return f"store get returned {type(value).__name__}, not bytes or None"
        size = value.nbytes if isinstance(value, memoryview) else len(value)
        if size > MAX_STORE_VALUE_BYTES:
            return (
                f"store value of {size} bytes exceeds the "
                f"{MAX_STORE_VALUE_BYTES >> 20} MiB limit of a session record"
            )
        return bytes(value)

    def _store_cas(self, key: str, expected: Optional[bytes], new: Optional[bytes]) -> Any:
        ok, swapped = self._user_call(self._store.compare_and_swap, key, expected, new)
        if not ok:
            return f"store compare_and_swap failed: {type(swapped).__name__}: {swapped}"
        if not isinstance(swapped, bool):
            return f"store compare_and_swap returned {type(swapped).__name__}, not bool"
        return swapped

    def _bearer_token(self) -> Any:
        if self._get_token is None:
            return wc.Variant("err", "no get_bearer_token was given to the engine")
        ok, token = self._user_call(self._get_token)
        if not ok:
            return wc.Variant("err", f"get_bearer_token failed: {type(token).__name__}: {token}")
        if not isinstance(token, str):
            return wc.Variant(
                "err", f"get_bearer_token returned {type(token).__name__}, not a string"
            )
        return wc.Variant("ok", token)

    def _collect_stderr(self, chunk: bytes) -> None:
        if len(self._stderr) < 1 << 20:
            self._stderr.extend(chunk)

    # -- instances and calls ----------------------------------------------

    def _new_instance(self) -> _Instance:
        store = wasmtime.Store(self._compiled.engine)
        wasi = wasmtime.WasiConfig()  # no args, env, preopens; stdin empty
        me = weakref.ref(self)

        def on_stderr(chunk: bytes) -> None:
            engine = me()
            if engine is not None:
                engine._collect_stderr(chunk)

        wasi.stderr_custom = on_stderr
        store.set_wasi(wasi)
        store.set_wasi_http()
        store.set_limits(memory_size=self._max_memory)
        self._generation += 1
        self.instances_created += 1
        try:
            instance = self._guarded(store, lambda: self._linker.instantiate(store, self._compiled.component))
        except ChipiSessionError as err:
            raise ChipiSessionError(
                HOST_ERROR, f"the component could not be instantiated: {err.message}"
            ) from None
        return _Instance(store, instance, self._generation)

    def _guarded(self, store: wasmtime.Store, run: Callable[[], Any]) -> Any:
        """Run ``run`` (one entry into the component) under the time limit;
        any failure raises (the caller discards the instance). An interrupt
        of the call (``_pending``) is raised instead of the trap it caused."""
        ticks = math.ceil(self._timeout_ms / _TICK_MS) + 1
        store.set_epoch_deadline(ticks)
        if self._pending is not None:
            raise self._pending
        ticker = self._compiled.ticker
        self._stderr.clear()
        started = time.monotonic()
        ticker.enter()
        try:
            return run()
        except BaseException as err:
            pending = self._pending
            if pending is not None:
                raise pending from None
            if isinstance(err, ChipiSessionError):
                raise
            elapsed_ms = (time.monotonic() - started) * 1000
            text = str(err)
            if "interrupt" in text or elapsed_ms >= self._timeout_ms:
                raise ChipiSessionError(
                    HOST_ERROR,
                    f"the component ran past its time limit of {self._timeout_ms} ms",
                ) from None
            if isinstance(err, Exception):
                raise ChipiSessionError(HOST_ERROR, f"the component failed: {text}") from None
            raise
        finally:
            ticker.leave()

    def _interrupt(self, guard: _SigintGuard, interrupt: KeyboardInterrupt) -> None:
        """SIGINT arrived (run by the guard's handler, on the main thread).
        When the guard's call holds the engine, stop it: a user callback
        running now is interrupted, the component traps at its next function
        call or loop iteration, and its next import traps. Otherwise the call has not started and
        ``_locked`` raises the interrupt as soon as it holds the lock."""
        if self._guard is not guard:
            return
        if self._pending is None:
            self._pending = interrupt
        inst = self._instance
        if inst is not None:
            inst.store.set_epoch_deadline(0)
        if self._in_user_code:
            raise interrupt

    def _deliver_warnings(self) -> None:
        if not self._stderr:
            return
        text = self._stderr.decode("utf-8", "replace")
        self._stderr.clear()
        callback = self._on_warning
        if callback is None:
            return
        for line in text.splitlines():
            if line.startswith("warning: "):
                message = _CONTROL.sub("", line[len("warning: ") :])
                try:
                    callback(message)
                except Exception:
                    pass  # a failing warning sink must not fail the call

    def _enter(self) -> None:
        if self._call_thread == threading.get_ident():
            raise ChipiSessionError(
                HOST_ERROR, "re-entrant call into the session engine from one of its callbacks"
            )
        self._lock.acquire()
        self._call_thread = threading.get_ident()

    def _exit(self) -> None:
        self._call_thread = None
        self._lock.release()

    def _locked(self, work: Callable[[], Any]) -> Any:
        """Run ``work`` under the engine's lock with SIGINT deferred (see
        ``_SigintGuard``). An interrupt is raised once the lock is released,
        as ``KeyboardInterrupt`` whose ``transaction_hash`` is the hash the
        call returned when it finished anyway, else ``None``."""
        guard = _SigintGuard(self)
        try:
            self._enter()
            try:
                self._guard = guard
                if guard.interrupt is not None:  # while waiting for the lock
                    raise guard.interrupt
                result = work()
            finally:
                self._guard = None
                self._pending = None
                self._exit()
        except BaseException as err:
            guard.restore()
            if guard.interrupt is None or err is guard.interrupt:
                raise
            raise guard.interrupt from None
        guard.restore()
        if guard.interrupt is not None:
            if isinstance(result, str):
                guard.interrupt.transaction_hash = result  # type: ignore[attr-defined]
            raise guard.interrupt
        return result

    def _call(self, session: "Session", method: str, *args: Any) -> Any:
        _check_size(method, args)
        return self._locked(lambda: self._run(session, method, args))

    def _run(self, session: "Session", method: str, args: Sequence[Any]) -> Any:
        if self._closed:
            raise ChipiSessionError(HOST_ERROR, "the session engine is closed")
        if session._closed:
            raise ChipiSessionError(HOST_ERROR, "the session is closed")
        warm = session._warm
        try:
            self._sweep(room_for=warm)
            if self._instance is None:
                self._instance = self._new_instance()
            inst = self._instance
            if warm.resource is None or warm.generation != inst.generation:
                ctx = session._ctx
                warm.resource = self._guarded(inst.store, lambda: inst.constructor(inst.store, ctx))
                warm.generation = inst.generation
                self._start_sweeper()
            warm.last_used = time.monotonic()
            self._warm[warm] = None
            self._warm.move_to_end(warm)
            resource = warm.resource
            func = inst.methods[method]
            result = self._guarded(inst.store, lambda: func(inst.store, resource, *args))
            warm.last_used = time.monotonic()
        except BaseException:
            self._discard()
            raise
        self._deliver_warnings()
        return result

    def _discard(self) -> None:
        """Forget the instance (after a trap or host failure); every session
        makes a new resource on the next instance."""
        self._instance = None
        self._stderr.clear()
        for warm in self._warm:
            warm.resource = None
        self._warm.clear()

    def _drop(self, warm: _Warm) -> None:
        """Drop a session's resource (the component writes the last
        execute's landing and zeroizes its keys)."""
        resource, warm.resource = warm.resource, None
        self._warm.pop(warm, None)
        inst = self._instance
        if inst is None or resource is None or warm.generation != inst.generation:
            return
        try:
            self._guarded(inst.store, lambda: resource.drop(inst.store))
        except BaseException:
            self._discard()
            raise
        self._deliver_warnings()

    def _sweep(self, room_for: Optional[_Warm] = None) -> None:
        """Drop the resources of collected sessions and of sessions idle for
        the idle timeout; with ``room_for`` (a session about to use its
        resource), also the least recently used ones past the warm limit. A
        failed drop discards the instance, which releases every resource."""
        while self._retired:
            self._release(self._retired.pop())
        cutoff = time.monotonic() - self._idle_timeout
        while self._warm:
            oldest = next(iter(self._warm))
            full = (
                room_for is not None
                and room_for not in self._warm
                and len(self._warm) >= self._max_warm
            )
            if oldest.last_used > cutoff and not full:
                break
            self._release(oldest)

    def _release(self, warm: _Warm) -> None:
        try:
            self._drop(warm)
        except ChipiSessionError:
            pass  # the instance was discarded with every resource

    def _sweep_due(self) -> bool:
        if self._retired:
            return True
        try:
            oldest = next(iter(self._warm), None)
        except RuntimeError:  # changed meanwhile by a call: it sweeps itself
            return False
        return oldest is not None and oldest.last_used <= time.monotonic() - self._idle_timeout

    def _background_sweep(self) -> None:
        """One sweep from the background thread, when there is work."""
        if self._sweep_due():
            self._locked(lambda: None if self._closed else self._sweep())

    def _start_sweeper(self) -> None:
        if self._sweeper is not None:
            return
        period = min(max(self._idle_timeout / 4, 0.05), 30.0)
        self._sweeper = threading.Thread(
            target=_sweep_loop,
            args=(weakref.ref(self), period),
            name="chipi-session-sweep",
            daemon=True,
        )
        _SWEEPERS.add(self._sweeper)
        self._sweeper.start()

    def _close_session(self, session: "Session") -> None:
        if session._closed:
            return
        session._closed = True
        session._finalizer.detach()
        if not self._closed:
            self._drop(session._warm)

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        first: Optional[BaseException] = None
        for warm in [*self._retired, *self._warm]:
            try:
                self._drop(warm)
            except BaseException as err:  # keep closing the others
                first = first or err
        self._retired.clear()
        self._warm.clear()
        self._instance = None
        if first is not None:
            raise first

    # -- public API ---------------------------------------------------------

    def session(
        self,
        wallet: Mapping[str, Any],
        encrypt_key: str,
        config: Mapping[str, Any],
        *,
        encrypt_key_kind: EncryptKeyKind = "pin",
    ) -> "Session":
        """A warm session for one wallet (nothing is decrypted, read or sent
        here). ``wallet`` is Chipi's ``{publicKey, encryptedPrivateKey,
        walletType}`` (or snake_case keys); ``config`` has ``api_base_url``,
        ``api_key``, ``rpc_urls`` and optionally ``chain_id``,
        ``default_duration_seconds``, ``default_max_calls``, ``timeout_ms``
        (camelCase accepted). ``encrypt_key_kind`` says what ``encrypt_key``
        is, never guessed from its text: ``'pin'`` (a user's PIN or password,
        stretched with Argon2id) or ``'high-entropy'`` (32 to 64 random bytes
        in unpadded base64url, e.g. a passkey PRF output; expanded with HKDF).
        A session key sealed under one kind is refused under the other
        (``SESSION_DECRYPTION_FAILED`` naming the kind). Raises
        ``TRANSPORT_ERROR`` when a URL of the configuration is not
        allow-listed, ``INVALID_INPUT`` when malformed or when it holds more
        than ``MAX_ARGUMENT_BYTES`` of text."""
        wallet_rec = _wallet(wallet)
        key = _string(encrypt_key, "encrypt_key")
        kind = _encrypt_key_kind(encrypt_key_kind)
        config_rec, urls = _config(config, self._timeout_ms)
        context = _record(
            wallet=wallet_rec, encrypt_key=key, encrypt_key_kind=kind, config=config_rec
        )
        _check_size("the session context", [context])
        for url in urls:
            try:
                origin = origin_of_url(url)
            except ValueError as err:
                raise _invalid(str(err)) from None
            if not self._allow_config_hosts and origin not in self._allow:
                raise ChipiSessionError("TRANSPORT_ERROR", f"refused: {origin} is not allow-listed")
        if self._closed:
            raise ChipiSessionError(HOST_ERROR, "the session engine is closed")
        return Session(self, context)

    def close(self) -> None:
        """Drop every session's resource (their landings are written) and the
        instance. Raises the first failure of a drop, after closing
        everything."""
        self._locked(self._close)

    def __enter__(self) -> "SessionEngine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Session:
    """One wallet's warm session on an engine (``SessionEngine.session``).

    The component's ``wallet-session`` resource is made on the first call
    and kept, so a second execute runs no key derivation. ``close`` (or the
    engine's ``close``) drops it, which writes the last execute's landing;
    so does the engine once the session is collected unclosed, idle for the
    engine's ``idle_timeout_seconds``, or the least recently used past its
    ``max_warm_sessions`` (the next call then unlocks the key again).
    Every method raises ``ChipiSessionError`` on failure, and
    ``KeyboardInterrupt`` (with ``transaction_hash``) when SIGINT stopped it.
    """

    def __init__(self, engine: SessionEngine, context: wc.Record) -> None:
        self._engine = engine
        self._ctx = context
        self._warm = _Warm()
        self._closed = False
        # An unclosed session's resource is dropped once it is collected.
        self._finalizer = weakref.finalize(self, _retire, weakref.ref(engine), self._warm)
        self._finalizer.atexit = False

    def create_session(
        self, duration_seconds: Optional[int] = None, *, replace_existing: bool = False
    ) -> SessionKeyData:
        """Create a session key, encrypt it and store it (state ``created``)."""
        options = _record(
            duration_seconds=_opt_uint(duration_seconds, "duration_seconds", _U64),
            replace_existing=bool(replace_existing),
        )
        return _key_data(_unwrap(self._engine._call(self, "create-session", options)))

    def register_session(
        self,
        max_calls: Optional[int] = None,
        allowed_entrypoints: Optional[Sequence[str]] = None,
        valid_until: Optional[int] = None,
        idempotency_key: Optional[str] = None,
    ) -> str:
        """Register the stored session on chain; returns the transaction hash.
        ``idempotency_key`` names the intent: a retry with the same key is
        answered with the first transaction's outcome, never signed again."""
        entrypoints = [] if allowed_entrypoints is None else allowed_entrypoints
        if isinstance(entrypoints, str) or not isinstance(entrypoints, Sequence):
            raise _invalid("allowed_entrypoints must be a list of strings")
        options = _record(
            valid_until=_opt_uint(valid_until, "valid_until", _U64),
            max_calls=_opt_uint(max_calls, "max_calls", _U32),
            allowed_entrypoints=[_string(e, "allowed_entrypoints entry") for e in entrypoints],
            idempotency_key=_idempotency_key(idempotency_key),
        )
        return str(_unwrap(self._engine._call(self, "register-session", options)))

    def execute_with_session(
        self, calls: Sequence[Mapping[str, Any]], idempotency_key: Optional[str] = None
    ) -> str:
        """Execute calls signed by the session key; returns the transaction
        hash. ``idempotency_key`` names the intent (see ``register_session``);
        the same key with other calls is ``INVALID_INPUT``."""
        args = (_calls(calls), _intent(idempotency_key))
        return str(_unwrap(self._engine._call(self, "execute-with-session", *args)))

    def get_session_status(self) -> SessionStatus:
        """The lifecycle state, stored session and on-chain data."""
        return _status(_unwrap(self._engine._call(self, "get-session-status")))

    def revoke_session(self, idempotency_key: Optional[str] = None) -> str:
        """Revoke the stored session on chain; returns the transaction hash."""
        options = _intent(idempotency_key)
        return str(_unwrap(self._engine._call(self, "revoke-session", options)))

    def clear_session(self) -> None:
        """Forget the stored session locally (nothing is sent)."""
        _unwrap(self._engine._call(self, "clear-session"))

    def set_spending_policy(
        self,
        policy: Optional[Mapping[str, Any]] = None,
        *,
        idempotency_key: Optional[str] = None,
        **fields: Any,
    ) -> str:
        """Set a spending policy (``token``, ``max_per_call``,
        ``max_per_window``, ``window_seconds``; a dict or keywords, camelCase
        accepted); returns the transaction hash. ``idempotency_key`` is
        keyword-only."""
        source: Dict[str, Any] = dict(policy or {})
        source.update(fields)
        names = {
            "token": ("token",),
            "max_per_call": ("max_per_call", "maxPerCall"),
            "max_per_window": ("max_per_window", "maxPerWindow"),
            "window_seconds": ("window_seconds", "windowSeconds"),
        }
        _check_keys(source, "spending policy", [n for ns in names.values() for n in ns])
        rec = _record(
            token=_string(_pick(source, "spending policy", *names["token"]), "token"),
            max_per_call=_felt(
                _pick(source, "spending policy", *names["max_per_call"]), "max_per_call"
            ),
            max_per_window=_felt(
                _pick(source, "spending policy", *names["max_per_window"]), "max_per_window"
            ),
            window_seconds=_uint(
                _pick(source, "spending policy", *names["window_seconds"]), "window_seconds", _U64
            ),
        )
        options = _intent(idempotency_key)
        return str(_unwrap(self._engine._call(self, "set-spending-policy", rec, options)))

    def get_spending_policy(self, token: str) -> Optional[SpendingPolicy]:
        """The spending policy of the stored session for ``token``, if any."""
        found = _unwrap(self._engine._call(self, "get-spending-policy", _string(token, "token")))
        return None if found is None else _policy(found)

    def remove_spending_policy(self, token: str, idempotency_key: Optional[str] = None) -> str:
        """Remove the spending policy for ``token``; returns the transaction hash."""
        args = (_string(token, "token"), _intent(idempotency_key))
        return str(_unwrap(self._engine._call(self, "remove-spending-policy", *args)))

    def wait_for_transaction(
        self, transaction_hash: str, timeout_ms: Optional[int] = None
    ) -> TransactionReceipt:
        """Poll the receipt until the chain accepted the transaction or
        ``timeout_ms`` passed (default: the call's time budget). A failing
        node is polled until the time runs out (``TRANSACTION_PENDING``). Every
        ``ChipiSessionError`` it raises, and a ``KeyboardInterrupt``, carries
        ``transaction_hash``."""
        tx = _string(transaction_hash, "transaction_hash")
        try:
            limit = fit_timeout_ms(
                self._engine._timeout_ms, _opt_uint(timeout_ms, "timeout_ms", _U64)
            )
            return _receipt(_unwrap(self._engine._call(self, "wait-for-transaction", tx, limit)))
        except (ChipiSessionError, KeyboardInterrupt) as err:
            err.transaction_hash = tx  # type: ignore[union-attr]
            raise

    def lock(self) -> None:
        """Write the last execute's landing and zeroize the unlocked key."""
        self._engine._call(self, "lock")

    def close(self) -> None:
        """Drop the session's resource (its landing is written); the session
        cannot be used afterwards."""
        engine = self._engine
        engine._locked(lambda: engine._close_session(self))

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
