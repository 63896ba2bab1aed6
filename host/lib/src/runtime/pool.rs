//! [`SessionPool`]: warm wallet sessions for servers, keyed by wallet, on a
//! fixed set of shared instances.
//!
//! - At most [`PoolOptions::max_sessions`] sessions; opening one more evicts
//!   the least recently used.
//! - A session unused for [`PoolOptions::idle_timeout`] is evicted (checked
//!   on every access and by a background sweep).
//! - Evicting drops the session's resource in the component, whose
//!   destructor zeroizes its keys.
//! - A request whose context differs from the pooled session's (another
//!   encrypt key, wallet record or configuration) never uses that session:
//!   the old one is evicted and a new one, locked, takes its place. A wrong
//!   PIN therefore never rides on a key another caller unlocked.
//! - Sessions live as resources in [`PoolOptions::instances`] instances, so
//!   memory grows with the number of instances, not with the number of
//!   wallets (docs/warm-sessions.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use super::context::SessionContext;
use super::engine::RuntimeInner;
use super::imports::Imports;
use super::session::WalletSession;
use super::worker::Worker;

/// Options of a [`SessionPool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolOptions {
    /// Most warm sessions kept (default 1024).
    pub max_sessions: usize,
    /// A session unused this long is evicted (default 5 minutes).
    pub idle_timeout: Duration,
    /// Component instances the sessions are spread over; also the number of
    /// calls that can run at once (default: available parallelism, at
    /// least 2).
    pub instances: usize,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_sessions: 1024,
            idle_timeout: Duration::from_secs(300),
            instances: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2)
                .max(2),
        }
    }
}

impl PoolOptions {
    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.max_sessions > 0, "the pool needs max_sessions > 0");
        anyhow::ensure!(self.instances > 0, "the pool needs instances > 0");
        anyhow::ensure!(
            !self.idle_timeout.is_zero(),
            "the pool needs a non-zero idle timeout"
        );
        Ok(())
    }
}

/// Warm sessions keyed by wallet (see the module documentation).
///
/// Cloning is cheap (shared state). Created inside a Tokio runtime, it also
/// sweeps idle sessions in the background until the last clone is dropped.
#[derive(Clone)]
pub struct SessionPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    options: PoolOptions,
    workers: Vec<Arc<Worker>>,
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    session: WalletSession,
    last_used: Instant,
}

/// The pool key of a wallet address: lower-case hex without leading zeros.
fn wallet_key(address: &str) -> String {
    let trimmed = address.trim();
    let hex = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .unwrap_or(trimmed);
    let hex = hex.trim_start_matches('0').to_ascii_lowercase();
    format!("0x{hex}")
}

/// True when `a` and `b` are the same caller for the same wallet: equal
/// wallet record and configuration, and equal encrypt keys (compared in
/// constant time).
fn same_context(a: &SessionContext, b: &SessionContext) -> bool {
    let keys_equal: bool = a
        .encrypt_key
        .expose()
        .as_bytes()
        .ct_eq(b.encrypt_key.expose().as_bytes())
        .into();
    keys_equal
        && a.encrypt_key_kind == b.encrypt_key_kind
        && a.wallet == b.wallet
        && a.config == b.config
}

