//! Registration, session executes and the contract-order session rules.

use super::support::*;

#[tokio::test]
async fn register_via_owner_signature_then_read_over_rpc() {
    let env = Env::new().await;
    let w = env.wallet();
    let (_, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 21600;
    env.register(&w, &pk, valid_until, 1000, &["transfer", "approve"])
        .await;

    let info = env.sb.session(&w.address, &hex(&pk)).expect("session");
    assert_eq!(
        info,
        SessionInfo {
            valid_until,
            max_calls: 1000,
            calls_used: 0,
            allowed_entrypoints: vec![
                hex(&felt::selector("transfer")),
                hex(&felt::selector("approve"))
            ],
            revoked: false,
        }
    );
    assert_eq!(env.sb.signature_checks(), 1);
    let txs = env.sb.transactions();
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0].signer, TxSigner::Owner);
    assert!(!txs[0].save_to_database);
    assert_eq!(
        txs[0].calls[0].entrypoint.as_deref(),
        Some("add_or_update_session_key")
    );

    // The receipt and session data are readable over JSON-RPC.
    let receipt = env
        .rpc(
            "starknet_getTransactionReceipt",
            json!({"transaction_hash": txs[0].hash}),
        )
        .await;
    assert_eq!(receipt["result"]["finality_status"], "ACCEPTED_ON_L2");
    assert_eq!(receipt["result"]["execution_status"], "SUCCEEDED");
    let data = env
        .rpc(
            "starknet_call",
            json!({"request": {"contract_address": w.address, "entry_point_selector": hex(&felt::selector("get_session_data")), "calldata": [hex(&pk)]}, "block_id": "latest"}),
        )
        .await;
    assert_eq!(
        data["result"],
        json!([format!("{valid_until:#x}"), "0x3e8", "0x0", "0x2"])
    );
    let at = env
        .rpc(
            "starknet_call",
            json!([{"contract_address": w.address, "entry_point_selector": hex(&felt::selector("get_session_allowed_entrypoint_at")), "calldata": [hex(&pk), "0x1"]}, "latest"]),
        )
        .await;
    assert_eq!(at["result"], json!([hex(&felt::selector("approve"))]));

    // A wrong owner signature is refused and changes nothing.
    let other = Wallet {
        address: w.address.clone(),
        owner_sk: felt::random_private_key(),
    };
    let r = env
        .owner_execute(
            &other,
            &[call(&w.address, "revoke_session_key", &[hex(&pk)])],
            &["revoke_session_key"],
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "INVALID_SIGNATURE"));
    assert!(
        !env.sb
            .session(&w.address, &hex(&pk))
            .expect("session")
            .revoked
    );

    // Malformed admin calldata is refused.
    let r = env
        .owner_execute(
            &w,
            &[call(
                &w.address,
                "add_or_update_session_key",
                &[hex(&pk), "1".into(), "1".into(), "2".into(), "0x1".into()],
            )],
            &["add_or_update_session_key"],
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "INVALID_CALLDATA"));
}

