//! Reaching a target within a deadline: name resolution, TCP or a unix socket, and TLS on top.
//!
//! Resolution runs getaddrinfo on a thread of its own, because a DNS server that never answers
//! must not stretch a check past its timeout, and because the runtime has no blocking pool: a
//! probe runs every few seconds in every pod, so it starts no threads it does not need (an IP
//! literal needs none).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use podkit::addr::Address;
use podkit::tls::rustls::ClientConfig;
use podkit::tls::rustls_pki_types::ServerName;
use podkit::tls::tokio_rustls::TlsConnector;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

/// A TLS server name, checked: a DNS name or an IP address. Called where flags and URLs are
/// parsed, so that a bad name is a configuration error (exit 2), not an unreachable target.
pub fn server_name(name: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_owned()).map_err(|_| format!("invalid TLS server name {name:?}"))
}

/// Why a target could not be reached.
#[derive(Debug)]
pub struct ConnectError(pub String);

/// A connected byte stream of any kind, plain or TLS, for hyper.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Connects to `endpoint`, then does the TLS handshake if `tls` is given, naming the server
/// `server_name`. The caller bounds the whole with its timeout.
pub async fn connect(
    endpoint: &Address,
    tls: Option<(Arc<ClientConfig>, &str)>,
) -> Result<Box<dyn Io>, ConnectError> {
    let plain: Box<dyn Io> = match endpoint {
        Address::Unix(path) => Box::new(
            UnixStream::connect(path)
                .await
                .map_err(|e| ConnectError(format!("connect to {}: {e}", path.display())))?,
        ),
        Address::Tcp { host, port } => Box::new(connect_tcp(host, *port).await?),
    };
    let Some((config, server_name)) = tls else {
        return Ok(plain);
    };
    let name = self::server_name(server_name).map_err(ConnectError)?;
    let stream = TlsConnector::from(config)
        .connect(name, plain)
        .await
        .map_err(|e| ConnectError(format!("TLS handshake with {endpoint}: {e}")))?;
    Ok(Box::new(stream))
}

async fn connect_tcp(host: &str, port: u16) -> Result<TcpStream, ConnectError> {
    let addresses = resolve(host, port).await?;
    let mut last_error = None;
    for address in &addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => {
                // A probe writes a request in small pieces (HTTP/2 headers, then the body) and
                // waits for the answer: Nagle's algorithm would hold the second piece back.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last_error = Some(e),
        }
    }
    let why = last_error.map_or("no address".to_owned(), |e| e.to_string());
    Err(ConnectError(format!(
        "connect to {}: {why}",
        Address::Tcp {
            host: host.to_owned(),
            port
        }
    )))
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let name = (host.to_owned(), port);
    std::thread::spawn(move || {
        let _ = sender.send(name.to_socket_addrs().map(Iterator::collect::<Vec<_>>));
    });
    match receiver.await {
        Ok(Ok(addresses)) if !addresses.is_empty() => Ok(addresses),
        Ok(Ok(_)) => Err(ConnectError(format!("resolve {host}: no address"))),
        Ok(Err(e)) => Err(ConnectError(format!("resolve {host}: {e}"))),
        Err(_) => Err(ConnectError(format!(
            "resolve {host}: resolver thread failed"
        ))),
    }
}
