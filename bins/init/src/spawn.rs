//! Starting the main child and the hooks: fork, put the child in its own process group with the
//! signal state podkit-init inherited, exec; an exec failure comes back through a pipe.
//!
//! Hand-written rather than `std::process::Command`, which brings an environment map and a
//! generality podkit-init does not use, at a cost of about 20 KB of its 500 KB budget. The search
//! of `PATH` is podkit-init's own too: a script without a `#!` line is run with `/bin/sh`, as
//! glibc's `execvp` does for tini and dumb-init, which musl's does not.

use std::ffi::{CString, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::signal::{self, SigHandler};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{dup2_stdin, fork, getpid, pipe2, setpgid, tcsetpgrp, write, ForkResult, Pid};

use crate::signals::Inherited;

/// What the child reports, instead of an errno, when a file without `#!` found no `/bin/sh`.
const NO_INTERPRETER: libc::c_int = -1;

/// musl's search path when `PATH` is unset.
const DEFAULT_PATH: &[u8] = b"/usr/local/bin:/bin:/usr/bin";

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
    /// The file has no `#!` line and there is no `/bin/sh` to run it with.
    no_interpreter: bool,
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
        if self.no_interpreter {
            return "no #! interpreter line, and no /bin/sh to run it with".to_owned();
        }
        let text = self.error.to_string();
        text.split(" (os error").next().unwrap_or(&text).to_owned()
    }
}

/// Starts `argv` and returns its pid once it has exec'd. The caller reaps it: podkit-init reaps
/// every child with `waitpid(-1)`.
pub fn spawn(
    argv: &[OsString],
    role: Role,
    inherited: Inherited,
) -> Result<libc::pid_t, SpawnError> {
    let program = argv.first().cloned().unwrap_or_default();
    let fail = |error| SpawnError {
        program: program.clone(),
        error,
        at_exec: false,
        no_interpreter: false,
    };
    // Everything the child needs is built before fork: after it, only async-signal-safe calls.
    let args = argv
        .iter()
        .map(|arg| CString::new(arg.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| fail(io::Error::from_raw_os_error(libc::EINVAL)))?;
    let mut exec = Exec::new(&args);
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).map_err(|e| fail(e.into()))?;
    // SAFETY: podkit-init is single-threaded; the child branch below only calls async-signal-safe
    // functions on memory prepared before the fork, then execs or exits.
    let child = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            // SAFETY: in the child, on pointers and descriptors prepared above.
            unsafe { become_command(&mut exec, role, inherited, &write_end) }
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return Err(fail(e.into())),
    };
    // Only the child holds the write end now: exec closes it (success) or the child's exit does.
    drop(write_end);
    match read_exec_error(read_end) {
        None => Ok(child.as_raw()),
        Some(code) => {
            // The child has exited right after reporting; collect it here, where it is known.
            let _ = waitpid(child, None);
            let no_interpreter = code == NO_INTERPRETER;
            let errno = if no_interpreter { libc::ENOEXEC } else { code };
            Err(SpawnError {
                program,
                error: io::Error::from_raw_os_error(errno),
                at_exec: true,
                no_interpreter,
            })
        }
    }
}

/// Everything exec needs, prepared before the fork: the paths to try, in `execvp`'s order, and
/// the argument vectors for the program and for `/bin/sh` running it.
struct Exec<'a> {
    /// The program itself when it holds a `/`, else each directory of `PATH` joined to it.
    candidates: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    /// `/bin/sh FILE ARGS...`; slot 1 takes the candidate that turned out to be a script.
    sh_argv: Vec<*const libc::c_char>,
    _args: std::marker::PhantomData<&'a CString>,
}

