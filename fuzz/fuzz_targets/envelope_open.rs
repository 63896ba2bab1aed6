//! libFuzzer entry of the `envelope_open` target; the target itself (what it
//! exercises and asserts) is `chipi_session_fuzz_targets::envelope_open`, which the
//! root workspace's tests also replay over the committed corpus.
#![no_main]

use chipi_session_fuzz_targets::envelope_open;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| envelope_open::run(data));
