//! The two Chipi REST endpoints: `POST /v1/transactions/prepare-typed-data` and
//! `POST /v1/transactions/execute-sponsored-transaction`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use starknet_core::types::Felt;

use super::account::SessionSignature;
use super::error::ApiError;
use super::faults::AppliedFaults;
use super::felt;
use super::relay::Relay;
use super::server::{self, ConnectionKill};
use super::state::{
    ExecutedCall, Issued, IssuedTypedData, Receipt, SandboxTransaction, Shared, TxSigner,
};
use super::typed_data::{self, OeCall};
use super::wallets::{SandboxWalletType, CHIPI_CLASS_HASH, CHIPI_V33_CLASS_HASH};

/// The API version every request must carry as `__chipi_api_version`.
pub const API_VERSION: &str = "2025-12-30";
/// Largest request body accepted.
pub(crate) const MAX_BODY: usize = 1 << 20;
/// Most calls accepted in one request.
const MAX_CALLS: usize = 64;

/// Check the query version, API key, bearer token and content type, in that order.
fn check_request(shared: &Shared, parts: &Parts) -> Result<(), ApiError> {
    let version_ok = parts.uri.query().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .any(|(k, v)| k == "__chipi_api_version" && v == API_VERSION)
    });
    if !version_ok {
        return Err(ApiError::bad_request(
            "INVALID_API_VERSION",
            format!("Missing or unsupported __chipi_api_version (expected {API_VERSION})"),
        ));
    }
    let header_str = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if header_str("x-api-key") != Some(shared.api_key.as_str()) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_API_KEY",
            "Invalid API key",
        ));
    }
    let bearer = header_str("authorization").and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    if bearer != Some(shared.bearer_token.as_str()) || shared.bearer_token.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Invalid or missing bearer token",
        ));
    }
    let json_ct = header_str(header::CONTENT_TYPE.as_str()).is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json_ct {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "Content-Type must be application/json",
        ));
    }
    Ok(())
}

async fn read_json(
    req: Request,
    shared: &Shared,
) -> Result<(Parts, Map<String, Value>, AppliedFaults), ApiError> {
    let (parts, body) = req.into_parts();
    check_request(shared, &parts)?;
    let applied = parts
        .extensions
        .get::<AppliedFaults>()
        .cloned()
        .unwrap_or_default();
    let bytes: Bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::invalid("Request body could not be read or is too large"))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid(format!("Body is not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok((parts, map, applied)),
        _ => Err(ApiError::invalid("Body must be a JSON object")),
    }
}

fn felt_field(obj: &Map<String, Value>, key: &str) -> Result<Felt, ApiError> {
    obj.get(key)
        .and_then(Value::as_str)
        .and_then(felt::parse_felt_str)
        .ok_or_else(|| ApiError::invalid(format!("{key} must be a hex or decimal felt string")))
}

fn parse_calls(obj: &Map<String, Value>) -> Result<Vec<OeCall>, ApiError> {
    let calls = obj
        .get("calls")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::invalid("calls must be an array"))?;
    if calls.is_empty() || calls.len() > MAX_CALLS {
        return Err(ApiError::invalid(format!(
            "calls must hold between 1 and {MAX_CALLS} calls"
        )));
    }
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let c = c
                .as_object()
                .ok_or_else(|| ApiError::invalid(format!("calls[{i}] must be an object")))?;
            let to = felt_field(c, "contractAddress").map_err(|_| {
                ApiError::invalid(format!("calls[{i}].contractAddress is malformed"))
            })?;
            let (selector, name) = c
                .get("entrypoint")
                .and_then(Value::as_str)
                .and_then(felt::selector_of)
                .ok_or_else(|| ApiError::invalid(format!("calls[{i}].entrypoint is malformed")))?;
            let calldata = c
                .get("calldata")
                .and_then(Value::as_array)
                .ok_or_else(|| ApiError::invalid(format!("calls[{i}].calldata must be an array")))?
                .iter()
                .map(felt::parse_felt_json)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ApiError::invalid(format!("calls[{i}].calldata holds a malformed felt"))
                })?;
            Ok(OeCall {
                to,
                selector,
                name,
                calldata,
            })
        })
        .collect()
}

