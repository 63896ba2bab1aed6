"""Values the session operations return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Literal, Optional

#: What an encrypt key is (the WIT ``encrypt-key-kind``): a user's PIN or
#: password, or 32 to 64 random bytes in unpadded base64url.
EncryptKeyKind = Literal["pin", "high-entropy"]


@dataclass(frozen=True)
class SessionKeyData:
    """A session key as the hook exposes it (only ciphertext)."""

    #: Session public key (Stark key), 0x-hex.
    public_key: str
    #: Session private key in the ``v1.`` envelope.
    encrypted_private_key: str
    #: Unix time (seconds) after which the session is no longer valid.
    valid_until: int


@dataclass(frozen=True)
class SessionData:
    """On-chain ``SessionData`` of the session account contract."""

    #: Unix time the session expires; 0 means not registered or revoked.
    valid_until: int
    #: Maximum number of transactions.
    max_calls: int
    #: Transactions used so far.
    calls_used: int
    #: Number of whitelisted entrypoints (0 = unrestricted).
    allowed_entrypoints_len: int
    #: Whitelisted selectors, 0x-hex.
    allowed_entrypoints: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class SessionStatus:
    """Result of ``get_session_status``."""

    #: ``'none'``, ``'created'``, ``'active'``, ``'expired'`` or ``'revoked'``.
    state: str
    #: True when the session can sign (``state == 'active'``).
    is_active: bool
    #: Calls left (``max_calls - calls_used``), when registered.
    remaining_calls: Optional[int]
    #: The stored session, if any.
    session: Optional[SessionKeyData]
    #: On-chain data, when the session was registered.
    on_chain: Optional[SessionData]


@dataclass(frozen=True)
class SpendingPolicy:
    """A spending policy as read from the account."""

    #: Token contract address, 0x-hex.
    token: str
    #: Maximum amount per call, decimal.
    max_per_call: str
    #: Maximum amount per window, decimal.
    max_per_window: str
    #: Window length in seconds.
    window_seconds: int
    #: Amount spent in the current window, decimal.
    spent: str
    #: Unix time the current window started.
    window_start: int


@dataclass(frozen=True)
class TransactionReceipt:
    """A transaction receipt as ``wait_for_transaction`` reads it."""

    #: The transaction hash, 0x-hex.
    transaction_hash: str
    #: Finality status as the node reports it (``ACCEPTED_ON_L2``, ...).
    finality_status: str
    #: ``'succeeded'`` or ``'reverted'``.
    execution_status: str
    #: The revert reason, when it reverted.
    revert_reason: Optional[str]
    #: Number of the block that includes it, when known.
    block_number: Optional[int]
