//! A local sandbox of Chipi's backend and of the Starknet node, for end-to-end tests,
//! `chipi-session demo` and `chipi-session sandbox`.
//!
//! One loopback HTTP server (axum) serves:
//!
//! - the Chipi REST API under `/v1` (`docs/protocol.md`, "Chipi REST API"): `POST /v1/transactions/prepare-typed-data`
//!   and `POST /v1/transactions/execute-sponsored-transaction`. Every request must carry
//!   `?__chipi_api_version=2025-12-30` (else 400 `INVALID_API_VERSION`), `x-api-key`
//!   equal to [`SandboxConfig::api_key`] (else 401 `INVALID_API_KEY`),
//!   `Authorization: Bearer <SandboxConfig::bearer_token>` (else 401 `UNAUTHORIZED`) and
//!   `Content-Type: application/json` (else 415 `UNSUPPORTED_MEDIA_TYPE`). Errors are
//!   `{"statusCode", "message", "code", "error"}`.
//! - Starknet JSON-RPC at `POST /rpc` (no auth): `starknet_chainId`, `starknet_specVersion`,
//!   `starknet_blockNumber`, `starknet_blockHashAndNumber`, `starknet_getClassHashAt`,
//!   `starknet_getTransactionReceipt`, `starknet_getTransactionStatus`, `starknet_call`
//!   (`get_session_data`, `get_session_allowed_entrypoint_at`, `get_spending_policy`,
//!   `get_public_key` on CHIPI wallets; `get_owner` on READY wallets;
//!   `is_valid_outside_execution_nonce` on both).
//! - admin endpoints under `/sandbox/` (no auth, never faulted, not recorded); see
//!   the `admin` module docs: wallets, faults, time, requests, transactions, info.
//!
//! The sandbox behaves like the session account contract (`docs/protocol.md`, "Session account contract"): owner-signed
//! transactions run `add_or_update_session_key`, `revoke_session_key`,
//! `set_spending_policy` and `remove_spending_policy` on the wallet; session-signed ones
//! are validated in the contract's order and counted once per transaction; tracked
//! token calls are held to spending policies. Signatures are checked against a message
//! hash computed independently of the guest component (starknet-core `TypedData` over
//! the entrypoint names, or direct Poseidon when only the selector is known).
//!
//! Refusals of `execute-sponsored-transaction` (all HTTP 400 unless noted):
//! `WALLET_NOT_FOUND` (404), `INVALID_REQUEST`, `INVALID_SIGNATURE_FORMAT`,
//! `INVALID_WALLET_TYPE`, `TYPED_DATA_MISMATCH` ("Typed data does not match ..."),
//! `INVALID_TIME_WINDOW`, `NONCE_ALREADY_USED` ("Nonce already used: SRC9: duplicated
//! nonce", the contract's revert reason; checked after the time window like
//! `execute_from_outside_v2`),
//! `INVALID_SESSION_SIGNATURE` (valid_until not u64), `SESSION_EXPIRED` ("Session expired"),
//! `SESSION_REVOKED` ("Session revoked"), `SESSION_NOT_REGISTERED` ("Session not
//! registered"), `SESSION_MAX_CALLS_EXCEEDED` ("Max calls exceeded"),
//! `SESSION_ENTRYPOINT_NOT_ALLOWED` ("Entrypoint not allowed: ..."), `INVALID_SIGNATURE`
//! ("Invalid signature"), `INVALID_CALLDATA`, `SPENDING_LIMIT_EXCEEDED` ("Spending limit
//! exceeded: ..."). A refused transaction changes no state.
//!
//! Relay mode ([`Sandbox::start_relay`], `chipi-session sandbox --devnet-rpc URL`): the
//! two Chipi endpoints in front of a real Starknet node (starknet-devnet running Chipi's
//! session account). The relay checks only that the typed data submitted is the one it
//! issued; the account contract checks the rest, and its reverts come back as
//! `EXECUTION_REVERTED` (or `NONCE_ALREADY_USED`, `INVALID_SIGNATURE`,
//! `INVALID_TIME_WINDOW`) with the revert reason in the message. Clients read chain state
//! from the node; the relay's own `/rpc` refuses every call.
//!
//! SNIP-9 nonces: every account keeps the set of outside-execution nonces it consumed
//! (OpenZeppelin's `SRC9_nonces`). A successful execution, owner- or session-signed,
//! marks its nonce used; `is_valid_outside_execution_nonce` then returns 0 and a second
//! execution with that nonce is refused. [`Sandbox::nonce_used`] reads the set and
//! [`SandboxTransaction::nonce`] records the nonce of each transaction.

