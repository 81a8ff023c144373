//! `send-udp`: one datagram, the way a StatsD client sends its metrics.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// Sends `payload` to `to` in one datagram from a free port and returns how many bytes went.
/// A short send would be a second datagram to the receiver, which is not what a client does, so
/// it is an error rather than a retry.
pub fn send(to: SocketAddr, payload: &[u8]) -> io::Result<usize> {
    let from: SocketAddr = match to {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(from)?;
    let sent = socket.send_to(payload, to)?;
    if sent != payload.len() {
        return Err(io::Error::other(format!(
            "sent {sent} of {} bytes in the datagram",
            payload.len()
        )));
    }
    Ok(sent)
}
