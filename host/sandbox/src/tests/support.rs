//! Shared fixtures of the sandbox tests: a raw HTTP/1.1 client that drives a real
//! server, wallets, signing helpers.

pub(crate) use std::net::SocketAddr;
pub(crate) use std::time::Instant;

pub(crate) use serde_json::{json, Value};
pub(crate) use starknet_core::types::{Felt, TypedData};
pub(crate) use std::io::{Read, Write};
pub(crate) use std::net::TcpStream;

pub(crate) use crate::account::ChipiContract;
pub(crate) use crate::*;

// ---------------------------------------------------------------- HTTP client

#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Resp {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_string()
    }
}

pub(crate) async fn http(
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
pub(crate) async fn http_lenient(addr: SocketAddr, path: &str, body: &str) -> Option<u16> {
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

pub(crate) const PIN: &str = "246810";
pub(crate) const TOKEN: &str = "0x4718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d";
pub(crate) const RECIPIENT: &str = "0x123456789abcdef";

pub(crate) fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub(crate) struct Env {
    pub(crate) sb: Sandbox,
}

pub(crate) struct Wallet {
    pub(crate) address: String,
    pub(crate) owner_sk: Felt,
}

pub(crate) fn parse(s: &str) -> Felt {
    felt::parse_felt_str(s).expect("felt")
}

pub(crate) fn hex(f: &Felt) -> String {
    format!("{f:#x}")
}

pub(crate) fn sign(sk: &Felt, hash: &Felt) -> (Felt, Felt) {
    let k = starknet_crypto::rfc6979_generate_k(hash, sk, None);
    let sig = starknet_crypto::sign(sk, hash, &k).expect("sign");
    (sig.r, sig.s)
}

/// Hash the served typed data with starknet-core after putting the entrypoint names
/// back into `Selector` (what starknet.js agrees with).
pub(crate) fn hash_with_names(td: &Value, names: &[&str], account: &str) -> Felt {
    let mut named = td.clone();
    let calls = named["message"]["Calls"].as_array_mut().expect("calls");
    assert_eq!(calls.len(), names.len());
    for (c, n) in calls.iter_mut().zip(names) {
        c["Selector"] = json!(n);
    }
    let td: TypedData = serde_json::from_value(named).expect("typed data");
    td.message_hash(parse(account)).expect("hash")
}

pub(crate) fn call(to: &str, entrypoint: &str, calldata: &[String]) -> Value {
    json!({ "contractAddress": to, "entrypoint": entrypoint, "calldata": calldata })
}

pub(crate) fn transfer(amount: u64) -> Value {
    call(
        TOKEN,
        "transfer",
        &[RECIPIENT.into(), amount.to_string(), "0x0".into()],
    )
}

impl Env {
    pub(crate) async fn new() -> Env {
        Self::with(SandboxConfig::default()).await
    }

    pub(crate) async fn with(config: SandboxConfig) -> Env {
        Env {
            sb: Sandbox::start(config, loopback()).await.expect("start"),
        }
    }

    pub(crate) fn wallet(&self) -> Wallet {
        let w = self.sb.create_wallet(PIN, SandboxWalletType::Chipi);
        let sk = decrypt_cryptojs(&w.encrypted_private_key, PIN).expect("decrypt");
        Wallet {
            address: w.address,
            owner_sk: parse(&sk),
        }
    }

    /// A CHIPI wallet whose account imitates `contract` (the public API creates CHIPI
    /// wallets with [`ChipiContract::SpendingPolicies`] only).
    pub(crate) fn wallet_with(&self, contract: ChipiContract) -> Wallet {
        let w = self.wallet();
        self.sb
            .shared
            .lock()
            .accounts
            .get_mut(&parse(&w.address))
            .expect("account")
            .contract = Some(contract);
        w
    }

    /// `starknet_call` of `entrypoint` on `contract` at `latest`: the whole JSON-RPC
    /// answer (`result` or `error`).
    pub(crate) async fn view(
        &self,
        contract: &str,
        entrypoint: &str,
        calldata: &[String],
    ) -> Value {
        self.rpc(
            "starknet_call",
            json!({"request": {"contract_address": contract, "entry_point_selector": hex(&felt::selector(entrypoint)), "calldata": calldata}, "block_id": "latest"}),
        )
        .await
    }

    pub(crate) fn auth_headers(&self) -> Vec<(&str, String)> {
        vec![
            ("Content-Type", "application/json".to_string()),
            ("x-api-key", self.sb.api_key().to_string()),
            (
                "Authorization",
                format!("Bearer {}", self.sb.bearer_token()),
            ),
        ]
    }

    pub(crate) async fn chipi(&self, endpoint: &str, body: &Value) -> Resp {
        let headers = self.auth_headers();
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let path = format!("/v1/transactions/{endpoint}?__chipi_api_version={API_VERSION}");
        http(self.sb.addr(), "POST", &path, &h, &body.to_string()).await
    }

    pub(crate) async fn rpc(&self, method: &str, params: Value) -> Value {
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

    pub(crate) async fn prepare(&self, wallet: &str, calls: &[Value]) -> Value {
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
    pub(crate) async fn owner_execute(&self, w: &Wallet, calls: &[Value], names: &[&str]) -> Resp {
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

    pub(crate) async fn register(
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

    pub(crate) fn session_body(&self, w: &Wallet, td: &Value, sig: [String; 4]) -> Value {
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
    pub(crate) async fn session_execute_raw(
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

    pub(crate) async fn session_execute(
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

pub(crate) fn session_key() -> (Felt, Felt) {
    let sk = felt::random_private_key();
    (sk, starknet_crypto::get_public_key(&sk))
}
