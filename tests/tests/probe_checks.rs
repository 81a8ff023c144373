//! `podkit-probe tcp`, `exec` and `file` against real listeners, processes and files; bad input;
//! and the `--output json` object of every check.

use std::net::{TcpListener, TcpStream};

use podkit_tests::run::{command, run};
use podkit_tests::servers::{ipv6_loopback, probe, probe_with, DeadPort, HttpServer, Scratch};
use podkit_tests::{procs, wait};
use serde_json::Value;

#[test]
fn tcp_to_a_listening_port_is_healthy() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    probe(&["tcp", &format!("127.0.0.1:{port}")])
        .assert_exit(0)
        .assert_says(&format!("healthy 127.0.0.1:{port} latency="));
    // A name is resolved first; localhost may give ::1 before 127.0.0.1, which is refused here.
    probe(&["tcp", &format!("localhost:{port}")]).assert_exit(0);
}

#[test]
fn tcp_to_an_ipv6_literal_is_healthy() {
    if !ipv6_loopback("tcp_to_an_ipv6_literal_is_healthy") {
        return;
    }
    let listener = TcpListener::bind("[::1]:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    probe(&["tcp", &format!("[::1]:{port}")])
        .assert_exit(0)
        .assert_says(&format!("healthy [::1]:{port} "));
}

#[test]
fn tcp_to_a_closed_port_is_unreachable() {
    let port = DeadPort::reserve();
    probe(&["tcp", &port.address])
        .assert_exit(3)
        .assert_says(&format!("unreachable {} ", port.address))
        .assert_says("Connection refused");
}

#[test]
fn tcp_to_a_listener_whose_queue_is_full_is_unreachable_after_the_timeout() {
    // The fixture listens with a backlog of 0 and never accepts: once this test's connection
    // waits in the queue, the kernel drops every further SYN, so the probe's connect never ends.
    let server = HttpServer::start(&["--listen", "127.0.0.1:0", "--no-accept"]);
    let _queued = TcpStream::connect(&server.address).expect("the first connection is queued");
    probe(&["tcp", &server.address, "--timeout", "1s"])
        .assert_exit(3)
        .assert_says("timed out after 1s");
    probe(&["http", &server.url("/"), "--timeout", "2s"])
        .assert_exit(3)
        .assert_says("timed out after 2s");
}

#[test]
fn a_black_holed_address_leaves_the_next_address_of_a_name_its_share_of_the_timeout() {
    // A name with two addresses, from a hosts file that only the probe sees: the first lets no
    // connection in (a full backlog drops every SYN), the second accepts. The first gets half of
    // the 4s and gives up; the second answers. Tried until the timeout, the first would leave
    // the second nothing, and the probe would time out.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return podkit_tests::skip(
            "a_black_holed_address_leaves_the_next_address_of_a_name_its_share_of_the_timeout",
            "a hosts file of the probe's own needs a mount namespace, so root",
        );
    }
    let hole = HttpServer::start(&["--listen", "127.0.0.2:0", "--no-accept"]);
    let _queued = TcpStream::connect(&hole.address).expect("the first connection is queued");
    let port = hole.port();
    let _open = TcpListener::bind(("127.0.0.3", port)).expect("the same port on 127.0.0.3");
    let scratch = Scratch::new("probe-hosts");
    let hosts = scratch.file("hosts");
    std::fs::write(&hosts, "127.0.0.2 two.test\n127.0.0.3 two.test\n").unwrap();
    let target = format!("two.test:{port}");
    probe_with(&["tcp", &target, "--timeout", "4s"], |command| {
        with_hosts_file(command, &hosts)
    })
    .assert_exit(0)
    .assert_says(&format!("healthy {target} "));
}

