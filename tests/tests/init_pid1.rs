//! podkit-init as PID 1 of a new PID namespace: forwarding, exit codes, reaping, graceful stop,
//! hooks, rewrite, remap and pause mode, observed as a user would observe them.

use podkit_tests::bins::{helper, init};
use podkit_tests::pidns::{self, Namespace};
use podkit_tests::run::{command, run};
use podkit_tests::{procs, wait};

/// `podkit-init [INIT_ARGS] -- podkit-testhelper HELPER_ARGS` as PID 1.
fn start(init_args: &[&str], helper_args: &[&str]) -> Namespace {
    let (init, helper) = (init(), helper());
    let mut argv: Vec<&str> = vec![&init];
    argv.extend_from_slice(init_args);
    argv.push("--");
    argv.push(&helper);
    argv.extend_from_slice(helper_args);
    Namespace::start(&argv)
}

fn log_path(test: &str) -> String {
    let path = std::env::temp_dir().join(format!("podkit-{test}-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path.display().to_string()
}

#[test]
fn every_forwardable_signal_reaches_the_child() {
    if !pidns::available("every_forwardable_signal_reaches_the_child") {
        return;
    }
    let mut ns = start(&[], &["signals", "--exit-on", "QUIT"]);
    ns.expect("ready");
    let plain = [
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGUSR2, "SIGUSR2"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGCONT, "SIGCONT"),
        (libc::SIGURG, "SIGURG"),
        (libc::SIGWINCH, "SIGWINCH"),
        (libc::SIGTSTP, "SIGTSTP"),
        (libc::SIGPWR, "SIGPWR"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGXFSZ, "SIGXFSZ"),
        (libc::SIGVTALRM, "SIGVTALRM"),
        (libc::SIGPROF, "SIGPROF"),
        (libc::SIGIO, "SIGIO"),
        (libc::SIGSTKFLT, "SIGSTKFLT"),
        (libc::SIGABRT, "SIGABRT"),
        // Names count from RTMIN = 34, as glibc's do. The helper is a musl program, which keeps 34
        // for itself and cannot catch it; podkit-init forwards it all the same.
        (35, "SIGRTMIN+1"),
        (38, "SIGRTMIN+4"),
        (64, "SIGRTMAX"),
        // Synchronous faults sent with kill(2) are the program's, forwarded as they came.
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGSYS, "SIGSYS"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGTRAP, "SIGTRAP"),
        // The stop signals are forwarded too (they also start the grace): INT, a repeated TERM.
        (libc::SIGINT, "SIGINT"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGQUIT, "SIGQUIT"),
    ];
    for (number, name) in plain {
        ns.signal(number);
        ns.expect(&format!("signal {name}"));
    }
    let finished = ns.finish();
    assert_eq!(finished.code(), 128 + libc::SIGQUIT, "{finished:?}");
}

#[test]
fn sigterm_reaches_child_and_exits_143_usr1_138_usr2_140() {
    if !pidns::available("sigterm_reaches_child_and_exits_143_usr1_138_usr2_140") {
        return;
    }
    for (signal, code) in [
        (libc::SIGTERM, 143),
        (libc::SIGUSR1, 138),
        (libc::SIGUSR2, 140),
    ] {
        let mut ns = start(&[], &["pid", "then", "sleep", "forever"]);
        ns.expect_line("pid", |l| l.starts_with("pid "));
        ns.signal(signal);
        let finished = ns.finish();
        assert_eq!(finished.code(), code, "signal {signal}: {finished:?}");
    }
}

#[test]
fn a_thousand_orphans_are_reaped_with_no_zombie_left() {
    if !pidns::available("a_thousand_orphans_are_reaped_with_no_zombie_left") {
        return;
    }
    let mut ns = start(&[], &["orphans", "1000", "then", "sleep", "forever"]);
    ns.expect("orphans 1000");
    // The orphans exit at once; once reaped, the tree holds the main child alone, alive.
    let pid1 = ns.pid1();
    let tree = wait::until("the orphans to be reaped", || {
        let tree = procs::descendants(pid1);
        (tree.len() == 1).then_some(tree)
    });
    assert!(!tree[0].is_zombie(), "{tree:?}");
    ns.signal(libc::SIGTERM);
    assert_eq!(ns.finish().code(), 143);
}

