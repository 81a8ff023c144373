//! The watcher of kubelet-written volumes: tells a tool that the content behind some paths has
//! changed, so it can reload a certificate or fire a webhook.
//!
//! It owns the watching (inotify, through `notify`), the debounce, the content hashes and the
//! periodic resync. It neither reads content for the tool nor decides what a change means:
//! [`VolumeWatch::changed`] says which paths changed, and the tool re-reads and validates them.
//! A writer that pauses longer than the debounce in the middle of a file (`cp` of a large file
//! over the watched one) can show a half-written file: the tool keeps what it had when the new
//! content does not parse, and the rest of the write is the next change.
//!
//! Why directories are watched, never files: the kubelet's AtomicWriter updates a Secret or
//! ConfigMap volume by writing a new `..2026_11_23_01_02_03.123456789/` directory, pointing a
//! `..data_tmp` symlink at it and renaming that over `..data`; the user-visible `cert.pem` is a
//! symlink to `..data/cert.pem`. The rename is the commit, and it happens in the volume
//! directory, as do `mv`, an editor's save through a temporary file, and delete then create. A
//! watch on the file itself follows an inode that the update replaces, and goes silent after the
//! first update. So the directory is watched, an event only means "look again", and what counts is
//! the content hash: a touch, a chmod or an identical rewrite stays silent, and the dozen events
//! of one kubelet update make one change. The layout itself, which names are the kubelet's and
//! when it committed, is known in [`kubelet`] and nowhere else.
//!
//! What no event shows, the resync catches (a re-hash every minute by default): events lost to an
//! inotify queue overflow, a network filesystem, a symlink to a file outside the watched
//! directory. A `subPath` mount is never updated by the kubelet at all: there is nothing to watch,
//! and [`VolumeWatch::new`] says so in a warning.
//!
//! What exists but cannot be read (a Secret's key at 0400 owned by another user) is hashed as an
//! error, not skipped: [`VolumeWatch::unreadable`] lists it, for the tool to say so.
//!
//! ```no_run
//! # async fn run() -> Result<(), podkit::watch::WatchError> {
//! use std::path::PathBuf;
//! use podkit::watch::{VolumeWatch, WatchOptions};
//!
//! let files = [PathBuf::from("/etc/tls/tls.crt"), PathBuf::from("/etc/tls/tls.key")];
//! let mut watch = VolumeWatch::new(&files, WatchOptions::default())?;
//! loop {
//!     let change = watch.changed().await;
//!     podkit::info!("reloading", changed = change);
//!     // ... re-read the files; keep the old material if the new one does not load ...
//! }
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, Metadata};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Config, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub mod kubelet;

/// How a [`VolumeWatch`] turns events into changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// Quiet time after the last event before the content is hashed, so that the events of one
    /// update (a kubelet swap, an editor's save) make one change, seen once the update is whole.
    /// A steady stream of events (a log file written next to the watched one) delays the hash by
    /// at most [`BURST_CAP`] debounces. Default 100 ms.
    pub debounce: Duration,
    /// Re-hash this often even without events, to catch what events missed: an inotify queue
    /// overflow, a network filesystem, a symlink out of the watched directory. `None` trusts the
    /// events alone. Keep it well above the debounce: each resync reads every watched file.
    /// Default 60 s.
    pub resync: Option<Duration>,
}

impl Default for WatchOptions {
    fn default() -> WatchOptions {
        WatchOptions {
            debounce: Duration::from_millis(100),
            resync: Some(Duration::from_secs(60)),
        }
    }
}

/// However long events keep coming, the content is hashed at most this many debounces after the
/// first of them: a busy neighbour in the watched directory must not starve a reload.
pub const BURST_CAP: u32 = 10;

/// Which watched paths changed, as [`VolumeWatch::changed`] reports it. Its `Display` lists the
/// paths for a log line, marking the absent ones.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Change {
    /// The paths whose content differs from the last time it was seen, in the order given to
    /// [`VolumeWatch::new`]; never empty.
    pub paths: Vec<PathBuf>,
    /// Those of `paths` that no longer hold anything: deleted, a dangling symlink, or a
    /// directory with nothing in it (a volume's directory deleted and made again, not filled
    /// yet). A tool may keep what it loaded before and wait for the content to come back, which
    /// is itself a change.
    pub absent: Vec<PathBuf>,
    /// Found by the periodic resync with no event pending: events were lost, or the content
    /// lives outside the watched directories. Worth a log line; a steady stream of these means
    /// the resync is doing the watcher's work.
    pub found_by_resync: bool,
}

impl Change {
    /// Whether `path` (as given to [`VolumeWatch::new`]) changed by disappearing.
    pub fn is_absent(&self, path: &Path) -> bool {
        self.absent.iter().any(|absent| absent == path)
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, path) in self.paths.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", path.display())?;
            if self.is_absent(path) {
                f.write_str(" (absent)")?;
            }
        }
        Ok(())
    }
}

/// A file (or directory) under a watched path that exists but could not be read, as
/// [`VolumeWatch::unreadable`] lists it: most often a Secret's file at mode 0400 owned by another
/// user than the tool's. Its content counts as missing from the hash; the tool decides whether to
/// say so (it should: nothing else will).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The path as reached from the watched path (`/etc/tls/tls.key`, not the kubelet's
    /// timestamped directory).
    pub path: PathBuf,
    /// Why: `PermissionDenied`, mostly.
    pub error: io::ErrorKind,
}

/// Which kernel limit stopped the watcher from starting; each is a sysctl of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InotifyLimit {
    /// Watches per user (one per watched directory): `fs.inotify.max_user_watches`.
    Watches,
    /// Inotify instances per user (one per [`VolumeWatch`]): `fs.inotify.max_user_instances`.
    /// The same error comes from the process's open-file limit.
    Instances,
}

impl InotifyLimit {
    /// The sysctl to raise on the node.
    pub fn sysctl(self) -> &'static str {
        match self {
            InotifyLimit::Watches => "fs.inotify.max_user_watches",
            InotifyLimit::Instances => "fs.inotify.max_user_instances",
        }
    }
}

/// Why a [`VolumeWatch`] could not start; prints as one line naming the path.
#[derive(Debug)]
#[non_exhaustive]
pub enum WatchError {
    /// [`VolumeWatch::new`] was given no path: a tool's edge should have refused its flags.
    NoPaths,
    /// The directory to watch for `path` does not exist: for a file, its parent. A file may be
    /// missing at start (its appearance is a change), the directory holding it may not.
    MissingDirectory { path: PathBuf, directory: PathBuf },
    /// A kernel limit on inotify is reached on this node.
    Limit { path: PathBuf, limit: InotifyLimit },
    /// Any other reason the directory could not be watched (permission denied, not a directory).
    Watch {
        path: PathBuf,
        directory: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for WatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchError::NoPaths => f.write_str("nothing to watch: no path was given"),
            WatchError::MissingDirectory { path, directory } => write!(
                f,
                "cannot watch {}: directory {} does not exist",
                path.display(),
                directory.display()
            ),
            WatchError::Limit { path, limit } => {
                let what = match limit {
                    InotifyLimit::Watches => "too many inotify watches",
                    InotifyLimit::Instances => "too many inotify instances or open files",
                };
                write!(
                    f,
                    "cannot watch {}: {what} for this user; raise the sysctl {} on the node",
                    path.display(),
                    limit.sysctl()
                )
            }
            WatchError::Watch {
                path,
                directory,
                source,
            } if path == directory => write!(f, "cannot watch {}: {source}", path.display()),
            WatchError::Watch {
                path,
                directory,
                source,
            } => write!(
                f,
                "cannot watch {}: directory {}: {source}",
                path.display(),
                directory.display()
            ),
        }
    }
}

