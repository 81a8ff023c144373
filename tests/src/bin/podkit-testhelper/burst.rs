//! The `burst` step: the "merged SIGCHLD" scenario. Many processes end in the same instant as
//! their parent, so the reaper gets far fewer SIGCHLDs than dead processes and must reap in a loop.

use std::convert::Infallible;
use std::io::{self, Read as _};

use crate::process::{self, Fork};

/// Forks `count` children that each block reading a pipe, then closes the pipe's last write end,
/// which wakes them all at once to exit 0, and exits with `code` without waiting for them.
pub fn burst(count: usize, code: u8) -> io::Result<Infallible> {
    let (mut read, write) = process::pipe()?;
    for _ in 0..count {
        if let Fork::Child = process::fork()? {
            process::in_child(|| {
                // The read can only end at EOF, and EOF needs every write end closed, this copy
                // too. Nothing is ever written.
                drop(write);
                read.read_to_end(&mut Vec::new()).map(drop)
            });
        }
    }
    drop(write);
    std::process::exit(code.into())
}
