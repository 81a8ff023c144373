//! StatsD over UDP: a thread of its own that reads many datagrams per system call
//! (`recvmmsg`) and hands each to [`Ingest`]. A thread, not a task: the socket is never idle
//! under load, and a blocking read loop has no wake-up cost between datagrams.
//!
//! It never ends on its own: a failed read is counted in the log and retried. The process's
//! exit ends it; there is nothing to drain, since a datagram not yet read is lost either way.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use crate::ingest::Ingest;

/// Datagrams read per system call.
const BATCH: usize = 32;
/// The largest UDP payload: nothing a client sends is cut. Pages are only made resident as
/// datagrams fill them.
const DATAGRAM: usize = 65_536;

/// The receive buffer asked for: a burst the reader has not caught up with waits here
/// instead of being dropped by the kernel. Linux caps it at `net.core.rmem_max` (often 208 KiB,
/// which a client sending a million lines a second fills in about 5 ms).
const RECEIVE_BUFFER: libc::c_int = 8 << 20;

/// Binds `addr` (at start-up, so a taken port is exit 2), with a receive buffer as large as the
/// kernel allows up to [`RECEIVE_BUFFER`].
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = UdpSocket::bind(addr)?;
    enlarge_receive_buffer(socket.as_fd());
    Ok(socket)
}

/// Asks for [`RECEIVE_BUFFER`] bytes of receive buffer; a refusal leaves the default, which
/// only means more loss under bursts.
pub fn enlarge_receive_buffer(socket: BorrowedFd<'_>) {
    // SAFETY: the option value is a c_int and its size is given; the fd is a live socket.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&RECEIVE_BUFFER as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set != 0 {
        podkit::debug!(
            "statsd: the receive buffer stays at its default",
            error = io::Error::last_os_error()
        );
    }
}

/// Reads datagrams for ever on a new thread named `name`: from a UDP socket, or a Unix
/// datagram one ([`crate::statsd::unixgram`]), which `recvmmsg` reads alike.
pub fn spawn<S: AsFd + Send + 'static>(name: &str, socket: S, ingest: Ingest) -> io::Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || serve(socket.as_fd(), &ingest))
        .map(|_| ())
}

fn serve(socket: BorrowedFd<'_>, ingest: &Ingest) {
    let mut buffers = vec![0u8; BATCH * DATAGRAM];
    loop {
        match receive(socket, &mut buffers) {
            Ok(lengths) => {
                ingest.metrics.packets.inc_by(lengths.len() as u64);
                for (i, length) in lengths.into_iter().enumerate() {
                    let start = i * DATAGRAM;
                    ingest.lines(&buffers[start..start + length]);
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                podkit::warn!("statsd udp: read failed", error = error);
                // A persistent error (none is expected on a bound socket) must not spin a core.
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

/// Blocks until at least one datagram is there, then takes up to [`BATCH`] of them: the
/// lengths of those read, the `i`th in `buffers[i * DATAGRAM..]`.
fn receive(socket: BorrowedFd<'_>, buffers: &mut [u8]) -> io::Result<Vec<usize>> {
    debug_assert_eq!(buffers.len(), BATCH * DATAGRAM);
    // SAFETY: iovec and mmsghdr are plain C structs for which all-zero is a valid value.
    let mut iovecs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for (i, (iovec, header)) in iovecs.iter_mut().zip(headers.iter_mut()).enumerate() {
        iovec.iov_base = buffers[i * DATAGRAM..].as_mut_ptr().cast();
        iovec.iov_len = DATAGRAM;
        header.msg_hdr.msg_iov = iovec;
        header.msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: each header points at one iovec, and each iovec at its own DATAGRAM bytes of
    // `buffers`, all alive and exclusively borrowed for the call; the kernel writes at most
    // iov_len bytes to each and fills msg_len. No address or control buffer is asked for.
    let received = unsafe {
        libc::recvmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            BATCH as libc::c_uint,
            libc::MSG_WAITFORONE as _,
            std::ptr::null_mut(),
        )
    };
    if received < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(headers[..received as usize]
        .iter()
        .map(|header| (header.msg_len as usize).min(DATAGRAM))
        .collect())
}
