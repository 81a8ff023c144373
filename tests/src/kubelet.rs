//! Volumes changed on disk the ways a watcher of configuration meets in a pod: a ConfigMap or
//! Secret volume updated by the kubelet ([`AtomicVolume`]), and a plain directory (hostPath,
//! an emptyDir another container writes) whose file is edited in place, renamed over, or deleted
//! and recreated ([`write_in_place`], [`rename_over`], [`delete_and_recreate`]).
//!
//! A watcher that passes against these has seen every sequence of events those writers make:
//! each one is a different set of inotify events on a different set of inodes, and a watcher
//! that handles only one of them (configmap-reload fires only on events named `..data`) misses
//! the others.

use std::collections::BTreeMap;
use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The symlink to the current timestamped directory: renaming a new one over it is the commit.
const DATA: &str = "..data";
/// The new `..data`, made next to it and renamed over it.
const DATA_TMP: &str = "..data_tmp";

/// A ConfigMap or Secret volume, written step by step as the kubelet's AtomicWriter
/// (`pkg/volume/util/atomic_writer.go`) writes it:
///
/// ```text
/// ..2026_11_23_01_02_03.123456789/key    the files, in a timestamped directory
/// ..data -> ..2026_11_23_01_02_03.123456789
/// key -> ..data/key                       what the application opens
/// ```
///
/// An update never touches a file the application may be reading: the new payload goes into a
/// new timestamped directory, `..data_tmp -> <new dir>` is renamed over `..data` (one atomic
/// rename switches every key at once), links for vanished keys are removed and links for new
/// keys created, and the old directory is removed last. So a watch on `key` itself follows an
/// inode that the update deletes, and the only event in the volume directory that marks the
/// commit is the rename of `..data_tmp`.
///
/// ```no_run
/// # let dir = std::path::Path::new("/tmp/volume");
/// use podkit_tests::kubelet::AtomicVolume;
///
/// let mut volume = AtomicVolume::create(dir, &[("app.conf", b"workers 1\n")]);
/// volume.update(&[("app.conf", b"workers 2\n")]);
/// ```
pub struct AtomicVolume {
    dir: PathBuf,
    /// The payload now behind `..data`, key by key.
    payload: BTreeMap<String, Vec<u8>>,
}

impl AtomicVolume {
    /// Writes `payload` into `dir` (which must exist, empty) as the kubelet does when it first
    /// mounts the volume: the same steps as an update, with no previous `..data`.
    ///
    /// Keys may contain `/` (a ConfigMap item's `path: conf.d/app.conf`): the user-visible link
    /// is then the first component (`conf.d -> ..data/conf.d`), as with the kubelet.
    pub fn create(dir: &Path, payload: &[(&str, &[u8])]) -> AtomicVolume {
        let mut volume = AtomicVolume {
            dir: dir.to_owned(),
            payload: BTreeMap::new(),
        };
        volume.write(payload);
        volume
    }

    /// Replaces the content with `payload`, as the kubelet does when the ConfigMap or Secret
    /// changes. Like the kubelet, writes nothing when `payload` is what the volume already holds,
    /// and returns whether it wrote.
    pub fn update(&mut self, payload: &[(&str, &[u8])]) -> bool {
        if to_map(payload) == self.payload {
            return false;
        }
        self.write(payload);
        true
    }

    /// Goes through every step of an update even when `payload` is the content already there:
    /// what the kubelet does when only the files' modes change (an edited `defaultMode`), and the
    /// harshest case for a watcher that reacts to events rather than content: a new timestamped
    /// directory, a `..data` swap, a removed directory, and not one byte different.
    pub fn rewrite(&mut self, payload: &[(&str, &[u8])]) {
        self.write(payload);
    }

    /// The volume directory, the one a pod mounts and a watcher is given.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The user-visible path of `key`, the one an application opens.
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// The timestamped directory `..data` points to now (its name, relative to the volume).
    pub fn data_dir(&self) -> PathBuf {
        fs::read_link(self.dir.join(DATA)).expect("..data is a symlink")
    }

