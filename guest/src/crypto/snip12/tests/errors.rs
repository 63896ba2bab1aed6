//! Refusals: malformed documents, enums, merkle trees, depth, revisions.

use super::*;

#[test]
fn top_level_errors() {
    let td = outside_execution("transfer");
    let account = felt(&oe_account());
    type Check = fn(&TypedDataError) -> bool;
    let mut cases: Vec<(Value, Check)> = Vec::new();
    cases.push((json!([]), |e| matches!(e, TypedDataError::Malformed(_))));
    cases.push((json!("x"), |e| matches!(e, TypedDataError::Malformed(_))));
    for key in ["types", "primaryType", "domain", "message"] {
        let mut missing = td.clone();
        missing.as_object_mut().unwrap().remove(key);
        cases.push((missing, |e| matches!(e, TypedDataError::Malformed(_))));
    }
    let mut empty_primary = td.clone();
    empty_primary["primaryType"] = json!("");
    cases.push((empty_primary, |e| matches!(e, TypedDataError::Malformed(_))));
    let mut unknown_primary = td.clone();
    unknown_primary["primaryType"] = json!("Nope");
    cases.push((unknown_primary, |e| {
        matches!(e, TypedDataError::UnknownType(_))
    }));
    for revision in [
        json!("2"),
        json!(2),
        json!("0x1"),
        json!(true),
        json!("one"),
        json!(1.5),
    ] {
        let mut bad = td.clone();
        bad["domain"]["revision"] = revision;
        cases.push((bad, |e| matches!(e, TypedDataError::UnknownRevision)));
    }
    let mut rev0_with_rev1_domain = td.clone();
    rev0_with_rev1_domain["domain"]["revision"] = json!("0");
    cases.push((rev0_with_rev1_domain, |e| {
        matches!(e, TypedDataError::UnknownRevision)
    }));
    let mut missing_field = td.clone();
    missing_field["message"]
        .as_object_mut()
        .unwrap()
        .remove("Nonce");
    cases.push((
        missing_field,
        |e| matches!(e, TypedDataError::MissingField(f) if f == "Nonce"),
    ));
    let mut null_field = td.clone();
    null_field["message"]["Nonce"] = Value::Null;
    cases.push((null_field, |e| matches!(e, TypedDataError::MissingField(_))));
    let mut calls_not_array = td.clone();
    calls_not_array["message"]["Calls"] = json!("0x1");
    cases.push((calls_not_array, |e| {
        matches!(e, TypedDataError::BadValue { .. })
    }));
    let mut unknown_type = td.clone();
    unknown_type["types"]["Call"][0]["type"] = json!("Address");
    cases.push((
        unknown_type,
        |e| matches!(e, TypedDataError::UnknownType(t) if t == "Address"),
    ));
    let mut bad_decl = td.clone();
    bad_decl["types"]["Call"] = json!({ "To": "ContractAddress" });
    cases.push((bad_decl, |e| {
        matches!(e, TypedDataError::InvalidTypeDefinition(_))
    }));
    let mut recursive = td.clone();
    recursive["types"]["Call"][2]["type"] = json!("OutsideExecution*");
    cases.push((recursive, |e| matches!(e, TypedDataError::RecursiveType(_))));
    let mut message_not_object = td;
    message_not_object["message"] = json!(5);
    cases.push((message_not_object, |e| {
        matches!(e, TypedDataError::BadValue { .. })
    }));

    for (i, (doc, check)) in cases.iter().enumerate() {
        let err = message_hash(doc, &account).unwrap_err();
        assert!(check(&err), "case {i}: {err:?}");
    }
}

