//! The guard: the forked child of the probe that runs the command and makes sure nothing of it
//! survives. A child subreaper, so every process the command leaves behind (a background child,
//! a `setsid` daemon) is re-parented to it and stays within reach; in a process group of its own,
//! so that a signal to the probe's group (a terminal's ^C, `timeout(1)`) reaches the probe alone,
//! which forwards it once.
//!
//! It waits for the first of: the command's end, the timeout, or the probe's death (the pipe the
//! probe holds open closes). Then it kills the command's group, reaps the command, kills and
//! reaps every process re-parented to it until it has no child left, and only then reports, so
//! that when the probe exits nothing of the command is left.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::prctl;
use nix::sys::signal::{kill, killpg, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::{getpid, setpgid, Pid};

/// The report's size on the pipe: a kind and a value, each an `i32`.
pub const REPORT_LEN: usize = 8;

/// How the command ended, as the guard reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It could not be started: the errno of the failed exec.
    NotStarted(i32),
    /// It ended on its own (or by a signal the probe forwarded) with this status.
    Ended(ExitStatus),
    /// The timeout came first; it was killed.
    TimedOut,
}

impl Ending {
    fn encode(self) -> [u8; REPORT_LEN] {
        let (kind, value) = match self {
            Ending::NotStarted(errno) => (0, errno),
            Ending::Ended(status) => (1, status.into_raw()),
            Ending::TimedOut => (2, 0),
        };
        let mut record = [0; REPORT_LEN];
        record[..4].copy_from_slice(&i32::to_ne_bytes(kind));
        record[4..].copy_from_slice(&i32::to_ne_bytes(value));
        record
    }

    pub fn decode(record: [u8; REPORT_LEN]) -> Option<Ending> {
        let [k0, k1, k2, k3, v0, v1, v2, v3] = record;
        let value = i32::from_ne_bytes([v0, v1, v2, v3]);
        match i32::from_ne_bytes([k0, k1, k2, k3]) {
            0 => Some(Ending::NotStarted(value)),
            1 => Some(Ending::Ended(ExitStatus::from_raw(value))),
            2 => Some(Ending::TimedOut),
            _ => None,
        }
    }
}

/// The guard's life, in the forked child; never returns. `probe_alive` reads end-of-file once the
/// probe is gone; the report goes to `report`.
pub fn run(
    mut command: Command,
    timeout: Duration,
    probe_alive: std::io::PipeReader,
    mut report: std::io::PipeWriter,
) -> ! {
    let ending = guard(&mut command, timeout, &probe_alive);
    // Nobody reads it when the probe is gone; the write then fails, which is fine.
    let _ = report.write_all(&ending.encode());
    // SAFETY: _exit ends this forked child without running the parent's exit handlers or
    // flushing buffers that belong to the probe.
    unsafe { libc::_exit(0) }
}

fn guard(command: &mut Command, timeout: Duration, probe_alive: &std::io::PipeReader) -> Ending {
    let deadline = Instant::now() + timeout;
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    // Without it (a kernel before 3.4), orphans go to PID 1 and only the group is ended.
    let _ = prctl::set_child_subreaper(true);
    // SIGTERM and SIGINT came blocked from the probe; SIGCHLD joins them, all read from here.
    let events: SigSet = [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT]
        .into_iter()
        .collect();
    let signals = events.thread_block().and_then(|()| {
        SignalFd::with_flags(&events, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
    });
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => return Ending::NotStarted(error.raw_os_error().unwrap_or(libc::EIO)),
    };
    let pid = Pid::from_raw(child.id() as libc::pid_t);
    let timed_out = match signals {
        Ok(signals) => wait_for_end(pid, &signals, probe_alive, deadline),
        // No signalfd (descriptors exhausted): the command runs to its end or the timeout, and
        // a stop signal waits for that.
        Err(_) => wait_polling(pid, deadline),
    };
    // The command is not reaped yet, so its pid still names its group and no other process can
    // take it: the group is killed before the command is reaped, never after.
    let _ = killpg(pid, Signal::SIGKILL);
    let status = child.wait();
    end_leftovers();
    match status {
        Ok(status) if !timed_out => Ending::Ended(status),
        _ => Ending::TimedOut,
    }
}

