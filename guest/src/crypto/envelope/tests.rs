//! Envelope tests: known answers of `guest/test-data/envelope.json` (Argon2id
//! and HKDF), tampering, parameter bounds, malformed strings, the
//! encrypt key kinds and the Argon2 counter.
//!
//! The tests call the module's functions through the wrappers below, which
//! take a PIN as any string and a high-entropy key as a
//! [`HighEntropyText`]: the kind comes from the test's types, never from the
//! key's text, as in the component.

use serde::Deserialize;

use super::*;
use crate::crypto::felt::parse_felt;
use crate::test_data::{self, hex_bytes, load};

/// A high-entropy key's text (unpadded base64url), typed so that the
/// wrappers pass it with kind `high-entropy`.
#[derive(Clone, Debug)]
struct HighEntropyText(String);

/// What a test passes as an encrypt key.
enum TestKey<'a> {
    Pin(&'a str),
    HighEntropy(&'a str),
}

impl<'a> From<&'a str> for TestKey<'a> {
    fn from(text: &'a str) -> Self {
        Self::Pin(text)
    }
}

impl<'a> From<&'a String> for TestKey<'a> {
    fn from(text: &'a String) -> Self {
        Self::Pin(text)
    }
}

impl<'a> From<&'a HighEntropyText> for TestKey<'a> {
    fn from(key: &'a HighEntropyText) -> Self {
        Self::HighEntropy(&key.0)
    }
}

impl TestKey<'_> {
    fn read(&self) -> Result<EncryptKey<'_>, EnvelopeError> {
        match self {
            Self::Pin(text) => Ok(EncryptKey::pin(text)),
            Self::HighEntropy(text) => EncryptKey::new(KeyKind::HighEntropy, text),
        }
    }
}

fn seal<'k>(
    secret: &SigningKey,
    key: impl Into<TestKey<'k>>,
    wallet: &Felt,
    session_pubkey: &Felt,
    params: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
) -> Result<String, EnvelopeError> {
    let key = key.into();
    super::seal(
        secret,
        &key.read()?,
        wallet,
        session_pubkey,
        params,
        salt,
        nonce,
    )
}

fn open<'k>(
    envelope: &str,
    key: impl Into<TestKey<'k>>,
    wallet: &Felt,
    session_pubkey: &Felt,
) -> Result<SigningKey, EnvelopeError> {
    let key = key.into();
    super::open(envelope, &key.read()?, wallet, session_pubkey)
}

fn seal_bound<'k>(
    secret: &SigningKey,
    key: impl Into<TestKey<'k>>,
    wallet: &Felt,
    slot: &Felt,
    params: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
) -> Result<String, EnvelopeError> {
    let key = key.into();
    super::seal_bound(secret, &key.read()?, wallet, slot, params, salt, nonce)
}

fn open_bound<'k>(
    envelope: &str,
    key: impl Into<TestKey<'k>>,
    wallet: &Felt,
    slot: &Felt,
) -> Result<SigningKey, EnvelopeError> {
    let key = key.into();
    super::open_bound(envelope, &key.read()?, wallet, slot)
}

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
    /// `pin` (the default) or `high-entropy`.
    #[serde(default)]
    pub(crate) encrypt_key_kind: Option<String>,
    pub(crate) salt: String,
    pub(crate) nonce: String,
    /// Argon2id parameters (absent for the HKDF envelope).
    #[serde(default)]
    pub(crate) params: Option<Params>,
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
    /// The answer's encrypt key, of its stated kind.
    fn key(&self) -> TestKey<'_> {
        match self.encrypt_key_kind.as_deref() {
            None | Some("pin") => TestKey::Pin(&self.encrypt_key),
            Some("high-entropy") => TestKey::HighEntropy(&self.encrypt_key),
            Some(other) => panic!("encrypt key kind {other}"),
        }
    }

    /// The Argon2id parameters; the tests' fast ones for an HKDF answer
    /// (which ignores them).
    pub(crate) fn params(&self) -> KdfParams {
        self.params.as_ref().map_or(FAST, |p| KdfParams {
            m_kib: p.m,
            t: p.t,
            p: p.p,
        })
    }

    pub(crate) fn salt(&self) -> [u8; SALT_LEN] {
        hex_bytes(&self.salt).try_into().expect("16-byte salt")
    }

    pub(crate) fn nonce(&self) -> [u8; NONCE_LEN] {
        hex_bytes(&self.nonce).try_into().expect("12-byte nonce")
    }
}