impl SessionPool {
    pub(crate) fn new(
        runtime: Arc<RuntimeInner>,
        imports: Imports,
        options: PoolOptions,
    ) -> anyhow::Result<Self> {
        options.validate()?;
        let workers = (0..options.instances)
            .map(|_| Arc::new(Worker::new(Arc::clone(&runtime), imports.clone())))
            .collect();
        let pool = Self {
            inner: Arc::new(PoolInner {
                options,
                workers,
                entries: Mutex::new(HashMap::new()),
            }),
        };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&pool.inner);
            let every = (options.idle_timeout / 4)
                .clamp(Duration::from_millis(50), Duration::from_secs(30));
            handle.spawn(sweep(weak, every));
        }
        Ok(pool)
    }

    /// The options the pool was made with.
    pub fn options(&self) -> PoolOptions {
        self.inner.options
    }

    /// The warm session of `ctx`'s wallet: the pooled one when it was opened
    /// with the same context, otherwise a new one (locked) that replaces it.
    /// Evicts idle sessions, and the least recently used one when the pool
    /// is full.
    pub async fn session(&self, ctx: &SessionContext) -> anyhow::Result<WalletSession> {
        let key = wallet_key(&ctx.wallet.address);
        let now = Instant::now();
        let (session, evicted) = {
            let mut entries = self.lock_entries();
            let mut evicted = self.inner.take_idle(&mut entries, now);
            let reusable = entries
                .get(&key)
                .is_some_and(|e| same_context(e.session.context(), ctx));
            if !reusable {
                if let Some(old) = entries.remove(&key) {
                    evicted.push(old.session);
                }
                while entries.len() >= self.inner.options.max_sessions {
                    let Some(lru) = entries
                        .iter()
                        .min_by_key(|(_, e)| e.last_used)
                        .map(|(k, _)| k.clone())
                    else {
                        break;
                    };
                    if let Some(old) = entries.remove(&lru) {
                        evicted.push(old.session);
                    }
                }
                let worker = self.inner.least_loaded();
                entries.insert(
                    key.clone(),
                    Entry {
                        session: WalletSession::new(worker, ctx.clone()),
                        last_used: now,
                    },
                );
            }
            let entry = entries
                .get_mut(&key)
                .ok_or_else(|| anyhow::anyhow!("pool entry vanished"))?;
            entry.last_used = now;
            (entry.session.clone(), evicted)
        };
        // Their resources are dropped in the background (each session's drop
        // schedules it), so this request does not wait for another
        // instance's call in flight.
        drop(evicted);
        Ok(session)
    }

    /// Evict the sessions idle for longer than the idle timeout; returns how
    /// many were evicted.
    pub async fn evict_idle(&self) -> usize {
        self.inner.evict_idle().await
    }

    /// Evict the session of `wallet`, if pooled; returns whether one was.
    pub async fn evict(&self, wallet: &str) -> bool {
        let removed = self.lock_entries().remove(&wallet_key(wallet));
        let found = removed.is_some();
        self.inner
            .release(removed.map(|e| e.session).into_iter().collect())
            .await;
        found
    }

    /// Evict every session (their keys are zeroized in the component).
    pub async fn clear(&self) {
        let all: Vec<WalletSession> = self
            .lock_entries()
            .drain()
            .map(|(_, e)| e.session)
            .collect();
        self.inner.release(all).await;
    }

    /// Number of pooled sessions.
    pub fn len(&self) -> usize {
        self.lock_entries().len()
    }

    /// True when no session is pooled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when a session of `wallet` is pooled.
    pub fn contains(&self, wallet: &str) -> bool {
        self.lock_entries().contains_key(&wallet_key(wallet))
    }

    fn lock_entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl PoolInner {
    /// Remove the entries idle at `now`.
    fn take_idle(&self, entries: &mut HashMap<String, Entry>, now: Instant) -> Vec<WalletSession> {
        let idle: Vec<String> = entries
            .iter()
            .filter(|(_, e)| now.duration_since(e.last_used) >= self.options.idle_timeout)
            .map(|(k, _)| k.clone())
            .collect();
        idle.into_iter()
            .filter_map(|k| entries.remove(&k).map(|e| e.session))
            .collect()
    }

    async fn evict_idle(&self) -> usize {
        let idle = {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            self.take_idle(&mut entries, Instant::now())
        };
        let count = idle.len();
        self.release(idle).await;
        count
    }

    /// The worker with the fewest sessions.
    fn least_loaded(&self) -> Arc<Worker> {
        let mut best = &self.workers[0];
        for worker in &self.workers[1..] {
            if worker.load() < best.load() {
                best = worker;
            }
        }
        Arc::clone(best)
    }

    /// Drop evicted sessions and, where no caller still holds them, their
    /// resources in the component right away.
    async fn release(&self, evicted: Vec<WalletSession>) {
        if evicted.is_empty() {
            return;
        }
        drop(evicted);
        for worker in &self.workers {
            // A failure discards that instance, which releases its memory too.
            let _ = worker.flush_retired().await;
        }
    }
}

/// Background sweep: evict idle sessions every `every` until the pool is gone.
async fn sweep(pool: Weak<PoolInner>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        pool.evict_idle().await;
    }
}

impl std::fmt::Debug for SessionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionPool")
            .field("options", &self.inner.options)
            .field("sessions", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_keys_normalise_the_address() {
        assert_eq!(wallet_key("0x00ABc"), "0xabc");
        assert_eq!(wallet_key("0XaBc"), "0xabc");
        assert_eq!(wallet_key(" 0xabc "), "0xabc");
        assert_ne!(wallet_key("0xabc"), wallet_key("0xabd"));
    }

    #[test]
    fn default_options_are_valid() {
        PoolOptions::default().validate().unwrap();
        let zero = PoolOptions {
            max_sessions: 0,
            ..PoolOptions::default()
        };
        assert!(zero.validate().is_err());
    }
}
