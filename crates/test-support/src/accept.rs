//! The accept loop shared by [`crate::HttpServer`] and [`crate::RawServer`].

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

/// Connection counters of one server.
#[derive(Debug, Default)]
pub(crate) struct ConnStats {
    accepted: AtomicUsize,
    open: AtomicUsize,
    max_open: AtomicUsize,
}

impl ConnStats {
    pub(crate) fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    pub(crate) fn max_open(&self) -> usize {
        self.max_open.load(Ordering::SeqCst)
    }

    /// Counts a newly accepted connection; returns its 0-based index and a
    /// guard that marks it closed when dropped.
    fn opened(self: &Arc<Self>) -> (usize, OpenGuard) {
        let index = self.accepted.fetch_add(1, Ordering::SeqCst);
        let now = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_open.fetch_max(now, Ordering::SeqCst);
        (index, OpenGuard(Arc::clone(self)))
    }
}

/// Decrements the open-connection counter when the connection task ends,
/// whether it finished, panicked or was aborted.
#[derive(Debug)]
struct OpenGuard(Arc<ConnStats>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The panics of a server's connection handlers, kept so that a failed assertion on the
/// server side fails the test instead of only closing a connection.
#[derive(Debug, Default)]
pub(crate) struct Panics(Mutex<Vec<String>>);

impl Panics {
    fn record(&self, payload: &(dyn Any + Send)) {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            String::from("(a panic without a message)")
        };
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(message);
    }

    /// The messages of every panic so far, oldest first.
    pub(crate) fn messages(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Panics with every recorded handler panic, if there is any.
    pub(crate) fn check(&self) {
        let messages = self.messages();
        if !messages.is_empty() {
            panic!(
                "test-support: {} server handler panic(s): {}",
                messages.len(),
                messages.join(" | ")
            );
        }
    }
}

/// Runs `fut`, a connection task, recording a panic in `panics` rather than letting it
/// vanish with the task.
async fn catching_panics(fut: impl Future<Output = ()>, panics: &Panics) {
    let mut fut = std::pin::pin!(fut);
    let outcome = std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(poll) => poll.map(|()| None),
            Err(payload) => Poll::Ready(Some(payload)),
        }
    })
    .await;
    // Recorded before the task's socket closes, so a client that sees the connection end
    // and finishes its test finds the panic already recorded.
    if let Some(payload) = outcome {
        panics.record(&*payload);
    }
}

/// Requests sent from a server handle to its accept loop.
#[derive(Debug)]
enum Command {
    /// Abort every open connection task, keep accepting.
    CloseConnections(oneshot::Sender<()>),
    /// Stop accepting and abort every connection task.
    Shutdown(oneshot::Sender<()>),
}

/// Owns the accept task of a server. Dropping it aborts the accept task,
/// which drops the listener and aborts all connection tasks, and then
/// panics if a connection handler panicked (unless the thread is already
/// panicking), which fails the test that owned the server.
#[derive(Debug)]
pub(crate) struct Acceptor {
    addr: SocketAddr,
    stats: Arc<ConnStats>,
    panics: Arc<Panics>,
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

/// Information about one accepted connection, passed to the per-connection
/// callback.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accepted {
    /// 0-based accept order.
    pub(crate) index: usize,
    /// The client's address.
    pub(crate) peer: SocketAddr,
}

impl Acceptor {
    /// Binds `addr` and spawns the accept loop; `on_conn` is run in its own
    /// task for every accepted connection.
    pub(crate) async fn bind<F, Fut>(addr: SocketAddr, on_conn: F) -> std::io::Result<Self>
    where
        F: Fn(TcpStream, Accepted) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(ConnStats::default());
        let panics = Arc::new(Panics::default());
        let (commands, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&stats),
            Arc::clone(&panics),
            rx,
            on_conn,
        ));
        Ok(Self {
            addr,
            stats,
            panics,
            commands,
            task,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn stats(&self) -> &ConnStats {
        &self.stats
    }

    pub(crate) fn panics(&self) -> &Panics {
        &self.panics
    }

    /// Aborts all open connections and waits until their tasks are gone.
    pub(crate) async fn close_connections(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::CloseConnections(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Stops accepting, aborts all connections and waits until their tasks
    /// are gone and the listener is closed.
    pub(crate) async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Polls `open_connections()` until it equals `n` or `timeout` passes.
    pub(crate) async fn wait_open(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.stats.open() == n {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.task.abort();
        // A second panic while unwinding would abort the whole test binary.
        if !std::thread::panicking() {
            self.panics.check();
        }
    }
}

async fn accept_loop<F, Fut>(
    listener: TcpListener,
    stats: Arc<ConnStats>,
    panics: Arc<Panics>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    on_conn: F,
) where
    F: Fn(TcpStream, Accepted) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut listener = Some(listener);
    let mut conns: JoinSet<()> = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            cmd = commands.recv() => match cmd {
                Some(Command::CloseConnections(done)) => {
                    conns.shutdown().await;
                    let _ = done.send(());
                }
                Some(Command::Shutdown(done)) => {
                    drop(listener.take());
                    conns.shutdown().await;
                    let _ = done.send(());
                    return;
                }
                // The server handle is gone: returning drops the listener
                // and the JoinSet, which aborts every connection task.
                None => return,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            res = accept(listener.as_ref()) => match res {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let (index, guard) = stats.opened();
                    let info = Accepted { index, peer };
                    // A handler may also panic before it returns its future.
                    let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| {
                        on_conn(stream, info)
                    })) {
                        Ok(fut) => fut,
                        Err(payload) => {
                            panics.record(&*payload);
                            drop(guard);
                            continue;
                        }
                    };
                    let panics = Arc::clone(&panics);
                    conns.spawn(async move {
                        let _guard = guard;
                        catching_panics(fut, &panics).await;
                    });
                }
                // Out of file descriptors or a connection reset before it
                // was accepted: back off briefly and keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}
