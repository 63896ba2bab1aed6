//! Our session-key ciphertext: a versioned, self-describing envelope
//!
//! ```text
//! v1.argon2id.m=<KiB>,t=<iterations>,p=<lanes>.<salt>.<nonce>.<ciphertext+tag>
//! ```
//!
//! The last three parts are base64url without padding. Argon2id (version
//! 0x13) derives a 32-byte key from the UTF-8 bytes of the encrypt key and a
//! 16-byte salt; AES-256-GCM with a 12-byte nonce encrypts the 32-byte
//! big-endian private key. The associated data
//!
//! ```text
//! b"chipi-session/v1|" || wallet address (32 bytes BE) || session public key (32 bytes BE)
//! ```
//!
//! binds the ciphertext to its wallet and session, so it cannot be swapped
//! into another session. Both felts are fixed-width, so `0x00ab` and `0xAB`
//! bind identically. The Argon2 parameters are recorded in the envelope so
//! they can be raised later; [`open`] refuses parameters outside
//! [`KdfParams::validate`]'s bounds so a hostile envelope cannot make us
//! allocate gigabytes or spin for minutes.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use zeroize::Zeroizing;

use super::error::EnvelopeError;
use super::felt::Felt;
use super::keys::SigningKey;

/// Version tag of the format this module writes.
pub const VERSION: &str = "v1";
/// KDF tag of the format this module writes.
pub const ALGORITHM: &str = "argon2id";
/// Salt length in bytes.
pub const SALT_LEN: usize = 16;
/// AES-GCM nonce length in bytes.
pub const NONCE_LEN: usize = 12;

/// Prefix of the associated data.
const AD_PREFIX: &[u8] = b"chipi-session/v1|";
/// Plaintext (private key) length.
const PLAINTEXT_LEN: usize = 32;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;
/// Longest envelope we look at; a real one is about 170 characters.
const MAX_ENVELOPE_LEN: usize = 512;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations (passes).
    pub t: u32,
    /// Lanes (parallelism).
    pub p: u32,
}

impl KdfParams {
    /// OWASP's recommended Argon2id setting: 19 MiB, 2 passes, 1 lane.
    pub const DEFAULT: Self = Self {
        m_kib: 19_456,
        t: 2,
        p: 1,
    };
    /// Largest memory cost accepted (64 MiB): parameters come from stored
    /// envelopes, which are input like any other.
    pub const MAX_M_KIB: u32 = 65_536;
    /// Largest iteration count accepted.
    pub const MAX_T: u32 = 10;
    /// Largest lane count accepted.
    pub const MAX_P: u32 = 4;

