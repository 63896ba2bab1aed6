//! JSON-RPC reads, CryptoJS wallets, admin endpoints, robustness and shutdown.

use super::support::*;

#[tokio::test]
async fn json_rpc_reads_and_errors() {
    let env = Env::new().await;
    let w = env.wallet();
    let ready = env.sb.create_wallet(PIN, SandboxWalletType::Ready);
    assert_eq!(
        env.rpc("starknet_chainId", json!([])).await["result"],
        "0x534e5f5345504f4c4941"
    );
    assert_eq!(
        env.rpc("starknet_specVersion", json!([])).await["result"],
        SPEC_VERSION
    );
    assert_eq!(
        env.rpc("starknet_blockNumber", Value::Null).await["result"],
        json!(state::GENESIS_BLOCK)
    );
    let c = env
        .rpc(
            "starknet_getClassHashAt",
            json!({"block_id": "latest", "contract_address": w.address}),
        )
        .await;
    assert_eq!(c["result"], CHIPI_CLASS_HASH);
    let c = env
        .rpc("starknet_getClassHashAt", json!(["pending", ready.address]))
        .await;
    assert_eq!(c["result"], READY_CLASS_HASH);
    let c = env
        .rpc(
            "starknet_getClassHashAt",
            json!([{"block_number": 1}, w.address]),
        )
        .await;
    assert_eq!(c["result"], CHIPI_CLASS_HASH);
    let c = env
        .rpc(
            "starknet_getClassHashAt",
            json!([{"block_number": 999_999}, w.address]),
        )
        .await;
    assert_eq!(c["error"]["code"], 24);
    let c = env
        .rpc("starknet_getClassHashAt", json!(["latest", "0x42"]))
        .await;
    assert_eq!(c["error"]["code"], 20);
    let c = env.rpc("starknet_getClassHashAt", json!(["latest"])).await;
    assert_eq!(c["error"]["code"], -32602);

    let sel = |n: &str| hex(&felt::selector(n));
    let call_req = |to: &str, entry: &str, calldata: Value| json!({"request": {"contract_address": to, "entry_point_selector": sel(entry), "calldata": calldata}, "block_id": "latest"});
    let r = env
        .rpc(
            "starknet_call",
            call_req(&w.address, "get_session_data", json!(["0x5"])),
        )
        .await;
    assert_eq!(r["result"], json!(["0x0", "0x0", "0x0", "0x0"]));
    let r = env
        .rpc(
            "starknet_call",
            call_req(
                &w.address,
                "get_session_allowed_entrypoint_at",
                json!(["0x5", "0x0"]),
            ),
        )
        .await;
    // The contract reads its storage map without a bounds check: 0 for an unknown key.
    assert_eq!(r["result"], json!(["0x0"]));
    let r = env
        .rpc(
            "starknet_call",
            call_req(
                &w.address,
                "get_session_allowed_entrypoint_at",
                json!(["0x5", "0x100000000"]),
            ),
        )
        .await;
    assert_eq!(r["error"]["code"], 40);
    assert_eq!(r["error"]["message"], "Contract error");
    let r = env
        .rpc(
            "starknet_call",
            call_req(&w.address, "get_spending_policy", json!(["0x5", TOKEN])),
        )
        .await;
    assert_eq!(r["result"], json!(vec!["0x0"; 8]));
    let r = env
        .rpc(
            "starknet_call",
            call_req(&w.address, "get_session_data", json!([])),
        )
        .await;
    assert_eq!(r["error"]["code"], 40);
    let r = env
        .rpc(
            "starknet_call",
            call_req(&w.address, "balance_of", json!([])),
        )
        .await;
    assert_eq!(r["error"]["code"], 21);
    let r = env
        .rpc(
            "starknet_call",
            call_req(&ready.address, "get_session_data", json!(["0x5"])),
        )
        .await;
    assert_eq!(r["error"]["code"], 21);
    let r = env
        .rpc(
            "starknet_call",
            call_req("0x42", "get_session_data", json!(["0x5"])),
        )
        .await;
    assert_eq!(r["error"]["code"], 20);
    let r = env
        .rpc(
            "starknet_call",
            call_req(&w.address, "get_public_key", json!([])),
        )
        .await;
    assert_eq!(
        r["result"],
        json!([hex(&starknet_crypto::get_public_key(&w.owner_sk))])
    );
    let r = env
        .rpc("starknet_getTransactionReceipt", json!(["0x1234"]))
        .await;
    assert_eq!(r["error"]["code"], 29);
    let r = env.rpc("starknet_nope", json!([])).await;
    assert_eq!(r["error"]["code"], -32601);

    // Parse error, invalid request, batch.
    let addr = env.sb.addr();
    let ct = [("Content-Type", "application/json")];
    let r = http(addr, "POST", "/rpc", &ct, "{not json").await.json();
    assert_eq!(r["error"]["code"], -32700);
    let r = http(
        addr,
        "POST",
        "/rpc",
        &ct,
        r#"{"id":3,"method":"starknet_chainId"}"#,
    )
    .await
    .json();
    assert_eq!(
        (r["error"]["code"].as_i64(), r["id"].as_i64()),
        (Some(-32600), Some(3))
    );
    let r = http(addr, "POST", "/rpc", &ct, "[]").await.json();
    assert_eq!(r["error"]["code"], -32600);
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"starknet_chainId"},{"jsonrpc":"2.0","id":2,"method":"starknet_blockNumber"}]"#;
    let r = http(addr, "POST", "/rpc", &ct, batch).await.json();
    assert_eq!(r[0]["result"], "0x534e5f5345504f4c4941");
    assert_eq!(r[1]["id"], 2);
}

