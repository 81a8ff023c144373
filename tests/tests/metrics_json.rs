//! podkit-metrics' JSON input as a json_exporter user sees it: documents served by real HTTP
//! servers (python3's http.server over files the test writes, and the fixture server for a
//! silent, an endless and a failing endpoint), selected by a rules file, and what a scrape of
//! `/metrics` then shows. Nothing a fetch does wrong may fail a scrape or the process.

use std::process::Stdio;

use podkit_tests::daemon::{Daemon, Launch};
use podkit_tests::run::{command, installed, run_with_input, Announced};
use podkit_tests::servers::{HttpServer, Scratch};
use podkit_tests::tcp::http_get;
use podkit_tests::wait;

/// python3's own http.server over `dir`, on a free loopback port.
struct FileServer {
    server: Announced,
}

impl FileServer {
    fn start(dir: &str) -> FileServer {
        let script = "import functools, http.server, sys\n\
            class Quiet(http.server.SimpleHTTPRequestHandler):\n    \
                def log_message(self, *args): pass\n\
            handler = functools.partial(Quiet, directory=sys.argv[1])\n\
            server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)\n\
            print('listening 127.0.0.1:%d' % server.server_address[1], flush=True)\n\
            server.serve_forever()\n";
        let server = Announced::start(
            command("python3")
                .args(["-c", script, dir])
                .stdin(Stdio::null())
                .stderr(Stdio::null()),
            "listening ",
        );
        FileServer { server }
    }

    fn url(&self, file: &str) -> String {
        format!("http://{}/{file}", self.server.address)
    }
}

/// Writes `text` to `path` whole: a fetch sees the old document or the new one.
fn replace(path: &str, text: &str) {
    let temporary = format!("{path}.new");
    std::fs::write(&temporary, text).expect("write the document");
    std::fs::rename(&temporary, path).expect("rename it into place");
}

const RULES: &str = "\
metrics:
- name: app_queue_depth
  help: Messages waiting, per queue.
  path: $.queues.*
  labels: {queue: '@key', region: $.region}
- name: app_worker
  type: object
  path: '{.workers[*]}'
  labels: {worker: '{.name}'}
  values: {jobs_total: '{.jobs}', busy: '@.busy'}
  valuetype: counter
";

const STATUS: &str = r#"{"region": "eu", "queues": {"mail": 3, "sms": "4", "fax": "n/a"},
  "workers": [{"name": "a", "jobs": 10, "busy": true}, {"name": "b", "jobs": 2, "busy": false}]}"#;

/// podkit-metrics with `args`, metered, ready once it says it listens.
fn metrics(args: &[&str]) -> Launch {
    Daemon::tool("metrics").args(args).metered()
}

