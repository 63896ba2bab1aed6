//! Shared helpers for the end-to-end tests: one compiled runtime per test
//! process, a sandbox per test with its own wallet, and a session context
//! wired to it over 127.0.0.1.

/// The JavaScript referee (starknet.js, crypto-es, Chipi's SDK) for the
/// differential tests.
pub mod interop;
/// A throwaway `redis-server` a test can stop, kill and restart.
pub mod redis_server;
mod stateless;

pub use stateless::Stateless;

use std::sync::{Arc, OnceLock};

use chipi_session_host::runtime::{
    authorities_from_urls, Call, Config, CreateOptions, EncryptKeyKind, Imports, RegisterOptions,
    RuntimeOptions, SessionContext, SessionRuntime, StaticToken, Wallet, WalletSession, WalletType,
};
use chipi_session_host::store::{MemoryStore, SessionStore};
use chipi_session_sandbox::SharedClock;
use chipi_session_sandbox::{Sandbox, SandboxConfig, SandboxWallet, SandboxWalletType};

/// The PIN of every test wallet.
pub const PIN: &str = "123456";
/// A token contract used as a call target.
pub const TOKEN: &str = "0x4718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d";
/// A recipient address.
pub const RECIPIENT: &str = "0xc0ffee";

/// The runtime shared by every test of a process (compiling is the slow part).
pub fn runtime() -> SessionRuntime {
    static RUNTIME: OnceLock<SessionRuntime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let options = RuntimeOptions {
                cache_dir: Some(cache_dir()),
                ..RuntimeOptions::default()
            };
            SessionRuntime::new(options).expect("the embedded component loads")
        })
        .clone()
}

/// Compiled-component cache inside the build directory.
pub fn cache_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("component-cache")
}

/// A sandbox, a wallet on it, and everything needed to call the component.
pub struct Harness {
    /// The running sandbox.
    pub sandbox: Arc<Sandbox>,
    /// Clock shared by the sandbox and the component.
    pub clock: SharedClock,
    /// The wallet created on the sandbox.
    pub wallet: SandboxWallet,
    /// Store backing the component.
    pub store: Arc<MemoryStore>,
    /// API key the sandbox expects.
    pub api_key: String,
    /// Bearer token the sandbox expects.
    pub bearer: String,
}

impl Harness {
    /// Start a sandbox with a CHIPI wallet.
    pub async fn start() -> Self {
        Self::start_with(SandboxWalletType::Chipi).await
    }

    /// Start a sandbox with a wallet of the given type.
    pub async fn start_with(wallet_type: SandboxWalletType) -> Self {
        Self::start_making(|sandbox| sandbox.create_wallet(PIN, wallet_type)).await
    }

    /// Start a sandbox with a CHIPI wallet whose account imitates Chipi's v32
    /// account (`ChipiContract::V32`, as `tests/devnet` runs it for real).
    pub async fn start_v32() -> Self {
        Self::start_making(|sandbox| sandbox.create_v32_wallet(PIN)).await
    }

    async fn start_making(make_wallet: impl FnOnce(&Sandbox) -> SandboxWallet) -> Self {
        let clock = SharedClock::new();
        let config = SandboxConfig {
            clock: clock.clone(),
            ..SandboxConfig::default()
        };
        let api_key = config.api_key.clone();
        let bearer = config.bearer_token.clone();
        let sandbox = Sandbox::start(config, ([127, 0, 0, 1], 0).into())
            .await
            .expect("sandbox starts");
        let wallet = make_wallet(&sandbox);
        Self {
            sandbox: Arc::new(sandbox),
            clock,
            wallet,
            store: Arc::new(MemoryStore::new()),
            api_key,
            bearer,
        }
    }

    /// Configuration pointing at the sandbox.
    pub fn config(&self) -> Config {
        Config {
            api_base_url: self.sandbox.api_url(),
            api_key: self.api_key.clone(),
            rpc_urls: vec![self.sandbox.rpc_url()],
            chain_id: None,
            default_duration_seconds: 21_600,
            default_max_calls: 1_000,
            timeout_ms: None,
        }
    }

    /// Session context for the wallet with the given encrypt key.
    pub fn ctx_with_pin(&self, pin: &str) -> SessionContext {
        SessionContext {
            wallet: Wallet {
                address: self.wallet.address.clone(),
                encrypted_private_key: self.wallet.encrypted_private_key.clone(),
                wallet_type: if self.wallet.wallet_type == "READY" {
                    WalletType::Ready
                } else {
                    WalletType::Chipi
                },
            },
            encrypt_key: pin.into(),
            encrypt_key_kind: EncryptKeyKind::Pin,
            config: self.config(),
        }
    }

