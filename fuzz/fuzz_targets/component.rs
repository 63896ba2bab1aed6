//! libFuzzer entry of the `component` target; the target itself (the real
//! component against an adversarial backend, see
//! `chipi_session_fuzz_targets::component`) is also replayed over the
//! committed corpus by the root workspace's tests.
//!
//! Guest code runs as wasm and is not instrumented; so that libFuzzer still
//! sees new guest behaviour as new coverage, the outcome of each call (op,
//! error code, first words of the message, requests served) is hashed into
//! extra 8-bit counters registered with libFuzzer here.
#![no_main]

use std::sync::OnceLock;

use chipi_session_fuzz_targets::component;
use libfuzzer_sys::fuzz_target;

// ---------------------------------------------------------------- outcome coverage

const COUNTERS: usize = 4096;

struct Counters(std::cell::UnsafeCell<[u8; COUNTERS]>);
// SAFETY: libFuzzer runs the target on one thread; the counters are only
// written from the target and read by libFuzzer between runs.
unsafe impl Sync for Counters {}

#[repr(C)]
struct PcEntry(usize, usize);
struct PcTable(std::cell::UnsafeCell<[PcEntry; COUNTERS]>);
// SAFETY: written once before fuzzing starts, then only read by libFuzzer.
unsafe impl Sync for PcTable {}

static OUTCOME_COUNTERS: Counters = Counters(std::cell::UnsafeCell::new([0; COUNTERS]));
static OUTCOME_PCS: PcTable = PcTable(std::cell::UnsafeCell::new(
    [const { PcEntry(0, 0) }; COUNTERS],
));

extern "C" {
    fn __sanitizer_cov_8bit_counters_init(start: *mut u8, stop: *mut u8);
    fn __sanitizer_cov_pcs_init(start: *const usize, stop: *const usize);
}

/// Register the outcome counters with libFuzzer as one more "module".
fn register_outcome_counters() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // SAFETY: the arrays are static, live forever and are not otherwise
        // referenced yet; the PC table holds fake, distinct "PCs".
        unsafe {
            let pcs = &mut *OUTCOME_PCS.0.get();
            for (i, e) in pcs.iter_mut().enumerate() {
                *e = PcEntry(0x7fff_0000_0000 + i, 0);
            }
            let c = OUTCOME_COUNTERS.0.get() as *mut u8;
            __sanitizer_cov_8bit_counters_init(c, c.add(COUNTERS));
            let p = OUTCOME_PCS.0.get() as *const usize;
            __sanitizer_cov_pcs_init(p, p.add(2 * COUNTERS));
        }
    });
}

fn bump(parts: &[String]) {
    // FNV-1a over the parts.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    // SAFETY: single-threaded target (see `Counters`).
    unsafe {
        let c = &mut *OUTCOME_COUNTERS.0.get();
        let slot = &mut c[(h % COUNTERS as u64) as usize];
        *slot = slot.wrapping_add(1);
    }
}

fuzz_target!(
    init: {
        register_outcome_counters();
        component::init();
    },
    |input: component::Input| {
        bump(&component::run_input(input));
    }
);
