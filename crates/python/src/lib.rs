//! `aiohttp_rs._core`: the native half of the Python package `aiohttp_rs`.
//!
//! The Python half (`python/aiohttp_rs`) gives aiohttp's client API: keyword handling,
//! `multidict` headers, `yarl` URLs and aiohttp's exception classes. This module owns the
//! I/O: a `Session` wraps an [`aiohttp::ClientSession`], and every request, body read and
//! WebSocket operation is a native PyO3 `async fn` whose work is spawned on a tokio runtime
//! owned by the module (`runtime.rs`). The Python thread only polls a join handle, so the GIL
//! is free while the network waits; dropping the coroutine (a cancelled Python task) aborts
//! the spawned work.

mod completion;
mod cookies;
mod error;
mod resolver;
mod response;
mod runtime;
mod session;
mod tls;
mod trace;
mod ws;

use pyo3::prelude::*;

/// The extension's own allocations (not Python's): a request allocates and frees task
/// cells, buffers and heads across two threads, which glibc's allocator answers slowly
/// (its aligned allocations consolidate the heap; see the Python benchmark in README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The extension module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("CoreError", m.py().get_type::<error::CoreError>())?;
    m.add_class::<error::ErrorInfo>()?;
    m.add_class::<session::Connector>()?;
    m.add_class::<session::Session>()?;
    m.add_class::<response::Response>()?;
    m.add_class::<cookies::Jar>()?;
    m.add_class::<ws::WebSocket>()?;
    m.add_class::<tls::TlsConfig>()?;
    m.add_class::<completion::Completer>()?;
    m.add_class::<completion::Started>()?;
    m.add_class::<trace::TraceEvents>()?;
    m.add_class::<trace::TraceEvent>()?;

    m.add_function(pyo3::wrap_pyfunction!(runtime::shutdown, m)?)?;
    m.add("USER_AGENT", aiohttp::USER_AGENT)?;
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
