//! What one `podman kube play` started, and what a user checks on it: a container running,
//! an answer over HTTP from inside the pod's network namespace, a command run in a container,
//! the logs; and the ConfigMap volumes, updated as the kubelet updates them.
//!
//! Every wait is bounded by the hang guard. When the test fails, every container of the
//! played pods is listed with its state and log; dropping it runs `podman kube down`.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::run::{command, run, Finished};
use crate::wait::{self, HANG_GUARD};

use super::overlay::{Overlay, Rewritten};
use super::volumes::KubeletVolume;
use super::{Network, Podman};

/// The pods one manifest made.
pub struct Played<'a> {
    podman: &'a Podman,
    /// The rewritten manifest podman played.
    file: PathBuf,
    pods: Vec<String>,
    volumes: Vec<KubeletVolume>,
    empty_dirs: BTreeMap<String, PathBuf>,
    /// The host pid of the pod's infra container, found on first use.
    infra: OnceCell<i32>,
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Podman {
    /// Plays `manifest` through `overlay`, each pod with only its loopback (`--network none`).
    pub fn play(&self, manifest: &Path, overlay: &Overlay) -> Played<'_> {
        self.play_with(manifest, overlay, &["--network", "none"])
    }

    /// Plays `manifest` through `overlay`, its pod on `network` at `ip`.
    pub fn play_on(
        &self,
        manifest: &Path,
        overlay: &Overlay,
        network: &Network,
        ip: &str,
    ) -> Played<'_> {
        self.play_with(manifest, overlay, &["--network", &network.name, "--ip", ip])
    }

    fn play_with(&self, manifest: &Path, overlay: &Overlay, network: &[&str]) -> Played<'_> {
        let Rewritten {
            yaml,
            volumes,
            empty_dirs,
            left_out,
        } = overlay.apply(self, manifest);
        let file_name = manifest.file_name().expect("a manifest's file name");
        let file = self.dir("play").join(file_name);
        std::fs::write(&file, &yaml).expect("write the rewritten manifest");
        if !left_out.is_empty() {
            eprintln!(
                "{}: left out of the play: {}",
                manifest.display(),
                left_out.join(", ")
            );
        }
        let mut args = vec!["kube", "play"];
        args.extend_from_slice(network);
        let shown = file.display().to_string();
        args.push(&shown);
        let before = self.pods();
        let done = self.run(&args);
        // The pods it made (the engine is the test's own: no one else makes any), known even
        // when it failed, for the diagnostics.
        let pods = self.pods().into_iter().filter(|pod| !before.contains(pod));
        let played = Played {
            podman: self,
            file,
            pods: pods.collect(),
            volumes,
            empty_dirs,
            infra: OnceCell::new(),
        };
        assert!(
            done.succeeded(),
            "podman kube play {}:\n{}{}\nthe rewritten manifest:\n{yaml}",
            manifest.display(),
            done.stdout,
            done.stderr
        );
        played
    }

    /// The names of the engine's pods.
    fn pods(&self) -> Vec<String> {
        let names = self.ok(&["pod", "ps", "--format", "{{.Name}}"]);
        names.lines().map(str::to_owned).collect()
    }
}

