//! podkit-reload as the user of a config-reload sidecar sees it: ConfigMap volumes updated the way
//! the kubelet updates them and plain directories edited the ways people edit files, and what
//! arrives at the other end: requests at a real HTTP webhook, signals at a real process in the
//! same PID namespace, files written by `--exec`, lines in the log and series in `/metrics`.
//!
//! Each test starts podkit-reload with a short `--debounce` so that it takes seconds, and waits
//! for what must happen under the harness's hang guard. Where a test must show that something
//! did *not* happen (a no-op update, a resync, a second firing of one edit), it makes a later,
//! real change and counts everything that arrived up to that change's effect, instead of waiting
//! for nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use podkit_tests::daemon::{Daemon, Launch};
use podkit_tests::kubelet::{self, AtomicVolume};
use podkit_tests::pidns::{self, Namespace};
use podkit_tests::run::{self, command, run_unless};
use podkit_tests::servers::{DeadPort, Scratch};
use podkit_tests::tcp::http_get;
use podkit_tests::{bins, wait};

/// Short, so that each test takes seconds; long enough that the events of one update make one
/// change on a loaded machine.
const DEBOUNCE: &str = "50ms";

/// A pause well above [`DEBOUNCE`] between two edits, so that a spurious second firing of the
/// first edit happens before the second edit and is counted, rather than being merged into the
/// second by the debounce. It only gives a bug the chance to show: a pause too short on a slow
/// machine can hide a bug, never fail a correct build.
const SETTLE: Duration = Duration::from_millis(600);

// ---------------------------------------------------------------------------------------------
// podkit-reload, running.
// ---------------------------------------------------------------------------------------------

/// `podkit-reload --debounce 50ms ARGS...`, to be started once it logs `watching`: from then on,
/// a change on disk is seen.
fn reload<S: AsRef<str>>(args: &[S]) -> Launch {
    Daemon::tool("reload")
        .args(["--debounce", DEBOUNCE])
        .args(args.iter().map(AsRef::as_ref))
        .ready_when("watching")
}

/// `podkit_reload_reloads_total{action="ACTION",result="RESULT"}` on its `/metrics`.
fn reloads(reload: &Daemon, action: &str, result: &str) -> f64 {
    reload.metric(&format!(
        "podkit_reload_reloads_total{{action=\"{action}\",result=\"{result}\"}}"
    ))
}

/// The `podkit_reload_content_info` series exposed now, each with its value.
fn content_info(reload: &Daemon) -> Vec<String> {
    reload.series_starting("podkit_reload_content_info{")
}

/// `podkit-reload ARGS...` run to its end, for flags it must refuse: exit code and stderr.
fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    // Fails at once, rather than at the hang guard, if it starts watching instead.
    let finished = run_unless(command(bins::path("reload")).args(args), "watching");
    (finished.code, finished.stderr)
}

// ---------------------------------------------------------------------------------------------
// The webhook's other end.
// ---------------------------------------------------------------------------------------------

/// One request as the webhook receiver read it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The content of the receiver's observed file when the request arrived (see
    /// [`Webhook::observing`]); `None` when it did not exist or nothing is observed.
    observed: Option<String>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// An HTTP/1.1 server on 127.0.0.1 that records every request (method, path, headers, body) and
/// answers each with the next status of a script, the last one repeating, and
/// `Connection: close`. One connection at a time: podkit-reload calls a webhook once per change.
struct Webhook {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl Webhook {
    /// Answers 200 to everything.
    fn start() -> Webhook {
        Webhook::answering(&[200])
    }

    /// Answers `statuses[0]` to the first request, `statuses[1]` to the second, and the last
    /// status to every request after.
    fn answering(statuses: &[u16]) -> Webhook {
        Webhook::launch(statuses, None)
    }

    /// Answers 200, and records with each request what `file` holds when the request arrives:
    /// which actions ran before the webhook, or which content the webhook was fired for.
    fn observing(file: &Path) -> Webhook {
        Webhook::launch(&[200], Some(file.to_owned()))
    }

