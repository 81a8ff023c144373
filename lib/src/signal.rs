//! Signals by name or number, as users write them in flags: `TERM`, `SIGTERM`, `term`, `15`,
//! `RTMIN+2`.

use std::fmt;

/// A signal number that names a real signal on this system.
///
/// Parsing accepts the name with or without `SIG`, any case, the number, and `RTMIN+n` /
/// `RTMAX-n`; display gives the canonical `SIGNAME`, which is what logs and errors print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(i32);

/// The classic signals by their names without the `SIG` prefix; the real-time range is computed.
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

/// Why a signal string was refused; one line that quotes the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSignalError(String);

impl fmt::Display for ParseSignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown signal {:?} (use a name like TERM or SIGUSR1, or a number)",
            self.0
        )
    }
}

impl std::error::Error for ParseSignalError {}

impl Signal {
    pub const INT: Signal = Signal(libc::SIGINT);
    pub const QUIT: Signal = Signal(libc::SIGQUIT);
    pub const KILL: Signal = Signal(libc::SIGKILL);
    pub const PIPE: Signal = Signal(libc::SIGPIPE);
    pub const TERM: Signal = Signal(libc::SIGTERM);
    pub const CHLD: Signal = Signal(libc::SIGCHLD);

    /// The signal with this number, if the system has one.
    pub fn from_number(number: i32) -> Option<Signal> {
        (1..=libc::SIGRTMAX())
            .contains(&number)
            .then_some(Signal(number))
    }

    /// The number to hand to `kill(2)`.
    pub fn number(self) -> i32 {
        self.0
    }

    /// Every signal this system defines, classic and real-time, in numeric order.
    pub fn all() -> impl Iterator<Item = Signal> {
        (1..=libc::SIGRTMAX()).map(Signal)
    }

    /// Signals the C library keeps for itself between 31 and `SIGRTMIN` (musl and glibc use them
    /// for threads): they have no name and nobody outside the C library sends them.
    pub fn is_reserved(self) -> bool {
        self.0 > libc::SIGSYS && self.0 < libc::SIGRTMIN()
    }
}

impl std::str::FromStr for Signal {
    type Err = ParseSignalError;

    fn from_str(input: &str) -> Result<Signal, ParseSignalError> {
        let fail = || ParseSignalError(input.to_owned());
        let text = input.trim();
        if let Ok(number) = text.parse::<i32>() {
            return Signal::from_number(number).ok_or_else(fail);
        }
        let upper = text.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some(&(_, number)) = NAMED.iter().find(|(known, _)| *known == name) {
            return Ok(Signal(number));
        }
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        let realtime = match name {
            "RTMIN" => Some(min),
            "RTMAX" => Some(max),
            _ => {
                if let Some(offset) = name.strip_prefix("RTMIN+") {
                    offset.parse::<i32>().ok().map(|n| min + n)
                } else if let Some(offset) = name.strip_prefix("RTMAX-") {
                    offset.parse::<i32>().ok().map(|n| max - n)
                } else {
                    None
                }
            }
        };
        match realtime {
            Some(number) if (min..=max).contains(&number) => Ok(Signal(number)),
            _ => Err(fail()),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The first name in NAMED wins, so SIGCHLD prints rather than its alias SIGCLD.
        if let Some((name, _)) = NAMED.iter().find(|(_, number)| *number == self.0) {
            return write!(f, "SIG{name}");
        }
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        match self.0 {
            n if n == min => f.write_str("SIGRTMIN"),
            n if n == max => f.write_str("SIGRTMAX"),
            n if n > min && n < max => write!(f, "SIGRTMIN+{}", n - min),
            n => write!(f, "signal {n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_in_every_spelling_and_numbers() {
        for text in ["TERM", "SIGTERM", "term", "sigterm", "15", " TERM "] {
            assert_eq!(text.parse::<Signal>(), Ok(Signal::TERM), "{text}");
        }
        assert_eq!("USR1".parse::<Signal>().unwrap().number(), libc::SIGUSR1);
        assert_eq!(
            "RTMIN+2".parse::<Signal>().unwrap().number(),
            libc::SIGRTMIN() + 2
        );
        assert_eq!(
            "rtmax".parse::<Signal>().unwrap().number(),
            libc::SIGRTMAX()
        );
    }

    #[test]
    fn refuses_unknown_names_and_out_of_range_numbers() {
        for bad in ["", "TERMINATE", "0", "65", "-1", "RTMIN+99", "SIG"] {
            assert!(bad.parse::<Signal>().is_err(), "{bad}");
        }
        assert!("FOO"
            .parse::<Signal>()
            .unwrap_err()
            .to_string()
            .contains("\"FOO\""));
    }

    #[test]
    fn displays_canonical_names_that_parse_back() {
        for signal in Signal::all().filter(|s| !s.is_reserved()) {
            let shown = signal.to_string();
            assert_eq!(shown.parse::<Signal>(), Ok(signal), "{shown}");
        }
        assert_eq!(Signal::CHLD.to_string(), "SIGCHLD");
    }
}
