//! podkit-init when it is not PID 1 of its namespace (a shared process namespace, `--pid=host`,
//! under another init): it reaps as a child subreaper and never touches a process outside its tree.

use podkit_tests::bins::{helper, init};
use podkit_tests::pidns::{self, Namespace};
use podkit_tests::{procs, wait};

#[test]
fn a_sibling_outside_the_tree_survives_and_orphans_come_back_to_the_subreaper() {
    if !pidns::available(
        "a_sibling_outside_the_tree_survives_and_orphans_come_back_to_the_subreaper",
    ) {
        return;
    }
    // PID 1 is a shell that starts a sibling, then podkit-init with a tree of its own: a main
    // child, three orphans that linger, and a setsid grandchild that ignores SIGTERM.
    let script = r#""$HELPER" pid then sleep forever &
"$INIT" -v --grace 500ms -- "$HELPER" orphans 3 --linger 60 then setsid-child --ignore TERM --grandchild then sleep forever
echo "init-exit $?"
exec sleep 1000"#;
    let mut ns = Namespace::start_with(&["sh", "-c", script], |command| {
        command.env("HELPER", helper()).env("INIT", init());
    });
    ns.expect_seen("the sibling", |l| l.starts_with("pid "));
    ns.expect_seen("the orphans", |l| l == "orphans 3");
    ns.expect_seen("the setsid grandchild", |l| l.starts_with("setsid-child "));

    let shell = ns.pid1();
    let podkit_init = wait::until("podkit-init to start", || {
        procs::children(shell)
            .into_iter()
            .find(|p| p.name == "podkit-init")
            .map(|p| p.pid)
    });
    let sibling = procs::children(shell)
        .into_iter()
        .find(|p| p.name != "podkit-init")
        .expect("the sibling")
        .pid;
    // The orphans' parent died at once; as a subreaper podkit-init adopted them, not the shell.
    let adopted = procs::children(podkit_init).len();
    assert_eq!(
        adopted,
        4,
        "main child and 3 orphans: {:?}",
        procs::children(podkit_init)
    );

    ns.signal_member(podkit_init, libc::SIGTERM);
    ns.expect("init-exit 143");
    // The shell exec'd `sleep` as PID 1 itself, so its descendants are what podkit-init left.
    let left = procs::descendants(shell);
    assert_eq!(left.len(), 1, "only the sibling is left: {left:?}");
    assert_eq!(left[0].pid, sibling);
    assert!(!left[0].is_zombie(), "{left:?}");
}

#[test]
fn pdeathsig_turns_the_death_of_podkit_inits_parent_into_a_signal_for_the_child() {
    if !pidns::available(
        "pdeathsig_turns_the_death_of_podkit_inits_parent_into_a_signal_for_the_child",
    ) {
        return;
    }
    // An intermediate shell starts podkit-init, waits until the app is ready (so podkit-init has
    // long set its parent-death signal), and exits: the kernel then sends podkit-init SIGUSR1,
    // which it forwards.
    let log = std::env::temp_dir().join(format!("podkit-pdeathsig-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let parent = r#""$INIT" -p USR1 -- "$HELPER" signals --exit-on USR1 --log "$LOG" &
until grep -q ready "$LOG" 2>/dev/null; do sleep 0.01; done"#;
    let mut ns = Namespace::start_with(
        &["sh", "-c", &format!("sh -c '{parent}'; exec sleep 1000")],
        |command| {
            command
                .env("HELPER", helper())
                .env("INIT", init())
                .env("LOG", &log);
        },
    );
    ns.expect_seen("the forwarded parent-death signal", |l| {
        l == "signal SIGUSR1"
    });
    let _ = std::fs::remove_file(&log);
}