    /// The AtomicWriter's steps, in its order.
    fn write(&mut self, payload: &[(&str, &[u8])]) {
        let old = fs::read_link(self.dir.join(DATA)).ok();

        // The payload, in a directory no reader has heard of yet.
        let timestamped = new_timestamped_dir(&self.dir);
        for (key, content) in payload {
            let file = self.dir.join(&timestamped).join(key);
            fs::create_dir_all(file.parent().expect("a key has a parent directory"))
                .expect("create a key's subdirectory");
            fs::write(&file, content).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        }

        // The commit: one rename switches every key at once.
        symlink(&timestamped, self.dir.join(DATA_TMP)).expect("create ..data_tmp");
        fs::rename(self.dir.join(DATA_TMP), self.dir.join(DATA))
            .expect("rename ..data_tmp over ..data");

        // User-visible links: gone for vanished keys, made for new ones; existing ones already
        // resolve to the new content through `..data`.
        let visible: Vec<&str> = payload.iter().map(|(key, _)| top_level(key)).collect();
        for key in self.payload.keys() {
            let name = top_level(key);
            if !visible.contains(&name) {
                fs::remove_file(self.dir.join(name)).expect("remove a vanished key's link");
            }
        }
        for name in &visible {
            let link = self.dir.join(name);
            if fs::symlink_metadata(&link).is_err() {
                symlink(Path::new(DATA).join(name), &link).expect("create a key's link");
            }
        }

        // Last, the old payload, which no link reaches any more.
        if let Some(old) = old {
            fs::remove_dir_all(self.dir.join(old)).expect("remove the old timestamped directory");
        }
        self.payload = to_map(payload);
    }
}

fn to_map(payload: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
    payload
        .iter()
        .map(|(key, content)| ((*key).to_owned(), content.to_vec()))
        .collect()
}

/// The name a key is seen by in the volume directory: its first path component.
fn top_level(key: &str) -> &str {
    key.split('/')
        .next()
        .expect("split yields at least one part")
}

/// Creates `..YYYY_MM_DD_HH_MM_SS.<9 digits>` in `volume` and returns its name. The kubelet names
/// it after the current UTC time with a random suffix (`os.MkdirTemp`); the suffix here starts at
/// the clock's nanoseconds and, as `MkdirTemp` does, tries another on a clash, so that two updates
/// in the same second (the tests make hundreds) never share a directory.
fn new_timestamped_dir(volume: &Path) -> PathBuf {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    let stamp = utc_stamp(now.as_secs());
    let mut suffix = now.subsec_nanos();
    loop {
        let name = PathBuf::from(format!("..{stamp}.{suffix:09}"));
        match fs::create_dir(volume.join(&name)) {
            Ok(()) => return name,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => suffix = (suffix + 1) % 1_000_000_000,
            Err(e) => panic!("create {}: {e}", volume.join(&name).display()),
        }
    }
}

