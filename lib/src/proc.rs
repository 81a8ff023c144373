//! The process table as /proc shows it, and signalling one process without ever hitting another.
//!
//! A pid read from /proc is only a number: by the time a signal goes out, the process may have
//! exited and the kernel may have given its pid to a stranger. So a [`Process`] carries its start
//! time too (with the pid, it names one process for the life of the system), and
//! [`Process::signal`] goes through a handle on the process's /proc directory, which stays bound to
//! that very process: the start time is checked through the handle, and the signal sent through it
//! (`pidfd_send_signal`), so a recycled pid makes the signal fail instead of reaching a stranger.
//!
//! It owns reading the table ([`Table`]), a process's descendants, the name rule that finds a
//! program's top process ([`processes_named`]) and sending signals. It does not own which processes
//! a tool signals or when: podkit-init walks its own tree, podkit-reload looks programs up by name.
//! No async runtime and no cargo feature: podkit-init links this module.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;

use crate::signal::Signal;

/// One process, as its /proc/PID/stat showed it when the table was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// The pid as the mounted /proc numbers it (see [`own_pid`]).
    pub pid: libc::pid_t,
    pub parent: libc::pid_t,
    /// Clock ticks since boot when the process started: with the pid, it names a process uniquely.
    pub start_time: u64,
    /// The state letter: `R` running, `S` sleeping, `T` stopped, `Z` zombie...
    pub state: char,
    /// The kernel's name for the process (`comm`): the base name of the program it exec'd, cut at
    /// 15 bytes.
    pub comm: OsString,
}

impl Process {
    /// The process with this pid right now, or `None` if there is none (or /proc is not mounted).
    pub fn read(pid: libc::pid_t) -> Option<Process> {
        parse_stat(pid, &fs::read(format!("/proc/{pid}/stat")).ok()?)
    }

    /// Dead already: a zombie waiting to be reaped (`Z`) or a process on its way out (`X`).
    /// Signalling one does nothing.
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z' || self.state == 'X'
    }

    /// Whether the process is called `name`: its `comm`, or the base name of the first word of its
    /// command line, which is not cut at 15 bytes (`comm` of `podkit-ambassador` is
    /// `podkit-ambassad`) and is what a program renamed through its `argv[0]` shows.
    pub fn name_is(&self, name: &str) -> bool {
        if self.comm.as_bytes() == name.as_bytes() {
            return true;
        }
        let cmdline = fs::read(format!("/proc/{}/cmdline", self.pid)).unwrap_or_default();
        let first = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        let base = first.rsplit(|b| *b == b'/').next().unwrap_or_default();
        base == name.as_bytes()
    }

    /// Sends `signal` to this process, if it is still the one that was read: same pid, same start
    /// time. Nothing is sent when it has exited or its pid was recycled ([`SignalError::is_gone`]).
    ///
    /// The check and the signal both go through a handle on /proc/PID, which pins the process, so
    /// nothing can change between them. Where `pidfd_send_signal` is missing (kernels before 5.1)
    /// or denied (a seccomp profile: EPERM under older Docker's, ENOSYS under others), the signal
    /// falls back to `kill(2)` right after the check, which narrows the window to microseconds,
    /// the best they allow; but only when /proc numbers pids as this process does (its own
    /// namespace's /proc), since a pid from another namespace's /proc names someone else to
    /// `kill(2)`.
    pub fn signal(&self, signal: Signal) -> Result<(), SignalError> {
        let gone = || SignalError::Gone { pid: self.pid };
        let refused = |error| SignalError::Refused {
            pid: self.pid,
            signal,
            error,
        };
        let handle = match File::open(format!("/proc/{}", self.pid)) {
            Ok(handle) => handle,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(gone()),
            Err(e) => return Err(refused(e)),
        };
        let stat_fd = openat(
            &handle,
            c"stat",
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|_| gone())?;
        let mut stat = Vec::new();
        // Reading the stat of a process that has been reaped since the handle opened fails (ESRCH).
        File::from(stat_fd)
            .read_to_end(&mut stat)
            .map_err(|_| gone())?;
        let now = parse_stat(self.pid, &stat).ok_or_else(gone)?;
        // Only the identity is compared: a process reparented or stopped since is still the one.
        if now.start_time != self.start_time {
            return Err(gone());
        }
        match pidfd_send_signal(&handle, signal) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Err(gone()),
            // ENOSYS from a kernel before 5.1 or a seccomp profile that does not know the call,
            // EPERM from an older Docker's profile that denies it: kill(2) stands in. A real
            // lack of permission fails there again, and is reported from there.
            Err(_) if proc_is_ours() => {
                kill(self.pid, signal).map_err(|kill_error| match kill_error.raw_os_error() {
                    Some(libc::ESRCH) => gone(),
                    _ => refused(kill_error),
                })
            }
            Err(e) => Err(refused(e)),
        }
    }
}

