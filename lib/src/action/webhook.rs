//! The webhook action: one HTTP request (`POST http://127.0.0.1:9090/-/reload` for Prometheus),
//! successful when its status is one the user accepts.
//!
//! It owns what a webhook request is (method, URL, headers, a `User-Agent` unless the user gave
//! one) and what counts as success. Sending is [`crate::http`]'s client, which turns the URL's
//! credentials into a basic `Authorization` header and never shows them: the URL's `Display`
//! omits them, so neither a log line nor an error here can carry them. Retrying and timing are
//! [`super::Action`]'s.

use std::fmt;
use std::time::Duration;

use http::header::USER_AGENT;
use http::{HeaderValue, Method};

use crate::http::{Header, HttpError, Request, Statuses, Url};

/// A webhook, ready to call as often as needed.
#[derive(Debug, Clone)]
pub struct Webhook {
    method: Method,
    request: Request,
    statuses: Statuses,
}

/// Why a call failed: the request and the reason, without the URL's credentials.
#[derive(Debug)]
pub enum WebhookError {
    /// No response: connection refused, reset, timed out.
    Http {
        method: Method,
        url: Url,
        error: HttpError,
    },
    /// A response whose status is not among those accepted.
    Status {
        method: Method,
        url: Url,
        status: u16,
    },
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookError::Http { method, url, error } => write!(f, "{method} {url}: {error}"),
            WebhookError::Status {
                method,
                url,
                status,
            } => write!(f, "{method} {url}: status {status}"),
        }
    }
}

impl std::error::Error for WebhookError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WebhookError::Http { error, .. } => Some(error),
            WebhookError::Status { .. } => None,
        }
    }
}

impl Webhook {
    /// A request of `method` to `url` with `headers`, a success when its status is in `statuses`.
    /// `user_agent` (`podkit-reload/0.1.0`) is sent unless `headers` name one.
    pub fn new(
        method: Method,
        url: Url,
        headers: &[Header],
        statuses: Statuses,
        user_agent: &'static str,
    ) -> Webhook {
        let mut request = Request::new(method.clone(), url);
        if !headers.iter().any(|header| header.name == USER_AGENT) {
            request = request.header(USER_AGENT, HeaderValue::from_static(user_agent));
        }
        let headers = headers
            .iter()
            .map(|header| (header.name.clone(), header.value.clone()));
        Webhook {
            method,
            request: request.headers(headers),
            statuses,
        }
    }

    /// The URL, whose `Display` omits its credentials.
    pub fn url(&self) -> &Url {
        self.request.url()
    }

    /// One call, within `timeout`. The body of the answer is read (up to the client's cap) so
    /// that the server sees a complete exchange; what it says does not matter.
    pub(super) async fn call(&self, timeout: Duration) -> Result<(), WebhookError> {
        let method = || self.method.clone();
        let response = self
            .request
            .send(timeout)
            .await
            .map_err(|error| WebhookError::Http {
                method: method(),
                url: self.url().clone(),
                error,
            })?;
        if self.statuses.contains(response.status) {
            Ok(())
        } else {
            Err(WebhookError::Status {
                method: method(),
                url: self.url().clone(),
                status: response.status,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A server on 127.0.0.1 that answers one request with `status` and returns its head.
    fn answer_once(status: u16) -> (u16, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("a request");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("a line of the head");
                if line.trim_end().is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            let answer = format!(
                "HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(answer.as_bytes()).expect("answer");
            head
        });
        (port, server)
    }

    fn webhook(url: &str, headers: &[&str]) -> Webhook {
        let headers: Vec<Header> = headers.iter().map(|h| Header::parse(h).unwrap()).collect();
        let url = Url::parse_http(url).unwrap();
        let statuses = "200-299".parse().unwrap();
        Webhook::new(Method::POST, url, &headers, statuses, "podkit-test/1")
    }

    #[tokio::test]
    async fn a_status_not_accepted_fails_naming_the_url_without_its_credentials() {
        let (port, server) = answer_once(503);
        let hook = webhook(
            &format!("http://admin:s3cret@127.0.0.1:{port}/-/reload"),
            &[],
        );

        let error = hook.call(Duration::from_secs(20)).await.unwrap_err();

        assert_eq!(
            error.to_string(),
            format!("POST http://127.0.0.1:{port}/-/reload: status 503")
        );
        assert!(!format!("{error:?}").contains("s3cret"), "{error:?}");
        let head = server.join().unwrap().to_ascii_lowercase();
        assert!(head.starts_with("post /-/reload http/1.1\r\n"), "{head}");
        assert!(head.contains("user-agent: podkit-test/1\r\n"), "{head}");
        assert!(
            head.contains("authorization: basic ywrtaw46cznjcmv0\r\n"),
            "admin:s3cret as basic auth: {head}"
        );
    }

    #[tokio::test]
    async fn an_accepted_status_succeeds_and_a_given_user_agent_replaces_the_default() {
        let (port, server) = answer_once(204);
        let hook = webhook(
            &format!("http://127.0.0.1:{port}/"),
            &["User-Agent: mine/2", "X-Reloaded-By: podkit"],
        );

        hook.call(Duration::from_secs(20))
            .await
            .expect("204 is in 200-299");

        let head = server.join().unwrap().to_ascii_lowercase();
        assert_eq!(head.matches("user-agent:").count(), 1, "{head}");
        assert!(head.contains("user-agent: mine/2\r\n"), "{head}");
        assert!(head.contains("x-reloaded-by: podkit\r\n"), "{head}");
    }
}
