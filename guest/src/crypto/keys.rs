//! Stark-curve private keys, public keys and ECDSA signatures.
//!
//! The secret is held as 32 big-endian bytes that are zeroized on drop and
//! never printed. Signing is RFC 6979 deterministic and yields the same
//! `(r, s)` as starknet.js `ec.starkCurve.sign` (see `NonceCandidates` for
//! the one place where starknet.js and starknet-crypto derive different
//! nonces, and which one we follow).
//!
//! Intermediate [`Felt`] copies of the secret and of the nonce `k` that
//! `starknet_crypto` needs while computing, and the RFC 6979 DRBG state,
//! live on the stack of frames that return before [`SigningKey::sign`] and
//! [`SigningKey::public_key`] do; both scrub that stack region before
//! returning ([`super::scrub`]). `Felt` is `Copy` and its crate offers no
//! zeroization, so this is the only way to wipe them.

use core::fmt;

use rfc6979::HmacDrbg;
use starknet_crypto::{get_public_key, SignError};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::KeyError;
use super::felt::{accumulate_digits, Felt};
use super::scrub::scrub_after_signing;

/// Order `n` of the Stark curve's generator; private keys live in `[1, n)`.
pub const CURVE_ORDER: Felt =
    Felt::from_hex_unchecked("0x0800000000000010ffffffffffffffffb781126dcae7b2321e66a241adc64d2f");

/// [`CURVE_ORDER`] as big-endian bytes, for comparisons on raw secrets.
const CURVE_ORDER_BE: [u8; 32] = [
    0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xb7, 0x81, 0x12, 0x6d, 0xca, 0xe7, 0xb2, 0x32, 0x1e, 0x66, 0xa2, 0x41, 0xad, 0xc6, 0x4d, 0x2f,
];

/// ECDSA only signs message hashes below 2^251 (same bound as cairo-lang).
const MAX_MESSAGE_HASH_EXCLUSIVE: Felt =
    Felt::from_hex_unchecked("0x0800000000000000000000000000000000000000000000000000000000000000");

/// Nonce candidates drawn before giving up. A candidate is rejected with
/// probability about 2^-4 (out of range) per draw, so the bound is never
/// reached in practice.
const MAX_SIGN_ATTEMPTS: u32 = 64;

/// A Stark ECDSA signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    /// The `r` component.
    pub r: Felt,
    /// The `s` component.
    pub s: Felt,
    /// Parity of the y coordinate of `k * G` (0 or 1): the `recovery` value
    /// starknet.js / noble report next to `r` and `s`.
    pub recovery: u8,
}

