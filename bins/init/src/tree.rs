//! podkit-init's own descendants, and signalling them all without ever hitting anything else.
//!
//! "The tree" is found by walking parent links in /proc down from podkit-init's own pid, so a
//! podkit-init that shares its PID namespace (`shareProcessNamespace`, `--pid=host`, a subreaper
//! under another init) leaves its neighbours alone. Each process is then signalled through a
//! handle on its /proc directory, which is bound to that very process: if it exited and its pid was
//! recycled since the walk, the signal fails instead of reaching a stranger.

use std::fs::{self, File};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};

use podkit::signal::Signal;

/// One line of /proc/PID/stat, the fields that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    pid: libc::pid_t,
    parent: libc::pid_t,
    /// Clock ticks since boot when the process started: with the pid, it names a process uniquely.
    start_time: u64,
    zombie: bool,
}

/// Sends `signal` to every live descendant of podkit-init and returns how many it reached.
/// Zombies are skipped: they are dead already and only wait to be reaped.
pub fn signal_descendants(signal: Signal) -> usize {
    let Some(root) = own_pid_in_proc() else {
        return 0;
    };
    // Only a /proc that numbers pids as podkit-init does lets a pid from it go to kill(2).
    let proc_is_ours = root == std::process::id() as libc::pid_t;
    let mut table = read_table();
    table.sort_unstable_by_key(|entry| entry.parent);
    descendants(root, &table)
        .filter(|entry| !entry.zombie)
        .filter(|entry| send_exact(entry, signal, proc_is_ours))
        .count()
}

/// podkit-init's pid as the mounted /proc numbers it, which differs from getpid() when /proc
/// belongs to an outer PID namespace (`unshare --pid` without `--mount-proc`).
fn own_pid_in_proc() -> Option<libc::pid_t> {
    fs::read_link("/proc/self").ok()?.to_str()?.parse().ok()
}

/// Every process /proc lists right now; ones that vanish while being read are simply absent.
fn read_table() -> Vec<Entry> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let pid: libc::pid_t = entry.ok()?.file_name().to_str()?.parse().ok()?;
        parse_stat(pid, &fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    })
    .collect()
}

/// Breadth-first from `root` through a table sorted by parent pid.
fn descendants(root: libc::pid_t, by_parent: &[Entry]) -> impl Iterator<Item = Entry> + '_ {
    let mut queue = vec![root];
    let mut found = Vec::new();
    while let Some(parent) = queue.pop() {
        let start = by_parent.partition_point(|entry| entry.parent < parent);
        for entry in by_parent[start..]
            .iter()
            .take_while(|entry| entry.parent == parent)
        {
            queue.push(entry.pid);
            found.push(*entry);
        }
    }
    found.into_iter()
}

fn parse_stat(pid: libc::pid_t, stat: &str) -> Option<Entry> {
    // The command name sits in parentheses and may itself hold spaces and parentheses.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_ascii_whitespace();
    let state = fields.next()?;
    let parent = fields.next()?.parse().ok()?;
    let start_time = fields.nth(17)?.parse().ok()?;
    Some(Entry {
        pid,
        parent,
        start_time,
        zombie: state == "Z" || state == "X",
    })
}

/// Signals `entry` only if the process behind its pid is still the one the walk saw. Falls back
/// to kill(2) on kernels without pidfd_send_signal, but only if `kill_may_fall_back`: the pids
/// are podkit-init's own numbering.
fn send_exact(entry: &Entry, signal: Signal, kill_may_fall_back: bool) -> bool {
    let Ok(handle) = File::open(format!("/proc/{}", entry.pid)) else {
        return false;
    };
    // SAFETY: openat on a valid directory fd with a NUL-terminated relative path.
    let stat_fd = unsafe {
        libc::openat(
            handle.as_raw_fd(),
            c"stat".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if stat_fd < 0 {
        return false;
    }
    // SAFETY: stat_fd was just opened and nothing else owns it.
    let mut stat_file = unsafe { File::from_raw_fd(stat_fd) };
    let mut stat = String::new();
    if stat_file.read_to_string(&mut stat).is_err() || parse_stat(entry.pid, &stat) != Some(*entry)
    {
        return false;
    }
    // SAFETY: pidfd_send_signal with a /proc/PID directory fd, a valid signal and no siginfo.
    let sent = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            handle.as_raw_fd(),
            signal.number(),
            std::ptr::null::<u8>(),
            0,
        )
    };
    if sent == 0 {
        return true;
    }
    // Kernels before 5.1 lack pidfd_send_signal; the start-time check just above narrows the
    // window to microseconds, which is the best they allow.
    let unsupported = std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS);
    if unsupported && kill_may_fall_back {
        // SAFETY: kill with a pid of podkit-init's own namespace, verified a moment ago.
        return unsafe { libc::kill(entry.pid, signal.number()) } == 0;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_parentheses_in_the_name() {
        let line =
            "42 (a) b (c)) S 7 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10 1844";
        assert_eq!(
            parse_stat(42, line),
            Some(Entry {
                pid: 42,
                parent: 7,
                start_time: 123456,
                zombie: false
            })
        );
        let zombie = "9 (x) Z 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77 0 0";
        assert!(parse_stat(9, zombie).unwrap().zombie);
        assert_eq!(parse_stat(9, "9 (truncated"), None);
    }

    #[test]
    fn descendants_follow_parent_links_and_nothing_else() {
        let entry = |pid, parent| Entry {
            pid,
            parent,
            start_time: 0,
            zombie: false,
        };
        // 1 is the root's parent (a neighbour's init), 10 the root, 20 a sibling outside the tree.
        let mut table = vec![
            entry(10, 1),
            entry(20, 1),
            entry(11, 10),
            entry(12, 11),
            entry(13, 12),
            entry(21, 20),
            entry(14, 10),
        ];
        table.sort_unstable_by_key(|e| e.parent);
        let mut found: Vec<_> = descendants(10, &table).map(|e| e.pid).collect();
        found.sort_unstable();
        assert_eq!(found, [11, 12, 13, 14]);
    }

    #[test]
    fn the_walk_finds_a_real_grandchild_of_this_process() {
        // Both processes end on their own: this test signals nothing.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 1 & wait"])
            .spawn()
            .unwrap();
        let root = own_pid_in_proc().unwrap();
        let mut found = Vec::new();
        for _ in 0..500 {
            let mut table = read_table();
            table.sort_unstable_by_key(|e| e.parent);
            found = descendants(root, &table).collect();
            if found.len() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.wait().unwrap();
        assert!(found.iter().any(|e| e.pid == child.id() as libc::pid_t));
        assert!(
            found.iter().any(|e| e.parent == child.id() as libc::pid_t),
            "the grandchild: {found:?}"
        );
    }
}
