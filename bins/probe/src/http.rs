//! The HTTP check, with the kubelet's semantics: GET, healthy iff 200 <= status < 400, redirects
//! to the same host followed (at most 10), a redirect to another host taken as the answer with a
//! warning, at most 10 KiB of body read, `User-Agent: kube-probe/<major>.<minor>` and
//! `Accept: */*` unless overridden, `Connection: close`.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper::header::{HeaderName, HeaderValue, ACCEPT, CONNECTION, HOST, LOCATION, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use podkit::tls::rustls::ClientConfig;
use podkit::tls::ClientTls;

use podkit::addr::Address;

use crate::connect::connect;
use crate::outcome::Finding;
use podkit::http::Statuses;

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
    pub host_header: Option<String>,
    pub expect_status: Statuses,
    pub expect_body: Option<regex_lite::Regex>,
    pub unix_socket: Option<std::path::PathBuf>,
    pub tls: ClientTls,
    pub server_name: Option<String>,
    /// Built on first use: a plain-HTTP check never reads a CA bundle.
    tls_config: OnceLock<Result<Arc<ClientConfig>, String>>,
}

/// An http(s) URL, split the way a request needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    /// Without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// As it goes in the Host header: `host[:port]`, brackets kept.
    pub authority: String,
    pub path_and_query: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let uri: Uri = text
            .parse()
            .map_err(|e| format!("invalid URL {text:?}: {e}"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(format!(
                    "invalid URL {text:?}: the scheme must be http or https"
                ))
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("invalid URL {text:?}: no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!(
                "invalid URL {text:?}: credentials in the URL are not supported; use --header"
            ));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path_and_query = uri
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned());
        Ok(Url {
            https,
            host,
            port,
            authority: authority.as_str().to_owned(),
            path_and_query,
        })
    }

    /// `location` (a redirect's Location) resolved against this URL as RFC 3986 section 5.2
    /// says, which is what the kubelet's Go client does.
    fn join(&self, location: &str) -> Result<Url, String> {
        let scheme = if self.https { "https" } else { "http" };
        if has_scheme(location) {
            return Url::parse(location);
        }
        if location.starts_with("//") {
            return Url::parse(&format!("{scheme}:{location}"));
        }
        let reference = location.split('#').next().unwrap_or_default();
        let (reference_path, reference_query) = split_query(reference);
        let (base_path, base_query) = split_query(&self.path_and_query);
        let (path, query) = if reference_path.is_empty() {
            (base_path.to_owned(), reference_query.or(base_query))
        } else if reference_path.starts_with('/') {
            (remove_dot_segments(reference_path), reference_query)
        } else {
            let directory = &base_path[..=base_path.rfind('/').unwrap_or(0)];
            (
                remove_dot_segments(&format!("{directory}{reference_path}")),
                reference_query,
            )
        };
        let query = query.map_or(String::new(), |q| format!("?{q}"));
        Url::parse(&format!("{scheme}://{}{path}{query}", self.authority))
    }
}

/// Whether a URI reference starts with `scheme:` (RFC 3986: ALPHA *( ALPHA / DIGIT / + - . )).
fn has_scheme(reference: &str) -> bool {
    let Some((scheme, _)) = reference.split_once(':') else {
        return false;
    };
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

fn split_query(reference: &str) -> (&str, Option<&str>) {
    match reference.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (reference, None),
    }
}

/// RFC 3986 section 5.2.4, for an absolute path: `/a/b/../c/./d` is `/a/c/d`.
fn remove_dot_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut ends_in_directory = false;
    for segment in path.split('/').skip(1) {
        ends_in_directory = matches!(segment, "." | "..");
        match segment {
            "." => {}
            ".." => {
                kept.pop();
            }
            segment => kept.push(segment),
        }
    }
    let mut resolved = format!("/{}", kept.join("/"));
    if ends_in_directory && !resolved.ends_with('/') {
        resolved.push('/');
    }
    resolved
}