impl Played<'_> {
    /// The name of the pod, when the manifest made one.
    pub fn pod(&self) -> &str {
        assert_eq!(self.pods.len(), 1, "one pod expected: {:?}", self.pods);
        &self.pods[0]
    }

    /// podman's name for the container `name` of the pod.
    pub fn container(&self, name: &str) -> String {
        format!("{}-{name}", self.pod())
    }

    /// Waits until the container `name` runs; fails at once if it has exited.
    pub fn wait_running(&self, name: &str) {
        let container = self.container(name);
        wait::until(&format!("{container} to run"), || {
            let state = self.state(name);
            assert!(
                !matches!(state.as_str(), "exited" | "stopped"),
                "{container} is {state}"
            );
            (state == "running").then_some(())
        });
    }

    /// The state of the container `name` as podman says it (`running`, `exited`...).
    pub fn state(&self, name: &str) -> String {
        let container = self.container(name);
        self.podman
            .ok(&["inspect", "--format", "{{.State.Status}}", &container])
    }

    /// GET `url` from inside the pod's network namespace (`http://127.0.0.1:8080/`), as a
    /// client in the pod would; `None` when no answer came (nothing listens yet).
    pub fn get(&self, url: &str) -> Option<Response> {
        let done = self.curl(&["--write-out", "\n%{http_code}", url]);
        if !done.succeeded() {
            return None;
        }
        let (body, status) = done.stdout.rsplit_once('\n').expect("curl's status line");
        let status = status.parse().expect("an HTTP status");
        Some(Response {
            status,
            body: body.to_owned(),
        })
    }

    /// Runs `curl ARGS` (silent, errors shown, 5 s at most) from inside the pod's network
    /// namespace.
    pub fn curl(&self, args: &[&str]) -> Finished {
        let pid = self.infra_pid().to_string();
        run(command("nsenter")
            .args(["--target", &pid, "--net", "--"])
            .args(["curl", "--silent", "--show-error", "--max-time", "5"])
            .args(args))
    }

    /// Waits until GET `url` gets an answer, whatever it is (the server listens), and
    /// returns that first answer.
    pub fn first_answer(&self, url: &str, what: &str) -> Response {
        wait::until(&format!("{what} at {url}"), || self.get(url))
    }

    /// Waits until GET `url` answers 200 with a body `wanted` accepts, and returns the body.
    pub fn until_body(&self, url: &str, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        self.until_body_within(HANG_GUARD, url, what, wanted)
    }

    /// As [`until_body`](Played::until_body), for a wait that legitimately takes longer than the
    /// hang guard (a sidecar's period): `bound` only stops a hang.
    pub fn until_body_within(
        &self,
        bound: Duration,
        url: &str,
        what: &str,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let mut last = None;
        let found = wait::within(bound, || {
            last = self.get(url);
            let answer = last.as_ref()?;
            (answer.status == 200 && wanted(&answer.body)).then(|| answer.body.clone())
        });
        found.unwrap_or_else(|| panic!("hung waiting for {what} at {url}; last answer: {last:?}"))
    }

    /// Runs `ARGS` in the container `name` (`podman exec`), as its user.
    pub fn exec(&self, name: &str, args: &[&str]) -> Finished {
        let container = self.container(name);
        let mut exec = vec!["exec", container.as_str()];
        exec.extend_from_slice(args);
        self.podman.run(&exec)
    }

    /// The container's log, stdout and stderr.
    pub fn logs(&self, name: &str) -> String {
        let done = self.podman.run(&["logs", &self.container(name)]);
        format!("{}{}", done.stdout, done.stderr)
    }

    /// Waits until the container `name`'s log holds `wanted` (`kubectl logs -f`), and returns
    /// the log.
    pub fn until_log(&self, name: &str, wanted: &str) -> String {
        let mut last = String::new();
        let found = wait::within_guard(|| {
            last = self.logs(name);
            last.contains(wanted).then(|| last.clone())
        });
        found.unwrap_or_else(|| panic!("hung waiting for {wanted:?} in {name}'s log:\n{last}"))
    }

    /// The directory that stands for the emptyDir `volume` of the pod `pod` (the manifest's
    /// name for it: a Deployment's).
    pub fn empty_dir(&self, pod: &str, volume: &str) -> &Path {
        let key = format!("{pod}/{volume}");
        self.empty_dirs
            .get(&key)
            .unwrap_or_else(|| panic!("no emptyDir {key}"))
    }

    /// Updates every volume of the ConfigMap (or Secret) `name` to `keys`, as the kubelet does
    /// after an edit of the ConfigMap (`kubectl edit configmap NAME`).
    pub fn update_config_map(&mut self, name: &str, keys: &[(&str, &str)]) {
        let payload = keys
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.as_bytes().to_vec()))
            .collect();
        let mut found = false;
        for volume in self.volumes.iter_mut().filter(|v| v.source == name) {
            volume.update(&payload);
            found = true;
        }
        assert!(found, "no volume of ConfigMap {name}");
    }

    /// The host pid of the container `name`'s first process.
    pub fn pid(&self, name: &str) -> i32 {
        self.pid_of(&self.container(name))
    }

    /// The host pid of the pod's infra (pause) container, whose namespaces the pod shares: its
    /// network namespace always, its PID namespace with `shareProcessNamespace: true`.
    pub fn infra_pid(&self) -> i32 {
        *self.infra.get_or_init(|| {
            let infra = self.podman.ok(&[
                "pod",
                "inspect",
                "--format",
                "{{.InfraContainerID}}",
                self.pod(),
            ]);
            self.pid_of(&infra)
        })
    }

    fn pid_of(&self, container: &str) -> i32 {
        let pid = self
            .podman
            .ok(&["inspect", "--format", "{{.State.Pid}}", container]);
        pid.parse().expect("a pid")
    }
}

impl Drop for Played<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for pod in &self.pods {
                eprintln!("pod {pod}:\n{}", self.podman.containers(Some(pod)));
            }
        }
        let file = self.file.display().to_string();
        let down = self.podman.run(&["kube", "down", &file]);
        if !down.succeeded() && !std::thread::panicking() {
            panic!("podman kube down {file}: {down:#?}");
        }
    }
}
