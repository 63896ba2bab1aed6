//! In-memory [`Ports`] with a scripted Chipi backend and RPC node, for native
//! tests of the use cases. It applies the session-management calls it is
//! sent, so a whole lifecycle can run without a network. The outside
//! executions it prepares use the schema of
//! `guest/test-data/outside_execution_v2.json`.

use std::collections::{HashMap, HashSet};

use rand::{RngCore, SeedableRng};
use serde_json::{json, Value};
use starknet_crypto::Felt;
use zeroize::Zeroizing;

use super::ports::{HttpResponse, Ports};
use crate::crypto::felt::{encode_short_string, felt_to_hex, parse_felt};
use crate::protocol::calls::selector_for;
use crate::test_data::outside_execution_document;

/// What the fake account remembers of a session.
#[derive(Debug, Clone, Default)]
pub(crate) struct FakeSession {
    pub valid_until: u64,
    pub max_calls: u32,
    pub calls_used: u32,
    pub whitelist: Vec<Felt>,
}

/// A mutation applied to a JSON document.
pub(crate) type Tamper = Box<dyn Fn(&mut Value)>;

/// Fake side effects.
pub(crate) struct FakePorts {
    pub store: HashMap<String, Vec<u8>>,
    pub now: u64,
    pub rng: rand::rngs::StdRng,
    pub token: Result<String, String>,
    /// `(url, body)` of every request.
    pub requests: Vec<(String, Value)>,
    /// Status and body to answer the next request to a URL containing the key.
    pub fail: Option<(String, u16, String)>,
    /// Mutation applied to prepared typed data.
    pub tamper: Option<Tamper>,
    pub sessions: HashMap<Felt, FakeSession>,
    pub tx_counter: u64,
    /// Value written to the store between a read and the next CAS (simulates a concurrent writer).
    pub interfere: Option<Vec<u8>>,
    /// Outside-execution nonces the account has consumed.
    pub nonces_used: HashSet<Felt>,
    /// The next N executions are applied, then their answer is lost.
    pub lose_answers: u32,
    /// Answer executions with this status after applying them.
    pub status_after_apply: Option<u16>,
    /// Every store write fails while set.
    pub store_broken: bool,
    /// Break the store right after the next execution is applied.
    pub break_store_after_execute: bool,
    /// Chain id the node and the prepared typed data use.
    pub chain: String,
    /// Milliseconds slept (backoff).
    pub slept_ms: u64,
    /// Warnings reported.
    pub warnings: Vec<String>,
    /// `Retry-After` sent with `fail` answers.
    pub retry_after: Option<String>,
    /// Answer this many requests matching `fail` only (then answer normally).
    pub fail_times: Option<u32>,
    /// Successful compare-and-swap writes.
    pub cas_writes: usize,
    /// Receipt requests answered "not found" before receipts appear.
    pub receipt_unknown_polls: std::cell::Cell<u32>,
    /// Prepare outside executions with this nonce (a backend handing out a
    /// nonce again).
    pub reuse_nonce: Option<Felt>,
    /// Nonces prepared so far.
    pub nonces_prepared: Vec<Felt>,
    /// The node answers "consumed" for every outside-execution nonce.
    pub every_nonce_consumed: bool,
}

impl Default for FakePorts {
    fn default() -> Self {
        Self {
            store: HashMap::new(),
            now: 1_800_000_000,
            rng: rand::rngs::StdRng::seed_from_u64(7),
            token: Ok("token".into()),
            requests: Vec::new(),
            fail: None,
            tamper: None,
            sessions: HashMap::new(),
            tx_counter: 0,
            cas_writes: 0,
            receipt_unknown_polls: std::cell::Cell::new(0),
            reuse_nonce: None,
            nonces_prepared: Vec::new(),
            every_nonce_consumed: false,
            interfere: None,
            nonces_used: HashSet::new(),
            lose_answers: 0,
            status_after_apply: None,
            store_broken: false,
            break_store_after_execute: false,
            chain: "SN_SEPOLIA".into(),
            slept_ms: 0,
            warnings: Vec::new(),
            retry_after: None,
            fail_times: None,
        }
    }
}

