//! At most one transaction per intent, whatever the backend does with the answer.

use super::*;
use crate::protocol::record::SettledOutcome;

fn registered(max_calls: u32) -> (FakePorts, SessionContext) {
    let mut p = FakePorts::default();
    let c = ctx();
    create_session(&c, &CreateOptions::default(), &mut p).unwrap();
    register_session(&c, &register_opts(max_calls), &mut p).unwrap();
    (p, c)
}

fn other_call() -> CallInput {
    CallInput {
        contract_address: "0x70ce".into(),
        entrypoint: "transfer".into(),
        calldata: vec!["0x2".into(), "20".into(), "0".into()],
    }
}

#[test]
fn lost_answer_then_retry_reports_already_executed_and_signs_nothing() {
    let (mut p, c) = registered(10);
    p.lose_answers = 1;
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "TRANSACTION_PENDING", "{e}");
    assert_eq!(record(&p).pending.len(), 1);
    let (txs, prepares) = (p.tx_counter, p.count("prepare-typed-data"));
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "ALREADY_EXECUTED", "{e}");
    assert_eq!(p.tx_counter, txs, "no second transaction");
    assert_eq!(p.count("prepare-typed-data"), prepares, "nothing signed");
    let r = record(&p);
    assert!(r.pending.is_empty());
    assert_eq!(r.calls_used, 1, "counted once");
    assert_eq!(session_calls_used(&p), 1);
}

#[test]
fn lost_answer_then_other_calls_counts_the_first_once_and_goes_on() {
    let (mut p, c) = registered(10);
    p.lose_answers = 1;
    execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    execute_with_session(&c, &[other_call()], &mut p).unwrap();
    assert_eq!(record(&p).calls_used, 2);
    assert_eq!(session_calls_used(&p), 2);
    assert!(record(&p).pending.is_empty());
}

#[test]
fn server_error_after_apply_is_pending_then_already_executed() {
    let (mut p, c) = registered(10);
    p.status_after_apply = Some(502);
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "TRANSACTION_PENDING");
    p.status_after_apply = None;
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "ALREADY_EXECUTED");
    assert_eq!(session_calls_used(&p), 1);
    assert_eq!(record(&p).calls_used, 1);
}

#[test]
fn unapplied_send_is_resubmitted_with_the_same_signature() {
    let (mut p, c) = registered(10);
    p.fail = Some(("execute-sponsored".into(), 503, "{}".into()));
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "TRANSACTION_PENDING");
    p.fail = None;
    let first = p.requests.last().unwrap().1.clone();
    let prepares = p.count("prepare-typed-data");
    let hash = execute_with_session(&c, &[transfer()], &mut p).unwrap();
    assert!(hash.starts_with("0xabc"));
    assert_eq!(p.requests.last().unwrap().1, first, "the same signed body");
    assert_eq!(p.count("prepare-typed-data"), prepares, "no new signature");
    assert_eq!(session_calls_used(&p), 1);
    assert_eq!(record(&p).calls_used, 1);
}

#[test]
fn the_same_request_is_never_signed_twice_other_requests_go_on() {
    let (mut p, c) = registered(10);
    p.fail = Some(("execute-sponsored".into(), 503, "{}".into()));
    execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    let prepares = p.count("prepare-typed-data");
    // The same request again: its body is resent, nothing new is signed.
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "TRANSACTION_PENDING");
    assert_eq!(
        p.count("prepare-typed-data"),
        prepares,
        "nothing new signed"
    );
    p.fail = None;
    // Another request: the first is resent (and lands), then the new one is signed.
    execute_with_session(&c, &[other_call()], &mut p).unwrap();
    assert_eq!(p.count("prepare-typed-data"), prepares + 1);
    assert_eq!(session_calls_used(&p), 2);
    let r = record(&p);
    assert!(r.pending.is_empty());
    assert_eq!(r.calls_used, 2);
}