#[test]
fn merged_sigchld_never_hides_the_main_childs_exit() {
    if !pidns::available("merged_sigchld_never_hides_the_main_childs_exit") {
        return;
    }
    // 200 children and the main child exit at the same instant, so their SIGCHLDs merge: an init
    // that reaps one child per SIGCHLD misses the main child's exit and hangs (catatonit #4, #5).
    for round in 0..10 {
        let finished = start(&[], &["burst", "200", "7"]).finish();
        assert_eq!(finished.code(), 7, "round {round}: {finished:?}");
    }
}

#[test]
fn grace_escalates_to_sigkill_for_a_child_ignoring_sigterm() {
    if !pidns::available("grace_escalates_to_sigkill_for_a_child_ignoring_sigterm") {
        return;
    }
    let mut ns = start(
        &["-v", "--grace", "500ms"],
        &["signals", "--ignore", "TERM"],
    );
    ns.expect("ready");
    ns.signal(libc::SIGTERM);
    let finished = ns.finish();
    assert_eq!(finished.code(), 137, "{finished:?}");
    finished.assert_logged("grace period over");
    let exit_line = r#"exiting cause="stopped by SIGTERM" child="killed by SIGKILL" code=137 reaped=0 killed=1"#;
    finished.assert_logged(exit_line);
}

#[test]
fn a_setsid_grandchild_ignoring_sigterm_is_killed_after_the_grace() {
    if !pidns::available("a_setsid_grandchild_ignoring_sigterm_is_killed_after_the_grace") {
        return;
    }
    // The grandchild left the process group with setsid, so even `--group` forwarding misses it
    // (dumb-init #191); only a walk of the tree finds it.
    let mut ns = start(
        &["-v", "--group", "--grace", "500ms"],
        &[
            "setsid-child",
            "--ignore",
            "TERM",
            "--grandchild",
            "then",
            "sleep",
            "forever",
        ],
    );
    ns.expect_line("setsid-child", |l| l.starts_with("setsid-child "));
    ns.signal(libc::SIGTERM);
    let finished = ns.finish();
    assert_eq!(finished.code(), 143, "{finished:?}");
    // Main child and intermediate went with SIGTERM; the grandchild only with the SIGKILL.
    finished.assert_logged("grace period over: killed the remaining processes count=1");
}

#[test]
fn the_stop_ends_as_soon_as_the_tree_is_empty_not_at_the_end_of_the_grace() {
    if !pidns::available("the_stop_ends_as_soon_as_the_tree_is_empty_not_at_the_end_of_the_grace") {
        return;
    }
    // A grace of an hour: if podkit-init waited for it, the hang guard would fail the test.
    let mut ns = start(
        &["-v", "--grace", "1h"],
        &["child", "then", "setsid-child", "then", "sleep", "forever"],
    );
    ns.expect_line("setsid-child", |l| l.starts_with("setsid-child "));
    ns.signal(libc::SIGTERM);
    let finished = ns.finish();
    assert_eq!(finished.code(), 143, "{finished:?}");
    // The two children left behind by the main child got SIGTERM and went; nothing needed
    // SIGKILL. Whether they were adopted before the main child ended (terminated as orphans) or
    // after (as the rest of its tree) is a race, so the two lines' counts are added.
    let terminated: usize = finished
        .stderr
        .lines()
        .filter(|line| line.contains("terminating"))
        .filter_map(|line| line.split("count=").nth(1)?.parse::<usize>().ok())
        .sum();
    assert!(
        terminated >= 2,
        "expected 2 terminated:\n{}",
        finished.stderr
    );
    finished.assert_logged("killed=0");
}

#[test]
fn when_the_child_exits_on_its_own_the_rest_of_the_tree_is_stopped_and_its_code_kept() {
    if !pidns::available(
        "when_the_child_exits_on_its_own_the_rest_of_the_tree_is_stopped_and_its_code_kept",
    ) {
        return;
    }
    let mut ns = start(
        &["-v", "--grace", "500ms"],
        &[
            "child", "then", "child", "--ignore", "TERM", "then", "exit", "5",
        ],
    );
    ns.expect_line("the first child", |l| l.starts_with("child "));
    ns.expect_line("the second child", |l| l.starts_with("child "));
    let finished = ns.finish();
    assert_eq!(finished.code(), 5, "{finished:?}");
    finished.assert_logged("terminating the rest of its tree count=2");
    finished.assert_logged("killed the remaining processes count=1");
}

