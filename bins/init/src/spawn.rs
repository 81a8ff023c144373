//! Starting the main child and the hooks: fork, put the child in its own process group with the
//! signal state a freshly exec'd program expects, exec; an exec failure comes back through a pipe.
//!
//! Hand-written rather than `std::process::Command`, which brings an environment map and a
//! generality podkit-init does not use, at a cost of about 20 KB of its 500 KB budget.

use std::ffi::{CString, OsString};
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;

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
    let mut exec_error_pipe = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    if unsafe { libc::pipe2(exec_error_pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    let [read_end, write_end] = exec_error_pipe;
    // SAFETY: podkit-init is single-threaded; the child branch below only calls async-signal-safe
    // functions on memory prepared before the fork, then execs or exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: in the child, on pointers and descriptors prepared above.
        unsafe { become_command(&arg_pointers, role, write_end) }
    }
    let fork_error = io::Error::last_os_error();
    // SAFETY: closing our copy of the write end, which only the child still holds.
    unsafe { libc::close(write_end) };
    if pid < 0 {
        // SAFETY: closing the read end we own.
        unsafe { libc::close(read_end) };
        return Err(fail(fork_error));
    }
    let exec_errno = read_exec_error(read_end);
    // SAFETY: closing the read end we own.
    unsafe { libc::close(read_end) };
    match exec_errno {
        None => Ok(pid),
        Some(errno) => {
            // The child has exited right after reporting; collect it here, where it is known.
            // SAFETY: waitpid on our own child with a null status pointer.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            let error = io::Error::from_raw_os_error(errno);
            Err(SpawnError {
                program,
                error,
                at_exec: true,
            })
        }
    }
}

/// The child's half: set up, exec, or report why exec failed and exit.
///
/// # Safety
/// Call only in a freshly forked child; `argv` must be a null-terminated array of C strings.
unsafe fn become_command(
    argv: &[*const libc::c_char],
    role: Role,
    exec_error_fd: libc::c_int,
) -> ! {
    // SAFETY: async-signal-safe calls only, on arguments prepared before the fork, in the child.
    unsafe {
        libc::setpgid(0, 0);
        if role
            == (Role::Main {
                take_terminal: true,
            })
        {
            // Failure means stdin is not our controlling terminal: nothing to hand over.
            libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid());
        }
        if role == Role::Hook {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
            if null >= 0 {
                libc::dup2(null, libc::STDIN_FILENO);
                libc::close(null);
            }
        }
        // Ignored dispositions survive exec: SIGTTIN/SIGTTOU (ignored by podkit-init) and SIGPIPE
        // (ignored by the Rust runtime) go back to their defaults; the mask is emptied.
        for signal in crate::signals::TERMINAL_STOPS
            .into_iter()
            .chain([libc::SIGPIPE])
        {
            libc::signal(signal, libc::SIG_DFL);
        }
        let mut empty = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(empty.as_mut_ptr());
        libc::sigprocmask(libc::SIG_SETMASK, empty.as_ptr(), std::ptr::null_mut());
        libc::execvp(argv[0], argv.as_ptr());
        let errno = *libc::__errno_location();
        libc::write(
            exec_error_fd,
            (&errno as *const libc::c_int).cast(),
            size_of::<libc::c_int>(),
        );
        libc::_exit(127)
    }
}

/// The errno the child sent if exec failed, or `None` once exec closed the pipe (success).
fn read_exec_error(fd: libc::c_int) -> Option<libc::c_int> {
    let mut errno: libc::c_int = 0;
    loop {
        // SAFETY: reading at most size_of::<c_int>() bytes into a c_int we own.
        let read = unsafe {
            libc::read(
                fd,
                (&mut errno as *mut libc::c_int).cast(),
                size_of::<libc::c_int>(),
            )
        };
        if read == size_of::<libc::c_int>() as isize {
            return Some(errno);
        }
        if read < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return None;
    }
}
