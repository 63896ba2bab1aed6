//! CryptoJS passphrase-mode decryption and owner-key decryption on arbitrary
//! base64-ish input. Layout: first byte = passphrase length in bytes, then
//! the passphrase, then the ciphertext string. Never a panic.

use crate::{kdf_too_expensive, lossy};
use chipi_session_guest::crypto::envelope::EncryptKey;
use chipi_session_guest::crypto::{cryptojs, owner_key};
use starknet_crypto::Felt;

const KDF_BUDGET: u64 = 4096;

/// One input, as libFuzzer hands it over.
pub fn run(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n).min(rest.len());
    let (pass, ct) = rest.split_at(n);
    let pass = lossy(pass);
    let ct = lossy(ct);
    let plain = cryptojs::decrypt(&ct, &pass);
    if let Ok(text) = &plain {
        // What the owner-key path then does with the plaintext.
        let _ = chipi_session_guest::crypto::keys::SigningKey::from_hex(text);
    }
    if !kdf_too_expensive(&ct, KDF_BUDGET) {
        let _ = owner_key::decrypt_owner_key(&ct, &EncryptKey::pin(&pass), &Felt::from(0xabu8));
    }
}
