//! Which signals podkit-init takes, and waiting for the next one with an optional deadline.
//!
//! Every forwardable signal is blocked and collected with `sigtimedwait`: no handler runs, nothing
//! is lost between two waits, and the loop sleeps in the kernel until a signal or a deadline, never
//! polling. Blocked signals also reach PID 1, which the kernel otherwise shields from signals it
//! has no handler for.

use std::io;
use std::mem::MaybeUninit;
use std::time::Instant;

use nix::sys::signal::{SigHandler, Signal as NixSignal};
use podkit::signal::Signal;

/// Signals podkit-init never takes: the uncatchable ones, and the synchronous faults, which must
/// stay fatal to podkit-init itself.
const UNTAKEN: [NixSignal; 8] = [
    NixSignal::SIGKILL,
    NixSignal::SIGSTOP,
    NixSignal::SIGSEGV,
    NixSignal::SIGBUS,
    NixSignal::SIGILL,
    NixSignal::SIGFPE,
    NixSignal::SIGTRAP,
    NixSignal::SIGSYS,
];

/// Ignored by podkit-init, not forwarded, so that job control on a terminal behaves as under tini:
/// podkit-init may touch the terminal from the background; the child restores them before exec.
pub const TERMINAL_STOPS: [NixSignal; 2] = [NixSignal::SIGTTIN, NixSignal::SIGTTOU];

/// A signal that arrived, with whether podkit-init raised it against itself.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub signal: Signal,
    /// True for signals the kernel raised on podkit-init's own account (SIGPIPE from writing to a
    /// closed stderr): they are about podkit-init, not meant for the child, and are not forwarded.
    pub self_inflicted: bool,
}

/// The kernel's own signal set for signals 1 to 64 (bit N-1 is signal N), used with the raw
/// system calls. The C library's sigset_t would not do: musl's `sigfillset` leaves out 32 to 34,
/// which it keeps for threads and setuid, but a glibc program in the container may use 34 as its
/// SIGRTMIN. podkit-init is single-threaded and never needs what musl keeps them for, so it takes
/// and forwards them like any other signal.
///
/// That is also why these two calls stay raw rather than going through nix: its `SigSet` wraps
/// the C library's sigset_t (and musl's `sigaddset` refuses 32 to 34), its `Signal` enum has no
/// real-time signals, and it has no `sigtimedwait` at all.
const KERNEL_SET_BYTES: usize = 8;

/// The blocked set; while it lives, signals in it queue until [`SignalSet::wait`] collects them.
pub struct SignalSet {
    taken: u64,
}

impl SignalSet {
    /// Blocks every signal podkit-init takes and ignores SIGTTIN and SIGTTOU. Call before spawning
    /// anything, so that not even the first SIGCHLD can be missed.
    pub fn block() -> io::Result<SignalSet> {
        let taken = Signal::all()
            .filter(|signal| *signal == Signal::CHLD || is_forwardable(*signal))
            .fold(0u64, |set, signal| set | 1 << (signal.number() - 1));
        // SAFETY: rt_sigprocmask reads KERNEL_SET_BYTES from a valid u64; the old set may be null.
        let blocked = unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &taken,
                std::ptr::null_mut::<u64>(),
                KERNEL_SET_BYTES,
            )
        };
        if blocked != 0 {
            return Err(io::Error::last_os_error());
        }
        for signal in TERMINAL_STOPS {
            // SAFETY: ignoring a signal installs no handler.
            unsafe { nix::sys::signal::signal(signal, SigHandler::SigIgn) }?;
        }
        Ok(SignalSet { taken })
    }

    /// Waits for the next signal, or until `deadline`; `None` means the deadline passed.
    pub fn wait(&self, deadline: Option<Instant>) -> Option<Received> {
        let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
        loop {
            let timeout = deadline.map(|deadline| {
                let left = deadline.saturating_duration_since(Instant::now());
                libc::timespec {
                    tv_sec: left.as_secs() as _,
                    tv_nsec: left.subsec_nanos() as _,
                }
            });
            if timeout.is_some_and(|t| t.tv_sec == 0 && t.tv_nsec == 0) {
                return None;
            }
            let timeout_ptr = timeout
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: the set and timeout (or null, to wait forever) are valid for reads and
            // `info` for writes, for the duration of the call.
            let number = unsafe {
                libc::syscall(
                    libc::SYS_rt_sigtimedwait,
                    &self.taken,
                    info.as_mut_ptr(),
                    timeout_ptr,
                    KERNEL_SET_BYTES,
                )
            };
            if number > 0 {
                // SAFETY: a successful rt_sigtimedwait filled `info`.
                let info = unsafe { info.assume_init_ref() };
                let signal = Signal::from_number(number as i32)?;
                return Some(Received {
                    signal,
                    self_inflicted: sent_by_self(info),
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
    let named = |set: &[NixSignal]| set.iter().any(|s| *s as i32 == number);
    number != libc::SIGCHLD && !named(&UNTAKEN) && !named(&TERMINAL_STOPS)
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
