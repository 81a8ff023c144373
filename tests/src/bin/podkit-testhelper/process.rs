//! Processes: forking (with a retry when the kernel is briefly out of PIDs), the exit path that
//! keeps a forked child out of the parent's step list, sleeping forever, waiting, and the ids the
//! `pid` step prints.

use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::panic::{self, AssertUnwindSafe};
use std::thread;
use std::time::{Duration, Instant};

use crate::out;

/// Which side of a fork this process is on.
pub enum Fork {
    Child,
    Parent(libc::pid_t),
}

/// How long one fork keeps retrying EAGAIN. A burst of thousands of forks can outrun the reaper
/// (PID 1 or a cgroup's `pids.max`); the PIDs come back as it catches up, so waiting beats failing.
const FORK_PATIENCE: Duration = Duration::from_secs(5);
const FORK_RETRY_PAUSE: Duration = Duration::from_millis(1);

/// fork(2), retried on EAGAIN for up to [`FORK_PATIENCE`].
///
/// Every fork site runs while the helper has a single thread (the servers are the only steps that
/// start threads, and the command line forbids any step after them), so the child may allocate and
/// use std freely. A child must end in [`in_child`] or [`sleep_forever`].
pub fn fork() -> io::Result<Fork> {
    let deadline = Instant::now() + FORK_PATIENCE;
    loop {
        // SAFETY: the helper is single-threaded here (see above), so the child's copy of the
        // address space holds no lock another thread could have been holding at the fork.
        let pid = unsafe { libc::fork() };
        if pid > 0 {
            return Ok(Fork::Parent(pid));
        }
        if pid == 0 {
            return Ok(Fork::Child);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EAGAIN) || Instant::now() >= deadline {
            return Err(io::Error::new(err.kind(), format!("fork: {err}")));
        }
        thread::sleep(FORK_RETRY_PAUSE);
    }
}

/// Runs a forked child's `body` and ends the child: exit 0 when it returns, 1 (after one line on
/// stderr) when it fails, 101 when it panics.
///
/// This is the only way out of a child. Returning normally would carry the child back into the
/// parent's remaining steps, and so would a panic unwinding in a debug build; `_exit` also skips
/// exit-time work that belongs to the parent.
pub fn in_child(body: impl FnOnce() -> io::Result<()>) -> ! {
    let code = match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => 0,
        Ok(Err(err)) => {
            out::warn(&format!("child {}: {err}", own_pid()));
            1
        }
        Err(_) => 101,
    };
    // SAFETY: _exit ends this process at once; nothing in it runs afterwards.
    unsafe { libc::_exit(code) }
}

/// Sleeps until a signal kills the process. pause(2) returns only after a signal handler ran and
/// the helper installs none, so the loop is a guard, not a poll.
pub fn sleep_forever() -> ! {
    loop {
        // SAFETY: pause only suspends the calling thread.
        unsafe { libc::pause() };
    }
}

/// Waits for the child `pid` to end and returns its wait status.
pub fn wait_for(pid: libc::pid_t) -> io::Result<libc::c_int> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a live, writable c_int for waitpid to fill in.
        if unsafe { libc::waitpid(pid, &mut status, 0) } == pid {
            return Ok(status);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(io::Error::new(err.kind(), format!("waitpid {pid}: {err}")));
        }
    }
}

/// Reaps every child that has already ended, without blocking.
pub fn reap_exited() {
    // SAFETY: a null status pointer is allowed and means "do not report the status".
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

/// A pipe as (read end, write end), both close-on-exec.
pub fn pipe() -> io::Result<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(err.kind(), format!("pipe: {err}")));
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and nothing else owns them.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((File::from(read), File::from(write)))
}

/// This process's id, as seen in its own PID namespace.
pub fn own_pid() -> libc::pid_t {
    // SAFETY: getpid cannot fail and has no preconditions.
    unsafe { libc::getpid() }
}

/// `pid P ppid Q pgid G sid S`: the line of the `pid` step.
pub fn identity() -> String {
    // SAFETY: these calls only read the calling process's ids and cannot fail for it.
    let (ppid, pgid, sid) = unsafe { (libc::getppid(), libc::getpgrp(), libc::getsid(0)) };
    format!("pid {} ppid {ppid} pgid {pgid} sid {sid}", own_pid())
}
