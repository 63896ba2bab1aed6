//! Native benchmarks of the signing path: the fixed-schema hash of an
//! outside execution, the typed-data check that approves the backend's
//! document, the generic SNIP-12 engine (for comparison), and the ECDSA
//! signature. `cargo bench -p chipi-session-guest`.

// Native only: criterion does not target wasm32 (the component's own cost is
// measured in the host, `tests/benches/component.rs`).
#[cfg(not(target_family = "wasm"))]
mod native {
    use criterion::{black_box, criterion_group, Criterion};
    use serde_json::{json, Value};
    use starknet_crypto::Felt;

    use chipi_session_guest::crypto::felt::encode_short_string;
    use chipi_session_guest::crypto::keys::SigningKey;
    use chipi_session_guest::crypto::snip12;
    use chipi_session_guest::protocol::calls::Call;
    use chipi_session_guest::protocol::typed_data_check::{
        approve_outside_execution, OutsideExecution, Request,
    };

    /// The shared outside-execution schema (types, primary type, domain).
    const SCHEMA: &str = include_str!("../test-data/outside_execution_v2.json");
    const NOW: u64 = 1_800_000_000;

    fn transfer() -> Vec<Call> {
        let token =
            Felt::from_hex("0x4718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d")
                .unwrap_or(Felt::ONE);
        match Call::named(
            token,
            "transfer",
            vec![Felt::from(0xc0ffee_u32), Felt::from(1000_u32), Felt::ZERO],
        ) {
            Ok(call) => vec![call],
            Err(e) => panic!("transfer call: {e}"),
        }
    }

    /// The document an honest backend serves for `calls`.
    fn document(calls: &[Call]) -> Value {
        let mut td: Value = serde_json::from_str(SCHEMA).unwrap_or(Value::Null);
        td["domain"]["chainId"] = json!("SN_SEPOLIA");
        td["message"] = json!({
            "Caller": "0x414e595f43414c4c4552",
            "Nonce": "0x5",
            "Execute After": format!("{:#x}", NOW - 60),
            "Execute Before": format!("{:#x}", NOW + 3600),
            "Calls": calls.iter().map(|c| json!({
                "To": c.to.to_hex_string(),
                "Selector": c.selector.to_hex_string(),
                "Calldata": c.calldata.iter().map(Felt::to_hex_string).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        td
    }

    fn benches(c: &mut Criterion) {
        let calls = transfer();
        let wallet = Felt::from(0xabcdef_u32);
        let chain = encode_short_string("SN_SEPOLIA").unwrap_or(Felt::ONE);
        let td = document(&calls);
        let request = Request {
            wallet,
            chain_id: chain,
            calls: &calls,
            now: NOW,
        };
        let local = OutsideExecution {
            caller: encode_short_string("ANY_CALLER").unwrap_or(Felt::ONE),
            nonce: Felt::from(5_u8),
            execute_after: u128::from(NOW - 60),
            execute_before: u128::from(NOW + 3600),
            calls: &calls,
        };
        let key =
            SigningKey::from_felt(&Felt::from(0x1234_5678_u64)).unwrap_or_else(|e| panic!("{e}"));
        let hash = local.message_hash(&wallet, &chain);

        c.bench_function("fixed-schema hash (1 transfer)", |b| {
            b.iter(|| black_box(&local).message_hash(black_box(&wallet), black_box(&chain)));
        });
        c.bench_function("approve typed data (fixed-schema check + hash)", |b| {
            b.iter(|| approve_outside_execution(black_box(&td), black_box(&request)));
        });
        c.bench_function("generic SNIP-12 hash of the document", |b| {
            b.iter(|| snip12::message_hash(black_box(&td), black_box(&wallet)));
        });
        c.bench_function("ECDSA sign", |b| b.iter(|| key.sign(black_box(&hash))));
        c.bench_function("approve + sign", |b| {
            b.iter(|| {
                let approved = approve_outside_execution(black_box(&td), black_box(&request));
                approved.map(|a| key.sign(&a.hash))
            });
        });
    }

    criterion_group!(hash_sign, benches);
}

#[cfg(not(target_family = "wasm"))]
fn main() {
    native::hash_sign();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}

#[cfg(target_family = "wasm")]
fn main() {}
