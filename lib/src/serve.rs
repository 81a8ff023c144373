//! The `/healthz`, `/readyz` and `/metrics` HTTP endpoint that every network tool serves on
//! `--metrics-addr`: liveness, readiness from a shared handle, and a Prometheus registry in the
//! text format.
//!
//! It owns the HTTP side only. Which metrics exist and when a tool is ready are the tool's
//! business: it registers its metrics in the [`Registry`] and flips its [`Readiness`]. Parsing
//! `--metrics-addr` and turning a [`ServeError`] into an exit code belong to the tool's edge.
//! Plain HTTP/1.1: the kubelet and Prometheus reach it inside the pod network.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use podkit::serve::{prometheus::IntCounter, MetricsServer, Readiness, Registry};
//! use podkit::shutdown::Shutdown;
//!
//! let shutdown = Shutdown::install()?;
//! let registry = Registry::new();
//! podkit::serve::register_build_info(&registry, "podkit-example", env!("CARGO_PKG_VERSION"))?;
//! let accepted = IntCounter::new("podkit_example_accepted_total", "Connections accepted.")?;
//! registry.register(Box::new(accepted.clone()))?;
//! let readiness = Readiness::new("loading the certificate");
//!
//! let server = MetricsServer::bind("0.0.0.0:9090".parse()?, registry, readiness.clone()).await?;
//! let stop = shutdown.clone();
//! tokio::spawn(server.serve(async move { stop.requested().await }));
//! readiness.set_ready();
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use prometheus::{Encoder, IntGauge, Opts, TextEncoder};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

mod registrar;

pub use prometheus;
pub use prometheus::Registry;
pub use registrar::Registrar;

/// How long one connection may take, from accept to the end of its response. Each connection
/// carries one request (no keep-alive: the kubelet does not reuse connections, and a scrape every
/// few seconds does not need to), so this bounds what a slow or silent client can hold.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// After shutdown, how long requests already being answered may take before their connections
/// are closed; idle connections close at once. Short: the tool's own drain is what matters, and
/// a scrape lost at exit costs nothing.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Open connections beyond this wait in the listen backlog, so a flood costs bounded memory.
const MAX_CONNECTIONS: usize = 128;

/// Pause after a failed accept (out of file descriptors, mostly) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

const TEXT: &str = "text/plain; charset=utf-8";

/// Series a tool writes in the text format itself, appended to every `/metrics` body after the
/// registry's: for a table too large to go through the `prometheus` crate's per-series protobuf
/// structures and sort at each scrape (podkit-metrics' 100,000 StatsD series). It must write
/// whole families, none named like one of the registry's.
pub trait TextSource: Send + Sync {
    fn append(&self, body: &mut Vec<u8>);
}

/// The process's text sources: one endpoint per process, so one list.
static TEXT_SOURCES: RwLock<Vec<Arc<dyn TextSource>>> = RwLock::new(Vec::new());

/// Adds `source` to what every `/metrics` of this process shows.
pub fn add_text_source(source: Arc<dyn TextSource>) {
    TEXT_SOURCES
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .push(source);
}

/// Whether the tool is ready for traffic, and if not, why; `/readyz` answers from it.
///
/// Cheap to clone; every clone shares one state, which changes as a whole, so `/readyz` never
/// sees a reason from one update with the verdict of another. A new handle is not ready: a tool
/// says ready once it can serve (its certificate loaded, its first sync done). On shutdown, a tool
/// that wants endpoints to stop sending traffic first calls [`set_not_ready`] before its drain.
///
/// [`set_not_ready`]: Readiness::set_not_ready
#[derive(Debug, Clone)]
pub struct Readiness {
    state: Arc<RwLock<ReadyState>>,
}

/// A snapshot of a [`Readiness`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadyState {
    Ready,
    /// Not ready, with a one-line reason for `/readyz` and for people reading it.
    NotReady(String),
}

impl Readiness {
    /// A handle that starts not ready, for `reason`.
    pub fn new(reason: impl Into<String>) -> Readiness {
        Readiness {
            state: Arc::new(RwLock::new(ReadyState::NotReady(one_line(reason.into())))),
        }
    }

