//! The real-VM harness: one relay sandbox in front of the starknet-devnet at
//! `CHIPI_DEVNET_URL` for the whole process, a predeployed session account per
//! test, the real component in the real host, and direct reads of the node.
//!
//! The component's clock follows the node's block time (devnet time can be moved
//! forward), so its local checks and the contract judge the same instant.

use std::sync::{Arc, OnceLock};

use chipi_session_e2e::{ok, runtime, Stateless};
use chipi_session_host::runtime::{
    authorities_from_urls, Call, Config, CreateOptions, EncryptKeyKind, Imports, RegisterOptions,
    SessionContext, StaticToken, Wallet, WalletType,
};
use chipi_session_host::store::{MemoryStore, SessionStore};
use chipi_session_sandbox::{
    decrypt_cryptojs, Faults, Sandbox, SandboxConfig, SandboxWallet, SharedClock, API_VERSION,
    CHIPI_CLASS_HASH,
};
use serde_json::{json, Value};
use starknet_core::types::{Felt, TypedData};
use starknet_core::utils::get_selector_from_name;

/// PIN of every wallet of the suite.
pub(crate) const PIN: &str = "1234";
/// The devnet's STRK fee token, an ERC-20 every predeployed account holds.
pub(crate) const STRK: &str = "0x04718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d";

/// URL of the devnet under test; the suite fails without it.
pub(crate) fn node_url() -> String {
    std::env::var("CHIPI_DEVNET_URL").unwrap_or_else(|_| {
        panic!(
            "CHIPI_DEVNET_URL is not set: run this suite with scripts/test-devnet.sh, \
             which starts starknet-devnet with Chipi's session account"
        )
    })
}

/// The process-wide relay sandbox.
pub(crate) fn relay() -> &'static Sandbox {
    static RELAY: OnceLock<Sandbox> = OnceLock::new();
    RELAY.get_or_init(|| {
        Sandbox::start_relay_in_thread(
            SandboxConfig::default(),
            ([127, 0, 0, 1], 0).into(),
            &node_url(),
        )
        .expect("the relay sandbox starts in front of the devnet")
    })
}

/// One JSON-RPC call to the node; its `result` (panics on an error answer).
pub(crate) async fn node_call(method: &str, params: Value) -> Value {
    match node_try(method, params).await {
        Ok(v) => v,
        Err(e) => panic!("{method}: {e}"),
    }
}

/// One JSON-RPC call to the node: `Ok(result)` or `Err(error object)`.
pub(crate) async fn node_try(method: &str, params: Value) -> Result<Value, Value> {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    let answer: Value = reqwest::Client::new()
        .post(node_url())
        .json(&body)
        .send()
        .await
        .expect("the devnet answers")
        .json()
        .await
        .expect("the devnet answers JSON");
    match (answer.get("result"), answer.get("error")) {
        (Some(r), _) => Ok(r.clone()),
        (None, Some(e)) => Err(e.clone()),
        _ => panic!("{method}: neither result nor error in {answer}"),
    }
}

/// `starknet_call` of `entrypoint` on `to`; the result felts.
pub(crate) async fn view(
    to: &str,
    entrypoint: &str,
    calldata: &[Felt],
) -> Result<Vec<Felt>, Value> {
    let selector = get_selector_from_name(entrypoint).expect("valid entrypoint name");
    let result = node_try(
        "starknet_call",
        json!({
            "request": {
                "contract_address": to,
                "entry_point_selector": format!("{selector:#x}"),
                "calldata": calldata.iter().map(|f| format!("{f:#x}")).collect::<Vec<_>>(),
            },
            "block_id": "latest",
        }),
    )
    .await?;
    Ok(result
        .as_array()
        .expect("starknet_call returns an array")
        .iter()
        .map(|v| Felt::from_hex(v.as_str().expect("felt string")).expect("hex felt"))
        .collect())
}

/// The node's current block time (the pre-confirmed block's timestamp).
pub(crate) async fn node_time() -> u64 {
    let block = node_call("starknet_getBlockWithTxHashes", json!(["pre_confirmed"])).await;
    block["timestamp"].as_u64().expect("block timestamp")
}

