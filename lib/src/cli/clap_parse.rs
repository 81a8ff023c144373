//! The one parse of a clap-based tool's command line: the arguments as the kernel gave them
//! (`args_os`, so a non-UTF-8 argument is an error line, never a panic), the environment's lists
//! tidied first, and every error turned into one [`UsageError`] line that blames a `PODKIT_*`
//! variable when the bad value came from the environment.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgMatches, Command};

use super::{env_name, UsageError};
use crate::log::{Format, Level};

/// What one parse gives: the typed flags, and clap's matches for what types cannot say (the
/// order in which repeatable flags came, whether a value came from the command line).
#[derive(Debug)]
pub struct Parsed<P> {
    pub cli: P,
    pub matches: ArgMatches,
}

/// Parses the process's command line, once. `--help` and `--version` print and exit 0; any
/// error becomes one line.
pub fn parse<P: clap::Parser>() -> Result<Parsed<P>, UsageError> {
    // clap reads a variable's value when the command is built: tidy first, then build again.
    tidy_env_lists(&with_env_vars(P::command()));
    let mut command = with_env_vars(P::command());
    let args: Vec<OsString> = std::env::args_os().collect();
    let parsed = command
        .try_get_matches_from_mut(&args)
        .and_then(|matches| P::from_arg_matches(&matches).map(|cli| Parsed { cli, matches }));
    match parsed {
        Ok(parsed) => Ok(parsed),
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            error.exit()
        }
        Err(error) => Err(UsageError::new(one_line(&error, &args))),
    }
}

/// clap's message without its usage paragraph, with the variable named instead of the flag when
/// the bad value came from the environment (`PODKIT_INSECURE`, not `--insecure <INSECURE>`).
fn one_line(error: &clap::Error, args: &[OsString]) -> String {
    let rendered = error.render().to_string();
    // The first paragraph is the message; the rest is usage and a pointer to --help.
    let message: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let mut line = message.join(" ").trim_start_matches("error: ").to_owned();
    if let Some(ContextValue::String(argument)) = error.get(ContextKind::InvalidArg) {
        let flag = argument.split_whitespace().next().unwrap_or(argument);
        let with_value = format!("{flag}=");
        let on_command_line = args.iter().any(|arg| {
            arg.as_bytes() == flag.as_bytes() || arg.as_bytes().starts_with(with_value.as_bytes())
        });
        if let Some(name) = flag.strip_prefix("--").filter(|_| !on_command_line) {
            let variable = env_name(name);
            if std::env::var_os(&variable).is_some() {
                line = line.replace(&format!("'{argument}'"), &variable);
            }
        }
    }
    line
}

/// Gives every long flag its variable, named from the flag (`--metrics-addr` reads
/// `PODKIT_METRICS_ADDR`): the convention then holds by construction, in every tool and every
/// subcommand, and `--help` shows each variable. A flag that names its variable itself keeps it.
pub fn with_env_vars(command: Command) -> Command {
    command
        .mut_args(|arg| {
            let variable = match (arg.get_env(), arg.get_long()) {
                (None, Some(long)) if !matches!(long, "help" | "version") => env_name(long),
                _ => return arg,
            };
            // clap wants a name that lives as long as the command, which is the process: a few
            // bytes per flag, once, at start.
            arg.env(&*Box::leak(variable.into_boxed_str()))
        })
        .mut_subcommands(with_env_vars)
}

/// A repeatable flag's variable holds one value per line. YAML's `|` block ends it with a newline
/// and people indent it: blanks around each value and empty lines are not values, so they are
/// dropped here, before clap splits the variable (a trailing newline would otherwise be an empty
/// value clap refuses, blaming a rule the user never wrote).
fn tidy_env_lists(command: &Command) {
    for arg in command.get_arguments() {
        let (Some(variable), Some('\n')) = (arg.get_env(), arg.get_value_delimiter()) else {
            continue;
        };
        let Some(value) = std::env::var_os(variable) else {
            continue;
        };
        let Some(text) = value.to_str() else {
            continue; // not text: clap reports it
        };
        let values: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        // Set while the tool is still single-threaded, before anything else reads the
        // environment; a list of nothing is a flag not given.
        if values.is_empty() {
            std::env::remove_var(variable);
        } else if values.join("\n") != text {
            std::env::set_var(variable, values.join("\n"));
        }
    }
    for subcommand in command.get_subcommands() {
        tidy_env_lists(subcommand);
    }
}

/// The logging flags of every clap-based tool, flattened into its `Cli`. The default level is
/// `info`; a tool that should be quiet by default (podkit-probe, whose stdout is its answer)
/// changes it with `#[command(mut_arg("log_level", |a| a.default_value("warn")))]`.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// error, warn, info or debug
    #[arg(long, global = true, default_value = "info", value_parser = super::parse::level, env = "PODKIT_LOG_LEVEL")]
    pub log_level: Level,

    /// text or json
    #[arg(long, global = true, default_value = "text", value_parser = super::parse::format, env = "PODKIT_LOG_FORMAT")]
    pub log_format: Format,
}

impl LogArgs {
    /// Sets up logging for the rest of the process (see [`crate::log::init`]).
    pub fn init(&self, tool: &'static str) {
        crate::log::init(tool, self.log_level, self.log_format);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser, Subcommand};

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        mode: Mode,
    }

    #[derive(Subcommand)]
    enum Mode {
        Server {
            #[arg(long, env = "PODKIT_TEST_TIDY_LIST", value_delimiter = '\n')]
            allow: Vec<String>,
        },
    }

    #[derive(Parser)]
    struct Plain {
        #[arg(long)]
        metrics_addr: Option<String>,
        #[arg(long, env = "OTHER_NAME")]
        named: Option<String>,
        #[command(subcommand)]
        mode: Option<Mode>,
    }

    #[test]
    fn every_long_flag_reads_its_podkit_variable_subcommands_included() {
        let command = with_env_vars(Plain::command());
        let env_of = |command: &Command, id: &str| {
            command
                .get_arguments()
                .find(|arg| arg.get_id() == id)
                .and_then(|arg| arg.get_env())
                .map(|name| name.to_string_lossy().into_owned())
        };
        assert_eq!(
            env_of(&command, "metrics_addr").as_deref(),
            Some("PODKIT_METRICS_ADDR")
        );
        assert_eq!(env_of(&command, "named").as_deref(), Some("OTHER_NAME"));
        let server = command.find_subcommand("server").expect("server");
        assert_eq!(
            env_of(server, "allow").as_deref(),
            Some("PODKIT_TEST_TIDY_LIST")
        );
    }

    #[test]
    fn env_lists_lose_blanks_empty_lines_and_the_final_newline() {
        std::env::set_var("PODKIT_TEST_TIDY_LIST", "  a b \n\n c\n");
        tidy_env_lists(&Cli::command());
        assert_eq!(std::env::var("PODKIT_TEST_TIDY_LIST").unwrap(), "a b\nc");
        std::env::set_var("PODKIT_TEST_TIDY_LIST", "\n  \n");
        tidy_env_lists(&Cli::command());
        assert_eq!(
            std::env::var_os("PODKIT_TEST_TIDY_LIST"),
            None,
            "a list of nothing"
        );
    }
}
