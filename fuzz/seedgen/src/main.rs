//! Writes the seed corpora under `fuzz/corpus/<target>/` (one file per seed,
//! named after its content hash so re-running is idempotent).
//!
//! Usage: `cargo run --manifest-path fuzz/seedgen/Cargo.toml -- fuzz/corpus`

use std::path::{Path, PathBuf};

use chipi_session_guest::crypto::envelope::{self, EncryptKey, KdfParams};
use chipi_session_guest::crypto::felt::{felt_to_hex, parse_felt};
use chipi_session_guest::crypto::keys::SigningKey;
use chipi_session_guest::crypto::owner_key;
use chipi_session_guest::protocol::record::{SessionRecord, RECORD_VERSION};
use serde_json::{json, Value};

#[path = "../../src/oe.rs"]
#[allow(dead_code)]
mod oe;

const PIN: &str = "123456";
const SESSION_KEY: &str = "0x3c1e9550e66958296d11b60f8e8e7a7ad990d07fa65d5f7652c4a6c87d4e3cc";
const FAST: KdfParams = KdfParams { m_kib: 64, t: 1, p: 1 };

/// CryptoJS ciphertexts computed with OpenSSL (guest/src/core/cryptojs.rs).
const CRYPTOJS: [(&str, &str); 4] = [
    ("U2FsdGVkX1/H5O1qxGuZYTFkGBJsbiwzQ2x7hPzZIYN76VeLmgluh86C0Eq8xS3zGWLdc0NzBRM+IH3L32dKPA==", "123456"),
    ("U2FsdGVkX19L7MFvEdgecg1T9nwldDXWzrtcsn0LOlk4AJabdhYm2EQNvyofPCmr5I5cDGUFC+IyB8+iukLb8c2hcYaRxTV7dN5BuybAz9U5ehoB+K8CMH5oqgPP04oX", "000000"),
    ("U2FsdGVkX1/nQoUXhUSsBvMXSQU0KhaMTIFWcmpaV8g=", "pässwörd-\u{1F511}"),
    ("U2FsdGVkX1/oVB/sPov0Mz65vvOP6gXEM2Kbo9X4HA/2N6GaLl9SIhfrT/BwZ5SBYonaAS6bLgk1v7V4B7lovHDNoegoERO/llxNbwLqNWzAsV0RBx/kvK/+oXWbJP1y", "correct horse battery staple"),
];

fn write(dir: &Path, bytes: &[u8]) {
    // FNV-1a, enough to name seeds.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join(format!("seed-{h:016x}")), bytes).expect("write seed");
}

/// Deterministic pseudo-random bytes (xorshift) for the `arbitrary`-driven targets.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into()));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");

    // typed_data: the interop corpus' 100 documents, plus the fixtures.
    let dir = root.join("typed_data");
    let corpus: Value = serde_json::from_slice(
        &std::fs::read(repo.join("guest/test-data/snip12_corpus.json")).expect("interop corpus"),
    )
    .expect("corpus JSON");
    for entry in corpus.as_array().expect("array") {
        write(&dir, serde_json::to_string_pretty(&entry["typedData"]).expect("json").as_bytes());
    }
    for (_, td) in oe::fixtures() {
        write(&dir, td.to_string().as_bytes());
    }

    // Structure-aware targets: a few pseudo-random inputs each.
    for (target, count, len) in [("typed_data_mutate", 24, 96), ("call_parse", 16, 160), ("component", 32, 256)] {
        for i in 0..count {
            write(&root.join(target), &noise(i as u64 + 1, len));
        }
    }

    // envelope_open: real envelopes (session slot and owner slot) and near misses.
    let key = SigningKey::from_hex(SESSION_KEY).expect("key");
    let wallet = parse_felt("0xab").expect("wallet");
    let sealed = envelope::seal(&key, &EncryptKey::pin(PIN), &wallet, &key.public_key(), FAST, [7; 16], [9; 12])
        .expect("seal");
    let owner = owner_key::seal_owner_key_with_params(&key, &EncryptKey::pin(PIN), &wallet, FAST, [1; 16], [2; 12])
        .expect("seal owner");
    let small = KdfParams { m_kib: 8, t: 1, p: 1 };
    let sealed_small = envelope::seal(&key, &EncryptKey::pin(PIN), &wallet, &key.public_key(), small, [5; 16], [6; 12])
        .expect("seal small");
    let dir = root.join("envelope_open");
    for text in [
        sealed.clone(),
        owner.clone(),
        sealed_small,
        sealed.replacen("v1.", "v2.", 1),
        sealed.replacen("argon2id", "scrypt", 1),
        sealed.replacen("m=64,t=1,p=1", "m=64,t=1,p=9", 1),
    ] {
        write(&dir, text.as_bytes());
    }

    // cryptojs_decrypt: [passphrase length][passphrase][ciphertext].
    let dir = root.join("cryptojs_decrypt");
    for (ct, pass) in CRYPTOJS.iter().map(|(c, p)| (c.to_string(), *p)).chain([(owner, PIN)]) {
        let mut bytes = vec![pass.len() as u8];
        bytes.extend_from_slice(pass.as_bytes());
        bytes.extend_from_slice(ct.as_bytes());
        write(&dir, &bytes);
    }

    // responses: [status u16 BE][body].
    let (calls, td) = oe::fixtures().swap_remove(0);
    let _ = calls;
    let record: SessionRecord = serde_json::from_value(json!({
        "version": RECORD_VERSION,
        "wallet": "0xab",
        "publicKey": felt_to_hex(&key.public_key()),
        "encryptedPrivateKey": sealed,
        "validUntil": oe::NOW + 3600,
        "createdAt": oe::NOW,
        "registration": {
            "validUntil": oe::NOW + 3600,
            "maxCalls": 10,
            "allowedEntrypoints": ["0x83afd3f4caedc6eebf44246fe54e38c95e3179a5ec9ea81740eca5b482d12e"],
            "transactionHash": "0x1",
        },
        "callsUsed": 2,
    }))
    .expect("record");
    let dir = root.join("responses");
    let bodies: Vec<(u16, Vec<u8>)> = vec![
        (200, json!({"typedData": td, "walletType": "CHIPI"}).to_string().into_bytes()),
        (200, td.to_string().into_bytes()),
        (200, json!({"transactionHash": "0x7a11ce"}).to_string().into_bytes()),
        (200, json!({"jsonrpc": "2.0", "id": 1, "result": "0x534e5f5345504f4c4941"}).to_string().into_bytes()),
        (200, json!({"jsonrpc": "2.0", "id": 1, "result": ["0x6b49d600", "0xa", "0x2", "0x1"]}).to_string().into_bytes()),
        (200, json!({"jsonrpc": "2.0", "id": 1, "result": ["0x64", "0x0", "0x3e8", "0x0", "0xe10", "0x5", "0x0", "0x6b49d600"]}).to_string().into_bytes()),
        (200, json!({"jsonrpc": "2.0", "id": 1, "error": {"code": 20, "message": "Contract not found", "data": {"x": 1}}}).to_string().into_bytes()),
        (400, json!({"code": "SESSION_EXPIRED", "message": "Session expired"}).to_string().into_bytes()),
        (500, json!({"message": ["a", "b"], "error": "Internal"}).to_string().into_bytes()),
        (502, b"<html>Bad Gateway</html>".to_vec()),
        (200, record.encode().expect("record")),
    ];
    for (status, body) in bodies {
        let mut bytes = status.to_be_bytes().to_vec();
        bytes.extend_from_slice(&body);
        write(&dir, &bytes);
    }
}