impl std::error::Error for WatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WatchError::Watch { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl WatchError {
    /// Sorts what notify (or inotify under it) said into the cases a user acts on differently.
    fn from_notify(path: &Path, directory: &Path, error: notify::Error) -> WatchError {
        let path = path.to_owned();
        let directory = directory.to_owned();
        let limit = |limit| WatchError::Limit {
            path: path.clone(),
            limit,
        };
        let source = match error.kind {
            notify::ErrorKind::MaxFilesWatch => return limit(InotifyLimit::Watches),
            notify::ErrorKind::PathNotFound => {
                return WatchError::MissingDirectory { path, directory }
            }
            notify::ErrorKind::Io(source) => match source.raw_os_error() {
                Some(libc::ENOSPC) => return limit(InotifyLimit::Watches),
                Some(libc::EMFILE) => return limit(InotifyLimit::Instances),
                Some(libc::ENOENT) => return WatchError::MissingDirectory { path, directory },
                _ => source,
            },
            _ => io::Error::other(error.to_string()),
        };
        WatchError::Watch {
            path,
            directory,
            source,
        }
    }
}

/// What a watched path held when last hashed. Only this is kept, never the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Digest {
    Absent,
    /// A directory with no entry but the kubelet's own: no content, as for `Absent`.
    EmptyDir,
    /// It exists but could not be read; a change of reason is a change, so that a tool hears
    /// when a permission is fixed.
    Unreadable(io::ErrorKind),
    Content(u64),
}

impl Digest {
    /// Whether the path holds no content at all (see [`Change::absent`]).
    fn is_absent(self) -> bool {
        matches!(self, Digest::Absent | Digest::EmptyDir)
    }
}

/// A directory's identity, to notice that the path now names another one (deleted and created
/// again, renamed over, a symlink swapped) and its inotify watch must be set again.
type DirId = (u64, u64);

/// One directory under inotify, shared by every watched path that needs it.
#[derive(Debug)]
struct WatchedDir {
    path: PathBuf,
    mode: RecursiveMode,
    /// What `path` named when its watch was set; `None` when it is not watched now.
    id: Option<DirId>,
}

/// The events of one update: the hash waits for quiet after `last`, but no longer than the
/// [`BURST_CAP`] from `first`.
#[derive(Debug, Clone, Copy)]
struct Burst {
    first: Instant,
    last: Instant,
}

/// A hash of everything watched, run on the blocking pool: reading files must not stall the
/// runtime that carries the tool's connections.
#[derive(Debug)]
struct Hashing {
    task: JoinHandle<Snapshot>,
    found_by_resync: bool,
}

#[derive(Debug)]
struct Snapshot {
    digests: Vec<Digest>,
    dirs: Vec<Option<DirId>>,
    unreadable: Vec<Unreadable>,
}

/// Files a hash skips: a tool's own output written inside a watched directory (a rendered
/// template), by the identity of the directory holding it and its name, however the path was
/// spelled.
type Ignored = Arc<[(DirId, std::ffi::OsString)]>;

/// Watches files and directories for content changes; [`changed`](VolumeWatch::changed) says
/// when and which.
///
/// A file is watched through its parent directory, non-recursively; a directory recursively (for
/// ConfigMap items with nested paths), plus its parent, so that a directory deleted and created
/// again, or swapped through a symlink, is seen and watched again. All paths share one inotify
/// instance. Dropping the `VolumeWatch` removes its watches.
#[derive(Debug)]
pub struct VolumeWatch {
    paths: Arc<[PathBuf]>,
    /// The digest of each path as last reported (or as found by `new`).
    seen: Vec<Digest>,
    dirs: Vec<WatchedDir>,
    dir_paths: Arc<[PathBuf]>,
    watcher: RecommendedWatcher,
    /// Marked changed by the notify thread for any event that may mean new content.
    events: watch::Receiver<()>,
    events_open: bool,
    options: WatchOptions,
    burst: Option<Burst>,
    resync_at: Option<Instant>,
    hashing: Option<Hashing>,
    /// How many hashes `changed` has started, for the tests that check the watcher stays quiet.
    hashes: u64,
    /// What the last hash could not read.
    unreadable: Vec<Unreadable>,
    ignored: Ignored,
}

impl VolumeWatch {
    /// Starts watching `paths`, each a file or a directory, and hashes their content once (on
    /// the calling thread: call it at start-up, not on a hot path).
    ///
    /// A file's parent directory must exist; the file itself may not yet, and its appearance is
    /// a change. A path that appears as a directory is then watched whole, as if it had been
    /// there at start. Whether a path is a directory is decided now, following symlinks; a path that
    /// does not exist is watched as a file. For a directory the hash covers every regular file
    /// reached through its user-visible names, skipping names that start with `..` (the
    /// kubelet's internals) so that no file counts twice.
    ///
    /// Needs no runtime itself, but [`changed`](VolumeWatch::changed) must be polled within a
    /// tokio runtime (it uses timers and the blocking pool). Errors name the path and what to do:
    /// a missing directory, an inotify limit (with the sysctl to raise), a permission.
    pub fn new(paths: &[PathBuf], options: WatchOptions) -> Result<VolumeWatch, WatchError> {
        VolumeWatch::ignoring(paths, options, &[])
    }

