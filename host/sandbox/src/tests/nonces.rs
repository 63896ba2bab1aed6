//! SNIP-9 nonces and the faults applied after a transaction.

use super::support::*;

// ---------------------------------------------------------------- SNIP-9 nonces and after-apply faults

impl Env {
    /// Prepare `calls` and build a session-signed execute body; returns it with the
    /// outside-execution nonce of the typed data.
    async fn signed_session_body(
        &self,
        w: &Wallet,
        sk: &Felt,
        valid_until: u64,
        calls: &[Value],
        names: &[&str],
    ) -> (Value, Felt) {
        let pk = starknet_crypto::get_public_key(sk);
        let td = self.prepare(&w.address, calls).await;
        let nonce = felt::parse_felt_json(&td["message"]["Nonce"]).expect("nonce");
        let hash = hash_with_names(&td, names, &w.address);
        let (r, s) = sign(sk, &hash);
        let body = self.session_body(
            w,
            &td,
            [hex(&pk), hex(&r), hex(&s), format!("{valid_until:#x}")],
        );
        (body, nonce)
    }

    /// Prepare `calls` and build an owner-signed execute body (decimal `{r, s}`).
    async fn signed_owner_body(
        &self,
        w: &Wallet,
        calls: &[Value],
        names: &[&str],
    ) -> (Value, Felt) {
        let td = self.prepare(&w.address, calls).await;
        let nonce = felt::parse_felt_json(&td["message"]["Nonce"]).expect("nonce");
        let hash = hash_with_names(&td, names, &w.address);
        let (r, s) = sign(&w.owner_sk, &hash);
        let body = json!({
            "publicKey": w.address,
            "typedData": td,
            "userSignature": { "r": r.to_string(), "s": s.to_string() },
            "saveToDatabase": false,
            "walletType": "CHIPI",
        });
        (body, nonce)
    }

    /// `starknet_call` of `is_valid_outside_execution_nonce` with raw calldata.
    async fn nonce_call(&self, wallet: &str, calldata: Value) -> Value {
        self.rpc(
            "starknet_call",
            json!({
                "request": {
                    "contract_address": wallet,
                    "entry_point_selector": hex(&felt::selector("is_valid_outside_execution_nonce")),
                    "calldata": calldata,
                },
                "block_id": "latest",
            }),
        )
        .await
    }

    /// Full request head and body of an execute-sponsored-transaction POST.
    fn execute_request_bytes(&self, body: &Value) -> Vec<u8> {
        let body = body.to_string();
        let mut req = format!(
            "POST /v1/transactions/execute-sponsored-transaction?__chipi_api_version={API_VERSION} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.sb.addr(),
            body.len()
        );
        for (k, v) in self.auth_headers() {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        req.into_bytes()
    }

    /// Send an execute request over a plain TCP stream and return whatever came back
    /// before the server closed (`Err` when the connection was reset).
    async fn execute_raw_tcp(&self, body: &Value) -> std::io::Result<Vec<u8>> {
        let req = self.execute_request_bytes(body);
        let addr = self.sb.addr();
        tokio::task::spawn_blocking(move || {
            let mut stream = TcpStream::connect(addr)?;
            stream.set_read_timeout(Some(Duration::from_secs(20)))?;
            stream.write_all(&req)?;
            let mut buf = Vec::new();
            stream.read_to_end(&mut buf)?;
            Ok(buf)
        })
        .await
        .expect("client task")
    }

    /// Send an execute request with hyper's HTTP/1 client (the transport wasi:http
    /// uses in wasmtime) and return its status, or hyper's error.
    async fn execute_hyper(&self, body: &Value) -> Result<u16, hyper::Error> {
        let stream = tokio::net::TcpStream::connect(self.sb.addr())
            .await
            .expect("connect");
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("handshake");
        let conn_task = tokio::spawn(conn);
        let mut builder = http::Request::builder()
            .method("POST")
            .uri(format!(
                "/v1/transactions/execute-sponsored-transaction?__chipi_api_version={API_VERSION}"
            ))
            .header("host", self.sb.addr().to_string());
        for (k, v) in self.auth_headers() {
            builder = builder.header(k, v);
        }
        let req = builder
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_string(),
            )))
            .expect("request");
        let out = sender.send_request(req).await.map(|r| r.status().as_u16());
        conn_task.abort();
        out
    }
}

fn calls_used(env: &Env, w: &Wallet, pk: &Felt) -> u32 {
    env.sb
        .session(&w.address, &hex(pk))
        .expect("session")
        .calls_used
}

