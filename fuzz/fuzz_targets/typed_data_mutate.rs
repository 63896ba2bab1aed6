//! Structure-aware: an accepted outside execution, rewritten in one to four
//! places by the fuzz input, then checked and hashed. Asserts (panics) that
//! whenever the check accepts, the hash equals the hash of the original
//! request's document (with the four backend-chosen message members copied
//! over): the check must never accept a document that signs something else.
#![no_main]

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use arbitrary::Arbitrary;
use chipi_session_fuzz::json_mutate::{apply, Mutation};
use chipi_session_fuzz::oe::{self, Verdict};
use chipi_session_guest::protocol::calls::Call;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[derive(Arbitrary, Debug)]
struct Input {
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
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if seen.get_or_insert_with(HashSet::new).insert(error.to_string()) {
        eprintln!("NOTE accepted-but-unhashable ({error}): {doc}");
    }
}

fuzz_target!(|input: Input| {
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
});
