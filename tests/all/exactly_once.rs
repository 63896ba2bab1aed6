//! At most one transaction per intent, whatever the backend or the network does
//! with the answer: the real component in the real host against the sandbox.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chipi_session_e2e::{cache_dir, err, ok, Harness, Stateless, RECIPIENT, TOKEN};
use chipi_session_host::runtime::{
    Call, CreateOptions, RegisterOptions, RuntimeOptions, SessionError, SessionRuntime,
    SessionState,
};
use chipi_session_host::store::{MemoryStore, SessionStore, StoreError};
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
        max_calls: Some(5),
        allowed_entrypoints: vec![],
    };
    ok(handle.register_session(&ctx, &options).await);
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
    ok(handle.execute_with_session(&ctx, &[transfer(5)]).await);
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
