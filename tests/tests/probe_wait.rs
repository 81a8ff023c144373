//! `podkit-probe wait` as an init container uses it: targets that come up one by one, and one
//! that never does.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use podkit_tests::bins::{helper, path};
use podkit_tests::lines::Lines;

/// A process this test started, killed when the test ends whatever happens.
struct Owned(Child);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port with nothing listening on it (yet).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scratch(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("podkit-wait-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Starts the test helper's HTTP server on `port` and waits until it listens.
fn serve_http(port: u16) -> Owned {
    let mut child = Command::new(helper())
        .args(["serve-http", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Lines::read_from(child.stdout.take().unwrap());
    lines.next_satisfying("listening", |l| l.starts_with("listening "));
    Owned(child)
}

#[test]
fn wait_sees_three_targets_come_up_one_by_one_and_only_then_runs_the_command() {
    let (tcp_port, http_port) = (free_port(), free_port());
    let (ready_file, ran) = (scratch("ready"), scratch("ran"));
    let (tcp, http, file) = (
        format!("tcp://127.0.0.1:{tcp_port}"),
        format!("http://127.0.0.1:{http_port}/"),
        format!("file://{}", ready_file.display()),
    );
    let mut wait = Command::new(path("probe"))
        .args([
            "wait",
            "--timeout",
            "5m",
            "--interval",
            "200ms",
            &tcp,
            &http,
            &file,
            "--",
        ])
        .args([
            helper().as_str(),
            "append",
            ran.to_str().unwrap(),
            "command-ran",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = Lines::read_from(wait.stdout.take().unwrap());
    let mut wait = Owned(wait);

    std::fs::write(&ready_file, "").unwrap();
    said.next_satisfying("the file ready", |l| {
        l.starts_with(&format!("healthy {file}"))
    });
    let _tcp_server = serve_http(tcp_port);
    said.next_satisfying("the TCP target ready", |l| {
        l.starts_with(&format!("healthy {tcp}"))
    });
    assert!(
        !ran.exists(),
        "the command ran before every target was ready"
    );
    let _http_server = serve_http(http_port);
    said.next_satisfying("the HTTP target ready", |l| {
        l.starts_with(&format!("healthy {http} status=200"))
    });

    let status = wait.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(std::fs::read_to_string(&ran).unwrap(), "command-ran\n");
    let _ = std::fs::remove_file(&ready_file);
    let _ = std::fs::remove_file(&ran);
}

#[test]
fn a_target_that_never_comes_fails_the_wait_and_the_command_never_runs() {
    let ran = scratch("never");
    let closed = format!("tcp://127.0.0.1:{}", free_port());
    let missing = format!("file://{}", scratch("missing").display());
    for (target, code) in [(closed.as_str(), 3), (missing.as_str(), 1)] {
        let output = Command::new(path("probe"))
            .args([
                "wait",
                "--timeout",
                "1s",
                "--interval",
                "100ms",
                target,
                "--",
            ])
            .args([
                helper().as_str(),
                "append",
                ran.to_str().unwrap(),
                "command-ran",
            ])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(code), "{target}: {output:?}");
        let said = String::from_utf8_lossy(&output.stdout);
        assert!(said.contains("gave up waiting"), "{said}");
        assert!(
            !ran.exists(),
            "the command ran although {target} never came"
        );
    }
}

#[test]
fn wait_refuses_a_bad_target_before_waiting_with_exit_2() {
    let output = Command::new(path("probe"))
        .args(["wait", "tcp://db"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("target \"tcp://db\""), "{stderr}");
}