#[test]
fn remap_turns_the_jvms_143_into_0_and_tinis_e_works() {
    if !pidns::available("remap_turns_the_jvms_143_into_0_and_tinis_e_works") {
        return;
    }
    let mut ns = start(
        &["--remap-exit", "143:0"],
        &["pid", "then", "sleep", "forever"],
    );
    ns.expect_line("pid", |l| l.starts_with("pid "));
    ns.signal(libc::SIGTERM);
    assert_eq!(ns.finish().code(), 0);
    assert_eq!(start(&["-e", "3"], &["exit", "3"]).finish().code(), 0);
    assert_eq!(start(&["-e", "3"], &["exit", "4"]).finish().code(), 4);
}

#[test]
fn rewrite_sends_sigquit_for_sigterm_and_drops_what_maps_to_0() {
    if !pidns::available("rewrite_sends_sigquit_for_sigterm_and_drops_what_maps_to_0") {
        return;
    }
    let mut ns = start(
        &["--rewrite", "TERM:QUIT", "-r", "USR1:0"],
        &["signals", "--exit-on", "QUIT"],
    );
    ns.expect("ready");
    ns.signal(libc::SIGUSR1);
    ns.signal(libc::SIGUSR2);
    ns.expect("signal SIGUSR2");
    ns.signal(libc::SIGTERM);
    let finished = ns.finish();
    assert_eq!(finished.code(), 128 + libc::SIGQUIT, "{finished:?}");
    assert_eq!(
        finished.stdout,
        ["ready", "signal SIGUSR2", "signal SIGQUIT"]
    );
}

#[test]
fn hooks_run_in_order_stop_delay_then_pre_stop_then_the_signal() {
    if !pidns::available("hooks_run_in_order_stop_delay_then_pre_stop_then_the_signal") {
        return;
    }
    let log = log_path("hooks");
    let helper = helper();
    let post_start = format!("{helper} append {log} post-start");
    let pre_stop = format!("{helper} append {log} pre-stop");
    let init_args = [
        "-v",
        "--grace",
        "30s",
        "--stop-delay",
        "2s",
        "--post-start",
        &post_start,
        "--pre-stop",
        &pre_stop,
    ];
    let mut ns = start(&init_args, &["signals", "--exit-on", "TERM", "--log", &log]);
    ns.expect("ready");
    ns.expect_logged("hook finished hook=post-start");
    ns.signal(libc::SIGTERM);
    // During the stop delay the child still gets other signals, and not yet the stop signal.
    ns.signal(libc::SIGUSR1);
    let stopping = ns.expect_logged("stopping signal=SIGTERM");
    let pre_stop_started = ns.expect_logged("hook started hook=pre-stop");
    let finished = ns.finish();
    assert_eq!(finished.code(), 143, "{finished:?}");
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let order: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| *l != "ready")
        .collect();
    assert_eq!(
        order,
        ["post-start", "signal SIGUSR1", "pre-stop", "signal SIGTERM"]
    );
    // The delay, by podkit-init's own clock: a lower bound, which no load can make fail.
    let held = log_millis(&pre_stop_started) - log_millis(&stopping);
    assert!(
        held >= 2000,
        "the pre-stop hook came {held} ms after the stop signal, not 2 s"
    );
    let _ = std::fs::remove_file(&log);
}

/// Milliseconds since midnight (UTC) of a text log line's timestamp, `2026-11-22T23:00:05.606Z`.
fn log_millis(line: &str) -> i64 {
    let time = &line[11..23];
    let field = |range: std::ops::Range<usize>| time[range].parse::<i64>().unwrap();
    ((field(0..2) * 60 + field(3..5)) * 60 + field(6..8)) * 1000 + field(9..12)
}

