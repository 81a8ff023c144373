//! podkit-init's command line and its terminal handling: what a user sees at a prompt.

use podkit_tests::bins::{helper, init};
use podkit_tests::pty::Terminal;
use podkit_tests::run::{command, run};
use podkit_tests::{pidns, procs, wait};

/// Runs podkit-init with `args` (and extra environment) and returns (exit code, stderr).
fn run_init(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let done = run(command(init()).args(args).envs(env.iter().copied()));
    (done.code.expect("an exit code"), done.stderr)
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
        // No clock holds a deadline this far: refused at start, as in every tool.
        (
            &["--grace", "3000000000000000h", "--", "true"],
            &[],
            "--grace: invalid duration \"3000000000000000h\": too large",
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
        let (code, stderr) = run_init(args, env);
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
    let help = run(command(init()).arg("--help"));
    let help = help.stdout_of_success();
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
        "PODKIT_VERBOSE",
        "PODKIT_LOG_LEVEL",
        "PODKIT_LOG_FORMAT",
        "TINI_SUBREAPER",
        "TINI_KILL_PROCESS_GROUP",
        "DUMB_INIT_SETSID",
    ] {
        assert!(help.contains(variable), "--help mentions {variable}");
    }
    let version = run(command(init()).arg("--version"));
    assert_eq!(
        version.stdout_of_success(),
        format!("podkit-init {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn on_a_terminal_the_child_is_the_foreground_and_ctrl_z_and_ctrl_c_reach_it() {
    if !pidns::available("on_a_terminal_the_child_is_the_foreground_and_ctrl_z_and_ctrl_c_reach_it")
    {
        return;
    }
    // podkit-init puts its child in a process group of its own; on a terminal it must then hand
    // that group the foreground, or the child could not read the terminal and ^Z, ^C would miss it.
    // It runs as PID 1 of a new PID namespace because the test signals it.
    let (init, helper) = (init(), helper());
    let command = pidns::command(&[
        &init, "--", &helper, "tty", "then", "tty", "then", "sleep", "forever",
    ]);
    let mut terminal = Terminal::spawn(command);
    assert_eq!(terminal.read_line(), "foreground");

    // ^Z stops the child, the terminal's foreground, and not podkit-init.
    let pid1 = pidns::pid1_of(terminal.child.id() as i32);
    let child = wait::until("the child", || procs::children(pid1).first().map(|p| p.pid));
    terminal.type_text("\x1a");
    wait::until("the child to stop", || {
        (procs::get(child)?.state == 'T').then_some(())
    });
    assert_ne!(
        procs::get(pid1).unwrap().state,
        'T',
        "podkit-init itself must not stop"
    );

    // SIGCONT to podkit-init is forwarded; the child, still in the foreground, reads on.
    // SAFETY: kill with the host pid of the namespace's PID 1, which this test started.
    unsafe { libc::kill(pid1, libc::SIGCONT) };
    terminal.type_text("hello\n");
    assert_eq!(read_past_echo(&mut terminal, "hello"), "read: hello");
    assert_eq!(read_past_echo(&mut terminal, "hello"), "foreground");

    terminal.type_text("\x03");
    let status = terminal.wait();
    assert_eq!(
        status.code(),
        Some(128 + libc::SIGINT),
        "the child died of ^C's SIGINT"
    );
}

/// The next line the program wrote, skipping the terminal's echo of `typed` and of control keys.
fn read_past_echo(terminal: &mut Terminal, typed: &str) -> String {
    loop {
        let line = terminal.read_line();
        let echo = line == typed || line.starts_with('^') || line.is_empty();
        if !echo {
            return line;
        }
    }
}

#[test]
fn podkit_inits_own_failure_to_start_a_command_is_exit_1_not_126() {
    // Three descriptors allowed: stdin, stdout and stderr are open, so the pipe that reports exec
    // errors cannot be made. That is podkit-init's failure, not the command's.
    let done = run(command("prlimit").args(["--nofile=3:3", &init(), "--", "true"]));
    assert_eq!(done.code, Some(1), "{done:?}");
    let stderr = &done.stderr;
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot start command command=true"),
        "{stderr}"
    );
}

#[test]
fn a_switch_variable_that_is_not_true_false_1_or_0_is_exit_2_naming_it() {
    // An empty value (a Helm value left blank) or a typo is refused, never taken for "on".
    let switch = "expected true, false, 1 or 0";
    let cases = [
        ("PODKIT_GROUP", "garbage", switch),
        ("PODKIT_GROUP", "", switch),
        ("PODKIT_GROUP", "yes", switch),
        ("PODKIT_VERBOSE", "loud", "expected a count"),
    ];
    for (variable, value, says) in cases {
        let (code, stderr) = run_init(&["--", "true"], &[(variable, value)]);
        let wanted = format!("podkit-init: error: {variable}: {says}");
        assert_eq!(code, 2, "{variable}={value:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&wanted),
            "{variable}={value:?}: {stderr}"
        );
    }
}

#[test]
fn explicit_switch_values_in_any_case_are_accepted() {
    // The command's own exit code shows podkit-init ran it rather than refusing its input.
    for value in ["1", "0", "TRUE", "false"] {
        let (code, stderr) = run_init(
            &["--", "sh", "-c", "exit 3"],
            &[("PODKIT_GROUP", value), ("PODKIT_SUBREAPER", value)],
        );
        assert_eq!(code, 3, "PODKIT_GROUP={value:?}: {stderr}");
        assert_eq!(stderr, "", "PODKIT_GROUP={value:?}");
    }
}

#[test]
fn a_non_utf8_argument_or_variable_is_one_line_and_exit_2_never_a_panic() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let bad = OsStr::from_bytes(b"1\xffs");
    let cases: [(Vec<&OsStr>, Option<&str>, &str); 4] = [
        (
            vec![
                OsStr::new("--grace"),
                bad,
                OsStr::new("--"),
                OsStr::new("true"),
            ],
            None,
            "--grace",
        ),
        (
            vec![OsStr::from_bytes(b"--gr\xffce"), OsStr::new("true")],
            None,
            "--gr",
        ),
        (
            vec![OsStr::new("--"), OsStr::new("true")],
            Some("PODKIT_GRACE"),
            "PODKIT_GRACE",
        ),
        (
            vec![OsStr::new("--"), OsStr::new("true")],
            Some("PODKIT_GROUP"),
            "PODKIT_GROUP",
        ),
    ];
    for (args, variable, named) in cases {
        let mut command = command(init());
        command.args(&args);
        if let Some(variable) = variable {
            command.env(variable, bad);
        }
        let done = run(&mut command);
        let stderr = &done.stderr;
        assert_eq!(done.code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("podkit-init: error: ") && stderr.contains(named),
            "{args:?} should name {named}: {stderr}"
        );
    }
}