    pub fn set_ready(&self) {
        self.set(ReadyState::Ready);
    }

    /// Not ready for `reason`, which `/readyz` prints on one line (control characters such as line
    /// breaks become spaces).
    pub fn set_not_ready(&self, reason: impl Into<String>) {
        self.set(ReadyState::NotReady(one_line(reason.into())));
    }

    pub fn is_ready(&self) -> bool {
        matches!(self.state(), ReadyState::Ready)
    }

    pub fn state(&self) -> ReadyState {
        // A writer only assigns a value, so a poisoned lock still holds a whole state.
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, state: ReadyState) {
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = state;
    }
}

impl Default for Readiness {
    fn default() -> Readiness {
        Readiness::new("starting")
    }
}

fn one_line(reason: String) -> String {
    if !reason.contains(char::is_control) {
        return reason;
    }
    let line: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    line.trim().to_owned()
}

/// Registers `podkit_build_info{tool, version} 1`, so dashboards can tell which build runs where.
/// Fails only if the registry already holds a metric of that name.
pub fn register_build_info(
    registry: &Registry,
    tool: &str,
    version: &str,
) -> prometheus::Result<()> {
    let opts = Opts::new(
        "podkit_build_info",
        "Which podkit tool and version this process is; always 1.",
    )
    .const_label("tool", tool)
    .const_label("version", version);
    let gauge = IntGauge::with_opts(opts)?;
    gauge.set(1);
    registry.register(Box::new(gauge))
}

/// Why the endpoint could not start; prints as one line naming the address.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be listened on: in use, not local, or a privileged port.
    Bind { addr: SocketAddr, source: io::Error },
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServeError::Bind { source, .. } => Some(source),
        }
    }
}

/// The endpoint, bound and not yet serving: binding first lets a tool fail at start-up with exit
/// 2 before it does anything else, and lets tests bind port 0 and learn the port.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    endpoints: Arc<Endpoints>,
}

#[derive(Debug)]
struct Endpoints {
    registry: Registry,
    readiness: Readiness,
}

impl MetricsServer {
    /// Listens on `addr` (port 0 picks a free one; see [`local_addr`]). Must run within a tokio
    /// runtime with I/O enabled.
    ///
    /// [`local_addr`]: MetricsServer::local_addr
    pub async fn bind(
        addr: SocketAddr,
        registry: Registry,
        readiness: Readiness,
    ) -> Result<MetricsServer, ServeError> {
        let fail = |source| ServeError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(fail)?;
        let local_addr = listener.local_addr().map_err(fail)?;
        Ok(MetricsServer {
            listener,
            local_addr,
            endpoints: Arc::new(Endpoints {
                registry,
                readiness,
            }),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Answers requests until `shutdown` resolves (e.g. [`Shutdown::requested`]), then stops
    /// accepting, gives requests in flight [`SHUTDOWN_GRACE`], closes what is left and returns.
    /// Nothing after a successful bind stops it early: a failed accept is logged and retried.
    ///
    /// [`Shutdown::requested`]: crate::shutdown::Shutdown::requested
    pub async fn serve<F: Future>(self, shutdown: F) {
        let MetricsServer {
            listener,
            endpoints,
            ..
        } = self;
        let mut shutdown = std::pin::pin!(shutdown);
        let graceful = GracefulShutdown::new();
        // Dropping the set aborts its tasks: no connection outlives `serve`.
        let mut connections = JoinSet::new();
        loop {
            while connections.try_join_next().is_some() {}
            if connections.len() >= MAX_CONNECTIONS {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = connections.join_next() => continue,
                }
            }
            let stream = tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        crate::warn!("metrics endpoint: accept failed", error = error);
                        tokio::select! {
                            _ = &mut shutdown => break,
                            () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                        }
                    }
                },
            };
            let endpoints = Arc::clone(&endpoints);
            let service = service_fn(move |request: Request<Incoming>| {
                let endpoints = Arc::clone(&endpoints);
                async move { Ok::<_, Infallible>(endpoints.respond(&request).await) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            connections.spawn(async move {
                // A failed or timed-out connection concerns only its client.
                let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
            });
        }
        drop(listener);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
        connections.shutdown().await;
    }
}

impl Endpoints {
    async fn respond(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path();
        if !matches!(path, "/healthz" | "/readyz" | "/metrics") {
            return text(StatusCode::NOT_FOUND, "not found".into());
        }
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed".into());
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match path {
            "/healthz" => text(StatusCode::OK, "ok".into()),
            "/readyz" => match self.readiness.state() {
                ReadyState::Ready => text(StatusCode::OK, "ok".into()),
                ReadyState::NotReady(reason) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {reason}"),
                ),
            },
            _ => self.metrics().await,
        }
    }

    /// The registry, gathered on the blocking pool: a collector may take its time (a large
    /// table, or podkit-metrics' JSON input fetching on each scrape within its timeout), and on
    /// the runtime's thread it would hold `/healthz`, `/readyz` and the tool's own tasks with it.
    async fn metrics(&self) -> Response<Full<Bytes>> {
        let registry = self.registry.clone();
        let body = match tokio::task::spawn_blocking(move || encode(&registry)).await {
            Ok(Ok(body)) => body,
            Ok(Err(error)) => {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot encode metrics: {error}"),
                )
            }
            Err(error) => {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot gather metrics: {error}"),
                )
            }
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        if let Ok(format) = HeaderValue::from_str(TextEncoder::new().format_type()) {
            response.headers_mut().insert(CONTENT_TYPE, format);
        }
        response
    }
}

