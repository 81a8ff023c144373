//! podkit-init as the entrypoint of its real image, driven by the Docker engine the way
//! Kubernetes' container runtime drives it.

use podkit_tests::bins::{self, helper};
use podkit_tests::docker::{self, docker_ok, Container, DOCKER_GUARD};
use podkit_tests::run::{command, run_with_guard, Process};
use podkit_tests::{procs, wait};

const IMAGE: &str = "podkit/init:latest";

/// A container of the image running the test helper (bind-mounted) under podkit-init.
fn run_helper(label: &str, init_args: &[&str], helper_args: &[&str]) -> Container {
    let mount = format!("{}:/helper:ro", helper());
    let mut args = vec!["-v", &mount, IMAGE];
    args.extend_from_slice(init_args);
    args.extend_from_slice(&["--", "/helper", "pid", "then"]);
    args.extend_from_slice(helper_args);
    let container = Container::run(label, &args);
    wait::until("the helper to start", || {
        container.logs().contains("pid ").then_some(())
    });
    container
}

#[test]
fn docker_stop_ends_the_helper_with_sigterm_and_exit_143() {
    if !docker::available(
        "docker_stop_ends_the_helper_with_sigterm_and_exit_143",
        IMAGE,
    ) {
        return;
    }
    let container = run_helper("stop", &[], &["sleep", "forever"]);
    // With 60 s before Docker's own SIGKILL, a 137 would mean the SIGTERM never reached the app.
    docker_ok(&["stop", "--time", "60", &container.name]);
    assert_eq!(container.wait(), 143, "{}", container.logs());
}

#[test]
fn docker_kill_usr1_gives_138() {
    if !docker::available("docker_kill_usr1_gives_138", IMAGE) {
        return;
    }
    let container = run_helper("usr1", &[], &["sleep", "forever"]);
    docker_ok(&["kill", "--signal", "USR1", &container.name]);
    assert_eq!(container.wait(), 138, "{}", container.logs());
}

#[test]
fn docker_stop_reaches_grandchildren_whose_parents_die_of_the_same_sigterm() {
    if !docker::available(
        "docker_stop_reaches_grandchildren_whose_parents_die_of_the_same_sigterm",
        IMAGE,
    ) {
        return;
    }
    // `docker stop`'s SIGTERM goes to CMD's group (-g): it kills ten parents while CMD lives on.
    // Their children lead sessions of their own and missed it; podkit-init adopts them during the
    // stop and must pass it on, long before its grace (50 s) or Docker's SIGKILL (60 s).
    let dir = std::env::temp_dir().join(format!("podkit-docker-families-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The image runs as 65532: the grandchildren must be able to write their logs.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let (helper_mount, logs_mount) = (
        format!("{}:/helper:ro", helper()),
        format!("{}:/logs", dir.display()),
    );
    let container = Container::run(
        "families",
        &[
            "-v",
            &helper_mount,
            "-v",
            &logs_mount,
            IMAGE,
            "-v",
            "--group",
            "--grace",
            "50s",
            "--",
            "/helper",
            "families",
            "10",
            "--log",
            "/logs/grandchild",
            "then",
            "signals",
            "--exit-on",
            "USR1",
        ],
    );
    wait::until("the families", || {
        container.logs().contains("families 10").then_some(())
    });
    // docker stop returns once the container is gone: it runs meanwhile.
    let mut stop =
        Process::spawn(command("docker").args(["stop", "--time", "60", &container.name]));
    let logs: Vec<_> = (0..10)
        .map(|i| dir.join(format!("grandchild.{i}")))
        .collect();
    wait::until("every grandchild to get SIGTERM", || {
        let got = logs.iter().filter(|log| {
            std::fs::read_to_string(log).is_ok_and(|text| text.contains("signal SIGTERM"))
        });
        (got.count() == logs.len()).then_some(())
    });
    docker_ok(&["kill", "--signal", "USR1", &container.name]);
    assert!(stop.wait("docker stop").success());
    assert_eq!(
        container.wait(),
        128 + libc::SIGUSR1,
        "{}",
        container.logs()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn zombies_left_by_docker_exec_are_reaped() {
    if !docker::available("zombies_left_by_docker_exec_are_reaped", IMAGE) {
        return;
    }
    let container = run_helper("exec", &[], &["sleep", "forever"]);
    // The exec'd process's orphans are handed to the container's PID 1 by the kernel.
    docker_ok(&["exec", &container.name, "/helper", "orphans", "25"]);
    let pid1 = container.pid1();
    let tree = wait::until("the orphans to be reaped", || {
        let tree = procs::descendants(pid1);
        (tree.len() == 1).then_some(tree)
    });
    assert!(!tree[0].is_zombie(), "{tree:?}");
    docker_ok(&["stop", &container.name]);
    assert_eq!(container.wait(), 143);
}

#[test]
fn the_image_holds_nothing_but_the_static_binary() {
    if !docker::available("the_image_holds_nothing_but_the_static_binary", IMAGE) {
        return;
    }
    // `docker save` gives the image's layers as tar files: one layer, one file, the binary
    // byte for byte.
    let saved = std::env::temp_dir().join(format!("podkit-image-{}", std::process::id()));
    std::fs::create_dir_all(&saved).unwrap();
    let tarball = saved.join("image.tar");
    docker_ok(&["save", "--output", tarball.to_str().unwrap(), IMAGE]);
    run_ok(
        "tar",
        &[
            "-xf",
            tarball.to_str().unwrap(),
            "-C",
            saved.to_str().unwrap(),
        ],
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(saved.join("manifest.json")).unwrap()).unwrap();
    let layers = manifest[0]["Layers"].as_array().expect("a list of layers");
    assert_eq!(layers.len(), 1, "{manifest}");
    let layer = saved.join(layers[0].as_str().unwrap());
    let files = run_ok("tar", &["-tf", layer.to_str().unwrap()]);
    assert_eq!(files.trim(), "podkit-init");
    run_ok(
        "tar",
        &[
            "-xf",
            layer.to_str().unwrap(),
            "-C",
            saved.to_str().unwrap(),
        ],
    );
    let shipped = std::fs::read(saved.join("podkit-init")).unwrap();
    assert!(
        shipped == std::fs::read(bins::path("init")).unwrap(),
        "the image holds another build"
    );
    let _ = std::fs::remove_dir_all(&saved);
    let user = docker_ok(&["image", "inspect", "-f", "{{.Config.User}}", IMAGE]);
    assert_eq!(user, "65532:65532");
}

/// Runs a command, insists on success, returns its stdout.
fn run_ok(program: &str, args: &[&str]) -> String {
    let done = run_with_guard(command(program).args(args), DOCKER_GUARD);
    assert!(done.succeeded(), "{program} {args:?}: {done:?}");
    done.stdout
}
