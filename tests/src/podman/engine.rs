//! One podman engine per test: its scratch directory, its `containers.conf`, the podman command
//! line that uses both, its networks, and its removal.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::run::{command, installed, run_with_guard, Finished};
use crate::servers::Scratch;

/// How long one podman command may take: a `kube play` waits for every init container to
/// finish (a clone), an image build copies Debian's 50 MB prometheus. Only a hang takes that
/// long.
pub const PODMAN_GUARD: Duration = Duration::from_secs(180);

/// The highest RLIMIT_NPROC podman 4.3 leaves itself: it sets its own to 32768 at start-up
/// (strace: `setrlimit(RLIMIT_NPROC, {32768, 32768})`), and runc, its child, cannot raise it
/// for a container.
const PODMAN_NPROC: u64 = 32_768;

/// podman's own default for RLIMIT_NOFILE, the most a container needs.
const MAX_NOFILE: u64 = 1_048_576;

/// podkit's pause image, as the examples show how to build it (relative to examples/k8s/).
const PAUSE_DOCKERFILE: &str = "entrypoint/Dockerfile.pause";

/// A rootful podman of the test's own: storage (`--root`), run directory (`--runroot`),
/// `tmp_dir`, file locks, networks and events all in one scratch directory, so that nothing
/// is shared with another test or with the machine's podman. Dropping it runs `podman system
/// reset` (every pod, container, image and network of this engine) and removes the directory.
pub struct Podman {
    scratch: Scratch,
    /// The images already in this engine's storage (their local names).
    pub(super) images: RefCell<BTreeSet<String>>,
    /// The cluster CA of the cert-manager stand-in, made on first use.
    pub(super) ca: RefCell<Option<super::certs::ClusterCa>>,
    networks: RefCell<Vec<String>>,
    dirs: AtomicUsize,
}

/// A network of the test's own, joining the pods played on it and nothing else: macvlan
/// interfaces (CNI's `macvlan` plugin, bridge mode) on an empty Linux bridge the engine makes
/// as their parent, with addresses from CNI's `host-local` and no route, NAT or firewall rule
/// on the host. The parent's name is unique to the test, so two tests' networks never meet,
/// whatever their subnets.
///
/// Why not the CNI `bridge` plugin, podman's own: Docker sets the host's FORWARD policy to DROP,
/// and with `br_netfilter` (bridge-nf-call-iptables = 1, loaded by Docker) that drops the
/// traffic between two pods of a bridge too (seen: "timed out connecting" from one pod to
/// the other), unless a `firewall` plugin adds rules to the host's iptables. Macvlan in bridge
/// mode forwards between its interfaces inside the driver, which netfilter's bridge hooks never
/// see. (The parent is a bridge because this kernel has no `dummy` driver.)
#[derive(Clone, Debug)]
pub struct Network {
    pub name: String,
    /// The first three octets of its /24: a pod's address is `{prefix}.N`.
    prefix: String,
}

impl Network {
    /// The address `{prefix}.{host}` of its /24, to give a pod with [`Podman::play_on`].
    pub fn ip(&self, host: u8) -> String {
        format!("{}.{host}", self.prefix)
    }
}

