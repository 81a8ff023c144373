//! One fetch of a JSON input: a GET with lib's HTTP client, bounded in time and in size, its
//! failure named by one of [`RESULTS`] for the fetch counter. Nothing here logs or counts.

use std::time::Duration;

use podkit::http::{HttpError, Request};
use serde_json::Value;

/// How much of a response is read; a larger one is refused whole rather than parsed cut short.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// The `result` of `..._json_fetches_total`.
pub const RESULTS: [&str; 6] = ["ok", "timeout", "error", "status", "too_large", "malformed"];

/// Why a fetch gave no document.
#[derive(Debug)]
pub enum Failure {
    TimedOut,
    /// Connecting or the exchange failed, or the body broke off.
    Error(String),
    /// Not a 2xx answer.
    Status(u16),
    /// The body went on past [`MAX_BODY`].
    TooLarge,
    Malformed(serde_json::Error),
}

impl Failure {
    /// Its place in [`RESULTS`].
    pub fn result(&self) -> usize {
        match self {
            Failure::TimedOut => 1,
            Failure::Error(_) => 2,
            Failure::Status(_) => 3,
            Failure::TooLarge => 4,
            Failure::Malformed(_) => 5,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::TimedOut => f.write_str("timed out"),
            Failure::Error(error) => f.write_str(error),
            Failure::Status(code) => write!(f, "answered {code}"),
            Failure::TooLarge => write!(f, "the body is larger than {MAX_BODY} bytes"),
            Failure::Malformed(error) => write!(f, "not JSON: {error}"),
        }
    }
}

/// GETs the document, all within `timeout`.
pub async fn fetch(request: &Request, timeout: Duration) -> Result<Value, Failure> {
    let response = request.send(timeout).await.map_err(|error| match error {
        HttpError::TimedOut => Failure::TimedOut,
        // Display names the address, never the URL's credentials.
        error => Failure::Error(error.to_string()),
    })?;
    if !(200..300).contains(&response.status) {
        return Err(Failure::Status(response.status));
    }
    let body = response
        .body
        .map_err(|error| Failure::Error(error.to_string()))?;
    document(&body.bytes, body.truncated)
}

/// The document in a body read up to [`MAX_BODY`] (`truncated`: it went on past it), as a fetch
/// takes it; `check` takes a file the same way.
pub fn document(bytes: &[u8], truncated: bool) -> Result<Value, Failure> {
    if truncated {
        return Err(Failure::TooLarge);
    }
    // serde_json stops at 128 levels of nesting, so no document can exhaust the stack.
    serde_json::from_slice(bytes).map_err(Failure::Malformed)
}
