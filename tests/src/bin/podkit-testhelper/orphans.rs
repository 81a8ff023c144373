//! The `orphans` step: make N processes whose parent is gone, so the nearest subreaper or PID 1
//! inherits them and has to reap them.

use std::io;
use std::thread;
use std::time::Duration;

use crate::out;
use crate::process::{self, Fork};

/// Forks an intermediate process that forks `count` children and exits at once, without waiting
/// for them; each child sleeps `linger`, then exits 0. Prints `orphans N` once the intermediate is
/// gone, i.e. once all `count` children exist and have been reparented.
pub fn orphans(count: usize, linger: Duration) -> io::Result<()> {
    let intermediate = match process::fork()? {
        Fork::Child => process::in_child(|| {
            for _ in 0..count {
                if let Fork::Child = process::fork()? {
                    process::in_child(|| {
                        thread::sleep(linger);
                        Ok(())
                    });
                }
            }
            Ok(())
        }),
        Fork::Parent(pid) => pid,
    };
    let status = process::wait_for(intermediate)?;
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let how = if libc::WIFSIGNALED(status) {
            format!("was killed by signal {}", libc::WTERMSIG(status))
        } else {
            format!("exited {}", libc::WEXITSTATUS(status))
        };
        return Err(io::Error::other(format!(
            "the process forking the orphans {how}"
        )));
    }
    out::say(&format!("orphans {count}"));
    Ok(())
}
