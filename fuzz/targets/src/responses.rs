//! Chipi API and Starknet JSON-RPC response decoding, and stored session
//! records, on arbitrary bytes. Layout: two bytes of HTTP status, then the
//! body. Never a panic; a record that decodes re-encodes to itself; what the
//! strict JSON reader accepts, serde_json reads the same way.

use chipi_session_guest::protocol::model::SessionData;
use chipi_session_guest::protocol::record::{SessionRecord, StoredSession};
use chipi_session_guest::protocol::state::{derive_state, remaining_calls};
use chipi_session_guest::protocol::{chipi_api, rpc};
use serde_json::Value;
use starknet_crypto::Felt;

const NOW: u64 = 1_800_000_000;

fn rpc_result(result: &Value) -> Option<SessionData> {
    let _ = rpc::chain_id_of(result);
    let felts = rpc::felts_of(result).ok()?;
    let _ = rpc::decode_spending_policy(&Felt::from(0x1234u32), &felts);
    rpc::decode_session_data(&felts).ok()
}

/// One input, as libFuzzer hands it over.
pub fn run(data: &[u8]) {
    let (status, body) = match data {
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => (200, data),
    };
    let err = chipi_api::error_from_response(status, body);
    let _ = (err.code(), err.to_string());

    // The strict JSON reader (duplicate keys, depth, size limits).
    if let Ok(strict) = chipi_session_guest::protocol::strict_json::parse(body) {
        let lax: Value = serde_json::from_slice(body).expect("strict JSON is JSON");
        assert_eq!(
            strict, lax,
            "the strict reader reads a document differently"
        );
    }

    let mut on_chain = None;
    if let Ok(v) = chipi_api::parse_json(body) {
        let _ = chipi_api::typed_data_from_response(&v);
        let _ = chipi_api::transaction_hash_from_response(&v);
        match rpc::result_of(&v) {
            Ok(result) => on_chain = rpc_result(result),
            Err(e) => {
                let _ = (e.code(), e.to_string());
            }
        }
        // The body itself as a result (nodes that answer bare arrays).
        if on_chain.is_none() {
            on_chain = rpc_result(&v);
        }
    }
    if let Some(data) = &on_chain {
        let _ = remaining_calls(Some(data));
    }

    if let Ok(record) = SessionRecord::decode(body) {
        let bytes = record.encode().expect("a decoded record encodes");
        let again = SessionRecord::decode(&bytes).expect("an encoded record decodes");
        assert_eq!(again, record, "record round trip");
        let _ = record.key_data();
        let _ = SessionRecord::key(&record.wallet);
        if let Ok(stored) = StoredSession::from_record(record) {
            let _ = derive_state(Some(&stored), on_chain.as_ref(), NOW);
            let _ = derive_state(Some(&stored), None, u64::from(status) << 20);
        }
    }
}
