//! Tests of the runtime against the real component (built from `guest/` by
//! the `chipi-session-component` crate). Tests that need a backend live in
//! the end-to-end suite (`tests/all`).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::cache::{self, load_or_compile};
use super::context::LoweredContext;
use super::engine::{exports_session, new_engine, SESSION_EXPORT};
use super::*;
use crate::store::{MemoryStore, SessionStore as _};
use chipi_session_component::COMPONENT;

/// A cache directory shared by the runtime tests (and across test runs), so
/// the component is compiled once: the first caller compiles, the others wait
/// and hit. Entries for other builds of the component are pruned.
fn shared_cache_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join("chipi-session-host-runtime-tests");
        let engine = new_engine().expect("engine");
        let keep = cache::entry_path(&dir, &cache::cache_key(&engine, COMPONENT));
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

/// Asserts that the component exports the session interface. Compiles once
/// into the shared cache.
fn assert_session_export(test: &str) {
    static EXPORTS: OnceLock<bool> = OnceLock::new();
    let exports = *EXPORTS.get_or_init(|| {
        let engine = new_engine().expect("engine");
        let loaded = load_or_compile(&engine, COMPONENT, Some(shared_cache_dir()))
            .expect("the embedded component must compile");
        exports_session(&engine, &loaded.component)
    });
    assert!(
        exports,
        "{test}: the component compiles but does not export `{SESSION_EXPORT}`"
    );
}

fn options(cache_dir: Option<PathBuf>) -> RuntimeOptions {
    RuntimeOptions {
        cache_dir,
        ..RuntimeOptions::new(ComponentSource::Bytes(COMPONENT.into()))
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
        encrypt_key_kind: EncryptKeyKind::Pin,
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
    assert_session_export("embedded_component_runs_and_caches");
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
    let ready = third
        .open_session(imports(), context(WalletType::Ready))
        .await
        .unwrap();
    let result = ready
        .create_session(&CreateOptions {
            duration_seconds: None,
            replace_existing: false,
        })
        .await
        .expect("no trap");
    let err = result.expect_err("ready wallets do not support sessions");
    assert_eq!(err.code(), "INVALID_WALLET_TYPE_FOR_SESSION");

    // Status of a wallet with nothing stored must not trap.
    let chipi = third
        .open_session(imports(), context(WalletType::Chipi))
        .await
        .unwrap();
    let status = chipi.get_session_status().await;
    assert!(status.is_ok(), "{status:?}");
}

#[tokio::test]
async fn memory_limit_is_enforced() {
    assert_session_export("memory_limit_is_enforced");
    // The guest's initial memory alone is larger than 128 KiB: the pooling
    // allocator refuses the component when the runtime is built, before any
    // instance exists.
    let err = SessionRuntime::new(RuntimeOptions {
        memory_limit_bytes: 128 * 1024,
        ..options(Some(shared_cache_dir().into()))
    })
    .expect_err("a 128 KiB memory limit cannot hold the component");
    println!("memory_limit_is_enforced: {err:#}");
    assert!(format!("{err:#}").contains("memory"), "{err:#}");

    // A limit that fits is kept.
    let runtime = SessionRuntime::new(RuntimeOptions {
        memory_limit_bytes: 64 << 20,
        ..options(Some(shared_cache_dir().into()))
    })
    .unwrap();
    assert_eq!(runtime.memory_limit_bytes(), 64 << 20);
}

#[tokio::test]
async fn call_timeout_is_enforced() {
    assert_session_export("call_timeout_is_enforced");
    let runtime = SessionRuntime::new(RuntimeOptions {
        call_timeout: Duration::from_millis(1),
        ..options(Some(shared_cache_dir().into()))
    })
    .unwrap();
    assert_eq!(runtime.call_timeout(), Duration::from_millis(1));
    // Key generation and Argon2id take far longer than ~20 ms of epoch ticks.
    let create = async {
        let session = runtime
            .open_session(imports(), context(WalletType::Chipi))
            .await?;
        session
            .create_session(&CreateOptions {
                duration_seconds: Some(60),
                replace_existing: true,
            })
            .await
    };
    let err = create.await.expect_err("the call must time out");
    println!("call_timeout_is_enforced: {err:#}");
    assert!(format!("{err:#}").contains("time limit"), "{err:#}");
}

#[tokio::test]
async fn invalid_allow_list_fails_the_call() {
    assert_session_export("invalid_allow_list_fails_the_call");
    let runtime = SessionRuntime::new(options(Some(shared_cache_dir().into()))).unwrap();
    assert!(runtime.loaded_from_cache());
    let err = runtime
        .open_session(
            imports().with_allowed_authorities(["user@host:1"]),
            context(WalletType::Chipi),
        )
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("allowed authorities"),
        "{err:#}"
    );
}

