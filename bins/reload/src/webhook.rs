//! The webhook: one HTTP request per change (`POST http://127.0.0.1:9090/-/reload` for
//! Prometheus), retried with exponential backoff and jitter until a status in range comes back.
//!
//! Credentials in the URL (`http://user:password@host/`) become a basic `Authorization` header
//! and are never logged: the URL is kept and shown without them.

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;

/// The first retry waits this long; each next one twice as long, with jitter.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Webhook {
    method: Method,
    uri: Uri,
    /// The URL without credentials, for logs.
    shown: String,
    host: String,
    port: u16,
    headers: Vec<(HeaderName, HeaderValue)>,
    statuses: (u16, u16),
    timeout: Duration,
    retries: u32,
}

impl Webhook {
    pub fn new(
        url: &str,
        method: &str,
        headers: &[String],
        statuses: &str,
        timeout: Duration,
        retries: u32,
    ) -> Result<Webhook, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            "only http:// URLs (a webhook is normally on the pod's loopback)".to_owned()
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => (Some(credentials), host_port),
            None => (None, authority),
        };
        let shown = format!("http://{host_port}{path}");
        let uri: Uri = shown
            .parse()
            .map_err(|_| format!("not a valid URL: {shown:?}"))?;
        let host = uri
            .host()
            .ok_or_else(|| format!("no host in {shown:?}"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(80);
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("--webhook-method: not a method: {method:?}"))?;
        let mut parsed = Vec::new();
        if let Some(credentials) = credentials {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(percent_decode(credentials));
            let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                .map_err(|_| "credentials that cannot be a header".to_owned())?;
            value.set_sensitive(true);
            parsed.push((AUTHORIZATION, value));
        }
        for header in headers {
            let (name, value) = header.split_once(':').ok_or_else(|| {
                format!("--webhook-header: expected 'Name: value', got {header:?}")
            })?;
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| format!("--webhook-header: not a header name: {name:?}"))?;
            let value = HeaderValue::from_str(value.trim())
                .map_err(|_| format!("--webhook-header {name}: not a header value"))?;
            parsed.push((name, value));
        }
        Ok(Webhook {
            method,
            uri,
            shown,
            host,
            port,
            headers: parsed,
            statuses: parse_statuses(statuses)?,
            timeout,
            retries,
        })
    }

    /// Calls the webhook, retrying failures; `Err` is the last failure.
    pub async fn call(&self) -> Result<(), String> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            let result = tokio::time::timeout(self.timeout, self.attempt())
                .await
                .unwrap_or_else(|_| Err("timed out".to_owned()));
            match result {
                Ok(()) => return Ok(()),
                Err(e) if attempt >= self.retries => {
                    return Err(format!("{} {}: {e}", self.method, self.shown))
                }
                Err(e) => {
                    podkit::warn!("webhook failed, retrying", url = self.shown, error = e);
                    tokio::time::sleep(jitter(backoff)).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self) -> Result<(), String> {
        let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(self.uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(HOST, self.uri.authority().map_or("", |a| a.as_str()))
            .header(
                USER_AGENT,
                concat!("podkit-reload/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        for (name, value) in &self.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        // Read the answer to its end, so that the server sees a complete exchange.
        let _ = response.into_body().collect().await;
        let (low, high) = self.statuses;
        if (low..=high).contains(&status) {
            Ok(())
        } else {
            Err(format!("status {status}"))
        }
    }
}

/// `200-299` or `204`.
fn parse_statuses(text: &str) -> Result<(u16, u16), String> {
    let bad = || format!("--webhook-status: expected 200-299 or 204, got {text:?}");
    let (low, high) = text.split_once('-').unwrap_or((text, text));
    let low: u16 = low.trim().parse().map_err(|_| bad())?;
    let high: u16 = high.trim().parse().map_err(|_| bad())?;
    if !(100..=599).contains(&low) || !(low..=599).contains(&high) {
        return Err(bad());
    }
    Ok((low, high))
}

/// `user%40corp:p%3Ass` -> `user@corp:p:ss`: the URL's userinfo is percent-encoded.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' {
            if let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Between half and all of `backoff`, so that many pods updated at once do not retry in step.
fn jitter(backoff: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let fraction = 0.5 + f64::from(nanos % 1000) / 2000.0;
    backoff.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_become_basic_auth_and_leave_the_shown_url() {
        let hook = Webhook::new(
            "http://admin:s%3Acret@127.0.0.1:9090/-/reload",
            "POST",
            &[],
            "200-299",
            Duration::from_secs(1),
            0,
        )
        .unwrap();
        assert_eq!(hook.shown, "http://127.0.0.1:9090/-/reload");
        assert!(!format!("{hook:?}").contains("cret"), "{hook:?}");
        let (_, value) = &hook.headers[0];
        let expected = base64::engine::general_purpose::STANDARD.encode("admin:s:cret");
        assert_eq!(value.to_str().unwrap(), format!("Basic {expected}"));
    }

    #[test]
    fn statuses_are_a_range_or_one_code() {
        assert_eq!(parse_statuses("200-299"), Ok((200, 299)));
        assert_eq!(parse_statuses("204"), Ok((204, 204)));
        for bad in ["", "2xx", "299-200", "600", "200-"] {
            assert!(parse_statuses(bad).is_err(), "{bad}");
        }
    }
}
