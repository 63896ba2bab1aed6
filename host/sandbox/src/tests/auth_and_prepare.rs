//! Authentication of the Chipi API and the shape of prepare-typed-data.

use super::support::*;

#[tokio::test]
async fn auth_failures() {
    let env = Env::new().await;
    let w = env.wallet();
    let addr = env.sb.addr();
    let body = json!({
        "publicKey": w.address, "calls": [transfer(1)],
        "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI",
    })
    .to_string();
    let key = env.sb.api_key().to_string();
    let bearer = format!("Bearer {}", env.sb.bearer_token());
    let ok_path = format!("/v1/transactions/prepare-typed-data?__chipi_api_version={API_VERSION}");
    let ct = ("Content-Type", "application/json");

    // Missing / wrong version parameter.
    for path in [
        "/v1/transactions/prepare-typed-data".to_string(),
        "/v1/transactions/prepare-typed-data?__chipi_api_version=2024-01-01".to_string(),
    ] {
        let r = http(
            addr,
            "POST",
            &path,
            &[ct, ("x-api-key", &key), ("Authorization", &bearer)],
            &body,
        )
        .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.code(), "INVALID_API_VERSION");
    }
    // Missing / wrong API key.
    let r = http(
        addr,
        "POST",
        &ok_path,
        &[ct, ("Authorization", &bearer)],
        &body,
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["statusCode"], 401);
    assert_eq!(r.json()["message"], "Invalid API key");
    assert_eq!(r.code(), "INVALID_API_KEY");
    let r = http(
        addr,
        "POST",
        &ok_path,
        &[
            ct,
            ("x-api-key", "pk_dev_wrong"),
            ("Authorization", &bearer),
        ],
        &body,
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (401, "INVALID_API_KEY"));
    // Missing / wrong bearer.
    let r = http(addr, "POST", &ok_path, &[ct, ("x-api-key", &key)], &body).await;
    assert_eq!((r.status, r.code().as_str()), (401, "UNAUTHORIZED"));
    let r = http(
        addr,
        "POST",
        &ok_path,
        &[ct, ("x-api-key", &key), ("Authorization", "Bearer nope")],
        &body,
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (401, "UNAUTHORIZED"));
    let r = http(
        addr,
        "POST",
        &ok_path,
        &[
            ct,
            ("x-api-key", &key),
            ("Authorization", env.sb.bearer_token()),
        ],
        &body,
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (401, "UNAUTHORIZED"));
    // Wrong content type.
    let r = http(
        addr,
        "POST",
        &ok_path,
        &[
            ("Content-Type", "text/plain"),
            ("x-api-key", &key),
            ("Authorization", &bearer),
        ],
        &body,
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (415, "UNSUPPORTED_MEDIA_TYPE")
    );
    // Execute endpoint is guarded the same way.
    let r = http(
        addr,
        "POST",
        "/v1/transactions/execute-sponsored-transaction?__chipi_api_version=2025-12-30",
        &[ct, ("x-api-key", "bad"), ("Authorization", &bearer)],
        "{}",
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (401, "INVALID_API_KEY"));
    // Everything right (charset parameter allowed).
    let r = http(
        addr,
        "POST",
        &ok_path,
        &[
            ("Content-Type", "application/json; charset=utf-8"),
            ("x-api-key", &key),
            ("Authorization", &bearer),
        ],
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Every request was recorded with its headers.
    let reqs = env.sb.requests();
    assert_eq!(reqs.len(), 10);
    let last = reqs.last().expect("request");
    assert_eq!(last.header("x-api-key"), Some(key.as_str()));
    assert_eq!(last.header("Authorization"), Some(bearer.as_str()));
    assert_eq!(
        last.query_param("__chipi_api_version").as_deref(),
        Some(API_VERSION)
    );
    assert_eq!(last.body["walletType"], "CHIPI");
    assert_eq!(env.sb.issued_typed_data().len(), 1);
}

