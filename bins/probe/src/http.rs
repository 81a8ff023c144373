//! The HTTP check, with the kubelet's semantics: GET, healthy iff 200 <= status < 400, redirects
//! to the same host followed (at most 10), a redirect to another host taken as the answer with a
//! warning, at most 10 KiB of body read, `User-Agent: kube-probe/<major>.<minor>` and
//! `Accept: */*` unless overridden, `Connection: close`. The URL parsing (a redirect's Location
//! included) and each request are [`podkit::http`]'s; the rules above are this module's.

use std::sync::{Arc, OnceLock};

use hyper::header::{HeaderName, HeaderValue, ACCEPT, CONNECTION, HOST, LOCATION, USER_AGENT};
use hyper::Method;
use podkit::cli::{Blame, UsageError};
use podkit::connect::TlsTarget;
use podkit::http::{Body, BodyError, Header, HttpError, Request, Statuses, Url};
use podkit::tls::rustls::ClientConfig;
use podkit::tls::ClientTls;
use tokio::time::Instant;

use crate::outcome::{Finding, TimedOut};

/// The kubelet version whose probe podkit-probe impersonates by default.
pub const USER_AGENT_DEFAULT: &str = "kube-probe/1.34";
/// How much of the body the kubelet reads, and so the most a body expectation can see.
const BODY_LIMIT: usize = 10 * 1024;
/// The kubelet stops at the 10th redirect: at most 10 requests in all.
const MAX_REQUESTS: usize = 10;

/// Everything an HTTP check needs, parsed.
pub struct HttpCheck {
    pub url: Url,
    pub method: Method,
    /// Request headers, the defaults already replaced by the user's.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub host_header: Option<HeaderValue>,
    pub expect_status: Statuses,
    pub expect_body: Option<regex_lite::Regex>,
    pub unix_socket: Option<std::path::PathBuf>,
    pub tls: ClientTls,
    pub server_name: Option<String>,
    /// The URL's host as written, which a redirect's must equal to be followed.
    host_as_written: String,
    /// Built on first use: a plain-HTTP check never reads a CA bundle.
    tls_config: OnceLock<Result<Arc<ClientConfig>, String>>,
}

impl HttpCheck {
    /// The check `podkit-probe http` describes.
    pub fn new(args: crate::cli::HttpArgs) -> Result<HttpCheck, UsageError> {
        let tls_flags_given = args.tls.given_without_tls().is_some();
        let mut check =
            HttpCheck::defaults(&args.url, args.tls.client(args.k8s), args.tls.server_name)?;
        check.method = Method::from_bytes(args.method.as_bytes())
            .map_err(|_| format!("invalid method {:?}", args.method))
            .blame("--method")?;
        // A header the user gives replaces the default of that name; given twice, both go.
        let mut given: Vec<_> = args
            .headers
            .into_iter()
            .map(|Header { name, value }| (name, value))
            .collect();
        check
            .headers
            .retain(|(default, _)| !given.iter().any(|(name, _)| name == default));
        // The kubelet sets a Host given among its headers as the request's Host, not as a
        // second header; --host says the same and wins.
        let host_from_headers = given
            .iter()
            .rposition(|(name, _)| name == HOST)
            .map(|at| given.remove(at).1);
        given.retain(|(name, _)| name != HOST);
        check.headers.extend(given);
        // An empty Accept or User-Agent means "send none", as in the kubelet and Go's client.
        check
            .headers
            .retain(|(name, value)| !(value.is_empty() && (name == ACCEPT || name == USER_AGENT)));
        check.host_header = args.host.or(host_from_headers);
        check.expect_status = args.expect_status;
        check.expect_body = args.expect_body;
        check.unix_socket = args.unix_socket;
        if args.tls.tls {
            return Err(UsageError::flag(
                "--tls",
                "the URL's scheme decides; use an https:// URL",
            ));
        }
        // TLS settings for an http:// URL serve a redirect to https: check them now all the same,
        // so that a bad one is a configuration error (exit 2) whatever the server answers.
        if tls_flags_given {
            check.check_tls_settings()?;
        }
        Ok(check)
    }

    /// Builds the TLS configuration and checks the server name now, so that a bad `--ca`,
    /// `--cert` or `--server-name` is a configuration error (exit 2), not an unreachable target.
    fn check_tls_settings(&self) -> Result<(), UsageError> {
        self.tls_target(&self.url)
            .map(drop)
            .map_err(UsageError::new)
    }

    /// Whom a TLS connection to `url` expects: the name the server's certificate must carry,
    /// and the SNI sent, is `--server-name`, else the URL's host, as Go (the kubelet's client)
    /// does; a Host header does not change it, and an IP address sends no SNI.
    fn tls_target(&self, url: &Url) -> Result<TlsTarget, String> {
        let name = self.server_name.as_deref().unwrap_or(url.host());
        TlsTarget::new(self.tls_config()?, name).map_err(|e| e.to_string())
    }

    /// A GET of `url` with the kubelet's defaults: what a `wait` target means.
    pub fn defaults(
        url: &str,
        tls: ClientTls,
        server_name: Option<String>,
    ) -> Result<HttpCheck, UsageError> {
        let parsed = Url::parse(url).map_err(UsageError::new)?;
        let host_as_written = hostname_as_written(url).unwrap_or(parsed.host()).to_owned();
        let check = HttpCheck {
            url: parsed,
            method: Method::GET,
            headers: vec![
                (USER_AGENT, HeaderValue::from_static(USER_AGENT_DEFAULT)),
                (ACCEPT, HeaderValue::from_static("*/*")),
                (CONNECTION, HeaderValue::from_static("close")),
            ],
            host_header: None,
            expect_status: Statuses::between(200, 399),
            expect_body: None,
            unix_socket: None,
            tls,
            server_name,
            host_as_written,
            tls_config: OnceLock::new(),
        };
        if check.url.is_https() {
            check.check_tls_settings()?;
        }
        Ok(check)
    }