/// Waits until the command `pid` has ended (without reaping it), passing SIGTERM and SIGINT on
/// to its group. Returns `true` when the deadline came first, or the probe died.
fn wait_for_end(
    pid: Pid,
    signals: &SignalFd,
    probe_alive: &std::io::PipeReader,
    deadline: Instant,
) -> bool {
    loop {
        if has_ended(pid) {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds = [
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(probe_alive.as_fd(), PollFlags::POLLIN),
        ];
        match poll(
            &mut fds,
            PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) => return true,
            Err(Errno::EINTR) => continue,
            Err(_) => return wait_polling(pid, deadline),
            Ok(_) => {}
        }
        // The probe never writes: readable means end-of-file, the probe is gone.
        if fds[1].any().unwrap_or(true) {
            return true;
        }
        while let Ok(Some(info)) = signals.read_signal() {
            let number = info.ssi_signo as i32;
            if number != libc::SIGCHLD {
                if let Ok(signal) = Signal::try_from(number) {
                    let _ = killpg(pid, signal);
                }
            }
        }
    }
}

/// Checks every 10 ms whether the command `pid` has ended, until `deadline`; `true` when the
/// deadline came first.
fn wait_polling(pid: Pid, deadline: Instant) -> bool {
    while Instant::now() < deadline {
        if has_ended(pid) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    !has_ended(pid)
}

/// Whether the command has ended, leaving it unreaped (`WNOWAIT`) so its pid keeps naming it.
fn has_ended(pid: Pid) -> bool {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    !matches!(waitid(Id::Pid(pid), flags), Ok(WaitStatus::StillAlive))
}

/// Kills and reaps every child of the guard (the processes the command left, re-parented here)
/// until none is left; a process killed brings its own children here, to be found in turn.
/// Without /proc in the guard's PID namespace they cannot be found, and are left.
fn end_leftovers() {
    // A child re-parented between reading /proc and waiting is not in the list yet: look again,
    // a bounded number of times, for one that never shows (a setuid child hidden by hidepid).
    let mut unseen = 0;
    loop {
        let Some(children) = children() else {
            while waitpid(None, Some(WaitPidFlag::WNOHANG))
                .is_ok_and(|status| status != WaitStatus::StillAlive)
            {}
            return;
        };
        for child in &children {
            // A child not yet reaped: its pid cannot name another process.
            let _ = kill(Pid::from_raw(*child), Signal::SIGKILL);
        }
        let flags = children.is_empty().then_some(WaitPidFlag::WNOHANG);
        match waitpid(None, flags) {
            Err(Errno::ECHILD) => return,
            Ok(WaitStatus::StillAlive) => {
                unseen += 1;
                if unseen > 100 {
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            _ => unseen = 0,
        }
    }
}

/// The guard's children, found in /proc by their parent, numbered as kill(2) takes them; `None`
/// without /proc, or with a /proc of another PID namespace. (The `children` file would be
/// shorter to read, but not every kernel has it.)
fn children() -> Option<Vec<i32>> {
    let me = getpid().as_raw();
    if podkit::proc::own_pid() != Some(me) {
        return None;
    }
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `PID (COMM) STATE PPID ...`: COMM may hold anything, the fields follow its last `)`.
        let fields = stat
            .iter()
            .rposition(|&b| b == b')')
            .map(|at| &stat[at + 1..]);
        let parent = fields
            .and_then(|fields| std::str::from_utf8(fields).ok())
            .and_then(|fields| fields.split_ascii_whitespace().nth(1))
            .and_then(|parent| parent.parse::<i32>().ok());
        if parent == Some(me) {
            children.push(pid);
        }
    }
    Some(children)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ending_survives_the_pipe() {
        for ending in [
            Ending::NotStarted(libc::ENOENT),
            Ending::Ended(ExitStatus::from_raw(7 << 8)),
            Ending::Ended(ExitStatus::from_raw(libc::SIGKILL)),
            Ending::TimedOut,
        ] {
            assert_eq!(Ending::decode(ending.encode()), Some(ending));
        }
        assert_eq!(Ending::decode([9, 0, 0, 0, 0, 0, 0, 0]), None);
    }
}
