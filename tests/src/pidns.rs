//! A command running as PID 1 of a new PID namespace, watched and signalled from outside.
//!
//! `unshare --pid --fork --mount-proc --kill-child CMD`: unshare forks CMD as the namespace's
//! PID 1 and waits for it; `--kill-child` and [`Drop`] make sure the namespace dies with the test.
//! Signals go to the namespace's PID 1 by its host pid, and only to it.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::procs;
use crate::wait::{self, HANG_GUARD};

/// Whether this process may create PID namespaces; tests that need one say why they skip.
pub fn available(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped {test}: creating a PID namespace with unshare needs root");
    }
    root
}

pub struct Namespace {
    unshare: Child,
    stdout: Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
    /// Every stdout line seen so far, for assertions and failure messages.
    pub seen: Vec<String>,
    pid1: std::cell::OnceCell<i32>,
}

impl Namespace {
    /// Starts `argv` as PID 1 of a new PID namespace with its own /proc.
    pub fn start<S: AsRef<std::ffi::OsStr>>(argv: &[S]) -> Namespace {
        Namespace::start_with(argv, |_| {})
    }

    /// As [`Namespace::start`], letting the test adjust the command (environment, stdin).
    pub fn start_with<S: AsRef<std::ffi::OsStr>>(
        argv: &[S],
        adjust: impl FnOnce(&mut Command),
    ) -> Namespace {
        let mut command = Command::new("unshare");
        command
            .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        adjust(&mut command);
        let mut unshare = command.spawn().expect("unshare starts (util-linux)");
        let stdout = unshare.stdout.take().expect("piped stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = unshare.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Namespace {
            unshare,
            stdout: lines,
            stderr: Some(stderr),
            seen: Vec::new(),
            pid1: Default::default(),
        }
    }

    /// The host pid of the namespace's PID 1 (unshare's child), looked up on first use: a PID 1
    /// that exits at once may be gone before anyone asks.
    pub fn pid1(&self) -> i32 {
        let unshare = self.unshare.id() as i32;
        *self.pid1.get_or_init(|| {
            wait::until("the namespace's PID 1 to start", || {
                procs::children(unshare).first().map(|p| p.pid)
            })
        })
    }

    /// Sends `signal` to the namespace's PID 1.
    pub fn signal(&self, signal: i32) {
        let pid1 = self.pid1();
        // SAFETY: kill with the pid of this namespace's PID 1, a process this test created.
        let sent = unsafe { libc::kill(pid1, signal) };
        assert_eq!(sent, 0, "signal {signal} to the namespace's PID 1 {pid1}");
    }

    /// Signals a process of this namespace, after checking that it is one.
    pub fn signal_member(&self, pid: i32, signal: i32) {
        let inside = procs::descendants(self.pid1()).iter().any(|p| p.pid == pid);
        assert!(inside, "process {pid} is not in the namespace");
        // SAFETY: kill with the pid of a process inside this test's namespace, checked just above.
        unsafe { libc::kill(pid, signal) };
    }

    /// Waits for a stdout line satisfying `wanted` and returns it.
    pub fn expect_line(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let left = HANG_GUARD.saturating_sub(start.elapsed());
            match self.stdout.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no stdout line {what}; seen so far: {:?}", self.seen),
            }
        }
    }

    /// Like [`Namespace::expect_line`], but also accepts a line seen earlier: for output of
    /// concurrent processes, whose order is not defined.
    pub fn expect_seen(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        match self.seen.iter().find(|line| wanted(line)) {
            Some(line) => line.clone(),
            None => self.expect_line(what, wanted),
        }
    }

    /// Waits for exactly this stdout line.
    pub fn expect(&mut self, line: &str) -> String {
        self.expect_line(&format!("{line:?}"), |l| l == line)
    }

    /// Waits for the namespace to end; returns PID 1's exit status, the rest of its stdout and its
    /// stderr.
    pub fn finish(mut self) -> Finished {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.unshare.try_wait().expect("wait for unshare") {
                break status;
            }
            assert!(
                start.elapsed() < HANG_GUARD,
                "PID 1 hung; stdout so far: {:?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let stderr = self
            .stderr
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        let mut stdout = std::mem::take(&mut self.seen);
        stdout.extend(self.stdout.try_iter());
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Killing unshare makes the kernel kill its child (--kill-child), PID 1, and with it the
        // whole namespace. Only this test's own unshare is signalled.
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
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
