//! Where the sandbox follows Chipi's real v32 session account
//! (`src/account.cairo` at `9be9629b`, `docs/contract.md`): the admin selectors per
//! contract version, the signature's `valid_until`, revocation and re-registration,
//! updates, and the order of the session checks of `execute_from_outside_v2`.

use super::support::*;
use crate::account::ADMIN_ENTRYPOINTS_V32;
use crate::wallets::CHIPI_V32_CLASS_HASH;

/// The seven selectors `_is_session_allowed_for_calls` refuses in v32, in its order.
const CAIRO_V32_ADMIN: [&str; 7] = [
    "upgrade",
    "add_or_update_session_key",
    "revoke_session_key",
    "__execute__",
    "set_public_key",
    "setPublicKey",
    "execute_from_outside_v2",
];

fn session_data(v: &Value) -> Value {
    v["result"].clone()
}

#[test]
fn admin_lists_per_contract_version() {
    assert_eq!(ADMIN_ENTRYPOINTS_V32, CAIRO_V32_ADMIN);
    assert_eq!(ChipiContract::V32.admin_entrypoints(), &CAIRO_V32_ADMIN[..]);
    assert_eq!(
        ChipiContract::SpendingPolicies.admin_entrypoints(),
        &ADMIN_ENTRYPOINTS[..]
    );
    // The 9-entry list is v32's seven plus the two spending-policy setters.
    assert_eq!(ADMIN_ENTRYPOINTS[..7], CAIRO_V32_ADMIN);
    assert_eq!(
        ADMIN_ENTRYPOINTS[7..],
        ["set_spending_policy", "remove_spending_policy"]
    );
    assert!(!ChipiContract::V32.has_spending_policies());
    assert!(ChipiContract::SpendingPolicies.has_spending_policies());
    // CHIPI wallets model the spending-policy account unless told otherwise.
    assert_eq!(
        SandboxWalletType::Chipi.contract(),
        Some(ChipiContract::SpendingPolicies)
    );
    assert_eq!(SandboxWalletType::Ready.contract(), None);
    assert_eq!(
        ChipiContract::SpendingPolicies.class_hash(),
        CHIPI_CLASS_HASH
    );
    assert_eq!(
        parse(ChipiContract::V32.class_hash()),
        parse("0x35a2251aca25daba18a5d8950deffa8372a7d84774554e75283cb85552eebc9")
    );
}

#[tokio::test]
async fn v32_sessions_may_call_spending_policy_selectors_but_never_its_seven() {
    let env = Env::new().await;
    let v32 = env.wallet_with(ChipiContract::V32);
    let later = env.wallet();
    let valid_until = env.sb.clock().now_unix() + 3600;
    let (sk, pk) = session_key();
    let (sk2, pk2) = session_key();
    env.register(&v32, &pk, valid_until, 100, &[]).await;
    env.register(&later, &pk2, valid_until, 100, &[]).await;

    // A call to another contract whose selector is `set_spending_policy`: not an
    // admin selector for v32 (it accepts and counts it), one for the later account.
    for name in ["set_spending_policy", "remove_spending_policy"] {
        let c = call(TOKEN, name, &[hex(&pk), TOKEN.into()]);
        let r = env
            .session_execute(&v32, &sk, valid_until, std::slice::from_ref(&c), &[name])
            .await;
        assert_eq!(r.status, 200, "{name} on v32: {}", r.body);
        let r = env
            .session_execute(&later, &sk2, valid_until, &[c], &[name])
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "SESSION_ENTRYPOINT_NOT_ALLOWED"),
            "{name} on the spending-policy account: {}",
            r.body
        );
        assert!(
            r.body.contains(&format!("admin entrypoint {name}")),
            "{}",
            r.body
        );
    }
    assert_eq!(
        env.sb
            .session(&v32.address, &hex(&pk))
            .expect("s")
            .calls_used,
        2
    );
    assert_eq!(
        env.sb
            .session(&later.address, &hex(&pk2))
            .expect("s")
            .calls_used,
        0
    );

    // v32's seven stay refused, even on another contract.
    for name in CAIRO_V32_ADMIN {
        let r = env
            .session_execute(&v32, &sk, valid_until, &[call(TOKEN, name, &[])], &[name])
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "SESSION_ENTRYPOINT_NOT_ALLOWED"),
            "{name}: {}",
            r.body
        );
    }
    assert_eq!(
        env.sb
            .session(&v32.address, &hex(&pk))
            .expect("s")
            .calls_used,
        2
    );
}

