//! Everything the component must refuse, and the backend failures it must report
//! as typed errors: the real component in the real host against the sandbox.

use chipi_session_e2e::{err, ok, runtime, Harness, Stateless, RECIPIENT, TOKEN};
use chipi_session_host::runtime::{
    Call, CreateOptions, Imports, RegisterOptions, SessionError, SessionState,
};
use chipi_session_sandbox::{Faults, SandboxWalletType, Substitution};

fn transfer() -> Call {
    Call {
        contract_address: TOKEN.into(),
        entrypoint: "transfer".into(),
        calldata: vec![RECIPIENT.into(), "5".into(), "0".into()],
    }
}

fn call(to: &str, entrypoint: &str) -> Call {
    Call {
        contract_address: to.into(),
        entrypoint: entrypoint.into(),
        calldata: vec![],
    }
}

async fn registered(h: &Harness, max_calls: u32, allow: &[&str], duration: Option<u64>) {
    let handle = h.handle();
    let ctx = h.ctx();
    ok(handle
        .create_session(
            &ctx,
            &CreateOptions {
                duration_seconds: duration,
                replace_existing: false,
            },
        )
        .await);
    let options = RegisterOptions {
        valid_until: None,
        max_calls: Some(max_calls),
        allowed_entrypoints: allow.iter().map(ToString::to_string).collect(),
        idempotency_key: None,
    };
    ok(handle.register_session(&ctx, &options).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn call_limit_is_enforced_before_sending() {
    let h = Harness::start().await;
    registered(&h, 2, &[], None).await;
    let handle = h.handle();
    ok(handle.execute_with_session(&h.ctx(), &[transfer()]).await);
    ok(handle.execute_with_session(&h.ctx(), &[transfer()]).await);
    let before = h.sandbox.requests().len();
    let e = err(handle.execute_with_session(&h.ctx(), &[transfer()]).await);
    assert!(
        matches!(e, SessionError::SessionMaxCallsExceeded(_)),
        "{e:?}"
    );
    assert_eq!(h.sandbox.requests().len(), before, "nothing sent");
    let status = ok(handle.get_session_status(&h.ctx()).await);
    assert_eq!(status.state, SessionState::Expired);
    assert_eq!(status.remaining_calls, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn expiry_is_enforced() {
    let h = Harness::start().await;
    registered(&h, 10, &[], Some(120)).await;
    let handle = h.handle();
    ok(handle.execute_with_session(&h.ctx(), &[transfer()]).await);
    h.clock.advance(600);
    let before = h.sandbox.requests().len();
    let e = err(handle.execute_with_session(&h.ctx(), &[transfer()]).await);
    assert!(matches!(e, SessionError::SessionExpired(_)), "{e:?}");
    assert_eq!(h.sandbox.requests().len(), before, "nothing sent");
    assert_eq!(
        ok(handle.get_session_status(&h.ctx()).await).state,
        SessionState::Expired
    );
    // Registering with a past valid-until is refused too.
    let options = RegisterOptions {
        valid_until: Some(1),
        max_calls: None,
        allowed_entrypoints: vec![],
        idempotency_key: None,
    };
    let e = err(handle.register_session(&h.ctx(), &options).await);
    assert!(matches!(e, SessionError::SessionExpired(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn whitelist_blocklist_and_self_calls_are_refused_before_sending() {
    let h = Harness::start().await;
    registered(&h, 10, &["transfer"], None).await;
    let handle = h.handle();
    let before = h.sandbox.requests().len();
    for bad in [
        call(TOKEN, "approve"),
        call(TOKEN, "upgrade"),
        call(TOKEN, "set_public_key"),
    ] {
        let e = err(handle
            .execute_with_session(&h.ctx(), &[transfer(), bad.clone()])
            .await);
        assert!(
            matches!(e, SessionError::SessionEntrypointNotAllowed(_)),
            "{bad:?}: {e:?}"
        );
    }
    assert_eq!(h.sandbox.requests().len(), before, "nothing sent");
    ok(handle.execute_with_session(&h.ctx(), &[transfer()]).await);

    // An unrestricted session may not call the wallet itself.
    let h = Harness::start().await;
    registered(&h, 10, &[], None).await;
    let handle = h.handle();
    let e = err(handle
        .execute_with_session(&h.ctx(), &[call(&h.wallet.address, "transfer")])
        .await);
    assert!(
        matches!(e, SessionError::SessionEntrypointNotAllowed(_)),
        "{e:?}"
    );
    let e = err(handle
        .execute_with_session(&h.ctx(), &[call(TOKEN, "add_or_update_session_key")])
        .await);
    assert!(
        matches!(e, SessionError::SessionEntrypointNotAllowed(_)),
        "{e:?}"
    );
    // Admin entrypoints cannot even be whitelisted.
    let options = RegisterOptions {
        valid_until: None,
        max_calls: None,
        allowed_entrypoints: vec!["upgrade".into()],
        idempotency_key: None,
    };
    let e = err(handle.register_session(&h.ctx(), &options).await);
    assert!(
        matches!(e, SessionError::SessionEntrypointNotAllowed(_)),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_pin_fails_with_decryption_error_and_sends_nothing() {
    let h = Harness::start().await;
    let handle = h.handle();
    ok(handle
        .create_session(
            &h.ctx(),
            &CreateOptions {
                duration_seconds: None,
                replace_existing: false,
            },
        )
        .await);
    let options = RegisterOptions {
        valid_until: None,
        max_calls: None,
        allowed_entrypoints: vec![],
        idempotency_key: None,
    };
    let before = h.sandbox.requests().len();
    let e = err(handle
        .register_session(&h.ctx_with_pin("654321"), &options)
        .await);
    assert!(
        matches!(e, SessionError::SessionDecryptionFailed(_)),
        "{e:?}"
    );
    assert_eq!(h.sandbox.requests().len(), before, "nothing sent");
    ok(handle.register_session(&h.ctx(), &options).await);
    let e = err(handle
        .execute_with_session(&h.ctx_with_pin("000000"), &[transfer()])
        .await);
    assert!(
        matches!(e, SessionError::SessionDecryptionFailed(_)),
        "{e:?}"
    );
    // A missing encrypt key is its own error.
    let e = err(handle
        .execute_with_session(&h.ctx_with_pin(""), &[transfer()])
        .await);
    assert!(
        matches!(e, SessionError::InvalidInput(ref m) if m.contains("encrypt key")),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_wallet_is_refused() {
    let h = Harness::start_with(SandboxWalletType::Ready).await;
    let handle = h.handle();
    let e = err(handle
        .create_session(
            &h.ctx(),
            &CreateOptions {
                duration_seconds: None,
                replace_existing: false,
            },
        )
        .await);
    assert!(
        matches!(e, SessionError::InvalidWalletTypeForSession(_)),
        "{e:?}"
    );
    let e = err(handle.execute_with_session(&h.ctx(), &[transfer()]).await);
    assert!(
        matches!(e, SessionError::InvalidWalletTypeForSession(_)),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_failures_are_typed() {
    let h = Harness::start().await;
    registered(&h, 50, &[], None).await;
    let handle = h.handle();

    for status in [401u16, 429, 500] {
        h.sandbox.set_faults(Faults {
            status: Some(status),
            ..Faults::default()
        });
        let e = err(handle.execute_with_session(&h.ctx(), &[transfer()]).await);
        assert!(
            matches!(e, SessionError::Backend(ref b) if b.status == status),
            "{status}: {e:?}"
        );
    }

    h.sandbox.set_faults(Faults {
        malformed_json: true,
        ..Faults::default()
    });
    let e = err(handle.execute_with_session(&h.ctx(), &[transfer()]).await);
    assert!(
        matches!(e, SessionError::SessionInvalidResponse(_)),
        "{e:?}"
    );

    h.sandbox.set_faults(Faults {
        missing_tx_hash: true,
        endpoint: Some("execute-sponsored-transaction".into()),
        ..Faults::default()
    });
    // The execution was applied but the answer carries no hash: it may have
    // landed, so it is pending, and its retry reports it instead of paying twice.
    let e = err(handle.execute_with_session(&h.ctx(), &[transfer()]).await);
    assert!(
        matches!(e, SessionError::TransactionPending(ref m) if m.contains("transactionHash")),
        "{e:?}"
    );
    h.sandbox.clear_faults();
    let e = err(handle.execute_with_session(&h.ctx(), &[transfer()]).await);
    assert!(matches!(e, SessionError::AlreadyExecuted(_)), "{e:?}");

    // Other calls from here on: until its window closes, every retry of
    // that transfer is answered from it.
    let other = Call {
        calldata: vec![RECIPIENT.into(), "6".into(), "0".into()],
        ..transfer()
    };
    // A wrong bearer token is refused by the backend itself.
    let wrong = Stateless::new(runtime(), h.imports_with_token("not-the-token"));
    let e = err(wrong
        .execute_with_session(&h.ctx(), std::slice::from_ref(&other))
        .await);
    assert!(
        matches!(e, SessionError::Backend(ref b) if b.status == 401),
        "{e:?}"
    );
    // And the session still works afterwards.
    ok(handle.execute_with_session(&h.ctx(), &[other]).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn substituted_typed_data_is_never_signed() {
    let substitutions = [
        Substitution::CalldataValue,
        Substitution::Target,
        Substitution::Selector,
        Substitution::ExtraCall,
        Substitution::DropCall,
        Substitution::ChainId,
        Substitution::TimeWindow,
    ];
    let h = Harness::start().await;
    registered(&h, 50, &[], None).await;
    let handle = h.handle();
    for substitution in substitutions {
        h.sandbox.set_faults(Faults {
            substitute: Some(substitution),
            ..Faults::default()
        });
        let before = h.requests_to("execute-sponsored-transaction");
        let e = err(handle.execute_with_session(&h.ctx(), &[transfer()]).await);
        assert!(
            matches!(e, SessionError::SessionInvalidResponse(_)),
            "{substitution:?}: {e:?}"
        );
        assert_eq!(
            h.requests_to("execute-sponsored-transaction"),
            before,
            "{substitution:?}: nothing signed or sent"
        );
    }
    // The owner flow refuses too (revoke with a substituted call).
    h.sandbox.set_faults(Faults {
        substitute: Some(Substitution::CalldataValue),
        ..Faults::default()
    });
    let e = err(handle.revoke_session(&h.ctx()).await);
    assert!(
        matches!(e, SessionError::SessionInvalidResponse(_)),
        "{e:?}"
    );
    h.sandbox.clear_faults();
    assert_eq!(
        ok(handle.get_session_status(&h.ctx()).await).state,
        SessionState::Active
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn host_that_does_not_allow_list_the_backend_cannot_reach_it() {
    let h = Harness::start().await;
    let mut imports: Imports = h.imports_with_token(&h.bearer);
    imports.allowed_authorities = vec!["api.chipipay.com:443".into()];
    let handle = Stateless::new(runtime(), imports);
    // The chain is configured, so create needs no network at all.
    let mut ctx = h.ctx();
    ctx.config.chain_id = Some(h.sandbox.chain_id_hex());
    ok(handle
        .create_session(
            &ctx,
            &CreateOptions {
                duration_seconds: None,
                replace_existing: false,
            },
        )
        .await);
    let options = RegisterOptions {
        valid_until: None,
        max_calls: None,
        allowed_entrypoints: vec![],
        idempotency_key: None,
    };
    let e = err(handle.register_session(&ctx, &options).await);
    assert!(matches!(e, SessionError::Transport(_)), "{e:?}");
    assert_eq!(
        h.sandbox.requests().len(),
        0,
        "the sandbox never saw a request"
    );
    assert!(handle.denied_requests() >= 1);
}
