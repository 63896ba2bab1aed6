//! libFuzzer entry of the `typed_data` target; the target itself (what it
//! exercises and asserts) is `chipi_session_fuzz_targets::typed_data`, which the
//! root workspace's tests also replay over the committed corpus.
#![no_main]

use chipi_session_fuzz_targets::typed_data;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| typed_data::run(data));
