//! [`UnlockLimiter`]: failed unlocks counted per wallet, so that a pool stops
//! running Argon2id for contexts that keep failing to decrypt a wallet's
//! keys (a wrong PIN tried again and again).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::SessionError;

/// Failed unlocks per wallet within a sliding window.
#[derive(Debug)]
pub(crate) struct UnlockLimiter {
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl UnlockLimiter {
    /// At most `limit` failed unlocks per wallet in any `window`.
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Count one failed unlock of `wallet` (a pool key) now.
    pub(crate) fn record_failure(&self, wallet: &str) {
        let now = Instant::now();
        let mut failures = self.lock();
        self.forget_old(&mut failures, now);
        let times = failures.entry(wallet.to_owned()).or_default();
        times.push_back(now);
        // Only the latest `limit` failures decide anything.
        while times.len() > self.limit as usize {
            times.pop_front();
        }
    }

    /// How long until `wallet` may try to unlock again; `None` when it may
    /// now.
    pub(crate) fn retry_after(&self, wallet: &str) -> Option<Duration> {
        let now = Instant::now();
        let mut failures = self.lock();
        self.forget_old(&mut failures, now);
        let times = failures.get(wallet)?;
        if times.len() < self.limit as usize {
            return None;
        }
        let oldest = times.front()?;
        Some(self.window.saturating_sub(now.duration_since(*oldest)))
    }

    /// Drop failures older than the window, and wallets left with none.
    fn forget_old(&self, failures: &mut HashMap<String, VecDeque<Instant>>, now: Instant) {
        failures.retain(|_, times| {
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                times.pop_front();
            }
            !times.is_empty()
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a pooled session reports its unlock outcomes to.
#[derive(Clone, Debug)]
pub(crate) struct UnlockGate {
    /// The pool's limiter.
    pub(crate) limiter: Arc<UnlockLimiter>,
    /// The session's wallet, as the pool keys it.
    pub(crate) wallet: String,
}

impl UnlockGate {
    /// The refusal of a call while the wallet is locked out.
    pub(crate) fn refusal(&self) -> Option<SessionError> {
        let wait = self.limiter.retry_after(&self.wallet)?;
        Some(SessionError::SessionDecryptionFailed(format!(
            "too many failed unlocks for wallet {}: {} in {} s; retry in {} s",
            self.wallet,
            self.limiter.limit,
            self.limiter.window.as_secs(),
            wait.as_secs().max(1)
        )))
    }

    /// Count a failed unlock.
    pub(crate) fn failed(&self) {
        self.limiter.record_failure(&self.wallet);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_the_limit_until_the_window_passes() {
        let limiter = UnlockLimiter::new(3, Duration::from_millis(200));
        for _ in 0..2 {
            limiter.record_failure("0x1");
        }
        assert_eq!(limiter.retry_after("0x1"), None);
        limiter.record_failure("0x1");
        let wait = limiter.retry_after("0x1").expect("locked out");
        assert!(wait <= Duration::from_millis(200), "{wait:?}");
        // Another wallet is not affected.
        assert_eq!(limiter.retry_after("0x2"), None);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(limiter.retry_after("0x1"), None);
        assert!(limiter.lock().is_empty(), "old failures are forgotten");
    }

    #[test]
    fn the_refusal_names_the_wallet_and_the_wait() {
        let gate = UnlockGate {
            limiter: Arc::new(UnlockLimiter::new(1, Duration::from_secs(60))),
            wallet: "0xabc".into(),
        };
        assert!(gate.refusal().is_none());
        gate.failed();
        let Some(SessionError::SessionDecryptionFailed(message)) = gate.refusal() else {
            panic!("locked out")
        };
        assert!(
            message.contains("0xabc") && message.contains("retry in"),
            "{message}"
        );
    }
}