/// STRK balance of `owner` (u256 low word; the amounts here are small).
pub(crate) async fn strk_balance(owner: &str) -> u128 {
    let owner = Felt::from_hex(owner).expect("hex address");
    let words = view(STRK, "balance_of", &[owner])
        .await
        .expect("balance_of answers");
    assert_eq!(words.len(), 2, "u256 balance");
    assert_eq!(words[1], Felt::ZERO, "balance below 2^128");
    u128::try_from(words[0]).expect("low word fits u128")
}

/// A transfer of `amount` STRK base units to `to`.
pub(crate) fn transfer(to: &str, amount: u64) -> Call {
    Call {
        contract_address: STRK.into(),
        entrypoint: "transfer".into(),
        calldata: vec![to.into(), amount.to_string(), "0".into()],
    }
}

/// A fresh recipient address (never an account: balances start at 0).
pub(crate) fn fresh_recipient() -> String {
    format!(
        "{:#x}",
        Felt::from(rand::random::<u64>()) + Felt::from(0x5eed_u128 << 64)
    )
}

/// `get_session_data(key)` read from the account: `[valid_until, max_calls,
/// calls_used, allowed_entrypoints_len]`.
pub(crate) async fn session_data(wallet: &str, session_key: &str) -> Vec<u64> {
    let key = Felt::from_hex(session_key).expect("hex key");
    view(wallet, "get_session_data", &[key])
        .await
        .expect("get_session_data answers")
        .iter()
        .map(|f| u64::try_from(*f).expect("small value"))
        .collect()
}

