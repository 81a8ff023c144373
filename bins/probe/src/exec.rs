//! The exec check: run a command, healthy when it exits 0, killed (with its process group) when
//! it outlives the timeout. No runtime and no thread: the wait is a poll on a pidfd.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::Duration;

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
    let pid = child.id() as libc::pid_t;
    if !exits_within(pid, timeout) {
        // SAFETY: kill the process group of our own unreaped child (it leads the group).
        unsafe { libc::kill(-pid, libc::SIGKILL) };
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

/// Whether the child `pid` exits within `timeout`, waiting on a pidfd (Linux 5.3); kernels
/// without pidfds fall back to polling its status every 10 ms.
fn exits_within(pid: libc::pid_t, timeout: Duration) -> bool {
    // SAFETY: pidfd_open with the pid of our own unreaped child and no flags.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd >= 0 {
        // SAFETY: the descriptor was just opened and is owned here.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut poll = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd; a pidfd becomes readable when the process exits.
        return unsafe { libc::poll(&mut poll, 1, millis) } > 0;
    }
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: waitid with WNOWAIT only peeks at our own child's state; info is valid for writes.
        let peeked = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                info.as_mut_ptr(),
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: waitid zero-filled or filled `info`; si_pid is 0 while the child runs.
        if peeked == 0 && unsafe { info.assume_init().si_pid() } != 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}
