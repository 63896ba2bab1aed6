//! Hostile inputs at every export end in a typed error, never a trap: bodies
//! over the cap, stored envelopes with huge KDF parameters, garbage in the
//! store, header-breaking tokens, and a configuration on another chain.

use std::sync::Arc;

use chipi_session_e2e::{err, ok, runtime, Harness, Stateless, RECIPIENT, TOKEN};
use chipi_session_host::runtime::{
    authorities_from_urls, Call, Imports, SessionError, StaticToken,
};
use chipi_session_host::store::SessionStore;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn transfer() -> Call {
    Call {
        contract_address: TOKEN.into(),
        entrypoint: "transfer".into(),
        calldata: vec![RECIPIENT.into(), "5".into(), "0".into()],
    }
}

/// The wallet's stored session record, as JSON.
fn stored_record(h: &Harness) -> (String, Value) {
    let key = format!(
        "chipi-session/v1/session/{}",
        chipi_session_guest::crypto::felt::felt_to_hex(
            &chipi_session_guest::crypto::felt::parse_felt(&h.wallet.address).expect("address")
        )
    );
    let bytes = h.store.get(&key).expect("store").expect("a record");
    (key, serde_json::from_slice(&bytes).expect("JSON record"))
}

/// Read one HTTP/1.1 request (head and `content-length` body).
async fn read_request(socket: &mut tokio::net::TcpStream) {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return;
            }
        }
        match socket.read(&mut buf).await {
            Ok(n) if n > 0 => data.extend_from_slice(&buf[..n]),
            _ => return,
        }
    }
}

