//! Pinned chain, bounded inputs, retries and failover.

use super::*;

fn active(p: &mut FakePorts, c: &SessionContext) {
    create_session(c, &CreateOptions::default(), p).unwrap();
    register_session(c, &register_opts(10), p).unwrap();
}

#[test]
fn the_chain_is_pinned_at_creation() {
    let mut p = FakePorts::default();
    let c = ctx();
    active(&mut p, &c);
    // The node and the backend move to another chain: nothing is signed there.
    p.chain = "SN_MAIN".into();
    let sent = p.count("execute-sponsored");
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "SESSION_INVALID_RESPONSE", "{e}");
    assert_eq!(p.count("execute-sponsored"), sent);
    // A configuration naming another chain is refused before the network.
    let mut other = ctx();
    other.config.chain_id = Some("SN_MAIN".into());
    let requests = p.requests.len();
    let e = execute_with_session(&other, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "INVALID_INPUT", "{e}");
    assert_eq!(p.requests.len(), requests);
    p.chain = "SN_SEPOLIA".into();
    execute_with_session(&c, &[transfer()], &mut p).unwrap();
}

#[test]
fn register_valid_until_is_bounded() {
    let mut p = FakePorts::default();
    let c = ctx();
    create_session(&c, &CreateOptions::default(), &mut p).unwrap();
    let far = RegisterOptions {
        valid_until: Some(p.now + 367 * 24 * 3600),
        max_calls: Some(1),
        allowed_entrypoints: vec![],
        idempotency_key: None,
    };
    assert_eq!(
        register_session(&c, &far, &mut p).unwrap_err().code(),
        "INVALID_INPUT"
    );
    let past = RegisterOptions {
        valid_until: Some(p.now - 1),
        ..far
    };
    assert_eq!(
        register_session(&c, &past, &mut p).unwrap_err().code(),
        "SESSION_EXPIRED"
    );
    assert_eq!(p.count("transactions"), 0);
}

#[test]
fn replace_never_orphans_a_registered_key() {
    let mut p = FakePorts::default();
    let c = ctx();
    active(&mut p, &c);
    let replace = CreateOptions {
        duration_seconds: None,
        replace_existing: true,
    };
    let e = create_session(&c, &replace, &mut p).unwrap_err();
    assert_eq!(e.code(), "INVALID_INPUT");
    assert!(e.to_string().contains("revoke it first"), "{e}");
    revoke_session(&c, &mut p).unwrap();
    create_session(&c, &replace, &mut p).unwrap();
}

#[test]
fn calls_whitelists_and_calldata_are_bounded() {
    let mut p = FakePorts::default();
    let c = ctx();
    active(&mut p, &c);
    let many = vec![transfer(); crate::protocol::calls::MAX_CALLS + 1];
    assert_eq!(
        execute_with_session(&c, &many, &mut p).unwrap_err().code(),
        "INVALID_INPUT"
    );
    assert_eq!(
        execute_with_session(&c, &[], &mut p).unwrap_err().code(),
        "INVALID_INPUT"
    );
    let mut long = transfer();
    long.calldata = vec!["1".into(); crate::protocol::calls::MAX_CALLDATA_LEN + 1];
    assert_eq!(
        execute_with_session(&c, &[long], &mut p)
            .unwrap_err()
            .code(),
        "INVALID_INPUT"
    );
    let wide = RegisterOptions {
        valid_until: None,
        max_calls: Some(1),
        allowed_entrypoints: (0..300).map(|i| format!("f{i}")).collect(),
        idempotency_key: None,
    };
    assert_eq!(
        register_session(&c, &wide, &mut p).unwrap_err().code(),
        "INVALID_INPUT"
    );
}

#[test]
fn idempotent_reads_are_retried_honouring_retry_after() {
    let mut p = FakePorts::default();
    let c = ctx();
    active(&mut p, &c);
    p.fail = Some(("prepare-typed-data".into(), 503, "{}".into()));
    p.fail_times = Some(2);
    p.retry_after = Some("2".into());
    execute_with_session(&c, &[transfer()], &mut p).unwrap();
    assert_eq!(p.slept_ms, 4_000, "two waits of Retry-After: 2");
    // A 4xx is final: no retry.
    p.fail = Some(("prepare-typed-data".into(), 400, "{}".into()));
    p.fail_times = None;
    let prepares = p.count("prepare-typed-data");
    execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(p.count("prepare-typed-data"), prepares + 1);
    // The send itself is never retried blindly.
    p.fail = Some(("execute-sponsored".into(), 503, "{}".into()));
    let sends = p.count("execute-sponsored");
    execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(p.count("execute-sponsored"), sends + 1);
}

