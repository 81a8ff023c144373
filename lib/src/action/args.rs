//! The action flags, the same in every tool that acts after a change (podkit-reload, podkit-git):
//! `--webhook` and its settings, `--signal` with `--process` or `--pid-file`, `--exec`, and
//! `--action-timeout`; turned into [`Actions`] in the order the flags were given.
//!
//! Each value is parsed by its type at the edge (a URL, a header, a status list, a signal, a
//! command), so a bad one is clap's one-line error naming the flag. What clap cannot check (a
//! signal with no target) is a [`UsageError`] naming the flag. Whether a tool needs any action at
//! all is the tool's to say: podkit-reload is content with a template alone.

use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::ArgMatches;
use http::Method;

use super::{Action, Actions, Command, Kind, Target, Webhook};
use crate::cli::{parse, UsageError};
use crate::http::{Header, Statuses, Url};
use crate::signal::Signal;

/// The action flags, to flatten into a tool's `Cli` with `#[command(flatten)]`. Every flag reads
/// its `PODKIT_*` variable ([`crate::cli::with_env_vars`]); a repeatable one takes one value per
/// line there.
#[derive(Debug, Clone, clap::Args)]
pub struct ActionArgs {
    /// Call this URL on a change (repeatable; http:// only); user:password@ becomes basic auth,
    /// never logged
    #[arg(long = "webhook", value_name = "URL", value_parser = values::url, value_delimiter = '\n')]
    pub webhooks: Vec<Url>,

    /// The webhook's method
    #[arg(long, default_value = "POST", value_parser = values::method)]
    pub webhook_method: Method,

    /// An extra webhook header 'Name: value' (repeatable)
    #[arg(
        long = "webhook-header",
        value_name = "'K: V'",
        value_parser = values::header,
        value_delimiter = '\n'
    )]
    pub webhook_headers: Vec<Header>,

    /// Statuses that count as success: a range such as 200-299, one status such as 204, or a
    /// list such as 200-299,304
    #[arg(long, default_value = "200-299", value_parser = values::statuses)]
    pub webhook_status: Statuses,

    /// Give up on one webhook attempt after this long
    #[arg(long, default_value = "5s", value_parser = parse::nonzero_duration)]
    pub webhook_timeout: Duration,

    /// Retry a failed webhook this many times, with exponential backoff and jitter
    #[arg(long, default_value = "3")]
    pub webhook_retries: u32,

    /// Send this signal on a change (to --process or --pid-file)
    #[arg(long, value_name = "SIG", value_parser = parse::signal)]
    pub signal: Option<Signal>,

    /// The processes to signal, by name (/proc/PID/comm or the first word of its command line);
    /// needs shareProcessNamespace: true
    #[arg(
        long,
        value_name = "NAME",
        requires = "signal",
        conflicts_with = "pid_file"
    )]
    pub process: Option<String>,

    /// The process to signal, by the pid written in this file
    #[arg(long, value_name = "FILE", requires = "signal")]
    pub pid_file: Option<PathBuf>,

    /// Run this command on a change ('CMD ARGS', split as a shell would, without a shell);
    /// PODKIT_CHANGED lists the changed paths
    #[arg(long, value_name = "'CMD ARGS'", value_parser = values::command)]
    pub exec: Option<Command>,

    /// Kill a command still running after this long, with every process it started (webhooks
    /// have --webhook-timeout per attempt)
    #[arg(long, default_value = "30s", value_parser = parse::nonzero_duration)]
    pub action_timeout: Duration,
}

impl ActionArgs {
    /// The actions in the order their flags came on the command line (`--exec X --webhook Y`
    /// runs X first); those from the environment, which have no position, come after, as
    /// webhooks, signal, exec. `matches` is the tool's one parse ([`crate::cli::parse()`]);
    /// `user_agent` goes with each webhook (`podkit-reload/0.1.0`).
    pub fn into_actions(
        self,
        matches: &ArgMatches,
        user_agent: &'static str,
    ) -> Result<Actions, UsageError> {
        let mut actions = Vec::new();
        for url in self.webhooks {
            let webhook = Webhook::new(
                self.webhook_method.clone(),
                url,
                &self.webhook_headers,
                self.webhook_status.clone(),
                user_agent,
            );
            let action = Action::webhook(webhook)
                .timeout(self.webhook_timeout)
                .retries(self.webhook_retries);
            actions.push(action);
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
            actions.push(Action::signal(signal, target));
        }
        if let Some(command) = self.exec {
            actions.push(Action::exec(command).timeout(self.action_timeout));
        }
        order_as_given(&mut actions, matches);
        Ok(Actions::new(actions))
    }
}