#[test]
fn enum_errors() {
    let types = json!({
        "StarknetDomain": rev1_domain_types(),
        "T": [{ "name": "e", "type": "enum", "contains": "E" }],
        "NoContains": [{ "name": "e", "type": "enum" }],
        "Missing": [{ "name": "e", "type": "enum", "contains": "Nope" }],
        "E": [
            { "name": "A", "type": "()" },
            { "name": "B", "type": "(felt,felt)" },
            { "name": "Bad", "type": "felt" }
        ]
    });
    let h = |ty: &str, v: Value| struct_hash(&types, ty, &json!({ "e": v }), Revision::V1);
    assert!(h("T", json!({ "A": [] })).is_ok());
    assert!(h("T", json!({ "B": [1, 2] })).is_ok());
    assert_ne!(
        h("T", json!({ "A": [] })).unwrap(),
        h("T", json!({ "B": [1, 2] })).unwrap()
    );
    for bad in [
        json!({}),
        json!({ "A": [], "B": [1, 2] }),
        json!({ "C": [] }),
        json!({ "B": [1] }),
        json!({ "B": "12" }),
        json!({ "Bad": [1] }),
        json!("A"),
        json!([]),
    ] {
        assert!(
            matches!(h("T", bad.clone()), Err(TypedDataError::InvalidEnum(_))),
            "{bad}"
        );
    }
    assert!(h("NoContains", json!({ "A": [] })).is_err());
    assert!(h("Missing", json!({ "A": [] })).is_err());
}

#[test]
fn merkle_errors() {
    let types = json!({
        "StarkNetDomain": [{ "name": "name", "type": "felt" }],
        "T": [{ "name": "root", "type": "merkletree", "contains": "felt" }],
        "Arr": [{ "name": "root", "type": "merkletree", "contains": "felt*" }],
        "NoContains": [{ "name": "root", "type": "merkletree" }]
    });
    let h = |ty: &str, v: Value| struct_hash(&types, ty, &json!({ "root": v }), Revision::V0);
    assert!(h("T", json!(["0x1", "0x2"])).is_ok());
    assert_eq!(h("T", json!([])), Err(TypedDataError::EmptyMerkleTree));
    assert!(matches!(
        h("T", json!("0x1")),
        Err(TypedDataError::BadValue { .. })
    ));
    assert!(matches!(
        h("Arr", json!(["0x1"])),
        Err(TypedDataError::InvalidMerkleTree(_))
    ));
    assert!(matches!(
        h("NoContains", json!(["0x1"])),
        Err(TypedDataError::InvalidMerkleTree(_))
    ));
}

#[test]
fn hostile_depth_never_overflows() {
    // Deeply nested arrays of arrays.
    let types = json!({ "StarknetDomain": rev1_domain_types(), "T": [{ "name": "x", "type": format!("felt{}", "*".repeat(200)) }] });
    let mut value = json!("0x1");
    for _ in 0..200 {
        value = json!([value]);
    }
    assert_eq!(
        struct_hash(&types, "T", &json!({ "x": value }), Revision::V1),
        Err(TypedDataError::TooDeep(MAX_DEPTH))
    );
    // Within the bound it works.
    let types =
        json!({ "StarknetDomain": rev1_domain_types(), "T": [{ "name": "x", "type": "felt***" }] });
    assert!(struct_hash(&types, "T", &json!({ "x": [[["0x1"]]] }), Revision::V1).is_ok());
}

#[test]
fn revision_detection() {
    let td = outside_execution("transfer");
    assert_eq!(revision(&td).unwrap(), Revision::V1);
    assert_eq!(revision(&mail_example()).unwrap(), Revision::V0);
    let mut explicit = mail_example();
    explicit["domain"]["revision"] = json!("0");
    assert_eq!(revision(&explicit).unwrap(), Revision::V0);
    explicit["domain"]["revision"] = json!(0);
    assert_eq!(revision(&explicit), Err(TypedDataError::UnknownRevision));
    explicit["domain"]["revision"] = Value::Null;
    assert_eq!(revision(&explicit).unwrap(), Revision::V0);
    let mut no_rev = td;
    no_rev["domain"].as_object_mut().unwrap().remove("revision");
    assert_eq!(revision(&no_rev), Err(TypedDataError::UnknownRevision));
}
