//! podkit-probe as the HEALTHCHECK of a scratch image, run by the Docker engine against a server
//! in another container on the same network, the way a container runtime drives it.

use podkit_tests::bins::helper;
use podkit_tests::docker::{self, docker, docker_ok, Container};
use podkit_tests::servers::Scratch;
use podkit_tests::{procs, wait};
use serde_json::Value;

const PROBE_IMAGE: &str = "podkit/probe:latest";
const INIT_IMAGE: &str = "podkit/init:latest";

/// Builds an image for one test from `dockerfile`, removed at the end.
fn build(label: &str, dockerfile: &str) -> Image {
    let image = Image(format!("podkit-test-{label}:{}", std::process::id()));
    let context = Scratch::new(label);
    std::fs::write(context.join("Dockerfile"), dockerfile).unwrap();
    docker_ok(&[
        "build",
        "--quiet",
        "--tag",
        &image.0,
        context.path.to_str().unwrap(),
    ]);
    image
}

/// A user-defined network (containers on it find each other by name), removed at the end.
struct Network(String);

impl Drop for Network {
    fn drop(&mut self) {
        let _ = docker(&["network", "rm", &self.0]);
    }
}

/// An image built for one test, removed at the end.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker(&["image", "rm", "--force", &self.0]);
    }
}

/// Shows the container's health log when a test fails, since the probe's own lines say why.
struct HealthLogOnFailure<'a>(&'a Container);

impl Drop for HealthLogOnFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = docker(&["inspect", "-f", "{{json .State.Health}}", &self.0.name]);
            eprintln!("health: {}", log.stdout);
        }
    }
}

/// The container's health as the engine records it: `Status`, and `Log`, its last few checks.
fn health(container: &Container) -> Value {
    let json = docker_ok(&["inspect", "-f", "{{json .State.Health}}", &container.name]);
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// Waits for the status `wanted` and returns the last check's exit code and output then.
fn wait_for_health(container: &Container, wanted: &str) -> (i64, String) {
    let health = wait::until(&format!("the container to become {wanted}"), || {
        let health = health(container);
        (health["Status"] == wanted).then_some(health)
    });
    let last = health["Log"].as_array().and_then(|log| log.last()).cloned();
    let last = last.unwrap_or_else(|| panic!("no check in the log: {health}"));
    (
        last["ExitCode"].as_i64().expect("an exit code"),
        last["Output"].as_str().expect("an output").to_owned(),
    )
}

#[test]
fn healthcheck_follows_the_server_going_down_and_up() {
    let test = "healthcheck_follows_the_server_going_down_and_up";
    if !docker::available(test, PROBE_IMAGE) || !docker::available(test, INIT_IMAGE) {
        return;
    }
    let pid = std::process::id();
    let network = Network(format!("podkit-test-probe-net-{pid}"));
    docker_ok(&["network", "create", &network.0]);

    // The server: the static test helper under podkit-init, answering 200 on every path.
    let mount = format!("{}:/helper:ro", helper());
    let server = Container::run(
        "probe-server",
        &[
            "--network",
            &network.0,
            "-v",
            &mount,
            INIT_IMAGE,
            "--",
            "/helper",
            "serve-http",
            "0.0.0.0:8080",
        ],
    );

    // The checked container: scratch, podkit-init as a pause container, podkit-probe as its
    // exec-form HEALTHCHECK reaching the server by its container name.
    let dockerfile = format!(
        "FROM {PROBE_IMAGE}\n\
         COPY --from={INIT_IMAGE} /podkit-init /podkit-init\n\
         HEALTHCHECK --interval=1s --timeout=10s --retries=1 \
         CMD [\"/podkit-probe\", \"http\", \"http://{}:8080/healthz\", \"--expect-body\", \"^ok\", \
         \"--timeout\", \"5s\"]\n\
         ENTRYPOINT [\"/podkit-init\", \"--pause\"]\n",
        server.name
    );
    let image = build("probe-healthcheck", &dockerfile);
    let checked = Container::run("probe-checked", &["--network", &network.0, &image.0]);
    let _log = HealthLogOnFailure(&checked);

    // What the engine records of each check is podkit-probe's exit code and its one line.
    let url = format!("http://{}:8080/healthz", server.name);
    let (code, output) = wait_for_health(&checked, "healthy");
    assert_eq!(code, 0, "{output}");
    assert!(
        output.starts_with(&format!("healthy {url} status=200 ")),
        "{output}"
    );

    docker_ok(&["stop", &server.name]);
    let (code, output) = wait_for_health(&checked, "unhealthy");
    assert_eq!(code, 3, "{output}");
    assert!(
        output.starts_with(&format!("unreachable {url} ")),
        "{output}"
    );

    docker_ok(&["start", &server.name]);
    let (code, output) = wait_for_health(&checked, "healthy");
    assert_eq!(code, 0, "{output}");
}

#[test]
fn an_exec_check_that_docker_times_out_leaves_no_orphan_behind() {
    let test = "an_exec_check_that_docker_times_out_leaves_no_orphan_behind";
    if !docker::available(test, PROBE_IMAGE) || !docker::available(test, INIT_IMAGE) {
        return;
    }
    // Each check runs a command of 30 s that Docker's 1 s timeout cuts: the engine kills the
    // probe, with SIGKILL, and nothing else. A command left running would be re-parented to the
    // container's PID 1 (podkit-init), one more at every check.
    let image = build(
        "probe-exec-timeout",
        &format!(
            "FROM {PROBE_IMAGE}\n\
             COPY --from={INIT_IMAGE} /podkit-init /podkit-init\n\
             HEALTHCHECK --interval=1s --timeout=1s --retries=3 \
             CMD [\"/podkit-probe\", \"exec\", \"--timeout\", \"30s\", \"--\", \"/helper\", \"sleep\", \"30\"]\n\
             ENTRYPOINT [\"/podkit-init\", \"--pause\"]\n"
        ),
    );
    let mount = format!("{}:/helper:ro", helper());
    let checked = Container::run("probe-exec-timeout", &["-v", &mount, &image.0]);
    let _log = HealthLogOnFailure(&checked);
    // Three checks in a row timed out.
    wait_for_health(&checked, "unhealthy");
    // The probe's guard, re-parented to PID 1 when the probe is killed, ends the command at
    // once: at most the command of the check under way can be seen there, never one per check.
    let pid1 = checked.pid1();
    let commands: Vec<_> = procs::descendants(pid1)
        .into_iter()
        // The helper runs as /helper in the container: its name there is `helper`.
        .filter(|p| p.name == "helper" && !p.is_zombie())
        .collect();
    assert!(commands.len() <= 1, "orphaned commands: {commands:?}");
}
