//! podkit-ambassador's Compose example run for real, as `make demo` runs it: app -> client-mode
//! ambassador -> mTLS across a Docker network -> server-mode ambassador -> app, in two "pods"
//! from the real images, with certificates made by openssl.

use std::time::Duration;

use podkit_tests::docker;

/// The demo builds nothing but starts two pods, rotates a certificate and drains: a few minutes
/// at the most. This only stops a hang.
const DEMO_GUARD: Duration = Duration::from_secs(900);

const IMAGES: [&str; 2] = ["podkit/ambassador:latest", "podkit/init:latest"];

#[test]
fn the_compose_chain_carries_mtls_refuses_a_wrong_identity_reloads_and_drains() {
    let test = "the_compose_chain_carries_mtls_refuses_a_wrong_identity_reloads_and_drains";
    // The pods bind-mount these, from the repository's target/ directory.
    let Some(done) = docker::compose_demo(
        test,
        "ambassador",
        &IMAGES,
        &["testhelper", "probe"],
        DEMO_GUARD,
    ) else {
        return;
    };
    let stdout = &done.stdout;
    assert!(
        done.succeeded(),
        "the demo failed:\n{stdout}{}",
        done.stderr
    );
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
