//! The component adapter: WIT bindings, conversions between the generated
//! types and [`crate::protocol::model`], and [`Ports`] backed by the imports
//! (`wasi:http` through wstd, `wasi:clocks`, `wasi:random`, the project's store
//! and credentials interfaces). No protocol logic lives here.

use std::cell::RefCell;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::crypto::envelope::KeyKind;
use crate::ops::{self, HttpResponse, Ports};
use crate::protocol::chipi_api::MAX_RESPONSE_BYTES;
use crate::protocol::error::{session_error_table, BackendError, SessionError};
use crate::protocol::model as m;
use crate::protocol::url_scope::UrlScope;

wit_bindgen::generate!({
    path: "../wit",
    world: "session-engine",
    with: {
        "wasi:http/outgoing-handler@0.2.4": wasip2::http::outgoing_handler,
        "wasi:http/types@0.2.4": wasip2::http::types,
        "wasi:io/error@0.2.4": wasip2::io::error,
        "wasi:io/poll@0.2.4": wasip2::io::poll,
        "wasi:io/streams@0.2.4": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.4": wasip2::clocks::monotonic_clock,
        "wasi:clocks/wall-clock@0.2.4": wasip2::clocks::wall_clock,
        "wasi:random/random@0.2.4": wasip2::random::random,
    },
});

use chipi::session::types as t;
use exports::chipi::session::session::{Guest, GuestWalletSession};

/// Time budget of an operation when the host sets none.
const DEFAULT_TIMEOUT_MS: u64 = 60_000;
/// Longest wait for a connection.
const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Longest wait between two chunks of a response.
const BETWEEN_BYTES_TIMEOUT_MS: u64 = 30_000;

/// [`Ports`] backed by the component's imports, within one operation's time
/// budget (monotonic clock).
struct WasiPorts {
    /// Monotonic deadline of the operation, nanoseconds.
    deadline_ns: u64,
    /// Where requests may go: the session's API and RPC URLs.
    scope: UrlScope,
}

impl WasiPorts {
    /// Ports for an operation of `session`: its time budget, starting now,
    /// and its URL scope.
    fn new(session: &ops::WalletSession) -> Self {
        let budget_ms = session.timeout_ms().unwrap_or(DEFAULT_TIMEOUT_MS);
        let now = wasip2::clocks::monotonic_clock::now();
        Self {
            deadline_ns: now.saturating_add(budget_ms.saturating_mul(1_000_000)),
            scope: session.url_scope(),
        }
    }
}

/// Read a response body in a loop, refusing it past `cap` bytes whether or
/// not it announced a length (chunked answers included).
async fn read_capped(body: wstd::http::Body, cap: usize) -> Result<Vec<u8>, String> {
    use http_body_util::BodyExt;
    if body.content_length().is_some_and(|len| len > cap as u64) {
        return Err(format!("response body larger than {cap} bytes"));
    }
    let mut body = body.into_boxed_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the response failed: {e}"))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > cap {
                return Err(format!("response body larger than {cap} bytes"));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

impl Ports for WasiPorts {
    fn http_post(
        &mut self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<HttpResponse, String> {
        use wstd::future::FutureExt;
        use wstd::http::{Body, Client, Method, Request};
        let remaining = self.remaining_ms();
        if remaining == 0 {
            return Err(format!(
                "the operation's time budget ran out before the request to {}",
                host_of(url)
            ));
        }
        // The URI that was checked is the one sent.
        let uri = self.scope.admit(url)?;
        let mut builder = Request::builder().method(Method::POST).uri(uri);
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder
            .body(Body::from(body.to_vec()))
            .map_err(|_| format!("invalid request to {}", host_of(url)))?;
        let exchange = async move {
            let mut client = Client::new();
            client.set_connect_timeout(Duration::from_millis(remaining.min(CONNECT_TIMEOUT_MS)));
            client.set_first_byte_timeout(Duration::from_millis(remaining));
            client.set_between_bytes_timeout(Duration::from_millis(
                remaining.min(BETWEEN_BYTES_TIMEOUT_MS),
            ));
            let response = client
                .send(request)
                .await
                .map_err(|e| format!("request to {} failed: {e}", host_of(url)))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = read_capped(response.into_body(), MAX_RESPONSE_BYTES)
                .await
                .map_err(|e| format!("{} ({})", e, host_of(url)))?;
            Ok(HttpResponse {
                status,
                retry_after,
                body,
            })
        };
        wstd::runtime::block_on(async move {
            exchange
                .timeout(wstd::time::Duration::from_millis(remaining))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "request to {} ran out of the operation's time budget",
                        host_of(url)
                    ))
                })
        })
    }

    fn remaining_ms(&mut self) -> u64 {
        let now = wasip2::clocks::monotonic_clock::now();
        self.deadline_ns.saturating_sub(now) / 1_000_000
    }

    fn sleep_ms(&mut self, ms: u64) {
        let ms = ms.min(self.remaining_ms());
        // The timer must be made inside the runtime (it registers with its reactor).
        wstd::runtime::block_on(async move {
            wstd::task::sleep(wstd::time::Duration::from_millis(ms)).await
        });
    }

    fn warn(&mut self, message: &str) {
        eprintln!("warning: {message}");
    }

    fn store_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        use chipi::session::store::Lookup;
        match chipi::session::store::get(key) {
            Lookup::Found(value) => Ok(Some(value)),
            Lookup::Absent => Ok(None),
            Lookup::Failed(message) => Err(message),
        }
    }

    fn store_cas(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, String> {
        chipi::session::store::compare_and_swap(key, expected, new)
    }

    fn now_unix(&mut self) -> u64 {
        wasip2::clocks::wall_clock::now().seconds
    }

    fn fill_random(&mut self, buf: &mut [u8]) {
        let bytes = Zeroizing::new(wasip2::random::random::get_random_bytes(buf.len() as u64));
        for (dst, src) in buf.iter_mut().zip(bytes.iter()) {
            *dst = *src;
        }
    }

    fn bearer_token(&mut self) -> Result<Zeroizing<String>, String> {
        chipi::session::credentials::bearer_token().map(Zeroizing::new)
    }
}