/// A loopback server answering every request with a chunked (no
/// Content-Length) 200 body of `size` bytes; returns its base URL.
async fn chunked_server(size: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                read_request(&mut socket).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b' '; 64 * 1024];
                let mut sent = 0;
                while sent < size {
                    let frame = format!("{:x}\r\n", chunk.len());
                    if socket.write_all(frame.as_bytes()).await.is_err()
                        || socket.write_all(&chunk).await.is_err()
                        || socket.write_all(b"\r\n").await.is_err()
                    {
                        return;
                    }
                    sent += chunk.len();
                }
                let _ = socket.write_all(b"0\r\n\r\n").await;
                // Let the client close first: closing with unread request bytes
                // would reset the connection and lose the body in flight.
                let mut sink = [0u8; 1024];
                let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
                    while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
                })
                .await;
            });
        }
    });
    format!("http://{addr}/v1")
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_answers_over_the_cap_are_refused() {
    let h = Harness::start().await;
    h.register(10).await;
    let api = chunked_server(3 * 1024 * 1024).await;
    let mut ctx = h.ctx();
    ctx.config.api_base_url = api.clone();
    let rpc = ctx.config.rpc_urls[0].clone();
    let imports = Imports {
        allowed_authorities: authorities_from_urls(&[api.as_str(), rpc.as_str()]).expect("URLs"),
        ..h.imports_with_token(&h.bearer)
    };
    let handle = Stateless::new(runtime(), imports);
    let e = err(handle.execute_with_session(&ctx, &[transfer()]).await);
    match e {
        SessionError::Transport(m) => assert!(m.contains("larger than"), "{m}"),
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stored_envelope_with_huge_kdf_parameters_is_a_typed_error() {
    let h = Harness::start().await;
    h.register(10).await;
    let (key, mut record) = stored_record(&h);
    let envelope = record["encryptedPrivateKey"]
        .as_str()
        .expect("envelope")
        .to_owned();
    let mut parts: Vec<&str> = envelope.split('.').collect();
    parts[2] = "m=262144,t=10,p=8";
    record["encryptedPrivateKey"] = Value::String(parts.join("."));
    h.store
        .insert(&key, &serde_json::to_vec(&record).expect("JSON"));
    let e = err(h
        .handle()
        .execute_with_session(&h.ctx(), &[transfer()])
        .await);
    assert!(
        matches!(e, SessionError::SessionDecryptionFailed(_)),
        "{e:?}"
    );
    assert_eq!(
        h.requests_to("execute-sponsored-transaction"),
        1,
        "only the registration"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_in_the_store_is_a_store_error() {
    let h = Harness::start().await;
    h.register(10).await;
    let (key, _) = stored_record(&h);
    let deep = "[".repeat(100_000);
    for junk in [&b"\xff\xfe"[..], b"{}", b"null", deep.as_bytes()] {
        h.store.insert(&key, junk);
        let handle = h.handle();
        let e = err(handle.execute_with_session(&h.ctx(), &[transfer()]).await);
        assert!(matches!(e, SessionError::Store(_)), "{e:?}");
        let e = err(handle.get_session_status(&h.ctx()).await);
        assert!(matches!(e, SessionError::Store(_)), "{e:?}");
    }
    // Clearing still works on an unreadable record.
    ok(h.handle().clear_session(&h.ctx()).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn header_breaking_tokens_are_refused_before_sending() {
    let h = Harness::start().await;
    h.register(10).await;
    for token in ["abc\r\nx-evil: 1", &"a".repeat(100_000)] {
        let imports = Imports {
            token: Arc::new(StaticToken::new(token)),
            ..h.imports_with_token(&h.bearer)
        };
        // The token goes to the backend only (RPC reads carry none).
        let to_backend = || {
            h.sandbox
                .requests()
                .iter()
                .filter(|r| r.path != "/rpc")
                .count()
        };
        let before = to_backend();
        let e = err(Stateless::new(runtime(), imports)
            .execute_with_session(&h.ctx(), &[transfer()])
            .await);
        assert!(matches!(e, SessionError::Unauthorized(_)), "{e:?}");
        assert_eq!(to_backend(), before, "nothing sent to the backend");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_on_another_chain_is_refused() {
    let h = Harness::start().await;
    h.register(10).await;
    let mut ctx = h.ctx();
    ctx.config.chain_id = Some("SN_MAIN".into());
    let before = h.sandbox.requests().len();
    let e = err(h.handle().execute_with_session(&ctx, &[transfer()]).await);
    assert!(
        matches!(e, SessionError::InvalidInput(ref m) if m.contains("pinned")),
        "{e:?}"
    );
    assert_eq!(h.sandbox.requests().len(), before, "nothing sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotent_requests_are_retried_and_rpc_fails_over() {
    let h = Harness::start().await;
    h.register(10).await;
    let handle = h.handle();
    // Two 503s on prepare-typed-data: retried with backoff, then through.
    h.sandbox.set_faults(chipi_session_sandbox::Faults {
        status: Some(503),
        endpoint: Some("prepare-typed-data".into()),
        remaining: Some(2),
        ..Default::default()
    });
    let before = h.requests_to("prepare-typed-data");
    ok(handle.execute_with_session(&h.ctx(), &[transfer()]).await);
    assert_eq!(h.requests_to("prepare-typed-data"), before + 3);
    // A dead first node: the next one answers.
    let mut ctx = h.ctx();
    let dead = "http://127.0.0.1:9/rpc".to_string();
    ctx.config.rpc_urls.insert(0, dead.clone());
    let api = ctx.config.api_base_url.clone();
    let rpc = ctx.config.rpc_urls[1].clone();
    let imports = Imports {
        allowed_authorities: authorities_from_urls(&[api.as_str(), dead.as_str(), rpc.as_str()])
            .expect("URLs"),
        ..h.imports_with_token(&h.bearer)
    };
    let status = ok(Stateless::new(runtime(), imports)
        .get_session_status(&ctx)
        .await);
    assert_eq!(status.remaining_calls, Some(9));
}

/// A runtime made with the default options keeps the process's memory (the
/// instances' keys included) out of core dumps.
#[cfg(target_os = "linux")]
#[test]
fn a_runtime_excludes_the_process_from_core_dumps() {
    let _runtime = runtime();
    assert!(chipi_session_host::runtime::core_dumps_excluded());
    let filter = std::fs::read_to_string("/proc/self/coredump_filter").expect("readable");
    assert_eq!(
        u32::from_str_radix(filter.trim(), 16).expect("hex"),
        0,
        "{filter}"
    );
}
