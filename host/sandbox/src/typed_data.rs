//! SNIP-12 revision 1 `OutsideExecution` typed data: issuing it the way paymasters do
//! (in several JSON representations), parsing what clients send back, and hashing it
//! independently of the guest component.
//!
//! Hashing: when every call's entrypoint name is known, the sandbox rebuilds the
//! typed data with the *names* in `Selector` and hashes it with starknet-core's
//! [`TypedData`] (which always hashes a selector string as a name; with names it agrees
//! with starknet.js). When a call was requested by hex selector, the name is unknown and
//! the sandbox hashes the fixed schema with starknet-crypto's Poseidon directly. Tests
//! check that both paths agree.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use starknet_core::types::{Felt, TypedData};
use starknet_core::utils::{parse_cairo_short_string, starknet_keccak};
use starknet_crypto::poseidon_hash_many;

use super::felt;

/// `"ANY_CALLER"` as a short string: the caller paymaster flows put in `Caller`.
pub const ANY_CALLER: &str = "0x414e595f43414c4c4552";
/// Address the sandbox's substitution faults send funds to.
pub const ATTACKER_ADDRESS: &str = "0xa77ac4e5";
/// Domain name of outside executions.
pub(crate) const DOMAIN_NAME: &str = "Account.execute_from_outside";

const DOMAIN_TYPE: &str = "\"StarknetDomain\"(\"name\":\"shortstring\",\"version\":\"shortstring\",\"chainId\":\"shortstring\",\"revision\":\"shortstring\")";
const CALL_TYPE: &str =
    "\"Call\"(\"To\":\"ContractAddress\",\"Selector\":\"selector\",\"Calldata\":\"felt*\")";
const OE_TYPE_HEAD: &str = "\"OutsideExecution\"(\"Caller\":\"ContractAddress\",\"Nonce\":\"felt\",\"Execute After\":\"u128\",\"Execute Before\":\"u128\",\"Calls\":\"Call*\")";

/// How the sandbox writes numbers in the typed data it issues. Every style hashes
/// the same under starknet.js rules; they exist so tests can check that the component
/// accepts every representation a backend may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypedDataStyle {
    /// All values as `0x`-hex strings, `chainId` as the hex of its short string
    /// (`"0x534e5f5345504f4c4941"`), like paymasters produce.
    #[default]
    Hex,
    /// Decimal strings (selectors stay hex: starknet.js hashes non-hex selector strings
    /// as names).
    Decimal,
    /// JSON numbers where the value fits below 2^53, hex strings otherwise.
    Numbers,
    /// Like [`TypedDataStyle::Hex`] but `chainId` as the short string (`"SN_SEPOLIA"`).
    ShortstringChainId,
    /// A mix: short-string chain id, zero-padded hex addresses, decimal `Execute After`,
    /// numeric `Execute Before`, calldata alternating hex / decimal / number.
    Mixed,
}

/// A way the sandbox can tamper with the typed data it returns (fault injection,
/// simulating a compromised or buggy backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Substitution {
    /// Change one calldata felt of the first call that has calldata (the amount of a
    /// transfer); adds a felt when no call has calldata.
    CalldataValue,
    /// Send the first call to [`ATTACKER_ADDRESS`].
    Target,
    /// Use a different selector for the first call (`approve`, or `transfer` if it was
    /// `approve`).
    Selector,
    /// Append a `transfer` of the maximum u128 amount to [`ATTACKER_ADDRESS`] on the
    /// first call's contract.
    ExtraCall,
    /// Use another chain id (`SN_MAIN` instead of the configured one, or `SN_SEPOLIA`).
    ChainId,
    /// `Execute Before` one year in the future.
    TimeWindow,
    /// `Execute After` in the future (now + 600 s).
    ExecuteAfterFuture,
    /// Drop the last call.
    DropCall,
}

