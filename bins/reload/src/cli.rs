//! Flags and environment into a typed [`Config`], once, at the edge.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use podkit::cli::{parse, Blame, LogArgs, UsageError};
use podkit::signal::Signal;

use crate::action::{Action, Command, Target};
use crate::template::Template;
use crate::webhook::Webhook;

pub const EXIT_CODES: &str = "\
Exit status:
  0  stopped on SIGTERM or SIGINT
  1  an internal failure at start (the runtime, signal handling)
  2  usage or configuration error (a flag, a directory to watch, a template)

Each time the watched content differs from what was last applied: templates are rendered, then
--validate runs, then --webhook, --signal and --exec in the order given. Content that failed to
apply is tried again every --resync. Templates are also rendered once at start.
Repeatable flags take one value per line when they come from their PODKIT_* variable.";

#[derive(Debug, Parser)]
#[command(name = "podkit-reload", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// A ConfigMap or Secret volume (or any directory or file) to watch (repeatable)
    #[arg(
        long = "watch",
        value_name = "DIR",
        required = true,
        env = "PODKIT_WATCH",
        value_delimiter = '\n'
    )]
    pub watch: Vec<PathBuf>,

    /// Call this URL on a change (repeatable); user:password@ becomes basic auth, never logged
    #[arg(
        long = "webhook",
        value_name = "URL",
        env = "PODKIT_WEBHOOK",
        value_delimiter = '\n'
    )]
    pub webhooks: Vec<String>,

    /// The webhook's method
    #[arg(long, default_value = "POST", env = "PODKIT_WEBHOOK_METHOD")]
    pub webhook_method: String,

    /// An extra webhook header 'Name: value' (repeatable)
    #[arg(
        long = "webhook-header",
        value_name = "'K: V'",
        env = "PODKIT_WEBHOOK_HEADER",
        value_delimiter = '\n'
    )]
    pub webhook_headers: Vec<String>,

    /// Statuses that count as success: a range such as 200-299, or one status such as 204
    #[arg(long, default_value = "200-299", env = "PODKIT_WEBHOOK_STATUS")]
    pub webhook_status: String,

    /// Give up on one webhook attempt after this long
    #[arg(long, default_value = "5s", value_parser = parse::nonzero_duration, env = "PODKIT_WEBHOOK_TIMEOUT")]
    pub webhook_timeout: Duration,

    /// Retry a failed webhook this many times, with exponential backoff and jitter
    #[arg(long, default_value = "3", env = "PODKIT_WEBHOOK_RETRIES")]
    pub webhook_retries: u32,

    /// Send this signal on a change (to --process or --pid-file)
    #[arg(long, value_name = "SIG", value_parser = parse::signal, env = "PODKIT_SIGNAL")]
    pub signal: Option<Signal>,

    /// The processes to signal, by name (/proc/PID/comm or the first word of its command line);
    /// needs shareProcessNamespace: true
    #[arg(
        long,
        value_name = "NAME",
        requires = "signal",
        conflicts_with = "pid_file",
        env = "PODKIT_PROCESS"
    )]
    pub process: Option<String>,

    /// The process to signal, by the pid written in this file
    #[arg(
        long,
        value_name = "FILE",
        requires = "signal",
        env = "PODKIT_PID_FILE"
    )]
    pub pid_file: Option<PathBuf>,

    /// Run this command on a change ('CMD ARGS', split as a shell would, without a shell);
    /// PODKIT_CHANGED lists the changed paths
    #[arg(long, value_name = "'CMD ARGS'", env = "PODKIT_EXEC")]
    pub exec: Option<String>,

    /// Run this command first ('nginx -t'); if it fails, nothing is reloaded and the next change
    /// is tried again
    #[arg(long, value_name = "'CMD ARGS'", env = "PODKIT_VALIDATE")]
    pub validate: Option<String>,

    /// Render this template (${VAR} and $(VAR) from the environment) before the actions
    /// (repeatable, paired in order with --output)
    #[arg(
        long = "template",
        value_name = "SRC",
        env = "PODKIT_TEMPLATE",
        value_delimiter = '\n'
    )]
    pub templates: Vec<PathBuf>,

    /// Where to write the rendered --template, atomically (repeatable)
    #[arg(
        long = "output",
        value_name = "DST",
        env = "PODKIT_OUTPUT",
        value_delimiter = '\n'
    )]
    pub outputs: Vec<PathBuf>,

    /// Wait for this long without changes before acting
    #[arg(long, default_value = "500ms", value_parser = parse::duration, env = "PODKIT_DEBOUNCE")]
    pub debounce: Duration,

    /// Re-read everything this often even without events (inotify can overflow)
    #[arg(long, default_value = "3m", value_parser = parse::nonzero_duration, env = "PODKIT_RESYNC")]
    pub resync: Duration,

    /// Apply once at start, before the first change
    #[arg(long, env = "PODKIT_ON_START", value_parser = parse::switch)]
    pub on_start: bool,

    /// Serve /healthz, /readyz and /metrics here (HOST:PORT)
    #[arg(long, value_name = "ADDR", env = "PODKIT_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    #[command(flatten)]
    pub log: LogArgs,
}

