//! libFuzzer entry of the `responses` target; the target itself (what it
//! exercises and asserts) is `chipi_session_fuzz_targets::responses`, which the
//! root workspace's tests also replay over the committed corpus.
#![no_main]

use chipi_session_fuzz_targets::responses;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| responses::run(data));
