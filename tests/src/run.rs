//! Every program a test starts, started one way: [`command`] builds it with default signal
//! dispositions and an empty signal mask; [`run`] and its variants run it to its end under the
//! hang guard; [`Process`] leaves it running, killed when the test is done with it, and [`Group`]
//! leaves it running in a process group of its own, killed with it; [`Announced`] is a server
//! that says on stdout where it listens. Long-running podkit tools have
//! their own harness, [`crate::daemon`], built on these.
//!
//! Why the dispositions: a disposition set to "ignore" survives fork and exec. When `make test`
//! runs as a background job of a non-interactive shell, SIGINT and SIGQUIT are ignored, and every
//! program a test started would inherit that: ^C at a terminal would not reach the child of
//! podkit-init, and a test waiting for it to die would wait for nothing. A program a test starts
//! must meet the signals a container's process meets, whatever the shell that ran `cargo test`.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::lines::Lines;
use crate::wait::HANG_GUARD;

/// `program`, to be started with every signal at its default disposition and none blocked.
///
/// The only way a test builds a [`Command`] (tests/clippy.toml refuses `Command::new`).
pub fn command(program: impl AsRef<OsStr>) -> Command {
    #[allow(clippy::disallowed_methods)]
    let mut command = Command::new(program);
    default_signals(&mut command);
    command
}

