//! Starknet JSON-RPC (`POST /rpc`, JSON-RPC 2.0, single or batch, no auth) backed by
//! the sandbox's accounts. State is always the latest: `block_id` is validated but
//! historical blocks are not kept.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde_json::{json, Value};
use starknet_core::types::Felt;

use super::account::ChipiContract;
use super::faults::AppliedFaults;
use super::felt;
use super::state::Shared;
use super::wallets::SandboxWalletType;

/// JSON-RPC spec version the sandbox reports.
pub const SPEC_VERSION: &str = "0.8.1";

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    fn new(code: i64, message: &str) -> Self {
        Self {
            code,
            message: message.to_string(),
            data: None,
        }
    }
    fn invalid_params(detail: &str) -> Self {
        Self {
            code: -32602,
            message: "Invalid params".into(),
            data: Some(json!(detail)),
        }
    }
    fn contract_not_found() -> Self {
        Self::new(20, "Contract not found")
    }
    fn entrypoint_not_found() -> Self {
        Self::new(21, "Requested entrypoint does not exist in the contract")
    }
    fn contract_error(revert: &str) -> Self {
        Self {
            code: 40,
            message: "Contract error".into(),
            data: Some(json!({ "revert_error": revert })),
        }
    }
    fn to_json(&self) -> Value {
        let mut e = json!({ "code": self.code, "message": self.message });
        if let Some(d) = &self.data {
            e["data"] = d.clone();
        }
        e
    }
}

fn error_response(id: Value, err: &RpcError) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": err.to_json() })
}

/// `POST /rpc`.
pub(crate) async fn rpc(
    State(shared): State<Arc<Shared>>,
    applied: Option<Extension<AppliedFaults>>,
    body: Bytes,
) -> Response {
    let lie = applied.is_some_and(|Extension(a)| a.nonces_consumed);
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return Json(error_response(
                Value::Null,
                &RpcError::new(-32700, "Parse error"),
            ))
            .into_response()
        }
    };
    match parsed {
        Value::Array(items) if !items.is_empty() => {
            let out: Vec<Value> = items.iter().map(|i| handle_one(&shared, i, lie)).collect();
            Json(Value::Array(out)).into_response()
        }
        Value::Object(_) => Json(handle_one(&shared, &parsed, lie)).into_response(),
        _ => Json(error_response(
            Value::Null,
            &RpcError::new(-32600, "Invalid Request"),
        ))
        .into_response(),
    }
}

/// Answer one JSON-RPC request; with `lie`, `is_valid_outside_execution_nonce`
/// answers 0 (consumed) whatever the account says (the `nonces_consumed` fault).
fn handle_one(shared: &Shared, req: &Value, lie: bool) -> Value {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let method = match (req.get("jsonrpc"), req.get("method")) {
        (Some(Value::String(v)), Some(Value::String(m))) if v == "2.0" => m,
        _ => return error_response(id, &RpcError::new(-32600, "Invalid Request")),
    };
    let params = req.get("params").cloned().unwrap_or(Value::Null);
    match dispatch(shared, method, &params) {
        Ok(_) if lie && asks_outside_nonce(method, &params) => {
            json!({ "jsonrpc": "2.0", "id": id, "result": ["0x0"] })
        }
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(e) => error_response(id, &e),
    }
}

/// True for a `starknet_call` of `is_valid_outside_execution_nonce`.
fn asks_outside_nonce(method: &str, params: &Value) -> bool {
    method == "starknet_call"
        && param(params, "request", 0)
            .and_then(|r| r.get("entry_point_selector"))
            .and_then(Value::as_str)
            .and_then(felt::parse_felt_str)
            == Some(felt::selector("is_valid_outside_execution_nonce"))
}

/// A parameter by name (object params) or position (array params).
fn param<'a>(params: &'a Value, name: &str, index: usize) -> Option<&'a Value> {
    match params {
        Value::Object(m) => m.get(name),
        Value::Array(a) => a.get(index),
        _ => None,
    }
}

fn felt_param(params: &Value, name: &str, index: usize) -> Result<Felt, RpcError> {
    param(params, name, index)
        .and_then(Value::as_str)
        .and_then(felt::parse_felt_str)
        .ok_or_else(|| RpcError::invalid_params(&format!("{name} must be a felt")))
}

fn check_block_id(shared: &Shared, block_id: Option<&Value>) -> Result<(), RpcError> {
    let current = shared.lock().block_number;
    match block_id {
        Some(Value::String(tag))
            if ["latest", "pending", "pre_confirmed", "l1_accepted"].contains(&tag.as_str()) =>
        {
            Ok(())
        }
        Some(Value::Object(m)) => {
            if let Some(n) = m.get("block_number") {
                match n.as_u64() {
                    Some(n) if n <= current => Ok(()),
                    Some(_) => Err(RpcError::new(24, "Block not found")),
                    None => Err(RpcError::invalid_params("block_number must be an integer")),
                }
            } else if m
                .get("block_hash")
                .and_then(Value::as_str)
                .and_then(felt::parse_felt_str)
                .is_some()
            {
                Ok(())
            } else {
                Err(RpcError::invalid_params("invalid block_id"))
            }
        }
        _ => Err(RpcError::invalid_params("invalid block_id")),
    }
}

fn hex_array(felts: &[Felt]) -> Value {
    Value::Array(felts.iter().map(|f| json!(felt::hex(f))).collect())
}

