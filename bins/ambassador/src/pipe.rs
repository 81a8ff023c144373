//! The copy loop: bytes both ways between the client's connection and the target's, with
//! half-close passed on, an idle timeout that every byte resets, and no buffer held while idle.
//!
//! Half-close: when one side ends its sending (FIN, or TLS close_notify), the other side's
//! sending half is shut down once what was read has been written, and the other direction keeps
//! flowing until it ends too. Only then is the pipe done.
//!
//! Failures: a reset read ends the pipe at once (the peer is gone both ways). A failed write ends
//! only its direction, which then reads and discards what its sender still sends: a target that
//! answers early and closes without reading the whole upload (an HTTP 413, say) gets its answer
//! through, and the client is not reset in the middle of reading it. That discarding lasts until
//! the sender stops, or [`LINGER`] after the other direction has ended.
//!
//! Fairness: a direction moves at most [`BYTES_PER_TURN`] before yielding, so a sender that
//! never pauses cannot starve the other direction of the same connection. The budget is in
//! bytes, not reads, because a TLS read returns one record (16 KiB) where a plain one fills the
//! buffer.
//!
//! Memory: a direction holds a buffer only while it has bytes in hand. When a read would block
//! and everything read has been written, the buffer goes back to the allocator, so an idle
//! connection costs its sockets and TLS state, not two copy buffers (ghostunnel and stunnel keep
//! theirs for the life of the connection).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Bytes per read: large enough that bulk transfers cost few system calls and whole TLS records.
const CHUNK: usize = 64 * 1024;

/// Bytes one direction may move before it lets the other have a turn.
const BYTES_PER_TURN: usize = 256 * 1024;

/// How long a direction whose writer failed keeps discarding its sender's bytes once the other
/// direction has ended: long enough for a client to read an early answer, short enough that a
/// client that never stops sending cannot hold the connection.
pub const LINGER: Duration = Duration::from_secs(2);

/// Which way bytes go, for metrics and for errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// From the accepted connection to the target.
    ToTarget,
    /// From the target back to the accepted connection.
    ToClient,
}

/// How a pipe ended.
#[derive(Debug)]
pub enum Ended {
    /// Both directions ended with their sender's FIN or close_notify.
    Closed,
    /// No byte moved either way for the idle timeout.
    Idle,
    /// A socket failed (a reset, typically); the other direction was dropped with it.
    Failed(Way, io::Error),
}

/// Copies both ways until both directions end, the idle timeout passes, or a socket fails.
/// `on_bytes` sees every chunk's size as it moves, so that counters stay current on long-lived
/// connections.
pub fn pipe<'a, C, T, F>(
    client: &'a mut C,
    target: &'a mut T,
    idle_timeout: Option<Duration>,
    on_bytes: F,
) -> Pipe<'a, C, T, F>
where
    C: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
    F: FnMut(Way, usize) + Unpin,
{
    Pipe {
        client,
        target,
        to_target: Direction::default(),
        to_client: Direction::default(),
        idle: idle_timeout.map(|timeout| Idle {
            timeout,
            last_activity: Instant::now(),
            timer: Box::pin(tokio::time::sleep(timeout)),
        }),
        linger: None,
        on_bytes,
    }
}

pub struct Pipe<'a, C, T, F> {
    client: &'a mut C,
    target: &'a mut T,
    to_target: Direction,
    to_client: Direction,
    idle: Option<Idle>,
    /// Started when one direction has ended and the other only discards.
    linger: Option<Pin<Box<Sleep>>>,
    on_bytes: F,
}

struct Idle {
    timeout: Duration,
    last_activity: Instant,
    timer: Pin<Box<Sleep>>,
}

impl Idle {
    /// Whether the connection has been idle for the whole timeout. The timer is moved forward
    /// lazily, when it fires early, rather than on every chunk: a bulk transfer never touches it.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let deadline = self.last_activity + self.timeout;
            if Instant::now() >= deadline {
                return true;
            }
            self.timer.as_mut().reset(deadline);
        }
    }
}

