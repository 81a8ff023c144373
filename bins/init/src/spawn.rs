//! Starting the main child and the hooks: fork, put the child in its own process group with the
//! signal state a freshly exec'd program expects, exec; an exec failure comes back through a pipe.
//!
//! Hand-written rather than `std::process::Command`, which brings an environment map and a
//! generality podkit-init does not use, at a cost of about 20 KB of its 500 KB budget.

use std::ffi::{CString, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::signal::{self, sigprocmask, SigHandler, SigSet, SigmaskHow, Signal as NixSignal};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{dup2_stdin, fork, getpid, pipe2, setpgid, tcsetpgrp, write, ForkResult, Pid};

/// What a new process is for, which decides its terminal and stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The main child. With `take_terminal` its process group becomes the terminal's foreground
    /// group, so it can read the terminal and ^Z / ^C reach it, as under tini.
    Main { take_terminal: bool },
    /// A lifecycle hook: stdin from /dev/null, never the terminal, outputs shared with podkit-init.
    Hook,
}

/// A command that could not be started; its exit code follows the shell's convention.
#[derive(Debug)]
pub struct SpawnError {
    program: OsString,
    error: io::Error,
    /// Whether exec itself failed (the command's fault) rather than podkit-init's preparation.
    at_exec: bool,
}

impl SpawnError {
    /// 127 when the program does not exist, 126 when it exists but cannot be executed, and 1 when
    /// podkit-init itself could not prepare it (no pipe, no fork).
    pub fn exit_code(&self) -> i32 {
        if self.at_exec {
            podkit::cli::exec_failure_code(&self.error)
        } else {
            1
        }
    }

    /// What went wrong, in the words a shell would use.
    pub fn summary(&self) -> &'static str {
        match self.exit_code() {
            127 => "command not found",
            126 => "command cannot be executed",
            _ => "cannot start command",
        }
    }

    /// The program as given, for the log line.
    pub fn program(&self) -> impl fmt::Display + '_ {
        self.program.to_string_lossy()
    }

    /// The system's reason ("Permission denied"), without std's "(os error 13)" suffix.
    pub fn reason(&self) -> String {
        let text = self.error.to_string();
        text.split(" (os error").next().unwrap_or(&text).to_owned()
    }
}

/// Starts `argv` and returns its pid once it has exec'd. The caller reaps it: podkit-init reaps
/// every child with `waitpid(-1)`.
pub fn spawn(argv: &[OsString], role: Role) -> Result<libc::pid_t, SpawnError> {
    let program = argv.first().cloned().unwrap_or_default();
    let fail = |error| SpawnError {
        program: program.clone(),
        error,
        at_exec: false,
    };
    // Everything the child needs is built before fork: after it, only async-signal-safe calls.
    let args = argv
        .iter()
        .map(|arg| CString::new(arg.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| fail(io::Error::from_raw_os_error(libc::EINVAL)))?;
    let mut arg_pointers: Vec<*const libc::c_char> = args.iter().map(|arg| arg.as_ptr()).collect();
    arg_pointers.push(std::ptr::null());
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).map_err(|e| fail(e.into()))?;
    // SAFETY: podkit-init is single-threaded; the child branch below only calls async-signal-safe
    // functions on memory prepared before the fork, then execs or exits.
    let child = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            // SAFETY: in the child, on pointers and descriptors prepared above.
            unsafe { become_command(&arg_pointers, role, &write_end) }
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return Err(fail(e.into())),
    };
    // Only the child holds the write end now: exec closes it (success) or the child's exit does.
    drop(write_end);
    match read_exec_error(read_end) {
        None => Ok(child.as_raw()),
        Some(errno) => {
            // The child has exited right after reporting; collect it here, where it is known.
            let _ = waitpid(child, None);
            Err(SpawnError {
                program,
                error: io::Error::from_raw_os_error(errno),
                at_exec: true,
            })
        }
    }
}

/// The child's half: set up, exec, or report why exec failed and exit.
///
/// nix wraps every step but the last two: its `execvp` builds the pointer array on the heap,
/// which a forked child must not do, and it has no `_exit`. Failures are ignored: there is no one
/// to tell but the exec error pipe, and each step is best effort.
///
/// # Safety
/// Call only in a freshly forked child; `argv` must be a null-terminated array of C strings.
unsafe fn become_command(argv: &[*const libc::c_char], role: Role, exec_error: &OwnedFd) -> ! {
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    if role
        == (Role::Main {
            take_terminal: true,
        })
    {
        // SAFETY: descriptor 0 is the terminal isatty found open before the fork; the child never
        // closes it.
        let stdin = unsafe { BorrowedFd::borrow_raw(libc::STDIN_FILENO) };
        // Failure means stdin is not our controlling terminal: nothing to hand over.
        let _ = tcsetpgrp(stdin, getpid());
    }
    if role == Role::Hook {
        // A C-string path needs no allocation; the descriptor closes when dropped.
        if let Ok(null) = open(c"/dev/null", OFlag::O_RDONLY, Mode::empty()) {
            let _ = dup2_stdin(&null);
        }
    }
    // Ignored dispositions survive exec: SIGTTIN/SIGTTOU (ignored by podkit-init) and SIGPIPE
    // (ignored by the Rust runtime) go back to their defaults; the mask is emptied, which with an
    // empty set clears the C library's reserved signals too.
    for signal in crate::signals::TERMINAL_STOPS
        .into_iter()
        .chain([NixSignal::SIGPIPE])
    {
        // SAFETY: restoring the default disposition installs no handler.
        let _ = unsafe { signal::signal(signal, SigHandler::SigDfl) };
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    // SAFETY: execvp with the null-terminated array of C strings built before the fork; on
    // success it does not return.
    unsafe { libc::execvp(argv[0], argv.as_ptr()) };
    let _ = write(exec_error, &Errno::last_raw().to_ne_bytes());
    // SAFETY: _exit ends the child without running the parent's atexit handlers or destructors.
    unsafe { libc::_exit(127) }
}

/// The errno the child sent if exec failed, or `None` once exec closed the pipe (success).
fn read_exec_error(read_end: OwnedFd) -> Option<libc::c_int> {
    let mut errno = [0; size_of::<libc::c_int>()];
    // read_exact retries on EINTR; end of file before a whole errno means exec succeeded.
    File::from(read_end).read_exact(&mut errno).ok()?;
    Some(libc::c_int::from_ne_bytes(errno))
}