/// Seal a known answer's key with its inputs and check the envelope, then
/// open it back; returns its wallet and slot (the session public key, or
/// zero for an owner key).
fn seal_and_open(a: &KnownAnswer) -> (Felt, Felt) {
    let key = SigningKey::from_hex(&a.private_key).unwrap();
    let wallet = parse_felt(&a.wallet).unwrap();
    let slot = match a.kind.as_str() {
        "session" => key.public_key(),
        "owner" => Felt::ZERO,
        other => panic!("kind {other}"),
    };
    let sealed = seal_bound(
        &key,
        a.key(),
        &wallet,
        &slot,
        a.params(),
        a.salt(),
        a.nonce(),
    )
    .unwrap();
    assert_eq!(sealed, a.envelope, "{} {}", a.kind, a.private_key);
    let opened = open_bound(&a.envelope, a.key(), &wallet, &slot).unwrap();
    assert_eq!(*opened.to_be_bytes(), *key.to_be_bytes());
    if a.kind == "session" {
        assert!(open(&a.envelope, a.key(), &wallet, &slot).is_ok());
    }
    (wallet, slot)
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
        seal_and_open(a);
        let derived = argon2_key(&a.encrypt_key, &a.salt(), a.params()).unwrap();
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

// --- High-entropy keys and the `v1.hkdf-sha256` envelope -------------------

/// A high-entropy key: base64url of `bytes`.
fn marked(bytes: &[u8]) -> HighEntropyText {
    HighEntropyText(URL_SAFE_NO_PAD.encode(bytes))
}

/// A 32-byte high-entropy key.
fn hkdf_key_text() -> HighEntropyText {
    marked(&[0x5a; 32])
}

fn sealed_hkdf(f: &Fixture) -> String {
    seal(
        &f.key,
        &hkdf_key_text(),
        &f.wallet,
        &f.pubkey,
        FAST,
        SALT,
        NONCE,
    )
    .unwrap()
}

/// The HKDF known answers of `envelope.json`.
pub(crate) fn hkdf_known_answers() -> Vec<KnownAnswer> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct File {
        hkdf_known_answers: Vec<KnownAnswer>,
    }
    load::<File>(test_data::ENVELOPE).hkdf_known_answers
}

#[test]
fn hkdf_known_answers_from_an_independent_implementation() {
    let answers = hkdf_known_answers();
    assert!(answers.iter().any(|a| a.kind == "session"));
    assert!(answers.iter().any(|a| a.kind == "owner"));
    for a in &answers {
        let before = argon2_derivations_on_this_thread();
        let (wallet, slot) = seal_and_open(a);
        assert_eq!(argon2_derivations_on_this_thread(), before);
        let EncryptKey::HighEntropy { bytes, .. } =
            EncryptKey::new(KeyKind::HighEntropy, &a.encrypt_key).unwrap()
        else {
            panic!("{} is not a high-entropy key", a.encrypt_key);
        };
        let derived = hkdf_key(&bytes, &a.salt(), &wallet, &slot).unwrap();
        let hex: String = derived.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, a.derived_key);
    }
}

#[test]
fn hkdf_round_trip_and_format() {
    let f = fixture();
    let env = sealed_hkdf(&f);
    let parts: Vec<&str> = env.split('.').collect();
    assert_eq!(parts.len(), 5);
    assert_eq!(parts[0], "v1");
    assert_eq!(parts[1], "hkdf-sha256");
    assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap(), SALT);
    assert_eq!(URL_SAFE_NO_PAD.decode(parts[3]).unwrap(), NONCE);
    assert_eq!(URL_SAFE_NO_PAD.decode(parts[4]).unwrap().len(), 48);
    let opened = open(&env, &hkdf_key_text(), &f.wallet, &f.pubkey).unwrap();
    assert_eq!(*opened.to_be_bytes(), *f.key.to_be_bytes());
    // Deterministic given salt and nonce, and the Argon2 parameters are
    // ignored (even ones Argon2 would refuse).
    let bad_params = KdfParams {
        m_kib: 0,
        t: 0,
        p: 0,
    };
    let ignored = seal(
        &f.key,
        &hkdf_key_text(),
        &f.wallet,
        &f.pubkey,
        bad_params,
        SALT,
        NONCE,
    )
    .unwrap();
    assert_eq!(ignored, env);
    // Both key sizes at the bounds work.
    for len in [MIN_HIGH_ENTROPY_KEY_LEN, MAX_HIGH_ENTROPY_KEY_LEN] {
        let key = marked(&vec![0xc3; len]);
        let env = seal(&f.key, &key, &f.wallet, &f.pubkey, FAST, SALT, NONCE).unwrap();
        assert!(env.starts_with("v1.hkdf-sha256."), "{len}");
        assert!(open(&env, &key, &f.wallet, &f.pubkey).is_ok(), "{len}");
    }
}

