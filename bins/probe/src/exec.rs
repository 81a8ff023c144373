//! The exec check: run a command, healthy when it exits 0, killed (with its process group) when
//! it outlives the timeout. No runtime and no thread: the wait is a poll on a pidfd.

use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::outcome::Finding;

/// Runs `argv` for at most `timeout`. `Err` when it cannot be started at all (a configuration
/// error: exit 2).
pub fn run(argv: &[std::ffi::OsString], timeout: Duration) -> Result<Finding, String> {
    let (program, args) = argv.split_first().ok_or("no command")?;
    // The command's output goes to stderr: stdout carries podkit-probe's own line (or JSON).
    let stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("stderr: {e}"))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(stderr)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;
    if !exits_within(&mut child, timeout) {
        // The child leads its group and is not reaped yet, so the group cannot have been recycled.
        let _ = killpg(Pid::from_raw(child.id() as libc::pid_t), Signal::SIGKILL);
        let _ = child.wait();
        let detail = format!("timed out after {}", podkit::duration::format(timeout));
        return Ok(Finding::unreachable(detail));
    }
    let status = child
        .wait()
        .map_err(|e| format!("wait for the command: {e}"))?;
    Ok(match (status.code(), status.signal()) {
        (Some(0), _) => Finding::healthy(Some("0".to_owned())),
        (Some(code), _) => {
            Finding::unhealthy(Some(code.to_string()), format!("exited with code {code}"))
        }
        (None, signal) => {
            Finding::unhealthy(None, format!("killed by signal {}", signal.unwrap_or(0)))
        }
    })
}

/// Whether `child` exits within `timeout`, waiting on a pidfd (Linux 5.3); kernels without
/// pidfds fall back to polling its status every 10 ms. Either way the child is left for the
/// caller's `wait`, which returns its status (`try_wait` keeps the status it reaped).
fn exits_within(child: &mut Child, timeout: Duration) -> bool {
    // Raw: nix has no pidfd_open.
    // SAFETY: pidfd_open with the pid of our own unreaped child and no flags.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) };
    if fd >= 0 {
        // SAFETY: the descriptor was just opened and is owned here.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        // A pidfd becomes readable when the process exits.
        return matches!(poll(&mut fds, timeout), Ok(ready) if ready > 0);
    }
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}
