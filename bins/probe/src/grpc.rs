//! The gRPC health check: one `grpc.health.v1.Health/Check` call over HTTP/2, either plain (h2c
//! with prior knowledge, as gRPC clients do) or TLS with ALPN `h2`, and its answer as a verdict.
//!
//! The two messages have one field each and are encoded by hand ([`wire`]): a generated client
//! (tonic, prost) would add far more to a binary that every pod pulls than they are worth.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, TE, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use podkit::addr::Address;
use podkit::cli::{Blame, UsageError};
use podkit::connect::{Connection, TlsTarget};
use podkit::tls::ClientTls;
use tokio::time::Instant;

use crate::cli::TlsArgs;
use crate::connect::connect;
use crate::outcome::{Finding, TimedOut};

/// The standard health RPC (grpc/grpc `doc/health-checking.md`).
const METHOD_PATH: &str = "/grpc.health.v1.Health/Check";
pub const USER_AGENT_DEFAULT: &str = concat!("podkit-probe/", env!("CARGO_PKG_VERSION"));
/// Enough of a body to see one largest accepted message and that something follows it; a server
/// streaming without end costs no more than this.
const BODY_LIMIT: usize = wire::PREFIX_LEN + wire::MAX_MESSAGE + 1;

/// TLS for a gRPC check: whom to trust and what to present, and the name the server's
/// certificate must carry (`None`: the endpoint's host).
#[derive(Debug, Clone)]
pub struct GrpcTls {
    pub client: ClientTls,
    pub server_name: Option<String>,
}

impl GrpcTls {
    /// The TLS that the flags ask for, `None` without `--tls`. A gRPC address has no scheme to
    /// say "TLS", so `--ca` and the others without `--tls` would go silently unused: that is a
    /// configuration error instead (as in grpc_health_probe).
    pub fn from_flags(flags: &TlsArgs) -> Result<Option<GrpcTls>, UsageError> {
        if !flags.tls {
            return match flags.given_without_tls() {
                Some(flag) => Err(UsageError::flag(flag, "only used with --tls")),
                None => Ok(None),
            };
        }
        Ok(Some(GrpcTls {
            client: flags.client(false),
            server_name: flags.server_name.clone(),
        }))
    }
}

/// What the call carries and how long each part may take, beyond the service asked about:
/// grpc_health_probe's `-rpc-header`, `-user-agent`, `-connect-timeout` and `-rpc-timeout`.
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// Request metadata, sent as given (names that gRPC itself sets are refused at the edge).
    pub metadata: Vec<(HeaderName, HeaderValue)>,
    /// `None` sends no user-agent.
    pub user_agent: Option<HeaderValue>,
    /// Connecting (TCP, and TLS with `--tls`) may take this long; `None`: up to the deadline.
    pub connect_timeout: Option<Duration>,
    /// The call may take this long once connected, and the server is told (`grpc-timeout`);
    /// `None`: what is left until the deadline.
    pub rpc_timeout: Option<Duration>,
}

impl Default for CallOptions {
    fn default() -> CallOptions {
        CallOptions {
            metadata: Vec::new(),
            user_agent: Some(HeaderValue::from_static(USER_AGENT_DEFAULT)),
            connect_timeout: None,
            rpc_timeout: None,
        }
    }
}

/// Everything a gRPC health check needs, parsed and ready: the `grpc` subcommand runs one, the
/// `wait` subcommand one per `grpc://` target.
pub struct GrpcCheck {
    endpoint: Address,
    service: String,
    /// Built in [`GrpcCheck::new`], so that a bad `--ca` or `--cert` is a configuration error,
    /// found before connecting, and a check run again (by `wait`) reads no file again.
    tls: Option<TlsTarget>,
    options: CallOptions,
    /// The framed request, encoded once.
    request: Bytes,
}