#[tokio::test]
async fn v32_has_no_spending_policies_and_reports_its_class() {
    let env = Env::new().await;
    let w = env.wallet_with(ChipiContract::V32);
    let (_, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 3600;
    env.register(&w, &pk, valid_until, 10, &[]).await;

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
    // As on the real contract (tests/devnet): the inner call to the missing
    // entrypoint fails, the account ignores it, the transaction succeeds and
    // nothing is stored.
    let before = env.sb.transactions().len();
    let r = env
        .owner_execute(&w, &[policy], &["set_spending_policy"])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(env
        .sb
        .spending_policy(&w.address, &hex(&pk), TOKEN)
        .is_none());
    assert_eq!(env.sb.transactions().len(), before + 1);
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
    assert_eq!(r.status, 200, "{}", r.body);

    let v = env
        .view(&w.address, "get_spending_policy", &[hex(&pk), TOKEN.into()])
        .await;
    assert_eq!(v["error"]["code"], 21, "{v}");
    let class = env
        .rpc(
            "starknet_getClassHashAt",
            json!({"block_id": "latest", "contract_address": w.address}),
        )
        .await;
    assert_eq!(class["result"], CHIPI_V32_CLASS_HASH);
    let info = env.view(&w.address, "get_contract_info", &[]).await;
    assert_eq!(info["result"], json!(["0x763332"]), "{info}"); // 'v32'

    // The spending-policy account keeps its policies, class hash and no contract info.
    let later = env.wallet();
    let class = env
        .rpc(
            "starknet_getClassHashAt",
            json!({"block_id": "latest", "contract_address": later.address}),
        )
        .await;
    assert_eq!(class["result"], CHIPI_CLASS_HASH);
    let v = env
        .view(
            &later.address,
            "get_spending_policy",
            &[hex(&pk), TOKEN.into()],
        )
        .await;
    assert_eq!(v["result"], json!(vec!["0x0"; 8]), "{v}");
}

#[tokio::test]
async fn signature_valid_until_may_be_at_or_before_the_registered_one() {
    for contract in [ChipiContract::V32, ChipiContract::SpendingPolicies] {
        let env = Env::new().await;
        let w = env.wallet_with(contract);
        let now = env.sb.clock().now_unix();
        let (sk, pk) = session_key();
        let registered = now + 3600;
        env.register(&w, &pk, registered, 10, &[]).await;
        let used = || env.sb.session(&w.address, &hex(&pk)).expect("s").calls_used;

        // Earlier than the registered valid_until: accepted and counted.
        let r = env
            .session_execute(&w, &sk, now + 600, &[transfer(1)], &["transfer"])
            .await;
        assert_eq!(r.status, 200, "{contract:?}: {}", r.body);
        assert_eq!(used(), 1);
        // Equal: accepted.
        let r = env
            .session_execute(&w, &sk, registered, &[transfer(2)], &["transfer"])
            .await;
        assert_eq!(r.status, 200, "{contract:?}: {}", r.body);
        assert_eq!(used(), 2);
        // Later: 'Session: valid_until exceeded'.
        let r = env
            .session_execute(&w, &sk, registered + 1, &[transfer(3)], &["transfer"])
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "SESSION_NOT_REGISTERED"),
            "{}",
            r.body
        );
        assert!(r.body.contains("valid_until"), "{}", r.body);
        // Already past, though within the registered session: refused in
        // `is_valid_signature` ('SRC9: invalid signature'), a valid ECDSA signature
        // notwithstanding.
        let r = env
            .session_execute(&w, &sk, now - 1, &[transfer(4)], &["transfer"])
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "SESSION_EXPIRED"),
            "{}",
            r.body
        );
        assert_eq!(used(), 2);

        // Once block time passes the signature's valid_until, only that signature
        // expires; one carrying the registered valid_until still works.
        env.sb.advance_time(601);
        let r = env
            .session_execute(&w, &sk, now + 600, &[transfer(5)], &["transfer"])
            .await;
        assert_eq!(r.code(), "SESSION_EXPIRED", "{}", r.body);
        let r = env
            .session_execute(&w, &sk, registered, &[transfer(6)], &["transfer"])
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(used(), 3);
    }
}

