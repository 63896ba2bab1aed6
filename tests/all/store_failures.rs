//! A session store that fails after the transaction was sent: the caller still
//! gets the transaction hash, with a warning saying the record is stale.

use std::sync::{Arc, Mutex};

use chipi_session_e2e::{ok, runtime, Harness, Stateless};
use chipi_session_host::runtime::{authorities_from_urls, Imports, RegisterOptions, StaticToken};
use chipi_session_host::store::{MemoryStore, SessionStore, StoreError};
use chipi_session_sandbox::Sandbox;

/// A store that fails every write once the sandbox has received a
/// transaction (a disk that fills up between sending and recording).
struct FailsAfterSend {
    inner: Arc<MemoryStore>,
    sandbox: Arc<Sandbox>,
}

impl FailsAfterSend {
    fn check(&self) -> Result<(), StoreError> {
        let sent = self
            .sandbox
            .requests()
            .iter()
            .any(|r| r.path.ends_with("execute-sponsored-transaction"));
        if sent {
            Err(StoreError::Backend("disk full".into()))
        } else {
            Ok(())
        }
    }
}

impl SessionStore for FailsAfterSend {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.compare_and_swap(key, expected, new)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_failure_after_the_send_returns_the_hash_with_a_warning() {
    let h = Harness::start().await;
    h.create().await;
    let store = Arc::new(FailsAfterSend {
        inner: Arc::clone(&h.store),
        sandbox: Arc::clone(&h.sandbox),
    });
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&seen);
    let config = h.config();
    let urls = [config.api_base_url.as_str(), config.rpc_urls[0].as_str()];
    let imports = Imports::new(store, Arc::new(StaticToken::new(h.bearer.clone())))
        .with_allowed_authorities(authorities_from_urls(&urls).expect("valid URLs"))
        .with_warning_sink(move |w| sink.lock().unwrap().push(w.to_owned()));
    let handle = Stateless::new(runtime(), imports);
    let options = RegisterOptions {
        valid_until: None,
        max_calls: Some(5),
        allowed_entrypoints: vec!["transfer".into()],
        idempotency_key: None,
    };
    let tx = ok(handle.register_session(&h.ctx(), &options).await);
    assert!(tx.starts_with("0x"), "{tx}");
    let warnings = seen.lock().unwrap().clone();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains(&tx), "{warnings:?}");
    assert!(!warnings[0].starts_with("warning:"), "{warnings:?}");
    assert!(
        !warnings[0].contains(chipi_session_e2e::PIN),
        "{warnings:?}"
    );
}
