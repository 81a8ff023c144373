//! Processes as the host's /proc shows them: the tests look into a namespace from outside.

use std::fs;

use podkit::proc::{Process, Table};

/// One process: its pid and parent as the host numbers them, its state letter and command name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub parent: i32,
    pub state: char,
    pub name: String,
}

impl Proc {
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

/// The tests' view of a process as lib's process table (the one podkit-init and podkit-reload
/// use) read it.
impl From<&Process> for Proc {
    fn from(process: &Process) -> Proc {
        Proc {
            pid: process.pid,
            parent: process.parent,
            state: process.state,
            name: process.comm.to_string_lossy().into_owned(),
        }
    }
}

/// The process `pid`, if it exists.
pub fn get(pid: i32) -> Option<Proc> {
    Process::read(pid).as_ref().map(Proc::from)
}

/// Every process on the host.
pub fn all() -> Vec<Proc> {
    Table::read().iter().map(Proc::from).collect()
}

/// The descendants of `root` (not `root` itself), by parent links.
pub fn descendants(root: i32) -> Vec<Proc> {
    Table::read()
        .descendants(root)
        .into_iter()
        .map(Proc::from)
        .collect()
}

/// The direct children of `parent`.
pub fn children(parent: i32) -> Vec<Proc> {
    all().into_iter().filter(|p| p.parent == parent).collect()
}

/// A process held by a pidfd: a signal sent through it reaches that process, or fails once it
/// is gone, and never reaches a process that got its pid later.
pub struct Pidfd {
    fd: std::os::fd::OwnedFd,
    pub pid: i32,
}

impl Pidfd {
    /// Holds the process `pid` now has.
    pub fn open(pid: i32) -> std::io::Result<Pidfd> {
        use std::os::fd::FromRawFd;
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened by pidfd_open and nothing else owns it.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
        Ok(Pidfd { fd, pid })
    }

    /// Whether the process has exited (a zombie not reaped yet counts: it runs no more).
    pub fn exited(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut poll = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one pollfd this function owns, with no timeout: a pidfd is readable
        // once its process has exited.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) };
        ready > 0
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: i32) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let fd = self.fd.as_raw_fd();
        let no_info = std::ptr::null::<libc::siginfo_t>();
        // SAFETY: pidfd_send_signal with a pidfd this value owns, no siginfo and no flags.
        let sent = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd, signal, no_info, 0) };
        match sent {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    }
}

/// The child of `parent` (the first one), held by a pidfd: found by its parent link, then
/// checked again once held, so that the pidfd is known to hold a child of `parent` and not a
/// process that took the pid of one that ended in between.
pub fn child_held(parent: i32) -> Option<Pidfd> {
    let pid = children(parent).first()?.pid;
    let held = Pidfd::open(pid).ok()?;
    (get(pid)?.parent == parent).then_some(held)
}

/// The command line of the process `pid`, one argument a string, if it exists.
pub fn cmdline(pid: i32) -> Option<Vec<String>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let arguments = raw.split(|byte| *byte == 0).filter(|arg| !arg.is_empty());
    Some(
        arguments
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect(),
    )
}
