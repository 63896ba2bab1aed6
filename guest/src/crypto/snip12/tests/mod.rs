//! Vectors and behaviour tests for SNIP-12 hashing.
//!
//! Expected hashes come from three independent places:
//! - starknet.js 9.2.1, pinned in `guest/test-data/snip12_*.json` (documents
//!   from starknet.js's own test suite, from starknet-rs, and the corpus of
//!   `tests/interop`);
//! - hand-built Poseidon chains for the outside execution;
//! - starknet-core 0.16's `TypedData` run live as a reference implementation
//!   (it agrees with starknet.js except for hex selectors and unit enum
//!   variants; see docs/protocol.md, "Outside-execution typed data").

mod errors;
mod outside_execution;
mod values;
mod vectors;

use serde::Deserialize;
use serde_json::{json, Value};
use starknet_core::types::typed_data::TypedData;

use super::*;
use crate::test_data::{self, load};

/// Selector of `transfer`.
const TRANSFER_SELECTOR: &str = "0x83afd3f4caedc6eebf44246fe54e38c95e3179a5ec9ea81740eca5b482d12e";

fn felt(hex: &str) -> Felt {
    test_data::felt(hex)
}

fn hash(td: &Value, account: &str) -> Felt {
    message_hash(td, &felt(account)).unwrap()
}

/// starknet-core's answer for the same document.
fn reference_hash(td: &Value, account: &str) -> Felt {
    let parsed: TypedData = serde_json::from_value(td.clone()).unwrap();
    parsed.message_hash(felt(account)).unwrap()
}

fn rev1_domain_types() -> Value {
    json!([
        { "name": "name", "type": "shortstring" },
        { "name": "version", "type": "shortstring" },
        { "name": "chainId", "type": "shortstring" },
        { "name": "revision", "type": "shortstring" }
    ])
}

/// One document of `snip12_vectors.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    name: String,
    account: String,
    typed_data: Value,
    /// starknet.js's message hash.
    hash: String,
    /// Whether starknet-core's `TypedData` gives the same hash (`agrees`,
    /// `differs`), when checked.
    #[serde(default)]
    starknet_core: Option<String>,
}

/// `snip12_vectors.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vectors {
    documents: Vec<Document>,
    type_hashes: Vec<TypeHash>,
    struct_hashes: Vec<StructHash>,
    merkle_roots: Vec<MerkleRoot>,
}

/// A type hash, of a type of a document or of explicit `types`.
#[derive(Debug, Deserialize)]
struct TypeHash {
    #[serde(default)]
    document: Option<String>,
    #[serde(default)]
    types: Option<Value>,
    #[serde(default)]
    revision: Option<u8>,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    encoding: Option<String>,
    hash: String,
}

/// The struct hash of a member (`domain`) of a document.
#[derive(Debug, Deserialize)]
struct StructHash {
    document: String,
    #[serde(rename = "type")]
    ty: String,
    member: String,
    hash: String,
}

/// A merkle root of raw leaves, or of struct leaves of `parent.key`.
#[derive(Debug, Deserialize)]
struct MerkleRoot {
    name: String,
    revision: u8,
    #[serde(default)]
    types: Option<Value>,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    key: Option<String>,
    leaves: Value,
    root: String,
}

fn vectors() -> Vectors {
    load(test_data::SNIP12_VECTORS)
}

/// The document of `snip12_vectors.json` called `name`, and its account.
fn document(name: &str) -> (Value, String) {
    let doc = vectors()
        .documents
        .into_iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no document {name}"));
    (doc.typed_data, doc.account)
}

fn revision_of(number: u8) -> Revision {
    match number {
        0 => Revision::V0,
        1 => Revision::V1,
        other => panic!("revision {other}"),
    }
}

/// The paymaster outside execution of the vectors, calling `selector`.
fn outside_execution(selector: &str) -> Value {
    let (mut td, _) = document("oe/transfer");
    td["message"]["Calls"][0]["Selector"] = json!(selector);
    td
}

/// Account of the outside-execution document.
fn oe_account() -> String {
    document("oe/transfer").1
}

fn mail_example() -> Value {
    document("js/r0/mail").0
}

fn base_types_example() -> Value {
    document("js/r1/base-types").0
}