/// Host and port of a URL, for error messages: never the userinfo, path or
/// query.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map(|(_, host)| host)
        .unwrap_or(authority)
}

fn context(ctx: t::SessionContext) -> m::SessionContext {
    m::SessionContext {
        wallet: m::Wallet {
            address: ctx.wallet.address,
            encrypted_private_key: ctx.wallet.encrypted_private_key,
            wallet_type: match ctx.wallet.wallet_type {
                t::WalletType::Chipi => m::WalletType::Chipi,
                t::WalletType::Ready => m::WalletType::Ready,
            },
        },
        encrypt_key: Zeroizing::new(ctx.encrypt_key),
        encrypt_key_kind: match ctx.encrypt_key_kind {
            t::EncryptKeyKind::Pin => KeyKind::Pin,
            t::EncryptKeyKind::HighEntropy => KeyKind::HighEntropy,
        },
        config: m::Config {
            api_base_url: ctx.config.api_base_url,
            api_key: ctx.config.api_key,
            rpc_urls: ctx.config.rpc_urls,
            chain_id: ctx.config.chain_id,
            default_duration_seconds: ctx.config.default_duration_seconds,
            default_max_calls: ctx.config.default_max_calls,
            timeout_ms: ctx.config.timeout_ms,
        },
    }
}

/// An error payload as the WIT `session-error` variant carries it.
trait ToWit {
    /// The WIT payload type.
    type Wit;
    /// Convert.
    fn to_wit(self) -> Self::Wit;
}

impl ToWit for String {
    type Wit = String;
    fn to_wit(self) -> String {
        self
    }
}

impl ToWit for BackendError {
    type Wit = t::BackendError;
    fn to_wit(self) -> t::BackendError {
        t::BackendError {
            status: self.status,
            code: self.code,
            message: self.message,
        }
    }
}

/// `error`: every row of the error table, variant to WIT case.
macro_rules! wit_error {
    ($($variant:ident => $wit:ident, $code:literal, $origin:ident;)*) => {
        /// The WIT `session-error` case of a guest error.
        fn error(e: SessionError) -> t::SessionError {
            match e {
                $(SessionError::$variant(payload) => t::SessionError::$wit(payload.to_wit()),)*
            }
        }
    };
}
session_error_table!(wit_error);

fn intent(o: t::IntentOptions) -> m::IntentOptions {
    m::IntentOptions {
        idempotency_key: o.idempotency_key,
    }
}

fn key_data(k: m::SessionKeyData) -> t::SessionKeyData {
    t::SessionKeyData {
        public_key: k.public_key,
        encrypted_private_key: k.encrypted_private_key,
        valid_until: k.valid_until,
    }
}

fn state(s: m::SessionState) -> t::SessionState {
    match s {
        m::SessionState::None => t::SessionState::None,
        m::SessionState::Created => t::SessionState::Created,
        m::SessionState::Active => t::SessionState::Active,
        m::SessionState::Expired => t::SessionState::Expired,
        m::SessionState::Revoked => t::SessionState::Revoked,
    }
}

