//! The full lifecycle, the real component in the real host against the sandbox.

use chipi_session_e2e::{err, ok, Harness, RECIPIENT, TOKEN};
use chipi_session_host::runtime::{
    Call, CreateOptions, RegisterOptions, SessionError, SessionState, SpendingPolicyInput,
};

fn transfer(amount: &str) -> Call {
    Call {
        contract_address: TOKEN.into(),
        entrypoint: "transfer".into(),
        calldata: vec![RECIPIENT.into(), amount.into(), "0x0".into()],
    }
}

fn create_opts() -> CreateOptions {
    CreateOptions {
        duration_seconds: None,
        replace_existing: false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn full_lifecycle_create_register_execute_status_revoke() {
    let h = Harness::start().await;
    let handle = h.handle();
    let ctx = h.ctx();

    let status = ok(handle.get_session_status(&ctx).await);
    assert_eq!(status.state, SessionState::None);
    assert!(!status.is_active);

    let key = ok(handle.create_session(&ctx, &create_opts()).await);
    assert!(key.public_key.starts_with("0x"));
    assert!(key.encrypted_private_key.starts_with("v1.argon2id."));
    let now = h.clock.now_unix();
    assert!(key.valid_until >= now + 21_590 && key.valid_until <= now + 21_610);
    // Nothing reached the backend for create; the chain id was read once to pin it
    // (no read at all when the configuration names the chain).
    let requests = h.sandbox.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].body["method"], "starknet_chainId");

    let status = ok(handle.get_session_status(&ctx).await);
    assert_eq!(
        status.state,
        SessionState::Created,
        "created but never registered is `created`"
    );
    assert_eq!(
        status.session.as_ref().map(|s| s.public_key.clone()),
        Some(key.public_key.clone())
    );

    let options = RegisterOptions {
        valid_until: None,
        max_calls: Some(5),
        allowed_entrypoints: vec![],
        idempotency_key: None,
    };
    let register_tx = ok(handle.register_session(&ctx, &options).await);
    assert!(register_tx.starts_with("0x"));

    let status = ok(handle.get_session_status(&ctx).await);
    assert_eq!(status.state, SessionState::Active);
    assert_eq!(status.remaining_calls, Some(5));
    let chain = status
        .on_chain
        .expect("registered session has on-chain data");
    assert_eq!(chain.valid_until, key.valid_until);
    assert_eq!((chain.max_calls, chain.calls_used), (5, 0));

    let tx1 = ok(handle.execute_with_session(&ctx, &[transfer("100")]).await);
    // Two calls in one transaction count once.
    let tx2 = ok(handle
        .execute_with_session(&ctx, &[transfer("1"), transfer("2")])
        .await);
    assert_ne!(tx1, tx2);
    let status = ok(handle.get_session_status(&ctx).await);
    assert_eq!(status.remaining_calls, Some(3));
    assert_eq!(status.on_chain.unwrap().calls_used, 2);

    let revoke_tx = ok(handle.revoke_session(&ctx).await);
    assert!(revoke_tx.starts_with("0x"));
    let status = ok(handle.get_session_status(&ctx).await);
    assert_eq!(status.state, SessionState::Revoked);
    assert!(!status.is_active);

    let e = err(handle.execute_with_session(&ctx, &[transfer("1")]).await);
    assert!(matches!(e, SessionError::SessionRevoked(_)), "{e:?}");

    // Wire shapes: version query, headers, saveToDatabase and signature layouts.
    let requests = h.sandbox.requests();
    let sponsored: Vec<_> = requests
        .iter()
        .filter(|r| r.path.ends_with("execute-sponsored-transaction"))
        .collect();
    assert_eq!(sponsored.len(), 4, "register, two executes, revoke");
    for r in &requests {
        if r.path.starts_with("/v1/") {
            assert_eq!(
                r.query_param("__chipi_api_version").as_deref(),
                Some("2025-12-30"),
                "{:?}",
                r.query
            );
            assert_eq!(r.header("x-api-key"), Some(h.api_key.as_str()));
            assert_eq!(
                r.header("authorization"),
                Some(format!("Bearer {}", h.bearer).as_str())
            );
            assert_eq!(r.header("content-type"), Some("application/json"));
        }
    }
    let owner = &sponsored[0].body;
    assert_eq!(owner["saveToDatabase"], false);
    assert!(owner["userSignature"]["r"].is_string() && owner["userSignature"]["s"].is_string());
    assert_eq!(owner["walletType"], "CHIPI");
    let signature_fields: Vec<&String> = owner["userSignature"]
        .as_object()
        .expect("owner signature object")
        .keys()
        .collect();
    assert_eq!(signature_fields, ["r", "s"], "owner signature is {{r, s}}");
    // prepare-typed-data: walletType only when the session key signs (as the SDK does).
    let prepares: Vec<_> = requests
        .iter()
        .filter(|r| r.path.ends_with("prepare-typed-data"))
        .collect();
    assert_eq!(prepares.len(), 4);
    assert!(prepares[0].body.get("walletType").is_none(), "register");
    assert_eq!(prepares[1].body["walletType"], "CHIPI", "execute");
    assert!(prepares[3].body.get("walletType").is_none(), "revoke");
    let session = &sponsored[1].body;
    assert_eq!(session["saveToDatabase"], true);
    assert_eq!(session["isSessionSignature"], true);
    let sig = session["userSignature"]
        .as_array()
        .expect("array signature");
    assert_eq!(sig.len(), 4);
    assert_eq!(sig[0], serde_json::json!(key.public_key));
    assert_eq!(sponsored[3].body["saveToDatabase"], false);
    assert!(h.sandbox.signature_checks() >= 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn session_is_saved_before_registration_and_survives_a_failed_register() {
    use chipi_session_sandbox::Faults;
    let h = Harness::start().await;
    let handle = h.handle();
    let ctx = h.ctx();
    let key = ok(handle.create_session(&ctx, &create_opts()).await);
    h.sandbox.set_faults(Faults {
        status: Some(500),
        ..Faults::default()
    });
    let options = RegisterOptions {
        valid_until: None,
        max_calls: None,
        allowed_entrypoints: vec![],
        idempotency_key: None,
    };
    let e = err(handle.register_session(&ctx, &options).await);
    assert!(
        matches!(e, SessionError::Backend(ref b) if b.status == 500),
        "{e:?}"
    );
    // The key is still there, still `created`, and a fresh instance can register it.
    let status = ok(h.handle().get_session_status(&ctx).await);
    assert_eq!(status.state, SessionState::Created);
    assert_eq!(status.session.unwrap().public_key, key.public_key);
    h.sandbox.clear_faults();
    ok(h.handle().register_session(&ctx, &options).await);
    assert_eq!(
        ok(handle.get_session_status(&ctx).await).state,
        SessionState::Active
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn create_refuses_to_overwrite_a_live_session_unless_asked() {
    let h = Harness::start().await;
    let handle = h.handle();
    let ctx = h.ctx();
    let first = ok(handle.create_session(&ctx, &create_opts()).await);
    let e = err(handle.create_session(&ctx, &create_opts()).await);
    assert!(matches!(e, SessionError::InvalidInput(_)), "{e:?}");
    let replaced = ok(handle
        .create_session(
            &ctx,
            &CreateOptions {
                duration_seconds: Some(60),
                replace_existing: true,
            },
        )
        .await);
    assert_ne!(first.public_key, replaced.public_key);
    ok(handle.clear_session(&ctx).await);
    assert_eq!(
        ok(handle.get_session_status(&ctx).await).state,
        SessionState::None
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spending_policies_are_refused_on_a_v32_account_before_signing() {
    // Chipi's v32 account has no spending-policy entrypoints; an owner-signed
    // set_spending_policy would land there and do nothing (tests/devnet shows it on
    // the real contract). The component reads the account first and refuses.
    let h = Harness::start_v32().await;
    h.register(10).await;
    let handle = h.handle();
    let ctx = h.ctx();
    let policy = SpendingPolicyInput {
        token: TOKEN.into(),
        max_per_call: "100".into(),
        max_per_window: "150".into(),
        window_seconds: 3600,
    };
    let prepares = h.requests_to("prepare-typed-data");
    let e = err(handle.set_spending_policy(&ctx, &policy).await);
    assert!(matches!(e, SessionError::InvalidSpendingPolicy(_)), "{e:?}");
    let e = err(handle.remove_spending_policy(&ctx, TOKEN).await);
    assert!(matches!(e, SessionError::InvalidSpendingPolicy(_)), "{e:?}");
    let e = err(handle.get_spending_policy(&ctx, TOKEN).await);
    assert!(matches!(e, SessionError::InvalidSpendingPolicy(_)), "{e:?}");
    assert_eq!(
        h.requests_to("prepare-typed-data"),
        prepares,
        "nothing signed"
    );
    // Sessions work as usual on it.
    ok(handle.execute_with_session(&ctx, &[transfer("5")]).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn spending_policy_set_get_remove() {
    let h = Harness::start().await;
    let handle = h.handle();
    let ctx = h.ctx();
    ok(handle.create_session(&ctx, &create_opts()).await);
    let options = RegisterOptions {
        valid_until: None,
        max_calls: Some(10),
        allowed_entrypoints: vec![],
        idempotency_key: None,
    };
    ok(handle.register_session(&ctx, &options).await);
    assert!(ok(handle.get_spending_policy(&ctx, TOKEN).await).is_none());

    let bad = SpendingPolicyInput {
        token: TOKEN.into(),
        max_per_call: "0".into(),
        max_per_window: "10".into(),
        window_seconds: 60,
    };
    let e = err(handle.set_spending_policy(&ctx, &bad).await);
    assert!(matches!(e, SessionError::InvalidSpendingPolicy(_)), "{e:?}");

    let policy = SpendingPolicyInput {
        token: TOKEN.into(),
        max_per_call: "100".into(),
        max_per_window: "150".into(),
        window_seconds: 3600,
    };
    ok(handle.set_spending_policy(&ctx, &policy).await);
    let got = ok(handle.get_spending_policy(&ctx, TOKEN).await).expect("policy is set");
    assert_eq!(
        (got.max_per_call.as_str(), got.max_per_window.as_str()),
        ("100", "150")
    );
    assert_eq!(got.window_seconds, 3600);

    ok(handle.execute_with_session(&ctx, &[transfer("100")]).await);
    let got = ok(handle.get_spending_policy(&ctx, TOKEN).await).expect("policy is set");
    assert_eq!(got.spent, "100");
    // Over the per-call limit: the account refuses it.
    let e = err(handle.execute_with_session(&ctx, &[transfer("101")]).await);
    assert!(
        matches!(
            e,
            SessionError::Backend(_) | SessionError::InvalidSpendingPolicy(_)
        ),
        "{e:?}"
    );
    // Over the window: 100 + 60 > 150.
    let e = err(handle.execute_with_session(&ctx, &[transfer("60")]).await);
    assert!(
        matches!(
            e,
            SessionError::Backend(_) | SessionError::InvalidSpendingPolicy(_)
        ),
        "{e:?}"
    );

    ok(handle.remove_spending_policy(&ctx, TOKEN).await);
    assert!(ok(handle.get_spending_policy(&ctx, TOKEN).await).is_none());
    ok(handle.execute_with_session(&ctx, &[transfer("1000")]).await);
}
