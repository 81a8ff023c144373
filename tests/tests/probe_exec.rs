//! `podkit-probe exec`: nothing the command starts outlives the probe, however the probe ends:
//! the command exits leaving children behind, the timeout comes, SIGTERM, or a SIGKILL that no
//! handler sees (the kubelet's `timeoutSeconds`, Docker's `HEALTHCHECK --timeout`).
//!
//! Each test runs in a PID namespace of its own with a shell as PID 1 that starts the probe:
//! whatever the probe left would be re-parented to that shell, where the test looks for it.

use podkit_tests::bins::{helper, path};
use podkit_tests::pidns::{self, Namespace};
use podkit_tests::procs::{self, Proc};
use podkit_tests::wait;

/// A namespace whose PID 1 runs `script` with `$PROBE` and `$HELPER` set, then sleeps, so that
/// the namespace outlives the probe and the test can look at what is left.
fn namespace(script: &str) -> Namespace {
    let script = format!("{script}\nexec sleep 1000");
    Namespace::start_with(&["sh", "-c", &script], |command| {
        command.env("PROBE", path("probe")).env("HELPER", helper());
    })
}

/// The processes of the namespace, PID 1 aside, that have not ended (a zombie has ended).
fn alive(ns: &Namespace) -> Vec<Proc> {
    procs::descendants(ns.pid1())
        .into_iter()
        .filter(|p| !p.is_zombie())
        .collect()
}

/// The probe, a child of PID 1.
fn the_probe(ns: &Namespace) -> i32 {
    wait::until("podkit-probe to start", || {
        procs::children(ns.pid1())
            .into_iter()
            .find(|p| p.name == "podkit-probe")
            .map(|p| p.pid)
    })
}

/// The command: a child in its group, a `setsid` child, two orphans, then `last` (a helper step
/// that never ends). Its lines reach the namespace's stderr (the probe sends the command's
/// stdout there).
const COMMAND_TREE: &str = r#""$HELPER" child then setsid-child then orphans 2 --linger 300 then"#;

/// Starts the probe on [`COMMAND_TREE`] in the background and waits until the whole tree is up.
fn probe_running_a_tree(last_step: &str) -> (Namespace, i32) {
    let script = format!(
        r#""$PROBE" exec --timeout 5m -- {COMMAND_TREE} {last_step} &
wait $!
echo "probe-exit $?""#
    );
    let mut ns = namespace(&script);
    ns.expect_logged("orphans 2");
    let probe = the_probe(&ns);
    // The helper, its child, the setsid child and the two orphans, besides the probe and guard.
    let helpers = alive(&ns)
        .into_iter()
        .filter(|p| p.name.starts_with("podkit-testhel"))
        .count();
    assert_eq!(helpers, 5, "the command's tree is up: {:?}", alive(&ns));
    (ns, probe)
}

#[test]
fn a_probe_killed_by_sigkill_takes_the_command_and_all_it_started_along() {
    if !pidns::available("a_probe_killed_by_sigkill_takes_the_command_and_all_it_started_along") {
        return;
    }
    let (mut ns, probe) = probe_running_a_tree("sleep forever");
    ns.signal_member(probe, libc::SIGKILL);
    ns.expect("probe-exit 137");
    // Nothing learns of a SIGKILL before the probe is gone: the guard ends the rest after it.
    wait::until("every process of the command to end", || {
        alive(&ns).is_empty().then_some(())
    });
}

#[test]
fn sigterm_reaches_the_command_and_the_probe_exits_143_leaving_nothing() {
    if !pidns::available("sigterm_reaches_the_command_and_the_probe_exits_143_leaving_nothing") {
        return;
    }
    let (mut ns, probe) = probe_running_a_tree("signals --exit-on TERM");
    ns.expect_logged("ready");
    ns.signal_member(probe, libc::SIGTERM);
    // The command's group got it; the command died of it, and the probe says so.
    ns.expect_logged("signal SIGTERM");
    ns.expect_line("the probe's line", |l| {
        l.contains(r#"error="killed by signal 15""#)
    });
    ns.expect("probe-exit 143");
    // The probe exits only once the guard has ended and reaped the rest: nothing to wait for.
    assert_eq!(alive(&ns), [], "left behind");
}

#[test]
fn a_forwarded_sigterm_ends_a_command_that_does_not_handle_it() {
    if !pidns::available("a_forwarded_sigterm_ends_a_command_that_does_not_handle_it") {
        return;
    }
    // `sleep` neither blocks nor catches SIGTERM: it dies of it at once, unless the probe handed
    // it a mask with SIGTERM blocked, when it would live until the timeout (5 minutes).
    let mut ns = namespace(
        r#""$PROBE" exec --timeout 5m -- sleep 300 &
wait $!
echo "probe-exit $?""#,
    );
    let probe = the_probe(&ns);
    wait::until("the command to start", || {
        alive(&ns).into_iter().find(|p| p.name == "sleep").map(drop)
    });
    ns.signal_member(probe, libc::SIGTERM);
    ns.expect_line("the probe's line", |l| {
        l.contains(r#"error="killed by signal 15""#)
    });
    ns.expect("probe-exit 143");
}

#[test]
fn what_a_command_leaves_behind_ends_before_the_probe_exits() {
    if !pidns::available("what_a_command_leaves_behind_ends_before_the_probe_exits") {
        return;
    }
    for (command, code) in [
        // A background child of a command that exits at once.
        ("sh -c 'sleep 30 & exit 0'", 0),
        // setsid(1) forks (the command leads its group) and the child leaves the group.
        ("setsid sleep 30", 0),
        // Both, in a command the timeout ends.
        ("sh -c 'setsid sleep 30 & sleep 30 & sleep 30'", 3),
    ] {
        let mut ns = namespace(&format!(
            r#""$PROBE" exec --timeout 2s -- {command}
echo "probe-exit $?""#
        ));
        ns.expect(&format!("probe-exit {code}"));
        assert_eq!(alive(&ns), [], "left behind by {command}");
    }
}
