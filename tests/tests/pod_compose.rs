//! The podkit pod, run for real as `make demo` runs it (examples/compose/pod/demo.sh): all six
//! tools from the real images in one Compose "pod" sharing its network and process namespaces,
//! and a second pod as its mTLS client. The demo checks each of its seven steps itself; this test
//! runs it under a project name of its own, looks at what it printed, and takes the project down
//! whatever happens.

use std::time::Duration;

use podkit_tests::docker::{self, ComposeProject};
use podkit_tests::servers::Scratch;

/// The demo builds nothing: it starts two pods, waits for their health checks, makes a few
/// requests, one ConfigMap update and one push, then stops them, in about half a minute. This
/// only stops a hang.
const DEMO_GUARD: Duration = Duration::from_secs(600);

const IMAGES: [&str; 5] = [
    "podkit/init:latest",
    "podkit/ambassador:latest",
    "podkit/metrics:latest",
    "podkit/reload:latest",
    "podkit/git:latest",
];

#[test]
fn the_compose_pod_runs_every_pattern_in_pod_order_and_stops_gracefully() {
    let test = "the_compose_pod_runs_every_pattern_in_pod_order_and_stops_gracefully";
    // Its own project, so that a `make demo` or another run beside it is left alone; taken down
    // on the way out even if the guard had to kill the demo before its own clean-up. The file
    // insists on PODKIT_POD_DIR, which `down` does not use.
    // The demo's files (the repositories, the certificates, the ConfigMap) go under a directory
    // the test removes, should the demo be killed before it removes them itself. Dropped after
    // the project, which mounts them.
    let scratch = Scratch::new("pod-compose");
    let project = ComposeProject::new(
        "podkit-pod-test",
        "pod",
        &[("PODKIT_POD_DIR", "/nonexistent")],
    );
    // The app is the test helper, and every health check podkit-probe, bind-mounted from the
    // repository's target/ directory.
    let Some(done) = docker::compose_demo_with(
        test,
        "pod",
        &IMAGES,
        &["testhelper", "probe"],
        &[
            ("PODKIT_DEMO_PROJECT", &project.name),
            ("TMPDIR", &scratch.path.display().to_string()),
        ],
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
    // What a user sees, step by step, in this order.
    let steps = [
        // Up: every health check passed, the init container done first.
        "site-clone exited 0",
        // 1. The init container published the first commit.
        "previous=none",
        // 2. The app serves it, ready by podkit-probe.
        "listening 127.0.0.1:8080",
        "exit 0 healthy http://127.0.0.1:8080/index.html status=200",
        // 3. Through both ambassadors, from the shop pod; from the host; refused without a
        //    client certificate.
        "healthy http://127.0.0.1:8080/index.html status=200",
        "<h1>Hello from the first commit</h1>",
        "https://site:8443/missing.html -> 404",
        "podkit_ambassador_connections_refused_total{reason=\"no_client_certificate\"} 1\n",
        // 4. The app's StatsD and log, as metrics.
        "site_http_requests_total{code=\"200\",method=\"GET\"} 2\n",
        "site_request_seconds_count{code=\"200\",method=\"GET\"} 2\n",
        "site_response_bytes_total{code=\"200\",method=\"GET\"} 74\n",
        // 5. The ConfigMap updated, the app signalled and reloaded.
        "reloaded action=signal",
        "cause=SIGHUP",
        "greeting: bonjour",
        "site_config_loads_total{cause=\"SIGHUP\"} 1\n",
        // 6. The pushed commit published and served.
        "<h1>Hello from the second commit</h1>",
        "podkit_git_syncs_total{result=\"published\"} 1\n",
        // 7. Every container stopped by its SIGTERM with exit 0.
        "7. docker-compose stop",
    ];
    let mut from = 0;
    for expected in steps {
        let at = stdout[from..]
            .find(expected)
            .unwrap_or_else(|| panic!("no {expected:?} after byte {from} of:\n{stdout}"));
        from += at + expected.len();
    }
    let stopped = &stdout[from..];
    for service in [
        "shop-ambassador",
        "shop",
        "site-sync",
        "site-reload",
        "site-metrics",
        "site-tls",
        "site-web",
        "site-clone",
        "site",
    ] {
        let line = stopped
            .lines()
            .find(|line| line.split_whitespace().next() == Some(service))
            .unwrap_or_else(|| panic!("no stop line for {service} in:\n{stopped}"));
        assert!(line.contains(" exit 0 "), "{line}");
    }
    assert!(
        stopped.contains("drained: every connection ended"),
        "{stopped}"
    );
    assert!(stopped.contains("stopping cause=SIGTERM"), "{stopped}");
    assert!(stdout.trim_end().ends_with("demo OK"), "{stdout}");
}
