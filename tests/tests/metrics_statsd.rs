//! podkit-metrics as a statsd_exporter user sees it: StatsD sent by a real client (python3's
//! socket module) over real UDP and TCP, and what a scrape of `/metrics` then shows: the
//! series, their labels, the adapter's own counters of what it skipped. Each test waits for the
//! series it expects under the harness's hang guard; none sleeps.

use std::io::Write;
use std::net::TcpStream;

use podkit_tests::daemon::{Daemon, Launch};
use podkit_tests::run::{command, run_with_input};
use podkit_tests::servers::Scratch;
use podkit_tests::tcp::http_get;
use podkit_tests::wait;

/// podkit-metrics reading StatsD on free loopback ports, both transports, `/metrics` metered.
fn metrics(extra: &[&str]) -> Launch {
    Daemon::tool("metrics")
        .args(["--statsd-udp", "127.0.0.1:0", "--statsd-tcp", "127.0.0.1:0"])
        .args(extra)
        .metered()
}

/// The address of `input` (`udp` or `tcp`) from the ready line: `udp=127.0.0.1:PORT`.
fn input(daemon: &Daemon, input: &str) -> String {
    let field = format!("{input}=");
    daemon
        .ready_line()
        .split_whitespace()
        .find_map(|f| f.strip_prefix(&field))
        .unwrap_or_else(|| panic!("{field} in {:?}", daemon.ready_line()))
        .to_owned()
}

