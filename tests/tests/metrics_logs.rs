//! podkit-metrics' log input as a user sees it: a real file written by another process
//! (python3), rotated the two ways logrotate rotates, and what a scrape of `/metrics` shows. The
//! rotation tests count: every line the writer wrote must be counted once, none lost, none twice.
//! Every wait is for a value on `/metrics`, under the harness's hang guard; none sleeps.

use std::io::Write;

use podkit_tests::daemon::{Daemon, Launch};
use podkit_tests::run::{command, run, Process};
use podkit_tests::servers::Scratch;
use podkit_tests::wait;

/// One rule: the writer's numbered lines into a counter, and the number's last digit a label
/// (so that the line's text is really read, not just its end).
const RULES: &str = r#"rules:
  - match: '^line (?P<n>\d*(?P<last>\d))$'
    metric: written_lines_total
    type: counter
    labels: {last: '$last'}
    help: Lines the writer wrote.
"#;

/// Writes `line N` to the log until the stop file exists (and at least 1000 lines), then
/// writes how many it wrote to the count file. `rename`: it holds the file open and, as a
/// writer told to reopen does, notices a rename only some lines later, so lines land in the
/// renamed file after the rotation. `copytruncate`: it never reopens, and takes a lock around
/// each line, which the rotation takes too, so that logrotate's own gap (lines written between
/// its copy and its truncate, lost whatever reads the file) is closed and only the adapter's
/// losses would show.
const WRITER: &str = r#"
import fcntl, os, sys, time
mode, path, stop, count = sys.argv[1:5]
f = open(path, 'a')
n = 0
while n < 1000 or not os.path.exists(stop):
    if mode == 'copytruncate':
        fcntl.flock(f, fcntl.LOCK_EX)
    f.write('line %d\n' % n)
    f.flush()
    if mode == 'copytruncate':
        fcntl.flock(f, fcntl.LOCK_UN)
    n += 1
    if n % 10 == 0:
        time.sleep(0.001)
    if mode == 'rename' and n % 50 == 0:
        mine = os.fstat(f.fileno())
        try:
            there = os.stat(path)
        except FileNotFoundError:
            there = None
        if there is None or (there.st_dev, there.st_ino) != (mine.st_dev, mine.st_ino):
            f.close()
            f = open(path, 'a')
f.close()
with open(count, 'w') as out:
    out.write(str(n))
"#;

/// logrotate's copytruncate, numbered as it numbers (`log.1` the newest), under the writer's
/// lock.
const COPYTRUNCATE: &str = r#"
import fcntl, os, shutil, sys
path, k = sys.argv[1], int(sys.argv[2])
for i in range(k - 1, 0, -1):
    os.rename('%s.%d' % (path, i), '%s.%d' % (path, i + 1))
with open(path, 'rb+') as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    shutil.copyfile(path, path + '.1')
    f.truncate(0)
    fcntl.flock(f, fcntl.LOCK_UN)
"#;

struct Setup {
    scratch: Scratch,
    log: String,
    rules: String,
}

impl Setup {
    /// A scratch directory with `rules`, and the log file with `content`.
    fn new(label: &str, rules: &str, content: &[u8]) -> Setup {
        let scratch = Scratch::new(label);
        let log = scratch.file("app.log");
        let rules_file = scratch.file("rules.yml");
        std::fs::write(&rules_file, rules).expect("write the rules");
        std::fs::write(&log, content).expect("write the log");
        Setup {
            scratch,
            log,
            rules: rules_file,
        }
    }

    fn adapter(&self, extra: &[&str]) -> Launch {
        Daemon::tool("metrics")
            .args(["--log", &self.log, "--log-rules", &self.rules])
            .args(extra)
            .metered()
    }

    /// The adapter's own series `name` for this log, with `more` labels after `log`.
    fn own(&self, name: &str, more: &str) -> String {
        format!("podkit_metrics_log_{name}{{log=\"{}\"{more}}}", self.log)
    }

    fn append(&self, bytes: &[u8]) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .expect("open the log");
        file.write_all(bytes).expect("append");
    }
}

/// The sum of every series of `name` (any labels), if there is one.
fn total(daemon: &Daemon, name: &str) -> Option<f64> {
    let body = daemon.metrics();
    let mut values = body.lines().filter_map(|line| {
        let rest = line.strip_prefix(name)?;
        let rest = rest
            .strip_prefix('{')
            .map_or(Some(rest), |r| r.split_once('}').map(|s| s.1))?;
        rest.strip_prefix(' ')?.parse::<f64>().ok()
    });
    let first = values.next()?;
    Some(first + values.sum::<f64>())
}