impl GrpcCheck {
    /// Prepares a check of `service` (empty: the server as a whole) at `endpoint`.
    pub fn new(
        endpoint: Address,
        service: String,
        tls: Option<GrpcTls>,
        options: CallOptions,
    ) -> Result<GrpcCheck, UsageError> {
        let tls = match tls {
            None => None,
            Some(tls) => {
                let name = match (tls.server_name, &endpoint) {
                    (Some(name), _) => name,
                    (None, Address::Tcp { host, .. }) => host.clone(),
                    (None, Address::Unix(_)) => {
                        return Err(UsageError::new(
                            "TLS over a unix socket needs --server-name",
                        ))
                    }
                };
                let config = tls.client.config(&[b"h2"]).map_err(UsageError::from)?;
                Some(TlsTarget::new(Arc::new(config), &name).map_err(UsageError::new)?)
            }
        };
        let request = wire::frame(&wire::encode_request(&service)).blame("--service")?;
        Ok(GrpcCheck {
            endpoint,
            service,
            tls,
            options,
            request: Bytes::from(request),
        })
    }

    /// Whether the call goes over TLS.
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The target as the outcome line names it: `grpc://HOST:PORT[/SERVICE]`, or
    /// `unix:PATH[?service=SERVICE]` for a unix socket.
    pub fn target(&self) -> String {
        match (&self.endpoint, self.service.as_str()) {
            (Address::Unix(_), "") => self.endpoint.to_string(),
            (Address::Unix(_), service) => format!("{}?service={service}", self.endpoint),
            (_, "") => format!("grpc://{}", self.endpoint),
            (_, service) => format!("grpc://{}/{service}", self.endpoint),
        }
    }

    /// Runs the check by `deadline`, which the caller also bounds the whole with: connecting
    /// within `--connect-timeout`, then the call within `--rpc-timeout`.
    pub async fn run(&self, deadline: Instant) -> Result<Finding, TimedOut> {
        let (connect_by, connect_limit) = within(deadline, self.options.connect_timeout);
        let connected = connect(&self.endpoint, connect_by, self.tls.as_ref()).await;
        let stream = match connected {
            Ok(Ok(stream)) => stream,
            Ok(Err(unreached)) => return Ok(unreached),
            Err(TimedOut) => return timed_out("connecting", connect_limit),
        };
        let (call_by, call_limit) = within(deadline, self.options.rpc_timeout);
        let left = call_by.saturating_duration_since(Instant::now());
        match tokio::time::timeout_at(call_by, self.call(stream, left)).await {
            Ok(Ok(answer)) => Ok(judge(&answer, &self.service)),
            Ok(Err(why)) => Ok(Finding::unreachable(why)),
            Err(_) => timed_out("the call", call_limit),
        }
    }

    /// Makes the call on `stream`, telling the server it has `left`, and reads the answer;
    /// `Err` is anything that kept the call from being answered at all (HTTP/2).
    async fn call(&self, stream: Connection, left: Duration) -> Result<Answer, String> {
        // The executor spawns on the current runtime, which is single-threaded: hyper's HTTP/2
        // tasks share the probe's one thread.
        let (mut sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP/2 handshake with {}: {}", self.endpoint, chain(&e)))?;
        tokio::spawn(connection);
        let authority = match &self.endpoint {
            Address::Tcp { .. } => self.endpoint.to_string(),
            Address::Unix(_) => "localhost".to_owned(),
        };
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("{scheme}://{authority}{METHOD_PATH}"))
            .header(CONTENT_TYPE, "application/grpc")
            .header(TE, "trailers")
            .header("grpc-timeout", grpc_timeout(left))
            .body(Full::new(self.request.clone()))
            .map_err(|e| format!("request to {}: {e}", self.endpoint))?;
        let headers = request.headers_mut();
        if let Some(user_agent) = &self.options.user_agent {
            headers.insert(USER_AGENT, user_agent.clone());
        }
        for (name, value) in &self.options.metadata {
            headers.append(name, value.clone());
        }
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("HTTP/2 with {}: {}", self.endpoint, chain(&e)))?;
        let (parts, mut body) = response.into_parts();
        let mut answer = Answer {
            http_status: parts.status,
            headers: parts.headers,
            body: Vec::new(),
            overflowed: false,
            trailers: HeaderMap::new(),
        };
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| format!("HTTP/2 with {}: {}", self.endpoint, chain(&e)))?;
            match frame.into_data() {
                Ok(data) => {
                    let room = BODY_LIMIT - answer.body.len();
                    answer.body.extend_from_slice(&data[..data.len().min(room)]);
                    if data.len() > room {
                        answer.overflowed = true;
                        break;
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        answer.trailers = trailers;
                    }
                }
            }
        }
        Ok(answer)
    }
}

