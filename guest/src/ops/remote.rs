//! Chipi backend and Starknet RPC clients over [`Ports`].

use serde_json::Value;
use starknet_crypto::Felt;

use super::ports::Ports;
use super::Env;
use crate::protocol::calls::Call;
use crate::protocol::chipi_api;
use crate::protocol::error::{Result, SessionError};
use crate::protocol::rpc;

/// POST JSON and parse the JSON answer; non-2xx becomes a typed error.
fn post_json<P: Ports>(
    ports: &mut P,
    url: &str,
    headers: &[(String, String)],
    body: &Value,
) -> Result<Value> {
    let bytes = serde_json::to_vec(body)
        .map_err(|e| SessionError::input(format!("cannot encode request: {e}")))?;
    let response = ports
        .http_post(url, headers, &bytes)
        .map_err(SessionError::Transport)?;
    if !(200..300).contains(&response.status) {
        return Err(chipi_api::error_from_response(
            response.status,
            &response.body,
        ));
    }
    chipi_api::parse_json(&response.body)
}

/// Chipi request headers with a fresh bearer token.
fn chipi_headers<P: Ports>(env: &Env<'_>, ports: &mut P) -> Result<Vec<(String, String)>> {
    let token = ports.bearer_token().map_err(SessionError::Unauthorized)?;
    if token.trim().is_empty() {
        return Err(SessionError::Unauthorized("bearer token is empty".into()));
    }
    Ok(chipi_api::headers(&env.ctx.config.api_key, token.trim()))
}

/// `POST /transactions/prepare-typed-data`; returns the typed data.
pub fn prepare_typed_data<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    calls: &[Call],
    signer: chipi_api::Signer,
) -> Result<Value> {
    let headers = chipi_headers(env, ports)?;
    let url = chipi_api::endpoint_url(&env.ctx.config.api_base_url, chipi_api::PREPARE_TYPED_DATA);
    let body = chipi_api::prepare_typed_data_body(&env.wallet, calls, signer);
    let response = post_json(ports, &url, &headers, &body)?;
    chipi_api::typed_data_from_response(&response)
}

/// `POST /transactions/execute-sponsored-transaction`; returns the tx hash.
pub fn execute_sponsored<P: Ports>(env: &Env<'_>, ports: &mut P, body: &Value) -> Result<String> {
    let headers = chipi_headers(env, ports)?;
    let url = chipi_api::endpoint_url(&env.ctx.config.api_base_url, chipi_api::EXECUTE_SPONSORED);
    let response = post_json(ports, &url, &headers, body)?;
    chipi_api::transaction_hash_from_response(&response)
}

/// Send a JSON-RPC request to each configured node in turn until one answers;
/// transport failures and 5xx/429 move on to the next node.
fn rpc_request<P: Ports>(env: &Env<'_>, ports: &mut P, body: &Value) -> Result<Value> {
    let headers = vec![("content-type".to_string(), "application/json".to_string())];
    let mut last = SessionError::input("no RPC URL configured");
    for url in &env.ctx.config.rpc_urls {
        match post_json(ports, url, &headers, body) {
            Ok(response) => return rpc::result_of(&response).cloned(),
            Err(err @ SessionError::Transport(_)) => last = err,
            Err(SessionError::Backend(b)) if b.status >= 500 || b.status == 429 => {
                last = SessionError::Backend(b)
            }
            Err(err) => return Err(err),
        }
    }
    Err(last)
}

/// `starknet_call` on the wallet; returns the result felts.
pub fn call_wallet<P: Ports>(
    env: &Env<'_>,
    ports: &mut P,
    entrypoint: &str,
    calldata: &[Felt],
) -> Result<Vec<Felt>> {
    let body = rpc::call_body(1, &env.wallet, entrypoint, calldata)?;
    let result = rpc_request(env, ports, &body)?;
    rpc::felts_of(&result)
}

/// The chain id: configured, or read with `starknet_chainId`.
pub fn chain_id<P: Ports>(env: &Env<'_>, ports: &mut P) -> Result<Felt> {
    if let Some(configured) = &env.ctx.config.chain_id {
        return crate::protocol::typed_data_check::felt_value(&Value::String(configured.clone()))
            .ok_or_else(|| {
                SessionError::input("configured chain id is not a felt or short string")
            });
    }
    let result = rpc_request(env, ports, &rpc::chain_id_body(1))?;
    rpc::chain_id_of(&result)
}
