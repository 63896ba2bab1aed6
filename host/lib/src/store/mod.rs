//! Session stores backing the component's `chipi:session/store` import.
//!
//! The component keeps one record per wallet (ciphertext and public data only)
//! and updates it with [`SessionStore::compare_and_swap`], so several host
//! instances sharing one store never overwrite each other's changes.
//!
//! - `SqliteStore` (cargo feature `sqlite`, on by default): a durable store in
//!   one `SQLite` file, safe to share between processes and connections.
//! - `RedisStore` (cargo feature `redis`): a store on a Redis server, shared
//!   by every process and machine pointing at it.
//! - [`MemoryStore`]: an in-process map, for tests and short-lived hosts.
//!
//! [`StoreUrl`] reads the URL forms a command line or configuration names a
//! store with (`PATH`, `sqlite:PATH`, `redis://`, `rediss://`, `memory:`).

mod location;
mod memory;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use location::{StoreUrl, StoreUrlError, STORE_URL_FORMS};
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::{RedisOptions, RedisStore};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// Failure of a session store operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store file or its directory could not be created, opened or secured.
    #[error("session store I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The backing database reported an error (including a lock that could not
    /// be acquired within the busy timeout).
    #[error("session store backend error: {0}")]
    Backend(String),
    /// The store's server could not be reached or did not answer in time. A
    /// read changed nothing; a write's outcome is unknown when the message
    /// says so (the component then treats the record as possibly changed).
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// The store's server answered something this client does not expect
    /// (for example a key of the wrong type under the prefix).
    #[error("session store answered unexpectedly: {0}")]
    Unexpected(String),
    /// The store is misconfigured (bad URL, missing certificate file, backend
    /// not compiled in).
    #[error("session store configuration error: {0}")]
    Config(String),
}

/// A key-value store for session records, shared by every component instance
/// of a host (and, for durable stores, by every host using the same backend).
///
/// Values are opaque bytes. The component reads with `get` and writes only
/// with [`compare_and_swap`](SessionStore::compare_and_swap) (which also
/// inserts and deletes), so this is the whole interface. Implementations must
/// make `compare_and_swap` atomic with respect to every other writer of the
/// same backend.
pub trait SessionStore: Send + Sync + 'static {
    /// Read the value stored under `key`, `None` when absent.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Atomically replace the value of `key` with `new` when its current value
    /// equals `expected` (`None` = the key must be absent). `new` of `None`
    /// deletes the key. Returns `false`, changing nothing, when the current
    /// value differs from `expected`.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError>;
}

#[cfg(test)]
pub(crate) mod conformance {
    //! Behaviour every [`SessionStore`] must have; run against each backend.

    use std::sync::{Arc, Barrier};

    use super::SessionStore;

    /// Write `value` under `key` whatever is there (a compare-and-swap loop).
    pub(crate) fn put(store: &dyn SessionStore, key: &str, value: &[u8]) {
        loop {
            let current = store.get(key).unwrap();
            if store
                .compare_and_swap(key, current.as_deref(), Some(value))
                .unwrap()
            {
                return;
            }
        }
    }

    /// Remove `key` whatever is there.
    pub(crate) fn remove(store: &dyn SessionStore, key: &str) {
        loop {
            let current = store.get(key).unwrap();
            if store
                .compare_and_swap(key, current.as_deref(), None)
                .unwrap()
            {
                return;
            }
        }
    }

    /// Reads, overwrites and deletes.
    pub(crate) fn basic_ops(store: &dyn SessionStore) {
        assert_eq!(store.get("a").unwrap(), None);
        put(store, "a", b"one");
        assert_eq!(store.get("a").unwrap().as_deref(), Some(&b"one"[..]));
        put(store, "a", b"two");
        assert_eq!(store.get("a").unwrap().as_deref(), Some(&b"two"[..]));
        // Empty values are values, not absence.
        put(store, "empty", b"");
        assert_eq!(store.get("empty").unwrap().as_deref(), Some(&b""[..]));
        // Keys are exact (case-sensitive, no prefix matching).
        assert_eq!(store.get("A").unwrap(), None);
        assert_eq!(store.get("").unwrap(), None);
        remove(store, "a");
        assert_eq!(store.get("a").unwrap(), None);
        // Deleting an absent key is fine.
        remove(store, "a");
        remove(store, "never-set");
        assert_eq!(store.get("empty").unwrap().as_deref(), Some(&b""[..]));
        // Arbitrary bytes and unicode keys round-trip.
        let bytes: Vec<u8> = (0..=255u8).collect();
        put(store, "clé/0x1", &bytes);
        assert_eq!(store.get("clé/0x1").unwrap(), Some(bytes));
    }

