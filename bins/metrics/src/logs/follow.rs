//! Following one log file by its path, as `tail -F` does but losing no line to either kind of
//! rotation:
//!
//! - **rename and create** (logrotate's default): the path now names another file. The old one
//!   stays open and keeps being read, since a writer may write to it until it reopens (nginx
//!   until its USR1); it is let go once it has been quiet for [`RETIRE_IDLE`]. The new file is
//!   read from its start.
//! - **copytruncate**: the same file, shorter than what was read (or grown again past it, seen
//!   because the bytes before the offset are no longer the ones read). What was written after
//!   the last read and before the copy is in the copy, not in the file any more: the copy is
//!   found beside it (`NAME.1`, `NAME-20250101`, ... not yet compressed, holding at the offset the
//!   same bytes as were read) and read from that offset. Then the file is read from its start.
//!   (What the writer adds between logrotate's copy and its truncate is in neither; logrotate's
//!   manual says so.)
//!
//! It polls, every [`POLL`] when there is nothing new, rather than waiting on inotify: a poll
//! sees every state the path can be in with one `stat`, whatever the file system (inotify tells
//! nothing about writes through another mount or over NFS), and no event can be missed between
//! the watch and the read. Under load there is no wait at all: the next read follows at once.

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::lines::Lines;

/// How long to wait for more when a file has nothing new.
pub const POLL: Duration = Duration::from_millis(100);
/// How long a renamed-away file is still read after its last new byte.
pub const RETIRE_IDLE: Duration = Duration::from_secs(5);
/// Bytes read per system call.
const CHUNK: usize = 64 * 1024;
/// Bytes remembered before the offset, to tell the file read from one truncated and regrown.
const TAIL: usize = 64;

/// A rotation seen, for the adapter's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    Rename,
    Truncate,
}

impl Rotation {
    pub const ALL: [Rotation; 2] = [Rotation::Rename, Rotation::Truncate];

    pub fn as_str(self) -> &'static str {
        match self {
            Rotation::Rename => "rename",
            Rotation::Truncate => "copytruncate",
        }
    }
}

/// Where the bytes go.
pub trait Reader {
    /// The next bytes of a file, `lines` holding that file's unfinished line.
    fn bytes(&mut self, lines: &mut Lines, chunk: &[u8]);
    /// A file that will grow no more: its unfinished line is a line.
    fn finish(&mut self, lines: &mut Lines);
    fn rotated(&mut self, rotation: Rotation);
}

/// One open file and how far it was read.
#[derive(Debug)]
struct Open {
    file: File,
    /// Device and inode: the file's identity, whatever its name now.
    id: (u64, u64),
    offset: u64,
    tail: Tail,
    lines: Lines,
}

#[derive(Debug)]
struct Retired {
    open: Open,
    quiet_since: Instant,
}

#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    current: Option<Open>,
    retired: Vec<Retired>,
    buffer: Vec<u8>,
}

impl Follower {
    /// Opens `path` if it is there, at its end unless `from_start`. A file that appears later is
    /// read from its start: everything in it is new.
    pub fn new(path: PathBuf, from_start: bool) -> Follower {
        let current = File::open(&path).ok().and_then(|file| {
            let meta = file.metadata().ok()?;
            let mut open = Open::new(file, &meta);
            if !from_start && meta.len() > 0 {
                open.offset = meta.len();
                let mut last = [0u8; 1];
                let ends_line =
                    open.file.read_exact_at(&mut last, meta.len() - 1).is_ok() && last[0] == b'\n';
                if !ends_line {
                    open.lines = Lines::mid_line();
                }
            }
            Some(open)
        });
        Follower {
            path,
            current,
            retired: Vec::new(),
            buffer: vec![0; CHUNK],
        }
    }

    /// Follows for ever.
    pub fn run(mut self, reader: &mut impl Reader) -> ! {
        loop {
            if !self.step(reader) {
                std::thread::sleep(POLL);
            }
        }
    }

    /// One look at the path, then everything that can be read now; whether anything was.
    pub fn step(&mut self, reader: &mut impl Reader) -> bool {
        self.check(reader);
        let mut progressed = false;
        if let Some(open) = &mut self.current {
            progressed |= read_available(open, &mut self.buffer, reader);
        }
        let now = Instant::now();
        let buffer = &mut self.buffer;
        self.retired.retain_mut(|retired| {
            if read_available(&mut retired.open, buffer, reader) {
                progressed = true;
                retired.quiet_since = now;
                true
            } else if now.duration_since(retired.quiet_since) >= RETIRE_IDLE {
                reader.finish(&mut retired.open.lines);
                false
            } else {
                true
            }
        });
        progressed
    }

