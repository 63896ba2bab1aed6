//! Stark public keys: ours against starknet.js's `getStarkKey`.

use chipi_session_e2e::interop::referee;
use chipi_session_guest::crypto::felt::felt_to_hex;
use chipi_session_guest::crypto::keys::SigningKey;
use serde_json::{json, Value};

use super::{assert_no_mismatch, felt_of, random_private_key, rng};

#[test]
fn stark_public_keys_match_starknet_js() {
    let mut rng = rng("keys");
    let curve_order_minus_one = "0x800000000000010ffffffffffffffffb781126dcae7b2321e66a241adc64d2e";
    let mut keys: Vec<String> = vec!["0x1".into(), "0x2".into(), curve_order_minus_one.into()];
    keys.extend((0..1_000).map(|_| random_private_key(&mut rng)));
    let ops: Vec<Value> = keys
        .iter()
        .map(|k| json!({"op": "starkKey", "privateKey": k}))
        .collect();
    let answers = referee(&ops);
    let mut mismatches = Vec::new();
    for (key, answer) in keys.iter().zip(&answers) {
        let ours = SigningKey::from_hex(key)
            .unwrap_or_else(|e| panic!("{key} is a valid key: {e}"))
            .public_key();
        let theirs = felt_of(&answer["publicKey"], "starknet.js public key");
        if ours != theirs {
            mismatches.push(format!(
                "key #{}: ours {} starknet.js {}",
                mismatches.len(),
                felt_to_hex(&ours),
                felt_to_hex(&theirs)
            ));
        }
    }
    assert_no_mismatch("getStarkKey", keys.len(), &mismatches);
}
