//! In-process session store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{SessionStore, StoreError};

/// A session store kept in memory. Clones share the same map, so one
/// `MemoryStore` can back several component instances; everything is lost when
/// the last clone is dropped.
#[derive(Clone, Default)]
pub struct MemoryStore {
    map: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys currently stored.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no key is stored.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Every stored key, sorted (values are not exposed, for test assertions).
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.lock().keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Write `value` under `key` unconditionally, bypassing compare-and-swap
    /// (for tests and tools that seed or tamper with records).
    pub fn insert(&self, key: &str, value: &[u8]) {
        self.lock().insert(key.to_owned(), value.to_vec());
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (every operation is a single HashMap call), so recover the guard.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("keys", &self.len())
            .finish()
    }
}

impl SessionStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().get(key).cloned())
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let mut map = self.lock();
        if map.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(value) => {
                map.insert(key.to_owned(), value.to_vec());
            }
            None => {
                map.remove(key);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance;

    #[test]
    fn memory_basic_ops() {
        conformance::basic_ops(&MemoryStore::new());
    }

    #[test]
    fn memory_cas_ops() {
        conformance::cas_ops(&MemoryStore::new());
    }

    #[test]
    fn memory_clones_share_data() {
        let a = MemoryStore::new();
        let b = a.clone();
        a.insert("k", b"v");
        assert_eq!(b.get("k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(b.keys(), vec!["k".to_owned()]);
        assert_eq!(b.len(), 1);
        assert!(!b.is_empty());
        assert!(!format!("{a:?}").contains('v'));
    }

    #[test]
    fn memory_cas_race_counts_exactly() {
        // Clones share the map: 8 threads, one store.
        let store = MemoryStore::new();
        conformance::concurrent_increments(move || Arc::new(store.clone()), 8, 200);
    }
}
