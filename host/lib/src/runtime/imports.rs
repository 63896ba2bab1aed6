//! What a host provides to the component, and the `chipi:session/store` and
//! `chipi:session/credentials` host implementations.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use super::bindings::chipi::session::{credentials, store, types};
use super::host_state::HostState;
use super::http_policy::AllowList;
use super::limits::{oversized_store_value, MAX_STORE_VALUE_BYTES};
use super::token::TokenSource;
use crate::store::{SessionStore, StoreError};

/// Receives the warnings a component call reports on success (one message per
/// call of the function, without the `warning: ` prefix), e.g. "the
/// transaction was sent but the session store could not be updated".
pub type WarningSink = Arc<dyn Fn(&str) + Send + Sync>;

/// The time the component's `wasi:clocks/wall-clock` reports, as a duration
/// since the Unix epoch. A host that shifts time in tests (the sandbox's
/// shared clock) passes one; by default the system clock is used.
pub type WallClock = Arc<dyn Fn() -> std::time::Duration + Send + Sync>;

/// The host side of one [`SessionHandle`](super::SessionHandle): where
/// sessions are stored, where the bearer token comes from, which origins
/// the component may reach, (optionally) the clock it sees and where its
/// warnings go.
#[derive(Clone)]
pub struct Imports {
    /// Backs `chipi:session/store`.
    pub store: Arc<dyn SessionStore>,
    /// Backs `chipi:session/credentials`.
    pub token: Arc<dyn TokenSource>,
    /// Origins outgoing HTTP may reach, each one `(scheme, host, port)`:
    /// `scheme://host:port` (e.g. `http://127.0.0.1:8080`,
    /// `https://api.chipipay.com:443`), `scheme://host` (the scheme's default
    /// port) or a full `http(s)://` URL (path ignored). A bare `host:port` or
    /// `host` means `https` only. An `https` entry never allows `http` to the
    /// same host and port, nor the other way round. Hosts match
    /// case-insensitively; IPv6 literals in brackets. Entries with userinfo
    /// are refused. Empty denies every request. See
    /// [`authorities_from_urls`](super::authorities_from_urls).
    pub allowed_authorities: Vec<String>,
    /// Clock behind `wasi:clocks/wall-clock`; the system clock when `None`.
    pub clock: Option<WallClock>,
    /// Called with each warning (a guest stderr line starting with
    /// `warning: `, prefix removed, URL userinfo and control characters
    /// scrubbed) after a call that returned normally, in order. `None` drops
    /// warnings.
    pub on_warning: Option<WarningSink>,
}

impl Imports {
    /// Imports with the given store and token source, no allowed authority and
    /// the system clock.
    pub fn new(store: Arc<dyn SessionStore>, token: Arc<dyn TokenSource>) -> Self {
        Self {
            store,
            token,
            allowed_authorities: Vec::new(),
            clock: None,
            on_warning: None,
        }
    }

    /// Replace the allowed authorities.
    #[must_use]
    pub fn with_allowed_authorities<S: Into<String>>(
        mut self,
        authorities: impl IntoIterator<Item = S>,
    ) -> Self {
        self.allowed_authorities = authorities.into_iter().map(Into::into).collect();
        self
    }

    /// Check the allowed authorities now (otherwise an invalid entry makes
    /// every call of the handle fail with an error naming it).
    pub fn validate(&self) -> anyhow::Result<()> {
        AllowList::parse(&self.allowed_authorities).map(drop)
    }

    /// Use `now` (time since the Unix epoch) for the component's wall clock.
    #[must_use]
    pub fn with_clock(
        mut self,
        now: impl Fn() -> std::time::Duration + Send + Sync + 'static,
    ) -> Self {
        self.clock = Some(Arc::new(now));
        self
    }

    /// Send the component's warnings to `sink` (see
    /// [`on_warning`](Imports::on_warning)).
    #[must_use]
    pub fn with_warning_sink(mut self, sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_warning = Some(Arc::new(sink));
        self
    }
}

impl std::fmt::Debug for Imports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Imports")
            .field("allowed_authorities", &self.allowed_authorities)
            .field("clock", &self.clock.as_ref().map(|_| format_args!("<fn>")))
            .field(
                "on_warning",
                &self.on_warning.as_ref().map(|_| format_args!("<fn>")),
            )
            .finish_non_exhaustive()
    }
}

/// Add the project-owned interfaces (`types`, `store`, `credentials`).
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    types::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    store::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    credentials::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    Ok(())
}

/// Run a blocking store operation off the async worker threads.
async fn blocking<T, F>(op: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(op).await {
        Ok(result) => result.map_err(|err| err.to_string()),
        Err(join) => Err(format!("session store task failed: {join}")),
    }
}

impl types::Host for HostState {}

