//! Which signals podkit-init takes, and waiting for the next one with an optional deadline; and
//! the signal state podkit-init inherited, which its children get back.
//!
//! Every forwardable signal is blocked and collected with `sigtimedwait`: no handler runs, nothing
//! is lost between two waits, and the loop sleeps in the kernel until a signal or a deadline, never
//! polling. Blocked signals also reach PID 1, which the kernel otherwise shields from signals it
//! has no handler for.

use std::io;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use nix::sys::signal::{SigHandler, Signal as NixSignal};
use podkit::signal::Signal;

/// The synchronous faults. A real fault kills podkit-init whatever its mask (the kernel unblocks
/// the signal and restores its default action to deliver it), so taking them only catches the
/// ones sent with kill(2), which are meant for the program: they are forwarded as they came, as
/// dumb-init does, rather than killing podkit-init and orphaning CMD.
const FAULTS: [NixSignal; 6] = [
    NixSignal::SIGILL,
    NixSignal::SIGTRAP,
    NixSignal::SIGBUS,
    NixSignal::SIGFPE,
    NixSignal::SIGSEGV,
    NixSignal::SIGSYS,
];

/// Ignored by podkit-init, not forwarded, so that job control on a terminal behaves as under tini:
/// podkit-init may touch the terminal from the background; the child gets back what podkit-init
/// inherited before exec.
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

/// The signal state podkit-init started with, which its children get back before exec (tini's
/// "sigconf"): a program started with a signal blocked or ignored starts CMD that way too. Only
/// what podkit-init changed for itself needs restoring: the mask, SIGTTIN and SIGTTOU, and SIGPIPE
/// (which Rust's runtime ignores before `main`); every other ignored signal stays ignored across
/// fork and exec on its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inherited {
    /// The mask, as a kernel signal set.
    pub mask: u64,
    /// Which of the signals podkit-init changed were ignored (kernel set bits).
    pub ignored: u64,
}

impl Inherited {
    /// The signals whose disposition podkit-init changed, each to be set back in the child.
    pub fn changed() -> impl Iterator<Item = NixSignal> {
        TERMINAL_STOPS.into_iter().chain([NixSignal::SIGPIPE])
    }

    pub fn was_ignored(&self, signal: NixSignal) -> bool {
        self.ignored & bit(signal as i32) != 0
    }
}

/// Whether SIGPIPE was ignored when the process started, recorded before Rust's runtime ignores
/// it for itself (see [`RECORD_SIGPIPE`]).
static SIGPIPE_IGNORED_AT_START: AtomicBool = AtomicBool::new(false);

/// Runs before `main`, and so before Rust's runtime sets SIGPIPE to ignored: the C library calls
/// every function in `.init_array` first (musl's `__libc_start_init`), which is the only point
/// where the inherited SIGPIPE disposition can still be read.
#[used]
#[link_section = ".init_array"]
static RECORD_SIGPIPE: extern "C" fn() = record_sigpipe;

extern "C" fn record_sigpipe() {
    let mut old = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only reads the current one into `old`, valid for writes.
    let read = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), old.as_mut_ptr()) };
    // SAFETY: sigaction filled `old` when it succeeded.
    let ignored = read == 0 && unsafe { old.assume_init() }.sa_sigaction == libc::SIG_IGN;
    SIGPIPE_IGNORED_AT_START.store(ignored, Ordering::Relaxed);
}

/// The blocked set; while it lives, signals in it queue until [`SignalSet::wait`] collects them.
pub struct SignalSet {
    taken: u64,
    inherited: Inherited,
}

