//! `podkit-probe wait` as an init container uses it: targets that come up one by one, one that
//! never does, one that answers but stays unhealthy, a stop signal while it waits, and TLS
//! settings it refuses before waiting.

use podkit_tests::bins::{helper, path};
use podkit_tests::pidns::{self, Finished, Namespace};
use podkit_tests::servers::{probe, DeadPort, HttpServer, Pki, Running, Scratch};
use podkit_tests::wait;

#[test]
fn wait_sees_three_targets_come_up_one_by_one_and_only_then_runs_the_command() {
    // Held until each server listens on it: the targets must be named before the servers exist.
    let (tcp_port, http_port) = (DeadPort::for_a_server(), DeadPort::for_a_server());
    let scratch = Scratch::new("wait");
    let (ready_file, ran) = (scratch.join("ready"), scratch.file("ran"));
    let (tcp, http, file) = (
        format!("tcp://{}", tcp_port.address),
        format!("http://{}/status/200", http_port.address),
        format!("file://{}", ready_file.display()),
    );
    let helper = helper();
    let mut wait = Running::start(&[
        "wait",
        "--timeout",
        "5m",
        "--interval",
        "200ms",
        &tcp,
        &http,
        &file,
        "--",
        &helper,
        "append",
        &ran,
        "command-ran",
    ]);

    std::fs::write(&ready_file, "").unwrap();
    wait.stdout.next_satisfying("the file ready", |l| {
        l.starts_with(&format!("healthy {file}"))
    });
    let _tcp_server = HttpServer::start(&["--listen", &tcp_port.address]);
    drop(tcp_port);
    wait.stdout.next_satisfying("the TCP target ready", |l| {
        l.starts_with(&format!("healthy {tcp}"))
    });
    assert!(
        !scratch.join("ran").exists(),
        "the command ran before every target was ready"
    );
    let _http_server = HttpServer::start(&["--listen", &http_port.address]);
    drop(http_port);
    wait.stdout.next_satisfying("the HTTP target ready", |l| {
        l.starts_with(&format!("healthy {http} status=200"))
    });

    wait.finish().assert_exit(0);
    assert_eq!(std::fs::read_to_string(&ran).unwrap(), "command-ran\n");
}

#[test]
fn a_target_that_never_comes_fails_the_wait_and_the_command_never_runs() {
    let scratch = Scratch::new("wait-never");
    let ran = scratch.file("ran");
    let dead = DeadPort::reserve();
    let closed = format!("tcp://{}", dead.address);
    let missing = format!("file://{}", scratch.file("missing"));
    let helper = helper();
    for (target, code) in [(closed.as_str(), 3), (missing.as_str(), 1)] {
        let args = [
            "wait",
            "--timeout",
            "1s",
            "--interval",
            "100ms",
            target,
            "--",
            &helper,
            "append",
            &ran,
            "command-ran",
        ];
        probe(&args)
            .assert_exit(code)
            .assert_says("gave up waiting");
        assert!(
            !scratch.join("ran").exists(),
            "the command ran although {target} never came"
        );
    }
}

#[test]
fn a_target_that_stays_unhealthy_gives_up_with_exit_1_and_its_last_answer() {
    // The last attempt must be one that was allowed to finish, not one cut short by the deadline
    // ("attempt timed out", exit 3); the deadline falls at a different point of an attempt each
    // run, so one run proves little.
    let server = HttpServer::local();
    let target = server.url("/status/503");
    for _ in 0..5 {
        let run = probe(&["wait", "--timeout", "700ms", "--interval", "100ms", &target]);
        run.assert_exit(1)
            .assert_says(&format!("unhealthy {target} status=503"))
            .assert_says("gave up waiting");
        assert!(!run.stdout.contains("attempt timed out"), "{run:#?}");
    }
}

#[test]
fn wait_refuses_a_bad_target_before_waiting_with_exit_2() {
    let run = probe(&["wait", "tcp://db"]);
    run.assert_exit(2);
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
    assert!(run.stderr.contains("target \"tcp://db\""), "{run:#?}");
}

#[test]
fn a_bad_tls_server_name_is_refused_before_waiting_with_exit_2() {
    let dead = DeadPort::reserve();
    let target = format!("tcp://{}", dead.address);
    // A wait that started would retry until PODKIT_TIMEOUT and exit 3.
    probe(&["wait", "--tls", "--server-name", "bad name!", &target]).assert_refused("bad name!");
    // An https:// target checks its server name just as early.
    let https = format!("https://{}/", dead.address);
    probe(&["wait", "--server-name", "bad name!", &https]).assert_refused("bad name!");
}

#[test]
fn ca_without_a_target_that_uses_tls_is_refused_and_with_one_it_is_used() {
    let pki = Pki::generate();
    let ca = pki.file("ca.crt");
    let dead = DeadPort::reserve();
    let plain = format!("tcp://{}", dead.address);
    probe(&["wait", "--ca", &ca, &plain]).assert_refused("--ca");
    // The server's certificate comes from the test CA, which only --ca makes trusted.
    let server = pki.https_server(false);
    let https = format!("https://localhost:{}/status/200", server.port());
    probe(&["wait", "--ca", &ca, &https])
        .assert_exit(0)
        .assert_says(&format!("healthy {https} status=200"));
    let tls = format!("tcp://localhost:{}", server.port());
    probe(&["wait", "--tls", "--ca", &ca, &tls])
        .assert_exit(0)
        .assert_says(&format!("healthy {tls}"));
}

/// Whether process `pid` catches `signal`, as its /proc status shows. Until it does, a PID 1
/// never sees a signal sent from outside its namespace: the kernel drops it. A blocked signal is
/// no sign: musl's pthread_create blocks every signal in the creating thread for a moment, and a
/// signal sent then is delivered to another thread, and dropped, while no handler is installed.
fn takes(pid: i32, signal: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .filter_map(|line| line.strip_prefix("SigCgt:"))
        .filter_map(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .any(|mask| mask & (1 << (signal - 1)) != 0)
}

/// Runs `wait --timeout 5m` on a dead port as PID 1 of a PID namespace, as an init container's
/// only process is, sends it `signal` and returns how it ended. A wait that ignored the signal
/// would run for 5 minutes; the hang guard fails the test long before.
fn stopped_wait(signal: i32) -> Finished {
    let dead = DeadPort::reserve();
    let probe = path("probe").display().to_string();
    let target = format!("tcp://{}", dead.address);
    let ns = Namespace::start(&[probe.as_str(), "wait", "--timeout", "5m", &target]);
    let pid1 = ns.pid1();
    let what = format!("podkit-probe, PID 1, to catch or block signal {signal}");
    wait::until(&what, || takes(pid1, signal).then_some(()));
    ns.signal(signal);
    ns.finish()
}

#[test]
fn sigterm_ends_a_wait_running_as_pid_1_with_143() {
    if !pidns::available("sigterm_ends_a_wait_running_as_pid_1_with_143") {
        return;
    }
    let finished = stopped_wait(libc::SIGTERM);
    assert_eq!(finished.code(), 143, "{finished:#?}");
}

#[test]
fn sigint_ends_a_wait_running_as_pid_1_with_130() {
    if !pidns::available("sigint_ends_a_wait_running_as_pid_1_with_130") {
        return;
    }
    let finished = stopped_wait(libc::SIGINT);
    assert_eq!(finished.code(), 130, "{finished:#?}");
}
