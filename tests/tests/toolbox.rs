//! `podkit`, the multi-call binary of every tool, as its users run it: `podkit TOOL ARGS` and the
//! tool's own name as `argv[0]` (a link, as in the podkit/toolbox image), each tool answering as
//! its own binary does; `podkit init` as PID 1 with no thread but its own; and the arm64 build
//! under qemu.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use podkit_tests::bins::{self, helper, TOOLS};
use podkit_tests::pidns::{self, Namespace};
use podkit_tests::run::{command, run, Finished};
use podkit_tests::servers::Scratch;
use podkit_tests::{arm64, procs};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `podkit-TOOL`, a link to `podkit` in `dir`, as the toolbox image has one for each tool.
fn linked(dir: &Scratch, podkit: &Path, tool: &str) -> PathBuf {
    let link = dir.join(&format!("podkit-{tool}"));
    symlink(podkit, &link).unwrap();
    link
}

/// `podkit ARGS`.
fn podkit(args: &[&str]) -> Finished {
    run(command(bins::toolbox()).args(args))
}

#[test]
fn every_tool_answers_its_version_as_podkit_tool_and_under_its_own_name() {
    let dir = Scratch::new("toolbox-links");
    for tool in TOOLS {
        let expected = format!("podkit-{tool} {VERSION}\n");
        let through_podkit = podkit(&[tool, "--version"]);
        assert_eq!(
            through_podkit.stdout_of_success(),
            expected,
            "podkit {tool}"
        );
        let link = linked(&dir, &bins::toolbox(), tool);
        let through_link = run(command(&link).arg("--version"));
        assert_eq!(
            through_link.stdout_of_success(),
            expected,
            "{}",
            link.display()
        );
    }
}

#[test]
fn a_tool_in_podkit_says_what_its_own_binary_says() {
    // The same help, and the same one-line refusal naming the tool, exit 2.
    for tool in TOOLS {
        let own = run(command(bins::path(tool)).arg("--help"));
        let inside = podkit(&[tool, "--help"]);
        assert_eq!(
            inside.stdout_of_success(),
            own.stdout_of_success(),
            "{tool}"
        );
    }
    let own = run(command(bins::path("probe")).args(["http", "no url"]));
    let inside = podkit(&["probe", "http", "no url"]);
    assert_eq!(own.code, Some(2), "{own:?}");
    assert_eq!((inside.code, &inside.stderr), (own.code, &own.stderr));
}

#[test]
fn podkit_names_its_tools_and_refuses_an_unknown_one_with_exit_2() {
    let help = podkit(&["--help"]);
    for tool in TOOLS {
        assert!(help.stdout_of_success().contains(tool), "{help:?}");
    }
    assert_eq!(
        podkit(&["--version"]).stdout_of_success(),
        format!("podkit {VERSION}\n")
    );
    for args in [&[][..], &["sidecar"]] {
        let refused = podkit(args);
        assert_eq!(refused.code, Some(2), "{args:?}: {refused:?}");
        assert_eq!(refused.stdout, "");
        assert_eq!(refused.stderr.lines().count(), 1, "{refused:?}");
        assert!(
            refused.stderr.starts_with("podkit: error: ")
                && refused
                    .stderr
                    .contains("init, probe, ambassador, reload, metrics, git"),
            "{refused:?}"
        );
    }
}

/// Runs `argv` (podkit-init in the toolbox, one way or the other, `-- helper pid then sleep
/// forever`) as PID 1 of a new PID namespace; checks it runs one thread, then stops it with
/// SIGTERM, which must reach the helper: exit 143.
fn assert_pid1_forwards_sigterm_with_one_thread(argv: &[&str]) {
    let mut ns = Namespace::start(argv);
    ns.expect_line("pid", |l| l.starts_with("pid "));
    let tasks = std::fs::read_dir(format!("/proc/{}/task", ns.pid1()))
        .expect("PID 1's tasks")
        .count();
    assert_eq!(tasks, 1, "{argv:?}: podkit init runs no thread but its own");
    assert_eq!(
        procs::descendants(ns.pid1()).len(),
        1,
        "{argv:?}: the helper alone"
    );
    ns.signal(libc::SIGTERM);
    let finished = ns.finish();
    assert_eq!(finished.code(), 143, "{argv:?}: {finished:?}");
}

#[test]
fn podkit_init_is_pid1_with_no_runtime_thread_and_forwards_sigterm_in_both_forms() {
    if !pidns::available(
        "podkit_init_is_pid1_with_no_runtime_thread_and_forwards_sigterm_in_both_forms",
    ) {
        return;
    }
    let (podkit, helper) = (bins::toolbox().display().to_string(), helper());
    let child = ["--", helper.as_str(), "pid", "then", "sleep", "forever"];
    let mut argv = vec![podkit.as_str(), "init"];
    argv.extend_from_slice(&child);
    assert_pid1_forwards_sigterm_with_one_thread(&argv);

    let dir = Scratch::new("toolbox-pid1");
    let link = linked(&dir, &bins::toolbox(), "init").display().to_string();
    let mut argv = vec![link.as_str()];
    argv.extend_from_slice(&child);
    assert_pid1_forwards_sigterm_with_one_thread(&argv);
}

#[test]
fn the_arm64_podkit_runs_each_tool_under_qemu() {
    if !arm64::runs_here("the_arm64_podkit_runs_each_tool_under_qemu") {
        return;
    }
    let podkit = arm64::toolbox();
    assert_eq!(arm64::elf_machine(&podkit), arm64::EM_AARCH64);
    for tool in TOOLS {
        let version = run(command(&podkit).args([tool, "--version"]));
        assert_eq!(
            version.stdout_of_success(),
            format!("podkit-{tool} {VERSION}\n")
        );
    }
    let done = run(command(&podkit).args(["init", "--", "sh", "-c", "exit 7"]));
    assert_eq!(done.code, Some(7), "{done:?}");
}
