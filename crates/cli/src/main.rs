//! `aiohttp`: HTTP requests from the terminal, on the aiohttp crate.
//!
//! `aiohttp get URL [ITEM ...]` (and `post`, `put`, `patch`, `delete`, `head`, `options`)
//! sends one request with httpie's request items and prints the response; `--download`
//! saves the body with a progress bar. `aiohttp bench [URL]` is a load generator, against an
//! embedded loopback server when no URL is given. `aiohttp ws URL` is an interactive
//! WebSocket client. `aiohttp --help` lists everything.

mod args;
mod bench;
mod exit;
mod items;
mod output;
mod request;
mod ws;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (method, args) = match cli.command {
        Command::Get(a) => ("GET", a),
        Command::Post(a) => ("POST", a),
        Command::Put(a) => ("PUT", a),
        Command::Patch(a) => ("PATCH", a),
        Command::Delete(a) => ("DELETE", a),
        Command::Head(a) => ("HEAD", a),
        Command::Options(a) => ("OPTIONS", a),
        Command::Bench(args) => {
            return match runtime().map(|rt| rt.block_on(bench::run(args))) {
                Ok(Ok(code)) => ExitCode::from(code),
                Ok(Err(f)) => fail(f.code, &f.message),
                Err(e) => fail(exit::ERROR, &format!("cannot start the runtime: {e}")),
            };
        }
        Command::Ws(args) => {
            return match runtime().map(|rt| rt.block_on(ws::run(args))) {
                Ok(Ok(code)) => ExitCode::from(code),
                Ok(Err(f)) => fail(f.code, &f.message),
                Err(e) => fail(exit::ERROR, &format!("cannot start the runtime: {e}")),
            };
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "aiohttp",
                &mut std::io::stdout(),
            );
            return ExitCode::SUCCESS;
        }
        Command::Man => {
            let page = clap_mangen::Man::new(Cli::command());
            return match page.render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(exit::ERROR, &format!("cannot write the page: {e}")),
            };
        }
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(exit::ERROR, &format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(request::run(method, args)) {
        Ok(code) => ExitCode::from(code),
        Err(f) => fail(f.code, &f.message),
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("aiohttp: error: {message}");
    ExitCode::from(code)
}
