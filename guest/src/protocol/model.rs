//! Plain Rust mirrors of the WIT records. The component adapter converts the
//! generated bindings to and from these, so the protocol and use-case code
//! stays independent of any binding generator.

use zeroize::Zeroizing;

use crate::crypto::envelope::{EncryptKey, KeyKind};
use crate::crypto::error::EnvelopeError;

/// Kind of Chipi wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletType {
    /// Chipi's session-capable account class.
    Chipi,
    /// Argent "Ready" account (no session keys).
    Ready,
}

/// A wallet as Chipi returns it.
#[derive(Debug, Clone)]
pub struct Wallet {
    /// Account address (0x-hex).
    pub address: String,
    /// Encrypted owner private key (CryptoJS or `v1.` envelope).
    pub encrypted_private_key: String,
    /// Wallet type.
    pub wallet_type: WalletType,
}

/// Backend and chain configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Chipi API base URL.
    pub api_base_url: String,
    /// Public API key (`pk_...`).
    pub api_key: String,
    /// Starknet JSON-RPC URLs, tried in order.
    pub rpc_urls: Vec<String>,
    /// Expected chain id; read from the RPC node when absent.
    pub chain_id: Option<String>,
    /// Session duration when `create` gets none.
    pub default_duration_seconds: u64,
    /// Max calls when `register` gets none.
    pub default_max_calls: u32,
    /// Time budget of one operation in milliseconds (network included).
    pub timeout_ms: Option<u64>,
}

/// Inputs every operation receives.
#[derive(Clone)]
pub struct SessionContext {
    /// The wallet.
    pub wallet: Wallet,
    /// The user's encrypt key (PIN, or base64url of a high-entropy key);
    /// zeroized on drop, never printed.
    pub encrypt_key: Zeroizing<String>,
    /// How the encrypt key is used, as the caller stated it.
    pub encrypt_key_kind: KeyKind,
    /// Configuration.
    pub config: Config,
}

impl SessionContext {
    /// The encrypt key read according to its stated kind (a malformed
    /// high-entropy key is refused, never taken as a PIN).
    pub fn encrypt_key(&self) -> Result<EncryptKey<'_>, EnvelopeError> {
        EncryptKey::new(self.encrypt_key_kind, &self.encrypt_key)
    }
}

impl std::fmt::Debug for SessionContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionContext")
            .field("wallet", &self.wallet)
            .field("encrypt_key", &"<redacted>")
            .field("encrypt_key_kind", &self.encrypt_key_kind)
            .field("config", &self.config)
            .finish()
    }
}

/// A session key as the hook exposes it (only ciphertext).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKeyData {
    /// Session public key (0x-hex).
    pub public_key: String,
    /// Session private key in the `v1.` envelope (`argon2id` or `hkdf-sha256`).
    pub encrypted_private_key: String,
    /// Expiry (Unix seconds).
    pub valid_until: u64,
}

/// Options of `create`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Lifetime in seconds.
    pub duration_seconds: Option<u64>,
    /// Replace a stored session that is still created or active.
    pub replace_existing: bool,
}

/// Options of `register`.
#[derive(Debug, Clone, Default)]
pub struct RegisterOptions {
    /// Expiry (Unix seconds).
    pub valid_until: Option<u64>,
    /// Maximum number of transactions.
    pub max_calls: Option<u32>,
    /// Whitelisted entrypoints (names or selectors).
    pub allowed_entrypoints: Vec<String>,
    /// The caller's name for this intent (see [`IntentOptions`]).
    pub idempotency_key: Option<String>,
}

/// Options of every operation that signs a transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntentOptions {
    /// The caller's name for this intent: the same key is always the same
    /// intent (for at least 24 hours), so a retry never signs a second
    /// transaction, and a different key is a new intent even for the same
    /// calls. Without a key, the intent is the operation and its calls.
    pub idempotency_key: Option<String>,
}

/// One call as the caller gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInput {
    /// Target contract address.
    pub contract_address: String,
    /// Entrypoint name or selector.
    pub entrypoint: String,
    /// Calldata felts (hex or decimal strings).
    pub calldata: Vec<String>,
}

/// Lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// No session stored.
    None,
    /// Created locally, not registered.
    Created,
    /// Registered and usable.
    Active,
    /// Past expiry or out of calls.
    Expired,
    /// Revoked.
    Revoked,
}

impl SessionState {
    /// Lower-case name as the hook reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Created => "created",
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// On-chain `SessionData` plus the whitelist entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionData {
    /// Expiry; 0 = not registered or revoked.
    pub valid_until: u64,
    /// Maximum number of transactions.
    pub max_calls: u32,
    /// Transactions used.
    pub calls_used: u32,
    /// Whitelist length.
    pub allowed_entrypoints_len: u32,
    /// Whitelisted selectors (0x-hex).
    pub allowed_entrypoints: Vec<String>,
}

/// Result of `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStatus {
    /// Lifecycle state.
    pub state: SessionState,
    /// `state == Active`.
    pub is_active: bool,
    /// Stored session.
    pub session: Option<SessionKeyData>,
    /// On-chain data when registered.
    pub on_chain: Option<SessionData>,
    /// Calls left when registered.
    pub remaining_calls: Option<u32>,
}

/// Spending policy to set.
#[derive(Debug, Clone)]
pub struct SpendingPolicyInput {
    /// Token contract address.
    pub token: String,
    /// Max amount per call (u256 string).
    pub max_per_call: String,
    /// Max amount per window (u256 string).
    pub max_per_window: String,
    /// Window length in seconds.
    pub window_seconds: u64,
}

/// Spending policy read from the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendingPolicy {
    /// Token contract address (0x-hex).
    pub token: String,
    /// Max amount per call (decimal).
    pub max_per_call: String,
    /// Max amount per window (decimal).
    pub max_per_window: String,
    /// Window length in seconds.
    pub window_seconds: u64,
    /// Spent in the current window (decimal).
    pub spent: String,
    /// Start of the current window (Unix seconds).
    pub window_start: u64,
}

/// Whether an accepted transaction succeeded or reverted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    /// Ran to completion.
    Succeeded,
    /// Included but reverted.
    Reverted,
}

/// A transaction receipt as `wait-for-transaction` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionReceipt {
    /// Transaction hash (0x-hex).
    pub transaction_hash: String,
    /// `ACCEPTED_ON_L2` or `ACCEPTED_ON_L1`.
    pub finality_status: String,
    /// Succeeded or reverted.
    pub execution_status: ExecutionStatus,
    /// The node's revert reason, when reverted.
    pub revert_reason: Option<String>,
    /// Including block, when reported.
    pub block_number: Option<u64>,
}