#[test]
fn a_request_sent_meanwhile_by_another_instance_is_not_sent_again() {
    let (mut p, c) = registered(10);
    // Another instance records the same request as pending between our
    // reconciliation and our own pending record.
    let mut theirs = record(&p);
    let calls = crate::protocol::calls::parse_calls(&[transfer()]).unwrap();
    theirs
        .pending
        .push(crate::protocol::record::PendingTransaction {
            calls_digest: crate::protocol::calls::calls_digest(&calls),
            ..theirs_in_flight(&p)
        });
    p.interfere = Some(theirs.encode().unwrap());
    let sent = p.count("execute-sponsored");
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "TRANSACTION_PENDING", "{e}");
    assert_eq!(p.count("execute-sponsored"), sent, "not sent twice");
}

#[test]
fn calls_in_flight_count_against_the_limit() {
    let (mut p, c) = registered(2);
    p.fail = Some(("execute-sponsored".into(), 503, "{}".into()));
    execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    execute_with_session(&c, &[other_call()], &mut p).unwrap_err();
    assert_eq!(record(&p).pending.len(), 2);
    let third = CallInput {
        calldata: vec!["0x3".into(), "1".into(), "0".into()],
        ..transfer()
    };
    let e = execute_with_session(&c, &[third], &mut p).unwrap_err();
    assert_eq!(e.code(), "SESSION_MAX_CALLS_EXCEEDED", "{e}");
}

#[test]
fn closed_window_drops_the_pending_transaction() {
    let (mut p, c) = registered(10);
    p.fail = Some(("execute-sponsored".into(), 500, "{}".into()));
    execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    p.fail = None;
    let before = record(&p).pending[0].execute_before;
    p.now = before + 301;
    // Registered for 6 h: still valid. The pending one can never land; a new one is signed.
    execute_with_session(&c, &[transfer()], &mut p).unwrap();
    assert_eq!(session_calls_used(&p), 1);
    assert_eq!(record(&p).calls_used, 1);
}

#[test]
fn store_failure_after_send_returns_the_hash_and_counts_once_later() {
    let (mut p, c) = registered(10);
    p.break_store_after_execute = true;
    let hash = execute_with_session(&c, &[transfer()], &mut p).unwrap();
    assert!(hash.starts_with("0xabc"));
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].contains(&hash));
    p.store_broken = false;
    p.break_store_after_execute = false;
    // The pending record left behind is reconciled by the next operation.
    let status = get_session_status(&c, &mut p).unwrap();
    assert_eq!(status.remaining_calls, Some(9));
    let r = record(&p);
    assert!(r.pending.is_empty());
    assert_eq!(r.calls_used, 1);
    // The store never learnt that the hash was returned, so the same calls
    // are answered as the retry they may be (never signed twice) until the
    // window closes; other calls go on.
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "ALREADY_EXECUTED", "{e}");
    execute_with_session(&c, &[other_call()], &mut p).unwrap();
    assert_eq!(record(&p).calls_used, 2);
    assert_eq!(session_calls_used(&p), 2);
}

#[test]
fn registration_whose_answer_was_lost_is_seen_active() {
    let mut p = FakePorts::default();
    let c = ctx();
    create_session(&c, &CreateOptions::default(), &mut p).unwrap();
    p.lose_answers = 1;
    let e = register_session(&c, &register_opts(5), &mut p).unwrap_err();
    assert_eq!(e.code(), "TRANSACTION_PENDING");
    let status = get_session_status(&c, &mut p).unwrap();
    assert_eq!(status.state, SessionState::Active);
    assert_eq!(status.remaining_calls, Some(5));
    let r = record(&p);
    assert!(r.pending.is_empty());
    assert_eq!(r.registration.unwrap().transaction_hash, None);
    execute_with_session(&c, &[transfer()], &mut p).unwrap();
}

#[test]
fn created_record_without_pending_learns_its_registration_from_the_chain() {
    let mut p = FakePorts::default();
    let c = ctx();
    create_session(&c, &CreateOptions::default(), &mut p).unwrap();
    let before = p.store.clone();
    register_session(&c, &register_opts(5), &mut p).unwrap();
    // As if the record had been written by a version without pending records.
    p.store = before;
    assert_eq!(
        get_session_status(&c, &mut p).unwrap().state,
        SessionState::Active
    );
    assert!(record(&p).registration.is_some());
}