impl store::Host for HostState {
    async fn get(&mut self, key: String) -> store::Lookup {
        let backend = Arc::clone(&self.store);
        match blocking(move || backend.get(&key)).await {
            Ok(Some(value)) if value.len() > MAX_STORE_VALUE_BYTES => {
                store::Lookup::Failed(oversized_store_value(value.len()))
            }
            Ok(Some(value)) => store::Lookup::Found(value),
            Ok(None) => store::Lookup::Absent,
            Err(message) => store::Lookup::Failed(message),
        }
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, String> {
        if let Some(len) = new.as_ref().map(Vec::len) {
            if len > MAX_STORE_VALUE_BYTES {
                return Err(oversized_store_value(len));
            }
        }
        let backend = Arc::clone(&self.store);
        blocking(move || backend.compare_and_swap(&key, expected.as_deref(), new.as_deref())).await
    }
}

impl credentials::Host for HostState {
    async fn bearer_token(&mut self) -> Result<String, String> {
        let source = Arc::clone(&self.token);
        match tokio::task::spawn_blocking(move || source.bearer_token()).await {
            Ok(result) => result,
            Err(_) => Err("the bearer token source failed".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::host_state::{HostStateParts, StderrCapture};
    use crate::runtime::http_policy::{DeniedCounter, HttpPolicy};
    use crate::runtime::token::{NoToken, StaticToken};
    use crate::store::MemoryStore;

    fn state(store: MemoryStore, token: Arc<dyn TokenSource>) -> HostState {
        HostState::new(HostStateParts {
            http_policy: HttpPolicy::new(Arc::new(AllowList::default()), DeniedCounter::default()),
            memory_limit_bytes: 1 << 20,
            store: Arc::new(store),
            token,
            clock: None,
            stderr: StderrCapture::default(),
        })
    }

    #[tokio::test]
    async fn store_import_delegates_to_the_session_store() {
        let backend = MemoryStore::new();
        let mut host = state(backend.clone(), Arc::new(StaticToken::new("t")));
        assert_eq!(
            store::Host::get(&mut host, "k".into()).await,
            store::Lookup::Absent
        );
        assert_eq!(
            store::Host::compare_and_swap(&mut host, "k".into(), None, Some(b"v1".to_vec())).await,
            Ok(true)
        );
        assert_eq!(backend.get("k").unwrap().as_deref(), Some(&b"v1"[..]));
        assert_eq!(
            store::Host::get(&mut host, "k".into()).await,
            store::Lookup::Found(b"v1".to_vec())
        );
        assert_eq!(
            store::Host::compare_and_swap(
                &mut host,
                "k".into(),
                Some(b"v0".to_vec()),
                Some(b"v2".to_vec())
            )
            .await,
            Ok(false)
        );
        assert_eq!(
            store::Host::compare_and_swap(&mut host, "k".into(), Some(b"v1".to_vec()), None).await,
            Ok(true)
        );
        assert_eq!(
            store::Host::get(&mut host, "k".into()).await,
            store::Lookup::Absent
        );
    }

    #[tokio::test]
    async fn store_errors_become_strings() {
        struct Broken;
        impl SessionStore for Broken {
            fn get(&self, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
                Err(StoreError::Backend("disk on fire".into()))
            }
            fn compare_and_swap(
                &self,
                _: &str,
                _: Option<&[u8]>,
                _: Option<&[u8]>,
            ) -> Result<bool, StoreError> {
                panic!("compare_and_swap panicked")
            }
        }
        let mut host = state(MemoryStore::new(), Arc::new(NoToken::new("x")));
        host.store = Arc::new(Broken);
        let store::Lookup::Failed(err) = store::Host::get(&mut host, "k".into()).await else {
            panic!("a failing store must answer `failed`")
        };
        assert!(err.contains("disk on fire"), "{err}");
        // A panicking store is reported, not propagated into the host.
        let err = store::Host::compare_and_swap(&mut host, "k".into(), None, None)
            .await
            .unwrap_err();
        assert!(err.contains("failed"), "{err}");
    }

    #[tokio::test]
    async fn credentials_import_uses_the_token_source() {
        let mut host = state(MemoryStore::new(), Arc::new(StaticToken::new("jwt")));
        assert_eq!(
            credentials::Host::bearer_token(&mut host).await,
            Ok("jwt".to_owned())
        );
        let mut host = state(MemoryStore::new(), Arc::new(NoToken::new("logged out")));
        assert_eq!(
            credentials::Host::bearer_token(&mut host).await,
            Err("logged out".to_owned())
        );
    }

    #[test]
    fn imports_builder_and_debug() {
        let imports = Imports::new(
            Arc::new(MemoryStore::new()),
            Arc::new(StaticToken::new("jwt")),
        )
        .with_allowed_authorities(["127.0.0.1:8080"])
        .with_clock(|| std::time::Duration::from_secs(1_700_000_000));
        assert_eq!(imports.allowed_authorities, ["127.0.0.1:8080"]);
        imports.validate().unwrap();
        assert!(imports
            .clone()
            .with_allowed_authorities(["https://user@x.com", "ftp://x"])
            .validate()
            .is_err());
        assert!(imports.clock.is_some());
        let debug = format!("{imports:?}");
        assert!(!debug.contains("jwt"), "{debug}");
        assert!(debug.contains("on_warning: None"), "{debug}");
        let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&seen);
        let imports = imports.with_warning_sink(move |w| sink.lock().unwrap().push(w.to_owned()));
        let debug = format!("{imports:?}");
        assert!(debug.contains("on_warning: Some(<fn>)"), "{debug}");
        (imports.on_warning.as_ref().unwrap())("w1");
        assert_eq!(*seen.lock().unwrap(), ["w1"]);
    }
}
