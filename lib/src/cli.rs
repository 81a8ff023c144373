//! The flag conventions every podkit tool follows, for the parts a flag parser does not know.
//!
//! Every flag `--some-flag` can also come from the environment variable `PODKIT_SOME_FLAG`
//! (clap-based tools declare it with `#[arg(env = ...)]`; `podkit-init` parses by hand and uses
//! [`env_name`]). Exit codes that mean the same thing in every tool live here too.

/// Bad flags, a bad file named by a flag, or a bad configuration: the tool never started its work.
pub const EXIT_USAGE: i32 = 2;

/// The shell's exit code for a command that could not be executed: 127 when it does not exist
/// (or a directory on its path does not), 126 when it exists but cannot be run.
pub fn exec_failure_code(error: &std::io::Error) -> i32 {
    match error.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => 127,
        _ => 126,
    }
}

/// The environment variable that stands in for a flag: `grace` -> `PODKIT_GRACE`,
/// `post-start-required` -> `PODKIT_POST_START_REQUIRED`.
pub fn env_name(flag: &str) -> String {
    let mut name = String::with_capacity(7 + flag.len());
    name.push_str("PODKIT_");
    name.extend(flag.chars().map(|c| {
        if c == '-' {
            '_'
        } else {
            c.to_ascii_uppercase()
        }
    }));
    name
}

/// Reads a boolean switch's value from the environment: `0`, `false`, `no` and `off` (any case)
/// are false; anything else, the empty string included, is true, because tini enables
/// `TINI_SUBREAPER` by its mere presence and images set it that way.
pub fn switch_value(value: &str) -> bool {
    let off = ["0", "false", "no", "off"];
    !off.iter()
        .any(|word| value.trim().eq_ignore_ascii_case(word))
}

/// Parses the command line of a clap-based tool: help and version print and exit 0, and any
/// error becomes one line, as every podkit tool reports bad input, blaming a `PODKIT_*` variable
/// when the bad value came from the environment.
#[cfg(feature = "clap")]
pub fn parse_or_explain<P: clap::Parser>() -> Result<P, String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let error = match P::try_parse() {
        Ok(parsed) => return Ok(parsed),
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            error.exit()
        }
        Err(error) => error,
    };
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
        let on_command_line =
            std::env::args().any(|a| a == flag || a.starts_with(&format!("{flag}=")));
        if let Some(name) = flag.strip_prefix("--").filter(|_| !on_command_line) {
            let variable = env_name(name);
            if std::env::var_os(&variable).is_some() {
                line = line.replace(&format!("'{argument}'"), &variable);
            }
        }
    }
    Err(line)
}

/// Value parsers for the flags every tool shares, in the shape clap's `value_parser` wants.
pub mod parse {
    use std::time::Duration;

    use crate::log::{Format, Level};

    /// `500ms`, `30s`, `5m`.
    pub fn duration(text: &str) -> Result<Duration, String> {
        crate::duration::parse(text).map_err(|e| e.to_string())
    }

    /// `--log-level`: error, warn, info or debug.
    pub fn level(text: &str) -> Result<Level, String> {
        text.parse()
    }

    /// `--log-format`: text or json.
    pub fn format(text: &str) -> Result<Format, String> {
        text.parse()
    }

    /// A duration that must not be zero: a timeout of 0 would fail every connection, and
    /// a user who wrote it probably meant "off", which is leaving the flag out.
    pub fn nonzero_duration(text: &str) -> Result<Duration, String> {
        match duration(text)? {
            Duration::ZERO => {
                Err("must be more than 0 (leave the flag out for no limit)".to_owned())
            }
            nonzero => Ok(nonzero),
        }
    }

    /// A switch's value from the environment ([`super::switch_value`]).
    pub fn switch(text: &str) -> Result<bool, std::convert::Infallible> {
        Ok(super::switch_value(text))
    }

    /// A switch that weakens security (`--disable-authentication`, `--allow-all`): from the
    /// environment only an explicit word turns it on or off, never an empty or mistyped value
    /// (a Helm value left blank would otherwise open the door).
    pub fn explicit_switch(text: &str) -> Result<bool, String> {
        let word = text.trim().to_ascii_lowercase();
        match word.as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(format!("expected true or false, got {text:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_name_is_upper_snake_case_with_prefix() {
        assert_eq!(env_name("grace"), "PODKIT_GRACE");
        assert_eq!(
            env_name("post-start-required"),
            "PODKIT_POST_START_REQUIRED"
        );
    }

    #[test]
    fn switches_are_on_unless_explicitly_off() {
        for on in ["", "1", "yes", "true", "anything"] {
            assert!(switch_value(on), "{on:?}");
        }
        for off in ["0", "false", "FALSE", "no", "off", " 0 "] {
            assert!(!switch_value(off), "{off:?}");
        }
    }
}
