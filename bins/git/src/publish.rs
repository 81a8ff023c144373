//! git-sync's publishing contract under `--root`: each commit checked out in
//! `.worktrees/<sha>`, and the `--link` symlink swapped to it with `rename(2)`, so that a reader
//! of the link sees the old tree or the new one, whole, never a mix nor a missing one. The link
//! is relative (`.worktrees/<sha>`), so another container may mount the volume elsewhere.
//!
//! The tree published before stays until the next publish: a reader that resolved the link just
//! before a swap is not cut off in the middle of reading it. Older ones are removed.

use std::io;
use std::path::{Path, PathBuf};

use gix::ObjectId;

pub const WORKTREES: &str = ".worktrees";

/// Names under `--root`.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    link: String,
}

impl Layout {
    pub fn new(root: PathBuf, link: String) -> Layout {
        Layout { root, link }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// podkit-git's own repository.
    pub fn git_dir(&self) -> PathBuf {
        self.root.join(".git")
    }

    pub fn worktree(&self, commit: ObjectId) -> PathBuf {
        self.root.join(WORKTREES).join(commit.to_string())
    }

    /// Where a checkout is written before it gets its name: a directory named by a SHA is
    /// always whole.
    pub fn staging(&self, commit: ObjectId) -> PathBuf {
        self.root.join(WORKTREES).join(format!(".staging-{commit}"))
    }

    pub fn link(&self) -> PathBuf {
        self.root.join(&self.link)
    }

    /// Makes `--root` and its `.worktrees`.
    pub fn prepare(&self) -> io::Result<()> {
        std::fs::create_dir_all(self.root.join(WORKTREES))
    }

    /// The commit the link points at, when the tree it points at is there.
    pub fn published(&self) -> Option<ObjectId> {
        let target = std::fs::read_link(self.link()).ok()?;
        let name = target.file_name()?.to_str()?;
        let commit = ObjectId::from_hex(name.as_bytes()).ok()?;
        self.worktree(commit).is_dir().then_some(commit)
    }

    /// Moves a finished checkout from staging to its name, replacing a leftover of the same
    /// commit that was never published.
    pub fn finish(&self, commit: ObjectId) -> io::Result<PathBuf> {
        let done = self.worktree(commit);
        if done.exists() {
            std::fs::remove_dir_all(&done)?;
        }
        std::fs::rename(self.staging(commit), &done)?;
        Ok(done)
    }

    /// Points the link at `commit`'s worktree: a new symlink beside it, renamed over it.
    pub fn swap(&self, commit: ObjectId) -> io::Result<()> {
        let target = Path::new(WORKTREES).join(commit.to_string());
        let temporary = self.root.join(format!(".{}.swap", self.link));
        match std::fs::remove_file(&temporary) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::os::unix::fs::symlink(&target, &temporary)?;
        std::fs::rename(&temporary, self.link())
    }

    /// Removes every worktree but `keep` (the published one and the one before it), and
    /// leftover staging directories.
    pub fn remove_others(&self, keep: &[ObjectId]) -> io::Result<()> {
        let keep: Vec<String> = keep.iter().map(ObjectId::to_string).collect();
        for entry in std::fs::read_dir(self.root.join(WORKTREES))? {
            let entry = entry?;
            let name = entry.file_name();
            if keep.iter().any(|k| name.to_str() == Some(k.as_str())) {
                continue;
            }
            let path = entry.path();
            let removed = if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if let Err(error) = removed {
                podkit::warn!(
                    "cannot remove an old worktree",
                    path = path.display(),
                    error = error
                );
            }
        }
        Ok(())
    }
}
