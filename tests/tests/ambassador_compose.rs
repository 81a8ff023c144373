//! podkit-ambassador's Compose example run for real, as `make demo` runs it: app -> client-mode
//! ambassador -> mTLS across a Docker network -> server-mode ambassador -> app, in two "pods"
//! from the real images, with certificates made by openssl.

use std::time::Duration;

use podkit_tests::run::{command, run_with_guard, try_run};
use podkit_tests::{bins, docker};

/// The demo builds nothing but starts two pods, rotates a certificate and drains: a few minutes
/// at the most. This only stops a hang.
const DEMO_GUARD: Duration = Duration::from_secs(900);

const IMAGES: [&str; 2] = ["podkit/ambassador:latest", "podkit/init:latest"];

/// Runs `examples/compose/ambassador/demo.sh` to its end and returns whether it exited 0, and
/// its stdout and stderr. The demo checks each step itself and cleans up after itself, even when
/// it fails.
fn run_demo() -> (bool, String, String) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/compose/ambassador/demo.sh"
    );
    let done = run_with_guard(&mut command(script), DEMO_GUARD);
    (done.succeeded(), done.stdout, done.stderr)
}

fn docker_compose_installed() -> bool {
    try_run(command("docker-compose").arg("version")).is_ok_and(|done| done.succeeded())
}

#[test]
fn the_compose_chain_carries_mtls_refuses_a_wrong_identity_reloads_and_drains() {
    let test = "the_compose_chain_carries_mtls_refuses_a_wrong_identity_reloads_and_drains";
    if !IMAGES.iter().all(|image| docker::available(test, image)) {
        return;
    }
    if !docker_compose_installed() {
        podkit_tests::skip(test, "docker-compose (v1.29 or later) is not installed");
        return;
    }
    // The pods bind-mount these, from the repository's target/ directory.
    bins::path("testhelper");
    bins::path("probe");

    let (succeeded, stdout, stderr) = run_demo();
    assert!(succeeded, "the demo failed:\n{stdout}{stderr}");
    // What a user sees, step by step: the answer of the app in the other pod, the terminator
    // refusing the intruder's identity, the rotated certificate taken up, and the drain.
    for expected in [
        "/podkit-probe http http://127.0.0.1:8080/ -> exit 0",
        "healthy http://127.0.0.1:8080/ status=200 ",
        "podkit_ambassador_connections_accepted_total 1\n",
        "reason=not_allowed",
        "podkit_ambassador_connections_refused_total{reason=\"not_allowed\"} 1\n",
        "TLS material reloaded trigger=/etc/podkit/tls/tls.crt",
        "podkit_ambassador_connections_accepted_total 2\n",
        "shop-ambassador exited 0",
        "payments-ambassador exited 0",
        "drained: every connection ended",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    assert!(stdout.trim_end().ends_with("demo OK"), "{stdout}");
}
