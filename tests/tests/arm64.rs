//! The arm64 builds of every tool, run here under qemu-user (binfmt_misc), doing real work: each
//! tool's own build where `make` made one (all six for `make build`), else the arm64 toolbox run
//! under the tool's name, the same code (`make test` builds podkit-init and the toolbox for arm64:
//! [`arm64::tool`]). Each test does what a user of that tool on an arm64 node would do first,
//! against real servers and processes of this machine; the amd64 tests of each tool remain the
//! proof of its behaviour, these show that the cross-compiled code (its C, its assembly, its
//! system calls) works.

use std::net::UdpSocket;

use podkit_tests::ambassador::{client_args, metered, server_args, TlsPki};
use podkit_tests::arm64::{self, EM_AARCH64};
use podkit_tests::bins::{self, TOOLS};
use podkit_tests::daemon::Daemon;
use podkit_tests::git::{clone_of, GitRepo, Root};
use podkit_tests::pidns::{self, Namespace};
use podkit_tests::run::{command, run};
use podkit_tests::servers::{parse_request, HttpServer, Scratch};
use podkit_tests::wait;

#[test]
fn every_tool_is_built_for_arm64_and_prints_its_version_and_help_under_qemu() {
    if !arm64::runs_here("every_tool_is_built_for_arm64_and_prints_its_version_and_help_under_qemu")
    {
        return;
    }
    for tool in TOOLS {
        let path = arm64::tool(tool);
        assert_eq!(arm64::elf_machine(&path), EM_AARCH64, "{}", path.display());
        let version = run(command(&path).arg("--version"));
        assert_eq!(
            version.stdout_of_success().trim(),
            format!("podkit-{tool} {}", env!("CARGO_PKG_VERSION")),
            "{version:?}"
        );
        let help = run(command(&path).arg("--help"));
        assert!(
            help.stdout_of_success()
                .contains(&format!("Usage: podkit-{tool} ")),
            "{help:?}"
        );
    }
}

#[test]
fn arm64_podkit_init_as_pid1_forwards_sigterm_to_its_child_and_exits_143() {
    let test = "arm64_podkit_init_as_pid1_forwards_sigterm_to_its_child_and_exits_143";
    if !arm64::runs_here(test) || !pidns::available(test) {
        return;
    }
    let (init, helper) = (arm64::tool("init"), bins::helper());
    let init = init.display().to_string();
    let mut ns = Namespace::start(&[&init, "--", &helper, "pid", "then", "sleep", "forever"]);
    ns.expect_line("pid", |l| l.starts_with("pid "));
    ns.signal(libc::SIGTERM);
    let finished = ns.finish();
    assert_eq!(finished.code(), 143, "{finished:?}");
}

#[test]
fn arm64_podkit_init_exits_with_its_childs_code() {
    if !arm64::runs_here("arm64_podkit_init_exits_with_its_childs_code") {
        return;
    }
    let done = run(command(arm64::tool("init")).args(["--", "sh", "-c", "echo child; exit 7"]));
    assert_eq!(done.code, Some(7), "{done:?}");
    assert_eq!(done.stdout, "child\n", "{done:?}");
}

#[test]
fn arm64_podkit_probe_http_tells_a_healthy_server_from_an_unhealthy_one() {
    if !arm64::runs_here("arm64_podkit_probe_http_tells_a_healthy_server_from_an_unhealthy_one") {
        return;
    }
    let server = HttpServer::local();
    for (status, code) in [(200, 0), (503, 1)] {
        let url = server.url(&format!("/status/{status}"));
        let done = run(command(arm64::tool("probe")).args(["http", &url]));
        assert_eq!(done.code, Some(code), "{url}: {done:?}");
    }
}

