//! In-memory [`Ports`] with a scripted Chipi backend and RPC node, for native
//! tests of the use cases. It applies the session-management calls it is
//! sent, so a whole lifecycle can run without a network.

use std::collections::HashMap;

use rand::{RngCore, SeedableRng};
use serde_json::{json, Value};
use starknet_crypto::Felt;
use zeroize::Zeroizing;

use super::ports::{HttpResponse, Ports};
use crate::core::felt::{encode_short_string, felt_to_hex, parse_felt};
use crate::protocol::calls::selector_for;

/// What the fake account remembers of a session.
#[derive(Debug, Clone, Default)]
pub struct FakeSession {
    pub valid_until: u64,
    pub max_calls: u32,
    pub calls_used: u32,
    pub whitelist: Vec<Felt>,
}

/// A mutation applied to a JSON document.
pub type Tamper = Box<dyn Fn(&mut Value)>;

/// Fake side effects.
pub struct FakePorts {
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
            interfere: None,
        }
    }
}

impl FakePorts {
    /// Number of requests whose URL contains `part`.
    pub fn count(&self, part: &str) -> usize {
        self.requests
            .iter()
            .filter(|(u, _)| u.contains(part))
            .count()
    }

    fn prepare(&self, body: &Value) -> Value {
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
        let mut td = json!({
            "types": {
                "StarknetDomain": [
                    {"name": "name", "type": "shortstring"},
                    {"name": "version", "type": "shortstring"},
                    {"name": "chainId", "type": "shortstring"},
                    {"name": "revision", "type": "shortstring"}
                ],
                "OutsideExecution": [
                    {"name": "Caller", "type": "ContractAddress"},
                    {"name": "Nonce", "type": "felt"},
                    {"name": "Execute After", "type": "u128"},
                    {"name": "Execute Before", "type": "u128"},
                    {"name": "Calls", "type": "Call*"}
                ],
                "Call": [
                    {"name": "To", "type": "ContractAddress"},
                    {"name": "Selector", "type": "selector"},
                    {"name": "Calldata", "type": "felt*"}
                ]
            },
            "primaryType": "OutsideExecution",
            "domain": {"name": "Account.execute_from_outside", "version": "2", "chainId": "SN_SEPOLIA", "revision": "1"},
            "message": {
                "Caller": "0x414e595f43414c4c4552",
                "Nonce": format!("{:#x}", self.tx_counter + 1),
                "Execute After": format!("{:#x}", self.now - 60),
                "Execute Before": format!("{:#x}", self.now + 3600),
                "Calls": calls,
            }
        });
        if let Some(t) = &self.tamper {
            t(&mut td);
        }
        json!({ "typedData": td, "walletType": "CHIPI" })
    }

    fn execute(&mut self, body: &Value) -> Value {
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
        json!({ "transactionHash": format!("{:#x}", 0xabc000 + self.tx_counter) })
    }

    fn rpc(&self, body: &Value) -> Value {
        let result = match body["method"].as_str() {
            Some("starknet_chainId") => {
                json!(felt_to_hex(&encode_short_string("SN_SEPOLIA").unwrap()))
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
                if sel == selector_for("get_session_data").unwrap() {
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
                return Ok(HttpResponse {
                    status,
                    body: text.into_bytes(),
                });
            }
        }
        let answer = if url.contains("prepare-typed-data") {
            self.prepare(&body)
        } else if url.contains("execute-sponsored-transaction") {
            self.execute(&body)
        } else {
            self.rpc(&body)
        };
        Ok(HttpResponse {
            status: 200,
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
}
