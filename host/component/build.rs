//! Builds the guest component (`guest/`) for `wasm32-wasip2` so the crate can
//! embed it.
//!
//! The guest is built by a nested `cargo build --release` whose target
//! directory lies under `OUT_DIR`, so the build writes nowhere else and never
//! waits on the outer build's lock. Set `CHIPI_SESSION_GUEST_WASM` to a
//! prebuilt component to skip the nested build (the test script builds the
//! guest once and shares it this way).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    if let Err(message) = run() {
        // A build script reports failure by exiting non-zero; cargo shows stderr.
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = env_path("CARGO_MANIFEST_DIR")?;
    let out_dir = env_path("OUT_DIR")?;
    // host/component -> the workspace root.
    let root = manifest_dir
        .ancestors()
        .nth(2)
        .ok_or("host/component is not inside the workspace")?
        .to_path_buf();
    println!("cargo:rerun-if-env-changed=CHIPI_SESSION_GUEST_WASM");

    let wasm = match env::var_os("CHIPI_SESSION_GUEST_WASM") {
        Some(path) => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(format!(
                    "CHIPI_SESSION_GUEST_WASM={} is not a file",
                    path.display()
                ));
            }
            println!("cargo:rerun-if-changed={}", path.display());
            path
        }
        None => {
            for dir in ["guest/src", "guest/Cargo.toml", "wit", "Cargo.lock"] {
                println!("cargo:rerun-if-changed={}", root.join(dir).display());
            }
            build_guest(&root, &out_dir)?
        }
    };
    let wasm = wasm
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", wasm.display()))?;
    println!(
        "cargo:rustc-env=CHIPI_SESSION_COMPONENT_WASM={}",
        wasm.display()
    );
    Ok(())
}

fn env_path(name: &str) -> Result<PathBuf, String> {
    env::var_os(name)
        .map(PathBuf::from)
        .ok_or_else(|| format!("cargo did not set {name}"))
}

fn build_guest(root: &Path, out_dir: &Path) -> Result<PathBuf, String> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = out_dir.join("guest-target");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
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
        .map_err(|e| format!("cannot run cargo to build the guest component: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the guest component for wasm32-wasip2 failed ({status}); \
             is the wasm32-wasip2 target installed? (`rustup target add wasm32-wasip2`)"
        ));
    }
    Ok(target_dir
        .join("wasm32-wasip2")
        .join("release")
        .join("chipi_session_guest.wasm"))
}
