//! [`Worker`]: one long-lived, sandboxed instance of the component and the
//! `wallet-session` resources it holds.
//!
//! A worker instantiates the component on first use and keeps the instance
//! between calls, so warm sessions keep their unlocked keys. Calls on one
//! worker run one at a time (a wasmtime store is used by one call at a
//! time). A call that traps, runs out of time or is cancelled discards the
//! instance and every resource in it (their memory is released with the
//! store); the sessions are constructed again, locked, on their next call.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as SyncMutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use tokio::sync::{Mutex, MutexGuard};
use wasmtime::component::ResourceAny;
use wasmtime::{Store, Trap};

use super::bindings::SessionEngine;
use super::context::{LoweredContext, SessionContext};
use super::engine::{deadline_ticks, RuntimeInner};
use super::host_state::{HostState, HostStateParts, StderrCapture};
use super::http_policy::{AllowList, DeniedCounter, HttpPolicy};
use super::imports::Imports;
use super::redact::redact_urls_in;

/// One instance (created lazily) and its resources.
pub(crate) struct Worker {
    runtime: Arc<RuntimeInner>,
    imports: Imports,
    allow: Result<Arc<AllowList>, String>,
    denied: DeniedCounter,
    live: Mutex<Option<Live>>,
    /// Sessions placed on this worker and not yet dropped.
    sessions: AtomicUsize,
    next_id: AtomicU64,
    /// Sessions dropped whose resources are still in the instance.
    retired: SyncMutex<Vec<u64>>,
    /// How long the last instantiation took.
    last_instantiate: SyncMutex<Option<Duration>>,
}

/// A live instance.
pub(crate) struct Live {
    pub(crate) store: Store<HostState>,
    pub(crate) bindings: SessionEngine,
    stderr: StderrCapture,
    resources: HashMap<u64, ResourceAny>,
}

/// The worker locked for one call, with the session's resource constructed.
///
/// The instance is taken out of the worker for the call and put back only
/// when the call completed ([`Self::keep`]): a call that trapped, timed out
/// or whose future was dropped half-way leaves no instance behind.
pub(crate) struct Locked<'a> {
    guard: MutexGuard<'a, Option<Live>>,
    live: Option<Live>,
    resource: ResourceAny,
    keep: bool,
}

impl Locked<'_> {
    /// The instance and the session's resource.
    pub(crate) fn parts(&mut self) -> Option<(&mut Live, ResourceAny)> {
        let resource = self.resource;
        self.live.as_mut().map(|live| (live, resource))
    }

    /// The call completed: the instance goes back to the worker.
    pub(crate) fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if self.keep {
            *self.guard = self.live.take();
        }
    }
}

impl Worker {
    pub(crate) fn new(runtime: Arc<RuntimeInner>, imports: Imports) -> Self {
        let allow = AllowList::parse(&imports.allowed_authorities)
            .map(Arc::new)
            .map_err(|err| format!("{err:#}"));
        Self {
            runtime,
            imports,
            allow,
            denied: DeniedCounter::default(),
            live: Mutex::new(None),
            sessions: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            retired: SyncMutex::new(Vec::new()),
            last_instantiate: SyncMutex::new(None),
        }
    }

    pub(crate) fn runtime(&self) -> &RuntimeInner {
        &self.runtime
    }

    pub(crate) fn imports(&self) -> &Imports {
        &self.imports
    }

    pub(crate) fn denied_requests(&self) -> u64 {
        self.denied.get()
    }

    /// Sessions placed on this worker.
    pub(crate) fn load(&self) -> usize {
        self.sessions.load(Ordering::Relaxed)
    }

