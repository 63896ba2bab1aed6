//! Relay mode: Chipi's two endpoints in front of a real Starknet node (starknet-devnet).
//!
//! Chipi's backend and paymaster prepare a SNIP-9 v2 outside execution and submit the
//! user's signed `execute_from_outside_v2` from a relayer account of their own. In relay
//! mode the sandbox does the same against a real node: `prepare-typed-data` takes its
//! time window from the node's block time, and `execute-sponsored-transaction` sends an
//! INVOKE v3 transaction from a relayer account, built and signed by starknet-rs. The
//! relay checks nothing the contract checks: signatures, nonces, time windows and
//! session rules are the account contract's business, and its reverts come back as
//! Chipi-style errors. What the relay checks is what a backend checks: that the typed
//! data submitted is the one it issued.
//!
//! The user wallets are the node's predeployed accounts (starknet-devnet
//! `devnet_getPredeployedAccounts`, of the session-account class), handed out with their
//! owner key encrypted under a PIN as Chipi returns it. The relayer is an account of its
//! own, deployed at start from OpenZeppelin's account class (1.0.0, which starknet-devnet
//! always declares) with a fresh key and minted fees, as a paymaster's relayer is a
//! regular account: Chipi's session account would not do, because its `__execute__`
//! ignores failing inner calls, so a refused `execute_from_outside_v2` would look like a
//! successful transaction.

use std::collections::VecDeque;
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context as _};
use axum::http::StatusCode;
use serde_json::{json, Value};
use starknet_accounts::{
    Account as _, AccountError, AccountFactory as _, ExecutionEncoding, OpenZeppelinAccountFactory,
    SingleOwnerAccount,
};
use starknet_core::types::{BlockId, BlockTag, Call, Felt, StarknetError};
use starknet_providers::jsonrpc::{HttpTransport, JsonRpcClient};
use starknet_providers::ProviderError;
use starknet_signers::{LocalWallet, SigningKey};
use zeroize::Zeroizing;

use super::error::ApiError;
use super::felt;
use super::typed_data::OutsideExecution;
use super::wallets::{encrypt_cryptojs, SandboxWallet, SandboxWalletType};

/// The relayer account, as starknet-rs drives it.
type Relayer = SingleOwnerAccount<JsonRpcClient<HttpTransport>, LocalWallet>;

/// OpenZeppelin's account class 1.0.0 (Cairo 1), which starknet-devnet declares at start.
const RELAYER_CLASS_HASH: &str =
    "0x05b4b537eaa2399e3aa99c4e2e0208ebd6c71bc1467938cd52c798c601e43564";

/// Fees minted to the relayer, FRI (10 STRK: thousands of transactions on devnet).
const RELAYER_FUNDS_FRI: u64 = 10_000_000_000_000_000_000;

/// Longest revert reason passed on in an error message, bytes.
const MAX_REASON: usize = 1024;

/// A predeployed account of the node: address and owner key pair.
struct NodeAccount {
    address: Felt,
    public_key: Felt,
    private_key: Zeroizing<String>,
}

/// The node, the relayer and the accounts still to hand out.
pub(crate) struct Relay {
    rpc_url: String,
    http: reqwest::Client,
    chain_id: Felt,
    account_class: Felt,
    relayer_address: Felt,
    /// One transaction at a time: the relayer's nonce is read when it sends.
    relayer: tokio::sync::Mutex<Relayer>,
    free_accounts: Mutex<VecDeque<NodeAccount>>,
}

/// The node could not be reached or answered something unusable (502).
fn node_unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "NODE_UNAVAILABLE",
        format!("The Starknet node could not be reached: {e}"),
    )
}