    /// As [`VolumeWatch::new`], but the files `ignored` are left out of every hash: what the tool
    /// itself writes inside a watched directory (podkit-reload's rendered templates) is not a
    /// change to act on. A file is known by its directory, which must exist now, and its name:
    /// it may be replaced, or not exist yet.
    pub fn ignoring(
        paths: &[PathBuf],
        options: WatchOptions,
        ignored: &[PathBuf],
    ) -> Result<VolumeWatch, WatchError> {
        let ignored: Ignored = ignored
            .iter()
            .filter_map(|file| {
                let id = dir_id(parent(file)?)?;
                Some((id, file.file_name()?.to_owned()))
            })
            .collect();
        for path in paths {
            if kubelet::is_single_file_mount(path) {
                crate::warn!(
                    "watch: a single-file mount (a subPath), which the kubelet never updates: \
                     mount the volume's directory and watch that",
                    path = path.display()
                );
            }
        }
        let Some(first) = paths.first() else {
            return Err(WatchError::NoPaths);
        };
        let wanted = directories_to_watch(paths)?;
        let (sender, events) = watch::channel(());
        let handler = move |event: notify::Result<notify::Event>| {
            let look_again = match &event {
                Ok(event) => may_change_content(&event.kind),
                Err(error) => {
                    if matches!(error.kind, notify::ErrorKind::MaxFilesWatch) {
                        crate::warn!(
                            "watch: too many inotify watches, new subdirectories are seen by resync only",
                            raise = InotifyLimit::Watches.sysctl()
                        );
                    }
                    true
                }
            };
            if look_again {
                sender.send_replace(());
            }
        };
        // Symlinks are not followed into subdirectories: the kubelet's `..data` points at a
        // timestamped directory that is watched under its own name anyway, and a symlink loop
        // would make the walk endless.
        let config = Config::default().with_follow_symlinks(false);
        let mut watcher = RecommendedWatcher::new(handler, config)
            .map_err(|error| WatchError::from_notify(first, first, error))?;
        let mut dirs = Vec::with_capacity(wanted.len());
        for Wanted {
            dir,
            mode,
            required_by,
        } in wanted
        {
            // The identity is taken before the watch is set: if the directory is swapped in
            // between, the next hash sees a different one and sets the watch again.
            let id = dir_id(&dir);
            let id = match watcher.watch(&dir, mode) {
                Ok(()) => id,
                Err(error) => match required_by {
                    Some(path) => return Err(WatchError::from_notify(&path, &dir, error)),
                    // The parent of a watched directory only helps to see it replaced; a path
                    // that is not there yet is watched once it is.
                    None => None,
                },
            };
            dirs.push(WatchedDir {
                path: dir,
                mode,
                id,
            });
        }
        // Hashed after the watches are set, so that a change in between is an event and not lost.
        let paths: Arc<[PathBuf]> = paths.into();
        let mut reader = Reader::new(&ignored);
        let seen = paths.iter().map(|path| reader.digest(path)).collect();
        let dir_paths = dirs.iter().map(|dir| dir.path.clone()).collect();
        Ok(VolumeWatch {
            paths,
            seen,
            dirs,
            dir_paths,
            watcher,
            events,
            events_open: true,
            options,
            burst: None,
            resync_at: options.resync.map(|every| Instant::now() + every),
            hashing: None,
            hashes: 0,
            unreadable: reader.unreadable,
            ignored,
        })
    }

    /// One hash of the whole watched set as last seen (each path's content, or its absence),
    /// for a tool that acts on "the content differs from what was last applied" rather than on
    /// each change: a change that is undone before it could be applied then costs nothing.
    pub fn content_hash(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = DefaultHasher::new();
        self.seen.hash(&mut hasher);
        hasher.finish()
    }

    /// The watched paths that hold no content now, as last seen: absent, or an empty directory
    /// (see [`Change::absent`]).
    pub fn absent(&self) -> Vec<&Path> {
        self.paths
            .iter()
            .zip(&self.seen)
            .filter(|(_, digest)| digest.is_absent())
            .map(|(path, _)| path.as_path())
            .collect()
    }

    /// What exists under the watched paths but could not be read, as last seen, in the order
    /// of the paths. It changes only along with the content hash: a file that turns readable or
    /// unreadable is a change.
    pub fn unreadable(&self) -> &[Unreadable] {
        &self.unreadable
    }

    /// Resolves when the content of one or more watched paths differs from what was last seen
    /// (by the previous call, or by `new`).
    ///
    /// After an event it waits for `debounce` without events, then hashes everything watched,
    /// and resolves only if some hash differs: a touch, a chmod or an identical rewrite does not
    /// resolve it, and a kubelet update resolves it once. A path that disappeared is a change,
    /// listed in [`Change::absent`]. A change made while nobody waits is reported by the next
    /// call.
    ///
    /// Cancel-safe: in a `tokio::select!` that picks another branch, the pending events, the
    /// debounce and a hash in progress are kept in `self` and the next call goes on from there.
    pub async fn changed(&mut self) -> Change {
        loop {
            if let Some(hashing) = &mut self.hashing {
                let snapshot = (&mut hashing.task).await;
                let found_by_resync = hashing.found_by_resync;
                self.hashing = None;
                self.resync_at = self.options.resync.map(|every| Instant::now() + every);
                // A hash that failed (it cannot panic; the runtime may be shutting down) is
                // retried by the next event or resync.
                if let Ok(snapshot) = snapshot {
                    if let Some(change) = self.record(snapshot, found_by_resync) {
                        return change;
                    }
                }
                continue;
            }
            let due = self.due();
            if due.is_some_and(|due| due <= Instant::now()) {
                self.start_hashing();
                continue;
            }
            tokio::select! {
                event = self.events.changed(), if self.events_open => match event {
                    Ok(()) => self.note_event(),
                    // The notify thread is gone (it never is while `self` holds the watcher):
                    // only the resync is left.
                    Err(_) => self.events_open = false,
                },
                () = sleep_until(due) => {}
            }
        }
    }

    fn note_event(&mut self) {
        let now = Instant::now();
        let first = self.burst.map_or(now, |burst| burst.first);
        self.burst = Some(Burst { first, last: now });
    }

    /// When the next hash is due: at the end of the burst's quiet time, or at the resync.
    fn due(&self) -> Option<Instant> {
        let debounce = self.options.debounce;
        let burst = self.burst.map(|burst| {
            (burst.last + debounce).min(burst.first + debounce.saturating_mul(BURST_CAP))
        });
        match (burst, self.resync_at) {
            (Some(burst), Some(resync)) => Some(burst.min(resync)),
            (burst, resync) => burst.or(resync),
        }
    }

    fn start_hashing(&mut self) {
        // Events until now are covered by the hash about to start; only later ones call for
        // another.
        self.events.mark_unchanged();
        let found_by_resync = self.burst.take().is_none();
        let paths = Arc::clone(&self.paths);
        let dirs = Arc::clone(&self.dir_paths);
        let ignored = Arc::clone(&self.ignored);
        let task = tokio::task::spawn_blocking(move || {
            let mut reader = Reader::new(&ignored);
            Snapshot {
                digests: paths.iter().map(|path| reader.digest(path)).collect(),
                dirs: dirs.iter().map(|dir| dir_id(dir)).collect(),
                unreadable: reader.unreadable,
            }
        });
        self.hashes += 1;
        self.hashing = Some(Hashing {
            task,
            found_by_resync,
        });
    }