impl SignalSet {
    /// Blocks every signal podkit-init takes and ignores SIGTTIN and SIGTTOU, keeping what it
    /// inherited for its children. Call before spawning anything, so that not even the first
    /// SIGCHLD can be missed.
    pub fn block() -> io::Result<SignalSet> {
        let taken = Signal::all()
            .filter(|signal| *signal == Signal::CHLD || is_forwardable(*signal))
            .fold(0u64, |set, signal| set | bit(signal.number()));
        let mut inherited = Inherited::default();
        // SAFETY: rt_sigprocmask reads KERNEL_SET_BYTES from a valid u64 and writes as many to
        // another.
        let blocked = unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &taken,
                &mut inherited.mask,
                KERNEL_SET_BYTES,
            )
        };
        if blocked != 0 {
            return Err(io::Error::last_os_error());
        }
        if SIGPIPE_IGNORED_AT_START.load(Ordering::Relaxed) {
            inherited.ignored |= bit(libc::SIGPIPE);
        }
        for signal in TERMINAL_STOPS {
            // SAFETY: ignoring a signal installs no handler.
            let old = unsafe { nix::sys::signal::signal(signal, SigHandler::SigIgn) }?;
            if matches!(old, SigHandler::SigIgn) {
                inherited.ignored |= bit(signal as i32);
            }
        }
        Ok(SignalSet { taken, inherited })
    }

    /// What podkit-init inherited, for its children.
    pub fn inherited(&self) -> Inherited {
        self.inherited
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

/// Bit N-1 of a kernel signal set, for signal N.
fn bit(number: i32) -> u64 {
    1 << (number - 1)
}

fn is_one_of(signal: Signal, set: &[NixSignal]) -> bool {
    set.iter().any(|s| *s as i32 == signal.number())
}

/// Whether `signal` is one podkit-init forwards to its child: everything but SIGKILL and SIGSTOP
/// (uncatchable), SIGCHLD (podkit-init's own) and the terminal stops.
pub fn is_forwardable(signal: Signal) -> bool {
    let number = signal.number();
    ![libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD].contains(&number)
        && !is_one_of(signal, &TERMINAL_STOPS)
}

/// Why `signal` cannot start a rule (`--rewrite FROM`, `--stop-signal`): it never arrives as a
/// signal podkit-init acts on. `None` when it can.
pub fn why_never_acted_on(signal: Signal) -> Option<&'static str> {
    match signal.number() {
        libc::SIGKILL | libc::SIGSTOP => Some("cannot be caught"),
        libc::SIGCHLD => Some("is podkit-init's own: it reaps children on it"),
        _ if is_one_of(signal, &TERMINAL_STOPS) => {
            Some("is ignored by podkit-init, for terminal job control")
        }
        _ if is_one_of(signal, &FAULTS) => {
            Some("is a synchronous fault: one sent with kill(2) is forwarded unchanged")
        }
        _ => None,
    }
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
    fn forwards_everything_catchable_but_sigchld_and_tty_stops() {
        let forwarded: Vec<String> = Signal::all()
            .filter(|s| is_forwardable(*s))
            .map(|s| s.to_string())
            .collect();
        for name in [
            "SIGHUP", "SIGINT", "SIGQUIT", "SIGABRT", "SIGUSR1", "SIGUSR2", "SIGPIPE", "SIGTERM",
            "SIGTSTP", "SIGCONT", "SIGWINCH", "SIGRTMIN", "SIGRTMAX", "SIGSEGV", "SIGBUS",
            "SIGILL", "SIGFPE", "SIGTRAP", "SIGSYS",
        ] {
            assert!(forwarded.iter().any(|f| f == name), "{name} is forwarded");
        }
        for name in ["SIGKILL", "SIGSTOP", "SIGCHLD", "SIGTTIN", "SIGTTOU"] {
            assert!(
                !forwarded.iter().any(|f| f == name),
                "{name} is not forwarded"
            );
        }
    }

    #[test]
    fn rules_start_only_from_signals_podkit_init_acts_on() {
        for name in [
            "KILL", "STOP", "CHLD", "TTIN", "TTOU", "SEGV", "BUS", "ILL", "FPE", "TRAP", "SYS",
        ] {
            let signal: Signal = name.parse().unwrap();
            assert!(why_never_acted_on(signal).is_some(), "{name}");
        }
        for name in [
            "TERM", "INT", "QUIT", "HUP", "USR1", "RTMIN+3", "ABRT", "PIPE",
        ] {
            let signal: Signal = name.parse().unwrap();
            assert_eq!(why_never_acted_on(signal), None, "{name}");
        }
    }
}
