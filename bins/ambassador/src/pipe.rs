//! The copy loop: bytes both ways between the client's connection and the target's, with
//! half-close passed on, an idle timeout that every byte resets, and no buffer held while idle.
//!
//! Half-close: when one side ends its sending (FIN, or TLS close_notify), the other side's
//! sending half is shut down once what was read has been written, and the other direction keeps
//! flowing until it ends too. Only then is the pipe done.
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
const CHUNK: usize = 32 * 1024;

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
        on_bytes,
    }
}

pub struct Pipe<'a, C, T, F> {
    client: &'a mut C,
    target: &'a mut T,
    to_target: Direction,
    to_client: Direction,
    idle: Option<Idle>,
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
        if let Poll::Ready(Err(e)) = up {
            return Poll::Ready(Ended::Failed(Way::ToTarget, e));
        }
        let down = this.to_client.poll_copy(cx, this.target, this.client, |n| {
            moved = true;
            on_bytes(Way::ToClient, n);
        });
        if let Poll::Ready(Err(e)) = down {
            return Poll::Ready(Ended::Failed(Way::ToClient, e));
        }
        if up.is_ready() && down.is_ready() {
            return Poll::Ready(Ended::Closed);
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
}

impl Direction {
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        writer: &mut W,
        mut on_bytes: impl FnMut(usize),
    ) -> Poll<io::Result<()>>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        if self.done {
            return Poll::Ready(Ok(()));
        }
        loop {
            if self.written < self.filled {
                let buffer = self.buffer.as_deref().unwrap_or_default();
                let n = ready!(
                    Pin::new(&mut *writer).poll_write(cx, &buffer[self.written..self.filled])
                )?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.written += n;
                self.unflushed = true;
                continue;
            }
            if self.read_ended {
                ready!(Pin::new(&mut *writer).poll_flush(cx))?;
                ready!(Pin::new(&mut *writer).poll_shutdown(cx))?;
                self.buffer = None;
                self.done = true;
                return Poll::Ready(Ok(()));
            }
            let buffer = self
                .buffer
                .get_or_insert_with(|| vec![0; CHUNK].into_boxed_slice());
            let mut read = ReadBuf::new(buffer);
            match Pin::new(&mut *reader).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    let n = read.filled().len();
                    if n == 0 {
                        self.read_ended = true;
                    } else {
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
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    // Nothing in hand: give the buffer back while waiting, and push out what
                    // the writer may still hold (a TLS record not yet sent).
                    self.buffer = None;
                    if self.unflushed {
                        ready!(Pin::new(&mut *writer).poll_flush(cx))?;
                        self.unflushed = false;
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}
