//! podkit-metrics' command line: statsd_exporter's flags as aliases, `PODKIT_*` variables, one
//! error line and exit 2 for what is wrong, and `check` on a mapping file.

use podkit_tests::bins;
use podkit_tests::daemon::Daemon;
use podkit_tests::run::{command, run};
use podkit_tests::servers::Scratch;

#[test]
fn without_an_input_it_refuses_to_start_naming_the_flags() {
    Daemon::tool("metrics").assert_refused(&["--statsd-udp", "--statsd-tcp"]);
}

#[test]
fn a_bad_address_is_refused_naming_the_flag_or_its_variable() {
    Daemon::tool("metrics")
        .args(["--statsd-udp", "nowhere"])
        .assert_refused(&["--statsd-udp"]);
    Daemon::tool("metrics")
        .env("PODKIT_STATSD_TCP", ":99999")
        .assert_refused(&["PODKIT_STATSD_TCP"]);
    Daemon::tool("metrics")
        .args(["--statsd-udp", ":0", "--max-series", "0"])
        .assert_refused(&["--max-series"]);
}

/// Every variable of podkit-metrics whose empty value means the flag not given.
const EMPTY_IS_NOT_GIVEN: [&str; 13] = [
    "PODKIT_STATSD_UDP",
    "PODKIT_STATSD_TCP",
    "PODKIT_STATSD_UNIXGRAM",
    "PODKIT_MAPPING",
    "PODKIT_LOG",
    "PODKIT_LOG_RULES",
    "PODKIT_LOG_FROM_START",
    "PODKIT_MAX_SERIES",
    "PODKIT_JSON",
    "PODKIT_JSON_RULES",
    "PODKIT_JSON_TIMEOUT",
    "PODKIT_JSON_INTERVAL",
    "PODKIT_LINE",
];

#[test]
fn an_empty_variable_is_the_flag_not_given() {
    let mut launch = Daemon::tool("metrics").args(["--statsd-tcp", "127.0.0.1:0"]);
    for variable in EMPTY_IS_NOT_GIVEN {
        launch = launch.env(variable, "");
    }
    let daemon = launch.metered().start();
    assert!(
        daemon.ready_line().contains("udp=off")
            && daemon.ready_line().contains("unixgram=off")
            && daemon.ready_line().contains("logs=0"),
        "{}",
        daemon.ready_line()
    );
    // No mapping file: the mapping count is 0.
    assert_eq!(daemon.metric("podkit_metrics_mappings"), 0.0);
    daemon.stop().assert_success();

    // Each alone, too: none is refused, and none counts as an input.
    for variable in EMPTY_IS_NOT_GIVEN {
        Daemon::tool("metrics")
            .env(variable, "")
            .assert_refused(&["nothing to read"]);
    }
}

#[test]
fn statsd_exporters_empty_defaults_are_accepted_on_the_command_line() {
    let daemon = Daemon::tool("metrics")
        .args([
            "--statsd.listen-udp=",
            "--statsd.listen-unixgram=",
            "--statsd.mapping-config=",
            "--statsd.listen-tcp=127.0.0.1:0",
        ])
        .metered()
        .start();
    assert!(
        daemon.ready_line().contains("udp=off") && daemon.ready_line().contains("unixgram=off"),
        "{}",
        daemon.ready_line()
    );
    daemon.stop().assert_success();
}

#[test]
fn a_taken_port_is_refused_naming_the_flag() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    Daemon::tool("metrics")
        .args(["--statsd-udp", &addr, "--metrics-addr", "127.0.0.1:0"])
        .assert_refused(&["--statsd-udp", &addr]);
}

#[test]
fn a_bad_mapping_file_is_refused_at_start_naming_the_mapping() {
    let scratch = Scratch::new("metrics-bad-mapping");
    let mapping = scratch.file("mapping.yml");
    std::fs::write(
        &mapping,
        "mappings:\n- match: a.*\n  name: ok\n- match: b.*\n  name: \"bad name\"\n",
    )
    .expect("write");
    Daemon::tool("metrics")
        .args(["--statsd-udp", "127.0.0.1:0", "--mapping", &mapping])
        .assert_refused(&["--mapping", &mapping, "mapping 2", "b.*"]);
}

#[test]
fn statsd_exporters_flags_are_accepted_as_aliases() {
    let daemon = Daemon::tool("metrics")
        .args([
            "--statsd.listen-udp=127.0.0.1:0",
            "--statsd.listen-tcp=127.0.0.1:0",
            "--web.listen-address=127.0.0.1:0",
        ])
        .start();
    assert!(
        daemon.ready_line().contains("udp=127.0.0.1:"),
        "{}",
        daemon.ready_line()
    );
    assert!(
        daemon.ready_line().contains("tcp=127.0.0.1:"),
        "{}",
        daemon.ready_line()
    );
    daemon.stop().assert_success();
}

#[test]
fn check_shows_what_each_line_becomes() {
    let scratch = Scratch::new("metrics-check");
    let mapping = scratch.file("mapping.yml");
    std::fs::write(
        &mapping,
        "mappings:\n- match: api.*.requests\n  name: api_requests_total\n  labels:\n    endpoint: \"$1\"\n- match: debug.*\n  action: drop\n  name: x\n",
    )
    .expect("write");

    let shown = run(command(bins::path("metrics")).args([
        "check",
        "--mapping",
        &mapping,
        "--line",
        "api.users.requests:3|c|#code:200",
        "--line",
        "debug.x:1|c",
        "--line",
        "other.name:2|ms",
        "--line",
        "broken",
    ]));

    assert_eq!(shown.code, Some(0), "{shown:?}");
    let out = shown.stdout;
    assert!(out.starts_with("ok: 2 mappings\n"), "{out}");
    assert!(
        out.contains("\"api.users.requests:3|c|#code:200\": api_requests_total{code=\"200\",endpoint=\"users\"} counter += 3 (mapping \"api.*.requests\")"),
        "{out}"
    );
    assert!(out.contains("\"debug.x:1|c\": dropped: rule"), "{out}");
    assert!(out.contains("\"other.name:2|ms\": other_name{} summary observes 0.002 x1 (no mapping, name escaped)"), "{out}");
    assert!(out.contains("\"broken\": skipped: malformed_line"), "{out}");
}

#[test]
fn check_refuses_a_bad_file_with_one_line_and_exit_2() {
    let scratch = Scratch::new("metrics-check-bad");
    let mapping = scratch.file("mapping.yml");
    std::fs::write(
        &mapping,
        "mappings:\n- match: \"(\"\n  match_type: regex\n  name: x\n",
    )
    .expect("write");
    let shown = run(command(bins::path("metrics")).args(["check", "--mapping", &mapping]));
    assert_eq!(shown.code, Some(2), "{shown:?}");
    assert_eq!(shown.stdout, "");
    assert_eq!(shown.stderr.lines().count(), 1, "{shown:?}");
    assert!(
        shown.stderr.starts_with("podkit-metrics: error: --mapping"),
        "{shown:?}"
    );
    assert!(shown.stderr.contains("invalid regex"), "{shown:?}");
}
