//! Loopback tests of the sandbox: a raw HTTP/1.1 client drives a real server.

use std::net::SocketAddr;
use std::time::Instant;

use serde_json::{json, Value};
use starknet_core::types::{Felt, TypedData};
use std::io::{Read, Write};
use std::net::TcpStream;

use super::*;

// ---------------------------------------------------------------- HTTP client

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_string()
    }
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    // Blocking std I/O on the blocking pool keeps the client free of tokio features.
    let buf = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.write_all(req.as_bytes()).expect("write");
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).expect("read");
        buf
    })
    .await
    .expect("client task");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let mut lines = head.lines();
    let status_line = lines.next().expect("status line");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    assert!(
        !headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")),
        "test client does not decode chunked bodies"
    );
    Resp {
        status,
        headers,
        body: body.to_string(),
    }
}

/// POST `body` and return the status if an answer could be read at all.
async fn http_lenient(addr: SocketAddr, path: &str, body: &str) -> Option<u16> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let body = body.to_string();
    let buf = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).ok()?;
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body.as_bytes());
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf);
        Some(buf)
    })
    .await
    .ok()??;
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace().nth(1)?.parse().ok()
}

// ---------------------------------------------------------------- fixtures

const PIN: &str = "246810";
const TOKEN: &str = "0x4718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d";
const RECIPIENT: &str = "0x123456789abcdef";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

struct Env {
    sb: Sandbox,
}

struct Wallet {
    address: String,
    owner_sk: Felt,
}

fn parse(s: &str) -> Felt {
    felt::parse_felt_str(s).expect("felt")
}

fn hex(f: &Felt) -> String {
    format!("{f:#x}")
}

fn sign(sk: &Felt, hash: &Felt) -> (Felt, Felt) {
    let k = starknet_crypto::rfc6979_generate_k(hash, sk, None);
    let sig = starknet_crypto::sign(sk, hash, &k).expect("sign");
    (sig.r, sig.s)
}

/// Hash the served typed data with starknet-core after putting the entrypoint names
/// back into `Selector` (what starknet.js agrees with).
fn hash_with_names(td: &Value, names: &[&str], account: &str) -> Felt {
    let mut named = td.clone();
    let calls = named["message"]["Calls"].as_array_mut().expect("calls");
    assert_eq!(calls.len(), names.len());
    for (c, n) in calls.iter_mut().zip(names) {
        c["Selector"] = json!(n);
    }
    let td: TypedData = serde_json::from_value(named).expect("typed data");
    td.message_hash(parse(account)).expect("hash")
}

fn call(to: &str, entrypoint: &str, calldata: &[String]) -> Value {
    json!({ "contractAddress": to, "entrypoint": entrypoint, "calldata": calldata })
}

fn transfer(amount: u64) -> Value {
    call(
        TOKEN,
        "transfer",
        &[RECIPIENT.into(), amount.to_string(), "0x0".into()],
    )
}

impl Env {
    async fn new() -> Env {
        Self::with(SandboxConfig::default()).await
    }

    async fn with(config: SandboxConfig) -> Env {
        Env {
            sb: Sandbox::start(config, loopback()).await.expect("start"),
        }
    }

    fn wallet(&self) -> Wallet {
        let w = self.sb.create_wallet(PIN, SandboxWalletType::Chipi);
        let sk = decrypt_cryptojs(&w.encrypted_private_key, PIN).expect("decrypt");
        Wallet {
            address: w.address,
            owner_sk: parse(&sk),
        }
    }

    fn auth_headers(&self) -> Vec<(&str, String)> {
        vec![
            ("Content-Type", "application/json".to_string()),
            ("x-api-key", self.sb.api_key().to_string()),
            (
                "Authorization",
                format!("Bearer {}", self.sb.bearer_token()),
            ),
        ]
    }

    async fn chipi(&self, endpoint: &str, body: &Value) -> Resp {
        let headers = self.auth_headers();
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let path = format!("/v1/transactions/{endpoint}?__chipi_api_version={API_VERSION}");
        http(self.sb.addr(), "POST", &path, &h, &body.to_string()).await
    }

