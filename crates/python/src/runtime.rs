//! The tokio runtime that does the package's I/O, and the bridge from its tasks to a
//! coroutine's future.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::{PyResult, Python};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

static HANDLE: OnceLock<Handle> = OnceLock::new();
static RUNTIME: Mutex<Option<Driver>> = Mutex::new(None);

/// How long `shutdown` lets the runtime's tasks take to stop.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// What runs the runtime, for `shutdown`.
enum Driver {
    /// A multi-thread runtime (`AIOHTTP_RS_THREADS` above one).
    Threads(Runtime),
    /// A current-thread runtime on a thread of its own that keeps a Python thread state.
    Attached {
        stop: Arc<Notify>,
        thread: std::thread::JoinHandle<()>,
    },
}

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
///
/// With one worker (the default), the runtime runs on a thread that is attached to Python
/// once, for its whole life, with the GIL released. A task that completes wakes its
/// coroutine by taking the GIL (PyO3's waker calls `call_soon_threadsafe`); on a thread
/// Python has never seen, every such wake-up creates and destroys a Python thread state
/// (an allocation and system calls per request, which the Python benchmark shows).
pub(crate) fn handle() -> &'static Handle {
    HANDLE.get_or_init(|| {
        if worker_threads() == 1 {
            return attached_runtime();
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads())
            .thread_name("aiohttp-rs")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("aiohttp_rs: cannot start the tokio runtime: {e}"));
        let handle = rt.handle().clone();
        *RUNTIME.lock().unwrap_or_else(|e| e.into_inner()) = Some(Driver::Threads(rt));
        handle
    })
}

/// A current-thread runtime driven by a thread of its own, inside `Python::attach` and
/// `detach`: the thread keeps its Python thread state, and the GIL is free while it runs.
fn attached_runtime() -> Handle {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("aiohttp_rs: cannot start the tokio runtime: {e}"));
    let handle = rt.handle().clone();
    let stop = Arc::new(Notify::new());
    let stopped = stop.clone();
    let thread = std::thread::Builder::new()
        .name("aiohttp-rs".into())
        .spawn(move || {
            Python::attach(|py| {
                py.detach(|| {
                    rt.block_on(stopped.notified());
                    rt.shutdown_timeout(SHUTDOWN_WAIT);
                });
            });
        })
        .unwrap_or_else(|e| panic!("aiohttp_rs: cannot start the runtime thread: {e}"));
    *RUNTIME.lock().unwrap_or_else(|e| e.into_inner()) = Some(Driver::Attached { stop, thread });
    handle
}

/// Stops the runtime: every task is dropped and its threads end (within 5 s). Called at
/// interpreter exit (the Python half registers it with `atexit`), while threads may still
/// take the GIL: a task finishing later would wake its coroutine from a runtime thread
/// during finalization, which CPython answers by ending that thread mid-call. Tasks
/// spawned afterwards are dropped at once (their awaits fail).
#[pyo3::pyfunction]
pub(crate) fn shutdown(py: pyo3::Python<'_>) {
    let driver = RUNTIME.lock().unwrap_or_else(|e| e.into_inner()).take();
    // The threads may need the GIL to finish what they are doing: let them have it.
    match driver {
        Some(Driver::Threads(rt)) => py.detach(move || rt.shutdown_timeout(SHUTDOWN_WAIT)),
        Some(Driver::Attached { stop, thread }) => {
            stop.notify_one();
            py.detach(move || {
                let _ = thread.join();
            });
        }
        None => {}
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

/// A request waiting to be spawned by the runtime's own thread.
type Job = futures_util::future::Abortable<Pin<Box<dyn Future<Output = ()> + Send>>>;

/// Requests started from Python, spawned in batches by a task on the runtime.
struct Starter {
    queue: Mutex<Vec<Job>>,
    more: Notify,
}

static STARTER: OnceLock<Arc<Starter>> = OnceLock::new();

fn starter() -> &'static Starter {
    STARTER.get_or_init(|| {
        let starter = Arc::new(Starter {
            queue: Mutex::new(Vec::new()),
            more: Notify::new(),
        });
        let own = starter.clone();
        handle().spawn(async move {
            loop {
                own.more.notified().await;
                let jobs =
                    std::mem::take(&mut *own.queue.lock().unwrap_or_else(|e| e.into_inner()));
                for job in jobs {
                    tokio::spawn(async move {
                        let _ = job.await;
                    });
                }
            }
        });
        starter
    })
}

/// Runs `future` on the runtime, started from another thread without waking the runtime's
/// thread for each one: requests started while it is busy (a loop resuming many tasks at
/// once) are spawned together after one wake-up. The handle aborts it.
pub(crate) fn start<F>(future: F) -> futures_util::future::AbortHandle
where
    F: Future<Output = ()> + Send + 'static,
{
    let boxed: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(future);
    let (job, abort) = futures_util::future::abortable(boxed);
    let starter = starter();
    let was_empty = {
        let mut queue = starter.queue.lock().unwrap_or_else(|e| e.into_inner());
        let was_empty = queue.is_empty();
        queue.push(job);
        was_empty
    };
    if was_empty {
        starter.more.notify_one();
    }
    abort
}

/// Runs `future` on the package's runtime.
pub(crate) fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Task(handle().spawn(future))
}
