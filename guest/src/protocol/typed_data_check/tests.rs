use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use serde::Deserialize;

use super::*;
use crate::crypto::snip12::{type_hash, Revision};
use crate::protocol::calls::selector_for;
use crate::test_data::{self, apply_patch, load};

const NOW: u64 = 1_800_000_000;

fn calls() -> Vec<Call> {
    vec![Call::named(
        Felt::from(0x1234u32),
        "transfer",
        vec![Felt::from(0x99u32), Felt::from(100u32), Felt::ZERO],
    )
    .unwrap()]
}

fn wallet() -> Felt {
    Felt::from(0xabcdefu32)
}

fn chain() -> Felt {
    encode_short_string("SN_SEPOLIA").unwrap()
}

/// The honest document for `calls`, values as a paymaster writes them.
fn document_for(calls: &[Call]) -> Value {
    let calls: Vec<Value> = calls
        .iter()
        .map(|c| {
            json!({
                "To": felt_to_hex(&c.to),
                "Selector": felt_to_hex(&c.selector),
                "Calldata": c.calldata.iter().map(felt_to_hex).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "types": expected_types(),
        "primaryType": "OutsideExecution",
        "domain": {"name": OUTSIDE_EXECUTION_DOMAIN, "version": "2", "chainId": "0x534e5f5345504f4c4941", "revision": "1"},
        "message": {
            "Caller": "0x414e595f43414c4c4552",
            "Nonce": "0x5",
            "Execute After": format!("{:#x}", NOW - 60),
            "Execute Before": format!("{:#x}", NOW + 3600),
            "Calls": calls,
        },
    })
}

fn typed_data() -> Value {
    document_for(&calls())
}

fn check_calls(td: &Value, calls: &[Call]) -> Result<Approved> {
    approve_outside_execution(
        td,
        &Request {
            wallet: wallet(),
            chain_id: chain(),
            calls,
            now: NOW,
        },
    )
}

fn check(td: &Value) -> Result<Approved> {
    check_calls(td, &calls())
}

#[test]
fn fixed_schema_constants_match_the_generic_engine() {
    let types = expected_types();
    assert_eq!(
        type_hash(&types, "StarknetDomain", Revision::V1).unwrap(),
        DOMAIN_TYPE_HASH
    );
    assert_eq!(
        type_hash(&types, "Call", Revision::V1).unwrap(),
        CALL_TYPE_HASH
    );
    assert_eq!(
        type_hash(&types, "OutsideExecution", Revision::V1).unwrap(),
        starknet_keccak(OUTSIDE_EXECUTION_TYPE.as_bytes())
    );
    assert_ne!(short_string_const(OUTSIDE_EXECUTION_DOMAIN), Felt::ZERO);
}

/// `typed_data_refusals.json`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Refusals {
    refused: Vec<Case>,
    accepted: Vec<Case>,
    short_string_lookalikes: Vec<String>,
}

/// A change of the honest document, as JSON Patch operations.
#[derive(Deserialize)]
struct Case {
    name: String,
    patch: Value,
}

fn refusals() -> Refusals {
    load(test_data::TYPED_DATA_REFUSALS)
}

fn patched(case: &Case) -> Value {
    let mut td = typed_data();
    apply_patch(&mut td, &case.patch);
    td
}

#[test]
fn the_schema_is_the_schema_file() {
    let schema: Value = load(test_data::OUTSIDE_EXECUTION_V2);
    assert_eq!(schema["types"], expected_types());
    assert_eq!(schema["primaryType"], json!("OutsideExecution"));
    assert_eq!(schema["domain"]["name"], json!(OUTSIDE_EXECUTION_DOMAIN));
    // The fixed-schema hash commits to version 2 and revision 1.
    assert_eq!(schema["domain"]["version"], json!("2"));
    assert_eq!(schema["domain"]["revision"], json!("1"));
    assert_eq!(
        test_data::outside_execution_document("SN_SEPOLIA", &json!({}))["types"],
        expected_types()
    );
}

#[test]
fn honest_typed_data_passes() {
    let approved = check(&typed_data()).unwrap();
    assert_eq!(
        approved.hash,
        snip12::message_hash(&typed_data(), &wallet()).unwrap()
    );
    assert_eq!(approved.nonce, Felt::from(5u8));
    assert_eq!(approved.execute_before, u128::from(NOW + 3600));
}

/// Spellings starknet.js reads as the requested values are accepted:
/// refusing them would break honest backends, and the hash proves they mean
/// the request.
#[test]
fn equivalent_spellings_of_the_request_are_accepted() {
    let honest = check(&typed_data()).unwrap();
    let cases = refusals().accepted;
    assert!(!cases.is_empty());
    for case in &cases {
        assert_eq!(check(&patched(case)).as_ref(), Ok(&honest), "{}", case.name);
    }
}

/// Every substitution, look-alike and schema change of the regression
/// documents is refused.
#[test]
fn every_substitution_is_refused() {
    let cases = refusals().refused;
    assert!(cases.len() >= 30, "{} cases", cases.len());
    for case in &cases {
        let err = check(&patched(case)).unwrap_err();
        assert_eq!(
            err.code(),
            "SESSION_INVALID_RESPONSE",
            "{}: {err}",
            case.name
        );
    }
}

/// Strings a strict felt parser with a short-string fallback reads as one
/// value and JavaScript's `BigInt` (hence the hash) as another: a request for
/// the short-string value must never approve a document holding the string.
#[test]
fn javascript_number_syntax_never_stands_for_the_short_string() {
    for text in refusals().short_string_lookalikes {
        let as_short_string = encode_short_string(&text).unwrap();
        let want = vec![Call::named(
            Felt::from(0x1234u32),
            "transfer",
            vec![Felt::from(0x99u32), as_short_string, Felt::ZERO],
        )
        .unwrap()];
        let mut td = document_for(&want);
        td["message"]["Calls"][0]["Calldata"][1] = json!(text);
        let err = check_calls(&td, &want).unwrap_err();
        assert_eq!(err.code(), "SESSION_INVALID_RESPONSE", "{text:?}: {err}");
    }
}

fn random_felt(rng: &mut StdRng) -> Felt {
    match rng.gen_range(0..4) {
        0 => Felt::from(rng.gen_range(0u64..1000)),
        1 => Felt::from(rng.gen::<u64>()),
        2 => Felt::from(rng.gen::<u128>()),
        _ => {
            let mut bytes = [0u8; 32];
            rng.fill(&mut bytes[1..]);
            bytes[1] &= 0x07;
            Felt::from_bytes_be(&bytes)
        }
    }
}

fn random_calls(rng: &mut StdRng) -> Vec<Call> {
    let names = ["transfer", "approve", "swap", "increase_allowance", "mint"];
    (0..rng.gen_range(1..4))
        .map(|_| {
            let calldata = (0..rng.gen_range(0..5)).map(|_| random_felt(rng)).collect();
            Call::named(
                random_felt(rng),
                names[rng.gen_range(0..names.len())],
                calldata,
            )
            .unwrap()
        })
        .collect()
}

/// Rewrite one value of the document into another spelling or another value.
fn rewrite_one(td: &mut Value, rng: &mut StdRng) {
    let spellings = |f: Felt, rng: &mut StdRng| -> Value {
        let text = f.to_biguint().to_string();
        match rng.gen_range(0..14) {
            0 => json!(text),
            1 => json!(format!("0x{}", f.to_hex_string().trim_start_matches("0x"))),
            2 => json!(format!(" {text}")),
            3 => json!(format!("{text} ")),
            4 => json!(format!("+{text}")),
            5 => json!(format!("0o{:o}", f.to_biguint())),
            6 => json!(format!("0b{:b}", f.to_biguint())),
            7 => json!(format!("{}", f + Felt::ONE)),
            8 => json!(text.parse::<u64>().unwrap_or(7)),
            9 => json!(format!("0X{}", f.to_hex_string().trim_start_matches("0x"))),
            10 => json!(""),
            11 => json!(null),
            12 => json!(text.chars().rev().collect::<String>()),
            _ => json!(format!("\u{0660}{text}")),
        }
    };
    let message = &mut td["message"];
    let n_calls = message["Calls"].as_array().map_or(0, Vec::len);
    match rng.gen_range(0..6) {
        0 => {
            let key = ["Caller", "Nonce", "Execute After", "Execute Before"][rng.gen_range(0..4)];
            let f = snip12::encode_basic_v1("felt", &message[key]).unwrap_or(Felt::ONE);
            message[key] = spellings(f, rng);
        }
        1 if n_calls > 0 => {
            let i = rng.gen_range(0..n_calls);
            let f = snip12::encode_basic_v1("felt", &message["Calls"][i]["To"]).unwrap();
            message["Calls"][i]["To"] = spellings(f, rng);
        }
        2 if n_calls > 0 => {
            let i = rng.gen_range(0..n_calls);
            let len = message["Calls"][i]["Calldata"]
                .as_array()
                .map_or(0, Vec::len);
            if len > 0 {
                let j = rng.gen_range(0..len);
                let f =
                    snip12::encode_basic_v1("felt", &message["Calls"][i]["Calldata"][j]).unwrap();
                message["Calls"][i]["Calldata"][j] = spellings(f, rng);
            }
        }
        3 if n_calls > 0 => {
            let i = rng.gen_range(0..n_calls);
            let names = [" transfer", "transfer", "approve", "0x0", "Transfer"];
            message["Calls"][i]["Selector"] = json!(names[rng.gen_range(0..names.len())]);
        }
        4 => {
            let chains = [
                "SN_SEPOLIA",
                "SN_MAIN",
                "0x534e5f5345504f4c4941",
                " SN_SEPOLIA",
            ];
            td["domain"]["chainId"] = json!(chains[rng.gen_range(0..chains.len())]);
        }
        _ => {
            let values = [json!("2"), json!(2), json!("0x2"), json!(" 2"), json!("1")];
            td["domain"]["version"] = values[rng.gen_range(0..values.len())].clone();
        }
    }
}

/// The honest document of the request with the four values the backend
/// chooses set to what was approved: what the component means to sign.
fn requested_document(calls: &[Call], a: &Approved) -> Value {
    let mut td = document_for(calls);
    td["message"]["Caller"] = json!(felt_to_hex(&a.caller));
    td["message"]["Nonce"] = json!(felt_to_hex(&a.nonce));
    td["message"]["Execute After"] = json!(format!("{:#x}", a.execute_after));
    td["message"]["Execute Before"] = json!(format!("{:#x}", a.execute_before));
    td
}

/// For random requests and random rewrites of one value, the check either
/// refuses or what it approves hashes (by the generic starknet.js-equivalent
/// engine) to the hash of the request (the backend's four values included).
#[test]
fn property_approved_documents_mean_the_request() {
    let seed = rand::random::<u64>();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut approved, mut refused) = (0, 0);
    for _ in 0..3000 {
        let want = random_calls(&mut rng);
        let honest = document_for(&want);
        let honest_hash = snip12::message_hash(&honest, &wallet()).unwrap();
        assert_eq!(check_calls(&honest, &want).unwrap().hash, honest_hash);
        let mut td = honest.clone();
        rewrite_one(&mut td, &mut rng);
        match check_calls(&td, &want) {
            Ok(a) => {
                approved += 1;
                let requested =
                    snip12::message_hash(&requested_document(&want, &a), &wallet()).unwrap();
                assert_eq!(a.hash, requested, "seed {seed}: {td}");
                assert_eq!(
                    snip12::message_hash(&td, &wallet()).unwrap(),
                    requested,
                    "seed {seed}: {td}"
                );
            }
            Err(e) => {
                refused += 1;
                assert_eq!(e.code(), "SESSION_INVALID_RESPONSE", "seed {seed}: {e}");
            }
        }
    }
    assert!(approved > 100 && refused > 100, "{approved}/{refused}");
}

