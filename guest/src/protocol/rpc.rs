//! Starknet JSON-RPC: request bodies and decoding of the session account's
//! view functions (docs/protocol.md, "Starknet JSON-RPC" and "Session account
//! contract"). The view calls themselves are built in [`super::calldata`].

use serde_json::{json, Value};
use starknet_core::types::U256;
use starknet_crypto::Felt;

use super::calldata::u256_from_felts;
use super::calls::{felt_to_u32, felt_to_u64, Call};
use super::error::{BackendError, Result, SessionError};
use super::model::{ExecutionStatus, SessionData, SpendingPolicy, TransactionReceipt};
use crate::crypto::felt::{felt_to_hex, parse_felt};

/// Largest whitelist the status call will read entry by entry.
pub const MAX_WHITELIST_READ: u32 = 256;

/// `starknet_call` request body for `call` at block `latest`.
pub fn call_body(id: u64, call: &Call) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "starknet_call",
        "params": {
            "request": {
                "contract_address": felt_to_hex(&call.to),
                "entry_point_selector": felt_to_hex(&call.selector),
                "calldata": call.calldata.iter().map(felt_to_hex).collect::<Vec<_>>(),
            },
            "block_id": "latest",
        },
    })
}

/// `starknet_chainId` request body.
pub fn chain_id_body(id: u64) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": "starknet_chainId", "params": [] })
}

/// `starknet_getTransactionReceipt` request body.
pub fn receipt_body(id: u64, hash: &Felt) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "starknet_getTransactionReceipt",
        "params": { "transaction_hash": felt_to_hex(hash) },
    })
}

/// JSON-RPC error code of `TXN_HASH_NOT_FOUND`.
pub const TXN_HASH_NOT_FOUND: i64 = 29;

/// JSON-RPC error code of `ENTRYPOINT_NOT_FOUND` (`starknet_call` of a function the
/// contract's class does not have).
pub const ENTRYPOINT_NOT_FOUND: i64 = 21;

/// Longest revert reason kept from a receipt, bytes.
const MAX_REVERT_REASON: usize = 2048;

/// Decode a transaction receipt. `None` while the node knows the transaction
/// but has not accepted it yet (`RECEIVED`, `CANDIDATE`, `PRE_CONFIRMED`).
pub fn receipt_of(result: &Value) -> Result<Option<TransactionReceipt>> {
    let text = |name: &str| result.get(name).and_then(Value::as_str);
    let hash = text("transaction_hash")
        .and_then(|s| parse_felt(s).ok())
        .ok_or_else(|| SessionError::response("receipt lacks a transaction_hash"))?;
    let finality = text("finality_status")
        .ok_or_else(|| SessionError::response("receipt lacks a finality_status"))?;
    if !matches!(finality, "ACCEPTED_ON_L2" | "ACCEPTED_ON_L1") {
        return Ok(None);
    }
    let execution_status = match text("execution_status") {
        Some("SUCCEEDED") => ExecutionStatus::Succeeded,
        Some("REVERTED") => ExecutionStatus::Reverted,
        _ => {
            return Err(SessionError::response(
                "receipt execution_status is neither SUCCEEDED nor REVERTED",
            ))
        }
    };
    let block_number = match result.get("block_number") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| SessionError::response("receipt block_number is not a u64"))?,
        ),
    };
    Ok(Some(TransactionReceipt {
        transaction_hash: felt_to_hex(&hash),
        finality_status: finality.to_owned(),
        execution_status,
        revert_reason: text("revert_reason")
            .map(|r| super::calls::truncate_to(r, MAX_REVERT_REASON)),
        block_number,
    }))
}

/// Extract `result` from a JSON-RPC response, mapping `error` to a backend error.
pub fn result_of(response: &Value) -> Result<&Value> {
    if let Some(err) = response.get("error") {
        let code = err.get("code").map(Value::to_string);
        let mut message = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("JSON-RPC error")
            .to_string();
        if let Some(data) = err.get("data") {
            let data = data.to_string();
            message = format!("{message}: {}", super::calls::truncate(&data));
        }
        return Err(SessionError::Backend(BackendError {
            status: 0,
            code,
            message,
        }));
    }
    response
        .get("result")
        .ok_or_else(|| SessionError::response("JSON-RPC response has neither result nor error"))
}

/// Decode a `starknet_call` result (array of felt strings).
pub fn felts_of(result: &Value) -> Result<Vec<Felt>> {
    let items = result
        .as_array()
        .ok_or_else(|| SessionError::response("starknet_call result is not an array"))?;
    items
        .iter()
        .map(|v| {
            v.as_str()
                .and_then(|s| parse_felt(s).ok())
                .ok_or_else(|| SessionError::response("starknet_call result holds a non-felt"))
        })
        .collect()
}

/// Decode a chain id result (hex felt).
pub fn chain_id_of(result: &Value) -> Result<Felt> {
    result
        .as_str()
        .and_then(|s| parse_felt(s).ok())
        .ok_or_else(|| SessionError::response("starknet_chainId result is not a felt"))
}

