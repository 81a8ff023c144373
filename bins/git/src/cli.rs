//! Flags and environment into a typed [`Config`], once, at the edge. The flags are git-sync
//! v4's names, so its users recognise them; its `GITSYNC_*` variables are read too
//! ([`adopt_gitsync_env`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgMatches, Parser};
use http::Method;
use podkit::action::{values as actions, Action, Actions, Command, Webhook};
use podkit::cli::{parse, LogArgs, UsageError};
use podkit::http::{Statuses, Url};

use crate::source::{Credentials, Password, RefSpec, Source};
use crate::transport::{read_cacert, Limits};

pub const EXIT_CODES: &str = "\
Exit status:
  0  --one-time: published; otherwise stopped on SIGTERM or SIGINT
  1  the sync failed more than --max-failures times in a row (the last error on one line)
  2  usage or configuration error (a flag, an unreadable --password-file, a URL scheme this
     build cannot fetch: ssh:// needs an ssh program, which the image does not have)

Layout under --root: the repository's objects in .git, each published commit checked out in
.worktrees/<sha>, and the --link symlink swapped to the new one with rename(2): readers see the
old tree or the new one, never a partial one. basename(readlink(link)) is the published commit.
git-sync's GITSYNC_* variables are read too, where no PODKIT_* one is set.";

/// Sent with each webhook request.
const USER_AGENT: &str = concat!("podkit-git/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Parser)]
#[command(name = "podkit-git", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// The repository: https://, http://, git:// or file:// (user:password@ in the URL becomes
    /// --username and the password, never logged)
    #[arg(long, value_name = "URL")]
    pub repo: String,

    /// The directory that holds the repository, its worktrees and the --link (made if missing)
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,

    /// The symlink under --root that points at the published tree [default: the repository's
    /// name]
    #[arg(long, value_name = "NAME")]
    pub link: Option<String>,

    /// What to publish: a branch, a tag or a full commit SHA [default: the remote's HEAD]
    #[arg(long = "ref", value_name = "REF", default_value = "HEAD")]
    pub reference: String,

    /// How many commits of history to fetch; 0 for all of it
    #[arg(long, value_name = "N", default_value = "1")]
    pub depth: u32,

    /// Publish once and exit (an init container)
    #[arg(long, value_parser = parse::switch)]
    pub one_time: bool,

    /// How long to wait between syncs
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse::nonzero_duration)]
    pub period: Duration,

    /// How many syncs in a row may fail before the process exits 1; -1 for no limit. With
    /// --one-time, how many times to try again
    #[arg(long, value_name = "N", default_value = "0", allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(-1..))]
    pub max_failures: i64,

    /// Give up one sync (fetch and checkout) after this long
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse::nonzero_duration)]
    pub sync_timeout: Duration,

    /// The user name for HTTPS basic authentication
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,

    /// Read the password from this file before each sync (a rotated Secret is used at the next
    /// sync); or set PODKIT_PASSWORD
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Trust these CA certificates (PEM) for https:// instead of the system's
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// POST to this http:// URL after each publish, retried with backoff
    #[arg(long, value_name = "URL", value_parser = actions::url)]
    pub webhook_url: Option<Url>,

    /// The webhook's method
    #[arg(long, value_name = "METHOD", default_value = "POST", value_parser = actions::method)]
    pub webhook_method: Method,

    /// Statuses that count as success: 200-299, 204, or a list such as 200-299,304
    #[arg(long, value_name = "STATUSES", default_value = "200-299", value_parser = actions::statuses)]
    pub webhook_success_status: Statuses,

    /// Give up one webhook attempt after this long
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse::nonzero_duration)]
    pub webhook_timeout: Duration,

    /// Retry a failed webhook this many times
    #[arg(long, value_name = "N", default_value = "3")]
    pub webhook_retries: u32,

    /// Run this command after each publish ('CMD ARGS', split as a shell would, without a
    /// shell), with PODKIT_GIT_SHA (and git-sync's GITSYNC_HASH) set to the published commit and
    /// PODKIT_CHANGED to its worktree
    #[arg(long, value_name = "'CMD ARGS'", value_parser = actions::command)]
    pub exechook_command: Option<Command>,

    /// Kill the --exechook-command after this long
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse::nonzero_duration)]
    pub exechook_timeout: Duration,

    /// Retry a failed --exechook-command this many times
    #[arg(long, value_name = "N", default_value = "3")]
    pub exechook_retries: u32,

    /// Touch (create, or update the time of) this file after each publish; relative to --root,
    /// or absolute
    #[arg(long, value_name = "FILE")]
    pub touch_file: Option<PathBuf>,

    /// Serve /metrics, /healthz and /readyz here (ready after the first publish)
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    #[command(flatten)]
    pub log: LogArgs,
}