    /// Checks `1 <= t <= 10`, `1 <= p <= 4` and `8 * p <= m <= 65536`.
    pub fn validate(&self) -> Result<(), EnvelopeError> {
        let ok = (1..=Self::MAX_T).contains(&self.t)
            && (1..=Self::MAX_P).contains(&self.p)
            && self.m_kib <= Self::MAX_M_KIB
            && self.m_kib >= 8 * self.p;
        if ok {
            Ok(())
        } else {
            Err(EnvelopeError::ParamsOutOfBounds)
        }
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Encrypts a session private key for storage.
///
/// `salt` and `nonce` must be fresh CSPRNG output for every call (the caller
/// supplies them because the crypto module never draws randomness itself).
pub fn seal(
    secret: &SigningKey,
    encrypt_key: &str,
    wallet: &Felt,
    session_pubkey: &Felt,
    params: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
) -> Result<String, EnvelopeError> {
    seal_bound(
        secret,
        encrypt_key,
        wallet,
        session_pubkey,
        params,
        salt,
        nonce,
    )
}

/// Decrypts a session private key sealed by [`seal`] for the same wallet and
/// session public key, and checks that it really is that session's key.
///
/// Wrong encrypt key, any tampering, another wallet or another session all
/// give [`EnvelopeError::DecryptionFailed`]; an unknown version or algorithm
/// and out-of-bounds parameters have their own errors.
pub fn open(
    envelope: &str,
    encrypt_key: &str,
    wallet: &Felt,
    session_pubkey: &Felt,
) -> Result<SigningKey, EnvelopeError> {
    let key = open_bound(envelope, encrypt_key, wallet, session_pubkey)?;
    if key.public_key() != *session_pubkey {
        return Err(EnvelopeError::DecryptionFailed);
    }
    Ok(key)
}

/// [`seal`] with an arbitrary felt in the session-public-key slot of the
/// associated data (the owner-key envelope puts zero there).
pub(crate) fn seal_bound(
    secret: &SigningKey,
    encrypt_key: &str,
    wallet: &Felt,
    slot: &Felt,
    params: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
) -> Result<String, EnvelopeError> {
    params.validate()?;
    if encrypt_key.is_empty() {
        return Err(EnvelopeError::EmptyEncryptKey);
    }
    let key = derive_key(encrypt_key, &salt, params)?;
    let cipher =
        Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| EnvelopeError::EncryptionFailed)?;
    let mut buf = Zeroizing::new(Vec::with_capacity(PLAINTEXT_LEN + TAG_LEN));
    buf.extend_from_slice(secret.to_be_bytes().as_slice());
    cipher
        .encrypt_in_place(
            Nonce::from_slice(&nonce),
            &associated_data(wallet, slot),
            &mut *buf,
        )
        .map_err(|_| EnvelopeError::EncryptionFailed)?;
    Ok(format!(
        "{VERSION}.{ALGORITHM}.m={},t={},p={}.{}.{}.{}",
        params.m_kib,
        params.t,
        params.p,
        URL_SAFE_NO_PAD.encode(salt),
        URL_SAFE_NO_PAD.encode(nonce),
        URL_SAFE_NO_PAD.encode(buf.as_slice()),
    ))
}

/// Decrypts an envelope bound to `wallet` and `slot` into a private key,
/// without checking the key against the slot.
pub(crate) fn open_bound(
    envelope: &str,
    encrypt_key: &str,
    wallet: &Felt,
    slot: &Felt,
) -> Result<SigningKey, EnvelopeError> {
    let parts = Parts::parse(envelope)?;
    let key = derive_key(encrypt_key, &parts.salt, parts.params)?;
    let cipher =
        Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| EnvelopeError::DecryptionFailed)?;
    let mut buf = Zeroizing::new(parts.ciphertext);
    cipher
        .decrypt_in_place(
            Nonce::from_slice(&parts.nonce),
            &associated_data(wallet, slot),
            &mut *buf,
        )
        .map_err(|_| EnvelopeError::DecryptionFailed)?;
    let bytes: Zeroizing<[u8; PLAINTEXT_LEN]> = Zeroizing::new(
        buf.as_slice()
            .try_into()
            .map_err(|_| EnvelopeError::DecryptionFailed)?,
    );
    SigningKey::from_be_bytes(&bytes).map_err(|_| EnvelopeError::DecryptionFailed)
}

/// `AD_PREFIX || wallet (32 B BE) || slot (32 B BE)`.
fn associated_data(wallet: &Felt, slot: &Felt) -> Vec<u8> {
    let mut ad = Vec::with_capacity(AD_PREFIX.len() + 64);
    ad.extend_from_slice(AD_PREFIX);
    ad.extend_from_slice(&wallet.to_bytes_be());
    ad.extend_from_slice(&slot.to_bytes_be());
    ad
}

/// Argon2id v0x13 over the encrypt key's UTF-8 bytes.
fn derive_key(
    encrypt_key: &str,
    salt: &[u8; SALT_LEN],
    params: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, EnvelopeError> {
    params.validate()?;
    let argon_params = Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|_| EnvelopeError::ParamsOutOfBounds)?;
    // Allocate the working memory fallibly: a failed allocation is a typed
    // error, not an abort (a trap, in the component).
    let mut blocks: Vec<Block> = Vec::new();
    blocks
        .try_reserve_exact(argon_params.block_count())
        .map_err(|_| EnvelopeError::OutOfMemory)?;
    blocks.resize(argon_params.block_count(), Block::default());
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
    let mut out = Zeroizing::new([0u8; 32]);
    let result = argon.hash_password_into_with_memory(
        encrypt_key.as_bytes(),
        salt,
        out.as_mut_slice(),
        &mut blocks,
    );
    // The blocks hold values derived from the encrypt key.
    for block in blocks.iter_mut() {
        *block = Block::default();
    }
    result.map_err(|_| EnvelopeError::EncryptionFailed)?;
    Ok(out)
}

