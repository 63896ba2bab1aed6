//! Tests of the sandbox over real loopback HTTP, one file per concern.

mod auth_and_prepare;
mod contract_v32;
mod faults;
mod nonces;
mod policies;
mod rpc_and_admin;
mod sessions;
mod support;
mod typed_data;