#[test]
fn a_failing_required_post_start_hook_stops_the_container_with_its_code() {
    if !pidns::available("a_failing_required_post_start_hook_stops_the_container_with_its_code") {
        return;
    }
    let hook = format!("{} exit 9", helper());
    let finished = start(
        &["--post-start", &hook, "--post-start-required"],
        &["sleep", "forever"],
    )
    .finish();
    assert_eq!(finished.code(), 9, "{finished:?}");
    finished.assert_logged("required post-start hook failed");
    // Not required: the failure is logged and the child keeps running until stopped.
    let mut ns = start(&["--post-start", &hook], &["signals", "--exit-on", "TERM"]);
    ns.expect("ready");
    ns.expect_logged("hook failed hook=post-start");
    ns.signal(libc::SIGUSR1);
    ns.expect("signal SIGUSR1");
    ns.signal(libc::SIGTERM);
    let finished = ns.finish();
    assert_eq!(finished.code(), 143, "{finished:?}");
}

#[test]
fn pause_mode_reaps_orphans_entering_the_namespace_and_exits_0_on_sigterm() {
    if !pidns::available("pause_mode_reaps_orphans_entering_the_namespace_and_exits_0_on_sigterm") {
        return;
    }
    let init = init();
    let ns = Namespace::start(&[init.as_str(), "--pause"]);
    // A process entering the namespace (as `kubectl exec` or a sidecar would) leaves orphans,
    // which the kernel hands to PID 1.
    let leave_orphans_and_see_them_reaped = || {
        let pid1 = ns.pid1().to_string();
        let entered = run(command("nsenter").args([
            "--target",
            &pid1,
            "--pid",
            "--mount",
            "--",
            &helper(),
            "orphans",
            "20",
        ]));
        assert!(entered.succeeded(), "{entered:?}");
        wait::until("the orphans to be reaped", || {
            procs::descendants(ns.pid1()).is_empty().then_some(())
        });
    };
    leave_orphans_and_see_them_reaped();
    // Not a stop signal: the pause goes on, and still reaps.
    ns.signal(libc::SIGUSR1);
    leave_orphans_and_see_them_reaped();
    ns.signal(libc::SIGTERM);
    assert_eq!(ns.finish().code(), 0);
}

#[test]
fn command_not_found_is_127_and_not_executable_is_126_with_one_line_naming_it() {
    if !pidns::available(
        "command_not_found_is_127_and_not_executable_is_126_with_one_line_naming_it",
    ) {
        return;
    }
    let finished = Namespace::start(&[init().as_str(), "--", "/no/such/program"]).finish();
    assert_eq!(finished.code(), 127);
    assert_eq!(finished.stderr.lines().count(), 1, "{}", finished.stderr);
    finished.assert_logged("command not found command=/no/such/program");

    let not_executable = std::env::temp_dir().join(format!("podkit-noexec-{}", std::process::id()));
    std::fs::write(&not_executable, "data").unwrap();
    let path = not_executable.display().to_string();
    let finished = Namespace::start(&[init().as_str(), "--", path.as_str()]).finish();
    assert_eq!(finished.code(), 126);
    assert_eq!(finished.stderr.lines().count(), 1, "{}", finished.stderr);
    let expected =
        format!("command cannot be executed command={path} reason=\"Permission denied\"");
    finished.assert_logged(&expected);
    let _ = std::fs::remove_file(not_executable);
}

#[test]
fn json_logs_are_one_object_per_line() {
    if !pidns::available("json_logs_are_one_object_per_line") {
        return;
    }
    let finished = start(&["-v", "--log-format", "json"], &["exit", "0"]).finish();
    assert_eq!(finished.code(), 0);
    let lines: Vec<&str> = finished.stderr.lines().collect();
    assert!(lines.len() >= 2, "{lines:?}");
    for line in lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(value["tool"], "podkit-init");
        assert!(
            value["msg"].is_string() && value["time"].is_string() && value["level"] == "info",
            "{line}"
        );
    }
}

#[test]
fn tini_kill_process_group_forwards_to_the_childs_whole_group() {
    if !pidns::available("tini_kill_process_group_forwards_to_the_childs_whole_group") {
        return;
    }
    signals_reach_the_childs_whole_group_with("TINI_KILL_PROCESS_GROUP", "1");
}

#[test]
fn podkit_group_1_and_the_peers_variables_by_their_own_rules_forward_to_the_group() {
    if !pidns::available(
        "podkit_group_1_and_the_peers_variables_by_their_own_rules_forward_to_the_group",
    ) {
        return;
    }
    // tini turns group signalling on when its variable is set at all, even to 0 or nothing;
    // dumb-init turns it off only for exactly 0.
    for (variable, value) in [
        ("PODKIT_GROUP", "1"),
        ("PODKIT_GROUP", "True"),
        ("TINI_KILL_PROCESS_GROUP", "0"),
        ("TINI_KILL_PROCESS_GROUP", ""),
        ("DUMB_INIT_SETSID", "1"),
    ] {
        signals_reach_the_childs_whole_group_with(variable, value);
    }
}