    /// Session context with the right PIN.
    pub fn ctx(&self) -> SessionContext {
        self.ctx_with_pin(PIN)
    }

    /// A context (right PIN) for a new CHIPI wallet of this sandbox.
    pub fn ctx_for_new_wallet(&self) -> SessionContext {
        let wallet = self.sandbox.create_wallet(PIN, SandboxWalletType::Chipi);
        SessionContext {
            wallet: Wallet {
                address: wallet.address,
                encrypted_private_key: wallet.encrypted_private_key,
                wallet_type: WalletType::Chipi,
            },
            ..self.ctx()
        }
    }

    /// Imports allowing the sandbox, with the given bearer token.
    pub fn imports_with_token(&self, token: &str) -> Imports {
        self.imports_for(self.store.clone() as Arc<dyn SessionStore>, token)
    }

    /// Imports allowing the sandbox, with the right bearer token, backed by
    /// `store` instead of the harness's memory store.
    pub fn imports_with_store(&self, store: Arc<dyn SessionStore>) -> Imports {
        self.imports_for(store, &self.bearer)
    }

    fn imports_for(&self, store: Arc<dyn SessionStore>, token: &str) -> Imports {
        let config = self.config();
        let urls = [config.api_base_url.as_str(), config.rpc_urls[0].as_str()];
        let clock = self.clock.clone();
        Imports::new(store, Arc::new(StaticToken::new(token)))
            .with_allowed_authorities(authorities_from_urls(&urls).expect("valid URLs"))
            .with_clock(move || clock.now())
    }

    /// Stateless calls (a fresh warm session per call) wired to the sandbox.
    pub fn handle(&self) -> Stateless {
        Stateless::new(runtime(), self.imports_with_token(&self.bearer))
    }

    /// A warm session for `ctx` on its own instance, wired to the sandbox.
    pub async fn open(&self, ctx: SessionContext) -> WalletSession {
        runtime()
            .open_session(self.imports_with_token(&self.bearer), ctx)
            .await
            .expect("open a wallet session")
    }

    /// Create a session with the hook's default duration (state `created`).
    pub async fn create(&self) {
        self.create_through(&self.handle()).await;
    }

    /// [`Harness::create`] through `handle` (its own store, for example).
    pub async fn create_through(&self, handle: &Stateless) {
        let options = CreateOptions {
            duration_seconds: None,
            replace_existing: false,
        };
        ok(handle.create_session(&self.ctx(), &options).await);
    }

    /// Create and register a session allowing `max_calls` calls to any
    /// non-admin entrypoint (state `active`).
    pub async fn register(&self, max_calls: u32) {
        self.register_through(&self.handle(), max_calls).await;
    }

    /// [`Harness::register`] through `handle` (its own store, for example).
    pub async fn register_through(&self, handle: &Stateless, max_calls: u32) {
        self.create_through(handle).await;
        let options = RegisterOptions {
            valid_until: None,
            max_calls: Some(max_calls),
            allowed_entrypoints: vec![],
            idempotency_key: None,
        };
        ok(handle.register_session(&self.ctx(), &options).await);
    }

    /// Number of requests the sandbox has received on paths ending with `suffix`.
    pub fn requests_to(&self, suffix: &str) -> usize {
        self.sandbox
            .requests()
            .iter()
            .filter(|r| r.path.ends_with(suffix))
            .count()
    }
}

/// Unwrap a host-level result, then the session-level one.
pub fn ok<T, E: std::fmt::Debug>(r: anyhow::Result<Result<T, E>>) -> T {
    match r {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("session error: {e:?}"),
        Err(e) => panic!("host error: {e:#}"),
    }
}

/// A transfer of `amount` of [`TOKEN`] to [`RECIPIENT`].
pub fn transfer(amount: u64) -> Call {
    Call {
        contract_address: TOKEN.into(),
        entrypoint: "transfer".into(),
        calldata: vec![RECIPIENT.into(), format!("{amount:#x}"), "0x0".into()],
    }
}

/// Unwrap a host-level result and expect a session error.
pub fn err<T: std::fmt::Debug, E>(r: anyhow::Result<Result<T, E>>) -> E {
    match r {
        Ok(Ok(v)) => panic!("expected a session error, got {v:?}"),
        Ok(Err(e)) => e,
        Err(e) => panic!("host error: {e:#}"),
    }
}