/// Wait for `hash`'s receipt; its execution status.
pub(crate) async fn receipt_status(hash: &str) -> String {
    for _ in 0..100 {
        if let Ok(r) = node_try(
            "starknet_getTransactionReceipt",
            json!({ "transaction_hash": hash }),
        )
        .await
        {
            if let Some(s) = r["execution_status"].as_str() {
                return s.to_owned();
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no receipt for {hash}");
}

/// A predeployed session account handed out by the relay, and a component
/// wired to the relay and the node.
pub(crate) struct DevnetWallet {
    /// The wallet as Chipi returns one.
    pub(crate) wallet: SandboxWallet,
    /// The component's clock: host time moved to the node's block time.
    pub(crate) clock: SharedClock,
    /// The component's session store.
    pub(crate) store: Arc<MemoryStore>,
}

impl DevnetWallet {
    /// The next predeployed account, with the component's clock on the node's time.
    pub(crate) async fn take() -> Self {
        let wallet = relay()
            .take_node_wallet(PIN)
            .expect("a predeployed account is left (start devnet with enough --accounts)");
        let clock = SharedClock::new();
        let offset = i64::try_from(node_time().await).expect("time fits i64")
            - i64::try_from(clock.now_unix()).expect("time fits i64");
        clock.advance(offset);
        Self {
            wallet,
            clock,
            store: Arc::new(MemoryStore::new()),
        }
    }

    /// The wallet's address.
    pub(crate) fn address(&self) -> &str {
        &self.wallet.address
    }

    /// Move the node's time and the component's clock forward by `secs`.
    pub(crate) async fn advance_time(&self, secs: u64) {
        node_call("devnet_increaseTime", json!({ "time": secs })).await;
        self.clock
            .advance(i64::try_from(secs).expect("seconds fit i64"));
    }

    /// Configuration: the relay's API, the node's RPC.
    pub(crate) fn config(&self) -> Config {
        Config {
            api_base_url: relay().api_url(),
            api_key: relay().api_key().to_owned(),
            rpc_urls: vec![node_url()],
            chain_id: None,
            default_duration_seconds: 21_600,
            default_max_calls: 1_000,
            timeout_ms: None,
        }
    }

    /// The session context of the wallet.
    pub(crate) fn ctx(&self) -> SessionContext {
        SessionContext {
            wallet: Wallet {
                address: self.wallet.address.clone(),
                encrypted_private_key: self.wallet.encrypted_private_key.clone(),
                wallet_type: WalletType::Chipi,
            },
            encrypt_key: PIN.into(),
            encrypt_key_kind: EncryptKeyKind::Pin,
            config: self.config(),
        }
    }

    /// Stateless calls (a fresh warm session per call) through the real host.
    pub(crate) fn handle(&self) -> Stateless {
        let config = self.config();
        let urls = [config.api_base_url.as_str(), config.rpc_urls[0].as_str()];
        let clock = self.clock.clone();
        let imports = Imports::new(
            self.store.clone() as Arc<dyn SessionStore>,
            Arc::new(StaticToken::new(relay().bearer_token())),
        )
        .with_allowed_authorities(authorities_from_urls(&urls).expect("valid URLs"))
        .with_clock(move || clock.now());
        Stateless::new(runtime(), imports)
    }

    /// Create and register a session; its public key and `valid_until`.
    pub(crate) async fn register(
        &self,
        duration: Option<u64>,
        max_calls: u32,
        allow: &[&str],
    ) -> (String, u64) {
        let handle = self.handle();
        let created = ok(handle
            .create_session(
                &self.ctx(),
                &CreateOptions {
                    duration_seconds: duration,
                    replace_existing: false,
                },
            )
            .await);
        let hash = ok(handle
            .register_session(
                &self.ctx(),
                &RegisterOptions {
                    valid_until: None,
                    max_calls: Some(max_calls),
                    allowed_entrypoints: allow.iter().map(ToString::to_string).collect(),
                    idempotency_key: None,
                },
            )
            .await);
        assert_eq!(receipt_status(&hash).await, "SUCCEEDED");
        (created.public_key, created.valid_until)
    }

    /// Number of `execute-sponsored-transaction` requests the relay received.
    pub(crate) fn executes_sent(&self) -> usize {
        relay()
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("execute-sponsored-transaction"))
            .filter(|r| r.body["publicKey"].as_str() == Some(self.address()))
            .count()
    }

    /// The session's private key, opened from its envelope with the PIN.
    pub(crate) async fn session_secret(&self) -> Felt {
        let status = ok(self.handle().get_session_status(&self.ctx()).await);
        let session = status.session.expect("a stored session");
        let wallet = Felt::from_hex(self.address()).expect("hex address");
        let public = Felt::from_hex(&session.public_key).expect("hex key");
        let key = chipi_session_guest::crypto::envelope::open(
            &session.encrypted_private_key,
            &chipi_session_guest::crypto::envelope::EncryptKey::pin(PIN),
            &wallet,
            &public,
        )
        .expect("the session envelope opens with the PIN");
        Felt::from_bytes_be(&key.to_be_bytes())
    }

    /// Force `calls` past the component's local checks: prepare them at the
    /// relay, sign the outside execution with the session key here (starknet-core's
    /// SNIP-12 hash, starknet-crypto's ECDSA), and submit. The relay's answer:
    /// `Ok(transaction hash)` or `Err((code, message))`.
    pub(crate) async fn force_session_calls(
        &self,
        calls: &[(&str, &str, Vec<Felt>)],
        valid_until: u64,
    ) -> Result<String, (String, String)> {
        let secret = self.session_secret().await;
        self.force_calls(calls, Signer::Session(secret, valid_until))
            .await
    }

    /// Force `calls` signed by the wallet's owner key (opened from the wallet's
    /// CryptoJS ciphertext with the PIN), past the component: same path as
    /// [`Self::force_session_calls`], with the 2-felt owner signature.
    pub(crate) async fn force_owner_calls(
        &self,
        calls: &[(&str, &str, Vec<Felt>)],
    ) -> Result<String, (String, String)> {
        let owner = decrypt_cryptojs(&self.wallet.encrypted_private_key, PIN)
            .expect("the owner key opens with the PIN");
        let owner = Felt::from_hex(owner.trim()).expect("hex owner key");
        self.force_calls(calls, Signer::Owner(owner)).await
    }

    async fn force_calls(
        &self,
        calls: &[(&str, &str, Vec<Felt>)],
        signer: Signer,
    ) -> Result<String, (String, String)> {
        let api_calls: Vec<Value> = calls
            .iter()
            .map(|(to, entrypoint, calldata)| {
                json!({
                    "contractAddress": to,
                    "entrypoint": entrypoint,
                    "calldata": calldata.iter().map(|f| format!("{f:#x}")).collect::<Vec<_>>(),
                })
            })
            .collect();
        let mut prepare = json!({
            "publicKey": self.address(),
            "calls": api_calls,
            "accountClassHash": CHIPI_CLASS_HASH,
        });
        if signer.is_session() {
            prepare["walletType"] = json!("CHIPI");
        }
        let prepared = post("/transactions/prepare-typed-data", prepare)
            .await
            .expect("prepare-typed-data answers");
        let served = prepared["typedData"].clone();
        // Hash what was served, with the selectors given by name as starknet-core
        // expects them.
        let mut named = served.clone();
        for (i, (_, entrypoint, _)) in calls.iter().enumerate() {
            named["message"]["Calls"][i]["Selector"] = json!(entrypoint);
        }
        let td: TypedData = serde_json::from_value(named).expect("served typed data parses");
        let account = Felt::from_hex(self.address()).expect("hex address");
        let hash = td.message_hash(account).expect("typed data hashes");
        let answer = post(
            "/transactions/execute-sponsored-transaction",
            json!({
                "publicKey": self.address(),
                "typedData": served,
                "userSignature": signer.sign(&hash),
                "isSessionSignature": signer.is_session(),
                "saveToDatabase": false,
                "walletType": "CHIPI",
            }),
        )
        .await;
        match answer {
            Ok(v) => Ok(v["transactionHash"]
                .as_str()
                .expect("a transaction hash")
                .to_owned()),
            Err(e) => Err((
                e["code"].as_str().unwrap_or_default().to_owned(),
                e["message"].as_str().unwrap_or_default().to_owned(),
            )),
        }
    }
}

/// Who signs a forced outside execution.
#[derive(Clone, Copy)]
enum Signer {
    /// The session key, with the signature's `valid_until`.
    Session(Felt, u64),
    /// The wallet's owner key.
    Owner(Felt),
}

impl Signer {
    fn is_session(self) -> bool {
        matches!(self, Signer::Session(..))
    }

    /// `userSignature` over `hash` as Chipi's API takes it: `[session_pubkey, r,
    /// s, valid_until]` for a session, `{r, s}` (decimal) for the owner.
    fn sign(self, hash: &Felt) -> Value {
        let (Signer::Session(secret, _) | Signer::Owner(secret)) = self;
        let k = starknet_crypto::rfc6979_generate_k(hash, &secret, None);
        let sig = starknet_crypto::sign(&secret, hash, &k).expect("signs");
        match self {
            Signer::Session(_, valid_until) => json!([
                format!("{:#x}", starknet_crypto::get_public_key(&secret)),
                format!("{:#x}", sig.r),
                format!("{:#x}", sig.s),
                format!("{valid_until:#x}"),
            ]),
            Signer::Owner(_) => json!({
                "r": sig.r.to_biguint().to_string(),
                "s": sig.s.to_biguint().to_string(),
            }),
        }
    }
}

/// POST to the relay's Chipi API: `Ok(body)` on 2xx, `Err(body)` otherwise.
pub(crate) async fn post(path: &str, body: Value) -> Result<Value, Value> {
    let url = format!(
        "{}{path}?__chipi_api_version={API_VERSION}",
        relay().api_url()
    );
    let resp = reqwest::Client::new()
        .post(url)
        .header("x-api-key", relay().api_key())
        .header(
            "authorization",
            format!("Bearer {}", relay().bearer_token()),
        )
        .json(&body)
        .send()
        .await
        .expect("the relay answers");
    let ok = resp.status().is_success();
    let value: Value = resp.json().await.expect("the relay answers JSON");
    if ok {
        Ok(value)
    } else {
        Err(value)
    }
}

/// Faults on the next `execute-sponsored-transaction` request only.
pub(crate) fn next_execute(mut faults: Faults) -> Faults {
    faults.endpoint = Some("execute-sponsored-transaction".into());
    faults.remaining = Some(1);
    faults
}
