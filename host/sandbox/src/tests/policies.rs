//! Spending policies: per-call and per-window limits.

use super::support::*;

async fn get_policy(env: &Env, wallet: &str, pk: &Felt) -> Value {
    let body = json!({"request": {"contract_address": wallet, "entry_point_selector": hex(&felt::selector("get_spending_policy")), "calldata": [hex(pk), TOKEN]}, "block_id": "latest"});
    env.rpc("starknet_call", body).await["result"].clone()
}

#[tokio::test]
async fn spending_policy_is_enforced_per_call_and_window() {
    let env = Env::new().await;
    let w = env.wallet();
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 30000;
    env.register(&w, &pk, valid_until, 100, &[]).await;
    let policy = call(
        &w.address,
        "set_spending_policy",
        &[
            hex(&pk),
            TOKEN.into(),
            "100".into(),
            "0".into(),
            "150".into(),
            "0".into(),
            "3600".into(),
        ],
    );
    let r = env
        .owner_execute(&w, &[policy], &["set_spending_policy"])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        get_policy(&env, &w.address, &pk).await,
        json!(["0x64", "0x0", "0x96", "0x0", "0xe10", "0x0", "0x0", "0x0"])
    );

    let r = env
        .session_execute(&w, &sk, valid_until, &[transfer(100)], &["transfer"])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = env
        .sb
        .spending_policy(&w.address, &hex(&pk), TOKEN)
        .expect("policy");
    assert_eq!(p.spent, "100");
    let start = p.window_start;
    // Above max per call.
    let r = env
        .session_execute(&w, &sk, valid_until, &[transfer(101)], &["transfer"])
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "SPENDING_LIMIT_EXCEEDED")
    );
    // Window exhausted (100 + 60 > 150), even split over two calls of one tx.
    let r = env
        .session_execute(
            &w,
            &sk,
            valid_until,
            &[transfer(30), transfer(30)],
            &["transfer", "transfer"],
        )
        .await;
    assert_eq!(r.code(), "SPENDING_LIMIT_EXCEEDED");
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("window"));
    // Refusals revert: calls_used and spent unchanged.
    assert_eq!(
        env.sb.session(&w.address, &hex(&pk)).expect("s").calls_used,
        1
    );
    assert_eq!(
        env.sb
            .spending_policy(&w.address, &hex(&pk), TOKEN)
            .expect("p")
            .spent,
        "100"
    );
    // Untracked selectors and other tokens are not limited.
    let other = call(
        "0x777",
        "transfer",
        &[RECIPIENT.into(), "1000".into(), "0".into()],
    );
    let r = env
        .session_execute(&w, &sk, valid_until, &[other], &["transfer"])
        .await;
    assert_eq!(r.status, 200);
    // A new window.
    env.sb.advance_time(3600);
    let r = env
        .session_execute(&w, &sk, valid_until, &[transfer(100)], &["transfer"])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = env
        .sb
        .spending_policy(&w.address, &hex(&pk), TOKEN)
        .expect("policy");
    assert_eq!(p.spent, "100");
    assert!(p.window_start >= start + 3600);
    // Remove it.
    let r = env
        .owner_execute(
            &w,
            &[call(
                &w.address,
                "remove_spending_policy",
                &[hex(&pk), TOKEN.into()],
            )],
            &["remove_spending_policy"],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        get_policy(&env, &w.address, &pk).await,
        json!(vec!["0x0"; 8])
    );
    assert!(env
        .sb
        .spending_policy(&w.address, &hex(&pk), TOKEN)
        .is_none());
}