#[test]
fn hostile_node_values_are_reported_not_remembered() {
    let (mut p, c) = registered(5);
    let key = Felt::from_hex(&record(&p).public_key).unwrap();
    p.sessions.get_mut(&key).unwrap().calls_used = 1_000;
    let status = get_session_status(&c, &mut p).unwrap();
    assert_eq!(status.on_chain.unwrap().calls_used, 1_000);
    assert_eq!(record(&p).calls_used, 0, "not trusted locally");
    p.sessions.get_mut(&key).unwrap().calls_used = 0;
    p.sessions.get_mut(&key).unwrap().valid_until = u64::MAX;
    get_session_status(&c, &mut p).unwrap();
    let r = record(&p);
    assert_ne!(r.valid_until, u64::MAX);
    assert_eq!(r.calls_used, 0);
    // Still usable: the client's own checks were not poisoned.
    p.sessions.get_mut(&key).unwrap().valid_until = r.valid_until;
    execute_with_session(&c, &[transfer()], &mut p).unwrap();
}

#[test]
fn replayed_pending_is_counted_once_across_instances() {
    // Two instances sharing a store: the second sees the first's pending
    // transaction and reconciles it instead of signing a second one.
    let (mut p, c) = registered(10);
    p.lose_answers = 1;
    execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    let status = get_session_status(&c, &mut p).unwrap();
    assert_eq!(status.remaining_calls, Some(9));
    assert_eq!(record(&p).calls_used, 1);
    // Settled by status, the first is still this request's outcome: its
    // caller was never told. Every retry is answered, nothing is signed,
    // until its window closes.
    let txs = p.tx_counter;
    for _ in 0..2 {
        let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
        assert_eq!(e.code(), "ALREADY_EXECUTED", "{e}");
    }
    assert_eq!(p.tx_counter, txs, "no second transaction");
    assert_eq!(record(&p).calls_used, 1);
    // Past the window the same calls are a new intent, and are signed.
    p.now = record(&p).settled[0].keep_until + 1;
    let key = Felt::from_hex(&record(&p).public_key).unwrap();
    p.sessions.get_mut(&key).unwrap().valid_until = p.now + 3600;
    let mut r = record(&p);
    r.registration.as_mut().unwrap().valid_until = p.now + 3600;
    p.store
        .insert(SessionRecord::key(WALLET), r.encode().unwrap());
    execute_with_session(&c, &[transfer()], &mut p).unwrap();
    assert_eq!(record(&p).calls_used, 2);
    assert_eq!(session_calls_used(&p), 2);
}

/// A pending execute of another instance, still in its sender's window.
fn theirs_in_flight(p: &FakePorts) -> crate::protocol::record::PendingTransaction {
    crate::protocol::record::PendingTransaction {
        operation: crate::protocol::record::PendingOperation::Execute,
        calls_digest: "0xabc".into(),
        nonce: "0x77".into(),
        message_hash: "0x1".into(),
        execute_before: p.now + 600,
        body: "{}".into(),
        sent_at: p.now,
        sending_until: p.now + 60,
        answer_lost: false,
        idempotency_key: None,
    }
}

#[test]
fn a_pending_still_being_sent_by_its_sender_is_not_resent() {
    let (mut p, c) = registered(10);
    p.fail = Some(("execute-sponsored".into(), 503, "{}".into()));
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "TRANSACTION_PENDING", "{e}");
    p.fail = None;
    let mut r = record(&p);
    assert!(r.pending[0].answer_lost, "the sender marks its lost answer");
    // As if its sender were still waiting for the answer to its first send.
    r.pending[0].answer_lost = false;
    r.pending[0].sending_until = p.now + 30;
    p.store
        .insert(SessionRecord::key(WALLET), r.encode().unwrap());
    let sent = p.count("execute-sponsored");
    // The same request is reported pending, not resent (a resend would race
    // the first send and one of them would be told "nonce already used").
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "TRANSACTION_PENDING", "{e}");
    assert!(e.to_string().contains("being sent"), "{e}");
    assert_eq!(p.count("execute-sponsored"), sent);
    // Other requests go on meanwhile.
    execute_with_session(&c, &[other_call()], &mut p).unwrap();
    assert_eq!(p.count("execute-sponsored"), sent + 1);
    // Past the sender's window anyone resends it, with the same signature.
    p.now += 31;
    execute_with_session(&c, &[transfer()], &mut p).unwrap();
    assert_eq!(p.count("execute-sponsored"), sent + 2);
    assert_eq!(p.count("prepare-typed-data"), 3, "only two executes signed");
    let r = record(&p);
    assert!(r.pending.is_empty());
    assert_eq!(r.calls_used, 2);
    assert_eq!(session_calls_used(&p), 2);
}