mod account;
mod admin;
mod chipi_api;
mod clock;
mod error;
mod faults;
mod felt;
mod relay;
mod rpc;
mod server;
mod state;
mod typed_data;
mod wallets;

#[cfg(test)]
mod tests;

use std::future::IntoFuture;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rand::Rng;
use starknet_core::types::Felt;
use tokio::sync::watch;

pub use clock::SharedClock;

pub use account::{
    ChipiContract, SessionInfo, SpendingPolicyInfo, ADMIN_ENTRYPOINTS, TRACKED_ENTRYPOINTS,
};
pub use chipi_api::API_VERSION;
pub use faults::Faults;
pub use rpc::SPEC_VERSION;
pub use state::{ExecutedCall, IssuedTypedData, RecordedRequest, SandboxTransaction, TxSigner};
pub use typed_data::{Substitution, TypedDataStyle, ANY_CALLER, ATTACKER_ADDRESS};
pub use wallets::{
    decrypt_cryptojs, encrypt_cryptojs, CryptoJsError, SandboxWallet, SandboxWalletType,
    CHIPI_CLASS_HASH, CHIPI_V33_CLASS_HASH, READY_CLASS_HASH,
};

/// How long [`Sandbox::shutdown`] lets in-flight requests finish before closing.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Configuration of a sandbox.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Public API key expected in `x-api-key`. Default: `"pk_dev_"` followed by 32 random
    /// alphanumeric characters (the shape Chipi's SDK accepts: `pk_(dev|prod)_[A-Za-z0-9]{32,}`).
    pub api_key: String,
    /// Bearer token expected in `Authorization: Bearer ...`. Default: `"sandbox_"`
    /// followed by 32 random alphanumeric characters.
    pub bearer_token: String,
    /// Chain id, as a short string (`"SN_SEPOLIA"`, the default) or a hex/decimal felt.
    pub chain_id: String,
    /// Block time source; share it with the component host so tests can move time.
    pub clock: SharedClock,
    /// Representation of the typed data `prepare-typed-data` returns.
    pub typed_data_style: TypedDataStyle,
}

fn random_alnum(n: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| char::from(rng.sample(rand::distributions::Alphanumeric)))
        .collect()
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            api_key: format!("pk_dev_{}", random_alnum(32)),
            bearer_token: format!("sandbox_{}", random_alnum(32)),
            chain_id: "SN_SEPOLIA".to_string(),
            clock: SharedClock::new(),
            typed_data_style: TypedDataStyle::default(),
        }
    }
}

fn parse_chain_id(s: &str) -> anyhow::Result<Felt> {
    felt::parse_felt_str(s)
        .or_else(|| felt::shortstring(s))
        .filter(|f| *f != Felt::ZERO)
        .with_context(|| format!("invalid chain id {s:?}"))
}

enum Runner {
    Task(tokio::task::JoinHandle<std::io::Result<()>>),
    Thread(std::thread::JoinHandle<()>),
}

/// A running sandbox. Dropping it stops the server (gracefully, in the background).
pub struct Sandbox {
    shared: Arc<state::Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    runner: Option<Runner>,
}

/// Serve until `stop` turns true (or its sender is dropped), then let in-flight
/// requests finish for at most [`SHUTDOWN_GRACE`].
async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut graceful = stop.clone();
    let mut deadline = stop;
    let server = axum::serve(
        server::KillableListener::new(listener),
        app.into_make_service_with_connect_info::<server::ConnectionKill>(),
    )
    .with_graceful_shutdown(async move {
        let _ = graceful.wait_for(|v| *v).await;
    })
    .into_future();
    tokio::select! {
        r = server => r,
        _ = async move {
            let _ = deadline.wait_for(|v| *v).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => Ok(()),
    }
}

