//! The readiness handshake between the helper and a child it forks to leave running.
//!
//! The helper continues only once the child has set itself up (session, ignored signals) and
//! printed its line. So the child's line always comes before the next step's output, and a test
//! that signals the PID it just read never races the child's `SIG_IGN`.

use std::fs::File;
use std::io::{self, Read as _, Write as _};

use crate::process;

/// Both ends of the handshake pipe. Every process that gets a copy by forking must either call
/// [`Ready::done`] (the awaited child) or drop it (anyone else), or the parent waits forever.
pub struct Ready {
    read: File,
    write: File,
}

impl Ready {
    pub fn new() -> io::Result<Ready> {
        let (read, write) = process::pipe()?;
        Ok(Ready { read, write })
    }

    /// In the awaited child, once it is set up: let the parent go on.
    pub fn done(self) -> io::Result<()> {
        (&self.write).write_all(b"!")
    }

    /// In the parent: waits for [`Ready::done`]. The byte tells a child that got ready from one
    /// that died first: either way every write end closes and the read returns.
    pub fn wait(self) -> io::Result<()> {
        let Ready { mut read, write } = self;
        drop(write);
        let mut byte = [0];
        match read.read(&mut byte)? {
            0 => Err(io::Error::other("the child exited before it was ready")),
            _ => Ok(()),
        }
    }
}