/// The deadline of a step limited to `limit` (if any) that must also end by `deadline`, and the
/// limit that applies when it comes first (`None`: the caller's deadline came first).
fn within(deadline: Instant, limit: Option<Duration>) -> (Instant, Option<Duration>) {
    match limit.map(|limit| (Instant::now() + limit, limit)) {
        Some((by, limit)) if by < deadline => (by, Some(limit)),
        _ => (deadline, None),
    }
}

/// A step that ran out of its own time (`--connect-timeout`, `--rpc-timeout`) is unreachable,
/// as a timeout is; when the check's deadline came first, the caller words it.
fn timed_out(step: &str, limit: Option<Duration>) -> Result<Finding, TimedOut> {
    let limit = limit.ok_or(TimedOut)?;
    let limit = podkit::duration::format(limit);
    Ok(Finding::unreachable(format!(
        "{step} timed out after {limit}"
    )))
}

/// `grpc-timeout`: the time the server has, in milliseconds, in the at most 8 digits gRPC allows
/// (`doc/PROTOCOL-HTTP2.md`), rounded up so that a deadline never reads as already past.
fn grpc_timeout(left: Duration) -> HeaderValue {
    let millis = left.as_nanos().div_ceil(1_000_000).clamp(1, 99_999_999);
    // Digits and a letter: always a valid value.
    HeaderValue::try_from(format!("{millis}m")).unwrap_or(HeaderValue::from_static("1m"))
}

/// One call's response, as read off the connection.
struct Answer {
    http_status: StatusCode,
    headers: HeaderMap,
    /// At most [`BODY_LIMIT`] bytes.
    body: Vec<u8>,
    /// The body went on past [`BODY_LIMIT`] and was not read to its end (nor its trailers).
    overflowed: bool,
    trailers: HeaderMap,
}

