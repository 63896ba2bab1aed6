//! The Chipi session-key component, built from `guest/` for `wasm32-wasip2`
//! by this crate's build script, as bytes.
//!
//! `chipi-session-host` embeds it behind its `embedded` feature; the CLI and
//! the tests use it through there. Set `CHIPI_SESSION_GUEST_WASM` at build
//! time to embed a prebuilt component instead.

/// The component binary (a WebAssembly component exporting
/// `chipi:session/session`).
pub const COMPONENT: &[u8] = include_bytes!(env!("CHIPI_SESSION_COMPONENT_WASM"));

#[cfg(test)]
mod tests {
    #[test]
    fn is_a_component_binary() {
        // Magic, then the component-model layer (version 0x0d, layer 1).
        assert_eq!(&super::COMPONENT[..4], b"\0asm");
        assert_eq!(&super::COMPONENT[4..8], &[0x0d, 0x00, 0x01, 0x00]);
    }
}
