//! Signals by name or number, as users write them in flags: `TERM`, `SIGTERM`, `term`, `15`,
//! `RTMIN+2`.
//!
//! `RTMIN` is 34, as glibc, Docker, kill(1), bash and Kubernetes number it, whatever the C library
//! this program links: musl's own SIGRTMIN is 35 (it keeps 34 for itself), and reading names
//! through it would make `RTMIN+3` send 38 where every other tool sends 37.

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
    pub const HUP: Signal = Signal(libc::SIGHUP);
    pub const INT: Signal = Signal(libc::SIGINT);
    pub const QUIT: Signal = Signal(libc::SIGQUIT);
    pub const KILL: Signal = Signal(libc::SIGKILL);
    pub const PIPE: Signal = Signal(libc::SIGPIPE);
    pub const TERM: Signal = Signal(libc::SIGTERM);
    pub const CHLD: Signal = Signal(libc::SIGCHLD);

    /// The first real-time signal as names count them: glibc's 34, not musl's 35.
    pub const RTMIN: i32 = 34;
    /// The last signal: 64 on Linux with either C library.
    pub const RTMAX: i32 = 64;

    /// The signal with this number, if the system has one.
    pub fn from_number(number: i32) -> Option<Signal> {
        (1..=Signal::RTMAX)
            .contains(&number)
            .then_some(Signal(number))
    }

    /// The number to hand to `kill(2)`.
    pub fn number(self) -> i32 {
        self.0
    }

    /// Every signal this system defines, classic and real-time, in numeric order.
    pub fn all() -> impl Iterator<Item = Signal> {
        (1..=Signal::RTMAX).map(Signal)
    }

    /// Signals the C library this program links keeps for itself between 31 and its own
    /// `SIGRTMIN` (musl: 32 to 34, glibc: 32 and 33), for threads: it refuses to set a handler or
    /// a disposition for them. 34 is one for musl and still has a name, `RTMIN`, for everyone else.
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
        let (min, max) = (Signal::RTMIN, Signal::RTMAX);
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
        let (min, max) = (Signal::RTMIN, Signal::RTMAX);
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
        assert_eq!("rtmax".parse::<Signal>().unwrap().number(), 64);
    }

    #[test]
    fn rtmin_is_34_as_glibc_docker_and_kill_count_it_on_any_c_library() {
        for (text, number) in [
            ("RTMIN", 34),
            ("SIGRTMIN+3", 37),
            ("RTMAX-1", 63),
            ("RTMAX-30", 34),
        ] {
            assert_eq!(text.parse::<Signal>().unwrap().number(), number, "{text}");
        }
        assert_eq!(Signal::from_number(34).unwrap().to_string(), "SIGRTMIN");
        assert_eq!(Signal::from_number(37).unwrap().to_string(), "SIGRTMIN+3");
        assert_eq!(Signal::from_number(33).unwrap().to_string(), "signal 33");
        assert!("RTMAX-31".parse::<Signal>().is_err());
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
