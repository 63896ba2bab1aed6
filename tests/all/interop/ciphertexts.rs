//! Ciphertexts: owner keys encrypted by crypto-es (as Chipi's SDK does)
//! decrypt with the right PIN only and register sessions in the component;
//! session-key ciphertexts open only for their wallet, session key and PIN.

use chipi_session_e2e::interop::referee;
use chipi_session_e2e::{err, ok, Harness, PIN};
use chipi_session_guest::crypto::envelope::{self, EncryptKey};
use chipi_session_guest::crypto::error::{EnvelopeError, OwnerKeyError};
use chipi_session_guest::crypto::felt::{felt_to_hex, parse_felt};
use chipi_session_guest::crypto::keys::SigningKey;
use chipi_session_guest::crypto::owner_key::decrypt_owner_key;
use chipi_session_host::runtime::{CreateOptions, SessionError, SessionState};
use chipi_session_sandbox::SandboxWalletType;
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};
use starknet_crypto::Felt;

use super::{assert_no_mismatch, create_opts, felt_of, random_private_key, register_opts, rng};

/// A random PIN: mostly digits, sometimes a longer alphanumeric passphrase.
fn random_pin(rng: &mut StdRng) -> String {
    let len = rng.gen_range(4..=8);
    if rng.gen_bool(0.8) {
        (0..len)
            .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
            .collect()
    } else {
        (0..len + 4)
            .map(|_| char::from(rng.sample(rand::distributions::Alphanumeric)))
            .collect()
    }
}

