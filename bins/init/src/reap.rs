//! Collecting every exited child in one sweep, and what a wait status means as an exit code.

use std::fmt;

use podkit::signal::Signal;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Exited(u8),
    Killed(Signal),
}

impl Status {
    fn from_wait(raw: libc::c_int) -> Status {
        if libc::WIFSIGNALED(raw) {
            // A signal number the kernel reported is always a real signal.
            Signal::from_number(libc::WTERMSIG(raw)).map_or(Status::Exited(255), Status::Killed)
        } else {
            Status::Exited(libc::WEXITSTATUS(raw) as u8)
        }
    }

    /// The shell's convention, which container runtimes and Kubernetes report: the exit code, or
    /// 128 + N for a process killed by signal N.
    pub fn code(self) -> i32 {
        match self {
            Status::Exited(code) => i32::from(code),
            Status::Killed(signal) => 128 + signal.number(),
        }
    }

    pub fn succeeded(self) -> bool {
        self == Status::Exited(0)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Exited(code) => write!(f, "exited with code {code}"),
            Status::Killed(signal) => write!(f, "killed by {signal}"),
        }
    }
}

/// Reaps every child that has already exited, handing each to `on_exit`, and reports whether any
/// child remains. Looping until `waitpid` has nothing more is what makes merged SIGCHLDs harmless:
/// one SIGCHLD may stand for a thousand exits, the main child's among them.
///
/// Raw `waitpid` rather than `nix::sys::wait::waitpid`: nix decodes the status into its `Signal`
/// enum, which has no real-time signals, so for a child killed by `SIGRTMIN+n` (a signal
/// podkit-init forwards) it reaps the child and then returns `EINVAL`, losing its pid and status;
/// an init that lost its main child that way would wait forever.
pub fn reap_exited(mut on_exit: impl FnMut(libc::pid_t, Status)) -> bool {
    loop {
        let mut raw = 0;
        // SAFETY: waitpid with a valid pointer to an int; WNOHANG keeps it from blocking.
        let pid = unsafe { libc::waitpid(-1, &mut raw, libc::WNOHANG) };
        match pid {
            0 => return true,
            pid if pid > 0 => on_exit(pid, Status::from_wait(raw)),
            _ => match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                // ECHILD: no children at all. As PID 1 or a subreaper that means no descendants.
                Some(libc::ECHILD) => return false,
                _ => return true,
            },
        }
    }
}
