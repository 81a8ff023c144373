//! A long-running podkit tool under test (podkit-ambassador, podkit-reload, and the tools that
//! come next): started directly or as PID 1 of a new PID namespace, its log read line by line as
//! it comes, its `/metrics` read, signalled, and stopped with its exit code and its whole log.
//!
//! [`Daemon::tool`] says how to start it ([`Launch`]); [`Launch::start`] returns once the tool
//! logs the line that says it is ready (`listening`, `watching`), and fails at once, with the
//! log, if it exits first. Every wait is bounded by the hang guard, and none is a sleep: a wait
//! for a log line wakes when the line arrives. What a tool's lines and series mean stays with
//! the tests of that tool (e.g. [`crate::ambassador`]'s series).
//!
//! A test that signals the tool starts it with [`Launch::as_pid1`]: a bug can then never signal
//! a process of the machine running the tests, and the signal goes through a pidfd.

use std::ffi::{OsStr, OsString};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use crate::lines::Lines;
use crate::procs::Pidfd;
use crate::run::{command, run_unless, Finished, Process};
use crate::servers::DeadPort;
use crate::{bins, pidns, wait};

/// How to start a tool: see [`Daemon::tool`].
pub struct Launch {
    tool: String,
    /// The binary, when not `podkit-TOOL` of [`bins`] (the arm64 build, the toolbox).
    binary: Option<PathBuf>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    ready: String,
    metered: bool,
    as_pid1: bool,
    user: Option<(u32, u32)>,
}

impl Launch {
    /// Adds `args` to its command line.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Launch {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Runs `binary` instead of `podkit-TOOL` of [`bins`]: another build of the same tool (the
    /// arm64 one, under qemu-user), read by the same harness.
    pub fn binary(mut self, binary: impl Into<PathBuf>) -> Launch {
        self.binary = Some(binary.into());
        self
    }

    /// The binary it runs.
    fn path(&self) -> PathBuf {
        self.binary
            .clone()
            .unwrap_or_else(|| bins::path(&self.tool))
    }

    /// Sets `key` to `value` in its environment.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Launch {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The text of the log line that says it is ready: [`Launch::start`] returns once a line
    /// contains it.
    pub fn ready_when(mut self, text: &str) -> Launch {
        self.ready = text.to_owned();
        self
    }

    /// Adds `--metrics-addr` on a free loopback port, held until the tool listens on it, so
    /// that no other test takes it in between; [`Launch::start`] also waits until it answers.
    pub fn metered(mut self) -> Launch {
        self.metered = true;
        self
    }

    /// Runs it as PID 1 of a new PID namespace (with its own mount namespace), for a test that
    /// signals it.
    pub fn as_pid1(mut self) -> Launch {
        self.as_pid1 = true;
        self
    }

    /// Runs it as user `uid` and group `gid`, with no supplementary group: a sidecar's
    /// `runAsUser`, for a test of what that user may not read. The test itself stays root.
    pub fn as_user(mut self, uid: u32, gid: u32) -> Launch {
        self.user = Some((uid, gid));
        self
    }

    /// Runs it expecting it to refuse to start, and asserts the refusal: exit 2, nothing on
    /// stdout, and one line on stderr, `podkit-TOOL: error: ...`, that contains each of `named`
    /// (the flag or variable at fault, the file...). One that logs its ready line instead fails
    /// the test at once. Returns the run, for more checks.
    #[track_caller]
    pub fn assert_refused(self, named: &[&str]) -> Finished {
        let shown = format!("podkit-{} {:?} {:?}", self.tool, self.args, self.env);
        let mut command = command(self.path());
        command.args(&self.args).envs(self.env);
        let done = run_unless(&mut command, &self.ready);
        let prefix = format!("podkit-{}: error: ", self.tool);
        assert_eq!(done.code, Some(2), "{shown}: {done:#?}");
        assert_eq!(done.stdout, "", "nothing on stdout: {shown}: {done:#?}");
        assert_eq!(
            done.stderr.lines().count(),
            1,
            "one line: {shown}: {done:#?}"
        );
        assert!(done.stderr.starts_with(&prefix), "{shown}: {done:#?}");
        for text in named {
            assert!(
                done.stderr.contains(text),
                "{text:?} named: {shown}: {done:#?}"
            );
        }
        done
    }

