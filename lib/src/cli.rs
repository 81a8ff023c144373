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