/// What the flags mean, checked once.
#[derive(Debug)]
pub struct Config {
    pub watch: Vec<PathBuf>,
    pub templates: Vec<Template>,
    pub validate: Option<Command>,
    pub actions: Vec<Action>,
    pub debounce: Duration,
    pub resync: Duration,
    pub on_start: bool,
    pub metrics_addr: Option<SocketAddr>,
}

/// Puts the actions in the order their flags came on the command line (`--exec X --webhook Y`
/// runs X first). Actions from the environment have no position and keep the order webhooks,
/// signal, exec, after those from the command line.
fn order_as_given(actions: &mut Vec<Action>, matches: &clap::ArgMatches) {
    let positions = |id: &str| -> Vec<usize> {
        if matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
            matches
                .indices_of(id)
                .map(Iterator::collect)
                .unwrap_or_default()
        } else {
            Vec::new()
        }
    };
    let mut webhooks = positions("webhooks").into_iter();
    let mut signal = positions("signal").into_iter();
    let mut exec = positions("exec").into_iter();
    let mut keyed: Vec<(usize, Action)> = actions
        .drain(..)
        .map(|action| {
            let position = match action {
                Action::Webhook(_) => webhooks.next(),
                Action::Signal(..) => signal.next(),
                Action::Exec(_) => exec.next(),
            };
            (position.unwrap_or(usize::MAX), action)
        })
        .collect();
    keyed.sort_by_key(|(position, _)| *position);
    actions.extend(keyed.into_iter().map(|(_, action)| action));
}

impl Cli {
    pub fn into_config(self, matches: &clap::ArgMatches) -> Result<Config, UsageError> {
        let mut actions = Vec::new();
        for url in &self.webhooks {
            let webhook = Webhook::new(
                url,
                &self.webhook_method,
                &self.webhook_headers,
                &self.webhook_status,
                self.webhook_timeout,
                self.webhook_retries,
            )
            .blame("--webhook")?;
            actions.push(Action::Webhook(webhook));
        }
        if let Some(signal) = self.signal {
            let target = match (self.process, self.pid_file) {
                (Some(name), None) => Target::Process(name),
                (None, Some(file)) => Target::PidFile(file),
                _ => {
                    return Err(UsageError::flag(
                        "--signal",
                        "give --process NAME or --pid-file FILE",
                    ))
                }
            };
            actions.push(Action::Signal(signal, target));
        }
        if let Some(exec) = &self.exec {
            actions.push(Action::Exec(Command::parse(exec).blame("--exec")?));
        }
        order_as_given(&mut actions, matches);
        if self.templates.len() != self.outputs.len() {
            return Err(UsageError::flag(
                "--template",
                format!(
                    "{} given for {} --output; give them in pairs",
                    self.templates.len(),
                    self.outputs.len()
                ),
            ));
        }
        let templates: Vec<Template> = self
            .templates
            .into_iter()
            .zip(self.outputs)
            .map(|(source, output)| Template { source, output })
            .collect();
        if actions.is_empty() && templates.is_empty() {
            return Err(UsageError::new(
                "nothing to do on a change: give --webhook, --signal, --exec or --template",
            ));
        }
        let validate = match &self.validate {
            Some(text) => Some(Command::parse(text).blame("--validate")?),
            None => None,
        };
        Ok(Config {
            watch: self.watch,
            templates,
            validate,
            actions,
            debounce: self.debounce,
            resync: self.resync,
            on_start: self.on_start,
            metrics_addr: self.metrics_addr,
        })
    }
}