    /// compare-and-swap semantics.
    pub(crate) fn cas_ops(store: &dyn SessionStore) {
        // Expected absent, is absent: inserts.
        assert!(store.compare_and_swap("k", None, Some(b"v1")).unwrap());
        assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"v1"[..]));
        // Expected absent, is present: refused, unchanged.
        assert!(!store.compare_and_swap("k", None, Some(b"x")).unwrap());
        assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"v1"[..]));
        // Wrong expected value: refused, unchanged.
        assert!(!store
            .compare_and_swap("k", Some(b"v0"), Some(b"x"))
            .unwrap());
        assert!(!store.compare_and_swap("k", Some(b""), Some(b"x")).unwrap());
        assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"v1"[..]));
        // Right expected value: replaced.
        assert!(store
            .compare_and_swap("k", Some(b"v1"), Some(b"v2"))
            .unwrap());
        assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"v2"[..]));
        // Same value again is a successful no-op.
        assert!(store
            .compare_and_swap("k", Some(b"v2"), Some(b"v2"))
            .unwrap());
        // new = None deletes.
        assert!(!store.compare_and_swap("k", Some(b"v1"), None).unwrap());
        assert!(store.compare_and_swap("k", Some(b"v2"), None).unwrap());
        assert_eq!(store.get("k").unwrap(), None);
        // Expected a value on an absent key: refused, stays absent.
        assert!(!store
            .compare_and_swap("k", Some(b"v2"), Some(b"v3"))
            .unwrap());
        assert_eq!(store.get("k").unwrap(), None);
        // Absent -> absent is a successful no-op.
        assert!(store.compare_and_swap("k", None, None).unwrap());
        assert_eq!(store.get("k").unwrap(), None);
        // Empty value is distinct from absent.
        assert!(store.compare_and_swap("e", None, Some(b"")).unwrap());
        assert!(!store.compare_and_swap("e", None, Some(b"x")).unwrap());
        assert!(store.compare_and_swap("e", Some(b""), Some(b"x")).unwrap());
        assert_eq!(store.get("e").unwrap().as_deref(), Some(&b"x"[..]));
    }

    /// Increment a decimal counter stored under `key` with a CAS retry loop.
    pub(crate) fn cas_increment(store: &dyn SessionStore, key: &str) {
        loop {
            let current = store.get(key).unwrap();
            let n: u64 = match &current {
                Some(bytes) => std::str::from_utf8(bytes).unwrap().parse().unwrap(),
                None => 0,
            };
            let next = (n + 1).to_string();
            if store
                .compare_and_swap(key, current.as_deref(), Some(next.as_bytes()))
                .unwrap()
            {
                return;
            }
        }
    }

    /// `threads` threads, each with the store `open` gives it (a store of its
    /// own, or one shared store), increment one counter
    /// `increments` times at once: no increment may be lost or doubled.
    pub(crate) fn concurrent_increments(
        open: impl Fn() -> Arc<dyn SessionStore> + Send + Sync + 'static,
        threads: usize,
        increments: u64,
    ) {
        let open = Arc::new(open);
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let open = Arc::clone(&open);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    // Open concurrently too: set-up must tolerate it.
                    barrier.wait();
                    let store = open();
                    for _ in 0..increments {
                        cas_increment(store.as_ref(), "counter");
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(
            read_counter(open().as_ref(), "counter"),
            threads as u64 * increments
        );
    }

    /// Read the counter written by [`cas_increment`].
    pub(crate) fn read_counter(store: &dyn SessionStore, key: &str) -> u64 {
        match store.get(key).unwrap() {
            Some(bytes) => std::str::from_utf8(&bytes).unwrap().parse().unwrap(),
            None => 0,
        }
    }
}
