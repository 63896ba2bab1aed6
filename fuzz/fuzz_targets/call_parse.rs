//! libFuzzer entry of the `call_parse` target; the target itself (what it
//! exercises and asserts) is `chipi_session_fuzz_targets::call_parse`, which the
//! root workspace's tests also replay over the committed corpus.
#![no_main]

use chipi_session_fuzz_targets::call_parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: call_parse::Input| call_parse::run_input(input));
