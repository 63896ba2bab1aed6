//! "Never sign blindly", by construction: the component builds locally the
//! outside execution it means to sign (wallet, chain id, the requested calls,
//! and only `Caller`, `Nonce`, `Execute After` and `Execute Before` taken from
//! the backend's answer after checking them), hashes it with the fixed
//! SNIP-9 v2 schema, and approves the backend's document only when it hashes
//! to the same value under starknet.js's reading (docs/protocol.md,
//! "Outside-execution typed data").
//!
//! With `types` required to be exactly the schema, starknet.js's hash of the
//! document is a function of its members read with the encoders of their
//! declared types; the check reads every member with those same encoders
//! ([`snip12::encode_basic_v1`]) and compares it with the request, so the
//! document's hash equals the local one without hashing the document a second
//! time. There is no second reader: whatever representation the backend chose
//! (hex, decimal strings, JSON numbers, short-string chain ids, names or hex
//! selectors), a value is compared as the hasher reads it. The generic engine
//! ([`snip12::message_hash`]) is the referee of the tests: every approved
//! document hashes, by it, to exactly what is signed.

use std::sync::{Mutex, OnceLock, PoisonError};

use serde_json::{json, Value};
use starknet_core::utils::starknet_keccak;
use starknet_crypto::{poseidon_hash_many, Felt};

use super::calls::{felt_to_u128, Call};
use super::error::{Result, SessionError};
use crate::crypto::felt::{encode_short_string, felt_to_hex};
use crate::crypto::snip12;

/// Domain name of SNIP-9 v2 outside executions.
pub const OUTSIDE_EXECUTION_DOMAIN: &str = "Account.execute_from_outside";
/// How far in the future `Execute After` may lie (clock skew allowance), seconds.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;
/// Longest validity window accepted for a prepared transaction, seconds.
pub const MAX_WINDOW_SECS: u64 = 24 * 3600;

/// `"StarkNet Message"` as a Cairo short string.
const STARKNET_MESSAGE: Felt = Felt::from_hex_unchecked("0x537461726b4e6574204d657373616765");
/// Type hash of `StarknetDomain`, revision 1 (docs/protocol.md,
/// "Outside-execution typed data").
const DOMAIN_TYPE_HASH: Felt =
    Felt::from_hex_unchecked("0x1ff2f602e42168014d405a94f75e8a93d640751d71d16311266e140d8b0a210");
/// Type hash of `Call` (docs/protocol.md, "Outside-execution typed data").
const CALL_TYPE_HASH: Felt =
    Felt::from_hex_unchecked("0x3635c7f2a7ba93844c0d064e18e487f35ab90f7c39d00f186a781fc3f0c2ca9");
/// The revision-1 type string of `OutsideExecution` (with its `Call` dependency).
const OUTSIDE_EXECUTION_TYPE: &str = "\"OutsideExecution\"(\"Caller\":\"ContractAddress\",\"Nonce\":\"felt\",\"Execute After\":\"u128\",\"Execute Before\":\"u128\",\"Calls\":\"Call*\")\"Call\"(\"To\":\"ContractAddress\",\"Selector\":\"selector\",\"Calldata\":\"felt*\")";

/// The schema every outside execution must declare, field by field.
pub fn expected_types() -> Value {
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

/// A chain id as a SNIP-12 `shortstring` (`SN_MAIN`, `0x534e5f4d41494e`, ...),
/// read exactly as the domain's `chainId` is hashed.
pub fn chain_id_value(text: &str) -> Option<Felt> {
    snip12::encode_basic_v1("shortstring", &Value::String(text.to_owned())).ok()
}

/// What the component means to sign: everything but the four values the
/// backend chooses.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The wallet (account) address, the SNIP-12 `account` of the hash.
    pub wallet: Felt,
    /// The chain the session is pinned to.
    pub chain_id: Felt,
    /// The calls the caller asked for, in order.
    pub calls: &'a [Call],
    /// Current Unix time, for the window check.
    pub now: u64,
}

