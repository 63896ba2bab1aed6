//! SNIP-9 v2 outside-execution fixtures and the check under test.

use chipi_session_guest::crypto::felt::{encode_short_string, felt_to_hex, parse_felt};
use chipi_session_guest::crypto::snip12;
use chipi_session_guest::protocol::calls::{selector_for, Call};
use serde_json::{json, Value};
use starknet_crypto::Felt;

/// "Now" of every check (the unit tests' value).
pub const NOW: u64 = 1_800_000_000;

/// The configured chain of every check: `SN_SEPOLIA`.
pub fn chain() -> Felt {
    encode_short_string("SN_SEPOLIA").expect("short string")
}

/// The account (wallet) the typed data is hashed for.
pub fn account() -> Felt {
    parse_felt("0x0635e6e4f8a7eb1f8f2a9ba7f9cf1e0a8f6e2f3c3b4e2e1f0a9b8c7d6e5f4a3b").expect("felt")
}

/// The members of `message` the backend chooses (the check cannot pin them);
/// every other value of an accepted document is pinned by the request.
pub const FREE_MESSAGE_FIELDS: [&str; 4] = ["Caller", "Nonce", "Execute After", "Execute Before"];

/// The check under test: `Ok(Some(hash))` when the component would sign
/// `typed_data` for `calls` (on [`chain`], at [`NOW`], for [`account`]), with
/// the hash it would sign when the check returns one.
///
/// This is the only place that names the check's API: re-point it here when
/// the check changes. History: written against `verify_outside_execution`
/// (commit fb351d6, returned `()`); now the "build locally, hash both,
/// compare" `approve_outside_execution`, which returns the hash to sign.
pub fn accept(typed_data: &Value, calls: &[Call]) -> Result<Option<Felt>, String> {
    use chipi_session_guest::protocol::typed_data_check::{approve_outside_execution, Request};
    let request = Request {
        wallet: account(),
        chain_id: chain(),
        calls,
        now: NOW,
    };
    approve_outside_execution(typed_data, &request)
        .map(|approved| Some(approved.hash))
        .map_err(|e| e.to_string())
}

/// starknet.js-compatible message hash of `typed_data` for [`account`].
pub fn hash(typed_data: &Value) -> Result<Felt, String> {
    snip12::message_hash(typed_data, &account()).map_err(|e| e.to_string())
}

/// What [`check_and_hash`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The check refused the document.
    Refused,
    /// Accepted, and the hash equals the reference hash.
    AcceptedSameHash,
    /// Accepted, but the document does not hash at all (the component would
    /// then refuse it with an error: safe, but the check and the hasher
    /// disagree). Carries the hash error.
    AcceptedUnhashable(String),
    /// Accepted with another hash, recorded (not panicked) because
    /// `CHIPI_FUZZ_RECORD_VIOLATIONS` is set.
    Violation,
}

/// Run the check and the hash on `typed_data` and assert the property:
/// **whenever the check accepts, the document hashes exactly like `template`
/// (the honest document for `calls`) with the backend-chosen members
/// ([`FREE_MESSAGE_FIELDS`]) copied over from `typed_data` verbatim.**
///
/// A violation means the component would sign a hash that commits to
/// something other than what it checked: it panics with both documents.
pub fn check_and_hash(typed_data: &Value, calls: &[Call], template: &Value) -> Verdict {
    let Ok(signed) = accept(typed_data, calls) else {
        return Verdict::Refused;
    };
    let got = match hash(typed_data) {
        Ok(h) => h,
        Err(e) => return Verdict::AcceptedUnhashable(e),
    };
    if let Some(signed) = signed {
        assert_eq!(
            felt_to_hex(&signed),
            felt_to_hex(&got),
            "the check approved a hash other than the document's starknet.js hash: {typed_data}"
        );
    }
    let reference = reference_document(template, typed_data);
    // Most accepted documents keep the template's free members: reuse its hash.
    let want = if reference == *template {
        template_hash(template)
    } else {
        hash(&reference)
    };
    match want {
        Ok(want) if want == got => Verdict::AcceptedSameHash,
        want => {
            let report = format!(
                "PROPERTY VIOLATED: the check accepted a document whose hash {} differs from the \
                 requested outside execution's {:?}\naccepted document: {}\nreference document: {}",
                felt_to_hex(&got),
                want.map(|h| felt_to_hex(&h)),
                typed_data,
                reference
            );
            if record_only() {
                record_violation(typed_data, &reference, &report);
                Verdict::Violation
            } else {
                panic!("{report}");
            }
        }
    }
}

/// `CHIPI_FUZZ_RECORD_VIOLATIONS=1`: print each new kind of property violation
/// (once per set of differing paths) instead of panicking, so a campaign can go
/// on past a known, not yet fixed violation. Off by default: replay and CI panic.
fn record_only() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("CHIPI_FUZZ_RECORD_VIOLATIONS").is_some())
}

fn record_violation(doc: &Value, reference: &Value, report: &str) {
    use std::sync::Mutex;
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut paths = Vec::new();
    diff_paths(doc, reference, String::new(), &mut paths);
    let kind = paths.join(" ");
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !seen.contains(&kind) {
        eprintln!("VIOLATION kind=[{kind}]\n{report}");
        seen.push(kind);
    }
}

