//! Chipi backend and Starknet RPC clients over [`Ports`].
//!
//! Idempotent requests (JSON-RPC reads, `prepare-typed-data`) are retried with
//! exponential backoff on transport failures, 429 and 5xx, honouring
//! `Retry-After`, within the operation's time budget; JSON-RPC requests fail
//! over to the next configured node. `execute-sponsored-transaction` is never
//! retried here: its outcome is classified ([`Sent`]) so the caller can keep
//! the signed body pending when the answer is lost.

use serde_json::Value;
use starknet_crypto::Felt;

use super::ports::{HttpResponse, Ports};
use super::Env;
use crate::protocol::calldata;
use crate::protocol::calls::Call;
use crate::protocol::chipi_api;
use crate::protocol::error::{Result, SessionError};
use crate::protocol::model::{SessionData, TransactionReceipt};
use crate::protocol::rpc;

/// Attempts of one idempotent request against one URL.
const ATTEMPTS: u32 = 3;
/// First backoff delay; doubled after each attempt.
const BACKOFF_MS: u64 = 250;
/// Longest `Retry-After` honoured, seconds (a longer one fails at once).
const MAX_RETRY_AFTER_SECS: u64 = 10;

/// POST JSON; returns the raw response (any status) or a transport error.
fn post<P: Ports>(
    ports: &mut P,
    url: &str,
    headers: &[(String, String)],
    body: &Value,
) -> Result<HttpResponse> {
    let bytes = serde_json::to_vec(body)
        .map_err(|e| SessionError::input(format!("cannot encode request: {e}")))?;
    ports
        .http_post(url, headers, &bytes)
        .map_err(SessionError::Transport)
}

/// True for answers worth retrying: 429 and 5xx.
fn retryable_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// `Retry-After` as seconds (the HTTP-date form is not honoured: backoff applies).
fn retry_after_ms(response: &HttpResponse) -> Option<u64> {
    let secs: u64 = response.retry_after.as_deref()?.trim().parse().ok()?;
    Some(secs.saturating_mul(1000))
}

/// POST an idempotent request, retrying transport failures, 429 and 5xx with
/// backoff; returns the parsed JSON of a 2xx answer.
fn post_idempotent<P: Ports>(
    ports: &mut P,
    url: &str,
    headers: &[(String, String)],
    body: &Value,
) -> Result<Value> {
    let mut delay = BACKOFF_MS;
    let mut attempt = 1;
    loop {
        let (err, wait) = match post(ports, url, headers, body) {
            Ok(r) if (200..300).contains(&r.status) => return chipi_api::parse_json(&r.body),
            Ok(r) if retryable_status(r.status) => {
                let wait = retry_after_ms(&r);
                let err = chipi_api::error_from_response(r.status, &r.body);
                if wait.is_some_and(|w| w > MAX_RETRY_AFTER_SECS * 1000) {
                    return Err(err);
                }
                (err, wait.unwrap_or(delay))
            }
            Ok(r) => return Err(chipi_api::error_from_response(r.status, &r.body)),
            Err(err) => (err, delay),
        };
        // Leave room for the next attempt itself.
        if attempt >= ATTEMPTS || ports.remaining_ms() <= wait.saturating_mul(2) {
            return Err(err);
        }
        ports.sleep_ms(wait);
        attempt += 1;
        delay = delay.saturating_mul(2);
    }
}

/// Longest header value sent (bearer token, API key).
const MAX_HEADER_VALUE: usize = 8 * 1024;

/// Visible ASCII only (no CR/LF injection), bounded.
fn header_safe(value: &str) -> bool {
    value.len() <= MAX_HEADER_VALUE && value.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Chipi request headers with a fresh bearer token.
fn chipi_headers<P: Ports>(env: &Env<'_>, ports: &mut P) -> Result<Vec<(String, String)>> {
    let token = ports.bearer_token().map_err(SessionError::Unauthorized)?;
    let token = token.trim();
    if token.is_empty() {
        return Err(SessionError::Unauthorized("bearer token is empty".into()));
    }
    if !header_safe(token) {
        return Err(SessionError::Unauthorized(format!(
            "bearer token is not a header value of at most {MAX_HEADER_VALUE} visible ASCII characters"
        )));
    }
    if !header_safe(&env.ctx.config.api_key) {
        return Err(SessionError::input(format!(
            "API key is not a header value of at most {MAX_HEADER_VALUE} visible ASCII characters"
        )));
    }
    Ok(chipi_api::headers(&env.ctx.config.api_key, token))
}

/// `POST /transactions/prepare-typed-data`; returns the typed data.
pub(crate) fn prepare_typed_data<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    calls: &[Call],
    signer: chipi_api::Signer,
) -> Result<Value> {
    let headers = chipi_headers(env, ports)?;
    let url = chipi_api::endpoint_url(&env.ctx.config.api_base_url, chipi_api::PREPARE_TYPED_DATA);
    let body = chipi_api::prepare_typed_data_body(&env.wallet, calls, signer);
    let response = post_idempotent(ports, &url, &headers, &body)?;
    chipi_api::typed_data_from_response(&response)
}