/// `YYYY_MM_DD_HH_MM_SS` in UTC for a Unix time, as Go's layout `2006_01_02_15_04_05` prints it.
fn utc_stamp(unix: u64) -> String {
    let (days, secs) = (unix / 86_400, unix % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    let (hour, minute, second) = (secs / 3600, secs % 3600 / 60, secs % 60);
    format!("{year:04}_{month:02}_{day:02}_{hour:02}_{minute:02}_{second:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`), to stay free of a date crate for one directory name.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Overwrites `path` through the same inode: truncate, then write. What `echo new > file`, a
/// `kubectl cp` into a hostPath, and editors that keep the inode (vim's `backupcopy=yes`) do;
/// a watcher sees modify events on a file whose inode never changes, and may see it empty
/// between the truncate and the write.
pub fn write_in_place(path: &Path, content: &[u8]) {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {} to overwrite it: {e}", path.display()));
    file.write_all(content)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Writes a temporary file next to `path` and renames it over `path`: what most editors,
/// `sed -i` and careful deploy scripts do, so that a reader never sees half a file. The watched
/// name now names a new inode; a watch on the old inode sees only its deletion.
pub fn rename_over(path: &Path, content: &[u8]) {
    let name = path.file_name().expect("a file name").to_string_lossy();
    let temporary = path.with_file_name(format!(".{name}.swp"));
    fs::write(&temporary, content).unwrap_or_else(|e| panic!("write {}: {e}", temporary.display()));
    fs::rename(&temporary, path).unwrap_or_else(|e| {
        panic!(
            "rename {} over {}: {e}",
            temporary.display(),
            path.display()
        )
    });
}

/// Deletes `path`, then creates it anew with `content`: what `rm` and `cp`, or a tool that
/// regenerates its output from scratch, do. For a moment the file does not exist, and the new
/// one is a new inode.
pub fn delete_and_recreate(path: &Path, content: &[u8]) {
    fs::remove_file(path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
    fs::write(path, content).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servers::Scratch;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_volume_is_laid_out_as_the_kubelet_lays_it_out() {
        let scratch = Scratch::new("kubelet-layout");
        let volume = AtomicVolume::create(&scratch.path, &[("a", b"1"), ("conf.d/b", b"2")]);
        let data = volume.data_dir();
        let name = data.to_str().unwrap();
        // `..YYYY_MM_DD_HH_MM_SS.NNNNNNNNN`
        assert_eq!(name.len(), 2 + 19 + 1 + 9, "{name}");
        assert!(
            name.starts_with("..20") && name.as_bytes()[21] == b'.',
            "{name}"
        );
        assert_eq!(names(&scratch.path), [name, "..data", "a", "conf.d"]);
        assert_eq!(
            fs::read_link(volume.path("a")).unwrap(),
            Path::new("..data/a")
        );
        assert_eq!(
            fs::read_link(volume.path("conf.d")).unwrap(),
            Path::new("..data/conf.d")
        );
        assert_eq!(fs::read(volume.path("conf.d/b")).unwrap(), b"2");
    }

    #[test]
    fn an_update_swaps_data_relinks_keys_and_removes_the_old_directory() {
        let scratch = Scratch::new("kubelet-update");
        let mut volume = AtomicVolume::create(&scratch.path, &[("a", b"1"), ("b", b"2")]);
        let old = volume.data_dir();
        assert!(volume.update(&[("b", b"3"), ("c", b"4")]));
        let new = volume.data_dir();
        assert_ne!(old, new);
        let new_name = new.to_str().unwrap();
        assert_eq!(names(&scratch.path), [new_name, "..data", "b", "c"]);
        assert_eq!(fs::read(volume.path("b")).unwrap(), b"3");
        assert_eq!(fs::read(volume.path("c")).unwrap(), b"4");
    }

    #[test]
    fn an_update_with_the_same_content_writes_nothing_but_a_rewrite_does() {
        let scratch = Scratch::new("kubelet-noop");
        let mut volume = AtomicVolume::create(&scratch.path, &[("a", b"1")]);
        let first = volume.data_dir();
        assert!(!volume.update(&[("a", b"1")]));
        assert_eq!(volume.data_dir(), first);
        volume.rewrite(&[("a", b"1")]);
        assert_ne!(volume.data_dir(), first);
        assert_eq!(fs::read(volume.path("a")).unwrap(), b"1");
    }

    #[test]
    fn utc_stamps_read_as_gos_layout() {
        assert_eq!(utc_stamp(0), "1970_01_01_00_00_00");
        // 2024-02-29T23:59:59Z, a leap day.
        assert_eq!(utc_stamp(1_709_251_199), "2024_02_29_23_59_59");
        // 2026-11-23T01:02:03Z
        assert_eq!(utc_stamp(1_795_395_723), "2026_11_23_01_02_03");
    }
}
