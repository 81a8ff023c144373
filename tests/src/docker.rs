//! Containers from the real images, for tests that need them. Every docker command runs to its
//! end under [`DOCKER_GUARD`], which only stops a hang.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::run::{command, run_with_guard, try_run, try_run_with_guard, Finished};

/// How long one docker command may take: above `docker stop --time 60`, an image build or a
/// save of an image. Only a hang takes that long.
pub const DOCKER_GUARD: Duration = Duration::from_secs(300);

/// Whether a Docker engine answers and `image` exists; tests that need one say why they skip
/// (and fail under `PODKIT_REQUIRE_ALL=1`).
pub fn available(test: &str, image: &str) -> bool {
    let engine = try_run(command("docker").arg("info")).is_ok_and(|info| info.succeeded());
    if !engine {
        crate::skip(test, "no Docker engine answers (docker info failed)");
        return false;
    }
    let built = docker(&["image", "inspect", image]).succeeded();
    assert!(built, "image {image} is missing: run `make images` first");
    true
}

/// The image `make images` tagged `PREFIX/NAME:TAG` (`latest` for amd64, `latest-arm64`):
/// PREFIX is `PODKIT_IMAGE_PREFIX` (the Makefile's `IMAGE_PREFIX`), `podkit` by default.
pub fn image(name: &str, tag: &str) -> String {
    let prefix = std::env::var("PODKIT_IMAGE_PREFIX").unwrap_or_else(|_| "podkit".to_owned());
    format!("{prefix}/{name}:{tag}")
}

/// Runs `docker ARGS` to its end.
pub fn docker(args: &[&str]) -> Finished {
    run_with_guard(command("docker").args(args), DOCKER_GUARD)
}

/// Runs `docker ARGS`, insists on success and returns its trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let done = docker(args);
    assert!(done.succeeded(), "docker {args:?} failed: {}", done.stderr);
    done.stdout.trim().to_owned()
}

/// A container removed when the test ends, whatever happens.
pub struct Container {
    pub name: String,
}

impl Container {
    /// `docker run -d --name <unique> ARGS...`
    pub fn run(label: &str, args: &[&str]) -> Container {
        let name = format!("podkit-test-{label}-{}", std::process::id());
        let _ = docker(&["rm", "-f", &name]);
        let mut run = vec!["run", "-d", "--name", &name];
        run.extend_from_slice(args);
        docker_ok(&run);
        Container { name }
    }

    /// The host pid of the container's PID 1.
    pub fn pid1(&self) -> i32 {
        docker_ok(&["inspect", "-f", "{{.State.Pid}}", &self.name])
            .parse()
            .expect("a pid")
    }

    /// Waits (under [`DOCKER_GUARD`]) until the container stops and returns its exit code.
    pub fn wait(&self) -> i32 {
        docker_ok(&["wait", &self.name])
            .parse()
            .expect("an exit code")
    }

    pub fn logs(&self) -> String {
        let done = docker(&["logs", &self.name]);
        format!("{}{}", done.stdout, done.stderr)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.name]);
    }
}

/// `docker run ARGS... /helper pid then sleep forever`: the test helper, mounted at /helper, as
/// the app under podkit-init (ARGS: the platform, the image and what comes before the app's
/// command); then `docker stop`, which must reach the app: asserts exit 143, where a SIGTERM
/// that never got there would leave Docker's SIGKILL, 60 s later, and 137.
pub fn assert_docker_stop_reaches_the_app(label: &str, args: &[&str]) {
    let mount = format!("{}:/helper:ro", crate::bins::helper());
    let mut run = vec!["-v", &mount];
    run.extend_from_slice(args);
    run.extend_from_slice(&["/helper", "pid", "then", "sleep", "forever"]);
    let container = Container::run(label, &run);
    crate::wait::until("the helper to start", || {
        container.logs().contains("pid ").then_some(())
    });
    docker_ok(&["stop", "--time", "60", &container.name]);
    assert_eq!(container.wait(), 143, "{args:?}: {}", container.logs());
}

/// Runs the Compose demo `examples/compose/<name>/demo.sh` to its end, as `make demo` runs it,
/// once `images` exist, docker-compose is installed and the `binaries` it bind-mounts from
/// target/ are built; `None` when the test skips (it says why). The demo checks each step itself
/// and cleans up after itself, even when it fails; `guard` only stops a hang.
pub fn compose_demo(
    test: &str,
    name: &str,
    images: &[&str],
    binaries: &[&str],
    guard: Duration,
) -> Option<Finished> {
    compose_demo_with(test, name, images, binaries, &[], guard)
}

/// As [`compose_demo`], with these variables in the demo's environment (a project name of the
/// test's own, say).
pub fn compose_demo_with(
    test: &str,
    name: &str,
    images: &[&str],
    binaries: &[&str],
    env: &[(&str, &str)],
    guard: Duration,
) -> Option<Finished> {
    if !images.iter().all(|image| available(test, image)) {
        return None;
    }
    let compose = try_run(command("docker-compose").arg("version"));
    if !compose.is_ok_and(|done| done.succeeded()) {
        crate::skip(test, "docker-compose (v1.29 or later) is not installed");
        return None;
    }
    for binary in binaries {
        crate::bins::path(binary);
    }
    Some(run_with_guard(
        command(compose_dir(name).join("demo.sh")).envs(env.iter().copied()),
        guard,
    ))
}

/// `examples/compose/<name>/`.
pub fn compose_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../examples/compose/{name}"))
}

/// A Compose project of the test's own, taken down with its volumes when the test ends, however
/// it ends: a demo cleans up after itself, but not when the hang guard has killed it.
pub struct ComposeProject {
    pub name: String,
    file: PathBuf,
    /// Variables the file needs even to be taken down (`${VAR:?}`), and their stand-in values.
    env: Vec<(String, String)>,
}

impl ComposeProject {
    /// The project `<label>-<pid>` of `examples/compose/<example>/docker-compose.yml`; `env`
    /// gives the variables the file insists on.
    pub fn new(label: &str, example: &str, env: &[(&str, &str)]) -> ComposeProject {
        ComposeProject {
            name: format!("{label}-{}", std::process::id()),
            file: compose_dir(example).join("docker-compose.yml"),
            env: env
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        }
    }
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        let mut down = command("docker-compose");
        down.args(["--ansi", "never", "-p", &self.name, "-f"])
            .arg(&self.file)
            .args(["down", "-v", "--timeout", "1", "--remove-orphans"])
            .envs(self.env.iter().map(|(key, value)| (key, value)));
        let _ = try_run_with_guard(&mut down, DOCKER_GUARD);
    }
}