#[test]
fn arm64_ambassadors_carry_an_arm64_probe_over_mtls_to_the_app() {
    if !arm64::runs_here("arm64_ambassadors_carry_an_arm64_probe_over_mtls_to_the_app") {
        return;
    }
    let pki = TlsPki::generate();
    let mut app = HttpServer::local();
    let (ca, (server_cert, server_key), (client_cert, client_key)) =
        (pki.file("ca.crt"), pki.pair("server"), pki.pair("client"));
    // ring's assembly on both sides of the handshake: ECDSA P-256, AES-GCM or ChaCha20.
    let server = metered(&server_args(
        &server_cert,
        &server_key,
        &app.address,
        &["--cacert", &ca, "--allow-cn", "client"],
    ))
    .binary(arm64::tool("ambassador"))
    .start();
    let target = format!("localhost:{}", server.port());
    let client = metered(&client_args(
        &target,
        &ca,
        &["--cert", &client_cert, "--key", &client_key],
    ))
    .binary(arm64::tool("ambassador"))
    .start();

    let url = format!("http://127.0.0.1:{}/echo", client.port());
    let done = run(command(arm64::tool("probe")).args(["http", &url]));
    assert_eq!(done.code, Some(0), "{done:?}");
    let request = parse_request(&app.next_request());
    assert_eq!(request["path"], "/echo", "{request}");
    assert_eq!(
        server.metric("podkit_ambassador_connections_accepted_total"),
        1.0
    );
}

#[test]
fn arm64_podkit_metrics_turns_statsd_into_series() {
    if !arm64::runs_here("arm64_podkit_metrics_turns_statsd_into_series") {
        return;
    }
    let metrics = Daemon::tool("metrics")
        .binary(arm64::tool("metrics"))
        .args(["--statsd-udp", "127.0.0.1:0"])
        .metered()
        .start();
    let udp = metrics
        .ready_line()
        .split_whitespace()
        .find_map(|field| field.strip_prefix("udp="))
        .unwrap_or_else(|| panic!("udp= in {:?}", metrics.ready_line()))
        .to_owned();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    socket
        .send_to(b"arm64.hits:2|c\narm64.hits:3|c\narm64.temp:21|g", &udp)
        .expect("send StatsD");
    let series = wait::until("the StatsD series to show", || {
        let series = metrics.series_starting("arm64_");
        (series.len() == 2).then_some(series)
    });
    assert_eq!(
        series,
        ["arm64_hits 5", "arm64_temp 21"],
        "{}",
        metrics.metrics()
    );
}

#[test]
fn arm64_podkit_reload_calls_the_webhook_when_the_watched_file_changes() {
    if !arm64::runs_here("arm64_podkit_reload_calls_the_webhook_when_the_watched_file_changes") {
        return;
    }
    let dir = Scratch::new("arm64-reload");
    let config = dir.join("app.conf");
    std::fs::write(&config, "one\n").unwrap();
    let mut webhook = HttpServer::local();
    let url = webhook.url("/status/200");
    let reload = Daemon::tool("reload")
        .binary(arm64::tool("reload"))
        .args(["--watch", &dir.file("app.conf"), "--webhook", &url])
        .args(["--debounce", "50ms"])
        .ready_when("watching")
        .start();

    std::fs::write(&config, "two\n").unwrap();
    let request = parse_request(&webhook.next_request());
    assert_eq!(request["method"], "POST", "{request}");
    assert_eq!(request["path"], "/status/200", "{request}");
    reload.wait_for_log("reloaded");
}

#[test]
fn arm64_podkit_git_one_time_publishes_what_git_clone_checks_out() {
    let test = "arm64_podkit_git_one_time_publishes_what_git_clone_checks_out";
    if !arm64::runs_here(test) {
        return;
    }
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    repo.write("index.html", "<h1>arm64</h1>\n");
    repo.write("docs/page.txt", "deep\n");
    let sha = repo.commit("site");
    let url = format!("file://{}", repo.bare_path().display());
    let root = Root::in_repo(&repo, "root");

    let done = run(command(arm64::tool("git")).args([
        "--one-time",
        "--repo",
        &url,
        "--root",
        &root.arg(),
    ]));
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(root.published(), Some(sha));
    let expected = clone_of(&repo, &url, "HEAD", "clone", |_| {});
    assert_eq!(root.tree(), expected.tree);
}
