//! Sockets on either side: listening on `HOST:PORT`, `[v6]:PORT` or `unix:PATH`, connecting to
//! the target through [`podkit::connect`], and the socket options of a long-lived proxied
//! connection. Both sides are a [`Stream`], so that the rest never asks which kind.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use podkit::addr::Address;
use tokio::net::{TcpListener, TcpStream, UnixListener};

pub use podkit::connect::{ConnectError, Stream};

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

    /// Sets a Unix socket's permissions (`--listen-mode`): another uid needs write permission to
    /// connect. Nothing to do for TCP.
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        match self {
            Listener::Tcp(_) => Ok(()),
            Listener::Unix(_, path) => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
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

/// Connects to `target`, resolving a name now (a Service's address may have changed since the
/// last connection) and trying each address in turn with a share of `timeout`
/// ([`podkit::connect`]), then tunes the socket as every accepted one is.
pub async fn connect(target: &Address, timeout: Duration) -> Result<Stream, ConnectError> {
    let stream = podkit::connect::connect(target, timeout).await?;
    if let Stream::Tcp(stream) = &stream {
        tune(stream);
    }
    Ok(stream)
}