/// An outside execution fully determined locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideExecution<'a> {
    /// `Caller` (`ANY_CALLER` for paymaster flows).
    pub caller: Felt,
    /// SNIP-9 nonce.
    pub nonce: Felt,
    /// `Execute After` (Unix seconds).
    pub execute_after: u128,
    /// `Execute Before` (Unix seconds).
    pub execute_before: u128,
    /// The calls.
    pub calls: &'a [Call],
}

impl OutsideExecution<'_> {
    /// SNIP-12 revision-1 message hash of this outside execution for `wallet`
    /// on `chain_id`, computed with the fixed schema (no JSON involved).
    pub fn message_hash(&self, wallet: &Felt, chain_id: &Felt) -> Felt {
        let domain = domain_hash(chain_id);
        let calls: Vec<Felt> = self
            .calls
            .iter()
            .map(|c| {
                poseidon_hash_many(&[
                    CALL_TYPE_HASH,
                    c.to,
                    c.selector,
                    poseidon_hash_many(&c.calldata),
                ])
            })
            .collect();
        let message = poseidon_hash_many(&[
            outside_execution_type_hash(),
            self.caller,
            self.nonce,
            Felt::from(self.execute_after),
            Felt::from(self.execute_before),
            poseidon_hash_many(&calls),
        ]);
        poseidon_hash_many(&[STARKNET_MESSAGE, domain, *wallet, message])
    }
}

/// Type hash of `OutsideExecution` (keccak of its type string), computed once.
fn outside_execution_type_hash() -> Felt {
    static HASH: OnceLock<Felt> = OnceLock::new();
    *HASH.get_or_init(|| starknet_keccak(OUTSIDE_EXECUTION_TYPE.as_bytes()))
}

/// Struct hash of the outside-execution domain on `chain_id`; the last one
/// is kept (a session is pinned to one chain).
fn domain_hash(chain_id: &Felt) -> Felt {
    static LAST: Mutex<Option<(Felt, Felt)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((chain, hash)) = *last {
        if chain == *chain_id {
            return hash;
        }
    }
    let hash = poseidon_hash_many(&[
        DOMAIN_TYPE_HASH,
        short_string_const(OUTSIDE_EXECUTION_DOMAIN),
        Felt::TWO,
        *chain_id,
        Felt::ONE,
    ]);
    *last = Some((*chain_id, hash));
    hash
}

/// `text` (at most 31 ASCII bytes, checked by the tests) as a short string.
fn short_string_const(text: &str) -> Felt {
    encode_short_string(text).unwrap_or(Felt::ZERO)
}

/// A document the component may sign: its hash and the values the backend chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    /// The message hash to sign (equal for the local build and the document).
    pub hash: Felt,
    /// `Caller` of the outside execution.
    pub caller: Felt,
    /// SNIP-9 nonce of the outside execution.
    pub nonce: Felt,
    /// `Execute After` (Unix seconds).
    pub execute_after: u128,
    /// `Execute Before` (Unix seconds): after it the transaction can never land.
    pub execute_before: u128,
}

fn field<'a>(obj: &'a Value, name: &str) -> Result<&'a Value> {
    obj.get(name)
        .ok_or_else(|| SessionError::response(format!("typed data lacks {name:?}")))
}

/// One member of the message, read as `ty` exactly as the hasher reads it.
fn member(message: &Value, name: &str, ty: &str) -> Result<Felt> {
    snip12::encode_basic_v1(ty, field(message, name)?)
        .map_err(|e| SessionError::response(format!("typed data {name:?} is invalid: {e}")))
}

