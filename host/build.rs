//! Builds the guest component for `wasm32-wasip2` and embeds it in the host.
//!
//! The guest is built with a nested `cargo build` into `target/guest`, a target
//! directory of its own so it never waits on the outer build's lock. Set
//! `CHIPI_SESSION_GUEST_WASM` to a prebuilt `.wasm` to skip the nested build.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("host/ lives in the workspace root")
        .to_path_buf();
    println!("cargo:rerun-if-env-changed=CHIPI_SESSION_GUEST_WASM");
    for dir in ["guest/src", "guest/Cargo.toml", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }

    let wasm = match env::var_os("CHIPI_SESSION_GUEST_WASM") {
        Some(path) => PathBuf::from(path),
        None => build_guest(&root),
    };
    println!(
        "cargo:rustc-env=CHIPI_SESSION_EMBEDDED_WASM={}",
        wasm.display()
    );
}

fn build_guest(root: &Path) -> PathBuf {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = root.join("target").join("guest");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "chipi-session-guest",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    // Do not leak the outer build's configuration (clippy wrapper, coverage or
    // host rustflags, jobserver) into the wasm build.
    for (key, _) in env::vars_os() {
        let key_str = key.to_string_lossy();
        if key_str.starts_with("CARGO_")
            && key_str != "CARGO_HOME"
            && key_str != "CARGO_NET_OFFLINE"
            || key_str == "RUSTFLAGS"
            || key_str == "RUSTC_WRAPPER"
            || key_str == "RUSTC_WORKSPACE_WRAPPER"
            || key_str == "RUSTDOCFLAGS"
        {
            cmd.env_remove(&key);
        }
    }
    let status = cmd
        .status()
        .expect("failed to run cargo for the guest component");
    if !status.success() {
        panic!("building the guest component for wasm32-wasip2 failed ({status}); is the wasm32-wasip2 target installed? (`rustup target add wasm32-wasip2`)");
    }
    target_dir
        .join("wasm32-wasip2")
        .join("release")
        .join("chipi_session_guest.wasm")
}