fn policy(p: m::SpendingPolicy) -> t::SpendingPolicy {
    t::SpendingPolicy {
        token: p.token,
        max_per_call: p.max_per_call,
        max_per_window: p.max_per_window,
        window_seconds: p.window_seconds,
        spent: p.spent,
        window_start: p.window_start,
    }
}

fn receipt(r: m::TransactionReceipt) -> t::TransactionReceipt {
    t::TransactionReceipt {
        transaction_hash: r.transaction_hash,
        finality_status: r.finality_status,
        execution_status: match r.execution_status {
            m::ExecutionStatus::Succeeded => t::ExecutionStatus::Succeeded,
            m::ExecutionStatus::Reverted => t::ExecutionStatus::Reverted,
        },
        revert_reason: r.revert_reason,
        block_number: r.block_number,
    }
}

fn status(s: m::SessionStatus) -> t::SessionStatus {
    t::SessionStatus {
        state: state(s.state),
        is_active: s.is_active,
        session: s.session.map(key_data),
        on_chain: s.on_chain.map(|d| t::SessionData {
            valid_until: d.valid_until,
            max_calls: d.max_calls,
            calls_used: d.calls_used,
            allowed_entrypoints_len: d.allowed_entrypoints_len,
            allowed_entrypoints: d.allowed_entrypoints,
        }),
        remaining_calls: s.remaining_calls,
    }
}

/// The exported `chipi:session/session` implementation.
struct Component;

impl Guest for Component {
    type WalletSession = WalletSessionResource;
}

/// The `wallet-session` resource: [`ops::WalletSession`] behind a `RefCell`
/// (the component model never re-enters an instance, so a borrow is never
/// contended; if it were, the call fails with a typed error).
struct WalletSessionResource {
    inner: RefCell<ops::WalletSession>,
}

impl WalletSessionResource {
    /// Run one operation with the ports of a fresh time budget; map errors.
    fn run<T>(
        &self,
        op: impl FnOnce(&mut ops::WalletSession, &mut WasiPorts) -> Result<T, SessionError>,
    ) -> Result<T, t::SessionError> {
        let mut session = self.inner.try_borrow_mut().map_err(|_| {
            t::SessionError::InvalidInput("the wallet session is already in a call".into())
        })?;
        let mut ports = WasiPorts::new(&session);
        op(&mut session, &mut ports).map_err(error)
    }
}

impl GuestWalletSession for WalletSessionResource {
    fn new(ctx: t::SessionContext) -> Self {
        Self {
            inner: RefCell::new(ops::WalletSession::new(context(ctx))),
        }
    }

    fn create_session(
        &self,
        options: t::CreateOptions,
    ) -> Result<t::SessionKeyData, t::SessionError> {
        let options = m::CreateOptions {
            duration_seconds: options.duration_seconds,
            replace_existing: options.replace_existing,
        };
        self.run(|s, ports| s.create_session(&options, ports))
            .map(key_data)
    }

    fn register_session(&self, options: t::RegisterOptions) -> Result<String, t::SessionError> {
        let options = m::RegisterOptions {
            valid_until: options.valid_until,
            max_calls: options.max_calls,
            allowed_entrypoints: options.allowed_entrypoints,
            idempotency_key: options.idempotency_key,
        };
        self.run(|s, ports| s.register_session(&options, ports))
    }

    fn execute_with_session(
        &self,
        calls: Vec<t::Call>,
        options: t::IntentOptions,
    ) -> Result<String, t::SessionError> {
        let calls: Vec<m::CallInput> = calls
            .into_iter()
            .map(|c| m::CallInput {
                contract_address: c.contract_address,
                entrypoint: c.entrypoint,
                calldata: c.calldata,
            })
            .collect();
        let options = intent(options);
        self.run(|s, ports| s.execute_with_session(&calls, &options, ports))
    }

    fn revoke_session(&self, options: t::IntentOptions) -> Result<String, t::SessionError> {
        let options = intent(options);
        self.run(|s, ports| s.revoke_session(&options, ports))
    }

    fn clear_session(&self) -> Result<(), t::SessionError> {
        self.run(ops::WalletSession::clear_session)
    }

    fn get_session_status(&self) -> Result<t::SessionStatus, t::SessionError> {
        self.run(ops::WalletSession::get_session_status).map(status)
    }