#[test]
fn crypto_es_owner_ciphertexts_decrypt_and_wrong_pins_fail() {
    let mut rng = rng("owner ciphertexts");
    let wallet = Felt::from(0xabcdu32);
    let cases: Vec<(String, String)> = (0..200)
        .map(|_| (random_private_key(&mut rng), random_pin(&mut rng)))
        .collect();
    let ops: Vec<Value> = cases
        .iter()
        .map(|(key, pin)| json!({"op": "encryptCryptoJs", "plaintext": key, "passphrase": pin}))
        .collect();
    let ciphertexts: Vec<String> = referee(&ops)
        .into_iter()
        .map(|a| {
            a["ciphertext"]
                .as_str()
                .unwrap_or_else(|| panic!("crypto-es encrypts: {a}"))
                .to_string()
        })
        .collect();

    let mut mismatches = Vec::new();
    let mut wrong_ops = Vec::new();
    let mut wrong_pins = 0usize;
    for ((key, pin), ct) in cases.iter().zip(&ciphertexts) {
        let expected = SigningKey::from_hex(key).expect("valid key").public_key();
        match decrypt_owner_key(ct, &EncryptKey::pin(pin), &wallet) {
            Ok(k) if k.public_key() == expected => {}
            Ok(_) => mismatches.push(format!("{ct}: decrypted to another key")),
            Err(e) => mismatches.push(format!("{ct}: {e}")),
        }
        for _ in 0..10 {
            let wrong = random_pin(&mut rng);
            if &wrong == pin {
                continue;
            }
            wrong_pins += 1;
            match decrypt_owner_key(ct, &EncryptKey::pin(&wrong), &wallet) {
                Err(OwnerKeyError::DecryptionFailed) => {}
                Ok(_) => mismatches.push(format!("{ct}: wrong PIN {wrong:?} gave a key")),
                Err(e) => mismatches.push(format!("{ct}: wrong PIN {wrong:?} gave {e}")),
            }
            wrong_ops.push(json!({"op": "decryptCryptoJs", "ciphertext": ct, "passphrase": wrong}));
        }
    }
    assert_no_mismatch(
        "crypto-es AES.encrypt ciphertexts",
        cases.len(),
        &mismatches,
    );
    // How often the JavaScript side lets a wrong PIN through (it never checks
    // the padding); every one of those is refused by us above.
    let garbage = referee(&wrong_ops)
        .iter()
        .filter(|a| {
            a["sdk"]["plaintext"]
                .as_str()
                .is_some_and(|p| !p.is_empty())
        })
        .count();
    println!(
        "wrong PINs: {wrong_pins} refused with SESSION_DECRYPTION_FAILED; \
         Chipi's decryptPrivateKey returned garbage for {garbage} of them"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn crypto_es_owner_keys_register_sessions_in_the_component() {
    let mut rng = rng("owner keys in the component");
    let mut h = Harness::start().await;
    let mut registered = 0;
    for _ in 0..5 {
        let key = random_private_key(&mut rng);
        let public = SigningKey::from_hex(&key).expect("valid key").public_key();
        let answer =
            referee(&[json!({"op": "encryptCryptoJs", "plaintext": key, "passphrase": PIN})]);
        let ct = answer[0]["ciphertext"].as_str().expect("ciphertext");
        h.wallet = h
            .sandbox
            .import_wallet(&felt_to_hex(&public), ct, SandboxWalletType::Chipi)
            .expect("imported");
        let handle = h.handle();
        // A wrong PIN is refused before anything is sent.
        ok(handle.create_session(&h.ctx(), &create_opts()).await);
        let before = h.sandbox.requests().len();
        let e = err(handle
            .register_session(&h.ctx_with_pin("000000"), &register_opts())
            .await);
        assert!(
            matches!(e, SessionError::SessionDecryptionFailed(_)),
            "wrong PIN: {e:?}"
        );
        assert_eq!(h.sandbox.requests().len(), before, "nothing sent");
        ok(handle.register_session(&h.ctx(), &register_opts()).await);
        let status = ok(handle.get_session_status(&h.ctx()).await);
        assert_eq!(status.state, SessionState::Active);
        registered += 1;
    }
    println!("crypto-es owner keys used by the component to register: {registered}");
}

#[tokio::test(flavor = "multi_thread")]
async fn session_ciphertexts_are_bound_to_wallet_and_session_key() {
    let h = Harness::start().await;
    let handle = h.handle();
    let key = ok(handle.create_session(&h.ctx(), &create_opts()).await);
    let other = ok(handle
        .create_session(
            &h.ctx(),
            &CreateOptions {
                duration_seconds: None,
                replace_existing: true,
            },
        )
        .await);
    let wallet = parse_felt(&h.wallet.address).expect("wallet address");
    let public = parse_felt(&key.public_key).expect("public key");
    let other_public = parse_felt(&other.public_key).expect("public key");

    let opened = envelope::open(
        &key.encrypted_private_key,
        &EncryptKey::pin(PIN),
        &wallet,
        &public,
    )
    .expect("the right wallet, session key and PIN open it");
    assert_eq!(opened.public_key(), public);
    // The key pair the component made: starknet.js derives the same public key.
    let secret: String = opened
        .to_be_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let answer = referee(&[json!({"op": "starkKey", "privateKey": format!("0x{secret}")})]);
    assert_eq!(
        felt_of(&answer[0]["publicKey"], "starknet.js public key"),
        public,
        "the component's session public key is starknet.js's getStarkKey"
    );

    let refusals = [
        ("another wallet", Felt::from(0x1234u32), public),
        ("another session key", wallet, other_public),
        ("wallet and key swapped", public, wallet),
    ];
    for (what, w, k) in refusals {
        assert_eq!(
            envelope::open(&key.encrypted_private_key, &EncryptKey::pin(PIN), &w, &k).err(),
            Some(EnvelopeError::DecryptionFailed),
            "{what}"
        );
    }
    // A ciphertext moved to another session's record does not open either.
    assert_eq!(
        envelope::open(
            &other.encrypted_private_key,
            &EncryptKey::pin(PIN),
            &wallet,
            &public
        )
        .err(),
        Some(EnvelopeError::DecryptionFailed)
    );
    assert_eq!(
        envelope::open(
            &key.encrypted_private_key,
            &EncryptKey::pin("654321"),
            &wallet,
            &public
        )
        .err(),
        Some(EnvelopeError::DecryptionFailed)
    );
    println!("session ciphertexts: 1 opened, 5 refused");
}
