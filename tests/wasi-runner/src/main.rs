//! Runs a `wasm32-wasip2` program (a component exporting `wasi:cli/run`, such
//! as a test binary built by `cargo test --target wasm32-wasip2`) under
//! wasmtime, with this process's stdio, environment and arguments.
//!
//! `.cargo/config.toml` names this binary as the runner of that target, so
//! cargo calls it as `chipi-session-wasi-runner <program.wasm> [args...]`.
//! The exit code is the program's: 0 on success, the code it exits with
//! otherwise, and 101 (what a failed native test binary returns) when it
//! traps, for example on a panic (`wasm32-wasip2` aborts on panic).
//!
//! WASI 0.2 is linked with wasmtime-wasi (any 0.2.x a program imports
//! resolves to it by semver). Imports of other packages (such as the session
//! component's own `chipi:session/*` interfaces) are defined as functions
//! that trap when called, and resources nothing creates. `wasi:http` is not
//! provided: a program importing it fails to instantiate, with its name.
//! (`Linker::define_unknown_imports_as_traps` cannot be used: it would also
//! stub the WASI interfaces imported at an older 0.2.x than wasmtime-wasi's.)

use std::path::PathBuf;
use std::process::ExitCode;

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, ResourceTable, ResourceType};
use wasmtime::error::Context as _;
use wasmtime::{bail, format_err, Config, Engine, Result, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};

/// Exit code of a program that trapped.
const TRAPPED: u8 = 101;

/// The store's data: the WASI context and its resources.
struct State {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("chipi-session-wasi-runner: {err:#}");
            ExitCode::from(TRAPPED)
        }
    }
}

/// The program's path and its arguments (the path first, as `argv[0]`).
fn arguments() -> Result<(PathBuf, Vec<String>)> {
    let mut args = std::env::args_os().skip(1);
    let Some(program) = args.next() else {
        bail!("usage: chipi-session-wasi-runner <program.wasm> [args...]");
    };
    let mut argv = vec![program.to_string_lossy().into_owned()];
    for arg in args {
        let arg = arg
            .into_string()
            .map_err(|arg| format_err!("argument {arg:?} is not UTF-8"))?;
        argv.push(arg);
    }
    Ok((PathBuf::from(program), argv))
}

/// Define every function of the imported non-WASI interfaces as a trap, and
/// their resources as host resources nothing ever creates.
fn stub_foreign_imports(
    linker: &mut Linker<State>,
    engine: &Engine,
    component: &Component,
) -> Result<()> {
    for (import, item) in component.component_type().imports(engine) {
        if import.starts_with("wasi:") {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            bail!("import {import} is not an interface; it cannot be stubbed");
        };
        let mut stubs = linker.instance(import)?;
        for (name, item) in instance.exports(engine) {
            match item.ty {
                ComponentItem::ComponentFunc(_) => {
                    let full = format!("{import}#{name}");
                    stubs.func_new(name, move |_, _, _, _| {
                        bail!(
                            "{full} is not available to programs run by chipi-session-wasi-runner"
                        )
                    })?;
                }
                ComponentItem::Resource(_) => {
                    stubs.resource(name, ResourceType::host::<()>(), |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn run() -> Result<ExitCode> {
    let (program, argv) = arguments()?;
    let mut config = Config::new();
    // wasmtime is built without its `gc` cargo feature (shared with the
    // host's build); test binaries need no GC.
    config.gc_support(false);
    config.wasm_gc(false);
    let engine = Engine::new(&config)?;
    let component = Component::from_file(&engine, &program)
        .with_context(|| format!("cannot load {}", program.display()))?;

    let mut linker = Linker::<State>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    stub_foreign_imports(&mut linker, &engine, &component)?;

    let ctx = WasiCtx::builder()
        .inherit_stdio()
        .inherit_env()
        .args(&argv)
        .build();
    let mut store = Store::new(
        &engine,
        State {
            ctx,
            table: ResourceTable::new(),
        },
    );
    let command = Command::instantiate(&mut store, &component, &linker)
        .with_context(|| format!("cannot instantiate {}", program.display()))?;
    match command.wasi_cli_run().call_run(&mut store) {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(())) => Ok(ExitCode::FAILURE),
        Err(err) => {
            if let Some(exit) = err.downcast_ref::<I32Exit>() {
                // Codes outside 0..=255 are reported as a plain failure.
                return Ok(u8::try_from(exit.0).map_or(ExitCode::FAILURE, ExitCode::from));
            }
            eprintln!(
                "chipi-session-wasi-runner: {} trapped: {err:?}",
                program.display()
            );
            Ok(ExitCode::from(TRAPPED))
        }
    }
}