    fn launch(statuses: &[u16], observe: Option<PathBuf>) -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook receiver");
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let statuses = statuses.to_vec();
        let (recorded, stopping) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let observed = observe
                    .as_deref()
                    .and_then(|file| std::fs::read_to_string(file).ok());
                let Some(request) = read_request(&stream, observed) else {
                    continue;
                };
                let status = {
                    let mut recorded = recorded.lock().unwrap();
                    let status = statuses[recorded.len().min(statuses.len() - 1)];
                    recorded.push(request);
                    status
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Webhook {
            addr,
            requests,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT/PATH`; `path` starts with `/`.
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests have arrived, and returns all of them.
    fn wait_for(&self, count: usize) -> Vec<Request> {
        wait::until(&format!("{count} webhook requests"), || {
            let requests = self.requests();
            (requests.len() >= count).then_some(requests)
        })
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop, which then sees `stop`.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads one request: its head, and a body of `Content-Length` bytes or chunked.
fn read_request(stream: &TcpStream, observed: Option<String>) -> Option<Request> {
    stream
        .set_read_timeout(Some(wait::HANG_GUARD))
        .expect("a read timeout");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let (method, path) = (words.next()?.to_owned(), words.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _): &&(String, String)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    };
    let mut body = Vec::new();
    if let Some(length) = header("content-length") {
        let length: usize = length.parse().ok()?;
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Some(Request {
        method,
        path,
        headers,
        body,
        observed,
    })
}

// ---------------------------------------------------------------------------------------------
// Volumes.
// ---------------------------------------------------------------------------------------------

/// A scratch directory with a ConfigMap volume in `volume/` holding `key`.
fn configmap(label: &str, content: &str) -> (Scratch, AtomicVolume) {
    let scratch = Scratch::new(label);
    let dir = scratch.join("volume");
    std::fs::create_dir(&dir).unwrap();
    let volume = AtomicVolume::create(&dir, &[("key", content.as_bytes())]);
    (scratch, volume)
}

fn payload(content: &str) -> [(&str, &[u8]); 1] {
    [("key", content.as_bytes())]
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

// ---------------------------------------------------------------------------------------------
// ConfigMap volumes updated by the kubelet.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_kubelet_update_fires_once_and_an_identical_rewrite_or_a_resync_fires_nothing() {
    let (_scratch, mut volume) = configmap("reload-once", "workers 1\n");
    let webhook = Webhook::start();
    let reload = reload(&[
        "--watch",
        &show(volume.dir()),
        "--webhook",
        &webhook.url("/-/reload"),
        "--resync",
        "100ms",
    ])
    .metered()
    .start();
    let info_at_start = content_info(&reload);

    assert!(volume.update(&payload("workers 2\n")));
    let requests = webhook.wait_for(1);
    assert_eq!(requests[0].method, "POST", "the default method");
    assert_eq!(requests[0].path, "/-/reload");
    assert!(
        requests[0].body.is_empty(),
        "an empty request, as Prometheus's /-/reload expects: {:?}",
        requests[0]
    );
    reload.wait_logged("reloaded", 1);
    assert_eq!(reloads(&reload, "webhook", "success"), 1.0);
    assert!(reload.metric("podkit_reload_last_success_timestamp_seconds") > 0.0);
    let info_after = content_info(&reload);
    assert_eq!(info_after.len(), 1, "one content hash: {info_after:?}");
    assert_ne!(info_after, info_at_start, "the hash follows the content");

    // Every step of an update, with the same bytes; then several resyncs.
    volume.rewrite(&payload("workers 2\n"));
    std::thread::sleep(SETTLE);

    assert!(volume.update(&payload("workers 3\n")));
    webhook.wait_for(2);
    reload.wait_logged("reloaded", 2);
    assert_eq!(
        webhook.requests().len(),
        2,
        "one request per real change, none for the rewrite or the resyncs; log:\n{}",
        reload.log().join("\n")
    );
    assert_eq!(reloads(&reload, "webhook", "success"), 2.0);
}

#[test]
fn two_hundred_rapid_kubelet_updates_end_with_the_last_content_applied() {
    let (scratch, mut volume) = configmap("reload-rapid", "generation 0\n");
    let out = scratch.join("applied");
    let exec = format!("cp {} {}", show(&volume.path("key")), show(&out));
    let reload = reload(&["--watch", &show(volume.dir()), "--exec", &exec]).start();

    for generation in 1..=200 {
        assert!(volume.update(&payload(&format!("generation {generation}\n"))));
    }
    wait::until("the last generation to be applied", || {
        (std::fs::read_to_string(&out).ok()? == "generation 200\n").then_some(())
    });
    assert!(
        !reload.logged("reload failed"),
        "every apply succeeded: {}",
        reload.log().join("\n")
    );
}

#[test]
fn a_change_in_any_watched_volume_fires_and_exec_is_told_which_one_changed() {
    let (scratch, mut first) = configmap("reload-two", "a 1\n");
    let second_dir = scratch.join("second");
    std::fs::create_dir(&second_dir).unwrap();
    let mut second = AtomicVolume::create(&second_dir, &payload("b 1\n"));
    let out = scratch.join("changed");
    let exec = format!(
        "sh -c 'printf \"%s\\n\" \"$PODKIT_CHANGED\" > {}'",
        show(&out)
    );
    let reload = reload(&[
        "--watch",
        &show(first.dir()),
        "--watch",
        &show(second.dir()),
        "--exec",
        &exec,
    ])
    .start();

    assert!(second.update(&payload("b 2\n")));
    reload.wait_logged("reloaded", 1);
    let changed = std::fs::read_to_string(&out).expect("the exec wrote PODKIT_CHANGED");
    assert!(
        changed.contains(&show(second.dir())) && !changed.contains(&show(first.dir())),
        "PODKIT_CHANGED names the second volume only: {changed:?}"
    );

    assert!(first.update(&payload("a 2\n")));
    reload.wait_logged("reloaded", 2);
    let changed = std::fs::read_to_string(&out).unwrap();
    assert!(
        changed.contains(&show(first.dir())) && !changed.contains(&show(second.dir())),
        "PODKIT_CHANGED names the first volume only: {changed:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Plain directories.
// ---------------------------------------------------------------------------------------------

/// A plain directory with `key`, watched with a webhook that sees the file's content when each
/// request arrives; `edit` changes it twice. Each edit must fire once, for its own content.
fn each_plain_edit_fires_once(label: &str, edit: fn(&Path, &[u8])) {
    let scratch = Scratch::new(label);
    let dir = scratch.join("plain");
    std::fs::create_dir(&dir).unwrap();
    let key = dir.join("key");
    std::fs::write(&key, "one\n").unwrap();
    let webhook = Webhook::observing(&key);
    let reload = reload(&["--watch", &show(&dir), "--webhook", &webhook.url("/")]).start();

    edit(&key, b"two\n");
    webhook.wait_for(1);
    std::thread::sleep(SETTLE);
    edit(&key, b"three\n");
    webhook.wait_for(2);
    reload.wait_logged("reloaded", 2);
    let observed: Vec<Option<String>> =
        webhook.requests().into_iter().map(|r| r.observed).collect();
    assert_eq!(
        observed,
        [Some("two\n".to_owned()), Some("three\n".to_owned())],
        "one request per edit, after it; log:\n{}",
        reload.log().join("\n")
    );
}

#[test]
fn a_file_edited_in_place_fires_once_per_edit() {
    each_plain_edit_fires_once("reload-in-place", kubelet::write_in_place);
}

#[test]
fn a_file_renamed_over_fires_once_per_edit() {
    each_plain_edit_fires_once("reload-rename", kubelet::rename_over);
}

#[test]
fn a_file_deleted_and_recreated_fires_once_per_edit() {
    each_plain_edit_fires_once("reload-recreate", kubelet::delete_and_recreate);
}

// ---------------------------------------------------------------------------------------------
// Validation, ordering, webhook behaviour.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_failed_validation_blocks_the_webhook_is_logged_and_counted_and_the_next_change_is_tried() {
    let (_scratch, mut volume) = configmap("reload-validate", "state: bad\n");
    let webhook = Webhook::start();
    let validate = format!("grep -q good {}", show(&volume.path("key")));
    let reload = reload(&[
        "--watch",
        &show(volume.dir()),
        "--validate",
        &validate,
        "--webhook",
        &webhook.url("/-/reload"),
    ])
    .metered()
    .start();

    assert!(volume.update(&payload("state: still bad\n")));
    reload.wait_logged("validation failed", 1);
    assert_eq!(reloads(&reload, "validate", "failure"), 1.0);
    assert!(reload.metric("podkit_reload_last_failure_timestamp_seconds") > 0.0);

    assert!(volume.update(&payload("state: good\n")));
    webhook.wait_for(1);
    reload.wait_logged("reloaded", 1);
    assert_eq!(
        webhook.requests().len(),
        1,
        "the webhook fired for the good content only"
    );
    assert_eq!(reloads(&reload, "validate", "success"), 1.0);
    assert_eq!(reloads(&reload, "validate", "failure"), 1.0);
    assert_eq!(reloads(&reload, "webhook", "success"), 1.0);
}

#[test]
fn a_validation_that_always_fails_never_lets_an_action_run() {
    let (scratch, mut volume) = configmap("reload-false", "x 1\n");
    let out = scratch.join("ran");
    let exec = format!("touch {}", show(&out));
    let reload = reload(&[
        "--watch",
        &show(volume.dir()),
        "--validate",
        "false",
        "--exec",
        &exec,
    ])
    .metered()
    .start();
    for n in 2..=3 {
        assert!(volume.update(&payload(&format!("x {n}\n"))));
        reload.wait_logged("validation failed", n - 1);
    }
    assert_eq!(reloads(&reload, "validate", "failure"), 2.0);
    assert_eq!(reloads(&reload, "exec", "success"), 0.0);
    assert!(!out.exists(), "--exec ran despite the failed validation");
}

#[test]
fn actions_run_in_the_order_given() {
    let (scratch, mut volume) = configmap("reload-order", "v 1\n");
    let marker = scratch.join("exec-ran");
    let webhook = Webhook::observing(&marker);
    let exec = format!("{} append {} exec", bins::helper(), show(&marker));
    let reload = reload(&[
        "--watch",
        &show(volume.dir()),
        "--exec",
        &exec,
        "--webhook",
        &webhook.url("/"),
    ])
    .start();

    assert!(volume.update(&payload("v 2\n")));
    let requests = webhook.wait_for(1);
    reload.wait_logged("reloaded", 2);
    assert_eq!(
        requests[0].observed.as_deref(),
        Some("exec\n"),
        "--exec, given first, ran before --webhook; log:\n{}",
        reload.log().join("\n")
    );
}

#[test]
fn a_webhook_that_fails_twice_is_retried_until_it_succeeds() {
    let (_scratch, mut volume) = configmap("reload-retry", "r 1\n");
    let webhook = Webhook::answering(&[500, 500, 200]);
    let reload = reload(&[
        "--watch",
        &show(volume.dir()),
        "--webhook",
        &webhook.url("/-/reload"),
        "--webhook-retries",
        "3",
    ])
    .metered()
    .start();

    assert!(volume.update(&payload("r 2\n")));
    reload.wait_logged("reloaded", 1);
    assert_eq!(
        webhook.requests().len(),
        3,
        "two failures, then the success; log:\n{}",
        reload.log().join("\n")
    );
    assert!(
        !reload.logged("reload failed"),
        "{}",
        reload.log().join("\n")
    );
    assert_eq!(reloads(&reload, "webhook", "success"), 1.0);
    assert_eq!(reloads(&reload, "webhook", "failure"), 0.0);
}

#[test]
fn a_change_whose_webhook_failed_is_applied_again_at_the_next_resync() {
    // The app was down during the update (every attempt failed): the content still differs from
    // the last successful apply, and the resync is the next chance to apply it.
    let (_scratch, mut volume) = configmap("reload-resync-retry", "f 1\n");
    let webhook = Webhook::answering(&[500, 200]);
    let reload = reload(&[
        "--watch",
        &show(volume.dir()),
        "--webhook",
        &webhook.url("/-/reload"),
        "--webhook-retries",
        "0",
        "--resync",
        "200ms",
    ])
    .start();

    assert!(volume.update(&payload("f 2\n")));
    reload.wait_logged("reload failed", 1);
    webhook.wait_for(2);
    reload.wait_logged("reloaded", 1);
}

#[test]
fn webhook_url_credentials_become_basic_auth_and_never_reach_the_log() {
    let (_scratch, mut volume) = configmap("reload-secret", "s 1\n");
    let webhook = Webhook::answering(&[500, 200]);
    let port = webhook.addr.port();
    let live = format!("http://prometheus:s3cret@127.0.0.1:{port}/-/reload");
    // A second webhook nothing answers: its failure is logged, with its URL.
    let dead = DeadPort::reserve();
    let unreachable = format!("http://prometheus:s3cret@{}/-/reload", dead.address);
    let reload = reload(&[
        "--watch",
        &show(volume.dir()),
        "--webhook",
        &live,
        "--webhook",
        &unreachable,
        "--webhook-header",
        "X-Reloaded-By: podkit",
        "--webhook-method",
        "PUT",
        "--webhook-retries",
        "1",
        "--log-level",
        "debug",
    ])
    .start();

    assert!(volume.update(&payload("s 2\n")));
    reload.wait_logged("reload failed", 1);
    let requests = webhook.wait_for(2);
    for request in &requests {
        assert_eq!(request.method, "PUT");
        assert_eq!(
            request.header("authorization"),
            Some("Basic cHJvbWV0aGV1czpzM2NyZXQ="),
            "prometheus:s3cret as basic auth: {request:?}"
        );
        assert_eq!(request.header("x-reloaded-by"), Some("podkit"));
    }
    let log = reload.log().join("\n");
    assert!(
        log.contains(&dead.address),
        "the failing webhook is named: {log}"
    );
    assert!(
        !log.contains("s3cret"),
        "the password is in the log:\n{log}"
    );
    assert!(
        !log.contains("cHJvbWV0aGV1czpzM2NyZXQ"),
        "the encoded password is in the log:\n{log}"
    );
}

#[test]
fn on_start_fires_once_at_start_and_then_once_per_change() {
    let (_scratch, mut volume) = configmap("reload-on-start", "o 1\n");
    let webhook = Webhook::start();
    let reload = reload(&[
        "--watch",
        &show(volume.dir()),
        "--webhook",
        &webhook.url("/"),
        "--on-start",
    ])
    .metered()
    .start();
    webhook.wait_for(1);
    reload.wait_logged("reloaded", 1);
    wait::until("/readyz to answer 200 after the first apply", || {
        (http_get(reload.metrics_addr(), "/readyz").0 == 200).then_some(())
    });
    assert_eq!(
        content_info(&reload).len(),
        1,
        "the applied content's hash is exposed after the apply at start"
    );

    assert!(volume.update(&payload("o 2\n")));
    webhook.wait_for(2);
    reload.wait_logged("reloaded", 2);
    assert_eq!(webhook.requests().len(), 2, "{}", reload.log().join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Signals, inside a PID namespace.
// ---------------------------------------------------------------------------------------------

/// `sh -c` that starts the test helper catching signals in the background, writes its pid to
/// `$2`, and becomes `podkit-reload ARGS` (`$3...`): both in one PID namespace, as the
/// containers of a pod with `shareProcessNamespace: true`.
const BESIDE_AN_APP: &str =
    r#"helper=$1; pid_file=$2; shift 2; "$helper" signals & echo $! > "$pid_file"; exec "$@""#;

fn beside_an_app(scratch: &Scratch, args: &[&str]) -> Namespace {
    let (helper, reload) = (bins::helper(), show(&bins::path("reload")));
    let pid_file = scratch.file("app.pid");
    let mut argv = vec!["sh", "-c", BESIDE_AN_APP, "sh", &helper, &pid_file, &reload];
    argv.extend_from_slice(&["--debounce", DEBOUNCE]);
    argv.extend_from_slice(args);
    let mut namespace = Namespace::start(&argv);
    namespace.expect_seen("the app to catch signals", |line| line == "ready");
    namespace.expect_logged("watching");
    namespace
}

#[test]
fn sighup_reaches_the_process_found_by_its_full_name_in_the_same_pid_namespace() {
    let test = "sighup_reaches_the_process_found_by_its_full_name_in_the_same_pid_namespace";
    if !pidns::available(test) {
        return;
    }
    let (scratch, mut volume) = configmap("reload-sighup", "h 1\n");
    // 17 characters: /proc/PID/comm shows only `podkit-testhelp`.
    let watch = show(volume.dir());
    let args = [
        "--watch",
        &watch,
        "--signal",
        "HUP",
        "--process",
        "podkit-testhelper",
    ];
    let mut namespace = beside_an_app(&scratch, &args);

    assert!(volume.update(&payload("h 2\n")));
    namespace.expect_line("the app to get SIGHUP", |line| line == "signal SIGHUP");
    namespace.expect_logged("reloaded");
}

#[test]
fn sighup_reaches_the_process_named_by_a_pid_file() {
    let test = "sighup_reaches_the_process_named_by_a_pid_file";
    if !pidns::available(test) {
        return;
    }
    let (scratch, mut volume) = configmap("reload-pid-file", "p 1\n");
    let (watch, pid_file) = (show(volume.dir()), scratch.file("app.pid"));
    let args = [
        "--watch",
        &watch,
        "--signal",
        "SIGHUP",
        "--pid-file",
        &pid_file,
    ];
    let mut namespace = beside_an_app(&scratch, &args);

    assert!(volume.update(&payload("p 2\n")));
    namespace.expect_line("the app to get SIGHUP", |line| line == "signal SIGHUP");
    namespace.expect_logged("reloaded");
}

/// nginx's main configuration, everything under `prefix`, listening on `port`, its server block
/// included from the ConfigMap volume's `site.conf`.
fn nginx_conf(prefix: &str, port: u16, volume: &Path) -> String {
    let site = show(&volume.join("site.conf"));
    format!(
        "daemon off; master_process on; worker_processes 1;
pid {prefix}/nginx.pid; error_log {prefix}/error.log notice;
events {{}}
http {{
  access_log off;
  client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy; fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
  server {{ listen 127.0.0.1:{port}; include {site}; }}
}}
"
    )
}

fn site(answer: &str) -> String {
    format!("location / {{ return 200 \"{answer}\\n\"; }}\n")
}

#[test]
fn nginx_t_as_validate_keeps_a_broken_site_out_and_a_good_one_is_reloaded_by_sighup() {
    let test = "nginx_t_as_validate_keeps_a_broken_site_out_and_a_good_one_is_reloaded_by_sighup";
    if !pidns::available(test)
        || !run::installed(test, "nginx", &["-v"], "nginx-light")
        || !run::installed(test, "curl", &["--version"], "curl")
    {
        return;
    }
    let scratch = Scratch::new("reload-nginx");
    let dir = scratch.join("volume");
    std::fs::create_dir(&dir).unwrap();
    let mut volume = AtomicVolume::create(&dir, &[("site.conf", site("v1").as_bytes())]);
    // Held until nginx listens on it (both bind with SO_REUSEADDR).
    let port = DeadPort::for_a_server();
    let conf = scratch.file("nginx.conf");
    std::fs::write(&conf, nginx_conf(&scratch.file(""), port.port, &dir)).unwrap();
    let (reload, watch) = (show(&bins::path("reload")), show(&dir));
    let validate = format!("nginx -t -q -c {conf}");
    let script = r#"conf=$1; shift; nginx -c "$conf" & exec "$@""#;
    let mut namespace = Namespace::start(&[
        "sh",
        "-c",
        script,
        "sh",
        &conf,
        &reload,
        "--watch",
        &watch,
        "--debounce",
        DEBOUNCE,
        "--validate",
        &validate,
        "--signal",
        "HUP",
        "--process",
        "nginx",
    ]);
    namespace.expect_logged("watching");
    let url = format!("http://{}/", port.address);
    let answer = |expected: &str| {
        wait::until(&format!("nginx to answer {expected:?}"), || {
            let curl = run::curl(&["--fail", &url]);
            (curl.succeeded() && curl.stdout == format!("{expected}\n")).then_some(())
        })
    };
    answer("v1");

    // A broken site is refused by `nginx -t`: nginx keeps serving what it has.
    assert!(volume.update(&[("site.conf", b"location / { return 200 \"broken;")]));
    namespace.expect_logged("validation failed");
    let nginx_log = || std::fs::read_to_string(scratch.join("error.log")).unwrap_or_default();
    assert!(
        !nginx_log().contains("SIGHUP"),
        "nginx was signalled for a site `nginx -t` refused:\n{}",
        nginx_log()
    );
    answer("v1");

    assert!(volume.update(&[("site.conf", site("v2").as_bytes())]));
    namespace.expect_logged("reloaded");
    answer("v2");
    assert!(nginx_log().contains("SIGHUP"), "{}", nginx_log());
}

#[test]
fn sigterm_stops_it_with_exit_0() {
    let test = "sigterm_stops_it_with_exit_0";
    if !pidns::available(test) {
        return;
    }
    let (_scratch, volume) = configmap("reload-sigterm", "t 1\n");
    let watch = show(volume.dir());
    let reload = reload(&["--watch", &watch, "--exec", "true"])
        .as_pid1()
        .start();
    let stopped = reload.stop();
    assert_eq!(stopped.code(), Some(0), "{stopped:?}");
}

// ---------------------------------------------------------------------------------------------
// Refusals at start.
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_flags_exit_2_with_one_line_naming_the_fault() {
    let scratch = Scratch::new("reload-flags");
    let dir = scratch.file("");
    // Its parent is missing too: a missing file in an existing directory is watched for.
    let missing = scratch.file("missing/volume");
    for (args, named) in [
        (
            vec!["--watch", &dir, "--exec", "true", "--debounce", "soon"],
            "--debounce",
        ),
        (vec!["--watch", &dir], "--webhook"),
        (vec!["--watch", &dir, "--signal", "HUP"], "--process"),
        (
            vec!["--watch", &dir, "--signal", "NOPE", "--pid-file", "x"],
            "--signal",
        ),
        (
            vec!["--watch", &dir, "--webhook", "ftp://example/"],
            "--webhook",
        ),
        (vec!["--watch", &dir, "--exec", "'unbalanced"], "--exec"),
        (vec!["--exec", "true"], "--watch"),
        (
            vec!["--watch", &dir, "--exec", "true", "--action-timeout", "0s"],
            "--action-timeout",
        ),
        // A template's destination is --template-output: --output is podkit-probe's format.
        (
            vec!["--watch", &dir, "--template", "a", "--output", "b"],
            "--output",
        ),
        (vec!["--watch", &missing, "--exec", "true"], "--watch"),
        // A refused value that carries a secret is never quoted back.
        (
            vec![
                "--watch",
                &dir,
                "--webhook",
                "http://user:s3cret@127.0.0.1:99999/",
            ],
            "--webhook",
        ),
        // A password with a `/` ends the authority there: never taken for a host and a port
        // (`admin` and `8080`), never quoted back.
        (
            vec![
                "--watch",
                &dir,
                "--webhook",
                "http://admin:s3cr/et@127.0.0.1/",
            ],
            "--webhook",
        ),
        (
            vec![
                "--watch",
                &dir,
                "--webhook",
                "http://admin:8080/s3cret@127.0.0.1/",
            ],
            "--webhook",
        ),
        (
            vec![
                "--watch",
                &dir,
                "--webhook",
                "http://127.0.0.1:1/",
                "--webhook-header",
                "Authorization: Bearer s3cret\r",
            ],
            "--webhook-header",
        ),
        (
            vec![
                "--watch",
                &dir,
                "--exec",
                "true",
                "--resync",
                "18446744073709551615s",
            ],
            "--resync",
        ),
    ] {
        let (code, stderr) = run_to_exit(&args);
        assert!(!stderr.contains("s3cret"), "{args:?}: a secret in {stderr}");
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("podkit-reload: error: ") && stderr.contains(named),
            "{args:?} names {named}: {stderr}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Templates.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_template_is_rendered_at_start_and_after_each_change_and_its_secret_never_logged() {
    let scratch = Scratch::new("reload-template");
    let volume_dir = scratch.join("config");
    std::fs::create_dir_all(&volume_dir).unwrap();
    let mut volume = AtomicVolume::create(
        &volume_dir,
        &[(
            "app.conf.tmpl",
            b"user=${DB_USER}\npassword=$(DB_PASSWORD)\nversion=1\n",
        )],
    );
    let output = scratch.join("app.conf");
    let reload = reload(&[
        "--watch",
        &volume_dir.display().to_string(),
        "--template",
        &volume_dir.join("app.conf.tmpl").display().to_string(),
        "--template-output",
        &output.display().to_string(),
        "--exec",
        "true",
        "--log-level",
        "debug",
    ])
    .env("DB_USER", "app")
    .env("DB_PASSWORD", "t0p-s3cret")
    .start();
    assert_eq!(
        std::fs::read_to_string(&output).expect("rendered at start"),
        "user=app\npassword=t0p-s3cret\nversion=1\n"
    );

    volume.update(&[(
        "app.conf.tmpl",
        b"user=${DB_USER}\npassword=$(DB_PASSWORD)\nversion=2\n",
    )]);
    wait::until("the template rendered again with version=2", || {
        let rendered = std::fs::read_to_string(&output).ok()?;
        rendered.contains("version=2").then_some(rendered)
    });
    reload.wait_logged("reloaded", 1);
    let log = reload.log().join("\n");
    assert!(
        !log.contains("t0p-s3cret"),
        "the secret reached the log:\n{log}"
    );
}

#[test]
fn a_template_with_an_unset_variable_stops_it_at_start_naming_the_variable() {
    let scratch = Scratch::new("reload-template-unset");
    let volume_dir = scratch.join("config");
    std::fs::create_dir_all(&volume_dir).unwrap();
    AtomicVolume::create(
        &volume_dir,
        &[("app.conf.tmpl", b"password=${NOT_SET_ANYWHERE}\n")],
    );
    let done = run_unless(
        command(bins::path("reload"))
            .args(["--watch", &volume_dir.display().to_string()])
            .args([
                "--template",
                &volume_dir.join("app.conf.tmpl").display().to_string(),
            ])
            .args([
                "--template-output",
                &scratch.join("app.conf").display().to_string(),
            ])
            .env_remove("NOT_SET_ANYWHERE"),
        "watching",
    );
    let stderr = &done.stderr;
    assert_eq!(done.code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("NOT_SET_ANYWHERE"), "{stderr}");
    assert!(!scratch.join("app.conf").exists(), "nothing written");
}

// ---------------------------------------------------------------------------------------------
// Timeouts, shutdown during an action, and pid files.
// ---------------------------------------------------------------------------------------------

#[test]
fn an_exec_still_running_at_the_action_timeout_is_killed_and_the_next_change_is_applied() {
    let (scratch, mut volume) = configmap("reload-exec-timeout", "fast 1\n");
    let (key, out, pid_file) = (
        show(&volume.path("key")),
        scratch.file("applied"),
        scratch.file("slow.pid"),
    );
    // Hangs on content that says "slow" (after writing its pid); copies any other content.
    let exec = format!(
        "sh -c 'if grep -q slow {key}; then echo $$ > {pid_file}; exec sleep 600; fi; cp {key} {out}'"
    );
    let reload = reload(&[
        "--watch",
        &show(volume.dir()),
        "--exec",
        &exec,
        "--action-timeout",
        "1s",
    ])
    .start();

    assert!(volume.update(&payload("slow 2\n")));
    reload.wait_logged("reload failed", 1);
    let failure = reload
        .log()
        .into_iter()
        .find(|line| line.contains("reload failed"))
        .unwrap();
    assert!(
        failure.contains("sh still running after 1s: killed with its process group"),
        "{failure}"
    );
    let pid = std::fs::read_to_string(&pid_file).expect("the slow exec wrote its pid");
    let stat = format!("/proc/{}/stat", pid.trim());
    wait::until("the slow exec to be gone", || {
        (!Path::new(&stat).exists()).then_some(())
    });

    assert!(volume.update(&payload("fast 3\n")));
    wait::until("the next change to be applied", || {
        (std::fs::read_to_string(&out).ok()? == "fast 3\n").then_some(())
    });
    reload.wait_logged("reloaded", 1);
}

#[test]
fn a_hung_validate_and_a_webhook_that_never_answers_are_ended_at_their_timeouts() {
    let (_scratch, mut volume) = configmap("reload-hung", "fast 1\n");
    let key = show(&volume.path("key"));
    // Hangs on content that says "slow".
    let validate = format!("sh -c 'if grep -q slow {key}; then exec sleep 600; fi'");
    let live = Webhook::start();
    // Takes connections into its backlog and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let reload = reload(&[
        "--watch",
        &show(volume.dir()),
        "--validate",
        &validate,
        "--action-timeout",
        "1s",
        "--webhook",
        &live.url("/"),
        "--webhook",
        &format!("http://{}/", silent.local_addr().unwrap()),
        "--webhook-timeout",
        "1s",
        "--webhook-retries",
        "0",
    ])
    .start();

    assert!(volume.update(&payload("slow 2\n")));
    let failure = reload.wait_for_log("validation failed");
    assert!(
        failure.contains("still running after 1s: killed with its process group"),
        "{failure}"
    );

    assert!(volume.update(&payload("fast 3\n")));
    live.wait_for(1);
    let failure = reload.wait_for_log("reload failed");
    assert!(failure.contains("timed out"), "{failure}");
}

/// podkit-reload alone as PID 1 of a new PID namespace with `--exec EXEC --drain-timeout DRAIN`,
/// sent SIGTERM once a change of `volume` has started EXEC (which prints `started` first), and
/// seen to begin its drain.
fn sigterm_during_exec(volume: &mut AtomicVolume, exec: &str, drain: &str) -> Namespace {
    let (reload, watch) = (show(&bins::path("reload")), show(volume.dir()));
    let mut namespace = Namespace::start(&[
        &reload,
        "--watch",
        &watch,
        "--debounce",
        DEBOUNCE,
        "--exec",
        exec,
        "--drain-timeout",
        drain,
    ]);
    namespace.expect_logged("watching");
    assert!(volume.update(&payload("changed\n")));
    namespace.expect("started");
    namespace.signal(libc::SIGTERM);
    namespace.expect_logged("stopping: letting the running action finish cause=SIGTERM");
    namespace
}

#[test]
fn sigterm_while_an_exec_runs_stops_it_at_the_drain_timeout_and_exits_0() {
    let test = "sigterm_while_an_exec_runs_stops_it_at_the_drain_timeout_and_exits_0";
    if !pidns::available(test) {
        return;
    }
    let (_scratch, mut volume) = configmap("reload-sigterm-busy", "b 1\n");

    let namespace = sigterm_during_exec(&mut volume, "sh -c 'echo started; exec sleep 600'", "1s");

    let finished = namespace.finish();
    assert_eq!(finished.code(), 0, "{finished:?}");
    finished.assert_logged("drain timeout reached: the running action was stopped");
}

#[test]
fn sigterm_while_an_exec_runs_lets_it_finish_within_the_drain() {
    let test = "sigterm_while_an_exec_runs_lets_it_finish_within_the_drain";
    if !pidns::available(test) {
        return;
    }
    let (scratch, mut volume) = configmap("reload-sigterm-drain", "d 1\n");
    let go = scratch.file("go");
    let made = run::run(command("mkfifo").arg(&go));
    assert_eq!(made.code, Some(0), "mkfifo {go}: {made:?}");
    // Runs until the test writes a line into the FIFO, then exits 0. The drain is far above the
    // test's own pace: the action ends because it finished.
    let exec = format!("sh -c 'echo started; read line < {go}'");

    let namespace = sigterm_during_exec(&mut volume, &exec, "1m");
    std::fs::write(&go, "go\n").expect("the exec reads the FIFO");

    let finished = namespace.finish();
    assert_eq!(finished.code(), 0, "{finished:?}");
    finished.assert_logged("drained: the running action finished");
}

#[test]
fn a_pid_file_naming_a_process_that_exited_is_a_failed_reload_logged_and_counted() {
    let test = "a_pid_file_naming_a_process_that_exited_is_a_failed_reload_logged_and_counted";
    if !pidns::available(test) {
        return;
    }
    let (scratch, mut volume) = configmap("reload-dead-pid", "p 1\n");
    let pid_file = scratch.file("app.pid");
    let metrics = DeadPort::for_a_server();
    let (reload, watch) = (show(&bins::path("reload")), show(volume.dir()));
    // The app wrote its pid file and exited; nothing in the namespace has that pid any more.
    let script = r#"pid_file=$1; shift; true & echo $! > "$pid_file"; wait; exec "$@""#;
    let mut namespace = Namespace::start(&[
        "sh",
        "-c",
        script,
        "sh",
        &pid_file,
        &reload,
        "--watch",
        &watch,
        "--debounce",
        DEBOUNCE,
        "--signal",
        "HUP",
        "--pid-file",
        &pid_file,
        "--metrics-addr",
        &metrics.address,
    ]);
    namespace.expect_logged("watching");
    let pid = std::fs::read_to_string(&pid_file).expect("the pid file");

    assert!(volume.update(&payload("p 2\n")));
    let failure = namespace.expect_logged("reload failed");
    assert!(failure.contains("action=signal"), "{failure}");
    assert!(
        failure.contains(&format!("no process {}", pid.trim())) && failure.contains(&pid_file),
        "names the pid and its file: {failure}"
    );
    let (status, body) = http_get(&metrics.address, "/metrics");
    assert_eq!(status, 200, "{body}");
    let series = "podkit_reload_reloads_total{action=\"signal\",result=\"failure\"} 1";
    assert!(body.lines().any(|line| line == series), "{body}");
    let success = "podkit_reload_reloads_total{action=\"signal\",result=\"success\"} 0";
    assert!(body.lines().any(|line| line == success), "{body}");
}

// ---------------------------------------------------------------------------------------------
// What each action did for the content in place.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_dead_webhook_is_retried_at_each_resync_and_a_healthy_one_is_not_called_again() {
    let (_scratch, mut volume) = configmap("reload-per-action", "a 1\n");
    let live = Webhook::start();
    let dead = DeadPort::reserve();
    let reload = reload(&[
        "--watch",
        &show(volume.dir()),
        "--webhook",
        &live.url("/-/reload"),
        "--webhook",
        &format!("http://{}/-/reload", dead.address),
        "--webhook-retries",
        "0",
        "--resync",
        "100ms",
    ])
    .metered()
    .start();

    assert!(volume.update(&payload("a 2\n")));
    // The dead one fails at the change and again at each of three resyncs.
    reload.wait_logged("reload failed", 4);
    assert_eq!(
        live.requests().len(),
        1,
        "the live webhook was called for this content once; log:\n{}",
        reload.log_text()
    );
    assert_eq!(reloads(&reload, "webhook", "success"), 1.0);
    assert!(reloads(&reload, "webhook", "failure") >= 4.0);

    // New content is new for every action.
    assert!(volume.update(&payload("a 3\n")));
    live.wait_for(2);
    reload.wait_logged("reload failed", 5);
    assert_eq!(live.requests().len(), 2, "{}", reload.log_text());
}

// ---------------------------------------------------------------------------------------------
// Content that is absent, unreadable, not there yet, or our own.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_deleted_volume_fires_nothing_nor_does_an_empty_one_and_content_coming_back_fires_once() {
    let (_scratch, volume) = configmap("reload-deleted", "d 1\n");
    let dir = volume.dir().to_owned();
    let webhook = Webhook::observing(&volume.path("key"));
    let reload = reload(&["--watch", &show(&dir), "--webhook", &webhook.url("/")]).start();

    std::fs::remove_dir_all(&dir).unwrap();
    reload.wait_logged("content absent", 1);
    std::fs::create_dir(&dir).unwrap();
    reload.wait_logged("content absent", 2);
    AtomicVolume::create(&dir, &payload("d 2\n"));

    webhook.wait_for(1);
    reload.wait_logged("reloaded", 1);
    let observed: Vec<Option<String>> =
        webhook.requests().into_iter().map(|r| r.observed).collect();
    assert_eq!(
        observed,
        [Some("d 2\n".to_owned())],
        "one request, for the content that came back; log:\n{}",
        reload.log_text()
    );
}

#[test]
fn a_directory_created_after_start_is_watched_whole_once_it_appears() {
    let scratch = Scratch::new("reload-later");
    let dir = scratch.join("later");
    let webhook = Webhook::observing(&dir.join("key"));
    // The default --resync (3m): only the new directory's own watch can see its updates.
    let reload = reload(&["--watch", &show(&dir), "--webhook", &webhook.url("/")]).start();

    std::fs::create_dir(&dir).unwrap();
    let mut volume = AtomicVolume::create(&dir, &payload("l 1\n"));
    webhook.wait_for(1);
    std::thread::sleep(SETTLE);
    assert!(volume.update(&payload("l 2\n")));

    webhook.wait_for(2);
    reload.wait_logged("reloaded", 2);
    let observed: Vec<Option<String>> =
        webhook.requests().into_iter().map(|r| r.observed).collect();
    assert_eq!(
        observed,
        [Some("l 1\n".to_owned()), Some("l 2\n".to_owned())],
        "{}",
        reload.log_text()
    );
}

#[test]
fn an_unreadable_file_is_logged_once_with_the_uid_counted_and_not_ready_until_readable() {
    let test =
        "an_unreadable_file_is_logged_once_with_the_uid_counted_and_not_ready_until_readable";
    if !pidns::available(test) {
        return;
    }
    let scratch = Scratch::new("reload-unreadable");
    let dir = scratch.join("secret");
    std::fs::create_dir(&dir).unwrap();
    let (key, conf) = (dir.join("tls.key"), dir.join("app.conf"));
    std::fs::write(&key, "k1").unwrap();
    std::fs::write(&conf, "a1").unwrap();
    // A Secret's file at 0400, owned by root (the test), read by a sidecar running as 65532.
    let mode = |mode| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    mode(0o400);
    let reload = reload(&["--watch", &show(&dir), "--exec", "true"])
        .as_user(65532, 65532)
        .metered()
        .start();
    let readyz = |reload: &Daemon| http_get(reload.metrics_addr(), "/readyz").0;

    let line = reload.wait_for_log("cannot read");
    assert!(
        line.contains(&show(&key)) && line.contains("uid=65532"),
        "names the file and the uid: {line}"
    );
    assert_eq!(reload.metric("podkit_reload_unreadable_files"), 1.0);
    assert_ne!(readyz(&reload), 200, "not ready with an unreadable file");

    // Another change, the file still unreadable: not logged again.
    kubelet::rename_over(&conf, b"a2");
    reload.wait_logged("reloaded", 1);
    assert_eq!(
        reload.count_logged("cannot read"),
        1,
        "{}",
        reload.log_text()
    );
    assert_ne!(readyz(&reload), 200, "still not ready");

    // The permission fixed: ready again.
    mode(0o444);
    reload.wait_for_log("readable again");
    wait::until("/readyz to answer 200 once the file is readable", || {
        (readyz(&reload) == 200).then_some(())
    });
    assert_eq!(reload.metric("podkit_reload_unreadable_files"), 0.0);
}

#[test]
fn a_template_output_inside_the_watched_directory_fires_nothing_of_its_own() {
    let scratch = Scratch::new("reload-template-inside");
    let dir = scratch.join("conf");
    std::fs::create_dir(&dir).unwrap();
    let (source, output) = (dir.join("app.conf.tmpl"), dir.join("app.conf"));
    std::fs::write(&source, "version=1 user=${APP_USER}\n").unwrap();
    let webhook = Webhook::observing(&output);
    let reload = reload(&[
        "--watch",
        &show(&dir),
        "--template",
        &show(&source),
        "--template-output",
        &show(&output),
        "--webhook",
        &webhook.url("/"),
    ])
    .env("APP_USER", "app")
    .start();
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "version=1 user=app\n"
    );
    std::thread::sleep(SETTLE);

    kubelet::rename_over(&source, b"version=2 user=${APP_USER}\n");
    webhook.wait_for(1);
    std::thread::sleep(SETTLE);
    kubelet::rename_over(&source, b"version=3 user=${APP_USER}\n");
    webhook.wait_for(2);
    reload.wait_logged("reloaded", 2);

    let observed: Vec<Option<String>> =
        webhook.requests().into_iter().map(|r| r.observed).collect();
    assert_eq!(
        observed,
        [
            Some("version=2 user=app\n".to_owned()),
            Some("version=3 user=app\n".to_owned())
        ],
        "one request per change of the template, none for its rendering; log:\n{}",
        reload.log_text()
    );
}

#[test]
fn a_single_file_mount_is_warned_about_at_start() {
    let test = "a_single_file_mount_is_warned_about_at_start";
    if !pidns::available(test) {
        return;
    }
    let scratch = Scratch::new("reload-subpath");
    std::fs::create_dir(scratch.join("volume")).unwrap();
    std::fs::create_dir(scratch.join("etc")).unwrap();
    let (source, mounted, plain) = (
        scratch.file("volume/app.conf"),
        scratch.file("etc/app.conf"),
        scratch.file("etc/plain.conf"),
    );
    for file in [&source, &mounted, &plain] {
        std::fs::write(file, "x\n").unwrap();
    }
    let reload = show(&bins::path("reload"));
    // A subPath mount, as the kubelet makes it: the file alone bound over a file of the
    // container's, in the container's own mount namespace.
    let script = r#"mount --bind "$1" "$2" && shift 2 && exec "$@""#;
    let mut namespace = Namespace::start(&[
        "sh", "-c", script, "sh", &source, &mounted, &reload, "--watch", &mounted, "--watch",
        &plain, "--exec", "true",
    ]);

    namespace.expect_logged("watching");
    let log = namespace.stderr.so_far();
    let warnings: Vec<&String> = log.iter().filter(|line| line.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{log:?}");
    assert!(
        warnings[0].contains(&mounted) && warnings[0].contains("subPath"),
        "{log:?}"
    );
}

#[test]
fn a_huge_webhook_answer_is_not_kept_in_memory() {
    let test = "a_huge_webhook_answer_is_not_kept_in_memory";
    if !run::installed(test, "python3", &["--version"], "python3") {
        return;
    }
    // 200 MiB in answer to any POST, as fast as the client reads it.
    let server = r#"
import http.server
class Huge(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        size, block = 200 << 20, b"x" * 65536
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        try:
            for _ in range(size // len(block)):
                self.wfile.write(block)
        except OSError:
            pass
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Huge)
print("listening", server.server_address[1], flush=True)
server.serve_forever()
"#;
    let huge = run::Announced::start(command("python3").args(["-c", server]), "listening ");
    let (_scratch, mut volume) = configmap("reload-huge", "h 1\n");
    let reload = reload(&[
        "--watch",
        &show(volume.dir()),
        "--webhook",
        &format!("http://127.0.0.1:{}/", huge.address),
    ])
    .start();

    assert!(volume.update(&payload("h 2\n")));
    reload.wait_logged("reloaded", 1);

    let status = std::fs::read_to_string(format!("/proc/{}/status", reload.pid())).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {status}"));
    assert!(
        peak_kib < 64 * 1024,
        "peak resident memory {peak_kib} KiB after a 200 MiB answer"
    );
}