fn require_chipi_wallet_type(obj: &Map<String, Value>, required: bool) -> Result<(), ApiError> {
    match obj.get("walletType") {
        None if !required => Ok(()),
        Some(Value::String(s)) if s == "CHIPI" => Ok(()),
        Some(Value::String(s)) => Err(ApiError::bad_request(
            "INVALID_WALLET_TYPE",
            format!("walletType {s} is not supported here; only CHIPI wallets"),
        )),
        _ => Err(ApiError::invalid("walletType must be \"CHIPI\"")),
    }
}

fn wallet_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "WALLET_NOT_FOUND",
        "Wallet not found",
    )
}

/// `POST /v1/transactions/prepare-typed-data`.
pub(crate) async fn prepare_typed_data(
    State(shared): State<Arc<Shared>>,
    req: Request,
) -> Response {
    match prepare(&shared, req).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn prepare(shared: &Shared, req: Request) -> Result<Value, ApiError> {
    let (_, obj, applied) = read_json(req, shared).await?;
    let wallet = felt_field(&obj, "publicKey")?;
    let calls = parse_calls(&obj)?;
    let class_hash = felt_field(&obj, "accountClassHash")?;
    // Chipi's SDK sends `walletType` only when the session key will sign; the
    // account itself says what it is.
    require_chipi_wallet_type(&obj, false)?;

    // Relay mode: the wallet must be a session account on the node, and the time
    // window comes from the node's block time.
    let now = match &shared.relay {
        Some(relay) => {
            relay.check_wallet(&wallet).await?;
            relay.block_time().await?
        }
        None => shared.now(),
    };
    let mut guard = shared.lock();
    let st = &mut *guard;
    if shared.relay.is_none() {
        let account = st.accounts.get(&wallet).ok_or_else(wallet_not_found)?;
        if account.wallet_type != SandboxWalletType::Chipi {
            return Err(ApiError::bad_request(
                "INVALID_WALLET_TYPE",
                "Wallet is not a CHIPI wallet",
            ));
        }
    }
    let chipi_classes = [CHIPI_CLASS_HASH, CHIPI_V33_CLASS_HASH]
        .map(|h| felt::parse_felt_str(h).unwrap_or_default());
    if !chipi_classes.contains(&class_hash) {
        return Err(ApiError::bad_request(
            "INVALID_CLASS_HASH",
            "accountClassHash is not a CHIPI account class hash",
        ));
    }
    let mut honest = typed_data::issue(shared.chain_id, now, calls);
    if applied.reuse_nonce {
        // A careless backend: the nonce of the wallet's last executed transaction.
        let wallet_hex = felt::hex(&wallet);
        if let Some(used) = st
            .transactions
            .iter()
            .rev()
            .find(|t| t.wallet == wallet_hex)
            .and_then(|t| felt::parse_felt_str(&t.nonce))
        {
            honest.nonce = used;
        }
    }
    let served_oe = match applied.substitute {
        Some(sub) => typed_data::substitute(&honest, sub, now),
        None => honest.clone(),
    };
    let served = typed_data::render(&served_oe, shared.style);
    let key = (wallet, honest.nonce);
    st.issued_order.push(key);
    st.issued.insert(
        key,
        Issued {
            info: IssuedTypedData {
                wallet: felt::hex(&wallet),
                nonce: felt::hex(&honest.nonce),
                served: served.clone(),
                substituted: applied.substitute,
                used: false,
            },
            honest,
        },
    );
    Ok(json!({ "typedData": served, "walletType": "CHIPI" }))
}

enum UserSignature {
    Owner { r: Felt, s: Felt },
    Session(SessionSignature),
}

fn parse_signature(obj: &Map<String, Value>) -> Result<UserSignature, ApiError> {
    let is_session = match obj.get("isSessionSignature") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid("isSessionSignature must be a boolean")),
    };
    let sig = obj
        .get("userSignature")
        .ok_or_else(|| ApiError::invalid("userSignature is required"))?;
    let format_err = |m: &str| ApiError::bad_request("INVALID_SIGNATURE_FORMAT", m.to_string());
    if is_session {
        let arr = sig.as_array().filter(|a| a.len() == 4).ok_or_else(|| {
            format_err("A session userSignature must be [session_pubkey, r, s, valid_until]")
        })?;
        let felts = arr
            .iter()
            .map(|v| v.as_str().and_then(felt::parse_felt_str))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format_err("Session signature elements must be felt strings"))?;
        Ok(UserSignature::Session(SessionSignature {
            key: felts[0],
            r: felts[1],
            s: felts[2],
            valid_until: felts[3],
        }))
    } else {
        let o = sig.as_object().ok_or_else(|| {
            format_err("userSignature must be {r, s} unless isSessionSignature is true")
        })?;
        let r = o.get("r").and_then(felt::parse_felt_json);
        let s = o.get("s").and_then(felt::parse_felt_json);
        match (r, s) {
            (Some(r), Some(s)) => Ok(UserSignature::Owner { r, s }),
            _ => Err(format_err(
                "userSignature.r and .s must be decimal or hex strings",
            )),
        }
    }
}

