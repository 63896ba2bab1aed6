//! [`Stateless`]: calls the component the way a stateless host does (one
//! request, one fresh warm session), with the context passed per call, so
//! each test states the context of every operation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chipi_session_host::runtime::{
    Call, CreateOptions, Imports, IntentOptions, RegisterOptions, SessionContext, SessionError,
    SessionKeyData, SessionRuntime, SessionStatus, SpendingPolicy, SpendingPolicyInput,
    TransactionReceipt, WalletSession,
};

/// A runtime and imports; every call opens a new [`WalletSession`] (its own
/// instance, nothing unlocked) and closes it afterwards.
#[derive(Clone)]
pub struct Stateless {
    runtime: SessionRuntime,
    imports: Imports,
    denied: Arc<AtomicU64>,
}

/// `call!(self, ctx, method(args...))`: open a session for `ctx`, call, drop it.
macro_rules! call {
    ($self:ident, $ctx:expr, $method:ident ( $($arg:expr),* )) => {{
        let session = $self.open($ctx).await?;
        let result = session.$method($($arg),*).await;
        $self.denied.fetch_add(session.denied_requests(), Ordering::Relaxed);
        // Deterministically, as a stateless host ends a request.
        session.close().await?;
        result
    }};
}

impl Stateless {
    /// Calls through `runtime` with `imports`.
    pub fn new(runtime: SessionRuntime, imports: Imports) -> Self {
        Self {
            runtime,
            imports,
            denied: Arc::default(),
        }
    }

    /// A warm session for `ctx` on its own instance.
    pub async fn open(&self, ctx: &SessionContext) -> anyhow::Result<WalletSession> {
        self.runtime
            .open_session(self.imports.clone(), ctx.clone())
            .await
    }

    /// Outgoing requests refused by the allow-list across every call so far.
    pub fn denied_requests(&self) -> u64 {
        self.denied.load(Ordering::Relaxed)
    }

    /// `create-session`.
    pub async fn create_session(
        &self,
        ctx: &SessionContext,
        options: &CreateOptions,
    ) -> anyhow::Result<Result<SessionKeyData, SessionError>> {
        call!(self, ctx, create_session(options))
    }

    /// `register-session`.
    pub async fn register_session(
        &self,
        ctx: &SessionContext,
        options: &RegisterOptions,
    ) -> anyhow::Result<Result<String, SessionError>> {
        call!(self, ctx, register_session(options))
    }

    /// `execute-with-session`.
    pub async fn execute_with_session(
        &self,
        ctx: &SessionContext,
        calls: &[Call],
    ) -> anyhow::Result<Result<String, SessionError>> {
        call!(self, ctx, execute_with_session(calls))
    }

    /// `execute-with-session` with options (an idempotency key).
    pub async fn execute_with_options(
        &self,
        ctx: &SessionContext,
        calls: &[Call],
        options: &IntentOptions,
    ) -> anyhow::Result<Result<String, SessionError>> {
        call!(self, ctx, execute_with_options(calls, options))
    }

    /// `revoke-session`.
    pub async fn revoke_session(
        &self,
        ctx: &SessionContext,
    ) -> anyhow::Result<Result<String, SessionError>> {
        call!(self, ctx, revoke_session())
    }

    /// `clear-session`.
    pub async fn clear_session(
        &self,
        ctx: &SessionContext,
    ) -> anyhow::Result<Result<(), SessionError>> {
        call!(self, ctx, clear_session())
    }

    /// `get-session-status`.
    pub async fn get_session_status(
        &self,
        ctx: &SessionContext,
    ) -> anyhow::Result<Result<SessionStatus, SessionError>> {
        call!(self, ctx, get_session_status())
    }

    /// `set-spending-policy`.
    pub async fn set_spending_policy(
        &self,
        ctx: &SessionContext,
        policy: &SpendingPolicyInput,
    ) -> anyhow::Result<Result<String, SessionError>> {
        call!(self, ctx, set_spending_policy(policy))
    }

    /// `get-spending-policy`.
    pub async fn get_spending_policy(
        &self,
        ctx: &SessionContext,
        token: &str,
    ) -> anyhow::Result<Result<Option<SpendingPolicy>, SessionError>> {
        call!(self, ctx, get_spending_policy(token))
    }

    /// `remove-spending-policy`.
    pub async fn remove_spending_policy(
        &self,
        ctx: &SessionContext,
        token: &str,
    ) -> anyhow::Result<Result<String, SessionError>> {
        call!(self, ctx, remove_spending_policy(token))
    }

    /// `wait-for-transaction`.
    pub async fn wait_for_transaction(
        &self,
        ctx: &SessionContext,
        hash: &str,
        timeout: Duration,
    ) -> anyhow::Result<Result<TransactionReceipt, SessionError>> {
        call!(self, ctx, wait_for_transaction(hash, timeout))
    }
}