/// The decoded parts of an envelope string.
#[derive(Debug)]
struct Parts {
    params: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl Parts {
    fn parse(envelope: &str) -> Result<Self, EnvelopeError> {
        if envelope.len() > MAX_ENVELOPE_LEN {
            return Err(EnvelopeError::Malformed("too long"));
        }
        let mut it = envelope.split('.');
        let version = it.next().unwrap_or_default();
        if version != VERSION {
            return Err(if version.starts_with('v') {
                EnvelopeError::UnsupportedVersion
            } else {
                EnvelopeError::Malformed("missing version")
            });
        }
        let algorithm = it
            .next()
            .filter(|a| !a.is_empty())
            .ok_or(EnvelopeError::Malformed("missing algorithm"))?;
        if algorithm != ALGORITHM {
            return Err(EnvelopeError::UnsupportedAlgorithm);
        }
        let params = parse_params(
            it.next()
                .ok_or(EnvelopeError::Malformed("missing parameters"))?,
        )?;
        params.validate()?;
        let salt = decode_fixed::<SALT_LEN>(it.next(), "salt")?;
        let nonce = decode_fixed::<NONCE_LEN>(it.next(), "nonce")?;
        let ct_text = it
            .next()
            .ok_or(EnvelopeError::Malformed("missing ciphertext"))?;
        if it.next().is_some() {
            return Err(EnvelopeError::Malformed("too many parts"));
        }
        let ciphertext = URL_SAFE_NO_PAD
            .decode(ct_text)
            .map_err(|_| EnvelopeError::Malformed("ciphertext is not base64url"))?;
        if ciphertext.len() != PLAINTEXT_LEN + TAG_LEN {
            return Err(EnvelopeError::Malformed("ciphertext has the wrong length"));
        }
        Ok(Self {
            params,
            salt,
            nonce,
            ciphertext,
        })
    }
}

/// Decodes an unpadded base64url part of exactly `N` bytes.
fn decode_fixed<const N: usize>(
    part: Option<&str>,
    what: &'static str,
) -> Result<[u8; N], EnvelopeError> {
    let text = part.ok_or(EnvelopeError::Malformed(what))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| EnvelopeError::Malformed(what))?;
    bytes.try_into().map_err(|_| EnvelopeError::Malformed(what))
}

/// Parses `m=<u32>,t=<u32>,p=<u32>` (that order, canonical decimals).
fn parse_params(text: &str) -> Result<KdfParams, EnvelopeError> {
    const BAD: EnvelopeError = EnvelopeError::Malformed("bad parameters");
    let mut it = text.split(',');
    let mut field = |name: &str| -> Result<u32, EnvelopeError> {
        let item = it.next().ok_or(BAD)?;
        let value = item
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
            .ok_or(BAD)?;
        parse_canonical_u32(value).ok_or(BAD)
    };
    let m_kib = field("m")?;
    let t = field("t")?;
    let p = field("p")?;
    if it.next().is_some() {
        return Err(BAD);
    }
    Ok(KdfParams { m_kib, t, p })
}

