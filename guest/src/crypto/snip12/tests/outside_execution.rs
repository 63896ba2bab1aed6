//! The paymaster outside execution (SNIP-9 v2): spellings, selectors, and
//! the hash built by hand.

use super::*;
use crate::crypto::felt::felt_to_hex;

#[test]
fn the_vector_document_uses_the_schema_file() {
    let td = outside_execution("transfer");
    let from_schema = test_data::outside_execution_document(
        td["domain"]["chainId"].as_str().unwrap(),
        &td["message"],
    );
    assert_eq!(td, from_schema);
}

#[test]
fn outside_execution_hex_and_name_selectors_agree() {
    let by_name = outside_execution("transfer");
    let by_hex = outside_execution(TRANSFER_SELECTOR);
    let by_upper_hex = outside_execution(&TRANSFER_SELECTOR.to_uppercase().replacen("0X", "0x", 1));
    let ours_name = hash(&by_name, &oe_account());
    assert_eq!(ours_name, hash(&by_hex, &oe_account()));
    assert_eq!(ours_name, hash(&by_upper_hex, &oe_account()));
    // starknet-core agrees with starknet.js on the name variant only.
    assert_eq!(reference_hash(&by_name, &oe_account()), ours_name);
    assert_ne!(reference_hash(&by_hex, &oe_account()), ours_name);
}

#[test]
fn outside_execution_value_spellings() {
    let base = outside_execution("transfer");
    let expected = hash(&base, &oe_account());
    let mut variants = Vec::new();
    for (path, value) in [
        (("domain", "version"), json!(2)),
        (("domain", "version"), json!("0x2")),
        (("domain", "chainId"), json!("SN_SEPOLIA")),
        (("domain", "revision"), json!(1)),
        (
            ("domain", "name"),
            json!("0x4163636f756e742e657865637574655f66726f6d5f6f757473696465"),
        ),
        (("message", "Caller"), json!("0x0000414E595F43414C4C4552")),
        (("message", "Execute After"), json!(1732633008)),
        (("message", "Execute After"), json!("1732633008")),
    ] {
        let mut td = base.clone();
        td[path.0][path.1] = value;
        variants.push(td);
    }
    for (i, td) in variants.iter().enumerate() {
        assert_eq!(hash(td, &oe_account()), expected, "variant {i}");
    }
    // A different value does change the hash.
    let mut other = base.clone();
    other["domain"]["version"] = json!("1");
    assert_ne!(hash(&other, &oe_account()), expected);
    let mut other = base;
    other["message"]["Calls"][0]["Calldata"][2] = json!("0x1");
    assert_ne!(hash(&other, &oe_account()), expected);
}

#[test]
fn outside_execution_matches_hand_built_poseidon() {
    use starknet_core::utils::starknet_keccak;
    use starknet_crypto::poseidon_hash_many;
    let td = outside_execution(TRANSFER_SELECTOR);
    let m = &td["message"];
    let call = &m["Calls"][0];
    let calldata: Vec<Felt> = call["Calldata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| felt(v.as_str().unwrap()))
        .collect();
    let call_hash = poseidon_hash_many(&[
        felt("0x3635c7f2a7ba93844c0d064e18e487f35ab90f7c39d00f186a781fc3f0c2ca9"),
        felt(call["To"].as_str().unwrap()),
        felt(TRANSFER_SELECTOR),
        poseidon_hash_many(&calldata),
    ]);
    let oe_type_hash = starknet_keccak(
        encode_type(&td["types"], "OutsideExecution", Revision::V1)
            .unwrap()
            .as_bytes(),
    );
    let struct_hash = poseidon_hash_many(&[
        oe_type_hash,
        felt("0x414e595f43414c4c4552"),
        felt(m["Nonce"].as_str().unwrap()),
        felt(m["Execute After"].as_str().unwrap()),
        felt(m["Execute Before"].as_str().unwrap()),
        poseidon_hash_many(&[call_hash]),
    ]);
    let domain_hash = poseidon_hash_many(&[
        felt("0x1ff2f602e42168014d405a94f75e8a93d640751d71d16311266e140d8b0a210"),
        crate::crypto::felt::encode_short_string("Account.execute_from_outside").unwrap(),
        Felt::TWO,
        felt("0x534e5f5345504f4c4941"),
        Felt::ONE,
    ]);
    let expected = poseidon_hash_many(&[
        crate::crypto::felt::encode_short_string("StarkNet Message").unwrap(),
        domain_hash,
        felt(&oe_account()),
        struct_hash,
    ]);
    assert_eq!(hash(&td, &oe_account()), expected);
    assert_eq!(
        felt_to_hex(&expected),
        felt_to_hex(&hash(&td, &oe_account()))
    );
}

#[test]
fn extra_members_are_ignored_like_starknet_js() {
    let td = outside_execution("transfer");
    let mut extra = td.clone();
    extra["message"]["Unrelated"] = json!("whatever");
    extra["domain"]["extra"] = json!(5);
    assert_eq!(hash(&td, &oe_account()), hash(&extra, &oe_account()));
}