/// One call of an outside execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OeCall {
    pub to: Felt,
    pub selector: Felt,
    /// Entrypoint name when known (requested by name).
    pub name: Option<String>,
    pub calldata: Vec<Felt>,
}

/// The semantic content of an `OutsideExecution` typed data.
#[derive(Clone, Debug)]
pub(crate) struct OutsideExecution {
    pub chain_id: Felt,
    pub caller: Felt,
    pub nonce: Felt,
    pub execute_after: u128,
    pub execute_before: u128,
    pub calls: Vec<OeCall>,
}

impl OutsideExecution {
    /// Equal in everything that is hashed (names are ignored).
    pub(crate) fn same_content(&self, other: &Self) -> bool {
        self.chain_id == other.chain_id
            && self.caller == other.caller
            && self.nonce == other.nonce
            && self.execute_after == other.execute_after
            && self.execute_before == other.execute_before
            && self.calls.len() == other.calls.len()
            && self
                .calls
                .iter()
                .zip(&other.calls)
                .all(|(a, b)| a.to == b.to && a.selector == b.selector && a.calldata == b.calldata)
    }
}

/// Build the outside execution a paymaster would return for `calls` at time `now`.
pub(crate) fn issue(chain_id: Felt, now: u64, calls: Vec<OeCall>) -> OutsideExecution {
    OutsideExecution {
        chain_id,
        caller: felt::parse_felt_str(ANY_CALLER).unwrap_or_default(),
        nonce: felt::random_felt(),
        execute_after: u128::from(now.saturating_sub(60)),
        execute_before: u128::from(now + 3600),
        calls,
    }
}

/// Apply a substitution fault to a copy of `oe`.
pub(crate) fn substitute(oe: &OutsideExecution, sub: Substitution, now: u64) -> OutsideExecution {
    let mut out = oe.clone();
    let attacker = felt::parse_felt_str(ATTACKER_ADDRESS).unwrap_or_default();
    match sub {
        Substitution::CalldataValue => {
            if let Some(call) = out.calls.iter_mut().find(|c| !c.calldata.is_empty()) {
                let idx = if call.calldata.len() > 1 { 1 } else { 0 };
                call.calldata[idx] += Felt::from(1_000_000u64);
            } else if let Some(call) = out.calls.first_mut() {
                call.calldata.push(Felt::from(1_000_000u64));
            }
        }
        Substitution::Target => {
            if let Some(call) = out.calls.first_mut() {
                call.to = attacker;
            }
        }
        Substitution::Selector => {
            if let Some(call) = out.calls.first_mut() {
                let name = if call.selector == felt::selector("approve") {
                    "transfer"
                } else {
                    "approve"
                };
                call.selector = felt::selector(name);
                call.name = Some(name.to_string());
            }
        }
        Substitution::ExtraCall => {
            let token = out.calls.first().map(|c| c.to).unwrap_or(attacker);
            out.calls.push(OeCall {
                to: token,
                selector: felt::selector("transfer"),
                name: Some("transfer".to_string()),
                calldata: vec![attacker, Felt::from(u128::MAX), Felt::ZERO],
            });
        }
        Substitution::ChainId => {
            let main = felt::shortstring("SN_MAIN").unwrap_or_default();
            out.chain_id = if oe.chain_id == main {
                felt::shortstring("SN_SEPOLIA").unwrap_or_default()
            } else {
                main
            };
        }
        Substitution::TimeWindow => {
            out.execute_before = u128::from(now + 365 * 24 * 3600);
        }
        Substitution::ExecuteAfterFuture => {
            out.execute_after = u128::from(now + 600);
            out.execute_before = u128::from(now + 4200);
        }
        Substitution::DropCall => {
            out.calls.pop();
        }
    }
    out
}

/// The SNIP-9 v2 outside-execution schema, shared as data with the guest's fake
/// backend and the interop tests (each reads it with its own code).
const SCHEMA: &str = include_str!("../../../guest/test-data/outside_execution_v2.json");