#[tokio::test]
async fn prepare_typed_data_shape_and_validation() {
    let env = Env::new().await;
    let w = env.wallet();
    let now = env.sb.clock().now_unix();
    let td = env
        .prepare(
            &w.address,
            &[
                transfer(1000),
                call(
                    TOKEN,
                    "0x219209e083275171774dab1df80982e9df2096516f06319c5c6d71ae0a8480c",
                    &["1".into()],
                ),
            ],
        )
        .await;
    assert_eq!(td["primaryType"], "OutsideExecution");
    assert_eq!(
        td["domain"],
        json!({"name": "Account.execute_from_outside", "version": "2", "chainId": "0x534e5f5345504f4c4941", "revision": "1"})
    );
    assert_eq!(
        td["types"]["Call"][1],
        json!({"name": "Selector", "type": "selector"})
    );
    let msg = &td["message"];
    assert_eq!(msg["Caller"], ANY_CALLER);
    let after = felt::parse_u128_json(&msg["Execute After"]).expect("after") as u64;
    let before = felt::parse_u128_json(&msg["Execute Before"]).expect("before") as u64;
    assert!(after.abs_diff(now - 60) <= 2 && before.abs_diff(now + 3600) <= 2);
    let c0 = &msg["Calls"][0];
    assert_eq!(
        c0["Selector"],
        "0x83afd3f4caedc6eebf44246fe54e38c95e3179a5ec9ea81740eca5b482d12e"
    );
    assert_eq!(c0["To"], TOKEN);
    assert_eq!(c0["Calldata"], json!([RECIPIENT, "0x3e8", "0x0"]));
    // An entrypoint given as a selector is used as is.
    assert_eq!(
        msg["Calls"][1]["Selector"],
        "0x219209e083275171774dab1df80982e9df2096516f06319c5c6d71ae0a8480c"
    );

    let ready = env.sb.create_wallet(PIN, SandboxWalletType::Ready);
    let base = json!({"publicKey": w.address, "calls": [transfer(1)], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"});
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"publicKey": "0x999", "calls": [transfer(1)], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"}),
            404,
            "WALLET_NOT_FOUND",
        ),
        (
            json!({"publicKey": ready.address, "calls": [transfer(1)], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"}),
            400,
            "INVALID_WALLET_TYPE",
        ),
        (
            json!({"publicKey": w.address, "calls": [transfer(1)], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "READY"}),
            400,
            "INVALID_WALLET_TYPE",
        ),
        (
            json!({"publicKey": w.address, "calls": [transfer(1)], "accountClassHash": READY_CLASS_HASH, "walletType": "CHIPI"}),
            400,
            "INVALID_CLASS_HASH",
        ),
        (
            json!({"publicKey": w.address, "calls": [], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"}),
            400,
            "INVALID_REQUEST",
        ),
        (
            json!({"publicKey": w.address, "calls": [{"contractAddress": "xyz", "entrypoint": "transfer", "calldata": []}], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"}),
            400,
            "INVALID_REQUEST",
        ),
        (
            json!({"publicKey": w.address, "calls": [{"contractAddress": TOKEN, "entrypoint": "", "calldata": []}], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"}),
            400,
            "INVALID_REQUEST",
        ),
        (
            json!({"publicKey": w.address, "calls": [{"contractAddress": TOKEN, "entrypoint": "transfer", "calldata": [{}]}], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"}),
            400,
            "INVALID_REQUEST",
        ),
        (
            json!({"publicKey": w.address, "calls": [{"contractAddress": TOKEN, "entrypoint": "transfer"}], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"}),
            400,
            "INVALID_REQUEST",
        ),
        (
            json!({"publicKey": w.address, "calls": [transfer(1)], "walletType": "CHIPI"}),
            400,
            "INVALID_REQUEST",
        ),
        (
            json!({"publicKey": w.address, "calls": [transfer(1)], "accountClassHash": CHIPI_CLASS_HASH, "walletType": 7}),
            400,
            "INVALID_REQUEST",
        ),
        (json!([base]), 400, "INVALID_REQUEST"),
        (json!("x"), 400, "INVALID_REQUEST"),
    ];
    for (body, status, code) in cases {
        let r = env.chipi("prepare-typed-data", &body).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (status, code),
            "{body}: {}",
            r.body
        );
        assert_eq!(r.json()["statusCode"], status);
    }
    // The owner-signed flow of Chipi's SDK sends no walletType at all.
    let owner_flow = json!({"publicKey": w.address, "calls": [transfer(1)], "accountClassHash": CHIPI_CLASS_HASH});
    let r = env.chipi("prepare-typed-data", &owner_flow).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = env.chipi("prepare-typed-data", &base).await;
    assert_eq!(r.status, 200);
}