/// What the flags mean, checked once.
#[derive(Debug)]
pub struct Config {
    pub source: Source,
    pub reference: RefSpec,
    pub root: PathBuf,
    pub link: String,
    pub depth: u32,
    pub limits: Limits,
    pub one_time: bool,
    pub period: Duration,
    /// `None`: no limit.
    pub max_failures: Option<u64>,
    pub sync_timeout: Duration,
    pub hooks: Hooks,
    pub metrics_addr: Option<SocketAddr>,
}

/// What runs after each publish.
#[derive(Debug)]
pub struct Hooks {
    pub actions: Actions,
    pub touch_file: Option<PathBuf>,
}

impl podkit::daemon::Daemon for Cli {
    type Config = Config;

    fn into_config(self, _: &ArgMatches) -> Result<Config, UsageError> {
        let password = match (&self.password_file, take_env_password()) {
            (Some(_), Some(_)) => {
                return Err(UsageError::flag(
                    "--password-file",
                    "give --password-file or PODKIT_PASSWORD, not both",
                ))
            }
            (Some(file), None) => {
                // Read once now so that a wrong path is exit 2 at start, not a failed sync.
                let password = Password::File(file.clone());
                password
                    .read()
                    .map_err(|e| UsageError::flag("--password-file", e))?;
                Some(password)
            }
            (None, Some(text)) => Some(Password::Fixed(text)),
            (None, None) => None,
        };
        let (source, in_url) =
            Source::parse(&self.repo).map_err(|e| UsageError::flag("--repo", e))?;
        if in_url.is_some() {
            // The URL came with its password; a hook inherits this environment.
            scrub_repo_env(&source.to_string());
        }
        let credentials = Credentials::combine(self.username, password, in_url)
            .map_err(|e| UsageError::flag("--username", e))?;
        let source = source
            .with_credentials(credentials)
            .map_err(|e| UsageError::flag("--repo", e))?;
        let cacert = match &self.cacert {
            Some(path) => Some(std::sync::Arc::new(
                read_cacert(path).map_err(|e| UsageError::flag("--cacert", e))?,
            )),
            None => None,
        };
        let link = match self.link {
            Some(link) => link,
            None => source.name().to_owned(),
        };
        check_link(&link).map_err(|e| UsageError::flag("--link", e))?;
        let reference =
            RefSpec::parse(&self.reference).map_err(|e| UsageError::flag("--ref", e))?;
        let mut actions = Vec::new();
        if let Some(url) = self.webhook_url {
            let webhook = Webhook::new(
                self.webhook_method,
                url,
                &[],
                self.webhook_success_status,
                USER_AGENT,
            );
            actions.push(
                Action::webhook(webhook)
                    .timeout(self.webhook_timeout)
                    .retries(self.webhook_retries),
            );
        }
        if let Some(command) = self.exechook_command {
            actions.push(
                Action::exec(command)
                    .timeout(self.exechook_timeout)
                    .retries(self.exechook_retries),
            );
        }
        let touch_file = self.touch_file.map(|file| self.root.join(file));
        Ok(Config {
            source,
            reference,
            root: self.root,
            link,
            depth: self.depth,
            limits: Limits {
                io_timeout: self.sync_timeout,
                cacert,
            },
            one_time: self.one_time,
            period: self.period,
            max_failures: u64::try_from(self.max_failures).ok(),
            sync_timeout: self.sync_timeout,
            hooks: Hooks {
                actions: Actions::new(actions),
                touch_file,
            },
            metrics_addr: self.metrics_addr,
        })
    }