    /// Notices a new file at the path, or the same one truncated.
    fn check(&mut self, reader: &mut impl Reader) {
        // Absent: between a rename and the create, or not there yet. The open file, if any,
        // is still read.
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return;
        };
        match &mut self.current {
            Some(open) if open.id == (meta.dev(), meta.ino()) => {
                if truncated(open, meta.len()) {
                    reader.rotated(Rotation::Truncate);
                    if let Some(copy) = find_copy(&self.path, open.offset, &open.tail) {
                        let mut from_copy = Open {
                            file: copy,
                            id: open.id,
                            offset: open.offset,
                            tail: Tail::default(),
                            lines: std::mem::take(&mut open.lines),
                        };
                        read_available_to_end(&mut from_copy, &mut self.buffer, reader);
                        open.lines = from_copy.lines;
                    }
                    reader.finish(&mut open.lines);
                    open.offset = 0;
                    open.tail = Tail::default();
                }
            }
            _ => {
                let Ok(file) = File::open(&self.path) else {
                    return;
                };
                let Ok(meta) = file.metadata() else {
                    return;
                };
                let new = Open::new(file, &meta);
                if self.current.as_ref().is_some_and(|open| open.id == new.id) {
                    return;
                }
                if let Some(old) = self.current.replace(new) {
                    reader.rotated(Rotation::Rename);
                    self.retired.push(Retired {
                        open: old,
                        quiet_since: Instant::now(),
                    });
                }
            }
        }
    }
}

impl Open {
    fn new(file: File, meta: &std::fs::Metadata) -> Open {
        Open {
            file,
            id: (meta.dev(), meta.ino()),
            offset: 0,
            tail: Tail::default(),
            lines: Lines::default(),
        }
    }
}

/// Reads what is there now, stopping at the first short read (the writer's pace, not ours,
/// decides when the path is looked at again); whether anything was read.
fn read_available(open: &mut Open, buffer: &mut [u8], reader: &mut impl Reader) -> bool {
    let mut any = false;
    loop {
        let n = match open.file.read_at(buffer, open.offset) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => 0,
        };
        if n == 0 {
            return any;
        }
        any = true;
        reader.bytes(&mut open.lines, &buffer[..n]);
        open.offset += n as u64;
        open.tail.remember(&buffer[..n]);
        if n < buffer.len() {
            return any;
        }
    }
}

/// Reads a file that no longer grows (a copy) to its end.
fn read_available_to_end(open: &mut Open, buffer: &mut [u8], reader: &mut impl Reader) {
    while read_available(open, buffer, reader) {}
}

/// Whether the file is no longer the one read up to `open.offset`: shorter, or holding other
/// bytes just before it.
fn truncated(open: &Open, len: u64) -> bool {
    len < open.offset || !open.tail.found_in(&open.file, open.offset)
}

/// The copy a copytruncate left beside `path`: a name starting with the file's and a `.`,
/// `-` or `_`, not compressed, at least `offset` long and holding `tail` just before it. The
/// newest such file, if several are.
fn find_copy(path: &Path, offset: u64, tail: &Tail) -> Option<File> {
    if offset == 0 {
        return None;
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let base = path.file_name()?.as_bytes();
    let mut best: Option<(SystemTime, File)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name();
        let name = name.as_bytes();
        let rotated_name = name.len() > base.len()
            && name.starts_with(base)
            && matches!(name[base.len()], b'.' | b'-' | b'_');
        let compressed = [".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z"]
            .iter()
            .any(|ext| name.ends_with(ext.as_bytes()));
        if !rotated_name || compressed {
            continue;
        }
        let Ok(file) = File::open(entry.path()) else {
            continue;
        };
        let Ok(meta) = file.metadata() else {
            continue;
        };
        if !meta.is_file() || meta.len() < offset || !tail.found_in(&file, offset) {
            continue;
        }
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        if best.as_ref().is_none_or(|(newest, _)| modified > *newest) {
            best = Some((modified, file));
        }
    }
    best.map(|(_, file)| file)
}

/// The last bytes read from a file, up to [`TAIL`].
#[derive(Debug)]
struct Tail {
    bytes: [u8; TAIL],
    len: usize,
}

impl Default for Tail {
    fn default() -> Tail {
        Tail {
            bytes: [0; TAIL],
            len: 0,
        }
    }
}

impl Tail {
    fn remember(&mut self, chunk: &[u8]) {
        if chunk.len() >= TAIL {
            self.bytes.copy_from_slice(&chunk[chunk.len() - TAIL..]);
            self.len = TAIL;
            return;
        }
        let keep = (TAIL - chunk.len()).min(self.len);
        self.bytes.copy_within(self.len - keep..self.len, 0);
        self.bytes[keep..keep + chunk.len()].copy_from_slice(chunk);
        self.len = keep + chunk.len();
    }

    /// Whether `file` holds these bytes just before `offset`.
    fn found_in(&self, file: &File, offset: u64) -> bool {
        let Some(start) = offset.checked_sub(self.len as u64) else {
            return false;
        };
        let mut found = [0u8; TAIL];
        file.read_exact_at(&mut found[..self.len], start).is_ok()
            && found[..self.len] == self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_bytes_across_short_and_long_chunks() {
        let mut tail = Tail::default();
        tail.remember(b"abc");
        tail.remember(b"de");
        assert_eq!(&tail.bytes[..tail.len], b"abcde");
        let long: Vec<u8> = (0..100u8).collect();
        tail.remember(&long);
        assert_eq!(&tail.bytes[..tail.len], &long[36..]);
        tail.remember(b"z");
        assert_eq!(tail.len, TAIL);
        assert_eq!(tail.bytes[TAIL - 1], b'z');
        assert_eq!(tail.bytes[0], 37);
    }
}
