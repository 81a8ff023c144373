//! Plain TCP and HTTP as the tests speak them: a backend the test controls ([`Backend`]), a
//! server that never answers ([`SilentServer`]), connections with the hang guard set, a plain HTTP GET for `/metrics` and the health
//! endpoints, and what the kernel knows about a listening socket ([`accept_queue`]).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::wait::HANG_GUARD;

/// A plain TCP server on 127.0.0.1 the test controls: it counts every connection it accepts,
/// then hands it (with the hang guard set) to `serve` on a thread of its own. Its listening
/// thread ends when it is dropped.
pub struct Backend {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stopped: Arc<AtomicBool>,
}

impl Backend {
    pub fn start(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the backend");
        let addr = listener.local_addr().expect("the backend's address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let stopped = Arc::new(AtomicBool::new(false));
        let (count, stop, serve) = (accepted.clone(), stopped.clone(), Arc::new(serve));
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                with_hang_guard(&stream);
                let serve = serve.clone();
                thread::spawn(move || serve(stream));
            }
        });
        Backend {
            addr,
            accepted,
            stopped,
        }
    }

    /// Sends back every byte it receives, and closes when the client does.
    pub fn echo() -> Backend {
        Backend::start(|mut stream| {
            let mut reader = stream.try_clone().expect("clone the stream");
            let _ = std::io::copy(&mut reader, &mut stream);
        })
    }

    /// Its address as a `--target`.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// How many connections reached it so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// A TCP server on 127.0.0.1 that accepts every connection and never answers: not a byte, not a
/// close, until it is dropped. A client's own timeout is what ends its wait; the server counts
/// the connections, so a test can tell "connected, then timed out" from "never connected".
pub struct SilentServer {
    backend: Backend,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl SilentServer {
    pub fn start() -> SilentServer {
        let held = Arc::new(Mutex::new(Vec::new()));
        let holding = held.clone();
        // Held, not read: what a client sends waits in the socket's buffers, unanswered.
        let backend = Backend::start(move |stream| holding.lock().unwrap().push(stream));
        SilentServer { backend, held }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.backend.addr
    }

    /// How many connections it accepted so far.
    pub fn accepted(&self) -> usize {
        self.backend.accepted()
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        // Closes every connection now, not when the listening thread next wakes.
        self.held.lock().unwrap().clear();
    }
}

/// Reads and writes on `stream` fail after the hang guard instead of blocking a test forever.
pub fn with_hang_guard(stream: &TcpStream) {
    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
    stream.set_write_timeout(Some(HANG_GUARD)).unwrap();
}

/// A TCP connection to `addr`, with the hang guard set.
pub fn connect(addr: impl ToSocketAddrs + std::fmt::Debug) -> TcpStream {
    let stream = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect to {addr:?}: {e}"));
    with_hang_guard(&stream);
    stream
}

/// `GET path` on the plain HTTP server at `addr` (the ambassador's `/metrics`, `/readyz`,
/// `/healthz`): the status code and the body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = connect(addr);
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP response from {addr}{path}: {response:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line from {addr}{path}: {head:?}"));
    (status, body.to_owned())
}

/// How many connections wait in the accept queue of the TCP socket listening on `addr`: the
/// kernel completed their handshake, and the server has not accept(2)ed them. `None` when no
/// socket listens there. For a listening socket, /proc/net/tcp's `rx_queue` is that count.
pub fn accept_queue(addr: SocketAddr) -> Option<usize> {
    let SocketAddr::V4(v4) = addr else {
        panic!("an IPv4 address: {addr}")
    };
    // /proc/net/tcp prints the address's bytes, in network order, as a native (little-endian
    // here) 32-bit number, and the port as a number: 127.0.0.1:80 is 0100007F:0050.
    let ip = u32::from_le_bytes(v4.ip().octets());
    let local = format!("{ip:08X}:{:04X}", v4.port());
    const LISTEN: &str = "0A";
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (address, state, queues) = (fields.get(1)?, fields.get(3)?, fields.get(4)?);
        if *address != local || *state != LISTEN {
            return None;
        }
        let (_, waiting) = queues.split_once(':')?;
        usize::from_str_radix(waiting, 16).ok()
    })
}