#[tokio::test]
async fn revoked_sessions_read_zeros_and_can_be_registered_again() {
    let env = Env::new().await;
    let w = env.wallet_with(ChipiContract::V32);
    let now = env.sb.clock().now_unix();
    let (sk, pk) = session_key();
    env.register(&w, &pk, now + 3600, 5, &["transfer", "approve"])
        .await;
    let r = env
        .session_execute(&w, &sk, now + 3600, &[transfer(1)], &["transfer"])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = env
        .owner_execute(
            &w,
            &[call(&w.address, "revoke_session_key", &[hex(&pk)])],
            &["revoke_session_key"],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The contract overwrites the session with zeros and clears the whitelist.
    let zero = json!(["0x0", "0x0", "0x0", "0x0"]);
    assert_eq!(
        session_data(&env.view(&w.address, "get_session_data", &[hex(&pk)]).await),
        zero
    );
    assert_eq!(
        session_data(
            &env.view(
                &w.address,
                "get_session_allowed_entrypoints_len",
                &[hex(&pk)]
            )
            .await
        ),
        json!(["0x0"])
    );
    for index in ["0x0", "0x1", "0x7"] {
        assert_eq!(
            session_data(
                &env.view(
                    &w.address,
                    "get_session_allowed_entrypoint_at",
                    &[hex(&pk), index.into()]
                )
                .await
            ),
            json!(["0x0"]),
            "index {index}"
        );
    }
    let info = env.sb.session(&w.address, &hex(&pk)).expect("revoked");
    assert_eq!(
        (
            info.valid_until,
            info.max_calls,
            info.calls_used,
            info.revoked
        ),
        (0, 0, 0, true)
    );
    assert!(info.allowed_entrypoints.is_empty());
    // The contract reverts ('Session: valid_until exceeded'); the sandbox says why.
    let r = env
        .session_execute(&w, &sk, now + 3600, &[transfer(2)], &["transfer"])
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "SESSION_REVOKED"));

    // Registering the revoked key again is allowed and starts from zero calls with
    // the new terms and whitelist.
    let again = now + 7200;
    env.register(&w, &pk, again, 3, &["approve"]).await;
    assert_eq!(
        session_data(&env.view(&w.address, "get_session_data", &[hex(&pk)]).await),
        json!([format!("{again:#x}"), "0x3", "0x0", "0x1"])
    );
    let info = env.sb.session(&w.address, &hex(&pk)).expect("session");
    assert!(!info.revoked);
    assert_eq!(
        info.allowed_entrypoints,
        vec![hex(&felt::selector("approve"))]
    );
    let r = env
        .session_execute(&w, &sk, again, &[transfer(3)], &["transfer"])
        .await;
    assert_eq!(r.code(), "SESSION_ENTRYPOINT_NOT_ALLOWED", "{}", r.body);
    let approve = call(
        TOKEN,
        "approve",
        &[RECIPIENT.into(), "1".into(), "0".into()],
    );
    let r = env
        .session_execute(&w, &sk, again, &[approve], &["approve"])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        env.sb.session(&w.address, &hex(&pk)).expect("s").calls_used,
        1
    );

    // Revoking a key that was never registered is allowed too and reads zeros.
    let (_, never) = session_key();
    let r = env
        .owner_execute(
            &w,
            &[call(&w.address, "revoke_session_key", &[hex(&never)])],
            &["revoke_session_key"],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        session_data(
            &env.view(&w.address, "get_session_data", &[hex(&never)])
                .await
        ),
        zero
    );
}

