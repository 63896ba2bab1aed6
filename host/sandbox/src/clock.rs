//! A wall clock that can be shifted, shared by the sandbox (block time) and the
//! component's `wasi:clocks/wall-clock` import, so tests can move time forward.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// System time plus an adjustable offset in seconds. Cloning shares the offset.
#[derive(Clone, Debug, Default)]
pub struct SharedClock {
    offset_secs: Arc<AtomicI64>,
}

impl SharedClock {
    /// A clock that reads the system time with no offset.
    pub fn new() -> Self {
        Self::default()
    }

    /// Move this clock (and every clone) forward by `secs` seconds.
    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::SeqCst);
    }

    /// Current offset from the system time, in seconds.
    pub fn offset_secs(&self) -> i64 {
        self.offset_secs.load(Ordering::SeqCst)
    }

    /// Current time as a duration since the Unix epoch.
    pub fn now(&self) -> Duration {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let offset = self.offset_secs();
        if offset >= 0 {
            system + Duration::from_secs(offset.unsigned_abs())
        } else {
            system.saturating_sub(Duration::from_secs(offset.unsigned_abs()))
        }
    }

    /// Current Unix time in whole seconds.
    pub fn now_unix(&self) -> u64 {
        self.now().as_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_is_shared_between_clones() {
        let clock = SharedClock::new();
        let other = clock.clone();
        let before = other.now_unix();
        clock.advance(3600);
        let after = other.now_unix();
        assert!(after >= before + 3600 && after <= before + 3602);
        assert_eq!(other.offset_secs(), 3600);
    }
}
