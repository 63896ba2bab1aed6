//! [`WalletSession`]: a warm session engine for one wallet, backed by the
//! component's `wallet-session` resource in a long-lived instance.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;

use super::context::SessionContext;
use super::imports::Imports;
use super::limits::{check_argument_bytes, ArgumentBytes};
use super::unlock_limit::UnlockGate;
use super::worker::Worker;
use super::{
    Call, CreateOptions, IntentOptions, RegisterOptions, SessionError, SessionKeyData,
    SessionStatus, SpendingPolicy, SpendingPolicyInput, TransactionReceipt,
};

/// One wallet's session engine, kept warm: the hook's operations bound to
/// one wallet, encrypt key and configuration.
///
/// The first signature decrypts the session key inside the component;
/// later executes reuse it (no key derivation, no chain-id request).
/// [`lock`](Self::lock) zeroizes it; so do [`close`](Self::close) and
/// dropping the last clone (the resource is dropped in the guest, then the
/// instance is released when the session had its own). An execute writes the
/// store once: its landing is folded into the session's next write, or
/// written by `lock`, `close`, any other operation, or the drop. Opened with
/// [`SessionRuntime::open_session`](super::SessionRuntime::open_session)
/// (its own instance) or taken from a [`SessionPool`](super::SessionPool)
/// (instances shared by many wallets).
///
/// Cloning is cheap and every clone is the same session. Calls on one
/// session (and on sessions sharing an instance) run one at a time.
///
/// Results: `Err(anyhow)` when the call trapped, exceeded the time limit or
/// the imports are misconfigured (the instance is then discarded; the
/// session is constructed again, locked, on its next call);
/// `Ok(Err(SessionError))` when the component reported a failure.
#[derive(Clone)]
pub struct WalletSession {
    inner: Arc<Inner>,
}

struct Inner {
    worker: Arc<Worker>,
    id: u64,
    ctx: SessionContext,
    /// The pool's count of failed unlocks for this wallet (pooled sessions).
    gate: Option<UnlockGate>,
    /// True once an operation that decrypts a key succeeded with this
    /// context: its encrypt key is the wallet's.
    proven: AtomicBool,
}

/// Operations that decrypt the session or the owner key: their success
/// proves the encrypt key. (`create-session` seals a new key without
/// opening any, so it proves nothing.)
const KEY_OPERATIONS: [&str; 5] = [
    "register-session",
    "execute-with-session",
    "revoke-session",
    "set-spending-policy",
    "remove-spending-policy",
];

/// The two shapes of a session method's result.
trait CallResult {
    /// The answer to a call refused before it reached the component: the
    /// typed error where the method has one, a host error otherwise.
    fn refused(error: SessionError) -> Self;
    /// `Some(Ok)` when the component succeeded, `Some(Err)` when it
    /// reported a session error, `None` for a host error.
    fn outcome(&self) -> Option<Result<(), &SessionError>>;
}

impl<T> CallResult for anyhow::Result<Result<T, SessionError>> {
    fn refused(error: SessionError) -> Self {
        Ok(Err(error))
    }

    fn outcome(&self) -> Option<Result<(), &SessionError>> {
        match self {
            Ok(Ok(_)) => Some(Ok(())),
            Ok(Err(e)) => Some(Err(e)),
            Err(_) => None,
        }
    }
}

impl CallResult for anyhow::Result<()> {
    fn refused(error: SessionError) -> Self {
        Err(anyhow!("{}: {}", error.code(), error.message()))
    }

    fn outcome(&self) -> Option<Result<(), &SessionError>> {
        self.as_ref().ok().map(|()| Ok(()))
    }
}

impl Inner {
    /// The refusal of a call while the pool locks this wallet out after
    /// failed unlocks; never for a context that proved its key.
    fn locked_out(&self) -> Option<SessionError> {
        if self.proven.load(Ordering::Relaxed) {
            return None;
        }
        self.gate.as_ref().and_then(UnlockGate::refusal)
    }

    /// Learn from the outcome of `op`: a key operation that succeeded proves
    /// the context; a failed decryption counts against the wallet.
    fn observe(&self, op: &str, outcome: Option<Result<(), &SessionError>>) {
        match outcome {
            Some(Ok(())) if KEY_OPERATIONS.contains(&op) => {
                self.proven.store(true, Ordering::Relaxed);
            }
            Some(Err(SessionError::SessionDecryptionFailed(_))) => {
                if let Some(gate) = &self.gate {
                    gate.failed();
                }
            }
            _ => {}
        }
    }
}

impl Drop for Inner {
    /// Retire the resource; inside a Tokio runtime, drop it in the
    /// component right away (its destructor writes the last execute's
    /// landing and zeroizes the keys) before a dedicated instance goes.
    fn drop(&mut self) {
        self.worker.detach(self.id);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let worker = Arc::clone(&self.worker);
            runtime.spawn(async move {
                // A failure discards the instance, which frees its memory.
                let _ = worker.flush_retired().await;
            });
        }
    }
}