/// The value of `series` (its name and labels as exposed) now, if it is there.
fn value(daemon: &Daemon, series: &str) -> Option<f64> {
    daemon
        .metrics()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Waits (under the hang guard) until `series` exists with `expected`: unlike the harness's
/// [`Daemon::wait_for_metric`], a series that is not there yet is waited for, not a failure,
/// since StatsD series appear with their first event.
fn wait_for(daemon: &Daemon, series: &str, expected: f64) {
    wait::until(&format!("{series} to be {expected}"), || {
        (value(daemon, series) == Some(expected)).then_some(())
    });
}

/// Sends `payload` as one datagram with python3, a client the adapter did not write.
fn send_udp(daemon: &Daemon, payload: &[u8]) {
    let addr = input(daemon, "udp");
    let (host, port) = addr.rsplit_once(':').expect("HOST:PORT");
    let script = "import socket, sys\n\
                  s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
                  s.sendto(sys.stdin.buffer.read(), (sys.argv[1], int(sys.argv[2])))";
    let sent = run_with_input(command("python3").args(["-c", script, host, port]), payload);
    assert_eq!(sent.code, Some(0), "python3 sendto: {sent:?}");
}

/// Sends `payload` on one TCP connection and closes it.
fn send_tcp(daemon: &Daemon, payload: &[u8]) {
    let mut stream = TcpStream::connect(input(daemon, "tcp")).expect("connect to --statsd-tcp");
    stream.write_all(payload).expect("send");
}

#[test]
fn statsd_over_udp_becomes_series_with_escaped_names_and_tags_as_labels() {
    let daemon = metrics(&[]).start();

    send_udp(
        &daemon,
        b"web.hits:1|c\nweb.hits:2|c|#code:200\nqueue-depth:7|g\nqueue-depth:-2|g\n\
          users:alice|s\nusers:bob|s\nusers:alice|s\nreq,region=eu:250|ms|@0.5",
    );

    daemon.wait_for_count("podkit_metrics_statsd_lines_total", 8.0);
    wait_for(&daemon, "web_hits{code=\"200\"}", 2.0);
    assert_eq!(
        daemon.metric("web_hits{code=\"\"}"),
        1.0,
        "one name, two label sets"
    );
    assert_eq!(daemon.metric("queue_depth"), 5.0, "set, then moved by -2");
    assert_eq!(daemon.metric("users"), 2.0, "distinct members");
    assert_eq!(
        daemon.metric("req_count{region=\"eu\"}"),
        2.0,
        "@0.5: two observations"
    );
    assert_eq!(
        daemon.metric("req_sum{region=\"eu\"}"),
        0.5,
        "ms in seconds"
    );
    assert_eq!(
        daemon.metric("podkit_metrics_statsd_packets_total"),
        1.0,
        "one datagram"
    );
    assert_eq!(
        http_get(daemon.metrics_addr(), "/readyz"),
        (200, "ok\n".to_owned())
    );
    daemon.stop().assert_success();
}

#[test]
fn statsd_over_tcp_counts_every_line_the_last_one_without_a_newline() {
    let daemon = metrics(&[]).start();

    send_tcp(&daemon, b"jobs.done:3|c\r\njobs.done:4|c\njobs.failed:1|c");

    wait_for(&daemon, "jobs_failed", 1.0);
    assert_eq!(daemon.metric("jobs_done"), 7.0);
    assert_eq!(
        daemon.metric("podkit_metrics_statsd_tcp_connections_total"),
        1.0
    );
    daemon.stop().assert_success();
}

#[test]
fn a_mapping_file_from_statsd_exporters_readme_works_unchanged() {
    let scratch = Scratch::new("metrics-mapping");
    let mapping = scratch.join("mapping.yml");
    // The first example of statsd_exporter's README, with a drop and a histogram rule added.
    std::fs::write(
        &mapping,
        r#"mappings:
- match: "test.dispatcher.*.*.*"
  name: "dispatcher_events_total"
  labels:
    processor: "$1"
    action: "$2"
    outcome: "$3"
    job: "test_dispatcher"
- match: "*.signup.*.*"
  name: "signup_events_total"
  labels:
    provider: "$2"
    outcome: "$3"
    job: "${1}_server"
- match: "debug.*"
  action: drop
  name: "dropped"
- match: "api.latency"
  observer_type: histogram
  histogram_options:
    buckets: [0.1, 1]
  name: "api_latency_seconds"
  help: "API latency."
"#,
    )
    .expect("write the mapping");
    let file = mapping.to_str().expect("UTF-8 path");
    let daemon = metrics(&["--statsd.mapping-config", file]).start();

    send_udp(
        &daemon,
        b"test.dispatcher.FooProcessor.send.success:1|c\nfoo_product.signup.facebook.failure:2|c\n\
          debug.noise:1|c\napi.latency:50|ms\napi.latency:500|ms",
    );

    wait_for(&daemon, "api_latency_seconds_count", 2.0);
    assert_eq!(
        daemon.metric(
            "dispatcher_events_total{action=\"send\",job=\"test_dispatcher\",outcome=\"success\",processor=\"FooProcessor\"}"
        ),
        1.0
    );
    assert_eq!(
        daemon.metric(
            "signup_events_total{job=\"foo_product_server\",outcome=\"failure\",provider=\"facebook\"}"
        ),
        2.0
    );
    assert_eq!(daemon.metric("api_latency_seconds_bucket{le=\"0.1\"}"), 1.0);
    assert_eq!(daemon.metric("api_latency_seconds_bucket{le=\"1\"}"), 2.0);
    assert!(daemon
        .metrics()
        .contains("# HELP api_latency_seconds API latency.\n"));
    assert_eq!(
        daemon.metric("podkit_metrics_events_dropped_total{reason=\"rule\"}"),
        1.0
    );
    assert!(!daemon.metrics().contains("debug"), "{}", daemon.metrics());
    assert_eq!(daemon.metric("podkit_metrics_mappings"), 4.0);
    daemon.stop().assert_success();
}

#[test]
fn bad_input_is_counted_by_reason_and_skipped_while_serving_goes_on() {
    let daemon = metrics(&[]).start();

    send_udp(
        &daemon,
        b"no colon\nx:1|c\xff\ny:abc|c\nz:1|q\nneg:-1|c\nok:1|c",
    );
    // A line of 1 MB over TCP, then a good one on the same connection.
    let mut huge = vec![b'a'; 1 << 20];
    huge.extend_from_slice(b":1|c\nafter.huge:1|c\n");
    send_tcp(&daemon, &huge);

    wait_for(&daemon, "after_huge", 1.0);
    wait_for(&daemon, "ok", 1.0);
    let reason = |r: &str| {
        daemon.metric(&format!(
            "podkit_metrics_statsd_parse_errors_total{{reason=\"{r}\"}}"
        ))
    };
    assert_eq!(reason("malformed_line"), 3.0, "no colon, not UTF-8, 1 MB");
    assert_eq!(reason("malformed_value"), 1.0);
    assert_eq!(reason("illegal_event"), 1.0);
    assert_eq!(
        daemon.metric("podkit_metrics_events_dropped_total{reason=\"negative_counter\"}"),
        1.0
    );
    assert_eq!(http_get(daemon.metrics_addr(), "/healthz").0, 200);
    daemon.stop().assert_success();
}

#[test]
fn a_name_sent_as_another_type_is_refused_and_the_scrape_still_succeeds() {
    let daemon = metrics(&[]).start();

    send_udp(
        &daemon,
        b"mixed:1|c\nmixed:5|g\nmixed:3|ms\nmixed:1|c|#extra:label",
    );

    daemon.wait_for_metric(
        "podkit_metrics_events_dropped_total{reason=\"type_conflict\"}",
        2.0,
    );
    assert_eq!(daemon.metric("mixed{extra=\"\"}"), 1.0);
    assert_eq!(daemon.metric("mixed{extra=\"label\"}"), 1.0);
    daemon.stop().assert_success();
}

#[test]
fn past_max_series_new_series_are_refused_and_counted_and_old_ones_keep_counting() {
    let daemon = metrics(&["--max-series", "2"]).start();

    send_udp(&daemon, b"a:1|c\nb:1|c\nc:1|c\nd:1|c");
    daemon.wait_for_metric("podkit_metrics_series_refused_total", 2.0);
    send_udp(&daemon, b"a:1|c");

    wait_for(&daemon, "a", 2.0);
    assert_eq!(daemon.metric("podkit_metrics_series"), 2.0);
    assert!(daemon.series_starting("c ").is_empty());
    daemon.stop().assert_success();
}

#[test]
fn a_series_idle_past_its_ttl_leaves_metrics_and_is_counted() {
    let scratch = Scratch::new("metrics-ttl");
    let mapping = scratch.join("mapping.yml");
    std::fs::write(
        &mapping,
        "mappings:\n- match: short.*\n  name: short_lived\n  ttl: 1s\n  labels:\n    which: \"$1\"\n",
    )
    .expect("write the mapping");
    let daemon = metrics(&["--mapping", mapping.to_str().expect("UTF-8 path")]).start();

    send_udp(&daemon, b"short.a:1|c\nforever:1|c");
    wait_for(&daemon, "short_lived{which=\"a\"}", 1.0);

    daemon.wait_for_metric("podkit_metrics_series_expired_total", 1.0);
    assert!(daemon.series_starting("short_lived").is_empty());
    assert_eq!(daemon.metric("forever"), 1.0, "no ttl: kept");
    daemon.stop().assert_success();
}

#[test]
fn promtool_accepts_the_output() {
    if !podkit_tests::run::installed(
        "promtool_accepts_the_output",
        "promtool",
        &["--version"],
        "prometheus",
    ) {
        return;
    }
    let daemon = metrics(&[]).start();
    send_udp(
        &daemon,
        b"a.b:1|c|#x:1\na.b:1|c|#y:\"quoted\\\\\"\ng:1|g\nt:3|ms\nh:1|h\nu:x|s\nweird.name-with--dashes:1|c",
    );
    daemon.wait_for_count("podkit_metrics_statsd_lines_total", 7.0);

    let body = daemon.metrics();
    let checked = run_with_input(
        command("promtool").args(["check", "metrics"]),
        body.as_bytes(),
    );

    // 0: clean; 3: lint notes only, 1: the text did not parse. StatsD names are the sender's,
    // so the lint's naming advice ("counter metrics should have _total suffix") is not the
    // adapter's to follow.
    assert!(matches!(checked.code, Some(0 | 3)), "{checked:?}\n{body}");
    let notes = format!("{}{}", checked.stdout, checked.stderr);
    assert!(!notes.contains("error"), "{notes}\n{body}");
    daemon.stop().assert_success();
}

#[test]
fn one_name_with_other_tags_in_another_datagram_shows_both_under_the_union_of_labels() {
    // Two datagrams, read in either order: each series must show the other's label, empty.
    let daemon = metrics(&[]).start();
    send_udp(&daemon, b"two:1|c|#a:1");
    send_udp(&daemon, b"two:1|c|#b:2");
    let both = wait::until("both series of two", || {
        let series = daemon.series_starting("two{");
        (series.len() == 2).then_some(series)
    });
    assert!(
        both.contains(&"two{a=\"1\",b=\"\"} 1".to_owned()),
        "{both:?}"
    );
    assert!(
        both.contains(&"two{a=\"\",b=\"2\"} 1".to_owned()),
        "{both:?}"
    );
    daemon.stop().assert_success();
}

/// podkit-metrics reading StatsD from a Unix datagram socket at `path`, `/metrics` metered.
fn on_unixgram(path: &std::path::Path) -> Launch {
    Daemon::tool("metrics")
        .args(["--statsd-unixgram"])
        .args([path])
        .metered()
}

/// Sends `payload` as one datagram to the Unix datagram socket at `path`, with python3.
fn send_unixgram(path: &std::path::Path, payload: &[u8]) {
    let script = "import socket, sys\n\
                  s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
                  s.sendto(sys.stdin.buffer.read(), sys.argv[1])";
    let sent = run_with_input(command("python3").args(["-c", script]).arg(path), payload);
    assert_eq!(sent.code, Some(0), "python3 sendto: {sent:?}");
}

#[test]
fn statsd_over_a_unix_datagram_socket_replaces_a_stale_socket_file() {
    let scratch = Scratch::new("metrics-unixgram");
    let path = scratch.join("statsd.sock");
    // A socket file left by an earlier run: bound once, its process gone.
    let stale = run_with_input(
        command("python3")
            .args(["-c", "import socket, sys\nsocket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).bind(sys.argv[1])"])
            .arg(&path),
        b"",
    );
    assert_eq!(stale.code, Some(0), "{stale:?}");
    let daemon = on_unixgram(&path).start();
    assert!(
        daemon.ready_line().contains("statsd.sock"),
        "{}",
        daemon.ready_line()
    );

    send_unixgram(&path, b"local.jobs:2|c\nlocal.jobs:3|c|#queue:high");
    send_unixgram(&path, b"local.temp:21.5|g");

    wait_for(&daemon, "local_temp", 21.5);
    assert_eq!(daemon.metric("local_jobs{queue=\"\"}"), 2.0);
    assert_eq!(daemon.metric("local_jobs{queue=\"high\"}"), 3.0);
    assert_eq!(daemon.metric("podkit_metrics_statsd_packets_total"), 2.0);
    daemon.stop().assert_success();
}

#[test]
fn the_unixgram_socket_file_is_removed_on_sigterm() {
    let scratch = Scratch::new("metrics-unixgram-stop");
    let path = scratch.join("statsd.sock");
    let daemon = on_unixgram(&path).start();
    assert!(path.exists(), "the socket is made before the ready line");

    daemon.stop().assert_success();

    assert!(
        std::fs::symlink_metadata(&path).is_err(),
        "{} is left behind",
        path.display()
    );
}

#[test]
fn a_file_that_took_the_unixgram_path_since_is_kept_at_the_stop() {
    let scratch = Scratch::new("metrics-unixgram-replaced");
    let path = scratch.join("statsd.sock");
    let daemon = on_unixgram(&path).start();
    // Someone else's file at the path now (a newer run's socket, say): not ours to remove.
    std::fs::remove_file(&path).expect("remove the socket file");
    std::fs::write(&path, "theirs").expect("write a file in its place");

    daemon.stop().assert_success();

    assert_eq!(std::fs::read_to_string(&path).expect("kept"), "theirs");
}

#[test]
fn a_unixgram_path_that_is_not_a_socket_is_refused_and_kept() {
    let scratch = Scratch::new("metrics-unixgram-file");
    let path = scratch.join("precious.txt");
    std::fs::write(&path, "data").expect("write the file");

    // No endpoint: the refusal is the socket's, whoever holds the default port.
    on_unixgram(&path)
        .args(["--metrics-addr", ""])
        .assert_refused(&["--statsd-unixgram", "precious.txt", "not a socket"]);
    assert_eq!(std::fs::read_to_string(&path).expect("still there"), "data");
}