impl Relay {
    /// Connect to the node at `rpc_url`: read its chain id and predeployed accounts,
    /// and deploy the relayer.
    pub(crate) async fn connect(rpc_url: &str) -> anyhow::Result<Relay> {
        let url = url::Url::parse(rpc_url).with_context(|| format!("bad node URL {rpc_url}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("the node URL must be http or https: {rpc_url}");
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        let probe = Relay::raw_call(&http, rpc_url, "starknet_chainId", json!([])).await?;
        let chain_id = probe
            .as_str()
            .and_then(felt::parse_felt_str)
            .ok_or_else(|| anyhow!("starknet_chainId answered {probe}"))?;
        let listed =
            Relay::raw_call(&http, rpc_url, "devnet_getPredeployedAccounts", json!({})).await?;
        let accounts = listed
            .as_array()
            .ok_or_else(|| anyhow!("devnet_getPredeployedAccounts answered {listed}"))?
            .iter()
            .map(|a| {
                let field = |k: &str| {
                    a.get(k)
                        .and_then(Value::as_str)
                        .ok_or_else(|| anyhow!("predeployed account without {k}"))
                };
                let felt_of = |k: &str| {
                    field(k).and_then(|s| {
                        felt::parse_felt_str(s).ok_or_else(|| anyhow!("malformed {k} {s}"))
                    })
                };
                Ok(NodeAccount {
                    address: felt_of("address")?,
                    public_key: felt_of("public_key")?,
                    private_key: Zeroizing::new(field("private_key")?.to_owned()),
                })
            })
            .collect::<anyhow::Result<VecDeque<_>>>()?;
        let first = accounts
            .front()
            .ok_or_else(|| anyhow!("the node has no predeployed account to hand out"))?;
        let class = Relay::raw_call(
            &http,
            rpc_url,
            "starknet_getClassHashAt",
            json!({ "block_id": "latest", "contract_address": felt::hex(&first.address) }),
        )
        .await?;
        let account_class = class
            .as_str()
            .and_then(felt::parse_felt_str)
            .ok_or_else(|| anyhow!("starknet_getClassHashAt answered {class}"))?;
        let relayer = Relay::deploy_relayer(&http, &url, chain_id).await?;
        Ok(Relay {
            rpc_url: rpc_url.to_owned(),
            http,
            chain_id,
            account_class,
            relayer_address: relayer.address(),
            relayer: tokio::sync::Mutex::new(relayer),
            free_accounts: Mutex::new(accounts),
        })
    }

    /// Deploy an OpenZeppelin account with a fresh key, paid by fees minted to its
    /// counterfactual address, and wait until the node accepted it.
    async fn deploy_relayer(
        http: &reqwest::Client,
        url: &url::Url,
        chain_id: Felt,
    ) -> anyhow::Result<Relayer> {
        let class_hash = felt::parse_felt_str(RELAYER_CLASS_HASH)
            .ok_or_else(|| anyhow!("malformed relayer class hash"))?;
        let key = SigningKey::from_random();
        let provider = || JsonRpcClient::new(HttpTransport::new(url.clone()));
        let mut factory = OpenZeppelinAccountFactory::new(
            class_hash,
            chain_id,
            LocalWallet::from(key.clone()),
            provider(),
        )
        .await
        .context("relayer key")?;
        factory.set_block_id(BlockId::Tag(BlockTag::PreConfirmed));
        let salt = felt::random_felt();
        let deployment = factory.deploy_v3(salt);
        let address = deployment.address();
        Relay::raw_call(
            http,
            url.as_str(),
            "devnet_mint",
            json!({ "address": felt::hex(&address), "amount": RELAYER_FUNDS_FRI, "unit": "FRI" }),
        )
        .await
        .context("minting the relayer's fees")?;
        let sent = deployment
            .send()
            .await
            .map_err(|e| anyhow!("deploying the relayer account: {e}"))?;
        Relay::wait_accepted(http, url.as_str(), sent.transaction_hash).await?;
        let mut account = SingleOwnerAccount::new(
            provider(),
            LocalWallet::from(key),
            address,
            chain_id,
            ExecutionEncoding::New,
        );
        account.set_block_id(BlockId::Tag(BlockTag::PreConfirmed));
        Ok(account)
    }

    /// Wait until the node accepted `hash` and it succeeded.
    async fn wait_accepted(http: &reqwest::Client, url: &str, hash: Felt) -> anyhow::Result<()> {
        for _ in 0..300 {
            let receipt = Relay::raw_call(
                http,
                url,
                "starknet_getTransactionReceipt",
                json!({ "transaction_hash": felt::hex(&hash) }),
            )
            .await;
            if let Ok(r) = receipt {
                return match r.get("execution_status").and_then(Value::as_str) {
                    Some("SUCCEEDED") => Ok(()),
                    _ => Err(anyhow!("transaction {} failed: {r}", felt::hex(&hash))),
                };
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        bail!("transaction {} not accepted after 30 s", felt::hex(&hash))
    }

    /// One JSON-RPC call; the `result`, or an error naming the node's error.
    async fn raw_call(
        http: &reqwest::Client,
        url: &str,
        method: &str,
        params: Value,
    ) -> anyhow::Result<Value> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let answer: Value = http
            .post(url)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("{method} to {url}"))?
            .json()
            .await
            .with_context(|| format!("{method}: the answer is not JSON"))?;
        if let Some(err) = answer.get("error") {
            bail!("{method}: {err}");
        }
        answer
            .get("result")
            .cloned()
            .ok_or_else(|| anyhow!("{method}: no result in {answer}"))
    }

    /// A JSON-RPC call to the node.
    pub(crate) async fn call(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        Relay::raw_call(&self.http, &self.rpc_url, method, params).await
    }

    /// The node's JSON-RPC URL.
    pub(crate) fn rpc_url(&self) -> &str {
        &self.rpc_url
    }

    /// The node's chain id.
    pub(crate) fn chain_id(&self) -> Felt {
        self.chain_id
    }

    /// Class hash of the node's predeployed accounts (the session account).
    pub(crate) fn account_class(&self) -> Felt {
        self.account_class
    }

    /// Address of the account that sends the transactions.
    pub(crate) fn relayer_address(&self) -> Felt {
        self.relayer_address
    }

    /// Hand out the next predeployed account as a CHIPI wallet whose owner key is
    /// encrypted under `pin`.
    pub(crate) fn take_wallet(&self, pin: &str) -> anyhow::Result<SandboxWallet> {
        let account = self
            .free_accounts
            .lock()
            .map_err(|_| anyhow!("relay state poisoned"))?
            .pop_front()
            .ok_or_else(|| {
                anyhow!("every predeployed account of the node is already handed out")
            })?;
        Ok(SandboxWallet {
            address: felt::padded_hex(&account.address),
            owner_public_key: felt::hex(&account.public_key),
            encrypted_private_key: encrypt_cryptojs(&account.private_key, pin),
            wallet_type: SandboxWalletType::Chipi.as_str().to_owned(),
        })
    }

    /// The node's current block time: the pending (pre-confirmed) block's timestamp,
    /// which is the time the next transaction executes at.
    pub(crate) async fn block_time(&self) -> Result<u64, ApiError> {
        let block = match self
            .call("starknet_getBlockWithTxHashes", json!(["pre_confirmed"]))
            .await
        {
            Ok(b) => b,
            Err(_) => self
                .call("starknet_getBlockWithTxHashes", json!(["latest"]))
                .await
                .map_err(node_unavailable)?,
        };
        block
            .get("timestamp")
            .and_then(Value::as_u64)
            .ok_or_else(|| node_unavailable("the block has no timestamp"))
    }

    /// Refuse a wallet that is not deployed with the node's session-account class.
    pub(crate) async fn check_wallet(&self, wallet: &Felt) -> Result<(), ApiError> {
        let class = self
            .call(
                "starknet_getClassHashAt",
                json!({ "block_id": "latest", "contract_address": felt::hex(wallet) }),
            )
            .await;
        match class {
            Ok(v) if v.as_str().and_then(felt::parse_felt_str) == Some(self.account_class) => {
                Ok(())
            }
            Ok(_) => Err(ApiError::bad_request(
                "INVALID_WALLET_TYPE",
                "Wallet is not a CHIPI session account",
            )),
            Err(e) if e.to_string().contains("Contract not found") => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "WALLET_NOT_FOUND",
                "Wallet not found",
            )),
            Err(e) => Err(node_unavailable(e)),
        }
    }

