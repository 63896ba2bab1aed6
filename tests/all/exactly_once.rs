//! At most one transaction per intent, whatever the backend or the network does
//! with the answer: the real component in the real host against the sandbox.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chipi_session_e2e::redis_server::RedisServer;
use chipi_session_e2e::{cache_dir, err, ok, Harness, Stateless, RECIPIENT, TOKEN};
use chipi_session_host::runtime::{
    Call, IntentOptions, RegisterOptions, RuntimeOptions, SessionError, SessionRuntime,
    SessionState,
};
use chipi_session_host::store::{MemoryStore, RedisOptions, SessionStore, SqliteStore, StoreError};
use chipi_session_sandbox::{Faults, TxSigner};

fn transfer(amount: u32) -> Call {
    Call {
        contract_address: TOKEN.into(),
        entrypoint: "transfer".into(),
        calldata: vec![RECIPIENT.into(), amount.to_string(), "0".into()],
    }
}

/// Session-signed transactions the sandbox executed.
fn session_transactions(h: &Harness) -> usize {
    h.sandbox
        .transactions()
        .iter()
        .filter(|t| matches!(t.signer, TxSigner::Session(_)))
        .count()
}

/// `f`, on the next `execute-sponsored-transaction` request only.
fn execute_faults(mut f: Faults) -> Faults {
    f.endpoint = Some("execute-sponsored-transaction".into());
    f.remaining = Some(1);
    f
}

