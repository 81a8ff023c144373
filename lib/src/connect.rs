//! Reaching an [`Address`] within a timeout, for every tool that dials out: podkit-probe's
//! checks, podkit-ambassador's targets, the HTTP client of [`crate::http`].
//!
//! A name is resolved at every connection (a Service's addresses change), by getaddrinfo on a
//! thread of its own: a DNS server that never answers must not stretch a connection past its
//! timeout, and no runtime's blocking pool is asked for one (a probe's single-threaded runtime
//! would wait for that pool's threads when it is dropped, and so would the process's exit). Every
//! resolved address is then tried in turn, each with a share of the time that remains (what is
//! left divided by the addresses left, as RFC 8305 suggests), so that one black-holed address
//! cannot eat the whole timeout while the next one would have answered at once; a refusal passes
//! its unused share on. TCP connections get `TCP_NODELAY`: every user writes a request or a record
//! and waits for the answer.
//!
//! With the `tls` feature, [`connect_tls`] adds a TLS client handshake on top, within the same
//! timeout. Socket tuning beyond `TCP_NODELAY` (keepalive) and listening are the tools' own.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::Instant;

use crate::addr::Address;

/// A connected socket, TCP or Unix: one type, so that what runs over it never asks which.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Why an address could not be reached. `Display` is one line without the address, which the
/// caller names in its own words.
#[derive(Debug)]
pub enum ConnectError {
    /// The name could not be resolved.
    Resolve(io::Error),
    /// The name resolved to no address.
    NoAddress,
    /// The connection was refused or failed (the last address's error, when several failed).
    Connect(io::Error),
    /// The timeout passed before a connection (or its TLS handshake) was made.
    TimedOut,
    /// The TLS handshake failed (see [`connect_tls`]).
    Handshake(io::Error),
}

impl ConnectError {
    /// A fixed label for a metric's `reason`, as podkit-ambassador counts refused connections.
    pub fn reason(&self) -> &'static str {
        match self {
            ConnectError::Resolve(_) | ConnectError::NoAddress => "target_unresolved",
            ConnectError::Connect(_) => "target_unreachable",
            ConnectError::TimedOut => "target_timeout",
            ConnectError::Handshake(_) => "target_handshake",
        }
    }

    /// One line naming `address`: `connect to db:5432: Connection refused (os error 111)`, or
    /// `TLS handshake with db:5432: invalid peer certificate: UnknownIssuer`.
    pub fn describe(&self, address: &Address) -> String {
        match self {
            ConnectError::Handshake(e) => format!("TLS handshake with {address}: {e}"),
            error => format!("connect to {address}: {error}"),
        }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Resolve(e) => write!(f, "cannot resolve: {e}"),
            ConnectError::NoAddress => f.write_str("the name has no address"),
            ConnectError::Connect(e) => e.fmt(f),
            ConnectError::TimedOut => f.write_str("timed out connecting"),
            ConnectError::Handshake(e) => write!(f, "TLS handshake: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Resolve(e) | ConnectError::Connect(e) | ConnectError::Handshake(e) => {
                Some(e)
            }
            ConnectError::NoAddress | ConnectError::TimedOut => None,
        }
    }
}

/// Connects to `address` within `timeout`, name resolution included.
pub async fn connect(address: &Address, timeout: Duration) -> Result<Stream, ConnectError> {
    connect_by(address, Instant::now() + timeout).await
}

async fn connect_by(address: &Address, deadline: Instant) -> Result<Stream, ConnectError> {
    match address {
        Address::Unix(path) => {
            match tokio::time::timeout_at(deadline, UnixStream::connect(path)).await {
                Ok(Ok(stream)) => Ok(Stream::Unix(stream)),
                Ok(Err(e)) => Err(ConnectError::Connect(e)),
                Err(_) => Err(ConnectError::TimedOut),
            }
        }
        Address::Tcp { host, port } => {
            let addresses = tokio::time::timeout_at(deadline, resolve(host, *port))
                .await
                .map_err(|_| ConnectError::TimedOut)??;
            connect_any(&addresses, deadline).await.map(Stream::Tcp)
        }
    }
}

/// Lookups in flight at most. A DNS server that never answers leaves each lookup's thread
/// waiting until getaddrinfo gives up (seconds to minutes); podkit-ambassador resolves at every
/// connection, so without a bound a flood of connections would pile up threads. Beyond it a
/// lookup fails at once, like an unanswered one, rather than waiting for a turn.
pub const MAX_LOOKUPS: usize = 64;

static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

/// One lookup's place among [`MAX_LOOKUPS`], given back when its thread ends.
struct LookupSlot;

impl LookupSlot {
    fn take() -> Option<LookupSlot> {
        LOOKUPS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_LOOKUPS).then_some(n + 1)
            })
            .ok()
            .map(|_| LookupSlot)
    }
}

