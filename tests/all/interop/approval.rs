//! The signing check's approval property, refereed by starknet.js.

use chipi_session_e2e::interop::referee;
use chipi_session_guest::crypto::felt::felt_to_hex;
use chipi_session_guest::crypto::snip12;
use chipi_session_guest::protocol::calls::Call as GuestCall;
use chipi_session_guest::protocol::typed_data_check::{
    approve_outside_execution, expected_types, Request,
};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};
use starknet_crypto::Felt;

use super::{assert_no_mismatch, felt_of, random_felt, represent, rng, NAMES};

/// One value of `td` rewritten into a spelling a lenient parser could read as
/// the request while JavaScript's `BigInt` (hence the hash) reads something
/// else, or into another value altogether.
fn rewrite_one(rng: &mut StdRng, td: &mut Value) {
    fn hostile(rng: &mut StdRng, f: &Felt) -> Value {
        let dec = f.to_string();
        let hex = felt_to_hex(f);
        match rng.gen_range(0..16) {
            0 => json!(format!(" {dec}")),
            1 => json!(format!("{dec} ")),
            2 => json!(format!("+{dec}")),
            3 => json!(format!("0o{:o}", f.to_biguint())),
            4 => json!(format!("0b{:b}", f.to_biguint())),
            5 => json!(format!("\t{hex}")),
            6 => json!(format!("{hex}\n")),
            7 => json!((*f + Felt::ONE).to_string()),
            8 => json!(format!("0x0{}", hex.trim_start_matches("0x"))),
            9 => json!(format!("\u{0660}{dec}")),
            10 => json!(format!("\u{ff11}{dec}")),
            11 => json!(dec.chars().take(30).collect::<String>()),
            12 => json!(format!("{dec}n")),
            13 => json!(format!("-{dec}")),
            14 => json!(format!("{}.0", dec)),
            _ => represent(rng, f),
        }
    }
    let message = &mut td["message"];
    let n = message["Calls"].as_array().map_or(0, Vec::len);
    match rng.gen_range(0..7) {
        0 => {
            let key = ["Caller", "Nonce", "Execute After", "Execute Before"][rng.gen_range(0..4)];
            let f = snip12::encode_basic_v1("felt", &message[key]).unwrap_or(Felt::ONE);
            message[key] = hostile(rng, &f);
        }
        1 | 2 if n > 0 => {
            let i = rng.gen_range(0..n);
            let len = message["Calls"][i]["Calldata"]
                .as_array()
                .map_or(0, Vec::len);
            if len > 0 {
                let j = rng.gen_range(0..len);
                let f = snip12::encode_basic_v1("felt", &message["Calls"][i]["Calldata"][j])
                    .unwrap_or(Felt::ONE);
                message["Calls"][i]["Calldata"][j] = hostile(rng, &f);
            }
        }
        3 if n > 0 => {
            let i = rng.gen_range(0..n);
            let f =
                snip12::encode_basic_v1("felt", &message["Calls"][i]["To"]).unwrap_or(Felt::ONE);
            message["Calls"][i]["To"] = hostile(rng, &f);
        }
        4 if n > 0 => {
            let i = rng.gen_range(0..n);
            let spellings = [
                " transfer",
                "transfer ",
                "Transfer",
                "tr\u{0430}nsfer",
                "transfer\u{200b}",
                "approve",
            ];
            message["Calls"][i]["Selector"] = json!(spellings[rng.gen_range(0..spellings.len())]);
        }
        5 => {
            let chains = [
                "SN_SEPOLIA",
                "SN_MAIN",
                " SN_MAIN",
                "SN_MAIN\u{0000}",
                "sn_main",
            ];
            td["domain"]["chainId"] = json!(chains[rng.gen_range(0..chains.len())]);
        }
        _ => {
            let versions = [
                json!("2"),
                json!(2),
                json!(" 2"),
                json!("0b10"),
                json!("+2"),
            ];
            td["domain"]["version"] = versions[rng.gen_range(0..versions.len())].clone();
        }
    }
}

