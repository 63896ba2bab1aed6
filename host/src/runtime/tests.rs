//! Tests against the embedded component. They need the guest to export
//! `chipi:session/session`; until it does they print why they are skipped.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::cache::{self, load_or_compile};
use super::engine::{exports_session, new_engine, SESSION_EXPORT};
use super::*;
use crate::store::{MemoryStore, SessionStore as _};

/// A cache directory shared by the runtime tests (and across test runs), so
/// the component is compiled once: the first caller compiles, the others wait
/// and hit. Entries for other builds of the component are pruned.
fn shared_cache_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join("chipi-session-host-runtime-tests");
        let engine = new_engine().expect("engine");
        let keep = cache::entry_path(&dir, &cache::cache_key(&engine, embedded_component()));
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.path() != keep {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        dir
    })
}

/// Asserts that the embedded component exports the session interface (a
/// component without it fails the tests, never skips them). Compiles once
/// into the shared cache.
fn embedded_with_session_export(test: &str) -> bool {
    static EXPORTS: OnceLock<bool> = OnceLock::new();
    let exports = *EXPORTS.get_or_init(|| {
        let engine = new_engine().expect("engine");
        let loaded = load_or_compile(&engine, embedded_component(), Some(shared_cache_dir()))
            .expect("the embedded component must compile");
        exports_session(&engine, &loaded.component)
    });
    assert!(
        exports,
        "{test}: the embedded component compiles but does not export `{SESSION_EXPORT}`"
    );
    exports
}

fn options(cache_dir: Option<std::path::PathBuf>) -> RuntimeOptions {
    RuntimeOptions {
        component: ComponentSource::Embedded,
        cache_dir,
        ..RuntimeOptions::default()
    }
}

fn context(wallet_type: WalletType) -> SessionContext {
    SessionContext {
        wallet: Wallet {
            address: "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
            encrypted_private_key: "not-a-real-ciphertext".into(),
            wallet_type,
        },
        encrypt_key: "1234".into(),
        config: Config {
            api_base_url: "https://api.chipipay.com/v1".into(),
            api_key: "pk_dev_00000000000000000000000000000000".into(),
            rpc_urls: vec!["https://starknet-mainnet.example/rpc".into()],
            chain_id: Some("SN_MAIN".into()),
            default_duration_seconds: 21600,
            default_max_calls: 1000,
            timeout_ms: None,
        },
    }
}

fn imports() -> Imports {
    Imports::new(
        Arc::new(MemoryStore::new()),
        Arc::new(StaticToken::new("jwt")),
    )
}

/// A one-thread HTTP/1.1 server answering every request with a JSON-RPC
/// error; counts the requests it receives.
struct RpcStub {
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl RpcStub {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut content_length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        content_length = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; content_length];
                let _ = reader.read_exact(&mut body);
                counter.fetch_add(1, Ordering::SeqCst);
                let id = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("id").cloned())
                    .unwrap_or(serde_json::Value::from(1));
                let reply = serde_json::json!({
                    "jsonrpc": "2.0",
                    "id": id,
                    "error": {"code": 20, "message": "Contract not found"}
                })
                .to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            }
        });
        Self { port, requests }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/rpc", self.port)
    }

    fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn embedded_component_runs_and_caches() {
    if !embedded_with_session_export("embedded_component_runs_and_caches") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");

    let first = SessionRuntime::new(options(Some(cache.clone()))).unwrap();
    assert_eq!(first.cache_status(), &CacheStatus::Stored);
    assert!(!first.loaded_from_cache());
    assert!(first.cache_path().unwrap().is_file());

    let second = SessionRuntime::new(options(Some(cache.clone()))).unwrap();
    assert!(second.loaded_from_cache());
    assert_eq!(second.cache_path(), first.cache_path());

    // A corrupt entry is ignored and rewritten.
    let path = second.cache_path().unwrap().to_path_buf();
    drop((first, second));
    std::fs::write(&path, b"corrupt").unwrap();
    let third = SessionRuntime::new(options(Some(cache.clone()))).unwrap();
    assert_eq!(third.cache_status(), &CacheStatus::Stored);
    assert!(SessionRuntime::new(options(Some(cache)))
        .unwrap()
        .loaded_from_cache());

    // A well-defined guest-level error: `ready` wallets have no sessions.
    let handle = third.instance(imports());
    let result = handle
        .create_session(
            &context(WalletType::Ready),
            &CreateOptions {
                duration_seconds: None,
                replace_existing: false,
            },
        )
        .await
        .expect("no trap");
    let err = result.expect_err("ready wallets do not support sessions");
    assert_eq!(err.code(), "INVALID_WALLET_TYPE_FOR_SESSION");

    // Status of a wallet with nothing stored must not trap.
    let status = handle.get_session_status(&context(WalletType::Chipi)).await;
    assert!(status.is_ok(), "{status:?}");
}