#[tokio::test]
async fn session_execute_success_counts_once_per_transaction() {
    let env = Env::new().await;
    let w = env.wallet();
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 3600;
    env.register(&w, &pk, valid_until, 5, &[]).await;

    let r = env
        .session_execute(
            &w,
            &sk,
            valid_until,
            &[
                transfer(1),
                transfer(2),
                call(
                    TOKEN,
                    "approve",
                    &[RECIPIENT.into(), "5".into(), "0".into()],
                ),
            ],
            &["transfer", "transfer", "approve"],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let hash = r.json()["transactionHash"]
        .as_str()
        .expect("hash")
        .to_string();
    assert!(hash.starts_with("0x"));
    assert_eq!(
        env.sb.session(&w.address, &hex(&pk)).expect("s").calls_used,
        1
    );
    let r2 = env
        .session_execute(&w, &sk, valid_until, &[transfer(3)], &["transfer"])
        .await;
    assert_eq!(r2.status, 200);
    let hash2 = r2.json()["transactionHash"]
        .as_str()
        .expect("hash")
        .to_string();
    assert_ne!(hash, hash2);
    assert_eq!(
        env.sb.session(&w.address, &hex(&pk)).expect("s").calls_used,
        2
    );
    let txs = env.sb.transactions();
    assert_eq!(txs[1].signer, TxSigner::Session(hex(&pk)));
    assert!(txs[1].save_to_database);
    assert_eq!(txs[1].calls.len(), 3);
    assert_eq!(env.sb.signature_checks(), 3);
    let block = env.rpc("starknet_blockNumber", json!([])).await;
    assert_eq!(block["result"], json!(state::GENESIS_BLOCK + 3));
}

#[tokio::test]
async fn session_rules_apply_in_contract_order() {
    let env = Env::new().await;
    let w = env.wallet();
    let now = env.sb.clock().now_unix();
    let (sk, pk) = session_key();
    let (wrong_sk, _) = session_key();
    let valid_until = now + 3600;
    let vu = format!("{valid_until:#x}");
    env.register(&w, &pk, valid_until, 2, &[]).await;
    let admin = call(
        &w.address,
        "add_or_update_session_key",
        &[hex(&pk), "1".into(), "1".into(), "0".into()],
    );
    let admin_name = ["add_or_update_session_key"];

    // 1. valid_until must fit u64 (checked before anything else).
    let r = env
        .session_execute_raw(
            &w,
            &pk,
            &wrong_sk,
            "0x10000000000000000",
            std::slice::from_ref(&admin),
            &admin_name,
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "INVALID_SESSION_SIGNATURE"),
        "{}",
        r.body
    );
    // 2. the signature's valid_until must not exceed the stored one (0 for a key
    // never registered) before anything else about the session, the signature's own
    // expiry included: `execute_from_outside_v2` checks that only inside
    // `is_valid_signature` ('SRC9: invalid signature').
    let (_, unknown_pk) = session_key();
    let r = env
        .session_execute_raw(
            &w,
            &unknown_pk,
            &wrong_sk,
            &format!("{:#x}", now - 10),
            std::slice::from_ref(&admin),
            &admin_name,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (400, Some("Session not registered"))
    );
    // 3. registration before admin / signature checks.
    let r = env
        .session_execute_raw(
            &w,
            &unknown_pk,
            &wrong_sk,
            &vu,
            std::slice::from_ref(&admin),
            &admin_name,
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "SESSION_NOT_REGISTERED")
    );
    let r = env
        .session_execute_raw(
            &w,
            &pk,
            &wrong_sk,
            &format!("{:#x}", valid_until + 1),
            std::slice::from_ref(&admin),
            &admin_name,
        )
        .await;
    assert_eq!(r.code(), "SESSION_NOT_REGISTERED");
    // 5. admin selector before the self-call and signature checks.
    let r = env
        .session_execute_raw(
            &w,
            &pk,
            &wrong_sk,
            &vu,
            &[transfer(1), admin.clone()],
            &["transfer", admin_name[0]],
        )
        .await;
    assert_eq!(r.code(), "SESSION_ENTRYPOINT_NOT_ALLOWED");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("admin"),
        "{}",
        r.body
    );
    // 6. unrestricted session may not call the account itself.
    let selfcall = call(&w.address, "get_session_data", &[hex(&pk)]);
    let r = env
        .session_execute_raw(&w, &pk, &wrong_sk, &vu, &[selfcall], &["get_session_data"])
        .await;
    assert_eq!(r.code(), "SESSION_ENTRYPOINT_NOT_ALLOWED");
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("itself"));
    // 8. ECDSA.
    let r = env
        .session_execute_raw(&w, &pk, &wrong_sk, &vu, &[transfer(1)], &["transfer"])
        .await;
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (400, Some("Invalid signature"))
    );
    assert_eq!(
        env.sb.session(&w.address, &hex(&pk)).expect("s").calls_used,
        0
    );
    // Use both calls, then 4. max calls comes before the admin check.
    for _ in 0..2 {
        let r = env
            .session_execute(&w, &sk, valid_until, &[transfer(1)], &["transfer"])
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = env
        .session_execute_raw(
            &w,
            &pk,
            &wrong_sk,
            &vu,
            std::slice::from_ref(&admin),
            &admin_name,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (400, Some("Max calls exceeded"))
    );
    assert_eq!(r.code(), "SESSION_MAX_CALLS_EXCEEDED");

    // 7. whitelist.
    let (sk2, pk2) = session_key();
    env.register(&w, &pk2, valid_until, 10, &["transfer"]).await;
    let approve = call(
        TOKEN,
        "approve",
        &[RECIPIENT.into(), "1".into(), "0".into()],
    );
    let r = env
        .session_execute(
            &w,
            &sk2,
            valid_until,
            &[transfer(1), approve],
            &["transfer", "approve"],
        )
        .await;
    assert_eq!(r.code(), "SESSION_ENTRYPOINT_NOT_ALLOWED");
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("whitelist"));
    let r = env
        .session_execute(&w, &sk2, valid_until, &[transfer(1)], &["transfer"])
        .await;
    assert_eq!(r.status, 200);

    // Revoked sessions.
    let r = env
        .owner_execute(
            &w,
            &[call(&w.address, "revoke_session_key", &[hex(&pk2)])],
            &["revoke_session_key"],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = env
        .session_execute(&w, &sk2, valid_until, &[transfer(1)], &["transfer"])
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "SESSION_REVOKED"));
    let info = env.sb.session(&w.address, &hex(&pk2)).expect("s");
    assert!(info.revoked && info.valid_until == 0);
    let data = env
        .rpc("starknet_call", json!({"request": {"contract_address": w.address, "entry_point_selector": hex(&felt::selector("get_session_data")), "calldata": [hex(&pk2)]}, "block_id": "latest"}))
        .await;
    assert_eq!(data["result"], json!(["0x0", "0x0", "0x0", "0x0"]));

    // Expiry by the passage of time (typed data prepared after the clock moved).
    env.sb.advance_time(3601);
    let r = env
        .session_execute(&w, &sk, valid_until, &[transfer(1)], &["transfer"])
        .await;
    assert_eq!(r.code(), "SESSION_EXPIRED");
}