    /// Submit `execute_from_outside_v2(oe, signature)` on `wallet` from the relayer;
    /// the transaction hash once the node accepted it. The fee is estimated first, so
    /// an outside execution the account refuses is answered with its revert reason
    /// and never sent.
    pub(crate) async fn submit(
        &self,
        wallet: Felt,
        oe: &OutsideExecution,
        signature: &[Felt],
    ) -> Result<Felt, ApiError> {
        let call = Call {
            to: wallet,
            selector: felt::selector("execute_from_outside_v2"),
            calldata: execute_from_outside_calldata(oe, signature),
        };
        let relayer = self.relayer.lock().await;
        match relayer.execute_v3(vec![call]).send().await {
            Ok(sent) => Ok(sent.transaction_hash),
            Err(e) => Err(refusal(&e)),
        }
    }
}

/// Calldata of `execute_from_outside_v2`: the outside execution (`caller, nonce,
/// execute_after, execute_before, calls_len, (to, selector, calldata_len,
/// calldata...)*`), then the signature as a span.
pub(crate) fn execute_from_outside_calldata(
    oe: &OutsideExecution,
    signature: &[Felt],
) -> Vec<Felt> {
    let mut out = vec![
        oe.caller,
        oe.nonce,
        Felt::from(oe.execute_after),
        Felt::from(oe.execute_before),
        Felt::from(oe.calls.len()),
    ];
    for call in &oe.calls {
        out.push(call.to);
        out.push(call.selector);
        out.push(Felt::from(call.calldata.len()));
        out.extend_from_slice(&call.calldata);
    }
    out.push(Felt::from(signature.len()));
    out.extend_from_slice(signature);
    out
}

