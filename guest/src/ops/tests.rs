//! Native tests of the use cases against [`FakePorts`].

use serde_json::json;
use starknet_crypto::Felt;
use zeroize::Zeroizing;

use super::fake::FakePorts;
use super::*;
use crate::crypto::envelope::{EncryptKey, KeyKind};
use crate::crypto::felt::felt_to_hex;
use crate::crypto::keys::SigningKey;
use crate::crypto::owner_key::seal_owner_key;
use crate::protocol::model::*;
use crate::protocol::record::{SessionRecord, StoredSession};

// The tests below run every operation the way a stateless host does: a fresh
// `WalletSession` per call (no unlocked key carried over), flushed when it
// goes as the component's resource destructor does. `warm.rs` covers
// sessions kept across calls.

fn create_session(
    c: &SessionContext,
    o: &CreateOptions,
    p: &mut FakePorts,
) -> Result<SessionKeyData> {
    let mut s = WalletSession::new(c.clone());
    let result = s.create_session(o, p);
    s.flush(p);
    result
}
fn register_session(c: &SessionContext, o: &RegisterOptions, p: &mut FakePorts) -> Result<String> {
    let mut s = WalletSession::new(c.clone());
    let result = s.register_session(o, p);
    s.flush(p);
    result
}
fn execute_with_session(
    c: &SessionContext,
    calls: &[CallInput],
    p: &mut FakePorts,
) -> Result<String> {
    let mut s = WalletSession::new(c.clone());
    let result = s.execute_with_session(calls, &IntentOptions::default(), p);
    s.flush(p);
    result
}
fn revoke_session(c: &SessionContext, p: &mut FakePorts) -> Result<String> {
    let mut s = WalletSession::new(c.clone());
    let result = s.revoke_session(&IntentOptions::default(), p);
    s.flush(p);
    result
}
fn clear_session(c: &SessionContext, p: &mut FakePorts) -> Result<()> {
    let mut s = WalletSession::new(c.clone());
    let result = s.clear_session(p);
    s.flush(p);
    result
}
fn get_session_status(c: &SessionContext, p: &mut FakePorts) -> Result<SessionStatus> {
    let mut s = WalletSession::new(c.clone());
    let result = s.get_session_status(p);
    s.flush(p);
    result
}
/// The wallet's stored record.
fn record(p: &FakePorts) -> SessionRecord {
    SessionRecord::decode(p.store.get(&SessionRecord::key(WALLET)).unwrap()).unwrap()
}

/// Calls used on chain, over every session of the fake account.
fn session_calls_used(p: &FakePorts) -> u32 {
    p.sessions.values().map(|s| s.calls_used).sum()
}

const PIN: &str = "1234";
const WALLET: &str = "0x7a11e7";

fn ctx_with(pin: &str, wallet_type: WalletType) -> SessionContext {
    let owner = SigningKey::from_felt(&Felt::from(0x5eed_u64)).unwrap();
    let wallet = Felt::from_hex(WALLET).unwrap();
    let encrypted =
        seal_owner_key(&owner, &EncryptKey::pin(PIN), &wallet, [1; 16], [2; 12]).unwrap();
    SessionContext {
        wallet: Wallet {
            address: WALLET.into(),
            encrypted_private_key: encrypted,
            wallet_type,
        },
        encrypt_key: Zeroizing::new(pin.to_string()),
        encrypt_key_kind: KeyKind::Pin,
        config: Config {
            api_base_url: "https://api.example/v1".into(),
            api_key: "pk_dev_x".into(),
            rpc_urls: vec!["https://rpc.example".into()],
            chain_id: None,
            default_duration_seconds: 21_600,
            default_max_calls: 1000,
            timeout_ms: None,
        },
    }
}

fn ctx() -> SessionContext {
    ctx_with(PIN, WalletType::Chipi)
}

fn transfer() -> CallInput {
    CallInput {
        contract_address: "0x70ce".into(),
        entrypoint: "transfer".into(),
        calldata: vec!["0x1".into(), "10".into(), "0".into()],
    }
}

fn register_opts(max_calls: u32) -> RegisterOptions {
    RegisterOptions {
        valid_until: None,
        max_calls: Some(max_calls),
        allowed_entrypoints: vec![],
        idempotency_key: None,
    }
}