#[tokio::test]
async fn cryptojs_wallet_decrypts_with_openssl() {
    let env = Env::new().await;
    let w = env.sb.create_wallet(PIN, SandboxWalletType::Chipi);
    let ours = decrypt_cryptojs(&w.encrypted_private_key, PIN).expect("decrypt");
    assert!(ours.starts_with("0x"));
    assert_eq!(
        hex(&starknet_crypto::get_public_key(&parse(&ours))),
        w.owner_public_key
    );
    assert!(decrypt_cryptojs(&w.encrypted_private_key, "000000").ok() != Some(ours.clone()));

    let child = std::process::Command::new("openssl")
        .args([
            "enc",
            "-d",
            "-aes-256-cbc",
            "-md",
            "md5",
            "-a",
            "-A",
            "-pass",
            &format!("pass:{PIN}"),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        panic!("openssl is needed for the independent decryption check (Debian package openssl)");
    };
    {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(w.encrypted_private_key.as_bytes())
            .expect("write");
    }
    let out = child.wait_with_output().expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), ours);
}

#[tokio::test]
async fn admin_endpoints() {
    let env = Env::new().await;
    let addr = env.sb.addr();
    let r = http(
        addr,
        "POST",
        "/sandbox/wallets",
        &[("Content-Type", "application/json")],
        r#"{"pin":"1111","walletType":"READY"}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(v["walletType"], "READY");
    assert_eq!(v["classHash"], READY_CLASS_HASH);
    let sk =
        decrypt_cryptojs(v["encryptedPrivateKey"].as_str().expect("ct"), "1111").expect("decrypt");
    assert_eq!(
        json!(hex(&starknet_crypto::get_public_key(&parse(&sk)))),
        v["ownerPublicKey"]
    );
    let pk = v["publicKey"].as_str().expect("address");
    let c = env
        .rpc("starknet_getClassHashAt", json!(["latest", pk]))
        .await;
    assert_eq!(c["result"], READY_CLASS_HASH);

    let r = http(addr, "POST", "/sandbox/wallets", &[], r#"{"pin":""}"#).await;
    assert_eq!(r.status, 400);
    let r = http(
        addr,
        "POST",
        "/sandbox/faults",
        &[],
        r#"{"status":429,"endpoint":"rpc","remaining":1}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(env.sb.faults().and_then(|f| f.status), Some(429));
    let r = http(
        addr,
        "POST",
        "/sandbox/faults",
        &[],
        r#"{"substitute":"nope"}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    let r = http(addr, "DELETE", "/sandbox/faults", &[], "").await;
    assert_eq!(r.status, 204);
    assert!(env.sb.faults().is_none());

    let before = env.sb.clock().now_unix();
    let r = http(
        addr,
        "POST",
        "/sandbox/time/advance",
        &[],
        r#"{"seconds":7200}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(env.sb.clock().now_unix() >= before + 7200);
    assert_eq!(r.json()["offsetSeconds"], 7200);

    let _ = env.rpc("starknet_chainId", json!([])).await;
    let r = http(addr, "GET", "/sandbox/requests", &[], "").await;
    let reqs = r.json();
    // Admin requests are not recorded; the RPC call is.
    assert_eq!(reqs.as_array().map(Vec::len), Some(2));
    assert_eq!(reqs[1]["path"], "/rpc");
    assert_eq!(reqs[1]["body"]["method"], "starknet_chainId");
    assert_eq!(
        http(addr, "DELETE", "/sandbox/requests", &[], "")
            .await
            .status,
        204
    );
    assert!(env.sb.requests().is_empty());
    let r = http(addr, "GET", "/sandbox/transactions", &[], "").await;
    assert_eq!(r.json(), json!([]));
    let r = http(addr, "GET", "/nope", &[], "").await;
    assert_eq!((r.status, r.code().as_str()), (404, "NOT_FOUND"));
    let r = http(addr, "GET", "/rpc", &[], "").await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn malformed_requests_never_break_the_server() {
    let env = Env::new().await;
    let w = env.wallet();
    let bodies = [
        "".to_string(),
        "null".into(),
        "{\"publicKey\":".into(),
        json!({"publicKey": w.address, "typedData": {}, "userSignature": [], "isSessionSignature": true, "saveToDatabase": true}).to_string(),
        json!({"publicKey": w.address, "typedData": {"types": 1}, "userSignature": {"r": "x"}, "saveToDatabase": true}).to_string(),
        json!({"publicKey": w.address, "typedData": {"types": 1}, "userSignature": ["0x1","0x2","0x3","0x4"], "isSessionSignature": "yes", "saveToDatabase": true}).to_string(),
        json!({"publicKey": w.address, "typedData": {"message": {"Calls": [null]}}, "userSignature": ["0x1","0x2","0x3","0x4"], "isSessionSignature": true, "saveToDatabase": true}).to_string(),
        json!({"publicKey": "0x1", "typedData": {}, "userSignature": {"r": "1", "s": "2"}, "saveToDatabase": true}).to_string(),
        json!({"publicKey": w.address, "typedData": {}, "userSignature": {"r": "1", "s": "2"}, "saveToDatabase": true, "walletType": 5}).to_string(),
        "\u{0}\u{1}garbage".into(),
    ];
    let headers = env.auth_headers();
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for endpoint in ["prepare-typed-data", "execute-sponsored-transaction"] {
        for body in &bodies {
            let path = format!("/v1/transactions/{endpoint}?__chipi_api_version={API_VERSION}");
            let r = http(env.sb.addr(), "POST", &path, &h, body).await;
            assert!(
                (400..500).contains(&r.status),
                "{endpoint} {body:?}: {} {}",
                r.status,
                r.body
            );
            assert!(r.json()["message"].is_string());
        }
    }
    // Oversized body: 413 when the client manages to read the answer before the
    // server closes the connection on the unread rest.
    let big = "x".repeat(chipi_api::MAX_BODY + 10);
    if let Some(r) = http_lenient(env.sb.addr(), "/rpc", &big).await {
        assert_eq!(r, 413);
    }
    // Still serving.
    assert_eq!(
        env.rpc("starknet_chainId", json!([])).await["result"],
        "0x534e5f5345504f4c4941"
    );
}

#[test]
fn thread_sandbox_serves_synchronous_callers() {
    let sb = Sandbox::start_in_thread(
        SandboxConfig {
            chain_id: "SN_MAIN".into(),
            ..SandboxConfig::default()
        },
        loopback(),
    )
    .expect("start");
    assert!(sb.api_url().starts_with("http://127.0.0.1:") && sb.api_url().ends_with("/v1"));
    assert!(sb.rpc_url().ends_with("/rpc"));
    assert!(sb.api_key().starts_with("pk_dev_") && sb.api_key().len() == 39);
    assert!(sb.api_key()[7..].chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(sb.chain_id_hex(), "0x534e5f4d41494e");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let addr = sb.addr();
    let r = rt.block_on(http(
        addr,
        "POST",
        "/rpc",
        &[],
        r#"{"jsonrpc":"2.0","id":1,"method":"starknet_chainId"}"#,
    ));
    assert_eq!(r.json()["result"], "0x534e5f4d41494e");
    sb.shutdown_blocking();
    assert!(TcpStream::connect(addr).is_err());
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sb = Sandbox::start(SandboxConfig::default(), loopback())
        .await
        .expect("start");
    let addr = sb.addr();
    sb.shutdown().await;
    assert!(TcpStream::connect(addr).is_err());
    assert!(Sandbox::start(
        SandboxConfig {
            chain_id: "".into(),
            ..SandboxConfig::default()
        },
        loopback()
    )
    .await
    .is_err());
}