fn txs_with_nonce(env: &Env, nonce: &Felt) -> usize {
    env.sb
        .transactions()
        .iter()
        .filter(|t| t.nonce == hex(nonce))
        .count()
}

#[tokio::test]
async fn replayed_execution_is_refused_with_the_contract_reason_and_counts_nothing() {
    let env = Env::new().await;
    let w = env.wallet();
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 3600;

    // Owner-signed: register a session. Replaying that body would reset calls_used
    // if the nonce were not enforced.
    let calldata = vec![hex(&pk), valid_until.to_string(), "5".into(), "0".into()];
    let (reg_body, reg_nonce) = env
        .signed_owner_body(
            &w,
            &[call(&w.address, "add_or_update_session_key", &calldata)],
            &["add_or_update_session_key"],
        )
        .await;
    assert!(!env.sb.nonce_used(&w.address, &hex(&reg_nonce)));
    let r = env.chipi("execute-sponsored-transaction", &reg_body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(env.sb.nonce_used(&w.address, &hex(&reg_nonce)));
    // Any felt format is accepted by the accessor.
    assert!(env.sb.nonce_used(&w.address, &reg_nonce.to_string()));
    let txs = env.sb.transactions();
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0].nonce, hex(&reg_nonce));
    assert_eq!(txs[0].signer, TxSigner::Owner);

    // Session-signed execution, then its replay.
    let (body, nonce) = env
        .signed_session_body(&w, &sk, valid_until, &[transfer(3)], &["transfer"])
        .await;
    assert_ne!(nonce, reg_nonce);
    let r = env.chipi("execute-sponsored-transaction", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(calls_used(&env, &w, &pk), 1);
    assert_eq!(env.sb.transactions().len(), 2);
    let checks = env.sb.signature_checks();
    let block = env.rpc("starknet_blockNumber", json!([])).await["result"].clone();

    let replay = env.chipi("execute-sponsored-transaction", &body).await;
    assert_eq!(
        (replay.status, replay.code().as_str()),
        (400, "NONCE_ALREADY_USED")
    );
    let message = replay.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("SRC9: duplicated nonce"), "{message}");
    assert_eq!(
        calls_used(&env, &w, &pk),
        1,
        "a refused replay counted a call"
    );
    assert_eq!(env.sb.transactions().len(), 2);
    assert_eq!(env.sb.signature_checks(), checks);
    assert_eq!(
        env.rpc("starknet_blockNumber", json!([])).await["result"],
        block
    );

    // Owner-signed replay of the registration: refused, the session keeps its count.
    let replay = env.chipi("execute-sponsored-transaction", &reg_body).await;
    assert_eq!(
        (replay.status, replay.code().as_str()),
        (400, "NONCE_ALREADY_USED")
    );
    assert!(replay.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("SRC9: duplicated nonce"));
    assert_eq!(calls_used(&env, &w, &pk), 1, "registration was replayed");
    assert_eq!(env.sb.transactions().len(), 2);
    assert_eq!(env.sb.signature_checks(), checks);

    // Exactly one transaction per nonce; the issued typed data report their use.
    assert_eq!(txs_with_nonce(&env, &reg_nonce), 1);
    assert_eq!(txs_with_nonce(&env, &nonce), 1);
    let issued = env.sb.issued_typed_data();
    assert_eq!(issued.len(), 2);
    assert!(issued.iter().all(|i| i.used));

    // A refused execution does not consume its nonce: fix the refusal, it goes through.
    let (mut body, nonce3) = env
        .signed_session_body(&w, &sk, valid_until, &[transfer(4)], &["transfer"])
        .await;
    let good_sig = body["userSignature"].clone();
    body["userSignature"][1] = json!("0x1");
    let r = env.chipi("execute-sponsored-transaction", &body).await;
    assert_eq!(r.code(), "INVALID_SIGNATURE");
    assert!(!env.sb.nonce_used(&w.address, &hex(&nonce3)));
    assert!(!env.sb.issued_typed_data()[2].used);
    body["userSignature"] = good_sig;
    let r = env.chipi("execute-sponsored-transaction", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(env.sb.nonce_used(&w.address, &hex(&nonce3)));
    assert_eq!(calls_used(&env, &w, &pk), 2);

    // Unknown wallet or unparsable arguments: false.
    assert!(!env.sb.nonce_used("0x42", &hex(&nonce)));
    assert!(!env.sb.nonce_used(&w.address, "not a felt"));
}