    fn metrics_addr(config: &Config) -> Option<SocketAddr> {
        config.metrics_addr
    }

    fn runtime() -> tokio::runtime::Builder {
        // One thread for the loop and the hooks; each sync runs on a thread of its own, since
        // gix's network client blocks.
        tokio::runtime::Builder::new_current_thread()
    }
}

/// The password from `PODKIT_PASSWORD` (or git-sync's `GITSYNC_PASSWORD`), removed from the
/// environment so that no hook inherits it. Called while the process has one thread.
fn take_env_password() -> Option<String> {
    let password = std::env::var("PODKIT_PASSWORD").ok();
    // git-sync's name for it was copied to PODKIT_PASSWORD by adopt_gitsync_env.
    std::env::remove_var("PODKIT_PASSWORD");
    std::env::remove_var("GITSYNC_PASSWORD");
    password
}

/// `PODKIT_REPO` and `GITSYNC_REPO`, where set, replaced by the URL without its credentials.
/// Called while the process has one thread.
fn scrub_repo_env(shown: &str) {
    for name in ["PODKIT_REPO", "GITSYNC_REPO"] {
        if std::env::var_os(name).is_some() {
            std::env::set_var(name, shown);
        }
    }
}

/// git-sync v4's variables stand in for ours: `GITSYNC_REPO` for `PODKIT_REPO`, and so on
/// (`GITSYNC_HTTP_BIND` for `PODKIT_METRICS_ADDR`), where the `PODKIT_*` one is not set. Called
/// first thing in `main`, while the process has one thread.
pub fn adopt_gitsync_env() {
    let renamed: Vec<(String, std::ffi::OsString)> = std::env::vars_os()
        .filter_map(|(name, value)| {
            let rest = name.to_str()?.strip_prefix("GITSYNC_")?;
            let ours = match rest {
                "HTTP_BIND" => "METRICS_ADDR".to_owned(),
                rest => rest.to_owned(),
            };
            Some((format!("PODKIT_{ours}"), go_bool(&ours, value)))
        })
        .collect();
    for (name, value) in renamed {
        if std::env::var_os(&name).is_none() {
            std::env::set_var(name, value);
        }
    }
}

/// The `GITSYNC_*` variables that name no flag of podkit-git (a git-sync flag it does not have,
/// such as `GITSYNC_GROUP_WRITE`), and git-sync v3's `GIT_SYNC_*`, which are not read: a
/// `GIT_SYNC_BRANCH` silently ignored would sync the wrong branch, so each gets a warning.
pub fn unread_gitsync_env() -> Vec<String> {
    use clap::CommandFactory;
    let command = Cli::command();
    let ours: Vec<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_long())
        .map(podkit::cli::env_name)
        .collect();
    std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| {
            if name.starts_with("GIT_SYNC_") {
                return true;
            }
            match name.strip_prefix("GITSYNC_") {
                Some("HTTP_BIND") | Some("PASSWORD") => false,
                Some(rest) => !ours.contains(&format!("PODKIT_{rest}")),
                None => false,
            }
        })
        .collect()
}

/// A switch's value as git-sync (Go's `strconv.ParseBool`) reads it (`1`, `t`, `T`, `TRUE`,
/// `true`, `True` and their false forms), in the form podkit's switches take.
fn go_bool(name: &str, value: std::ffi::OsString) -> std::ffi::OsString {
    if name != "ONE_TIME" {
        return value;
    }
    match value.to_str() {
        Some("1" | "t" | "T" | "TRUE" | "true" | "True") => "true".into(),
        Some("0" | "f" | "F" | "FALSE" | "false" | "False") => "false".into(),
        _ => value,
    }
}

/// The link is one name inside --root: a path would publish outside it.
fn check_link(link: &str) -> Result<(), String> {
    if link.is_empty()
        || link == "."
        || link == ".."
        || link.contains('/')
        || link.starts_with(".worktrees")
        || link == ".git"
        || link == ".podkit-git.lock"
        || link.chars().any(char::is_control)
    {
        return Err(format!(
            "{link:?}: give one file name (not .git, .worktrees, nor a path, no control character)"
        ));
    }
    Ok(())
}
