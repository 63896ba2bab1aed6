//! The runner as cargo calls it: exit codes and messages when there is no
//! program to run. (Running real programs is what the guest's wasm32 tests
//! do through it.) As an integration test, this also makes `cargo test`
//! build the runner binary itself, in the same build as the rest of the
//! workspace, where `.cargo/config.toml` expects it.

use std::process::{Command, Output};

fn run_runner(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chipi-session-wasi-runner"))
        .args(args)
        .output()
        .expect("the runner starts")
}

#[test]
fn without_a_program_it_prints_its_usage_and_exits_101() {
    let out = run_runner(&[]);
    assert_eq!(out.status.code(), Some(101));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("usage: chipi-session-wasi-runner <program.wasm> [args...]"),
        "{stderr}"
    );
}

#[test]
fn a_file_that_is_not_a_component_is_refused_naming_it() {
    let dir = std::env::temp_dir().join(format!("chipi-wasi-runner-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let program = dir.join("not-a-component.wasm");
    std::fs::write(&program, b"this is not wasm").unwrap();
    let out = run_runner(&[program.as_os_str()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(101));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot load {}", program.display())),
        "{stderr}"
    );
}

#[test]
fn a_missing_file_is_refused_naming_it() {
    let program = std::env::temp_dir().join("chipi-wasi-runner-no-such-program.wasm");
    let out = run_runner(&[program.as_os_str()]);
    assert_eq!(out.status.code(), Some(101));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot load {}", program.display())),
        "{stderr}"
    );
}
