//! The Redis session store across server restarts and crashes: with the
//! recommended persistence (`appendonly yes`, `appendfsync always`) a
//! stopped or killed server comes back with every session key and every
//! count; while it is down every operation fails with a typed `STORE_ERROR`
//! and nothing is signed or sent; a server that lost its data is reported
//! as "no session", never a crash.
//!
//! Each test runs its own `redis-server` ([`RedisServer`]) and sandbox.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chipi_session_e2e::redis_server::RedisServer;
use chipi_session_e2e::{err, ok, runtime, transfer, Harness};
use chipi_session_guest::crypto::felt::{felt_to_hex, parse_felt};
use chipi_session_guest::protocol::record::{PendingOperation, SessionRecord};
use chipi_session_host::runtime::{
    CreateOptions, RegisterOptions, SessionError, SessionKeyData, SessionState, WalletSession,
};
use chipi_session_host::store::{RedisOptions, RedisStore, SessionStore};
use chipi_session_sandbox::{Faults, TxSigner};

const CREATE: CreateOptions = CreateOptions {
    duration_seconds: None,
    replace_existing: false,
};

const MAX_CALLS: u32 = 10;

fn register(max_calls: u32) -> RegisterOptions {
    RegisterOptions {
        valid_until: None,
        max_calls: Some(max_calls),
        allowed_entrypoints: vec!["transfer".into()],
        idempotency_key: None,
    }
}

/// A store on `redis` with the default retries (3 attempts, 100 and 200 ms
/// apart) and short time limits: a refused connection fails at once, so an
/// operation on a stopped server gives up in well under a second.
fn store_on(redis: &RedisServer) -> Arc<RedisStore> {
    Arc::new(redis.store(RedisOptions {
        connect_timeout: Duration::from_millis(500),
        io_timeout: Duration::from_secs(1),
        ..RedisOptions::default()
    }))
}

/// Warnings the component reported, in order.
type Warnings = Arc<Mutex<Vec<String>>>;

/// A warm session (its own instance) on the Redis store, its warnings kept.
async fn open(h: &Harness, store: &Arc<RedisStore>) -> (WalletSession, Warnings) {
    let warnings = Warnings::default();
    let sink = Arc::clone(&warnings);
    let imports = h
        .imports_with_store(Arc::clone(store) as Arc<dyn SessionStore>)
        .with_warning_sink(move |w| {
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(w.to_owned());
        });
    let session = runtime()
        .open_session(imports, h.ctx())
        .await
        .expect("open a wallet session");
    (session, warnings)
}

/// The wallet's record as the component stored it in Redis.
fn stored_record(h: &Harness, store: &RedisStore) -> Option<SessionRecord> {
    let wallet = felt_to_hex(&parse_felt(&h.wallet.address).expect("wallet address"));
    store
        .get(&SessionRecord::key(&wallet))
        .expect("read the record from Redis")
        .map(|raw| SessionRecord::decode(&raw).expect("a readable record"))
}

/// Executes in flight in a record.
fn pending_executes(record: &SessionRecord) -> usize {
    record
        .pending
        .iter()
        .filter(|p| p.operation == PendingOperation::Execute)
        .count()
}

/// Session-signed transactions the sandbox executed, with their signers.
fn session_signers(h: &Harness) -> Vec<String> {
    h.sandbox
        .transactions()
        .into_iter()
        .filter_map(|t| match t.signer {
            TxSigner::Session(key) => Some(key),
            TxSigner::Owner => None,
        })
        .collect()
}

fn same_felt(a: &str, b: &str) -> bool {
    parse_felt(a).ok() == parse_felt(b).ok()
}

/// Requests of the sandbox that sign or send something.
fn signing_requests(h: &Harness) -> (usize, usize) {
    (
        h.requests_to("prepare-typed-data"),
        h.requests_to("execute-sponsored-transaction"),
    )
}