#[tokio::test]
async fn is_valid_outside_execution_nonce_flips_after_execution() {
    let env = Env::new().await;
    let w = env.wallet();
    let ready = env.sb.create_wallet(PIN, SandboxWalletType::Ready);
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 3600;
    env.register(&w, &pk, valid_until, 5, &[]).await;

    let (body, nonce) = env
        .signed_session_body(&w, &sk, valid_until, &[transfer(1)], &["transfer"])
        .await;
    let r = env.nonce_call(&w.address, json!([hex(&nonce)])).await;
    assert_eq!(r["result"], json!(["0x1"]), "{r}");
    let r = env.chipi("execute-sponsored-transaction", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = env.nonce_call(&w.address, json!([hex(&nonce)])).await;
    assert_eq!(r["result"], json!(["0x0"]), "{r}");
    // Decimal calldata reads the same slot.
    let r = env.nonce_call(&w.address, json!([nonce.to_string()])).await;
    assert_eq!(r["result"], json!(["0x0"]));
    // Other nonces, and the same nonce on another account, stay valid.
    let r = env.nonce_call(&w.address, json!(["0x1234"])).await;
    assert_eq!(r["result"], json!(["0x1"]));
    let other = env.wallet();
    let r = env.nonce_call(&other.address, json!([hex(&nonce)])).await;
    assert_eq!(r["result"], json!(["0x1"]));
    // The owner-signed registration consumed its nonce as well.
    let reg_nonce = env.sb.transactions()[0].nonce.clone();
    let r = env.nonce_call(&w.address, json!([reg_nonce])).await;
    assert_eq!(r["result"], json!(["0x0"]));
    // READY (Argent) accounts answer too.
    let r = env.nonce_call(&ready.address, json!([hex(&nonce)])).await;
    assert_eq!(r["result"], json!(["0x1"]));

    // Bad calldata length: the same contract error as the other views.
    for bad in [json!([]), json!([hex(&nonce), "0x1"])] {
        let r = env.nonce_call(&w.address, bad).await;
        assert_eq!(r["error"]["code"], 40, "{r}");
        assert_eq!(r["error"]["message"], "Contract error");
    }
    let r = env.nonce_call(&ready.address, json!([])).await;
    assert_eq!(r["error"]["code"], 40, "{r}");
    let r = env.nonce_call("0x42", json!(["0x1"])).await;
    assert_eq!(r["error"]["code"], 20);
}

#[tokio::test]
async fn drop_answer_applies_the_transaction_but_sends_no_response() {
    let env = Env::new().await;
    let w = env.wallet();
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 3600;
    env.register(&w, &pk, valid_until, 10, &[]).await;
    let drop_once = || Faults {
        drop_answer: true,
        endpoint: Some("execute-sponsored-transaction".into()),
        remaining: Some(1),
        ..Faults::default()
    };

    // Plain TCP: the server closes without writing a single byte.
    let (body, nonce) = env
        .signed_session_body(&w, &sk, valid_until, &[transfer(5)], &["transfer"])
        .await;
    env.sb.set_faults(drop_once());
    match env.execute_raw_tcp(&body).await {
        Ok(bytes) => assert!(
            bytes.is_empty(),
            "got a response: {:?}",
            String::from_utf8_lossy(&bytes)
        ),
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            ),
            "{e}"
        ),
    }
    assert!(env.sb.faults().is_none());
    // ... yet the transaction landed.
    let txs = env.sb.transactions();
    assert_eq!(txs.len(), 2);
    assert_eq!(txs[1].nonce, hex(&nonce));
    assert_eq!(txs[1].signer, TxSigner::Session(hex(&pk)));
    assert_eq!(calls_used(&env, &w, &pk), 1);
    assert!(env.sb.nonce_used(&w.address, &hex(&nonce)));
    let receipt = env
        .rpc("starknet_getTransactionReceipt", json!([txs[1].hash]))
        .await;
    assert_eq!(receipt["result"]["execution_status"], "SUCCEEDED");
    let r = env.nonce_call(&w.address, json!([hex(&nonce)])).await;
    assert_eq!(r["result"], json!(["0x0"]));
    // The client's retry of the same body is refused and changes nothing.
    let retry = env.chipi("execute-sponsored-transaction", &body).await;
    assert_eq!(
        (retry.status, retry.code().as_str()),
        (400, "NONCE_ALREADY_USED")
    );
    assert_eq!(env.sb.transactions().len(), 2);
    assert_eq!(calls_used(&env, &w, &pk), 1);

    // hyper's HTTP/1 client (what wasi:http rides on) reports a transport error,
    // not a status, and the owner-signed path behaves the same.
    let (body, nonce) = env
        .signed_owner_body(&w, &[transfer(6)], &["transfer"])
        .await;
    env.sb.set_faults(drop_once());
    let out = tokio::time::timeout(Duration::from_secs(20), env.execute_hyper(&body))
        .await
        .expect("the hyper client hung instead of seeing the connection close");
    let err = out.expect_err("hyper received an HTTP response");
    // "connection closed before message completed": no status line was received.
    assert!(err.is_incomplete_message(), "{err:?}");
    assert_eq!(env.sb.transactions().len(), 3);
    assert_eq!(env.sb.transactions()[2].signer, TxSigner::Owner);
    assert_eq!(txs_with_nonce(&env, &nonce), 1);
    assert!(env.sb.nonce_used(&w.address, &hex(&nonce)));

    // A refused execution is answered with its refusal even under drop_answer.
    env.sb.set_faults(drop_once());
    let r = env.chipi("execute-sponsored-transaction", &body).await;
    assert_eq!((r.status, r.code().as_str()), (400, "NONCE_ALREADY_USED"));
    assert_eq!(env.sb.transactions().len(), 3);
    assert!(env.sb.faults().is_none());

    // The JSON names over the admin endpoint.
    let r = http(
        env.sb.addr(),
        "POST",
        "/sandbox/faults",
        &[("Content-Type", "application/json")],
        r#"{"dropAnswer":true,"remaining":1}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["drop_answer"], true);
    assert_eq!(env.sb.faults().map(|f| f.drop_answer), Some(true));
    // Other endpoints are not concerned and do not use up `remaining`.
    env.prepare(&w.address, &[transfer(1)]).await;
    assert_eq!(env.sb.faults().map(|f| f.remaining), Some(Some(1)));
    // The server keeps serving after dropping connections.
    assert_eq!(
        env.rpc("starknet_chainId", json!([])).await["result"],
        "0x534e5f5345504f4c4941"
    );
}

