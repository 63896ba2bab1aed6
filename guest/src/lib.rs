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

#[cfg(test)]
mod test_data;

// Not in test builds: a wasm test binary then imports only what the standard
// library needs, and runs under a plain WASI runner (`tests/wasi-runner`).
#[cfg(all(target_family = "wasm", not(test)))]
mod component;