    /// Takes in a finished hash: the change to report, if any, and watches set again on
    /// directories that were replaced.
    fn record(&mut self, snapshot: Snapshot, found_by_resync: bool) -> Option<Change> {
        if self.rewatch(&snapshot.dirs) {
            // Whatever was written into a replaced directory before its new watch was set made
            // no event: hash once more, after the debounce.
            self.note_event();
        }
        self.unreadable = snapshot.unreadable;
        let mut change = Change {
            paths: Vec::new(),
            absent: Vec::new(),
            found_by_resync,
        };
        for ((path, seen), digest) in self.paths.iter().zip(&mut self.seen).zip(snapshot.digests) {
            if *seen == digest {
                continue;
            }
            *seen = digest;
            change.paths.push(path.clone());
            if digest.is_absent() {
                change.absent.push(path.clone());
            }
        }
        (!change.paths.is_empty()).then_some(change)
    }

    /// Sets the watch again on each directory whose path now names another directory; true if
    /// any was set.
    fn rewatch(&mut self, now: &[Option<DirId>]) -> bool {
        let mut any = false;
        for (dir, &id) in self.dirs.iter_mut().zip(now) {
            if dir.id == id {
                continue;
            }
            // Gone: its watch went with it; nothing to do until it is back.
            dir.id = id;
            if id.is_none() {
                continue;
            }
            // The old watch may still follow the old directory, renamed elsewhere; it is not
            // there when the directory was deleted, and that is fine.
            let _ = self.watcher.unwatch(&dir.path);
            match self.watcher.watch(&dir.path, dir.mode) {
                Ok(()) => any = true,
                Err(error) => {
                    // Tried again after the next hash; until then the resync covers it.
                    dir.id = None;
                    crate::warn!(
                        "watch: cannot watch a replaced directory again",
                        directory = dir.path.display(),
                        error = WatchError::from_notify(&dir.path, &dir.path, error)
                    );
                }
            }
        }
        any
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Whether an event may mean new content. Opening and reading do not, and the watcher's own
/// hashing opens every watched file: counting those would make it wake itself forever. A close
/// after writing does.
fn may_change_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// A directory to put under inotify, and the first path that cannot do without it (`None`: the
/// parent of a watched directory, which only helps).
struct Wanted {
    dir: PathBuf,
    mode: RecursiveMode,
    required_by: Option<PathBuf>,
}

/// The directories behind `paths`, each once, the non-recursive ones first: notify keeps one
/// mode per directory, the last one set, and a directory that lies inside a recursive watch must
/// stay recursive.
fn directories_to_watch(paths: &[PathBuf]) -> Result<Vec<Wanted>, WatchError> {
    let mut wanted: BTreeMap<PathBuf, (bool, Option<PathBuf>)> = BTreeMap::new();
    let mut want = |dir: &Path, recursive: bool, required_by: Option<&PathBuf>| {
        let entry = wanted.entry(dir.to_owned()).or_insert((false, None));
        entry.0 |= recursive;
        if entry.1.is_none() {
            entry.1 = required_by.cloned();
        }
    };
    for path in paths {
        match fs::metadata(path) {
            Ok(metadata) if metadata.is_dir() => {
                want(path, true, Some(path));
                if let Some(parent) = parent(path) {
                    want(parent, false, None);
                }
            }
            found => {
                // A path that does not exist yet may come as a directory (a volume's directory
                // made after start): it is watched whole as soon as it is one.
                if matches!(&found, Err(e) if e.kind() == io::ErrorKind::NotFound) {
                    want(path, true, None);
                }
                let directory = parent(path).unwrap_or(Path::new("."));
                match fs::metadata(directory) {
                    Ok(metadata) if metadata.is_dir() => want(directory, false, Some(path)),
                    Ok(_) => {
                        return Err(WatchError::Watch {
                            path: path.clone(),
                            directory: directory.to_owned(),
                            source: io::Error::from_raw_os_error(libc::ENOTDIR),
                        })
                    }
                    Err(error) if error.kind() == io::ErrorKind::NotFound => {
                        return Err(WatchError::MissingDirectory {
                            path: path.clone(),
                            directory: directory.to_owned(),
                        })
                    }
                    Err(source) => {
                        return Err(WatchError::Watch {
                            path: path.clone(),
                            directory: directory.to_owned(),
                            source,
                        })
                    }
                }
            }
        }
    }
    let mut wanted: Vec<Wanted> = wanted
        .into_iter()
        .map(|(dir, (recursive, required_by))| Wanted {
            dir,
            mode: if recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            },
            required_by,
        })
        .collect();
    wanted.sort_by_key(|wanted| wanted.mode == RecursiveMode::Recursive);
    Ok(wanted)
}

/// The directory holding `path`; `None` for `/`. A bare file name is in the current directory.
fn parent(path: &Path) -> Option<&Path> {
    path.parent().map(|parent| {
        if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        }
    })
}

fn dir_id(dir: &Path) -> Option<DirId> {
    fs::metadata(dir)
        .ok()
        .filter(Metadata::is_dir)
        .map(|metadata| (metadata.dev(), metadata.ino()))
}

// Hashing. SipHash through `DefaultHasher::new()` (fixed keys) is enough: the hashes detect
// change within one process and are never stored, sent or trusted across a boundary, so there is
// no attacker to resist, only accidental equality, at odds of 2^-64 per update. No
// crypto dependency for it, and only eight bytes kept per path.

const TAG_FILE: u8 = 1;
const TAG_DIR: u8 = 2;
const TAG_OTHER: u8 = 3;
const TAG_LOOP: u8 = 4;
const TAG_ERROR: u8 = 5;

/// One hash of the watched paths: what it skips, and what it could not read.
struct Reader<'a> {
    ignored: &'a [(DirId, std::ffi::OsString)],
    unreadable: Vec<Unreadable>,
}

impl<'a> Reader<'a> {
    fn new(ignored: &'a [(DirId, std::ffi::OsString)]) -> Reader<'a> {
        Reader {
            ignored,
            unreadable: Vec::new(),
        }
    }

    /// The digest of `path`, following symlinks: a file's content, or a directory's tree.
    fn digest(&mut self, path: &Path) -> Digest {
        let metadata = match fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Digest::Absent,
            Err(error) => return self.unreadable(path, &error),
        };
        if metadata.is_dir() {
            let mut hasher = DefaultHasher::new();
            let mut ancestors = vec![(metadata.dev(), metadata.ino())];
            return match self.hash_tree(path, &mut hasher, &mut ancestors) {
                Ok(0) => Digest::EmptyDir,
                Ok(_) => Digest::Content(hasher.finish()),
                Err(error) if error.kind() == io::ErrorKind::NotFound => Digest::Absent,
                Err(error) => self.unreadable(path, &error),
            };
        }
        if !metadata.is_file() {
            // A FIFO or a device: reading it could block or never end; only its presence counts.
            return Digest::Content(u64::from(TAG_OTHER));
        }
        match hash_file(path) {
            Ok(hash) => Digest::Content(hash),
            // Replaced between the two calls: the next event says what it became.
            Err(error) if error.kind() == io::ErrorKind::NotFound => Digest::Absent,
            Err(error) => self.unreadable(path, &error),
        }
    }

    fn unreadable(&mut self, path: &Path, error: &io::Error) -> Digest {
        self.unreadable.push(Unreadable {
            path: path.to_owned(),
            error: error.kind(),
        });
        Digest::Unreadable(error.kind())
    }

