//! Completing a request's asyncio future without the runtime thread taking the GIL.
//!
//! A `Completer` belongs to one event loop: a socket pair whose reading end the loop
//! watches (`loop.add_reader(completer.fileno(), completer.drain)`) and a queue. A request
//! started with `Session.start` runs on the runtime; when it ends, its outcome goes into
//! the queue, and the socket gets a byte if the queue was empty. The loop then calls
//! `drain` on its own thread, with the GIL it already holds, which resolves every queued
//! future at once.
//!
//! Compared with a PyO3 coroutine awaited directly (whose waker takes the GIL on the
//! runtime thread and calls `call_soon_threadsafe` for every request), a busy loop gets
//! many completions for one wake-up, and the runtime thread never waits for the GIL.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::response::Response;

/// What a finished request hands to its loop.
type Outcome = Result<(aiohttp::ClientResponse, Option<Bytes>), aiohttp::ClientError>;

/// A finished request: its future, and how it ended (`None`: its task ended without an
/// outcome, panicked or was aborted).
struct Done {
    future: Py<PyAny>,
    outcome: Option<Outcome>,
}

struct Shared {
    queue: Mutex<Vec<Done>>,
    wake: UnixStream,
    /// Tells the flusher task to wake the loop.
    flush: tokio::sync::Notify,
}

impl Shared {
    fn push(&self, done: Done) {
        let was_empty = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let was_empty = q.is_empty();
            q.push(done);
            was_empty
        };
        if was_empty {
            // The loop is woken by a task of the runtime, queued behind the tasks that are
            // ready now: requests finishing in the same turn of the runtime share one
            // wake-up.
            self.flush.notify_one();
        }
    }

    /// Wakes the loop (a full socket buffer already means a wake-up is pending).
    fn wake_loop(&self) {
        let _ = (&self.wake).write(&[1]);
    }
}

/// The completions of one event loop.
#[pyclass(frozen, module = "aiohttp_rs._core")]
pub struct Completer {
    shared: Arc<Shared>,
    readable: UnixStream,
    /// The task that writes the wake-ups, stopped with the completer.
    flusher: tokio::task::AbortHandle,
}

impl Drop for Completer {
    fn drop(&mut self) {
        self.flusher.abort();
    }
}

impl std::fmt::Debug for Completer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completer")
            .field("fd", &self.readable.as_raw_fd())
            .finish_non_exhaustive()
    }
}

#[pymethods]
impl Completer {
    #[new]
    fn new() -> PyResult<Self> {
        let (readable, wake) = UnixStream::pair()?;
        readable.set_nonblocking(true)?;
        wake.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Vec::new()),
            wake,
            flush: tokio::sync::Notify::new(),
        });
        let own = shared.clone();
        let flusher = crate::runtime::handle()
            .spawn(async move {
                loop {
                    own.flush.notified().await;
                    own.wake_loop();
                }
            })
            .abort_handle();
        Ok(Completer {
            shared,
            readable,
            flusher,
        })
    }

    /// The descriptor the loop watches.
    fn fileno(&self) -> i32 {
        self.readable.as_raw_fd()
    }

    /// Resolves the futures of every finished request (the loop's reader callback).
    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        // Wake-ups first: a request finishing after this read writes again.
        // (One read: a short one took everything there was.)
        let mut buf = [0u8; 64];
        while matches!((&self.readable).read(&mut buf), Ok(n) if n == buf.len()) {}
        let done =
            std::mem::take(&mut *self.shared.queue.lock().unwrap_or_else(|e| e.into_inner()));
        for Done { future, outcome } in done {
            // One future's trouble (its loop closed under it, say) leaves the others be.
            let _ = complete(py, future.bind(py), outcome);
        }
        Ok(())
    }
}

fn complete(py: Python<'_>, future: &Bound<'_, PyAny>, outcome: Option<Outcome>) -> PyResult<()> {
    // A cancelled request's future is done already: setting it fails (InvalidStateError,
    // ignored by `drain`) and its response is dropped.
    match outcome {
        Some(Ok((response, body))) => {
            let response = Py::new(py, Response::new(response, body))?;
            future.call_method1(pyo3::intern!(py, "set_result"), (response,))?;
        }
        Some(Err(e)) => {
            let err = crate::error::to_py(e).into_value(py);
            future.call_method1(pyo3::intern!(py, "set_exception"), (err,))?;
        }
        None => {
            let err =
                PyRuntimeError::new_err("aiohttp_rs: the request task ended early").into_value(py);
            future.call_method1(pyo3::intern!(py, "set_exception"), (err,))?;
        }
    }
    Ok(())
}

/// A request's place in its loop's queue; dropped without an outcome (the task panicked
/// or was aborted), it still completes the future, so no await waits forever.
pub(crate) struct Slot {
    shared: Arc<Shared>,
    future: Option<Py<PyAny>>,
}

impl Slot {
    pub(crate) fn new(completer: &Completer, future: Py<PyAny>) -> Self {
        Slot {
            shared: completer.shared.clone(),
            future: Some(future),
        }
    }

    pub(crate) fn complete(mut self, outcome: Outcome) {
        if let Some(future) = self.future.take() {
            self.shared.push(Done {
                future,
                outcome: Some(outcome),
            });
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(future) = self.future.take() {
            self.shared.push(Done {
                future,
                outcome: None,
            });
        }
    }
}

/// A started request: `abort()` stops it (its coroutine was cancelled).
#[pyclass(frozen, module = "aiohttp_rs._core")]
#[derive(Debug)]
pub struct Started(pub(crate) futures_util::future::AbortHandle);

#[pymethods]
impl Started {
    /// Stops the request's task.
    fn abort(&self) {
        self.0.abort();
    }
}
