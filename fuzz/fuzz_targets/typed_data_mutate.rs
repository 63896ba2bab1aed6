//! libFuzzer entry of the `typed_data_mutate` target; the target itself (what it
//! exercises and asserts) is `chipi_session_fuzz_targets::typed_data_mutate`, which the
//! root workspace's tests also replay over the committed corpus.
#![no_main]

use chipi_session_fuzz_targets::typed_data_mutate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: typed_data_mutate::Input| typed_data_mutate::run_input(input));
