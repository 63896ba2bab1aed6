//! Admin endpoints for the `chipi-session sandbox` command and for tests driving a
//! sandbox in another process. They need no authentication (loopback test tool),
//! are never faulted and are not recorded.
//!
//! - `POST /sandbox/wallets` `{pin, walletType?}` -> wallet JSON + `ownerPublicKey`, `classHash`
//!   (relay mode: the node's next predeployed account, CHIPI only)
//! - `GET|POST|DELETE /sandbox/faults` -> current faults / set (body: [`Faults`]) / clear
//! - `POST /sandbox/time/advance` `{seconds}` -> `{now, offsetSeconds}`
//! - `GET|DELETE /sandbox/requests` -> recorded requests / clear them
//! - `GET /sandbox/transactions` -> executed transactions
//! - `GET /sandbox/info` -> `{chainId, now, blockNumber, signatureChecks}`

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::faults::Faults;
use super::felt;
use super::state::Shared;
use super::wallets::SandboxWalletType;

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("Body is not valid JSON: {e}")))
}

/// `POST /sandbox/wallets`.
pub(crate) async fn create_wallet(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let result = parse_body(&body).and_then(|v| {
        let pin = v
            .get("pin")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| ApiError::invalid("pin must be a non-empty string"))?;
        let wallet_type = match v.get("walletType") {
            None | Some(Value::Null) => SandboxWalletType::Chipi,
            Some(Value::String(s)) => SandboxWalletType::parse(s)
                .ok_or_else(|| ApiError::invalid("walletType must be CHIPI or READY"))?,
            Some(_) => return Err(ApiError::invalid("walletType must be CHIPI or READY")),
        };
        let (wallet, class_hash) = match &shared.relay {
            // Relay mode: the node's next predeployed account.
            Some(relay) if wallet_type == SandboxWalletType::Chipi => (
                relay
                    .take_wallet(pin)
                    .map_err(|e| ApiError::bad_request("NO_WALLET_LEFT", e.to_string()))?,
                felt::hex(&relay.account_class()),
            ),
            Some(_) => return Err(ApiError::invalid("relay mode hands out CHIPI wallets only")),
            None => (
                shared.create_wallet(pin, wallet_type),
                wallet_type.class_hash().to_owned(),
            ),
        };
        let mut out = serde_json::to_value(&wallet).unwrap_or_else(|_| json!({}));
        out["ownerPublicKey"] = json!(wallet.owner_public_key);
        out["classHash"] = json!(class_hash);
        Ok(out)
    });
    match result {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /sandbox/faults`.
pub(crate) async fn get_faults(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!(shared.lock().faults)).into_response()
}

/// `POST /sandbox/faults`.
pub(crate) async fn set_faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(f) => {
            shared.lock().faults = Some(f.clone());
            Json(json!(f)).into_response()
        }
        Err(e) => ApiError::invalid(format!("Invalid faults: {e}")).into_response(),
    }
}

/// `DELETE /sandbox/faults`.
pub(crate) async fn clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    shared.lock().faults = None;
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /sandbox/time/advance`.
pub(crate) async fn advance_time(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let result = parse_body(&body).and_then(|v| {
        v.get("seconds")
            .and_then(Value::as_i64)
            .ok_or_else(|| ApiError::invalid("seconds must be an integer"))
    });
    match result {
        Ok(secs) => {
            shared.clock.advance(secs);
            Json(json!({ "now": shared.now(), "offsetSeconds": shared.clock.offset_secs() }))
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `GET /sandbox/requests`.
pub(crate) async fn get_requests(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!(shared.lock().requests)).into_response()
}

/// `DELETE /sandbox/requests`.
pub(crate) async fn clear_requests(State(shared): State<Arc<Shared>>) -> Response {
    shared.lock().requests.clear();
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /sandbox/transactions`.
pub(crate) async fn get_transactions(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!(shared.lock().transactions)).into_response()
}

/// `GET /sandbox/info`.
pub(crate) async fn info(State(shared): State<Arc<Shared>>) -> Response {
    let block = shared.lock().block_number;
    Json(json!({
        "chainId": felt::hex(&shared.chain_id),
        "now": shared.now(),
        "blockNumber": block,
        "signatureChecks": shared.signature_checks.load(Ordering::SeqCst),
    }))
    .into_response()
}
