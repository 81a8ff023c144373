//! podkit-git's Compose example run for real, as `make demo` runs it: a site's repository made
//! with the host's git, cloned by podkit-git from the real image as an init container into a
//! volume, served over HTTP, and a commit pushed to it picked up by podkit-git as a sidecar.

use std::time::Duration;

use podkit_tests::docker;

/// The demo builds nothing but starts one pod, pushes one commit and waits for a 1 s period: a
/// minute at the most. This only stops a hang.
const DEMO_GUARD: Duration = Duration::from_secs(600);

const IMAGES: [&str; 2] = ["podkit/git:latest", "podkit/init:latest"];

#[test]
fn the_compose_pod_clones_before_serving_and_the_sidecar_publishes_a_pushed_commit() {
    let test = "the_compose_pod_clones_before_serving_and_the_sidecar_publishes_a_pushed_commit";
    // The web server is the test helper, bind-mounted from the repository's target/ directory.
    let Some(done) = docker::compose_demo(test, "git", &IMAGES, &["testhelper"], DEMO_GUARD) else {
        return;
    };
    let stdout = &done.stdout;
    assert!(
        done.succeeded(),
        "the demo failed:\n{stdout}{}",
        done.stderr
    );
    // What a user sees, step by step: the init container's publish and exit, the first page,
    // the pushed commit's page, the sidecar's publish over the first, its metrics and its stop.
    for expected in [
        "clone exited 0",
        "previous=none",
        "<h1>Hello from the first commit</h1>",
        "<h1>Hello from the second commit</h1>",
        "podkit_git_syncs_total{result=\"published\"} 1\n",
        "sync exited 0",
        "stopping cause=SIGTERM",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    let first = stdout.find("first commit</h1>").expect("the first page");
    let second = stdout.find("second commit</h1>").expect("the second page");
    assert!(first < second, "{stdout}");
    assert!(stdout.trim_end().ends_with("demo OK"), "{stdout}");
}
