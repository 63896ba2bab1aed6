//! Arbitrary bytes -> JSON -> SNIP-12 message hash and the outside-execution
//! check. Never a panic; and if the check ever accepts, the document must hash
//! like the honest document for the requested calls (see `oe::check_and_hash`).

use std::sync::OnceLock;

use crate::oe;
use chipi_session_guest::protocol::calls::Call;
use serde_json::Value;

fn fixture() -> &'static (Vec<Call>, Value) {
    static FIXTURE: OnceLock<(Vec<Call>, Value)> = OnceLock::new();
    FIXTURE.get_or_init(|| oe::fixtures().swap_remove(0))
}

/// One input, as libFuzzer hands it over.
pub fn run(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let (calls, template) = fixture();
    // The hasher must never panic, whatever the check says.
    let _ = oe::hash(&value);
    let _ = oe::check_and_hash(&value, calls, template);
    // Also hash under the corpus' other shape ({name, account, typedData}).
    if let Some(td) = value.get("typedData") {
        let _ = oe::hash(td);
        let _ = oe::check_and_hash(td, calls, template);
    }
}