/// Runs `command` in a mount namespace of its own where `hosts` is /etc/hosts.
fn with_hosts_file(command: &mut std::process::Command, hosts: &str) {
    use std::ffi::CString;
    use std::os::unix::process::CommandExt;
    let source = CString::new(hosts).unwrap();
    let etc_hosts = c"/etc/hosts";
    // SAFETY: unshare and mount are async-signal-safe system calls on strings made before the
    // fork; the new mount namespace is the child's alone, and made private first so that the
    // bind mount does not propagate back to the host.
    unsafe {
        command.pre_exec(move || {
            let flags = libc::MS_REC | libc::MS_PRIVATE;
            let none = std::ptr::null();
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(none, c"/".as_ptr(), none, flags, none.cast()) != 0
                || libc::mount(
                    source.as_ptr(),
                    etc_hosts.as_ptr(),
                    none,
                    libc::MS_BIND,
                    none.cast(),
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn exec_of_a_command_that_exits_0_is_healthy() {
    probe(&["exec", "--", "true"])
        .assert_exit(0)
        .assert_says("healthy true status=0 ");
}

#[test]
fn exec_of_a_command_that_fails_is_unhealthy_with_its_exit_code() {
    probe(&["exec", "--", "sh", "-c", "exit 7"])
        .assert_exit(1)
        .assert_says("unhealthy sh status=7 ")
        .assert_says(r#"error="exited with code 7""#);
}

#[test]
fn exec_of_a_command_killed_by_a_signal_is_unhealthy() {
    probe(&["exec", "--", "sh", "-c", "kill -KILL $$"])
        .assert_exit(1)
        .assert_says(r#"error="killed by signal 9""#);
}

#[test]
fn exec_that_outlives_the_timeout_is_killed_with_its_children_and_unreachable() {
    let scratch = Scratch::new("probe-exec");
    let pids = scratch.join("pids");
    // The shell starts a child in its process group, records both pids and waits for ever. The
    // timeout leaves a loaded machine ample time to get that far; the record appears whole (a
    // rename) or not at all.
    let script = format!(
        "sleep 300 & echo $$ $! > {pids}.new && mv {pids}.new {pids}; wait",
        pids = pids.display()
    );
    probe(&["exec", "--timeout", "10s", "--", "sh", "-c", &script])
        .assert_exit(3)
        .assert_says("unreachable sh ")
        .assert_says(r#"error="timed out after 10s""#);
    let recorded = std::fs::read_to_string(&pids).expect("the shell recorded its pids");
    let recorded: Vec<i32> = recorded
        .split_whitespace()
        .map(|pid| pid.parse().unwrap())
        .collect();
    let [shell, sleep] = recorded[..] else {
        panic!("two pids expected: {recorded:?}");
    };
    // SIGKILL went to the whole group before the probe exited; the kernel ends each process in
    // its own time. A zombie has ended (whoever inherited it may never reap it), and so has a
    // process whose pid now belongs to another program.
    let ended = |pid: i32, name: &str| match procs::get(pid) {
        Some(p) => p.is_zombie() || p.name != name,
        None => true,
    };
    wait::until("the command and its child to be killed", || {
        (ended(shell, "sh") && ended(sleep, "sleep")).then_some(())
    });
}

#[test]
fn exec_of_a_missing_command_is_a_usage_error() {
    let run = probe(&["exec", "--", "/nonexistent/podkit-check"]);
    run.assert_exit(2);
    assert_eq!(run.stdout, "", "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
    assert!(
        run.stderr.contains("cannot run /nonexistent/podkit-check"),
        "{run:#?}"
    );
}

#[test]
fn file_check_is_unhealthy_when_the_file_is_missing() {
    let scratch = Scratch::new("probe-file");
    let heartbeat = scratch.file("heartbeat");
    probe(&["file", &heartbeat])
        .assert_exit(1)
        .assert_says(&format!("unhealthy {heartbeat} "))
        .assert_says("No such file or directory");
}

#[test]
fn file_check_is_healthy_while_the_file_is_fresh_and_unhealthy_once_stale() {
    let scratch = Scratch::new("probe-file");
    let heartbeat = scratch.file("heartbeat");
    touch(&heartbeat, "now");
    probe(&["file", &heartbeat, "--max-age", "30s"]).assert_exit(0);
    touch(&heartbeat, "1 hour ago");
    probe(&["file", &heartbeat, "--max-age", "30s"])
        .assert_exit(1)
        .assert_says(r#"error="stale: modified "#)
        .assert_says(r#"s ago, more than 30s""#);
    probe(&["file", &heartbeat, "--max-age", "2h"]).assert_exit(0);
    // Without --max-age, existing is enough.
    probe(&["file", &heartbeat]).assert_exit(0);
    // A modification time in the future (clock skew) counts as fresh.
    touch(&heartbeat, "tomorrow");
    probe(&["file", &heartbeat, "--max-age", "30s"]).assert_exit(0);
}

/// `touch -d WHEN PATH`.
fn touch(path: &str, when: &str) {
    let done = run(command("touch").args(["-d", when, path]));
    assert!(done.succeeded(), "touch -d {when:?} {path}: {done:?}");
}

/// Bad input: the arguments, and what the error must name.
const BAD_INPUT: &[(&[&str], &str)] = &[
    (&["http", "localhost:8080/healthz"], "invalid URL"),
    (
        &["http", "ftp://localhost/"],
        "the scheme must be http or https",
    ),
    (
        &["http", "http://127.0.0.3:99999/"],
        "invalid URL \"http://127.0.0.3:99999/\": invalid port number",
    ),
    (&["http", "http://[::1/"], "invalid URL"),
    (
        &["http", "http://localhost/", "--expect-status", "2xx"],
        "--expect-status",
    ),
    (
        &["http", "http://localhost/", "--expect-status", "399-200"],
        "empty range",
    ),
    (
        &["http", "http://localhost/", "--header", "no colon"],
        "--header",
    ),
    (
        &["http", "http://localhost/", "--header", "Bad Name: x"],
        "invalid header name",
    ),
    (
        &["http", "http://localhost/", "--timeout", "5"],
        "--timeout",
    ),
    (
        &["http", "http://localhost/", "--expect-body", "(unclosed"],
        "--expect-body",
    ),
    (
        &["http", "https://localhost/", "--ca", "/nonexistent/ca.crt"],
        "/nonexistent/ca.crt",
    ),
    (
        &["http", "https://localhost/", "--cert", "/etc/hostname"],
        "--key",
    ),
    (&["http", "http://localhost/", "--method", "GE T"], "GE T"),
    (&["tcp", "localhost"], "HOST:PORT"),
    (&["tcp", "localhost:0"], "HOST:PORT"),
    (&["file", "/tmp", "--max-age", "30"], "--max-age"),
    (&["exec", "--timeout", "1s"], "CMD"),
    // No check can succeed in no time: a zero timeout is a mistake, not a check that fails.
    (
        &["http", "http://127.0.0.1:1/", "--timeout", "0s"],
        "--timeout: must be more than 0",
    ),
    (
        &["tcp", "127.0.0.1:1", "--timeout", "0ms"],
        "--timeout: must be more than 0",
    ),
    (
        &["grpc", "127.0.0.1:1", "--timeout", "0s"],
        "--timeout: must be more than 0",
    ),
    (
        &["exec", "--timeout", "0s", "--", "true"],
        "--timeout: must be more than 0",
    ),
    (
        &["wait", "--timeout", "0s", "tcp://127.0.0.1:1"],
        "--timeout: must be more than 0",
    ),
    (&["--output", "yaml", "tcp", "localhost:80"], "--output"),
];

#[test]
fn bad_input_exits_2_naming_the_problem_before_trying_anything() {
    for (args, named) in BAD_INPUT {
        let run = probe(args);
        run.assert_exit(2);
        assert_eq!(run.stdout, "", "nothing was tried: {run:#?}");
        assert!(
            run.stderr.contains(named),
            "{args:?} should name {named:?}: {run:#?}"
        );
    }
}

/// Hostile values: each is refused before anything is tried, in one line that names the flag,
/// variable or target at fault, without a panic, and without the secret it carries.
#[test]
fn hostile_values_are_one_line_naming_the_fault_never_a_panic_nor_a_secret() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let not_utf8 = OsStr::from_bytes(b"\xff\xfe");
    /// Arguments, a variable to set, and what the error must name.
    type Case<'a> = (&'a [&'a str], Option<(&'a str, &'a OsStr)>, &'a str);
    let cases: &[Case] = &[
        // Durations no clock can hold: a deadline this far would overflow and panic.
        (
            &["tcp", "--timeout", "18446744073709551615s", "127.0.0.1:1"],
            None,
            "--timeout",
        ),
        (
            &[
                "wait",
                "--timeout",
                "2600000000000000h",
                "tcp://127.0.0.1:1",
            ],
            None,
            "--timeout",
        ),
        (
            &["http", "--timeout", "1.5s", "http://127.0.0.1:1/"],
            None,
            "no fractions",
        ),
        // A line break inside one command-line value would be a second header.
        (
            &[
                "http",
                "--header",
                "X-A: 1\nHost: s3cret.example",
                "http://127.0.0.1:1/",
            ],
            None,
            "--header",
        ),
        // A line break in any header value is refused naming where it came from, never sent
        // (a request whose headers the probe did not mean), nor taken as a failed request.
        (
            &[
                "http",
                "--host",
                "a\r\nX-Injected: s3cret",
                "http://127.0.0.1:1/",
            ],
            None,
            "--host: a line break is not allowed in a header",
        ),
        (
            &["http", "http://127.0.0.1:1/"],
            Some(("PODKIT_HOST", OsStr::new("a\nX-Injected: s3cret"))),
            "PODKIT_HOST: a line break is not allowed in a header",
        ),
        (
            &[
                "http",
                "--header",
                "X-A: 1\rX-Injected: s3cret",
                "http://127.0.0.1:1/",
            ],
            None,
            "--header",
        ),
        (
            &["http", "http://127.0.0.1:1/"],
            Some(("PODKIT_HEADER", OsStr::new("X-A: 1\rX-Injected: s3cret"))),
            "PODKIT_HEADER",
        ),
        // Credentials in a target, whatever its scheme or case.
        (
            &["wait", "--timeout", "1s", "tcp://user:s3cret@127.0.0.1:1"],
            None,
            "target",
        ),
        (
            &["http", "HTTP://user:s3cret@127.0.0.3:99999/"],
            None,
            "invalid port number",
        ),
        // An unencoded `/`, `?` or `#` in a password would end the host there: the secret's
        // first part would be looked up in DNS and printed as the target. Refused instead.
        (
            &["http", "http://ghp_s3cret/xyz@127.0.0.1:1/healthz"],
            None,
            "an at sign after the host",
        ),
        (
            &["http", "https://user:s3cret?x@127.0.0.1:1/"],
            None,
            "an at sign after the host",
        ),
        (
            &["wait", "--timeout", "1s", "http://s3cret#x@127.0.0.1:1/"],
            None,
            "an at sign after the host",
        ),
        (
            &["http", "http://127.0.0.1:1/"],
            Some(("PODKIT_TIMEOUT", not_utf8)),
            "PODKIT_TIMEOUT",
        ),
        (
            &[],
            None,
            "give a command: http, tcp, exec, file, grpc, wait",
        ),
    ];
    for (args, env, named) in cases {
        let run = probe_with(args, |command| {
            if let Some((variable, value)) = env {
                command.env(variable, value);
            }
        });
        run.assert_refused(named);
        assert!(!run.stderr.contains("s3cret"), "a secret in: {run:#?}");
        assert!(!run.stderr.contains("panicked"), "a panic: {run:#?}");
    }
}

#[test]
fn bad_input_is_one_line_naming_the_flag() {
    // The convention every podkit tool follows (README), as podkit-init's tests check it.
    let ca = &["http", "https://localhost/", "--ca", "/nonexistent/ca.crt"][..];
    let cases = BAD_INPUT
        .iter()
        .map(|&(args, named)| (args, None, named))
        .chain([
            (ca, None, "--ca"),
            (
                &["http", "http://localhost/"][..],
                Some(("PODKIT_EXPECT_STATUS", "ok")),
                "PODKIT_EXPECT_STATUS",
            ),
        ]);
    for (args, env, named) in cases {
        let run = probe_with(args, |command| {
            command.envs(env);
        });
        run.assert_exit(2);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {run:#?}");
        assert!(
            run.stderr.starts_with("podkit-probe: error: "),
            "{args:?}: {run:#?}"
        );
        assert!(
            run.stderr.contains(named),
            "{args:?} should name {named:?}: {run:#?}"
        );
    }
}

/// The one JSON object a run printed.
#[test]
fn a_non_utf8_argument_is_one_line_and_exit_2_not_a_panic() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    // The path itself may be any bytes; the bad duration is what must be reported.
    let path = OsString::from_vec(b"/tmp/podkit-\xff-heartbeat".to_vec());
    let max_age = OsString::from("--max-age");
    probe(&[
        OsString::from("file"),
        path.clone(),
        max_age,
        OsString::from("bad"),
    ])
    .assert_refused("--max-age");
    // Where text is needed, bytes that are not UTF-8 are refused in one line.
    probe(&[OsString::from("tcp"), path]).assert_exit(2);
}

fn json_of(args: &[&str]) -> (i32, Value) {
    let mut full = vec!["--output", "json"];
    full.extend_from_slice(args);
    let run = probe(&full);
    assert_eq!(run.stdout.lines().count(), 1, "one line: {run:#?}");
    let value: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {run:#?}"));
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ["error", "latency_ms", "result", "status", "target"],
        "{run:#?}"
    );
    assert!(value["latency_ms"].is_number(), "{run:#?}");
    (run.code, value)
}

#[test]
fn json_output_is_one_object_with_target_result_status_latency_and_error() {
    let server = HttpServer::local();
    let healthy = server.url("/status/200");
    let (code, value) = json_of(&["http", &healthy]);
    assert_eq!(code, 0);
    assert_eq!(value["target"], healthy.as_str());
    assert_eq!(value["result"], "healthy");
    assert_eq!(value["status"], 200);
    assert_eq!(value["error"], Value::Null);

    let (code, value) = json_of(&["http", &server.url("/status/503")]);
    assert_eq!(code, 1);
    assert_eq!(value["result"], "unhealthy");
    assert_eq!(value["status"], 503);
    assert_eq!(value["error"], "status 503 is not expected");

    let closed = DeadPort::reserve();
    let (code, value) = json_of(&["tcp", &closed.address]);
    assert_eq!(code, 3);
    assert_eq!(value["target"], closed.address.as_str());
    assert_eq!(value["result"], "unreachable");
    assert_eq!(value["status"], Value::Null);
    assert!(value["error"]
        .as_str()
        .unwrap()
        .contains("Connection refused"));

    let (code, value) = json_of(&["exec", "--", "sh", "-c", "exit 4"]);
    assert_eq!(code, 1);
    assert_eq!(value["status"], 4);
    assert_eq!(value["error"], "exited with code 4");

    let scratch = Scratch::new("probe-json");
    let missing = scratch.file("heartbeat");
    let (code, value) = json_of(&["file", &missing]);
    assert_eq!(code, 1);
    assert_eq!(value["target"], missing.as_str());
    assert_eq!(value["result"], "unhealthy");
}