impl<C, T, F> Future for Pipe<'_, C, T, F>
where
    C: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
    F: FnMut(Way, usize) + Unpin,
{
    type Output = Ended;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ended> {
        let this = self.get_mut();
        let mut moved = false;
        let on_bytes = &mut this.on_bytes;
        let up = this.to_target.poll_copy(cx, this.client, this.target, |n| {
            moved = true;
            on_bytes(Way::ToTarget, n);
        });
        let down = this.to_client.poll_copy(cx, this.target, this.client, |n| {
            moved = true;
            on_bytes(Way::ToClient, n);
        });
        // A reset read: the peer is gone both ways, nothing more can arrive.
        for (direction, way) in [
            (&mut this.to_target, Way::ToTarget),
            (&mut this.to_client, Way::ToClient),
        ] {
            if let Some(e) = direction.read_failure.take() {
                return Poll::Ready(Ended::Failed(way, e));
            }
        }
        if up.is_ready() && down.is_ready() {
            return Poll::Ready(this.ended());
        }
        // One direction has ended and the other only discards: give the sender a while to stop.
        if (up.is_ready() && this.to_client.discarding())
            || (down.is_ready() && this.to_target.discarding())
        {
            let linger = this
                .linger
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(LINGER)));
            if linger.as_mut().poll(cx).is_ready() {
                return Poll::Ready(this.ended());
            }
        }
        if let Some(idle) = &mut this.idle {
            if moved {
                idle.last_activity = Instant::now();
            }
            if idle.expired(cx) {
                return Poll::Ready(Ended::Idle);
            }
        }
        Poll::Pending
    }
}

impl<C, T, F> Pipe<'_, C, T, F> {
    /// How the pipe ended once both directions are over: the first write failure, if any.
    fn ended(&mut self) -> Ended {
        match (
            self.to_target.write_failure.take(),
            self.to_client.write_failure.take(),
        ) {
            (Some(e), _) => Ended::Failed(Way::ToTarget, e),
            (None, Some(e)) => Ended::Failed(Way::ToClient, e),
            (None, None) => Ended::Closed,
        }
    }
}

/// One direction's state: bytes read and not yet written, and how far its shutdown has got.
#[derive(Default)]
struct Direction {
    buffer: Option<Box<[u8]>>,
    /// `buffer[written..filled]` is still to be written.
    written: usize,
    filled: usize,
    unflushed: bool,
    read_ended: bool,
    done: bool,
    /// The writer failed: what is read from now on is dropped.
    write_failure: Option<io::Error>,
    /// The reader failed: the pipe ends.
    read_failure: Option<io::Error>,
}

impl Direction {
    fn discarding(&self) -> bool {
        self.write_failure.is_some() && !self.done
    }

    /// Moves bytes until the reader has nothing (Pending), the turn is over (Pending, after a
    /// wake-up), or the direction is over (Ready). Failures are recorded, not returned.
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        writer: &mut W,
        mut on_bytes: impl FnMut(usize),
    ) -> Poll<()>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        if self.done {
            return Poll::Ready(());
        }
        let mut moved = 0;
        loop {
            if self.written < self.filled && self.write_failure.is_none() {
                let buffer = self.buffer.as_deref().unwrap_or_default();
                let written = ready!(
                    Pin::new(&mut *writer).poll_write(cx, &buffer[self.written..self.filled])
                );
                match written {
                    Ok(0) => self.write_failure = Some(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        self.written += n;
                        self.unflushed = true;
                    }
                    Err(e) => self.write_failure = Some(e),
                }
                continue;
            }
            if self.read_ended {
                // Pass the end on: what the writer holds, then FIN (or close_notify and FIN).
                if self.write_failure.is_none() {
                    if let Err(e) = ready!(Pin::new(&mut *writer).poll_flush(cx)) {
                        self.write_failure = Some(e);
                    }
                }
                if self.write_failure.is_none() {
                    if let Err(e) = ready!(Pin::new(&mut *writer).poll_shutdown(cx)) {
                        self.write_failure = Some(e);
                    }
                }
                self.buffer = None;
                self.done = true;
                return Poll::Ready(());
            }
            if moved >= BYTES_PER_TURN {
                // Let the other direction (and other connections) run; come back at once.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let buffer = self
                .buffer
                .get_or_insert_with(|| vec![0; CHUNK].into_boxed_slice());
            let mut read = ReadBuf::new(buffer);
            match Pin::new(&mut *reader).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    let n = read.filled().len();
                    moved += n;
                    if n == 0 {
                        self.read_ended = true;
                    } else if self.write_failure.is_none() {
                        on_bytes(n);
                    }
                    self.written = 0;
                    self.filled = n;
                }
                // A TLS peer that closes its socket without close_notify has still stopped
                // sending; pass it on as the end of this direction, as for a plain FIN.
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.read_ended = true;
                    self.written = 0;
                    self.filled = 0;
                }
                Poll::Ready(Err(e)) => {
                    self.read_failure = Some(e);
                    self.buffer = None;
                    self.done = true;
                    return Poll::Ready(());
                }
                Poll::Pending => {
                    // Nothing in hand: give the buffer back while waiting, and push out what
                    // the writer may still hold (a TLS record not yet sent).
                    self.buffer = None;
                    if self.unflushed && self.write_failure.is_none() {
                        if let Err(e) = ready!(Pin::new(&mut *writer).poll_flush(cx)) {
                            self.write_failure = Some(e);
                        }
                        self.unflushed = false;
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}
