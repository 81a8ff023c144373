//! The `child` and `setsid-child` steps: a child left running, in the helper's process group or
//! in a session of its own, for tests of who a signal reaches and who gets reaped.

use std::io;

use crate::out;
use crate::process::{self, Fork};
use crate::ready::Ready;
use crate::signal::{Disposition, Signal};

/// `child`: a child in the helper's process group that ignores `ignore` and sleeps forever.
pub fn child(ignore: &[Signal]) -> io::Result<()> {
    let ready = Ready::new()?;
    match process::fork()? {
        Fork::Child => process::in_child(|| {
            ignore_all(ignore)?;
            settle("child", ready)
        }),
        Fork::Parent(_) => ready.wait(),
    }
}

/// `setsid-child`: a child that leads a new session (so a process-group kill aimed at the helper
/// misses it), ignores `ignore` and sleeps forever. With `grandchild`, an intermediate process that
/// sleeps forever too sits between it and the helper, so the helper is not its parent.
pub fn setsid_child(ignore: &[Signal], grandchild: bool) -> io::Result<()> {
    let ready = Ready::new()?;
    match process::fork()? {
        Fork::Child if grandchild => process::in_child(|| match process::fork()? {
            Fork::Child => process::in_child(|| lead_session(ignore, ready)),
            Fork::Parent(_) => {
                // Only the grandchild may hold the helper back: let go of this copy.
                drop(ready);
                process::sleep_forever()
            }
        }),
        Fork::Child => process::in_child(|| lead_session(ignore, ready)),
        Fork::Parent(_) => ready.wait(),
    }
}

fn lead_session(ignore: &[Signal], ready: Ready) -> io::Result<()> {
    // SAFETY: setsid only changes this process's session and group; a fresh child is never a
    // group leader, so it cannot fail with EPERM.
    if unsafe { libc::setsid() } < 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(err.kind(), format!("setsid: {err}")));
    }
    ignore_all(ignore)?;
    settle("setsid-child", ready)
}

fn ignore_all(signals: &[Signal]) -> io::Result<()> {
    signals.iter().try_for_each(|signal| signal.ignore())
}

/// Announces `LABEL PID`, releases the helper, and sleeps until killed.
fn settle(label: &str, ready: Ready) -> io::Result<()> {
    out::say(&format!("{label} {}", process::own_pid()));
    ready.done()?;
    process::sleep_forever()
}
