//! Sockets on either side: listening on and connecting to `HOST:PORT`, `[v6]:PORT` or
//! `unix:PATH`, behind one stream type so that the rest never asks which.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use podkit::addr::Address;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// A connected socket, TCP or Unix.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// The two ends of an accepted connection; `None` for a Unix socket's unnamed peer.
#[derive(Debug, Clone, Copy)]
pub struct Ends {
    pub peer: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
}

pub enum Listener {
    Tcp(TcpListener),
    /// The path is removed when the listener is dropped, so a restart can bind it again.
    Unix(UnixListener, PathBuf),
}

impl Listener {
    pub async fn bind(address: &Address) -> io::Result<Listener> {
        match address {
            Address::Tcp { host, port } => Ok(Listener::Tcp(
                TcpListener::bind((host.as_str(), *port)).await?,
            )),
            Address::Unix(path) => {
                remove_stale_socket(path)?;
                Ok(Listener::Unix(UnixListener::bind(path)?, path.clone()))
            }
        }
    }

    /// The bound address, for the start-up log line (the port, when 0 was asked for).
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(listener) => listener
                .local_addr()
                .map_or_else(|e| e.to_string(), |a| a.to_string()),
            Listener::Unix(_, path) => format!("unix:{}", path.display()),
        }
    }

    pub async fn accept(&self) -> io::Result<(Stream, Ends)> {
        match self {
            Listener::Tcp(listener) => {
                let (stream, peer) = listener.accept().await?;
                tune(&stream);
                let local = stream.local_addr().ok();
                Ok((
                    Stream::Tcp(stream),
                    Ends {
                        peer: Some(peer),
                        local,
                    },
                ))
            }
            Listener::Unix(listener, _) => {
                let (stream, _) = listener.accept().await?;
                Ok((
                    Stream::Unix(stream),
                    Ends {
                        peer: None,
                        local: None,
                    },
                ))
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A socket file left by an earlier run would make bind fail; anything else at the path is not
/// ours to delete.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path),
        _ => Ok(()),
    }
}

/// How long a connection may be silent before the kernel starts probing whether its peer is
/// still there, then how often, and how many unanswered probes end it: a peer that vanished
/// without FIN or RST (a node gone, a NAT entry expired) frees its connection in about 2.5
/// minutes instead of holding it, and a `--max-conns` slot, forever.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
const KEEPALIVE_PROBES: u32 = 6;

/// Socket options for every TCP connection, on either side. Failures are ignored: they only
/// cost latency (Nagle) or the early detection of a dead peer.
fn tune(stream: &TcpStream) {
    // A proxy that waits to fill segments adds its delay to every request.
    let _ = stream.set_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive);
}

impl Stream {
    /// Makes the coming close a reset (SO_LINGER 0) rather than a FIN, so that the plain side
    /// of a connection that broke on the TLS side does not take a cut-off stream for a whole one.
    pub fn abort_on_close(&self) {
        if let Stream::Tcp(stream) = self {
            let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
        }
    }
}

/// Why the target could not be reached.
#[derive(Debug)]
pub enum ConnectError {
    Resolve(io::Error),
    NoAddress,
    Connect(io::Error),
    TimedOut,
}

impl ConnectError {
    /// A fixed label for the `reason` of the refused-connections metric.
    pub fn reason(&self) -> &'static str {
        match self {
            ConnectError::Resolve(_) | ConnectError::NoAddress => "target_unresolved",
            ConnectError::Connect(_) => "target_unreachable",
            ConnectError::TimedOut => "target_timeout",
        }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Resolve(e) => write!(f, "cannot resolve: {e}"),
            ConnectError::NoAddress => f.write_str("the name has no address"),
            ConnectError::Connect(e) => e.fmt(f),
            ConnectError::TimedOut => f.write_str("timed out connecting"),
        }
    }
}

/// Connects to `target`, resolving a name now (a Service's address may have changed since the
/// last connection) and trying each address in turn, all within `timeout`.
pub async fn connect(target: &Address, timeout: Duration) -> Result<Stream, ConnectError> {
    tokio::time::timeout(timeout, connect_now(target))
        .await
        .unwrap_or(Err(ConnectError::TimedOut))
}

async fn connect_now(target: &Address) -> Result<Stream, ConnectError> {
    match target {
        Address::Unix(path) => UnixStream::connect(path)
            .await
            .map(Stream::Unix)
            .map_err(ConnectError::Connect),
        Address::Tcp { host, port } => {
            let addresses = tokio::net::lookup_host((host.as_str(), *port))
                .await
                .map_err(ConnectError::Resolve)?;
            let mut last_error = None;
            for address in addresses {
                match TcpStream::connect(address).await {
                    Ok(stream) => {
                        tune(&stream);
                        return Ok(Stream::Tcp(stream));
                    }
                    Err(e) => last_error = Some(e),
                }
            }
            Err(last_error.map_or(ConnectError::NoAddress, ConnectError::Connect))
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    /// Half-close: sends FIN (`shutdown(SHUT_WR)`); reading goes on.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }
}
