//! StatsD over TCP: newline-separated lines on connections that stay open. Each connection is
//! a task that reads into a buffer and hands every complete line to [`Ingest`]; a line longer
//! than [`MAX_LINE`] is skipped to its end and counted, so a client cannot make it grow without
//! bound.

use std::io;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use crate::ingest::Ingest;
use crate::statsd::line::Reason;

/// The longest line kept: far beyond any StatsD line, far below what would hurt.
pub const MAX_LINE: usize = 64 * 1024;

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, ingest: Ingest) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                ingest.metrics.connections.inc();
                tokio::spawn(connection(stream, ingest.clone()));
            }
            Err(error) => {
                podkit::warn!("statsd tcp: accept failed", error = error);
                // Out of file descriptors, mostly: wait for some to be closed.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(mut stream: TcpStream, ingest: Ingest) {
    let mut buffer: Vec<u8> = Vec::with_capacity(8192);
    // Skipping the rest of a line that grew past MAX_LINE.
    let mut skipping = false;
    loop {
        let start = buffer.len();
        buffer.resize(start + 8192, 0);
        let read = match stream.read(&mut buffer[start..]).await {
            Ok(n) => n,
            // A reset: a line cut short could read as another valid line ("a:1|ms" cut to
            // "a:1|m" is refused, but "a:15|c" cut to "a:1|c" is not), so the rest is lost.
            Err(_) => return,
        };
        buffer.truncate(start + read);
        if read == 0 {
            // A clean close: the client's last line needs no newline.
            if !skipping && !buffer.is_empty() {
                ingest.lines(&buffer);
            }
            return;
        }
        let Some(last_newline) = buffer.iter().rposition(|b| *b == b'\n') else {
            if buffer.len() > MAX_LINE {
                too_long(&ingest, &mut skipping);
                buffer.clear();
            }
            continue;
        };
        let mut complete = &buffer[..=last_newline];
        if skipping {
            // The end of the overlong line: everything up to its newline goes.
            let end = complete.iter().position(|b| *b == b'\n').unwrap_or(0);
            complete = &complete[end + 1..];
            skipping = false;
        }
        ingest.lines(complete);
        buffer.drain(..=last_newline);
    }
}

fn too_long(ingest: &Ingest, skipping: &mut bool) {
    if !*skipping {
        let at = Reason::ALL
            .iter()
            .position(|r| *r == Reason::MalformedLine)
            .unwrap_or(0);
        ingest.metrics.parse_errors[at].inc();
        ingest.metrics.lines.inc();
        *skipping = true;
    }
}

/// Binds `addr` at start-up, so a taken port is exit 2.
pub async fn bind(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