/// The value of `series` now, if it is there.
fn value(daemon: &Daemon, series: &str) -> Option<f64> {
    daemon
        .metrics()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn fetches(daemon: &Daemon, url: &str, result: &str) -> f64 {
    daemon.metric(&format!(
        "podkit_metrics_json_fetches_total{{result=\"{result}\",url=\"{url}\"}}"
    ))
}

/// `promtool check metrics` parses `body` (0: clean; 3: lint notes only, which name the rules'
/// choices, not the adapter's).
fn promtool_accepts(body: &str) {
    if !installed("promtool_accepts", "promtool", &["--version"], "prometheus") {
        return;
    }
    let checked = run_with_input(
        command("promtool").args(["check", "metrics"]),
        body.as_bytes(),
    );
    assert!(matches!(checked.code, Some(0 | 3)), "{checked:?}\n{body}");
}

#[test]
fn each_scrape_fetches_the_document_and_shows_what_the_rules_select() {
    let scratch = Scratch::new("metrics-json-scrape");
    let document = scratch.file("status.json");
    replace(&document, STATUS);
    let rules = scratch.file("rules.yml");
    std::fs::write(&rules, RULES).expect("write the rules");
    let files = FileServer::start(&scratch.file(""));
    let url = files.url("status.json");
    let daemon = metrics(&["--json", &url, "--json-rules", &rules]).start();

    let body = daemon.metrics();
    for line in [
        "# HELP app_queue_depth Messages waiting, per queue.",
        "# TYPE app_queue_depth gauge",
        "app_queue_depth{queue=\"mail\",region=\"eu\"} 3",
        "app_queue_depth{queue=\"sms\",region=\"eu\"} 4",
        "# TYPE app_worker_jobs_total counter",
        "app_worker_jobs_total{worker=\"a\"} 10",
        "app_worker_jobs_total{worker=\"b\"} 2",
        "app_worker_busy{worker=\"a\"} 1",
        "app_worker_busy{worker=\"b\"} 0",
    ] {
        assert!(body.lines().any(|l| l == line), "{line} in:\n{body}");
    }
    assert!(!body.contains("queue=\"fax\""), "{body}");
    promtool_accepts(&body);
    assert!(
        daemon.metric("podkit_metrics_json_values_skipped_total{reason=\"non_numeric\"}") >= 1.0,
        "{body}"
    );

    // No interval: the next scrape fetches again and shows the document as it is now.
    replace(&document, &STATUS.replace("\"mail\": 3", "\"mail\": 7"));
    assert_eq!(
        value(&daemon, "app_queue_depth{queue=\"mail\",region=\"eu\"}"),
        Some(7.0)
    );
    assert!(fetches(&daemon, &url, "ok") >= 2.0);
    assert_eq!(fetches(&daemon, &url, "malformed"), 0.0);

    // A document gone: the series go with it; the scrape still answers.
    std::fs::remove_file(&document).expect("remove the document");
    let body = daemon.metrics();
    assert!(!body.contains("app_queue_depth{"), "{body}");
    assert!(fetches(&daemon, &url, "status") >= 1.0);
}

#[test]
fn failed_fetches_are_counted_by_result_and_logged_without_credentials() {
    let scratch = Scratch::new("metrics-json-failures");
    let good = scratch.file("good.json");
    replace(&good, STATUS);
    replace(
        &scratch.file("malformed.json"),
        "{\"queues\": {\"mail\": 3,",
    );
    let rules = scratch.file("rules.yml");
    std::fs::write(&rules, RULES).expect("write the rules");
    let files = FileServer::start(&scratch.file(""));
    let fixture = HttpServer::local();
    let secret_hang = format!("http://user:s3cret@{}/hang", fixture.address);
    let (hang, failing, malformed, good) = (
        fixture.url("/hang"),
        fixture.url("/status/500"),
        files.url("malformed.json"),
        files.url("good.json"),
    );
    let daemon = metrics(&[
        "--json-timeout=500ms",
        "--json-rules",
        &rules,
        "--json",
        &secret_hang,
        "--json",
        &failing,
        "--json",
        &malformed,
        "--json",
        &good,
    ])
    .start();

    // The silent server holds the scrape no longer than --json-timeout: were it not bounded,
    // this scrape would never answer (the harness's hang guard would fail the test).
    let (status, body) = http_get(daemon.metrics_addr(), "/metrics");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("app_queue_depth{queue=\"mail\",region=\"eu\"} 3"),
        "the good URL's values are there whatever the others do:\n{body}"
    );
    // Each scrape fetches every URL and counts those fetches: this is the second.
    assert_eq!(fetches(&daemon, &hang, "timeout"), 2.0);
    assert!(fetches(&daemon, &failing, "status") >= 1.0);
    assert!(fetches(&daemon, &malformed, "malformed") >= 1.0);
    assert!(fetches(&daemon, &good, "ok") >= 1.0);
    assert_eq!(fetches(&daemon, &good, "timeout"), 0.0);

    // Logged once when a URL starts failing, not at every scrape; never with its password.
    daemon.wait_logged("json: fetch failed", 3);
    let log = daemon.log_text();
    assert!(log.contains(&hang) && log.contains(&malformed), "{log}");
    assert!(!log.contains("s3cret"), "{log}");
    assert_eq!(daemon.count_logged("json: fetch failed"), 3, "{log}");
    assert!(daemon
        .metrics()
        .contains("podkit_metrics_json_fetch_duration_seconds_count"));
    assert!(!daemon.metrics().contains("s3cret"));
}

#[test]
fn an_endless_body_is_cut_at_the_cap_and_counted_too_large() {
    let fixture = HttpServer::local();
    let scratch = Scratch::new("metrics-json-huge");
    let rules = scratch.file("rules.yml");
    std::fs::write(&rules, RULES).expect("write the rules");
    let endless = fixture.url("/endless?head=%7B%22queues%22%3A%7B");
    // A long timeout: what ends this fetch must be the cap, not the clock.
    let daemon = metrics(&[
        "--json",
        &endless,
        "--json-rules",
        &rules,
        "--json-timeout=9s",
    ])
    .start();
    let body = daemon.metrics();
    assert!(!body.contains("app_queue_depth{"), "{body}");
    assert_eq!(fetches(&daemon, &endless, "too_large"), 2.0, "{body}");
    assert_eq!(fetches(&daemon, &endless, "timeout"), 0.0);
}

#[test]
fn with_an_interval_the_last_good_values_are_served_while_the_endpoint_fails() {
    let scratch = Scratch::new("metrics-json-interval");
    let document = scratch.file("status.json");
    replace(&document, STATUS);
    let rules = scratch.file("rules.yml");
    std::fs::write(&rules, RULES).expect("write the rules");
    let files = FileServer::start(&scratch.file(""));
    let url = files.url("status.json");
    let daemon = metrics(&[
        "--json",
        &url,
        "--json-rules",
        &rules,
        "--json-interval=50ms",
    ])
    .start();
    let mail = "app_queue_depth{queue=\"mail\",region=\"eu\"}";
    wait::until("the first fetch", || {
        (value(&daemon, mail) == Some(3.0)).then_some(())
    });

    replace(&document, "{not json");
    let before = fetches(&daemon, &url, "malformed");
    daemon.wait_for_count(
        &format!("podkit_metrics_json_fetches_total{{result=\"malformed\",url=\"{url}\"}}"),
        before + 1.0,
    );
    assert_eq!(value(&daemon, mail), Some(3.0), "the last good value stays");
    let success = format!("podkit_metrics_json_last_success_timestamp_seconds{{url=\"{url}\"}}");
    let last_good = daemon.metric(&success);
    assert!(last_good > 0.0);
    assert_eq!(daemon.metric(&success), last_good, "no success since");

    replace(&document, &STATUS.replace("\"mail\": 3", "\"mail\": 9"));
    wait::until("the new document", || {
        (value(&daemon, mail) == Some(9.0)).then_some(())
    });
    daemon.wait_for_log("json: fetch works again");
}