/// Why [`Process::signal`] sent nothing.
#[derive(Debug)]
pub enum SignalError {
    /// The process exited, or its pid now names another process.
    Gone { pid: libc::pid_t },
    /// The kernel refused: another user's process (`EPERM`), a seccomp profile, or a kernel
    /// without `pidfd_send_signal` where `kill(2)` may not stand in.
    Refused {
        pid: libc::pid_t,
        signal: Signal,
        error: io::Error,
    },
}

impl SignalError {
    /// Whether the process was simply no longer there: for a tool that signals a set of
    /// processes (an old worker that finished meanwhile), no failure.
    pub fn is_gone(&self) -> bool {
        matches!(self, SignalError::Gone { .. })
    }
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalError::Gone { pid } => write!(f, "pid {pid} is gone"),
            SignalError::Refused { pid, signal, error } => {
                write!(f, "{signal} to pid {pid}: {error}")
            }
        }
    }
}

impl std::error::Error for SignalError {}

/// Every process /proc listed at one moment; ones that vanished while it was read are absent.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Sorted by parent pid, so that a process's children are one slice.
    by_parent: Vec<Process>,
}

impl Table {
    /// Reads /proc now. Without /proc (or with a /proc that hides other processes) the table is
    /// empty or partial, never an error: callers treat a missing process as gone.
    pub fn read() -> Table {
        let Ok(dir) = fs::read_dir("/proc") else {
            return Table::default();
        };
        let processes = dir.filter_map(|entry| {
            let pid: libc::pid_t = entry.ok()?.file_name().to_str()?.parse().ok()?;
            Process::read(pid)
        });
        Table::from_processes(processes)
    }

    /// A table of the given processes, for callers (and tests) that have them already.
    pub fn from_processes(processes: impl IntoIterator<Item = Process>) -> Table {
        let mut by_parent: Vec<Process> = processes.into_iter().collect();
        by_parent.sort_unstable_by_key(|process| process.parent);
        Table { by_parent }
    }

    /// Every process in the table.
    pub fn iter(&self) -> impl Iterator<Item = &Process> {
        self.by_parent.iter()
    }

    /// The process with this pid, if the table has it.
    pub fn get(&self, pid: libc::pid_t) -> Option<&Process> {
        self.by_parent.iter().find(|process| process.pid == pid)
    }

    /// The children, grandchildren and so on of `root`, found by parent links alone, each parent
    /// before its children; `root` itself is not included.
    pub fn descendants(&self, root: libc::pid_t) -> Vec<&Process> {
        let mut parents = vec![root];
        let mut found = Vec::new();
        while let Some(parent) = parents.pop() {
            let start = self.by_parent.partition_point(|p| p.parent < parent);
            for child in self.by_parent[start..]
                .iter()
                .take_while(|p| p.parent == parent)
            {
                parents.push(child.pid);
                found.push(child);
            }
        }
        found
    }