/// `e` is the typed error of a store that cannot be reached, naming the
/// server but not its password.
fn assert_store_unavailable(e: &SessionError, redis: &RedisServer) {
    assert_eq!(e.code(), "STORE_ERROR", "{e:?}");
    let message = e.message();
    assert!(message.contains("unavailable"), "{message}");
    assert!(
        message.contains(&format!("127.0.0.1:{}", redis.port())),
        "{message}"
    );
    let password = redis
        .url()
        .split(['@', ':'])
        .nth(2)
        .map(str::to_owned)
        .expect("password in the URL");
    assert!(!message.contains(&password), "{message}");
}

/// A warm session with a registered session (`MAX_CALLS`) and `executes`
/// transfers done (amounts 1..=executes).
async fn active_session_with_executes(
    h: &Harness,
    store: &Arc<RedisStore>,
    executes: u64,
) -> (WalletSession, Warnings, SessionKeyData) {
    let (session, warnings) = open(h, store).await;
    let key = ok(session.create_session(&CREATE).await);
    ok(session.register_session(&register(MAX_CALLS)).await);
    for amount in 1..=executes {
        ok(session.execute_with_session(&[transfer(amount)]).await);
    }
    assert_eq!(
        session_signers(h).len(),
        usize::try_from(executes).expect("a small count")
    );
    (session, warnings, key)
}