/// A Stark private key in `[1, n)`. Zeroized on drop; `Debug` prints no secret.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SigningKey {
    secret_be: [u8; 32],
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// Builds a key from 32 bytes of CSPRNG output.
    ///
    /// Method: clear the top five bits (big-endian), giving an integer
    /// uniform in `[0, 2^251)`. Since `2^251 < n`, every such integer except
    /// zero is a valid key, so no modular reduction (and no bias) is involved;
    /// the keys in `[2^251, n)` (a 2^-55 fraction of the range) are never
    /// produced, which costs under 2^-50 bits of entropy. Zero happens with
    /// probability 2^-251 and is reported as
    /// [`KeyError::RetryWithFreshBytes`]: call again with new bytes.
    pub fn from_random_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let mut key = Self { secret_be: *bytes };
        if let Some(top) = key.secret_be.first_mut() {
            *top &= 0x07;
        }
        if key.secret_be == [0u8; 32] {
            return Err(KeyError::RetryWithFreshBytes);
        }
        key.check_range()?;
        Ok(key)
    }

    /// Builds a key from a felt, which must lie in `[1, n)`.
    pub fn from_felt(secret: &Felt) -> Result<Self, KeyError> {
        Self::from_be_bytes(&secret.to_bytes_be())
    }

    /// Builds a key from its 32-byte big-endian encoding, which must lie in `[1, n)`.
    pub fn from_be_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key = Self { secret_be: *bytes };
        key.check_range()?;
        Ok(key)
    }

    /// Parses the plaintext format Chipi stores: `0x` (or `0X`) followed by 1
    /// to 64 hex digits. No whitespace, no decimal. The digits are decoded
    /// straight into the zeroizing key buffer; the error never echoes input.
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let [b'0', b'x' | b'X', digits @ ..] = s.as_bytes() else {
            return Err(KeyError::InvalidFormat);
        };
        if digits.is_empty() || digits.len() > 64 {
            return Err(KeyError::InvalidFormat);
        }
        let mut key = Self {
            secret_be: [0u8; 32],
        };
        accumulate_digits(digits, 16, &mut key.secret_be).map_err(|_| KeyError::InvalidFormat)?;
        key.check_range()?;
        Ok(key)
    }

    /// The secret's 32-byte big-endian encoding, in a zeroizing buffer.
    pub fn to_be_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret_be)
    }

    /// The public key: the x coordinate of `secret * G`.
    pub fn public_key(&self) -> Felt {
        let public = self.public_key_unscrubbed();
        scrub_after_signing();
        public
    }

    /// [`Self::public_key`] without the scrub, in a frame of its own.
    #[inline(never)]
    fn public_key_unscrubbed(&self) -> Felt {
        get_public_key(&self.secret_felt())
    }

    /// Signs a message hash (for example a SNIP-12 message hash) with RFC 6979
    /// deterministic nonces. The hash must be below 2^251.
    ///
    /// The copies of the secret and of `k` the computation leaves on the
    /// stack are scrubbed before it returns.
    pub fn sign(&self, msg_hash: &Felt) -> Result<Signature, KeyError> {
        let signature = self.sign_unscrubbed(msg_hash);
        scrub_after_signing();
        signature
    }

    /// [`Self::sign`] without the scrub, in a frame of its own (the DRBG and
    /// the felt copies live in it and below it).
    #[inline(never)]
    fn sign_unscrubbed(&self, msg_hash: &Felt) -> Result<Signature, KeyError> {
        if *msg_hash >= MAX_MESSAGE_HASH_EXCLUSIVE {
            return Err(KeyError::MessageHashOutOfRange);
        }
        let secret = self.secret_felt();
        let mut nonces = NonceCandidates::new(&self.secret_be, msg_hash);
        for _ in 0..MAX_SIGN_ATTEMPTS {
            let Some(k) = nonces.next_in_range() else {
                continue;
            };
            match starknet_crypto::sign(&secret, msg_hash, &k) {
                Ok(sig) => {
                    return Ok(Signature {
                        r: sig.r,
                        s: sig.s,
                        recovery: u8::from(sig.v == Felt::ONE),
                    })
                }
                Err(SignError::InvalidMessageHash) => return Err(KeyError::MessageHashOutOfRange),
                // r or s is zero or out of range: draw the next nonce.
                Err(SignError::InvalidK) => {}
            }
        }
        Err(KeyError::SigningFailed)
    }

    /// The RFC 6979 nonce `k` a signature of `msg_hash` uses (the first
    /// candidate in range), as 32 big-endian bytes: for the tests that check
    /// `k` leaves no trace in memory.
    #[cfg(all(test, target_arch = "wasm32"))]
    pub(crate) fn nonce_for_tests(&self, msg_hash: &Felt) -> Zeroizing<[u8; 32]> {
        let mut nonces = NonceCandidates::new(&self.secret_be, msg_hash);
        loop {
            if let Some(k) = nonces.next_in_range() {
                return Zeroizing::new(k.to_bytes_be());
            }
        }
    }

    /// The secret as a felt, for the `starknet_crypto` calls.
    fn secret_felt(&self) -> Felt {
        Felt::from_bytes_be(&self.secret_be)
    }

    /// Checks `1 <= secret < n` on the raw bytes.
    fn check_range(&self) -> Result<(), KeyError> {
        if self.secret_be == [0u8; 32] || self.secret_be >= CURVE_ORDER_BE {
            return Err(KeyError::OutOfRange);
        }
        Ok(())
    }
}

