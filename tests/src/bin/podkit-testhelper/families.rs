//! The `families` step: parents that die of SIGTERM, each with a child in a session of its own
//! that reports the signals it gets. When a parent dies, its child is adopted by the nearest
//! subreaper or PID 1, which alone can then pass a stop on to it.

use std::io;
use std::path::Path;

use crate::out;
use crate::process::{self, Fork};
use crate::ready::Ready;
use crate::signal::Signal;
use crate::sigwait;

/// Forks `count` parents in the helper's process group, with default dispositions, sleeping
/// forever; each forks a child that leads a new session (so a signal to the helper's group misses
/// it) and runs the `signals` step with `--exit-on TERM --log LOG.I`, I counting from 0. Prints
/// `families N` once every child is set up.
pub fn families(count: usize, log: &Path) -> io::Result<()> {
    for index in 0..count {
        let ready = Ready::new()?;
        let log = log.with_file_name(format!(
            "{}.{index}",
            log.file_name().unwrap_or_default().to_string_lossy()
        ));
        match process::fork()? {
            Fork::Child => process::in_child(|| match process::fork()? {
                Fork::Child => process::in_child(|| {
                    // SAFETY: setsid only changes this process's session; a fresh child is never
                    // a group leader, so it cannot fail with EPERM.
                    if unsafe { libc::setsid() } < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    sigwait::signals_then_ready(&[], &[Signal::TERM], Some(&log), Some(ready))
                        .map(|never| match never {})
                }),
                Fork::Parent(_) => {
                    drop(ready);
                    process::sleep_forever()
                }
            }),
            Fork::Parent(_) => ready.wait()?,
        }
    }
    out::say(&format!("families {count}"));
    Ok(())
}
