//! Replays the committed fuzz corpora (`fuzz/corpus/<target>`) and the kept
//! crashes (`fuzz/regressions/<target>`) through every target, as ordinary
//! tests of the root workspace: the same functions the libFuzzer binaries
//! call, in the same build as the rest of the suite. An input that panics
//! fails its target's test, naming the file.
//!
//! Fuzzing campaigns stay with cargo-fuzz (`scripts/fuzz.sh run TARGET`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Threads of the native targets' replays (each input takes microseconds).
const NATIVE_THREADS: usize = 1;
/// Threads of the `component` replay: its inputs mostly wait (on the
/// backend's delays, the component's backoff between retries), and each has
/// its own backend and store, so they run side by side.
const COMPONENT_THREADS: usize = 8;

/// `fuzz/`.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files of one directory, sorted; a missing directory is an empty list.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// What one target's replay saw.
struct Replayed {
    inputs: usize,
    /// Inputs the target took (structured targets skip bytes that decode to
    /// no input, as libFuzzer's entry does).
    taken: usize,
}

/// Runs every corpus and regression input of `target` through `run` (which
/// says whether it took the input), on `threads` threads, and fails, naming
/// each file, if any input panics. A target without a corpus fails: there is
/// nothing to skip.
fn replay(target: &str, threads: usize, run: impl Fn(&[u8]) -> bool + Sync) -> Replayed {
    let corpus = files_in(&fuzz_dir().join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target} is missing or empty: every target has a committed corpus"
    );
    let regressions = files_in(&fuzz_dir().join("regressions").join(target));
    let files: Vec<&PathBuf> = corpus.iter().chain(&regressions).collect();
    let started = std::time::Instant::now();
    let next = AtomicUsize::new(0);
    let taken = AtomicUsize::new(0);
    let crashed = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while let Some(file) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let data = std::fs::read(file).expect("a corpus file reads");
                    match catch_unwind(AssertUnwindSafe(|| run(&data))) {
                        Ok(true) => {
                            taken.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(false) => {}
                        Err(_) => crashed
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(file.display().to_string()),
                    }
                }
            });
        }
    });
    let taken = taken.into_inner();
    let mut crashed = crashed
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    crashed.sort();
    let inputs = corpus.len() + regressions.len();
    eprintln!(
        "replay {target}: {inputs} inputs ({} corpus, {} regressions), {taken} taken, \
         {threads} thread(s), {} ms",
        corpus.len(),
        regressions.len(),
        started.elapsed().as_millis()
    );
    assert!(
        crashed.is_empty(),
        "{target}: {} of {inputs} inputs crashed (panic messages above):\n  {}\n\
         reproduce one with `scripts/fuzz.sh run {target}` on that file, or minimize it \
         with `scripts/fuzz.sh tmin {target} FILE`",
        crashed.len(),
        crashed.join("\n  ")
    );
    Replayed { inputs, taken }
}

/// A structured target's corpus was written by campaigns of the current
/// input layout: nearly every file must still decode, or the layout changed
/// and the corpus replays nothing (regenerate it: fuzz/README.md).
fn assert_layout_current(target: &str, replayed: &Replayed) {
    assert!(
        replayed.taken * 10 >= replayed.inputs * 9,
        "{target}: only {} of {} inputs decode to an input: the target's input layout \
         changed since the corpus was made",
        replayed.taken,
        replayed.inputs
    );
}

#[test]
fn typed_data() {
    replay("typed_data", NATIVE_THREADS, |data| {
        chipi_session_fuzz_targets::typed_data::run(data);
        true
    });
}

#[test]
fn typed_data_mutate() {
    let replayed = replay(
        "typed_data_mutate",
        NATIVE_THREADS,
        chipi_session_fuzz_targets::typed_data_mutate::run,
    );
    assert_layout_current("typed_data_mutate", &replayed);
}

#[test]
fn envelope_open() {
    replay("envelope_open", NATIVE_THREADS, |data| {
        chipi_session_fuzz_targets::envelope_open::run(data);
        true
    });
}

#[test]
fn cryptojs_decrypt() {
    replay("cryptojs_decrypt", NATIVE_THREADS, |data| {
        chipi_session_fuzz_targets::cryptojs_decrypt::run(data);
        true
    });
}

#[test]
fn call_parse() {
    let replayed = replay(
        "call_parse",
        NATIVE_THREADS,
        chipi_session_fuzz_targets::call_parse::run,
    );
    assert_layout_current("call_parse", &replayed);
}

#[test]
fn responses() {
    replay("responses", NATIVE_THREADS, |data| {
        chipi_session_fuzz_targets::responses::run(data);
        true
    });
}

#[test]
fn component() {
    use chipi_session_fuzz_targets::component;
    component::init();
    let replayed = replay("component", COMPONENT_THREADS, |data| {
        component::run(data).is_some()
    });
    assert_layout_current("component", &replayed);
}
