//! libFuzzer entry of the `cryptojs_decrypt` target; the target itself (what it
//! exercises and asserts) is `chipi_session_fuzz_targets::cryptojs_decrypt`, which the
//! root workspace's tests also replay over the committed corpus.
#![no_main]

use chipi_session_fuzz_targets::cryptojs_decrypt;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cryptojs_decrypt::run(data));