impl FakePorts {
    /// Number of requests whose URL contains `part`.
    pub(crate) fn count(&self, part: &str) -> usize {
        self.requests
            .iter()
            .filter(|(u, _)| u.contains(part))
            .count()
    }

    fn prepare(&mut self, body: &Value) -> Value {
        let calls: Vec<Value> = body["calls"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|c| {
                let selector = selector_for(c["entrypoint"].as_str().unwrap_or("")).unwrap();
                json!({"To": c["contractAddress"], "Selector": felt_to_hex(&selector), "Calldata": c["calldata"]})
            })
            .collect();
        let nonce = self
            .reuse_nonce
            .unwrap_or(Felt::from(0x1000 + self.requests.len()));
        self.nonces_prepared.push(nonce);
        let mut td = outside_execution_document(
            &self.chain,
            &json!({
                "Caller": "0x414e595f43414c4c4552",
                "Nonce": felt_to_hex(&nonce),
                "Execute After": format!("{:#x}", self.now - 60),
                "Execute Before": format!("{:#x}", self.now + 3600),
                "Calls": calls,
            }),
        );
        if let Some(t) = &self.tamper {
            t(&mut td);
        }
        json!({ "typedData": td, "walletType": "CHIPI" })
    }

    fn execute(&mut self, body: &Value) -> Option<Value> {
        let nonce = parse_felt(body["typedData"]["message"]["Nonce"].as_str().unwrap()).unwrap();
        if !self.nonces_used.insert(nonce) {
            return None;
        }
        let calls = body["typedData"]["message"]["Calls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if body["isSessionSignature"] == json!(true) {
            let pubkey = parse_felt(body["userSignature"][0].as_str().unwrap()).unwrap();
            if let Some(s) = self.sessions.get_mut(&pubkey) {
                s.calls_used += 1;
            }
        } else {
            for call in calls {
                let sel = parse_felt(call["Selector"].as_str().unwrap()).unwrap();
                let cd: Vec<Felt> = call["Calldata"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| parse_felt(v.as_str().unwrap()).unwrap())
                    .collect();
                if sel == selector_for("add_or_update_session_key").unwrap() {
                    let to_u64 = |f: &Felt| u64::try_from(f.to_biguint()).unwrap();
                    self.sessions.insert(
                        cd[0],
                        FakeSession {
                            valid_until: to_u64(&cd[1]),
                            max_calls: to_u64(&cd[2]) as u32,
                            calls_used: 0,
                            whitelist: cd[4..].to_vec(),
                        },
                    );
                } else if sel == selector_for("revoke_session_key").unwrap() {
                    self.sessions.remove(&cd[0]);
                }
            }
        }
        self.tx_counter += 1;
        Some(json!({ "transactionHash": format!("{:#x}", 0xabc000 + self.tx_counter) }))
    }

