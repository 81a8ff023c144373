//! The flag conventions every podkit tool follows, for the parts a flag parser does not know.
//!
//! Every flag `--some-flag` can also come from the environment variable `PODKIT_SOME_FLAG`
//! (clap-based tools declare it with `#[arg(env = ...)]`; `podkit-init` parses by hand and uses
//! [`env_name`]). A bad input becomes a [`UsageError`] that names the flag it came through, at the
//! place the error is made, and every tool prints it as one line and exits [`EXIT_USAGE`]. Exit
//! codes that mean the same thing in every tool live here too.
//!
//! Behind the `clap` feature: [`parse`], the one parse of a clap-based tool's command line, and
//! [`LogArgs`], the logging flags every tool takes.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;

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

/// A bad input, blamed on the flag (or variable, or file named by a flag) that brought it.
///
/// Which flag was wrong is decided once, where the error is made, rather than by each tool
/// re-wording strings on the way out. It prints as one line, `--flag: why` (or `why` when the
/// message already names its source), and always means exit [`EXIT_USAGE`].
///
/// ```
/// use podkit::cli::{Blame, UsageError};
/// let port: Result<u16, _> = "99999".parse::<u16>();
/// let error: UsageError = port.blame("--port").unwrap_err();
/// assert_eq!(error.to_string(), "--port: number too large to fit in target type");
/// ```
#[derive(Debug)]
pub struct UsageError {
    flag: Option<Cow<'static, str>>,
    source: Box<dyn Error + Send + Sync>,
}

impl UsageError {
    /// `why`, blamed on `flag` (`--cacert`, `PODKIT_GROUP`, `--template /etc/a.tpl`).
    pub fn flag(
        flag: impl Into<Cow<'static, str>>,
        why: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> UsageError {
        UsageError {
            flag: Some(flag.into()),
            source: why.into(),
        }
    }

    /// `why` alone, for a message that already names what was wrong (clap's, or one that spans
    /// several flags: "give --webhook, --signal or --exec").
    pub fn new(why: impl Into<Box<dyn Error + Send + Sync>>) -> UsageError {
        UsageError {
            flag: None,
            source: why.into(),
        }
    }

    /// The flag or variable blamed, if any.
    pub fn blamed(&self) -> Option<&str> {
        self.flag.as_deref()
    }

    /// Always [`EXIT_USAGE`]; here so that a caller mapping errors to codes reads as such.
    pub fn exit_code(&self) -> i32 {
        EXIT_USAGE
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.flag {
            Some(flag) => write!(f, "{flag}: {}", self.source),
            None => self.source.fmt(f),
        }
    }
}

impl Error for UsageError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// Blames the error of a `Result` on a flag: `Url::parse(text).blame("--webhook")?`.
pub trait Blame<T> {
    fn blame(self, flag: impl Into<Cow<'static, str>>) -> Result<T, UsageError>;
}

impl<T, E: Into<Box<dyn Error + Send + Sync>>> Blame<T> for Result<T, E> {
    fn blame(self, flag: impl Into<Cow<'static, str>>) -> Result<T, UsageError> {
        self.map_err(|why| UsageError::flag(flag, why))
    }
}

/// A boolean switch's value that is neither true nor false.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchError(String);

impl fmt::Display for SwitchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected true, false, 1 or 0, got {:?}", self.0)
    }
}

impl Error for SwitchError {}

/// Reads a boolean switch's value from the environment. Only an explicit value counts: `true`,
/// `false`, `1`, `0` (any case, surrounding blanks ignored). An empty or mistyped value is an
/// error rather than a guess, because a Helm value left blank would otherwise turn on whatever
/// the switch does (`PODKIT_INSECURE=` must not switch TLS verification off).
pub fn switch_value(value: &str) -> Result<bool, SwitchError> {
    let word = value.trim();
    if word == "1" || word.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if word == "0" || word.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(SwitchError(value.to_owned()))
    }
}

#[cfg(feature = "clap")]
mod clap_parse;
#[cfg(feature = "clap")]
pub use clap_parse::{parse, with_env_vars, LogArgs, Parsed};

/// Value parsers for the flags every tool shares, in the shape clap's `value_parser` wants.
#[cfg(feature = "clap")]
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

    /// A duration that must not be zero: a timeout of 0 would fail every connection. (Not
    /// "leave the flag out for no limit": most such flags have a default.)
    pub fn nonzero_duration(text: &str) -> Result<Duration, String> {
        match duration(text)? {
            Duration::ZERO => Err("must be more than 0".to_owned()),
            nonzero => Ok(nonzero),
        }
    }

    /// A switch's value from the environment: only `true`, `false`, `1` or `0`
    /// ([`super::switch_value`]).
    pub fn switch(text: &str) -> Result<bool, super::SwitchError> {
        super::switch_value(text)
    }

    /// A signal by name or number: `TERM`, `SIGHUP`, `15`.
    pub fn signal(text: &str) -> Result<crate::signal::Signal, crate::signal::ParseSignalError> {
        text.parse()
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
    fn switches_take_only_an_explicit_value() {
        for on in ["1", "true", "TRUE", " True\n"] {
            assert_eq!(switch_value(on), Ok(true), "{on:?}");
        }
        for off in ["0", "false", "FALSE", " 0 "] {
            assert_eq!(switch_value(off), Ok(false), "{off:?}");
        }
        for bad in ["", " ", "yes", "garbage", "2", "on"] {
            let error = switch_value(bad).unwrap_err().to_string();
            assert!(error.contains(&format!("{bad:?}")), "{error}");
        }
    }

    #[test]
    fn a_usage_error_names_its_flag_once_on_one_line() {
        let error = "x".parse::<u16>().blame("--port").unwrap_err();
        assert_eq!(error.blamed(), Some("--port"));
        assert_eq!(error.to_string(), "--port: invalid digit found in string");
        let unblamed = UsageError::new("give --a or --b");
        assert_eq!(unblamed.to_string(), "give --a or --b");
        assert_eq!(unblamed.exit_code(), EXIT_USAGE);
    }
}