/// The `types` object of [`SCHEMA`], parsed once.
fn types_json() -> &'static Value {
    static TYPES: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
        serde_json::from_str::<Value>(SCHEMA)
            .ok()
            .and_then(|schema| schema.get("types").cloned())
            .unwrap_or_default()
    });
    &TYPES
}

const SAFE_INT: u64 = (1 << 53) - 1;

fn num_or_hex(f: &Felt) -> Value {
    match u64::try_from(*f) {
        Ok(n) if n <= SAFE_INT => json!(n),
        _ => json!(felt::hex(f)),
    }
}

fn chain_shortstring(f: &Felt) -> Value {
    match parse_cairo_short_string(f) {
        Ok(s) if !s.is_empty() && felt::parse_felt_str(&s).is_none() => json!(s),
        _ => json!(felt::hex(f)),
    }
}

/// Render `oe` as typed-data JSON in the given style.
pub(crate) fn render(oe: &OutsideExecution, style: TypedDataStyle) -> Value {
    use TypedDataStyle as S;
    let hex = |f: &Felt| json!(felt::hex(f));
    let chain_id = match style {
        S::Hex | S::Numbers => hex(&oe.chain_id),
        S::Decimal => json!(felt::dec(&oe.chain_id)),
        S::ShortstringChainId | S::Mixed => chain_shortstring(&oe.chain_id),
    };
    let addr = |f: &Felt| match style {
        S::Decimal => json!(felt::dec(f)),
        S::Mixed => json!(felt::padded_hex(f)),
        _ => hex(f),
    };
    let after = Felt::from(oe.execute_after);
    let before = Felt::from(oe.execute_before);
    let (after_v, before_v) = match style {
        S::Hex | S::ShortstringChainId => (hex(&after), hex(&before)),
        S::Decimal => (json!(felt::dec(&after)), json!(felt::dec(&before))),
        S::Numbers => (num_or_hex(&after), num_or_hex(&before)),
        S::Mixed => (json!(felt::dec(&after)), num_or_hex(&before)),
    };
    let nonce = match style {
        S::Decimal => json!(felt::dec(&oe.nonce)),
        S::Mixed => json!(felt::padded_hex(&oe.nonce)),
        _ => hex(&oe.nonce),
    };
    let calls: Vec<Value> = oe
        .calls
        .iter()
        .map(|c| {
            let calldata: Vec<Value> = c
                .calldata
                .iter()
                .enumerate()
                .map(|(i, f)| match style {
                    S::Hex | S::ShortstringChainId => hex(f),
                    S::Decimal => json!(felt::dec(f)),
                    S::Numbers => num_or_hex(f),
                    S::Mixed => match i % 3 {
                        0 => hex(f),
                        1 => json!(felt::dec(f)),
                        _ => num_or_hex(f),
                    },
                })
                .collect();
            json!({
                "To": addr(&c.to),
                "Selector": hex(&c.selector),
                "Calldata": calldata,
            })
        })
        .collect();
    json!({
        "types": types_json().clone(),
        "primaryType": "OutsideExecution",
        "domain": {
            "name": DOMAIN_NAME,
            "version": "2",
            "chainId": chain_id,
            "revision": "1",
        },
        "message": {
            "Caller": addr(&oe.caller),
            "Nonce": nonce,
            "Execute After": after_v,
            "Execute Before": before_v,
            "Calls": calls,
        }
    })
}

fn field<'a>(obj: &'a Value, key: &str) -> Result<&'a Value, String> {
    obj.get(key).ok_or_else(|| format!("missing {key}"))
}

