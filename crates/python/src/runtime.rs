//! The tokio runtime that does the package's I/O, and the bridge from its tasks to a
//! coroutine's future.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};

use pyo3::exceptions::PyRuntimeError;
use pyo3::PyResult;
use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;

static HANDLE: OnceLock<Handle> = OnceLock::new();
static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);

/// Worker threads: `AIOHTTP_RS_THREADS` if set (at first use), else one. One thread beside
/// the Python thread is the fastest on small machines: the event loop and the I/O each
/// have a core.
fn worker_threads() -> usize {
    std::env::var("AIOHTTP_RS_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1)
}

/// The package's runtime, started at first use.
pub(crate) fn handle() -> &'static Handle {
    HANDLE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads())
            .thread_name("aiohttp-rs")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("aiohttp_rs: cannot start the tokio runtime: {e}"));
        let handle = rt.handle().clone();
        *RUNTIME.lock().unwrap_or_else(|e| e.into_inner()) = Some(rt);
        handle
    })
}

/// Stops the runtime: every task is dropped and its threads end (within 5 s). Called at
/// interpreter exit (the Python half registers it with `atexit`), while threads may still
/// take the GIL: a task finishing later would wake its coroutine from a runtime thread
/// during finalization, which CPython answers by ending that thread mid-call. Tasks
/// spawned afterwards are dropped at once (their awaits fail).
#[pyo3::pyfunction]
pub(crate) fn shutdown(py: pyo3::Python<'_>) {
    let rt = RUNTIME.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(rt) = rt {
        // The threads may need the GIL to finish what they are doing: let them have it.
        py.detach(move || rt.shutdown_timeout(std::time::Duration::from_secs(5)));
    }
}

/// A spawned task as a future; dropping it aborts the task, so that a cancelled Python
/// coroutine stops the work it started.
pub(crate) struct Task<T>(JoinHandle<T>);

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for Task<T> {
    type Output = PyResult<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.map_err(|e| {
                if e.is_panic() {
                    PyRuntimeError::new_err("aiohttp_rs: the request task panicked")
                } else {
                    PyRuntimeError::new_err("aiohttp_rs: the request task was cancelled")
                }
            })
        })
    }
}

/// Runs `future` on the package's runtime.
pub(crate) fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Task(handle().spawn(future))
}
