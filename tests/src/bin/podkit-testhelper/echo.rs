//! The `serve-echo` connection handler: sends every byte back, and honours a half-close.

use std::io;
use std::net::{Shutdown, TcpStream};

/// Echoes until the client shuts down its sending side, then shuts down ours once everything has
/// been sent back. A client that half-closes therefore still receives all of its echo followed by
/// EOF: that is what proxies' half-close handling is tested against.
pub fn echo(stream: TcpStream) -> io::Result<()> {
    io::copy(&mut &stream, &mut &stream)?;
    stream.shutdown(Shutdown::Write)
}
