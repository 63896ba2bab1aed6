//! Structure-aware: an accepted outside execution, rewritten in one to four
//! places by the fuzz input, then checked and hashed. Asserts (panics) that
//! whenever the check accepts, the hash equals the hash of the original
//! request's document (with the four backend-chosen message members copied
//! over): the check must never accept a document that signs something else.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use crate::json_mutate::{apply, Mutation};
use crate::oe::{self, Verdict};
use arbitrary::Arbitrary;
use chipi_session_guest::protocol::calls::Call;
use serde_json::Value;

/// One structured fuzz input (decoded from the bytes by `arbitrary`).
#[derive(Arbitrary, Debug)]
pub struct Input {
    fixture: u8,
    first: Mutation,
    more: Vec<Mutation>,
}

fn fixtures() -> &'static [(Vec<Call>, Value)] {
    static FIXTURES: OnceLock<Vec<(Vec<Call>, Value)>> = OnceLock::new();
    FIXTURES.get_or_init(oe::fixtures)
}

/// "Accepted but the hasher refuses it" is safe (the component then refuses
/// to sign) but is a disagreement between the check and the hasher: print
/// each distinct kind once so a campaign log lists them.
fn note_unhashable(error: &str, doc: &Value) {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if seen
        .get_or_insert_with(HashSet::new)
        .insert(error.to_string())
    {
        eprintln!("NOTE accepted-but-unhashable ({error}): {doc}");
    }
}

/// One input, as libFuzzer hands it over: decoded like `fuzz_target!`
/// decodes a structured input; `false` when the bytes decode to no input
/// (libFuzzer then does not keep them).
pub fn run(data: &[u8]) -> bool {
    crate::decode::<Input>(data).map(run_input).is_some()
}

/// One decoded input.
pub fn run_input(input: Input) {
    let all = fixtures();
    let (calls, original) = &all[usize::from(input.fixture) % all.len()];
    let mut doc = original.clone();
    apply(&mut doc, &input.first);
    for m in input.more.iter().take(3) {
        apply(&mut doc, m);
    }
    if let Verdict::AcceptedUnhashable(e) = oe::check_and_hash(&doc, calls, original) {
        note_unhashable(&e, &doc);
    }
}