/// The signing check's property, refereed by starknet.js: for random requests
/// and random rewrites of one value of the backend's answer, the component
/// either refuses, or starknet.js's hash of the document it approved equals
/// starknet.js's hash of the request (the requested calls on the pinned chain,
/// with the caller, nonce and window the backend chose).
#[test]
fn approved_documents_hash_like_the_request_in_starknet_js() {
    let mut rng = rng("approval property");
    let chain = Felt::from_hex_unchecked("0x534e5f4d41494e");
    let mut approved = Vec::new();
    let mut refused = 0usize;
    for _ in 0..1_000 {
        let wallet = random_felt(&mut rng);
        let now: u64 = rng.gen_range(1_700_000_000..1_900_000_000);
        let calls: Vec<GuestCall> = (0..rng.gen_range(1..4))
            .map(|_| {
                let calldata = (0..rng.gen_range(0..5))
                    .map(|_| {
                        if rng.gen_bool(0.5) {
                            Felt::from(rng.gen_range(0u64..100_000))
                        } else {
                            random_felt(&mut rng)
                        }
                    })
                    .collect();
                GuestCall::named(
                    random_felt(&mut rng),
                    NAMES[rng.gen_range(0..NAMES.len())],
                    calldata,
                )
                .expect("valid name")
            })
            .collect();
        let nonce = random_felt(&mut rng);
        let honest = json!({
            "types": expected_types(),
            "primaryType": "OutsideExecution",
            "domain": {"name": "Account.execute_from_outside", "version": "2", "chainId": "SN_MAIN", "revision": "1"},
            "message": {
                "Caller": represent(&mut rng, &Felt::from_hex_unchecked("0x414e595f43414c4c4552")),
                "Nonce": represent(&mut rng, &nonce),
                "Execute After": represent(&mut rng, &Felt::from(now - 60)),
                "Execute Before": represent(&mut rng, &Felt::from(now + 600)),
                "Calls": calls.iter().map(|c| json!({
                    "To": represent(&mut rng, &c.to),
                    // starknet.js reads a `selector` as hex or as a name (a decimal
                    // string is a name), so the request's selector is spelled so.
                    "Selector": if rng.gen_bool(0.5) { json!(c.entrypoint) } else { json!(felt_to_hex(&c.selector)) },
                    "Calldata": c.calldata.iter().map(|f| represent(&mut rng, f)).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            }
        });
        let mut td = honest.clone();
        rewrite_one(&mut rng, &mut td);
        let request = Request {
            wallet,
            chain_id: chain,
            calls: &calls,
            now,
        };
        match approve_outside_execution(&td, &request) {
            Ok(a) => {
                // What the component means to sign: the request, with the four
                // values the backend chooses as approved.
                let mut requested = honest;
                requested["message"]["Caller"] = json!(felt_to_hex(&a.caller));
                requested["message"]["Nonce"] = json!(felt_to_hex(&a.nonce));
                requested["message"]["Execute After"] = json!(a.execute_after.to_string());
                requested["message"]["Execute Before"] = json!(a.execute_before.to_string());
                approved.push((td, requested, wallet, a.hash));
            }
            Err(e) => {
                assert_eq!(e.code(), "SESSION_INVALID_RESPONSE", "{e}");
                refused += 1;
            }
        }
    }
    let ops: Vec<Value> = approved
        .iter()
        .flat_map(|(td, honest, wallet, _)| {
            let account = felt_to_hex(wallet);
            [
                json!({"op": "messageHash", "typedData": td, "account": account}),
                json!({"op": "messageHash", "typedData": honest, "account": account}),
            ]
        })
        .collect();
    let answers = referee(&ops);
    let mut mismatches = Vec::new();
    for ((td, requested_doc, _, ours), pair) in approved.iter().zip(answers.chunks(2)) {
        let signed = pair[0].get("hash").map(|h| felt_of(h, "starknet.js hash"));
        let requested = pair[1].get("hash").map(|h| felt_of(h, "starknet.js hash"));
        if signed != requested || signed != Some(*ours) {
            mismatches.push(format!(
                "signed {signed:?}, requested {requested:?}, ours {}\n  typed data: {td}\n  requested: {requested_doc}",
                felt_to_hex(ours)
            ));
        }
    }
    println!(
        "approval property: {} approved (starknet.js hash of what was signed == hash of the request), {refused} refused",
        approved.len()
    );
    assert!(
        approved.len() > 100 && refused > 100,
        "{} / {refused}",
        approved.len()
    );
    assert_no_mismatch(
        "approved documents vs starknet.js",
        approved.len(),
        &mismatches,
    );
}