impl Podman {
    /// A new engine, once podman and a Docker engine are there (the podkit images come from
    /// it) and the test runs as root (rootful podman); `None`, with the skip reported, when not.
    pub fn new(test: &str) -> Option<Podman> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            crate::skip(test, "rootful podman needs root");
            return None;
        }
        if !installed(test, "podman", &["--version"], "podman")
            || !installed(test, "curl", &["--version"], "curl")
            || !crate::docker::available(test, "podkit/init:latest")
        {
            return None;
        }
        let scratch = Scratch::new("podman");
        let conf = containers_conf(&scratch.path);
        std::fs::write(scratch.join("containers.conf"), conf).expect("write containers.conf");
        std::fs::create_dir(scratch.join("net")).expect("create the network directory");
        let podman = Podman {
            scratch,
            images: RefCell::new(BTreeSet::new()),
            ca: RefCell::new(None),
            networks: RefCell::new(Vec::new()),
            dirs: AtomicUsize::new(0),
        };
        podman.build_pause();
        Some(podman)
    }

    /// `podman` with this engine's storage and configuration; the caller adds the rest.
    pub fn command(&self) -> Command {
        let mut podman = command("podman");
        podman
            .env("CONTAINERS_CONF", self.scratch.join("containers.conf"))
            .arg("--root")
            .arg(self.scratch.join("root"))
            .arg("--runroot")
            .arg(self.scratch.join("run"));
        podman
    }

    /// Runs `podman ARGS` to its end (under [`PODMAN_GUARD`]).
    pub fn run(&self, args: &[&str]) -> Finished {
        run_with_guard(self.command().args(args), PODMAN_GUARD)
    }

    /// Runs `podman ARGS`, insists on success and returns its trimmed stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let done = self.run(args);
        assert!(done.succeeded(), "podman {args:?} failed: {done:#?}");
        done.stdout.trim().to_owned()
    }

    /// A new empty directory of the engine's scratch, `LABEL-N`, for volumes and build contexts.
    pub fn dir(&self, label: &str) -> PathBuf {
        let n = self.dirs.fetch_add(1, Ordering::Relaxed);
        let dir = self.scratch.join(&format!("{label}-{n}"));
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        dir
    }

    /// A network of the test's own (see [`Network`]), removed with the engine.
    pub fn network(&self) -> Network {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        // At most 15 bytes, the kernel's limit for an interface name.
        let name = format!(
            "pkt{}n{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        assert!(name.len() <= 15, "{name}: too long for an interface name");
        self.networks.borrow_mut().push(name.clone());
        for args in [
            &["link", "add", &name, "type", "bridge"][..],
            &["link", "set", &name, "up"],
        ] {
            let done = crate::run::run(command("ip").args(args));
            assert!(done.succeeded(), "ip {args:?}: {done:#?}");
        }
        let prefix = "10.89.0".to_owned();
        let config = serde_json::json!({
            "cniVersion": "0.4.0",
            "name": name,
            "plugins": [{
                "type": "macvlan",
                "master": name,
                "mode": "bridge",
                "ipam": {
                    "type": "host-local",
                    // host-local's leases, in the scratch rather than /var/lib/cni.
                    "dataDir": self.scratch.join("ipam"),
                    "ranges": [[{ "subnet": format!("{prefix}.0/24") }]],
                },
                "capabilities": { "ips": true },
            }],
        });
        let file = self.scratch.join(&format!("net/{name}.conflist"));
        std::fs::write(&file, config.to_string()).expect("write the network's CNI configuration");
        Network { name, prefix }
    }

    /// `localhost/podkit/pause:latest`, the pods' infra image (`infra_image` in containers.conf):
    /// the examples' Dockerfile.pause over the loaded podkit/init.
    fn build_pause(&self) {
        self.image("podkit/init:latest");
        let dockerfile = super::manifest(PAUSE_DOCKERFILE);
        let context = dockerfile.parent().expect("a directory").to_owned();
        self.ok(&[
            "build",
            "--quiet",
            "--pull=never",
            "--tag",
            super::images::PAUSE,
            "--file",
            &dockerfile.display().to_string(),
            &context.display().to_string(),
        ]);
    }

    /// Every container (of the pod `pod`, or of the engine) with its state and its log: what
    /// a failed test shows.
    pub(super) fn containers(&self, pod: Option<&str>) -> String {
        let mut listing = vec!["ps", "--all", "--format", "{{.Names}}\t{{.Status}}"];
        let filter = pod.map(|pod| format!("pod={pod}"));
        if let Some(filter) = &filter {
            listing.extend(["--filter", filter]);
        }
        let mut report = String::new();
        for line in self.run(&listing).stdout.lines() {
            let name = line.split('\t').next().unwrap_or_default();
            let log = self.run(&["logs", name]);
            report.push_str(&format!("--- {line}\n{}{}", log.stdout, log.stderr));
        }
        report
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // What a play that never returned left (a played pod's containers are gone by now:
            // shown, then taken down, when it was dropped).
            let left = self.containers(None);
            if !left.is_empty() {
                eprintln!("containers of the engine:\n{left}");
            }
        }
        // Every pod and container (stopped at once), image, volume and network of this engine,
        // and its storage and run directories, unmounted and removed.
        let reset = self.run(&["system", "reset", "--force"]);
        if !reset.succeeded() {
            eprintln!("podman system reset failed: {reset:#?}");
        }
        for network in self.networks.borrow().iter() {
            // The parent of the network's interfaces, which podman does not know of.
            let done = crate::run::run(command("ip").args(["link", "delete", network]));
            if !done.succeeded() {
                eprintln!("ip link delete {network}: {done:#?}");
            }
        }
        // Nothing should be mounted there any more; if something is, it is unmounted before
        // the scratch directory is removed, so that the removal never goes through a mount.
        let mut leftover = mounts_under(&self.scratch.path);
        leftover.sort_by_key(|point| std::cmp::Reverse(point.len()));
        for point in &leftover {
            let _ = crate::run::try_run(command("umount").args(["--lazy", point]));
        }
        if !leftover.is_empty() && !std::thread::panicking() {
            panic!("podman system reset left mounts under the engine's scratch: {leftover:?}");
        }
    }
}

/// The engine's `containers.conf`: see the module documentation of [`super`] for each setting.
fn containers_conf(scratch: &Path) -> String {
    let nofile = hard_limit(libc::RLIMIT_NOFILE).min(MAX_NOFILE);
    let nproc = hard_limit(libc::RLIMIT_NPROC).min(PODMAN_NPROC);
    let at = |name: &str| scratch.join(name).display().to_string();
    format!(
        "# Written by tests/src/podman/engine.rs for one test's podman.\n\
         [containers]\n\
         default_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n\
         [engine]\n\
         infra_image = \"{pause}\"\n\
         cgroup_manager = \"cgroupfs\"\n\
         lock_type = \"file\"\n\
         tmp_dir = \"{tmp}\"\n\
         events_logger = \"file\"\n\
         events_logfile_path = \"{events}\"\n\
         [network]\n\
         network_config_dir = \"{net}\"\n",
        pause = super::images::PAUSE,
        tmp = at("tmp"),
        events = at("events.log"),
        net = at("net"),
    )
}

/// getrlimit's resource type: glibc has one of its own, musl takes an int (`make build` builds
/// this crate for musl, `cargo test` for the host).
#[cfg(target_env = "gnu")]
type RlimitResource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type RlimitResource = libc::c_int;

/// This process's hard limit for `resource`: what runc, started by podman as root without
/// CAP_SYS_RESOURCE over it, may give a container.
fn hard_limit(resource: RlimitResource) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into `limit`, a valid rlimit.
    let got = unsafe { libc::getrlimit(resource, &mut limit) };
    assert_eq!(got, 0, "getrlimit: {}", std::io::Error::last_os_error());
    limit.rlim_max
}

/// The mount points under `dir`, from this process's mountinfo.
fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| point.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}
