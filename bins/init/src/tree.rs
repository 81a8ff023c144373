//! podkit-init's process tree as /proc shows it, and signalling it: every descendant (`setsid`
//! ones included), the orphans it adopted, and the fallback when /proc cannot show the tree.
//!
//! "The tree" is found by walking parent links in /proc down from podkit-init's own pid, so a
//! podkit-init that shares its PID namespace (`shareProcessNamespace`, `--pid=host`, a subreaper
//! under another init) leaves its neighbours alone; and each process is signalled through
//! [`podkit::proc::Process::signal`], so one that exited since the walk, its pid recycled, is
//! skipped rather than hit. Zombies are skipped too: they are dead already and only wait to be
//! reaped.

use podkit::debug;
use podkit::proc::{self, Process, Table};
use podkit::signal::Signal;

/// The tree at one moment.
pub struct Tree {
    table: Table,
    root: libc::pid_t,
}

impl Tree {
    /// The tree now, or `None` when /proc does not show podkit-init itself: not mounted, an empty
    /// tmpfs over it, or `hidepid`. Then only [`kill_namespace`] can reach what podkit-init did
    /// not start.
    pub fn read() -> Option<Tree> {
        let root = proc::own_pid()?;
        let table = Table::read();
        table.get(root)?;
        Some(Tree { table, root })
    }

    /// Every live descendant, each parent before its children.
    pub fn members(&self) -> Vec<&Process> {
        live(self.table.descendants(self.root))
    }

    /// The processes podkit-init adopted (its children that are not one of `own`, the children it
    /// started) with their descendants: their parent is gone, so no one but podkit-init will pass
    /// a stop on to them. Empty when /proc numbers pids otherwise than fork did (it belongs to an
    /// outer PID namespace), since `own` cannot then be told apart.
    pub fn orphans(&self, own: &[libc::pid_t]) -> Vec<&Process> {
        if !proc::proc_is_ours() {
            return Vec::new();
        }
        let adopted = self
            .table
            .descendants(self.root)
            .into_iter()
            .filter(|process| process.parent == self.root && !own.contains(&process.pid));
        live(
            adopted
                .flat_map(|process| {
                    std::iter::once(process).chain(self.table.descendants(process.pid))
                })
                .collect(),
        )
    }
}

fn live(processes: Vec<&Process>) -> Vec<&Process> {
    processes
        .into_iter()
        .filter(|process| !process.is_zombie())
        .collect()
}

/// Sends `signal` to each process; returns how many it reached.
pub fn signal_each<'a>(processes: impl IntoIterator<Item = &'a Process>, signal: Signal) -> usize {
    processes
        .into_iter()
        .filter(|process| match process.signal(signal) {
            Ok(()) => true,
            Err(e) => {
                if !e.is_gone() {
                    debug!("cannot signal", error = e);
                }
                false
            }
        })
        .count()
}

/// `kill(-1, signal)` as PID 1: every process of the namespace but podkit-init itself, which as
/// PID 1 is its whole tree (and what the kernel kills anyway once PID 1 exits). This needs no
/// /proc and no pidfd, so the grace holds where neither works. Never called otherwise: for any
/// other process, -1 means every process of the user, far beyond its tree.
pub fn kill_namespace(signal: Signal) {
    if std::process::id() != 1 {
        return;
    }
    // ESRCH: nothing left to signal; EPERM: nothing podkit-init may signal. Either way there is
    // nothing more it can do, and the caller goes on reaping.
    if let Err(e) = proc::kill(-1, signal) {
        if e.raw_os_error() != Some(libc::ESRCH) {
            debug!("cannot signal the namespace", signal = signal, error = e);
        }
    }
}
