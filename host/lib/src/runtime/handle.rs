//! [`SessionHandle`]: calls the component's `chipi:session/session` exports,
//! each in a fresh sandboxed instance.

use std::future::Future;
use std::sync::Arc;

use anyhow::anyhow;
use wasmtime::{Store, Trap};

use super::context::LoweredContext;
use super::engine::{deadline_ticks, RuntimeInner};
use super::host_state::{HostState, HostStateParts, StderrCapture};
use super::http_policy::{AllowList, DeniedCounter, HttpPolicy};
use super::imports::Imports;
use super::redact::redact_urls_in;
use super::{
    Call, CreateOptions, RegisterOptions, SessionContext, SessionError, SessionKeyData,
    SessionStatus, SpendingPolicy, SpendingPolicyInput,
};

/// Calls the component with one set of [`Imports`].
///
/// Every call instantiates the pre-instantiated component in a new store (the
/// guest keeps no state between calls; persistence goes through the store
/// import), so a handle can be cloned and used from many tasks at once.
///
/// Results: `Err(anyhow)` when the call trapped, exceeded the time limit or the
/// imports are misconfigured; `Ok(Err(SessionError))` when the component
/// reported a failure.
#[derive(Clone)]
pub struct SessionHandle {
    runtime: Arc<RuntimeInner>,
    imports: Imports,
    allow: Result<Arc<AllowList>, String>,
    denied: DeniedCounter,
}

/// Run one export in a fresh instance: `guest_call!(self, "wit-name",
/// call_method(args...))`.
macro_rules! guest_call {
    ($handle:ident, $op:literal, $method:ident ( $ctx:expr $(, $arg:expr)* )) => {{
        // Dropped (and its copy of the encrypt key zeroized) when this
        // future completes or is dropped.
        let ctx = $handle.budgeted($ctx);
        let (mut store, stderr) = $handle.new_store()?;
        let pre = &$handle.runtime.pre;
        let call = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance
                .chipi_session_session()
                .$method(&mut store, ctx.record() $(, $arg)*)
                .await
        };
        let result = $handle.finish($op, &stderr, call).await;
        // The per-call store (the guest's memory, with its lowered copy of
        // the context) goes away with the call.
        drop(store);
        drop(ctx);
        result
    }};
}

impl SessionHandle {
    pub(crate) fn new(runtime: Arc<RuntimeInner>, imports: Imports) -> Self {
        let allow = AllowList::parse(&imports.allowed_authorities)
            .map(Arc::new)
            .map_err(|err| format!("{err:#}"));
        Self {
            runtime,
            imports,
            allow,
            denied: DeniedCounter::default(),
        }
    }

    /// Number of outgoing requests refused by the authority allow-list so far
    /// (across every call made through this handle and its clones).
    pub fn denied_requests(&self) -> u64 {
        self.denied.get()
    }

    /// The imports this handle calls the component with.
    pub fn imports(&self) -> &Imports {
        &self.imports
    }

    /// `create-session`: create a session key pair, encrypt and store it.
    pub async fn create_session(
        &self,
        ctx: &SessionContext,
        options: &CreateOptions,
    ) -> anyhow::Result<Result<SessionKeyData, SessionError>> {
        guest_call!(self, "create-session", call_create_session(ctx, *options))
    }

    /// `register-session`: register the stored session on chain; returns the
    /// transaction hash.
    pub async fn register_session(
        &self,
        ctx: &SessionContext,
        options: &RegisterOptions,
    ) -> anyhow::Result<Result<String, SessionError>> {
        guest_call!(
            self,
            "register-session",
            call_register_session(ctx, options)
        )
    }

    /// `execute-with-session`: execute `calls` signed by the session key;
    /// returns the transaction hash.
    pub async fn execute_with_session(
        &self,
        ctx: &SessionContext,
        calls: &[Call],
    ) -> anyhow::Result<Result<String, SessionError>> {
        guest_call!(
            self,
            "execute-with-session",
            call_execute_with_session(ctx, calls)
        )
    }

    /// `revoke-session`: revoke the stored session on chain; returns the
    /// transaction hash.
    pub async fn revoke_session(
        &self,
        ctx: &SessionContext,
    ) -> anyhow::Result<Result<String, SessionError>> {
        guest_call!(self, "revoke-session", call_revoke_session(ctx))
    }

    /// `clear-session`: forget the stored session locally.
    pub async fn clear_session(
        &self,
        ctx: &SessionContext,
    ) -> anyhow::Result<Result<(), SessionError>> {
        guest_call!(self, "clear-session", call_clear_session(ctx))
    }

    /// `get-session-status`: lifecycle state, stored session, on-chain data.
    pub async fn get_session_status(
        &self,
        ctx: &SessionContext,
    ) -> anyhow::Result<Result<SessionStatus, SessionError>> {
        guest_call!(self, "get-session-status", call_get_session_status(ctx))
    }

    /// `set-spending-policy`: set a token spending policy (owner-signed);
    /// returns the transaction hash.
    pub async fn set_spending_policy(
        &self,
        ctx: &SessionContext,
        policy: &SpendingPolicyInput,
    ) -> anyhow::Result<Result<String, SessionError>> {
        guest_call!(
            self,
            "set-spending-policy",
            call_set_spending_policy(ctx, policy)
        )
    }