/// The verdict on an answered call, by gRPC's rules: the HTTP status, then `grpc-status` (in the
/// trailers, or in the headers of a trailers-only response), then the serving status.
fn judge(answer: &Answer, service: &str) -> Finding {
    if answer.http_status != StatusCode::OK {
        return Finding::unhealthy(
            Some(code_for_http_status(answer.http_status)),
            format!(
                "HTTP status {}, not a gRPC answer",
                answer.http_status.as_u16()
            ),
        );
    }
    let content_type = answer.headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes);
    if !content_type.is_some_and(|t| t.starts_with(b"application/grpc")) {
        let shown = content_type.map_or("none".into(), String::from_utf8_lossy);
        return Finding::unhealthy(None, format!("not a gRPC answer (content-type {shown})"));
    }
    if answer.overflowed {
        let why = wire::unframe(&answer.body)
            .err()
            .unwrap_or(wire::WireError::TrailingBytes);
        return Finding::unhealthy(None, format!("malformed health response: {why}"));
    }
    let grpc_status = answer
        .trailers
        .get("grpc-status")
        .or_else(|| answer.headers.get("grpc-status"));
    let Some(grpc_status) = grpc_status else {
        return Finding::unhealthy(None, "the server sent no grpc-status".to_owned());
    };
    let code = std::str::from_utf8(grpc_status.as_bytes())
        .ok()
        .and_then(|s| s.parse::<u32>().ok());
    let Some(code) = code else {
        let shown = String::from_utf8_lossy(grpc_status.as_bytes());
        return Finding::unhealthy(None, format!("invalid grpc-status {shown:?}"));
    };
    if code != 0 {
        let message = answer
            .trailers
            .get("grpc-message")
            .or_else(|| answer.headers.get("grpc-message"))
            .map(|m| percent_decode(m.as_bytes()))
            .filter(|m| !m.is_empty());
        let name = code_name(code);
        let detail = message.unwrap_or_else(|| format!("the health call failed with {name}"));
        return Finding::unhealthy(Some(name), detail);
    }
    let serving = wire::unframe(&answer.body).and_then(wire::decode_response);
    let serving = match serving {
        Ok(serving) => serving,
        Err(why) => return Finding::unhealthy(None, format!("malformed health response: {why}")),
    };
    let subject = match service {
        "" => "the server".to_owned(),
        service => format!("service {service:?}"),
    };
    match serving {
        wire::SERVING => Finding::healthy(Some("SERVING".to_owned())),
        wire::NOT_SERVING => Finding::unhealthy(
            Some("NOT_SERVING".to_owned()),
            format!("{subject} is NOT_SERVING"),
        ),
        wire::SERVICE_UNKNOWN => Finding::unhealthy(
            Some("SERVICE_UNKNOWN".to_owned()),
            format!("{subject} is unknown to the server"),
        ),
        wire::UNKNOWN => Finding::unhealthy(
            Some("UNKNOWN".to_owned()),
            format!("{subject} reports its serving status as UNKNOWN"),
        ),
        other => Finding::unhealthy(
            Some(other.to_string()),
            format!("{subject} reports serving status {other}, which is not in the protocol"),
        ),
    }
}

/// The name of a gRPC status code, as grpc/grpc `doc/statuscodes.md` spells it.
fn code_name(code: u32) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    match usize::try_from(code).ok().and_then(|i| NAMES.get(i)) {
        Some(name) => (*name).to_owned(),
        None => format!("CODE_{code}"),
    }
}

/// The gRPC status a client reports for an HTTP status other than 200 (grpc/grpc
/// `doc/http-grpc-status-mapping.md`): what a proxy or a plain web server in front answered.
fn code_for_http_status(status: StatusCode) -> String {
    let code = match status.as_u16() {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502..=504 => 14,
        _ => 2,
    };
    code_name(code)
}