/// Makes the child of `command` reset every signal disposition to SIG_DFL and unblock every
/// signal before it execs.
fn default_signals(command: &mut Command) {
    // Everything the child needs is made here, before fork: between fork and exec the child
    // may only make async-signal-safe calls (sigaction and sigprocmask are).
    // SAFETY: SIGRTMAX reads a constant of the C library; no precondition.
    let last = libc::SIGRTMAX();
    // SAFETY: an all-zero sigaction is a valid value (SIG_DFL, no flags, empty mask).
    let default: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: an all-zero sigset_t is valid storage for sigemptyset, which fills it.
    let mut empty: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `empty` is a live sigset_t.
    unsafe { libc::sigemptyset(&mut empty) };
    let closure = move || {
        for signal in 1..=last {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            // The C library refuses the signals it keeps for itself (EINVAL): they are never
            // ignored, so there is nothing to reset.
            // SAFETY: sigaction is async-signal-safe; `default` is a valid sigaction that
            // installs no handler, and the old action is not asked for.
            unsafe { libc::sigaction(signal, &default, std::ptr::null_mut()) };
        }
        // SAFETY: sigprocmask is async-signal-safe; `empty` is an initialised empty set, and
        // the child is single-threaded after fork.
        if unsafe { libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the closure only calls sigaction and sigprocmask, both async-signal-safe, on
    // values prepared before fork; it allocates nothing and takes no lock.
    unsafe { command.pre_exec(closure) };
}

/// Whether `program` runs here (`program ARGS`, any exit code); reports the skip with the Debian
/// package that provides it when not.
pub fn installed(test: &str, program: &str, args: &[&str], package: &str) -> bool {
    let found = try_run(command(program).args(args)).is_ok();
    if !found {
        crate::skip(
            test,
            &format!("{program} is not installed (Debian: apt-get install {package})"),
        );
    }
    found
}

/// A process the test started and owns: waited for under the hang guard, and killed (it alone,
/// not its children: a test of podkit-init or of `unshare --kill-child` wants to see what they
/// do about those) and reaped when dropped, if it is still running.
pub struct Process(pub Child);

impl Process {
    /// Spawns `command`.
    pub fn spawn(command: &mut Command) -> Process {
        let shown = format!("{command:?}");
        Process(
            command
                .spawn()
                .unwrap_or_else(|e| panic!("{shown} starts: {e}")),
        )
    }

    /// Spawns `command` with its stdout and stderr piped, and reads both, line by line.
    pub fn spawn_reading(command: &mut Command) -> (Process, Lines, Lines) {
        let mut process = Process::spawn(command.stdout(Stdio::piped()).stderr(Stdio::piped()));
        let stdout = Lines::read_from(process.0.stdout.take().expect("piped stdout"));
        let stderr = Lines::read_from(process.0.stderr.take().expect("piped stderr"));
        (process, stdout, stderr)
    }

    /// Its pid: the process cannot have been reaped yet unless [`Process::wait`] returned.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Waits, under the hang guard, for it to end; fails the test as hung, naming `what`.
    pub fn wait(&mut self, what: &str) -> ExitStatus {
        crate::wait::until(&format!("{what} to end"), || {
            self.0.try_wait().expect("wait for a child")
        })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // std signals only a child it has not reaped, so this never reaches another process.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process the test started in a process group of its own, killed with the whole group when
/// the test is done with it or fails first: a tool may be a wrapper (a pyenv shim, testssl.sh's
/// openssl children) whose children must not outlive the test.
///
/// The group is signalled only while its leader is unreaped (alive or a zombie), so that its id
/// cannot belong to anyone else yet: [`Group::poll`] sees an exit without reaping, kills what is
/// left of the group, and only then reaps.
pub struct Group {
    pub child: Child,
    status: Option<ExitStatus>,
}

impl Group {
    /// Spawns `command` in a process group of its own.
    pub fn spawn(command: &mut Command) -> Group {
        let shown = format!("{command:?}");
        Group::try_spawn(command).unwrap_or_else(|e| panic!("{shown} starts: {e}"))
    }

    /// As [`Group::spawn`], with the error when the program cannot be started.
    pub fn try_spawn(command: &mut Command) -> std::io::Result<Group> {
        let child = command.process_group(0).spawn()?;
        Ok(Group {
            child,
            status: None,
        })
    }

    /// How the leader ended, if it has: what is left of its group is then killed.
    pub fn poll(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() && leader_exited(&self.child) {
            self.kill_group();
            self.status = Some(self.child.wait().expect("reap the leader"));
        }
        self.status
    }

    /// Waits, under `guard`, for the leader to end; fails the test as hung, naming `what`.
    pub fn wait(&mut self, what: &str, guard: Duration) -> ExitStatus {
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(status) = self.poll() {
                return status;
            }
            assert!(started.elapsed() < guard, "hung: {what}");
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    fn kill_group(&self) {
        // SAFETY: kill with the process group this test created, whose leader is not reaped yet,
        // so the group id is still this test's own.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.status.is_none() {
            self.kill_group();
            let _ = self.child.wait();
        }
    }
}

/// Whether `child` has exited, without reaping it (waitid with WNOWAIT).
fn leader_exited(child: &Child) -> bool {
    // SAFETY: an all-zero siginfo_t is valid storage; WNOHANG leaves si_pid at 0 when no child
    // changed state.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: waitid writes only into `info`; P_PID names this test's own unreaped child.
    let waited = unsafe { libc::waitid(libc::P_PID, child.id(), &mut info, flags) };
    assert_eq!(waited, 0, "waitid: {}", std::io::Error::last_os_error());
    // SAFETY: waitid filled `info` in (or left it zeroed); si_pid is valid for SIGCHLD info.
    unsafe { info.si_pid() != 0 }
}

/// How a command the test ran to its end finished.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn succeeded(&self) -> bool {
        self.code == Some(0)
    }

    /// Asserts success, showing the whole run if not, and returns stdout.
    #[track_caller]
    pub fn stdout_of_success(&self) -> &str {
        assert!(self.succeeded(), "{self:#?}");
        &self.stdout
    }
}

/// Runs `command` to its end with nothing on stdin. The hang guard only stops a hang: the
/// command is killed and the test fails.
pub fn run(command: &mut Command) -> Finished {
    run_to_end(command, b"", HANG_GUARD, None)
}

/// As [`run`], but `Err` when the program cannot be started at all (it is not installed).
pub fn try_run(command: &mut Command) -> std::io::Result<Finished> {
    try_run_to_end(command, b"", HANG_GUARD, None)
}

/// As [`run`], with `input` on stdin, then EOF.
pub fn run_with_input(command: &mut Command, input: &[u8]) -> Finished {
    run_to_end(command, input, HANG_GUARD, None)
}

/// As [`run`], for a command that legitimately runs longer than the hang guard (a scan, an image
/// build): `guard` only stops a hang.
pub fn run_with_guard(command: &mut Command, guard: Duration) -> Finished {
    run_to_end(command, b"", guard, None)
}

/// As [`run_with_guard`], but `Err` when the program cannot be started at all.
pub fn try_run_with_guard(command: &mut Command, guard: Duration) -> std::io::Result<Finished> {
    try_run_to_end(command, b"", guard, None)
}

/// As [`run`], failing the test at once if stderr says `unexpected` (a tool that should have
/// refused to start says it listens, and would run until the hang guard).
pub fn run_unless(command: &mut Command, unexpected: &str) -> Finished {
    run_to_end(command, b"", HANG_GUARD, Some(unexpected))
}

fn run_to_end(
    command: &mut Command,
    input: &[u8],
    guard: Duration,
    unexpected: Option<&str>,
) -> Finished {
    let shown = format!("{command:?}");
    try_run_to_end(command, input, guard, unexpected)
        .unwrap_or_else(|e| panic!("{shown} starts: {e}"))
}

fn try_run_to_end(
    command: &mut Command,
    input: &[u8],
    guard: Duration,
    unexpected: Option<&str>,
) -> std::io::Result<Finished> {
    let shown = format!("{command:?}");
    let stdin = match input.is_empty() {
        true => Stdio::null(),
        false => Stdio::piped(),
    };
    let mut child = Group::try_spawn(
        command
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )?;
    let stdout = read_all(child.child.stdout.take().expect("piped stdout"));
    let stderr = Arc::new(Mutex::new(String::new()));
    let (collected, mut source) = (
        stderr.clone(),
        child.child.stderr.take().expect("piped stderr"),
    );
    let collecting = thread::spawn(move || {
        let mut chunk = [0; 4096];
        while let Ok(n @ 1..) = source.read(&mut chunk) {
            let text = String::from_utf8_lossy(&chunk[..n]);
            collected.lock().unwrap().push_str(&text);
        }
    });
    if let Some(mut stdin) = child.child.stdin.take() {
        // A client that fails early (a refused handshake) exits before reading its input.
        let _ = stdin.write_all(input);
    }
    let started = Instant::now();
    let status = loop {
        if let Some(unexpected) = unexpected {
            let so_far = stderr.lock().unwrap();
            assert!(!so_far.contains(unexpected), "{shown}:\n{so_far}");
        }
        // Once the command ends, what is left of its group (a daemon it forked) is killed:
        // the pipes end when the last process holding them does.
        if let Some(status) = child.poll() {
            break status;
        }
        assert!(started.elapsed() < guard, "hung: {shown}");
        thread::sleep(Duration::from_millis(10));
    };
    collecting.join().expect("the stderr reader");
    let stderr = stderr.lock().unwrap().clone();
    Ok(Finished {
        code: status.code(),
        stdout: stdout.join().expect("the stdout reader"),
        stderr,
    })
}

/// Reads `source` to its end on a thread of its own, so that a full pipe never blocks the
/// process writing to it.
fn read_all(mut source: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = source.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// `curl -sS --max-time 20 ARGS`: curl gives up before the hang guard, and says why.
pub fn curl(args: &[&str]) -> Finished {
    run(command("curl").args(["-sS", "--max-time", "20"]).args(args))
}

/// A server the test started that prints `PREFIX ADDRESS` on stdout once it listens (the test
/// helper's `serve-*` steps, the Python fixtures, `openssl s_server`'s `ACCEPT`): its process
/// group, killed when dropped, the rest of its stdout, and the address.
pub struct Announced {
    pub process: Group,
    pub stdout: Lines,
    /// What followed the prefix on the line that announced it.
    pub address: String,
}

impl Announced {
    /// Starts `command` (stdin is the caller's choice, stdout is piped) and waits for its line
    /// `PREFIX ADDRESS`.
    pub fn start(command: &mut Command, prefix: &str) -> Announced {
        let mut process = Group::spawn(command.stdout(Stdio::piped()));
        let mut stdout = Lines::read_from(process.child.stdout.take().expect("piped stdout"));
        let line = stdout.next_satisfying(&format!("announcing {prefix}ADDRESS"), |l| {
            l.starts_with(prefix)
        });
        Announced {
            process,
            stdout,
            address: line[prefix.len()..].trim().to_owned(),
        }
    }
}

/// A program the test talks to line by line (a scripted peer, `openssl s_client -quiet`): lines
/// written to its stdin, its stdout read as it comes. In a process group of its own, killed with
/// it when dropped.
pub struct Talking {
    pub process: Group,
    pub stdin: ChildStdin,
    pub stdout: Lines,
}

impl Talking {
    /// Starts `command` with its stdin and stdout piped (stderr is the caller's choice).
    pub fn start(command: &mut Command) -> Talking {
        let mut process = Group::spawn(command.stdin(Stdio::piped()).stdout(Stdio::piped()));
        let stdin = process.child.stdin.take().expect("piped stdin");
        let stdout = Lines::read_from(process.child.stdout.take().expect("piped stdout"));
        Talking {
            process,
            stdin,
            stdout,
        }
    }

    /// Writes `line` and a newline to its stdin.
    pub fn say(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("the program reads its stdin");
        self.stdin.flush().expect("the program reads its stdin");
    }
}
