//! Arbitrary bytes as a session-key envelope string -> `envelope::open` with a
//! fixed encrypt key of each kind (a PIN, a high-entropy key), wallet and
//! session public key. Ends in a key or an
//! error, never a panic; a key that comes back must be the session's key.

use crate::{kdf_too_expensive, lossy};
use chipi_session_guest::crypto::envelope::{self, EncryptKey, KeyKind};
use chipi_session_guest::crypto::felt::parse_felt;
use chipi_session_guest::crypto::keys::SigningKey;
use starknet_crypto::Felt;
use std::sync::OnceLock;

/// Encrypt key of the seeds (`fuzz/seedgen`).
const PIN: &str = "123456";
/// A high-entropy encrypt key (32 bytes of 0x5a in base64url).
const HIGH_ENTROPY: &str = "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo";

fn high_entropy_key() -> EncryptKey<'static> {
    EncryptKey::new(KeyKind::HighEntropy, HIGH_ENTROPY).expect("fixture high-entropy key")
}

/// Argon2 budget per input, KiB x passes (see `kdf_too_expensive`).
const KDF_BUDGET: u64 = 4096;

fn fixture() -> &'static (Felt, Felt) {
    static F: OnceLock<(Felt, Felt)> = OnceLock::new();
    F.get_or_init(|| {
        let key = SigningKey::from_hex(
            "0x3c1e9550e66958296d11b60f8e8e7a7ad990d07fa65d5f7652c4a6c87d4e3cc",
        )
        .expect("fixture key");
        let wallet = parse_felt("0xab").expect("fixture wallet");
        (wallet, key.public_key())
    })
}

/// One input, as libFuzzer hands it over.
pub fn run(data: &[u8]) {
    let text = lossy(data);
    if kdf_too_expensive(&text, KDF_BUDGET) {
        return;
    }
    let (wallet, pubkey) = fixture();
    for key in [EncryptKey::pin(PIN), high_entropy_key()] {
        if let Ok(opened) = envelope::open(&text, &key, wallet, pubkey) {
            assert_eq!(opened.public_key(), *pubkey, "open returned another key");
        }
        // The same string as an owner-key ciphertext (envelope with a zero
        // slot, or CryptoJS when it does not look like an envelope).
        let _ = chipi_session_guest::crypto::owner_key::decrypt_owner_key(&text, &key, wallet);
    }
}