    /// The top process of each tree of processes called `name` (see [`processes_named`]).
    pub fn named(&self, name: &str) -> Vec<&Process> {
        let me = own_pid();
        self.by_parent
            .iter()
            .filter(|process| Some(process.pid) != me && !process.is_zombie())
            .filter(|process| process.name_is(name))
            .filter(|process| {
                !self
                    .get(process.parent)
                    .is_some_and(|parent| parent.name_is(name))
            })
            .collect()
    }
}

/// The processes called `name` ([`Process::name_is`]) whose parent is not also called `name`:
/// nginx's master, not its workers (the master passes a signal on to its workers, and a worker may
/// run as a user the caller may not signal). Zombies and the calling process are left out.
pub fn processes_named(name: &str) -> Vec<Process> {
    Table::read().named(name).into_iter().cloned().collect()
}

/// This process's pid as the mounted /proc numbers it, which differs from getpid() when /proc
/// belongs to an outer PID namespace (`unshare --pid` without `--mount-proc`); `None` without /proc.
pub fn own_pid() -> Option<libc::pid_t> {
    fs::read_link("/proc/self").ok()?.to_str()?.parse().ok()
}

/// Whether the mounted /proc numbers pids as this process does, so that its pids may go to kill(2)
/// and be compared with the ones fork returned.
pub fn proc_is_ours() -> bool {
    own_pid() == Some(std::process::id() as libc::pid_t)
}

