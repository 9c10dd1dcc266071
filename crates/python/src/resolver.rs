//! `PyResolver`: a Python resolver (aiohttp's `AbstractResolver`: `async resolve(host,
//! port, family)` answering a list of dicts with `host` and `port`) as the crate's
//! [`aiohttp::Resolver`].
//!
//! The lookup starts on a runtime thread: with the GIL, `resolve()` is called and its
//! coroutine handed to the session's event loop (`asyncio.run_coroutine_threadsafe`); the
//! loop runs it, and a done-callback sends the result back through a channel. No thread
//! waits for the GIL while holding anything the event loop needs, so Python code in the
//! resolver cannot deadlock the request.

use std::net::{IpAddr, SocketAddr};

use aiohttp::{BoxFuture, ClientError, ErrorKind, Family};
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyList, PyTuple};

/// A resolver written in Python, run on the event loop it was made on.
pub(crate) struct PyResolver {
    resolver: Py<PyAny>,
    event_loop: Py<PyAny>,
}

impl std::fmt::Debug for PyResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyResolver").finish_non_exhaustive()
    }
}

impl PyResolver {
    pub(crate) fn new(resolver: Py<PyAny>, event_loop: Py<PyAny>) -> Self {
        PyResolver {
            resolver,
            event_loop,
        }
    }
}

fn dns_error(host: &str, port: u16, message: String) -> ClientError {
    ClientError::new(
        ErrorKind::ClientConnectorDNSError,
        format!("cannot resolve host {host}:{port}: {message}"),
    )
}

/// The addresses of the resolver's answer (`[{"host": ..., "port": ...}, ...]`).
fn addresses(answer: &Bound<'_, PyAny>) -> PyResult<Vec<SocketAddr>> {
    let list = answer.cast::<PyList>()?;
    let mut out = Vec::with_capacity(list.len());
    for entry in list.iter() {
        let entry = entry.cast::<PyDict>()?;
        let host: String = match entry.get_item("host")? {
            Some(h) => h.extract()?,
            None => continue,
        };
        let port: u16 = match entry.get_item("port")? {
            Some(p) => p.extract()?,
            None => 0,
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            out.push(SocketAddr::new(ip, port));
        }
    }
    Ok(out)
}

impl aiohttp::Resolver for PyResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
        family: Family,
    ) -> BoxFuture<'a, Result<Vec<SocketAddr>, ClientError>> {
        Box::pin(async move {
            let (tx, rx) = tokio::sync::oneshot::channel::<PyResult<Vec<SocketAddr>>>();
            let family = match family {
                Family::Ipv4 => 2,
                Family::Ipv6 => 10,
                _ => 0,
            };
            let started = Python::attach(|py| -> PyResult<()> {
                let coro = self
                    .resolver
                    .call_method1(py, "resolve", (host, port, family))?;
                let asyncio = py.import("asyncio")?;
                let done = asyncio
                    .call_method1("run_coroutine_threadsafe", (coro, self.event_loop.bind(py)))?;
                let tx = std::sync::Mutex::new(Some(tx));
                let callback = PyCFunction::new_closure(
                    py,
                    None,
                    None,
                    move |args: &Bound<'_, PyTuple>, _kwargs| -> PyResult<()> {
                        let fut = args.get_item(0)?;
                        let result = fut.call_method0("result").and_then(|r| addresses(&r));
                        if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                            let _ = tx.send(result);
                        }
                        Ok(())
                    },
                )?;
                done.call_method1("add_done_callback", (callback,))?;
                Ok(())
            });
            if let Err(e) = started {
                return Err(dns_error(host, port, e.to_string()));
            }
            match rx.await {
                Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
                Ok(Ok(_)) => Err(dns_error(host, port, "no addresses".into())),
                Ok(Err(e)) => Err(dns_error(host, port, e.to_string())),
                Err(_) => Err(dns_error(host, port, "the resolver never answered".into())),
            }
        })
    }
}