#[test]
fn hkdf_wrong_key_fails() {
    let f = fixture();
    let env = sealed_hkdf(&f);
    let mut one_bit = [0x5a; 32];
    one_bit[31] ^= 0x01;
    let mut longer = vec![0x5a; 33];
    longer[32] = 0;
    for wrong in [
        marked(&one_bit),
        marked(&[0u8; 32]),
        marked(&longer),
        marked(&[0x5a; 64]),
    ] {
        assert_eq!(
            open(&env, &wrong, &f.wallet, &f.pubkey).unwrap_err(),
            EnvelopeError::DecryptionFailed,
            "{wrong:?}"
        );
    }
}

#[test]
fn hkdf_binds_wallet_and_session() {
    let f = fixture();
    let env = sealed_hkdf(&f);
    let key = hkdf_key_text();
    assert!(open(&env, &key, &parse_felt("0xAB").unwrap(), &f.pubkey).is_ok());
    let other_wallet = parse_felt("0xac").unwrap();
    assert_eq!(
        open(&env, &key, &other_wallet, &f.pubkey).unwrap_err(),
        EnvelopeError::DecryptionFailed
    );
    let other_key = SigningKey::from_hex("0x1234").unwrap();
    assert_eq!(
        open(&env, &key, &f.wallet, &other_key.public_key()).unwrap_err(),
        EnvelopeError::DecryptionFailed
    );
    // The owner slot (zero) is another binding.
    assert_eq!(
        open_bound(&env, &key, &f.wallet, &Felt::ZERO).unwrap_err(),
        EnvelopeError::DecryptionFailed
    );
    // The HKDF info is the distinguishing prefix followed by the associated data.
    let info = hkdf_info(&f.wallet, &f.pubkey);
    assert_eq!(info.len(), 22 + 17 + 64);
    assert!(info.starts_with(b"chipi-session/v1/hkdf|chipi-session/v1|"));
    assert!(info.ends_with(&associated_data(&f.wallet, &f.pubkey)));
}

#[test]
fn hkdf_tampered_parts_fail_decryption() {
    let f = fixture();
    let env = sealed_hkdf(&f);
    let parts: Vec<&str> = env.split('.').collect();
    let flip = |text: &str, byte: usize| {
        let mut raw = URL_SAFE_NO_PAD.decode(text).unwrap();
        raw[byte] ^= 0x01;
        URL_SAFE_NO_PAD.encode(raw)
    };
    let cases = [
        replace_part(&env, 2, &flip(parts[2], 0)),
        replace_part(&env, 2, &flip(parts[2], 15)),
        replace_part(&env, 3, &flip(parts[3], 0)),
        replace_part(&env, 3, &flip(parts[3], 11)),
        replace_part(&env, 4, &flip(parts[4], 0)),
        replace_part(&env, 4, &flip(parts[4], 31)),
        replace_part(&env, 4, &flip(parts[4], 32)),
        replace_part(&env, 4, &flip(parts[4], 47)),
    ];
    for (i, bad) in cases.iter().enumerate() {
        assert_eq!(
            open(bad, &hkdf_key_text(), &f.wallet, &f.pubkey).unwrap_err(),
            EnvelopeError::DecryptionFailed,
            "case {i}"
        );
    }
}

#[test]
fn malformed_hkdf_envelopes() {
    let f = fixture();
    let env = sealed_hkdf(&f);
    let argon = sealed(&f);
    let parts: Vec<&str> = env.split('.').collect();
    let key = hkdf_key_text();
    let malformed = [
        "v1.hkdf-sha256".to_owned(),
        "v1.hkdf-sha256.".to_owned(),
        "v1.hkdf-sha256...".to_owned(),
        "v1.hkdf-sha256....".to_owned(),
        format!("{env}."),
        format!("{env}.x"),
        // A parameter part has no place in the HKDF envelope ...
        format!("v1.hkdf-sha256.m=64,t=1,p=1.{}", parts[2..].join(".")),
        // ... and the Argon2 envelope needs one.
        replace_part(&env, 1, "argon2id"),
        replace_part(&argon, 1, "hkdf-sha256"),
        replace_part(&env, 2, &URL_SAFE_NO_PAD.encode([0u8; 15])),
        replace_part(&env, 3, &URL_SAFE_NO_PAD.encode([0u8; 13])),
        replace_part(&env, 4, &URL_SAFE_NO_PAD.encode([0u8; 47])),
        replace_part(&env, 4, ""),
    ];
    for bad in &malformed {
        assert!(
            matches!(
                open(bad, &key, &f.wallet, &f.pubkey),
                Err(EnvelopeError::Malformed(_))
            ),
            "{bad:?}"
        );
    }
    for tag in ["HKDF-SHA256", "hkdf-sha512", "hkdf", "hkdf-sha256 "] {
        assert_eq!(
            open(&replace_part(&env, 1, tag), &key, &f.wallet, &f.pubkey).unwrap_err(),
            EnvelopeError::UnsupportedAlgorithm,
            "{tag:?}"
        );
    }
}

