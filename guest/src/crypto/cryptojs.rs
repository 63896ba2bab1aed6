//! Reader for Chipi's existing owner-key ciphertexts: CryptoJS
//! `AES.encrypt(text, passphrase)` output, which is exactly OpenSSL's
//! `enc -aes-256-cbc -md md5 -salt -a` format (docs/protocol.md, "Ciphertext
//! formats"):
//!
//! ```text
//! base64( "Salted__" || salt (8 B) || AES-256-CBC-PKCS#7(plaintext) )
//! ```
//!
//! Key (32 B) and IV (16 B) come from OpenSSL `EVP_BytesToKey` with MD5 and
//! one iteration: `D_1 = MD5(pass || salt)`, `D_i = MD5(D_{i-1} || pass || salt)`,
//! concatenated to 48 bytes. The component reads this format but never
//! writes it (one MD5 per guess makes a PIN trivially brute-forceable); the
//! encryptor below exists only in tests.
//!
//! The MD5 and AES implementations keep internal copies of the passphrase
//! and key in their states; those are not zeroized (best effort).

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use md5::{Digest, Md5};
use zeroize::{Zeroize, Zeroizing};

use super::error::CryptoJsError;

/// The 8-byte magic that starts the decoded ciphertext.
const MAGIC: &[u8; 8] = b"Salted__";
/// Salt length.
const SALT_LEN: usize = 8;
/// AES block length.
const BLOCK: usize = 16;
/// Longest base64 input we look at; an owner key ciphertext is about 130 characters.
const MAX_INPUT_LEN: usize = 4096;