#[test]
fn the_last_call_taken_meanwhile_is_refused_before_sending() {
    let (mut p, c) = registered(2);
    // Between our check and our pending mark, another instance used a call
    // and put the last one in flight.
    let mut theirs = record(&p);
    theirs.calls_used = 1;
    theirs.pending.push(theirs_in_flight(&p));
    p.interfere = Some(theirs.encode().unwrap());
    let sent = p.count("execute-sponsored");
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "SESSION_MAX_CALLS_EXCEEDED", "{e}");
    assert!(e.to_string().contains("nothing was sent"), "{e}");
    assert_eq!(p.count("execute-sponsored"), sent, "nothing sent");
    assert_eq!(record(&p).pending.len(), 1, "only theirs in flight");
}

#[test]
fn a_revocation_meanwhile_is_refused_before_sending() {
    let (mut p, c) = registered(10);
    let mut theirs = record(&p);
    theirs.revoked_tx = Some("0x5".into());
    p.interfere = Some(theirs.encode().unwrap());
    let sent = p.count("execute-sponsored");
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "SESSION_REVOKED", "{e}");
    assert_eq!(p.count("execute-sponsored"), sent, "nothing sent");
}

#[test]
fn refused_after_its_nonce_was_consumed_is_already_executed_and_counted_once() {
    // The account executed it, yet the backend answers 400 (as when another
    // instance resent the same body first): it landed.
    let (mut p, c) = registered(10);
    p.status_after_apply = Some(400);
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "ALREADY_EXECUTED", "{e}");
    assert!(e.to_string().contains("do not send it again"), "{e}");
    let r = record(&p);
    assert!(r.pending.is_empty());
    assert_eq!(r.calls_used, 1, "counted once");
    assert_eq!(session_calls_used(&p), 1);
}

#[test]
fn refused_before_its_nonce_was_consumed_is_the_backends_error() {
    let (mut p, c) = registered(10);
    p.fail = Some((
        "execute-sponsored".into(),
        400,
        r#"{"message":"bad"}"#.into(),
    ));
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "BACKEND_ERROR", "{e}");
    let r = record(&p);
    assert!(r.pending.is_empty());
    assert_eq!(r.calls_used, 0);
}

fn execute_keyed(
    c: &SessionContext,
    calls: &[CallInput],
    key: &str,
    p: &mut FakePorts,
) -> Result<String> {
    let mut s = WalletSession::new(c.clone());
    let options = IntentOptions {
        idempotency_key: Some(key.into()),
    };
    let result = s.execute_with_session(calls, &options, p);
    s.flush(p);
    result
}

#[test]
fn lost_answer_then_any_operation_then_retry_is_one_transaction() {
    // Whatever runs between a lost answer and its retry, the retry is
    // answered and nothing is signed again.
    type Between = fn(&SessionContext, &mut FakePorts);
    let between: [(&str, Between); 4] = [
        ("nothing", |_, _| {}),
        ("status", |c, p| {
            get_session_status(c, p).unwrap();
        }),
        ("another execute", |c, p| {
            execute_with_session(c, &[other_call()], p).unwrap();
        }),
        ("two statuses and another execute", |c, p| {
            get_session_status(c, p).unwrap();
            execute_with_session(c, &[other_call()], p).unwrap();
            get_session_status(c, p).unwrap();
        }),
    ];
    for (name, run) in between {
        let (mut p, c) = registered(10);
        p.lose_answers = 1;
        let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
        assert_eq!(e.code(), "TRANSACTION_PENDING", "{name}: {e}");
        run(&c, &mut p);
        let transfers = p.tx_counter;
        let prepares = p.count("prepare-typed-data");
        let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
        assert_eq!(e.code(), "ALREADY_EXECUTED", "{name}: {e}");
        assert!(e.to_string().contains("nonce 0x"), "{name}: names it: {e}");
        assert_eq!(p.tx_counter, transfers, "{name}: no second transaction");
        assert_eq!(
            p.count("prepare-typed-data"),
            prepares,
            "{name}: nothing signed"
        );
        assert_eq!(record(&p).calls_used, session_calls_used(&p), "{name}");
        // Every retry, from any process, gets the same answer.
        let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
        assert_eq!(e.code(), "ALREADY_EXECUTED", "{name}: {e}");
        assert_eq!(p.tx_counter, transfers, "{name}");
    }
}