/// RFC 6979 nonce candidates exactly as starknet.js 9 (`@scure/starknet`,
/// noble-curves) draws them.
///
/// HMAC-DRBG (SHA-256) is seeded with `int2octets(secret) || int2octets(hash)`
/// and no extra entropy, and each 32-byte output becomes a candidate with
/// `@scure/starknet`'s `bits2int`: leading zero **bytes** are dropped before
/// the output is truncated to the curve's 252 bits. So an output whose first
/// byte is zero is used whole, where starknet-crypto's `rfc6979_generate_k`
/// (textbook `bits2int`) shifts every output right by 4 bits. The two agree
/// except on those outputs (1 in 256), where starknet.js is the reference
/// Chipi's stack signs with. Candidates outside `[1, n)` are skipped, and the
/// DRBG simply continues after a rejected candidate, as in noble-curves.
struct NonceCandidates {
    drbg: HmacDrbg<sha2::Sha256>,
}

impl NonceCandidates {
    fn new(secret_be: &[u8; 32], msg_hash: &Felt) -> Self {
        Self {
            drbg: HmacDrbg::new(secret_be, &msg_hash.to_bytes_be(), &[]),
        }
    }

    /// The next DRBG output as a nonce, or `None` when it is outside `[1, n)`.
    fn next_in_range(&mut self) -> Option<Felt> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        self.drbg.fill_bytes(bytes.as_mut());
        let k = scure_bits2int(&bytes);
        // Compare as integers before converting: `Felt` would reduce a value
        // above the field prime, turning an out-of-range candidate into an
        // in-range one.
        let in_range = *k != [0u8; 32] && *k < CURVE_ORDER_BE;
        in_range.then(|| Felt::from_bytes_be(&k))
    }
}

/// `@scure/starknet`'s `bits2int` on a 32-byte DRBG output, as 32 big-endian
/// bytes: a leading zero byte means the value is used as is (it already fits
/// 248 bits); otherwise it keeps the top 252 bits (a right shift by 4).
fn scure_bits2int(bytes: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    if bytes[0] == 0 {
        return Zeroizing::new(*bytes);
    }
    let mut shifted = Zeroizing::new([0u8; 32]);
    for i in 0..32 {
        let high = if i == 0 { 0 } else { bytes[i - 1] << 4 };
        shifted[i] = high | (bytes[i] >> 4);
    }
    shifted
}