    /// How long the last instantiation took, if any happened.
    pub(crate) fn last_instantiate(&self) -> Option<Duration> {
        *self
            .last_instantiate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A new session id on this worker.
    pub(crate) fn attach(&self) -> u64 {
        self.sessions.fetch_add(1, Ordering::Relaxed);
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The session `id` was dropped: its resource goes at the next
    /// opportunity ([`Self::flush_retired`], or the next call).
    pub(crate) fn detach(&self, id: u64) {
        self.sessions.fetch_sub(1, Ordering::Relaxed);
        self.retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(id);
    }

    /// Drop the resources of detached sessions (the guest zeroizes their
    /// keys in their destructors).
    pub(crate) async fn flush_retired(&self) -> anyhow::Result<()> {
        let mut live = self.live.lock().await;
        self.drop_retired(&mut live).await
    }

    async fn drop_retired(&self, slot: &mut Option<Live>) -> anyhow::Result<()> {
        let ids: Vec<u64> =
            std::mem::take(&mut *self.retired.lock().unwrap_or_else(PoisonError::into_inner));
        // Taken out while the guest runs: if this future is dropped half-way,
        // the instance goes with it.
        let Some(mut live) = slot.take() else {
            return Ok(());
        };
        for id in ids {
            if let Some(resource) = live.resources.remove(&id) {
                live.arm(self.runtime.call_timeout);
                let dropped = tokio::time::timeout(
                    self.runtime.call_timeout,
                    resource.resource_drop_async(&mut live.store),
                )
                .await;
                if !matches!(dropped, Ok(Ok(()))) {
                    return Err(anyhow!(
                        "dropping a wallet session failed; the instance was discarded"
                    ));
                }
                self.report_warnings(&live.stderr);
            }
        }
        *slot = Some(live);
        Ok(())
    }

    /// Lock the worker for a call of session `id`, instantiating the
    /// component and constructing the session's resource from `ctx` when
    /// needed.
    pub(crate) async fn lock(&self, id: u64, ctx: &SessionContext) -> anyhow::Result<Locked<'_>> {
        let mut guard = self.live.lock().await;
        self.drop_retired(&mut guard).await?;
        let mut live = match guard.take() {
            Some(live) => live,
            None => self.instantiate().await?,
        };
        let resource = match live.resources.get(&id) {
            Some(resource) => *resource,
            None => {
                let lowered = LoweredContext::new(ctx, self.runtime.call_timeout);
                live.arm(self.runtime.call_timeout);
                let constructed = tokio::time::timeout(
                    self.runtime.call_timeout,
                    live.bindings
                        .chipi_session_session()
                        .wallet_session()
                        .call_constructor(&mut live.store, lowered.record()),
                )
                .await;
                drop(lowered);
                let resource = match constructed {
                    Ok(Ok(resource)) => resource,
                    Ok(Err(err)) => {
                        return Err(anyhow::Error::from(err)
                            .context("constructing the wallet session failed"))
                    }
                    Err(_) => {
                        return Err(anyhow!(
                            "constructing the wallet session exceeded the time limit of {:?}",
                            self.runtime.call_timeout
                        ))
                    }
                };
                live.resources.insert(id, resource);
                resource
            }
        };
        Ok(Locked {
            guard,
            live: Some(live),
            resource,
            keep: false,
        })
    }

    /// A fresh store with limits and the sandboxed WASI state, and the
    /// component instantiated in it.
    async fn instantiate(&self) -> anyhow::Result<Live> {
        let allow = match &self.allow {
            Ok(allow) => Arc::clone(allow),
            Err(err) => return Err(anyhow!("invalid allowed authorities: {err}")),
        };
        let started = Instant::now();
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
        let bindings = tokio::time::timeout(
            self.runtime.call_timeout,
            self.runtime.pre.instantiate_async(&mut store),
        )
        .await
        .map_err(|_| {
            anyhow!(
                "instantiating the component exceeded the time limit of {:?}",
                self.runtime.call_timeout
            )
        })?
        .map_err(anyhow::Error::from)
        .map_err(|e| e.context("cannot instantiate the component"))?;
        *self
            .last_instantiate
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(started.elapsed());
        Ok(Live {
            store,
            bindings,
            stderr,
            resources: HashMap::new(),
        })
    }

    /// Await one call under the wall-clock limit; report the guest's
    /// warnings on success and turn traps into errors.
    pub(crate) async fn finish<R>(
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

impl Worker {
    /// Hand the guest's `warning: ` lines of a completed call to the
    /// warning sink, if one is installed.
    fn report_warnings(&self, stderr: &StderrCapture) {
        if let Some(sink) = &self.imports.on_warning {
            for warning in stderr.warnings() {
                sink(&warning);
            }
        }
    }
}

impl Live {
    /// Prepare the store for one call: a fresh epoch deadline and an empty
    /// stderr capture.
    pub(crate) fn arm(&mut self, limit: Duration) {
        self.store.set_epoch_deadline(deadline_ticks(limit));
        self.stderr.clear();
    }

    /// The stderr capture of this instance.
    pub(crate) fn stderr(&self) -> StderrCapture {
        self.stderr.clone()
    }
}

/// Describe a failed call: time-outs get a clear message, other traps keep
/// wasmtime's description and the guest's stderr (panic message), if any.
fn call_error(
    op: &str,
    limit: Duration,
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