#[test]
fn high_entropy_key_reading() {
    // 32 to 64 bytes of unpadded base64url.
    for len in [32, 33, 48, 63, 64] {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
        let text = marked(&bytes).0;
        match EncryptKey::new(KeyKind::HighEntropy, &text).unwrap() {
            EncryptKey::HighEntropy {
                bytes: decoded,
                text: kept,
            } => {
                assert_eq!(*decoded, bytes, "{len}");
                assert_eq!(kept, text);
            }
            EncryptKey::Passphrase(_) => panic!("{len}: read as a PIN"),
        }
    }
    let valid = hkdf_key_text().0;
    // 32 bytes end in a character whose two low bits are padding.
    let mut trailing_bits = valid.clone();
    trailing_bits.pop();
    trailing_bits.push('b');
    let refused = [
        marked(&[1u8; 31]).0,
        marked(&[1u8; 65]).0,
        marked(&[1u8; 200]).0,
        String::new(),
        "!!!!".to_owned(),
        format!("{valid}="),
        URL_SAFE_NO_PAD
            .encode([0xfb; 32])
            .replace('-', "+")
            .replace('_', "/"),
        format!("{valid} "),
        format!(" {valid}"),
        format!("{valid}\n"),
        // The marker of earlier versions is not part of the key.
        format!("hkdf:{valid}"),
        "123456".to_owned(),
        trailing_bits,
    ];
    for bad in &refused {
        assert_eq!(
            EncryptKey::new(KeyKind::HighEntropy, bad).unwrap_err(),
            EnvelopeError::MalformedHighEntropyKey,
            "{bad:?}"
        );
    }
    // A PIN is any text, whatever it looks like: the kind is never guessed.
    for text in [
        "123456".to_owned(),
        String::new(),
        valid.clone(),
        format!("hkdf:{valid}"),
        "x".repeat(1000),
    ] {
        match EncryptKey::new(KeyKind::Pin, &text).unwrap() {
            EncryptKey::Passphrase(kept) => assert_eq!(kept, text),
            EncryptKey::HighEntropy { .. } => panic!("{text:?} read as high-entropy"),
        }
    }
    assert_eq!(EncryptKey::pin("1").kind(), KeyKind::Pin);
    assert_eq!(
        EncryptKey::new(KeyKind::HighEntropy, &valid)
            .unwrap()
            .kind(),
        KeyKind::HighEntropy
    );
    let message = EnvelopeError::MalformedHighEntropyKey.to_string();
    assert!(
        message.contains("32 to 64 random bytes") && message.contains("256 bits"),
        "{message}"
    );
    assert!(message.contains("base64url without padding"), "{message}");
}

#[test]
fn hkdf_envelope_refuses_a_pin_and_names_the_kind() {
    let f = fixture();
    let env = sealed_hkdf(&f);
    let text = hkdf_key_text().0;
    let raw = String::from_utf8(vec![0x5a; 32]).unwrap();
    let before = argon2_derivations_on_this_thread();
    for pin in [
        text.clone(),
        format!("hkdf:{text}"),
        raw,
        "123456".to_owned(),
        String::new(),
    ] {
        let err = open(&env, &pin, &f.wallet, &f.pubkey).unwrap_err();
        assert_eq!(
            err,
            EnvelopeError::KeyKindMismatch {
                sealed: "high-entropy"
            },
            "{pin:?}"
        );
        assert!(err.to_string().contains("`high-entropy`"), "{err}");
    }
    // Refused before any key derivation.
    assert_eq!(argon2_derivations_on_this_thread(), before);
}

