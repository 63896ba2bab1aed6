//! Session-key engine for Chipi smart wallets on Starknet.
//!
//! The crate is compiled to a `wasm32-wasip2` component exporting the
//! `chipi:session/session` interface (see `wit/session.wit`). Its cryptography
//! ([`crypto`]), protocol ([`protocol`]) and use cases ([`ops`]) never touch a
//! WASI import and are unit-tested natively; the thin adapter in `component`
//! (wasm only) backs [`ops::Ports`] with the imports.

pub mod crypto;
pub mod ops;
pub mod protocol;

#[cfg(target_family = "wasm")]
mod component;
