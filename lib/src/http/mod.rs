//! What an HTTP client needs, once for every tool: an http(s) [`Url`] parsed by a real URL
//! parser with its credentials split off and redacted, request [`Header`]s parsed from
//! `Name: value`, and the [`Statuses`] a caller accepts.
//!
//! Used by podkit-probe's http check, podkit-reload's webhooks and the metrics adapter's scrapes.
//! Behind the `http-client` feature: podkit-init never links it.

mod client;
mod header;
mod statuses;
mod url;

pub use self::client::{Body, BodyError, HttpError, Request, Response, DEFAULT_BODY_LIMIT};
pub use self::header::{Header, HeaderError};
pub use self::statuses::{Statuses, StatusesError};
pub use self::url::{Url, UrlError, UrlProblem};
pub use ::url::ParseError;