/// Runs podkit-init with `variable=value` and checks that a signal it forwards reaches the main
/// child's whole process group: the main child catches signals; its own child, in the same
/// group, dies of SIGUSR1 only if the signal goes to the group rather than to the main child alone.
fn signals_reach_the_childs_whole_group_with(variable: &str, value: &str) {
    let (init, helper) = (init(), helper());
    let argv = [
        init.as_str(),
        "--",
        &helper,
        "child",
        "then",
        "signals",
        "--exit-on",
        "TERM",
    ];
    let mut ns = Namespace::start_with(&argv, |command| {
        command.env(variable, value);
    });
    ns.expect("ready");
    let main_child = procs::children(ns.pid1())[0].pid;
    let grandchild = procs::children(main_child)[0].pid;
    ns.signal(libc::SIGUSR1);
    ns.expect("signal SIGUSR1");
    wait::until(
        &format!("{variable}={value:?}: the group member to die of SIGUSR1"),
        || procs::get(grandchild).is_none().then_some(()),
    );
    ns.signal(libc::SIGTERM);
    assert_eq!(ns.finish().code(), 143, "{variable}={value:?}");
}

#[test]
fn a_child_that_exits_during_the_stop_delay_gets_no_pre_stop_hook() {
    if !pidns::available("a_child_that_exits_during_the_stop_delay_gets_no_pre_stop_hook") {
        return;
    }
    let log = log_path("stop-delay-exit");
    let pre_stop = format!("{} append {log} pre-stop", helper());
    // The stop delay holds SIGTERM back; the child ends on SIGUSR1 meanwhile, leaving behind a
    // process that ignores SIGTERM and keeps podkit-init busy until the grace ends, well past the
    // end of the delay, when a pre-stop hook would have run.
    let mut ns = start(
        &[
            "-v",
            "--grace",
            "4s",
            "--stop-delay",
            "2s",
            "--pre-stop",
            &pre_stop,
        ],
        &[
            "child",
            "--ignore",
            "TERM",
            "then",
            "signals",
            "--exit-on",
            "USR1",
        ],
    );
    ns.expect("ready");
    ns.signal(libc::SIGTERM);
    ns.signal(libc::SIGUSR1);
    let finished = ns.finish();
    assert_eq!(finished.code(), 128 + libc::SIGUSR1, "{finished:?}");
    finished.assert_logged("grace period over: killed the remaining processes count=1");
    assert!(
        !finished.stderr.contains("hook=pre-stop"),
        "{}",
        finished.stderr
    );
    assert!(
        !std::path::Path::new(&log).exists(),
        "the pre-stop hook ran"
    );
}

#[test]
fn a_required_post_start_hook_stopped_by_podkit_init_is_no_failure() {
    if !pidns::available("a_required_post_start_hook_stopped_by_podkit_init_is_no_failure") {
        return;
    }
    // The child exits 0 while the hook still runs; podkit-init's SIGTERM for the leftovers ends
    // the hook, which must not turn the child's 0 into the hook's 143.
    let (init, helper) = (init(), helper());
    let hook = format!("{helper} sleep forever");
    let argv = [
        &init,
        "-v",
        "--post-start",
        &hook,
        "--post-start-required",
        "--",
        &helper,
        "tty",
        "then",
        "exit",
        "0",
    ];
    let mut ns = Namespace::start_with(&argv, |command| {
        command.stdin(std::process::Stdio::piped());
    });
    // The child waits for a line on its stdin, the namespace's, until the hook runs.
    ns.expect("no-tty");
    let pid1 = ns.pid1();
    wait::until("the post-start hook to run", || {
        let hook_runs = procs::descendants(pid1).iter().any(|p| {
            procs::cmdline(p.pid)
                .is_some_and(|argv| argv.ends_with(&["sleep".into(), "forever".into()]))
        });
        hook_runs.then_some(())
    });
    std::io::Write::write_all(&mut ns.stdin(), b"go\n").expect("the child reads its stdin");
    ns.expect("read: go");
    let finished = ns.finish();
    assert_eq!(finished.code(), 0, "{finished:?}");
    finished.assert_logged("cause=\"child exited on its own\"");
}

