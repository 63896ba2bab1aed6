//! Decryption of a wallet's owner key from the ciphertext Chipi stores.
//!
//! Two formats are read:
//! - our envelope ([`crate::crypto::envelope`]), recognised by a leading
//!   `v<digits>.`, `v1.argon2id` for a passphrase (PIN) and `v1.hkdf-sha256`
//!   for a high-entropy encrypt key (see [`envelope::KeyKind`]); for an owner key the associated data binds the wallet
//!   address and, in the session-public-key slot, the felt **0** (an owner
//!   key has no session; zero can never be a session public key, so owner
//!   and session envelopes cannot be confused). [`seal_owner_key`] writes it
//!   (sandbox wallets, tests);
//! - CryptoJS passphrase mode ([`crate::crypto::cryptojs`]), what Chipi's
//!   SDK stores today. Its passphrase is the encrypt key string as given,
//!   whatever its kind.
//!
//! In both cases the plaintext must be a valid Stark private key.

use super::cryptojs;
use super::envelope::{self, EncryptKey, KdfParams, NONCE_LEN, SALT_LEN};
use super::error::{CryptoJsError, EnvelopeError, OwnerKeyError};
use super::felt::Felt;
use super::keys::SigningKey;

/// Decrypts the owner key of `wallet` with the user's encrypt key (PIN).
pub fn decrypt_owner_key(
    ciphertext: &str,
    encrypt_key: &EncryptKey<'_>,
    wallet: &Felt,
) -> Result<SigningKey, OwnerKeyError> {
    if looks_like_envelope(ciphertext) {
        return envelope::open_bound(ciphertext, encrypt_key, wallet, &Felt::ZERO).map_err(|e| {
            match e {
                EnvelopeError::DecryptionFailed => OwnerKeyError::DecryptionFailed,
                EnvelopeError::Malformed(what) => OwnerKeyError::InvalidInput(what),
                EnvelopeError::KeyKindMismatch { .. } => OwnerKeyError::KeyKindMismatch(e),
                other => OwnerKeyError::Unsupported(other),
            }
        });
    }
    let plaintext = cryptojs::decrypt(ciphertext, encrypt_key.text()).map_err(|e| match e {
        CryptoJsError::Malformed(what) => OwnerKeyError::InvalidInput(what),
        CryptoJsError::DecryptionFailed => OwnerKeyError::DecryptionFailed,
    })?;
    // A wrong PIN occasionally survives the padding check; garbage is never a
    // well-formed key, so it is reported as a wrong PIN too.
    SigningKey::from_hex(&plaintext).map_err(|_| OwnerKeyError::DecryptionFailed)
}

/// Seals an owner key in our envelope format (AD slot = 0), for sandbox
/// wallets and tests: `v1.argon2id` with the default Argon2id parameters, or
/// `v1.hkdf-sha256` when the encrypt key is a high-entropy key.
/// `salt` and `nonce` must be fresh random bytes.
pub fn seal_owner_key(
    secret: &SigningKey,
    encrypt_key: &EncryptKey<'_>,
    wallet: &Felt,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
) -> Result<String, EnvelopeError> {
    seal_owner_key_with_params(secret, encrypt_key, wallet, KdfParams::DEFAULT, salt, nonce)
}

/// [`seal_owner_key`] with explicit Argon2id parameters (ignored for a
/// high-entropy encrypt key).
pub fn seal_owner_key_with_params(
    secret: &SigningKey,
    encrypt_key: &EncryptKey<'_>,
    wallet: &Felt,
    params: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
) -> Result<String, EnvelopeError> {
    envelope::seal_bound(
        secret,
        encrypt_key,
        wallet,
        &Felt::ZERO,
        params,
        salt,
        nonce,
    )
}