#[test]
fn rpc_node_errors_fail_over_to_the_next_node() {
    let mut p = FakePorts::default();
    let mut c = ctx();
    c.config.rpc_urls = vec!["https://rpc1.example".into(), "https://rpc2.example".into()];
    p.fail = Some((
        "rpc1".into(),
        200,
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"internal"}}"#.into(),
    ));
    create_session(&c, &CreateOptions::default(), &mut p).unwrap();
    assert_eq!(p.count("rpc1"), 1);
    assert_eq!(p.count("rpc2"), 1);
    register_session(&c, &register_opts(5), &mut p).unwrap();
    // Every node failing gives the last error, typed (for a registered session;
    // a created one is reported `created` when the chain cannot be read).
    p.fail = Some(("rpc".into(), 502, "bad gateway".into()));
    let e = get_session_status(&c, &mut p).unwrap_err();
    assert_eq!(e.code(), "BACKEND_ERROR");
}

#[test]
fn duplicate_keys_in_answers_are_refused() {
    let mut p = FakePorts::default();
    let c = ctx();
    active(&mut p, &c);
    p.fail = Some((
        "execute-sponsored".into(),
        200,
        r#"{"transactionHash":"0x1","transactionHash":"0x2"}"#.into(),
    ));
    // Nothing definite came back: pending, never a guess between the two.
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "TRANSACTION_PENDING");
}

#[test]
fn calldata_of_all_calls_together_is_bounded() {
    use crate::protocol::calls::MAX_TOTAL_CALLDATA_LEN;
    let mut p = FakePorts::default();
    let c = ctx();
    active(&mut p, &c);
    let half = MAX_TOTAL_CALLDATA_LEN / 2;
    let mut call = transfer();
    call.calldata = vec!["1".into(); half];
    let mut one_more = call.clone();
    one_more.calldata.push("1".into());
    let e = execute_with_session(&c, &[call.clone(), one_more], &mut p).unwrap_err();
    assert_eq!(e.code(), "INVALID_INPUT", "{e}");
    assert!(e.to_string().contains("4096"), "{e}");
    execute_with_session(&c, &[call.clone(), call], &mut p).unwrap();
}

/// The largest record the component can write stays under
/// [`MAX_RECORD_BYTES`], the most a host's store import hands back: every
/// pending transaction at the largest signed body, every tombstone at its
/// longest, the longest whitelist.
#[test]
fn the_largest_record_fits_the_store_limit() {
    use crate::ops::pending::{MAX_PENDING, MAX_SETTLED};
    use crate::protocol::calls::{MAX_CALLS, MAX_TOTAL_CALLDATA_LEN};
    use crate::protocol::preflight::MAX_WHITELIST_LEN;
    use crate::protocol::record::{SettledIntent, SettledOutcome, MAX_RECORD_BYTES};
    let mut p = FakePorts::default();
    let c = ctx();
    active(&mut p, &c);
    let base = record(&p).encode().unwrap().len();
    // The longest felt text (0x + 63 hex digits, below the field prime).
    let longest = format!("0x7{}", "f".repeat(62));
    let mut call = transfer();
    call.calldata = vec![longest.clone(); MAX_TOTAL_CALLDATA_LEN / MAX_CALLS];
    p.lose_answers = 1;
    let e = execute_with_session(&c, &vec![call; MAX_CALLS], &mut p).unwrap_err();
    assert_eq!(e.code(), "TRANSACTION_PENDING", "{e}");
    let with_pending = record(&p);
    assert_eq!(with_pending.pending.len(), 1);
    let per_pending = with_pending.encode().unwrap().len() - base;
    let tombstone = SettledIntent {
        calls_digest: longest.clone(),
        idempotency_key: Some(longest.clone()),
        nonce: longest.clone(),
        outcome: SettledOutcome::Landed {
            transaction_hash: Some(longest.clone()),
        },
        settled_at: u64::MAX,
        keep_until: u64::MAX,
    };
    let per_tombstone = serde_json::to_vec(&tombstone).unwrap().len() + 1;
    let whitelist = MAX_WHITELIST_LEN * (longest.len() + 3);
    let largest = base + MAX_PENDING * per_pending + MAX_SETTLED * per_tombstone + whitelist;
    eprintln!(
        "largest record: {largest} bytes ({per_pending} per pending transaction, \
         {per_tombstone} per tombstone)"
    );
    assert!(
        largest < MAX_RECORD_BYTES,
        "largest record {largest} bytes ({per_pending} per pending transaction, \
         {per_tombstone} per tombstone) above {MAX_RECORD_BYTES}"
    );
    // Nothing above the limit is ever written: the encoding refuses it.
    let mut huge = with_pending;
    huge.pending[0].body = "x".repeat(MAX_RECORD_BYTES);
    let e = huge.encode().unwrap_err();
    assert_eq!(e.code(), "STORE_ERROR", "{e}");
    assert!(e.to_string().contains("8 MiB"), "{e}");
}
