//! `chipi-session`: command-line front end of the session-key engine.

fn main() {
    std::process::exit(chipi_session_host::cli::main());
}
