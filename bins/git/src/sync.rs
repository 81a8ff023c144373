//! One sync, start to end, on the calling thread (gix's network client blocks): find the commit
//! `--ref` names now, and if it is not the one published, check it out and publish it.
//!
//! Nothing published is touched until the new tree is whole: a failure at any step (the
//! network, a missing ref, a bad password, a checkout refused for an unsafe path, an interrupt)
//! leaves the link where it was.

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use gix::ObjectId;

use crate::checkout::{checkout, Written};
use crate::fetch::{self, one_line};
use crate::publish::Layout;
use crate::source::{RefSpec, Source};
use crate::transport::Limits;

/// Why a sync failed; each prints as one line and never holds a credential.
#[derive(Debug)]
pub enum SyncError {
    /// The server could not be reached, refused us, or broke off.
    Remote(String),
    /// `--ref` names nothing there.
    NoSuchRef(String),
    /// The password file could not be read.
    Password(String),
    /// The server wants credentials, or refused ours.
    Auth(String),
    /// The commit could not be written out.
    Checkout(String),
    /// Something on the local file system.
    Local { what: String, error: String },
    /// Stopped by a shutdown.
    Interrupted,
    /// Took longer than `--sync-timeout`.
    TimedOut(std::time::Duration),
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Remote(error) => write!(f, "fetch failed: {error}"),
            SyncError::NoSuchRef(name) => {
                write!(f, "no branch, tag or commit {name:?} in the repository")?;
                if (7..40).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                    // No server resolves a short SHA.
                    f.write_str(" (a short commit SHA? give all 40 hex digits)")?;
                }
                Ok(())
            }
            SyncError::Password(error) => f.write_str(error),
            SyncError::Auth(why) => write!(f, "fetch failed: {why}"),
            SyncError::Checkout(error) => write!(f, "checkout failed: {error}"),
            SyncError::Local { what, error } => write!(f, "{what}: {error}"),
            SyncError::Interrupted => f.write_str("interrupted"),
            SyncError::TimedOut(limit) => write!(
                f,
                "took longer than --sync-timeout {}",
                podkit::duration::format(*limit)
            ),
        }
    }
}

impl SyncError {
    /// A word for the metrics' `result` label.
    pub fn kind(&self) -> &'static str {
        match self {
            SyncError::Remote(_) => "fetch_error",
            SyncError::NoSuchRef(_) => "no_such_ref",
            SyncError::Password(_) => "password_error",
            SyncError::Auth(_) => "auth_error",
            SyncError::Checkout(_) => "checkout_error",
            SyncError::Local { .. } => "local_error",
            SyncError::Interrupted => "interrupted",
            SyncError::TimedOut(_) => "timeout",
        }
    }
}

/// What one sync did.
#[derive(Debug)]
pub enum Synced {
    /// The commit `--ref` names is the one published.
    Unchanged { commit: ObjectId, fetched: Duration },
    /// A new commit is published; the one before, if any, is kept until the next publish.
    Published {
        commit: ObjectId,
        previous: Option<ObjectId>,
        written: Written,
        fetched: Duration,
    },
}

impl Synced {
    /// The commit published now.
    pub fn commit(&self) -> ObjectId {
        match self {
            Synced::Unchanged { commit, .. } | Synced::Published { commit, .. } => *commit,
        }
    }
}

/// What a sync needs, shared with its thread.
#[derive(Debug)]
pub struct Plan {
    pub source: Source,
    pub reference: RefSpec,
    pub depth: u32,
    pub limits: Limits,
    pub layout: Layout,
}

