//! The component adapter: WIT bindings, conversions between the generated
//! types and [`crate::protocol::model`], and [`Ports`] backed by the imports
//! (`wasi:http` through wstd, `wasi:clocks`, `wasi:random`, the project's store
//! and credentials interfaces). No protocol logic lives here.

use std::time::Duration;

use zeroize::Zeroizing;

use crate::ops::{self, HttpResponse, Ports};
use crate::protocol::chipi_api::MAX_RESPONSE_BYTES;
use crate::protocol::error::SessionError as CoreError;
use crate::protocol::model as m;

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
use exports::chipi::session::session::Guest;

/// [`Ports`] backed by the component's imports.
struct WasiPorts;

impl Ports for WasiPorts {
    fn http_post(
        &mut self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<HttpResponse, String> {
        use wstd::http::{Body, Client, Method, Request};
        let mut builder = Request::builder().method(Method::POST).uri(url);
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder
            .body(Body::from(body.to_vec()))
            .map_err(|e| format!("invalid request: {e}"))?;
        wstd::runtime::block_on(async move {
            let mut client = Client::new();
            client.set_connect_timeout(Duration::from_secs(10));
            client.set_first_byte_timeout(Duration::from_secs(30));
            client.set_between_bytes_timeout(Duration::from_secs(30));
            let response = client
                .send(request)
                .await
                .map_err(|e| format!("request to {} failed: {e}", host_of(url)))?;
            let status = response.status().as_u16();
            let mut body = response.into_body();
            if body
                .content_length()
                .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
            {
                return Err("response body too large".to_string());
            }
            let bytes = body
                .contents()
                .await
                .map_err(|e| format!("reading the response of {} failed: {e}", host_of(url)))?
                .to_vec();
            Ok(HttpResponse {
                status,
                body: bytes,
            })
        })
    }

    fn store_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        chipi::session::store::get(key)
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

/// Scheme and authority of a URL, for error messages (never the query).
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split(['/', '?']).next().unwrap_or(rest)
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
        config: m::Config {
            api_base_url: ctx.config.api_base_url,
            api_key: ctx.config.api_key,
            rpc_urls: ctx.config.rpc_urls,
            chain_id: ctx.config.chain_id,
            default_duration_seconds: ctx.config.default_duration_seconds,
            default_max_calls: ctx.config.default_max_calls,
        },
    }
}

fn error(e: CoreError) -> t::SessionError {
    match e {
        CoreError::InvalidWalletType(m) => t::SessionError::InvalidWalletTypeForSession(m),
        CoreError::Expired(m) => t::SessionError::SessionExpired(m),
        CoreError::NotRegistered(m) => t::SessionError::SessionNotRegistered(m),
        CoreError::Revoked(m) => t::SessionError::SessionRevoked(m),
        CoreError::MaxCallsExceeded(m) => t::SessionError::SessionMaxCallsExceeded(m),
        CoreError::EntrypointNotAllowed(m) => t::SessionError::SessionEntrypointNotAllowed(m),
        CoreError::DecryptionFailed(m) => t::SessionError::SessionDecryptionFailed(m),
        CoreError::CreationFailed(m) => t::SessionError::SessionCreationFailed(m),
        CoreError::InvalidResponse(m) => t::SessionError::SessionInvalidResponse(m),
        CoreError::InvalidSpendingPolicy(m) => t::SessionError::InvalidSpendingPolicy(m),
        CoreError::Backend(b) => t::SessionError::Backend(t::BackendError {
            status: b.status,
            code: b.code,
            message: b.message,
        }),
        CoreError::Transport(m) => t::SessionError::Transport(m),
        CoreError::InvalidInput(m) => t::SessionError::InvalidInput(m),
        CoreError::Store(m) => t::SessionError::Store(m),
        CoreError::Unauthorized(m) => t::SessionError::Unauthorized(m),
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

/// The exported `chipi:session/session` implementation.
struct Component;

impl Guest for Component {
    fn create_session(
        ctx: t::SessionContext,
        options: t::CreateOptions,
    ) -> Result<t::SessionKeyData, t::SessionError> {
        let options = m::CreateOptions {
            duration_seconds: options.duration_seconds,
            replace_existing: options.replace_existing,
        };
        ops::create_session(&context(ctx), &options, &mut WasiPorts)
            .map(key_data)
            .map_err(error)
    }

    fn register_session(
        ctx: t::SessionContext,
        options: t::RegisterOptions,
    ) -> Result<String, t::SessionError> {
        let options = m::RegisterOptions {
            valid_until: options.valid_until,
            max_calls: options.max_calls,
            allowed_entrypoints: options.allowed_entrypoints,
        };
        ops::register_session(&context(ctx), &options, &mut WasiPorts).map_err(error)
    }

    fn execute_with_session(
        ctx: t::SessionContext,
        calls: Vec<t::Call>,
    ) -> Result<String, t::SessionError> {
        let calls: Vec<m::CallInput> = calls
            .into_iter()
            .map(|c| m::CallInput {
                contract_address: c.contract_address,
                entrypoint: c.entrypoint,
                calldata: c.calldata,
            })
            .collect();
        ops::execute_with_session(&context(ctx), &calls, &mut WasiPorts).map_err(error)
    }

    fn revoke_session(ctx: t::SessionContext) -> Result<String, t::SessionError> {
        ops::revoke_session(&context(ctx), &mut WasiPorts).map_err(error)
    }

    fn clear_session(ctx: t::SessionContext) -> Result<(), t::SessionError> {
        ops::clear_session(&context(ctx), &mut WasiPorts).map_err(error)
    }

    fn get_session_status(ctx: t::SessionContext) -> Result<t::SessionStatus, t::SessionError> {
        let s = ops::get_session_status(&context(ctx), &mut WasiPorts).map_err(error)?;
        Ok(t::SessionStatus {
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
        })
    }

    fn set_spending_policy(
        ctx: t::SessionContext,
        p: t::SpendingPolicyInput,
    ) -> Result<String, t::SessionError> {
        let p = m::SpendingPolicyInput {
            token: p.token,
            max_per_call: p.max_per_call,
            max_per_window: p.max_per_window,
            window_seconds: p.window_seconds,
        };
        ops::set_spending_policy(&context(ctx), &p, &mut WasiPorts).map_err(error)
    }

    fn get_spending_policy(
        ctx: t::SessionContext,
        token: String,
    ) -> Result<Option<t::SpendingPolicy>, t::SessionError> {
        ops::get_spending_policy(&context(ctx), &token, &mut WasiPorts)
            .map(|p| p.map(policy))
            .map_err(error)
    }

    fn remove_spending_policy(
        ctx: t::SessionContext,
        token: String,
    ) -> Result<String, t::SessionError> {
        ops::remove_spending_policy(&context(ctx), &token, &mut WasiPorts).map_err(error)
    }
}

export!(Component);
