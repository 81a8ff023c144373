//! The connection a fetch goes over, with bounds gix does not set by itself: a git:// socket
//! that never answers would block a read forever, and gix's HTTPS client reads up to 30 s per
//! read and trusts only the system's roots. Here every read and write is bounded by
//! `--sync-timeout`, and `--cacert` replaces the roots, as curl's does.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gix::bstr::ByteSlice;
use gix::protocol::transport::client::blocking_io::Transport;
use gix::protocol::transport::client::git::ConnectMode;
use gix::remote::Direction;

use crate::fetch::one_line;
use crate::sync::SyncError;

/// git's registered port for git://.
const GIT_PORT: u16 = 9418;

/// What bounds a connection.
#[derive(Clone)]
pub struct Limits {
    /// Each read and write, and the connect.
    pub io_timeout: Duration,
    /// `--cacert`'s certificates, PEM, checked at start; `None`: the system's roots.
    pub cacert: Option<Arc<Vec<u8>>>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("io_timeout", &self.io_timeout)
            .field("cacert", &self.cacert.is_some())
            .finish()
    }
}

/// `--cacert`'s file read and parsed, so that a bad one is an error at start.
pub fn read_cacert(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!("{}: no certificate in it", path.display()));
    }
    Ok(pem)
}

/// A connection to `remote`'s URL for fetching, bounded by `limits`.
pub fn connect<'r, 'repo>(
    remote: &'r gix::Remote<'repo>,
    url: &gix::Url,
    limits: &Limits,
) -> Result<gix::remote::Connection<'r, 'static, 'repo, Box<dyn Transport + Send>>, SyncError> {
    match url.scheme {
        gix::url::Scheme::Git => {
            let transport = git_daemon(url, limits.io_timeout)?;
            Ok(remote.to_connection_with_transport(transport))
        }
        _ => {
            let connection = remote
                .connect(Direction::Fetch)
                .map_err(|e| SyncError::Remote(one_line(&e)))?;
            let options = http_options(remote.repo(), url, limits)?;
            Ok(connection.with_transport_options(options))
        }
    }
}

/// A git:// connection over a socket of our own, whose reads and writes time out.
fn git_daemon(url: &gix::Url, timeout: Duration) -> Result<Box<dyn Transport + Send>, SyncError> {
    let host = url
        .host()
        .ok_or_else(|| SyncError::Remote("the URL has no host".to_owned()))?;
    let port = url.port.unwrap_or(GIT_PORT);
    let unreachable = |e: &dyn std::fmt::Display| SyncError::Remote(format!("{host}:{port}: {e}"));
    // The name lookup has no timeout of its own (getaddrinfo); it is bounded by the resolver's.
    let addresses: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| unreachable(&e))?
        .collect();
    let mut last = None;
    let mut connected = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => {
                connected = Some(stream);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let stream = match (connected, last) {
        (Some(stream), _) => stream,
        (None, Some(e)) => return Err(unreachable(&e)),
        (None, None) => return Err(unreachable(&"no address")),
    };
    let bounded = |s: &TcpStream| -> std::io::Result<()> {
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))
    };
    bounded(&stream).map_err(|e| unreachable(&e))?;
    let read = stream.try_clone().map_err(|e| unreachable(&e))?;
    let connection = gix::protocol::transport::client::git::blocking_io::Connection::new(
        read,
        stream,
        gix::protocol::transport::Protocol::V2,
        url.path.clone(),
        Some((host.to_owned(), url.port)),
        ConnectMode::Daemon,
        false,
    )
    .custom_url(Some(url.to_bstring()));
    Ok(Box::new(connection))
}

/// gix's HTTP options for `url` from the repository's configuration, with its client built
/// bounded and, with `--cacert`, trusting only those certificates.
fn http_options(
    repo: &gix::Repository,
    url: &gix::Url,
    limits: &Limits,
) -> Result<Box<dyn std::any::Any>, SyncError> {
    use gix::protocol::transport::client::blocking_io::http;
    let local = |e: &dyn std::error::Error| SyncError::Local {
        what: "HTTP settings".to_owned(),
        error: one_line(e),
    };
    let url_text = url.to_bstring();
    let mut options = repo
        .transport_options(url_text.as_bstr(), None)
        .map_err(|e| local(&e))?
        .and_then(|any| any.downcast::<http::Options>().ok())
        .map(|boxed| *boxed)
        .unwrap_or_default();
    let timeout = limits.io_timeout;
    let cacert = limits.cacert.clone();
    let backend = http::reqwest::Options {
        configure_client: Some(Box::new(move |builder| {
            let mut builder = builder.timeout(timeout);
            if let Some(pem) = &cacert {
                let certificates =
                    reqwest::Certificate::from_pem_bundle(pem).map_err(gix::Error::from_error)?;
                builder = builder.tls_certs_only(certificates);
            }
            Ok(builder)
        })),
        configure_request: None,
    };
    options.backend = Some(Arc::new(Mutex::new(backend)));
    Ok(Box::new(options))
}