/// Outcome of handing a signed transaction to the backend.
#[derive(Debug)]
pub(crate) enum Sent {
    /// Accepted: the transaction hash.
    Accepted(String),
    /// Refused before processing (a 4xx answer other than 408 and 429): the
    /// transaction will not land from this request.
    Refused(SessionError),
    /// The answer was lost or says nothing definite (transport failure,
    /// time-out, 408, 429, 5xx, a 2xx without a usable hash): the transaction
    /// may have landed.
    Unknown(SessionError),
}

/// `POST /transactions/execute-sponsored-transaction` with a signed body
/// (its exact bytes), sent once.
pub(crate) fn execute_sponsored<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    body: &[u8],
) -> Result<Sent> {
    let headers = chipi_headers(env, ports)?;
    let url = chipi_api::endpoint_url(&env.ctx.config.api_base_url, chipi_api::EXECUTE_SPONSORED);
    Ok(match ports.http_post(&url, &headers, body) {
        Err(err) => Sent::Unknown(SessionError::Transport(err)),
        Ok(r) if (200..300).contains(&r.status) => {
            match chipi_api::parse_json(&r.body)
                .and_then(|v| chipi_api::transaction_hash_from_response(&v))
            {
                Ok(hash) => Sent::Accepted(hash),
                Err(err) => Sent::Unknown(err),
            }
        }
        Ok(r) if r.status == 408 || retryable_status(r.status) => {
            Sent::Unknown(chipi_api::error_from_response(r.status, &r.body))
        }
        Ok(r) => Sent::Refused(chipi_api::error_from_response(r.status, &r.body)),
    })
}

/// Send a JSON-RPC request to each configured node in turn (each with
/// retries) until one answers with a result; node errors, transport failures,
/// 429 and 5xx move on to the next node. Returns the last error.
fn rpc_request<P: Ports>(env: &Env<'_>, ports: &mut P, body: &Value) -> Result<Value> {
    let headers = vec![("content-type".to_string(), "application/json".to_string())];
    let mut last = SessionError::input("no RPC URL configured");
    for url in &env.ctx.config.rpc_urls {
        match post_idempotent(ports, url, &headers, body) {
            Ok(response) => match rpc::result_of(&response) {
                Ok(result) => return Ok(result.clone()),
                Err(err) => last = err,
            },
            Err(err @ (SessionError::Transport(_) | SessionError::InvalidResponse(_))) => {
                last = err;
            }
            Err(SessionError::Backend(b)) if b.status >= 500 || b.status == 429 => {
                last = SessionError::Backend(b);
            }
            Err(err) => return Err(err),
        }
    }
    Err(last)
}

/// `starknet_call` of a view (built by [`calldata`]); returns the result felts.
pub(crate) fn call_view<P: Ports>(env: &Env<'_>, ports: &mut P, call: &Call) -> Result<Vec<Felt>> {
    let result = rpc_request(env, ports, &rpc::call_body(1, call))?;
    rpc::felts_of(&result)
}

/// SNIP-9 `is_valid_outside_execution_nonce(nonce)`: false once an outside
/// execution with that nonce ran on the account.
pub(crate) fn outside_nonce_is_unused<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    nonce: &Felt,
) -> Result<bool> {
    let felts = call_view(
        env,
        ports,
        &calldata::is_valid_outside_execution_nonce(env.wallet, *nonce),
    )?;
    match felts.as_slice() {
        [v] if *v == Felt::ONE => Ok(true),
        [v] if *v == Felt::ZERO => Ok(false),
        _ => Err(SessionError::response(
            "is_valid_outside_execution_nonce returned something other than a bool",
        )),
    }
}

/// The chain id the node reports (`starknet_chainId`).
pub(crate) fn node_chain_id<P: Ports>(env: &Env<'_>, ports: &mut P) -> Result<Felt> {
    let result = rpc_request(env, ports, &rpc::chain_id_body(1))?;
    rpc::chain_id_of(&result)
}

/// `starknet_getTransactionReceipt`: `Ok(None)` while the node does not know
/// the transaction (`TXN_HASH_NOT_FOUND`) or has not accepted it yet.
pub(crate) fn transaction_receipt<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    hash: &Felt,
) -> Result<Option<TransactionReceipt>> {
    match rpc_request(env, ports, &rpc::receipt_body(1, hash)) {
        Ok(result) => rpc::receipt_of(&result),
        Err(SessionError::Backend(b))
            if b.status == 0 && b.code.as_deref() == Some(&rpc::TXN_HASH_NOT_FOUND.to_string()) =>
        {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// `get_session_data(public_key)` of the wallet's account, without the
/// whitelist entries (their number only).
pub(crate) fn session_data<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    public_key: &Felt,
) -> Result<SessionData> {
    let felts = call_view(
        env,
        ports,
        &calldata::get_session_data(env.wallet, *public_key),
    )?;
    rpc::decode_session_data(&felts)
}