/// Revert reasons of the session account (and OpenZeppelin's SRC9) and the
/// Chipi-style code each maps to. Reasons without a specific code give
/// `EXECUTION_REVERTED`.
const REVERT_CODES: [(&str, &str); 5] = [
    ("SRC9: duplicated nonce", "NONCE_ALREADY_USED"),
    ("SRC9: invalid signature", "INVALID_SIGNATURE"),
    ("SRC9: now <= execute_after", "INVALID_TIME_WINDOW"),
    ("SRC9: now >= execute_before", "INVALID_TIME_WINDOW"),
    ("SRC9: invalid caller", "INVALID_CALLER"),
];

/// Short-string revert reasons in an execution error's text, which the node
/// renders as `0x… ('reason')`.
fn revert_reasons(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("('") {
        let after = &rest[start + 2..];
        match after.find("')") {
            Some(end) => {
                found.push(after[..end].to_owned());
                rest = &after[end + 2..];
            }
            None => break,
        }
    }
    found
}

/// Map a failed relay to a Chipi-style error.
fn refusal<S: std::error::Error>(e: &AccountError<S>) -> ApiError {
    let text = match e {
        AccountError::Provider(ProviderError::StarknetError(
            StarknetError::TransactionExecutionError(data),
        )) => format!("{:?}", data.execution_error),
        AccountError::Provider(ProviderError::StarknetError(StarknetError::ValidationFailure(
            reason,
        ))) => reason.clone(),
        AccountError::Provider(ProviderError::StarknetError(other)) => format!("{other:?}"),
        AccountError::Provider(other) => return node_unavailable(other),
        other => format!("{other}"),
    };
    let reasons = revert_reasons(&text);
    let mut message: String = if reasons.is_empty() {
        text.clone()
    } else {
        reasons.join("; ")
    };
    message.truncate(MAX_REASON);
    let code = REVERT_CODES
        .iter()
        .find(|(reason, _)| reasons.iter().any(|r| r == reason) || text.contains(reason))
        .map_or("EXECUTION_REVERTED", |(_, code)| code);
    ApiError::bad_request(code, format!("execute_from_outside_v2 reverted: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::typed_data::OeCall;

    #[test]
    fn calldata_is_the_outside_execution_then_the_signature() {
        let oe = OutsideExecution {
            chain_id: Felt::from(1u8),
            caller: Felt::from(0x414e595f43414c4c4552_u128),
            nonce: Felt::from(7u8),
            execute_after: 100,
            execute_before: 200,
            calls: vec![
                OeCall {
                    to: Felt::from(0xaa_u8),
                    selector: Felt::from(0xbb_u8),
                    name: None,
                    calldata: vec![Felt::from(1u8), Felt::from(2u8)],
                },
                OeCall {
                    to: Felt::from(0xcc_u8),
                    selector: Felt::from(0xdd_u8),
                    name: None,
                    calldata: vec![],
                },
            ],
        };
        let sig = [
            Felt::from(9u8),
            Felt::from(10u8),
            Felt::from(11u8),
            Felt::from(12u8),
        ];
        let expected: Vec<Felt> = [
            0x414e595f43414c4c4552_u128,
            7,
            100,
            200,
            2,
            0xaa,
            0xbb,
            2,
            1,
            2,
            0xcc,
            0xdd,
            0,
            4,
            9,
            10,
            11,
            12,
        ]
        .into_iter()
        .map(Felt::from)
        .collect();
        assert_eq!(execute_from_outside_calldata(&oe, &sig), expected);
    }

    #[test]
    fn revert_reasons_are_read_from_the_nodes_rendering() {
        let text = "Transaction execution has failed:\n0: Error in the called contract \
            (contract address: 0x1, selector: 0x2):\nExecution failed. Failure reason:\n\
            (0x53657373696f6e3a20756e617574686f72697a65642073656c6563746f72 \
            ('Session: unauthorized selector'), 0x454e545259504f494e545f4641494c4544 \
            ('ENTRYPOINT_FAILED')).";
        assert_eq!(
            revert_reasons(text),
            ["Session: unauthorized selector", "ENTRYPOINT_FAILED"]
        );
        assert!(revert_reasons("no reason here").is_empty());
        assert!(revert_reasons("unterminated ('oops").is_empty());
    }
}
