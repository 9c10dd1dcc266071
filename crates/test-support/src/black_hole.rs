//! An address on loopback where connection attempts hang: a listener whose accept queue is
//! full, so the kernel drops further SYNs. For connect timeouts and Happy Eyeballs tests.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// A loopback address that never completes a TCP handshake while this value lives.
///
/// ```no_run
/// let hole = test_support::BlackHole::new().expect("loopback");
/// let addr = hole.addr();
/// // connecting to `addr` now hangs until the caller's own timeout
/// # let _ = addr;
/// ```
#[derive(Debug)]
pub struct BlackHole {
    listener: TcpListener,
    _fillers: Vec<TcpStream>,
}

impl BlackHole {
    /// Binds a listener with a backlog of 0 and fills its queue with connections that are
    /// never accepted.
    ///
    /// # Errors
    /// The socket cannot be created, bound or put in listening state.
    pub fn new() -> std::io::Result<BlackHole> {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        socket.listen(0)?;
        let listener: TcpListener = socket.into();
        let addr = listener.local_addr()?;
        let mut fillers = Vec::new();
        for _ in 0..4 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
                Ok(s) => fillers.push(s),
                Err(_) => break,
            }
        }
        Ok(BlackHole {
            listener,
            _fillers: fillers,
        })
    }

    /// The address where connecting hangs.
    pub fn addr(&self) -> SocketAddr {
        // Bound and listening since `new`; the address cannot change.
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }
}
