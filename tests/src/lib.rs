//! The harness podkit's cross-binary tests share: where the built binaries are, how every program
//! a test starts is started ([`run`]), a long-running tool under test ([`daemon`]), PID
//! namespaces with a real process as PID 1, the process tree as the host's /proc shows it,
//! containers, real git repositories and servers ([`git`]), the examples' manifests
//! ([`manifests`]) and those manifests played by podman ([`podman`]).
//!
//! The tests run the static release binaries (`make build` puts them in
//! `target/x86_64-unknown-linux-musl/release`, or `PODKIT_BIN_DIR`, and the arm64 ones, run under
//! qemu-user, in `target/arm64/aarch64-unknown-linux-musl/release`: [`arm64`]), the same files the
//! images ship. Anything that signals runs inside a new PID namespace or a container, so a bug can never
//! signal a process of the machine running the tests.

pub mod ambassador;
pub mod arm64;
pub mod bins;
pub mod daemon;
pub mod docker;
pub mod git;
pub mod kubelet;
pub mod lines;
pub mod manifests;
pub mod pidns;
pub mod podman;
pub mod procs;
pub mod pty;
pub mod run;
pub mod servers;
pub mod tcp;
pub mod wait;

/// Reports why a test cannot run here. Under `PODKIT_REQUIRE_ALL=1`, which CI sets because its
/// machine has root and Docker, a skip is a failure: it would otherwise pass silently.
pub fn skip(test: &str, why: &str) {
    let required = std::env::var_os("PODKIT_REQUIRE_ALL").is_some_and(|v| v == "1");
    assert!(!required, "{test} cannot run: {why} (PODKIT_REQUIRE_ALL=1)");
    eprintln!("skipped {test}: {why}");
}
