//! The README's table of every flag is true: each tool's `--help` (every subcommand's) and the
//! table name the same flags with the same variables, no more, no fewer.

use std::collections::BTreeSet;

use podkit_tests::bins;
use podkit_tests::run::{command, run};

/// Each tool, and the subcommands whose `--help` lists its flags (none: the tool's own; `""`:
/// the tool's own beside its subcommands').
const TOOLS: &[(&str, &[&str])] = &[
    ("init", &[]),
    ("probe", &["http", "tcp", "exec", "file", "grpc", "wait"]),
    ("ambassador", &["client", "server"]),
    ("reload", &[]),
    ("metrics", &["", "check"]),
    ("git", &[]),
];

/// One flag as documented: its long name and every variable it reads.
type Documented = (String, BTreeSet<String>);

#[test]
fn the_readme_table_lists_every_flag_of_every_tool_with_its_variables() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let table = table_rows(&readme);
    let mut differences = Vec::new();
    for (tool, subcommands) in TOOLS {
        let from_help = flags_in_help(tool, subcommands);
        let name = format!("podkit-{tool}");
        let from_table: BTreeSet<Documented> = table
            .iter()
            .filter(|(row_tool, _)| *row_tool == name)
            .map(|(_, flag)| flag.clone())
            .collect();
        for missing in from_help.difference(&from_table) {
            differences.push(format!(
                "{name}: --help has {missing:?}, the table does not"
            ));
        }
        for extra in from_table.difference(&from_help) {
            differences.push(format!("{name}: the table has {extra:?}, --help does not"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// The rows of the table under `## Every flag`: `| tool | flag | variables | meaning |`.
fn table_rows(readme: &str) -> Vec<(String, Documented)> {
    let section = readme
        .split("\n## Every flag")
        .nth(1)
        .expect("a `## Every flag` section in README.md");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter(|line| line.starts_with("| `podkit-"))
        .map(|line| {
            // `\|` is a pipe inside a cell (`--output text\|json`).
            let line = line.replace("\\|", "/");
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let tool = cells[1].trim_matches('`').to_owned();
            let flag = first_long_flag(cells[2]).unwrap_or_else(|| panic!("no flag in {line}"));
            (tool, (flag, variables(cells[3])))
        })
        .collect()
}

/// Every `(flag, variables)` the tool's `--help` shows, over its subcommands.
fn flags_in_help(tool: &str, subcommands: &[&str]) -> BTreeSet<Documented> {
    let mut flags = BTreeSet::new();
    for args in help_runs(subcommands) {
        let shown = run(command(bins::path(tool)).args(&args));
        assert_eq!(shown.code, Some(0), "podkit-{tool} {args:?}: {shown:?}");
        let help = shown.stdout;
        flags.extend(entries(&help).filter(|(flag, _)| flag != "help" && flag != "version"));
    }
    flags
}

/// The command lines that show a tool's help: `--help`, or `SUBCOMMAND --help` for each of
/// `subcommands` (`""`: the tool's own).
fn help_runs<'a>(subcommands: &[&'a str]) -> Vec<Vec<&'a str>> {
    if subcommands.is_empty() {
        return vec![vec!["--help"]];
    }
    subcommands
        .iter()
        .map(|s| match *s {
            "" => vec!["--help"],
            s => vec![s, "--help"],
        })
        .collect()
}

#[test]
fn no_help_shows_the_value_a_variable_has_which_may_be_a_secret() {
    for (tool, subcommands) in TOOLS {
        let variables: BTreeSet<String> = flags_in_help(tool, subcommands)
            .into_iter()
            .flat_map(|(_, variables)| variables)
            .collect();
        assert!(
            !variables.is_empty(),
            "podkit-{tool}: no variable in --help"
        );
        for args in help_runs(subcommands) {
            let mut help = command(bins::path(tool));
            help.args(&args);
            for variable in &variables {
                help.env(variable, format!("s3cret-of-{variable}"));
            }
            let shown = run(&mut help);
            assert_eq!(shown.code, Some(0), "podkit-{tool} {args:?}: {shown:?}");
            assert!(
                !shown.stdout.contains("s3cret-of-"),
                "podkit-{tool} {args:?} shows a variable's value:\n{}",
                shown.stdout
            );
        }
    }
}

/// The option entries of a help text's options section (from its `Options` line to the first
/// empty line): an entry starts at a line that begins (after blanks) with `-x, --long` or
/// `--long`, and runs until the next one; its variables are in `[env: ...]`.
fn entries(help: &str) -> impl Iterator<Item = Documented> + '_ {
    let options = help
        .lines()
        .skip_while(|line| !line.starts_with("Options"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty());
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in options {
        let trimmed = line.trim_start();
        let starts_entry = trimmed.starts_with("--")
            || (trimmed.starts_with('-') && trimmed.get(2..6) == Some(", --"));
        match first_long_flag(trimmed).filter(|_| starts_entry) {
            Some(flag) => entries.push((flag, line.to_owned())),
            None => {
                if let Some((_, text)) = entries.last_mut() {
                    text.push('\n');
                    text.push_str(line);
                }
            }
        }
    }
    entries.into_iter().map(|(flag, text)| {
        let env: String = text
            .split("[env: ")
            .skip(1)
            .filter_map(|rest| rest.split(']').next())
            .collect::<Vec<_>>()
            .join(" ");
        (flag, variables(&env))
    })
}

/// The first `--long-name` in `text`, without its dashes.
fn first_long_flag(text: &str) -> Option<String> {
    let at = text.find("--")?;
    let name: String = text[at + 2..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Every variable name in `text`: upper case words with an underscore (`PODKIT_GROUP`,
/// `TINI_SUBREAPER`), whatever surrounds them (backticks, `=`, commas).
fn variables(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .filter(|word| word.contains('_') && word.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(str::to_owned)
        .collect()
}
