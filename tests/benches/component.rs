//! The component's warm execute in the real host against the sandbox over
//! loopback (the sandbox's signature checks run in this process too): one
//! warm session, its key unlocked, each iteration one `transfer`.
//! `cargo bench -p chipi-session-e2e`.

use std::sync::atomic::{AtomicU64, Ordering};

use chipi_session_e2e::{Harness, RECIPIENT, TOKEN};
use chipi_session_host::runtime::{Call, CreateOptions, RegisterOptions};
use criterion::Criterion;

fn transfer(amount: u64) -> Call {
    Call {
        contract_address: TOKEN.into(),
        entrypoint: "transfer".into(),
        calldata: vec![RECIPIENT.into(), format!("{amount:#x}"), "0x0".into()],
    }
}

fn warm_execute(c: &mut Criterion) {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime: {e}"),
    };
    let (_harness, session) = rt.block_on(async {
        let h = Harness::start().await;
        let session = h.open(h.ctx()).await;
        let create = CreateOptions {
            duration_seconds: None,
            replace_existing: false,
        };
        let register = RegisterOptions {
            valid_until: None,
            max_calls: Some(u32::MAX - 1),
            allowed_entrypoints: vec!["transfer".into()],
            idempotency_key: None,
        };
        chipi_session_e2e::ok(session.create_session(&create).await);
        chipi_session_e2e::ok(session.register_session(&register).await);
        chipi_session_e2e::ok(session.execute_with_session(&[transfer(1)]).await);
        (h, session)
    });
    let next = AtomicU64::new(2);
    c.bench_function(
        "component: warm execute (1 transfer, sandbox in process)",
        |b| {
            b.iter(|| {
                let amount = next.fetch_add(1, Ordering::Relaxed);
                chipi_session_e2e::ok(
                    rt.block_on(session.execute_with_session(&[transfer(amount)])),
                )
            });
        },
    );
}

mod group {
    use criterion::{criterion_group, Criterion};

    criterion_group! {
        name = component;
        config = Criterion::default().sample_size(30);
        targets = super::warm_execute
    }
}

fn main() {
    group::component();
    Criterion::default().configure_from_args().final_summary();
}
