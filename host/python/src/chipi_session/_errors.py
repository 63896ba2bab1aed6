"""Errors raised by the package, with Chipi's error codes."""

from __future__ import annotations

from typing import Any, Dict, Optional

#: The component's ``session-error`` cases and the Chipi code of each, exactly
#: as ``guest/src/protocol/error_table.rs`` lists them (a test checks that the
#: two agree).
ERROR_CODES: Dict[str, str] = {
    "invalid-wallet-type-for-session": "INVALID_WALLET_TYPE_FOR_SESSION",
    "session-expired": "SESSION_EXPIRED",
    "session-not-registered": "SESSION_NOT_REGISTERED",
    "session-revoked": "SESSION_REVOKED",
    "session-max-calls-exceeded": "SESSION_MAX_CALLS_EXCEEDED",
    "session-entrypoint-not-allowed": "SESSION_ENTRYPOINT_NOT_ALLOWED",
    "session-decryption-failed": "SESSION_DECRYPTION_FAILED",
    "session-creation-failed": "SESSION_CREATION_FAILED",
    "session-invalid-response": "SESSION_INVALID_RESPONSE",
    "invalid-spending-policy": "INVALID_SPENDING_POLICY",
    "backend": "BACKEND_ERROR",
    "transport": "TRANSPORT_ERROR",
    "invalid-input": "INVALID_INPUT",
    "store": "STORE_ERROR",
    "unauthorized": "UNAUTHORIZED",
    "transaction-pending": "TRANSACTION_PENDING",
    "already-executed": "ALREADY_EXECUTED",
}

#: Code of failures on the host side: a trap, the per-call time limit, the
#: memory limit, a component that cannot be loaded, a closed engine.
HOST_ERROR = "HOST_ERROR"


class ChipiSessionError(Exception):
    """A failed session operation.

    ``code`` is the code the ``chipi-session`` CLI prints (e.g.
    ``SESSION_MAX_CALLS_EXCEEDED``, ``STORE_ERROR``, ``HOST_ERROR``),
    ``message`` a readable explanation that never contains a secret. For
    ``BACKEND_ERROR``, ``status`` is the HTTP status (0 for a JSON-RPC error)
    and ``backend_code`` the code from the response body, if any.
    ``transaction_hash`` names a transaction that was sent and whose outcome
    this error does not tell (set on every failure of
    ``Session.wait_for_transaction``: the hash that was waited for), else
    ``None``.
    """

    code: str
    message: str
    status: Optional[int]
    backend_code: Optional[str]
    transaction_hash: Optional[str]

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: Optional[int] = None,
        backend_code: Optional[str] = None,
        transaction_hash: Optional[str] = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.backend_code = backend_code
        self.transaction_hash = transaction_hash


def describe_backend(status: int, code: Optional[str], message: str) -> str:
    """``HTTP <status> [<code>]: <message>`` (status 0 reads ``JSON-RPC``),
    the form the Rust host prints."""
    shown = "JSON-RPC" if status == 0 else f"HTTP {status}"
    if code is not None:
        return f"{shown} [{code}]: {message}"
    return f"{shown}: {message}"


def from_session_error(tag: str, payload: Any) -> ChipiSessionError:
    """The exception for one ``session-error`` case lifted by wasmtime."""
    code = ERROR_CODES.get(tag)
    if code is None:
        return ChipiSessionError(HOST_ERROR, f"unknown session-error case `{tag}`")
    if tag == "backend":
        status = int(getattr(payload, "status", 0))
        backend_code = getattr(payload, "code", None)
        message = str(getattr(payload, "message", ""))
        return ChipiSessionError(
            code,
            describe_backend(status, backend_code, message),
            status=status,
            backend_code=backend_code,
        )
    return ChipiSessionError(code, str(payload))