#[test]
fn a_required_post_start_hook_that_cannot_start_stops_the_container_with_127() {
    if !pidns::available(
        "a_required_post_start_hook_that_cannot_start_stops_the_container_with_127",
    ) {
        return;
    }
    let args = ["--post-start", "/no/such/hook", "--post-start-required"];
    let finished = start(&args, &["sleep", "forever"]).finish();
    assert_eq!(finished.code(), 127, "{finished:?}");
    finished.assert_logged("hook cannot start hook=post-start command=/no/such/hook");
}

#[test]
fn a_failed_required_hook_stops_the_child_even_when_sigterm_is_rewritten_to_0() {
    if !pidns::available(
        "a_failed_required_hook_stops_the_child_even_when_sigterm_is_rewritten_to_0",
    ) {
        return;
    }
    let hook = format!("{} exit 9", helper());
    let args = [
        "-r",
        "TERM:0",
        "--post-start",
        &hook,
        "--post-start-required",
    ];
    let finished = start(&args, &["sleep", "forever"]).finish();
    assert_eq!(finished.code(), 9, "{finished:?}");
}

#[test]
fn the_grace_holds_for_podkit_inits_own_children_when_proc_is_unusable() {
    if !pidns::available("the_grace_holds_for_podkit_inits_own_children_when_proc_is_unusable") {
        return;
    }
    // A tmpfs over /proc (in the namespace's own mount namespace): the walk of the tree finds
    // nothing, yet the child that ignores SIGTERM still gets its SIGKILL when the grace ends.
    let script = r#"mount -t tmpfs none /proc && exec "$INIT" -v --grace 300ms -- "$HELPER" signals --ignore TERM"#;
    let mut ns = Namespace::start_with(&["sh", "-c", script], |command| {
        command.env("HELPER", helper()).env("INIT", init());
    });
    ns.expect("ready");
    ns.signal(libc::SIGTERM);
    let finished = ns.finish();
    assert_eq!(finished.code(), 137, "{finished:?}");
    // No count without /proc (not a misleading 0): the log says whom the SIGKILL reached.
    finished.assert_logged("grace period over: killed every other process of the namespace");
}

#[test]
fn a_child_killed_by_a_real_time_signal_exits_128_plus_its_number() {
    if !pidns::available("a_child_killed_by_a_real_time_signal_exits_128_plus_its_number") {
        return;
    }
    // A real-time signal's default action ends the process. Its death must be reaped and reported
    // like any other: a wait that decodes only the classic signals (nix's `WaitStatus`) reaps the
    // child, then fails, and podkit-init would wait forever for a child already gone.
    for number in [35, 38, 64] {
        let mut ns = start(&[], &["pid", "then", "sleep", "forever"]);
        ns.expect_line("pid", |l| l.starts_with("pid "));
        ns.signal(number);
        let finished = ns.finish();
        assert_eq!(
            finished.code(),
            128 + number,
            "signal {number}: {finished:?}"
        );
    }
}

