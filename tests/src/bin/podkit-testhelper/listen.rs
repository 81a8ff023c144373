//! What the servers share: bind, announce the address, and give each connection its own thread
//! until the process is killed.

use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::out;
use crate::signal::{Disposition, Signal};

/// How long to back off after a failed accept (out of descriptors, say) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Binds `addr`, prints `listening ADDR` with the bound address (the real port when `addr` asked
/// for port 0), and hands every connection to `handle` on a thread of its own.
pub fn serve<H>(addr: SocketAddr, handle: H) -> io::Result<Infallible>
where
    H: Fn(TcpStream) -> io::Result<()> + Send + Sync + 'static,
{
    let handle = Arc::new(handle);
    // The helper runs with SIGPIPE at its default (see main.rs); a client hanging up mid-reply
    // must cost only its own connection (an EPIPE error), not kill the server.
    Signal::PIPE.ignore()?;
    let listener = TcpListener::bind(addr)
        .map_err(|err| io::Error::new(err.kind(), format!("bind {addr}: {err}")))?;
    out::say(&format!("listening {}", listener.local_addr()?));
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                let handle = Arc::clone(&handle);
                let spawned = thread::Builder::new().spawn(move || {
                    if let Err(err) = handle(stream) {
                        out::warn(&format!("connection from {peer}: {err}"));
                    }
                });
                if let Err(err) = spawned {
                    out::warn(&format!("connection from {peer} dropped: no thread: {err}"));
                }
            }
            Err(err) => {
                out::warn(&format!("accept: {err}"));
                thread::sleep(ACCEPT_BACKOFF);
            }
        }
    }
}
