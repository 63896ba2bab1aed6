//! `Call::parse` on arbitrary call inputs, the selector rules, the pre-flight
//! checks (admin blocklist, whitelist, self-call) and u256 parsing. Never a
//! panic; plus round-trip properties (a parsed call re-parses from its API
//! JSON to itself; a whitelist never holds an admin selector or a duplicate;
//! `parse_u256(x.to_string()) == x`).

use arbitrary::Arbitrary;
use chipi_session_guest::crypto::felt::{parse_felt, parse_u32_str, parse_u64_str};
use chipi_session_guest::protocol::calldata::{self, parse_u256};
use chipi_session_guest::protocol::calls::{
    felt_to_u128, felt_to_u32, felt_to_u64, selector_for, truncate, Call,
};
use chipi_session_guest::protocol::model::CallInput;
use chipi_session_guest::protocol::preflight::{
    check_calls, is_admin_selector, parse_whitelist, ADMIN_ENTRYPOINTS,
};
use starknet_crypto::Felt;

/// A felt-ish string: valid spellings most of the time, anything otherwise.
#[derive(Arbitrary, Debug)]
enum FeltText {
    Hex(u64),
    HexWide([u8; 32]),
    Decimal(u128),
    Padded(u8, u64),
    Any(String),
}

impl FeltText {
    fn text(&self) -> String {
        match self {
            Self::Hex(n) => format!("{n:#x}"),
            Self::HexWide(b) => format!(
                "0x{}",
                b.iter().map(|x| format!("{x:02x}")).collect::<String>()
            ),
            Self::Decimal(n) => n.to_string(),
            Self::Padded(z, n) => format!("0x{}{n:x}", "0".repeat(usize::from(*z % 70))),
            Self::Any(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Entry {
    Known(u8),
    Selector(FeltText),
    Any(String),
}

const NAMES: &[&str] = &[
    "transfer",
    "approve",
    "increase_allowance",
    "increaseAllowance",
    "get_session_data",
    " transfer ",
    "0transfer",
    "trans fer",
    "",
    "0x",
    "0X83afd3f4caedc6eebf44246fe54e38c95e3179a5ec9ea81740eca5b482d12e",
];

impl Entry {
    fn text(&self) -> String {
        match self {
            Self::Known(i) => {
                let i = usize::from(*i);
                if i % 2 == 0 {
                    ADMIN_ENTRYPOINTS[(i / 2) % ADMIN_ENTRYPOINTS.len()].to_string()
                } else {
                    NAMES[(i / 2) % NAMES.len()].to_string()
                }
            }
            Self::Selector(f) => f.text(),
            Self::Any(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct CallIn {
    contract_address: FeltText,
    entrypoint: Entry,
    calldata: Vec<FeltText>,
}

/// One structured fuzz input (decoded from the bytes by `arbitrary`).
#[derive(Arbitrary, Debug)]
pub struct Input {
    wallet: FeltText,
    calls: Vec<CallIn>,
    whitelist: Vec<Entry>,
    amounts: Vec<FeltText>,
}

/// One input, as libFuzzer hands it over: decoded like `fuzz_target!`
/// decodes a structured input; `false` when the bytes decode to no input
/// (libFuzzer then does not keep them).
pub fn run(data: &[u8]) -> bool {
    crate::decode::<Input>(data).map(run_input).is_some()
}

/// One decoded input.
pub fn run_input(input: Input) {
    let mut calls = Vec::new();
    for c in input.calls.iter().take(16) {
        let call_in = CallInput {
            contract_address: c.contract_address.text(),
            entrypoint: c.entrypoint.text(),
            calldata: c.calldata.iter().take(64).map(FeltText::text).collect(),
        };
        let _ = truncate(&call_in.entrypoint);
        let _ = truncate(&call_in.contract_address);
        if let Ok(call) = Call::parse(&call_in) {
            // Re-parsing the API form gives the same call.
            let api = call.to_api_json();
            let again = CallInput {
                contract_address: api["contractAddress"].as_str().unwrap_or_default().into(),
                entrypoint: api["entrypoint"].as_str().unwrap_or_default().into(),
                calldata: api["calldata"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            let reparsed = Call::parse(&again).expect("a parsed call's API JSON re-parses");
            assert_eq!(reparsed, call, "API JSON round trip changed the call");
            assert_eq!(selector_for(&call.entrypoint).ok(), Some(call.selector));
            let _ = is_admin_selector(&call.selector);
            calls.push(call);
        }
    }
    let whitelist_text: Vec<String> = input.whitelist.iter().take(32).map(Entry::text).collect();
    let whitelist = match parse_whitelist(&whitelist_text) {
        Ok(wl) => {
            for (i, s) in wl.iter().enumerate() {
                assert!(!is_admin_selector(s), "whitelist holds an admin selector");
                assert!(!wl[..i].contains(s), "whitelist holds a duplicate");
            }
            wl
        }
        Err(_) => Vec::new(),
    };
    let wallet_text = input.wallet.text();
    if let Ok(wallet) = parse_felt(&wallet_text) {
        if check_calls(&wallet, &whitelist, &calls).is_ok() {
            assert!(!calls.is_empty());
            assert!(calls.iter().all(|c| !is_admin_selector(&c.selector)));
        }
        let _ = calldata::add_or_update_session_key(wallet, wallet, 1, 2, &whitelist);
    }
    let _ = parse_u64_str(&wallet_text);
    let _ = parse_u32_str(&wallet_text);
    for a in input.amounts.iter().take(8) {
        let text = a.text();
        if let Some(x) = parse_u256(&text) {
            let dec = x.to_string();
            assert_eq!(
                parse_u256(&dec),
                Some(x),
                "u256 decimal round trip: {text:?} -> {dec}"
            );
            let _ = calldata::set_spending_policy(Felt::ONE, Felt::ONE, Felt::TWO, x, x, 60);
        }
        if let Ok(f) = parse_felt(&text) {
            let _ = (felt_to_u128(&f), felt_to_u64(&f), felt_to_u32(&f));
        }
    }
}