/// Check the backend's typed data against `request` and return what to sign.
///
/// Refused with `SESSION_INVALID_RESPONSE` (nothing to sign) unless the
/// document is a SNIP-9 v2 outside execution whose starknet.js message hash
/// equals the hash of the locally built outside execution of exactly the
/// requested calls on the pinned chain, in a sane time window.
pub fn approve_outside_execution(typed_data: &Value, request: &Request<'_>) -> Result<Approved> {
    // Shape first, for clear messages; the hash comparison below is what decides.
    if field(typed_data, "types")? != &expected_types() {
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

    let message = field(typed_data, "message")?;
    let caller = member(message, "Caller", "ContractAddress")?;
    let nonce = member(message, "Nonce", "felt")?;
    let execute_after = window_bound(message, "Execute After")?;
    let execute_before = window_bound(message, "Execute Before")?;
    let now = u128::from(request.now);
    if execute_after >= execute_before
        || execute_after > now + u128::from(MAX_CLOCK_SKEW_SECS)
        || execute_before <= now
        || execute_before > now + u128::from(MAX_WINDOW_SECS)
    {
        return Err(SessionError::response(format!(
            "outside execution time window [{execute_after}, {execute_before}] is not sane at {now}"
        )));
    }
    let calls = field(message, "Calls")?
        .as_array()
        .ok_or_else(|| SessionError::response("Calls is not an array"))?;
    if calls.len() != request.calls.len() {
        return Err(SessionError::response(format!(
            "typed data carries {} calls, {} were requested",
            calls.len(),
            request.calls.len()
        )));
    }

    // The fixed-schema reading: with `types` fixed to the schema above, the
    // starknet.js hash of the document is a function of exactly these
    // members, each read with the encoder of its declared type (the readers
    // the generic engine applies). When every one equals the request, the
    // document's hash is the local hash, computed without reading the
    // document again (docs/signing-pipeline.md). The generic engine
    // (`snip12::message_hash`) stays the referee in the tests.
    check_domain(typed_data, domain, &request.chain_id)?;
    for (index, (member_value, want)) in calls.iter().zip(request.calls).enumerate() {
        check_call(index, member_value, want)?;
    }
    let local = OutsideExecution {
        caller,
        nonce,
        execute_after,
        execute_before,
        calls: request.calls,
    }
    .message_hash(&request.wallet, &request.chain_id);
    Ok(Approved {
        hash: local,
        caller,
        nonce,
        execute_after,
        execute_before,
    })
}

/// The domain, read as the hash reads it: revision 1, and `name`,
/// `version`, `chainId`, `revision` as short strings equal to the outside
/// execution's, on the pinned chain.
fn check_domain(typed_data: &Value, domain: &Value, chain_id: &Felt) -> Result<()> {
    if !matches!(snip12::revision(typed_data), Ok(snip12::Revision::V1)) {
        return Err(SessionError::response(
            "typed data is not SNIP-12 revision 1",
        ));
    }
    let expected = [
        ("name", short_string_const(OUTSIDE_EXECUTION_DOMAIN)),
        ("version", Felt::TWO),
        ("chainId", *chain_id),
        ("revision", Felt::ONE),
    ];
    for (name, want) in expected {
        if member(domain, name, "shortstring")? != want {
            return Err(SessionError::response(format!(
                "typed data domain {name:?} differs from the request on chain {}; nothing was signed",
                felt_to_hex(chain_id)
            )));
        }
    }
    Ok(())
}

/// Call `index` of the document, read as the hash reads it, must be the
/// requested call: same target, selector and calldata.
fn check_call(index: usize, member_value: &Value, want: &Call) -> Result<()> {
    let differs = |what: &str| {
        SessionError::response(format!(
            "typed data call {index} {what} differs from the request; nothing was signed"
        ))
    };
    if !member_value.is_object() {
        return Err(SessionError::response(format!(
            "typed data call {index} is not an object"
        )));
    }
    if member(member_value, "To", "ContractAddress")? != want.to {
        return Err(differs("target"));
    }
    if member(member_value, "Selector", "selector")? != want.selector {
        return Err(differs("selector"));
    }
    let calldata = field(member_value, "Calldata")?.as_array().ok_or_else(|| {
        SessionError::response(format!("typed data call {index} Calldata is not an array"))
    })?;
    if calldata.len() != want.calldata.len() {
        return Err(differs("calldata length"));
    }
    for (item, felt) in calldata.iter().zip(&want.calldata) {
        let read = snip12::encode_basic_v1("felt", item).map_err(|e| {
            SessionError::response(format!("typed data call {index} Calldata is invalid: {e}"))
        })?;
        if read != *felt {
            return Err(differs("calldata"));
        }
    }
    Ok(())
}

fn window_bound(message: &Value, name: &str) -> Result<u128> {
    felt_to_u128(&member(message, name, "u128")?)
        .ok_or_else(|| SessionError::response(format!("{name} is not a u128")))
}

#[cfg(test)]
mod tests;