/// Rotates the log `kind`'s way, while the writer writes, `rotations` times; then stops the
/// writer and checks that the counter of its lines equals what it wrote.
fn no_line_is_lost_across(kind: &str, rotations: u32) {
    let setup = Setup::new(&format!("metrics-log-{kind}"), RULES, b"");
    let daemon = setup.adapter(&["--log-from-start"]).start();
    let stop = setup.scratch.file("stop");
    let count = setup.scratch.file("count");
    let mut writer =
        Process::spawn(command("python3").args(["-c", WRITER, kind, &setup.log, &stop, &count]));
    let lines = setup.own("lines_total", "");
    let rotated = format!(
        "podkit_metrics_log_rotations_total{{kind=\"{kind}\",log=\"{}\"}}",
        setup.log
    );
    for k in 1..=rotations {
        // The writer is writing into the file to be rotated: the adapter has read more of it.
        let seen = daemon.metric(&lines);
        daemon.wait_for_count(&lines, seen + 200.0);
        match kind {
            "rename" => {
                for i in (1..k).rev() {
                    std::fs::rename(
                        format!("{}.{i}", setup.log),
                        format!("{}.{}", setup.log, i + 1),
                    )
                    .expect("shift an old log");
                }
                std::fs::rename(&setup.log, format!("{}.1", setup.log)).expect("rename the log");
                // logrotate's `create`; the writer may have made it already when reopening.
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&setup.log)
                    .expect("create the new log");
            }
            _ => {
                let done =
                    run(command("python3").args(["-c", COPYTRUNCATE, &setup.log, &k.to_string()]));
                assert_eq!(done.code, Some(0), "copytruncate: {done:?}");
            }
        }
        daemon.wait_for_count(&rotated, f64::from(k));
    }
    let seen = daemon.metric(&lines);
    daemon.wait_for_count(&lines, seen + 200.0);
    std::fs::write(&stop, "").expect("stop the writer");
    assert!(writer.wait("the writer").success());
    let written: f64 = std::fs::read_to_string(&count)
        .expect("the writer's count")
        .parse()
        .expect("a number");

    daemon.wait_for_count(&lines, written);
    wait::until("the counter of written lines to catch up", || {
        total(&daemon, "written_lines_total").filter(|n| *n >= written)
    });
    assert_eq!(
        total(&daemon, "written_lines_total"),
        Some(written),
        "lost or doubled lines"
    );
    assert_eq!(daemon.metric(&lines), written);
    assert_eq!(daemon.metric(&setup.own("lines_unmatched_total", "")), 0.0);
    assert_eq!(daemon.metric(&rotated), f64::from(rotations));
}

#[test]
fn no_line_is_lost_across_rename_and_create_rotations() {
    no_line_is_lost_across("rename", 3);
}

#[test]
fn no_line_is_lost_across_copytruncate_rotations() {
    no_line_is_lost_across("copytruncate", 3);
}

#[test]
fn by_default_only_lines_written_after_the_start_are_read() {
    let setup = Setup::new(
        "metrics-log-from-end",
        RULES,
        b"line 1\nline 2\nline 3\nline ",
    );
    let daemon = setup.adapter(&[]).start();
    setup.append(b"4\nline 5\nline 6\n");
    let lines = setup.own("lines_total", "");
    daemon.wait_for_count(&lines, 2.0);
    wait::until("the counter of new lines", || {
        total(&daemon, "written_lines_total").filter(|n| *n >= 2.0)
    });
    assert_eq!(total(&daemon, "written_lines_total"), Some(2.0));
    assert_eq!(
        daemon.metric(&lines),
        2.0,
        "the cut line at the start is not a line"
    );

    let setup = Setup::new("metrics-log-from-start", RULES, b"line 1\nline 2\nline 3\n");
    let daemon = setup.adapter(&["--log-from-start"]).start();
    daemon.wait_for_count(&setup.own("lines_total", ""), 3.0);
    assert_eq!(daemon.metric("written_lines_total{last=\"3\"}"), 1.0);
    // A log that is not there yet is read whole when it appears.
    let setup = Setup::new("metrics-log-later", RULES, b"");
    std::fs::remove_file(&setup.log).expect("remove the log");
    let daemon = setup.adapter(&[]).start();
    assert!(daemon.logged("log not there yet"), "{}", daemon.log_text());
    std::fs::write(&setup.log, b"line 1\nline 2\n").expect("write the log");
    daemon.wait_for_count(&setup.own("lines_total", ""), 2.0);
    assert_eq!(daemon.metric("written_lines_total{last=\"2\"}"), 1.0);
}

