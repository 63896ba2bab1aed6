//! How values are read: JavaScript number semantics, selectors, the basic
//! types of each revision.

use super::super::encode::Encoder;
use super::super::schema::{Schema, Scope};
use super::*;
use crate::crypto::felt::felt_to_hex;

#[test]
fn numeric_strings_are_numbers_even_for_shortstrings() {
    let types = json!({ "StarknetDomain": rev1_domain_types() });
    let domain = |version: Value| json!({ "name": "X", "version": version, "chainId": "SN_MAIN", "revision": "1" });
    let h = |v: Value| struct_hash(&types, "StarknetDomain", &domain(v), Revision::V1).unwrap();
    assert_eq!(h(json!("2")), h(json!(2)));
    assert_eq!(h(json!("2")), h(json!("0x2")));
    assert_ne!(
        h(json!("2")),
        h(json!("0x32")),
        "\"2\" is the number 2, not the character"
    );
    assert_eq!(h(json!("v2")), h(json!("0x7632")));
}

#[test]
fn selector_rules() {
    let types = json!({
        "StarknetDomain": rev1_domain_types(),
        "S": [{ "name": "s", "type": "selector" }]
    });
    let h = |v: Value| struct_hash(&types, "S", &json!({ "s": v }), Revision::V1);
    let by_name = h(json!("transfer")).unwrap();
    assert_eq!(by_name, h(json!(TRANSFER_SELECTOR)).unwrap());
    // A decimal string is a *name* for starknet.js's prepareSelector.
    let decimal = h(json!("123")).unwrap();
    assert_ne!(decimal, h(json!("0x7b")).unwrap());
    assert_eq!(
        decimal,
        struct_hash(
            &types,
            "S",
            &json!({ "s": felt_to_hex(&starknet_core::utils::starknet_keccak(b"123")) }),
            Revision::V1
        )
        .unwrap()
    );
    // Non-ASCII names hash their UTF-8 bytes.
    assert!(h(json!("transfér")).is_ok());
    for bad in [json!("0x"), json!(123), json!(true), json!(["transfer"])] {
        assert!(
            matches!(h(bad.clone()), Err(TypedDataError::BadValue { .. })),
            "{bad}"
        );
    }
    let too_big = format!("0x{}", "f".repeat(63));
    assert!(matches!(
        h(json!(too_big)),
        Err(TypedDataError::BadValue { .. })
    ));
}

#[test]
fn revision_1_basic_type_rules() {
    let types = json!({
        "StarknetDomain": rev1_domain_types(),
        "T": [
            { "name": "felt", "type": "felt" },
            { "name": "u", "type": "u128" },
            { "name": "i", "type": "i128" },
            { "name": "addr", "type": "ContractAddress" },
            { "name": "b", "type": "bool" },
            { "name": "ts", "type": "timestamp" }
        ]
    });
    let ok = json!({ "felt": "hello", "u": "0x10", "i": "-5", "addr": "0x1", "b": false, "ts": 5 });
    assert!(struct_hash(&types, "T", &ok, Revision::V1).is_ok());
    let with = |key: &str, v: Value| {
        let mut data = ok.clone();
        data[key] = v;
        struct_hash(&types, "T", &data, Revision::V1)
    };
    for (key, bad) in [
        (
            "felt",
            json!("0x800000000000011000000000000000000000000000000000000000000000001"),
        ),
        ("felt", json!(-1)),
        (
            "felt",
            json!("a string that is far too long to be a short string"),
        ),
        ("u", json!("0x100000000000000000000000000000000")),
        ("u", json!(-1)),
        ("u", json!("ten")),
        ("ts", json!("soon")),
        ("i", json!("170141183460469231731687303715884105728")),
        ("i", json!("minus five")),
        ("addr", json!("ANY_CALLER")),
        (
            "addr",
            json!("0x800000000000011000000000000000000000000000000000000000000000001"),
        ),
        ("b", json!(1)),
        ("b", json!("true")),
        ("felt", json!(1.5)),
        ("felt", json!({})),
    ] {
        assert!(
            matches!(with(key, bad.clone()), Err(TypedDataError::BadValue { .. })),
            "{key} = {bad}"
        );
    }
}

#[test]
fn negative_i128_is_field_negation() {
    let types = json!({ "StarknetDomain": rev1_domain_types() });
    let encoder = Encoder::new(Schema::new(types.as_object().unwrap(), Revision::V1));
    let enc = |v: Value| {
        encoder
            .encode_value(Scope::User, "i128", &v, None, 0)
            .unwrap()
    };
    let minus_five = Felt::ZERO - Felt::from(5u8);
    assert_eq!(enc(json!(-5)), minus_five);
    assert_eq!(enc(json!("-5")), minus_five);
    assert_eq!(enc(json!("-0x5".replace("-0x", "-"))), minus_five);
    assert_eq!(enc(json!(5)), Felt::from(5u8));
    assert_eq!(
        felt_to_hex(&minus_five),
        "0x800000000000010fffffffffffffffffffffffffffffffffffffffffffffffc"
    );
}

#[test]
fn revision_0_is_lenient_like_starknet_js() {
    let types = json!({
        "StarkNetDomain": [{ "name": "name", "type": "felt" }],
        "T": [
            { "name": "a", "type": "u256" },
            { "name": "b", "type": "bool" },
            { "name": "c", "type": "string" },
            { "name": "d", "type": "anything" }
        ]
    });
    let h = |data: Value| struct_hash(&types, "T", &data, Revision::V0);
    let base = h(json!({ "a": 1, "b": true, "c": "hi", "d": "0x5" })).unwrap();
    assert_eq!(
        base,
        h(json!({ "a": "1", "b": 1, "c": "0x6869", "d": 5 })).unwrap()
    );
    assert!(matches!(
        h(json!({ "a": -1, "b": true, "c": "hi", "d": 5 })),
        Err(TypedDataError::BadValue { .. })
    ));
    assert!(matches!(
        h(json!({ "a": { "low": 1 }, "b": true, "c": "hi", "d": 5 })),
        Err(TypedDataError::BadValue { .. })
    ));
}

#[test]
fn revision_1_strings_are_byte_arrays() {
    let types =
        json!({ "StarknetDomain": rev1_domain_types(), "T": [{ "name": "s", "type": "string" }] });
    let encoder = Encoder::new(Schema::new(types.as_object().unwrap(), Revision::V1));
    let enc = |s: &str| encoder.encode_value(Scope::User, "string", &json!(s), None, 0);
    use starknet_crypto::poseidon_hash_many;
    assert_eq!(
        enc("").unwrap(),
        poseidon_hash_many(&[Felt::ZERO, Felt::ZERO, Felt::ZERO])
    );
    assert_eq!(
        enc("hello").unwrap(),
        poseidon_hash_many(&[Felt::ZERO, felt("0x68656c6c6f"), Felt::from(5u8)])
    );
    assert!(enc("ünïcode").is_err());
    assert!(encoder
        .encode_value(Scope::User, "string", &json!(5), None, 0)
        .is_err());
}
