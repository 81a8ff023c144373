//! Signals: the names tests write (`TERM`, `SIGTERM`, `term`, `15`, `RTMIN+3`), the canonical
//! `SIGNAME` the helper prints, and setting a signal's disposition.
//!
//! This mirrors `podkit::signal` on purpose instead of depending on it: the helper is the yardstick
//! the tests measure podkit with, so it must not share podkit's code.

use std::fmt;
use std::io;

/// A signal number that names a real, usable signal: 1..=31 or the real-time range. The numbers in
/// between belong to the C library's threading and are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(i32);

/// The classic signals without their `SIG` prefix. For aliases the first entry is the canonical
/// name, so SIGABRT prints rather than SIGIOT and SIGCHLD rather than SIGCLD.
const NAMED: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

impl Signal {
    pub const CHLD: Signal = Signal(libc::SIGCHLD);
    pub const PIPE: Signal = Signal(libc::SIGPIPE);

    /// The signal with this number, unless the number is out of range or reserved.
    pub fn from_number(number: i32) -> Option<Signal> {
        let classic = (1..=libc::SIGSYS).contains(&number);
        let realtime = (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&number);
        (classic || realtime).then_some(Signal(number))
    }

    /// Parses a name in any case, with or without `SIG`, a number, `RTMIN+n` or `RTMAX-n`.
    pub fn parse(text: &str) -> Option<Signal> {
        if let Ok(number) = text.parse::<i32>() {
            return Signal::from_number(number);
        }
        let upper = text.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some(&(_, number)) = NAMED.iter().find(|(known, _)| *known == name) {
            return Some(Signal(number));
        }
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        let number = match name {
            "RTMIN" => min,
            "RTMAX" => max,
            _ => match (name.strip_prefix("RTMIN+"), name.strip_prefix("RTMAX-")) {
                (Some(offset), _) => min.checked_add(offset.parse().ok()?)?,
                (_, Some(offset)) => max.checked_sub(offset.parse().ok()?)?,
                _ => return None,
            },
        };
        (min..=max).contains(&number).then_some(Signal(number))
    }

    /// Every signal a process can block and wait for: all but KILL and STOP, in numeric order.
    pub fn catchable() -> impl Iterator<Item = Signal> {
        (1..=libc::SIGSYS)
            .chain(libc::SIGRTMIN()..=libc::SIGRTMAX())
            .map(Signal)
            .filter(|signal| signal.can_be_caught())
    }

    /// KILL and STOP can be neither caught, blocked nor ignored.
    pub fn can_be_caught(self) -> bool {
        self.0 != libc::SIGKILL && self.0 != libc::SIGSTOP
    }

    /// The number `kill(2)` and the signal-set calls take.
    pub fn number(self) -> i32 {
        self.0
    }

    /// Discard this signal from now on (and in every child forked later).
    pub fn ignore(self) -> io::Result<()> {
        self.set_disposition(libc::SIG_IGN)
    }

    /// Give this signal back its default action.
    pub fn reset(self) -> io::Result<()> {
        self.set_disposition(libc::SIG_DFL)
    }

    fn set_disposition(self, disposition: libc::sighandler_t) -> io::Result<()> {
        // SAFETY: SIG_IGN and SIG_DFL are not functions, so no handler code ever runs; the call only
        // changes kernel-side state for a signal number that `Signal` guarantees is valid.
        if unsafe { libc::signal(self.0, disposition) } == libc::SIG_ERR {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((name, _)) = NAMED.iter().find(|(_, number)| *number == self.0) {
            return write!(f, "SIG{name}");
        }
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        match self.0 {
            n if n == min => f.write_str("SIGRTMIN"),
            n if n == max => f.write_str("SIGRTMAX"),
            n => write!(f, "SIGRTMIN+{}", n - min),
        }
    }
}
