//! At most one transaction per intent, whatever the backend does with the answer.

use super::*;

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
    // once more are answered as the retry they may be (never signed twice);
    // after that answer they are a new intent.
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "ALREADY_EXECUTED", "{e}");
    execute_with_session(&c, &[transfer()], &mut p).unwrap();
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
    // caller was never told. The retry is answered, nothing is signed.
    let txs = p.tx_counter;
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "ALREADY_EXECUTED", "{e}");
    assert_eq!(p.tx_counter, txs, "no second transaction");
    assert_eq!(record(&p).calls_used, 1);
    // Told now: the same calls again are a new intent, and are signed.
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
