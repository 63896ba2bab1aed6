//! [`WalletSession`]: one wallet's session engine, the state behind the WIT
//! `wallet-session` resource. It holds the caller's context and the unlocked
//! session key ([`SessionKeys`]); every operation is the use case of its
//! module, run with that key.

use super::pending::Accepted;
use super::ports::Ports;
use super::signing::SessionKeys;
use super::stored::Seen;
use super::{create, execute, policy, receipt, register, revoke, status, stored, Env};
use crate::protocol::error::Result;
use crate::protocol::model::{
    CallInput, CreateOptions, IntentOptions, RegisterOptions, SessionContext, SessionKeyData,
    SessionStatus, SpendingPolicy, SpendingPolicyInput, TransactionReceipt,
};

/// One wallet's engine: context, unlocked session key, and the last
/// accepted execute whose landing is written with the next write of the
/// record. Dropping it zeroizes the key and the encrypt key; call
/// [`Self::flush`] first (the component does, in the resource's destructor).
pub struct WalletSession {
    ctx: SessionContext,
    keys: SessionKeys,
    unsettled: Option<Accepted>,
    seen: Seen,
}

impl WalletSession {
    /// Bind the engine to `ctx`; nothing is checked, read or decrypted yet.
    pub fn new(ctx: SessionContext) -> Self {
        Self {
            ctx,
            keys: SessionKeys::default(),
            unsettled: None,
            seen: Seen::default(),
        }
    }

    /// Write the landing of the last accepted execute, if it is not written
    /// yet. Best effort: when the store fails, the pending entry stays and
    /// the next operation on the wallet reconciles it with the account
    /// (counted once); a warning says so.
    pub fn flush<P: Ports>(&mut self, ports: &mut P) {
        let Some(accepted) = self.unsettled.take() else {
            return;
        };
        let Ok(env) = Env::new(&self.ctx) else {
            return;
        };
        let hash = accepted.hash().to_owned();
        *env.unsettled.borrow_mut() = Some(accepted);
        if let Err(err) = stored::flush(&env, ports) {
            ports.warn(&format!(
                "transaction {hash} was accepted but the local session record could not be \
                 updated ({err}); the next operation reconciles it with the account"
            ));
        }
    }

    /// `create-session`; the new key stays unlocked.
    pub fn create_session<P: Ports>(
        &mut self,
        options: &CreateOptions,
        ports: &mut P,
    ) -> Result<SessionKeyData> {
        self.flush(ports);
        create::create_session(&self.ctx, options, ports, &mut self.keys)
    }

    /// `register-session`; unlocks the session key on the way.
    pub fn register_session<P: Ports>(
        &mut self,
        options: &RegisterOptions,
        ports: &mut P,
    ) -> Result<String> {
        self.flush(ports);
        register::register_session(&self.ctx, options, ports, &mut self.keys)
    }

    /// `execute-with-session`, with the unlocked key (decrypted on first use).
    pub fn execute_with_session<P: Ports>(
        &mut self,
        calls: &[CallInput],
        options: &IntentOptions,
        ports: &mut P,
    ) -> Result<String> {
        execute::execute_with_session(
            &self.ctx,
            calls,
            options,
            ports,
            &mut self.keys,
            (&mut self.unsettled, &mut self.seen),
        )
    }

    /// `revoke-session`; the unlocked key is zeroized whatever the outcome.
    pub fn revoke_session<P: Ports>(
        &mut self,
        options: &IntentOptions,
        ports: &mut P,
    ) -> Result<String> {
        self.keys.lock();
        self.flush(ports);
        revoke::revoke_session(&self.ctx, options, ports)
    }

    /// `clear-session`; the unlocked key is zeroized.
    pub fn clear_session<P: Ports>(&mut self, ports: &mut P) -> Result<()> {
        self.keys.lock();
        self.unsettled = None;
        self.seen = Seen::default();
        create::clear_session(&self.ctx, ports)
    }

    /// `get-session-status`.
    pub fn get_session_status<P: Ports>(&mut self, ports: &mut P) -> Result<SessionStatus> {
        self.flush(ports);
        status::get_session_status(&self.ctx, ports)
    }

    /// `set-spending-policy` (owner-signed).
    pub fn set_spending_policy<P: Ports>(
        &mut self,
        policy: &SpendingPolicyInput,
        options: &IntentOptions,
        ports: &mut P,
    ) -> Result<String> {
        self.flush(ports);
        policy::set_spending_policy(&self.ctx, policy, options, ports)
    }

    /// `get-spending-policy`.
    pub fn get_spending_policy<P: Ports>(
        &mut self,
        token: &str,
        ports: &mut P,
    ) -> Result<Option<SpendingPolicy>> {
        self.flush(ports);
        policy::get_spending_policy(&self.ctx, token, ports)
    }

    /// `remove-spending-policy` (owner-signed).
    pub fn remove_spending_policy<P: Ports>(
        &mut self,
        token: &str,
        options: &IntentOptions,
        ports: &mut P,
    ) -> Result<String> {
        self.flush(ports);
        policy::remove_spending_policy(&self.ctx, token, options, ports)
    }

    /// `wait-for-transaction`.
    pub fn wait_for_transaction<P: Ports>(
        &mut self,
        hash: &str,
        timeout_ms: u64,
        ports: &mut P,
    ) -> Result<TransactionReceipt> {
        receipt::wait_for_transaction(&self.ctx, hash, timeout_ms, ports)
    }

    /// `lock`: zeroize the unlocked session key. The next execute checks
    /// the store's count against the account again, as after a load.
    pub fn lock(&mut self) {
        self.keys.lock();
        self.seen = Seen::default();
        // Copies the operations left on the stack (moved-from keys, the
        // signing temporaries of frames deeper than a signature's scrub).
        crate::crypto::scrub::scrub_after_lock();
    }

    /// True while an accepted execute's landing is not written yet.
    pub fn has_unsettled(&self) -> bool {
        self.unsettled.is_some()
    }

    /// True while a session key is unlocked.
    pub fn is_unlocked(&self) -> bool {
        self.keys.is_unlocked()
    }

    /// The operation time budget the caller configured, if any.
    pub fn timeout_ms(&self) -> Option<u64> {
        self.ctx.config.timeout_ms
    }

    /// Where this session's requests may go: under its API base URL or to
    /// one of its RPC URLs.
    pub fn url_scope(&self) -> crate::protocol::url_scope::UrlScope {
        crate::protocol::url_scope::UrlScope::new(
            &self.ctx.config.api_base_url,
            &self.ctx.config.rpc_urls,
        )
    }
}
