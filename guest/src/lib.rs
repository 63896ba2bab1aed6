//! Session-key engine for Chipi smart wallets on Starknet.
//!
//! The crate is compiled to a `wasm32-wasip2` component exporting the
//! `chipi:session/session` interface (see `wit/session.wit`). Its protocol and
//! cryptography live in plain modules ([`core`], [`protocol`], [`ops`]) that never
//! touch a WASI import and are unit-tested natively; the thin adapter in
//! `component` (wasm only) backs [`ops::Ports`] with the imports.

pub mod core;
