//! Warm sessions in the real host: one session reused across calls, the
//! pool under concurrent use of many wallets, eviction, and contexts that
//! must not share an unlocked key.

use std::sync::Arc;
use std::time::Duration;

use chipi_session_e2e::{err, ok, runtime, transfer, Harness, PIN};
use chipi_session_guest::crypto::felt::parse_felt;
use chipi_session_host::runtime::{
    CreateOptions, ExecutionStatus, PoolOptions, RegisterOptions, SessionContext, SessionError,
    SessionPool, SessionState,
};
use chipi_session_sandbox::TxSigner;

const CREATE: CreateOptions = CreateOptions {
    duration_seconds: None,
    replace_existing: false,
};

fn register(max_calls: u32) -> RegisterOptions {
    RegisterOptions {
        valid_until: None,
        max_calls: Some(max_calls),
        allowed_entrypoints: vec!["transfer".into()],
        idempotency_key: None,
    }
}

/// Session-signed transactions the sandbox accepted for `wallet`.
fn executes_of(h: &Harness, wallet: &str) -> usize {
    let wallet = parse_felt(wallet).ok();
    h.sandbox
        .transactions()
        .iter()
        .filter(|t| {
            parse_felt(&t.wallet).ok() == wallet && matches!(t.signer, TxSigner::Session { .. })
        })
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_warm_session_runs_the_lifecycle_and_waits_for_receipts() {
    let h = Harness::start().await;
    let session = h.open(h.ctx()).await;
    ok(session.create_session(&CREATE).await);
    let tx = ok(session.register_session(&register(10)).await);
    let receipt = ok(session
        .wait_for_transaction(&tx, Duration::from_secs(5))
        .await);
    assert_eq!(receipt.execution_status, ExecutionStatus::Succeeded);
    assert_eq!(
        parse_felt(&receipt.transaction_hash).ok(),
        parse_felt(&tx).ok()
    );

    for amount in 1..=3 {
        let tx = ok(session.execute_with_session(&[transfer(amount)]).await);
        let receipt = ok(session
            .wait_for_transaction(&tx, Duration::from_secs(5))
            .await);
        assert!(receipt.block_number.is_some());
    }
    // Locked: the next execute unlocks again and works.
    session.lock().await.unwrap();
    ok(session.execute_with_session(&[transfer(4)]).await);

    let status = ok(session.get_session_status().await);
    assert_eq!(status.state, SessionState::Active);
    assert_eq!(status.remaining_calls, Some(6));
    assert_eq!(executes_of(&h, &h.wallet.address), 4);

    // An unknown hash is still pending when the wait runs out.
    let e = err(session
        .wait_for_transaction("0x1234", Duration::from_millis(300))
        .await);
    assert!(matches!(e, SessionError::TransactionPending(_)), "{e:?}");

    ok(session.revoke_session().await);
    let e = err(session.execute_with_session(&[transfer(5)]).await);
    assert!(e.code() == "SESSION_REVOKED", "{e:?}");
}

/// Register `ctx`'s wallet with `max_calls` calls through a fresh session.
async fn registered(h: &Harness, ctx: &SessionContext, max_calls: u32) {
    let session = h.open(ctx.clone()).await;
    ok(session.create_session(&CREATE).await);
    ok(session.register_session(&register(max_calls)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pool_under_concurrent_use_of_many_wallets_loses_no_update() {
    let h = Harness::start().await;
    let wallets: Vec<SessionContext> = (0..6).map(|_| h.ctx_for_new_wallet()).collect();
    for ctx in &wallets {
        registered(&h, ctx, 40).await;
    }
    // Fewer sessions than wallets: sessions are evicted and reopened while
    // the executes run.
    let pool = runtime()
        .pool(
            h.imports_with_token(&h.bearer),
            PoolOptions {
                max_sessions: 4,
                idle_timeout: Duration::from_secs(60),
                instances: 3,
                ..PoolOptions::default()
            },
        )
        .unwrap();
    let wallets = Arc::new(wallets);
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..12u64 {
        let (pool, wallets) = (pool.clone(), Arc::clone(&wallets));
        tasks.spawn(async move {
            for round in 0..5u64 {
                let ctx = &wallets[(task % 6) as usize];
                let session = pool.session(ctx).await.unwrap();
                let amount = 1 + task * 100 + round;
                ok(session.execute_with_session(&[transfer(amount)]).await);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert!(pool.len() <= 4, "bounded: {}", pool.len());
    for ctx in wallets.iter() {
        // Every wallet got 2 tasks x 5 executes, each counted once locally
        // and on chain.
        assert_eq!(executes_of(&h, &ctx.wallet.address), 10);
        let status = ok(h.handle().get_session_status(ctx).await);
        assert_eq!(status.remaining_calls, Some(30), "{status:?}");
        assert_eq!(status.on_chain.map(|d| d.calls_used), Some(10));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pool_evicts_least_recently_used_and_idle_sessions() {
    let h = Harness::start().await;
    let wallets: Vec<SessionContext> = (0..3).map(|_| h.ctx_for_new_wallet()).collect();
    for ctx in &wallets {
        registered(&h, ctx, 10).await;
    }
    let pool = runtime()
        .pool(
            h.imports_with_token(&h.bearer),
            PoolOptions {
                max_sessions: 2,
                // Long enough that no session goes idle while the others
                // unlock their keys on a loaded machine (Argon2id).
                idle_timeout: Duration::from_secs(3),
                instances: 1,
                ..PoolOptions::default()
            },
        )
        .unwrap();
    let address = |i: usize| wallets[i].wallet.address.as_str();
    for ctx in &wallets[..2] {
        ok(pool
            .session(ctx)
            .await
            .unwrap()
            .execute_with_session(&[transfer(1)])
            .await);
    }
    assert_eq!(pool.len(), 2);
    // Touch wallet 0, then open wallet 2: wallet 1 is the least recently used.
    pool.session(&wallets[0]).await.unwrap();
    ok(pool
        .session(&wallets[2])
        .await
        .unwrap()
        .execute_with_session(&[transfer(1)])
        .await);
    assert!(pool.contains(address(0)) && pool.contains(address(2)));
    assert!(!pool.contains(address(1)));
    // An evicted wallet comes back as a new (locked) session and works.
    ok(pool
        .session(&wallets[1])
        .await
        .unwrap()
        .execute_with_session(&[transfer(2)])
        .await);
    assert_eq!(executes_of(&h, address(1)), 2);

    // Idle sessions go by themselves (background sweep).
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(pool.is_empty(), "{} left", pool.len());
    assert!(pool.evict(address(0)).await.eq(&false));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_pin_never_uses_nor_evicts_a_pooled_unlocked_key() {
    let h = Harness::start().await;
    registered(&h, &h.ctx(), 20).await;
    let pool: SessionPool = runtime()
        .pool(
            h.imports_with_token(&h.bearer),
            PoolOptions {
                unlock_attempts: 3,
                unlock_window: Duration::from_secs(60),
                ..PoolOptions::default()
            },
        )
        .unwrap();
    let warm = pool.session(&h.ctx()).await.unwrap();
    ok(warm.execute_with_session(&[transfer(1)]).await);
    assert!(warm.is_proven());
    // Wrong PINs, spelled as the same wallet in other ways: each gets a
    // session of its own and fails; the pooled one is neither used nor
    // replaced.
    let value = parse_felt(&h.wallet.address).unwrap();
    let spellings = [
        h.wallet.address.clone(),
        format!("0x{}", hex::encode(value.to_bytes_be()).to_uppercase()),
        value.to_string(),
    ];
    for (attempt, address) in spellings.iter().enumerate() {
        let mut wrong = h.ctx_with_pin(&format!("00000{attempt}"));
        wrong.wallet.address = address.clone();
        let session = pool.session(&wrong).await.unwrap();
        let e = err(session.execute_with_session(&[transfer(2)]).await);
        assert!(e.code() == "SESSION_DECRYPTION_FAILED", "{e:?}");
        assert!(!e.message().contains("too many"), "{e:?}");
        assert_eq!(pool.len(), 1, "{address}");
    }
    // Past the limit, unproven sessions of the wallet are refused without
    // trying the PIN; the right one too, when it did not prove its key yet.
    for pin in ["999999", PIN] {
        let mut other = h.ctx_with_pin(pin);
        other.config.timeout_ms = Some(30_000); // another context
        let e = err(pool
            .session(&other)
            .await
            .unwrap()
            .execute_with_session(&[transfer(3)])
            .await);
        assert!(e.message().contains("too many failed unlocks"), "{e:?}");
    }
    // The warm session proved its key: it goes on, unlocked, in the pool.
    let again = pool.session(&h.ctx()).await.unwrap();
    assert!(again.is_proven(), "the pooled session is the warm one");
    ok(again.execute_with_session(&[transfer(4)]).await);
    assert_eq!(executes_of(&h, &h.wallet.address), 2);
    pool.clear().await;
    assert!(pool.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn cheap_sessions_do_not_flush_proven_warm_keys() {
    let h = Harness::start().await;
    registered(&h, &h.ctx(), 10).await;
    let pool: SessionPool = runtime()
        .pool(
            h.imports_with_token(&h.bearer),
            PoolOptions {
                max_sessions: 4,
                ..PoolOptions::default()
            },
        )
        .unwrap();
    ok(pool
        .session(&h.ctx())
        .await
        .unwrap()
        .execute_with_session(&[transfer(1)])
        .await);
    // Many sessions for other wallets that never prove a key: they evict
    // each other, not the proven one.
    for i in 0..40u64 {
        let mut other = h.ctx();
        other.wallet.address = format!("{:#x}", 0x1000 + i);
        let s = pool.session(&other).await.unwrap();
        ok(s.get_session_status().await);
    }
    assert_eq!(pool.len(), 4);
    assert!(pool.contains(&h.wallet.address));
    let warm = pool.session(&h.ctx()).await.unwrap();
    assert!(warm.is_proven());
    ok(warm.execute_with_session(&[transfer(2)]).await);
}
