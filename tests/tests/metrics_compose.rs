//! podkit-metrics' Compose example run for real, as `make demo` runs it: an app sending StatsD
//! over its pod's loopback and writing an access log to a shared volume, podkit-metrics from the
//! real image adapting both, and /metrics read from the host.

use std::time::Duration;

use podkit_tests::docker;

/// The demo builds nothing but starts one pod, sends a few datagrams and stops it: a minute at
/// the most. This only stops a hang.
const DEMO_GUARD: Duration = Duration::from_secs(600);

const IMAGES: [&str; 2] = ["podkit/metrics:latest", "podkit/init:latest"];

#[test]
fn the_compose_pod_turns_the_apps_statsd_and_log_into_metrics_and_stops_on_sigterm() {
    let test = "the_compose_pod_turns_the_apps_statsd_and_log_into_metrics_and_stops_on_sigterm";
    // The app is the test helper, bind-mounted from the repository's target/ directory.
    let Some(done) = docker::compose_demo(test, "metrics", &IMAGES, &["testhelper"], DEMO_GUARD)
    else {
        return;
    };
    let stdout = &done.stdout;
    assert!(
        done.succeeded(),
        "the demo failed:\n{stdout}{}",
        done.stderr
    );
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
