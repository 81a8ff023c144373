//! Containers from the real images, for tests that need them.

use std::process::{Command, Output};

/// Whether a Docker engine answers and `image` exists; tests that need one say why they skip
/// (and fail under `PODKIT_REQUIRE_ALL=1`).
pub fn available(test: &str, image: &str) -> bool {
    let engine = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !engine {
        crate::skip(test, "no Docker engine answers (docker info failed)");
        return false;
    }
    let built = docker(&["image", "inspect", image]).status.success();
    assert!(built, "image {image} is missing: run `make images` first");
    true
}

/// Runs `docker ARGS` and returns its output.
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("the docker client runs")
}

/// Runs `docker ARGS`, insists on success and returns its trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let output = docker(args);
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
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

    /// Blocks until the container stops and returns its exit code.
    pub fn wait(&self) -> i32 {
        docker_ok(&["wait", &self.name])
            .parse()
            .expect("an exit code")
    }

    pub fn logs(&self) -> String {
        let output = docker(&["logs", &self.name]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.name]);
    }
}