/// The body of `/metrics`: the registry, then the text sources. Blocking (it runs on the blocking
/// pool): a text source's table of 100,000 series takes tens of milliseconds to write.
fn encode(registry: &Registry) -> prometheus::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(4096);
    TextEncoder::new().encode(&registry.gather(), &mut body)?;
    for source in TEXT_SOURCES
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
    {
        source.append(&mut body);
    }
    Ok(body)
}

/// A one-line plain-text answer, newline-terminated for people using curl.
fn text(status: StatusCode, mut line: String) -> Response<Full<Bytes>> {
    line.push('\n');
    let mut response = Response::new(Full::new(Bytes::from(line)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shutdown::Shutdown;
    use prometheus::IntCounter;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::task::JoinHandle;

    /// What a client saw: status code, headers (names lower-cased) and body.
    #[derive(Debug)]
    struct Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Answer {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        }
    }

    /// A real HTTP/1.1 exchange over TCP, read until the server closes the connection.
    async fn request(addr: SocketAddr, method: &str, path: &str) -> Answer {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await.expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("receive");
        let raw = String::from_utf8(raw).expect("UTF-8 answer");
        let (head, body) = raw.split_once("\r\n\r\n").expect("a complete head");
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(key, value)| (key.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        Answer {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    struct Running {
        addr: SocketAddr,
        shutdown: Shutdown,
        server: JoinHandle<()>,
    }

    async fn start(registry: Registry, readiness: Readiness) -> Running {
        let server = MetricsServer::bind("127.0.0.1:0".parse().expect("addr"), registry, readiness)
            .await
            .expect("bind a free port");
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        let shutdown = Shutdown::manual();
        let stop = shutdown.clone();
        let server = tokio::spawn(server.serve(async move { stop.requested().await }));
        Running {
            addr,
            shutdown,
            server,
        }
    }

    impl Running {
        async fn stop(self) {
            self.shutdown.trigger();
            self.server.await.expect("serve returns after shutdown");
        }
    }

    /// A collector that holds its scrape until released (or a hang guard passes), and says
    /// whether it still holds it.
    #[derive(Clone)]
    struct Held {
        release: Arc<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>,
        holding: Arc<std::sync::atomic::AtomicBool>,
        /// Set once the scrape started, never cleared: what the test waits for.
        entered: Arc<std::sync::atomic::AtomicBool>,
        descs: Vec<prometheus::core::Desc>,
    }

    impl prometheus::core::Collector for Held {
        fn desc(&self) -> Vec<&prometheus::core::Desc> {
            self.descs.iter().collect()
        }

        fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
            use std::sync::atomic::Ordering;
            self.holding.store(true, Ordering::SeqCst);
            self.entered.store(true, Ordering::SeqCst);
            let release = self.release.lock().expect("one scrape at a time");
            let _ = release.recv_timeout(Duration::from_secs(10));
            self.holding.store(false, Ordering::SeqCst);
            Vec::new()
        }
    }

    #[tokio::test]
    async fn a_slow_collector_holds_its_scrape_but_not_healthz() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let (release, released) = std::sync::mpsc::channel();
        let holding = Arc::new(AtomicBool::new(false));
        let entered = Arc::new(AtomicBool::new(false));
        let held = Held {
            entered: Arc::clone(&entered),
            release: Arc::new(std::sync::Mutex::new(released)),
            holding: Arc::clone(&holding),
            descs: vec![prometheus::core::Desc::new(
                "held".into(),
                "A collector that takes its time.".into(),
                Vec::new(),
                Default::default(),
            )
            .expect("a desc")],
        };
        let registry = Registry::new();
        registry.register(Box::new(held)).expect("register");
        let running = start(registry, Readiness::default()).await;
        let scrape = tokio::spawn(request(running.addr, "GET", "/metrics"));
        // Bounded: a scrape that never reaches the collector fails here, not by hanging.
        tokio::time::timeout(Duration::from_secs(10), async {
            while !entered.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the scrape reached the collector within 10 s");

        // Were the scrape gathered on the runtime's thread, /healthz would answer only once
        // the collector let go (after its hang guard).
        let answer = request(running.addr, "GET", "/healthz").await;
        assert_eq!(answer.status, 200);
        assert!(
            holding.load(Ordering::SeqCst),
            "/healthz waited for the scrape"
        );

        release.send(()).expect("release the scrape");
        assert_eq!(scrape.await.expect("the scrape").status, 200);
        running.stop().await;
    }

    #[tokio::test]
    async fn healthz_answers_ok_while_the_process_runs() {
        let running = start(Registry::new(), Readiness::default()).await;

        let answer = request(running.addr, "GET", "/healthz").await;

        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, "ok\n");
        assert_eq!(answer.header("content-type"), Some(TEXT));
        running.stop().await;
    }

    #[tokio::test]
    async fn readyz_follows_the_readiness_handle_with_a_one_line_reason() {
        let readiness = Readiness::new("loading the certificate");
        let running = start(Registry::new(), readiness.clone()).await;

        let starting = request(running.addr, "GET", "/readyz").await;
        assert_eq!(starting.status, 503);
        assert_eq!(starting.body, "not ready: loading the certificate\n");

        readiness.set_ready();
        let ready = request(running.addr, "GET", "/readyz").await;
        assert_eq!(ready.status, 200);
        assert_eq!(ready.body, "ok\n");

        readiness.set_not_ready("certificate expired\nat 2025-01-01");
        let expired = request(running.addr, "GET", "/readyz").await;
        assert_eq!(expired.status, 503);
        assert_eq!(
            expired.body,
            "not ready: certificate expired at 2025-01-01\n"
        );
        assert_eq!(
            expired.header("content-length"),
            Some(expired.body.len().to_string().as_str())
        );
        running.stop().await;
    }

    #[tokio::test]
    async fn metrics_appends_what_text_sources_write_after_the_registry() {
        // The list is the process's: this source shows in every other test's /metrics too,
        // which only ever look for their own lines.
        struct Table;
        impl TextSource for Table {
            fn append(&self, body: &mut Vec<u8>) {
                body.extend_from_slice(b"# TYPE podkit_test_table gauge\npodkit_test_table 7\n");
            }
        }
        add_text_source(Arc::new(Table));
        let registry = Registry::new();
        register_build_info(&registry, "podkit-test", "1.2.3").expect("build info registers");
        let running = start(registry, Readiness::default()).await;

        let answer = request(running.addr, "GET", "/metrics").await;

        let registry_at = answer
            .body
            .find("podkit_build_info{")
            .expect("the registry's");
        let table_at = answer
            .body
            .find("\npodkit_test_table 7\n")
            .unwrap_or_else(|| panic!("the source's: {}", answer.body));
        assert!(registry_at < table_at, "{}", answer.body);
        running.stop().await;
    }

    #[tokio::test]
    async fn metrics_renders_registered_metrics_in_the_prometheus_text_format() {
        let registry = Registry::new();
        register_build_info(&registry, "podkit-test", "1.2.3").expect("build info registers");
        let events = IntCounter::new("podkit_test_events_total", "Events seen.").expect("counter");
        registry
            .register(Box::new(events.clone()))
            .expect("counter registers");
        events.inc_by(3);
        let running = start(registry, Readiness::default()).await;

        let answer = request(running.addr, "GET", "/metrics?ignored=query").await;

        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.header("content-type"),
            Some("text/plain; version=0.0.4")
        );
        assert!(
            answer
                .body
                .contains("# TYPE podkit_test_events_total counter\n"),
            "{}",
            answer.body
        );
        assert!(
            answer.body.contains("\npodkit_test_events_total 3\n"),
            "{}",
            answer.body
        );
        assert!(
            answer
                .body
                .contains("podkit_build_info{tool=\"podkit-test\",version=\"1.2.3\"} 1\n"),
            "{}",
            answer.body
        );

        events.inc();
        let later = request(running.addr, "GET", "/metrics").await;
        assert!(later.body.contains("\npodkit_test_events_total 4\n"));
        running.stop().await;
    }

    #[tokio::test]
    async fn unknown_paths_are_404_and_other_methods_405() {
        let running = start(Registry::new(), Readiness::default()).await;

        for path in ["/", "/health", "/healthz/", "/metrics/x"] {
            let answer = request(running.addr, "GET", path).await;
            assert_eq!(answer.status, 404, "GET {path}");
            assert_eq!(answer.body, "not found\n");
        }
        for method in ["POST", "PUT", "DELETE"] {
            let answer = request(running.addr, method, "/healthz").await;
            assert_eq!(answer.status, 405, "{method} /healthz");
            assert_eq!(answer.header("allow"), Some("GET, HEAD"));
        }
        running.stop().await;
    }

    #[tokio::test]
    async fn head_answers_like_get_without_a_body() {
        let readiness = Readiness::default();
        readiness.set_ready();
        let running = start(Registry::new(), readiness).await;

        for path in ["/healthz", "/readyz", "/metrics"] {
            let answer = request(running.addr, "HEAD", path).await;
            assert_eq!(answer.status, 200, "HEAD {path}");
            assert_eq!(answer.body, "", "HEAD {path}");
        }
        running.stop().await;
    }

    #[tokio::test]
    async fn after_shutdown_serve_returns_and_the_port_refuses() {
        let running = start(Registry::new(), Readiness::default()).await;
        let addr = running.addr;
        // A client that connected and never sent a request must not hold the stop up.
        let mut silent = TcpStream::connect(addr).await.expect("connect");
        assert_eq!(request(addr, "GET", "/healthz").await.status, 200);

        running.stop().await;

        let refused = TcpStream::connect(addr).await.expect_err("nothing listens");
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        let mut rest = Vec::new();
        let closed = silent.read_to_end(&mut rest).await;
        assert!(
            matches!(closed, Ok(0)) || closed.is_err(),
            "the silent connection was closed: {closed:?}"
        );
    }

    #[tokio::test]
    async fn bind_error_names_the_address() {
        let taken = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = taken.local_addr().expect("addr");

        let error = MetricsServer::bind(addr, Registry::new(), Readiness::default())
            .await
            .expect_err("the port is taken");

        let ServeError::Bind { addr: named, .. } = &error;
        assert_eq!(*named, addr);
        let line = error.to_string();
        assert!(
            line.starts_with(&format!("cannot listen on {addr}: ")),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn readiness_is_shared_by_clones_and_starts_not_ready() {
        let readiness = Readiness::default();
        let clone = readiness.clone();
        assert_eq!(clone.state(), ReadyState::NotReady("starting".into()));

        readiness.set_ready();
        assert!(clone.is_ready());

        clone.set_not_ready("draining\r\n");
        assert_eq!(readiness.state(), ReadyState::NotReady("draining".into()));
    }

    #[test]
    fn build_info_registers_once() {
        let registry = Registry::new();
        register_build_info(&registry, "podkit-test", "1.2.3").expect("first time");
        assert!(register_build_info(&registry, "podkit-test", "1.2.3").is_err());
    }
}