/// Paths (with the JSON type found in `a`) where `a` and `b` differ.
fn diff_paths(a: &Value, b: &Value, at: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => diff_paths(p, q, format!("{at}/{k}"), out),
                    _ => out.push(format!("{at}/{k}:presence")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff_paths(p, q, format!("{at}/{i}"), out);
            }
        }
        _ if a == b => {}
        _ => {
            let ty = match a {
                Value::Null => "null",
                Value::Bool(_) => "bool",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            out.push(format!("{at}:{ty}"));
        }
    }
}

/// [`hash`] of a template, memoized (the templates are a handful of fixed documents).
fn template_hash(template: &Value) -> Result<Felt, String> {
    use std::sync::Mutex;
    static CACHE: Mutex<Vec<(Value, Result<Felt, String>)>> = Mutex::new(Vec::new());
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, h)) = cache.iter().find(|(t, _)| t == template) {
        return h.clone();
    }
    let h = hash(template);
    cache.push((template.clone(), h.clone()));
    h
}

/// `template` with the free members of `message` taken from `received`.
pub fn reference_document(template: &Value, received: &Value) -> Value {
    let mut reference = template.clone();
    let (Some(dst), Some(src)) = (
        reference.get_mut("message").and_then(Value::as_object_mut),
        received.get("message").and_then(Value::as_object),
    ) else {
        return reference;
    };
    for name in FREE_MESSAGE_FIELDS {
        match src.get(name) {
            Some(v) => {
                dst.insert(name.to_string(), v.clone());
            }
            None => {
                dst.remove(name);
            }
        }
    }
    reference
}

/// The schema every outside execution declares.
pub fn types() -> Value {
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

/// The honest outside execution a paymaster returns for `calls` (hex
/// selectors, hex strings everywhere), valid at `now` on `chain_id`.
pub fn honest_document(calls: &[Call], chain_id: &Felt, nonce: Felt, now: u64) -> Value {
    json!({
        "types": types(),
        "primaryType": "OutsideExecution",
        "domain": {
            "name": "Account.execute_from_outside",
            "version": "2",
            "chainId": felt_to_hex(chain_id),
            "revision": "1",
        },
        "message": {
            "Caller": "0x414e595f43414c4c4552",
            "Nonce": felt_to_hex(&nonce),
            "Execute After": format!("{:#x}", now.saturating_sub(60)),
            "Execute Before": format!("{:#x}", now + 3600),
            "Calls": calls.iter().map(|c| json!({
                "To": felt_to_hex(&c.to),
                "Selector": felt_to_hex(&c.selector),
                "Calldata": c.calldata.iter().map(felt_to_hex).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        },
    })
}

fn f(hex: &str) -> Felt {
    parse_felt(hex).expect("fixture felt")
}

fn call(to: &str, entrypoint: &str, calldata: &[&str]) -> Call {
    Call::named(f(to), entrypoint, calldata.iter().map(|c| f(c)).collect()).expect("fixture call")
}

/// The token of the fixtures (STRK on Sepolia).
pub const TOKEN: &str = "0x4718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d";

/// Fixture requests: each is the calls asked for plus an accepted document
/// for them (written in several of the representations paymasters use).
pub fn fixtures() -> Vec<(Vec<Call>, Value)> {
    let mut out = Vec::new();

    // 0: the unit tests' document (one transfer, hex everywhere).
    let calls = vec![call("0x1234", "transfer", &["0x99", "0x64", "0x0"])];
    out.push((
        calls.clone(),
        honest_document(&calls, &chain(), Felt::from(5u8), NOW),
    ));

    // 1: names and JSON numbers (what starknet.js's helpers produce).
    let mut td = honest_document(&calls, &chain(), Felt::from(5u8), NOW);
    td["domain"]["chainId"] = json!("SN_SEPOLIA");
    td["domain"]["version"] = json!(2);
    td["domain"]["revision"] = json!(1);
    td["message"]["Execute After"] = json!(NOW - 60);
    td["message"]["Execute Before"] = json!((NOW + 3600).to_string());
    td["message"]["Calls"][0]["Selector"] = json!("transfer");
    td["message"]["Calls"][0]["Calldata"] = json!(["153", 100, "0"]);
    out.push((calls, td));

    // 2: approve + transfer on a real token address, decimal amounts.
    let calls = vec![
        call(TOKEN, "approve", &["0xc0ffee", "1000000000000000000", "0"]),
        call(TOKEN, "transfer", &["0xc0ffee", "0x2a", "0x0"]),
    ];
    out.push((
        calls.clone(),
        honest_document(&calls, &chain(), f("0x7b"), NOW),
    ));

    // 3: an owner-signed registration on the wallet itself (whitelist of one).
    let transfer = felt_to_hex(&selector_for("transfer").expect("selector"));
    let calls = vec![Call::named(
        account(),
        "add_or_update_session_key",
        vec![
            f("0x3c1e9550e66958296d11b60f8e8e7a7ad990d07fa65d5f7652c4a6c87d4e3cc"),
            Felt::from(NOW + 21_600),
            Felt::from(1000u32),
            Felt::ONE,
            f(&transfer),
        ],
    )
    .expect("fixture call")];
    out.push((
        calls.clone(),
        honest_document(&calls, &chain(), f("0x1"), NOW),
    ));

    // 4: a call without calldata, selector given by name.
    let calls = vec![call("0x777", "revoke_session_key_not_admin", &[])];
    let mut td = honest_document(&calls, &chain(), f("0x2"), NOW);
    td["message"]["Calls"][0]["Selector"] = json!("revoke_session_key_not_admin");
    out.push((calls, td));

    out
}
