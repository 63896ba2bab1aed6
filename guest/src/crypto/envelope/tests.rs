//! Envelope tests: known answers of `guest/test-data/envelope.json`, tampering,
//! parameter bounds, malformed strings.

use serde::Deserialize;

use super::*;
use crate::crypto::felt::parse_felt;
use crate::test_data::{self, hex_bytes, load};

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
    let key =
        SigningKey::from_hex("0x3c1e9550e66958296d11b60f8e8e7a7ad990d07fa65d5f7652c4a6c87d4e3cc")
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

/// A known answer of `envelope.json`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KnownAnswer {
    /// `session` (bound to the session public key) or `owner` (bound to zero).
    pub(crate) kind: String,
    pub(crate) private_key: String,
    pub(crate) wallet: String,
    pub(crate) encrypt_key: String,
    pub(crate) salt: String,
    pub(crate) nonce: String,
    pub(crate) params: Params,
    pub(crate) derived_key: String,
    pub(crate) envelope: String,
}

/// Argon2id parameters as written in `envelope.json`.
#[derive(Deserialize)]
pub(crate) struct Params {
    m: u32,
    t: u32,
    p: u32,
}

impl KnownAnswer {
    pub(crate) fn params(&self) -> KdfParams {
        KdfParams {
            m_kib: self.params.m,
            t: self.params.t,
            p: self.params.p,
        }
    }

    pub(crate) fn salt(&self) -> [u8; SALT_LEN] {
        hex_bytes(&self.salt).try_into().expect("16-byte salt")
    }

    pub(crate) fn nonce(&self) -> [u8; NONCE_LEN] {
        hex_bytes(&self.nonce).try_into().expect("12-byte nonce")
    }
}

/// The known answers of `envelope.json`.
pub(crate) fn known_answers() -> Vec<KnownAnswer> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct File {
        known_answers: Vec<KnownAnswer>,
    }
    load::<File>(test_data::ENVELOPE).known_answers
}

#[test]
fn known_answers_from_independent_implementations() {
    let answers = known_answers();
    assert!(answers.iter().any(|a| a.kind == "session"));
    for a in &answers {
        let key = SigningKey::from_hex(&a.private_key).unwrap();
        let wallet = parse_felt(&a.wallet).unwrap();
        let slot = match a.kind.as_str() {
            "session" => key.public_key(),
            "owner" => Felt::ZERO,
            other => panic!("kind {other}"),
        };
        let sealed = seal_bound(
            &key,
            &a.encrypt_key,
            &wallet,
            &slot,
            a.params(),
            a.salt(),
            a.nonce(),
        )
        .unwrap();
        assert_eq!(sealed, a.envelope, "{} {}", a.kind, a.private_key);
        let opened = open_bound(&a.envelope, &a.encrypt_key, &wallet, &slot).unwrap();
        assert_eq!(*opened.to_be_bytes(), *key.to_be_bytes());
        if a.kind == "session" {
            assert!(open(&a.envelope, &a.encrypt_key, &wallet, &slot).is_ok());
        }
        let derived = derive_key(&a.encrypt_key, &a.salt(), a.params()).unwrap();
        let hex: String = derived.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, a.derived_key);
    }
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
        "U2FsdGVkX1/H5O1qxGuZYTFkGBJsbiwzQ2x7hPzZIYN76VeLmgluh86C0Eq8xS3zGWLdc0NzBRM+IH3L32dKPA=="
            .into(),
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
