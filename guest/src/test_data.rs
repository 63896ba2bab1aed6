//! The test vectors of `guest/test-data/` (see its README), compiled into the
//! test binary with `include_str!`: the tests read no file at run time, so
//! they run the same natively and on `wasm32-wasip2`.

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use starknet_crypto::Felt;

use crate::crypto::felt::parse_felt;

/// SNIP-12 documents, type hashes, struct hashes and merkle roots.
pub(crate) const SNIP12_VECTORS: &str = include_str!("../test-data/snip12_vectors.json");
/// SNIP-12 corpus: documents with their starknet.js message hash.
pub(crate) const SNIP12_CORPUS: &str = include_str!("../test-data/snip12_corpus.json");
/// SNIP-12 documents starknet.js refuses.
pub(crate) const SNIP12_REJECTED: &str = include_str!("../test-data/snip12_rejected.json");
/// Stark-curve public keys and signatures.
pub(crate) const SIGNATURES: &str = include_str!("../test-data/signatures.json");
/// CryptoJS ciphertexts, key derivations and encryptions.
pub(crate) const CRYPTOJS: &str = include_str!("../test-data/cryptojs.json");
/// `v1.argon2id` and `v1.hkdf-sha256` envelope known answers.
pub(crate) const ENVELOPE: &str = include_str!("../test-data/envelope.json");
/// Regression documents of the outside-execution check.
pub(crate) const TYPED_DATA_REFUSALS: &str = include_str!("../test-data/typed_data_refusals.json");
/// Stored session records, readable and damaged.
pub(crate) const RECORDS: &str = include_str!("../test-data/records.json");
/// The SNIP-9 v2 outside-execution schema: `{primaryType, domain, types}`.
pub(crate) const OUTSIDE_EXECUTION_V2: &str =
    include_str!("../test-data/outside_execution_v2.json");

/// A vector file, parsed into `T`.
pub(crate) fn load<T: DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).expect("test-data file is valid JSON of the expected shape")
}

/// A felt written in a vector file.
pub(crate) fn felt(text: &str) -> Felt {
    parse_felt(text).unwrap_or_else(|e| panic!("{text:?} in test-data is not a felt: {e}"))
}

/// Bytes written as hex in a vector file.
pub(crate) fn hex_bytes(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length: {text:?}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digits"))
        .collect()
}

/// An outside execution (SNIP-9 v2) typed-data document on `chain_id`
/// carrying `message`, built from the schema file.
pub(crate) fn outside_execution_document(chain_id: &str, message: &Value) -> Value {
    let schema: Value = load(OUTSIDE_EXECUTION_V2);
    let mut domain = schema["domain"].clone();
    domain["chainId"] = json!(chain_id);
    json!({
        "types": schema["types"],
        "primaryType": schema["primaryType"],
        "domain": domain,
        "message": message,
    })
}

/// Apply JSON Patch (RFC 6902) operations `add`, `remove`, `replace`, `move`
/// and `copy` to `doc` (`-` appends to an array).
pub(crate) fn apply_patch(doc: &mut Value, patch: &Value) {
    for op in patch.as_array().expect("a patch is an array") {
        let path = op["path"].as_str().expect("op path");
        match op["op"].as_str().expect("op name") {
            "add" => add(doc, path, op["value"].clone()),
            "remove" => drop(remove(doc, path)),
            "replace" => {
                *doc.pointer_mut(path).unwrap_or_else(|| panic!("no {path}")) = op["value"].clone();
            }
            "move" => {
                let value = remove(doc, op["from"].as_str().expect("op from"));
                add(doc, path, value);
            }
            "copy" => {
                let from = op["from"].as_str().expect("op from");
                let value = doc
                    .pointer(from)
                    .unwrap_or_else(|| panic!("no {from}"))
                    .clone();
                add(doc, path, value);
            }
            other => panic!("unsupported patch op {other}"),
        }
    }
}

/// Parent container and last token of a JSON pointer.
fn split(path: &str) -> (&str, String) {
    let (parent, last) = path.rsplit_once('/').expect("a JSON pointer");
    (parent, last.replace("~1", "/").replace("~0", "~"))
}

fn add(doc: &mut Value, path: &str, value: Value) {
    let (parent, last) = split(path);
    match doc
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent}"))
    {
        Value::Array(items) if last == "-" => items.push(value),
        Value::Array(items) => items.insert(last.parse().expect("array index"), value),
        Value::Object(map) => {
            map.insert(last, value);
        }
        _ => panic!("{parent} is not a container"),
    }
}

fn remove(doc: &mut Value, path: &str) -> Value {
    let (parent, last) = split(path);
    match doc
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent}"))
    {
        Value::Array(items) => items.remove(last.parse().expect("array index")),
        Value::Object(map) => map.remove(&last).unwrap_or_else(|| panic!("no {path}")),
        _ => panic!("{parent} is not a container"),
    }
}

#[test]
fn patches_follow_rfc_6902() {
    let mut doc = json!({"a": [1, 2, 3], "b": {"c": 1}});
    apply_patch(
        &mut doc,
        &json!([
            {"op": "move", "from": "/a/2", "path": "/a/0"},
            {"op": "copy", "from": "/b", "path": "/a/-"},
            {"op": "replace", "path": "/b/c", "value": 2},
            {"op": "add", "path": "/d~1e", "value": true},
            {"op": "remove", "path": "/a/1"}
        ]),
    );
    assert_eq!(
        doc,
        json!({"a": [3, 2, {"c": 1}], "b": {"c": 2}, "d/e": true})
    );
    assert_eq!(hex_bytes("00ff10"), vec![0, 255, 16]);
}
