//! "Never sign blindly": before any signature, the typed data returned by the
//! backend must be an outside execution on the configured chain carrying exactly
//! the requested calls in a sane time window (DESIGN.md section 6).

use serde_json::{json, Value};
use starknet_crypto::Felt;

use super::calls::{felt_to_u128, selector_for, Call};
use super::error::{Result, SessionError};
use crate::core::felt::{encode_short_string, felt_to_hex, parse_felt};

/// Domain name of SNIP-9 v2 outside executions.
pub const OUTSIDE_EXECUTION_DOMAIN: &str = "Account.execute_from_outside";
/// How far in the future `Execute After` may lie (clock skew allowance), seconds.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;
/// Longest validity window accepted for a prepared transaction, seconds.
pub const MAX_WINDOW_SECS: u64 = 24 * 3600;

/// The schema every outside execution must declare, field by field.
fn expected_types() -> Value {
    json!({
        "StarknetDomain": [
            {"name": "name", "type": "shortstring"},
            {"name": "version", "type": "shortstring"},
            {"name": "chainId", "type": "shortstring"},
            {"name": "revision", "type": "shortstring"},
        ],
        "OutsideExecution": [
            {"name": "Caller", "type": "ContractAddress"},
            {"name": "Nonce", "type": "felt"},
            {"name": "Execute After", "type": "u128"},
            {"name": "Execute Before", "type": "u128"},
            {"name": "Calls", "type": "Call*"},
        ],
        "Call": [
            {"name": "To", "type": "ContractAddress"},
            {"name": "Selector", "type": "selector"},
            {"name": "Calldata", "type": "felt*"},
        ],
    })
}

/// A JSON value read the way starknet.js reads SNIP-12 values: numbers, hex or
/// decimal strings are integers; other strings are Cairo short strings.
pub fn felt_value(v: &Value) -> Option<Felt> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .map(Felt::from)
            .or_else(|| n.as_u128().map(Felt::from)),
        Value::String(s) => parse_felt(s).ok().or_else(|| encode_short_string(s).ok()),
        _ => None,
    }
}

fn field<'a>(obj: &'a Value, name: &str) -> Result<&'a Value> {
    obj.get(name)
        .ok_or_else(|| SessionError::response(format!("typed data lacks {name:?}")))
}

fn felt_field(obj: &Value, name: &str) -> Result<Felt> {
    felt_value(field(obj, name)?)
        .ok_or_else(|| SessionError::response(format!("typed data field {name:?} is not a felt")))
}