    fn rpc(&self, body: &Value) -> Value {
        let result = match body["method"].as_str() {
            Some("starknet_chainId") => {
                json!(felt_to_hex(&encode_short_string(&self.chain).unwrap()))
            }
            Some("starknet_call") => {
                let req = &body["params"]["request"];
                let sel = parse_felt(req["entry_point_selector"].as_str().unwrap()).unwrap();
                let args: Vec<Felt> = req["calldata"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| parse_felt(v.as_str().unwrap()).unwrap())
                    .collect();
                let s = self.sessions.get(&args[0]).cloned().unwrap_or_default();
                if sel == selector_for("is_valid_outside_execution_nonce").unwrap() {
                    json!([
                        if self.every_nonce_consumed || self.nonces_used.contains(&args[0]) {
                            "0x0"
                        } else {
                            "0x1"
                        }
                    ])
                } else if sel == selector_for("get_session_data").unwrap() {
                    json!([
                        format!("{:#x}", s.valid_until),
                        format!("{:#x}", s.max_calls),
                        format!("{:#x}", s.calls_used),
                        format!("{:#x}", s.whitelist.len())
                    ])
                } else {
                    let i = usize::try_from(args[1].to_biguint()).unwrap();
                    json!([felt_to_hex(&s.whitelist[i])])
                }
            }
            Some("starknet_getTransactionReceipt") => {
                let hash =
                    parse_felt(body["params"]["transaction_hash"].as_str().unwrap()).unwrap();
                let issued = (1..=self.tx_counter).any(|i| Felt::from(0xabc000 + i) == hash);
                let unknown = self.receipt_unknown_polls.get();
                if unknown > 0 || !issued {
                    self.receipt_unknown_polls.set(unknown.saturating_sub(1));
                    return json!({"jsonrpc": "2.0", "id": body["id"],
                        "error": {"code": 29, "message": "Transaction hash not found"}});
                }
                json!({
                    "transaction_hash": felt_to_hex(&hash),
                    "finality_status": "ACCEPTED_ON_L2",
                    "execution_status": "SUCCEEDED",
                    "block_number": 7,
                })
            }
            _ => json!(null),
        };
        json!({"jsonrpc": "2.0", "id": body["id"], "result": result})
    }
}

impl Ports for FakePorts {
    fn http_post(
        &mut self,
        url: &str,
        _headers: &[(String, String)],
        body: &[u8],
    ) -> Result<HttpResponse, String> {
        let body: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        self.requests.push((url.to_string(), body.clone()));
        if let Some((part, status, text)) = self.fail.clone() {
            if url.contains(&part) {
                match self.fail_times {
                    Some(n) if n <= 1 => {
                        self.fail = None;
                        self.fail_times = None;
                    }
                    Some(n) => self.fail_times = Some(n - 1),
                    None => {}
                }
                return Ok(HttpResponse {
                    status,
                    retry_after: self.retry_after.clone(),
                    body: text.into_bytes(),
                });
            }
        }
        let answer = if url.contains("prepare-typed-data") {
            self.prepare(&body)
        } else if url.contains("execute-sponsored-transaction") {
            let Some(answer) = self.execute(&body) else {
                return Ok(HttpResponse {
                    status: 400,
                    retry_after: None,
                    body: br#"{"message":"argent/duplicated-outside-nonce"}"#.to_vec(),
                });
            };
            if self.break_store_after_execute {
                self.store_broken = true;
            }
            if self.lose_answers > 0 {
                self.lose_answers -= 1;
                return Err("connection reset by peer".into());
            }
            if let Some(status) = self.status_after_apply {
                return Ok(HttpResponse {
                    status,
                    retry_after: None,
                    body: br#"{"message":"upstream timeout"}"#.to_vec(),
                });
            }
            answer
        } else {
            self.rpc(&body)
        };
        Ok(HttpResponse {
            status: 200,
            retry_after: None,
            body: serde_json::to_vec(&answer).unwrap(),
        })
    }

    fn store_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.store.get(key).cloned())
    }

    fn store_cas(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, String> {
        if self.store_broken {
            return Err("disk I/O error".into());
        }
        if let Some(value) = self.interfere.take() {
            self.store.insert(key.to_string(), value);
        }
        if self.store.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(v) => self.store.insert(key.to_string(), v.to_vec()),
            None => self.store.remove(key),
        };
        self.cas_writes += 1;
        Ok(true)
    }

    fn now_unix(&mut self) -> u64 {
        self.now
    }

    fn fill_random(&mut self, buf: &mut [u8]) {
        self.rng.fill_bytes(buf);
    }

    fn bearer_token(&mut self) -> Result<Zeroizing<String>, String> {
        self.token.clone().map(Zeroizing::new)
    }

    fn remaining_ms(&mut self) -> u64 {
        60_000u64.saturating_sub(self.slept_ms)
    }

    fn sleep_ms(&mut self, ms: u64) {
        self.slept_ms += ms;
    }

    fn warn(&mut self, message: &str) {
        self.warnings.push(message.to_string());
    }
}
