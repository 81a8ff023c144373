//! Fetching the commit `--ref` names into `--root/.git`, a bare repository of podkit-git's own,
//! at `--depth`. One ref is fetched, into `refs/podkit/synced`, and no tags beside it: what a
//! published tree needs and nothing more.
//!
//! A fetch never touches what is published: objects arrive in new pack files and the ref moves
//! last, so a fetch cut off midway (a timeout, a killed process) leaves the repository as it
//! was plus, at worst, an unused temporary file.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use gix::remote::Direction;
use gix::ObjectId;

use crate::source::{Credentials, RefSpec};
use crate::sync::SyncError;
use crate::transport::Limits;

/// Where the fetched commit is kept between syncs.
const SYNCED: &str = "refs/podkit/synced";

/// Opens `--root/.git`, or makes it when it is missing; one that cannot be opened (left broken
/// by an earlier, killed run) is made anew: it holds nothing that cannot be fetched again.
///
/// It is opened isolated: no system or user git configuration, no attributes files of the
/// user's, so that a `.gitconfig` where podkit-git runs (a filter, a URL rewrite) has no say,
/// and an unreadable `$HOME` (uid 65532 with `HOME=/root`) is no failure.
pub fn open_or_init(git_dir: &Path) -> Result<gix::Repository, SyncError> {
    remove_stale_locks(git_dir);
    if git_dir.exists() {
        match open_isolated(git_dir) {
            Ok(repo) => return Ok(repo),
            Err(error) => {
                podkit::warn!(
                    "repository unreadable, fetching anew",
                    path = git_dir.display(),
                    error = one_line(&error)
                );
                std::fs::remove_dir_all(git_dir).map_err(|e| SyncError::Local {
                    what: format!("removing {}", git_dir.display()),
                    error: e.to_string(),
                })?;
            }
        }
    }
    let made = |e: &dyn std::error::Error| SyncError::Local {
        what: format!("making the repository {}", git_dir.display()),
        error: one_line(e),
    };
    gix::init_bare(git_dir).map_err(|e| made(&e))?;
    open_isolated(git_dir).map_err(|e| made(&e))
}

/// Removes the `*.lock` files a killed or stopped process left in the repository (gix's
/// `shallow.lock`, a ref's lock): with `--root` locked by this process ([`crate::publish::Layout::lock`]),
/// none is anyone's, and each would fail every later fetch.
fn remove_stale_locks(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => remove_stale_locks(&path),
            Ok(kind)
                if kind.is_file()
                    && path.extension().is_some_and(|ext| ext == "lock")
                    && std::fs::remove_file(&path).is_ok() =>
            {
                podkit::info!(
                    "removed a lock left by a stopped run",
                    path = path.display()
                );
            }
            _ => {}
        }
    }
}

/// A repository opened with its own configuration only.
pub fn open_isolated(git_dir: &Path) -> gix::Result<gix::Repository> {
    gix::open_opts(git_dir, isolated())
}

/// No configuration from outside the repository, and no attributes files from outside it.
pub fn isolated() -> gix::open::Options {
    gix::open::Options::isolated().permissions(gix::open::Permissions {
        attributes: gix::open::permissions::Attributes {
            git_binary: false,
            system: false,
            git: false,
        },
        ..gix::open::Permissions::isolated()
    })
}

/// Pack files past which the repository is fetched anew. Each sync that brings a new commit
/// adds a pack, and gix does not repack nor prune: with `--depth`, a new shallow fetch costs
/// about what a repack would, and keeps `--root` the size of one commit's objects.
const MOST_PACKS: usize = 32;

/// Why `--root/.git` should be dropped before this sync, if it should: too many packs, or a
/// shallow repository when `--depth 0` asks for all history (gix would keep it shallow).
pub fn start_afresh(git_dir: &Path, depth: u32) -> Option<&'static str> {
    if depth == 0 && git_dir.join("shallow").exists() {
        return Some("--depth 0 wants all history, the repository is shallow");
    }
    let packs = std::fs::read_dir(git_dir.join("objects/pack"))
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "pack"))
        .count();
    (depth > 0 && packs > MOST_PACKS).then_some("too many packs: one fresh shallow fetch instead")
}

