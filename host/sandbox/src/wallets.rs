//! Sandbox wallets: owner key generation and the CryptoJS passphrase ciphertext
//! Chipi stores today (`base64("Salted__" || salt || AES-256-CBC-PKCS7)`, key and IV
//! from OpenSSL `EVP_BytesToKey` with MD5, one iteration, over `pin || salt`).

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine as _;
use md5::{Digest, Md5};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use starknet_core::types::Felt;

use super::account::ChipiContract;
use super::felt;

/// Class hash of Chipi's session-capable account (CHIPI v29), the one new sandbox
/// wallets are deployed with.
pub const CHIPI_CLASS_HASH: &str =
    "0x053f4f8791ed5bed0fddaa553d180c664e32cfaf8316bb232ae77bb08f459f2a";
/// Older CHIPI class hash (v33) that still counts as CHIPI.
pub const CHIPI_V33_CLASS_HASH: &str =
    "0x0484bbd2404b3c7264bea271f7267d6d4004821ac7787a9eed7f472e79ef40d1";
/// Class hash of Chipi's public session account v32 (`chipi-pay/sessions-smart-contract`,
/// `src/account.cairo` at `9be9629b`, compiled in `../shared/cairo/`), reported by
/// accounts that imitate it ([`ChipiContract::V32`]).
pub(crate) const CHIPI_V32_CLASS_HASH: &str =
    "0x035a2251aca25daba18a5d8950deffa8372a7d84774554e75283cb85552eebc9";
/// Class hash of Argent "Ready" accounts (no session keys).
pub const READY_CLASS_HASH: &str =
    "0x036078334509b514626504edc9fb252328d1a240e4e948bef8d0c08dff45927f";

/// Kind of wallet the sandbox deploys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum SandboxWalletType {
    /// Chipi's own account class (supports session keys), class hash [`CHIPI_CLASS_HASH`].
    #[default]
    Chipi,
    /// Argent "Ready" account, class hash [`READY_CLASS_HASH`]; no session entrypoints.
    Ready,
}

impl SandboxWalletType {
    /// The wire name (`"CHIPI"` / `"READY"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chipi => "CHIPI",
            Self::Ready => "READY",
        }
    }

    /// The class hash the sandbox reports for this wallet type.
    pub fn class_hash(self) -> &'static str {
        match self {
            Self::Chipi => CHIPI_CLASS_HASH,
            Self::Ready => READY_CLASS_HASH,
        }
    }

    /// The contract version an account of this type imitates: the account with
    /// spending policies for CHIPI (see [`ChipiContract`]), none for READY.
    pub fn contract(self) -> Option<ChipiContract> {
        match self {
            Self::Chipi => Some(ChipiContract::SpendingPolicies),
            Self::Ready => None,
        }
    }

    /// Parse a wire name, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "CHIPI" => Some(Self::Chipi),
            "READY" => Some(Self::Ready),
            _ => None,
        }
    }
}

/// A wallet created in the sandbox.
///
/// Serializes to the JSON Chipi returns for a wallet:
/// `{"publicKey": <address>, "encryptedPrivateKey": ..., "walletType": "CHIPI"|"READY"}`
/// (`owner_public_key` is not part of that JSON; the admin endpoint adds it as
/// `ownerPublicKey`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxWallet {
    /// Wallet (account contract) address, `0x`-hex. Chipi calls it `publicKey`.
    #[serde(rename = "publicKey")]
    pub address: String,
    /// Owner Stark public key, `0x`-hex.
    #[serde(skip_serializing, default)]
    pub owner_public_key: String,
    /// Owner private key (`0x`-hex) in CryptoJS passphrase format, encrypted with the PIN.
    pub encrypted_private_key: String,
    /// `"CHIPI"` or `"READY"`.
    pub wallet_type: String,
}

/// Error of [`decrypt_cryptojs`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoJsError {
    /// Not base64, or not `Salted__` + salt + whole AES blocks.
    #[error("malformed CryptoJS ciphertext")]
    Malformed,
    /// Padding check failed (wrong passphrase or damaged ciphertext).
    #[error("wrong passphrase or damaged ciphertext")]
    BadPadding,
    /// Decrypted bytes are not UTF-8.
    #[error("plaintext is not UTF-8")]
    NotUtf8,
}

/// OpenSSL `EVP_BytesToKey` with MD5 and one iteration: 32-byte key + 16-byte IV.
fn evp_bytes_to_key(pass: &[u8], salt: &[u8; 8]) -> ([u8; 32], [u8; 16]) {
    let mut out = Vec::with_capacity(48);
    let mut prev: Vec<u8> = Vec::new();
    while out.len() < 48 {
        let mut h = Md5::new();
        h.update(&prev);
        h.update(pass);
        h.update(salt);
        prev = h.finalize().to_vec();
        out.extend_from_slice(&prev);
    }
    let mut key = [0u8; 32];
    let mut iv = [0u8; 16];
    key.copy_from_slice(&out[..32]);
    iv.copy_from_slice(&out[32..48]);
    (key, iv)
}