/// Checks a signature against a public key and message hash.
///
/// Returns `false` for an invalid public key, an out-of-range hash or
/// signature component, or a mismatch. Meant for checking our own signatures:
/// `starknet_crypto::verify` can panic on a signature crafted by the owner of
/// the public key so that an intermediate point is the point at infinity, so
/// do not feed it signatures chosen by an adversary who also chose the key.
pub fn verify(public_key: &Felt, msg_hash: &Felt, signature: &Signature) -> bool {
    matches!(
        starknet_crypto::verify(public_key, msg_hash, &signature.r, &signature.s),
        Ok(true)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::felt::parse_felt;
    use rand::RngCore;

    use crate::test_data::{self, load};
    use serde::Deserialize;

    /// A key of the vectors, also used by the behaviour tests.
    const KEY_2: &str = "0x03c1e9550e66958296d11b60f8e8e7a7ad990d07fa65d5f7652c4a6c87d4e3cc";

    /// `signatures.json`.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Vectors {
        public_keys: Vec<PublicKey>,
        signatures: Vec<SignatureVector>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct PublicKey {
        private_key: String,
        public_key: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct SignatureVector {
        private_key: String,
        hash: String,
        r: String,
        s: String,
        recovery: u8,
        #[serde(default)]
        leading_zero_nonce: bool,
    }

    fn vectors() -> Vectors {
        load(test_data::SIGNATURES)
    }

    #[test]
    fn curve_order_bytes_match_felt() {
        assert_eq!(CURVE_ORDER.to_bytes_be(), CURVE_ORDER_BE);
    }

    #[test]
    fn public_keys_equal_starknet_js() {
        for v in vectors().public_keys {
            let key = SigningKey::from_hex(&v.private_key).unwrap();
            assert_eq!(
                key.public_key(),
                parse_felt(&v.public_key).unwrap(),
                "{}",
                v.private_key
            );
        }
    }

    #[test]
    fn signatures_equal_starknet_js() {
        for v in vectors().signatures {
            let key = SigningKey::from_hex(&v.private_key).unwrap();
            let hash = parse_felt(&v.hash).unwrap();
            let sig = key.sign(&hash).unwrap();
            let what = format!("{} by {}", v.hash, v.private_key);
            assert_eq!(sig.r, parse_felt(&v.r).unwrap(), "r of {what}");
            assert_eq!(sig.s, parse_felt(&v.s).unwrap(), "s of {what}");
            assert_eq!(sig.recovery, v.recovery, "recovery of {what}");
            assert!(verify(&key.public_key(), &hash, &sig));
            // The recovery bit recovers the public key (starknet_crypto::recover).
            let recovered =
                starknet_crypto::recover(&hash, &sig.r, &sig.s, &Felt::from(sig.recovery)).unwrap();
            assert_eq!(recovered, key.public_key(), "{what}");
        }
    }

    #[test]
    fn zero_leading_byte_nonce_differs_from_textbook_bits2int() {
        // The case starknet.js and starknet-crypto disagree on: prove the
        // vectors marked so really exercise it.
        let marked: Vec<SignatureVector> = vectors()
            .signatures
            .into_iter()
            .filter(|v| v.leading_zero_nonce)
            .collect();
        assert!(!marked.is_empty());
        for v in marked {
            let key = SigningKey::from_hex(&v.private_key).unwrap();
            let hash = parse_felt(&v.hash).unwrap();
            let mut drbg = HmacDrbg::<sha2::Sha256>::new(&key.secret_be, &hash.to_bytes_be(), &[]);
            let mut first = [0u8; 32];
            drbg.fill_bytes(&mut first);
            assert_eq!(first[0], 0);
            let textbook_k = starknet_crypto::rfc6979_generate_k(&hash, &key.secret_felt(), None);
            let textbook = starknet_crypto::sign(&key.secret_felt(), &hash, &textbook_k).unwrap();
            assert_ne!(key.sign(&hash).unwrap().r, textbook.r);
        }
    }

    #[test]
    fn sign_is_deterministic_and_verifies() {
        let key = SigningKey::from_hex(KEY_2).unwrap();
        let hash = Felt::from(0x1234u32);
        let a = key.sign(&hash).unwrap();
        let b = key.sign(&hash).unwrap();
        assert_eq!(a, b);
        let pk = key.public_key();
        assert!(verify(&pk, &hash, &a));
        assert!(!verify(&pk, &Felt::from(0x1235u32), &a));
        let forged = Signature {
            s: a.s + Felt::ONE,
            ..a
        };
        assert!(!verify(&pk, &hash, &forged));
        assert!(!verify(&Felt::from(3u8), &hash, &a), "not a curve point");
        assert!(!verify(&pk, &hash, &Signature { r: Felt::ZERO, ..a }));
    }

    #[test]
    fn sign_rejects_large_hash() {
        let key = SigningKey::from_hex(KEY_2).unwrap();
        assert_eq!(
            key.sign(&MAX_MESSAGE_HASH_EXCLUSIVE),
            Err(KeyError::MessageHashOutOfRange)
        );
        assert_eq!(key.sign(&Felt::MAX), Err(KeyError::MessageHashOutOfRange));
        assert!(key.sign(&(MAX_MESSAGE_HASH_EXCLUSIVE - Felt::ONE)).is_ok());
    }

    #[test]
    fn from_random_bytes_masks_to_251_bits() {
        let key = SigningKey::from_random_bytes(&[0xff; 32]).unwrap();
        let bytes = key.to_be_bytes();
        assert_eq!(bytes[0], 0x07);
        assert!(bytes[1..].iter().all(|&b| b == 0xff));
        let mut top_only = [0u8; 32];
        top_only[0] = 0xf8; // all cleared by the mask
        assert_eq!(
            SigningKey::from_random_bytes(&top_only).unwrap_err(),
            KeyError::RetryWithFreshBytes
        );
        assert_eq!(
            SigningKey::from_random_bytes(&[0u8; 32]).unwrap_err(),
            KeyError::RetryWithFreshBytes
        );
    }

    #[test]
    fn random_keys_are_valid_and_distinct() {
        let mut rng = rand::thread_rng();
        let mut seen = Vec::new();
        for _ in 0..8 {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            let key = SigningKey::from_random_bytes(&bytes).unwrap();
            let pk = key.public_key();
            let sig = key.sign(&Felt::from(42u8)).unwrap();
            assert!(verify(&pk, &Felt::from(42u8), &sig));
            assert!(!seen.contains(&pk));
            seen.push(pk);
        }
    }

    #[test]
    fn range_checks() {
        assert_eq!(
            SigningKey::from_felt(&Felt::ZERO).unwrap_err(),
            KeyError::OutOfRange
        );
        assert_eq!(
            SigningKey::from_felt(&CURVE_ORDER).unwrap_err(),
            KeyError::OutOfRange
        );
        assert_eq!(
            SigningKey::from_felt(&Felt::MAX).unwrap_err(),
            KeyError::OutOfRange
        );
        let max = CURVE_ORDER - Felt::ONE;
        let key = SigningKey::from_felt(&max).unwrap();
        assert_eq!(*key.to_be_bytes(), max.to_bytes_be());
        assert!(SigningKey::from_felt(&Felt::ONE).is_ok());
        assert_eq!(
            SigningKey::from_be_bytes(&[0u8; 32]).unwrap_err(),
            KeyError::OutOfRange
        );
    }

    #[test]
    fn from_hex_format() {
        assert!(SigningKey::from_hex("0x1").is_ok());
        assert!(SigningKey::from_hex("0X0ABCDEF").is_ok());
        assert_eq!(
            *SigningKey::from_hex(
                "0x00000000000000000000000000000000000000000000000000000000000000ff"
            )
            .unwrap()
            .to_be_bytes(),
            Felt::from(0xffu8).to_bytes_be()
        );
        for bad in ["", "0x", "1", "12ab", "0xg", " 0x1", "0x1 ", "0x-1", "x1"] {
            assert_eq!(
                SigningKey::from_hex(bad).unwrap_err(),
                KeyError::InvalidFormat,
                "{bad:?}"
            );
        }
        let too_long = format!("0x{}", "0".repeat(65));
        assert_eq!(
            SigningKey::from_hex(&too_long).unwrap_err(),
            KeyError::InvalidFormat
        );
        assert_eq!(
            SigningKey::from_hex("0x0").unwrap_err(),
            KeyError::OutOfRange
        );
        let order_hex = format!("{:#x}", CURVE_ORDER);
        assert_eq!(
            SigningKey::from_hex(&order_hex).unwrap_err(),
            KeyError::OutOfRange
        );
    }

    #[test]
    fn debug_and_errors_do_not_leak() {
        let key = SigningKey::from_hex(KEY_2).unwrap();
        let dbg = format!("{key:?}");
        assert_eq!(dbg, "SigningKey(<redacted>)");
        assert!(!dbg.contains("3c1e9550"));
        let err = SigningKey::from_hex("0xnot-a-secret-zzz").unwrap_err();
        assert!(!err.to_string().contains("zzz"));
    }
}