/// One sync; `interrupt` stops it between steps and during a transfer.
pub fn sync(plan: &Plan, interrupt: &AtomicBool) -> Result<Synced, SyncError> {
    let git_dir = plan.layout.git_dir();
    if let Some(why) = fetch::start_afresh(&git_dir, plan.depth) {
        podkit::info!("fetching into a new repository", why = why);
        remove_if_there(&git_dir)?;
    }
    let own = fetch::open_or_init(&git_dir)?;
    let start = Instant::now();
    let local;
    let (objects, commit) = match &plan.source {
        Source::Remote {
            url, credentials, ..
        } => {
            let commit = fetch::fetch(
                &own,
                url,
                credentials.as_ref(),
                &plan.reference,
                plan.depth,
                &plan.limits,
                interrupt,
            )?;
            (&own, commit)
        }
        Source::Local { path, .. } => {
            local = open_local(path)?;
            let commit = resolve_local(&local, &plan.reference)?;
            (&local, commit)
        }
    };
    let fetched = start.elapsed();
    let layout = &plan.layout;
    let previous = layout.published();
    if previous == Some(commit) {
        return Ok(Synced::Unchanged { commit, fetched });
    }
    let local_error = |what: &str| {
        let what = what.to_owned();
        move |error: std::io::Error| SyncError::Local {
            what,
            error: error.to_string(),
        }
    };
    let written = if layout.worktree(commit).is_dir() {
        // Named by its SHA only once whole: the tree kept from the publish before (a revert
        // to it), or one a killed run finished. Used as it is: a reader may be in it.
        Written::reused()
    } else {
        let staging = layout.staging(commit);
        remove_if_there(&staging)?;
        let written = match checkout(&own, objects, commit, &staging, interrupt) {
            Ok(written) => written,
            Err(error) => {
                // Half a tree is of no use to anyone.
                let _ = std::fs::remove_dir_all(&staging);
                return Err(error);
            }
        };
        layout
            .finish(commit)
            .map_err(local_error("naming the worktree"))?;
        written
    };
    layout
        .swap(commit)
        .map_err(local_error("swapping the link"))?;
    let keep: Vec<ObjectId> = std::iter::once(commit).chain(previous).collect();
    layout
        .remove_others(&keep)
        .map_err(local_error("removing old worktrees"))?;
    Ok(Synced::Published {
        commit,
        previous,
        written,
        fetched,
    })
}

/// A `file://` repository, opened where it is, with no configuration from outside it.
fn open_local(path: &std::path::Path) -> Result<gix::Repository, SyncError> {
    gix::open_opts(path, fetch::isolated())
        .map_err(|e| SyncError::Remote(format!("opening {}: {}", path.display(), one_line(&e))))
}

/// The commit `reference` names in a local repository, as `git clone` of it would see it.
fn resolve_local(repo: &gix::Repository, reference: &RefSpec) -> Result<ObjectId, SyncError> {
    let missing = || SyncError::NoSuchRef(reference.to_string());
    let id = match reference {
        RefSpec::Head => repo.head_id().map_err(|_| missing())?.detach(),
        RefSpec::Commit(id) => *id,
        RefSpec::Name(name) => {
            // git clone --branch looks for a branch first, then a tag.
            let candidates = [
                format!("refs/heads/{name}"),
                format!("refs/tags/{name}"),
                name.clone(),
            ];
            let found = candidates
                .iter()
                .find_map(|candidate| repo.try_find_reference(candidate.as_str()).ok().flatten());
            found
                .ok_or_else(missing)?
                .into_fully_peeled_id()
                .map_err(|_| missing())?
                .detach()
        }
    };
    let commit = repo
        .find_object(id)
        .map_err(|_| missing())?
        .peel_to_commit()
        .map_err(|_| missing())?;
    Ok(commit.id)
}

fn remove_if_there(dir: &std::path::Path) -> Result<(), SyncError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(SyncError::Local {
            what: format!("removing {}", dir.display()),
            error: e.to_string(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_short_sha_is_told_to_be_one() {
        let message = SyncError::NoSuchRef("0123abc".into()).to_string();
        assert!(message.contains("give all 40 hex digits"), "{message}");
        let message = SyncError::NoSuchRef("main".into()).to_string();
        assert!(!message.contains("hex"), "{message}");
    }
}
