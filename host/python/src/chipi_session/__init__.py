"""Session keys for Chipi smart wallets on Starknet, run from Python.

The session engine is a WebAssembly component (shipped in this package) run
on wasmtime::

    from chipi_session import SessionEngine, FileStore

    with SessionEngine(store=FileStore("sessions.json"), get_bearer_token=lambda: token) as engine:
        s = engine.session(wallet=wallet, encrypt_key=pin, config={...})  # encrypt_key_kind="pin"
        s.create_session(duration_seconds=3600)
        s.register_session(max_calls=10, allowed_entrypoints=["transfer"])
        s.execute_with_session([{"contract_address": ..., "entrypoint": "transfer", "calldata": [...]}])
"""

from ._engine import (
    COMPONENT_FILE,
    MAX_ARGUMENT_BYTES,
    MAX_STORE_VALUE_BYTES,
    Session,
    SessionEngine,
    component_path,
    fit_timeout_ms,
)
from ._core_dumps import core_dumps_excluded, exclude_from_core_dumps
from ._errors import ERROR_CODES, HOST_ERROR, ChipiSessionError
from ._stores import FileStore, MemoryStore, SessionStore
from ._types import (
    EncryptKeyKind,
    SessionData,
    SessionKeyData,
    SessionStatus,
    SpendingPolicy,
    TransactionReceipt,
)

__all__ = [
    "COMPONENT_FILE",
    "EncryptKeyKind",
    "ERROR_CODES",
    "HOST_ERROR",
    "MAX_ARGUMENT_BYTES",
    "MAX_STORE_VALUE_BYTES",
    "ChipiSessionError",
    "FileStore",
    "MemoryStore",
    "Session",
    "SessionData",
    "SessionEngine",
    "SessionKeyData",
    "SessionStatus",
    "SessionStore",
    "SpendingPolicy",
    "TransactionReceipt",
    "component_path",
    "core_dumps_excluded",
    "exclude_from_core_dumps",
    "fit_timeout_ms",
]

__version__ = "0.5.0"