impl Sandbox {
    fn prepare(config: &SandboxConfig) -> anyhow::Result<Arc<state::Shared>> {
        let chain_id = parse_chain_id(&config.chain_id)?;
        Ok(Arc::new(state::Shared::new(config, chain_id)))
    }

    /// Bind `bind` (use `127.0.0.1:0` in tests) and serve on the current tokio runtime.
    pub async fn start(config: SandboxConfig, bind: SocketAddr) -> anyhow::Result<Sandbox> {
        let shared = Self::prepare(&config)?;
        Self::serve_on_this_runtime(shared, bind).await
    }

    /// Bind `bind` and serve `shared` from a task of the current tokio runtime.
    async fn serve_on_this_runtime(
        shared: Arc<state::Shared>,
        bind: SocketAddr,
    ) -> anyhow::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding the sandbox to {bind}"))?;
        let addr = listener.local_addr()?;
        let (stop, stop_rx) = watch::channel(false);
        let app = server::router(shared.clone());
        let task = tokio::spawn(serve(listener, app, stop_rx));
        Ok(Sandbox {
            shared,
            addr,
            stop,
            runner: Some(Runner::Task(task)),
        })
    }

    /// Relay mode: serve Chipi's two endpoints in front of the real Starknet node at
    /// `node_rpc_url` (starknet-devnet with the session-account class predeployed).
    /// `prepare-typed-data` takes its time window from the node's block time and
    /// `execute-sponsored-transaction` sends `execute_from_outside_v2` as an INVOKE v3
    /// transaction from a relayer account the sandbox deploys at start (OpenZeppelin's
    /// account class, fees minted with `devnet_mint`); the node's predeployed accounts
    /// are the wallets [`Sandbox::take_node_wallet`] hands out. The chain
    /// id is the node's (`config.chain_id` is ignored), and clients read chain state
    /// from the node itself ([`Sandbox::node_rpc_url`]); the sandbox's own `/rpc`
    /// refuses every call.
    pub async fn start_relay(
        config: SandboxConfig,
        bind: SocketAddr,
        node_rpc_url: &str,
    ) -> anyhow::Result<Sandbox> {
        let shared = Sandbox::relay_shared(&config, node_rpc_url).await?;
        Self::serve_on_this_runtime(shared, bind).await
    }

    /// [`Sandbox::start_relay`] on a dedicated thread with its own tokio runtime, for
    /// callers that share one relay across runtimes (for example tests).
    pub fn start_relay_in_thread(
        config: SandboxConfig,
        bind: SocketAddr,
        node_rpc_url: &str,
    ) -> anyhow::Result<Sandbox> {
        let listener = std::net::TcpListener::bind(bind)
            .with_context(|| format!("binding the sandbox to {bind}"))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stop_rx) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("chipi-relay")
            .enable_all()
            .build()
            .context("building the relay runtime")?;
        let url = node_rpc_url.to_owned();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("chipi-relay".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let shared = match Sandbox::relay_shared(&config, &url).await {
                        Ok(shared) => shared,
                        Err(e) => {
                            let _ = started_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = started_tx.send(Ok(shared.clone()));
                    if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                        let _ = serve(listener, server::router(shared), stop_rx).await;
                    }
                });
            })
            .context("spawning the relay thread")?;
        let shared = started_rx
            .recv()
            .context("the relay thread ended before starting")??;
        Ok(Sandbox {
            shared,
            addr,
            stop,
            runner: Some(Runner::Thread(thread)),
        })
    }

    async fn relay_shared(
        config: &SandboxConfig,
        node_rpc_url: &str,
    ) -> anyhow::Result<Arc<state::Shared>> {
        let relay = relay::Relay::connect(node_rpc_url)
            .await
            .with_context(|| format!("connecting to the Starknet node at {node_rpc_url}"))?;
        let mut shared = state::Shared::new(config, relay.chain_id());
        shared.relay = Some(Arc::new(relay));
        Ok(Arc::new(shared))
    }

    /// Relay mode: the node's JSON-RPC URL (`None` on the simulated chain).
    pub fn node_rpc_url(&self) -> Option<String> {
        self.shared.relay.as_ref().map(|r| r.rpc_url().to_owned())
    }

    /// Relay mode: the address of the account that sends the transactions.
    pub fn relayer_address(&self) -> Option<String> {
        self.shared
            .relay
            .as_ref()
            .map(|r| felt::padded_hex(&r.relayer_address()))
    }

    /// Relay mode: hand out the node's next unused predeployed account as a CHIPI
    /// wallet, its owner key encrypted under `pin` in the CryptoJS format Chipi uses.
    /// Fails outside relay mode and once every account is handed out.
    pub fn take_node_wallet(&self, pin: &str) -> anyhow::Result<SandboxWallet> {
        self.shared
            .relay
            .as_ref()
            .context("not in relay mode")?
            .take_wallet(pin)
    }

    /// Like [`Sandbox::start`] but serves from a dedicated thread with its own tokio
    /// runtime, so it can be used from synchronous code (and is unaffected by a caller
    /// that blocks its own runtime).
    pub fn start_in_thread(config: SandboxConfig, bind: SocketAddr) -> anyhow::Result<Sandbox> {
        let shared = Self::prepare(&config)?;
        let listener = std::net::TcpListener::bind(bind)
            .with_context(|| format!("binding the sandbox to {bind}"))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stop_rx) = watch::channel(false);
        let app = server::router(shared.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("chipi-sandbox")
            .enable_all()
            .build()
            .context("building the sandbox runtime")?;
        let thread = std::thread::Builder::new()
            .name("chipi-sandbox".into())
            .spawn(move || {
                runtime.block_on(async move {
                    if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                        let _ = serve(listener, app, stop_rx).await;
                    }
                });
            })
            .context("spawning the sandbox thread")?;
        Ok(Sandbox {
            shared,
            addr,
            stop,
            runner: Some(Runner::Thread(thread)),
        })
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT` (an unspecified bind address is reported as 127.0.0.1).
    pub fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        format!("http://{addr}")
    }

    /// Chipi API base URL: `http://127.0.0.1:PORT/v1`.
    pub fn api_url(&self) -> String {
        format!("{}/v1", self.base_url())
    }

    /// Starknet JSON-RPC URL: `http://127.0.0.1:PORT/rpc`.
    pub fn rpc_url(&self) -> String {
        format!("{}/rpc", self.base_url())
    }

    /// The API key the sandbox expects.
    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// The bearer token the sandbox expects.
    pub fn bearer_token(&self) -> &str {
        &self.shared.bearer_token
    }

    /// The chain id, `0x`-hex (`0x534e5f5345504f4c4941` for SN_SEPOLIA).
    pub fn chain_id_hex(&self) -> String {
        felt::hex(&self.shared.chain_id)
    }

    /// The block-time clock (a clone sharing the offset).
    pub fn clock(&self) -> SharedClock {
        self.shared.clock.clone()
    }

    /// Move block time (and every clone of the clock) forward by `secs`.
    pub fn advance_time(&self, secs: i64) {
        self.shared.clock.advance(secs);
    }

    /// Create a CHIPI wallet whose account imitates Chipi's public v32 account
    /// ([`ChipiContract::V32`]: 7 admin selectors, no spending policies, the v32 class
    /// hash), as the real-VM suite runs it (`docs/contract.md`).
    pub fn create_v32_wallet(&self, pin: &str) -> SandboxWallet {
        let wallet = self.create_wallet(pin, SandboxWalletType::Chipi);
        if let Some(address) = felt::parse_felt_str(&wallet.address) {
            if let Some(account) = self.shared.lock().accounts.get_mut(&address) {
                account.contract = Some(ChipiContract::V32);
            }
        }
        wallet
    }

    /// Create a wallet: random owner key (encrypted with `pin` in CryptoJS format),
    /// random address, deployed with the class of `wallet_type` (CHIPI wallets imitate
    /// the account with spending policies, [`ChipiContract::SpendingPolicies`]).
    pub fn create_wallet(&self, pin: &str, wallet_type: SandboxWalletType) -> SandboxWallet {
        self.shared.create_wallet(pin, wallet_type)
    }

    /// Deploy a wallet whose owner key was encrypted elsewhere (for example with
    /// Chipi's SDK): `owner_public_key` is the Stark public key the account checks
    /// owner signatures against; `encrypted_private_key` is handed back as is.
    /// Fails when `owner_public_key` is not a felt.
    pub fn import_wallet(
        &self,
        owner_public_key: &str,
        encrypted_private_key: &str,
        wallet_type: SandboxWalletType,
    ) -> anyhow::Result<SandboxWallet> {
        let key = felt::parse_felt_str(owner_public_key)
            .ok_or_else(|| anyhow::anyhow!("owner public key is not a felt"))?;
        Ok(self
            .shared
            .import_wallet(key, encrypted_private_key.to_string(), wallet_type))
    }

    /// Replace the active faults.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock().faults = Some(faults);
    }

    /// Remove every fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults = None;
    }

    /// The active faults, if any (a countdown that reached zero clears them).
    pub fn faults(&self) -> Option<Faults> {
        self.shared.lock().faults.clone()
    }

    /// Every non-admin request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// On-chain data of a session key of a wallet (addresses and keys in any felt
    /// format). `None` when the wallet is unknown or the key was never registered;
    /// a revoked key reports `revoked: true` and zeros.
    pub fn session(&self, wallet: &str, session_pubkey: &str) -> Option<SessionInfo> {
        let w = felt::parse_felt_str(wallet)?;
        let k = felt::parse_felt_str(session_pubkey)?;
        self.shared.lock().accounts.get(&w)?.session_info(&k)
    }

    /// Spending policy of a session key for a token, if set.
    pub fn spending_policy(
        &self,
        wallet: &str,
        session_pubkey: &str,
        token: &str,
    ) -> Option<SpendingPolicyInfo> {
        let w = felt::parse_felt_str(wallet)?;
        let k = felt::parse_felt_str(session_pubkey)?;
        let t = felt::parse_felt_str(token)?;
        self.shared.lock().accounts.get(&w)?.policy_info(&k, &t)
    }

    /// Executed transactions, oldest first.
    pub fn transactions(&self) -> Vec<SandboxTransaction> {
        self.shared.lock().transactions.clone()
    }

    /// True when the account of `wallet` consumed the outside-execution `nonce`
    /// (both in any felt format), i.e. `is_valid_outside_execution_nonce` returns 0.
    /// False for an unknown wallet or an unparsable argument.
    pub fn nonce_used(&self, wallet: &str, nonce: &str) -> bool {
        let (Some(w), Some(n)) = (felt::parse_felt_str(wallet), felt::parse_felt_str(nonce)) else {
            return false;
        };
        self.shared
            .lock()
            .accounts
            .get(&w)
            .is_some_and(|a| a.nonce_used(&n))
    }

    /// Typed data issued by `prepare-typed-data`, oldest first (`used` read from the
    /// account's nonce set).
    pub fn issued_typed_data(&self) -> Vec<IssuedTypedData> {
        let st = self.shared.lock();
        st.issued_order
            .iter()
            .filter_map(|(wallet, nonce)| {
                let issued = st.issued.get(&(*wallet, *nonce))?;
                let mut info = issued.info.clone();
                info.used = st.accounts.get(wallet).is_some_and(|a| a.nonce_used(nonce));
                Some(info)
            })
            .collect()
    }

    /// Number of successful ECDSA verifications (owner and session).
    pub fn signature_checks(&self) -> u64 {
        self.shared.signature_checks.load(Ordering::SeqCst)
    }

    /// Stop accepting connections, let in-flight requests finish (bounded) and wait
    /// for the server to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        match self.runner.take() {
            Some(Runner::Task(task)) => {
                let abort = task.abort_handle();
                if tokio::time::timeout(SHUTDOWN_GRACE * 2, task)
                    .await
                    .is_err()
                {
                    abort.abort();
                }
            }
            Some(Runner::Thread(thread)) => {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
            None => {}
        }
    }

    /// Blocking variant of [`Sandbox::shutdown`] for synchronous callers; waits for
    /// the server thread of [`Sandbox::start_in_thread`] (a task-based sandbox is only
    /// signalled).
    pub fn shutdown_blocking(mut self) {
        let _ = self.stop.send(true);
        if let Some(Runner::Thread(thread)) = self.runner.take() {
            let _ = thread.join();
        }
    }

    /// Serve until Ctrl-C, then shut down gracefully (for `chipi-session sandbox`).
    pub async fn run_until_ctrl_c(self) -> anyhow::Result<()> {
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        self.shutdown().await;
        Ok(())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
