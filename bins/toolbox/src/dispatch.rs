//! Which tool a command line of the multi-call binary asks for: the name it runs under
//! (`podkit-probe`, a link to `podkit`), or else its first argument (`podkit probe ARGS`). Either
//! way the tool gets the command line it would get as its own binary, its name `podkit-TOOL`
//! first, so that its messages and `--help` read the same.

use std::ffi::OsString;
use std::path::Path;

/// What to do with a command line.
#[derive(Debug, PartialEq)]
pub enum Choice {
    /// Run the tool `tools[index]` with `args`.
    Tool {
        index: usize,
        args: Vec<OsString>,
    },
    Help,
    Version,
    /// A usage error, as one line (exit 2).
    Refused(String),
}

/// The choice `args` (the program's name first) makes among `tools` (their short names:
/// `init`, `probe`...).
pub fn choose(args: Vec<OsString>, tools: &[&str]) -> Choice {
    let find = |name: &str| tools.iter().position(|tool| *tool == name);
    let invoked = args
        .first()
        .and_then(|arg0| Path::new(arg0).file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(index) = invoked.strip_prefix("podkit-").and_then(find) {
        return Choice::Tool { index, args };
    }
    let one_of = tools.join(", ");
    let Some(first) = args.get(1).map(|arg| arg.to_string_lossy().into_owned()) else {
        // Run as `podkit-NAME` with NAME no tool's: a link made with a typo, most likely.
        return Choice::Refused(match invoked.strip_prefix("podkit-") {
            Some(name) => format!(
                "no tool named {name:?} (from this binary's name, {invoked}) and none given: \
                 podkit TOOL [ARGS...], TOOL one of {one_of}"
            ),
            None => format!("no tool given: podkit TOOL [ARGS...], TOOL one of {one_of}"),
        });
    };
    match first.as_str() {
        // `podkit help probe` and `podkit --help probe`: probe's own help.
        "-h" | "--help" | "help" => {
            match args.get(2).and_then(|name| find(&name.to_string_lossy())) {
                Some(index) => Choice::Tool {
                    index,
                    args: vec![
                        OsString::from(format!("podkit-{}", tools[index])),
                        OsString::from("--help"),
                    ],
                },
                None => Choice::Help,
            }
        }
        "-V" | "--version" => Choice::Version,
        option if option.starts_with('-') => Choice::Refused(format!(
            "unknown option {option:?}: podkit TOOL [ARGS...], TOOL one of {one_of}"
        )),
        name => match find(name) {
            Some(index) => {
                let mut rest = args;
                rest.drain(..2);
                rest.insert(0, OsString::from(format!("podkit-{name}")));
                Choice::Tool { index, args: rest }
            }
            None => Choice::Refused(format!("no tool named {name:?}: one of {one_of}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOOLS: [&str; 2] = ["init", "probe"];

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_name_it_runs_under_picks_the_tool_and_the_arguments_go_unchanged() {
        for arg0 in ["podkit-probe", "/podkit-probe", "./bin/podkit-probe"] {
            assert_eq!(
                choose(args(&[arg0, "http", "url"]), &TOOLS),
                Choice::Tool {
                    index: 1,
                    args: args(&[arg0, "http", "url"])
                }
            );
        }
    }

    #[test]
    fn as_podkit_the_first_argument_picks_the_tool_which_runs_under_its_own_name() {
        assert_eq!(
            choose(args(&["/podkit", "init", "--", "app", "--flag"]), &TOOLS),
            Choice::Tool {
                index: 0,
                args: args(&["podkit-init", "--", "app", "--flag"])
            }
        );
        // A tool's own flags after its name are its own, `--help` and `--version` too.
        assert_eq!(
            choose(args(&["podkit", "probe", "--version"]), &TOOLS),
            Choice::Tool {
                index: 1,
                args: args(&["podkit-probe", "--version"])
            }
        );
    }

    #[test]
    fn any_other_name_reads_the_first_argument() {
        // A copy or link under another name (`podkit-toolbox`, `pk`) works as `podkit`.
        assert_eq!(
            choose(args(&["podkit-toolbox", "probe"]), &TOOLS),
            Choice::Tool {
                index: 1,
                args: args(&["podkit-probe"])
            }
        );
        assert_eq!(choose(args(&["pk", "--help"]), &TOOLS), Choice::Help);
        assert_eq!(choose(args(&["podkit", "-V"]), &TOOLS), Choice::Version);
    }

    #[test]
    fn help_before_a_tools_name_is_that_tools_help() {
        for first in ["help", "--help", "-h"] {
            assert_eq!(
                choose(args(&["podkit", first, "probe"]), &TOOLS),
                Choice::Tool {
                    index: 1,
                    args: args(&["podkit-probe", "--help"])
                },
                "{first}"
            );
        }
        assert_eq!(
            choose(args(&["podkit", "help", "nosuch"]), &TOOLS),
            Choice::Help
        );
    }

    #[test]
    fn an_option_is_refused_as_an_unknown_option_not_as_a_tools_name() {
        for option in ["--nosuch", "--", "-x"] {
            let Choice::Refused(line) = choose(args(&["podkit", option, "probe"]), &TOOLS) else {
                panic!("{option} is refused");
            };
            assert!(
                line.starts_with(&format!("unknown option {option:?}")),
                "{line}"
            );
        }
    }

    #[test]
    fn a_link_named_for_no_tool_says_so() {
        let Choice::Refused(line) = choose(args(&["/bin/podkit-nosuch"]), &TOOLS) else {
            panic!("refused");
        };
        assert!(
            line.starts_with("no tool named \"nosuch\" (from this binary's name, podkit-nosuch)"),
            "{line}"
        );
        assert!(line.ends_with("init, probe"), "{line}");
    }

    #[test]
    fn no_tool_or_an_unknown_one_is_refused_naming_the_tools() {
        for list in [&["podkit"][..], &["podkit", "ambassador"], &[]] {
            let Choice::Refused(line) = choose(args(list), &TOOLS) else {
                panic!("{list:?} is refused");
            };
            assert!(line.ends_with("init, probe"), "{line}");
        }
    }
}
