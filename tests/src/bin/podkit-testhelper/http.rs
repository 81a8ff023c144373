//! Just enough HTTP/1.1 for a probe, a proxy or curl: one request read per connection, one
//! answer, then the connection closes. `serve-http` answers every request `200 OK` with the body
//! `ok\n` ([`answer`]); `serve-files` answers with a file (files.rs), through [`read_request`]
//! and [`reply`].

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// A request head larger than this is refused: no test sends one, and it bounds the memory a
/// stray client can pin.
const HEAD_LIMIT: usize = 64 * 1024;

/// A client that stops sending mid-request gives up its thread after this long.
const IDLE_LIMIT: Duration = Duration::from_secs(30);

/// The parts of a request the handlers look at.
pub struct Request {
    pub method: String,
    /// The request target as sent: `/index.html`, `/a?b=c`.
    pub target: String,
}

/// Reads one request, drains its body, answers it and closes the connection.
pub fn answer(mut stream: TcpStream) -> io::Result<()> {
    let Some(request) = read_request(&mut stream)? else {
        return Ok(());
    };
    reply(
        &mut stream,
        &request,
        "200 OK",
        "text/plain",
        b"ok\n".as_slice(),
    )
}

/// Reads one request head and drains its body; `None` when the client closed before a whole
/// head, like a TCP probe: there is nothing to answer.
pub fn read_request(stream: &mut TcpStream) -> io::Result<Option<Request>> {
    stream.set_read_timeout(Some(IDLE_LIMIT))?;
    let mut received = Vec::new();
    let head_len = loop {
        if let Some(len) = head_len(&received) {
            break len;
        }
        if received.len() > HEAD_LIMIT {
            return Err(io::Error::other("request head over 64 KiB"));
        }
        let mut chunk = [0; 4096];
        match stream.read(&mut chunk)? {
            0 => return Ok(None),
            count => received.extend_from_slice(&chunk[..count]),
        }
    };
    let head = String::from_utf8_lossy(&received[..head_len]);
    // Read the body before answering: closing a socket with unread input makes the kernel send a
    // reset, which can destroy the answer before the client reads it. Only Content-Length bodies
    // are understood; no test sends a chunked one.
    let unread = content_length(&head).saturating_sub(received.len() - head_len);
    io::copy(&mut (&*stream).take(unread as u64), &mut io::sink())?;
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    Ok(Some(Request {
        method: words.next().unwrap_or("").to_owned(),
        target: words.next().unwrap_or("").to_owned(),
    }))
}

/// Sends `status` with `body` (none for a HEAD request) and `Connection: close`, then shuts
/// down the sending side.
pub fn reply(
    stream: &mut TcpStream,
    request: &Request,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    let mut reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if request.method != "HEAD" {
        reply.extend_from_slice(body);
    }
    stream.write_all(&reply)?;
    stream.shutdown(Shutdown::Write)
}

/// The length of the request head including its blank line, once it has all arrived. Bare `\n`
/// line ends are accepted as well as `\r\n`, as HTTP/1.1 recommends.
fn head_len(received: &[u8]) -> Option<usize> {
    let find = |needle: &[u8]| {
        received
            .windows(needle.len())
            .position(|window| window == needle)
            .map(|at| at + needle.len())
    };
    match (find(b"\r\n\r\n"), find(b"\n\n")) {
        (Some(crlf), Some(lf)) => Some(crlf.min(lf)),
        (crlf, lf) => crlf.or(lf),
    }
}

/// The request's Content-Length, 0 when it has none.
fn content_length(head: &str) -> usize {
    head.lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
}