/// Decode `get_session_data` -> `SessionData { valid_until: u64, max_calls: u32,
/// calls_used: u32, allowed_entrypoints_len: u32 }` (whitelist entries empty).
pub fn decode_session_data(felts: &[Felt]) -> Result<SessionData> {
    let [valid_until, max_calls, calls_used, len] = felts else {
        return Err(SessionError::response(format!(
            "get_session_data returned {} felts, expected 4",
            felts.len()
        )));
    };
    let bad =
        |field: &str| SessionError::response(format!("get_session_data {field} out of range"));
    Ok(SessionData {
        valid_until: felt_to_u64(valid_until).ok_or_else(|| bad("valid_until"))?,
        max_calls: felt_to_u32(max_calls).ok_or_else(|| bad("max_calls"))?,
        calls_used: felt_to_u32(calls_used).ok_or_else(|| bad("calls_used"))?,
        allowed_entrypoints_len: felt_to_u32(len).ok_or_else(|| bad("allowed_entrypoints_len"))?,
        allowed_entrypoints: Vec::new(),
    })
}

/// Decode `get_spending_policy` -> `[max_per_call.low, .high, max_per_window.low,
/// .high, window_seconds, spent.low, spent.high, window_start]`; `None` when unset.
pub fn decode_spending_policy(token: &Felt, felts: &[Felt]) -> Result<Option<SpendingPolicy>> {
    let [mpc_lo, mpc_hi, mpw_lo, mpw_hi, window, spent_lo, spent_hi, start] = felts else {
        return Err(SessionError::response(format!(
            "get_spending_policy returned {} felts, expected 8",
            felts.len()
        )));
    };
    let bad = || SessionError::response("get_spending_policy value out of range");
    let max_per_call = u256_from_felts(mpc_lo, mpc_hi).ok_or_else(bad)?;
    let max_per_window = u256_from_felts(mpw_lo, mpw_hi).ok_or_else(bad)?;
    let window_seconds = felt_to_u64(window).ok_or_else(bad)?;
    let zero = U256::from(0u8);
    if max_per_call == zero && max_per_window == zero && window_seconds == 0 {
        return Ok(None);
    }
    Ok(Some(SpendingPolicy {
        token: felt_to_hex(token),
        max_per_call: max_per_call.to_string(),
        max_per_window: max_per_window.to_string(),
        window_seconds,
        spent: u256_from_felts(spent_lo, spent_hi)
            .ok_or_else(bad)?
            .to_string(),
        window_start: felt_to_u64(start).ok_or_else(bad)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_body_shape() {
        let call = crate::protocol::calldata::get_session_data(Felt::from(0xabu8), Felt::ONE);
        let body = call_body(7, &call);
        assert_eq!(body["method"], "starknet_call");
        assert_eq!(body["params"]["block_id"], "latest");
        assert_eq!(body["params"]["request"]["contract_address"], "0xab");
        assert_eq!(body["params"]["request"]["calldata"], json!(["0x1"]));
        assert_eq!(
            body["params"]["request"]["entry_point_selector"],
            json!(felt_to_hex(
                &crate::protocol::calls::selector_for("get_session_data").unwrap()
            ))
        );
    }

    #[test]
    fn rpc_errors_are_backend_errors() {
        let resp =
            json!({"jsonrpc":"2.0","id":1,"error":{"code":20,"message":"Contract not found"}});
        let err = result_of(&resp).unwrap_err();
        assert!(
            matches!(err, SessionError::Backend(ref b) if b.status == 0 && b.code.as_deref() == Some("20"))
        );
        assert!(result_of(&json!({"jsonrpc":"2.0"})).is_err());
    }

    #[test]
    fn session_data_decoding() {
        let felts = felts_of(&json!(["0x64", "0xa", "0x3", "0x1"])).unwrap();
        let data = decode_session_data(&felts).unwrap();
        assert_eq!(
            (
                data.valid_until,
                data.max_calls,
                data.calls_used,
                data.allowed_entrypoints_len
            ),
            (100, 10, 3, 1)
        );
        assert!(decode_session_data(&felts[..3]).is_err());
        let too_big = felts_of(&json!(["0x1", "0x100000000", "0x0", "0x0"])).unwrap();
        assert!(decode_session_data(&too_big).is_err());
        assert!(felts_of(&json!(["zz"])).is_err());
        assert!(felts_of(&json!({"a": 1})).is_err());
    }

    #[test]
    fn spending_policy_decoding() {
        let token = Felt::from(5u8);
        let zeros = vec![Felt::ZERO; 8];
        assert_eq!(decode_spending_policy(&token, &zeros).unwrap(), None);
        let felts: Vec<Felt> = [100u64, 0, 1000, 0, 3600, 40, 0, 1_700_000_000]
            .iter()
            .map(|v| Felt::from(*v))
            .collect();
        let p = decode_spending_policy(&token, &felts).unwrap().unwrap();
        assert_eq!(p.max_per_call, "100");
        assert_eq!(p.max_per_window, "1000");
        assert_eq!(p.spent, "40");
        assert_eq!((p.window_seconds, p.window_start), (3600, 1_700_000_000));
        assert!(decode_spending_policy(&token, &felts[..7]).is_err());
    }
}