#[test]
fn lost_answer_then_revoke_then_retry_is_answered_not_refused() {
    let (mut p, c) = registered(10);
    p.lose_answers = 1;
    execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    revoke_session(&c, &mut p).unwrap();
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "ALREADY_EXECUTED", "{e}");
}

#[test]
fn a_resubmission_answered_for_another_request_gives_the_retry_its_hash() {
    let (mut p, c) = registered(10);
    p.fail = Some(("execute-sponsored".into(), 503, "{}".into()));
    execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    p.fail = None;
    // Another request resends the first (answered with its hash) first.
    execute_with_session(&c, &[other_call()], &mut p).unwrap();
    let r = record(&p);
    let tombstone = r.settled.last().expect("the first's caller was never told");
    let hash = match &tombstone.outcome {
        SettledOutcome::Landed {
            transaction_hash: Some(hash),
        } => hash.clone(),
        other => panic!("{other:?}"),
    };
    let transfers = p.tx_counter;
    for _ in 0..2 {
        assert_eq!(
            execute_with_session(&c, &[transfer()], &mut p).unwrap(),
            hash
        );
    }
    assert_eq!(p.tx_counter, transfers);
}

#[test]
fn an_untold_tombstone_expires_with_its_window() {
    let (mut p, c) = registered(10);
    p.lose_answers = 1;
    execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    get_session_status(&c, &mut p).unwrap();
    let keep_until = record(&p).settled[0].keep_until;
    assert_eq!(keep_until, record_window(&p) + 300);
    p.now = keep_until + 1;
    // The window closed: the same calls are a new intent.
    execute_with_session(&c, &[transfer()], &mut p).unwrap();
    assert_eq!(session_calls_used(&p), 2);
    assert!(record(&p).settled.is_empty(), "pruned");
}

/// `Execute Before` of the fake backend's outside executions.
fn record_window(p: &FakePorts) -> u64 {
    p.now + 3600
}

#[test]
fn an_idempotency_key_names_one_intent() {
    let mut p = FakePorts::default();
    let c = ctx();
    create_session(&c, &CreateOptions::default(), &mut p).unwrap();
    let three_days = RegisterOptions {
        valid_until: Some(p.now + 3 * 86_400),
        ..register_opts(10)
    };
    register_session(&c, &three_days, &mut p).unwrap();
    let first = execute_keyed(&c, &[transfer()], "order-1", &mut p).unwrap();
    // The same key again: the same intent, answered with its hash.
    assert_eq!(
        execute_keyed(&c, &[transfer()], "order-1", &mut p).unwrap(),
        first
    );
    get_session_status(&c, &mut p).unwrap();
    assert_eq!(
        execute_keyed(&c, &[transfer()], "order-1", &mut p).unwrap(),
        first
    );
    assert_eq!(session_calls_used(&p), 1);
    // Another key, the same calls: a second payment.
    let second = execute_keyed(&c, &[transfer()], "order-2", &mut p).unwrap();
    assert_ne!(second, first);
    assert_eq!(session_calls_used(&p), 2);
    // A key names its calls: other calls under it are refused.
    let e = execute_keyed(&c, &[other_call()], "order-1", &mut p).unwrap_err();
    assert_eq!(e.code(), "INVALID_INPUT", "{e}");
    // Kept for 24 hours, then forgotten.
    p.now += 86_400 - 1;
    assert_eq!(
        execute_keyed(&c, &[transfer()], "order-1", &mut p).unwrap(),
        first
    );
    p.now += 3_600 + 302;
    let third = execute_keyed(&c, &[transfer()], "order-1", &mut p).unwrap();
    assert_ne!(third, first);
    assert_eq!(session_calls_used(&p), 3);
    assert_eq!(record(&p).calls_used, 3);
}