#[tokio::test]
async fn status_after_apply_applies_the_transaction_then_answers_502() {
    let env = Env::new().await;
    let w = env.wallet();
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 3600;
    env.register(&w, &pk, valid_until, 10, &[]).await;

    let (body, nonce) = env
        .signed_session_body(&w, &sk, valid_until, &[transfer(5)], &["transfer"])
        .await;
    env.sb.set_faults(Faults {
        status_after_apply: Some(502),
        remaining: Some(1),
        ..Faults::default()
    });
    let r = env.chipi("execute-sponsored-transaction", &body).await;
    assert_eq!((r.status, r.code().as_str()), (502, "BAD_GATEWAY"));
    assert_eq!(r.json()["statusCode"], 502);
    assert!(r.json().get("transactionHash").is_none());
    assert!(env.sb.faults().is_none());
    // Applied: recorded, counted, nonce consumed.
    let txs = env.sb.transactions();
    assert_eq!(txs.len(), 2);
    assert_eq!(txs[1].nonce, hex(&nonce));
    assert_eq!(calls_used(&env, &w, &pk), 1);
    assert!(env.sb.nonce_used(&w.address, &hex(&nonce)));
    let r = env.nonce_call(&w.address, json!([hex(&nonce)])).await;
    assert_eq!(r["result"], json!(["0x0"]));
    // Retrying after the 5xx is refused and counts nothing.
    let retry = env.chipi("execute-sponsored-transaction", &body).await;
    assert_eq!(
        (retry.status, retry.code().as_str()),
        (400, "NONCE_ALREADY_USED")
    );
    assert_eq!(env.sb.transactions().len(), 2);
    assert_eq!(calls_used(&env, &w, &pk), 1);
    assert_eq!(txs_with_nonce(&env, &nonce), 1);

    // Owner-signed too, with 503 set through camelCase JSON.
    let faults: Faults = serde_json::from_str(
        r#"{"statusAfterApply":503,"endpoint":"execute-sponsored-transaction"}"#,
    )
    .expect("faults");
    env.sb.set_faults(faults);
    let (body, nonce) = env
        .signed_owner_body(&w, &[transfer(6)], &["transfer"])
        .await;
    let r = env.chipi("execute-sponsored-transaction", &body).await;
    assert_eq!((r.status, r.code().as_str()), (503, "SERVICE_UNAVAILABLE"));
    assert_eq!(txs_with_nonce(&env, &nonce), 1);
    assert!(env.sb.nonce_used(&w.address, &hex(&nonce)));
    env.sb.clear_faults();
}