fn invalid_signature() -> ApiError {
    ApiError::bad_request("INVALID_SIGNATURE", "Invalid signature")
}

fn verify(public_key: &Felt, hash: &Felt, r: &Felt, s: &Felt) -> bool {
    matches!(starknet_crypto::verify(public_key, hash, r, s), Ok(true))
}

/// `POST /v1/transactions/execute-sponsored-transaction`.
///
/// The after-apply faults (`delay_after_apply_ms`, `drop_answer`,
/// `status_after_apply`, `missing_tx_hash`) only act once the transaction was applied;
/// a refused execution is answered with its refusal.
pub(crate) async fn execute_sponsored(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let kill = req
        .extensions()
        .get::<ConnectInfo<ConnectionKill>>()
        .map(|c| c.0.clone());
    let (hash, applied) = match execute(&shared, req).await {
        Ok(done) => done,
        Err(e) => return e.into_response(),
    };
    // From here on the transaction has landed: state changed, transaction recorded,
    // nonce consumed. Faults only disturb the answer.
    if let Some(ms) = applied.delay_after_apply_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if applied.drop_answer {
        return server::drop_answer(kill.as_ref());
    }
    if let Some(status) = applied.status_after_apply {
        return server::fault_response(status);
    }
    if applied.missing_tx_hash {
        // The transaction executed but the answer lacks its hash.
        return Json(json!({})).into_response();
    }
    Json(json!({ "transactionHash": felt::hex(&hash) })).into_response()
}

