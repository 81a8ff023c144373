//! One HTTP/1.1 request on a connection of its own: to the URL's host, or through a unix socket,
//! TLS for an `https` URL, the whole exchange within one timeout, and at most a set number of the
//! response body's bytes read.
//!
//! What a request means is the caller's: which headers go by default, whether a redirect is
//! followed, which statuses are good. This module only sends what it is given, with two rules of
//! its own: exactly one `Host` header (the caller's override, else the URL's authority), and the
//! URL's credentials as `Authorization` unless the caller gives one. A body that breaks off before
//! its end is an error; one that goes on past the cap is cut there, and that is fine.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

use super::Url;
use crate::addr::Address;
use crate::connect::ConnectError;

/// How much of a body is read unless [`Request::body_limit`] says otherwise.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// One request, ready to send (again: [`Request::send`] takes `&self`).
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    host: Option<HeaderValue>,
    unix_socket: Option<PathBuf>,
    #[cfg(feature = "tls")]
    tls: Option<crate::connect::TlsTarget>,
    body_limit: usize,
}

/// What came back: the status and headers, and the body or why it could not be read whole.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Result<Body, BodyError>,
}

/// The first bytes of a body, up to the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub bytes: Vec<u8>,
    /// The body went on past the limit; the rest was not read.
    pub truncated: bool,
}

/// A body that broke off before its end (or before the limit).
#[derive(Debug)]
pub struct BodyError(hyper::Error);

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reading the body: {}", self.0)
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Why no response came. `Display` names the address, never the URL's credentials.
#[derive(Debug)]
pub enum HttpError {
    /// The connection (or its TLS handshake) failed.
    Connect {
        address: Address,
        error: ConnectError,
    },
    /// The connection was made but the exchange failed (closed early, not HTTP...).
    Exchange {
        address: Address,
        error: hyper::Error,
    },
    /// The timeout passed first.
    TimedOut,
    /// An `https` URL and no TLS settings to reach it.
    NoTls { url: Url },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Connect { address, error } => f.write_str(&error.describe(address)),
            HttpError::Exchange { address, error } => write!(f, "{address}: {error}"),
            HttpError::TimedOut => f.write_str("timed out"),
            HttpError::NoTls { url } => write!(f, "{url}: no TLS settings for an https URL"),
        }
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HttpError::Connect { error, .. } => Some(error),
            HttpError::Exchange { error, .. } => Some(error),
            HttpError::TimedOut | HttpError::NoTls { .. } => None,
        }
    }
}