/// `v` + at least one digit + `.`: a (possibly future) envelope version tag.
/// Base64 never contains `.`, so this cannot shadow a CryptoJS ciphertext.
fn looks_like_envelope(text: &str) -> bool {
    text.strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(digits, _)| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::cryptojs::encrypt_for_tests;
    use crate::crypto::envelope::tests::{hkdf_known_answers, known_answers};
    use crate::crypto::envelope::{argon2_derivations_on_this_thread, KeyKind};
    use crate::crypto::felt::parse_felt;

    const FAST: KdfParams = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };
    /// A PIN.
    fn pin_key(text: &str) -> EncryptKey<'_> {
        EncryptKey::pin(text)
    }

    /// A high-entropy key (well formed).
    fn high_entropy_key(text: &str) -> EncryptKey<'_> {
        EncryptKey::new(KeyKind::HighEntropy, text).unwrap()
    }

    const OWNER_HEX: &str = "0x71d7bb07b9a64f6f78ac4c816aff4da9";

    fn wallet() -> Felt {
        parse_felt("0x64b48806902a367c8598f4f95c305e8c1a1acba5f082d294a43793113115691").unwrap()
    }

    /// The OpenSSL-made CryptoJS ciphertexts of `cryptojs.json` whose
    /// plaintext is a private key.
    fn cryptojs_owner_keys() -> Vec<cryptojs::tests::Ciphertext> {
        let keys: Vec<_> = cryptojs::tests::vectors()
            .ciphertexts
            .into_iter()
            .filter(|c| SigningKey::from_hex(&c.plaintext).is_ok())
            .collect();
        assert!(!keys.is_empty());
        keys
    }

    #[test]
    fn decrypts_cryptojs_owner_keys() {
        for c in cryptojs_owner_keys() {
            let key = decrypt_owner_key(&c.ciphertext, &pin_key(&c.passphrase), &wallet()).unwrap();
            let expected = SigningKey::from_hex(&c.plaintext).unwrap();
            assert_eq!(key.public_key(), expected.public_key());
        }
    }

    #[test]
    fn envelope_owner_keys_from_independent_implementations() {
        for a in known_answers().into_iter().filter(|a| a.kind == "owner") {
            let wallet = parse_felt(&a.wallet).unwrap();
            let key = decrypt_owner_key(&a.envelope, &pin_key(&a.encrypt_key), &wallet).unwrap();
            assert_eq!(
                *key.to_be_bytes(),
                parse_felt(&a.private_key).unwrap().to_bytes_be()
            );
            let sealed = seal_owner_key_with_params(
                &key,
                &pin_key(&a.encrypt_key),
                &wallet,
                a.params(),
                a.salt(),
                a.nonce(),
            )
            .unwrap();
            assert_eq!(sealed, a.envelope);
        }
    }

    #[test]
    fn hkdf_owner_keys_from_an_independent_implementation() {
        let answers: Vec<_> = hkdf_known_answers()
            .into_iter()
            .filter(|a| a.kind == "owner")
            .collect();
        assert!(!answers.is_empty());
        for a in answers {
            let wallet = parse_felt(&a.wallet).unwrap();
            let before = argon2_derivations_on_this_thread();
            let key =
                decrypt_owner_key(&a.envelope, &high_entropy_key(&a.encrypt_key), &wallet).unwrap();
            assert_eq!(
                *key.to_be_bytes(),
                parse_felt(&a.private_key).unwrap().to_bytes_be()
            );
            // The Argon2 parameters are ignored for a high-entropy key.
            let sealed = seal_owner_key(
                &key,
                &high_entropy_key(&a.encrypt_key),
                &wallet,
                a.salt(),
                a.nonce(),
            )
            .unwrap();
            assert_eq!(sealed, a.envelope);
            assert_eq!(argon2_derivations_on_this_thread(), before);
            // The same key text as a PIN does not open it, and says why.
            let err =
                decrypt_owner_key(&a.envelope, &pin_key(&a.encrypt_key), &wallet).unwrap_err();
            assert_eq!(
                err,
                OwnerKeyError::KeyKindMismatch(EnvelopeError::KeyKindMismatch {
                    sealed: "high-entropy"
                })
            );
            assert!(err.to_string().contains("`high-entropy`"), "{err}");
        }
    }

    #[test]
    fn argon2_owner_envelope_refuses_a_high_entropy_key() {
        let key = SigningKey::from_hex(OWNER_HEX).unwrap();
        let sealed = seal_owner_key_with_params(
            &key,
            &pin_key("123456"),
            &wallet(),
            FAST,
            [1u8; 16],
            [2u8; 12],
        )
        .unwrap();
        let before = argon2_derivations_on_this_thread();
        assert_eq!(
            decrypt_owner_key(&sealed, &high_entropy_key(&"A".repeat(43)), &wallet()).unwrap_err(),
            OwnerKeyError::KeyKindMismatch(EnvelopeError::KeyKindMismatch { sealed: "pin" })
        );
        assert_eq!(argon2_derivations_on_this_thread(), before);
    }

    #[test]
    fn cryptojs_takes_the_encrypt_key_as_is() {
        // Chipi's format: the passphrase is the key's text, whatever its kind.
        let high = "A".repeat(43);
        for (passphrase, key) in [
            (format!("hkdf:{high}"), pin_key("")),
            ("hkdf:AAAA".to_owned(), pin_key("")),
            (high.clone(), high_entropy_key(&high)),
        ] {
            let key = match key {
                EncryptKey::Passphrase(_) => pin_key(&passphrase),
                high_entropy => high_entropy,
            };
            let ct = encrypt_for_tests(OWNER_HEX, &passphrase, [5u8; 8]);
            let owner = decrypt_owner_key(&ct, &key, &wallet()).unwrap();
            assert_eq!(
                owner.public_key(),
                SigningKey::from_hex(OWNER_HEX).unwrap().public_key()
            );
        }
    }

    #[test]
    fn cryptojs_wrong_pin_is_decryption_failed() {
        let owner = &cryptojs_owner_keys()[0];
        for pin in ["123457", "", "000001", "1234567"] {
            assert_ne!(pin, owner.passphrase);
            assert_eq!(
                decrypt_owner_key(&owner.ciphertext, &pin_key(pin), &wallet()).unwrap_err(),
                OwnerKeyError::DecryptionFailed,
                "{pin:?}"
            );
        }
    }

    #[test]
    fn cryptojs_plaintext_must_be_a_key() {
        for text in [
            "hello",
            "0x0",
            "1234",
            "0x",
            &format!("{:#x}", crate::crypto::keys::CURVE_ORDER),
        ] {
            let ct = encrypt_for_tests(text, "123456", [3u8; 8]);
            assert_eq!(
                decrypt_owner_key(&ct, &pin_key("123456"), &wallet()).unwrap_err(),
                OwnerKeyError::DecryptionFailed,
                "{text:?}"
            );
        }
    }

    #[test]
    fn envelope_owner_key_round_trip() {
        let key = SigningKey::from_hex(OWNER_HEX).unwrap();
        let sealed = seal_owner_key_with_params(
            &key,
            &pin_key("123456"),
            &wallet(),
            FAST,
            [1u8; 16],
            [2u8; 12],
        )
        .unwrap();
        assert!(sealed.starts_with("v1."));
        let opened = decrypt_owner_key(&sealed, &pin_key("123456"), &wallet()).unwrap();
        assert_eq!(opened.public_key(), key.public_key());
        assert_eq!(
            decrypt_owner_key(&sealed, &pin_key("654321"), &wallet()).unwrap_err(),
            OwnerKeyError::DecryptionFailed
        );
        let other_wallet = wallet() + Felt::ONE;
        assert_eq!(
            decrypt_owner_key(&sealed, &pin_key("123456"), &other_wallet).unwrap_err(),
            OwnerKeyError::DecryptionFailed
        );
    }

    #[test]
    fn default_params_owner_envelope() {
        let key = SigningKey::from_hex(OWNER_HEX).unwrap();
        let sealed =
            seal_owner_key(&key, &pin_key("123456"), &wallet(), [1u8; 16], [2u8; 12]).unwrap();
        assert!(sealed.starts_with("v1.argon2id.m=19456,t=2,p=1."));
        let opened = decrypt_owner_key(&sealed, &pin_key("123456"), &wallet()).unwrap();
        assert_eq!(opened.public_key(), key.public_key());
    }

    #[test]
    fn owner_and_session_envelopes_do_not_mix() {
        let key = SigningKey::from_hex(OWNER_HEX).unwrap();
        let pk = key.public_key();
        let session = envelope::seal(
            &key,
            &pin_key("123456"),
            &wallet(),
            &pk,
            FAST,
            [1u8; 16],
            [2u8; 12],
        )
        .unwrap();
        assert_eq!(
            decrypt_owner_key(&session, &pin_key("123456"), &wallet()).unwrap_err(),
            OwnerKeyError::DecryptionFailed
        );
        let owner = seal_owner_key_with_params(
            &key,
            &pin_key("123456"),
            &wallet(),
            FAST,
            [1u8; 16],
            [2u8; 12],
        )
        .unwrap();
        assert_eq!(
            envelope::open(&owner, &pin_key("123456"), &wallet(), &pk).unwrap_err(),
            EnvelopeError::DecryptionFailed
        );
    }

    #[test]
    fn unsupported_envelopes_are_reported() {
        let key = SigningKey::from_hex(OWNER_HEX).unwrap();
        let sealed = seal_owner_key_with_params(
            &key,
            &pin_key("123456"),
            &wallet(),
            FAST,
            [1u8; 16],
            [2u8; 12],
        )
        .unwrap();
        let v9 = sealed.replacen("v1.", "v9.", 1);
        assert_eq!(
            decrypt_owner_key(&v9, &pin_key("123456"), &wallet()).unwrap_err(),
            OwnerKeyError::Unsupported(EnvelopeError::UnsupportedVersion)
        );
        let hostile = sealed.replacen("m=64", "m=9999999", 1);
        assert_eq!(
            decrypt_owner_key(&hostile, &pin_key("123456"), &wallet()).unwrap_err(),
            OwnerKeyError::Unsupported(EnvelopeError::ParamsOutOfBounds)
        );
    }

    #[test]
    fn neither_format_is_invalid_input() {
        for bad in [
            "",
            "hello world",
            "v1",
            "v1.",
            "vx.abc",
            "0x71d7bb07b9a64f6f78ac4c816aff4da9",
            "U2FsdGVk",
            "{}",
        ] {
            assert!(
                matches!(
                    decrypt_owner_key(bad, &pin_key("123456"), &wallet()),
                    Err(OwnerKeyError::InvalidInput(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn envelope_detection() {
        assert!(looks_like_envelope("v1.x"));
        assert!(looks_like_envelope("v12.x"));
        assert!(!looks_like_envelope("v.x"));
        assert!(!looks_like_envelope("va.x"));
        assert!(!looks_like_envelope("v1"));
        assert!(!looks_like_envelope("U2FsdGVkX1/v1.x"));
    }
}
