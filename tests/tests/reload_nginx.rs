//! podkit-reload as the nginx sidecar of the issue's Kubernetes example, for real: Debian's nginx
//! and podkit-reload in one PID namespace (a pod with `shareProcessNamespace: true`), nginx's
//! server block in a volume written the way the kubelet writes a ConfigMap volume, and
//! `--signal HUP --process nginx` as the only action. There is no `--validate`: in the pod,
//! podkit-reload's container has no nginx binary to run `nginx -t` with, and needs none, because
//! nginx checks a new configuration itself on SIGHUP and keeps the running one if it is bad.
//!
//! What the tests look at is what a user of the pod sees: the body nginx serves (curl), nginx's
//! own error log (who sent the SIGHUP, whether the configuration was taken or refused, whether the
//! master process stayed the same), and podkit-reload's log.

use std::path::Path;

use podkit_tests::kubelet::AtomicVolume;
use podkit_tests::pidns::{self, Namespace};
use podkit_tests::servers::{DeadPort, Scratch};
use podkit_tests::{bins, run, wait};

/// Short, so that each test takes a second or two.
const DEBOUNCE: &str = "100ms";

/// Starts nginx in the background and execs podkit-reload's command line, so that podkit-reload
/// is the namespace's PID 1 with nginx as its child: `sh -c POD sh ERROR_LOG PREFIX CONF ARGV...`.
const POD: &str = r#"nginx -e "$1" -p "$2" -c "$3" -g 'daemon off;' & shift 3; exec "$@""#;

/// The line nginx logs for a SIGHUP sent by the namespace's PID 1, podkit-reload: the master
/// reloads, a worker ignores it.
const RECONFIGURING: &str = "signal 1 (SIGHUP) received from 1, reconfiguring";

/// nginx (a master and one worker) and podkit-reload in a PID namespace of their own, nginx's
/// `site.conf` in a kubelet-style volume that podkit-reload watches. Dropping it kills the
/// namespace, then removes the files.
struct Pod {
    namespace: Namespace,
    volume: AtomicVolume,
    /// nginx's port on 127.0.0.1.
    port: u16,
    scratch: Scratch,
}

impl Pod {
    /// The pod, once podkit-reload watches and nginx serves `v1`; `None`, with the skip
    /// reported, without root, nginx or curl.
    fn start(test: &str) -> Option<Pod> {
        Pod::start_under(test, &[])
    }

    /// As [`Pod::start`], podkit-reload started through `wrapper` (`setpriv ... --`), which
    /// must exec it.
    fn start_under(test: &str, wrapper: &[&str]) -> Option<Pod> {
        if !pidns::available(test)
            || !run::installed(test, "nginx", &["-v"], "nginx-light")
            || !run::installed(test, "curl", &["--version"], "curl")
        {
            return None;
        }
        let scratch = Scratch::new("reload-nginx");
        let dir = scratch.join("volume");
        std::fs::create_dir(&dir).expect("create the volume directory");
        // nginx cannot listen on port 0 and tell which port it got: the port goes into the
        // site, held until nginx listens (both bind with SO_REUSEADDR).
        let reserved = DeadPort::for_a_server();
        let port = reserved.port;
        let volume = AtomicVolume::create(&dir, &[("site.conf", site(port, "v1").as_bytes())]);
        let prefix = scratch.file("");
        let (error_log, conf) = (scratch.file("error.log"), scratch.file("nginx.conf"));
        std::fs::write(&conf, nginx_conf(&prefix, &dir)).expect("write nginx.conf");
        let (reload, watch) = (show(&bins::path("reload")), show(&dir));
        let mut argv = vec!["sh", "-c", POD, "sh", &error_log, &prefix, &conf];
        argv.extend_from_slice(wrapper);
        argv.extend_from_slice(&[&reload, "--watch", &watch, "--debounce", DEBOUNCE]);
        // Debug: one `signalled pid=...` line for each process that got the signal.
        argv.extend_from_slice(&["--signal", "HUP", "--process", "nginx", "--log-level=debug"]);
        let mut namespace = Namespace::start(&argv);
        namespace.expect_logged("watching");
        let pod = Pod {
            namespace,
            volume,
            port,
            scratch,
        };
        pod.wait_for_answer("v1");
        drop(reserved);
        Some(pod)
    }

    /// A `site.conf` for this pod's nginx, answering `body`.
    fn site(&self, body: &str) -> String {
        site(self.port, body)
    }