#[tokio::test]
async fn memory_limit_is_enforced() {
    if !embedded_with_session_export("memory_limit_is_enforced") {
        return;
    }
    let runtime = SessionRuntime::new(RuntimeOptions {
        memory_limit_bytes: 128 * 1024,
        ..options(Some(shared_cache_dir().into()))
    })
    .unwrap();
    assert_eq!(runtime.memory_limit_bytes(), 128 * 1024);
    // The guest's initial memory alone is larger than 128 KiB.
    let err = runtime
        .instance(imports())
        .clear_session(&context(WalletType::Chipi))
        .await
        .expect_err("instantiation must fail under a 128 KiB memory limit");
    println!("memory_limit_is_enforced: {err:#}");
    assert!(format!("{err:#}").contains("clear-session"), "{err:#}");
}

#[tokio::test]
async fn call_timeout_is_enforced() {
    if !embedded_with_session_export("call_timeout_is_enforced") {
        return;
    }
    let runtime = SessionRuntime::new(RuntimeOptions {
        call_timeout: Duration::from_millis(1),
        ..options(Some(shared_cache_dir().into()))
    })
    .unwrap();
    assert_eq!(runtime.call_timeout(), Duration::from_millis(1));
    // Key generation and Argon2id take far longer than ~20 ms of epoch ticks.
    let err = runtime
        .instance(imports())
        .create_session(
            &context(WalletType::Chipi),
            &CreateOptions {
                duration_seconds: Some(60),
                replace_existing: true,
            },
        )
        .await
        .expect_err("the call must time out");
    println!("call_timeout_is_enforced: {err:#}");
    assert!(format!("{err:#}").contains("time limit"), "{err:#}");
}

#[tokio::test]
async fn invalid_allow_list_fails_the_call() {
    if !embedded_with_session_export("invalid_allow_list_fails_the_call") {
        return;
    }
    let runtime = SessionRuntime::new(options(Some(shared_cache_dir().into()))).unwrap();
    assert!(runtime.loaded_from_cache());
    let handle = runtime.instance(imports().with_allowed_authorities(["user@host:1"]));
    let err = handle
        .clear_session(&context(WalletType::Chipi))
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("allowed authorities"),
        "{err:#}"
    );
    assert_eq!(handle.denied_requests(), 0);
}

