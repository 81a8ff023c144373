//! Signals for the helper: which ones it can catch, and setting a signal's disposition. Names and
//! numbers come from `podkit::signal`; the tests check what the helper prints against literal
//! names and libc's numbers, so sharing that table hides nothing from them.

use std::io;

pub use podkit::signal::Signal;

/// What the helper does with a signal beyond naming it.
pub trait Disposition: Sized {
    /// Every signal a process can block and wait for: all but KILL, STOP and the C library's own.
    fn catchable() -> impl Iterator<Item = Self>;
    /// KILL and STOP can be neither caught, blocked nor ignored.
    fn can_be_caught(self) -> bool;
    /// Discard this signal from now on (and in every child forked later).
    fn ignore(self) -> io::Result<()>;
    /// Give this signal back its default action.
    fn reset(self) -> io::Result<()>;
}

impl Disposition for Signal {
    fn catchable() -> impl Iterator<Item = Signal> {
        Signal::all().filter(|signal| !signal.is_reserved() && signal.can_be_caught())
    }

    fn can_be_caught(self) -> bool {
        self != Signal::KILL && self.number() != libc::SIGSTOP
    }

    fn ignore(self) -> io::Result<()> {
        set_disposition(self, libc::SIG_IGN)
    }

    fn reset(self) -> io::Result<()> {
        set_disposition(self, libc::SIG_DFL)
    }
}

fn set_disposition(signal: Signal, disposition: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: SIG_IGN and SIG_DFL are not functions, so no handler code ever runs; the call only
    // changes kernel-side state for a signal number that `Signal` guarantees is valid.
    if unsafe { libc::signal(signal.number(), disposition) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