#[test]
fn bad_json_flags_and_rules_are_refused_naming_them() {
    let scratch = Scratch::new("metrics-json-refused");
    let rules = scratch.file("rules.yml");
    std::fs::write(&rules, RULES).expect("write the rules");
    let bad = scratch.file("bad.yml");
    std::fs::write(&bad, "metrics: [{name: x, path: '$.a[?(@.up)]'}]").expect("write");
    let url = "http://127.0.0.1:9/status.json";
    Daemon::tool("metrics")
        .args(["--json", url])
        .assert_refused(&["--json", "--json-rules"]);
    Daemon::tool("metrics")
        .args(["--json", "https://127.0.0.1:9/", "--json-rules", &rules])
        .assert_refused(&["--json", "https:// is not supported yet"]);
    let other = Daemon::tool("metrics")
        .args(["--json", "ftp://127.0.0.1:9/", "--json-rules", &rules])
        .assert_refused(&["--json", "ftp://", "must be http://"]);
    assert!(!other.stderr.contains("https"), "{other:?}");
    Daemon::tool("metrics")
        .args(["--json", url, "--json-rules", &bad])
        .assert_refused(&["--json-rules", &bad, "metric \"x\": path"]);
    Daemon::tool("metrics")
        .args([
            "--json",
            url,
            "--json",
            url,
            "--json-rules",
            &rules,
            "--json-rules",
            &rules,
        ])
        .args(["--json-rules", &rules])
        .assert_refused(&["--json-rules", "3 files for 2 URLs"]);
    Daemon::tool("metrics")
        .args([
            "--json",
            url,
            "--json-rules",
            &rules,
            "--json-timeout",
            "0s",
        ])
        .assert_refused(&["--json-timeout"]);
    // On each scrape, a fetch must end before the endpoint gives up on the scrape (10s).
    Daemon::tool("metrics")
        .args([
            "--json",
            url,
            "--json-rules",
            &rules,
            "--json-timeout",
            "10s",
        ])
        .assert_refused(&["--json-timeout", "at most 9s", "--json-interval"]);
}

#[test]
fn a_scrape_waiting_on_a_silent_endpoint_does_not_hold_healthz() {
    let mut fixture = HttpServer::local();
    let scratch = Scratch::new("metrics-json-healthz");
    let rules = scratch.file("rules.yml");
    std::fs::write(&rules, RULES).expect("write the rules");
    let hang = fixture.url("/hang");
    let daemon = metrics(&["--json", &hang, "--json-rules", &rules, "--json-timeout=8s"]).start();
    let addr = daemon.metrics_addr().to_owned();
    let scrape = std::thread::spawn(move || http_get(&addr, "/metrics"));
    // The fixture reports a request before it (never) answers: the scrape now waits on it.
    fixture.next_request();

    let (status, _) = http_get(daemon.metrics_addr(), "/healthz");
    assert_eq!(status, 200);
    assert!(
        !scrape.is_finished(),
        "/healthz answered only after the scrape gave up on the silent endpoint"
    );
    let (status, body) = scrape.join().expect("the scrape");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn the_rules_headers_and_the_urls_credentials_are_sent() {
    let fixture = HttpServer::local();
    let scratch = Scratch::new("metrics-json-headers");
    let rules = scratch.file("rules.yml");
    // json_exporter's module form; the fixture's /echo answers with the request it received,
    // its headers as [name, value] pairs.
    std::fs::write(
        &rules,
        "modules:\n  default:\n    headers: {X-Tenant: blue}\n    metrics:\n    \
         - name: echo_header\n      type: object\n      path: '$.headers[*]'\n      \
         labels: {name: '{[0]}'}\n      values: {seen: 1}\n",
    )
    .expect("write the rules");
    let echo = format!("http://user:pw@{}/echo", fixture.address);
    let daemon = metrics(&["--json", &echo, "--json-rules", &rules]).start();
    let body = daemon.metrics();
    for header in ["X-Tenant", "authorization", "accept"] {
        let series = format!("echo_header_seen{{name=\"{header}\"}} 1");
        assert!(
            body.lines().any(|l| l.eq_ignore_ascii_case(&series)),
            "{series} in:\n{body}"
        );
    }
}