/// Parse a submitted typed data with starknet.js value rules. Fails when the schema
/// is not exactly the outside-execution schema or a value is malformed.
pub(crate) fn parse(td: &Value) -> Result<OutsideExecution, String> {
    if !td.is_object() {
        return Err("typedData must be an object".into());
    }
    if field(td, "types")? != types_json() {
        return Err("types are not the OutsideExecution revision 1 schema".into());
    }
    if field(td, "primaryType")? != "OutsideExecution" {
        return Err("primaryType must be OutsideExecution".into());
    }
    let domain = field(td, "domain")?;
    let name = felt::parse_shortstring_json(field(domain, "name")?);
    if name != felt::shortstring(DOMAIN_NAME) {
        return Err("domain.name is not Account.execute_from_outside".into());
    }
    if felt::parse_shortstring_json(field(domain, "version")?) != Some(Felt::TWO) {
        return Err("domain.version must be 2".into());
    }
    if felt::parse_shortstring_json(field(domain, "revision")?) != Some(Felt::ONE) {
        return Err("domain.revision must be 1".into());
    }
    let chain_id = felt::parse_shortstring_json(field(domain, "chainId")?)
        .ok_or("domain.chainId is malformed")?;
    let msg = field(td, "message")?;
    let caller = felt::parse_felt_json(field(msg, "Caller")?).ok_or("Caller is malformed")?;
    let nonce = felt::parse_shortstring_json(field(msg, "Nonce")?).ok_or("Nonce is malformed")?;
    let execute_after =
        felt::parse_u128_json(field(msg, "Execute After")?).ok_or("Execute After is malformed")?;
    let execute_before = felt::parse_u128_json(field(msg, "Execute Before")?)
        .ok_or("Execute Before is malformed")?;
    let calls_v = field(msg, "Calls")?
        .as_array()
        .ok_or("Calls must be an array")?;
    let mut calls = Vec::with_capacity(calls_v.len());
    for (i, c) in calls_v.iter().enumerate() {
        let to =
            felt::parse_felt_json(field(c, "To")?).ok_or(format!("Calls[{i}].To is malformed"))?;
        let (selector, name) = match field(c, "Selector")? {
            Value::String(s) => felt::selector_of(s),
            other => felt::parse_felt_json(other).map(|f| (f, None)),
        }
        .ok_or(format!("Calls[{i}].Selector is malformed"))?;
        let calldata = field(c, "Calldata")?
            .as_array()
            .ok_or(format!("Calls[{i}].Calldata must be an array"))?
            .iter()
            .map(felt::parse_shortstring_json)
            .collect::<Option<Vec<_>>>()
            .ok_or(format!("Calls[{i}].Calldata is malformed"))?;
        calls.push(OeCall {
            to,
            selector,
            name,
            calldata,
        });
    }
    Ok(OutsideExecution {
        chain_id,
        caller,
        nonce,
        execute_after,
        execute_before,
        calls,
    })
}

/// Message hash of `oe` for `account`, by starknet-core when every entrypoint name is
/// known, by direct Poseidon otherwise.
pub(crate) fn message_hash(oe: &OutsideExecution, account: Felt) -> Result<Felt, String> {
    if oe.calls.iter().all(|c| c.name.is_some()) {
        message_hash_starknet_core(oe, account)
    } else {
        Ok(message_hash_poseidon(oe, account))
    }
}

/// Hash with starknet-core's `TypedData`, `Selector` holding the entrypoint names.
pub(crate) fn message_hash_starknet_core(
    oe: &OutsideExecution,
    account: Felt,
) -> Result<Felt, String> {
    let calls: Vec<Value> = oe
        .calls
        .iter()
        .map(|c| {
            let name = c.name.clone().ok_or("entrypoint name unknown")?;
            Ok(json!({
                "To": felt::hex(&c.to),
                "Selector": name,
                "Calldata": c.calldata.iter().map(felt::hex).collect::<Vec<_>>(),
            }))
        })
        .collect::<Result<_, String>>()?;
    let value = json!({
        "types": types_json().clone(),
        "primaryType": "OutsideExecution",
        "domain": {
            "name": DOMAIN_NAME,
            "version": "2",
            "chainId": felt::hex(&oe.chain_id),
            "revision": "1",
        },
        "message": {
            "Caller": felt::hex(&oe.caller),
            "Nonce": felt::hex(&oe.nonce),
            "Execute After": felt::hex(&Felt::from(oe.execute_after)),
            "Execute Before": felt::hex(&Felt::from(oe.execute_before)),
            "Calls": calls,
        }
    });
    let td: TypedData = serde_json::from_value(value).map_err(|e| e.to_string())?;
    td.message_hash(account).map_err(|e| e.to_string())
}