    /// Starts it and waits (under the hang guard) for its ready line, and for its `/metrics` to
    /// answer when [`metered`](Launch::metered). Panics with its log if it exits first.
    pub fn start(mut self) -> Daemon {
        let metrics = self.metered.then(DeadPort::for_a_server);
        if let Some(port) = &metrics {
            self.args.push("--metrics-addr".into());
            self.args.push(port.address.clone().into());
        }
        let path = self.path();
        let mut command = match self.as_pid1 {
            true => {
                let mut argv = vec![path.into_os_string()];
                argv.extend(self.args);
                pidns::command(&argv)
            }
            false => {
                let mut command = command(path);
                command.args(self.args);
                command
            }
        };
        if let Some((uid, gid)) = self.user {
            use std::os::unix::process::CommandExt;
            // std drops the supplementary groups when it changes the user.
            command.uid(uid).gid(gid);
        }
        command
            .envs(self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let name = format!("podkit-{}", self.tool);
        let mut child = Process::spawn(&mut command);
        let log = Lines::read_from(child.0.stderr.take().expect("piped stderr"));
        let mut daemon = Daemon {
            name,
            child,
            log,
            ready: String::new(),
            metrics: metrics.as_ref().map(|port| port.address.clone()),
            pid1: self.as_pid1.then(Default::default),
        };
        let ready = self.ready;
        daemon.ready = daemon
            .log
            .wait_for(&format!("{} to log {ready:?}", daemon.name), |lines| {
                lines.iter().find(|line| line.contains(&ready)).cloned()
            });
        if let Some(address) = &daemon.metrics {
            wait::until(&format!("{}'s /metrics to answer", daemon.name), || {
                TcpStream::connect(address).ok()
            });
        }
        daemon
    }
}

/// A running tool: see the [module](self). Dropping it kills it (and with it its namespace).
pub struct Daemon {
    /// `podkit-TOOL`, for messages.
    name: String,
    /// The tool, or the `unshare` whose PID 1 it is: killing `unshare` makes the kernel kill its
    /// child (--kill-child), PID 1, and with it the whole namespace.
    child: Process,
    /// Its stderr.
    log: Lines,
    /// The log line that said it was ready.
    ready: String,
    /// `127.0.0.1:PORT` of `/metrics`, `/healthz` and `/readyz`, when metered.
    metrics: Option<String>,
    /// PID 1 of its namespace, held once looked up, when it runs as one.
    pid1: Option<std::sync::OnceLock<Pidfd>>,
}

impl Daemon {
    /// `podkit-TOOL` (from [`crate::bins`]), to be started once it logs a line containing
    /// `listening` (see [`Launch::ready_when`]), with nothing on stdin, stdout discarded and
    /// stderr read as its log.
    pub fn tool(tool: &str) -> Launch {
        Launch {
            tool: tool.to_owned(),
            binary: None,
            args: Vec::new(),
            env: Vec::new(),
            ready: "listening".to_owned(),
            metered: false,
            as_pid1: false,
            user: None,
        }
    }

    /// The log line that said it was ready.
    pub fn ready_line(&self) -> &str {
        &self.ready
    }

    /// The address it listens on: the `listen=` field of its ready line. Panics when there is
    /// none, or when it is not a TCP address (a Unix socket).
    pub fn addr(&self) -> SocketAddr {
        self.ready
            .split_whitespace()
            .find_map(|field| field.strip_prefix("listen="))
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("a TCP address as listen= in {:?}", self.ready))
    }

    /// The port it listens on: see [`Daemon::addr`].
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    // -----------------------------------------------------------------------------------------
    // Its log.

    /// Every log line so far.
    pub fn log(&self) -> Vec<String> {
        self.log.so_far()
    }

    /// Every log line so far, as one string.
    pub fn log_text(&self) -> String {
        self.log().join("\n")
    }

    /// How many log lines so far contain `text`.
    pub fn count_logged(&self, text: &str) -> usize {
        self.log().iter().filter(|line| line.contains(text)).count()
    }