/// kill(2) for a pid (or `-pgid`) that cannot have been recycled, such as a child not yet reaped;
/// any other process is signalled through [`Process::signal`].
///
/// Raw libc rather than `nix::sys::signal::kill`: nix's `Signal` is an enum of the classic
/// signals and cannot express the real-time ones (`SIGRTMIN+n`), which podkit forwards and sends.
pub fn kill(pid: libc::pid_t, signal: Signal) -> io::Result<()> {
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    match unsafe { libc::kill(pid, signal.number()) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// pidfd_send_signal(2) through a /proc/PID directory handle (Linux 5.1); nix has no wrapper.
fn pidfd_send_signal(handle: &File, signal: Signal) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a /proc/PID directory fd we hold open, a valid signal number, no siginfo, no flags.
    let sent = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            handle.as_raw_fd(),
            signal.number(),
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    match sent {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Reads /proc/PID/stat. The name sits in parentheses and may itself hold spaces, parentheses
/// and bytes that are not UTF-8, so it is taken up to the last `)`.
fn parse_stat(pid: libc::pid_t, stat: &[u8]) -> Option<Process> {
    let open = stat.iter().position(|b| *b == b'(')?;
    let close = stat.iter().rposition(|b| *b == b')')?;
    let comm = OsString::from_vec(stat.get(open + 1..close)?.to_vec());
    let after_name = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let mut fields = after_name.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    let start_time = fields.nth(17)?.parse().ok()?;
    Some(Process {
        pid,
        parent,
        start_time,
        state,
        comm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    fn process(pid: libc::pid_t, parent: libc::pid_t) -> Process {
        Process {
            pid,
            parent,
            start_time: 0,
            state: 'S',
            comm: "x".into(),
        }
    }

    /// Polls `found` every 10 ms for at most 5 s; the processes under test start asynchronously.
    fn eventually<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
        for _ in 0..500 {
            if let Some(value) = found() {
                return value;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("gave up waiting for {what}");
    }

    #[test]
    fn stat_lines_parse_even_with_parentheses_in_the_name() {
        let line =
            b"42 (a) b (c)) S 7 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10 1844";
        assert_eq!(
            parse_stat(42, line),
            Some(Process {
                pid: 42,
                parent: 7,
                start_time: 123456,
                state: 'S',
                comm: "a) b (c)".into(),
            })
        );
        let zombie = b"9 (x) Z 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77 0 0";
        assert!(parse_stat(9, zombie).unwrap().is_zombie());
        assert_eq!(parse_stat(9, b"9 (truncated"), None);
        let not_utf8 = b"5 (\xff\xfe) S 1 5 5 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 88 0 0";
        assert_eq!(
            parse_stat(5, not_utf8).unwrap().comm.as_bytes(),
            b"\xff\xfe"
        );
    }

    #[test]
    fn descendants_follow_parent_links_and_nothing_else() {
        // 1 is the root's parent (a neighbour's init), 10 the root, 20 a sibling outside the tree.
        let table = Table::from_processes([
            process(10, 1),
            process(20, 1),
            process(11, 10),
            process(12, 11),
            process(13, 12),
            process(21, 20),
            process(14, 10),
        ]);
        let found: Vec<_> = table.descendants(10).iter().map(|p| p.pid).collect();
        let mut sorted = found.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [11, 12, 13, 14]);
        let position = |pid| found.iter().position(|p| *p == pid).unwrap();
        assert!(position(11) < position(12) && position(12) < position(13));
    }

    #[test]
    fn the_walk_finds_a_real_grandchild_of_this_process() {
        // Both processes end on their own: this test signals nothing.
        let mut child = Command::new("sh")
            .args(["-c", "sleep 1 & wait"])
            .spawn()
            .unwrap();
        let child_pid = child.id() as libc::pid_t;
        let root = own_pid().unwrap();
        let found = eventually("the grandchild", || {
            let table = Table::read();
            let found: Vec<Process> = table.descendants(root).into_iter().cloned().collect();
            found.iter().any(|p| p.parent == child_pid).then_some(found)
        });
        child.wait().unwrap();
        assert!(found.iter().any(|p| p.pid == child_pid), "{found:?}");
    }

    #[test]
    fn a_name_finds_the_top_of_its_tree_by_comm_or_argv0_never_a_worker() {
        // A shell started as `podkit-twin` (a symlink, so comm is the link's name) starts another
        // one the same way: only the outer one is "the process called podkit-twin". A `sleep`
        // whose argv[0] reads /opt/podkit-argv0 is found by its command line.
        let dir = std::env::temp_dir().join(format!("podkit-proc-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let twin = dir.join("podkit-twin");
        let _ = fs::remove_file(&twin);
        std::os::unix::fs::symlink("/bin/sh", &twin).unwrap();
        let inner = format!("{} -c 'read line'; true", twin.display());
        let mut outer = Command::new(&twin)
            .args(["-c", &inner])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let outer_pid = outer.id() as libc::pid_t;
        let mut renamed = std::os::unix::process::CommandExt::arg0(
            &mut Command::new("sleep"),
            "/opt/podkit-argv0",
        )
        .arg("30")
        .spawn()
        .unwrap();

        eventually("the inner podkit-twin", || {
            let table = Table::read();
            let inner = table
                .descendants(outer_pid)
                .into_iter()
                .any(|p| p.comm == "podkit-twin");
            inner.then_some(())
        });
        let found: Vec<_> = processes_named("podkit-twin")
            .iter()
            .map(|p| p.pid)
            .collect();
        let argv0: Vec<_> = processes_named("podkit-argv0")
            .iter()
            .map(|p| p.pid)
            .collect();

        drop(outer.stdin.take());
        outer.wait().unwrap();
        renamed.kill().unwrap();
        renamed.wait().unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found, [outer_pid]);
        assert_eq!(argv0, [renamed.id() as libc::pid_t]);
        assert!(processes_named("podkit-twin").is_empty());
    }

    #[test]
    fn a_signal_reaches_the_process_read_and_never_one_with_another_start_time() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as libc::pid_t;
        let read = Process::read(pid).unwrap();

        // The same pid with another start time stands for a process that exited and whose pid
        // was recycled: nothing is sent.
        let stranger = Process {
            start_time: read.start_time + 1,
            ..read.clone()
        };
        let error = stranger.signal(Signal::TERM).unwrap_err();
        assert!(error.is_gone(), "{error}");
        assert_eq!(child.try_wait().unwrap(), None, "the child was signalled");

        read.signal(Signal::TERM).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        // Reaped now: its pid names nothing (or someone else) and the signal is refused as gone.
        assert!(read.signal(Signal::TERM).unwrap_err().is_gone());
    }
}