/// Fetches `reference` from `url` and returns the commit it names (an annotated tag peeled).
pub fn fetch(
    repo: &gix::Repository,
    url: &gix::Url,
    credentials: Option<&Credentials>,
    reference: &RefSpec,
    depth: u32,
    limits: &Limits,
    interrupt: &AtomicBool,
) -> Result<ObjectId, SyncError> {
    let source = match reference {
        RefSpec::Head => "HEAD".to_owned(),
        RefSpec::Commit(id) => id.to_string(),
        RefSpec::Name(name) => name.clone(),
    };
    let spec = format!("+{source}:{SYNCED}");
    let remote = repo
        .remote_at(url.clone())
        .and_then(|remote| remote.with_refspecs(Some(spec.as_str()), Direction::Fetch))
        .map_err(|e| SyncError::Local {
            what: "setting up the remote".to_owned(),
            error: one_line(&e),
        })?
        .with_fetch_tags(gix::remote::fetch::Tags::None);
    let connection = crate::transport::connect(&remote, url, limits)?;
    let password = match credentials {
        Some(credentials) => Some(credentials.password.read().map_err(SyncError::Password)?),
        None => None,
    };
    let username = credentials.map(|c| c.username.clone());
    let connection = connection.with_credentials(move |action| {
        authenticate(action, username.as_deref(), password.as_deref())
    });
    let shallow = match NonZeroU32::new(depth) {
        Some(depth) => gix::remote::fetch::Shallow::DepthAtRemote(depth),
        None => gix::remote::fetch::Shallow::NoChange,
    };
    let outcome = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| fetch_error(reference, &e))?
        .with_shallow(shallow)
        .receive(gix::progress::Discard, interrupt)
        .map_err(|e| fetch_error(reference, &e))?;
    if outcome.ref_map.mappings.is_empty() {
        return Err(SyncError::NoSuchRef(reference.to_string()));
    }
    let synced = repo
        .find_reference(SYNCED)
        .map_err(|_| SyncError::NoSuchRef(reference.to_string()))?
        .into_fully_peeled_id()
        .map_err(|e| SyncError::Local {
            what: format!("reading {SYNCED}"),
            error: one_line(&e),
        })?;
    let commit = synced
        .object()
        .and_then(|object| object.peel_to_commit())
        .map_err(|e| SyncError::Local {
            what: format!("{} is not a commit", synced),
            error: one_line(&e),
        })?;
    Ok(commit.id)
}

/// A failed fetch, told apart when it is a ref the server does not have: gix says so in words
/// only (its own for a name, upload-pack's for a SHA), its error carries no kind for it.
fn fetch_error(reference: &RefSpec, error: &gix::Error) -> SyncError {
    let text = one_line(error);
    if text.contains("None of the refspec") || text.contains("not our ref") {
        SyncError::NoSuchRef(reference.to_string())
    } else if text.contains("No credentials were returned") {
        SyncError::Auth(
            "the server asks for credentials: give --username and --password-file".to_owned(),
        )
    } else if text.contains("HTTP status 401") {
        SyncError::Auth("the server refused the credentials (HTTP 401)".to_owned())
    } else {
        SyncError::Remote(text)
    }
}

/// Answers gix's request for credentials with ours; with none, there is nothing to answer, and
/// a server that asks gets a clear refusal.
fn authenticate(
    action: gix::credentials::helper::Action,
    username: Option<&str>,
    password: Option<&str>,
) -> gix::Result<Option<gix::credentials::protocol::Outcome>> {
    use gix::credentials::helper::Action;
    match (action, username, password) {
        (Action::Get(context), Some(username), Some(password)) => {
            Ok(Some(gix::credentials::protocol::Outcome {
                credentials: gix::sec::identity::Credentials::UsernamePassword {
                    username: username.to_owned(),
                    password: password.to_owned(),
                    oauth_refresh_token: None,
                },
                next: context.into(),
            }))
        }
        _ => Ok(None),
    }
}

/// An error and the causes it chains, on one line: gix's top message alone ("Could not decode
/// server reply") hides the server's reason ("not our ref ...") a few causes down. A cause
/// whose text its parent already shows is left out.
pub fn one_line<E: std::error::Error + ?Sized>(error: &E) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(error.as_dyn());
    while let Some(error) = next {
        let text: Vec<String> = error
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect();
        let text = text.join(": ");
        if !text.is_empty() && !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        next = error.source();
    }
    parts.join(": ")
}

/// `&E` as `&dyn Error` whether or not `E` is sized.
trait AsDynError {
    fn as_dyn(&self) -> &dyn std::error::Error;
}

impl<E: std::error::Error> AsDynError for E {
    fn as_dyn(&self) -> &dyn std::error::Error {
        self
    }
}

impl AsDynError for dyn std::error::Error + '_ {
    fn as_dyn(&self) -> &dyn std::error::Error {
        self
    }
}
