//! Host bindings generated from `wit/session.wit` (world `session-engine`).
//!
//! Only the `chipi:session` interfaces are generated here; every `wasi:*`
//! interface is mapped onto the bindings of `wasmtime-wasi` and
//! `wasmtime-wasi-http` (which ship WASI 0.2.12; wasmtime links the
//! component's 0.2.4 imports to them semver-compatibly).

#![allow(missing_docs, clippy::all, reason = "bindgen-generated code")]

wasmtime::component::bindgen!({
    world: "session-engine",
    path: "../../wit",
    imports: { default: async },
    exports: { default: async },
    require_store_data_send: true,
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:random": wasmtime_wasi::p2::bindings::random,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
    },
    additional_derives: [
        PartialEq,
        serde::Serialize,
        serde::Deserialize,
    ],
});