/// Run one method of the session's resource:
/// `resource_call!(self, "wit-name", call_method(args...))`.
macro_rules! resource_call {
    ($session:ident, $op:literal, $method:ident ( $($arg:expr),* )) => {{
        let inner = &$session.inner;
        let bytes = inner.ctx.argument_bytes() $(+ $arg.argument_bytes())*;
        if let Err(refused) = check_argument_bytes($op, bytes) {
            return CallResult::refused(refused);
        }
        if let Some(refused) = inner.locked_out() {
            return CallResult::refused(refused);
        }
        let mut locked = inner.worker.lock(inner.id, &inner.ctx).await?;
        let limit = inner.worker.runtime().call_timeout;
        let result = match locked.parts() {
            Some((live, resource)) => {
                live.arm(limit);
                let stderr = live.stderr();
                let interface = live.bindings.chipi_session_session();
                let wallet_session = interface.wallet_session();
                let call = wallet_session.$method(&mut live.store, resource $(, $arg)*);
                inner.worker.finish($op, &stderr, call).await
            }
            None => Err(anyhow!("the component instance is gone")),
        };
        if result.is_ok() {
            locked.keep();
        }
        inner.observe($op, result.outcome());
        result
    }};
}

impl WalletSession {
    pub(crate) fn new(worker: Arc<Worker>, ctx: SessionContext) -> Self {
        Self::with_gate(worker, ctx, None)
    }

    /// A session whose failed unlocks count in `gate` (a pool's).
    pub(crate) fn with_gate(
        worker: Arc<Worker>,
        ctx: SessionContext,
        gate: Option<UnlockGate>,
    ) -> Self {
        let id = worker.attach();
        Self {
            inner: Arc::new(Inner {
                worker,
                id,
                ctx,
                gate,
                proven: AtomicBool::new(false),
            }),
        }
    }

    /// True once an operation that decrypts a key (register, execute,
    /// revoke, a spending-policy change) succeeded in this session: its
    /// encrypt key is the wallet's.
    pub fn is_proven(&self) -> bool {
        self.inner.proven.load(Ordering::Relaxed)
    }

    /// Instantiate the component (if this session's instance is not live)
    /// and construct the session's resource, so the next call pays neither.
    pub async fn warm_up(&self) -> anyhow::Result<()> {
        check_argument_bytes("session context", self.inner.ctx.argument_bytes())
            .map_err(|refused| anyhow!("{}: {}", refused.code(), refused.message()))?;
        let locked = self
            .inner
            .worker
            .lock(self.inner.id, &self.inner.ctx)
            .await?;
        locked.keep();
        Ok(())
    }

    /// How long the last instantiation of this session's instance took.
    pub fn last_instantiate_time(&self) -> Option<Duration> {
        self.inner.worker.last_instantiate()
    }

    /// The context this session acts with.
    pub fn context(&self) -> &SessionContext {
        &self.inner.ctx
    }

    /// The imports this session's instance runs with.
    pub fn imports(&self) -> &Imports {
        self.inner.worker.imports()
    }

    /// Outgoing requests refused by the authority allow-list so far, across
    /// every session of this session's instance.
    pub fn denied_requests(&self) -> u64 {
        self.inner.worker.denied_requests()
    }

    /// `create-session`: create a session key pair, encrypt and store it.
    /// The new key stays unlocked.
    pub async fn create_session(
        &self,
        options: &CreateOptions,
    ) -> anyhow::Result<Result<SessionKeyData, SessionError>> {
        resource_call!(self, "create-session", call_create_session(*options))
    }

    /// `register-session`: register the stored session on chain; returns the
    /// transaction hash.
    pub async fn register_session(
        &self,
        options: &RegisterOptions,
    ) -> anyhow::Result<Result<String, SessionError>> {
        resource_call!(self, "register-session", call_register_session(options))
    }

    /// `execute-with-session`: execute `calls` signed by the session key;
    /// returns the transaction hash. The intent is named by its calls; see
    /// [`execute_with_options`](Self::execute_with_options) to name it with
    /// an idempotency key.
    pub async fn execute_with_session(
        &self,
        calls: &[Call],
    ) -> anyhow::Result<Result<String, SessionError>> {
        self.execute_with_options(calls, &no_key()).await
    }

    /// `execute-with-session` with options: with an idempotency key, the
    /// same key is always the same intent (for at least 24 hours), so a
    /// retry after any failure is answered with the first transaction's hash
    /// (or `ALREADY_EXECUTED` / `TRANSACTION_PENDING`) and never signed
    /// again; another key is a new intent, even for the same calls.
    pub async fn execute_with_options(
        &self,
        calls: &[Call],
        options: &IntentOptions,
    ) -> anyhow::Result<Result<String, SessionError>> {
        resource_call!(
            self,
            "execute-with-session",
            call_execute_with_session(calls, options)
        )
    }

    /// `revoke-session`: revoke the stored session on chain; returns the
    /// transaction hash.
    pub async fn revoke_session(&self) -> anyhow::Result<Result<String, SessionError>> {
        self.revoke_with_options(&no_key()).await
    }