#[tokio::test]
async fn updating_a_session_resets_calls_and_replaces_the_whitelist() {
    let env = Env::new().await;
    let w = env.wallet_with(ChipiContract::V32);
    let now = env.sb.clock().now_unix();
    let (sk, pk) = session_key();
    env.register(&w, &pk, now + 3600, 2, &["transfer", "approve"])
        .await;
    for amount in [1, 2] {
        let r = env
            .session_execute(&w, &sk, now + 3600, &[transfer(amount)], &["transfer"])
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = env
        .session_execute(&w, &sk, now + 3600, &[transfer(3)], &["transfer"])
        .await;
    assert_eq!(r.code(), "SESSION_MAX_CALLS_EXCEEDED");

    // Update: shorter validity, empty whitelist; calls_used goes back to 0.
    env.register(&w, &pk, now + 1800, 2, &[]).await;
    assert_eq!(
        session_data(&env.view(&w.address, "get_session_data", &[hex(&pk)]).await),
        json!([format!("{:#x}", now + 1800), "0x2", "0x0", "0x0"])
    );
    assert_eq!(
        session_data(
            &env.view(
                &w.address,
                "get_session_allowed_entrypoint_at",
                &[hex(&pk), "0x1".into()]
            )
            .await
        ),
        json!(["0x0"])
    );
    // The old valid_until is now beyond the registered one.
    let r = env
        .session_execute(&w, &sk, now + 3600, &[transfer(4)], &["transfer"])
        .await;
    assert_eq!(r.code(), "SESSION_NOT_REGISTERED", "{}", r.body);
    // Unrestricted now: any selector on another contract...
    let c = call(TOKEN, "mint", &[RECIPIENT.into()]);
    let r = env
        .session_execute(&w, &sk, now + 1800, &[c], &["mint"])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // ...but nothing on the account itself (compared by address only).
    let selfcall = call(&w.address, "transfer", &[]);
    let r = env
        .session_execute(&w, &sk, now + 1800, &[selfcall], &["transfer"])
        .await;
    assert_eq!(r.code(), "SESSION_ENTRYPOINT_NOT_ALLOWED", "{}", r.body);
    assert!(r.body.contains("itself"), "{}", r.body);
    assert_eq!(
        env.sb.session(&w.address, &hex(&pk)).expect("s").calls_used,
        1
    );
}

#[tokio::test]
async fn whitelist_matches_selectors_on_any_target_including_the_account() {
    let env = Env::new().await;
    let w = env.wallet_with(ChipiContract::V32);
    let now = env.sb.clock().now_unix();
    let (sk, pk) = session_key();
    env.register(&w, &pk, now + 3600, 10, &["transfer"]).await;
    // The same whitelisted selector on an unrelated contract and on the account
    // itself: the contract checks selectors only.
    for to in ["0x777", w.address.as_str()] {
        let c = call(to, "transfer", &[RECIPIENT.into(), "1".into(), "0".into()]);
        let r = env
            .session_execute(&w, &sk, now + 3600, &[c], &["transfer"])
            .await;
        assert_eq!(r.status, 200, "to {to}: {}", r.body);
    }
    assert_eq!(
        env.sb.session(&w.address, &hex(&pk)).expect("s").calls_used,
        2
    );
}

#[tokio::test]
async fn checks_run_in_the_order_of_execute_from_outside_v2() {
    let env = Env::new().await;
    let w = env.wallet_with(ChipiContract::V32);
    let now = env.sb.clock().now_unix();
    let (sk, pk) = session_key();
    let (wrong_sk, _) = session_key();
    let registered = now + 3600;
    env.register(&w, &pk, registered, 1, &[]).await;
    let admin = call(TOKEN, "upgrade", &["0x1".into()]);

    // A never-registered key reads valid_until 0, so any later signature fails
    // 'Session: valid_until exceeded' first, whatever its expiry.
    let (_, unknown) = session_key();
    let r = env
        .session_execute_raw(
            &w,
            &unknown,
            &wrong_sk,
            &format!("{:#x}", now - 10),
            std::slice::from_ref(&admin),
            &["upgrade"],
        )
        .await;
    assert_eq!(r.code(), "SESSION_NOT_REGISTERED", "{}", r.body);
    // The session rules come before the signature's own expiry: an admin selector
    // with an already-expired signature is an unauthorized selector.
    let r = env
        .session_execute_raw(
            &w,
            &pk,
            &wrong_sk,
            &format!("{:#x}", now - 10),
            std::slice::from_ref(&admin),
            &["upgrade"],
        )
        .await;
    assert_eq!(r.code(), "SESSION_ENTRYPOINT_NOT_ALLOWED", "{}", r.body);
    // The signature's expiry comes before ECDSA.
    let r = env
        .session_execute_raw(
            &w,
            &pk,
            &wrong_sk,
            &format!("{:#x}", now - 10),
            &[transfer(1)],
            &["transfer"],
        )
        .await;
    assert_eq!(r.code(), "SESSION_EXPIRED", "{}", r.body);
    let r = env
        .session_execute_raw(
            &w,
            &pk,
            &wrong_sk,
            &format!("{registered:#x}"),
            &[transfer(1)],
            &["transfer"],
        )
        .await;
    assert_eq!(r.code(), "INVALID_SIGNATURE", "{}", r.body);
    // Use the only call; max calls then comes before the admin check.
    let r = env
        .session_execute(&w, &sk, registered, &[transfer(1)], &["transfer"])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = env
        .session_execute(&w, &sk, registered, &[admin], &["upgrade"])
        .await;
    assert_eq!(r.code(), "SESSION_MAX_CALLS_EXCEEDED", "{}", r.body);
    // The stored session's expiry comes before max calls.
    env.sb.advance_time(3601);
    let r = env
        .session_execute(&w, &sk, registered, &[transfer(2)], &["transfer"])
        .await;
    assert_eq!(r.code(), "SESSION_EXPIRED", "{}", r.body);
    assert_eq!(
        env.sb.session(&w.address, &hex(&pk)).expect("s").calls_used,
        1
    );
}