impl Drop for LookupSlot {
    fn drop(&mut self) {
        LOOKUPS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The addresses of `host`: an IP literal as it is, a name through getaddrinfo on its own
/// thread (see the module's note), at most [`MAX_LOOKUPS`] at once. The caller bounds the wait;
/// a thread that outlives it ends when getaddrinfo returns.
pub async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let slot = LookupSlot::take().ok_or_else(|| {
        ConnectError::Resolve(io::Error::other(format!(
            "{MAX_LOOKUPS} name lookups already in flight (is the DNS server answering?)"
        )))
    })?;
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let name = (host.to_owned(), port);
    std::thread::Builder::new()
        .name("resolve".to_owned())
        .spawn(move || {
            let found = name.to_socket_addrs().map(Iterator::collect::<Vec<_>>);
            // Given back before the answer, so that whoever gets it sees the slot free.
            drop(slot);
            let _ = sender.send(found);
        })
        .map_err(ConnectError::Resolve)?;
    match receiver.await {
        Ok(Ok(addresses)) if !addresses.is_empty() => Ok(addresses),
        Ok(Ok(_)) => Err(ConnectError::NoAddress),
        Ok(Err(e)) => Err(ConnectError::Resolve(e)),
        Err(_) => Err(ConnectError::Resolve(io::Error::other(
            "the resolver thread failed",
        ))),
    }
}

/// Whether a byte (or the end) is there to read, without reading it: WouldBlock when not.
fn peek_one(fd: std::os::fd::RawFd) -> io::Result<()> {
    let mut byte = 0u8;
    // SAFETY: recv into one byte this function owns, on a descriptor the caller keeps open.
    let received = unsafe {
        libc::recv(
            fd,
            std::ptr::addr_of_mut!(byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match received {
        -1 => Err(io::Error::last_os_error()),
        _ => Ok(()),
    }
}

/// Tries each address in turn, each with its share of the time left.
async fn connect_any(
    addresses: &[SocketAddr],
    deadline: Instant,
) -> Result<TcpStream, ConnectError> {
    let mut last_error = ConnectError::NoAddress;
    for (tried, address) in addresses.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ConnectError::TimedOut);
        }
        let share = left / u32::try_from(addresses.len() - tried).unwrap_or(u32::MAX);
        match tokio::time::timeout(share, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                // Failure only costs latency.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last_error = ConnectError::Connect(e),
            Err(_) => last_error = ConnectError::TimedOut,
        }
    }
    Err(last_error)
}

impl Stream {
    /// Waits until the peer has sent a byte (left unread) or closed: a server that must hear
    /// first can tell a silent socket from a client. Readiness alone is not enough: a socket
    /// just accepted may report it with nothing to read.
    pub async fn peer_spoke(&self) -> io::Result<()> {
        use tokio::io::Interest;
        loop {
            let peeked = match self {
                Stream::Tcp(stream) => {
                    stream.readable().await?;
                    stream.try_io(Interest::READABLE, || peek_one(stream.as_raw_fd()))
                }
                Stream::Unix(stream) => {
                    stream.readable().await?;
                    stream.try_io(Interest::READABLE, || peek_one(stream.as_raw_fd()))
                }
            };
            match peeked {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Makes the coming close a reset (SO_LINGER 0) rather than a FIN, so that the peer of a
    /// connection whose other side broke does not take a cut-off stream for a whole one.
    pub fn abort_on_close(&self) {
        if let Stream::Tcp(stream) = self {
            let _ = stream.set_zero_linger();
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

#[cfg(feature = "tls")]
pub use self::tls::{connect_tls, Connection, InvalidServerName, TlsTarget};

#[cfg(feature = "tls")]
mod tls {
    use std::fmt;
    use std::sync::Arc;
    use std::time::Duration;

    use rustls::ClientConfig;
    use rustls_pki_types::ServerName;
    use tokio::io::{AsyncRead, AsyncWrite};
    use tokio::time::Instant;
    use tokio_rustls::TlsConnector;

    use super::{connect_by, ConnectError};
    use crate::addr::Address;

    /// Whom a TLS connection expects: a client configuration and the server's name (the SNI
    /// sent, and the name its certificate must carry; an IP address sends no SNI).
    #[derive(Clone)]
    pub struct TlsTarget {
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    }

    impl TlsTarget {
        /// Checks `name` now, where a flag or URL is read, so that a bad one is a configuration
        /// error rather than an unreachable target.
        pub fn new(config: Arc<ClientConfig>, name: &str) -> Result<TlsTarget, InvalidServerName> {
            Ok(TlsTarget {
                config,
                name: server_name(name)?,
            })
        }
    }

    impl fmt::Debug for TlsTarget {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("TlsTarget")
                .field("name", &self.name)
                .finish_non_exhaustive()
        }
    }

    /// A TLS server name, checked: a DNS name or an IP address.
    fn server_name(name: &str) -> Result<ServerName<'static>, InvalidServerName> {
        ServerName::try_from(name.to_owned()).map_err(|_| InvalidServerName(name.to_owned()))
    }

    /// A name that cannot be a TLS server's: neither a DNS name nor an IP address.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct InvalidServerName(pub String);

    impl fmt::Display for InvalidServerName {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "invalid TLS server name {:?}", self.0)
        }
    }

    impl std::error::Error for InvalidServerName {}

    /// A connected byte stream, plain or TLS, of any kind.
    pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
    impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

    /// A connection as [`connect_tls`] makes it: plain or TLS.
    pub type Connection = Box<dyn Io>;

    /// Connects to `address`, then, if `tls` is given, does the TLS handshake, all within
    /// `timeout`.
    pub async fn connect_tls(
        address: &Address,
        timeout: Duration,
        tls: Option<&TlsTarget>,
    ) -> Result<Connection, ConnectError> {
        let deadline = Instant::now() + timeout;
        let plain = connect_by(address, deadline).await?;
        let Some(tls) = tls else {
            return Ok(Box::new(plain));
        };
        let handshake = TlsConnector::from(tls.config.clone()).connect(tls.name.clone(), plain);
        match tokio::time::timeout_at(deadline, handshake).await {
            Ok(Ok(stream)) => Ok(Box::new(stream)),
            Ok(Err(e)) => Err(ConnectError::Handshake(e)),
            Err(_) => Err(ConnectError::TimedOut),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// An address nobody listens on: bound, then closed.
    fn closed_port() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    }

    #[tokio::test]
    async fn a_listening_port_is_reached_with_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let address = Address::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        let stream = connect(&address, Duration::from_secs(5)).await.unwrap();
        let Stream::Tcp(stream) = stream else {
            panic!("not TCP")
        };
        assert!(stream.nodelay().unwrap());
    }

    #[tokio::test]
    async fn a_refused_address_passes_its_share_to_the_next() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addresses = [closed_port(), listener.local_addr().unwrap()];
        let deadline = Instant::now() + Duration::from_secs(5);
        assert!(connect_any(&addresses, deadline).await.is_ok());
    }

    /// A listener that lets no connection in: a backlog of 0, already full. The kernel drops
    /// every further SYN, so a connect to it hangs until its timeout.
    fn black_hole() -> (TcpListener, std::net::TcpStream, SocketAddr) {
        use std::os::fd::AsRawFd;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // SAFETY: listen(2) on a socket this test owns; calling it again sets a new backlog.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let address = listener.local_addr().unwrap();
        let queued = std::net::TcpStream::connect(address).unwrap();
        (listener, queued, address)
    }

    #[tokio::test]
    async fn a_black_holed_address_takes_only_its_share_of_the_timeout() {
        let (_hole, _queued, hole) = black_hole();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // Half of the 2 s goes to the black hole; the whole of it would leave nothing to the
        // address that answers.
        let addresses = [hole, listener.local_addr().unwrap()];
        let deadline = Instant::now() + Duration::from_secs(2);
        let stream = connect_any(&addresses, deadline).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), addresses[1]);
        // Alone, the black hole times out.
        let deadline = Instant::now() + Duration::from_millis(300);
        let error = connect_any(&[hole], deadline).await.unwrap_err();
        assert_eq!(error.reason(), "target_timeout", "{error}");
    }

