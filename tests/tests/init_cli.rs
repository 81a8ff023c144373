//! podkit-init's command line and its terminal handling: what a user sees at a prompt.

use std::process::Command;

use podkit_tests::bins::{helper, init};
use podkit_tests::pty::Terminal;

/// Runs podkit-init with `args` (and extra environment) and returns (exit code, stderr).
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let output = Command::new(init())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("podkit-init runs");
    (
        output.status.code().expect("an exit code"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Arguments, environment, and what the error must name.
type BadInput<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn bad_input_is_one_line_naming_the_flag_and_exit_2() {
    let cases: &[BadInput] = &[
        (&["--frobnicate", "--", "true"], &[], "--frobnicate"),
        (
            &["--rewrite", "TERM:NOPE", "--", "true"],
            &[],
            "--rewrite: unknown signal \"NOPE\"",
        ),
        (
            &["--pdeathsig", "SIGBOGUS", "--", "true"],
            &[],
            "--pdeathsig: unknown signal \"SIGBOGUS\"",
        ),
        (
            &["--grace", "10", "--", "true"],
            &[],
            "--grace: invalid duration \"10\"",
        ),
        (
            &["--", "true"],
            &[("PODKIT_STOP_DELAY", "later")],
            "PODKIT_STOP_DELAY: invalid duration \"later\"",
        ),
        (
            &["--remap-exit", "143", "--", "true"],
            &[],
            "--remap-exit: expected FROM:TO",
        ),
        (
            &["--pre-stop", "echo 'unclosed", "--", "true"],
            &[],
            "--pre-stop: unbalanced quotes",
        ),
        (&["-v"], &[], "missing command"),
    ];
    for (args, env, named) in cases {
        let (code, stderr) = run(args, env);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("podkit-init: error: "),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains(named),
            "{args:?} should name {named:?}: {stderr}"
        );
    }
}

#[test]
fn help_lists_every_flag_with_its_environment_variable_and_version_prints() {
    let output = Command::new(init()).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for variable in [
        "PODKIT_GROUP",
        "PODKIT_SUBREAPER",
        "PODKIT_GRACE",
        "PODKIT_STOP_DELAY",
        "PODKIT_PRE_STOP",
        "PODKIT_POST_START",
        "PODKIT_POST_START_REQUIRED",
        "PODKIT_REWRITE",
        "PODKIT_REMAP_EXIT",
        "PODKIT_PDEATHSIG",
        "PODKIT_PAUSE",
        "PODKIT_LOG_LEVEL",
        "PODKIT_LOG_FORMAT",
        "TINI_SUBREAPER",
        "TINI_KILL_PROCESS_GROUP",
        "DUMB_INIT_SETSID",
    ] {
        assert!(help.contains(variable), "--help mentions {variable}");
    }
    let version = Command::new(init()).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8(version.stdout).unwrap(),
        format!("podkit-init {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn on_a_terminal_the_child_is_the_foreground_and_ctrl_c_reaches_it() {
    // podkit-init puts its child in a process group of its own; on a terminal it must then hand
    // that group the foreground, or the child could not read the terminal and ^C would miss it.
    let mut command = Command::new(init());
    command.args(["--", &helper(), "tty", "then", "sleep", "forever"]);
    let mut terminal = Terminal::spawn(command);
    assert_eq!(terminal.read_line(), "foreground");
    terminal.type_text("hello\n");
    // The terminal echoes what is typed before the child's answer.
    let mut line = terminal.read_line();
    while line == "hello" {
        line = terminal.read_line();
    }
    assert_eq!(line, "read: hello");
    terminal.type_text("\x03");
    let status = terminal.child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(128 + libc::SIGINT),
        "the child died of ^C's SIGINT"
    );
}
