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
//!   encrypt key or kind, wallet record or configuration) never uses that
//!   session, so a wrong PIN never rides on a key another caller unlocked.
//!   Once the pooled session has proven its key (a register, execute, revoke
//!   or spending-policy change succeeded with it), the other context gets a
//!   session of its own, outside the pool, and the pooled one stays warm; a
//!   pooled session that proved nothing yet is replaced.
//! - Failed unlocks (`SESSION_DECRYPTION_FAILED`) count per wallet: past
//!   [`PoolOptions::unlock_attempts`] within [`PoolOptions::unlock_window`],
//!   sessions of that wallet that did not prove their key are refused without
//!   running Argon2id until the window has passed. Proven sessions go on.
//! - When the pool is full, sessions that proved nothing are evicted before
//!   proven ones, least recently used first: cheap `session()` calls do not
//!   flush the warm keys.
//! - Wallets are keyed by the address's value, read like the component reads
//!   it (`0x`-hex or decimal): `"0x011"`, `"0X11"` and `"17"` are one wallet;
//!   an address the component would refuse is never pooled.
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
use super::unlock_limit::{UnlockGate, UnlockLimiter};
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
    /// Failed unlocks of one wallet allowed within
    /// [`unlock_window`](Self::unlock_window) before its unproven sessions
    /// are refused (default 5).
    pub unlock_attempts: u32,
    /// The sliding window of [`unlock_attempts`](Self::unlock_attempts)
    /// (default 60 s).
    pub unlock_window: Duration,
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
            unlock_attempts: 5,
            unlock_window: Duration::from_secs(60),
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
        anyhow::ensure!(
            self.unlock_attempts > 0,
            "the pool needs unlock_attempts > 0"
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
    unlocks: Arc<UnlockLimiter>,
}

struct Entry {
    session: WalletSession,
    last_used: Instant,
}