    /// Hashes the entries of `dir` in name order: each name, what it is, and a file's content
    /// hash or a subdirectory's entries; returns how many entries it hashed. The kubelet's own
    /// names are skipped: `..data` and the timestamped directory hold the same files as the
    /// user-visible names; so are the ignored files. `ancestors` holds the directories being
    /// walked (`dir` last), so a symlink back up is hashed as a loop, not followed forever.
    fn hash_tree(
        &mut self,
        dir: &Path,
        hasher: &mut DefaultHasher,
        ancestors: &mut Vec<DirId>,
    ) -> io::Result<usize> {
        let here = ancestors.last().copied();
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name();
            let ignored = || {
                self.ignored
                    .iter()
                    .any(|(id, ignored)| Some(*id) == here && *ignored == name)
            };
            if !kubelet::is_internal(&name) && !ignored() {
                names.push(name);
            }
        }
        names.sort();
        hasher.write_usize(names.len());
        for name in &names {
            hasher.write_usize(name.len());
            hasher.write(name.as_bytes());
            let path = dir.join(name);
            match fs::metadata(&path) {
                // A dangling symlink included: its name is there, its content is not.
                Err(error) => {
                    if error.kind() != io::ErrorKind::NotFound {
                        self.unreadable(&path, &error);
                    }
                    hasher.write_u8(TAG_ERROR);
                    error.kind().hash(hasher);
                }
                Ok(metadata) if metadata.is_dir() => {
                    let id = (metadata.dev(), metadata.ino());
                    if ancestors.contains(&id) {
                        hasher.write_u8(TAG_LOOP);
                        continue;
                    }
                    hasher.write_u8(TAG_DIR);
                    ancestors.push(id);
                    let walked = self.hash_tree(&path, hasher, ancestors);
                    ancestors.pop();
                    if let Err(error) = walked {
                        if error.kind() != io::ErrorKind::NotFound {
                            self.unreadable(&path, &error);
                        }
                        hasher.write_u8(TAG_ERROR);
                        error.kind().hash(hasher);
                    }
                }
                Ok(metadata) if metadata.is_file() => match hash_file(&path) {
                    Ok(hash) => {
                        hasher.write_u8(TAG_FILE);
                        hasher.write_u64(hash);
                    }
                    Err(error) => {
                        if error.kind() != io::ErrorKind::NotFound {
                            self.unreadable(&path, &error);
                        }
                        hasher.write_u8(TAG_ERROR);
                        error.kind().hash(hasher);
                    }
                },
                Ok(_) => hasher.write_u8(TAG_OTHER),
            }
        }
        Ok(names.len())
    }
}

/// [`Reader::digest`] with nothing ignored, for the tests.
#[cfg(test)]
fn digest(path: &Path) -> Digest {
    Reader::new(&[]).digest(path)
}

