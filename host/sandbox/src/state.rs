//! Shared in-memory state of a running sandbox.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use starknet_core::types::Felt;

use super::account::Account;
use super::faults::Faults;
use super::typed_data::{OutsideExecution, Substitution, TypedDataStyle};
use super::SandboxConfig;
use crate::clock::SharedClock;

/// One request the sandbox received (admin `/sandbox/...` requests are not recorded).
///
/// Headers are kept verbatim, including `authorization` and `x-api-key`, because
/// tests assert on them; the sandbox is a loopback test tool holding test secrets only.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// HTTP method (`POST`).
    pub method: String,
    /// Path without the query (`/v1/transactions/prepare-typed-data`).
    pub path: String,
    /// Raw query string, if any (`__chipi_api_version=2025-12-30`).
    pub query: Option<String>,
    /// Headers with lowercased names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Body parsed as JSON, or a JSON string holding the raw body when it is not JSON
    /// (`null` when empty).
    pub body: serde_json::Value,
    /// Raw body (lossy UTF-8).
    pub raw_body: String,
    /// Block time (Unix seconds) when the request arrived.
    pub received_at: u64,
}

impl RecordedRequest {
    /// First value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// First value of a query parameter (no percent-decoding beyond `+`).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.as_deref()?.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then(|| v.replace('+', " "))
        })
    }
}

/// Who signed an executed transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "publicKey", rename_all = "snake_case")]
pub enum TxSigner {
    /// The wallet owner key.
    Owner,
    /// A session key (its public key, `0x`-hex).
    Session(String),
}

/// One call of an executed transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExecutedCall {
    /// Target contract, `0x`-hex.
    pub to: String,
    /// Selector, `0x`-hex.
    pub selector: String,
    /// Entrypoint name when the call was requested by name.
    pub entrypoint: Option<String>,
    /// Calldata, `0x`-hex felts.
    pub calldata: Vec<String>,
}

/// A transaction the sandbox executed (always `ACCEPTED_ON_L2` / `SUCCEEDED`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SandboxTransaction {
    /// Transaction hash, `0x`-hex.
    pub hash: String,
    /// Wallet address, `0x`-hex.
    pub wallet: String,
    /// Signer.
    pub signer: TxSigner,
    /// Executed calls.
    pub calls: Vec<ExecutedCall>,
    /// The `saveToDatabase` flag of the request.
    pub save_to_database: bool,
    /// Block number it was included in.
    pub block_number: u64,
    /// Block time (Unix seconds).
    pub timestamp: u64,
    /// Message hash that was signed, `0x`-hex.
    pub message_hash: String,
    /// SNIP-9 nonce of the outside execution, `0x`-hex (consumed on the account by
    /// this transaction; at most one transaction per wallet and nonce).
    pub nonce: String,
}

/// Typed data the sandbox issued on `prepare-typed-data`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IssuedTypedData {
    /// Wallet address, `0x`-hex.
    pub wallet: String,
    /// `Nonce` of the outside execution, `0x`-hex.
    pub nonce: String,
    /// The typed data JSON as served (tampered when `substituted` is set).
    pub served: serde_json::Value,
    /// The substitution fault applied, if any.
    pub substituted: Option<Substitution>,
    /// True once the wallet's account consumed this nonce (the account's nonce set,
    /// as read by `is_valid_outside_execution_nonce`, is the source of truth).
    pub used: bool,
}

pub(crate) struct Issued {
    pub honest: OutsideExecution,
    pub info: IssuedTypedData,
}

/// Receipt data of an executed transaction.
#[derive(Clone, Debug)]
pub(crate) struct Receipt {
    pub block_number: u64,
    pub block_hash: Felt,
}

/// Everything behind the lock.
pub(crate) struct State {
    pub accounts: HashMap<Felt, Account>,
    pub issued: HashMap<(Felt, Felt), Issued>,
    pub issued_order: Vec<(Felt, Felt)>,
    pub transactions: Vec<SandboxTransaction>,
    pub receipts: HashMap<Felt, Receipt>,
    pub requests: Vec<RecordedRequest>,
    pub faults: Option<Faults>,
    pub block_number: u64,
}

/// State shared by the handle and the server.
pub(crate) struct Shared {
    pub api_key: String,
    pub bearer_token: String,
    pub chain_id: Felt,
    pub clock: SharedClock,
    pub style: TypedDataStyle,
    pub signature_checks: AtomicU64,
    /// Relay mode: the real node the sandbox relays to (`None`: the simulated chain).
    pub relay: Option<Arc<super::relay::Relay>>,
    state: Mutex<State>,
}

/// First block number of a fresh sandbox.
pub(crate) const GENESIS_BLOCK: u64 = 1000;

impl Shared {
    pub(crate) fn new(config: &SandboxConfig, chain_id: Felt) -> Self {
        Self {
            api_key: config.api_key.clone(),
            bearer_token: config.bearer_token.clone(),
            chain_id,
            clock: config.clock.clone(),
            style: config.typed_data_style,
            signature_checks: AtomicU64::new(0),
            relay: None,
            state: Mutex::new(State {
                accounts: HashMap::new(),
                issued: HashMap::new(),
                issued_order: Vec::new(),
                transactions: Vec::new(),
                receipts: HashMap::new(),
                requests: Vec::new(),
                faults: None,
                block_number: GENESIS_BLOCK,
            }),
        }
    }

    /// Lock the state; a poisoned lock (a panic elsewhere) is recovered, since every
    /// mutation is completed before the guard is dropped.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> u64 {
        self.clock.now_unix()
    }

    pub(crate) fn count_signature_check(&self) {
        self.signature_checks.fetch_add(1, Ordering::SeqCst);
    }
}

impl Shared {
    /// Create a wallet and deploy its (simulated) account.
    pub(crate) fn create_wallet(
        &self,
        pin: &str,
        wallet_type: super::wallets::SandboxWalletType,
    ) -> super::wallets::SandboxWallet {
        let g = super::wallets::generate_wallet(pin, wallet_type);
        self.lock().accounts.insert(
            g.address,
            Account::new(g.address, g.owner_public_key, g.wallet_type),
        );
        g.wallet
    }

    /// Deploy an account for an owner key encrypted elsewhere (for example by
    /// Chipi's SDK), at a random address.
    pub(crate) fn import_wallet(
        &self,
        owner_public_key: Felt,
        encrypted_private_key: String,
        wallet_type: super::wallets::SandboxWalletType,
    ) -> super::wallets::SandboxWallet {
        let address = super::felt::random_felt();
        self.lock().accounts.insert(
            address,
            Account::new(address, owner_public_key, wallet_type),
        );
        super::wallets::SandboxWallet {
            address: super::felt::padded_hex(&address),
            owner_public_key: super::felt::hex(&owner_public_key),
            encrypted_private_key,
            wallet_type: wallet_type.as_str().to_string(),
        }
    }
}