/// Type hashes of the schema: (domain, outside execution, call).
pub(crate) fn type_hashes() -> (Felt, Felt, Felt) {
    (
        starknet_keccak(DOMAIN_TYPE.as_bytes()),
        starknet_keccak(format!("{OE_TYPE_HEAD}{CALL_TYPE}").as_bytes()),
        starknet_keccak(CALL_TYPE.as_bytes()),
    )
}

/// Hash the fixed outside-execution schema with Poseidon directly.
pub(crate) fn message_hash_poseidon(oe: &OutsideExecution, account: Felt) -> Felt {
    let (domain_th, oe_th, call_th) = type_hashes();
    let domain = poseidon_hash_many(&[
        domain_th,
        felt::shortstring(DOMAIN_NAME).unwrap_or_default(),
        Felt::TWO,
        oe.chain_id,
        Felt::ONE,
    ]);
    let call_hashes: Vec<Felt> = oe
        .calls
        .iter()
        .map(|c| poseidon_hash_many(&[call_th, c.to, c.selector, poseidon_hash_many(&c.calldata)]))
        .collect();
    let message = poseidon_hash_many(&[
        oe_th,
        oe.caller,
        oe.nonce,
        Felt::from(oe.execute_after),
        Felt::from(oe.execute_before),
        poseidon_hash_many(&call_hashes),
    ]);
    poseidon_hash_many(&[
        felt::shortstring("StarkNet Message").unwrap_or_default(),
        domain,
        account,
        message,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(chain: &str) -> OutsideExecution {
        let token = felt::parse_felt_str(
            "0x4718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d",
        )
        .unwrap_or_default();
        issue(
            felt::shortstring(chain).unwrap_or_default(),
            1_800_000_000,
            vec![
                OeCall {
                    to: token,
                    selector: felt::selector("transfer"),
                    name: Some("transfer".into()),
                    calldata: vec![Felt::from(0x1234u64), Felt::from(1000u64), Felt::ZERO],
                },
                OeCall {
                    to: token,
                    selector: felt::selector("approve"),
                    name: Some("approve".into()),
                    calldata: vec![Felt::from(u128::MAX), Felt::TWO.pow(200u128), Felt::ZERO],
                },
            ],
        )
    }

    #[test]
    fn type_hashes_match_design() {
        let (domain, _, call) = type_hashes();
        assert_eq!(
            felt::hex(&domain),
            "0x1ff2f602e42168014d405a94f75e8a93d640751d71d16311266e140d8b0a210"
        );
        assert_eq!(
            felt::hex(&call),
            "0x3635c7f2a7ba93844c0d064e18e487f35ab90f7c39d00f186a781fc3f0c2ca9"
        );
    }

    #[test]
    fn both_hash_paths_agree() {
        let oe = sample("SN_SEPOLIA");
        let account = Felt::from(0xabcdefu64);
        let a = message_hash_starknet_core(&oe, account);
        assert_eq!(a, Ok(message_hash_poseidon(&oe, account)));
    }

    #[test]
    fn every_style_parses_back_to_the_same_content() {
        let oe = sample("SN_SEPOLIA");
        for style in [
            TypedDataStyle::Hex,
            TypedDataStyle::Decimal,
            TypedDataStyle::Numbers,
            TypedDataStyle::ShortstringChainId,
            TypedDataStyle::Mixed,
        ] {
            let v = render(&oe, style);
            let back = parse(&v).unwrap_or_else(|e| panic!("{style:?}: {e}"));
            assert!(back.same_content(&oe), "{style:?}");
            // And starknet-core, reading the rendered JSON with hex selectors replaced by
            // names, hashes the same.
            let mut named = v.clone();
            if let Some(calls) = named["message"]["Calls"].as_array_mut() {
                for (c, orig) in calls.iter_mut().zip(&oe.calls) {
                    c["Selector"] = json!(orig.name.clone().unwrap_or_default());
                }
            }
            let td: Result<TypedData, _> = serde_json::from_value(named);
            let h = td
                .map_err(|e| e.to_string())
                .and_then(|t| t.message_hash(Felt::from(7u8)).map_err(|e| e.to_string()));
            assert_eq!(
                h,
                Ok(message_hash_poseidon(&oe, Felt::from(7u8))),
                "{style:?}"
            );
        }
    }

    #[test]
    fn rendering_quirks() {
        let oe = sample("SN_SEPOLIA");
        let hex = render(&oe, TypedDataStyle::Hex);
        assert_eq!(hex["domain"]["chainId"], "0x534e5f5345504f4c4941");
        assert_eq!(hex["domain"]["version"], "2");
        assert_eq!(hex["message"]["Caller"], ANY_CALLER);
        let short = render(&oe, TypedDataStyle::ShortstringChainId);
        assert_eq!(short["domain"]["chainId"], "SN_SEPOLIA");
        let nums = render(&oe, TypedDataStyle::Numbers);
        assert!(nums["message"]["Execute After"].is_u64());
    }

    #[test]
    fn substitutions_change_content() {
        let oe = sample("SN_SEPOLIA");
        for sub in [
            Substitution::CalldataValue,
            Substitution::Target,
            Substitution::Selector,
            Substitution::ExtraCall,
            Substitution::ChainId,
            Substitution::TimeWindow,
            Substitution::ExecuteAfterFuture,
            Substitution::DropCall,
        ] {
            let s = substitute(&oe, sub, 1_800_000_000);
            assert!(!s.same_content(&oe), "{sub:?}");
            assert_eq!(s.nonce, oe.nonce);
        }
    }

    #[test]
    fn parse_rejects_other_schemas() {
        let oe = sample("SN_SEPOLIA");
        let mut v = render(&oe, TypedDataStyle::Hex);
        v["types"]["Call"][1]["type"] = json!("felt");
        assert!(parse(&v).is_err());
        let mut v = render(&oe, TypedDataStyle::Hex);
        v["domain"]["version"] = json!("1");
        assert!(parse(&v).is_err());
        assert!(parse(&json!([1, 2])).is_err());
        let mut v = render(&oe, TypedDataStyle::Hex);
        v["message"]["Calls"][0]["Calldata"] = json!([{}]);
        assert!(parse(&v).is_err());
    }

    /// `"Name"("field":"type",...)` of one type of the shared schema.
    fn encode_type(types: &Value, name: &str) -> String {
        let fields: Vec<String> = types[name]
            .as_array()
            .expect("type members")
            .iter()
            .map(|m| {
                format!(
                    "\"{}\":\"{}\"",
                    m["name"].as_str().unwrap(),
                    m["type"].as_str().unwrap()
                )
            })
            .collect();
        format!("\"{name}\"({})", fields.join(","))
    }

    #[test]
    fn type_encodings_are_the_shared_schema() {
        let schema: Value = serde_json::from_str(SCHEMA).expect("schema JSON");
        let types = types_json();
        assert_eq!(*types, schema["types"]);
        assert_eq!(encode_type(types, "StarknetDomain"), DOMAIN_TYPE);
        assert_eq!(encode_type(types, "Call"), CALL_TYPE);
        assert_eq!(encode_type(types, "OutsideExecution"), OE_TYPE_HEAD);
        assert_eq!(schema["domain"]["name"], DOMAIN_NAME);
        assert_eq!(schema["primaryType"], "OutsideExecution");
    }
}
