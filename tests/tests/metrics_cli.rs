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

const LOG_RULES: &str = "\
rules:
  - match: '^(?P<method>[A-Z]+) \\S+ (?P<code>\\d)\\d\\d (?P<seconds>\\S+)$'
    metric: http_requests_total
    type: counter
    labels: {method: '$method', code: '${code}xx'}
  - match: ' (?P<seconds>\\S+)$'
    metric: http_request_seconds
    type: histogram
    value: seconds
";

const JSON_RULES: &str = "\
metrics:
- name: app_queue_depth
  path: $.queues.*
  labels: {queue: '@key', region: $.region}
- name: app_worker
  type: object
  path: '{.workers[*]}'
  labels: {worker: '{.name}'}
  values: {jobs_total: '{.jobs}'}
  valuetype: counter
";

/// `podkit-metrics check ARGS`, run to its end.
fn check(args: &[&str]) -> podkit_tests::run::Finished {
    run(command(bins::path("metrics")).arg("check").args(args))
}

#[test]
fn check_log_rules_shows_what_each_log_line_does() {
    let scratch = Scratch::new("metrics-check-log");
    let rules = scratch.file("rules.yml");
    std::fs::write(&rules, LOG_RULES).expect("write");

    let shown = check(&[
        "--log-rules",
        &rules,
        "--log-line",
        "GET /a 200 0.25",
        "--log-line",
        "POST /b 503 slow",
        "--log-line",
        "starting",
    ]);

    assert_eq!(shown.code, Some(0), "{shown:?}");
    let out = shown.stdout;
    assert!(out.starts_with("ok: 2 rules\n"), "{out}");
    let line = |text: &str| {
        out.lines()
            .filter(|l| l.starts_with(&format!("{text:?}: ")))
            .map(|l| l.split(" (rule ").next().unwrap_or(l).to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        line("GET /a 200 0.25"),
        [
            "\"GET /a 200 0.25\": http_requests_total{code=\"2xx\",method=\"GET\"} counter += 1",
            "\"GET /a 200 0.25\": http_request_seconds{} histogram observes 0.25 x1",
        ],
        "{out}"
    );
    assert_eq!(
        line("POST /b 503 slow"),
        [
            "\"POST /b 503 slow\": http_requests_total{code=\"5xx\",method=\"POST\"} counter += 1",
            "\"POST /b 503 slow\": skipped: invalid value \"slow\" for a histogram",
        ],
        "{out}"
    );
    assert_eq!(line("starting"), ["\"starting\": no rule matched"], "{out}");
    assert!(out.contains("(rule 2 \" (?P<seconds>\\\\S+)$\")"), "{out}");
}

#[test]
fn check_json_rules_shows_the_series_of_each_document() {
    let scratch = Scratch::new("metrics-check-json");
    let rules = scratch.file("rules.yml");
    std::fs::write(&rules, JSON_RULES).expect("write");
    let status = scratch.file("status.json");
    std::fs::write(
        &status,
        r#"{"region": "eu", "queues": {"mail": 3, "sms": "n/a"},
            "workers": [{"name": "a", "jobs": 10}, {"name": "b", "jobs": -2}]}"#,
    )
    .expect("write");
    let broken = scratch.file("broken.json");
    std::fs::write(&broken, "{\"region\": ").expect("write");

    let shown = check(&[
        "--json-rules",
        &rules,
        "--json-document",
        &status,
        "--json-document",
        &broken,
    ]);

    assert_eq!(shown.code, Some(0), "{shown:?}");
    let lines: Vec<&str> = shown.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "ok: 2 metrics".to_owned(),
            format!("{status:?}: app_queue_depth{{queue=\"mail\",region=\"eu\"}} 3"),
            format!("{status:?}: app_worker_jobs_total{{worker=\"a\"}} 10"),
            format!(
                "{status:?}: skipped: non_numeric: app_queue_depth{{queue=\"sms\",region=\"eu\"}} \"n/a\""
            ),
            format!("{status:?}: skipped: negative_counter: app_worker_jobs_total{{worker=\"b\"}} -2"),
            format!("{broken:?}: malformed: not JSON: EOF while parsing a value at line 1 column 11"),
        ],
        "{shown:?}"
    );
}

#[test]
fn check_takes_every_kind_of_file_at_once_and_lines_without_a_mapping_are_escaped() {
    let scratch = Scratch::new("metrics-check-all");
    let mapping = scratch.file("mapping.yml");
    std::fs::write(&mapping, "mappings:\n- match: a.*\n  name: a_total\n").expect("write");
    let log_rules = scratch.file("log.yml");
    std::fs::write(&log_rules, LOG_RULES).expect("write");
    let json_rules = scratch.file("json.yml");
    std::fs::write(&json_rules, JSON_RULES).expect("write");

    let all = check(&[
        "--mapping",
        &mapping,
        "--log-rules",
        &log_rules,
        "--json-rules",
        &json_rules,
        "--line",
        "a.b:1|c",
    ]);
    assert_eq!(all.code, Some(0), "{all:?}");
    assert_eq!(
        all.stdout,
        "ok: 1 mappings\n\
         \"a.b:1|c\": a_total{} counter += 1 (mapping \"a.*\")\n\
         ok: 2 rules\n\
         ok: 2 metrics\n"
    );

    let unmapped = check(&["--log-rules", &log_rules, "--line", "web.hits-x:2|c"]);
    assert_eq!(unmapped.code, Some(0), "{unmapped:?}");
    assert_eq!(
        unmapped.stdout,
        "\"web.hits-x:2|c\": web_hits_x{} counter += 2 (no mapping, name escaped)\nok: 2 rules\n"
    );
}

