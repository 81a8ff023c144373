//! A command running as PID 1 of a new PID namespace, watched and signalled from outside.
//!
//! `unshare --pid --fork --mount-proc --kill-child CMD`: unshare forks CMD as the namespace's
//! PID 1 and waits for it; `--kill-child` and [`Drop`] make sure the namespace dies with the test.
//! Signals go to the namespace's PID 1 through a pidfd taken while it is the child of this
//! test's `unshare`, and only to it.

use std::ffi::OsStr;
use std::process::{Command, ExitStatus, Stdio};

use crate::lines::Lines;
use crate::procs::{self, Pidfd};
use crate::run::{command as program, Process};
use crate::wait;

/// Whether this process may create PID namespaces; tests that need one say why they skip, and
/// fail instead under `PODKIT_REQUIRE_ALL=1` (CI), where a skip would hide a missing test.
pub fn available(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        crate::skip(test, "creating a PID namespace with unshare needs root");
    }
    root
}

/// `unshare` set up to run `argv` as PID 1 of a new PID namespace with its own /proc.
pub fn command<S: AsRef<OsStr>>(argv: &[S]) -> Command {
    let mut command = program("unshare");
    command
        .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .args(argv);
    command
}

/// The host pid of the PID 1 that the `unshare` with host pid `unshare` started.
pub fn pid1_of(unshare: i32) -> i32 {
    held_pid1(unshare).pid
}

/// The PID 1 that the `unshare` with host pid `unshare` started, held by a pidfd.
pub fn held_pid1(unshare: i32) -> Pidfd {
    wait::until("the namespace's PID 1 to start", || {
        procs::child_held(unshare)
    })
}

pub struct Namespace {
    /// Killing `unshare` makes the kernel kill its child (--kill-child), PID 1, and with it the
    /// whole namespace: dropping it ends the namespace.
    unshare: Process,
    pub stdout: Lines,
    pub stderr: Lines,
    pid1: std::cell::OnceCell<Pidfd>,
}

impl Namespace {
    /// Starts `argv` as PID 1 of a new PID namespace with its own /proc.
    pub fn start<S: AsRef<OsStr>>(argv: &[S]) -> Namespace {
        Namespace::start_with(argv, |_| {})
    }

    /// As [`Namespace::start`], letting the test adjust the command (environment, stdin).
    pub fn start_with<S: AsRef<OsStr>>(argv: &[S], adjust: impl FnOnce(&mut Command)) -> Namespace {
        let mut command = command(argv);
        command.stdin(Stdio::null());
        adjust(&mut command);
        let (unshare, stdout, stderr) = Process::spawn_reading(&mut command);
        Namespace {
            unshare,
            stdout,
            stderr,
            pid1: Default::default(),
        }
    }

    /// The host pid of the namespace's PID 1, looked up on first use: a PID 1 that exits at once
    /// may be gone before anyone asks.
    pub fn pid1(&self) -> i32 {
        self.held().pid
    }

    fn held(&self) -> &Pidfd {
        self.pid1
            .get_or_init(|| held_pid1(self.unshare.id() as i32))
    }

    /// Sends `signal` to the namespace's PID 1.
    pub fn signal(&self, signal: i32) {
        let pid1 = self.held();
        pid1.signal(signal).unwrap_or_else(|e| {
            panic!("signal {signal} to the namespace's PID 1 {}: {e}", pid1.pid)
        });
    }

    /// Signals a process of this namespace, after checking that it is one.
    pub fn signal_member(&self, pid: i32, signal: i32) {
        let inside = procs::descendants(self.pid1()).iter().any(|p| p.pid == pid);
        assert!(inside, "process {pid} is not in the namespace");
        // SAFETY: kill with the pid of a process inside this test's namespace, checked just above.
        unsafe { libc::kill(pid, signal) };
    }

    /// Its stdin, when [`Namespace::start_with`] piped it, for the test to write to PID 1 (and
    /// what it passes on to its children).
    pub fn stdin(&mut self) -> std::process::ChildStdin {
        self.unshare
            .0
            .stdin
            .take()
            .expect("stdin piped, and taken once")
    }

    /// Waits for a stdout line satisfying `wanted` and returns it.
    pub fn expect_line(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        self.stdout.next_satisfying(what, wanted)
    }

    /// Like [`Namespace::expect_line`], but also accepts a line seen earlier: for the output of
    /// concurrent processes, whose order is not defined.
    pub fn expect_seen(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        self.stdout.seen_or_next(what, wanted)
    }

    /// Waits for exactly this stdout line.
    pub fn expect(&mut self, line: &str) -> String {
        self.expect_line(&format!("{line:?}"), |l| l == line)
    }

    /// Waits for a stderr (log) line containing `text`.
    pub fn expect_logged(&mut self, text: &str) -> String {
        self.stderr
            .next_satisfying(&format!("containing {text:?} in the log"), |l| {
                l.contains(text)
            })
    }

    /// Waits for the namespace to end; returns PID 1's exit status and all its output.
    pub fn finish(mut self) -> Finished {
        let status = self.unshare.wait("PID 1");
        let stdout = std::mem::replace(&mut self.stdout, Lines::read_from(std::io::empty())).all();
        let stderr = std::mem::replace(&mut self.stderr, Lines::read_from(std::io::empty())).all();
        Finished {
            status,
            stdout,
            stderr: stderr.join("\n"),
        }
    }
}

/// How a namespace ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: String,
}

impl Finished {
    /// Asserts that PID 1's stderr (podkit-init's log) contains `text`, showing the log if not.
    #[track_caller]
    pub fn assert_logged(&self, text: &str) {
        assert!(
            self.stderr.contains(text),
            "expected {text:?} in the log:\n{}",
            self.stderr
        );
    }

    /// PID 1's exit code (unshare passes it on).
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("PID 1 ended without an exit code: {self:?}"))
    }
}