    fn set_spending_policy(
        &self,
        p: t::SpendingPolicyInput,
        options: t::IntentOptions,
    ) -> Result<String, t::SessionError> {
        let p = m::SpendingPolicyInput {
            token: p.token,
            max_per_call: p.max_per_call,
            max_per_window: p.max_per_window,
            window_seconds: p.window_seconds,
        };
        let options = intent(options);
        self.run(|s, ports| s.set_spending_policy(&p, &options, ports))
    }

    fn get_spending_policy(
        &self,
        token: String,
    ) -> Result<Option<t::SpendingPolicy>, t::SessionError> {
        self.run(|s, ports| s.get_spending_policy(&token, ports))
            .map(|p| p.map(policy))
    }

    fn remove_spending_policy(
        &self,
        token: String,
        options: t::IntentOptions,
    ) -> Result<String, t::SessionError> {
        let options = intent(options);
        self.run(|s, ports| s.remove_spending_policy(&token, &options, ports))
    }

    fn wait_for_transaction(
        &self,
        transaction_hash: String,
        timeout_ms: u64,
    ) -> Result<t::TransactionReceipt, t::SessionError> {
        self.run(|s, ports| s.wait_for_transaction(&transaction_hash, timeout_ms, ports))
            .map(receipt)
    }

    fn lock(&self) {
        if let Ok(mut session) = self.inner.try_borrow_mut() {
            let mut ports = WasiPorts::new(&session);
            session.flush(&mut ports);
            session.lock();
        }
    }
}

impl Drop for WalletSessionResource {
    /// Write the last accepted execute's landing before the session goes
    /// (its keys are zeroized by their own destructors).
    fn drop(&mut self) {
        let session = self.inner.get_mut();
        let mut ports = WasiPorts::new(session);
        session.flush(&mut ports);
        session.lock();
    }
}

export!(Component);

/// Definitions of C-library imports the component has no use for, so that it
/// does not import them. wasi-libc declares each WASI import as an undefined
/// symbol; a definition here takes its place at link time. Only imports whose
/// answer is a plain value are replaced: the environment is empty and no
/// standard stream is a terminal (what every host here grants anyway).
/// `wit/component-imports.txt` and its test show the effect; if a toolchain
/// renames these symbols, the imports come back and that test fails.
mod libc_imports {
    /// `wasi:cli/environment.get-environment`: an empty list (null, 0).
    ///
    /// # Safety
    /// `ret` points to the two-word list the C library passes.
    #[no_mangle]
    unsafe extern "C" fn __wasm_import_environment_get_environment(ret: *mut [usize; 2]) {
        // SAFETY: the caller passes a valid, aligned return area.
        unsafe { ret.write([0, 0]) };
    }

    /// Writes `none` into an `option<own<terminal-*>>` return area.
    ///
    /// # Safety
    /// `ret` points to the option's return area (tag word, handle word).
    unsafe fn no_terminal(ret: *mut [u32; 2]) {
        // SAFETY: the caller passes a valid, aligned return area.
        unsafe { ret.write([0, 0]) };
    }

    /// `wasi:cli/terminal-stdin.get-terminal-stdin`: `none`.
    #[no_mangle]
    unsafe extern "C" fn __wasm_import_terminal_stdin_get_terminal_stdin(ret: *mut [u32; 2]) {
        // SAFETY: as for `no_terminal`.
        unsafe { no_terminal(ret) }
    }

    /// `wasi:cli/terminal-stdout.get-terminal-stdout`: `none`.
    #[no_mangle]
    unsafe extern "C" fn __wasm_import_terminal_stdout_get_terminal_stdout(ret: *mut [u32; 2]) {
        // SAFETY: as for `no_terminal`.
        unsafe { no_terminal(ret) }
    }

    /// `wasi:cli/terminal-stderr.get-terminal-stderr`: `none`.
    #[no_mangle]
    unsafe extern "C" fn __wasm_import_terminal_stderr_get_terminal_stderr(ret: *mut [u32; 2]) {
        // SAFETY: as for `no_terminal`.
        unsafe { no_terminal(ret) }
    }

    /// `[resource-drop]terminal-input`: never called, as no terminal handle
    /// is ever given out above.
    #[no_mangle]
    extern "C" fn __wasm_import_terminal_input_terminal_input_drop(_handle: u32) {}

    /// `[resource-drop]terminal-output`: never called, as no terminal handle
    /// is ever given out above.
    #[no_mangle]
    extern "C" fn __wasm_import_terminal_output_terminal_output_drop(_handle: u32) {}
}