/// The hash of one file's content and length, read in blocks.
fn hash_file(path: &Path) -> io::Result<u64> {
    // Non-blocking, in case the file was swapped for a FIFO since it was looked at: the read
    // then fails or ends at once instead of waiting for a writer. A regular file ignores it.
    let mut file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let mut hasher = DefaultHasher::new();
    let mut block = [0u8; 8192];
    let mut length = 0u64;
    loop {
        let read = match file.read(&mut block) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        hasher.write(&block[..read]);
        length += read as u64;
    }
    hasher.write_u64(length);
    Ok(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::time::timeout;

    /// How long a change may take to be reported: generous, so a loaded machine does not fail a
    /// correct watcher. Never a measure of speed.
    const GUARD: Duration = Duration::from_secs(10);

    /// How long "nothing happened" is watched for: well past any debounce used here.
    const QUIET: Duration = Duration::from_secs(2);

    /// Events only, with the default debounce: a test that sees a change saw it through inotify.
    fn events_only() -> WatchOptions {
        WatchOptions {
            debounce: Duration::from_millis(100),
            resync: None,
        }
    }

    /// A fresh directory under the system's temporary directory, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(test: &str) -> Scratch {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("podkit-watch-{}-{n}-{test}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("create the scratch directory");
            Scratch(dir)
        }

        fn join(&self, path: &str) -> PathBuf {
            self.0.join(path)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn write(path: &Path, content: &str) {
        fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Updates `volume` the way the kubelet's AtomicWriter does: the payload goes into a new
    /// timestamped directory, a `..data_tmp` symlink to it is renamed over `..data` (the commit),
    /// user-visible symlinks are created for new top-level names and removed for names no longer
    /// in the payload, and the old timestamped directory is removed. The first call creates the
    /// volume as the kubelet mounts it.
    fn kubelet_write(volume: &Path, payload: &[(&str, &str)]) {
        static GENERATION: AtomicUsize = AtomicUsize::new(0);
        let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
        let timestamped = format!("..2026_11_23_01_02_03.{generation:09}");
        for (key, content) in payload {
            let file = volume.join(&timestamped).join(key);
            fs::create_dir_all(file.parent().expect("a parent")).expect("payload directory");
            write(&file, content);
        }
        let old = fs::read_link(volume.join("..data")).ok();
        symlink(&timestamped, volume.join("..data_tmp")).expect("..data_tmp");
        fs::rename(volume.join("..data_tmp"), volume.join("..data")).expect("commit ..data");
        let visible: BTreeSet<&str> = payload
            .iter()
            .map(|(key, _)| key.split('/').next().expect("a first component"))
            .collect();
        for name in &visible {
            let link = volume.join(name);
            if fs::symlink_metadata(&link).is_err() {
                symlink(Path::new("..data").join(name), link).expect("user-visible symlink");
            }
        }
        for entry in fs::read_dir(volume).expect("list the volume") {
            let name = entry.expect("an entry").file_name();
            let name = name.to_str().expect("UTF-8 names");
            if !name.starts_with("..") && !visible.contains(name) {
                fs::remove_file(volume.join(name)).expect("remove an old user-visible name");
            }
        }
        if let Some(old) = old {
            fs::remove_dir_all(volume.join(old)).expect("remove the old timestamped directory");
        }
    }

    async fn next_change(watch: &mut VolumeWatch) -> Change {
        timeout(GUARD, watch.changed())
            .await
            .expect("a change is reported")
    }

    /// Asserts that nothing is reported for a while. A watcher that never fires passes it too:
    /// every test that ends on a quiet period then makes a real change that must be seen.
    async fn assert_quiet(watch: &mut VolumeWatch) {
        if let Ok(change) = timeout(QUIET, watch.changed()).await {
            panic!("no change expected, got one for {change}");
        }
    }

    #[tokio::test]
    async fn a_kubelet_update_of_a_secret_key_is_one_change_of_the_file() {
        let volume = Scratch::new("kubelet-file");
        kubelet_write(
            &volume.0,
            &[("cert.pem", "old cert"), ("key.pem", "old key")],
        );
        let cert = volume.join("cert.pem");
        let key = volume.join("key.pem");
        let mut watch = VolumeWatch::new(&[cert.clone(), key], events_only()).expect("watch");

        kubelet_write(
            &volume.0,
            &[("cert.pem", "new cert"), ("key.pem", "old key")],
        );

        let change = next_change(&mut watch).await;
        assert_eq!(change.paths, vec![cert.clone()]);
        assert!(change.absent.is_empty());
        assert!(!change.found_by_resync);
        assert_eq!(fs::read_to_string(&cert).expect("read"), "new cert");
        assert_quiet(&mut watch).await;

        kubelet_write(
            &volume.0,
            &[("cert.pem", "newer cert"), ("key.pem", "old key")],
        );
        assert_eq!(next_change(&mut watch).await.paths, [cert]);
    }

    #[tokio::test]
    async fn a_kubelet_update_with_the_same_content_is_no_change() {
        let volume = Scratch::new("kubelet-same");
        kubelet_write(&volume.0, &[("ca.pem", "ca")]);
        let mut watch = VolumeWatch::new(&[volume.join("ca.pem"), volume.0.clone()], events_only())
            .expect("watch");

        kubelet_write(&volume.0, &[("ca.pem", "ca")]);

        assert_quiet(&mut watch).await;
        kubelet_write(&volume.0, &[("ca.pem", "new ca")]);
        let change = next_change(&mut watch).await;
        assert!(change.paths.contains(&volume.join("ca.pem")), "{change:?}");
    }

    #[tokio::test]
    async fn touch_chmod_and_an_identical_rewrite_are_no_change() {
        let dir = Scratch::new("identical");
        let file = dir.join("config.yaml");
        write(&file, "a: 1\n");
        let mut watch =
            VolumeWatch::new(std::slice::from_ref(&file), events_only()).expect("watch");

        write(&file, "a: 1\n");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).expect("chmod");
        File::options()
            .append(true)
            .open(&file)
            .and_then(|f| f.set_modified(std::time::SystemTime::now()))
            .expect("touch");

        assert_quiet(&mut watch).await;
        write(&file, "a: 2\n");
        assert_eq!(next_change(&mut watch).await.paths, [file]);
    }

    #[tokio::test]
    async fn a_rewrite_in_place_with_new_content_is_a_change() {
        let dir = Scratch::new("in-place");
        let file = dir.join("config.yaml");
        write(&file, "a: 1\n");
        let mut watch =
            VolumeWatch::new(std::slice::from_ref(&file), events_only()).expect("watch");

        write(&file, "a: 2\n");

        assert_eq!(next_change(&mut watch).await.paths, [file]);
    }

    #[tokio::test]
    async fn moving_a_new_file_over_the_watched_one_is_a_change() {
        let dir = Scratch::new("mv");
        let file = dir.join("cert.pem");
        write(&file, "old");
        let mut watch =
            VolumeWatch::new(std::slice::from_ref(&file), events_only()).expect("watch");

        write(&dir.join("new.pem"), "new");
        fs::rename(dir.join("new.pem"), &file).expect("mv new.pem cert.pem");

        assert_eq!(next_change(&mut watch).await.paths, vec![file.clone()]);
        // The watch did not follow the replaced inode: the next replacement is seen too.
        write(&dir.join("newer.pem"), "newer");
        fs::rename(dir.join("newer.pem"), &file).expect("mv newer.pem cert.pem");
        assert_eq!(next_change(&mut watch).await.paths, [file]);
    }

    #[tokio::test]
    async fn an_editor_save_through_a_backup_and_a_new_file_is_a_change() {
        let dir = Scratch::new("editor");
        let file = dir.join("app.conf");
        write(&file, "port 80\n");
        let mut watch =
            VolumeWatch::new(std::slice::from_ref(&file), events_only()).expect("watch");

        // vim with `nobackupcopy`: rename the original away, write anew, drop the backup.
        fs::rename(&file, dir.join("app.conf~")).expect("backup");
        write(&file, "port 8080\n");
        fs::remove_file(dir.join("app.conf~")).expect("drop the backup");

        let change = next_change(&mut watch).await;
        assert_eq!(change.paths, [file]);
        assert!(change.absent.is_empty(), "seen once whole: {change:?}");
    }

    #[tokio::test]
    async fn a_deleted_file_is_reported_absent_and_its_return_is_a_change() {
        let dir = Scratch::new("delete");
        let file = dir.join("token");
        write(&file, "t1");
        let mut watch =
            VolumeWatch::new(std::slice::from_ref(&file), events_only()).expect("watch");

        fs::remove_file(&file).expect("rm");

        let gone = next_change(&mut watch).await;
        assert_eq!(gone.paths, vec![file.clone()]);
        assert!(gone.is_absent(&file));
        assert_eq!(gone.to_string(), format!("{} (absent)", file.display()));

        write(&file, "t2");

        let back = next_change(&mut watch).await;
        assert_eq!(back.paths, vec![file.clone()]);
        assert!(!back.is_absent(&file));
    }

    #[tokio::test]
    async fn a_file_missing_at_start_is_a_change_when_it_appears() {
        let dir = Scratch::new("appears");
        let file = dir.join("later.pem");
        let mut watch =
            VolumeWatch::new(std::slice::from_ref(&file), events_only()).expect("watch");

        write(&file, "here now");

        let change = next_change(&mut watch).await;
        assert_eq!(change.paths, [file]);
        assert!(change.absent.is_empty());
    }

    #[tokio::test]
    async fn two_quick_writes_make_one_change_with_the_final_content() {
        let dir = Scratch::new("coalesce");
        let file = dir.join("config.json");
        write(&file, "{}");
        // A long debounce, so that two writes back to back surely fall within it.
        let options = WatchOptions {
            debounce: Duration::from_secs(1),
            resync: None,
        };
        let mut watch = VolumeWatch::new(std::slice::from_ref(&file), options).expect("watch");

        write(&file, r#"{"step": 1}"#);
        write(&file, r#"{"step": 2}"#);

        assert_eq!(next_change(&mut watch).await.paths, vec![file.clone()]);
        assert_eq!(
            watch.seen,
            [digest(&file)],
            "the hash is of the final content"
        );
        assert_quiet(&mut watch).await;
        assert_eq!(fs::read_to_string(&file).expect("read"), r#"{"step": 2}"#);
        write(&file, r#"{"step": 3}"#);
        assert_eq!(next_change(&mut watch).await.paths, [file]);
    }

    #[tokio::test]
    async fn only_the_paths_that_changed_are_reported_in_the_order_given() {
        let dir = Scratch::new("order");
        let [a, b, c] = ["a", "b", "c"].map(|name| dir.join(name));
        for path in [&a, &b, &c] {
            write(path, "0");
        }
        let options = WatchOptions {
            debounce: Duration::from_millis(500),
            resync: None,
        };
        let mut watch =
            VolumeWatch::new(&[c.clone(), b.clone(), a.clone()], options).expect("watch");

        write(&a, "1");
        write(&c, "1");

        let change = next_change(&mut watch).await;
        assert_eq!(change.paths, [c.clone(), a.clone()]);
        assert_eq!(
            change.to_string(),
            format!("{}, {}", c.display(), a.display())
        );
    }

    #[tokio::test]
    async fn a_directory_watch_sees_a_changed_key_a_new_key_and_a_nested_key() {
        let volume = Scratch::new("kubelet-dir");
        kubelet_write(&volume.0, &[("a.yaml", "a1"), ("nested/b.yaml", "b1")]);
        let mut watch =
            VolumeWatch::new(std::slice::from_ref(&volume.0), events_only()).expect("watch");

        kubelet_write(&volume.0, &[("a.yaml", "a2"), ("nested/b.yaml", "b1")]);
        assert_eq!(next_change(&mut watch).await.paths, vec![volume.0.clone()]);

        kubelet_write(
            &volume.0,
            &[("a.yaml", "a2"), ("nested/b.yaml", "b1"), ("c.yaml", "c1")],
        );
        assert_eq!(next_change(&mut watch).await.paths, vec![volume.0.clone()]);

        kubelet_write(
            &volume.0,
            &[("a.yaml", "a2"), ("nested/b.yaml", "b2"), ("c.yaml", "c1")],
        );
        assert_eq!(next_change(&mut watch).await.paths, vec![volume.0.clone()]);
    }

    #[tokio::test]
    async fn a_plain_directory_watch_sees_changes_in_subdirectories_made_after_start() {
        let dir = Scratch::new("plain-dir");
        let mut watch =
            VolumeWatch::new(std::slice::from_ref(&dir.0), events_only()).expect("watch");

        fs::create_dir_all(dir.join("x/y")).expect("mkdir -p");
        write(&dir.join("x/y/z.conf"), "1");
        assert_eq!(next_change(&mut watch).await.paths, vec![dir.0.clone()]);

        write(&dir.join("x/y/z.conf"), "2");
        assert_eq!(next_change(&mut watch).await.paths, vec![dir.0.clone()]);
    }

    #[tokio::test]
    async fn a_replaced_directory_is_watched_again() {
        let scratch = Scratch::new("replaced-dir");
        let conf = scratch.join("conf");
        fs::create_dir(&conf).expect("mkdir conf");
        write(&conf.join("a"), "1");
        let mut watch =
            VolumeWatch::new(std::slice::from_ref(&conf), events_only()).expect("watch");

        fs::rename(&conf, scratch.join("conf.old")).expect("mv conf conf.old");
        fs::create_dir(&conf).expect("mkdir conf");
        write(&conf.join("a"), "2");
        assert_eq!(next_change(&mut watch).await.paths, vec![conf.clone()]);

        // Only the new directory's own watch can see this one.
        write(&conf.join("b"), "1");
        assert_eq!(next_change(&mut watch).await.paths, vec![conf.clone()]);

        write(&scratch.join("conf.old/a"), "elsewhere now");
        assert_quiet(&mut watch).await;
        write(&conf.join("a"), "3");
        assert_eq!(next_change(&mut watch).await.paths, vec![conf]);
    }

    #[tokio::test]
    async fn a_directory_made_after_start_is_watched_whole_and_empty_it_is_absent() {
        let scratch = Scratch::new("later-dir");
        let later = scratch.join("later");
        let mut watch =
            VolumeWatch::new(std::slice::from_ref(&later), events_only()).expect("watch");
        assert_eq!(watch.absent(), [later.as_path()]);

        fs::create_dir(&later).expect("mkdir");
        let empty = next_change(&mut watch).await;
        assert!(empty.is_absent(&later), "nothing in it yet: {empty:?}");

        fs::create_dir(later.join("sub")).expect("mkdir sub");
        write(&later.join("sub/a.conf"), "1");
        let filled = next_change(&mut watch).await;
        assert!(filled.absent.is_empty(), "{filled:?}");
        assert!(watch.absent().is_empty());
        // Deep inside, seen through the directory's own watch (no resync here).
        write(&later.join("sub/a.conf"), "2");
        assert_eq!(next_change(&mut watch).await.paths, [later]);
    }

    #[tokio::test]
    async fn ignored_files_are_never_a_change() {
        let scratch = Scratch::new("ignoring");
        let dir = scratch.join("conf");
        fs::create_dir(&dir).expect("mkdir");
        write(&dir.join("app.conf.tmpl"), "t1");
        let output = dir.join("app.conf");
        let mut watch = VolumeWatch::ignoring(
            std::slice::from_ref(&dir),
            events_only(),
            std::slice::from_ref(&output),
        )
        .expect("watch");

        write(&output, "rendered 1");
        write(&output, "rendered 2");
        assert_quiet(&mut watch).await;
        write(&dir.join("app.conf.tmpl"), "t2");
        assert_eq!(next_change(&mut watch).await.paths, [dir]);
    }

    #[tokio::test]
    async fn the_resync_finds_a_change_that_made_no_event_where_it_watches() {
        let scratch = Scratch::new("resync");
        fs::create_dir(scratch.join("watched")).expect("mkdir");
        fs::create_dir(scratch.join("elsewhere")).expect("mkdir");
        write(&scratch.join("elsewhere/cert.pem"), "old");
        let cert = scratch.join("watched/cert.pem");
        symlink("../elsewhere/cert.pem", &cert).expect("symlink out of the watched directory");
        let options = WatchOptions {
            debounce: Duration::from_millis(50),
            resync: Some(Duration::from_millis(200)),
        };
        let mut watch = VolumeWatch::new(std::slice::from_ref(&cert), options).expect("watch");

        write(&scratch.join("elsewhere/cert.pem"), "new");

        let change = next_change(&mut watch).await;
        assert_eq!(change.paths, [cert]);
        assert!(change.found_by_resync);
    }

    /// The premise of the resync test: without it, that change goes unseen.
    #[tokio::test]
    async fn without_resync_a_change_outside_the_watched_directories_is_not_seen() {
        let scratch = Scratch::new("no-resync");
        fs::create_dir(scratch.join("watched")).expect("mkdir");
        fs::create_dir(scratch.join("elsewhere")).expect("mkdir");
        write(&scratch.join("elsewhere/cert.pem"), "old");
        let cert = scratch.join("watched/cert.pem");
        symlink("../elsewhere/cert.pem", &cert).expect("symlink");
        let mut watch =
            VolumeWatch::new(std::slice::from_ref(&cert), events_only()).expect("watch");

        write(&scratch.join("elsewhere/cert.pem"), "new");

        assert_quiet(&mut watch).await;
        // Where it watches, the same watcher sees a change.
        write(&scratch.join("watched/new.pem"), "newer");
        fs::rename(scratch.join("watched/new.pem"), &cert).expect("mv new.pem cert.pem");
        assert_eq!(next_change(&mut watch).await.paths, [cert]);
    }

    #[tokio::test]
    async fn hashing_does_not_wake_the_watcher_itself() {
        // Nested, so that the parent watched for the directory is quiet: the system's temporary
        // directory, busy with the other tests, would make hashes (if no change) of its own.
        let scratch = Scratch::new("self-wake");
        let volume = scratch.join("volume");
        fs::create_dir(&volume).expect("mkdir");
        kubelet_write(&volume, &[("tls.crt", "c1"), ("tls.key", "k1")]);
        let paths = [volume.join("tls.crt"), volume.clone()];
        let mut watch = VolumeWatch::new(&paths, events_only()).expect("watch");
        assert_quiet(&mut watch).await;
        assert_eq!(watch.hashes, 0, "reading at start made no event");

        kubelet_write(&volume, &[("tls.crt", "c2"), ("tls.key", "k1")]);
        next_change(&mut watch).await;
        let after_change = watch.hashes;
        assert_quiet(&mut watch).await;
        assert_eq!(
            watch.hashes, after_change,
            "reading for the change made no event"
        );
        kubelet_write(&volume, &[("tls.crt", "c3"), ("tls.key", "k1")]);
        next_change(&mut watch).await;
    }

    #[tokio::test]
    async fn a_wait_cancelled_midway_loses_no_change() {
        let dir = Scratch::new("cancel");
        let file = dir.join("cert.pem");
        write(&file, "old");
        let options = WatchOptions {
            debounce: Duration::from_secs(1),
            resync: None,
        };
        let mut watch = VolumeWatch::new(std::slice::from_ref(&file), options).expect("watch");

        write(&file, "new");
        // Usually cancelled within the debounce, with the event taken in; if the machine is slow
        // enough for the change to be reported already, that is fine too.
        let early = timeout(Duration::from_millis(300), watch.changed()).await;

        let change = match early {
            Ok(change) => change,
            Err(_) => next_change(&mut watch).await,
        };
        assert_eq!(change.paths, [file]);
    }

    #[test]
    fn a_directory_hash_skips_the_kubelet_internals_and_follows_the_visible_names() {
        let scratch = Scratch::new("hash-kubelet");
        let volume = scratch.join("volume");
        let plain = scratch.join("plain");
        fs::create_dir(&volume).expect("mkdir");
        kubelet_write(&volume, &[("a", "1"), ("sub/b", "2")]);
        fs::create_dir_all(plain.join("sub")).expect("mkdir");
        write(&plain.join("a"), "1");
        write(&plain.join("sub/b"), "2");

        assert_eq!(digest(&volume), digest(&plain));
        write(&plain.join("sub/b"), "3");
        assert_ne!(digest(&volume), digest(&plain));
    }

    #[test]
    fn a_directory_hash_tells_names_and_contents_apart() {
        let scratch = Scratch::new("hash-names");
        let dir = scratch.join("d");
        fs::create_dir(&dir).expect("mkdir");
        write(&dir.join("a"), "xy");
        let first = digest(&dir);

        fs::rename(dir.join("a"), dir.join("b")).expect("rename");
        let renamed = digest(&dir);
        write(&dir.join("b"), "x");
        write(&dir.join("c"), "y");
        let split = digest(&dir);

        assert_ne!(first, renamed);
        assert_ne!(renamed, split);
        assert!(matches!(first, Digest::Content(_)));
    }

    #[test]
    fn a_directory_hash_ends_on_a_symlink_loop() {
        let scratch = Scratch::new("hash-loop");
        let dir = scratch.join("d");
        fs::create_dir(&dir).expect("mkdir");
        write(&dir.join("f"), "1");
        symlink(".", dir.join("self")).expect("symlink loop");
        symlink("missing", dir.join("dangling")).expect("dangling symlink");

        assert!(matches!(digest(&dir), Digest::Content(_)));
    }

    #[test]
    fn a_missing_path_hashes_as_absent_and_a_fifo_without_blocking() {
        let scratch = Scratch::new("hash-special");
        assert_eq!(digest(&scratch.join("nothing")), Digest::Absent);

        let fifo = scratch.join("fifo");
        let name = std::ffi::CString::new(fifo.as_os_str().as_bytes()).expect("no NUL");
        // SAFETY: `name` is a valid NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0, "mkfifo");
        assert!(matches!(digest(&fifo), Digest::Content(_)));
        assert!(matches!(digest(&scratch.0), Digest::Content(_)));
    }

    #[test]
    fn watching_nothing_is_an_error() {
        let error = VolumeWatch::new(&[], WatchOptions::default()).expect_err("no paths");
        assert!(matches!(error, WatchError::NoPaths));
        assert_eq!(error.to_string(), "nothing to watch: no path was given");
    }

    #[test]
    fn a_file_in_a_missing_directory_is_an_error_naming_both() {
        let scratch = Scratch::new("missing-dir");
        let path = scratch.join("not-mounted/tls.crt");

        let error = VolumeWatch::new(std::slice::from_ref(&path), WatchOptions::default())
            .expect_err("no directory to watch");

        assert!(
            matches!(&error, WatchError::MissingDirectory { .. }),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!(
                "cannot watch {}: directory {} does not exist",
                path.display(),
                scratch.join("not-mounted").display()
            )
        );
    }

    #[test]
    fn a_file_under_a_file_is_an_error_naming_both() {
        let scratch = Scratch::new("not-a-dir");
        write(&scratch.join("plain"), "");
        let path = scratch.join("plain/tls.crt");

        let error = VolumeWatch::new(std::slice::from_ref(&path), WatchOptions::default())
            .expect_err("not a directory");

        let line = error.to_string();
        assert!(line.starts_with(&format!("cannot watch {}: directory ", path.display())));
        assert!(line.ends_with("Not a directory (os error 20)"), "{line}");
    }

    #[test]
    fn inotify_limits_name_the_sysctl_to_raise() {
        let path = Path::new("/etc/tls/tls.crt");
        let dir = Path::new("/etc/tls");

        let watches = WatchError::from_notify(
            path,
            dir,
            notify::Error::new(notify::ErrorKind::MaxFilesWatch),
        );
        let instances = WatchError::from_notify(
            path,
            dir,
            notify::Error::io(io::Error::from_raw_os_error(libc::EMFILE)),
        );

        assert_eq!(
            watches.to_string(),
            "cannot watch /etc/tls/tls.crt: too many inotify watches for this user; \
             raise the sysctl fs.inotify.max_user_watches on the node"
        );
        assert!(
            instances
                .to_string()
                .ends_with("raise the sysctl fs.inotify.max_user_instances on the node"),
            "{instances}"
        );
        let denied = WatchError::from_notify(
            dir,
            dir,
            notify::Error::io(io::Error::from_raw_os_error(libc::EACCES)),
        );
        assert_eq!(
            denied.to_string(),
            "cannot watch /etc/tls: Permission denied (os error 13)"
        );
    }

    #[test]
    fn a_volume_watch_can_move_into_a_spawned_task() {
        fn check<T: Send + 'static>() {}
        check::<VolumeWatch>();
    }
}