/// The fixed-schema hash equals the generic engine on random outside executions.
#[test]
fn fixed_schema_hash_equals_the_generic_engine() {
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..300 {
        let want = random_calls(&mut rng);
        let td = document_for(&want);
        let local = OutsideExecution {
            caller: encode_short_string("ANY_CALLER").unwrap(),
            nonce: Felt::from(5u8),
            execute_after: u128::from(NOW - 60),
            execute_before: u128::from(NOW + 3600),
            calls: &want,
        }
        .message_hash(&wallet(), &chain());
        assert_eq!(local, snip12::message_hash(&td, &wallet()).unwrap());
    }
}

#[test]
fn chain_ids_read_like_the_domain() {
    assert_eq!(chain_id_value("SN_SEPOLIA"), Some(chain()));
    assert_eq!(chain_id_value("0x534e5f5345504f4c4941"), Some(chain()));
    assert_eq!(
        chain_id_value("SN_MAIN"),
        encode_short_string("SN_MAIN").ok()
    );
    assert_eq!(chain_id_value(&"x".repeat(40)), None);
}

#[test]
fn selector_for_names_matches_the_hash_reading() {
    assert_eq!(
        snip12::encode_basic_v1("selector", &json!("transfer")).unwrap(),
        selector_for("transfer").unwrap()
    );
}