#[test]
fn a_keyed_intent_whose_answer_was_lost_is_one_transaction() {
    let (mut p, c) = registered(10);
    p.lose_answers = 1;
    let e = execute_keyed(&c, &[transfer()], "k", &mut p).unwrap_err();
    assert_eq!(e.code(), "TRANSACTION_PENDING");
    get_session_status(&c, &mut p).unwrap();
    execute_with_session(&c, &[transfer()], &mut p).unwrap();
    assert_eq!(
        session_calls_used(&p),
        2,
        "unkeyed calls are another intent"
    );
    for _ in 0..3 {
        let e = execute_keyed(&c, &[transfer()], "k", &mut p).unwrap_err();
        assert_eq!(e.code(), "ALREADY_EXECUTED", "{e}");
    }
    assert_eq!(session_calls_used(&p), 2);
    assert_eq!(record(&p).calls_used, 2);
}

#[test]
fn idempotency_keys_are_checked() {
    let (mut p, c) = registered(10);
    for bad in ["", "a\nb", &"k".repeat(257)] {
        let e = execute_keyed(&c, &[transfer()], bad, &mut p).unwrap_err();
        assert_eq!(e.code(), "INVALID_INPUT", "{bad:?}: {e}");
    }
    assert_eq!(p.count("prepare-typed-data"), 1, "only the registration");
    // Stored as a digest, never as given.
    execute_keyed(&c, &[transfer()], "secret-looking-key", &mut p).unwrap();
    let raw = String::from_utf8(p.store.get(&SessionRecord::key(WALLET)).unwrap().clone()).unwrap();
    assert!(!raw.contains("secret-looking-key"), "{raw}");
}

#[test]
fn a_backend_reusing_a_consumed_nonce_gets_no_false_already_executed() {
    let (mut p, c) = registered(10);
    execute_with_session(&c, &[transfer()], &mut p).unwrap();
    let used = *p.nonces_prepared.last().unwrap();
    p.reuse_nonce = Some(used);
    let e = execute_with_session(&c, &[other_call()], &mut p).unwrap_err();
    assert_eq!(e.code(), "BACKEND_ERROR", "{e}");
    assert_eq!(record(&p).calls_used, 1, "not counted");
    assert_eq!(session_calls_used(&p), 1);
    assert!(record(&p).pending.is_empty());
    // A nonce the store knows (a keyed intent's) is refused before signing.
    p.reuse_nonce = None;
    execute_keyed(&c, &[transfer()], "k", &mut p).unwrap();
    p.reuse_nonce = Some(*p.nonces_prepared.last().unwrap());
    let sent = p.count("execute-sponsored");
    let e = execute_with_session(&c, &[other_call()], &mut p).unwrap_err();
    assert_eq!(e.code(), "SESSION_INVALID_RESPONSE", "{e}");
    assert_eq!(p.count("execute-sponsored"), sent, "nothing sent");
    assert_eq!(record(&p).calls_used, session_calls_used(&p));
}

