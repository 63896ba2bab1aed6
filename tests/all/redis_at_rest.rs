//! What reaches a Redis store: every value the component writes during a
//! whole lifecycle (create, register, executes, a spending policy, revoke),
//! recorded on its way to a real Redis server, holds ciphertext and public
//! data only.

use std::sync::{Arc, Mutex};

use chipi_session_e2e::{ok, runtime, Harness, RECIPIENT, TOKEN};
use chipi_session_guest::crypto::envelope::{self, EncryptKey};
use chipi_session_guest::crypto::felt::parse_felt;
use chipi_session_host::runtime::{
    authorities_from_urls, Call, CreateOptions, EncryptKeyKind, Imports, RegisterOptions,
    SessionContext, SpendingPolicyInput, StaticToken, Wallet, WalletType,
};
use chipi_session_host::store::{RedisOptions, RedisStore, SessionStore, StoreError};
use chipi_session_sandbox::{decrypt_cryptojs, SandboxWalletType};

/// A PIN no hash or counter spells by chance.
const PIN: &str = "pin-Zq9xK-at-rest";

/// A store that records every value written through it.
struct Recording {
    inner: RedisStore,
    written: Mutex<Vec<Vec<u8>>>,
}

impl SessionStore for Recording {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let mut record = key.as_bytes().to_vec();
        record.extend_from_slice(new.unwrap_or_default());
        self.written.lock().expect("not poisoned").push(record);
        self.inner.compare_and_swap(key, expected, new)
    }
}

/// The test server (`CHIPI_TEST_REDIS_URL`, set by `scripts/test.sh`).
fn redis_url() -> String {
    std::env::var("CHIPI_TEST_REDIS_URL").expect(
        "CHIPI_TEST_REDIS_URL is not set: run scripts/test.sh, or export the URL \
         `scripts/redis.sh start DIR` prints",
    )
}

/// Every spelling of a secret felt a serializer might produce.
fn spellings(secret_hex: &str) -> Vec<String> {
    let felt = parse_felt(secret_hex).expect("a felt");
    let bytes = felt.to_bytes_be();
    let plain = hex::encode(bytes);
    let trimmed = plain.trim_start_matches('0').to_owned();
    vec![
        plain.clone(),
        plain.to_uppercase(),
        trimmed.clone(),
        trimmed.to_uppercase(),
        felt.to_string(), // decimal
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_ciphertext_and_public_data_reach_redis() {
    let h = Harness::start().await;
    let prefix = format!("test/at-rest/{}/", std::process::id());
    let store = Arc::new(Recording {
        inner: RedisStore::with_options(
            &redis_url(),
            RedisOptions {
                prefix,
                ..RedisOptions::default()
            },
        )
        .unwrap(),
        written: Mutex::new(Vec::new()),
    });
    let config = h.config();
    let urls = [config.api_base_url.clone(), config.rpc_urls[0].clone()];
    let clock = h.clock.clone();
    let imports = Imports::new(
        store.clone() as Arc<dyn SessionStore>,
        Arc::new(StaticToken::new(h.bearer.clone())),
    )
    .with_allowed_authorities(authorities_from_urls(&[urls[0].as_str(), urls[1].as_str()]).unwrap())
    .with_clock(move || clock.now());
    let owner = h.sandbox.create_wallet(PIN, SandboxWalletType::Chipi);
    let ctx = SessionContext {
        wallet: Wallet {
            address: owner.address.clone(),
            encrypted_private_key: owner.encrypted_private_key.clone(),
            wallet_type: WalletType::Chipi,
        },
        encrypt_key: PIN.into(),
        encrypt_key_kind: EncryptKeyKind::Pin,
        config,
    };
    let session = runtime().open_session(imports, ctx).await.unwrap();

    let created = ok(session
        .create_session(&CreateOptions {
            duration_seconds: None,
            replace_existing: false,
        })
        .await);
    ok(session
        .register_session(&RegisterOptions {
            valid_until: None,
            max_calls: Some(5),
            allowed_entrypoints: vec![],
            idempotency_key: None,
        })
        .await);
    for amount in 1..=3u64 {
        let call = Call {
            contract_address: TOKEN.into(),
            entrypoint: "transfer".into(),
            calldata: vec![RECIPIENT.into(), amount.to_string(), "0x0".into()],
        };
        ok(session.execute_with_session(&[call]).await);
    }
    ok(session
        .set_spending_policy(&SpendingPolicyInput {
            token: TOKEN.into(),
            max_per_call: "1000".into(),
            max_per_window: "5000".into(),
            window_seconds: 3600,
        })
        .await);
    ok(session.revoke_session().await);
    session.close().await.unwrap();

    // The secrets: the PIN, the owner key, the session key.
    let owner_key = decrypt_cryptojs(&owner.encrypted_private_key, PIN).unwrap();
    let wallet = parse_felt(&owner.address).unwrap();
    let session_public = parse_felt(&created.public_key).unwrap();
    let session_key = envelope::open(
        &created.encrypted_private_key,
        &EncryptKey::pin(PIN),
        &wallet,
        &session_public,
    )
    .unwrap();
    let session_key_hex = format!("0x{}", hex::encode(*session_key.to_be_bytes()));
    let mut secrets = spellings(&owner_key);
    secrets.extend(spellings(&session_key_hex));

    let written = store.written.lock().unwrap();
    assert!(written.len() >= 8, "only {} writes recorded", written.len());
    // The scan sees the records' contents (public data is there).
    assert!(written
        .iter()
        .any(|w| String::from_utf8_lossy(w).contains(created.public_key.as_str())));
    for value in written.iter() {
        let text = String::from_utf8_lossy(value);
        assert!(!text.contains(PIN), "the PIN reached the store: {text}");
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a private key reached the store: {text}"
            );
        }
    }
    // And what is stored now is a sealed envelope, not a key.
    let key = written
        .last()
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .unwrap();
    assert!(
        key.contains("\"encryptedPrivateKey\":\"v1.argon2id."),
        "{key}"
    );
}