#[test]
fn captures_become_labels_and_observed_values() {
    let rules = r#"rules:
  - match: '^(?P<method>[A-Z]+) (?P<path>\S+) (?P<code>\d)\d\d (?P<seconds>\S+)$'
    metric: http_requests_total
    type: counter
    labels: {method: '$method', code: '${code}xx'}
  - match: '^[A-Z]+ .* (?P<seconds>[0-9.]+)$'
    metric: http_request_seconds
    type: histogram
    value: seconds
    buckets: [0.1, 1]
  - match: '^queue depth (?P<depth>\d+)$'
    metric: queue_depth
    type: gauge
    value: depth
"#;
    let setup = Setup::new(
        "metrics-log-rules",
        rules,
        b"GET /a 200 0.05\nGET /b 204 0.5\nPOST /c 503 2\nqueue depth 7\nqueue depth 3\nnoise\n",
    );
    let daemon = setup.adapter(&["--log-from-start"]).start();
    daemon.wait_for_count(&setup.own("lines_total", ""), 6.0);
    assert_eq!(
        daemon.metric("http_requests_total{code=\"2xx\",method=\"GET\"}"),
        2.0
    );
    assert_eq!(
        daemon.metric("http_requests_total{code=\"5xx\",method=\"POST\"}"),
        1.0
    );
    assert_eq!(
        daemon.metric("http_request_seconds_bucket{le=\"0.1\"}"),
        1.0
    );
    assert_eq!(daemon.metric("http_request_seconds_bucket{le=\"1\"}"), 2.0);
    assert_eq!(daemon.metric("http_request_seconds_sum"), 2.55);
    assert_eq!(daemon.metric("queue_depth"), 3.0);
    assert_eq!(daemon.metric(&setup.own("lines_matched_total", "")), 5.0);
    assert_eq!(daemon.metric(&setup.own("lines_unmatched_total", "")), 1.0);
}

#[test]
fn a_line_of_1_mb_and_bad_utf8_are_counted_and_skipped() {
    let mut content = b"line 1\n".to_vec();
    content.extend(std::iter::repeat_n(b'x', 1 << 20));
    content.extend_from_slice(b"\nline \xff\xfe2\nline 3\n");
    let setup = Setup::new("metrics-log-bad-lines", RULES, &content);
    let daemon = setup.adapter(&["--log-from-start"]).start();
    daemon.wait_for_count(&setup.own("lines_total", ""), 4.0);
    assert_eq!(
        daemon.metric(&setup.own("lines_skipped_total", ",reason=\"too_long\"")),
        1.0
    );
    assert_eq!(
        daemon.metric(&setup.own("lines_skipped_total", ",reason=\"bad_utf8\"")),
        1.0
    );
    assert_eq!(total(&daemon, "written_lines_total"), Some(2.0));
    // It still reads what comes next.
    setup.append(b"line 4\n");
    daemon.wait_for_count(&setup.own("lines_total", ""), 5.0);
}

#[test]
fn a_bad_rules_file_is_refused_naming_the_file_and_the_rule() {
    let setup = Setup::new(
        "metrics-log-bad-rules",
        "rules:\n  - match: 'a'\n    metric: ok\n    type: counter\n  - match: '(?P<v>b'\n    metric: broken\n    type: counter\n",
        b"",
    );
    Daemon::tool("metrics")
        .args(["--log", &setup.log, "--log-rules", &setup.rules])
        .assert_refused(&["--log-rules", &setup.rules, "rule 2", "(?P<v>b"]);
    Daemon::tool("metrics")
        .args(["--log", &setup.log, "--log", &setup.log])
        .args([
            "--log-rules",
            &setup.rules,
            "--log-rules",
            &setup.rules,
            "--log-rules",
            &setup.rules,
        ])
        .assert_refused(&["--log-rules", "3 given for 2 --log"]);
}
