//! Which signals podkit-init takes, and waiting for the next one with an optional deadline.
//!
//! Every forwardable signal is blocked and collected with `sigtimedwait`: no handler runs, nothing
//! is lost between two waits, and the loop sleeps in the kernel until a signal or a deadline, never
//! polling. Blocked signals also reach PID 1, which the kernel otherwise shields from signals it
//! has no handler for.

use std::io;
use std::mem::MaybeUninit;
use std::time::Instant;

use podkit::signal::Signal;

/// Signals podkit-init never takes: the uncatchable ones, and the synchronous faults, which must
/// stay fatal to podkit-init itself.
const UNTAKEN: [i32; 8] = [
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGTRAP,
    libc::SIGSYS,
];

/// Ignored by podkit-init, not forwarded, so that job control on a terminal behaves as under tini:
/// podkit-init may touch the terminal from the background; the child restores them before exec.
pub const TERMINAL_STOPS: [i32; 2] = [libc::SIGTTIN, libc::SIGTTOU];

/// A signal that arrived, with whether podkit-init raised it against itself.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub signal: Signal,
    /// True for signals the kernel raised on podkit-init's own account (SIGPIPE from writing to a
    /// closed stderr): they are about podkit-init, not meant for the child, and are not forwarded.
    pub self_inflicted: bool,
}

/// The blocked set; while it lives, signals in it queue until [`SignalSet::wait`] collects them.
pub struct SignalSet {
    set: libc::sigset_t,
}

impl SignalSet {
    /// Blocks every signal podkit-init takes and ignores SIGTTIN and SIGTTOU. Call before spawning
    /// anything, so that not even the first SIGCHLD can be missed.
    pub fn block() -> io::Result<SignalSet> {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigfillset initialises the set it is given; the pointer is valid for writes.
        let mut set = unsafe {
            libc::sigfillset(set.as_mut_ptr());
            set.assume_init()
        };
        for signal in UNTAKEN.into_iter().chain(TERMINAL_STOPS) {
            // SAFETY: `set` is an initialised sigset_t; sigdelset only fails for invalid numbers.
            unsafe { libc::sigdelset(&mut set, signal) };
        }
        // SAFETY: `set` is initialised; a null old-set pointer is allowed.
        if unsafe { libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        for signal in TERMINAL_STOPS {
            // SAFETY: setting a standard disposition (SIG_IGN) for a valid, catchable signal.
            unsafe { libc::signal(signal, libc::SIG_IGN) };
        }
        Ok(SignalSet { set })
    }

    /// Waits for the next signal, or until `deadline`; `None` means the deadline passed.
    pub fn wait(&self, deadline: Option<Instant>) -> Option<Received> {
        let mut info = MaybeUninit::<libc::siginfo_t>::uninit();
        loop {
            let number = match deadline {
                None => {
                    // SAFETY: `self.set` is initialised and `info` is valid for writes.
                    unsafe { libc::sigwaitinfo(&self.set, info.as_mut_ptr()) }
                }
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    let timeout = libc::timespec {
                        tv_sec: left.as_secs() as _,
                        tv_nsec: left.subsec_nanos() as libc::c_long,
                    };
                    // SAFETY: as above, and `timeout` lives across the call.
                    unsafe { libc::sigtimedwait(&self.set, info.as_mut_ptr(), &timeout) }
                }
            };
            if number > 0 {
                // SAFETY: a successful sigwaitinfo/sigtimedwait filled `info`.
                let info = unsafe { info.assume_init() };
                let signal = Signal::from_number(number)?;
                return Some(Received {
                    signal,
                    self_inflicted: sent_by_self(&info),
                });
            }
            // EAGAIN is the deadline passing; EINTR (a stop/continue) just means wait again.
            if io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN) {
                return None;
            }
        }
    }
}

/// Whether `signal` is one podkit-init forwards to its child: everything it takes but SIGCHLD.
pub fn is_forwardable(signal: Signal) -> bool {
    let number = signal.number();
    number != libc::SIGCHLD
        && !UNTAKEN.contains(&number)
        && !TERMINAL_STOPS.contains(&number)
        && !signal.is_reserved()
}

/// The stop signals: they start the graceful stop rather than being merely forwarded.
pub fn is_stop(signal: Signal) -> bool {
    [Signal::TERM, Signal::INT, Signal::QUIT].contains(&signal)
}

fn sent_by_self(info: &libc::siginfo_t) -> bool {
    // The kernel's "no info" signals (SIGPIPE, SIGXFSZ) carry SI_USER and the receiver's own pid.
    // SAFETY: si_pid is meaningful for SI_USER, which is checked first.
    info.si_code == libc::SI_USER && unsafe { info.si_pid() } == std::process::id() as libc::pid_t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_everything_catchable_but_sigchld_faults_and_tty_stops() {
        let forwarded: Vec<String> = Signal::all()
            .filter(|s| is_forwardable(*s))
            .map(|s| s.to_string())
            .collect();
        for name in [
            "SIGHUP", "SIGINT", "SIGQUIT", "SIGABRT", "SIGUSR1", "SIGUSR2", "SIGPIPE", "SIGTERM",
            "SIGTSTP", "SIGCONT", "SIGWINCH", "SIGRTMIN", "SIGRTMAX",
        ] {
            assert!(forwarded.iter().any(|f| f == name), "{name} is forwarded");
        }
        for name in [
            "SIGKILL", "SIGSTOP", "SIGCHLD", "SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGTRAP",
            "SIGSYS", "SIGTTIN", "SIGTTOU",
        ] {
            assert!(
                !forwarded.iter().any(|f| f == name),
                "{name} is not forwarded"
            );
        }
    }
}