    /// Writes `site.conf` as the kubelet writes a ConfigMap update.
    fn update_site(&mut self, content: &str) {
        let changed = self.volume.update(&[("site.conf", content.as_bytes())]);
        assert!(changed, "the update changes the ConfigMap");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// What nginx answers now.
    fn answer(&self) -> String {
        let curl = run::curl(&["--fail", &self.url()]);
        assert!(curl.succeeded(), "curl {}: {curl:?}", self.url());
        curl.stdout
    }

    /// Waits until nginx answers `body` and a newline.
    fn wait_for_answer(&self, body: &str) {
        let (url, expected) = (self.url(), format!("{body}\n"));
        wait::until(&format!("nginx to answer {body:?}"), || {
            let curl = run::curl(&["--fail", &url]);
            (curl.succeeded() && curl.stdout == expected).then_some(())
        });
    }

    /// Waits until nginx's error log (level `notice`: signals received, reconfigurations,
    /// refusals) has `count` lines containing `text`, and returns it.
    fn wait_for_nginx_log(&self, text: &str, count: usize) -> String {
        let file = self.scratch.join("error.log");
        wait::until(
            &format!("{count} lines with {text:?} in nginx's log"),
            || {
                let log = std::fs::read_to_string(&file).unwrap_or_default();
                (log.matches(text).count() >= count).then_some(log)
            },
        )
    }

    /// The master's pid in the namespace, as nginx wrote it.
    fn master_pid(&self) -> String {
        let file = self.scratch.join("nginx.pid");
        let pid = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        pid.trim().to_owned()
    }

    /// podkit-reload's log lines read so far.
    fn reload_log(&self) -> String {
        self.namespace.stderr.so_far().join("\n")
    }
}

/// nginx's main configuration: everything under `prefix` (which ends in `/`), the `notice` level
/// that logs signals, and the server blocks of the ConfigMap volume, as the nginx image includes
/// `conf.d/*.conf`. Started as root, nginx runs its worker as `nobody`.
fn nginx_conf(prefix: &str, volume: &Path) -> String {
    let sites = show(&volume.join("*.conf"));
    format!(
        "worker_processes 1;
pid {prefix}nginx.pid; error_log {prefix}error.log notice;
events {{}}
http {{
  access_log off;
  client_body_temp_path {prefix}body; proxy_temp_path {prefix}proxy; fastcgi_temp_path {prefix}fastcgi;
  uwsgi_temp_path {prefix}uwsgi; scgi_temp_path {prefix}scgi;
  include {sites};
}}
"
    )
}

/// The ConfigMap's `site.conf`: a server on `port` answering `body`.
fn site(port: u16, body: &str) -> String {
    format!(
        "server {{\n  listen 127.0.0.1:{port};\n  location / {{ return 200 \"{body}\\n\"; }}\n}}\n"
    )
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn a_configmap_update_reaches_nginx_as_a_sighup_found_by_process_name_and_the_new_site_is_served() {
    let test =
        "a_configmap_update_reaches_nginx_as_a_sighup_found_by_process_name_and_the_new_site_is_served";
    let Some(mut pod) = Pod::start(test) else {
        return;
    };
    let master = pod.master_pid();

    pod.update_site(&pod.site("v2"));
    pod.namespace.expect_logged("reloaded action=signal");
    pod.wait_for_answer("v2");

    // podkit-reload found the master by its name and signalled it; nginx says who sent it.
    let signalled = format!("signalled pid={master} signal=SIGHUP");
    assert!(
        pod.reload_log().contains(&signalled),
        "{}",
        pod.reload_log()
    );
    let log = pod.wait_for_nginx_log(RECONFIGURING, 1);
    // A reload in place, not a restart: the same master, which kept its listening socket.
    assert_eq!(pod.master_pid(), master, "nginx's log:\n{log}");
    assert!(!log.contains("[emerg]"), "nginx's log:\n{log}");
}

#[test]
fn a_broken_site_is_signalled_refused_by_nginx_which_keeps_serving_until_a_good_one_comes() {
    let test =
        "a_broken_site_is_signalled_refused_by_nginx_which_keeps_serving_until_a_good_one_comes";
    let Some(mut pod) = Pod::start(test) else {
        return;
    };

    // A typo nginx cannot parse. podkit-reload cannot tell: it sends the signal and logs it as
    // sent. nginx checks the new configuration, refuses it, and keeps the running one.
    pod.update_site(&pod.site("broken").replace("return", "retrun"));
    pod.namespace.expect_logged("reloaded action=signal");
    let log = pod.wait_for_nginx_log("[emerg]", 1);
    assert!(log.contains(RECONFIGURING), "nginx's log:\n{log}");
    assert!(
        log.contains("unknown directive \"retrun\""),
        "nginx's log:\n{log}"
    );
    assert_eq!(pod.answer(), "v1\n", "nginx's log:\n{log}");

    // The next good update is the next SIGHUP, and nginx takes it.
    pod.update_site(&pod.site("v3"));
    pod.namespace.expect_logged("reloaded action=signal");
    pod.wait_for_answer("v3");
    let log = pod.wait_for_nginx_log(RECONFIGURING, 2);
    assert_eq!(log.matches("[emerg]").count(), 1, "nginx's log:\n{log}");
}

#[test]
fn nginx_workers_it_may_not_signal_do_not_fail_the_reload_of_their_master() {
    let test = "nginx_workers_it_may_not_signal_do_not_fail_the_reload_of_their_master";
    if !run::installed(test, "setpriv", &["--version"], "util-linux") {
        return;
    }
    // The official nginx image's pod: the master runs as root, its workers as another user
    // (`nobody` here), and podkit-reload as root without CAP_KILL, which lets it signal the
    // master (same user) and not the workers. SIGHUP is for the master; a worker ignores it.
    let no_cap_kill = [
        "setpriv",
        "--bounding-set",
        "-kill",
        "--inh-caps",
        "-kill",
        "--",
    ];
    let Some(mut pod) = Pod::start_under(test, &no_cap_kill) else {
        return;
    };
    let master = pod.master_pid();

    pod.update_site(&pod.site("v2"));
    pod.wait_for_answer("v2");
    let outcome = pod.namespace.expect_logged("action=signal");
    let signalled = format!("signalled pid={master} signal=SIGHUP");
    assert!(
        pod.reload_log().contains(&signalled),
        "{}",
        pod.reload_log()
    );
    // nginx reloaded: the reload is a success, not an error about a worker.
    assert!(
        outcome.contains("reloaded action=signal"),
        "{}",
        pod.reload_log()
    );
}