impl HttpCheck {
    /// The check `podkit-probe http` describes.
    pub fn new(args: crate::cli::HttpArgs) -> Result<HttpCheck, String> {
        let tls_flags_given = args.tls.given_without_tls().is_some();
        let mut check =
            HttpCheck::defaults(&args.url, args.tls.client(args.k8s), args.tls.server_name)?;
        check.method = Method::from_bytes(args.method.as_bytes())
            .map_err(|_| format!("invalid method {:?}", args.method))?;
        // A header the user gives replaces the default of that name; given twice, both go.
        let mut given = Vec::new();
        for (name, value) in args.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name {name:?}"))?;
            let value = HeaderValue::from_str(&value)
                .map_err(|_| format!("invalid value for header {name}"))?;
            given.push((name, value));
        }
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
        let host_from_headers = host_from_headers
            .map(|value| {
                value
                    .to_str()
                    .map(str::to_owned)
                    .map_err(|_| "the Host header is not text".to_owned())
            })
            .transpose()?;
        check.host_header = args.host.or(host_from_headers);
        check.expect_status = args.expect_status;
        check.expect_body = args.expect_body;
        check.unix_socket = args.unix_socket;
        if args.tls.tls {
            return Err("--tls: the URL's scheme decides; use an https:// URL".to_owned());
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
    fn check_tls_settings(&self) -> Result<(), String> {
        self.tls_config()?;
        crate::connect::server_name(self.tls_name(&self.url)).map(drop)
    }

    /// The name the server's certificate must carry, and the SNI sent: `--server-name`, else the
    /// URL's host, as Go (the kubelet's client) does; a Host header does not change it, and an
    /// IP address sends no SNI.
    fn tls_name<'a>(&'a self, url: &'a Url) -> &'a str {
        self.server_name.as_deref().unwrap_or(&url.host)
    }

    /// A GET of `url` with the kubelet's defaults: what a `wait` target means.
    pub fn defaults(
        url: &str,
        tls: ClientTls,
        server_name: Option<String>,
    ) -> Result<HttpCheck, String> {
        let check = HttpCheck {
            url: Url::parse(url)?,
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
            tls_config: OnceLock::new(),
        };
        if check.url.https {
            check.check_tls_settings()?;
        }
        Ok(check)
    }

    /// Runs the check; the caller bounds it with the timeout.
    pub async fn run(&self) -> Finding {
        let mut url = self.url.clone();
        let mut host_header = self.host_header.clone();
        let mut requests = 0;
        loop {
            requests += 1;
            let response = match self.request(&url, host_header.as_deref()).await {
                Ok(response) => response,
                Err(why) => return Finding::unreachable(why),
            };
            let status = response.status;
            // Go's client, the kubelet's, follows these and judges any other 3xx as it is.
            let followed = matches!(status, 301 | 302 | 303 | 307 | 308);
            let Some(location) = response.location.filter(|_| followed) else {
                return self.judge(status, &response.body, None);
            };
            let next = match url.join(&location) {
                Ok(next) => next,
                Err(why) => {
                    return Finding::unhealthy(Some(status.to_string()), format!("redirect: {why}"))
                }
            };
            // The kubelet's rules, in its order: a redirect to a host other than the first
            // request's is not followed (its 3xx is the answer); then no more than 10 requests.
            if !next.host.eq_ignore_ascii_case(&self.url.host) {
                let warning = format!("redirect to another host ({}) not followed", next.host);
                return self.judge(status, &response.body, Some(warning));
            }
            if requests >= MAX_REQUESTS {
                let why = format!("stopped after {MAX_REQUESTS} redirects");
                return Finding::unhealthy(Some(status.to_string()), why);
            }
            // Like Go's client: the first request's custom Host goes along with a relative
            // Location, and an absolute one drops it.
            host_header = if has_scheme(&location) {
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
        body: &Result<Vec<u8>, String>,
        warning: Option<String>,
    ) -> Finding {
        let shown = Some(status.to_string());
        // The kubelet reads the body before it looks at the status: a body that breaks off fails.
        let body = match body {
            Ok(body) => body,
            Err(why) => return Finding::unhealthy(shown, why.clone()),
        };
        if !self.expect_status.contains(status) {
            return Finding::unhealthy(shown, format!("status {status} is not expected"));
        }
        if let Some(pattern) = &self.expect_body {
            if !pattern.is_match(&String::from_utf8_lossy(body)) {
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

    async fn request(&self, url: &Url, host_header: Option<&str>) -> Result<Response, String> {
        let endpoint = match &self.unix_socket {
            Some(path) => Address::Unix(path.clone()),
            None => Address::Tcp {
                host: url.host.clone(),
                port: url.port,
            },
        };
        let tls = if url.https {
            let config = self.tls_config()?;
            let name = self.tls_name(url);
            Some((config, name))
        } else {
            None
        };
        let stream = connect(&endpoint, tls).await.map_err(|e| e.0)?;
        let (mut sender, connection) = http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {endpoint}: {e}"))?;
        tokio::spawn(connection);
        let host = host_header.unwrap_or(&url.authority);
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(&url.path_and_query);
        request = request.header(HOST, host);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| format!("request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{endpoint}: {e}"))?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        // Read as the kubelet reads: up to 10 KiB, always, under the timeout; a body that breaks
        // off means the answer never fully came.
        let body = read_capped(response.into_body())
            .await
            .map_err(|e| format!("reading the body: {e}"));
        Ok(Response {
            status,
            location,
            body,
        })
    }

    fn tls_config(&self) -> Result<Arc<ClientConfig>, String> {
        self.tls_config
            .get_or_init(|| {
                self.tls
                    .config(&[b"http/1.1"])
                    .map(Arc::new)
                    .map_err(|e| crate::cli::describe_tls_error(&e))
            })
            .clone()
    }
}

struct Response {
    status: u16,
    location: Option<String>,
    /// What was read of the body, or why reading it failed.
    body: Result<Vec<u8>, String>,
}

/// The first [`BODY_LIMIT`] bytes of a body; an endless body costs no more than that.
async fn read_capped(mut body: hyper::body::Incoming) -> Result<Vec<u8>, hyper::Error> {
    let mut read = Vec::new();
    while read.len() < BODY_LIMIT {
        let Some(frame) = body.frame().await else {
            break;
        };
        if let Some(data) = frame?.data_ref() {
            let room = BODY_LIMIT - read.len();
            read.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_what_a_request_needs() {
        let url = Url::parse("http://[::1]:8080/healthz?full=1").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.https),
            ("::1", 8080, false)
        );
        assert_eq!(
            (url.authority.as_str(), url.path_and_query.as_str()),
            ("[::1]:8080", "/healthz?full=1")
        );
        let url = Url::parse("https://example.com").unwrap();
        assert_eq!((url.port, url.path_and_query.as_str()), (443, "/"));
        assert!(Url::parse("ftp://x/").is_err());
        assert!(Url::parse("http://user:pw@x/")
            .unwrap_err()
            .contains("credentials"));
    }

    #[test]
    fn redirect_locations_resolve_as_rfc_3986_says() {
        let base = Url::parse("http://a/b/c/d;p?q").unwrap();
        let resolve = |reference: &str| {
            let url = base.join(reference).unwrap();
            format!("{}{}", url.authority, url.path_and_query)
        };
        // The normal examples of RFC 3986 section 5.4.1, those with http URLs.
        for (reference, expected) in [
            ("g", "a/b/c/g"),
            ("./g", "a/b/c/g"),
            ("g/", "a/b/c/g/"),
            ("/g", "a/g"),
            ("//g", "g/"),
            ("?y", "a/b/c/d;p?y"),
            ("g?y", "a/b/c/g?y"),
            ("#s", "a/b/c/d;p?q"),
            ("", "a/b/c/d;p?q"),
            (".", "a/b/c/"),
            ("./", "a/b/c/"),
            ("..", "a/b/"),
            ("../", "a/b/"),
            ("../g", "a/b/g"),
            ("../..", "a/"),
            ("../../g", "a/g"),
            ("../../../g", "a/g"),
        ] {
            assert_eq!(resolve(reference), expected, "{reference:?}");
        }
    }

    #[test]
    fn redirect_locations_resolve_against_the_current_url() {
        let base = Url::parse("http://a:81/x/y?q").unwrap();
        assert_eq!(base.join("/z").unwrap().path_and_query, "/z");
        assert_eq!(base.join("z").unwrap().path_and_query, "/x/z");
        let other = base.join("https://b/").unwrap();
        assert_eq!((other.host.as_str(), other.https), ("b", true));
    }
}