/// Check the typed data against the request. `chain_id` is the configured chain;
/// `now` the current Unix time.
pub fn verify_outside_execution(
    typed_data: &Value,
    expected_calls: &[Call],
    chain_id: &Felt,
    now: u64,
) -> Result<()> {
    let types = field(typed_data, "types")?;
    let types_obj = types
        .as_object()
        .ok_or_else(|| SessionError::response("typed data types is not an object"))?;
    let expected = expected_types();
    let expected_obj = expected
        .as_object()
        .ok_or_else(|| SessionError::response("schema"))?;
    if types_obj.len() != expected_obj.len()
        || expected_obj
            .iter()
            .any(|(name, fields)| types_obj.get(name) != Some(fields))
    {
        return Err(SessionError::response(
            "typed data is not a SNIP-9 v2 outside execution (unexpected types)",
        ));
    }
    if field(typed_data, "primaryType")?.as_str() != Some("OutsideExecution") {
        return Err(SessionError::response(
            "typed data primaryType is not OutsideExecution",
        ));
    }

    let domain = field(typed_data, "domain")?;
    if field(domain, "name")?.as_str() != Some(OUTSIDE_EXECUTION_DOMAIN) {
        return Err(SessionError::response(
            "typed data domain is not an outside execution",
        ));
    }
    if felt_field(domain, "version")? != Felt::TWO {
        return Err(SessionError::response("outside execution version is not 2"));
    }
    if felt_field(domain, "revision")? != Felt::ONE {
        return Err(SessionError::response("typed data revision is not 1"));
    }
    let td_chain = felt_field(domain, "chainId")?;
    if td_chain != *chain_id {
        return Err(SessionError::response(format!(
            "typed data is for chain {}, expected {}",
            felt_to_hex(&td_chain),
            felt_to_hex(chain_id)
        )));
    }

    let message = field(typed_data, "message")?;
    felt_field(message, "Caller")?;
    felt_field(message, "Nonce")?;
    let after = felt_to_u128(&felt_field(message, "Execute After")?)
        .ok_or_else(|| SessionError::response("Execute After is not a u128"))?;
    let before = felt_to_u128(&felt_field(message, "Execute Before")?)
        .ok_or_else(|| SessionError::response("Execute Before is not a u128"))?;
    let now = u128::from(now);
    if after >= before
        || after > now + u128::from(MAX_CLOCK_SKEW_SECS)
        || before <= now
        || before > now + u128::from(MAX_WINDOW_SECS)
    {
        return Err(SessionError::response(format!(
            "outside execution time window [{after}, {before}] is not sane at {now}"
        )));
    }

    let calls = field(message, "Calls")?
        .as_array()
        .ok_or_else(|| SessionError::response("Calls is not an array"))?;
    if calls.len() != expected_calls.len() {
        return Err(SessionError::response(format!(
            "typed data carries {} calls, {} were requested",
            calls.len(),
            expected_calls.len()
        )));
    }
    for (i, (got, want)) in calls.iter().zip(expected_calls).enumerate() {
        if felt_field(got, "To")? != want.to {
            return Err(SessionError::response(format!(
                "call {i} targets another contract"
            )));
        }
        let selector = match field(got, "Selector")? {
            Value::String(s) if !(s.starts_with("0x") || s.starts_with("0X")) => selector_for(s)
                .map_err(|_| SessionError::response(format!("call {i} selector is invalid")))?,
            other => felt_value(other)
                .ok_or_else(|| SessionError::response(format!("call {i} selector is invalid")))?,
        };
        if selector != want.selector {
            return Err(SessionError::response(format!(
                "call {i} has another selector"
            )));
        }
        let calldata = field(got, "Calldata")?
            .as_array()
            .ok_or_else(|| SessionError::response(format!("call {i} calldata is not an array")))?;
        let same = calldata.len() == want.calldata.len()
            && calldata
                .iter()
                .zip(&want.calldata)
                .all(|(g, w)| felt_value(g) == Some(*w));
        if !same {
            return Err(SessionError::response(format!(
                "call {i} calldata differs from the request"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn calls() -> Vec<Call> {
        vec![Call::named(
            Felt::from(0x1234u32),
            "transfer",
            vec![Felt::from(0x99u32), Felt::from(100u32), Felt::ZERO],
        )
        .unwrap()]
    }

    fn typed_data() -> Value {
        json!({
            "types": expected_types(),
            "primaryType": "OutsideExecution",
            "domain": {"name": OUTSIDE_EXECUTION_DOMAIN, "version": "2", "chainId": "0x534e5f5345504f4c4941", "revision": "1"},
            "message": {
                "Caller": "0x414e595f43414c4c4552",
                "Nonce": "0x5",
                "Execute After": format!("{:#x}", NOW - 60),
                "Execute Before": format!("{:#x}", NOW + 3600),
                "Calls": [{
                    "To": "0x1234",
                    "Selector": felt_to_hex(&selector_for("transfer").unwrap()),
                    "Calldata": ["0x99", "0x64", "0x0"],
                }],
            },
        })
    }

    fn chain() -> Felt {
        encode_short_string("SN_SEPOLIA").unwrap()
    }

    fn check(td: &Value) -> Result<()> {
        verify_outside_execution(td, &calls(), &chain(), NOW)
    }

    #[test]
    fn honest_typed_data_passes_in_every_representation() {
        check(&typed_data()).unwrap();
        let mut td = typed_data();
        td["domain"]["chainId"] = json!("SN_SEPOLIA");
        td["domain"]["version"] = json!(2);
        td["domain"]["revision"] = json!(1);
        td["message"]["Execute After"] = json!(NOW - 60);
        td["message"]["Execute Before"] = json!((NOW + 3600).to_string());
        td["message"]["Calls"][0]["Selector"] = json!("transfer");
        td["message"]["Calls"][0]["Calldata"] = json!(["153", 100, "0"]);
        check(&td).unwrap();
    }

    #[test]
    fn every_substitution_is_refused() {
        type Mutation = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Mutation)> = vec![
            (
                "calldata",
                Box::new(|td| td["message"]["Calls"][0]["Calldata"][1] = json!("0x65")),
            ),
            (
                "target",
                Box::new(|td| td["message"]["Calls"][0]["To"] = json!("0x1235")),
            ),
            (
                "selector",
                Box::new(|td| td["message"]["Calls"][0]["Selector"] = json!("approve")),
            ),
            (
                "extra call",
                Box::new(|td| {
                    let c = td["message"]["Calls"][0].clone();
                    td["message"]["Calls"].as_array_mut().unwrap().push(c);
                }),
            ),
            (
                "dropped call",
                Box::new(|td| td["message"]["Calls"] = json!([])),
            ),
            (
                "chain",
                Box::new(|td| td["domain"]["chainId"] = json!("SN_MAIN")),
            ),
            (
                "far window",
                Box::new(|td| td["message"]["Execute Before"] = json!(NOW + 400 * 86400)),
            ),
            (
                "future start",
                Box::new(|td| td["message"]["Execute After"] = json!(NOW + 3000)),
            ),
            (
                "past window",
                Box::new(|td| td["message"]["Execute Before"] = json!(NOW - 1)),
            ),
            (
                "primary type",
                Box::new(|td| td["primaryType"] = json!("Call")),
            ),
            (
                "domain",
                Box::new(|td| td["domain"]["name"] = json!("Other")),
            ),
            (
                "revision",
                Box::new(|td| td["domain"]["revision"] = json!("0")),
            ),
            ("extra type", Box::new(|td| td["types"]["Evil"] = json!([]))),
            (
                "schema",
                Box::new(|td| td["types"]["Call"][2]["type"] = json!("felt")),
            ),
            (
                "missing message",
                Box::new(|td| {
                    td.as_object_mut().unwrap().remove("message");
                }),
            ),
            (
                "calldata length",
                Box::new(|td| td["message"]["Calls"][0]["Calldata"] = json!(["0x99", "0x64"])),
            ),
            (
                "non felt",
                Box::new(|td| td["message"]["Nonce"] = json!({"x": 1})),
            ),
        ];
        for (name, mutate) in cases {
            let mut td = typed_data();
            mutate(&mut td);
            let err = check(&td).unwrap_err();
            assert_eq!(err.code(), "SESSION_INVALID_RESPONSE", "{name}: {err}");
        }
    }
}
