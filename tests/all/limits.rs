//! Size limits in the real host: a store value above the limit of a session
//! record and a call argument above the limit of one call are refused with
//! typed errors before they reach the component, so the instance (and every
//! warm session on it) survives.

use std::sync::Arc;
use std::time::Duration;

use chipi_session_e2e::{err, ok, runtime, transfer, Harness};
use chipi_session_guest::crypto::felt::{felt_to_hex, parse_felt};
use chipi_session_guest::protocol::record::{SessionRecord, MAX_RECORD_BYTES};
use chipi_session_host::runtime::{
    CreateOptions, PoolOptions, RegisterOptions, SessionContext, SessionError, MAX_ARGUMENT_BYTES,
    MAX_STORE_VALUE_BYTES,
};
use chipi_session_host::store::{RedisOptions, RedisStore, SessionStore, SqliteStore};

/// 300 MiB: what trapped the component in `cabi_realloc` before the limits.
const HUGE: usize = 300 * 1024 * 1024;

const CREATE: CreateOptions = CreateOptions {
    duration_seconds: None,
    replace_existing: false,
};

fn register() -> RegisterOptions {
    RegisterOptions {
        valid_until: None,
        max_calls: Some(50),
        allowed_entrypoints: vec![],
        idempotency_key: None,
    }
}

/// The store key of `ctx`'s wallet, as the component spells it.
fn record_key(ctx: &SessionContext) -> String {
    let wallet = parse_felt(&ctx.wallet.address).expect("wallet address");
    SessionRecord::key(&felt_to_hex(&wallet))
}

#[test]
fn the_host_limit_is_the_components_record_limit() {
    assert_eq!(MAX_STORE_VALUE_BYTES, MAX_RECORD_BYTES);
}

/// In a pool on one instance: wallet A is warm; wallet B's record is
/// replaced by `value`. B's operations fail with `STORE_ERROR` naming the
/// limit, and A goes on on the same instance (not instantiated again).
async fn oversized_record_is_a_store_error(store: Arc<dyn SessionStore>, value: Vec<u8>) {
    let h = Harness::start().await;
    let pool = runtime()
        .pool(
            h.imports_with_store(Arc::clone(&store)),
            PoolOptions {
                max_sessions: 8,
                idle_timeout: Duration::from_secs(60),
                instances: 1,
                ..PoolOptions::default()
            },
        )
        .expect("works");
    let (a, b) = (h.ctx_for_new_wallet(), h.ctx_for_new_wallet());
    for ctx in [&a, &b] {
        let s = pool.session(ctx).await.expect("works");
        ok(s.create_session(&CREATE).await);
        ok(s.register_session(&register()).await);
    }
    let warm = pool.session(&a).await.expect("works");
    ok(warm.execute_with_session(&[transfer(1)]).await);
    let instantiated = warm.last_instantiate_time();

    let key = record_key(&b);
    let current = store.get(&key).expect("works").expect("b's record");
    assert!(store
        .compare_and_swap(&key, Some(&current), Some(&value))
        .expect("works"));
    let cold = pool.session(&b).await.expect("works");
    for e in [
        err(cold.get_session_status().await),
        err(cold.execute_with_session(&[transfer(2)]).await),
    ] {
        assert!(matches!(e, SessionError::Store(_)), "{e:?}");
        assert!(e.message().contains("8 MiB limit"), "{e:?}");
        assert!(e.message().contains(&value.len().to_string()), "{e:?}");
    }
    // The warm session of the other wallet lives on, on the same instance.
    ok(warm.execute_with_session(&[transfer(3)]).await);
    assert_eq!(warm.last_instantiate_time(), instantiated);
    // A record back under the limit is read again.
    assert!(store
        .compare_and_swap(&key, Some(&value), Some(&current))
        .expect("works"));
    ok(cold.execute_with_session(&[transfer(4)]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_sqlite_values_are_store_errors_not_traps() {
    let dir = tempfile::tempdir().expect("works");
    let store = Arc::new(SqliteStore::open(dir.path().join("s.sqlite")).expect("works"));
    oversized_record_is_a_store_error(store.clone(), vec![b'{'; HUGE]).await;
    oversized_record_is_a_store_error(store, vec![b'{'; MAX_STORE_VALUE_BYTES + 1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_redis_values_are_store_errors_not_traps() {
    let url = std::env::var("CHIPI_TEST_REDIS_URL").expect(
        "CHIPI_TEST_REDIS_URL is not set: run scripts/test.sh, or export the URL \
         `scripts/redis.sh start DIR` prints",
    );
    let store = RedisStore::with_options(
        &url,
        RedisOptions {
            prefix: format!("test/limits/{}/", std::process::id()),
            ..RedisOptions::default()
        },
    )
    .expect("works");
    oversized_record_is_a_store_error(Arc::new(store), vec![b'{'; HUGE]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_arguments_are_refused_before_the_component() {
    let h = Harness::start().await;
    let session = h.open(h.ctx()).await;
    ok(session.create_session(&CREATE).await);
    ok(session.register_session(&register()).await);
    ok(session.execute_with_session(&[transfer(1)]).await);
    let instantiated = session.last_instantiate_time();

    let mut one_string = transfer(2);
    one_string.calldata[1] = "1".repeat(HUGE);
    let mut long_list = transfer(3);
    long_list.calldata = vec!["0x1".into(); (2 << 20) / 3];
    for calls in [vec![one_string], vec![long_list]] {
        let e = err(session.execute_with_session(&calls).await);
        assert!(matches!(e, SessionError::InvalidInput(_)), "{e:?}");
        assert!(e.message().contains("1 MiB limit"), "{e:?}");
    }
    let e = err(session.get_spending_policy(&"0".repeat(HUGE)).await);
    assert!(matches!(e, SessionError::InvalidInput(_)), "{e:?}");
    let mut wide = register();
    wide.allowed_entrypoints = vec!["x".repeat(MAX_ARGUMENT_BYTES)];
    let e = err(session.register_session(&wide).await);
    assert!(matches!(e, SessionError::InvalidInput(_)), "{e:?}");
    // The same instance serves the next call, warm.
    ok(session.execute_with_session(&[transfer(4)]).await);
    assert_eq!(session.last_instantiate_time(), instantiated);

    // The largest valid call (64 calls, 4,096 calldata felts of the longest
    // text) is far below the limit and executes.
    let mut widest = transfer(5);
    widest.calldata = vec![format!("0x7{}", "f".repeat(62)); 64];
    ok(session.execute_with_session(&vec![widest; 64]).await);

    // A context above the limit never reaches the component either.
    let mut huge_key = h.ctx();
    huge_key.encrypt_key = "7".repeat(HUGE).into();
    let opened = runtime()
        .open_session(h.imports_with_token(&h.bearer), huge_key)
        .await;
    let Err(refused) = opened else {
        panic!("a 300 MiB encrypt key must be refused")
    };
    let message = refused.to_string();
    assert!(message.contains("INVALID_INPUT"), "{message}");
}
