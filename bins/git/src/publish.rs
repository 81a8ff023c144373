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

    /// Takes `--root` for this process alone, for its whole life: two podkit-git on one root
    /// would fight over its repository's locks and link. `Err` of kind `WouldBlock` when
    /// another process holds it. The lock ends with the process, however it ends.
    pub fn lock(&self) -> io::Result<std::fs::File> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join(".podkit-git.lock"))?;
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        let taken = unsafe {
            libc::flock(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                libc::LOCK_EX | libc::LOCK_NB,
            )
        };
        if taken != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(file)
    }

    /// The commit the link points at, when the tree it points at is there.
    pub fn published(&self) -> Option<ObjectId> {
        let target = std::fs::read_link(self.link()).ok()?;
        let name = target.file_name()?.to_str()?;
        let commit = ObjectId::from_hex(name.as_bytes()).ok()?;
        self.worktree(commit).is_dir().then_some(commit)
    }

    /// Moves a finished checkout from staging to its name, where nothing is: a worktree
    /// named by a SHA is whole and is used as it is.
    pub fn finish(&self, commit: ObjectId) -> io::Result<PathBuf> {
        let done = self.worktree(commit);
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
        std::fs::rename(&temporary, self.link()).inspect_err(|_| {
            // A directory where the link goes, say: leave no stray symlink beside it.
            let _ = std::fs::remove_file(&temporary);
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("podkit-git-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn commit(n: u8) -> ObjectId {
        ObjectId::from_hex(format!("{n:02x}").repeat(20).as_bytes()).unwrap()
    }

    /// A checkout as sync makes one: staged, then named.
    fn check_out(layout: &Layout, id: ObjectId, content: &str) {
        std::fs::create_dir_all(layout.staging(id)).unwrap();
        std::fs::write(layout.staging(id).join("file"), content).unwrap();
        layout.finish(id).unwrap();
    }

    #[test]
    fn the_link_is_relative_and_names_the_published_commit() {
        let root = scratch("relative");
        let layout = Layout::new(root.clone(), "site".into());
        layout.prepare().unwrap();
        assert_eq!(layout.published(), None);

        check_out(&layout, commit(1), "one");
        layout.swap(commit(1)).unwrap();

        let target = std::fs::read_link(root.join("site")).unwrap();
        assert_eq!(target, Path::new(".worktrees").join(commit(1).to_string()));
        assert_eq!(layout.published(), Some(commit(1)));
        assert_eq!(
            std::fs::read_to_string(root.join("site/file")).unwrap(),
            "one"
        );
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_swap_keeps_the_tree_before_and_removes_older_ones() {
        let root = scratch("keep");
        let layout = Layout::new(root.clone(), "site".into());
        layout.prepare().unwrap();
        for n in 1..=3 {
            check_out(&layout, commit(n), &n.to_string());
            layout.swap(commit(n)).unwrap();
            let previous = (n > 1).then(|| commit(n - 1));
            let keep: Vec<ObjectId> = std::iter::once(commit(n)).chain(previous).collect();
            layout.remove_others(&keep).unwrap();
        }
        std::fs::create_dir_all(layout.staging(commit(9))).unwrap();
        layout.remove_others(&[commit(3), commit(2)]).unwrap();

        let mut left: Vec<String> = std::fs::read_dir(root.join(WORKTREES))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, vec![commit(2).to_string(), commit(3).to_string()]);
        assert_eq!(
            std::fs::read_to_string(root.join("site/file")).unwrap(),
            "3"
        );
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_link_to_a_missing_tree_is_not_published() {
        let root = scratch("missing");
        let layout = Layout::new(root.clone(), "site".into());
        layout.prepare().unwrap();
        check_out(&layout, commit(1), "one");
        layout.swap(commit(1)).unwrap();
        std::fs::remove_dir_all(layout.worktree(commit(1))).unwrap();

        assert_eq!(layout.published(), None, "sync must publish it again");
        std::fs::remove_dir_all(root).unwrap();
    }
}