#[tokio::test]
async fn delay_after_apply_applies_first_then_delays_the_answer() {
    let env = Env::new().await;
    let w = env.wallet();
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 3600;
    env.register(&w, &pk, valid_until, 10, &[]).await;
    const DELAY_MS: u64 = 1200;

    let (body, nonce) = env
        .signed_session_body(&w, &sk, valid_until, &[transfer(5)], &["transfer"])
        .await;
    env.sb.set_faults(Faults {
        delay_after_apply_ms: Some(DELAY_MS),
        remaining: Some(1),
        ..Faults::default()
    });
    let start = Instant::now();
    let request = async {
        let r = env.chipi("execute-sponsored-transaction", &body).await;
        (r, start.elapsed())
    };
    let watcher = async {
        loop {
            if env.sb.nonce_used(&w.address, &hex(&nonce)) {
                return start.elapsed();
            }
            if start.elapsed().as_millis() > 10_000 {
                panic!("the transaction was never applied");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let ((r, answered), applied) = tokio::join!(request, watcher);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        answered.as_millis() >= u128::from(DELAY_MS),
        "answered after {answered:?}"
    );
    assert!(
        applied + Duration::from_millis(DELAY_MS / 2) < answered,
        "applied at {applied:?}, answered at {answered:?}"
    );
    let txs = env.sb.transactions();
    assert_eq!(txs.len(), 2);
    assert_eq!(r.json()["transactionHash"], json!(txs[1].hash));
    assert_eq!(calls_used(&env, &w, &pk), 1);

    // A client whose timeout is shorter gives up, although the transaction landed.
    let (body, nonce) = env
        .signed_session_body(&w, &sk, valid_until, &[transfer(6)], &["transfer"])
        .await;
    env.sb.set_faults(Faults {
        delay_after_apply_ms: Some(DELAY_MS),
        remaining: Some(1),
        ..Faults::default()
    });
    let out = tokio::time::timeout(Duration::from_millis(300), env.execute_hyper(&body)).await;
    assert!(
        out.is_err(),
        "the client got an answer within 300 ms: {out:?}"
    );
    assert_eq!(txs_with_nonce(&env, &nonce), 1);
    assert!(env.sb.nonce_used(&w.address, &hex(&nonce)));
    assert_eq!(calls_used(&env, &w, &pk), 2);
    // Its retry is refused without waiting (the fault is used up).
    let t = Instant::now();
    let retry = env.chipi("execute-sponsored-transaction", &body).await;
    assert_eq!(retry.code(), "NONCE_ALREADY_USED");
    assert!(t.elapsed().as_millis() < u128::from(DELAY_MS));
    assert_eq!(calls_used(&env, &w, &pk), 2);
}

/// The fallback of `drop_answer` when the router is served by plain `axum::serve`
/// (no `KillableListener`, so no kill switch): the aborting body still keeps any
/// status line from the client, and the transaction is applied.
#[tokio::test]
async fn drop_answer_fallback_body_aborts_without_a_status_line() {
    let shared = Sandbox::prepare(&SandboxConfig::default()).expect("shared");
    let listener = tokio::net::TcpListener::bind(loopback())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(axum::serve(listener, server::router(shared.clone())).into_future());
    // A handle over the same state, so Env's request helpers can drive this server.
    let env = Env {
        sb: Sandbox {
            shared: shared.clone(),
            addr,
            stop: watch::channel(false).0,
            runner: None,
        },
    };
    let w = env.wallet();
    env.sb.set_faults(Faults {
        drop_answer: true,
        ..Faults::default()
    });

    let (body, nonce) = env
        .signed_owner_body(&w, &[transfer(1)], &["transfer"])
        .await;
    let raw = env.execute_raw_tcp(&body).await.expect("read");
    assert!(raw.is_empty(), "{:?}", String::from_utf8_lossy(&raw));
    assert!(env.sb.nonce_used(&w.address, &hex(&nonce)));

    let (body, nonce) = env
        .signed_owner_body(&w, &[transfer(2)], &["transfer"])
        .await;
    let err = env.execute_hyper(&body).await.expect_err("a response");
    assert!(err.is_incomplete_message(), "{err:?}");
    assert!(env.sb.nonce_used(&w.address, &hex(&nonce)));
    assert_eq!(env.sb.transactions().len(), 2);
    task.abort();
}