    async fn rpc(&self, method: &str, params: Value) -> Value {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let r = http(
            self.sb.addr(),
            "POST",
            "/rpc",
            &[("Content-Type", "application/json")],
            &body.to_string(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    }

    async fn prepare(&self, wallet: &str, calls: &[Value]) -> Value {
        let r = self
            .chipi(
                "prepare-typed-data",
                &json!({
                    "publicKey": wallet,
                    "calls": calls,
                    "accountClassHash": CHIPI_CLASS_HASH,
                    "walletType": "CHIPI",
                }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!(v["walletType"], "CHIPI");
        v["typedData"].clone()
    }

    /// Prepare, sign with the owner key (decimal r/s like the SDK) and execute.
    async fn owner_execute(&self, w: &Wallet, calls: &[Value], names: &[&str]) -> Resp {
        let td = self.prepare(&w.address, calls).await;
        let hash = hash_with_names(&td, names, &w.address);
        let (r, s) = sign(&w.owner_sk, &hash);
        self.chipi(
            "execute-sponsored-transaction",
            &json!({
                "publicKey": w.address,
                "typedData": td,
                "userSignature": { "r": r.to_string(), "s": s.to_string(), "recovery": 0 },
                "saveToDatabase": false,
                "walletType": "CHIPI",
            }),
        )
        .await
    }

    async fn register(
        &self,
        w: &Wallet,
        session_pk: &Felt,
        valid_until: u64,
        max_calls: u32,
        allowed: &[&str],
    ) {
        let mut calldata = vec![
            hex(session_pk),
            valid_until.to_string(),
            max_calls.to_string(),
            allowed.len().to_string(),
        ];
        calldata.extend(allowed.iter().map(|n| hex(&felt::selector(n))));
        let r = self
            .owner_execute(
                w,
                &[call(&w.address, "add_or_update_session_key", &calldata)],
                &["add_or_update_session_key"],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }

    fn session_body(&self, w: &Wallet, td: &Value, sig: [String; 4]) -> Value {
        json!({
            "publicKey": w.address,
            "typedData": td,
            "userSignature": sig,
            "isSessionSignature": true,
            "saveToDatabase": true,
            "walletType": "CHIPI",
        })
    }

    /// Prepare `calls`, sign with `signer_sk` and send a session signature claiming
    /// `session_pk` / `valid_until` (given as a felt string).
    async fn session_execute_raw(
        &self,
        w: &Wallet,
        session_pk: &Felt,
        signer_sk: &Felt,
        valid_until: &str,
        calls: &[Value],
        names: &[&str],
    ) -> Resp {
        let td = self.prepare(&w.address, calls).await;
        let hash = hash_with_names(&td, names, &w.address);
        let (r, s) = sign(signer_sk, &hash);
        let body = self.session_body(
            w,
            &td,
            [hex(session_pk), hex(&r), hex(&s), valid_until.to_string()],
        );
        self.chipi("execute-sponsored-transaction", &body).await
    }

    async fn session_execute(
        &self,
        w: &Wallet,
        sk: &Felt,
        valid_until: u64,
        calls: &[Value],
        names: &[&str],
    ) -> Resp {
        let pk = starknet_crypto::get_public_key(sk);
        self.session_execute_raw(w, &pk, sk, &format!("{valid_until:#x}"), calls, names)
            .await
    }
}

fn session_key() -> (Felt, Felt) {
    let sk = felt::random_private_key();
    (sk, starknet_crypto::get_public_key(&sk))
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn auth_failures() {
    let env = Env::new().await;
    let w = env.wallet();
    let addr = env.sb.addr();
    let body = json!({
        "publicKey": w.address, "calls": [transfer(1)],
        "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI",
    })
    .to_string();
    let key = env.sb.api_key().to_string();
    let bearer = format!("Bearer {}", env.sb.bearer_token());
    let ok_path = format!("/v1/transactions/prepare-typed-data?__chipi_api_version={API_VERSION}");
    let ct = ("Content-Type", "application/json");

    // Missing / wrong version parameter.
    for path in [
        "/v1/transactions/prepare-typed-data".to_string(),
        "/v1/transactions/prepare-typed-data?__chipi_api_version=2024-01-01".to_string(),
    ] {
        let r = http(
            addr,
            "POST",
            &path,
            &[ct, ("x-api-key", &key), ("Authorization", &bearer)],
            &body,
        )
        .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.code(), "INVALID_API_VERSION");
    }
    // Missing / wrong API key.
    let r = http(
        addr,
        "POST",
        &ok_path,
        &[ct, ("Authorization", &bearer)],
        &body,
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["statusCode"], 401);
    assert_eq!(r.json()["message"], "Invalid API key");
    assert_eq!(r.code(), "INVALID_API_KEY");
    let r = http(
        addr,
        "POST",
        &ok_path,
        &[
            ct,
            ("x-api-key", "pk_dev_wrong"),
            ("Authorization", &bearer),
        ],
        &body,
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (401, "INVALID_API_KEY"));
    // Missing / wrong bearer.
    let r = http(addr, "POST", &ok_path, &[ct, ("x-api-key", &key)], &body).await;
    assert_eq!((r.status, r.code().as_str()), (401, "UNAUTHORIZED"));
    let r = http(
        addr,
        "POST",
        &ok_path,
        &[ct, ("x-api-key", &key), ("Authorization", "Bearer nope")],
        &body,
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (401, "UNAUTHORIZED"));
    let r = http(
        addr,
        "POST",
        &ok_path,
        &[
            ct,
            ("x-api-key", &key),
            ("Authorization", env.sb.bearer_token()),
        ],
        &body,
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (401, "UNAUTHORIZED"));
    // Wrong content type.
    let r = http(
        addr,
        "POST",
        &ok_path,
        &[
            ("Content-Type", "text/plain"),
            ("x-api-key", &key),
            ("Authorization", &bearer),
        ],
        &body,
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (415, "UNSUPPORTED_MEDIA_TYPE")
    );
    // Execute endpoint is guarded the same way.
    let r = http(
        addr,
        "POST",
        "/v1/transactions/execute-sponsored-transaction?__chipi_api_version=2025-12-30",
        &[ct, ("x-api-key", "bad"), ("Authorization", &bearer)],
        "{}",
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (401, "INVALID_API_KEY"));
    // Everything right (charset parameter allowed).
    let r = http(
        addr,
        "POST",
        &ok_path,
        &[
            ("Content-Type", "application/json; charset=utf-8"),
            ("x-api-key", &key),
            ("Authorization", &bearer),
        ],
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Every request was recorded with its headers.
    let reqs = env.sb.requests();
    assert_eq!(reqs.len(), 10);
    let last = reqs.last().expect("request");
    assert_eq!(last.header("x-api-key"), Some(key.as_str()));
    assert_eq!(last.header("Authorization"), Some(bearer.as_str()));
    assert_eq!(
        last.query_param("__chipi_api_version").as_deref(),
        Some(API_VERSION)
    );
    assert_eq!(last.body["walletType"], "CHIPI");
    assert_eq!(env.sb.issued_typed_data().len(), 1);
}

#[tokio::test]
async fn prepare_typed_data_shape_and_validation() {
    let env = Env::new().await;
    let w = env.wallet();
    let now = env.sb.clock().now_unix();
    let td = env
        .prepare(
            &w.address,
            &[
                transfer(1000),
                call(
                    TOKEN,
                    "0x219209e083275171774dab1df80982e9df2096516f06319c5c6d71ae0a8480c",
                    &["1".into()],
                ),
            ],
        )
        .await;
    assert_eq!(td["primaryType"], "OutsideExecution");
    assert_eq!(
        td["domain"],
        json!({"name": "Account.execute_from_outside", "version": "2", "chainId": "0x534e5f5345504f4c4941", "revision": "1"})
    );
    assert_eq!(
        td["types"]["Call"][1],
        json!({"name": "Selector", "type": "selector"})
    );
    let msg = &td["message"];
    assert_eq!(msg["Caller"], ANY_CALLER);
    let after = felt::parse_u128_json(&msg["Execute After"]).expect("after") as u64;
    let before = felt::parse_u128_json(&msg["Execute Before"]).expect("before") as u64;
    assert!(after.abs_diff(now - 60) <= 2 && before.abs_diff(now + 3600) <= 2);
    let c0 = &msg["Calls"][0];
    assert_eq!(
        c0["Selector"],
        "0x83afd3f4caedc6eebf44246fe54e38c95e3179a5ec9ea81740eca5b482d12e"
    );
    assert_eq!(c0["To"], TOKEN);
    assert_eq!(c0["Calldata"], json!([RECIPIENT, "0x3e8", "0x0"]));
    // An entrypoint given as a selector is used as is.
    assert_eq!(
        msg["Calls"][1]["Selector"],
        "0x219209e083275171774dab1df80982e9df2096516f06319c5c6d71ae0a8480c"
    );

    let ready = env.sb.create_wallet(PIN, SandboxWalletType::Ready);
    let base = json!({"publicKey": w.address, "calls": [transfer(1)], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"});
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"publicKey": "0x999", "calls": [transfer(1)], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"}),
            404,
            "WALLET_NOT_FOUND",
        ),
        (
            json!({"publicKey": ready.address, "calls": [transfer(1)], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"}),
            400,
            "INVALID_WALLET_TYPE",
        ),
        (
            json!({"publicKey": w.address, "calls": [transfer(1)], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "READY"}),
            400,
            "INVALID_WALLET_TYPE",
        ),
        (
            json!({"publicKey": w.address, "calls": [transfer(1)], "accountClassHash": READY_CLASS_HASH, "walletType": "CHIPI"}),
            400,
            "INVALID_CLASS_HASH",
        ),
        (
            json!({"publicKey": w.address, "calls": [], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"}),
            400,
            "INVALID_REQUEST",
        ),
        (
            json!({"publicKey": w.address, "calls": [{"contractAddress": "xyz", "entrypoint": "transfer", "calldata": []}], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"}),
            400,
            "INVALID_REQUEST",
        ),
        (
            json!({"publicKey": w.address, "calls": [{"contractAddress": TOKEN, "entrypoint": "", "calldata": []}], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"}),
            400,
            "INVALID_REQUEST",
        ),
        (
            json!({"publicKey": w.address, "calls": [{"contractAddress": TOKEN, "entrypoint": "transfer", "calldata": [{}]}], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"}),
            400,
            "INVALID_REQUEST",
        ),
        (
            json!({"publicKey": w.address, "calls": [{"contractAddress": TOKEN, "entrypoint": "transfer"}], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"}),
            400,
            "INVALID_REQUEST",
        ),
        (
            json!({"publicKey": w.address, "calls": [transfer(1)], "walletType": "CHIPI"}),
            400,
            "INVALID_REQUEST",
        ),
        (
            json!({"publicKey": w.address, "calls": [transfer(1)], "accountClassHash": CHIPI_CLASS_HASH, "walletType": 7}),
            400,
            "INVALID_REQUEST",
        ),
        (json!([base]), 400, "INVALID_REQUEST"),
        (json!("x"), 400, "INVALID_REQUEST"),
    ];
    for (body, status, code) in cases {
        let r = env.chipi("prepare-typed-data", &body).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (status, code),
            "{body}: {}",
            r.body
        );
        assert_eq!(r.json()["statusCode"], status);
    }
    // The owner-signed flow of Chipi's SDK sends no walletType at all.
    let owner_flow = json!({"publicKey": w.address, "calls": [transfer(1)], "accountClassHash": CHIPI_CLASS_HASH});
    let r = env.chipi("prepare-typed-data", &owner_flow).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = env.chipi("prepare-typed-data", &base).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn register_via_owner_signature_then_read_over_rpc() {
    let env = Env::new().await;
    let w = env.wallet();
    let (_, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 21600;
    env.register(&w, &pk, valid_until, 1000, &["transfer", "approve"])
        .await;

    let info = env.sb.session(&w.address, &hex(&pk)).expect("session");
    assert_eq!(
        info,
        SessionInfo {
            valid_until,
            max_calls: 1000,
            calls_used: 0,
            allowed_entrypoints: vec![
                hex(&felt::selector("transfer")),
                hex(&felt::selector("approve"))
            ],
            revoked: false,
        }
    );
    assert_eq!(env.sb.signature_checks(), 1);
    let txs = env.sb.transactions();
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0].signer, TxSigner::Owner);
    assert!(!txs[0].save_to_database);
    assert_eq!(
        txs[0].calls[0].entrypoint.as_deref(),
        Some("add_or_update_session_key")
    );

    // The receipt and session data are readable over JSON-RPC.
    let receipt = env
        .rpc(
            "starknet_getTransactionReceipt",
            json!({"transaction_hash": txs[0].hash}),
        )
        .await;
    assert_eq!(receipt["result"]["finality_status"], "ACCEPTED_ON_L2");
    assert_eq!(receipt["result"]["execution_status"], "SUCCEEDED");
    let data = env
        .rpc(
            "starknet_call",
            json!({"request": {"contract_address": w.address, "entry_point_selector": hex(&felt::selector("get_session_data")), "calldata": [hex(&pk)]}, "block_id": "latest"}),
        )
        .await;
    assert_eq!(
        data["result"],
        json!([format!("{valid_until:#x}"), "0x3e8", "0x0", "0x2"])
    );
    let at = env
        .rpc(
            "starknet_call",
            json!([{"contract_address": w.address, "entry_point_selector": hex(&felt::selector("get_session_allowed_entrypoint_at")), "calldata": [hex(&pk), "0x1"]}, "latest"]),
        )
        .await;
    assert_eq!(at["result"], json!([hex(&felt::selector("approve"))]));

    // A wrong owner signature is refused and changes nothing.
    let other = Wallet {
        address: w.address.clone(),
        owner_sk: felt::random_private_key(),
    };
    let r = env
        .owner_execute(
            &other,
            &[call(&w.address, "revoke_session_key", &[hex(&pk)])],
            &["revoke_session_key"],
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "INVALID_SIGNATURE"));
    assert!(
        !env.sb
            .session(&w.address, &hex(&pk))
            .expect("session")
            .revoked
    );

    // Malformed admin calldata is refused.
    let r = env
        .owner_execute(
            &w,
            &[call(
                &w.address,
                "add_or_update_session_key",
                &[hex(&pk), "1".into(), "1".into(), "2".into(), "0x1".into()],
            )],
            &["add_or_update_session_key"],
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "INVALID_CALLDATA"));
}

#[tokio::test]
async fn session_execute_success_counts_once_per_transaction() {
    let env = Env::new().await;
    let w = env.wallet();
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 3600;
    env.register(&w, &pk, valid_until, 5, &[]).await;

    let r = env
        .session_execute(
            &w,
            &sk,
            valid_until,
            &[
                transfer(1),
                transfer(2),
                call(
                    TOKEN,
                    "approve",
                    &[RECIPIENT.into(), "5".into(), "0".into()],
                ),
            ],
            &["transfer", "transfer", "approve"],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let hash = r.json()["transactionHash"]
        .as_str()
        .expect("hash")
        .to_string();
    assert!(hash.starts_with("0x"));
    assert_eq!(
        env.sb.session(&w.address, &hex(&pk)).expect("s").calls_used,
        1
    );
    let r2 = env
        .session_execute(&w, &sk, valid_until, &[transfer(3)], &["transfer"])
        .await;
    assert_eq!(r2.status, 200);
    let hash2 = r2.json()["transactionHash"]
        .as_str()
        .expect("hash")
        .to_string();
    assert_ne!(hash, hash2);
    assert_eq!(
        env.sb.session(&w.address, &hex(&pk)).expect("s").calls_used,
        2
    );
    let txs = env.sb.transactions();
    assert_eq!(txs[1].signer, TxSigner::Session(hex(&pk)));
    assert!(txs[1].save_to_database);
    assert_eq!(txs[1].calls.len(), 3);
    assert_eq!(env.sb.signature_checks(), 3);
    let block = env.rpc("starknet_blockNumber", json!([])).await;
    assert_eq!(block["result"], json!(state::GENESIS_BLOCK + 3));
}

#[tokio::test]
async fn session_rules_apply_in_contract_order() {
    let env = Env::new().await;
    let w = env.wallet();
    let now = env.sb.clock().now_unix();
    let (sk, pk) = session_key();
    let (wrong_sk, _) = session_key();
    let valid_until = now + 3600;
    let vu = format!("{valid_until:#x}");
    env.register(&w, &pk, valid_until, 2, &[]).await;
    let admin = call(
        &w.address,
        "add_or_update_session_key",
        &[hex(&pk), "1".into(), "1".into(), "0".into()],
    );
    let admin_name = ["add_or_update_session_key"];

    // 1. valid_until must fit u64 (checked before anything else).
    let r = env
        .session_execute_raw(
            &w,
            &pk,
            &wrong_sk,
            "0x10000000000000000",
            std::slice::from_ref(&admin),
            &admin_name,
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "INVALID_SESSION_SIGNATURE"),
        "{}",
        r.body
    );
    // 2. expiry before registration, admin or signature checks.
    let (_, unknown_pk) = session_key();
    let r = env
        .session_execute_raw(
            &w,
            &unknown_pk,
            &wrong_sk,
            &format!("{:#x}", now - 10),
            std::slice::from_ref(&admin),
            &admin_name,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (400, Some("Session expired"))
    );
    // 3. registration before admin / signature checks.
    let r = env
        .session_execute_raw(
            &w,
            &unknown_pk,
            &wrong_sk,
            &vu,
            std::slice::from_ref(&admin),
            &admin_name,
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "SESSION_NOT_REGISTERED")
    );
    let r = env
        .session_execute_raw(
            &w,
            &pk,
            &wrong_sk,
            &format!("{:#x}", valid_until + 1),
            std::slice::from_ref(&admin),
            &admin_name,
        )
        .await;
    assert_eq!(r.code(), "SESSION_NOT_REGISTERED");
    // 5. admin selector before the self-call and signature checks.
    let r = env
        .session_execute_raw(
            &w,
            &pk,
            &wrong_sk,
            &vu,
            &[transfer(1), admin.clone()],
            &["transfer", admin_name[0]],
        )
        .await;
    assert_eq!(r.code(), "SESSION_ENTRYPOINT_NOT_ALLOWED");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("admin"),
        "{}",
        r.body
    );
    // 6. unrestricted session may not call the account itself.
    let selfcall = call(&w.address, "get_session_data", &[hex(&pk)]);
    let r = env
        .session_execute_raw(&w, &pk, &wrong_sk, &vu, &[selfcall], &["get_session_data"])
        .await;
    assert_eq!(r.code(), "SESSION_ENTRYPOINT_NOT_ALLOWED");
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("itself"));
    // 8. ECDSA.
    let r = env
        .session_execute_raw(&w, &pk, &wrong_sk, &vu, &[transfer(1)], &["transfer"])
        .await;
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (400, Some("Invalid signature"))
    );
    assert_eq!(
        env.sb.session(&w.address, &hex(&pk)).expect("s").calls_used,
        0
    );
    // Use both calls, then 4. max calls comes before the admin check.
    for _ in 0..2 {
        let r = env
            .session_execute(&w, &sk, valid_until, &[transfer(1)], &["transfer"])
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = env
        .session_execute_raw(
            &w,
            &pk,
            &wrong_sk,
            &vu,
            std::slice::from_ref(&admin),
            &admin_name,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (400, Some("Max calls exceeded"))
    );
    assert_eq!(r.code(), "SESSION_MAX_CALLS_EXCEEDED");

    // 7. whitelist.
    let (sk2, pk2) = session_key();
    env.register(&w, &pk2, valid_until, 10, &["transfer"]).await;
    let approve = call(
        TOKEN,
        "approve",
        &[RECIPIENT.into(), "1".into(), "0".into()],
    );
    let r = env
        .session_execute(
            &w,
            &sk2,
            valid_until,
            &[transfer(1), approve],
            &["transfer", "approve"],
        )
        .await;
    assert_eq!(r.code(), "SESSION_ENTRYPOINT_NOT_ALLOWED");
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("whitelist"));
    let r = env
        .session_execute(&w, &sk2, valid_until, &[transfer(1)], &["transfer"])
        .await;
    assert_eq!(r.status, 200);

    // Revoked sessions.
    let r = env
        .owner_execute(
            &w,
            &[call(&w.address, "revoke_session_key", &[hex(&pk2)])],
            &["revoke_session_key"],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = env
        .session_execute(&w, &sk2, valid_until, &[transfer(1)], &["transfer"])
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "SESSION_REVOKED"));
    let info = env.sb.session(&w.address, &hex(&pk2)).expect("s");
    assert!(info.revoked && info.valid_until == 0);
    let data = env
        .rpc("starknet_call", json!({"request": {"contract_address": w.address, "entry_point_selector": hex(&felt::selector("get_session_data")), "calldata": [hex(&pk2)]}, "block_id": "latest"}))
        .await;
    assert_eq!(data["result"], json!(["0x0", "0x0", "0x0", "0x0"]));

    // Expiry by the passage of time (typed data prepared after the clock moved).
    env.sb.advance_time(3601);
    let r = env
        .session_execute(&w, &sk, valid_until, &[transfer(1)], &["transfer"])
        .await;
    assert_eq!(r.code(), "SESSION_EXPIRED");
}

#[tokio::test]
async fn typed_data_must_match_and_nonces_are_single_use() {
    let env = Env::new().await;
    let w = env.wallet();
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 20000;
    env.register(&w, &pk, valid_until, 10, &[]).await;

    let td = env.prepare(&w.address, &[transfer(7)]).await;
    let hash = hash_with_names(&td, &["transfer"], &w.address);
    let (r, s) = sign(&sk, &hash);
    let sig = [hex(&pk), hex(&r), hex(&s), format!("{valid_until:#x}")];
    let body = env.session_body(&w, &td, sig.clone());
    assert_eq!(
        env.chipi("execute-sponsored-transaction", &body)
            .await
            .status,
        200
    );
    let replay = env.chipi("execute-sponsored-transaction", &body).await;
    assert_eq!(
        (replay.status, replay.code().as_str()),
        (400, "NONCE_ALREADY_USED")
    );

    // Tampered content under an issued nonce.
    let td2 = env.prepare(&w.address, &[transfer(7)]).await;
    let mut tampered = td2.clone();
    tampered["message"]["Calls"][0]["Calldata"][1] = json!("0x999999");
    let r = env
        .chipi(
            "execute-sponsored-transaction",
            &env.session_body(&w, &tampered, sig.clone()),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "TYPED_DATA_MISMATCH"));
    // A nonce never issued.
    let mut unknown = td2.clone();
    unknown["message"]["Nonce"] = json!("0x1234");
    let r = env
        .chipi(
            "execute-sponsored-transaction",
            &env.session_body(&w, &unknown, sig.clone()),
        )
        .await;
    assert_eq!(r.code(), "TYPED_DATA_MISMATCH");
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Typed data does not match"));
    // Same content in another representation is accepted (semantic comparison).
    let mut restyled = td2.clone();
    restyled["domain"]["chainId"] = json!("SN_SEPOLIA");
    restyled["message"]["Calls"][0]["Calldata"][1] = json!(7);
    let hash2 = hash_with_names(&td2, &["transfer"], &w.address);
    let (r2, s2) = sign(&sk, &hash2);
    let sig2 = [
        hex(&pk),
        r2.to_string(),
        s2.to_string(),
        valid_until.to_string(),
    ];
    let r = env
        .chipi(
            "execute-sponsored-transaction",
            &env.session_body(&w, &restyled, sig2),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Outside the time window.
    let td3 = env.prepare(&w.address, &[transfer(1)]).await;
    env.sb.advance_time(3700);
    let hash3 = hash_with_names(&td3, &["transfer"], &w.address);
    let (r3, s3) = sign(&sk, &hash3);
    let body3 = env.session_body(
        &w,
        &td3,
        [hex(&pk), hex(&r3), hex(&s3), format!("{valid_until:#x}")],
    );
    let r = env.chipi("execute-sponsored-transaction", &body3).await;
    assert_eq!((r.status, r.code().as_str()), (400, "INVALID_TIME_WINDOW"));

    // Owner signature shape is required without isSessionSignature, and vice versa.
    let mut wrong_shape = body3.clone();
    wrong_shape["isSessionSignature"] = json!(false);
    let r = env
        .chipi("execute-sponsored-transaction", &wrong_shape)
        .await;
    assert_eq!(r.code(), "INVALID_SIGNATURE_FORMAT");
    let mut wrong_shape = body3.clone();
    wrong_shape["userSignature"] = json!({"r": "1", "s": "2"});
    let r = env
        .chipi("execute-sponsored-transaction", &wrong_shape)
        .await;
    assert_eq!(r.code(), "INVALID_SIGNATURE_FORMAT");
    let mut missing_flag = body3.clone();
    missing_flag
        .as_object_mut()
        .expect("obj")
        .remove("saveToDatabase");
    let r = env
        .chipi("execute-sponsored-transaction", &missing_flag)
        .await;
    assert_eq!(r.code(), "INVALID_REQUEST");
}

#[tokio::test]
async fn every_typed_data_style_round_trips() {
    for style in [
        TypedDataStyle::Hex,
        TypedDataStyle::Decimal,
        TypedDataStyle::Numbers,
        TypedDataStyle::ShortstringChainId,
        TypedDataStyle::Mixed,
    ] {
        let env = Env::with(SandboxConfig {
            typed_data_style: style,
            ..SandboxConfig::default()
        })
        .await;
        let w = env.wallet();
        let (sk, pk) = session_key();
        let valid_until = env.sb.clock().now_unix() + 600;
        env.register(&w, &pk, valid_until, 3, &["transfer"]).await;
        let r = env
            .session_execute(
                &w,
                &sk,
                valid_until,
                &[transfer(123_456_789)],
                &["transfer"],
            )
            .await;
        assert_eq!(r.status, 200, "{style:?}: {}", r.body);
        let served = &env.sb.issued_typed_data()[1].served;
        match style {
            TypedDataStyle::ShortstringChainId | TypedDataStyle::Mixed => {
                assert_eq!(served["domain"]["chainId"], "SN_SEPOLIA");
            }
            TypedDataStyle::Decimal => {
                assert_eq!(served["domain"]["chainId"], "393402133025997798000961");
            }
            _ => assert_eq!(served["domain"]["chainId"], "0x534e5f5345504f4c4941"),
        }
        if style == TypedDataStyle::Numbers {
            assert!(served["message"]["Execute Before"].is_u64());
            assert_eq!(
                served["message"]["Calls"][0]["Calldata"][1],
                json!(123_456_789)
            );
        }
    }
}

#[tokio::test]
async fn entrypoint_by_selector_is_hashed_without_its_name() {
    let env = Env::new().await;
    let w = env.wallet();
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 600;
    env.register(&w, &pk, valid_until, 3, &[]).await;
    let sel = hex(&felt::selector("transfer"));
    let td = env
        .prepare(
            &w.address,
            &[call(
                TOKEN,
                &sel,
                &[RECIPIENT.into(), "5".into(), "0".into()],
            )],
        )
        .await;
    let oe = typed_data::parse(&td).expect("parse");
    let hash = typed_data::message_hash_poseidon(&oe, parse(&w.address));
    // The same hash starknet-core gives on the names variant.
    assert_eq!(hash, hash_with_names(&td, &["transfer"], &w.address));
    let (r, s) = sign(&sk, &hash);
    let body = env.session_body(
        &w,
        &td,
        [hex(&pk), hex(&r), hex(&s), format!("{valid_until:#x}")],
    );
    let resp = env.chipi("execute-sponsored-transaction", &body).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(env.sb.transactions()[1].calls[0].entrypoint, None);
}

async fn get_policy(env: &Env, wallet: &str, pk: &Felt) -> Value {
    let body = json!({"request": {"contract_address": wallet, "entry_point_selector": hex(&felt::selector("get_spending_policy")), "calldata": [hex(pk), TOKEN]}, "block_id": "latest"});
    env.rpc("starknet_call", body).await["result"].clone()
}

#[tokio::test]
async fn spending_policy_is_enforced_per_call_and_window() {
    let env = Env::new().await;
    let w = env.wallet();
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 30000;
    env.register(&w, &pk, valid_until, 100, &[]).await;
    let policy = call(
        &w.address,
        "set_spending_policy",
        &[
            hex(&pk),
            TOKEN.into(),
            "100".into(),
            "0".into(),
            "150".into(),
            "0".into(),
            "3600".into(),
        ],
    );
    let r = env
        .owner_execute(&w, &[policy], &["set_spending_policy"])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        get_policy(&env, &w.address, &pk).await,
        json!(["0x64", "0x0", "0x96", "0x0", "0xe10", "0x0", "0x0", "0x0"])
    );

    let r = env
        .session_execute(&w, &sk, valid_until, &[transfer(100)], &["transfer"])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = env
        .sb
        .spending_policy(&w.address, &hex(&pk), TOKEN)
        .expect("policy");
    assert_eq!(p.spent, "100");
    let start = p.window_start;
    // Above max per call.
    let r = env
        .session_execute(&w, &sk, valid_until, &[transfer(101)], &["transfer"])
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "SPENDING_LIMIT_EXCEEDED")
    );
    // Window exhausted (100 + 60 > 150), even split over two calls of one tx.
    let r = env
        .session_execute(
            &w,
            &sk,
            valid_until,
            &[transfer(30), transfer(30)],
            &["transfer", "transfer"],
        )
        .await;
    assert_eq!(r.code(), "SPENDING_LIMIT_EXCEEDED");
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("window"));
    // Refusals revert: calls_used and spent unchanged.
    assert_eq!(
        env.sb.session(&w.address, &hex(&pk)).expect("s").calls_used,
        1
    );
    assert_eq!(
        env.sb
            .spending_policy(&w.address, &hex(&pk), TOKEN)
            .expect("p")
            .spent,
        "100"
    );
    // Untracked selectors and other tokens are not limited.
    let other = call(
        "0x777",
        "transfer",
        &[RECIPIENT.into(), "1000".into(), "0".into()],
    );
    let r = env
        .session_execute(&w, &sk, valid_until, &[other], &["transfer"])
        .await;
    assert_eq!(r.status, 200);
    // A new window.
    env.sb.advance_time(3600);
    let r = env
        .session_execute(&w, &sk, valid_until, &[transfer(100)], &["transfer"])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = env
        .sb
        .spending_policy(&w.address, &hex(&pk), TOKEN)
        .expect("policy");
    assert_eq!(p.spent, "100");
    assert!(p.window_start >= start + 3600);
    // Remove it.
    let r = env
        .owner_execute(
            &w,
            &[call(
                &w.address,
                "remove_spending_policy",
                &[hex(&pk), TOKEN.into()],
            )],
            &["remove_spending_policy"],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        get_policy(&env, &w.address, &pk).await,
        json!(vec!["0x0"; 8])
    );
    assert!(env
        .sb
        .spending_policy(&w.address, &hex(&pk), TOKEN)
        .is_none());
}

#[tokio::test]
async fn substitution_faults_tamper_and_are_refused_at_execute() {
    let env = Env::new().await;
    let w = env.wallet();
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 6000;
    env.register(&w, &pk, valid_until, 100, &[]).await;
    let attacker = ATTACKER_ADDRESS;
    for sub in [
        Substitution::CalldataValue,
        Substitution::Target,
        Substitution::Selector,
        Substitution::ExtraCall,
        Substitution::ChainId,
        Substitution::TimeWindow,
        Substitution::ExecuteAfterFuture,
        Substitution::DropCall,
    ] {
        env.sb.set_faults(Faults {
            substitute: Some(sub),
            endpoint: Some("prepare-typed-data".into()),
            remaining: Some(1),
            ..Faults::default()
        });
        let td = env.prepare(&w.address, &[transfer(10)]).await;
        assert!(env.sb.faults().is_none(), "countdown cleared the fault");
        let m = &td["message"];
        let c = &m["Calls"];
        match sub {
            Substitution::CalldataValue => assert_ne!(c[0]["Calldata"][1], "0xa"),
            Substitution::Target => assert_eq!(c[0]["To"], attacker),
            Substitution::Selector => assert_eq!(c[0]["Selector"], hex(&felt::selector("approve"))),
            Substitution::ExtraCall => assert_eq!(c[1]["Calldata"][0], attacker),
            Substitution::ChainId => assert_eq!(td["domain"]["chainId"], "0x534e5f4d41494e"),
            Substitution::TimeWindow => {
                let before = felt::parse_u128_json(&m["Execute Before"]).expect("before") as u64;
                assert!(before > env.sb.clock().now_unix() + 300 * 24 * 3600);
            }
            Substitution::ExecuteAfterFuture => {
                let after = felt::parse_u128_json(&m["Execute After"]).expect("after") as u64;
                assert!(after > env.sb.clock().now_unix());
            }
            Substitution::DropCall => assert_eq!(c.as_array().map(Vec::len), Some(0)),
        }
        let issued = env.sb.issued_typed_data();
        assert_eq!(issued.last().and_then(|i| i.substituted), Some(sub));
        // Even signed by the right key over exactly what was served, it is refused.
        let oe = typed_data::parse(&td).expect("parse");
        let hash = typed_data::message_hash_poseidon(&oe, parse(&w.address));
        let (r, s) = sign(&sk, &hash);
        let body = env.session_body(
            &w,
            &td,
            [hex(&pk), hex(&r), hex(&s), format!("{valid_until:#x}")],
        );
        let resp = env.chipi("execute-sponsored-transaction", &body).await;
        assert_eq!(
            (resp.status, resp.code().as_str()),
            (400, "TYPED_DATA_MISMATCH"),
            "{sub:?}"
        );
    }
    assert_eq!(env.sb.transactions().len(), 1);
    // Without the fault the same flow succeeds.
    let r = env
        .session_execute(&w, &sk, valid_until, &[transfer(10)], &["transfer"])
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn status_delay_malformed_and_missing_hash_faults() {
    let env = Env::new().await;
    let w = env.wallet();
    let (sk, pk) = session_key();
    let valid_until = env.sb.clock().now_unix() + 6000;
    env.register(&w, &pk, valid_until, 100, &[]).await;
    let prepare_body = json!({"publicKey": w.address, "calls": [transfer(1)], "accountClassHash": CHIPI_CLASS_HASH, "walletType": "CHIPI"});

    // 429 with Retry-After, twice, then normal.
    env.sb.set_faults(Faults {
        status: Some(429),
        remaining: Some(2),
        ..Faults::default()
    });
    for _ in 0..2 {
        let r = env.chipi("prepare-typed-data", &prepare_body).await;
        assert_eq!((r.status, r.code().as_str()), (429, "RATE_LIMITED"));
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(r.json()["statusCode"], 429);
    }
    assert_eq!(
        env.chipi("prepare-typed-data", &prepare_body).await.status,
        200
    );

    // 401 / 500 restricted to one endpoint.
    env.sb.set_faults(Faults {
        status: Some(500),
        endpoint: Some("rpc".into()),
        ..Faults::default()
    });
    assert_eq!(
        env.chipi("prepare-typed-data", &prepare_body).await.status,
        200
    );
    let r = http(
        env.sb.addr(),
        "POST",
        "/rpc",
        &[("Content-Type", "application/json")],
        r#"{"jsonrpc":"2.0","id":1,"method":"starknet_chainId"}"#,
    )
    .await;
    assert_eq!(r.status, 500);
    env.sb.set_faults(Faults {
        status: Some(401),
        endpoint: Some("execute-sponsored-transaction".into()),
        ..Faults::default()
    });
    let r = env.chipi("execute-sponsored-transaction", &json!({})).await;
    assert_eq!((r.status, r.code().as_str()), (401, "UNAUTHORIZED"));
    env.sb.clear_faults();

    // Delay.
    env.sb.set_faults(Faults {
        delay_ms: Some(300),
        remaining: Some(1),
        ..Faults::default()
    });
    let t = Instant::now();
    let r = env.rpc("starknet_chainId", json!([])).await;
    assert!(t.elapsed().as_millis() >= 300);
    assert_eq!(r["result"], "0x534e5f5345504f4c4941");

    // Malformed JSON.
    env.sb.set_faults(Faults {
        malformed_json: true,
        endpoint: Some("prepare-typed-data".into()),
        remaining: Some(1),
        ..Faults::default()
    });
    let r = env.chipi("prepare-typed-data", &prepare_body).await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_str::<Value>(&r.body).is_err());

    // Missing transaction hash: executed, but the answer has no hash.
    env.sb.set_faults(Faults {
        missing_tx_hash: true,
        remaining: Some(1),
        ..Faults::default()
    });
    let r = env
        .session_execute(&w, &sk, valid_until, &[transfer(1)], &["transfer"])
        .await;
    assert_eq!(r.status, 200);
    assert!(r.json().get("transactionHash").is_none());
    assert_eq!(env.sb.transactions().len(), 2);
    assert!(env.sb.faults().is_none());

    // Admin endpoints are never faulted.
    env.sb.set_faults(Faults {
        status: Some(503),
        ..Faults::default()
    });
    let r = http(env.sb.addr(), "GET", "/sandbox/info", &[], "").await;
    assert_eq!(r.status, 200);
    let r = env.rpc_raw_status().await;
    assert_eq!(r, 503);
}

impl Env {
    async fn rpc_raw_status(&self) -> u16 {
        http(
            self.sb.addr(),
            "POST",
            "/rpc",
            &[("Content-Type", "application/json")],
            "{}",
        )
        .await
        .status
    }
}

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
    let out = tokio::time::timeout(
        Duration::from_millis(300),
        env.execute_hyper(&body),
    )
    .await;
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