/// `grpc-message` is percent-encoded UTF-8; a malformed escape is kept as it is, never refused.
fn percent_decode(text: &[u8]) -> String {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut decoded = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let escape = match text.get(i..i + 3) {
            Some([b'%', high, low]) => hex(*high).zip(hex(*low)),
            _ => None,
        };
        match escape {
            Some((high, low)) => {
                // Two hex digits make at most 0xff: the cast cannot truncate.
                decoded.push((high * 16 + low) as u8);
                i += 3;
            }
            None => {
                decoded.push(text[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).trim().to_owned()
}

/// A hyper error with its causes, on one line: hyper's own message alone ("http2 error") does
/// not say what went wrong.
fn chain(error: &hyper::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The bytes on the wire: the two protobuf messages and gRPC's length-prefixed framing.
///
/// `HealthCheckRequest { string service = 1; }` and `HealthCheckResponse { ServingStatus status
/// = 1; }`; every message travels behind a 5-byte prefix (a compressed flag, then the length as
/// a big-endian u32). Decoding takes any bytes a server may send and fails with an error, never
/// a panic.
mod wire {
    use std::fmt;

    pub const PREFIX_LEN: usize = 5;
    /// The largest response message accepted: a health response is 2 bytes, so this leaves room
    /// for fields a newer server may add, and none for a stream of garbage.
    pub const MAX_MESSAGE: usize = 4096;

    /// `HealthCheckResponse.ServingStatus`.
    pub const UNKNOWN: i32 = 0;
    pub const SERVING: i32 = 1;
    pub const NOT_SERVING: i32 = 2;
    pub const SERVICE_UNKNOWN: i32 = 3;

    /// Why bytes from the server are not one valid health response.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum WireError {
        /// The bytes end inside a prefix, a message, a varint or a field.
        Truncated,
        /// The prefix declares a message longer than [`MAX_MESSAGE`].
        Oversized(u64),
        /// The message is compressed, though the request offered no compression.
        Compressed,
        /// More bytes follow the one message a unary call answers with.
        TrailingBytes,
        /// A varint of more than 64 bits.
        LongVarint,
        /// A protobuf wire type this message cannot contain (groups, or undefined ones).
        WireType(u8),
        /// A request message too long for the 32-bit length prefix.
        TooLong,
    }

    impl std::error::Error for WireError {}

    impl fmt::Display for WireError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                WireError::Truncated => f.write_str("truncated message"),
                WireError::Oversized(length) => {
                    write!(
                        f,
                        "message of {length} bytes, over the limit of {MAX_MESSAGE}"
                    )
                }
                WireError::Compressed => f.write_str("compressed message, which was not asked for"),
                WireError::TrailingBytes => f.write_str("more than one message"),
                WireError::LongVarint => f.write_str("varint longer than 64 bits"),
                WireError::WireType(wire_type) => write!(f, "unexpected wire type {wire_type}"),
                WireError::TooLong => f.write_str("too long for one gRPC message"),
            }
        }
    }

    /// `HealthCheckRequest { service }`; an empty service is proto3's default and so sent as no
    /// field at all.
    pub fn encode_request(service: &str) -> Vec<u8> {
        let mut message = Vec::with_capacity(service.len() + 11);
        if !service.is_empty() {
            message.push(1 << 3 | 2); // field 1, length-delimited
            put_varint(&mut message, service.len() as u64);
            message.extend_from_slice(service.as_bytes());
        }
        message
    }

    /// `message` behind its prefix: not compressed, then the length.
    pub fn frame(message: &[u8]) -> Result<Vec<u8>, WireError> {
        let length = u32::try_from(message.len()).map_err(|_| WireError::TooLong)?;
        let mut framed = Vec::with_capacity(PREFIX_LEN + message.len());
        framed.push(0);
        framed.extend_from_slice(&length.to_be_bytes());
        framed.extend_from_slice(message);
        Ok(framed)
    }

    /// The one message in a unary response body.
    pub fn unframe(body: &[u8]) -> Result<&[u8], WireError> {
        let (prefix, rest) = body
            .split_at_checked(PREFIX_LEN)
            .ok_or(WireError::Truncated)?;
        let [compressed, length @ ..] = prefix else {
            return Err(WireError::Truncated);
        };
        let length = u32::from_be_bytes(length.try_into().map_err(|_| WireError::Truncated)?);
        let length = u64::from(length);
        if length > MAX_MESSAGE as u64 {
            return Err(WireError::Oversized(length));
        }
        if *compressed != 0 {
            return Err(WireError::Compressed);
        }
        // At most MAX_MESSAGE, checked above: the cast cannot truncate.
        let length = length as usize;
        match rest.len().cmp(&length) {
            std::cmp::Ordering::Less => Err(WireError::Truncated),
            std::cmp::Ordering::Greater => Err(WireError::TrailingBytes),
            std::cmp::Ordering::Equal => Ok(rest),
        }
    }

    /// The serving status in a `HealthCheckResponse`: the last `status` field, as protobuf
    /// merges, or `UNKNOWN` (proto3's default) when there is none. Other fields are skipped.
    pub fn decode_response(mut message: &[u8]) -> Result<i32, WireError> {
        let mut status = UNKNOWN;
        while !message.is_empty() {
            let key = varint(&mut message)?;
            // The low three bits are the wire type: the cast keeps exactly them.
            let wire_type = (key & 7) as u8;
            match (key >> 3, wire_type) {
                // An enum is an int32 varint; protobuf keeps the low 32 bits of a longer one.
                (1, 0) => status = varint(&mut message)? as i32,
                (_, 0) => {
                    varint(&mut message)?;
                }
                (_, 1) => skip(&mut message, 8)?,
                (_, 2) => {
                    let length = varint(&mut message)?;
                    skip(&mut message, length)?;
                }
                (_, 5) => skip(&mut message, 4)?,
                (_, other) => return Err(WireError::WireType(other)),
            }
        }
        Ok(status)
    }

    fn put_varint(out: &mut Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            // The low seven bits, with the continuation bit: the cast keeps exactly them.
            out.push((value & 0x7f) as u8 | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    fn varint(input: &mut &[u8]) -> Result<u64, WireError> {
        let mut value = 0u64;
        for (i, byte) in input.iter().enumerate() {
            // A tenth byte may only carry the 64th bit.
            if i == 9 && *byte > 1 {
                return Err(WireError::LongVarint);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                *input = &input[i + 1..];
                return Ok(value);
            }
        }
        Err(WireError::Truncated)
    }

    fn skip(input: &mut &[u8], count: u64) -> Result<(), WireError> {
        let count = usize::try_from(count).map_err(|_| WireError::Truncated)?;
        *input = input.get(count..).ok_or(WireError::Truncated)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::wire::*;
    use super::*;
    use crate::outcome::Verdict;

    #[test]
    fn request_encodes_the_service_as_field_1_and_the_empty_service_as_nothing() {
        assert_eq!(encode_request(""), b"");
        assert_eq!(encode_request("db"), b"\x0a\x02db");
        // 200 bytes: the length takes a two-byte varint.
        let long = "s".repeat(200);
        let encoded = encode_request(&long);
        assert_eq!(&encoded[..3], b"\x0a\xc8\x01");
        assert_eq!(&encoded[3..], long.as_bytes());
    }

    #[test]
    fn frames_carry_an_uncompressed_flag_and_a_big_endian_length() {
        assert_eq!(frame(b"").unwrap(), b"\0\0\0\0\0");
        assert_eq!(frame(b"\x0a\x02db").unwrap(), b"\0\0\0\0\x04\x0a\x02db");
        assert_eq!(unframe(b"\0\0\0\0\x02\x08\x01"), Ok(&b"\x08\x01"[..]));
        assert_eq!(unframe(b"\0\0\0\0\0"), Ok(&b""[..]));
    }

    #[test]
    fn truncated_oversized_compressed_or_doubled_frames_are_errors() {
        assert_eq!(unframe(b""), Err(WireError::Truncated));
        assert_eq!(unframe(b"\0\0\0"), Err(WireError::Truncated));
        assert_eq!(unframe(b"\0\0\0\0\x02\x08"), Err(WireError::Truncated));
        assert_eq!(
            unframe(b"\0\xff\xff\xff\xff"),
            Err(WireError::Oversized(u64::from(u32::MAX)))
        );
        assert_eq!(
            unframe(&frame(&[0; MAX_MESSAGE + 1]).unwrap()),
            Err(WireError::Oversized(MAX_MESSAGE as u64 + 1))
        );
        assert!(unframe(&frame(&[0; MAX_MESSAGE]).unwrap()).is_ok());
        assert_eq!(
            unframe(b"\x01\0\0\0\x02\x08\x01"),
            Err(WireError::Compressed)
        );
        assert_eq!(
            unframe(b"\0\0\0\0\x02\x08\x01\0"),
            Err(WireError::TrailingBytes)
        );
    }

    #[test]
    fn responses_decode_to_the_last_status_skipping_other_fields() {
        assert_eq!(decode_response(b""), Ok(UNKNOWN));
        assert_eq!(decode_response(b"\x08\x01"), Ok(SERVING));
        assert_eq!(decode_response(b"\x08\x02"), Ok(NOT_SERVING));
        assert_eq!(decode_response(b"\x08\x01\x08\x03"), Ok(SERVICE_UNKNOWN));
        // Unknown fields of every wire type, around the status.
        let mixed = b"\x10\x96\x01\x19\0\0\0\0\0\0\0\0\x22\x02ab\x08\x01\x2d\0\0\0\0";
        assert_eq!(decode_response(mixed), Ok(SERVING));
        // A negative enum value: ten bytes, the low 32 bits kept.
        let negative = b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01";
        assert_eq!(decode_response(negative), Ok(-1));
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert_eq!(decode_response(b"\x08"), Err(WireError::Truncated));
        assert_eq!(decode_response(b"\x08\x80"), Err(WireError::Truncated));
        assert_eq!(decode_response(b"\x22\x05ab"), Err(WireError::Truncated));
        assert_eq!(decode_response(b"\x19\0\0"), Err(WireError::Truncated));
        assert_eq!(decode_response(b"\x0b"), Err(WireError::WireType(3)));
        assert_eq!(
            decode_response(b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02"),
            Err(WireError::LongVarint)
        );
        // A length of 2^64 - 1 must not overflow anything.
        let huge = b"\x22\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01";
        assert_eq!(decode_response(huge), Err(WireError::Truncated));
    }

    #[test]
    fn no_short_input_makes_the_decoders_panic() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let _ = decode_response(&[a, b]);
                let _ = decode_response(&[a, b, 0x80]);
                let _ = unframe(&[a, 0, 0, b]);
                let _ = unframe(&[0, 0, 0, a, b]);
            }
        }
    }

    fn answer(body: &[u8], trailers: &[(&'static str, &str)]) -> Answer {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        let mut trailer_map = HeaderMap::new();
        for (name, value) in trailers {
            trailer_map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        Answer {
            http_status: StatusCode::OK,
            headers,
            body: body.to_vec(),
            overflowed: false,
            trailers: trailer_map,
        }
    }

    fn result(verdict: Verdict, status: &str, detail: Option<&str>) -> Finding {
        Finding {
            verdict,
            status: Some(status.to_owned()),
            detail: detail.map(str::to_owned),
        }
    }

    #[test]
    fn serving_is_healthy_and_every_other_serving_status_unhealthy() {
        let ok = [("grpc-status", "0")];
        let serving = answer(b"\0\0\0\0\x02\x08\x01", &ok);
        assert_eq!(
            judge(&serving, ""),
            result(Verdict::Healthy, "SERVING", None)
        );
        let not_serving = answer(b"\0\0\0\0\x02\x08\x02", &ok);
        assert_eq!(
            judge(&not_serving, "db"),
            result(
                Verdict::Unhealthy,
                "NOT_SERVING",
                Some("service \"db\" is NOT_SERVING")
            )
        );
        let unknown = answer(b"\0\0\0\0\0", &ok);
        assert_eq!(judge(&unknown, "").status.as_deref(), Some("UNKNOWN"));
        let odd = answer(b"\0\0\0\0\x02\x08\x07", &ok);
        assert_eq!(judge(&odd, "").verdict, Verdict::Unhealthy);
    }

    #[test]
    fn an_error_status_is_unhealthy_and_named_with_its_message() {
        let not_found = answer(
            b"",
            &[
                ("grpc-status", "5"),
                ("grpc-message", "unknown%20service%3A db"),
            ],
        );
        assert_eq!(
            judge(&not_found, "db"),
            result(Verdict::Unhealthy, "NOT_FOUND", Some("unknown service: db"))
        );
        // A trailers-only response carries the status in the headers.
        let mut unimplemented = answer(b"", &[]);
        unimplemented
            .headers
            .insert("grpc-status", HeaderValue::from_static("12"));
        assert_eq!(
            judge(&unimplemented, ""),
            result(
                Verdict::Unhealthy,
                "UNIMPLEMENTED",
                Some("the health call failed with UNIMPLEMENTED")
            )
        );
    }

    #[test]
    fn answers_that_are_not_grpc_are_unhealthy_with_a_reason() {
        let mut not_found = answer(b"", &[]);
        not_found.http_status = StatusCode::NOT_FOUND;
        assert_eq!(
            judge(&not_found, ""),
            result(
                Verdict::Unhealthy,
                "UNIMPLEMENTED",
                Some("HTTP status 404, not a gRPC answer")
            )
        );
        let mut html = answer(b"", &[("grpc-status", "0")]);
        html.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
        assert!(judge(&html, "").detail.unwrap().contains("text/html"));
        let silent = answer(b"\0\0\0\0\x02\x08\x01", &[]);
        assert_eq!(
            judge(&silent, "").detail.as_deref(),
            Some("the server sent no grpc-status")
        );
        // A body cut at the limit: one large message declared, or small ones without end.
        let mut large = answer(b"\0\0\x01\0\0", &[]);
        large.body.resize(BODY_LIMIT, 0);
        large.overflowed = true;
        let detail = judge(&large, "").detail.unwrap();
        assert!(detail.contains("65536 bytes, over the limit"), "{detail}");
        let mut endless = answer(b"\0\0\0\0\x02\x08\x01", &[]);
        endless.body.resize(BODY_LIMIT, 0);
        endless.overflowed = true;
        let detail = judge(&endless, "").detail.unwrap();
        assert!(detail.contains("more than one message"), "{detail}");
        let truncated = answer(b"\0\0\0\0\x02\x08", &[("grpc-status", "0")]);
        assert_eq!(
            judge(&truncated, "").detail.as_deref(),
            Some("malformed health response: truncated message")
        );
    }

    #[test]
    fn grpc_messages_are_percent_decoded_and_bad_escapes_kept() {
        assert_eq!(percent_decode(b"a%20b%e2%9c%93"), "a b\u{2713}");
        assert_eq!(percent_decode(b"100%"), "100%");
        assert_eq!(percent_decode(b"%zz%4"), "%zz%4");
    }

    #[test]
    fn status_codes_have_their_protocol_names() {
        assert_eq!(code_name(0), "OK");
        assert_eq!(code_name(16), "UNAUTHENTICATED");
        assert_eq!(code_name(17), "CODE_17");
        assert_eq!(
            code_for_http_status(StatusCode::SERVICE_UNAVAILABLE),
            "UNAVAILABLE"
        );
        assert_eq!(code_for_http_status(StatusCode::IM_A_TEAPOT), "UNKNOWN");
    }

    #[test]
    fn the_target_names_the_service_and_tls_flags_need_tls() {
        let endpoint = Address::parse_host_port("[::1]:50051").unwrap();
        let options = CallOptions::default;
        let check = GrpcCheck::new(endpoint.clone(), String::new(), None, options()).unwrap();
        assert_eq!(check.target(), "grpc://[::1]:50051");
        let check = GrpcCheck::new(endpoint, "db".into(), None, options()).unwrap();
        assert_eq!(check.target(), "grpc://[::1]:50051/db");
        let socket = Address::parse("unix:/run/app.sock").unwrap();
        let check = GrpcCheck::new(socket.clone(), String::new(), None, options()).unwrap();
        assert_eq!(check.target(), "unix:/run/app.sock");
        let check = GrpcCheck::new(socket, "db".into(), None, options()).unwrap();
        assert_eq!(check.target(), "unix:/run/app.sock?service=db");
        let flags = TlsArgs {
            tls: false,
            cacert: Some("ca.pem".into()),
            cert: None,
            key: None,
            server_name: None,
            insecure: false,
        };
        assert_eq!(
            GrpcTls::from_flags(&flags).unwrap_err().to_string(),
            "--cacert: only used with --tls"
        );
    }
}
