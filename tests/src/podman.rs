//! The examples' Kubernetes manifests run for real with Debian's podman 4.3, as `podman kube
//! play` runs them, and checked as a user would check them.
//!
//! - [`Podman`] is an engine of the test's own: rootful podman with its storage, run directory,
//!   locks, networks and `containers.conf` in a scratch directory (not /var/lib/containers, so
//!   tests run side by side; two caches excepted, below), reset and removed when the test ends.
//! - Nothing is pulled. podkit's images come from the Docker engine (`docker save | podman
//!   load`); the other images a manifest names are stand-ins built from Debian's packages and
//!   podkit's binaries (`images.rs` lists them); the pods' pause (infra) container is podkit's
//!   own, `podkit-init --pause`.
//! - [`Overlay`] rewrites a manifest into what podman 4.3 can play, and plays the part of the
//!   cluster around it (the kubelet's volumes, cert-manager, Service names). Every rule, and the
//!   podman limit it works around, is listed in `overlay.rs`: the manifest is never edited.
//! - [`Played`] is what one `podman kube play` started: the test waits (bounded) for what a
//!   user would check, through HTTP inside the pod's network namespace, `podman exec`, the
//!   containers' logs and their state; on a failure every container's log is printed, and the
//!   pods are taken down with `podman kube down` when it is dropped.
//!
//! # What podman 4.3 does here, and what the engine's configuration changes
//!
//! - Containers do not start with podman's default `default_ulimits` (runc: "error setting rlimit
//!   type 7: operation not permitted"): podman asks for nofile=1048576 and nproc=4194304, above
//!   what this machine's root may set. Podman also lowers its own RLIMIT_NPROC to 32768 when it
//!   starts, and its children inherit that. `containers.conf` sets both to what this process's
//!   hard limits and podman's 32768 allow.
//! - A pod's infra container needs an image: podman 4.3 builds `localhost/podman-pause` from
//!   `catatonit`, which Debian's podman only recommends (not installed here: "finding pause
//!   binary: exec: catatonit: executable file not found"), and would otherwise pull one.
//!   `infra_image` is podkit's pause image instead (examples' `Dockerfile.pause`: podkit-init
//!   as the pause process, which reaps a shared PID namespace's orphans), built with `--pull
//!   never` from the loaded podkit/init.
//! - `lock_type = "file"`: podman's default shared-memory locks (`/dev/shm/libpod_lock`) are
//!   one set for every podman of the machine, and a new run directory makes podman "refresh"
//!   its state, which frees every lock of that set, those of another test's engine included.
//! - Two caches stay the machine's, whatever `--root` says: containers/image's blob-info cache
//!   (`/var/lib/containers/cache/blob-info-cache-v1.boltdb`, digests of layers, written by
//!   `podman load` and `podman build`; podman 4.3 has no setting for its place), and CNI's
//!   results (`/var/lib/cni/results`, a file per pod on a [`Network`], removed when the pod
//!   leaves it).
//! - Networks: a pod plays with `--network none` (its own loopback only) unless the test gives
//!   it a [`Network`] of its own: macvlan on a bridge of the test's, with no route, NAT or
//!   firewall rule on the host, written as a CNI configuration in the engine's
//!   `network_config_dir` (see [`Network`] for why not podman's own bridge networks).

mod certs;
mod engine;
mod images;
mod overlay;
mod played;
mod readme;
mod volumes;

pub use engine::{Network, Podman, PODMAN_GUARD};
pub use overlay::Overlay;
pub use played::{Played, Response};
pub use readme::ReadmeSecrets;

/// The path of an example manifest, relative to `examples/k8s/`: the one place the tests name
/// where the examples are.
pub fn manifest(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/k8s")
        .join(path)
}