#[tokio::test]
async fn outgoing_http_reaches_only_allowed_authorities() {
    if !embedded_with_session_export("outgoing_http_reaches_only_allowed_authorities") {
        return;
    }
    let runtime = SessionRuntime::new(options(Some(shared_cache_dir().into()))).unwrap();
    let stub = RpcStub::start();
    let store = MemoryStore::new();
    let mut ctx = context(WalletType::Chipi);
    ctx.config.rpc_urls = vec![stub.url()];

    let base = Imports::new(Arc::new(store.clone()), Arc::new(StaticToken::new("jwt")));
    let created = runtime
        .instance(base.clone())
        .create_session(
            &ctx,
            &CreateOptions {
                duration_seconds: Some(3600),
                replace_existing: false,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(created.public_key.starts_with("0x"));

    // Only a registered session is looked up on chain: mark the stored record
    // registered (the record is the guest's JSON; see guest/src/protocol/record.rs).
    let keys = store.keys();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let mut record: serde_json::Value =
        serde_json::from_slice(&store.get(&keys[0]).unwrap().unwrap()).unwrap();
    record["registration"] = serde_json::json!({
        "validUntil": created.valid_until,
        "maxCalls": 10,
        "allowedEntrypoints": [],
        "transactionHash": "0x1",
    });
    store.set(&keys[0], record.to_string().as_bytes()).unwrap();

    // Not allow-listed: refused before connecting, reported as transport.
    let denied = runtime.instance(base.clone());
    let result = denied.get_session_status(&ctx).await.unwrap();
    let err = result.expect_err("the RPC host is not allowed");
    assert_eq!(err.code(), "TRANSPORT_ERROR", "{err:?}");
    assert!(denied.denied_requests() >= 1);
    assert_eq!(stub.count(), 0);

    // The right host and port but the wrong scheme: a bare `host:port` means
    // https only, and so does an explicit https entry. Never reaches the
    // plain-http server.
    for entry in [
        format!("127.0.0.1:{}", stub.port),
        format!("https://127.0.0.1:{}", stub.port),
    ] {
        let wrong_scheme = runtime.instance(base.clone().with_allowed_authorities([entry]));
        let err = wrong_scheme
            .get_session_status(&ctx)
            .await
            .unwrap()
            .expect_err("http is not allowed by an https entry");
        assert_eq!(err.code(), "TRANSPORT_ERROR", "{err:?}");
        assert!(wrong_scheme.denied_requests() >= 1);
        assert_eq!(stub.count(), 0);
    }

    // Allow-listed (the origin of the RPC URL): the request reaches the server.
    let allowed = runtime.instance(
        base.with_allowed_authorities(authorities_from_urls(&[stub.url().as_str()]).unwrap()),
    );
    let result = allowed.get_session_status(&ctx).await.unwrap();
    assert!(
        result.is_err(),
        "the stub answers with an RPC error: {result:?}"
    );
    assert_eq!(allowed.denied_requests(), 0);
    assert!(stub.count() >= 1);
}

#[tokio::test]
async fn handle_fits_the_time_budget_inside_the_call_timeout() {
    if !embedded_with_session_export("handle_fits_the_time_budget_inside_the_call_timeout") {
        return;
    }
    let runtime = SessionRuntime::new(RuntimeOptions {
        call_timeout: Duration::from_secs(2),
        ..options(Some(shared_cache_dir().into()))
    })
    .unwrap();
    let handle = runtime.instance(imports());
    let mut ctx = context(WalletType::Chipi);
    // No budget asked: the hard limit minus a tenth.
    assert_eq!(handle.budgeted(&ctx).timeout_ms(), Some(1_800));
    // A smaller budget is kept; a larger one is capped.
    ctx.config.timeout_ms = Some(500);
    assert_eq!(handle.budgeted(&ctx).timeout_ms(), Some(500));
    ctx.config.timeout_ms = Some(600_000);
    assert_eq!(handle.budgeted(&ctx).timeout_ms(), Some(1_800));
    // The encrypt key is passed through, the caller's context untouched.
    assert_eq!(handle.budgeted(&ctx).record().encrypt_key, "1234");
    assert_eq!(ctx.config.timeout_ms, Some(600_000));
    // The default runtime (60 s) keeps 5 s.
    let default = SessionRuntime::new(options(Some(shared_cache_dir().into()))).unwrap();
    ctx.config.timeout_ms = None;
    assert_eq!(
        default.instance(imports()).budgeted(&ctx).timeout_ms(),
        Some(55_000)
    );
}

#[tokio::test]
async fn a_normal_call_reports_no_warnings_and_the_sink_is_kept() {
    if !embedded_with_session_export("a_normal_call_reports_no_warnings_and_the_sink_is_kept") {
        return;
    }
    let runtime = SessionRuntime::new(options(Some(shared_cache_dir().into()))).unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&seen);
    let handle =
        runtime.instance(imports().with_warning_sink(move |w| sink.lock().unwrap().push(w.into())));
    assert!(handle.imports().on_warning.is_some());
    let result = handle.clear_session(&context(WalletType::Chipi)).await;
    assert!(result.is_ok(), "{result:?}");
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
}

/// A store that fails every write once the sandbox has received a
/// transaction (a disk that fills up between sending and recording).
struct FailsAfterSend {
    inner: MemoryStore,
    sandbox: Arc<crate::sandbox::Sandbox>,
}

impl FailsAfterSend {
    fn check(&self) -> Result<(), crate::store::StoreError> {
        let sent = self
            .sandbox
            .requests()
            .iter()
            .any(|r| r.path.ends_with("execute-sponsored-transaction"));
        if sent {
            Err(crate::store::StoreError::Backend("disk full".into()))
        } else {
            Ok(())
        }
    }
}

impl crate::store::SessionStore for FailsAfterSend {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, crate::store::StoreError> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), crate::store::StoreError> {
        self.check()?;
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), crate::store::StoreError> {
        self.check()?;
        self.inner.delete(key)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, crate::store::StoreError> {
        self.check()?;
        self.inner.compare_and_swap(key, expected, new)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_failure_after_the_send_returns_the_hash_with_a_warning() {
    use crate::sandbox::{Sandbox, SandboxConfig, SandboxWalletType};
    if !embedded_with_session_export(
        "a_store_failure_after_the_send_returns_the_hash_with_a_warning",
    ) {
        return;
    }
    let config = SandboxConfig::default();
    let (api_key, bearer) = (config.api_key.clone(), config.bearer_token.clone());
    let sandbox = Arc::new(
        Sandbox::start(config, ([127, 0, 0, 1], 0).into())
            .await
            .unwrap(),
    );
    let wallet = sandbox.create_wallet("pin-zq-77", SandboxWalletType::Chipi);
    let mut ctx = context(WalletType::Chipi);
    ctx.encrypt_key = "pin-zq-77".into();
    ctx.wallet.address = wallet.address.clone();
    ctx.wallet.encrypted_private_key = wallet.encrypted_private_key.clone();
    ctx.config.api_base_url = sandbox.api_url();
    ctx.config.api_key = api_key;
    ctx.config.rpc_urls = vec![sandbox.rpc_url()];
    ctx.config.chain_id = None;

    let store = Arc::new(FailsAfterSend {
        inner: MemoryStore::new(),
        sandbox: Arc::clone(&sandbox),
    });
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&seen);
    let imports = Imports::new(store, Arc::new(StaticToken::new(bearer)))
        .with_allowed_authorities(
            authorities_from_urls(&[sandbox.api_url().as_str(), sandbox.rpc_url().as_str()])
                .unwrap(),
        )
        .with_warning_sink(move |w| sink.lock().unwrap().push(w.to_owned()));
    let runtime = SessionRuntime::new(options(Some(shared_cache_dir().into()))).unwrap();
    let handle = runtime.instance(imports);
    handle
        .create_session(
            &ctx,
            &CreateOptions {
                duration_seconds: None,
                replace_existing: false,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(seen.lock().unwrap().is_empty());
    let options = RegisterOptions {
        valid_until: None,
        max_calls: Some(5),
        allowed_entrypoints: vec!["transfer".into()],
    };
    let tx = handle
        .register_session(&ctx, &options)
        .await
        .unwrap()
        .expect("the transaction was sent: its hash comes back despite the store");
    assert!(tx.starts_with("0x"), "{tx}");
    let warnings = seen.lock().unwrap().clone();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains(&tx), "{warnings:?}");
    assert!(!warnings[0].starts_with("warning:"), "{warnings:?}");
    assert!(!warnings[0].contains("pin-zq-77"), "{warnings:?}");
}