async fn execute(shared: &Shared, req: Request) -> Result<(Felt, AppliedFaults), ApiError> {
    let (_, obj, applied) = read_json(req, shared).await?;
    let wallet = felt_field(&obj, "publicKey")?;
    let td = obj
        .get("typedData")
        .filter(|v| v.is_object())
        .ok_or_else(|| ApiError::invalid("typedData must be an object"))?;
    let save_to_database = obj
        .get("saveToDatabase")
        .and_then(Value::as_bool)
        .ok_or_else(|| ApiError::invalid("saveToDatabase must be a boolean"))?;
    require_chipi_wallet_type(&obj, false)?;
    let signature = parse_signature(&obj)?;
    if let Some(relay) = &shared.relay {
        let hash = relay_execute(shared, relay, wallet, td, signature).await?;
        return Ok((hash, applied));
    }

    let now = shared.now();
    let mut guard = shared.lock();
    let st = &mut *guard;
    let account = st.accounts.get_mut(&wallet).ok_or_else(wallet_not_found)?;
    let oe = &issued_for(&st.issued, wallet, td)?.honest;
    let (after, before) = (oe.execute_after, oe.execute_before);
    if !(u128::from(now) > after && u128::from(now) < before) {
        return Err(ApiError::bad_request(
            "INVALID_TIME_WINDOW",
            format!("Outside execution is not valid at block time {now} (execute after {after}, before {before})"),
        ));
    }
    // The account's nonce set is the source of truth: checked right after the time
    // window, as `execute_from_outside_v2` does, and consumed only on success.
    account.check_outside_nonce(&oe.nonce)?;
    let hash = typed_data::message_hash(oe, wallet).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            format!("Could not hash typed data: {e}"),
        )
    })?;
    let signer = match signature {
        UserSignature::Owner { r, s } => {
            if !verify(&account.owner_public_key, &hash, &r, &s) {
                return Err(invalid_signature());
            }
            shared.count_signature_check();
            let ops = account.parse_owner_ops(&oe.calls)?;
            account.apply_owner_ops(ops);
            TxSigner::Owner
        }
        UserSignature::Session(sig) => {
            account.check_session(&sig, &oe.calls, now)?;
            if !verify(&sig.key, &hash, &sig.r, &sig.s) {
                return Err(invalid_signature());
            }
            shared.count_signature_check();
            account.commit_session(&sig.key, &oe.calls, now)?;
            TxSigner::Session(felt::hex(&sig.key))
        }
    };
    account.consume_outside_nonce(oe.nonce);
    let calls = oe
        .calls
        .iter()
        .map(|c| ExecutedCall {
            to: felt::hex(&c.to),
            selector: felt::hex(&c.selector),
            entrypoint: c.name.clone(),
            calldata: c.calldata.iter().map(felt::hex).collect(),
        })
        .collect();
    st.block_number += 1;
    let tx_hash = felt::random_felt();
    st.receipts.insert(
        tx_hash,
        Receipt {
            block_number: st.block_number,
            block_hash: felt::random_felt(),
        },
    );
    st.transactions.push(SandboxTransaction {
        hash: felt::hex(&tx_hash),
        wallet: felt::hex(&wallet),
        signer,
        calls,
        save_to_database,
        block_number: st.block_number,
        timestamp: now,
        message_hash: felt::hex(&hash),
        nonce: felt::hex(&oe.nonce),
    });
    Ok((tx_hash, applied))
}

/// The typed data issued for `wallet` under the nonce of the submitted `td`, which
/// must have the same content as `td`.
fn issued_for<'a>(
    issued: &'a HashMap<(Felt, Felt), Issued>,
    wallet: Felt,
    td: &Value,
) -> Result<&'a Issued, ApiError> {
    let mismatch = |m: String| ApiError::bad_request("TYPED_DATA_MISMATCH", m);
    let submitted =
        typed_data::parse(td).map_err(|e| mismatch(format!("Typed data does not match: {e}")))?;
    let issued = issued.get(&(wallet, submitted.nonce)).ok_or_else(|| {
        mismatch("Typed data does not match any typed data issued for this wallet".into())
    })?;
    if !submitted.same_content(&issued.honest) {
        return Err(mismatch(
            "Typed data does not match the typed data issued for this nonce".into(),
        ));
    }
    Ok(issued)
}

/// Relay mode: check the typed data is the one issued for its nonce, then have the
/// node's relayer submit it. Everything else (time window, nonce, signature, session
/// rules) is the account contract's to check.
async fn relay_execute(
    shared: &Shared,
    relay: &Relay,
    wallet: Felt,
    td: &Value,
    signature: UserSignature,
) -> Result<Felt, ApiError> {
    let oe = issued_for(&shared.lock().issued, wallet, td)?
        .honest
        .clone();
    let signature = match signature {
        UserSignature::Owner { r, s } => vec![r, s],
        UserSignature::Session(sig) => vec![sig.key, sig.r, sig.s, sig.valid_until],
    };
    let hash = relay.submit(wallet, &oe, &signature).await?;
    if let Some(issued) = shared.lock().issued.get_mut(&(wallet, oe.nonce)) {
        issued.info.used = true;
    }
    Ok(hash)
}
