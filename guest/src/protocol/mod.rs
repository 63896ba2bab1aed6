//! The Chipi and Starknet protocol: wire formats, checks and the state machine.
//! Pure functions only; nothing here performs I/O.

pub mod calldata;
pub mod calls;
pub mod chipi_api;
pub mod error;
pub mod model;
pub mod preflight;
pub mod record;
pub mod rpc;
pub mod state;
pub mod strict_json;
pub mod typed_data_check;
pub mod url_scope;
