//! The exec check: run a command, healthy when it exits 0 within the timeout.
//!
//! Nothing the command starts may outlive the probe, however the probe ends: at its timeout, on
//! SIGTERM or SIGINT, or by a SIGKILL that no handler sees (the kubelet's `timeoutSeconds`,
//! Docker's `HEALTHCHECK --timeout`). So the probe does not start the command itself. It forks a
//! [`guard`]: a child subreaper that starts the command in a process group of its own and ends
//! everything the command left, in its group or not (`setsid`), before it reports how the command
//! ended. The guard watches the probe through a pipe whose only writer is the probe: when the
//! probe dies, however it dies, the kernel closes it, and the guard ends the command at once.
//! A pipe rather than `PR_SET_PDEATHSIG`: it cannot miss a probe that died before the guard was
//! ready (the end of file waits in the pipe), it depends on no signal's disposition, and it
//! follows the probe's process, not the thread that forked.
//!
//! The probe forwards SIGTERM and SIGINT to the guard, which passes them to the command's group,
//! and exits 128+N once the command has ended. No runtime and no thread on either side: each
//! waits with poll.

mod guard;

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};

use podkit::cli::{Blame, UsageError};

use crate::outcome::Finding;

/// How long the guard may take, past the timeout, to end the command and what it left; only a
/// process that SIGKILL cannot end (stuck in the kernel) takes more, and then the probe leaves it
/// to the guard and reports the timeout.
const CLEANUP_GRACE: Duration = Duration::from_secs(1);

/// What became of the command: the finding, and the signal that asked the probe to stop (it
/// exits 128+N once the command has ended), if one did.
pub struct Ran {
    pub finding: Finding,
    pub stopped_by: Option<i32>,
}

/// Runs `argv` for at most `timeout`. `Err` when it cannot be started at all (a configuration
/// error: exit 2).
pub fn run(argv: &[std::ffi::OsString], timeout: Duration) -> Result<Ran, UsageError> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| UsageError::new("no command"))?;
    // The command's output goes to stderr: stdout carries podkit-probe's own line (or JSON).
    let stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .blame("stderr")?;
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(stderr)
        .process_group(0);
    // Blocked before the fork, so that a stop signal arriving while the guard starts is read
    // from the signalfd, not acted on. The command must not inherit that (nor the guard's
    // SIGCHLD): blocked, the SIGTERM forwarded to it would wait until the timeout. It starts
    // with the mask the probe was given, which std's spawn on musl leaves as it finds it.
    let given = SigSet::thread_get_mask().blame("cannot read the signal mask")?;
    // SAFETY: between fork and exec the closure only sets the signal mask, which
    // pthread_sigmask does without allocating or taking a lock (async-signal-safe).
    unsafe {
        command.pre_exec(move || given.thread_set_mask().map_err(std::io::Error::from));
    }
    let stops: SigSet = [Signal::SIGTERM, Signal::SIGINT].into_iter().collect();
    stops
        .thread_block()
        .blame("cannot block SIGTERM and SIGINT")?;
    let signals = SignalFd::with_flags(&stops, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .blame("cannot read signals")?;
    // Both pipes are close-on-exec: the command inherits neither.
    let (probe_alive, probe_writer) = std::io::pipe().blame("cannot make a pipe")?;
    let (mut reports, report_writer) = std::io::pipe().blame("cannot make a pipe")?;
    // SAFETY: the exec check starts no runtime and no thread, so the process is single-threaded
    // here and the child may run any code, allocation included.
    let guard = match unsafe { fork() }.blame("cannot fork")? {
        ForkResult::Child => {
            drop((probe_writer, reports, signals));
            guard::run(command, timeout, probe_alive, report_writer)
        }
        ForkResult::Parent { child } => child,
    };
    drop((probe_alive, report_writer));
    let (report, stopped_by) = watch(guard, &signals, &mut reports, timeout + CLEANUP_GRACE);
    drop(probe_writer);
    let finding = match report {
        Some(guard::Ending::NotStarted(errno)) => {
            return Err(std::io::Error::from_raw_os_error(errno))
                .blame(format!("cannot run {}", program.to_string_lossy()));
        }
        Some(guard::Ending::Ended(status)) => judge(status),
        Some(guard::Ending::TimedOut) => Finding::unreachable(format!(
            "timed out after {}",
            podkit::duration::format(timeout)
        )),
        // Killed by someone else: the command may have been ended with it, or not.
        None => Finding::unreachable("the command's guard ended without a report".to_owned()),
    };
    Ok(Ran {
        finding,
        stopped_by,
    })
}

/// Waits, at most `bound`, for the guard's report, forwarding SIGTERM and SIGINT to it on the
/// way; reaps the guard once it has reported. Returns the report (a timeout when none came in
/// time, `None` when the guard ended without one) and the first stop signal.
fn watch(
    guard: Pid,
    signals: &SignalFd,
    reports: &mut std::io::PipeReader,
    bound: Duration,
) -> (Option<guard::Ending>, Option<i32>) {
    let deadline = Instant::now() + bound;
    let mut stopped_by = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds = [
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(reports.as_fd(), PollFlags::POLLIN),
        ];
        match poll(
            &mut fds,
            PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX),
        ) {
            // The guard is stuck (a process that SIGKILL cannot end): it goes on alone.
            Ok(0) => return (Some(guard::Ending::TimedOut), stopped_by),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return (None, stopped_by),
        }
        while let Ok(Some(info)) = signals.read_signal() {
            let number = info.ssi_signo as i32;
            stopped_by.get_or_insert(number);
            if let Ok(signal) = Signal::try_from(number) {
                // The guard is a child not yet reaped: its pid cannot name another process.
                let _ = kill(guard, signal);
            }
        }
        if fds[1].any().unwrap_or(true) {
            // The guard writes its report, then exits: the pipe closes either way.
            let mut record = [0u8; guard::REPORT_LEN];
            let report = reports
                .read_exact(&mut record)
                .ok()
                .and_then(|()| guard::Ending::decode(record));
            let _ = waitpid(guard, None);
            return (report, stopped_by);
        }
    }
}

/// The verdict on the command's exit status.
fn judge(status: ExitStatus) -> Finding {
    match (status.code(), status.signal()) {
        (Some(0), _) => Finding::healthy(Some("0".to_owned())),
        (Some(code), _) => {
            Finding::unhealthy(Some(code.to_string()), format!("exited with code {code}"))
        }
        (None, signal) => {
            Finding::unhealthy(None, format!("killed by signal {}", signal.unwrap_or(0)))
        }
    }
}
