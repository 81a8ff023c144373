//! A commit's tree written out into a new directory, by gix's checkout: the same path checks
//! as git's (no `.git` component, no `..`, nothing written through a symlink the tree itself
//! made), so whatever the repository holds, nothing lands outside the directory.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use gix::ObjectId;

use crate::fetch::one_line;
use crate::sync::SyncError;

/// What a checkout wrote.
#[derive(Debug)]
pub struct Written {
    pub files: usize,
    pub bytes: u64,
    /// Submodule entries: gix does not check them out; their directories stay empty.
    pub submodules: usize,
}

impl Written {
    /// Nothing written: a whole worktree of the commit was there already.
    pub fn reused() -> Written {
        Written {
            files: 0,
            bytes: 0,
            submodules: 0,
        }
    }
}

/// Writes `commit`'s tree into `dir`, which must not exist. Objects come from `objects`; the
/// checkout's settings (filters, attributes) from `settings`, podkit-git's own repository, so
/// that a `file://` source's configuration cannot make it run a filter program.
pub fn checkout(
    settings: &gix::Repository,
    objects: &gix::Repository,
    commit: ObjectId,
    dir: &Path,
    interrupt: &AtomicBool,
) -> Result<Written, SyncError> {
    let failed = |what: &str, error: &dyn std::error::Error| {
        SyncError::Checkout(format!("{what}: {}", one_line(error)))
    };
    let tree = objects
        .find_commit(commit)
        .map_err(|e| failed("reading the commit", &e))?
        .tree_id()
        .map_err(|e| failed("reading the commit's tree", &e))?;
    let mut index = objects
        .index_from_tree(&tree)
        .map_err(|e| failed("reading the tree", &e))?;
    let submodules = index
        .entries()
        .iter()
        .filter(|entry| entry.mode == gix::index::entry::Mode::COMMIT)
        .count();
    let mut options = settings
        .checkout_options(gix::worktree::stack::state::attributes::Source::IdMapping)
        .map_err(|e| failed("checkout settings", &e))?;
    options.destination_is_initially_empty = true;
    std::fs::create_dir(dir).map_err(|e| failed(&format!("making {}", dir.display()), &e))?;
    let odb = objects
        .objects
        .clone()
        .into_arc()
        .map_err(|e| failed("opening the objects", &e))?;
    let outcome = gix::worktree::state::checkout(
        &mut index,
        dir,
        odb,
        &gix::progress::Discard,
        &gix::progress::Discard,
        interrupt,
        options,
    )
    .map_err(|e| failed("writing the tree", &e))?;
    // An interrupted checkout returns as if it were done.
    if interrupt.load(Ordering::Relaxed) {
        return Err(SyncError::Interrupted);
    }
    if let Some(record) = outcome.errors.first() {
        return Err(SyncError::Checkout(format!(
            "{}: {}",
            record.path,
            one_line(&record.error)
        )));
    }
    if let Some(collision) = outcome.collisions.first() {
        return Err(SyncError::Checkout(format!(
            "{}: two entries of the tree name the same file",
            collision.path
        )));
    }
    Ok(Written {
        files: outcome.files_updated,
        bytes: outcome.bytes_written,
        submodules,
    })
}