    /// Runs the check, redirects included, by `deadline`.
    pub async fn run(&self, deadline: Instant) -> Result<Finding, TimedOut> {
        let mut url = self.url.clone();
        let mut host = self.host_as_written.clone();
        let mut host_header = self.host_header.clone();
        let mut requests = 0;
        loop {
            requests += 1;
            let request = match self.request(url, host_header) {
                Ok(request) => request,
                Err(why) => return Ok(Finding::unreachable(why)),
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let response = match request.send(left).await {
                Ok(response) => response,
                Err(HttpError::TimedOut) => return Err(TimedOut),
                Err(error) => return Ok(Finding::unreachable(error.to_string())),
            };
            let status = response.status;
            // Go's client, the kubelet's, follows these and judges any other 3xx as it is.
            let followed = matches!(status, 301 | 302 | 303 | 307 | 308);
            let location = response
                .headers
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .filter(|_| followed);
            let Some(location) = location else {
                return Ok(self.judge(status, &response.body, None));
            };
            let next = match request.url().join(location) {
                Ok(next) => next,
                Err(why) => {
                    let why = format!("redirect: {why}");
                    return Ok(Finding::unhealthy(Some(status.to_string()), why));
                }
            };
            // The kubelet's rules, in its order: a redirect to a host other than the first
            // request's is not followed (its 3xx is the answer); then no more than 10 requests.
            // The hosts are compared as written, as Go's `URL.Hostname()` strings: `LOCALHOST`
            // is another host than `localhost`. A Location without a host keeps the current one.
            if let Some(written) = hostname_as_written(location) {
                host = written.to_owned();
            }
            if host != self.host_as_written {
                let warning = format!("redirect to another host ({host}) not followed");
                return Ok(self.judge(status, &response.body, Some(warning)));
            }
            if requests >= MAX_REQUESTS {
                let why = format!("stopped after {MAX_REQUESTS} redirects");
                return Ok(Finding::unhealthy(Some(status.to_string()), why));
            }
            // Like Go's client: the first request's custom Host goes along with a relative
            // Location, and an absolute one drops it.
            host_header = if Url::is_absolute(location) {
                None
            } else {
                self.host_header.clone()
            };
            url = next;
        }
    }

    fn judge(
        &self,
        status: u16,
        body: &Result<Body, BodyError>,
        warning: Option<String>,
    ) -> Finding {
        let shown = Some(status.to_string());
        // The kubelet reads the body before it looks at the status, and a body that breaks off
        // is an error there (the probe errored), not a failure: unreachable, exit 3.
        let body = match body {
            Ok(body) => body,
            Err(why) => {
                return Finding {
                    status: shown,
                    ..Finding::unreachable(why.to_string())
                }
            }
        };
        if !self.expect_status.contains(status) {
            return Finding::unhealthy(shown, format!("status {status} is not expected"));
        }
        if let Some(pattern) = &self.expect_body {
            if !pattern.is_match(&String::from_utf8_lossy(&body.bytes)) {
                return Finding::unhealthy(
                    shown,
                    format!("body does not match {:?}", pattern.as_str()),
                );
            }
        }
        Finding {
            detail: warning,
            ..Finding::healthy(shown)
        }
    }

    /// One request of the check: to `url`, or through `--unix-socket`, read as the kubelet
    /// reads: up to 10 KiB of the body, always, under the timeout.
    fn request(&self, url: Url, host_header: Option<HeaderValue>) -> Result<Request, String> {
        let tls = if url.is_https() {
            Some(self.tls_target(&url)?)
        } else {
            None
        };
        Ok(Request::new(self.method.clone(), url)
            .headers(self.headers.iter().cloned())
            .host(host_header)
            .unix_socket(self.unix_socket.clone())
            .tls(tls)
            .body_limit(BODY_LIMIT))
    }

    fn tls_config(&self) -> Result<Arc<ClientConfig>, String> {
        self.tls_config
            .get_or_init(|| {
                self.tls
                    .config(&[b"http/1.1"])
                    .map(Arc::new)
                    .map_err(|e| e.blamed_line())
            })
            .clone()
    }
}

/// The host of an absolute URL or a `//host/...` reference as written, as Go's `URL.Hostname()`
/// gives it: without userinfo, port or brackets, its letters' case kept. `None` for a reference
/// without a host (a path, a query), which keeps the current host.
fn hostname_as_written(reference: &str) -> Option<&str> {
    let authority = match reference.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => rest,
        _ => reference.strip_prefix("//")?,
    };
    let authority = authority.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(bracketed) = host_port.strip_prefix('[') {
        return bracketed.split_once(']').map(|(host, _)| host);
    }
    Some(match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => host_port,
    })
}

/// RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
fn is_scheme(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_alphabetic())
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::hostname_as_written;

    #[test]
    fn hosts_read_as_go_writes_hostname() {
        for (reference, host) in [
            ("http://LOCALHOST:8080/x", Some("LOCALHOST")),
            ("https://user:p@ss@Example.com/", Some("Example.com")),
            ("http://[::1]:80/", Some("::1")),
            ("http://[::1]/", Some("::1")),
            ("//elsewhere.test/landing", Some("elsewhere.test")),
            ("http://host?q", Some("host")),
            ("http://host:/", Some("host")),
            ("/landing/x", None),
            ("landing?full=1", None),
            ("../a//b", None),
        ] {
            assert_eq!(hostname_as_written(reference), host, "{reference}");
        }
    }
}