impl<'a> Exec<'a> {
    fn new(args: &'a [CString]) -> Exec<'a> {
        let program = args.first().map_or(&b""[..], |arg| arg.as_bytes());
        let candidates = if program.is_empty() {
            Vec::new()
        } else if program.contains(&b'/') {
            vec![args[0].clone()]
        } else {
            let path = std::env::var_os("PATH");
            let path = path.as_ref().map_or(DEFAULT_PATH, |path| path.as_bytes());
            path.split(|b| *b == b':')
                .filter_map(|dir| {
                    // An empty entry is the current directory, as for execvp.
                    let mut full = dir.to_vec();
                    if !dir.is_empty() {
                        full.push(b'/');
                    }
                    full.extend_from_slice(program);
                    CString::new(full).ok()
                })
                .collect()
        };
        let null = std::ptr::null();
        let argv = args.iter().map(|arg| arg.as_ptr()).chain([null]).collect();
        let sh_argv = [c"/bin/sh".as_ptr(), null]
            .into_iter()
            .chain(args.iter().skip(1).map(|arg| arg.as_ptr()))
            .chain([null])
            .collect();
        Exec {
            candidates,
            argv,
            sh_argv,
            _args: std::marker::PhantomData,
        }
    }

    /// Tries each candidate as musl's `execvp` does (go on past a missing or inaccessible one,
    /// stop at any other error), and runs a file the kernel cannot execute, that is no ELF, with
    /// `/bin/sh`, as glibc's does. Returns only on failure, with the errno to report or
    /// [`NO_INTERPRETER`].
    ///
    /// # Safety
    /// Only async-signal-safe calls: meant for a forked child.
    unsafe fn run(&mut self) -> libc::c_int {
        let mut denied = false;
        for candidate in &self.candidates {
            // SAFETY: a C string path and the null-terminated argv prepared before the fork.
            unsafe { libc::execv(candidate.as_ptr(), self.argv.as_ptr()) };
            match Errno::last_raw() {
                libc::ENOENT | libc::ENOTDIR => {}
                libc::EACCES => denied = true,
                // SAFETY: a C string path; open, read and close only.
                libc::ENOEXEC if unsafe { is_elf(candidate) } => return libc::ENOEXEC,
                libc::ENOEXEC => {
                    self.sh_argv[1] = candidate.as_ptr();
                    // SAFETY: as above, with the shell's argv.
                    unsafe { libc::execv(c"/bin/sh".as_ptr(), self.sh_argv.as_ptr()) };
                    return NO_INTERPRETER;
                }
                errno => return errno,
            }
        }
        if denied {
            libc::EACCES
        } else {
            libc::ENOENT
        }
    }
}

/// Whether `path` starts as an ELF executable does: one for another machine is reported as such
/// (exec format error) rather than handed to a shell.
///
/// # Safety
/// Async-signal-safe: open, read and close on a stack buffer.
unsafe fn is_elf(path: &CString) -> bool {
    let mut magic = [0u8; 4];
    // SAFETY: a C string path; the descriptor is closed before returning.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return false;
        }
        let read = libc::read(fd, magic.as_mut_ptr().cast(), magic.len());
        libc::close(fd);
        read == 4 && magic == *b"\x7fELF"
    }
}

/// The child's half: set up, exec, or report why exec failed and exit.
///
/// nix wraps every step but the last two: its `execvp` builds the pointer array on the heap,
/// which a forked child must not do, and it has no `_exit`. Failures are ignored: there is no one
/// to tell but the exec error pipe, and each step is best effort.
///
/// # Safety
/// Call only in a freshly forked child, with an [`Exec`] prepared before the fork.
unsafe fn become_command(
    exec: &mut Exec,
    role: Role,
    inherited: Inherited,
    exec_error: &OwnedFd,
) -> ! {
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
    // Ignored dispositions survive exec, so the ones podkit-init changed go back to what it
    // inherited: SIGTTIN/SIGTTOU (ignored by podkit-init) and SIGPIPE (ignored by the Rust
    // runtime). Every other ignored signal was inherited and is passed on untouched.
    for signal in Inherited::changed() {
        let disposition = if inherited.was_ignored(signal) {
            SigHandler::SigIgn
        } else {
            SigHandler::SigDfl
        };
        // SAFETY: ignoring or restoring the default disposition installs no handler.
        let _ = unsafe { signal::signal(signal, disposition) };
    }
    // The inherited mask, as a kernel set: raw, like podkit-init's own (see signals.rs), so that
    // signals 32 to 34 are restored too.
    // SAFETY: rt_sigprocmask reads 8 bytes from a valid u64; the old set may be null.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &inherited.mask,
            std::ptr::null_mut::<u64>(),
            size_of::<u64>(),
        )
    };
    // SAFETY: in the forked child, as `Exec::run` requires; it returns only on failure.
    let code = unsafe { exec.run() };
    let _ = write(exec_error, &code.to_ne_bytes());
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