/// Encrypt `plaintext` with `passphrase` in CryptoJS passphrase format (random salt).
pub fn encrypt_cryptojs(plaintext: &str, passphrase: &str) -> String {
    let mut salt = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    encrypt_cryptojs_with_salt(plaintext, passphrase, salt)
}

fn encrypt_cryptojs_with_salt(plaintext: &str, passphrase: &str, salt: [u8; 8]) -> String {
    let (key, iv) = evp_bytes_to_key(passphrase.as_bytes(), &salt);
    let ct = cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
    let mut blob = Vec::with_capacity(16 + ct.len());
    blob.extend_from_slice(b"Salted__");
    blob.extend_from_slice(&salt);
    blob.extend_from_slice(&ct);
    base64::engine::general_purpose::STANDARD.encode(blob)
}

/// Decrypt a CryptoJS passphrase-format ciphertext. Provided for tests and tools;
/// the sandbox itself never needs to decrypt.
pub fn decrypt_cryptojs(ciphertext: &str, passphrase: &str) -> Result<String, CryptoJsError> {
    let blob = base64::engine::general_purpose::STANDARD
        .decode(ciphertext.trim())
        .map_err(|_| CryptoJsError::Malformed)?;
    if blob.len() < 32 || !blob.starts_with(b"Salted__") || (blob.len() - 16) % 16 != 0 {
        return Err(CryptoJsError::Malformed);
    }
    let mut salt = [0u8; 8];
    salt.copy_from_slice(&blob[8..16]);
    let (key, iv) = evp_bytes_to_key(passphrase.as_bytes(), &salt);
    let pt = cbc::Decryptor::<aes::Aes256>::new(&key.into(), &iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(&blob[16..])
        .map_err(|_| CryptoJsError::BadPadding)?;
    String::from_utf8(pt).map_err(|_| CryptoJsError::NotUtf8)
}

/// A freshly generated wallet plus the values the sandbox keeps about it.
pub(crate) struct GeneratedWallet {
    pub wallet: SandboxWallet,
    pub address: Felt,
    pub owner_public_key: Felt,
    pub wallet_type: SandboxWalletType,
}

/// Generate an owner key pair and a random address; encrypt the owner private key
/// (`0x`-hex) with `pin`. The private key is not kept anywhere else.
pub(crate) fn generate_wallet(pin: &str, wallet_type: SandboxWalletType) -> GeneratedWallet {
    let private_key = felt::random_private_key();
    let owner_public_key = starknet_crypto::get_public_key(&private_key);
    let address = felt::random_felt();
    let encrypted_private_key = encrypt_cryptojs(&felt::hex(&private_key), pin);
    GeneratedWallet {
        wallet: SandboxWallet {
            address: felt::padded_hex(&address),
            owner_public_key: felt::hex(&owner_public_key),
            encrypted_private_key,
            wallet_type: wallet_type.as_str().to_string(),
        },
        address,
        owner_public_key,
        wallet_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_pin() {
        let ct = encrypt_cryptojs("0x1234abcd", "123456");
        assert_eq!(decrypt_cryptojs(&ct, "123456").as_deref(), Ok("0x1234abcd"));
        // A wrong PIN almost always fails the padding check; if it happens to pass,
        // the plaintext still differs.
        assert_ne!(decrypt_cryptojs(&ct, "654321").as_deref(), Ok("0x1234abcd"));
        assert_eq!(
            decrypt_cryptojs("bm90IHNhbHRlZA==", "x"),
            Err(CryptoJsError::Malformed)
        );
    }

    #[test]
    fn known_answer_against_openssl_layout() {
        // EVP_BytesToKey(MD5, 1 iteration) with a fixed salt is deterministic.
        let a = encrypt_cryptojs_with_salt("hello", "pin", [1, 2, 3, 4, 5, 6, 7, 8]);
        let b = encrypt_cryptojs_with_salt("hello", "pin", [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(a, b);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&a)
            .unwrap_or_default();
        assert_eq!(&raw[..8], b"Salted__");
        assert_eq!(&raw[8..16], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(raw.len(), 32);
    }

    #[test]
    fn generated_wallet_key_matches_public_key() {
        let g = generate_wallet("0000", SandboxWalletType::Chipi);
        let pk_hex = decrypt_cryptojs(&g.wallet.encrypted_private_key, "0000").unwrap_or_default();
        let pk = felt::parse_felt_str(&pk_hex).unwrap_or_default();
        assert_eq!(starknet_crypto::get_public_key(&pk), g.owner_public_key);
        let json = serde_json::to_value(&g.wallet).unwrap_or_default();
        assert_eq!(json["walletType"], "CHIPI");
        assert!(json.get("ownerPublicKey").is_none());
        assert_eq!(json["publicKey"], g.wallet.address.as_str());
    }
}
