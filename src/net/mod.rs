//! Networking in `std::net`'s and `std::os::unix::net`'s shape, on the runtime's poller (Go's
//! `net`): a goroutine that reads, writes, accepts or connects parks while its socket is not
//! ready, and its thread runs other goroutines. Sockets are non-blocking and close-on-exec;
//! outside a runtime (a plain thread) the same calls block the thread.
//!
//! Beyond std: the listen backlog is the kernel's `somaxconn` (Go's choice; std uses 128), and
//! `set_read_timeout` / `set_write_timeout` are deadlines on the runtime's timer heaps, armed
//! only when a call has to wait. Host names are resolved inside [`crate::blocking`].

pub(crate) mod fd;
mod tcp;
mod udp;
mod unix;

pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