#[test]
fn check_reads_its_files_and_inputs_from_the_variables() {
    let scratch = Scratch::new("metrics-check-env");
    let rules = scratch.file("rules.yml");
    std::fs::write(&rules, JSON_RULES).expect("write");
    let status = scratch.file("status.json");
    std::fs::write(&status, r#"{"region": "us", "queues": {"q": 1}}"#).expect("write");
    let log_rules = scratch.file("log.yml");
    std::fs::write(&log_rules, LOG_RULES).expect("write");

    let shown = run(command(bins::path("metrics"))
        .arg("check")
        .env("PODKIT_JSON_RULES", &rules)
        .env("PODKIT_JSON_DOCUMENT", &status)
        .env("PODKIT_LOG_RULES", format!("{log_rules}\n{log_rules}\n"))
        .env("PODKIT_LOG_LINE", "x 1")
        .env("PODKIT_MAPPING", ""));
    assert_eq!(shown.code, Some(0), "{shown:?}");
    let out = shown.stdout;
    assert!(
        out.contains(&format!("ok: 2 rules in {log_rules}\n")),
        "{out}"
    );
    assert_eq!(
        out.matches("\"x 1\": http_request_seconds{} histogram observes 1 x1")
            .count(),
        2,
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{status:?}: app_queue_depth{{queue=\"q\",region=\"us\"}} 1"
        )),
        "{out}"
    );
}

#[test]
fn check_refuses_bad_rules_with_the_daemons_own_line() {
    let scratch = Scratch::new("metrics-check-bad-rules");
    let bad_log = scratch.file("log.yml");
    std::fs::write(
        &bad_log,
        "rules:\n- {match: 'a', metric: ok_total, type: counter}\n- {match: '(?P<x', metric: b, type: counter}\n",
    )
    .expect("write");
    let bad_json = scratch.file("json.yml");
    std::fs::write(&bad_json, "metrics: [{name: x, path: '$.a[?(@.up)]'}]").expect("write");
    let log = scratch.file("app.log");

    let by_check = Daemon::tool("metrics")
        .args(["check", "--log-rules", &bad_log])
        .assert_refused(&["--log-rules", &bad_log, "rule 2 (\"(?P<x\")"]);
    let by_daemon = Daemon::tool("metrics")
        .args(["--log", &log, "--log-rules", &bad_log])
        .assert_refused(&[]);
    assert_eq!(by_check.stderr, by_daemon.stderr);

    let by_check = Daemon::tool("metrics")
        .args(["check", "--json-rules", &bad_json])
        .assert_refused(&["--json-rules", &bad_json, "metric \"x\": path"]);
    let by_daemon = Daemon::tool("metrics")
        .args(["--json", "http://127.0.0.1:9/", "--json-rules", &bad_json])
        .assert_refused(&[]);
    assert_eq!(by_check.stderr, by_daemon.stderr);

    Daemon::tool("metrics")
        .args(["check", "--json-rules", &scratch.file("missing.yml")])
        .assert_refused(&["--json-rules", "missing.yml", "No such file"]);
}

#[test]
fn check_needs_a_file_and_refuses_an_input_without_its_file() {
    Daemon::tool("metrics")
        .args(["check"])
        .assert_refused(&["--mapping, --log-rules or --json-rules"]);
    Daemon::tool("metrics")
        .args(["check", "--line", "a:1|c"])
        .assert_refused(&["--mapping, --log-rules or --json-rules"]);
    Daemon::tool("metrics")
        .args(["check", "--mapping="])
        .assert_refused(&["--mapping, --log-rules or --json-rules"]);

    let scratch = Scratch::new("metrics-check-inputs");
    let mapping = scratch.file("mapping.yml");
    std::fs::write(&mapping, "mappings: []\n").expect("write");
    Daemon::tool("metrics")
        .args(["check", "--mapping", &mapping, "--log-line", "x"])
        .assert_refused(&["--log-line", "without --log-rules"]);
    Daemon::tool("metrics")
        .args(["check", "--mapping", &mapping, "--json-document", &mapping])
        .assert_refused(&["--json-document", "without --json-rules"]);
    let rules = scratch.file("rules.yml");
    std::fs::write(&rules, JSON_RULES).expect("write");
    Daemon::tool("metrics")
        .args(["check", "--json-rules", &rules, "--json-document"])
        .args([scratch.file("missing.json")])
        .assert_refused(&["--json-document", "missing.json"]);
}
