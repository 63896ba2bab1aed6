//! Substitution, status, delay, malformed and missing-hash faults.

use super::support::*;

#[tokio::test]
async fn substitution_faults_tamper_and_are_refused_at_execute() {
    let env = Env::new().await;
    let w = env.wallet();
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 6000;
    env.register(&w, &pk, valid_until, 100, &[]).await;
    let attacker = ATTACKER_ADDRESS;
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
        env.sb.set_faults(Faults {
            substitute: Some(sub),
            endpoint: Some("prepare-typed-data".into()),
            remaining: Some(1),
            ..Faults::default()
        });
        let td = env.prepare(&w.address, &[transfer(10)]).await;
        assert!(env.sb.faults().is_none(), "countdown cleared the fault");
        let m = &td["message"];
        let c = &m["Calls"];
        match sub {
            Substitution::CalldataValue => assert_ne!(c[0]["Calldata"][1], "0xa"),
            Substitution::Target => assert_eq!(c[0]["To"], attacker),
            Substitution::Selector => assert_eq!(c[0]["Selector"], hex(&felt::selector("approve"))),
            Substitution::ExtraCall => assert_eq!(c[1]["Calldata"][0], attacker),
            Substitution::ChainId => assert_eq!(td["domain"]["chainId"], "0x534e5f4d41494e"),
            Substitution::TimeWindow => {
                let before = felt::parse_u128_json(&m["Execute Before"]).expect("before") as u64;
                assert!(before > env.sb.clock().now_unix() + 300 * 24 * 3600);
            }
            Substitution::ExecuteAfterFuture => {
                let after = felt::parse_u128_json(&m["Execute After"]).expect("after") as u64;
                assert!(after > env.sb.clock().now_unix());
            }
            Substitution::DropCall => assert_eq!(c.as_array().map(Vec::len), Some(0)),
        }
        let issued = env.sb.issued_typed_data();
        assert_eq!(issued.last().and_then(|i| i.substituted), Some(sub));
        // Even signed by the right key over exactly what was served, it is refused.
        let oe = typed_data::parse(&td).expect("parse");
        let hash = typed_data::message_hash_poseidon(&oe, parse(&w.address));
        let (r, s) = sign(&sk, &hash);
        let body = env.session_body(
            &w,
            &td,
            [hex(&pk), hex(&r), hex(&s), format!("{valid_until:#x}")],
        );
        let resp = env.chipi("execute-sponsored-transaction", &body).await;
        assert_eq!(
            (resp.status, resp.code().as_str()),
            (400, "TYPED_DATA_MISMATCH"),
            "{sub:?}"
        );
    }
    assert_eq!(env.sb.transactions().len(), 1);
    // Without the fault the same flow succeeds.
    let r = env
        .session_execute(&w, &sk, valid_until, &[transfer(10)], &["transfer"])
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn status_delay_malformed_and_missing_hash_faults() {
    let env = Env::new().await;
    let w = env.wallet();
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 6000;
    env.register(&w, &pk, valid_until, 100, &[]).await;
    let prepare_body = json!({"publicKey": w.address, "calls": [transfer(1)], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"});

    // 429 with Retry-After, twice, then normal.
    env.sb.set_faults(Faults {
        status: Some(429),
        remaining: Some(2),
        ..Faults::default()
    });
    for _ in 0..2 {
        let r = env.chipi("prepare-typed-data", &prepare_body).await;
        assert_eq!((r.status, r.code().as_str()), (429, "RATE_LIMITED"));
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(r.json()["statusCode"], 429);
    }
    assert_eq!(
        env.chipi("prepare-typed-data", &prepare_body).await.status,
        200
    );

    // 401 / 500 restricted to one endpoint.
    env.sb.set_faults(Faults {
        status: Some(500),
        endpoint: Some("rpc".into()),
        ..Faults::default()
    });
    assert_eq!(
        env.chipi("prepare-typed-data", &prepare_body).await.status,
        200
    );
    let r = http(
        env.sb.addr(),
        "POST",
        "/rpc",
        &[("Content-Type", "application/json")],
        r#"{"jsonrpc":"2.0","id":1,"method":"starknet_chainId"}"#,
    )
    .await;
    assert_eq!(r.status, 500);
    env.sb.set_faults(Faults {
        status: Some(401),
        endpoint: Some("execute-sponsored-transaction".into()),
        ..Faults::default()
    });
    let r = env.chipi("execute-sponsored-transaction", &json!({})).await;
    assert_eq!((r.status, r.code().as_str()), (401, "UNAUTHORIZED"));
    env.sb.clear_faults();

    // Delay.
    env.sb.set_faults(Faults {
        delay_ms: Some(300),
        remaining: Some(1),
        ..Faults::default()
    });
    let t = Instant::now();
    let r = env.rpc("starknet_chainId", json!([])).await;
    assert!(t.elapsed().as_millis() >= 300);
    assert_eq!(r["result"], "0x534e5f5345504f4c4941");

    // Malformed JSON.
    env.sb.set_faults(Faults {
        malformed_json: true,
        endpoint: Some("prepare-typed-data".into()),
        remaining: Some(1),
        ..Faults::default()
    });
    let r = env.chipi("prepare-typed-data", &prepare_body).await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_str::<Value>(&r.body).is_err());

    // Missing transaction hash: executed, but the answer has no hash.
    env.sb.set_faults(Faults {
        missing_tx_hash: true,
        remaining: Some(1),
        ..Faults::default()
    });
    let r = env
        .session_execute(&w, &sk, valid_until, &[transfer(1)], &["transfer"])
        .await;
    assert_eq!(r.status, 200);
    assert!(r.json().get("transactionHash").is_none());
    assert_eq!(env.sb.transactions().len(), 2);
    assert!(env.sb.faults().is_none());

    // Admin endpoints are never faulted.
    env.sb.set_faults(Faults {
        status: Some(503),
        ..Faults::default()
    });
    let r = http(env.sb.addr(), "GET", "/sandbox/info", &[], "").await;
    assert_eq!(r.status, 200);
    let r = env.rpc_raw_status().await;
    assert_eq!(r, 503);
}

impl Env {
    async fn rpc_raw_status(&self) -> u16 {
        http(
            self.sb.addr(),
            "POST",
            "/rpc",
            &[("Content-Type", "application/json")],
            "{}",
        )
        .await
        .status
    }
}