/// Decimal `u32` without sign or leading zeros (so each value has one spelling).
fn parse_canonical_u32(text: &str) -> Option<u32> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::felt::parse_felt;

    const FAST: KdfParams = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };
    const SALT: [u8; SALT_LEN] = [7u8; SALT_LEN];
    const NONCE: [u8; NONCE_LEN] = [9u8; NONCE_LEN];

    struct Fixture {
        key: SigningKey,
        pubkey: Felt,
        wallet: Felt,
    }

    fn fixture() -> Fixture {
        let key = SigningKey::from_hex(
            "0x3c1e9550e66958296d11b60f8e8e7a7ad990d07fa65d5f7652c4a6c87d4e3cc",
        )
        .unwrap();
        let pubkey = key.public_key();
        let wallet = parse_felt("0x00ab").unwrap();
        Fixture {
            key,
            pubkey,
            wallet,
        }
    }

    fn sealed(f: &Fixture) -> String {
        seal(&f.key, "123456", &f.wallet, &f.pubkey, FAST, SALT, NONCE).unwrap()
    }

    fn replace_part(envelope: &str, index: usize, new: &str) -> String {
        let mut parts: Vec<String> = envelope.split('.').map(str::to_owned).collect();
        parts[index] = new.to_owned();
        parts.join(".")
    }

    #[test]
    fn round_trip() {
        let f = fixture();
        let env = sealed(&f);
        let opened = open(&env, "123456", &f.wallet, &f.pubkey).unwrap();
        assert_eq!(*opened.to_be_bytes(), *f.key.to_be_bytes());
    }

    #[test]
    fn format_is_self_describing() {
        let f = fixture();
        let env = sealed(&f);
        let parts: Vec<&str> = env.split('.').collect();
        assert_eq!(parts.len(), 6);
        assert_eq!(parts[0], "v1");
        assert_eq!(parts[1], "argon2id");
        assert_eq!(parts[2], "m=64,t=1,p=1");
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[3]).unwrap(), SALT);
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[4]).unwrap(), NONCE);
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[5]).unwrap().len(), 48);
        for b64 in &parts[3..] {
            assert!(
                !b64.contains('=') && !b64.contains('+') && !b64.contains('/'),
                "{b64}"
            );
        }
        // Deterministic given salt and nonce.
        assert_eq!(env, sealed(&f));
        // The plaintext does not appear.
        let secret = URL_SAFE_NO_PAD.encode(f.key.to_be_bytes().as_slice());
        assert!(!env.contains(&secret));
    }

    /// Computed independently with Python `cryptography` 48 (`Argon2id`,
    /// `AESGCM`) from the fixture's key, wallet `0xab`, PIN `123456`, salt
    /// `[7; 16]`, nonce `[9; 12]`, m=64, t=1, p=1.
    const KNOWN_ANSWER: &str = "v1.argon2id.m=64,t=1,p=1.BwcHBwcHBwcHBwcHBwcHBw.CQkJCQkJCQkJCQkJ.\
        Y9BAtP-JYng7zKyHXmuIWNgDk5HVDeVrUvMbXhwoLcgZR8TLzGD3_Rc1KC_g7Ye8";

    #[test]
    fn known_answer_from_independent_implementation() {
        let f = fixture();
        assert_eq!(sealed(&f), KNOWN_ANSWER);
        let opened = open(KNOWN_ANSWER, "123456", &f.wallet, &f.pubkey).unwrap();
        assert_eq!(*opened.to_be_bytes(), *f.key.to_be_bytes());
        let key = derive_key("123456", &SALT, FAST).unwrap();
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "d02aacab39295f6017ef766481d0947f38ab778993687fd871b8db020cad264b"
        );
    }

    #[test]
    fn default_params_round_trip() {
        let f = fixture();
        let env = seal(
            &f.key,
            "correct horse",
            &f.wallet,
            &f.pubkey,
            KdfParams::default(),
            SALT,
            NONCE,
        )
        .unwrap();
        assert!(env.starts_with("v1.argon2id.m=19456,t=2,p=1."));
        let opened = open(&env, "correct horse", &f.wallet, &f.pubkey).unwrap();
        assert_eq!(opened.public_key(), f.pubkey);
    }

    #[test]
    fn wrong_key_fails() {
        let f = fixture();
        let env = sealed(&f);
        for wrong in ["123457", "", "1234567", "123456 "] {
            assert_eq!(
                open(&env, wrong, &f.wallet, &f.pubkey).unwrap_err(),
                EnvelopeError::DecryptionFailed,
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn ad_is_normalised_felts() {
        let f = fixture();
        let env = sealed(&f);
        let same_wallet = parse_felt("0xAB").unwrap();
        assert!(open(&env, "123456", &same_wallet, &f.pubkey).is_ok());
        let decimal = parse_felt("171").unwrap();
        assert!(open(&env, "123456", &decimal, &f.pubkey).is_ok());
    }

    #[test]
    fn swapped_wallet_or_pubkey_fails() {
        let f = fixture();
        let env = sealed(&f);
        let other_wallet = parse_felt("0xac").unwrap();
        assert_eq!(
            open(&env, "123456", &other_wallet, &f.pubkey).unwrap_err(),
            EnvelopeError::DecryptionFailed
        );
        let other_key = SigningKey::from_hex("0x1234").unwrap();
        assert_eq!(
            open(&env, "123456", &f.wallet, &other_key.public_key()).unwrap_err(),
            EnvelopeError::DecryptionFailed
        );
    }

    #[test]
    fn pubkey_check_after_decryption() {
        // Sealed under a slot that is not the key's public key: the AEAD
        // succeeds but `open` still refuses it.
        let f = fixture();
        let wrong_slot = Felt::from(5u8);
        let env = seal(&f.key, "123456", &f.wallet, &wrong_slot, FAST, SALT, NONCE).unwrap();
        assert!(open_bound(&env, "123456", &f.wallet, &wrong_slot).is_ok());
        assert_eq!(
            open(&env, "123456", &f.wallet, &wrong_slot).unwrap_err(),
            EnvelopeError::DecryptionFailed
        );
    }

    #[test]
    fn tampered_parts_fail_decryption() {
        let f = fixture();
        let env = sealed(&f);
        let parts: Vec<&str> = env.split('.').collect();
        let flip = |text: &str, byte: usize| {
            let mut raw = URL_SAFE_NO_PAD.decode(text).unwrap();
            raw[byte] ^= 0x01;
            URL_SAFE_NO_PAD.encode(raw)
        };
        let cases = [
            replace_part(&env, 3, &flip(parts[3], 0)),
            replace_part(&env, 4, &flip(parts[4], 11)),
            replace_part(&env, 5, &flip(parts[5], 0)),
            replace_part(&env, 5, &flip(parts[5], 31)),
            replace_part(&env, 5, &flip(parts[5], 47)),
            replace_part(&env, 2, "m=72,t=1,p=1"),
            replace_part(&env, 2, "m=64,t=2,p=1"),
            replace_part(&env, 2, "m=64,t=1,p=2"),
        ];
        for (i, bad) in cases.iter().enumerate() {
            assert_eq!(
                open(bad, "123456", &f.wallet, &f.pubkey).unwrap_err(),
                EnvelopeError::DecryptionFailed,
                "case {i}"
            );
        }
    }

    #[test]
    fn unknown_version_and_algorithm_are_distinct_errors() {
        let f = fixture();
        let env = sealed(&f);
        let v2 = replace_part(&env, 0, "v2");
        assert_eq!(
            open(&v2, "123456", &f.wallet, &f.pubkey).unwrap_err(),
            EnvelopeError::UnsupportedVersion
        );
        let scrypt = replace_part(&env, 1, "scrypt");
        assert_eq!(
            open(&scrypt, "123456", &f.wallet, &f.pubkey).unwrap_err(),
            EnvelopeError::UnsupportedAlgorithm
        );
        let argon2i = replace_part(&env, 1, "argon2i");
        assert_eq!(
            open(&argon2i, "123456", &f.wallet, &f.pubkey).unwrap_err(),
            EnvelopeError::UnsupportedAlgorithm
        );
    }

    #[test]
    fn parameter_bounds() {
        assert!(KdfParams::DEFAULT.validate().is_ok());
        assert!(FAST.validate().is_ok());
        assert!(KdfParams {
            m_kib: 65_536,
            t: 10,
            p: 4
        }
        .validate()
        .is_ok());
        assert!(KdfParams {
            m_kib: 64,
            t: 1,
            p: 4
        }
        .validate()
        .is_ok());
        let bad = [
            // The old maxima: a typed error, at once.
            KdfParams {
                m_kib: 262_144,
                t: 10,
                p: 8,
            },
            KdfParams {
                m_kib: 65_537,
                t: 1,
                p: 1,
            },
            KdfParams {
                m_kib: 64,
                t: 1,
                p: 5,
            },
            KdfParams {
                m_kib: 262_145,
                t: 1,
                p: 1,
            },
            KdfParams {
                m_kib: 4_194_304,
                t: 1,
                p: 1,
            },
            KdfParams {
                m_kib: 64,
                t: 11,
                p: 1,
            },
            KdfParams {
                m_kib: 64,
                t: 0,
                p: 1,
            },
            KdfParams {
                m_kib: 64,
                t: 1,
                p: 0,
            },
            KdfParams {
                m_kib: 64,
                t: 1,
                p: 9,
            },
            KdfParams {
                m_kib: 63,
                t: 1,
                p: 8,
            },
            KdfParams {
                m_kib: 7,
                t: 1,
                p: 1,
            },
            KdfParams {
                m_kib: 0,
                t: 1,
                p: 1,
            },
        ];
        let f = fixture();
        let env = sealed(&f);
        for p in bad {
            assert_eq!(p.validate(), Err(EnvelopeError::ParamsOutOfBounds), "{p:?}");
            assert_eq!(
                seal(&f.key, "123456", &f.wallet, &f.pubkey, p, SALT, NONCE).unwrap_err(),
                EnvelopeError::ParamsOutOfBounds
            );
            let hostile = replace_part(&env, 2, &format!("m={},t={},p={}", p.m_kib, p.t, p.p));
            assert_eq!(
                open(&hostile, "123456", &f.wallet, &f.pubkey).unwrap_err(),
                EnvelopeError::ParamsOutOfBounds,
                "{p:?}"
            );
        }
        // Parameters that do not even fit a u32 are malformed, not huge.
        let huge = replace_part(&env, 2, "m=99999999999,t=1,p=1");
        assert!(matches!(
            open(&huge, "123456", &f.wallet, &f.pubkey),
            Err(EnvelopeError::Malformed(_))
        ));
    }

    #[test]
    fn empty_encrypt_key_is_refused_when_sealing() {
        let f = fixture();
        assert_eq!(
            seal(&f.key, "", &f.wallet, &f.pubkey, FAST, SALT, NONCE).unwrap_err(),
            EnvelopeError::EmptyEncryptKey
        );
    }

    #[test]
    fn malformed_strings_never_panic() {
        let f = fixture();
        let env = sealed(&f);
        let parts: Vec<&str> = env.split('.').collect();
        let long = "A".repeat(600);
        let mut cases: Vec<String> = vec![
            String::new(),
            ".".into(),
            ".....".into(),
            "v1".into(),
            "v1.".into(),
            "v1.argon2id".into(),
            "v1.argon2id.".into(),
            "v1.argon2id.m=64,t=1,p=1".into(),
            "v1.argon2id.m=64,t=1,p=1.".into(),
            "v1.argon2id.m=64,t=1,p=1..".into(),
            "v1.argon2id.m=64,t=1,p=1...".into(),
            format!("{env}."),
            format!("{env}.x"),
            format!(".{env}"),
            env.replace("v1.", "V1."),
            long.clone(),
            format!("v1.argon2id.m=64,t=1,p=1.{long}"),
            "garbage".into(),
            "U2FsdGVkX1/H5O1qxGuZYTFkGBJsbiwzQ2x7hPzZIYN76VeLmgluh86C0Eq8xS3zGWLdc0NzBRM+IH3L32dKPA==".into(),
            "v1.argon2id.m=64,t=1,p=1.\u{1F511}.x.y".into(),
        ];
        for params in [
            "",
            "m=64",
            "m=64,t=1",
            "m=64,t=1,p=1,x=2",
            "t=1,m=64,p=1",
            "m=064,t=1,p=1",
            "m=+64,t=1,p=1",
            "m=-1,t=1,p=1",
            "m= 64,t=1,p=1",
            "m=64,t=1,p=1 ",
            "M=64,T=1,P=1",
            "m=64;t=1;p=1",
            "m=,t=1,p=1",
            "m=6e1,t=1,p=1",
            "m=64,,t=1,p=1",
            "m=٦٤,t=1,p=1",
        ] {
            cases.push(replace_part(&env, 2, params));
        }
        let salt_short = URL_SAFE_NO_PAD.encode([0u8; 15]);
        let salt_long = URL_SAFE_NO_PAD.encode([0u8; 17]);
        let nonce_short = URL_SAFE_NO_PAD.encode([0u8; 11]);
        let ct_short = URL_SAFE_NO_PAD.encode([0u8; 47]);
        let ct_long = URL_SAFE_NO_PAD.encode([0u8; 49]);
        let padded_salt = format!("{}==", parts[3]);
        let std_b64 = parts[3].replace('-', "+").replace('_', "/");
        for (index, value) in [
            (3, salt_short.as_str()),
            (3, salt_long.as_str()),
            (3, ""),
            (3, "!!!!"),
            (3, padded_salt.as_str()),
            (4, nonce_short.as_str()),
            (4, ""),
            (5, ct_short.as_str()),
            (5, ct_long.as_str()),
            (5, ""),
            (5, "*"),
            (5, "A"),
        ] {
            cases.push(replace_part(&env, index, value));
        }
        if std_b64 != parts[3] {
            cases.push(replace_part(&env, 3, &std_b64));
        }
        for bad in &cases {
            let err = open(bad, "123456", &f.wallet, &f.pubkey).unwrap_err();
            assert!(
                matches!(
                    err,
                    EnvelopeError::Malformed(_)
                        | EnvelopeError::UnsupportedVersion
                        | EnvelopeError::UnsupportedAlgorithm
                ),
                "{bad:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn errors_do_not_leak_the_key() {
        let f = fixture();
        let env = sealed(&f);
        let err = open(&env, "654321", &f.wallet, &f.pubkey).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("654321") && !text.contains("123456"));
    }
}
