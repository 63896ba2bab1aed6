//! Typed-data matching, single-use nonces and every typed-data style.

use super::support::*;

#[tokio::test]
async fn typed_data_must_match_and_nonces_are_single_use() {
    let env = Env::new().await;
    let w = env.wallet();
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 20000;
    env.register(&w, &pk, valid_until, 10, &[]).await;

    let td = env.prepare(&w.address, &[transfer(7)]).await;
    let hash = hash_with_names(&td, &["transfer"], &w.address);
    let (r, s) = sign(&sk, &hash);
    let sig = [hex(&pk), hex(&r), hex(&s), format!("{valid_until:#x}")];
    let body = env.session_body(&w, &td, sig.clone());
    assert_eq!(
        env.chipi("execute-sponsored-transaction", &body)
            .await
            .status,
        200
    );
    let replay = env.chipi("execute-sponsored-transaction", &body).await;
    assert_eq!(
        (replay.status, replay.code().as_str()),
        (400, "NONCE_ALREADY_USED")
    );

    // Tampered content under an issued nonce.
    let td2 = env.prepare(&w.address, &[transfer(7)]).await;
    let mut tampered = td2.clone();
    tampered["message"]["Calls"][0]["Calldata"][1] = json!("0x999999");
    let r = env
        .chipi(
            "execute-sponsored-transaction",
            &env.session_body(&w, &tampered, sig.clone()),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "TYPED_DATA_MISMATCH"));
    // A nonce never issued.
    let mut unknown = td2.clone();
    unknown["message"]["Nonce"] = json!("0x1234");
    let r = env
        .chipi(
            "execute-sponsored-transaction",
            &env.session_body(&w, &unknown, sig.clone()),
        )
        .await;
    assert_eq!(r.code(), "TYPED_DATA_MISMATCH");
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Typed data does not match"));
    // Same content in another representation is accepted (semantic comparison).
    let mut restyled = td2.clone();
    restyled["domain"]["chainId"] = json!("SN_SEPOLIA");
    restyled["message"]["Calls"][0]["Calldata"][1] = json!(7);
    let hash2 = hash_with_names(&td2, &["transfer"], &w.address);
    let (r2, s2) = sign(&sk, &hash2);
    let sig2 = [
        hex(&pk),
        r2.to_string(),
        s2.to_string(),
        valid_until.to_string(),
    ];
    let r = env
        .chipi(
            "execute-sponsored-transaction",
            &env.session_body(&w, &restyled, sig2),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Outside the time window.
    let td3 = env.prepare(&w.address, &[transfer(1)]).await;
    env.sb.advance_time(3700);
    let hash3 = hash_with_names(&td3, &["transfer"], &w.address);
    let (r3, s3) = sign(&sk, &hash3);
    let body3 = env.session_body(
        &w,
        &td3,
        [hex(&pk), hex(&r3), hex(&s3), format!("{valid_until:#x}")],
    );
    let r = env.chipi("execute-sponsored-transaction", &body3).await;
    assert_eq!((r.status, r.code().as_str()), (400, "INVALID_TIME_WINDOW"));

    // Owner signature shape is required without isSessionSignature, and vice versa.
    let mut wrong_shape = body3.clone();
    wrong_shape["isSessionSignature"] = json!(false);
    let r = env
        .chipi("execute-sponsored-transaction", &wrong_shape)
        .await;
    assert_eq!(r.code(), "INVALID_SIGNATURE_FORMAT");
    let mut wrong_shape = body3.clone();
    wrong_shape["userSignature"] = json!({"r": "1", "s": "2"});
    let r = env
        .chipi("execute-sponsored-transaction", &wrong_shape)
        .await;
    assert_eq!(r.code(), "INVALID_SIGNATURE_FORMAT");
    let mut missing_flag = body3.clone();
    missing_flag
        .as_object_mut()
        .expect("obj")
        .remove("saveToDatabase");
    let r = env
        .chipi("execute-sponsored-transaction", &missing_flag)
        .await;
    assert_eq!(r.code(), "INVALID_REQUEST");
}

#[tokio::test]
async fn every_typed_data_style_round_trips() {
    for style in [
        TypedDataStyle::Hex,
        TypedDataStyle::Decimal,
        TypedDataStyle::Numbers,
        TypedDataStyle::ShortstringChainId,
        TypedDataStyle::Mixed,
    ] {
        let env = Env::with(SandboxConfig {
            typed_data_style: style,
            ..SandboxConfig::default()
        })
        .await;
        let w = env.wallet();
        let (sk, pk) = session_key();
        let valid_until = env.sb.clock().now_unix() + 600;
        env.register(&w, &pk, valid_until, 3, &["transfer"]).await;
        let r = env
            .session_execute(
                &w,
                &sk,
                valid_until,
                &[transfer(123_456_789)],
                &["transfer"],
            )
            .await;
        assert_eq!(r.status, 200, "{style:?}: {}", r.body);
        let served = &env.sb.issued_typed_data()[1].served;
        match style {
            TypedDataStyle::ShortstringChainId | TypedDataStyle::Mixed => {
                assert_eq!(served["domain"]["chainId"], "SN_SEPOLIA");
            }
            TypedDataStyle::Decimal => {
                assert_eq!(served["domain"]["chainId"], "393402133025997798000961");
            }
            _ => assert_eq!(served["domain"]["chainId"], "0x534e5f5345504f4c4941"),
        }
        if style == TypedDataStyle::Numbers {
            assert!(served["message"]["Execute Before"].is_u64());
            assert_eq!(
                served["message"]["Calls"][0]["Calldata"][1],
                json!(123_456_789)
            );
        }
    }
}

#[tokio::test]
async fn entrypoint_by_selector_is_hashed_without_its_name() {
    let env = Env::new().await;
    let w = env.wallet();
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 600;
    env.register(&w, &pk, valid_until, 3, &[]).await;
    let sel = hex(&felt::selector("transfer"));
    let td = env
        .prepare(
            &w.address,
            &[call(
                TOKEN,
                &sel,
                &[RECIPIENT.into(), "5".into(), "0".into()],
            )],
        )
        .await;
    let oe = typed_data::parse(&td).expect("parse");
    let hash = typed_data::message_hash_poseidon(&oe, parse(&w.address));
    // The same hash starknet-core gives on the names variant.
    assert_eq!(hash, hash_with_names(&td, &["transfer"], &w.address));
    let (r, s) = sign(&sk, &hash);
    let body = env.session_body(
        &w,
        &td,
        [hex(&pk), hex(&r), hex(&s), format!("{valid_until:#x}")],
    );
    let resp = env.chipi("execute-sponsored-transaction", &body).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(env.sb.transactions()[1].calls[0].entrypoint, None);
}