    /// `get-spending-policy`: the policy for `token`, `None` when unset.
    pub async fn get_spending_policy(
        &self,
        ctx: &SessionContext,
        token: &str,
    ) -> anyhow::Result<Result<Option<SpendingPolicy>, SessionError>> {
        guest_call!(
            self,
            "get-spending-policy",
            call_get_spending_policy(ctx, token)
        )
    }

    /// `remove-spending-policy`: remove the policy for `token` (owner-signed);
    /// returns the transaction hash.
    pub async fn remove_spending_policy(
        &self,
        ctx: &SessionContext,
        token: &str,
    ) -> anyhow::Result<Result<String, SessionError>> {
        guest_call!(
            self,
            "remove-spending-policy",
            call_remove_spending_policy(ctx, token)
        )
    }

    /// `ctx` as the generated WIT record for one call, with its time budget
    /// fitted inside this runtime's hard per-call limit (see
    /// [`fit_timeout_ms`](super::context::fit_timeout_ms)), so the component
    /// runs out of time (and says so with a typed error) before the host has
    /// to stop it. The returned value zeroizes its copy of the encrypt key
    /// when dropped.
    pub(super) fn budgeted(&self, ctx: &SessionContext) -> LoweredContext {
        LoweredContext::new(ctx, self.runtime.call_timeout)
    }

    /// A fresh store with limits, epoch deadline and the sandboxed WASI state.
    fn new_store(&self) -> anyhow::Result<(Store<HostState>, StderrCapture)> {
        let allow = match &self.allow {
            Ok(allow) => Arc::clone(allow),
            Err(err) => return Err(anyhow!("invalid allowed authorities: {err}")),
        };
        let stderr = StderrCapture::default();
        let state = HostState::new(HostStateParts {
            http_policy: HttpPolicy::new(allow, self.denied.clone()),
            memory_limit_bytes: self.runtime.memory_limit_bytes,
            store: Arc::clone(&self.imports.store),
            token: Arc::clone(&self.imports.token),
            clock: self.imports.clock.clone(),
            stderr: stderr.clone(),
        });
        let mut store = Store::new(&self.runtime.engine, state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(deadline_ticks(self.runtime.call_timeout));
        store.epoch_deadline_trap();
        Ok((store, stderr))
    }

    /// Await `call` under the wall-clock limit and turn traps into errors.
    async fn finish<R>(
        &self,
        op: &'static str,
        stderr: &StderrCapture,
        call: impl Future<Output = wasmtime::Result<R>>,
    ) -> anyhow::Result<R> {
        let limit = self.runtime.call_timeout;
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(value)) => {
                self.report_warnings(stderr);
                Ok(value)
            }
            Ok(Err(err)) => Err(call_error(op, limit, err, stderr)),
            // The guest was waiting on the host (usually HTTP) at the deadline.
            Err(_) => Err(anyhow!(
                "component call `{op}` exceeded the time limit of {limit:?} (waiting on the host)"
            )),
        }
    }
}

impl SessionHandle {
    /// Hand the `warning: ` lines of a call that returned normally to the
    /// warning sink, if one is installed.
    fn report_warnings(&self, stderr: &StderrCapture) {
        if let Some(sink) = &self.imports.on_warning {
            for warning in stderr.warnings() {
                sink(&warning);
            }
        }
    }
}

/// Describe a failed call: time-outs get a clear message, other traps keep
/// wasmtime's description and the guest's stderr (panic message), if any.
fn call_error(
    op: &str,
    limit: std::time::Duration,
    err: wasmtime::Error,
    stderr: &StderrCapture,
) -> anyhow::Error {
    if matches!(err.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        return anyhow!(
            "component call `{op}` exceeded the time limit of {limit:?} (interrupted while running)"
        );
    }
    let err = anyhow::Error::from(err);
    let err = match stderr.text() {
        Some(text) => err.context(format!("guest stderr: {}", redact_urls_in(&text))),
        None => err,
    };
    err.context(format!("component call `{op}` failed"))
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle")
            .field("imports", &self.imports)
            .field("denied_requests", &self.denied.get())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compile-time check: the call futures can be spawned on a multi-threaded
    /// runtime (never called).
    #[allow(dead_code, reason = "type-checked only")]
    async fn futures_are_send(handle: SessionHandle, ctx: SessionContext) {
        fn is_send<T: Send>(value: T) -> T {
            value
        }
        let create = CreateOptions {
            duration_seconds: None,
            replace_existing: false,
        };
        let _ = is_send(handle.create_session(&ctx, &create)).await;
        let _ = is_send(handle.execute_with_session(&ctx, &[])).await;
        let _ = is_send(handle.get_session_status(&ctx)).await;
        let _ = is_send(handle.get_spending_policy(&ctx, "0x1")).await;
        let handle2 = handle.clone();
        let ctx2 = ctx.clone();
        let _ = tokio::spawn(async move { handle2.revoke_session(&ctx2).await }).await;
    }
}