#[test]
fn argon2_envelope_refuses_a_high_entropy_key() {
    let f = fixture();
    let key = hkdf_key_text();
    // Sealed with PINs that spell the high-entropy key, with and without the
    // marker of earlier versions: both are PINs, stretched with Argon2id.
    for pin in [format!("hkdf:{}", key.0), key.0.clone()] {
        let env = seal(&f.key, &pin, &f.wallet, &f.pubkey, FAST, SALT, NONCE).unwrap();
        assert!(env.starts_with("v1.argon2id."), "{pin:?}");
        assert!(open(&env, &pin, &f.wallet, &f.pubkey).is_ok());
        let before = argon2_derivations_on_this_thread();
        assert_eq!(
            open(&env, &key, &f.wallet, &f.pubkey).unwrap_err(),
            EnvelopeError::KeyKindMismatch { sealed: "pin" },
            "{pin:?}"
        );
        // A high-entropy key is never an Argon2 password.
        assert_eq!(argon2_derivations_on_this_thread(), before);
    }
}

#[test]
fn a_marked_pin_is_stretched_like_any_pin() {
    // The text `hkdf:` + base64url of a hash of a 4-digit PIN, given as a PIN,
    // goes through Argon2id: a key's text never skips the stretching.
    let f = fixture();
    let marked_pin = format!("hkdf:{}", URL_SAFE_NO_PAD.encode([0x42; 32]));
    let before = argon2_derivations_on_this_thread();
    let env = seal(&f.key, &marked_pin, &f.wallet, &f.pubkey, FAST, SALT, NONCE).unwrap();
    assert!(env.starts_with("v1.argon2id.m=64,t=1,p=1."));
    assert_eq!(argon2_derivations_on_this_thread(), before + 1);
}

#[test]
fn argon2_counter_counts_every_derivation() {
    let f = fixture();
    let count = argon2_derivations_on_this_thread;
    let global_before = argon2_derivations();
    let start = count();

    let env = sealed(&f);
    assert_eq!(count(), start + 1, "argon2 seal");
    open(&env, "123456", &f.wallet, &f.pubkey).unwrap();
    assert_eq!(count(), start + 2, "argon2 open");
    open(&env, "654321", &f.wallet, &f.pubkey).unwrap_err();
    assert_eq!(count(), start + 3, "argon2 open with a wrong passphrase");
    let owner = seal_bound(&f.key, "123456", &f.wallet, &Felt::ZERO, FAST, SALT, NONCE).unwrap();
    open_bound(&owner, "123456", &f.wallet, &Felt::ZERO).unwrap();
    assert_eq!(count(), start + 5, "argon2 owner seal and open");

    let hkdf = sealed_hkdf(&f);
    open(&hkdf, &hkdf_key_text(), &f.wallet, &f.pubkey).unwrap();
    open(&hkdf, &marked(&[0u8; 32]), &f.wallet, &f.pubkey).unwrap_err();
    let owner = seal_bound(
        &f.key,
        &hkdf_key_text(),
        &f.wallet,
        &Felt::ZERO,
        FAST,
        SALT,
        NONCE,
    )
    .unwrap();
    open_bound(&owner, &hkdf_key_text(), &f.wallet, &Felt::ZERO).unwrap();
    assert_eq!(count(), start + 5, "hkdf runs no argon2");

    // Refused before deriving: bad parameters, empty key, malformed envelope.
    let hostile = replace_part(&env, 2, "m=99999999,t=1,p=1");
    open(&hostile, "123456", &f.wallet, &f.pubkey).unwrap_err();
    seal(&f.key, "", &f.wallet, &f.pubkey, FAST, SALT, NONCE).unwrap_err();
    open(
        "v1.argon2id.m=64,t=1,p=1.x.y.z",
        "123456",
        &f.wallet,
        &f.pubkey,
    )
    .unwrap_err();
    assert_eq!(count(), start + 5, "refusals run no argon2");

    // The process-wide count includes this thread's (and maybe others').
    assert!(argon2_derivations() >= global_before + 5);
}

#[test]
fn encrypt_key_debug_is_redacted() {
    let text = hkdf_key_text().0;
    let high = EncryptKey::new(KeyKind::HighEntropy, &text).unwrap();
    assert_eq!(format!("{high:?}"), "HighEntropy(<32 bytes redacted>)");
    let pin = EncryptKey::pin("123456");
    assert_eq!(format!("{pin:?}"), "Passphrase(<redacted>)");
    let err = EncryptKey::new(KeyKind::HighEntropy, "c2VjcmV0").unwrap_err();
    assert!(!format!("{err} {err:?}").contains("c2VjcmV0"));
}