#[test]
fn create_stores_only_ciphertext_before_anything_is_sent() {
    let mut p = FakePorts::default();
    let key = create_session(&ctx(), &CreateOptions::default(), &mut p).unwrap();
    assert_eq!(key.valid_until, p.now + 21_600);
    // Only the chain id was read (to pin it); nothing was sent to the backend.
    assert_eq!(p.requests.len(), 1);
    assert_eq!(p.requests[0].1["method"], "starknet_chainId");
    let raw = p
        .store
        .get(&SessionRecord::key(WALLET))
        .expect("stored")
        .clone();
    let record = SessionRecord::decode(&raw).unwrap();
    assert_eq!(record.public_key, key.public_key);
    assert_eq!(record.chain_id.as_deref(), Some("0x534e5f5345504f4c4941"));
    // The envelope opens to the key of that public key, and only with the PIN.
    let context = ctx();
    let env = Env::new(&context).unwrap();
    let session = StoredSession::from_record(record)
        .unwrap()
        .unrevoked()
        .unwrap();
    let mut keys = SessionKeys::default();
    let opened = keys.key_for(&env, &session).unwrap();
    assert_eq!(felt_to_hex(&opened.public_key()), key.public_key);
    let wrong = ctx_with("9999", WalletType::Chipi);
    let env = Env::new(&wrong).unwrap();
    assert_eq!(
        SessionKeys::default()
            .key_for(&env, &session)
            .unwrap_err()
            .code(),
        "SESSION_DECRYPTION_FAILED"
    );
}

#[test]
fn whole_lifecycle_updates_state() {
    let mut p = FakePorts::default();
    let c = ctx();
    assert_eq!(
        get_session_status(&c, &mut p).unwrap().state,
        SessionState::None
    );
    create_session(&c, &CreateOptions::default(), &mut p).unwrap();
    let status = get_session_status(&c, &mut p).unwrap();
    assert_eq!(status.state, SessionState::Created);
    assert_eq!(p.count("transactions"), 0, "status sends nothing");

    let tx = register_session(&c, &register_opts(2), &mut p).unwrap();
    assert!(tx.starts_with("0xabc"));
    let (_, owner_body) = p
        .requests
        .iter()
        .find(|(u, _)| u.contains("execute-sponsored"))
        .unwrap();
    assert_eq!(owner_body["saveToDatabase"], json!(false));
    assert!(owner_body["userSignature"]["r"]
        .as_str()
        .unwrap()
        .chars()
        .all(|c| c.is_ascii_digit()));

    let status = get_session_status(&c, &mut p).unwrap();
    assert_eq!(
        (status.state, status.remaining_calls),
        (SessionState::Active, Some(2))
    );
    execute_with_session(&c, &[transfer()], &mut p).unwrap();
    execute_with_session(&c, &[transfer()], &mut p).unwrap();
    let sent = p.requests.len();
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "SESSION_MAX_CALLS_EXCEEDED");
    assert_eq!(p.requests.len(), sent, "refused before any request");
    let status = get_session_status(&c, &mut p).unwrap();
    assert_eq!(
        (status.state, status.remaining_calls),
        (SessionState::Expired, Some(0))
    );

    revoke_session(&c, &mut p).unwrap();
    assert_eq!(
        get_session_status(&c, &mut p).unwrap().state,
        SessionState::Revoked
    );
    assert_eq!(
        revoke_session(&c, &mut p).unwrap_err().code(),
        "SESSION_REVOKED"
    );
    clear_session(&c, &mut p).unwrap();
    assert_eq!(
        get_session_status(&c, &mut p).unwrap().state,
        SessionState::None
    );
}

#[test]
fn failed_registration_keeps_the_created_session() {
    let mut p = FakePorts::default();
    let c = ctx();
    let key = create_session(&c, &CreateOptions::default(), &mut p).unwrap();
    p.fail = Some((
        "execute-sponsored".into(),
        500,
        r#"{"message":"paymaster down"}"#.into(),
    ));
    // A 500 says nothing definite: the transaction is kept pending.
    let e = register_session(&c, &register_opts(5), &mut p).unwrap_err();
    assert_eq!(e.code(), "TRANSACTION_PENDING", "{e}");
    assert!(e.to_string().contains("paymaster down"), "{e}");
    let status = get_session_status(&c, &mut p).unwrap();
    assert_eq!(status.state, SessionState::Created);
    assert_eq!(status.session.unwrap().public_key, key.public_key);
    p.fail = None;
    // The retry sends the same signed body again: no new prepare, no new signature.
    let prepares = p.count("prepare-typed-data");
    let bodies: Vec<_> = p
        .requests
        .iter()
        .filter(|(u, _)| u.contains("execute-sponsored"))
        .map(|(_, b)| b.clone())
        .collect();
    register_session(&c, &register_opts(5), &mut p).unwrap();
    assert_eq!(p.count("prepare-typed-data"), prepares);
    let last = p
        .requests
        .iter()
        .rev()
        .find(|(u, _)| u.contains("execute-sponsored"))
        .unwrap();
    assert_eq!(last.1, bodies[0]);
    assert_eq!(p.tx_counter, 1);
    assert_eq!(
        get_session_status(&c, &mut p).unwrap().state,
        SessionState::Active
    );
}

