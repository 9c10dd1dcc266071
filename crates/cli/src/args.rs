//! The command line, as clap reads it.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// HTTP requests from the terminal, on the aiohttp crate.
#[derive(Debug, Parser)]
#[command(name = "aiohttp", version, about, after_help = crate::exit::HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send a GET request.
    Get(RequestArgs),
    /// Send a POST request.
    Post(RequestArgs),
    /// Send a PUT request.
    Put(RequestArgs),
    /// Send a PATCH request.
    Patch(RequestArgs),
    /// Send a DELETE request.
    Delete(RequestArgs),
    /// Send a HEAD request.
    Head(RequestArgs),
    /// Send an OPTIONS request.
    Options(RequestArgs),
    /// Load-test a URL, or an embedded loopback server when no URL is given.
    Bench(BenchArgs),
    /// An interactive WebSocket client: lines in, messages out (`/ping`, `/close`).
    Ws(WsArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff).
    Man,
}

/// How the output is formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pretty {
    /// Colours and formatting when standard output is a terminal, nothing otherwise.
    Auto,
    /// As on a terminal: the response's head, then the body indented and coloured.
    All,
    /// As on a terminal, without colours.
    Format,
    /// Neither: the body exactly as received.
    None,
}

/// A request: the URL, the items and the options.
#[derive(Debug, Args)]
#[command(
    disable_help_flag = true,
    after_help = "Request items:\n  Header:value    a request header\n  name==value     a query \
parameter\n  name=value      a JSON string field (a form field with --form)\n  name:=json      a raw JSON \
field\n  name=@file      a field whose value is the file's text\n  name:=@file     a raw JSON field read \
from the file\n  name@file       a file uploaded as a multipart part (implies --form)"
)]
pub struct RequestArgs {
    /// The URL (`http://` is assumed when it has no scheme).
    pub url: String,

    /// Request items: headers, query parameters, data fields, files.
    pub items: Vec<String>,

    /// Data fields as a JSON object (the default when there are any).
    #[arg(short = 'j', long, conflicts_with = "form")]
    pub json: bool,

    /// Data fields as a form: urlencoded, or multipart when a file is uploaded.
    #[arg(short = 'f', long)]
    pub form: bool,

    /// The body: text, `@FILE` (streamed from the file) or `-` (streamed from standard input).
    #[arg(short = 'd', long, value_name = "DATA")]
    pub data: Option<String>,

    /// Basic credentials, `USER:PASS`.
    #[arg(short = 'a', long, value_name = "USER:PASS")]
    pub auth: Option<String>,

    /// A proxy: `http://`, `https://`, `socks4://`, `socks4a://`, `socks5://` or `socks5h://`.
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,

    /// The whole request's time limit, in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,

    /// How many redirects are followed at most.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_redirects: usize,

    /// Do not follow redirects.
    #[arg(long)]
    pub no_follow: bool,

    /// Verify TLS certificates (the default).
    #[arg(long, overrides_with = "no_verify")]
    pub verify: bool,

    /// Do not verify TLS certificates (dangerous).
    #[arg(long, overrides_with = "verify")]
    pub no_verify: bool,

    /// Trust these CA certificates (PEM) instead of the system's.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Accept only a server certificate with this SHA-256 digest (hex, colons allowed).
    #[arg(long, value_name = "SHA256")]
    pub fingerprint: Option<String>,

    /// Speak HTTP/2 (by ALPN over TLS, prior knowledge in cleartext).
    #[arg(long, conflicts_with = "http1")]
    pub http2: bool,

    /// Speak HTTP/1.1 only (over TLS, offer only `http/1.1`).
    #[arg(long)]
    pub http1: bool,

    /// Connect to this UNIX socket instead of the URL's host.
    #[arg(long, value_name = "PATH")]
    pub unix_socket: Option<PathBuf>,

    /// Keep cookies in this file: loaded before the request, saved after it.
    #[arg(long, value_name = "FILE")]
    pub session: Option<PathBuf>,

    /// Print the request's head and the response's head as well as the body.
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Print the response's head only.
    #[arg(short = 'h', long)]
    pub headers: bool,

    /// Save the body to a file (`-o`, or a name from the response or the URL), with a progress
    /// bar; an answer other than 2xx is printed instead, with its status as the exit status.
    #[arg(long)]
    pub download: bool,

    /// The file `--download` writes.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Resume a download into the `-o` file with a `Range` request.
    #[arg(short = 'c', long = "continue", requires = "output")]
    pub resume: bool,

    /// Exit with 3, 4 or 5 on a 3xx, 4xx or 5xx answer.
    #[arg(long)]
    pub check_status: bool,

    /// How the output is formatted.
    #[arg(long, value_enum, default_value_t = Pretty::Auto)]
    pub pretty: Pretty,

    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// A load test.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The URL; without one, a loopback server started in this process (GET answers 13
    /// bytes).
    pub url: Option<String>,

    /// How many requests in all (default: as many as `--duration` allows).
    #[arg(short = 'n', long, value_name = "N")]
    pub requests: Option<u64>,

    /// How many requests are in flight at once.
    #[arg(
        short = 'c',
        long = "concurrency",
        value_name = "TASKS",
        default_value_t = 50
    )]
    pub concurrency: usize,

    /// How long to run, in seconds (default 5 when `-n` is not given).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,

    /// The connector's `limit`: connections open at once (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: usize,

    /// The connector's `limit_per_host` (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub limit_per_host: usize,

    /// Speak HTTP/2 (by ALPN over TLS, prior knowledge in cleartext).
    #[arg(long)]
    pub http2: bool,

    /// The method.
    #[arg(short = 'm', long, default_value = "GET")]
    pub method: String,

    /// A body sent with every request.
    #[arg(long, value_name = "TEXT")]
    pub body: Option<String>,

    /// Each request's time limit, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub timeout: f64,
}

/// A WebSocket session.
#[derive(Debug, Args)]
pub struct WsArgs {
    /// The URL (`ws://` or `wss://`; `ws://` is assumed without a scheme).
    pub url: String,

    /// Request headers, `Name:value`.
    pub headers: Vec<String>,

    /// A subprotocol to offer (repeatable).
    #[arg(long, value_name = "NAME")]
    pub protocol: Vec<String>,

    /// Ping the server this often, in seconds, and give up when a pong does not come.
    #[arg(long, value_name = "SECONDS")]
    pub heartbeat: Option<f64>,

    /// Offer permessage-deflate (the default).
    #[arg(long, overrides_with = "no_compress")]
    pub compress: bool,

    /// Do not offer permessage-deflate.
    #[arg(long, overrides_with = "compress")]
    pub no_compress: bool,
}