/// The pool key of a wallet address: its value as `0x` + lower-case hex
/// without leading zeros. The address is read like the component reads a
/// felt: `0x`/`0X` then hex digits, or decimal digits; nothing else (no
/// sign, no whitespace). `None` for anything the component would refuse
/// (values of 256 bits and more included).
pub(crate) fn wallet_key(address: &str) -> Option<String> {
    let (digits, radix) = match address
        .strip_prefix("0x")
        .or_else(|| address.strip_prefix("0X"))
    {
        Some(hex) => (hex, 16u32),
        None => (address, 10u32),
    };
    if digits.is_empty() {
        return None;
    }
    // Big-endian 256-bit accumulator: value = value * radix + digit.
    let mut value = [0u8; 32];
    for c in digits.chars() {
        let mut carry = c.to_digit(radix)?;
        for byte in value.iter_mut().rev() {
            let next = u32::from(*byte) * radix + carry;
            *byte = (next & 0xff) as u8;
            carry = next >> 8;
        }
        if carry != 0 {
            return None;
        }
    }
    let hex = hex::encode(value);
    let trimmed = hex.trim_start_matches('0');
    Some(format!(
        "0x{}",
        if trimmed.is_empty() { "0" } else { trimmed }
    ))
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
                unlocks: Arc::new(UnlockLimiter::new(
                    options.unlock_attempts,
                    options.unlock_window,
                )),
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
    /// with the same context. Otherwise a new one (locked) that takes the
    /// pooled one's place, unless the pooled one proved its key: then the
    /// new one is this caller's own, outside the pool (see the module
    /// documentation). Evicts idle sessions, and one session when the pool
    /// is full (unproven ones first, least recently used first).
    pub async fn session(&self, ctx: &SessionContext) -> anyhow::Result<WalletSession> {
        let worker_for_own = || self.inner.least_loaded();
        let Some(key) = wallet_key(&ctx.wallet.address) else {
            // The component refuses the address; nothing to keep warm.
            return Ok(WalletSession::new(worker_for_own(), ctx.clone()));
        };
        let gate = UnlockGate {
            limiter: Arc::clone(&self.inner.unlocks),
            wallet: key.clone(),
        };
        let now = Instant::now();
        let (session, evicted) = {
            let mut entries = self.lock_entries();
            let mut evicted = self.inner.take_idle(&mut entries, now);
            match entries.get_mut(&key) {
                Some(entry) if same_context(entry.session.context(), ctx) => {
                    entry.last_used = now;
                    (entry.session.clone(), evicted)
                }
                Some(entry) if entry.session.is_proven() => {
                    // Keep the proven warm session; this context gets its own.
                    let own = WalletSession::with_gate(worker_for_own(), ctx.clone(), Some(gate));
                    (own, evicted)
                }
                _ => {
                    if let Some(old) = entries.remove(&key) {
                        evicted.push(old.session);
                    }
                    while entries.len() >= self.inner.options.max_sessions {
                        let Some(victim) = entries
                            .iter()
                            .min_by_key(|(_, e)| (e.session.is_proven(), e.last_used))
                            .map(|(k, _)| k.clone())
                        else {
                            break;
                        };
                        if let Some(old) = entries.remove(&victim) {
                            evicted.push(old.session);
                        }
                    }
                    let session = WalletSession::with_gate(
                        self.inner.least_loaded(),
                        ctx.clone(),
                        Some(gate),
                    );
                    entries.insert(
                        key,
                        Entry {
                            session: session.clone(),
                            last_used: now,
                        },
                    );
                    (session, evicted)
                }
            }
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
        let Some(key) = wallet_key(wallet) else {
            return false;
        };
        let removed = self.lock_entries().remove(&key);
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
        wallet_key(wallet).is_some_and(|key| self.lock_entries().contains_key(&key))
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
    fn wallet_keys_are_the_address_value() {
        let key = |a: &str| wallet_key(a);
        assert_eq!(key("0x00ABc").as_deref(), Some("0xabc"));
        assert_eq!(key("0XaBc").as_deref(), Some("0xabc"));
        assert_eq!(key("0x11").as_deref(), Some("0x11"));
        // Decimal, as the component reads it: "17" is 0x11, not 0x17.
        assert_eq!(key("17").as_deref(), Some("0x11"));
        assert_ne!(key("17"), key("0x17"));
        assert_eq!(key("0").as_deref(), Some("0x0"));
        assert_eq!(key("0x0").as_deref(), Some("0x0"));
        assert_ne!(key("0xabc"), key("0xabd"));
        for refused in [
            "", "0x", " 0xabc", "0xabc ", "+17", "-1", "0xg", "1a", "0x0x1",
        ] {
            assert_eq!(key(refused), None, "{refused:?}");
        }
        assert_eq!(key(&format!("0x1{}", "0".repeat(64))), None, "256 bits");
    }

    /// The pool's reading of an address is the component's: the same value
    /// for every address it accepts, and no pooling of what it refuses.
    #[test]
    fn wallet_keys_match_the_components_reading() {
        use chipi_session_guest::crypto::felt::{felt_to_hex, parse_felt};
        let mut inputs: Vec<String> = vec![
            "0".into(),
            "00017".into(),
            "0x0".into(),
            "0X00aBcD".into(),
            format!("0x{}", "f".repeat(64)),
            format!("0x7{}", "f".repeat(62)),
            "0x800000000000011000000000000000000000000000000000000000000000001".into(),
            "3618502788666131213697322783095070105623107215331596699973092056135872020481".into(),
            "3618502788666131213697322783095070105623107215331596699973092056135872020480".into(),
        ];
        // Pseudo-random spellings (xorshift): hex and decimal of random
        // widths, upper and lower case, leading zeros.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..2_000 {
            let len = (next() % 80) as usize + 1;
            let hex = next() % 2 == 0;
            let alphabet: &[u8] = if hex {
                b"0123456789abcdefABCDEF"
            } else {
                b"0123456789"
            };
            let digits: String = (0..len)
                .map(|_| char::from(alphabet[(next() % alphabet.len() as u64) as usize]))
                .collect();
            inputs.push(if hex { format!("0x{digits}") } else { digits });
        }
        for input in &inputs {
            match parse_felt(input) {
                Ok(felt) => assert_eq!(
                    wallet_key(input).as_deref(),
                    Some(felt_to_hex(&felt).as_str()),
                    "{input}"
                ),
                // Refused by the component: either not pooled, or (a value
                // of the field's range and above) a key no accepted address has.
                Err(_) => {
                    if let Some(key) = wallet_key(input) {
                        let value = parse_felt(&key);
                        assert!(value.is_err(), "{input} pooled as a valid felt {key}");
                    }
                }
            }
        }
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