    /// Whether a log line so far contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.count_logged(text) > 0
    }

    /// Waits until a log line contains `text`, and returns the first one. Fails at once if the
    /// tool exits (its log ends) without one.
    pub fn wait_for_log(&self, text: &str) -> String {
        let what = format!("a line of {}'s log containing {text:?}", self.name);
        self.log.wait_for(&what, |lines| {
            lines.iter().find(|line| line.contains(text)).cloned()
        })
    }

    /// Waits until `count` log lines contain `text`.
    pub fn wait_logged(&self, text: &str, count: usize) {
        let what = format!("{count} lines of {}'s log containing {text:?}", self.name);
        self.log.wait_for(&what, |lines| {
            let seen = lines.iter().filter(|line| line.contains(text)).count();
            (seen >= count).then_some(())
        })
    }

    // -----------------------------------------------------------------------------------------
    // Its /metrics.

    /// `127.0.0.1:PORT` of its `/metrics`, `/healthz` and `/readyz`; panics unless it was
    /// started [`metered`](Launch::metered).
    pub fn metrics_addr(&self) -> &str {
        self.metrics
            .as_deref()
            .unwrap_or_else(|| panic!("{} was not started metered", self.name))
    }

    /// The body of its `/metrics`, which must answer 200.
    pub fn metrics(&self) -> String {
        let (status, body) = crate::tcp::http_get(self.metrics_addr(), "/metrics");
        assert_eq!(status, 200, "{}'s /metrics: {body}", self.name);
        body
    }

    /// The value of the one series `series` (its name with its labels, exactly as exposed).
    pub fn metric(&self, series: &str) -> f64 {
        let body = self.metrics();
        body.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no series {series} in {}'s /metrics:\n{body}", self.name))
    }

    /// Every series whose line starts with `prefix` (`name{`, say), with its value.
    pub fn series_starting(&self, prefix: &str) -> Vec<String> {
        self.metrics()
            .lines()
            .filter(|line| line.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }

    /// Waits until the series `series` has the value `value`; shows the log if it never does.
    pub fn wait_for_metric(&self, series: &str, value: f64) {
        self.wait_for_series(series, &format!("be {value}"), |seen| seen == value);
    }

    /// Waits until the series `series`, a counter, has reached `value`, and returns its value
    /// then (which may be more: the caller asserts what it expects).
    pub fn wait_for_count(&self, series: &str, value: f64) -> f64 {
        self.wait_for_series(series, &format!("reach {value}"), |seen| seen >= value)
    }

    fn wait_for_series(&self, series: &str, what: &str, wanted: impl Fn(f64) -> bool) -> f64 {
        let mut last = None;
        let reached = wait::within_guard(|| {
            let seen = self.metric(series);
            last = Some(seen);
            wanted(seen).then_some(seen)
        });
        reached.unwrap_or_else(|| {
            panic!(
                "hung waiting for {series} to {what} on {} (last seen {last:?}); its log:\n{}",
                self.name,
                self.log_text()
            )
        })
    }

    // -----------------------------------------------------------------------------------------
    // Signals and the end.

    /// Its host pid: the tool's own, PID 1 of its namespace when [`as_pid1`](Launch::as_pid1)
    /// (never the `unshare` around it).
    pub fn pid(&self) -> i32 {
        match &self.pid1 {
            Some(held) => self.held_pid1(held).pid,
            None => self.child.id() as i32,
        }
    }

    fn held_pid1<'a>(&self, held: &'a std::sync::OnceLock<Pidfd>) -> &'a Pidfd {
        held.get_or_init(|| pidns::held_pid1(self.child.id() as i32))
    }

    /// Sends `signal` (a libc number) to the tool.
    pub fn signal(&self, signal: i32) {
        match &self.pid1 {
            Some(held) => {
                let pid1 = self.held_pid1(held);
                pid1.signal(signal).unwrap_or_else(|e| {
                    panic!("signal {signal} to {}, PID 1 {}: {e}", self.name, pid1.pid)
                });
            }
            None => {
                let pid = self.child.id() as i32;
                // SAFETY: kill with the pid of this test's own child, not reaped yet: the pid
                // cannot belong to another process.
                let sent = unsafe { libc::kill(pid, signal) };
                assert_eq!(sent, 0, "signal {signal} to {} {pid}", self.name);
            }
        }
    }

    /// Sends SIGTERM and waits for the tool to exit: see [`Daemon::wait`].
    pub fn stop(self) -> Exit {
        self.signal(libc::SIGTERM);
        self.wait()
    }

    /// Waits (under the hang guard) for the tool to exit, and returns how, with its whole log:
    /// the reader of its stderr is done when this returns.
    pub fn wait(mut self) -> Exit {
        let status = self.child.wait(&self.name);
        let log = std::mem::replace(&mut self.log, Lines::read_from(std::io::empty())).all();
        Exit { status, log }
    }
}

/// How a [`Daemon`] ended.
#[derive(Debug)]
pub struct Exit {
    pub status: ExitStatus,
    /// Its whole log.
    pub log: Vec<String>,
}

impl Exit {
    /// Its exit code; `None` when a signal killed it.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Its whole log, as one string.
    pub fn log_text(&self) -> String {
        self.log.join("\n")
    }

    /// Asserts that it exited 0, showing the log if not, and returns the log as one string.
    #[track_caller]
    pub fn assert_success(&self) -> String {
        let log = self.log_text();
        assert_eq!(self.code(), Some(0), "{log}");
        log
    }
}
