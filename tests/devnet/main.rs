//! The real-VM suite: the real component in the real host, Chipi's v32 session
//! account running on starknet-devnet, the sandbox relaying Chipi's two endpoints
//! to the node (`scripts/test-devnet.sh`). What the sandbox suite assumes about the
//! contract is checked here against the contract itself.
//!
//! The tests share the node and move its time forward: run them one at a time
//! (`--test-threads=1`, as the script does).

mod cli;
mod support;

use chipi_session_e2e::{err, ok};
use chipi_session_host::runtime::{SessionError, SessionState};
use chipi_session_sandbox::{ChipiContract, Faults};
use serde_json::Value;
use starknet_core::types::{Felt, U256};
use starknet_core::utils::get_selector_from_name;

use support::{
    fresh_recipient, next_execute, node_time, receipt_status, relay, session_data, strk_balance,
    transfer, view, DevnetWallet, STRK,
};

fn felt(s: &str) -> Felt {
    Felt::from_hex(s).expect("hex felt")
}

fn selector_hex(name: &str) -> String {
    format!("{:#x}", get_selector_from_name(name).expect("valid name"))
}

/// The contract's refusal of an outside execution signed by a session whose
/// rules it breaks (not registered, expired, calls used up, admin selector, not
/// whitelisted, self-call of an unrestricted session: one reason for all).
const UNAUTHORIZED: &str = "Session: unauthorized selector";