/// Sorts `actions` by where their flags came on the command line; see
/// [`ActionArgs::into_actions`].
fn order_as_given(actions: &mut Vec<Action>, matches: &ArgMatches) {
    let positions = |id: &str| -> std::vec::IntoIter<usize> {
        let given = matches.value_source(id) == Some(ValueSource::CommandLine);
        let indices = matches.indices_of(id).filter(|_| given);
        let positions: Vec<usize> = indices.map(Iterator::collect).unwrap_or_default();
        positions.into_iter()
    };
    let mut webhooks = positions("webhooks");
    let mut signal = positions("signal");
    let mut exec = positions("exec");
    let mut keyed: Vec<(usize, Action)> = actions
        .drain(..)
        .map(|action| {
            let position = match action.kind() {
                Kind::Webhook(_) => webhooks.next(),
                Kind::Signal(..) => signal.next(),
                Kind::Exec(_) => exec.next(),
            };
            (position.unwrap_or(usize::MAX), action)
        })
        .collect();
    // Stable: those without a position keep their order.
    keyed.sort_by_key(|(position, _)| *position);
    actions.extend(keyed.into_iter().map(|(_, action)| action));
}

/// The action flags' value parsers, in the shape clap's `value_parser` wants, for a tool whose
/// action flags have names of their own (podkit-git's git-sync names).
pub mod values {
    use http::Method;

    use crate::action::{Command, ParseCommandError};
    use crate::http::{Header, HeaderError, Statuses, StatusesError, Url, UrlError};

    /// A webhook's `http://` URL.
    pub fn url(text: &str) -> Result<Url, UrlError> {
        Url::parse_http(text)
    }

    /// `Name: value`.
    pub fn header(text: &str) -> Result<Header, HeaderError> {
        Header::parse(text)
    }

    /// `200-299,304`.
    pub fn statuses(text: &str) -> Result<Statuses, StatusesError> {
        text.parse()
    }

    /// `'CMD ARGS'`, split as a shell would.
    pub fn command(text: &str) -> Result<Command, ParseCommandError> {
        text.parse()
    }

    /// A method as HTTP spells it: `POST`, `PUT`, or any token.
    pub fn method(text: &str) -> Result<Method, http::method::InvalidMethod> {
        Method::from_bytes(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::{CommandFactory, FromArgMatches};

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        actions: ActionArgs,
    }

    fn actions(args: &[&str]) -> Result<Actions, String> {
        let matches = Cli::command()
            .try_get_matches_from(std::iter::once("tool").chain(args.iter().copied()))
            .map_err(|e| e.kind().to_string())?;
        let cli = Cli::from_arg_matches(&matches).map_err(|e| e.to_string())?;
        cli.actions
            .into_actions(&matches, "podkit-test/0")
            .map_err(|e| e.to_string())
    }

    fn labels(actions: &Actions) -> Vec<&'static str> {
        actions.iter().map(Action::label).collect()
    }

    #[test]
    fn actions_come_in_the_order_their_flags_were_given() {
        let given = actions(&[
            "--exec",
            "true",
            "--webhook",
            "http://127.0.0.1:1/a",
            "--signal",
            "HUP",
            "--process",
            "nginx",
            "--webhook",
            "http://127.0.0.1:1/b",
        ])
        .unwrap();
        assert_eq!(labels(&given), ["exec", "webhook", "signal", "webhook"]);
        let urls: Vec<String> = given
            .iter()
            .filter_map(|action| match action.kind() {
                Kind::Webhook(webhook) => Some(webhook.url().to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(urls, ["http://127.0.0.1:1/a", "http://127.0.0.1:1/b"]);
    }

    #[test]
    fn each_action_takes_its_own_policy() {
        let given = actions(&[
            "--webhook",
            "http://127.0.0.1:1/",
            "--webhook-timeout",
            "2s",
            "--webhook-retries",
            "5",
            "--exec",
            "true",
            "--action-timeout",
            "7s",
        ])
        .unwrap();
        let policies: Vec<(Duration, u32)> = given
            .iter()
            .map(|action| (action.timeout, action.retries))
            .collect();
        assert_eq!(
            policies,
            [(Duration::from_secs(2), 5), (Duration::from_secs(7), 0)]
        );
    }

    #[test]
    fn a_signal_needs_a_target_and_bad_values_are_refused() {
        assert_eq!(
            actions(&["--signal", "HUP"]).unwrap_err(),
            "--signal: give --process NAME or --pid-file FILE"
        );
        for bad in [
            &["--webhook", "https://127.0.0.1/"][..],
            &["--webhook", "http://127.0.0.1/", "--webhook-status", "2xx"],
            &[
                "--webhook",
                "http://127.0.0.1/",
                "--webhook-header",
                "nocolon",
            ],
            &["--webhook", "http://127.0.0.1/", "--webhook-method", "GE T"],
            &["--exec", "'unbalanced"],
            &["--exec", "true", "--action-timeout", "0s"],
            &["--signal", "NOPE", "--pid-file", "x"],
        ] {
            assert!(actions(bad).is_err(), "{bad:?}");
        }
        assert!(actions(&[]).unwrap().is_empty(), "no flag, no action");
    }
}
