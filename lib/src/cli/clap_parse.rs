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

/// Parses the command line `args` (the program's name first, as the kernel gives it: the
/// process's `args_os`, or what podkit's multi-call binary hands a tool), once. `--help` and
/// `--version` print and exit 0; any error becomes one line.
pub fn parse<P: clap::Parser>(args: Vec<OsString>) -> Result<Parsed<P>, UsageError> {
    // clap reads a variable's value when the command is built: tidy first, then build again.
    tidy_env_lists(&with_env_vars(P::command()));
    let mut command = with_env_vars(P::command());
    let parsed = command
        .try_get_matches_from_mut(&args)
        .and_then(|matches| P::from_arg_matches(&matches).map(|cli| Parsed { cli, matches }));
    match parsed {
        Ok(parsed) => {
            refuse_split_values(&command, &parsed.matches)?;
            Ok(parsed)
        }
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            error.exit()
        }
        Err(error) => Err(UsageError::new(one_line(&error, &command, &args))),
    }
}

/// One line for a clap error, naming the flag, or the variable when the bad value came from the
/// environment (`PODKIT_INSECURE`, not `--insecure <INSECURE>`). A refused value is not quoted
/// back by clap: the value parser's own message says what was wrong, quoting the value only where
/// that is safe (a header's value or a URL's password never is). Whatever is left is stripped of
/// URL userinfo all the same.
fn one_line(error: &clap::Error, command: &Command, args: &[OsString]) -> String {
    let argument = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(argument)) => Some(argument.as_str()),
        _ => None,
    };
    let blamed = argument.map(|argument| blamed_name(argument, args));
    let line = match (error.kind(), &blamed) {
        (ErrorKind::ValueValidation, Some(blamed)) => match std::error::Error::source(error) {
            Some(why) => format!("{blamed}: {why}"),
            None => first_paragraph(error),
        },
        (ErrorKind::InvalidUtf8, _) => not_utf8(args),
        (ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand, _) => {
            let names: Vec<&str> = command
                .get_subcommands()
                .map(|s| s.get_name())
                .filter(|name| *name != "help")
                .collect();
            format!("give a command: {} (see --help)", names.join(", "))
        }
        (_, Some(blamed)) if blamed.starts_with("PODKIT_") => {
            let argument = argument.unwrap_or_default();
            first_paragraph(error).replace(&format!("'{argument}'"), blamed)
        }
        _ => first_paragraph(error),
    };
    crate::log::redact_userinfo(&line)
}

/// clap's message without its usage paragraph and pointer to --help.
fn first_paragraph(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let message: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    message.join(" ").trim_start_matches("error: ").to_owned()
}

/// The flag as clap names it (`--insecure <INSECURE>` is `--insecure`), or its variable when the
/// flag is not on the command line and its variable is set.
fn blamed_name(argument: &str, args: &[OsString]) -> String {
    let flag = argument.split_whitespace().next().unwrap_or(argument);
    let with_value = format!("{flag}=");
    let on_command_line = args.iter().any(|arg| {
        arg.as_bytes() == flag.as_bytes() || arg.as_bytes().starts_with(with_value.as_bytes())
    });
    match flag.strip_prefix("--").filter(|_| !on_command_line) {
        Some(name) if std::env::var_os(env_name(name)).is_some() => env_name(name),
        _ => flag.to_owned(),
    }
}

/// Which argument or variable is not UTF-8, named without its bytes (they may be a secret).
fn not_utf8(args: &[OsString]) -> String {
    if let Some(at) = args.iter().position(|arg| arg.to_str().is_none()) {
        let previous = at.checked_sub(1).and_then(|i| args[i].to_str());
        return match previous.filter(|p| p.starts_with('-') && at > 1) {
            Some(flag) => format!("{flag}: its value is not valid UTF-8"),
            None => format!("argument {at} is not valid UTF-8"),
        };
    }
    let variable = std::env::vars_os()
        .find(|(name, value)| name.as_bytes().starts_with(b"PODKIT_") && value.to_str().is_none());
    match variable {
        Some((name, _)) => format!("{}: not valid UTF-8", name.to_string_lossy()),
        None => "invalid UTF-8 in an argument or a PODKIT_* variable".to_owned(),
    }
}

/// A repeatable flag splits its variable at line breaks ([`tidy_env_lists`]), and clap applies
/// the same delimiter to the command line, where a line break inside one value is not a list but
/// an injection (`--header $'X: 1\nHost: evil'` would be two headers). One value per flag there.
fn refuse_split_values(command: &Command, matches: &ArgMatches) -> Result<(), UsageError> {
    for arg in command.get_arguments() {
        if arg.get_value_delimiter() != Some('\n') {
            continue;
        }
        let id = arg.get_id().as_str();
        if matches.value_source(id) != Some(clap::parser::ValueSource::CommandLine) {
            continue;
        }
        let split = matches
            .get_raw_occurrences(id)
            .is_some_and(|mut occurrences| occurrences.any(|values| values.count() > 1));
        if split {
            let flag = arg
                .get_long()
                .map_or_else(|| id.to_owned(), |l| format!("--{l}"));
            return Err(UsageError::flag(
                flag,
                "one value per flag: a line break is not allowed in a value on the command line",
            ));
        }
    }
    if let Some((name, sub_matches)) = matches.subcommand() {
        if let Some(subcommand) = command.find_subcommand(name) {
            refuse_split_values(subcommand, sub_matches)?;
        }
    }
    Ok(())
}

/// Gives every long flag its variable, named from the flag (`--metrics-addr` reads
/// `PODKIT_METRICS_ADDR`): the convention then holds by construction, in every tool and every
/// subcommand, and `--help` shows each variable. A flag that names its variable itself keeps it.
pub fn with_env_vars(command: Command) -> Command {
    command
        .mut_args(|arg| {
            // `--help` names each variable but never shows the value it has now: a value may be
            // a password, a token or a URL with its credentials.
            let arg = arg.hide_env_values(true);
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
    /// The logging flags out of clap's matches, for code that holds no typed `Cli` (the daemon's
    /// start-up); the defaults where the command has no such flags.
    pub fn from_matches(matches: &ArgMatches) -> LogArgs {
        LogArgs {
            log_level: matches
                .try_get_one::<Level>("log_level")
                .ok()
                .flatten()
                .copied()
                .unwrap_or(Level::Info),
            log_format: matches
                .try_get_one::<Format>("log_format")
                .ok()
                .flatten()
                .copied()
                .unwrap_or(Format::Text),
        }
    }

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
