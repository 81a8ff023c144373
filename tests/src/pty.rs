//! A pseudo-terminal that becomes a process's controlling terminal, for job-control tests.
//!
//! Both sides are opened close-on-exec: the terminal then hangs up when the test is done with it
//! (or dies), instead of staying open in every program started meanwhile.

use std::ffi::CStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};

use crate::lines::Lines;
use crate::run::Process;

/// The master side of a terminal whose slave is the controlling terminal of `child`.
pub struct Terminal {
    /// Killed if the test fails first: a program must not be left running on the terminal;
    /// under `unshare --kill-child` this takes the whole PID namespace down.
    pub child: Process,
    pub lines: Lines,
    writer: File,
}

impl Terminal {
    /// Starts `command` (built with [`crate::run::command`]) in a new session with a fresh pty
    /// as its stdin, stdout, stderr and controlling terminal.
    pub fn spawn(mut command: Command) -> Terminal {
        let (master, slave) = open_pty();
        command
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl(TIOCSCTTY) are async-signal-safe and touch no shared state.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(libc::STDIN_FILENO, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = Process::spawn(&mut command);
        let writer = File::from(master.try_clone().unwrap());
        Terminal {
            child,
            lines: Lines::read_from(File::from(master)),
            writer,
        }
    }

    /// The next line the terminal shows, without its line ending.
    pub fn read_line(&mut self) -> String {
        self.lines.next_line()
    }

    /// Waits, under the hang guard, for the program to end.
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait("the program on the terminal")
    }

    /// Types `text` at the terminal.
    pub fn type_text(&mut self, text: &str) {
        self.writer
            .write_all(text.as_bytes())
            .expect("write to the pty");
    }
}

/// A new pseudo-terminal: its master and slave sides, both close-on-exec.
fn open_pty() -> (OwnedFd, OwnedFd) {
    let failed = |call: &str| -> ! { panic!("{call}: {}", std::io::Error::last_os_error()) };
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: posix_openpt takes flags and returns a new descriptor or -1.
    let master = unsafe { libc::posix_openpt(flags) };
    if master < 0 {
        failed("posix_openpt");
    }
    // SAFETY: `master` was just opened and nothing else owns it.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    // SAFETY: grantpt and unlockpt act on the master just opened.
    if unsafe { libc::grantpt(master.as_raw_fd()) } != 0 {
        failed("grantpt");
    }
    // SAFETY: as above.
    if unsafe { libc::unlockpt(master.as_raw_fd()) } != 0 {
        failed("unlockpt");
    }
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: ptsname_r writes a NUL-terminated name of at most `name.len()` bytes into `name`.
    if unsafe { libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()) } != 0 {
        failed("ptsname_r");
    }
    // SAFETY: ptsname_r succeeded, so `name` holds a NUL-terminated string.
    let path = unsafe { CStr::from_ptr(name.as_ptr()) };
    // SAFETY: open with a NUL-terminated path and flags; returns a new descriptor or -1.
    let slave = unsafe { libc::open(path.as_ptr(), flags) };
    if slave < 0 {
        failed("open the slave side");
    }
    // SAFETY: `slave` was just opened and nothing else owns it.
    (master, unsafe { OwnedFd::from_raw_fd(slave) })
}
