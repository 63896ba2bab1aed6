//! Differential tests against the JavaScript stack Chipi runs in production:
//! starknet.js 9.2.1 (keys, SNIP-12, ECDSA), crypto-es 2.1.0 (owner-key
//! ciphertexts) and Chipi's SDK `@chipi-stack/backend` 14.4.0 (the real client,
//! against our sandbox). `tests/interop/` holds the JavaScript side; its npm
//! packages are installed from the pinned lockfile on first use.
//!
//! Every vector is compared; a single disagreement fails the test. The counts
//! checked are printed (`cargo test -- --show-output`). Random vectors come
//! from a seeded generator: the seed is printed, and `CHIPI_INTEROP_SEED`
//! replays a run.

mod approval;
mod ciphertexts;
mod keys;
mod sdk;
mod snip12;

use chipi_session_guest::crypto::felt::{felt_to_hex, parse_felt};
use chipi_session_guest::protocol::calls::selector_for;
use chipi_session_host::runtime::{CreateOptions, RegisterOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use starknet_crypto::Felt;

/// Seeded generator; the seed is printed so a failure can be replayed.
fn rng(test: &str) -> StdRng {
    let seed = std::env::var("CHIPI_INTEROP_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!("{test}: seed {seed} (CHIPI_INTEROP_SEED={seed} replays it)");
    StdRng::seed_from_u64(seed)
}

/// A random felt below 2^251 (so below the field prime and the curve order).
fn random_felt(rng: &mut StdRng) -> Felt {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes);
    bytes[0] &= 0x07;
    Felt::from_bytes_be(&bytes)
}

/// A random valid private key, as `0x` + 64 hex digits or unpadded (both
/// forms exist in Chipi's wallets).
fn random_private_key(rng: &mut StdRng) -> String {
    loop {
        let k = random_felt(rng);
        if k != Felt::ZERO {
            return if rng.gen_bool(0.5) {
                format!("0x{}", hex64(&k))
            } else {
                felt_to_hex(&k)
            };
        }
    }
}

fn hex64(f: &Felt) -> String {
    f.to_bytes_be().iter().map(|b| format!("{b:02x}")).collect()
}

fn felt_of(v: &Value, what: &str) -> Felt {
    v.as_str()
        .and_then(|s| parse_felt(s).ok())
        .unwrap_or_else(|| panic!("{what} is not a felt: {v}"))
}

/// Fail with the first disagreements when there are any.
fn assert_no_mismatch(what: &str, checked: usize, mismatches: &[String]) {
    println!("{what}: {checked} checked, {} disagreed", mismatches.len());
    assert!(
        mismatches.is_empty(),
        "{what}: {} of {checked} disagree with the JavaScript reference; first ones:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A felt in one of the representations paymasters and starknet.js use.
fn represent(rng: &mut StdRng, f: &Felt) -> Value {
    let small = *f < Felt::from(1u64 << 53);
    match rng.gen_range(0..if small { 5 } else { 4 }) {
        0 => json!(felt_to_hex(f)),
        1 => json!(format!("0x{}", hex64(f))),
        2 => json!(f.to_string()),
        3 => json!(felt_to_hex(f).to_uppercase().replacen("0X", "0x", 1)),
        _ => json!(f.to_string().parse::<u64>().unwrap_or(0)),
    }
}

/// Entrypoint names of the random calls.
const NAMES: &[&str] = &[
    "transfer",
    "approve",
    "increase_allowance",
    "swap_exact_tokens_for_tokens",
    "multi_route_swap",
    "deposit",
    "mint",
];

/// Create a session, replacing any existing one.
fn create_opts() -> CreateOptions {
    CreateOptions {
        duration_seconds: None,
        replace_existing: true,
    }
}

/// Calls allowed to the sessions registered here.
const MAX_CALLS: u32 = 5;

/// The selector of `transfer`, as hex.
fn transfer_selector() -> String {
    felt_to_hex(&selector_for("transfer").expect("valid name"))
}

/// Register a session for `MAX_CALLS` calls to `transfer`.
fn register_opts() -> RegisterOptions {
    RegisterOptions {
        valid_until: None,
        max_calls: Some(MAX_CALLS),
        allowed_entrypoints: vec![transfer_selector()],
        idempotency_key: None,
    }
}