#[test]
fn wrong_pin_and_ready_wallet_fail_before_the_network() {
    let mut p = FakePorts::default();
    create_session(&ctx(), &CreateOptions::default(), &mut p).unwrap();
    let e = register_session(
        &ctx_with("0000", WalletType::Chipi),
        &register_opts(5),
        &mut p,
    )
    .unwrap_err();
    assert_eq!(e.code(), "SESSION_DECRYPTION_FAILED");
    let ready = ctx_with(PIN, WalletType::Ready);
    let e = register_session(&ready, &register_opts(5), &mut p).unwrap_err();
    assert_eq!(e.code(), "INVALID_WALLET_TYPE_FOR_SESSION");
    let e = create_session(&ready, &CreateOptions::default(), &mut p).unwrap_err();
    assert_eq!(e.code(), "INVALID_WALLET_TYPE_FOR_SESSION");
    assert_eq!(p.count("transactions"), 0);
}

#[test]
fn tampered_typed_data_is_never_signed() {
    let mut p = FakePorts::default();
    let c = ctx();
    create_session(&c, &CreateOptions::default(), &mut p).unwrap();
    register_session(&c, &register_opts(5), &mut p).unwrap();
    p.tamper = Some(Box::new(|td| {
        td["message"]["Calls"][0]["Calldata"][1] = json!("0x999");
    }));
    let executes = p.count("execute-sponsored");
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert_eq!(e.code(), "SESSION_INVALID_RESPONSE");
    assert_eq!(p.count("execute-sponsored"), executes);
}

#[test]
fn backend_answers_are_validated() {
    let mut p = FakePorts::default();
    let c = ctx();
    create_session(&c, &CreateOptions::default(), &mut p).unwrap();
    register_session(&c, &register_opts(5), &mut p).unwrap();
    // A 2xx without a hash says nothing definite: pending, resolved by the retry.
    p.fail = Some(("execute-sponsored".into(), 200, "{}".into()));
    assert_eq!(
        execute_with_session(&c, &[transfer()], &mut p)
            .unwrap_err()
            .code(),
        "TRANSACTION_PENDING"
    );
    p.fail = None;
    assert!(execute_with_session(&c, &[transfer()], &mut p).is_ok());
    assert_eq!(p.tx_counter, 2);
    // Other calls from here on (the retry above leaves its answer for
    // further retries of the same calls).
    let transfer = || CallInput {
        calldata: vec!["0x2".into(), "20".into(), "0".into()],
        ..transfer()
    };
    p.fail = Some(("prepare-typed-data".into(), 200, "{not json".into()));
    assert_eq!(
        execute_with_session(&c, &[transfer()], &mut p)
            .unwrap_err()
            .code(),
        "SESSION_INVALID_RESPONSE"
    );
    p.fail = Some((
        "prepare-typed-data".into(),
        401,
        r#"{"message":"Invalid API key","code":"INVALID_API_KEY"}"#.into(),
    ));
    let e = execute_with_session(&c, &[transfer()], &mut p).unwrap_err();
    assert!(
        matches!(e, SessionError::Backend(ref b) if b.status == 401 && b.code.as_deref() == Some("INVALID_API_KEY"))
    );
    p.fail = None;
    p.token = Err("signed out".into());
    assert_eq!(
        execute_with_session(&c, &[transfer()], &mut p)
            .unwrap_err()
            .code(),
        "UNAUTHORIZED"
    );
}

#[test]
fn concurrent_store_change_is_detected() {
    let mut p = FakePorts::default();
    let c = ctx();
    p.interfere = Some(b"{}".to_vec());
    let e = create_session(&c, &CreateOptions::default(), &mut p).unwrap_err();
    assert_eq!(e.code(), "STORE_ERROR");
    // A live session is not overwritten by accident.
    let mut p = FakePorts::default();
    create_session(&c, &CreateOptions::default(), &mut p).unwrap();
    assert_eq!(
        create_session(&c, &CreateOptions::default(), &mut p)
            .unwrap_err()
            .code(),
        "INVALID_INPUT"
    );
    let replace = CreateOptions {
        duration_seconds: Some(60),
        replace_existing: true,
    };
    assert_eq!(
        create_session(&c, &replace, &mut p).unwrap().valid_until,
        p.now + 60
    );
}

#[test]
fn input_validation() {
    let mut p = FakePorts::default();
    let mut bad = ctx();
    bad.wallet.address = "not-an-address".into();
    assert_eq!(
        create_session(&bad, &CreateOptions::default(), &mut p)
            .unwrap_err()
            .code(),
        "INVALID_INPUT"
    );
    let mut bad = ctx();
    bad.config.rpc_urls = vec!["ftp://x".into()];
    assert_eq!(
        create_session(&bad, &CreateOptions::default(), &mut p)
            .unwrap_err()
            .code(),
        "INVALID_INPUT"
    );
    let zero = CreateOptions {
        duration_seconds: Some(0),
        replace_existing: false,
    };
    assert_eq!(
        create_session(&ctx(), &zero, &mut p).unwrap_err().code(),
        "INVALID_INPUT"
    );
    let mut bad_call = transfer();
    bad_call.calldata.push("xyz".into());
    assert_eq!(
        execute_with_session(&ctx(), &[bad_call], &mut p)
            .unwrap_err()
            .code(),
        "INVALID_INPUT"
    );
}

mod exactly_once;
mod hardening;
mod warm;