#[test]
fn sigquit_is_only_forwarded_and_the_stop_signals_are_a_flag() {
    if !pidns::available("sigquit_is_only_forwarded_and_the_stop_signals_are_a_flag") {
        return;
    }
    // SIGQUIT asks a JVM for a thread dump: it must reach the child and start no stop. Had it
    // started one, the stop would be SIGQUIT's, and the exit line would say so.
    let mut ns = start(&["-v", "--grace", "1h"], &["signals", "--exit-on", "TERM"]);
    ns.expect("ready");
    ns.signal(libc::SIGQUIT);
    ns.expect("signal SIGQUIT");
    ns.signal(libc::SIGTERM);
    let finished = ns.finish();
    assert_eq!(finished.code(), 143, "{finished:?}");
    finished.assert_logged(r#"cause="stopped by SIGTERM""#);
    assert!(
        !finished.stderr.contains("stopping signal=SIGQUIT"),
        "{}",
        finished.stderr
    );

    // --stop-signal names the signals that stop; SIGTERM is then only forwarded.
    let mut ns = start(
        &["-v", "--grace", "1h", "--stop-signal", "USR2"],
        &["signals", "--exit-on", "USR2"],
    );
    ns.expect("ready");
    ns.signal(libc::SIGTERM);
    ns.expect("signal SIGTERM");
    ns.signal(libc::SIGUSR2);
    let finished = ns.finish();
    assert_eq!(finished.code(), 128 + libc::SIGUSR2, "{finished:?}");
    finished.assert_logged(r#"cause="stopped by SIGUSR2""#);
}

#[test]
fn rtmin_plus_3_in_a_rewrite_is_37_as_glibc_and_kill_count_it() {
    if !pidns::available("rtmin_plus_3_in_a_rewrite_is_37_as_glibc_and_kill_count_it") {
        return;
    }
    // bash (glibc) says by number which of 37 and 38 arrived; the test helper would not do, as it
    // names signals with the same table as podkit-init.
    let init = init();
    let script = r#"trap 'echo got 37' 37; trap 'echo got 38' 38; trap 'exit 0' TERM
echo ready; while :; do sleep 1 & wait $!; done"#;
    let argv = [&init, "-r", "USR1:RTMIN+3", "--", "bash", "-c", script];
    let mut ns = Namespace::start(&argv);
    ns.expect("ready");
    ns.signal(libc::SIGUSR1);
    let got = ns.expect_line("a real-time signal", |l| l.starts_with("got "));
    assert_eq!(got, "got 37");
    ns.signal(libc::SIGTERM);
    assert_eq!(ns.finish().code(), 0);
}

#[test]
fn grandchildren_whose_parents_die_of_the_stop_signal_still_get_sigterm() {
    if !pidns::available("grandchildren_whose_parents_die_of_the_stop_signal_still_get_sigterm") {
        return;
    }
    // The group's SIGTERM kills ten parents while the main child lives on; their children, each
    // in a session of its own, missed that SIGTERM and are adopted by podkit-init during the
    // stop. They are still its tree: each must get SIGTERM long before the grace (an hour) ends.
    let dir = std::env::temp_dir().join(format!("podkit-families-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("grandchild").display().to_string();
    let mut ns = start(
        &["-v", "--group", "--grace", "1h"],
        &[
            "families",
            "10",
            "--log",
            &log,
            "then",
            "signals",
            "--exit-on",
            "USR1",
        ],
    );
    ns.expect_seen("the families", |l| l == "families 10");
    let logs: Vec<_> = (0..10).map(|i| format!("{log}.{i}")).collect();
    ns.signal(libc::SIGTERM);
    wait::until("every grandchild to get SIGTERM", || {
        let got = logs.iter().filter(|log| {
            std::fs::read_to_string(log).is_ok_and(|text| text.contains("signal SIGTERM"))
        });
        (got.count() == logs.len()).then_some(())
    });
    ns.signal(libc::SIGUSR1);
    let finished = ns.finish();
    assert_eq!(finished.code(), 128 + libc::SIGUSR1, "{finished:?}");
    finished.assert_logged("terminating processes whose parent is gone");
    finished.assert_logged("killed=0");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_proc_the_grace_still_ends_a_grandchild_podkit_init_did_not_start() {
    if !pidns::available("without_proc_the_grace_still_ends_a_grandchild_podkit_init_did_not_start")
    {
        return;
    }
    // An empty tmpfs over /proc: no walk of the tree is possible. As PID 1, podkit-init still
    // ends its whole namespace when the grace is over, so the setsid grandchild that ignores
    // SIGTERM does not keep the container up.
    let script = r#"mount -t tmpfs none /proc && exec "$INIT" -v --grace 300ms -- "$HELPER" setsid-child --ignore TERM --grandchild then sleep forever"#;
    let mut ns = Namespace::start_with(&["sh", "-c", script], |command| {
        command.env("HELPER", helper()).env("INIT", init());
    });
    ns.expect_line("the setsid grandchild", |l| l.starts_with("setsid-child "));
    ns.signal(libc::SIGTERM);
    let finished = ns.finish();
    assert_eq!(finished.code(), 143, "{finished:?}");
    finished.assert_logged("grace period over");
    // Without /proc nothing can be counted: the log says what the SIGKILL reached instead of 0.
    finished.assert_logged("killed every other process of the namespace");
    assert!(!finished.stderr.contains("killed=0"), "{}", finished.stderr);
}