    #[tokio::test]
    async fn every_address_failing_reports_the_last_error_and_its_reason() {
        let addresses = [closed_port(), closed_port()];
        let deadline = Instant::now() + Duration::from_secs(5);
        let error = connect_any(&addresses, deadline).await.unwrap_err();
        assert!(matches!(error, ConnectError::Connect(_)), "{error:?}");
        assert_eq!(error.reason(), "target_unreachable");
        assert!(error.to_string().contains("refused"), "{error}");
    }

    #[tokio::test]
    async fn unresolvable_names_and_unix_paths_fail_with_their_reason() {
        let error = connect(
            &Address::Tcp {
                host: "nonexistent.invalid".into(),
                port: 80,
            },
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
        assert_eq!(error.reason(), "target_unresolved", "{error}");
        assert!(error.to_string().starts_with("cannot resolve: "), "{error}");
        let error = connect(
            &Address::Unix("/nonexistent/podkit.sock".into()),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert_eq!(error.reason(), "target_unreachable", "{error}");
    }

    #[tokio::test]
    async fn ip_literals_resolve_without_a_lookup() {
        let addresses = resolve("::1", 8080).await.unwrap();
        assert_eq!(addresses, ["[::1]:8080".parse().unwrap()]);
    }

    /// No other test here resolves a name, so this one may hold every slot for a moment.
    #[tokio::test]
    async fn lookups_beyond_the_bound_fail_at_once_and_a_freed_slot_is_taken_again() {
        let held: Vec<LookupSlot> = std::iter::from_fn(LookupSlot::take).collect();
        assert_eq!(held.len(), MAX_LOOKUPS);

        let error = resolve("localhost", 80).await.unwrap_err();
        assert_eq!(error.reason(), "target_unresolved");
        assert!(error.to_string().contains("in flight"), "{error}");

        drop(held);
        assert!(
            resolve("localhost", 80).await.is_ok(),
            "a slot is free again"
        );
        assert_eq!(
            LOOKUPS.load(Ordering::Acquire),
            0,
            "its thread gave it back"
        );
    }
}