#[tokio::test]
async fn outgoing_http_reaches_only_allowed_authorities() {
    assert_session_export("outgoing_http_reaches_only_allowed_authorities");
    let runtime = SessionRuntime::new(options(Some(shared_cache_dir().into()))).unwrap();
    let stub = RpcStub::start();
    let store = MemoryStore::new();
    let mut ctx = context(WalletType::Chipi);
    ctx.config.rpc_urls = vec![stub.url()];

    let base = Imports::new(Arc::new(store.clone()), Arc::new(StaticToken::new("jwt")));
    let created = runtime
        .open_session(base.clone(), ctx.clone())
        .await
        .unwrap()
        .create_session(&CreateOptions {
            duration_seconds: Some(3600),
            replace_existing: false,
        })
        .await
        .unwrap()
        .unwrap();
    assert!(created.public_key.starts_with("0x"));

    // Only a registered session is looked up on chain: mark the stored record
    // registered (the record is the guest's JSON; `guest/src/protocol/record.rs`).
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
    store.insert(&keys[0], record.to_string().as_bytes());

    // Not allow-listed: refused before connecting, reported as transport.
    let denied = runtime
        .open_session(base.clone(), ctx.clone())
        .await
        .unwrap();
    let result = denied.get_session_status().await.unwrap();
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
        let wrong_scheme = runtime
            .open_session(base.clone().with_allowed_authorities([entry]), ctx.clone())
            .await
            .unwrap();
        let err = wrong_scheme
            .get_session_status()
            .await
            .unwrap()
            .expect_err("http is not allowed by an https entry");
        assert_eq!(err.code(), "TRANSPORT_ERROR", "{err:?}");
        assert!(wrong_scheme.denied_requests() >= 1);
        assert_eq!(stub.count(), 0);
    }

    // Allow-listed (the origin of the RPC URL): the request reaches the server.
    let allowed = runtime
        .open_session(
            base.with_allowed_authorities(authorities_from_urls(&[stub.url().as_str()]).unwrap()),
            ctx.clone(),
        )
        .await
        .unwrap();
    let result = allowed.get_session_status().await.unwrap();
    assert!(
        result.is_err(),
        "the stub answers with an RPC error: {result:?}"
    );
    assert_eq!(allowed.denied_requests(), 0);
    assert!(stub.count() >= 1);
}

#[tokio::test]
async fn sessions_fit_the_time_budget_inside_the_call_timeout() {
    let hard = Duration::from_secs(2);
    let budgeted = |ctx: &SessionContext| LoweredContext::new(ctx, hard);
    let mut ctx = context(WalletType::Chipi);
    // No budget asked: the hard limit minus a tenth.
    assert_eq!(budgeted(&ctx).timeout_ms(), Some(1_800));
    // A smaller budget is kept; a larger one is capped.
    ctx.config.timeout_ms = Some(500);
    assert_eq!(budgeted(&ctx).timeout_ms(), Some(500));
    ctx.config.timeout_ms = Some(600_000);
    assert_eq!(budgeted(&ctx).timeout_ms(), Some(1_800));
    // The encrypt key is passed through, the caller's context untouched.
    assert_eq!(budgeted(&ctx).record().encrypt_key, "1234");
    assert_eq!(ctx.config.timeout_ms, Some(600_000));
    // The default limit (60 s) keeps 5 s.
    ctx.config.timeout_ms = None;
    assert_eq!(
        LoweredContext::new(&ctx, DEFAULT_CALL_TIMEOUT).timeout_ms(),
        Some(55_000)
    );
}

#[tokio::test]
async fn a_normal_call_reports_no_warnings_and_the_sink_is_kept() {
    assert_session_export("a_normal_call_reports_no_warnings_and_the_sink_is_kept");
    let runtime = SessionRuntime::new(options(Some(shared_cache_dir().into()))).unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&seen);
    let session = runtime
        .open_session(
            imports().with_warning_sink(move |w| sink.lock().unwrap().push(w.into())),
            context(WalletType::Chipi),
        )
        .await
        .unwrap();
    assert!(session.imports().on_warning.is_some());
    let result = session.clear_session().await;
    assert!(result.is_ok(), "{result:?}");
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
}

/// The component imports exactly the interfaces listed in
/// `wit/component-imports.txt`: WASI at one version (0.2.4), nothing from the
/// preview-1 adapter, no filesystem or sockets.
#[test]
fn component_imports_are_the_documented_list() {
    let listed: Vec<String> = include_str!("../../../../wit/component-imports.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let engine = new_engine().expect("engine");
    let loaded = load_or_compile(&engine, COMPONENT, Some(shared_cache_dir()))
        .expect("the embedded component must compile");
    let mut imported: Vec<String> = loaded
        .component
        .component_type()
        .imports(&engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    imported.sort();
    assert_eq!(
        imported, listed,
        "update wit/component-imports.txt and the README"
    );
    let wasi_versions: std::collections::BTreeSet<&str> = imported
        .iter()
        .filter(|name| name.starts_with("wasi:"))
        .filter_map(|name| name.rsplit_once('@').map(|(_, version)| version))
        .collect();
    assert_eq!(wasi_versions.into_iter().collect::<Vec<_>>(), ["0.2.4"]);
    for absent in ["wasi:filesystem", "wasi:sockets", "wasi_snapshot_preview1"] {
        assert!(
            !imported.iter().any(|name| name.starts_with(absent)),
            "{absent}"
        );
    }
}
