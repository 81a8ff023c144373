//! A checked-out tree as data: every path under a directory with what git would record for it
//! (a file's bytes and executable bit, a symlink's target, a directory), so that two checkouts
//! compare with `assert_eq!` and a difference shows by path.

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// What is at one path of a checkout.
#[derive(Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file: its bytes, and whether its owner may execute it (the one bit git keeps).
    File { contents: Bytes, executable: bool },
    /// A symbolic link, with its target as written (never followed).
    Symlink(Bytes),
    /// A directory (its contents are entries of their own).
    Dir,
    /// Anything else (a socket, a fifo, a device): never in a checkout.
    Other,
}

/// Bytes that print as text with non-printable bytes escaped (`\n`, `\xff`), so a failed
/// comparison reads as the files' contents.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

impl From<&str> for Bytes {
    fn from(text: &str) -> Bytes {
        Bytes(text.as_bytes().to_vec())
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::File {
                contents,
                executable: true,
            } => write!(f, "executable {contents:?}"),
            Entry::File { contents, .. } => write!(f, "file {contents:?}"),
            Entry::Symlink(target) => write!(f, "symlink -> {target:?}"),
            Entry::Dir => f.write_str("dir"),
            Entry::Other => f.write_str("other"),
        }
    }
}

impl Entry {
    /// A regular, non-executable file holding `contents`.
    pub fn file(contents: &str) -> Entry {
        Entry::File {
            contents: contents.into(),
            executable: false,
        }
    }

    /// An executable file holding `contents`.
    pub fn executable(contents: &str) -> Entry {
        Entry::File {
            contents: contents.into(),
            executable: true,
        }
    }

    /// A symbolic link to `target`.
    pub fn symlink(target: &str) -> Entry {
        Entry::Symlink(target.into())
    }
}

/// Every path under `dir` (itself followed if it is a symlink, as a published tree is), relative
/// and `/`-separated, with its [`Entry`]. Every entry named `.git`, at any depth, is left out
/// with what it holds: git's own data, which git never checks out from a tree.
pub fn tree_listing(dir: &Path) -> BTreeMap<String, Entry> {
    let mut listing = BTreeMap::new();
    walk(dir, "", &mut listing);
    listing
}

fn walk(dir: &Path, prefix: &str, listing: &mut BTreeMap<String, Entry>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("list {dir:?}: {e}"));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("list {dir:?}: {e}"));
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let path = entry.path();
        let relative = format!("{prefix}{}", name.to_string_lossy());
        let meta = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let kind = meta.file_type();
        let found = if kind.is_symlink() {
            let target = std::fs::read_link(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            Entry::Symlink(Bytes(target.as_os_str().as_bytes().to_vec()))
        } else if kind.is_dir() {
            walk(&path, &format!("{relative}/"), listing);
            Entry::Dir
        } else if kind.is_file() {
            let contents = std::fs::read(&path).unwrap_or_else(|e| panic!("read {path:?}: {e}"));
            Entry::File {
                contents: Bytes(contents),
                executable: meta.permissions().mode() & 0o100 != 0,
            }
        } else {
            Entry::Other
        };
        listing.insert(relative, found);
    }
}