    /// `revoke-session` with options (an idempotency key, see
    /// [`execute_with_options`](Self::execute_with_options)).
    pub async fn revoke_with_options(
        &self,
        options: &IntentOptions,
    ) -> anyhow::Result<Result<String, SessionError>> {
        resource_call!(self, "revoke-session", call_revoke_session(options))
    }

    /// `clear-session`: forget the stored session locally.
    pub async fn clear_session(&self) -> anyhow::Result<Result<(), SessionError>> {
        resource_call!(self, "clear-session", call_clear_session())
    }

    /// `get-session-status`: lifecycle state, stored session, on-chain data.
    pub async fn get_session_status(&self) -> anyhow::Result<Result<SessionStatus, SessionError>> {
        resource_call!(self, "get-session-status", call_get_session_status())
    }

    /// `set-spending-policy`: set a token spending policy (owner-signed);
    /// returns the transaction hash.
    pub async fn set_spending_policy(
        &self,
        policy: &SpendingPolicyInput,
    ) -> anyhow::Result<Result<String, SessionError>> {
        self.set_spending_policy_with_options(policy, &no_key())
            .await
    }

    /// `set-spending-policy` with options (an idempotency key, see
    /// [`execute_with_options`](Self::execute_with_options)).
    pub async fn set_spending_policy_with_options(
        &self,
        policy: &SpendingPolicyInput,
        options: &IntentOptions,
    ) -> anyhow::Result<Result<String, SessionError>> {
        resource_call!(
            self,
            "set-spending-policy",
            call_set_spending_policy(policy, options)
        )
    }

    /// `get-spending-policy`: the policy for `token`, `None` when unset.
    pub async fn get_spending_policy(
        &self,
        token: &str,
    ) -> anyhow::Result<Result<Option<SpendingPolicy>, SessionError>> {
        resource_call!(self, "get-spending-policy", call_get_spending_policy(token))
    }

    /// `remove-spending-policy`: remove the policy for `token` (owner-signed);
    /// returns the transaction hash.
    pub async fn remove_spending_policy(
        &self,
        token: &str,
    ) -> anyhow::Result<Result<String, SessionError>> {
        self.remove_spending_policy_with_options(token, &no_key())
            .await
    }

    /// `remove-spending-policy` with options (an idempotency key, see
    /// [`execute_with_options`](Self::execute_with_options)).
    pub async fn remove_spending_policy_with_options(
        &self,
        token: &str,
        options: &IntentOptions,
    ) -> anyhow::Result<Result<String, SessionError>> {
        resource_call!(
            self,
            "remove-spending-policy",
            call_remove_spending_policy(token, options)
        )
    }

    /// `wait-for-transaction`: poll the receipt of `transaction_hash` until
    /// the chain accepted it (succeeded or reverted) or `timeout` passed
    /// (`TRANSACTION_PENDING`). The wait is also bounded by the runtime's
    /// per-call limit.
    pub async fn wait_for_transaction(
        &self,
        transaction_hash: &str,
        timeout: Duration,
    ) -> anyhow::Result<Result<TransactionReceipt, SessionError>> {
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        resource_call!(
            self,
            "wait-for-transaction",
            call_wait_for_transaction(transaction_hash, timeout_ms)
        )
    }

    /// Close this handle: when it is the last one, the resource is dropped
    /// in the component now (the last execute's landing is written to the
    /// store, the keys are zeroized) and its warnings go to the warning
    /// sink. Dropping the handle does the same in the background inside a
    /// Tokio runtime; `close` is the deterministic form.
    pub async fn close(self) -> anyhow::Result<()> {
        let worker = Arc::clone(&self.inner.worker);
        drop(self);
        worker.flush_retired().await
    }

    /// `lock`: write the last execute's landing and zeroize the unlocked
    /// session key inside the component; the next signature decrypts it
    /// again.
    pub async fn lock(&self) -> anyhow::Result<()> {
        resource_call!(self, "lock", call_lock())
    }
}

/// No idempotency key: the intent is named by its operation and calls.
fn no_key() -> IntentOptions {
    IntentOptions {
        idempotency_key: None,
    }
}

impl std::fmt::Debug for WalletSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletSession")
            .field("wallet", &self.inner.ctx.wallet.address)
            .field("id", &self.inner.id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compile-time check: the call futures can be spawned on a
    /// multi-threaded runtime (never called).
    #[allow(dead_code, reason = "type-checked only")]
    async fn futures_are_send(session: WalletSession) {
        fn is_send<T: Send>(value: T) -> T {
            value
        }
        let create = CreateOptions {
            duration_seconds: None,
            replace_existing: false,
        };
        let _ = is_send(session.create_session(&create)).await;
        let _ = is_send(session.execute_with_session(&[])).await;
        let _ = is_send(session.get_session_status()).await;
        let _ = is_send(session.get_spending_policy("0x1")).await;
        let _ = is_send(session.lock()).await;
        let other = session.clone();
        let _ = tokio::spawn(async move { other.revoke_session().await }).await;
    }
}