fn dispatch(shared: &Shared, method: &str, params: &Value) -> Result<Value, RpcError> {
    if let Some(relay) = &shared.relay {
        return Err(RpcError::new(
            -32601,
            &format!(
                "relay mode: this sandbox has no chain of its own; read chain state from the node at {}",
                relay.rpc_url()
            ),
        ));
    }
    match method {
        "starknet_chainId" => Ok(json!(felt::hex(&shared.chain_id))),
        "starknet_specVersion" => Ok(json!(SPEC_VERSION)),
        "starknet_blockNumber" => Ok(json!(shared.lock().block_number)),
        "starknet_blockHashAndNumber" => {
            let n = shared.lock().block_number;
            Ok(json!({ "block_hash": felt::hex(&Felt::from(n)), "block_number": n }))
        }
        "starknet_getClassHashAt" => {
            check_block_id(shared, param(params, "block_id", 0))?;
            let address = felt_param(params, "contract_address", 1)?;
            let st = shared.lock();
            let account = st
                .accounts
                .get(&address)
                .ok_or_else(RpcError::contract_not_found)?;
            Ok(json!(account.class_hash()))
        }
        "starknet_getTransactionReceipt" | "starknet_getTransactionStatus" => {
            let hash = felt_param(params, "transaction_hash", 0)?;
            let st = shared.lock();
            let receipt = st
                .receipts
                .get(&hash)
                .ok_or_else(|| RpcError::new(29, "Transaction hash not found"))?;
            if method == "starknet_getTransactionStatus" {
                return Ok(json!({
                    "finality_status": "ACCEPTED_ON_L2",
                    "execution_status": "SUCCEEDED",
                }));
            }
            Ok(json!({
                "type": "INVOKE",
                "transaction_hash": felt::hex(&hash),
                "actual_fee": { "amount": "0x0", "unit": "FRI" },
                "execution_status": "SUCCEEDED",
                "finality_status": "ACCEPTED_ON_L2",
                "block_hash": felt::hex(&receipt.block_hash),
                "block_number": receipt.block_number,
                "messages_sent": [],
                "events": [],
                "execution_resources": { "l1_gas": 0, "l1_data_gas": 0, "l2_gas": 0 },
            }))
        }
        "starknet_call" => {
            let request = param(params, "request", 0)
                .and_then(Value::as_object)
                .ok_or_else(|| RpcError::invalid_params("request must be an object"))?;
            check_block_id(shared, param(params, "block_id", 1))?;
            let req = Value::Object(request.clone());
            let address = felt_param(&req, "contract_address", usize::MAX)?;
            let selector = felt_param(&req, "entry_point_selector", usize::MAX)?;
            let calldata = request
                .get("calldata")
                .and_then(Value::as_array)
                .ok_or_else(|| RpcError::invalid_params("calldata must be an array"))?
                .iter()
                .map(|v| v.as_str().and_then(felt::parse_felt_str))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| RpcError::invalid_params("calldata must hold felt strings"))?;
            call(shared, address, selector, &calldata).map(|r| hex_array(&r))
        }
        _ => Err(RpcError::new(-32601, "Method not found")),
    }
}

fn call(
    shared: &Shared,
    address: Felt,
    selector: Felt,
    calldata: &[Felt],
) -> Result<Vec<Felt>, RpcError> {
    let st = shared.lock();
    let account = st
        .accounts
        .get(&address)
        .ok_or_else(RpcError::contract_not_found)?;
    let args = |n: usize| -> Result<(), RpcError> {
        if calldata.len() == n {
            Ok(())
        } else {
            Err(RpcError::contract_error(&format!(
                "Failed to deserialize param #{}: expected {n} felts, got {}",
                calldata.len().min(n) + 1,
                calldata.len()
            )))
        }
    };
    let is = |name: &str| selector == felt::selector(name);
    match account.wallet_type {
        SandboxWalletType::Chipi => {
            if is("get_session_data") {
                args(1)?;
                Ok(account.get_session_data(&calldata[0]))
            } else if is("get_session_allowed_entrypoints_len") {
                args(1)?;
                Ok(vec![account.allowed_entrypoints_len(&calldata[0])])
            } else if is("get_session_allowed_entrypoint_at") {
                args(2)?;
                account
                    .allowed_entrypoint_at(&calldata[0], &calldata[1])
                    .map(|f| vec![f])
                    .ok_or_else(|| {
                        RpcError::contract_error(
                            "Failed to deserialize param #2: index is not a u32",
                        )
                    })
            } else if is("get_contract_info") && account.contract == Some(ChipiContract::V32) {
                args(0)?;
                Ok(vec![felt::shortstring("v32").unwrap_or_default()])
            } else if is("get_spending_policy") && account.has_spending_policies() {
                args(2)?;
                Ok(account.get_spending_policy(&calldata[0], &calldata[1]))
            } else if is("get_public_key") || is("getPublicKey") {
                args(0)?;
                Ok(vec![account.owner_public_key])
            } else if is("is_valid_outside_execution_nonce") {
                args(1)?;
                Ok(account.is_valid_outside_execution_nonce(&calldata[0]))
            } else {
                Err(RpcError::entrypoint_not_found())
            }
        }
        SandboxWalletType::Ready => {
            if is("get_owner") || is("getOwner") {
                args(0)?;
                Ok(vec![account.owner_public_key])
            } else if is("is_valid_outside_execution_nonce") {
                // SNIP-9 on Argent accounts too (the sandbox never executes for
                // READY wallets, so their nonces stay valid).
                args(1)?;
                Ok(account.is_valid_outside_execution_nonce(&calldata[0]))
            } else {
                Err(RpcError::entrypoint_not_found())
            }
        }
    }
}
