//! podkit-metrics' Compose example run for real, as `make demo` runs it: an app sending StatsD
//! over its pod's loopback and writing an access log to a shared volume, podkit-metrics from the
//! real image adapting both, and /metrics read from the host.

use std::time::Duration;

use podkit_tests::run::{command, run_with_guard, try_run};
use podkit_tests::{bins, docker};

/// The demo builds nothing but starts one pod, sends a few datagrams and stops it: a minute at
/// the most. This only stops a hang.
const DEMO_GUARD: Duration = Duration::from_secs(600);

const IMAGES: [&str; 2] = ["podkit/metrics:latest", "podkit/init:latest"];

/// Runs `examples/compose/metrics/demo.sh` to its end and returns whether it exited 0, and its
/// stdout and stderr. The demo checks each step itself and cleans up after itself, even when it
/// fails.
fn run_demo() -> (bool, String, String) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/compose/metrics/demo.sh"
    );
    let done = run_with_guard(&mut command(script), DEMO_GUARD);
    (done.succeeded(), done.stdout, done.stderr)
}

fn docker_compose_installed() -> bool {
    try_run(command("docker-compose").arg("version")).is_ok_and(|done| done.succeeded())
}

#[test]
fn the_compose_pod_turns_the_apps_statsd_and_log_into_metrics_and_stops_on_sigterm() {
    let test = "the_compose_pod_turns_the_apps_statsd_and_log_into_metrics_and_stops_on_sigterm";
    if !IMAGES.iter().all(|image| docker::available(test, image)) {
        return;
    }
    if !docker_compose_installed() {
        podkit_tests::skip(test, "docker-compose (v1.29 or later) is not installed");
        return;
    }
    // The app is the test helper, bind-mounted from the repository's target/ directory.
    bins::path("testhelper");

    let (succeeded, stdout, stderr) = run_demo();
    assert!(succeeded, "the demo failed:\n{stdout}{stderr}");
    // What a user sees: StatsD through the mapping file (a label from the name, a tag kept, a
    // timer in seconds, a dropped name), the access log through the rules, the bad datagram
    // counted, and the stop.
    for expected in [
        "shop_orders_total{payment=\"card\",region=\"eu\"} 2\n",
        "shop_orders_total{payment=\"paypal\",region=\"us\"} 1\n",
        "shop_checkout_seconds_count 3\n",
        "shop_cart_items 0\n",
        "shop_http_requests_total{code=\"5xx\",method=\"POST\"} 1\n",
        "shop_http_request_seconds_count 4\n",
        "podkit_metrics_statsd_parse_errors_total{reason=\"malformed_line\"} 1\n",
        "podkit_metrics_events_dropped_total{reason=\"rule\"} 1\n",
        "\"shop.debug.cache_miss:1|c\": dropped",
        "metrics exited 0",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("\nshop_debug"), "{stdout}");
    assert!(stdout.trim_end().ends_with("demo OK"), "{stdout}");
}
