//! `chipi-session`: the command line of the Chipi session-key engine:
//! argument parsing, dispatch, output.
//!
//! Exit codes: 0 success, 1 session error (JSON `error.code` says which),
//! 2 usage or configuration error, 3 host failure (component load, trap, time limit),
//! 4 a transaction was sent but is not confirmed (its hash is reported), 130
//! interrupted while waiting for a sent transaction (its hash is reported).

mod args;
mod bench;
mod commands;
mod context;
mod demo;
mod embedded;
mod output;
mod sandbox_cmd;
mod wait;

use clap::Parser;

use args::{Cli, Command};
use output::CliError;

fn main() {
    bench::mark_process_start();
    std::process::exit(run_cli());
}

/// Parse the process arguments, run the command, return the exit code.
fn run_cli() -> i32 {
    let cli = Cli::parse();
    // Before any key is read: no core dump may hold one.
    if let Err(e) = chipi_session_host::runtime::exclude_from_core_dumps() {
        let err = anyhow::Error::from(e).context("cannot exclude the process from core dumps");
        return output::report_error(cli.global.json, &CliError::Host(err));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return output::report_error(cli.global.json, &CliError::Host(e.into()));
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> i32 {
    let json_mode = cli.global.json;
    let result = match &cli.command {
        Command::Sandbox(args) => match sandbox_cmd::run(&cli.global, args).await {
            Ok(()) => return output::EXIT_OK,
            Err(e) => Err(e),
        },
        Command::Demo => demo::run(&cli.global).await,
        Command::Bench(args) => bench::run(&cli.global, args).await,
        other => {
            return commands::run(&cli.global, other, |result| match result {
                Ok((value, text)) => output::report_ok(json_mode, &value, &text),
                Err(err) => output::report_error(json_mode, &err),
            })
            .await
        }
    };
    match result {
        Ok((value, text)) => output::report_ok(json_mode, &value, &text),
        Err(err) => output::report_error(json_mode, &err),
    }
}