#[test]
fn a_node_calling_every_nonce_consumed_gets_no_false_already_executed() {
    // Not applied (503 before the account ran it), and a node that calls
    // every nonce consumed: the account's count does not show it.
    let (mut p, c) = registered(10);
    p.fail = Some(("execute-sponsored".into(), 503, "{}".into()));
    execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    p.fail = None;
    p.every_nonce_consumed = true;
    for _ in 0..2 {
        let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
        assert_eq!(e.code(), "TRANSACTION_PENDING", "{e}");
    }
    get_session_status(&c, &mut p).unwrap();
    assert_eq!(record(&p).calls_used, 0);
    assert_eq!(session_calls_used(&p), 0);
    assert_eq!(p.tx_counter, 1, "only the registration");
    // A refused send whose nonce reads consumed while the count did not move
    // is the backend's refusal, not ALREADY_EXECUTED.
    let (mut p, c) = registered(10);
    p.every_nonce_consumed = true;
    p.fail = Some((
        "execute-sponsored".into(),
        400,
        r#"{"message":"bad"}"#.into(),
    ));
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "BACKEND_ERROR", "{e}");
    // A lost answer that did land is told by the count, whatever the node
    // says of nonces.
    p.fail = None;
    p.lose_answers = 1;
    execute_with_session(&c, &[other_call()], &mut p).unwrap_err();
    let e = execute_with_session(&c, &[other_call()], &mut p).unwrap_err();
    assert_eq!(e.code(), "ALREADY_EXECUTED", "{e}");
    assert_eq!(record(&p).calls_used, 1);
    assert_eq!(session_calls_used(&p), 1);
}

#[test]
fn a_pending_whose_nonce_reads_consumed_without_a_count_settles_when_its_window_closes() {
    let (mut p, c) = registered(10);
    p.fail = Some(("execute-sponsored".into(), 503, "{}".into()));
    execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    p.fail = None;
    p.every_nonce_consumed = true;
    p.now = record(&p).pending[0].execute_before + 301;
    // Closed, and the count never moved: it did not land; signed anew.
    execute_with_session(&c, &[transfer()], &mut p).unwrap();
    assert_eq!(session_calls_used(&p), 1);
    assert_eq!(record(&p).calls_used, 1);
}

#[test]
fn a_store_rolled_back_after_a_send_signs_nothing_until_status() {
    let (mut p, c) = registered(10);
    let snapshot = p.store.clone();
    p.lose_answers = 1;
    execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    p.store = snapshot;
    let txs = p.tx_counter;
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "TRANSACTION_PENDING", "{e}");
    assert!(e.to_string().contains("behind the chain"), "{e}");
    assert_eq!(p.tx_counter, txs, "no second transfer");
    let e = execute_with_session(&c, &[other_call()], &mut p).unwrap_err();
    assert_eq!(e.code(), "TRANSACTION_PENDING", "{e}");
    // Status accepts the account's count; signing resumes.
    get_session_status(&c, &mut p).unwrap();
    assert_eq!(record(&p).calls_used, 1);
    execute_with_session(&c, &[other_call()], &mut p).unwrap();
    assert_eq!(session_calls_used(&p), 2);
}

#[test]
fn a_warm_session_notices_its_store_going_back_in_time() {
    let (mut p, c) = registered(10);
    let mut warm = WalletSession::new(c.clone());
    let none = IntentOptions::default();
    warm.execute_with_session(&[transfer()], &none, &mut p)
        .unwrap();
    let snapshot = p.store.clone();
    p.lose_answers = 1;
    warm.execute_with_session(&[other_call()], &none, &mut p)
        .unwrap_err();
    p.store = snapshot;
    let txs = p.tx_counter;
    let e = warm
        .execute_with_session(&[other_call()], &none, &mut p)
        .unwrap_err();
    assert_eq!(e.code(), "TRANSACTION_PENDING", "{e}");
    assert!(e.to_string().contains("behind the chain"), "{e}");
    assert_eq!(p.tx_counter, txs);
}

#[test]
fn warm_executes_read_the_account_once_per_load() {
    let (mut p, c) = registered(10);
    let mut warm = WalletSession::new(c.clone());
    let none = IntentOptions::default();
    warm.execute_with_session(&[transfer()], &none, &mut p)
        .unwrap();
    let rpc = p.count("rpc.example");
    for _ in 0..3 {
        warm.execute_with_session(&[other_call()], &none, &mut p)
            .unwrap();
    }
    assert_eq!(
        p.count("rpc.example"),
        rpc,
        "no round trip added to warm executes"
    );
    warm.lock();
    warm.execute_with_session(&[transfer()], &none, &mut p)
        .unwrap();
    assert_eq!(
        p.count("rpc.example"),
        rpc + 1,
        "checked again after a lock"
    );
}