async fn calls_used_on_chain(h: &Harness) -> u32 {
    let status = ok(h.handle().get_session_status(&h.ctx()).await);
    status.on_chain.map(|d| d.calls_used).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_answer_gives_one_transaction_and_the_retry_reports_it() {
    let h = Harness::start().await;
    h.register(10).await;
    let handle = h.handle();
    h.sandbox.set_faults(execute_faults(Faults {
        drop_answer: true,
        ..Faults::default()
    }));
    let e = err(handle.execute_with_session(&h.ctx(), &[transfer(5)]).await);
    assert!(matches!(e, SessionError::TransactionPending(_)), "{e:?}");
    assert_eq!(session_transactions(&h), 1, "it landed");
    let prepares = h.requests_to("prepare-typed-data");
    let e = err(handle.execute_with_session(&h.ctx(), &[transfer(5)]).await);
    assert!(matches!(e, SessionError::AlreadyExecuted(_)), "{e:?}");
    assert_eq!(session_transactions(&h), 1, "never a second payment");
    assert_eq!(
        h.requests_to("prepare-typed-data"),
        prepares,
        "nothing signed"
    );
    let status = ok(handle.get_session_status(&h.ctx()).await);
    assert_eq!(status.remaining_calls, Some(9), "counted once");
    assert_eq!(calls_used_on_chain(&h).await, 1);
    // A new intent goes through normally.
    ok(handle.execute_with_session(&h.ctx(), &[transfer(6)]).await);
    assert_eq!(session_transactions(&h), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_error_after_apply_is_counted_once() {
    let h = Harness::start().await;
    h.register(10).await;
    let handle = h.handle();
    h.sandbox.set_faults(execute_faults(Faults {
        status_after_apply: Some(502),
        ..Faults::default()
    }));
    let e = err(handle.execute_with_session(&h.ctx(), &[transfer(5)]).await);
    assert!(matches!(e, SessionError::TransactionPending(_)), "{e:?}");
    // Another intent first: the pending one is reconciled (landed), then signed anew.
    ok(handle.execute_with_session(&h.ctx(), &[transfer(7)]).await);
    assert_eq!(session_transactions(&h), 2);
    let status = ok(handle.get_session_status(&h.ctx()).await);
    assert_eq!(status.remaining_calls, Some(8));
    assert_eq!(calls_used_on_chain(&h).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn error_before_apply_is_resubmitted_with_the_same_signature() {
    let h = Harness::start().await;
    h.register(10).await;
    let handle = h.handle();
    h.sandbox.set_faults(execute_faults(Faults {
        status: Some(503),
        ..Faults::default()
    }));
    let e = err(handle.execute_with_session(&h.ctx(), &[transfer(5)]).await);
    assert!(matches!(e, SessionError::TransactionPending(_)), "{e:?}");
    assert_eq!(session_transactions(&h), 0);
    let sent: Vec<_> = h
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("execute-sponsored-transaction"))
        .collect();
    let prepares = h.requests_to("prepare-typed-data");
    let hash = ok(handle.execute_with_session(&h.ctx(), &[transfer(5)]).await);
    assert_eq!(
        h.requests_to("prepare-typed-data"),
        prepares,
        "no new signature"
    );
    let resent: Vec<_> = h
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("execute-sponsored-transaction"))
        .collect();
    assert_eq!(resent.len(), sent.len() + 1);
    assert_eq!(
        resent.last().map(|r| r.body.clone()),
        sent.last().map(|r| r.body.clone()),
        "the same signed body"
    );
    let txs = h.sandbox.transactions();
    assert_eq!(txs.last().map(|t| t.hash.clone()), Some(hash));
    assert_eq!(session_transactions(&h), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn answer_delayed_past_the_budget_is_a_typed_error_then_reconciled() {
    let h = Harness::start().await;
    h.register(10).await;
    // A runtime whose per-call limit is shorter than the backend's delay.
    let short = SessionRuntime::new(RuntimeOptions {
        cache_dir: Some(cache_dir()),
        call_timeout: Duration::from_secs(3),
        ..RuntimeOptions::default()
    })
    .expect("runtime");
    let handle = Stateless::new(short.clone(), h.imports_with_token(&h.bearer));
    h.sandbox.set_faults(execute_faults(Faults {
        delay_after_apply_ms: Some(6_000),
        ..Faults::default()
    }));
    // The component itself runs out of its budget and says so (no host time-out).
    let e = err(handle.execute_with_session(&h.ctx(), &[transfer(5)]).await);
    assert!(matches!(e, SessionError::TransactionPending(_)), "{e:?}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let e = err(handle.execute_with_session(&h.ctx(), &[transfer(5)]).await);
    assert!(matches!(e, SessionError::AlreadyExecuted(_)), "{e:?}");
    assert_eq!(session_transactions(&h), 1);
    assert_eq!(calls_used_on_chain(&h).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_registration_answer_is_seen_active() {
    let h = Harness::start().await;
    let handle = h.handle();
    let ctx = h.ctx();
    h.create().await;
    h.sandbox.set_faults(execute_faults(Faults {
        drop_answer: true,
        ..Faults::default()
    }));
    let options = RegisterOptions {
        valid_until: None,
        max_calls: Some(3),
        allowed_entrypoints: vec![],
        idempotency_key: None,
    };
    let e = err(handle.register_session(&ctx, &options).await);
    assert!(matches!(e, SessionError::TransactionPending(_)), "{e:?}");
    let status = ok(handle.get_session_status(&ctx).await);
    assert_eq!(status.state, SessionState::Active);
    assert_eq!(status.remaining_calls, Some(3));
    // The retry of the registration reports it instead of registering twice.
    ok(handle.execute_with_session(&ctx, &[transfer(1)]).await);
    assert_eq!(h.sandbox.transactions().len(), 2);
}

/// A store whose compare-and-swap starts failing after a number of successes.
struct FlakyStore {
    inner: MemoryStore,
    cas_left: Mutex<Option<u32>>,
}

impl SessionStore for FlakyStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let mut left = self.cas_left.lock().unwrap_or_else(PoisonError::into_inner);
        match *left {
            Some(0) => return Err(StoreError::Backend("disk full".into())),
            Some(n) => *left = Some(n - 1),
            None => {}
        }
        drop(left);
        self.inner.compare_and_swap(key, expected, new)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn store_failure_after_send_returns_the_hash_with_a_warning() {
    let h = Harness::start().await;
    let store = Arc::new(FlakyStore {
        inner: MemoryStore::new(),
        cas_left: Mutex::new(None),
    });
    let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = warnings.clone();
    let mut imports = h.imports_with_token(&h.bearer).with_warning_sink(move |w| {
        sink.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(w.to_owned());
    });
    imports.store = store.clone() as Arc<dyn SessionStore>;
    let handle = Stateless::new(chipi_session_e2e::runtime(), imports);
    let ctx = h.ctx();
    h.register_through(&handle, 5).await;
    // The pending record is written, the send succeeds, the update after it fails.
    *store
        .cas_left
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(1);
    let hash = ok(handle.execute_with_session(&ctx, &[transfer(5)]).await);
    assert_eq!(
        h.sandbox.transactions().last().map(|t| t.hash.clone()),
        Some(hash.clone())
    );
    let seen = warnings
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert!(
        seen.iter()
            .any(|w| w.contains(&hash) && w.contains("could not be updated")),
        "{seen:?}"
    );
    // The store recovers: the next operation counts that transaction once.
    *store
        .cas_left
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = None;
    let status = ok(handle.get_session_status(&ctx).await);
    assert_eq!(status.remaining_calls, Some(4));
    // The store never learnt that the hash was returned: the same calls are
    // answered as the retry they may be, never signed twice, until the
    // window closes; other calls go on.
    let e = err(handle.execute_with_session(&ctx, &[transfer(5)]).await);
    assert!(matches!(e, SessionError::AlreadyExecuted(_)), "{e:?}");
    assert_eq!(session_transactions(&h), 1);
    ok(handle.execute_with_session(&ctx, &[transfer(6)]).await);
    let status = ok(handle.get_session_status(&ctx).await);
    assert_eq!(status.remaining_calls, Some(3));
    assert_eq!(session_transactions(&h), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_nonce_is_used_by_at_most_one_transaction() {
    let h = Harness::start().await;
    h.register(40).await;
    let handle = h.handle();
    let faults = [
        Faults {
            drop_answer: true,
            ..Faults::default()
        },
        Faults {
            status_after_apply: Some(500),
            ..Faults::default()
        },
        Faults {
            status: Some(502),
            ..Faults::default()
        },
        Faults::default(),
    ];
    let mut intents = 0;
    for round in 0..3u32 {
        for (i, f) in faults.iter().enumerate() {
            h.sandbox.set_faults(execute_faults(f.clone()));
            let call = [transfer(100 + round * 10 + i as u32)];
            intents += 1;
            // Retry each intent until it settles, as a script would.
            for _ in 0..4 {
                match handle.execute_with_session(&h.ctx(), &call).await {
                    Ok(Ok(_) | Err(SessionError::AlreadyExecuted(_))) => break,
                    Ok(Err(SessionError::TransactionPending(_))) => continue,
                    other => panic!("unexpected outcome: {other:?}"),
                }
            }
        }
    }
    let txs = h.sandbox.transactions();
    let mut nonces: Vec<String> = txs.iter().map(|t| t.nonce.clone()).collect();
    let total = nonces.len();
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), total, "a nonce executed twice");
    assert_eq!(
        session_transactions(&h),
        intents,
        "one transaction per intent"
    );
    let status = ok(handle.get_session_status(&h.ctx()).await);
    assert_eq!(status.remaining_calls, Some(40 - intents as u32));
}

/// Session-signed transfers of `amount` the sandbox executed (one intent each).
fn transfers_of(h: &Harness, amount: u32) -> usize {
    let is_amount =
        |a: &String| u64::from_str_radix(a.trim_start_matches("0x"), 16) == Ok(u64::from(amount));
    h.sandbox
        .transactions()
        .iter()
        .filter(|t| matches!(t.signer, TxSigner::Session(_)))
        .filter(|t| {
            t.calls
                .iter()
                .any(|c| c.calldata.get(1).is_some_and(is_amount))
        })
        .count()
}

fn keyed(key: &str) -> IntentOptions {
    IntentOptions {
        idempotency_key: Some(key.into()),
    }
}

fn dropped_answer() -> Faults {
    execute_faults(Faults {
        drop_answer: true,
        ..Faults::default()
    })
}

/// The retry of an intent whose answer was lost: its hash or
/// `ALREADY_EXECUTED`, never a new signature.
fn assert_answered(outcome: anyhow::Result<Result<String, SessionError>>, what: &str) {
    match outcome {
        Ok(Ok(hash)) => assert!(hash.starts_with("0x"), "{what}: {hash}"),
        Ok(Err(SessionError::AlreadyExecuted(m))) => {
            assert!(m.contains("nonce 0x"), "{what}: names the transaction: {m}");
        }
        other => panic!("{what}: expected the first transaction's outcome, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_answer_then_any_operation_then_retry_is_one_transaction() {
    for between in [
        "nothing",
        "status",
        "another execute",
        "re-register",
        "revoke",
    ] {
        let h = Harness::start().await;
        h.register(10).await;
        let handle = h.handle();
        let ctx = h.ctx();
        h.sandbox.set_faults(dropped_answer());
        let e = err(handle.execute_with_session(&ctx, &[transfer(5)]).await);
        assert!(
            matches!(e, SessionError::TransactionPending(_)),
            "{between}: {e:?}"
        );
        match between {
            "status" => {
                ok(handle.get_session_status(&ctx).await);
            }
            "another execute" => {
                ok(handle.execute_with_session(&ctx, &[transfer(6)]).await);
            }
            "re-register" => {
                let options = RegisterOptions {
                    valid_until: None,
                    max_calls: Some(20),
                    allowed_entrypoints: vec![],
                    idempotency_key: None,
                };
                ok(handle.register_session(&ctx, &options).await);
            }
            "revoke" => {
                ok(handle.revoke_session(&ctx).await);
            }
            _ => {}
        }
        let prepares = h.requests_to("prepare-typed-data");
        assert_answered(
            handle.execute_with_session(&ctx, &[transfer(5)]).await,
            between,
        );
        assert_eq!(transfers_of(&h, 5), 1, "{between}: one transaction");
        assert_eq!(
            h.requests_to("prepare-typed-data"),
            prepares,
            "{between}: nothing signed"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_status_by_another_host_on_a_shared_redis_store_does_not_release_the_intent() {
    let redis = RedisServer::start();
    let h = Harness::start().await;
    let store = |prefix: &str| -> Arc<dyn SessionStore> {
        Arc::new(redis.store(RedisOptions {
            prefix: prefix.into(),
            ..RedisOptions::default()
        }))
    };
    // Two hosts, each with its own runtime and Redis connections, one store.
    let first = Stateless::new(
        chipi_session_e2e::runtime(),
        h.imports_with_store(store("w:")),
    );
    let second = Stateless::new(
        chipi_session_e2e::runtime(),
        h.imports_with_store(store("w:")),
    );
    let ctx = h.ctx();
    h.register_through(&first, 10).await;
    h.sandbox.set_faults(dropped_answer());
    err(first.execute_with_session(&ctx, &[transfer(5)]).await);
    let status = ok(second.get_session_status(&ctx).await);
    assert_eq!(status.remaining_calls, Some(9));
    let e = err(first.execute_with_session(&ctx, &[transfer(5)]).await);
    assert!(matches!(e, SessionError::AlreadyExecuted(_)), "{e:?}");
    assert_eq!(transfers_of(&h, 5), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_is_one_intent_across_instances_and_another_key_is_another() {
    let h = Harness::start().await;
    h.register(10).await;
    let ctx = h.ctx();
    let (a, b) = (h.handle(), h.handle());
    let call = [transfer(9)];
    let key = keyed("order-9");
    let (one, two) = tokio::join!(
        a.execute_with_options(&ctx, &call, &key),
        b.execute_with_options(&ctx, &call, &key)
    );
    for outcome in [one, two] {
        // Sent, or found in flight or already landed: never signed twice.
        match outcome {
            Ok(
                Ok(_) | Err(SessionError::TransactionPending(_) | SessionError::AlreadyExecuted(_)),
            ) => {}
            other => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!(transfers_of(&h, 9), 1, "one transaction for one key");
    let hash = ok(a.execute_with_options(&ctx, &call, &key).await);
    assert_eq!(ok(b.execute_with_options(&ctx, &call, &key).await), hash);
    // Lost answer with a key: status, other calls, then the key again.
    h.sandbox.set_faults(dropped_answer());
    err(a
        .execute_with_options(&ctx, &[transfer(11)], &keyed("order-11"))
        .await);
    ok(a.get_session_status(&ctx).await);
    ok(a.execute_with_session(&ctx, &[transfer(12)]).await);
    for handle in [&a, &b] {
        let e = err(handle
            .execute_with_options(&ctx, &[transfer(11)], &keyed("order-11"))
            .await);
        assert!(matches!(e, SessionError::AlreadyExecuted(_)), "{e:?}");
    }
    assert_eq!(transfers_of(&h, 11), 1);
    // The same calls under another key: a second payment, on purpose.
    let other = ok(a
        .execute_with_options(&ctx, &call, &keyed("order-9b"))
        .await);
    assert_ne!(other, hash);
    assert_eq!(transfers_of(&h, 9), 2);
    // A key names its calls.
    let e = err(a.execute_with_options(&ctx, &[transfer(10)], &key).await);
    assert!(matches!(e, SessionError::InvalidInput(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backend_reusing_a_consumed_nonce_gets_no_false_already_executed() {
    let h = Harness::start().await;
    h.register(10).await;
    let handle = h.handle();
    let ctx = h.ctx();
    ok(handle.execute_with_session(&ctx, &[transfer(5)]).await);
    h.sandbox.set_faults(Faults {
        reuse_nonce: true,
        endpoint: Some("prepare-typed-data".into()),
        remaining: Some(1),
        ..Faults::default()
    });
    let e = err(handle.execute_with_session(&ctx, &[transfer(6)]).await);
    assert!(matches!(e, SessionError::Backend(_)), "{e:?}");
    assert_eq!(transfers_of(&h, 6), 0, "it never ran");
    assert_eq!(calls_used_on_chain(&h).await, 1);
    let status = ok(handle.get_session_status(&ctx).await);
    assert_eq!(
        status.remaining_calls,
        Some(9),
        "local count is the chain's"
    );
    // A nonce the store knows (a keyed intent's) is refused before signing.
    ok(handle
        .execute_with_options(&ctx, &[transfer(7)], &keyed("k7"))
        .await);
    h.sandbox.set_faults(Faults {
        reuse_nonce: true,
        endpoint: Some("prepare-typed-data".into()),
        remaining: Some(1),
        ..Faults::default()
    });
    let sent = h.requests_to("execute-sponsored-transaction");
    let e = err(handle.execute_with_session(&ctx, &[transfer(8)]).await);
    assert!(
        matches!(e, SessionError::SessionInvalidResponse(_)),
        "{e:?}"
    );
    assert_eq!(h.requests_to("execute-sponsored-transaction"), sent);
    ok(handle.execute_with_session(&ctx, &[transfer(8)]).await);
    assert_eq!(calls_used_on_chain(&h).await, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_answering_consumed_for_every_nonce_gets_no_false_already_executed() {
    let h = Harness::start().await;
    h.register(10).await;
    let handle = h.handle();
    let ctx = h.ctx();
    // Refused before the account ran it; then a node that calls every nonce consumed.
    h.sandbox.set_faults(execute_faults(Faults {
        status: Some(503),
        ..Faults::default()
    }));
    err(handle.execute_with_session(&ctx, &[transfer(5)]).await);
    h.sandbox.set_faults(Faults {
        nonces_consumed: true,
        endpoint: Some("rpc".into()),
        ..Faults::default()
    });
    for _ in 0..2 {
        let e = err(handle.execute_with_session(&ctx, &[transfer(5)]).await);
        assert!(matches!(e, SessionError::TransactionPending(_)), "{e:?}");
    }
    let status = ok(handle.get_session_status(&ctx).await);
    assert_eq!(status.remaining_calls, Some(10));
    assert_eq!(transfers_of(&h, 5), 0);
    // The honest node again: the first is resent with its own signature.
    h.sandbox.set_faults(Faults::default());
    ok(handle.execute_with_session(&ctx, &[transfer(5)]).await);
    assert_eq!(transfers_of(&h, 5), 1);
    // A lost answer that did land is told by the count, whatever the node says.
    h.sandbox.set_faults(dropped_answer());
    err(handle.execute_with_session(&ctx, &[transfer(6)]).await);
    h.sandbox.set_faults(Faults {
        nonces_consumed: true,
        endpoint: Some("rpc".into()),
        ..Faults::default()
    });
    let e = err(handle.execute_with_session(&ctx, &[transfer(6)]).await);
    assert!(matches!(e, SessionError::AlreadyExecuted(_)), "{e:?}");
    h.sandbox.set_faults(Faults::default());
    assert_eq!(transfers_of(&h, 6), 1);
    let status = ok(handle.get_session_status(&ctx).await);
    assert_eq!(status.remaining_calls, Some(8));
    assert_eq!(calls_used_on_chain(&h).await, 2);
}

/// Copy the wallet's record, run `between`, put the copy back.
async fn rolled_back(
    store: Arc<dyn SessionStore>,
    wallet: &str,
    between: impl std::future::Future<Output = ()>,
) {
    let key = format!(
        "chipi-session/v1/session/{}",
        chipi_session_guest::crypto::felt::felt_to_hex(
            &chipi_session_guest::crypto::felt::parse_felt(wallet).expect("wallet address")
        )
    );
    let snapshot = store.get(&key).expect("read").expect("a record");
    between.await;
    let now = store.get(&key).expect("read");
    assert!(
        store
            .compare_and_swap(&key, now.as_deref(), Some(&snapshot))
            .expect("restore"),
        "restored"
    );
}

async fn store_rolled_back_between_send_and_retry(store: Arc<dyn SessionStore>) {
    let h = Harness::start().await;
    let handle = Stateless::new(
        chipi_session_e2e::runtime(),
        h.imports_with_store(store.clone()),
    );
    let ctx = h.ctx();
    h.register_through(&handle, 10).await;
    rolled_back(store.clone(), &h.wallet.address, async {
        h.sandbox.set_faults(dropped_answer());
        err(handle.execute_with_session(&ctx, &[transfer(5)]).await);
    })
    .await;
    let e = err(handle.execute_with_session(&ctx, &[transfer(5)]).await);
    match &e {
        SessionError::TransactionPending(m) => assert!(m.contains("behind the chain"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(transfers_of(&h, 5), 1, "no second transfer");
    // A status accepts the account's count; other intents go on.
    ok(handle.get_session_status(&ctx).await);
    ok(handle.execute_with_session(&ctx, &[transfer(6)]).await);
    let status = ok(handle.get_session_status(&ctx).await);
    assert_eq!(status.on_chain.map(|d| d.calls_used), Some(2));
    assert_eq!(status.remaining_calls, Some(8));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sqlite_store_rolled_back_between_send_and_retry_pays_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("sessions.sqlite")).expect("sqlite");
    store_rolled_back_between_send_and_retry(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_store_rolled_back_between_send_and_retry_pays_once() {
    let redis = RedisServer::start();
    let store = redis.store(RedisOptions {
        prefix: "rollback:".into(),
        ..RedisOptions::default()
    });
    store_rolled_back_between_send_and_retry(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_whose_node_keeps_failing_is_pending_with_the_hash() {
    let h = Harness::start().await;
    h.register(10).await;
    let session = h.open(h.ctx()).await;
    let hash = ok(session.execute_with_session(&[transfer(5)]).await);
    h.sandbox.set_faults(Faults {
        status: Some(503),
        rpc_method: Some("starknet_getTransactionReceipt".into()),
        ..Faults::default()
    });
    let e = err(session
        .wait_for_transaction(&hash, Duration::from_secs(3))
        .await);
    match &e {
        SessionError::TransactionPending(m) => assert!(m.contains(&hash), "{m}"),
        other => panic!("{other:?}"),
    }
    h.sandbox.set_faults(Faults::default());
    let receipt = ok(session
        .wait_for_transaction(&hash, Duration::from_secs(3))
        .await);
    assert_eq!(receipt.transaction_hash, hash);
}
