//! Use cases of the session lifecycle, one module each, written against
//! [`Ports`] so they run natively in tests and in the component unchanged.

mod create;
mod execute;
pub(crate) mod pending;
mod policy;
pub mod ports;
mod receipt;
mod register;
mod remote;
mod revoke;
mod signing;
mod status;
mod stored;
mod wallet_session;

pub use ports::{HttpResponse, Ports};
pub use signing::SessionKeys;
pub use wallet_session::WalletSession;

use starknet_crypto::Felt;

use crate::crypto::felt::{felt_to_hex, parse_felt};
use crate::protocol::error::{Result, SessionError};
use crate::protocol::model::{SessionContext, WalletType};

/// Longest encrypt key accepted (a PIN, a passphrase or an encoded secret).
pub const MAX_ENCRYPT_KEY_BYTES: usize = 1024;

/// A validated context: the caller's inputs plus the parsed wallet address,
/// and the execute this session saw accepted whose landing is not written
/// yet ([`pending::Accepted`]).
pub struct Env<'a> {
    /// The caller's inputs.
    pub ctx: &'a SessionContext,
    /// Wallet address.
    pub wallet: Felt,
    /// Wallet address, normalised 0x-hex.
    pub wallet_hex: String,
    /// An accepted execute to fold into the next write of the record.
    pub(crate) unsettled: std::cell::RefCell<Option<pending::Accepted>>,
    /// What this engine has seen of the stored record ([`stored::Seen`]).
    pub(crate) seen: std::cell::RefCell<stored::Seen>,
}

impl<'a> Env<'a> {
    /// Validate the parts of the context every operation needs.
    pub fn new(ctx: &'a SessionContext) -> Result<Self> {
        let wallet = parse_felt(&ctx.wallet.address)
            .map_err(|e| SessionError::input(format!("invalid wallet address: {e}")))?;
        if wallet == Felt::ZERO {
            return Err(SessionError::input("wallet address is zero"));
        }
        Ok(Self {
            ctx,
            wallet,
            wallet_hex: felt_to_hex(&wallet),
            unsettled: std::cell::RefCell::new(None),
            seen: std::cell::RefCell::new(stored::Seen::default()),
        })
    }

    /// The accepted execute still to be written, if any.
    pub(crate) fn into_unsettled(self) -> Option<pending::Accepted> {
        self.unsettled.into_inner()
    }

    /// Checks before anything that signs or sends: a CHIPI wallet, an encrypt
    /// key, and usable URLs.
    pub fn require_signing(&self) -> Result<()> {
        if self.ctx.wallet.wallet_type != WalletType::Chipi {
            return Err(SessionError::InvalidWalletType(
                "READY wallets do not support session keys; use a CHIPI wallet".into(),
            ));
        }
        if self.ctx.encrypt_key.is_empty() {
            return Err(SessionError::input("missing encrypt key"));
        }
        if self.ctx.encrypt_key.len() > MAX_ENCRYPT_KEY_BYTES {
            return Err(SessionError::input(format!(
                "encrypt key longer than {MAX_ENCRYPT_KEY_BYTES} bytes"
            )));
        }
        self.ctx
            .encrypt_key()
            .map_err(|e| SessionError::input(e.to_string()))?;
        self.require_urls()
    }

    /// Checks that the backend and RPC URLs are usable.
    pub fn require_urls(&self) -> Result<()> {
        let valid = |u: &str| u.starts_with("https://") || u.starts_with("http://");
        if !valid(&self.ctx.config.api_base_url) {
            return Err(SessionError::input("api base URL must be http(s)"));
        }
        if self.ctx.config.rpc_urls.is_empty() {
            return Err(SessionError::input("at least one RPC URL is required"));
        }
        if let Some(bad) = self.ctx.config.rpc_urls.iter().find(|u| !valid(u)) {
            return Err(SessionError::input(format!(
                "RPC URL must be http(s): {}",
                crate::protocol::calls::truncate(bad)
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;