fn assert_reverted(answer: Result<String, (String, String)>, reason: &str) {
    match answer {
        Ok(hash) => panic!("the contract accepted it: {hash}"),
        Err((code, message)) => {
            assert!(
                message.contains(reason),
                "expected {reason:?}, got {code}: {message}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_to_the_call_limit_on_the_real_account() {
    let w = DevnetWallet::take().await;
    let handle = w.handle();
    let recipient = fresh_recipient();
    let wallet_before = strk_balance(w.address()).await;

    ok(handle
        .create_session(
            &w.ctx(),
            &chipi_session_host::runtime::CreateOptions {
                duration_seconds: None,
                replace_existing: false,
            },
        )
        .await);
    let status = ok(handle.get_session_status(&w.ctx()).await);
    assert_eq!(status.state, SessionState::Created);
    let public_key = status.session.expect("stored").public_key;
    assert_eq!(
        session_data(w.address(), &public_key).await,
        [0, 0, 0, 0],
        "nothing on chain before registration"
    );

    let register = ok(handle
        .register_session(
            &w.ctx(),
            &chipi_session_host::runtime::RegisterOptions {
                valid_until: None,
                max_calls: Some(3),
                allowed_entrypoints: vec!["transfer".into()],
                idempotency_key: None,
            },
        )
        .await);
    assert_eq!(receipt_status(&register).await, "SUCCEEDED");

    // Status comes from the account's get_session_data and whitelist views.
    let status = ok(handle.get_session_status(&w.ctx()).await);
    assert_eq!(status.state, SessionState::Active);
    let on_chain = status.on_chain.expect("read from the account");
    let valid_until = on_chain.valid_until;
    assert_eq!(on_chain.max_calls, 3);
    assert_eq!(on_chain.calls_used, 0);
    assert_eq!(on_chain.allowed_entrypoints, [selector_hex("transfer")]);
    assert_eq!(
        session_data(w.address(), &public_key).await,
        [valid_until, 3, 0, 1]
    );
    assert_eq!(
        view(
            w.address(),
            "get_session_allowed_entrypoint_at",
            &[felt(&public_key), Felt::ZERO]
        )
        .await
        .expect("whitelist view"),
        [get_selector_from_name("transfer").expect("name")]
    );

    // Real ERC-20 transfers up to the call limit, balances checked on chain.
    for (i, amount) in [101u64, 202, 303].into_iter().enumerate() {
        let hash = ok(handle
            .execute_with_session(&w.ctx(), &[transfer(&recipient, amount)])
            .await);
        assert_eq!(receipt_status(&hash).await, "SUCCEEDED");
        assert_eq!(
            session_data(w.address(), &public_key).await[2],
            u64::try_from(i + 1).expect("small"),
            "counted once per transaction"
        );
    }
    assert_eq!(strk_balance(&recipient).await, 606);
    assert_eq!(
        wallet_before - strk_balance(w.address()).await,
        606,
        "the wallet paid the transfers and no fee (the relayer paid the gas)"
    );
    let status = ok(handle.get_session_status(&w.ctx()).await);
    assert_eq!(status.remaining_calls, Some(0));
    assert_eq!(status.state, SessionState::Expired);

    // The next one is refused locally: nothing reaches the relay.
    let sent = w.executes_sent();
    let e = err(handle
        .execute_with_session(&w.ctx(), &[transfer(&recipient, 404)])
        .await);
    assert!(
        matches!(e, SessionError::SessionMaxCallsExceeded(_)),
        "{e:?}"
    );
    assert_eq!(w.executes_sent(), sent, "nothing sent");

    // The same call forced past the local checks is refused by the contract.
    let forced = w
        .force_session_calls(
            &[(
                STRK,
                "transfer",
                vec![felt(&recipient), Felt::from(404u64), Felt::ZERO],
            )],
            valid_until,
        )
        .await;
    assert_reverted(forced, UNAUTHORIZED);
    assert_eq!(strk_balance(&recipient).await, 606, "no transfer");
    assert_eq!(session_data(w.address(), &public_key).await[2], 3);

    // Revoke: the account zeroes the session.
    let revoke = ok(handle.revoke_session(&w.ctx()).await);
    assert_eq!(receipt_status(&revoke).await, "SUCCEEDED");
    let status = ok(handle.get_session_status(&w.ctx()).await);
    assert_eq!(status.state, SessionState::Revoked);
    assert!(!status.is_active);
    assert_eq!(session_data(w.address(), &public_key).await, [0, 0, 0, 0]);
    let e = err(handle
        .execute_with_session(&w.ctx(), &[transfer(&recipient, 1)])
        .await);
    assert!(matches!(e, SessionError::SessionRevoked(_)), "{e:?}");
    // Forced after revocation: the signature's valid_until is above the zeroed one.
    let forced = w
        .force_session_calls(
            &[(
                STRK,
                "transfer",
                vec![felt(&recipient), Felt::ONE, Felt::ZERO],
            )],
            valid_until,
        )
        .await;
    assert_reverted(forced, "Session: valid_until exceeded");
    assert_eq!(strk_balance(&recipient).await, 606);
}

#[tokio::test(flavor = "multi_thread")]
async fn whitelist_admin_and_self_calls_are_refused_by_the_contract() {
    let recipient = fresh_recipient();

    // A whitelisted session: a selector outside the whitelist.
    let w = DevnetWallet::take().await;
    let (public_key, valid_until) = w
        .register(None, 10, &["transfer", "get_contract_info"])
        .await;
    let sent = w.executes_sent();
    let approve = chipi_session_host::runtime::Call {
        contract_address: STRK.into(),
        entrypoint: "approve".into(),
        calldata: vec![recipient.clone(), "1".into(), "0".into()],
    };
    let e = err(w.handle().execute_with_session(&w.ctx(), &[approve]).await);
    assert!(
        matches!(e, SessionError::SessionEntrypointNotAllowed(_)),
        "{e:?}"
    );
    assert_eq!(w.executes_sent(), sent, "refused locally");
    let forced = w
        .force_session_calls(
            &[(
                STRK,
                "approve",
                vec![felt(&recipient), Felt::ONE, Felt::ZERO],
            )],
            valid_until,
        )
        .await;
    assert_reverted(forced, UNAUTHORIZED);
    assert_eq!(session_data(w.address(), &public_key).await[2], 0);
    // The whitelist names selectors, whatever the target: a whitelisted
    // non-admin selector may be called on the account itself.
    let own = w
        .force_session_calls(&[(w.address(), "get_contract_info", vec![])], valid_until)
        .await
        .expect("a whitelisted selector on the account is accepted");
    assert_eq!(receipt_status(&own).await, "SUCCEEDED");
    assert_eq!(session_data(w.address(), &public_key).await[2], 1);

    // An unrestricted session (empty whitelist): the 7 admin selectors the
    // sandbox's v32 model refuses are refused by the contract whatever the target,
    // and so is any call to the account itself.
    let u = DevnetWallet::take().await;
    let (public_key, valid_until) = u.register(None, 10, &[]).await;
    let admin = ChipiContract::V32.admin_entrypoints();
    assert_eq!(admin.len(), 7);
    for name in admin {
        let forced = u
            .force_session_calls(&[(STRK, name, vec![])], valid_until)
            .await;
        assert_reverted(forced, UNAUTHORIZED);
    }
    let forced = u
        .force_session_calls(&[(u.address(), "get_contract_info", vec![])], valid_until)
        .await;
    assert_reverted(forced, UNAUTHORIZED);
    assert_eq!(session_data(u.address(), &public_key).await[2], 0);

    // The forcing path itself works: an allowed call signed the same way lands.
    let forced = u
        .force_session_calls(
            &[(
                STRK,
                "transfer",
                vec![felt(&recipient), Felt::from(7u64), Felt::ZERO],
            )],
            valid_until,
        )
        .await
        .expect("an allowed call is accepted");
    assert_eq!(receipt_status(&forced).await, "SUCCEEDED");
    assert_eq!(strk_balance(&recipient).await, 7);
    assert_eq!(session_data(u.address(), &public_key).await[2], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_inner_call_succeeds_and_counts_a_session_call() {
    // v32's `_execute_calls` ignores the result of each inner call: a transfer the
    // token refuses (more than the balance) leaves the transaction SUCCEEDED and
    // the session call counted, with nothing transferred.
    let w = DevnetWallet::take().await;
    let (public_key, _) = w.register(None, 10, &["transfer"]).await;
    let recipient = fresh_recipient();
    let too_much = strk_balance(w.address()).await + 1;
    let call = chipi_session_host::runtime::Call {
        contract_address: STRK.into(),
        entrypoint: "transfer".into(),
        calldata: vec![recipient.clone(), too_much.to_string(), "0".into()],
    };
    let hash = ok(w.handle().execute_with_session(&w.ctx(), &[call]).await);
    assert_eq!(receipt_status(&hash).await, "SUCCEEDED");
    assert_eq!(strk_balance(&recipient).await, 0, "nothing transferred");
    assert_eq!(session_data(w.address(), &public_key).await[2], 1);
    let status = ok(w.handle().get_session_status(&w.ctx()).await);
    assert_eq!(status.remaining_calls, Some(9));
}

#[tokio::test(flavor = "multi_thread")]
async fn expiry_follows_the_chain_clock() {
    let w = DevnetWallet::take().await;
    let (public_key, valid_until) = w.register(Some(120), 10, &[]).await;
    let recipient = fresh_recipient();
    let hash = ok(w
        .handle()
        .execute_with_session(&w.ctx(), &[transfer(&recipient, 5)])
        .await);
    assert_eq!(receipt_status(&hash).await, "SUCCEEDED");

    // Move the node (and the component's clock) past valid_until.
    let now = node_time().await;
    w.advance_time(valid_until + 30 - now).await;
    assert!(node_time().await > valid_until);

    let sent = w.executes_sent();
    let e = err(w
        .handle()
        .execute_with_session(&w.ctx(), &[transfer(&recipient, 6)])
        .await);
    assert!(matches!(e, SessionError::SessionExpired(_)), "{e:?}");
    assert_eq!(w.executes_sent(), sent, "refused locally");
    let status = ok(w.handle().get_session_status(&w.ctx()).await);
    assert_eq!(status.state, SessionState::Expired);
    assert!(!status.is_active);

    let forced = w
        .force_session_calls(
            &[(
                STRK,
                "transfer",
                vec![felt(&recipient), Felt::from(6u64), Felt::ZERO],
            )],
            valid_until,
        )
        .await;
    assert_reverted(forced, UNAUTHORIZED);
    assert_eq!(strk_balance(&recipient).await, 5);
    assert_eq!(
        session_data(w.address(), &public_key).await,
        [valid_until, 10, 1, 0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_answer_is_reconciled_through_the_real_nonce() {
    let w = DevnetWallet::take().await;
    let (public_key, _) = w.register(None, 5, &[]).await;
    let handle = w.handle();
    let recipient = fresh_recipient();

    // The relay submits the transaction, then closes the connection unanswered.
    relay().set_faults(next_execute(Faults {
        drop_answer: true,
        ..Faults::default()
    }));
    let e = err(handle
        .execute_with_session(&w.ctx(), &[transfer(&recipient, 55)])
        .await);
    assert!(matches!(e, SessionError::TransactionPending(_)), "{e:?}");
    assert_eq!(strk_balance(&recipient).await, 55, "it landed");
    assert_eq!(session_data(w.address(), &public_key).await[2], 1);

    // The retry of the same intent learns from is_valid_outside_execution_nonce
    // that it landed: nothing signed, nothing sent.
    let sent = w.executes_sent();
    let e = err(handle
        .execute_with_session(&w.ctx(), &[transfer(&recipient, 55)])
        .await);
    assert!(matches!(e, SessionError::AlreadyExecuted(_)), "{e:?}");
    assert_eq!(w.executes_sent(), sent);
    assert_eq!(strk_balance(&recipient).await, 55, "never a second payment");
    let status = ok(handle.get_session_status(&w.ctx()).await);
    assert_eq!(status.remaining_calls, Some(4), "counted once");

    // A new intent goes through.
    let hash = ok(handle
        .execute_with_session(&w.ctx(), &[transfer(&recipient, 66)])
        .await);
    assert_eq!(receipt_status(&hash).await, "SUCCEEDED");
    assert_eq!(strk_balance(&recipient).await, 121);
    assert_eq!(session_data(w.address(), &public_key).await[2], 2);
}

/// `get_spending_policy(session_key, STRK)` read from the account.
async fn get_spending_policy(w: &DevnetWallet, public_key: &str) -> Result<Vec<Felt>, Value> {
    view(
        w.address(),
        "get_spending_policy",
        &[felt(public_key), felt(STRK)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn spending_policies_do_not_exist_in_v32() {
    // This contract version has no spending policies: the views are absent, so
    // they are covered on the sandbox only (which models the later contract).
    let w = DevnetWallet::take().await;
    let (public_key, _) = w.register(None, 5, &[]).await;
    let error = get_spending_policy(&w, &public_key)
        .await
        .expect_err("v32 has no get_spending_policy");
    assert_eq!(error["code"], 21, "ENTRYPOINT_NOT_FOUND: {error}");
    assert_eq!(
        view(w.address(), "get_contract_info", &[])
            .await
            .expect("get_contract_info"),
        [Felt::from_bytes_be_slice(b"v32")]
    );

    // An owner-signed set_spending_policy would land and do nothing here (the
    // inner call fails and the account ignores it): the component reads the
    // account first and refuses, signing nothing.
    let handle = w.handle();
    let policy = chipi_session_host::runtime::SpendingPolicyInput {
        token: STRK.into(),
        max_per_call: "100".into(),
        max_per_window: "1000".into(),
        window_seconds: 3600,
    };
    let sent = w.executes_sent();
    let e = err(handle.set_spending_policy(&w.ctx(), &policy).await);
    assert!(matches!(e, SessionError::InvalidSpendingPolicy(_)), "{e:?}");
    let e = err(handle.remove_spending_policy(&w.ctx(), STRK).await);
    assert!(matches!(e, SessionError::InvalidSpendingPolicy(_)), "{e:?}");
    let e = err(handle.get_spending_policy(&w.ctx(), STRK).await);
    assert!(matches!(e, SessionError::InvalidSpendingPolicy(_)), "{e:?}");
    assert_eq!(w.executes_sent(), sent, "nothing signed or sent");

    // Why: the same set_spending_policy, owner-signed and forced past the
    // component, is a transaction the account accepts (the failed inner call is
    // ignored) and that limits nothing: the session still spends above the
    // "policy" it would have set.
    // The call is the component's own encoding of that policy.
    let set = chipi_session_guest::protocol::calldata::set_spending_policy(
        felt(w.address()),
        felt(&public_key),
        felt(STRK),
        U256::from(100u64),
        U256::from(1000u64),
        3600,
    );
    let forced = w
        .force_owner_calls(&[(w.address(), &set.entrypoint, set.calldata)])
        .await
        .expect("the account accepts the outside execution");
    assert_eq!(receipt_status(&forced).await, "SUCCEEDED");
    let still_absent = get_spending_policy(&w, &public_key)
        .await
        .expect_err("still no get_spending_policy");
    assert_eq!(still_absent["code"], 21, "{still_absent}");
    let recipient = fresh_recipient();
    let hash = ok(handle
        .execute_with_session(&w.ctx(), &[transfer(&recipient, 5_000)])
        .await);
    assert_eq!(receipt_status(&hash).await, "SUCCEEDED");
    assert_eq!(
        strk_balance(&recipient).await,
        5_000,
        "above the per-call limit the forced policy named: nothing enforces it"
    );
}