/// After a restart: the stored session is the one created before, its
/// record counts `used` calls, the chain agrees, and the same key signs
/// executes up to the limit, not one more.
async fn continues_to_the_limit(
    h: &Harness,
    store: &RedisStore,
    session: &WalletSession,
    key: &SessionKeyData,
    used: u32,
) {
    let status = ok(session.get_session_status().await);
    assert_eq!(status.state, SessionState::Active, "{status:?}");
    let stored = status.session.expect("a stored session");
    assert_eq!(
        stored.public_key, key.public_key,
        "the session key survived"
    );
    assert_eq!(stored.encrypted_private_key, key.encrypted_private_key);
    let on_chain = status.on_chain.expect("registered on chain");
    assert_eq!(on_chain.calls_used, used);
    assert_eq!(status.remaining_calls, Some(MAX_CALLS - used));
    let record = stored_record(h, store).expect("the record is in Redis");
    assert_eq!(record.calls_used, used, "{record:?}");
    assert_eq!(pending_executes(&record), 0, "{record:?}");

    for amount in u64::from(used) + 1..=u64::from(MAX_CALLS) {
        ok(session.execute_with_session(&[transfer(amount)]).await);
    }
    let (prepares, sends) = signing_requests(h);
    let e = err(session.execute_with_session(&[transfer(1_000)]).await);
    assert!(
        matches!(e, SessionError::SessionMaxCallsExceeded(_)),
        "{e:?}"
    );
    assert_eq!(signing_requests(h), (prepares, sends), "nothing signed");

    let signers = session_signers(h);
    assert_eq!(
        signers.len(),
        usize::try_from(MAX_CALLS).expect("a small count")
    );
    assert!(
        signers.iter().all(|s| same_felt(s, &key.public_key)),
        "every execute signed by the one session key: {signers:?}"
    );
    let status = ok(session.get_session_status().await);
    assert_eq!(status.on_chain.map(|d| d.calls_used), Some(MAX_CALLS));
    assert_eq!(status.remaining_calls, Some(0));
    let record = stored_record(h, store).expect("the record is in Redis");
    assert_eq!(record.calls_used, MAX_CALLS, "{record:?}");
    assert_eq!(record.public_key, key.public_key);
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_restart_keeps_the_session() {
    let h = Harness::start().await;
    let mut redis = RedisServer::start();
    let store = store_on(&redis);
    let (session, _warnings, key) = active_session_with_executes(&h, &store, 2).await;

    redis.stop_gracefully();
    let before = signing_requests(&h);
    let e = err(session.execute_with_session(&[transfer(3)]).await);
    assert_store_unavailable(&e, &redis);
    let e = err(session.get_session_status().await);
    assert_store_unavailable(&e, &redis);
    let e = err(session
        .create_session(&CreateOptions {
            duration_seconds: None,
            replace_existing: true,
        })
        .await);
    assert_store_unavailable(&e, &redis);
    assert_eq!(
        signing_requests(&h),
        before,
        "nothing signed or sent while the store is down"
    );
    assert_eq!(session_signers(&h).len(), 2);

    redis.start_again();
    continues_to_the_limit(&h, &store, &session, &key, 2).await;
    session.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_with_appendfsync_always_loses_nothing() {
    let h = Harness::start().await;
    let mut redis = RedisServer::start();
    let store = store_on(&redis);
    let (session, _warnings, key) = active_session_with_executes(&h, &store, 2).await;
    // Right after the second execute returned: its pending mark (written
    // before the send) is the last write Redis acknowledged.
    let hash = ok(session.execute_with_session(&[transfer(3)]).await);
    redis.kill();

    let before = signing_requests(&h);
    let e = err(session.execute_with_session(&[transfer(4)]).await);
    assert_store_unavailable(&e, &redis);
    assert_eq!(signing_requests(&h), before, "nothing signed while down");

    redis.start_again();
    // The acknowledged write survived the crash: the third execute is in
    // the record (in flight, so it counts against the limit).
    let record = stored_record(&h, &store).expect("the record survived the crash");
    assert_eq!(record.public_key, key.public_key);
    assert_eq!(record.encrypted_private_key, key.encrypted_private_key);
    // Two landed (the second's landing folded into the third's mark) and
    // the third in flight: it counts against the limit until reconciled.
    assert_eq!(record.calls_used, 2, "{record:?}");
    assert_eq!(record.pending.len(), 1, "{record:?}");
    assert_eq!(pending_executes(&record), 1, "{record:?}");
    assert!(
        h.sandbox
            .transactions()
            .iter()
            .any(|t| same_felt(&t.hash, &hash)),
        "the third execute landed"
    );
    continues_to_the_limit(&h, &store, &session, &key, 3).await;
    session.close().await.expect("close");
}

/// A server that comes back without its data (a deployment without
/// persistence, or with its data volume lost) has forgotten the session:
/// the component says there is no session (typed errors, no trap) and
/// `create_session` starts over with a new key. The old key stays
/// registered on chain until it expires, but nobody holds it any more (its
/// only copy was the ciphertext in Redis): every count it carried is lost.
/// This is why the Redis store requires persistence (`appendonly yes`).
#[tokio::test(flavor = "multi_thread")]
async fn server_that_lost_its_data() {
    let h = Harness::start().await;
    let mut redis = RedisServer::start();
    let store = store_on(&redis);
    let (session, _warnings, old) = active_session_with_executes(&h, &store, 2).await;

    redis.wipe_and_start();
    assert!(stored_record(&h, &store).is_none(), "the data is gone");
    let before = signing_requests(&h);
    let e = err(session.execute_with_session(&[transfer(3)]).await);
    assert!(matches!(e, SessionError::SessionNotRegistered(_)), "{e:?}");
    assert_eq!(e.code(), "SESSION_NOT_REGISTERED");
    let status = ok(session.get_session_status().await);
    assert_eq!(status.state, SessionState::None, "{status:?}");
    assert!(status.session.is_none() && status.on_chain.is_none());
    assert_eq!(signing_requests(&h), before, "nothing signed");
    // The chain still has the old key registered, with its two calls.
    let old_on_chain = h
        .sandbox
        .session(&h.wallet.address, &old.public_key)
        .expect("the old key is still registered on chain");
    assert_eq!(old_on_chain.calls_used, 2);

    // Starting over works, with a new key.
    let new = ok(session.create_session(&CREATE).await);
    assert_ne!(new.public_key, old.public_key);
    ok(session.register_session(&register(MAX_CALLS)).await);
    ok(session.execute_with_session(&[transfer(3)]).await);
    let signers = session_signers(&h);
    assert_eq!(signers.len(), 3);
    assert!(same_felt(&signers[2], &new.public_key), "{signers:?}");
    let status = ok(session.get_session_status().await);
    assert_eq!(status.state, SessionState::Active);
    assert_eq!(status.remaining_calls, Some(MAX_CALLS - 1));
    session.close().await.expect("close");
}

/// Redis dies after the execute's pending mark was written and while the
/// backend holds the answer of a transaction it already applied: the
/// landing cannot be written (the warm session's `lock` reports it as a
/// warning), and once Redis is back the next operation learns the outcome
/// from the account's nonce: counted once, no second transaction.
#[tokio::test(flavor = "multi_thread")]
async fn write_answer_lost_mid_execute() {
    let h = Harness::start().await;
    let mut redis = RedisServer::start();
    let store = store_on(&redis);
    let (session, warnings, key) = active_session_with_executes(&h, &store, 1).await;

    let mut faults = Faults {
        delay_after_apply_ms: Some(1_500),
        endpoint: Some("execute-sponsored-transaction".into()),
        ..Faults::default()
    };
    faults.remaining = Some(1);
    h.sandbox.set_faults(faults);
    let in_flight = session.clone();
    let task = tokio::spawn(async move { in_flight.execute_with_session(&[transfer(2)]).await });
    // Wait until the sandbox applied the transaction (its answer is held).
    let deadline = Instant::now() + Duration::from_secs(10);
    while session_signers(&h).len() < 2 {
        assert!(Instant::now() < deadline, "the execute never landed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    redis.kill();
    let hash = ok(task.await.expect("execute task"));
    assert_eq!(session_signers(&h).len(), 2);

    // The landing is written on lock: Redis is down, so it is reported.
    session.lock().await.expect("lock");
    let seen = warnings
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert!(
        seen.iter()
            .any(|w| w.contains(&hash) && w.contains("could not be updated")),
        "{seen:?}"
    );
    let e = err(session.get_session_status().await);
    assert_store_unavailable(&e, &redis);

    redis.start_again();
    // What Redis kept: the second execute still marked in flight.
    let record = stored_record(&h, &store).expect("the record survived");
    assert_eq!(record.calls_used, 1, "{record:?}");
    assert_eq!(pending_executes(&record), 1, "{record:?}");

    // A fresh instance retries the same request: the outcome comes from the
    // chain, nothing is signed or sent again.
    let (other, _) = open(&h, &store).await;
    let before = signing_requests(&h);
    // The pending mark holds the signed message hash, not the transaction
    // hash: the retry learns that it landed (the nonce is consumed) and says so.
    let e = err(other.execute_with_session(&[transfer(2)]).await);
    assert!(matches!(e, SessionError::AlreadyExecuted(_)), "{e:?}");
    assert_eq!(signing_requests(&h), before, "nothing signed or sent again");
    assert_eq!(session_signers(&h).len(), 2, "never a second transaction");
    let record = stored_record(&h, &store).expect("record");
    assert_eq!(record.calls_used, 2, "counted exactly once: {record:?}");
    assert_eq!(pending_executes(&record), 0, "{record:?}");
    other.close().await.expect("close");

    // The first session goes on with the same key, counts exact.
    continues_to_the_limit(&h, &store, &session, &key, 2).await;
    session.close().await.expect("close");
}

/// After a restart every pooled connection is dead. The first operations
/// on the new server must not fail on them: the first broken one drops
/// the idle pool, and a compare-and-swap that went to a dead connection is
/// resolved by reading back (it never ran) and sent again.
#[test]
fn a_restart_does_not_fail_operations_on_stale_pooled_connections() {
    let mut redis = RedisServer::start();
    let store = Arc::new(redis.store(RedisOptions {
        max_idle_connections: 8,
        ..RedisOptions::default()
    }));
    assert!(store.compare_and_swap("k", None, Some(b"0")).unwrap());
    // Fill the pool: 8 threads reading at once each pool their connection.
    let barrier = Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..50 {
                    assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"0"[..]));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    redis.kill();
    redis.start_again();
    // Each of these would have met a dead pooled connection first.
    assert!(store.compare_and_swap("k", Some(b"0"), Some(b"1")).unwrap());
    assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"1"[..]));
    redis.stop_gracefully();
    redis.start_again();
    assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"1"[..]));
    assert!(store.compare_and_swap("k", Some(b"1"), Some(b"2")).unwrap());
}
