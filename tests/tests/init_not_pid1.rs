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

#[test]
fn a_fault_signal_sent_with_kill_is_forwarded_and_does_not_kill_podkit_init() {
    if !pidns::available("a_fault_signal_sent_with_kill_is_forwarded_and_does_not_kill_podkit_init")
    {
        return;
    }
    // Not PID 1, podkit-init has no shield against signals: a `kill -SYS` used to kill it and
    // orphan CMD. Like dumb-init, it passes such signals on, as it does any other.
    let script = r#""$INIT" -- "$HELPER" signals --exit-on TERM
echo "init-exit $?"
exec sleep 1000"#;
    let mut ns = Namespace::start_with(&["sh", "-c", script], |command| {
        command.env("HELPER", helper()).env("INIT", init());
    });
    ns.expect("ready");
    let shell = ns.pid1();
    let podkit_init = wait::until("podkit-init to start", || {
        procs::children(shell)
            .into_iter()
            .find(|p| p.name == "podkit-init")
            .map(|p| p.pid)
    });
    for (signal, name) in [
        (libc::SIGSYS, "SIGSYS"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGTRAP, "SIGTRAP"),
    ] {
        ns.signal_member(podkit_init, signal);
        ns.expect(&format!("signal {name}"));
    }
    ns.signal_member(podkit_init, libc::SIGTERM);
    ns.expect("signal SIGTERM");
    ns.expect("init-exit 143");
}

/// A python3 launcher that installs a seccomp filter answering `pidfd_send_signal` with EPERM,
/// as older Docker's default profile does, then execs its arguments. The filter is inherited by
/// every process started after it.
const DENY_PIDFD_SIGNAL: &str = r#"
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
def insn(code, k, jt=0, jf=0):
    return struct.pack("HBBI", code, jt, jf, k)
PIDFD_SEND_SIGNAL = 424  # the same number on every architecture
program = (
    insn(0x20, 0)                             # load the system call number
    + insn(0x15, PIDFD_SEND_SIGNAL, 0, 1)     # is it pidfd_send_signal?
    + insn(0x06, 0x00050000 | 1)              # yes: fail with EPERM
    + insn(0x06, 0x7FFF0000)                  # no: allow
)
buffer = ctypes.create_string_buffer(program)
class Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fprog = Program(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) or libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0):
    sys.exit("seccomp: " + os.strerror(ctypes.get_errno()))
os.execvp(sys.argv[1], sys.argv[1:])
"#;

#[test]
fn where_pidfd_send_signal_is_denied_the_grace_still_ends_the_tree() {
    if !pidns::available("where_pidfd_send_signal_is_denied_the_grace_still_ends_the_tree") {
        return;
    }
    // podkit-init is not PID 1 here, so only its walk of the tree can reach the setsid
    // grandchild that ignores SIGTERM; and the walk's pidfd_send_signal fails with EPERM. The
    // walk falls back to kill(2) (its /proc is its namespace's own), and the grace holds.
    let script = r#"python3 -c "$DENY" "$INIT" -v --grace 300ms -- "$HELPER" setsid-child --ignore TERM --grandchild then sleep forever
echo "init-exit $?"
exec sleep 1000"#;
    let mut ns = Namespace::start_with(&["sh", "-c", script], |command| {
        command
            .env("HELPER", helper())
            .env("INIT", init())
            .env("DENY", DENY_PIDFD_SIGNAL);
    });
    ns.expect_seen("the setsid grandchild", |l| l.starts_with("setsid-child "));
    let shell = ns.pid1();
    let podkit_init = wait::until("podkit-init to start", || {
        procs::children(shell)
            .into_iter()
            .find(|p| p.name == "podkit-init")
            .map(|p| p.pid)
    });
    ns.signal_member(podkit_init, libc::SIGTERM);
    ns.expect_seen("podkit-init to exit", |l| l == "init-exit 143");
    let left = procs::descendants(shell);
    assert!(left.is_empty(), "the whole tree is gone: {left:?}");
}
