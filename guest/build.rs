//! Link the component without the WASI preview-1 adapter that rustc's
//! `wasm-component-ld` embeds by default. The adapter imports every
//! `wasi:cli/*` interface at its own (newer) WASI version whether or not the
//! code uses it; without it the component imports only the interfaces its code
//! calls, all at the version of the bindings it was built with (0.2.4, see
//! the `wasip2` pin in Cargo.toml). `tests/all/wasi_imports.rs` checks the list.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("wasm32-wasip2") {
        println!("cargo:rustc-link-arg-cdylib=--wasi-adapter=none");
    }
}