impl Request {
    /// A request for `url` with no headers but `Host` (and `Authorization` if the URL has
    /// credentials), its body read up to [`DEFAULT_BODY_LIMIT`].
    pub fn new(method: Method, url: Url) -> Request {
        Request {
            method,
            url,
            headers: Vec::new(),
            host: None,
            unix_socket: None,
            #[cfg(feature = "tls")]
            tls: None,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Adds a header; one given twice is sent twice. A `Host` header here is ignored (see
    /// [`Request::host`]); an `Authorization` header replaces the URL's credentials.
    /// Credentials (`Authorization`, `Cookie`...) are marked sensitive, so that `Debug` hides
    /// them.
    pub fn header(mut self, name: HeaderName, mut value: HeaderValue) -> Request {
        if super::header::is_secret(&name) {
            value.set_sensitive(true);
        }
        self.headers.push((name, value));
        self
    }

    /// Adds headers, in order.
    pub fn headers(self, headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>) -> Request {
        headers
            .into_iter()
            .fold(self, |request, (name, value)| request.header(name, value))
    }

    /// The `Host` header to send instead of the URL's authority.
    pub fn host(mut self, host: Option<HeaderValue>) -> Request {
        self.host = host;
        self
    }

    /// Connects to this unix socket instead of the URL's host and port.
    pub fn unix_socket(mut self, path: Option<PathBuf>) -> Request {
        self.unix_socket = path;
        self
    }

    /// The TLS settings for an `https` URL (unused for `http`).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: Option<crate::connect::TlsTarget>) -> Request {
        self.tls = tls;
        self
    }

    /// Reads at most this many bytes of the response body.
    pub fn body_limit(mut self, limit: usize) -> Request {
        self.body_limit = limit;
        self
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Sends the request on a new connection and reads the response, all within `timeout`.
    pub async fn send(&self, timeout: Duration) -> Result<Response, HttpError> {
        let deadline = Instant::now() + timeout;
        tokio::time::timeout_at(deadline, self.exchange(deadline))
            .await
            .unwrap_or(Err(HttpError::TimedOut))
    }

    async fn exchange(&self, deadline: Instant) -> Result<Response, HttpError> {
        let address = match &self.unix_socket {
            Some(path) => Address::Unix(path.clone()),
            None => self.url.address(),
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let stream = self.connect(&address, left).await?;
        let failed = |error| HttpError::Exchange {
            address: address.clone(),
            error,
        };
        let (mut sender, connection) = http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(failed)?;
        tokio::spawn(connection);
        let response = sender.send_request(self.build()).await.map_err(failed)?;
        let (parts, body) = response.into_parts();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: read_capped(body, self.body_limit).await,
        })
    }

    #[cfg(feature = "tls")]
    async fn connect(
        &self,
        address: &Address,
        timeout: Duration,
    ) -> Result<crate::connect::Connection, HttpError> {
        let tls = match (&self.tls, self.url.is_https()) {
            (_, false) => None,
            (Some(tls), true) => Some(tls),
            (None, true) => {
                return Err(HttpError::NoTls {
                    url: self.url.clone(),
                })
            }
        };
        crate::connect::connect_tls(address, timeout, tls)
            .await
            .map_err(|error| connect_failed(address, error))
    }

    #[cfg(not(feature = "tls"))]
    async fn connect(
        &self,
        address: &Address,
        timeout: Duration,
    ) -> Result<crate::connect::Stream, HttpError> {
        if self.url.is_https() {
            return Err(HttpError::NoTls {
                url: self.url.clone(),
            });
        }
        crate::connect::connect(address, timeout)
            .await
            .map_err(|error| connect_failed(address, error))
    }

    /// The request as hyper sends it: request line, `Host`, credentials, the caller's headers.
    fn build(&self) -> hyper::Request<Empty<Bytes>> {
        let mut request = hyper::Request::new(Empty::new());
        *request.method_mut() = self.method.clone();
        // The url crate percent-encodes what a request target may not hold (the tests check
        // every ASCII character), so this parse does not fail; "/" would be the fallback.
        *request.uri_mut() = self.url.path_and_query().parse().unwrap_or_default();
        let headers = request.headers_mut();
        let host = self
            .host
            .clone()
            .or_else(|| self.url.authority().parse().ok());
        if let Some(host) = host {
            headers.insert(HOST, host);
        }
        let given_authorization = self.headers.iter().any(|(name, _)| name == AUTHORIZATION);
        if let Some(credentials) = self.url.authorization().filter(|_| !given_authorization) {
            headers.insert(AUTHORIZATION, credentials.clone());
        }
        for (name, value) in &self.headers {
            if name != HOST {
                headers.append(name, value.clone());
            }
        }
        request
    }
}

/// Keeps a timeout a timeout, so that [`HttpError::TimedOut`] is one case whatever timed out.
fn connect_failed(address: &Address, error: ConnectError) -> HttpError {
    match error {
        ConnectError::TimedOut => HttpError::TimedOut,
        error => HttpError::Connect {
            address: address.clone(),
            error,
        },
    }
}

/// The first `limit` bytes of a body; an endless body costs no more than that, and what follows
/// the limit is never waited for.
async fn read_capped(mut body: hyper::body::Incoming, limit: usize) -> Result<Body, BodyError> {
    use hyper::body::Body as _;
    let mut read = Vec::new();
    let mut truncated = false;
    while read.len() < limit {
        let Some(frame) = body.frame().await else {
            break;
        };
        if let Some(data) = frame.map_err(BodyError)?.data_ref() {
            let room = limit - read.len();
            read.extend_from_slice(&data[..data.len().min(room)]);
            truncated = data.len() > room;
        }
    }
    if read.len() >= limit && !body.is_end_stream() {
        truncated = true;
    }
    Ok(Body {
        bytes: read,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    /// A server that takes one connection, reads the request head, writes `response` and
    /// closes; the thread gives back the request head it read.
    fn serve_once(response: &'static [u8]) -> (u16, JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let head = read_head(&mut stream);
            stream.write_all(response).unwrap();
            head
        });
        (port, server)
    }

    fn read_head(stream: &mut impl Read) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        String::from_utf8(head).unwrap()
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    const SECOND: Duration = Duration::from_secs(1);
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Answer: yes\r\n\r\nhello";

    #[tokio::test]
    async fn a_get_carries_host_credentials_and_the_callers_headers_in_order() {
        let (port, server) = serve_once(OK);
        let request = Request::new(
            Method::GET,
            url(&format!("http://u:p%40ss@127.0.0.1:{port}/x?y=1")),
        )
        .header(
            HeaderName::from_static("x-one"),
            HeaderValue::from_static("1"),
        )
        .header(
            HeaderName::from_static("x-one"),
            HeaderValue::from_static("2"),
        )
        .header(HOST, HeaderValue::from_static("ignored.example"));
        let response = request.send(5 * SECOND).await.unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.headers["x-answer"], "yes");
        let body = response.body.unwrap();
        assert_eq!(
            (body.bytes.as_slice(), body.truncated),
            (&b"hello"[..], false)
        );
        let head = server.join().unwrap();
        assert!(head.starts_with("GET /x?y=1 HTTP/1.1\r\n"), "{head}");
        assert_eq!(head.matches("host: ").count(), 1, "{head}");
        assert!(
            head.contains(&format!("host: 127.0.0.1:{port}\r\n")),
            "{head}"
        );
        assert!(head.contains("authorization: Basic dTpwQHNz\r\n"), "{head}");
        assert!(head.contains("x-one: 1\r\nx-one: 2\r\n"), "{head}");
    }

    #[tokio::test]
    async fn a_host_override_and_a_given_authorization_win() {
        let (port, server) = serve_once(OK);
        let request = Request::new(Method::POST, url(&format!("http://u:p@127.0.0.1:{port}/")))
            .host(Some(HeaderValue::from_static("app.example")))
            .header(AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        request.send(5 * SECOND).await.unwrap();
        let head = server.join().unwrap();
        assert!(head.starts_with("POST / HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("host: app.example\r\n"), "{head}");
        assert_eq!(head.matches("authorization: ").count(), 1, "{head}");
        assert!(head.contains("authorization: Bearer t\r\n"), "{head}");
        assert!(!format!("{request:?}").contains("Bearer"), "{request:?}");
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_truncated_and_one_cut_short_is_an_error() {
        for (limit, read, truncated) in [(3, &b"hel"[..], true), (5, b"hello", false)] {
            let (port, _server) = serve_once(OK);
            let request = Request::new(Method::GET, url(&format!("http://127.0.0.1:{port}/")))
                .body_limit(limit);
            let body = request.send(5 * SECOND).await.unwrap().body.unwrap();
            assert_eq!((body.bytes.as_slice(), body.truncated), (read, truncated));
        }
        let (port, _server) =
            serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
        let request = Request::new(Method::GET, url(&format!("http://127.0.0.1:{port}/")));
        let response = request.send(5 * SECOND).await.unwrap();
        assert_eq!(response.status, 200);
        let error = response.body.unwrap_err();
        assert!(
            error.to_string().starts_with("reading the body: "),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_unix_socket_carries_the_request() {
        let dir = std::env::temp_dir().join(format!("podkit-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("app.sock");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let head = read_head(&mut stream);
            stream.write_all(OK).unwrap();
            head
        });
        let request = Request::new(Method::GET, url("http://app.local/ready"))
            .unix_socket(Some(path.clone()));
        let response = request.send(5 * SECOND).await.unwrap();
        assert_eq!(response.status, 200);
        assert!(server.join().unwrap().contains("host: app.local\r\n"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn failures_name_the_address_and_a_silent_server_times_out() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let request = Request::new(
            Method::GET,
            url(&format!("http://u:secret@127.0.0.1:{port}/")),
        );
        let error = request.send(5 * SECOND).await.unwrap_err();
        let shown = error.to_string();
        assert!(
            shown.starts_with(&format!("connect to 127.0.0.1:{port}: ")),
            "{shown}"
        );
        assert!(!shown.contains("secret") && !format!("{error:?}").contains("secret"));

        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let request = Request::new(Method::GET, url(&format!("http://127.0.0.1:{port}/")));
        let error = request.send(Duration::from_millis(200)).await.unwrap_err();
        assert!(matches!(error, HttpError::TimedOut), "{error:?}");
    }

    #[tokio::test]
    async fn an_https_url_without_tls_settings_is_refused_before_connecting() {
        let request = Request::new(Method::GET, url("https://127.0.0.1:1/"));
        let error = request.send(SECOND).await.unwrap_err();
        assert!(matches!(error, HttpError::NoTls { .. }), "{error:?}");
    }

    #[test]
    fn every_path_and_query_of_a_parsed_url_is_a_valid_request_target() {
        for byte in 0x21u8..0x7f {
            let c = char::from(byte);
            let Ok(url) = Url::parse(&format!("http://h/a{c}b?q{c}r")) else {
                continue;
            };
            let target = url.path_and_query();
            assert!(
                target.parse::<http::uri::PathAndQuery>().is_ok(),
                "{c:?}: {target}"
            );
        }
    }
}
