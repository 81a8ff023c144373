//! The `wait-reaped` step: poll /proc until every process but PID 1 and the helper's own line of
//! ancestors is gone, to time how fast PID 1 reaps orphans.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::thread;
use std::time::Duration;

use crate::out;
use crate::process;

/// How often /proc is listed. Fine enough to time a reaper, coarse enough not to starve it.
const POLL: Duration = Duration::from_millis(1);

/// Returns once nothing is left in the PID namespace but PID 1 and the helper with its ancestors,
/// then prints `reaped`. A zombie has a /proc entry, so an unreaped process still counts.
pub fn wait_reaped() -> io::Result<()> {
    check_proc_is_ours()?;
    let expected = ancestry()?;
    while strangers(&expected)? {
        thread::sleep(POLL);
    }
    out::say("reaped");
    Ok(())
}

/// A /proc mounted for another PID namespace would show processes this step can never see reaped
/// (or not show the ones it should): refuse it instead of polling forever.
fn check_proc_is_ours() -> io::Result<()> {
    let target = fs::read_link("/proc/self")
        .map_err(|err| io::Error::new(err.kind(), format!("/proc/self: {err}")))?;
    let pid = process::own_pid();
    if target.to_str() != Some(pid.to_string().as_str()) {
        return Err(io::Error::other(format!(
            "/proc belongs to another PID namespace (/proc/self is {}, getpid() is {pid}); \
             mount a proc for this one",
            target.display()
        )));
    }
    Ok(())
}

/// PID 1, the helper and each of its ancestors up to the top of the namespace.
fn ancestry() -> io::Result<HashSet<u32>> {
    let mut pids = HashSet::from([1]);
    let mut pid = u32::try_from(process::own_pid()).expect("a PID is positive");
    while pid > 1 {
        pids.insert(pid);
        pid = parent_of(pid)?;
    }
    Ok(pids)
}

/// The parent PID from /proc/PID/stat; 0 when the parent is outside the namespace.
fn parent_of(pid: u32) -> io::Result<u32> {
    let parent = podkit_tests::procs::get(pid as i32).map(|proc| proc.parent);
    let parent =
        parent.ok_or_else(|| io::Error::other(format!("/proc/{pid}/stat: cannot be read")))?;
    Ok(u32::try_from(parent).unwrap_or(0))
}

/// Whether /proc lists any process outside `expected`.
fn strangers(expected: &HashSet<u32>) -> io::Result<bool> {
    for entry in fs::read_dir("/proc")? {
        let name = entry?.file_name();
        // Non-numeric entries are /proc's own files; /proc lists processes, not threads.
        if let Some(pid) = name.to_str().and_then(|name| name.parse::<u32>().ok()) {
            if !expected.contains(&pid) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