/// Standard base64 that accepts the input with or without `=` padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// AES-256-CBC decryptor.
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// Decrypts a CryptoJS passphrase-mode ciphertext to its UTF-8 plaintext.
///
/// A wrong passphrase almost always breaks the PKCS#7 padding or the UTF-8
/// decoding and gives [`CryptoJsError::DecryptionFailed`]; in the rare case
/// (about 1/256) where it does not, garbage comes back, so the caller must
/// validate the plaintext (for an owner key: a `0x`-hex private key).
pub fn decrypt(ciphertext_b64: &str, passphrase: &str) -> Result<Zeroizing<String>, CryptoJsError> {
    if ciphertext_b64.len() > MAX_INPUT_LEN {
        return Err(CryptoJsError::Malformed("too long"));
    }
    let raw = BASE64
        .decode(ciphertext_b64)
        .map_err(|_| CryptoJsError::Malformed("not base64"))?;
    let rest = raw
        .strip_prefix(MAGIC.as_slice())
        .ok_or(CryptoJsError::Malformed("missing Salted__ header"))?;
    let (salt, body) = rest
        .split_first_chunk::<SALT_LEN>()
        .ok_or(CryptoJsError::Malformed("missing salt"))?;
    if body.is_empty() || body.len() % BLOCK != 0 {
        return Err(CryptoJsError::Malformed(
            "ciphertext is not whole AES blocks",
        ));
    }
    let key_iv = evp_bytes_to_key(passphrase.as_bytes(), salt);
    let (key, iv) = key_iv.split_at(32);
    let decryptor =
        Aes256CbcDec::new_from_slices(key, iv).map_err(|_| CryptoJsError::DecryptionFailed)?;
    let mut buf = Zeroizing::new(body.to_vec());
    let plaintext = decryptor
        .decrypt_padded_mut::<Pkcs7>(buf.as_mut_slice())
        .map_err(|_| CryptoJsError::DecryptionFailed)?;
    let text = core::str::from_utf8(plaintext).map_err(|_| CryptoJsError::DecryptionFailed)?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// OpenSSL `EVP_BytesToKey(AES-256-CBC, MD5, salt, pass, count = 1)`:
/// 32 bytes of key followed by 16 bytes of IV.
fn evp_bytes_to_key(pass: &[u8], salt: &[u8; SALT_LEN]) -> Zeroizing<[u8; 48]> {
    let mut out = Zeroizing::new([0u8; 48]);
    let mut previous: Option<[u8; 16]> = None;
    for chunk in out.chunks_exact_mut(16) {
        let mut hasher = Md5::new();
        if let Some(prev) = previous.as_ref() {
            hasher.update(prev);
        }
        hasher.update(pass);
        hasher.update(salt);
        let mut digest: [u8; 16] = hasher.finalize().into();
        chunk.copy_from_slice(&digest);
        if let Some(prev) = previous.as_mut() {
            prev.zeroize();
        }
        previous = Some(digest);
        digest.zeroize();
    }
    if let Some(prev) = previous.as_mut() {
        prev.zeroize();
    }
    out
}

/// Test-only encryptor producing exactly what CryptoJS / OpenSSL produce.
#[cfg(test)]
pub(crate) fn encrypt_for_tests(plaintext: &str, passphrase: &str, salt: [u8; SALT_LEN]) -> String {
    use aes::cipher::BlockEncryptMut;
    type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
    let key_iv = evp_bytes_to_key(passphrase.as_bytes(), &salt);
    let (key, iv) = key_iv.split_at(32);
    let ct = Aes256CbcEnc::new_from_slices(key, iv)
        .unwrap()
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
    let mut raw = MAGIC.to_vec();
    raw.extend_from_slice(&salt);
    raw.extend_from_slice(&ct);
    base64::engine::general_purpose::STANDARD.encode(raw)
}

#[cfg(test)]
pub(crate) mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::test_data::{self, hex_bytes, load};

    /// `cryptojs.json`.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct Vectors {
        pub(crate) ciphertexts: Vec<Ciphertext>,
        key_derivations: Vec<KeyDerivation>,
        encryptions: Vec<Encryption>,
    }

    /// An OpenSSL-made ciphertext and what it decrypts to.
    #[derive(Deserialize)]
    pub(crate) struct Ciphertext {
        pub(crate) ciphertext: String,
        pub(crate) passphrase: String,
        pub(crate) plaintext: String,
    }

    #[derive(Deserialize)]
    struct KeyDerivation {
        passphrase: String,
        salt: String,
        key: String,
        iv: String,
    }

    #[derive(Deserialize)]
    struct Encryption {
        plaintext: String,
        passphrase: String,
        salt: String,
        ciphertext: String,
    }

    pub(crate) fn vectors() -> Vectors {
        load(test_data::CRYPTOJS)
    }

    fn salt(text: &str) -> [u8; SALT_LEN] {
        hex_bytes(text).try_into().expect("an 8-byte salt")
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }

    #[test]
    fn openssl_vectors_decrypt() {
        let v = vectors();
        assert!(v.ciphertexts.len() >= 4);
        for c in v.ciphertexts {
            let plain = decrypt(&c.ciphertext, &c.passphrase).unwrap();
            assert_eq!(plain.as_str(), c.plaintext, "passphrase {:?}", c.passphrase);
        }
    }

    #[test]
    fn evp_bytes_to_key_matches_openssl() {
        for k in vectors().key_derivations {
            let out = evp_bytes_to_key(k.passphrase.as_bytes(), &salt(&k.salt));
            assert_eq!(hex(&out[..32]), k.key, "{:?}", k.passphrase);
            assert_eq!(hex(&out[32..]), k.iv, "{:?}", k.passphrase);
        }
    }

    #[test]
    fn test_encryptor_matches_openssl_with_fixed_salt() {
        for e in vectors().encryptions {
            assert_eq!(
                encrypt_for_tests(&e.plaintext, &e.passphrase, salt(&e.salt)),
                e.ciphertext
            );
            assert_eq!(
                decrypt(&e.ciphertext, &e.passphrase).unwrap().as_str(),
                e.plaintext
            );
        }
    }

    #[test]
    fn round_trip_through_test_encryptor() {
        for (i, text) in [
            "",
            "a",
            "0x1",
            &"x".repeat(15),
            &"y".repeat(16),
            &"z".repeat(100),
        ]
        .iter()
        .enumerate()
        {
            let ct = encrypt_for_tests(text, "pin", [i as u8; 8]);
            assert_eq!(decrypt(&ct, "pin").unwrap().as_str(), *text);
        }
    }

    #[test]
    fn unpadded_base64_is_accepted() {
        for c in vectors().ciphertexts {
            let trimmed = c.ciphertext.trim_end_matches('=');
            assert_eq!(
                decrypt(trimmed, &c.passphrase).unwrap().as_str(),
                c.plaintext
            );
        }
    }

    #[test]
    fn wrong_passphrase_fails() {
        // Over many wrong PINs, most fail on padding/UTF-8; none may panic, and
        // none may return the real plaintext.
        let c = vectors()
            .ciphertexts
            .into_iter()
            .find(|c| c.passphrase == "000000")
            .unwrap();
        let (ct, expected) = (c.ciphertext.as_str(), c.plaintext.as_str());
        let mut failures = 0;
        // The real PIN is 000000; try 000001..=000300.
        for pin in 1..=300u32 {
            let guess = format!("{pin:06}");
            match decrypt(ct, &guess) {
                Err(CryptoJsError::DecryptionFailed) => failures += 1,
                Ok(text) => assert_ne!(text.as_str(), expected),
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert!(failures > 280, "only {failures} failures");
        assert_eq!(
            decrypt(ct, "").unwrap_err(),
            CryptoJsError::DecryptionFailed
        );
    }

    #[test]
    fn malformed_inputs() {
        let long = "A".repeat(MAX_INPUT_LEN + 4);
        let no_magic = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
        let magic_only = base64::engine::general_purpose::STANDARD.encode(b"Salted__");
        let short_salt = base64::engine::general_purpose::STANDARD.encode(b"Salted__1234");
        let salt_no_body = base64::engine::general_purpose::STANDARD.encode(b"Salted__12345678");
        let partial_block =
            base64::engine::general_purpose::STANDARD.encode(b"Salted__12345678abc");
        for bad in [
            "",
            "!!!",
            "v1.argon2id.m=1,t=1,p=1.a.b.c",
            "U2FsdGVkX1",
            long.as_str(),
            no_magic.as_str(),
            magic_only.as_str(),
            short_salt.as_str(),
            salt_no_body.as_str(),
            partial_block.as_str(),
            "U2FsdGVkX1/H5O1qxGuZYTFkGBJsbiwz Q2x7hPzZIYN76VeLmgluh86C0Eq8xS3zGWLdc0NzBRM+IH3L32dKPA==",
        ] {
            assert!(matches!(decrypt(bad, "123456"), Err(CryptoJsError::Malformed(_))), "{bad:?}");
        }
    }

    #[test]
    fn tampered_ciphertext_fails() {
        let c = &vectors().ciphertexts[1];
        let (pin, expected) = (c.passphrase.as_str(), c.plaintext.as_str());
        let mut raw = base64::engine::general_purpose::STANDARD
            .decode(&c.ciphertext)
            .unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 0x80;
        let tampered = base64::engine::general_purpose::STANDARD.encode(&raw);
        match decrypt(&tampered, pin) {
            Err(CryptoJsError::DecryptionFailed) => {}
            Ok(text) => assert_ne!(text.as_str(), expected),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
}
