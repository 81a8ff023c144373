//! Flags and environment into a typed [`Config`], once, at the edge.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgMatches, Parser};
use podkit::action::{Action, ActionArgs, Actions, Command, ParseCommandError};
use podkit::cli::{parse, LogArgs, UsageError};

use crate::template::Template;

pub const EXIT_CODES: &str = "\
Exit status:
  0  stopped on SIGTERM or SIGINT (an action under way first gets --drain-timeout to finish)
  1  an internal failure at start (the runtime, signal handling)
  2  usage or configuration error (a flag, a --watch path whose directory does not exist, a
     template)

Each time the watched content differs from what was last applied: templates are rendered, then
--validate runs, then --webhook, --signal and --exec in the order given. Content that failed to
apply is tried again every --resync, running only the actions that failed for it. Absent content
(a watched path deleted, a directory left empty) fires nothing. Templates are also rendered once
at start.
Repeatable flags take one value per line when they come from their PODKIT_* variable.";

/// Sent with each webhook request.
const USER_AGENT: &str = concat!("podkit-reload/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Parser)]
#[command(name = "podkit-reload", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// A ConfigMap or Secret volume (or any directory or file) to watch (repeatable); one not
    /// there yet is waited for, its directory must exist
    #[arg(long, value_name = "DIR", required = true, value_delimiter = '\n')]
    pub watch: Vec<PathBuf>,

    #[command(flatten)]
    pub actions: ActionArgs,

    /// Run this command first ('nginx -t'); if it fails, nothing is reloaded and the next change
    /// is tried again. Killed at --action-timeout like --exec
    #[arg(long, value_name = "'CMD ARGS'", value_parser = parse_command)]
    pub validate: Option<Command>,

    /// Render this template (${VAR} and $(VAR) from the environment) before the actions
    /// (repeatable, paired in order with --template-output)
    #[arg(long = "template", value_name = "SRC", value_delimiter = '\n')]
    pub templates: Vec<PathBuf>,

    /// Where to write the rendered --template, atomically (repeatable)
    #[arg(long = "template-output", value_name = "DST", value_delimiter = '\n')]
    pub template_outputs: Vec<PathBuf>,

    /// Wait for this long without changes before acting
    #[arg(long, default_value = "500ms", value_parser = parse::duration)]
    pub debounce: Duration,

    /// Re-read everything this often even without events (inotify can overflow)
    #[arg(long, default_value = "3m", value_parser = parse::nonzero_duration)]
    pub resync: Duration,

    /// Apply once at start, before the first change
    #[arg(long, value_parser = parse::switch)]
    pub on_start: bool,

    /// On SIGTERM, let an action under way finish for up to this long, then stop it
    #[arg(long, default_value = "5s", value_parser = parse::duration)]
    pub drain_timeout: Duration,

    /// Serve /healthz, /readyz and /metrics here (HOST:PORT)
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    #[command(flatten)]
    pub log: LogArgs,
}

/// What the flags mean, checked once.
#[derive(Debug)]
pub struct Config {
    pub watch: Vec<PathBuf>,
    pub templates: Vec<Template>,
    /// `--validate`, an exec action run before the others.
    pub validate: Option<Action>,
    pub actions: Actions,
    pub debounce: Duration,
    pub resync: Duration,
    pub on_start: bool,
    pub drain_timeout: Duration,
    pub metrics_addr: Option<SocketAddr>,
}

fn parse_command(text: &str) -> Result<Command, ParseCommandError> {
    text.parse()
}

impl podkit::daemon::Daemon for Cli {
    type Config = Config;

    /// The configuration; `matches` is clap's view of the same, single parse, which says in
    /// which order the action flags came.
    fn into_config(self, matches: &ArgMatches) -> Result<Config, UsageError> {
        let action_timeout = self.actions.action_timeout;
        let actions = self.actions.into_actions(matches, USER_AGENT)?;
        if self.templates.len() != self.template_outputs.len() {
            return Err(UsageError::flag(
                "--template",
                format!(
                    "{} given for {} --template-output; give them in pairs",
                    self.templates.len(),
                    self.template_outputs.len()
                ),
            ));
        }
        let templates: Vec<Template> = self
            .templates
            .into_iter()
            .zip(self.template_outputs)
            .map(|(source, output)| Template { source, output })
            .collect();
        if actions.is_empty() && templates.is_empty() {
            return Err(UsageError::new(
                "nothing to do on a change: give --webhook, --signal, --exec or --template",
            ));
        }
        let validate = self
            .validate
            .map(|command| Action::exec(command).timeout(action_timeout));
        Ok(Config {
            watch: self.watch,
            templates,
            validate,
            actions,
            debounce: self.debounce,
            resync: self.resync,
            on_start: self.on_start,
            drain_timeout: self.drain_timeout,
            metrics_addr: self.metrics_addr,
        })
    }

    fn metrics_addr(config: &Config) -> Option<SocketAddr> {
        config.metrics_addr
    }
}
