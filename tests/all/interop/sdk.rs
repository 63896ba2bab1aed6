//! Chipi's real SDK on the sandbox, side by side with the component: both
//! complete the same lifecycle and send requests of the same shape.

use chipi_session_e2e::interop::{run_sdk_client, shape};
use chipi_session_e2e::{ok, Harness, PIN, RECIPIENT, TOKEN};
use chipi_session_guest::crypto::felt::parse_felt;
use chipi_session_host::runtime::Call;
use chipi_session_sandbox::{RecordedRequest, SandboxWalletType, TxSigner};
use serde_json::json;

use super::{create_opts, register_opts, transfer_selector, MAX_CALLS};

/// A transfer of `amount` to the recipient.
fn transfer(amount: u64) -> Call {
    Call {
        contract_address: TOKEN.into(),
        entrypoint: "transfer".into(),
        calldata: vec![RECIPIENT.into(), format!("{amount:#x}"), "0x0".into()],
    }
}

/// The Chipi REST requests, in order.
fn api_requests(requests: &[RecordedRequest]) -> Vec<RecordedRequest> {
    requests
        .iter()
        .filter(|r| r.path.starts_with("/v1/"))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn chipi_sdk_runs_on_the_sandbox_and_sends_what_we_send() {
    let mut h = Harness::start().await;
    let calls = vec![json!({
        "contractAddress": TOKEN,
        "entrypoint": "transfer",
        "calldata": [RECIPIENT, "0x7", "0x0"],
    })];
    let args = json!({
        "apiUrl": h.sandbox.api_url(),
        "rpcUrl": h.sandbox.rpc_url(),
        "apiKey": h.api_key,
        "bearerToken": h.bearer,
        "wallet": {
            "publicKey": h.wallet.address,
            "encryptedPrivateKey": h.wallet.encrypted_private_key,
            "walletType": "CHIPI",
        },
        "encryptKey": PIN,
        "calls": calls,
        "maxCalls": MAX_CALLS,
        "allowedEntrypoints": [transfer_selector()],
        "executions": 2,
    });
    let (report, success, stderr) = tokio::task::spawn_blocking(move || run_sdk_client(&args))
        .await
        .expect("sdk client thread");
    assert!(
        success,
        "Chipi's SDK failed on the sandbox: {report}\n{stderr}"
    );
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(
        steps,
        ["create", "register", "execute", "execute", "revoke"]
    );

    // The sandbox accepted every transaction and checked every signature.
    let sdk_wallet = h.wallet.address.clone();
    let txs: Vec<_> = h
        .sandbox
        .transactions()
        .into_iter()
        .filter(|t| parse_felt(&t.wallet).ok() == parse_felt(&sdk_wallet).ok())
        .collect();
    assert_eq!(txs.len(), 4, "register, two executes, revoke");
    assert!(matches!(txs[0].signer, TxSigner::Owner));
    assert!(matches!(txs[1].signer, TxSigner::Session(_)));
    assert!(matches!(txs[2].signer, TxSigner::Session(_)));
    assert!(matches!(txs[3].signer, TxSigner::Owner));
    let sdk_session = report["steps"][0]["publicKey"].as_str().expect("publicKey");
    let info = h
        .sandbox
        .session(&sdk_wallet, sdk_session)
        .expect("the SDK's session is known to the account");
    assert!(info.revoked, "revoked by the SDK");
    assert_eq!(
        info.valid_until, 0,
        "a revoked session reads as unregistered"
    );
    for tx in &txs[1..3] {
        assert!(
            matches!(&tx.signer, TxSigner::Session(k) if parse_felt(k).ok() == parse_felt(sdk_session).ok()),
            "executed with the SDK's session key: {:?}",
            tx.signer
        );
    }
    let sdk_requests = api_requests(&h.sandbox.requests());
    h.sandbox.clear_requests();

    // The same operations through our component, on a second wallet.
    h.wallet = h.sandbox.create_wallet(PIN, SandboxWalletType::Chipi);
    let handle = h.handle();
    ok(handle.create_session(&h.ctx(), &create_opts()).await);
    ok(handle.register_session(&h.ctx(), &register_opts()).await);
    ok(handle.execute_with_session(&h.ctx(), &[transfer(7)]).await);
    ok(handle.execute_with_session(&h.ctx(), &[transfer(7)]).await);
    ok(handle.revoke_session(&h.ctx()).await);
    let our_requests = api_requests(&h.sandbox.requests());

    assert_eq!(
        sdk_requests.len(),
        our_requests.len(),
        "same number of API requests"
    );
    assert_eq!(
        sdk_requests.len(),
        8,
        "prepare + execute for 4 transactions"
    );
    let mut compared = 0;
    for (i, (sdk, ours)) in sdk_requests.iter().zip(&our_requests).enumerate() {
        assert_eq!(sdk.method, ours.method, "request {i}");
        assert_eq!(sdk.path, ours.path, "request {i}");
        assert_eq!(
            sdk.query_param("__chipi_api_version"),
            ours.query_param("__chipi_api_version"),
            "request {i}: version query parameter"
        );
        for header in ["content-type", "x-api-key", "authorization"] {
            assert_eq!(
                sdk.header(header),
                ours.header(header),
                "request {i} ({}): header {header}",
                sdk.path
            );
        }
        assert_eq!(
            shape(&sdk.body),
            shape(&ours.body),
            "request {i} ({}): body shape\n SDK:  {}\n ours: {}",
            sdk.path,
            sdk.body,
            ours.body
        );
        compared += 1;
    }
    // Same calldata layout for the session-management calls, value by value
    // where the values are the same by construction.
    let add_sdk = &sdk_requests[0].body["calls"][0];
    let add_ours = &our_requests[0].body["calls"][0];
    assert_eq!(add_sdk["entrypoint"], "add_or_update_session_key");
    assert_eq!(add_ours["entrypoint"], "add_or_update_session_key");
    assert_eq!(add_sdk["calldata"][2], add_ours["calldata"][2], "max calls");
    assert_eq!(
        add_sdk["calldata"][3], add_ours["calldata"][3],
        "whitelist length"
    );
    assert_eq!(
        add_sdk["calldata"][4], add_ours["calldata"][4],
        "whitelisted selector"
    );
    println!("Chipi SDK vs component: {compared} requests compared, same shape");
}
