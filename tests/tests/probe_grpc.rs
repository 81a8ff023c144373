//! `podkit-probe grpc` against a real gRPC server: grpcio's own grpc.health.v1 service
//! (tests/fixtures/grpc_health_server.py), plain and over TLS, judged by the exit code and the
//! line a kubelet would record.

use std::io::Write;
use std::net::TcpListener;
use std::process::{ChildStdin, Stdio};

use podkit_tests::run::{command, try_run, Announced};
use podkit_tests::servers::{self, DeadPort, HttpServer, Pki, Probe, Scratch};
use serde_json::Value;

/// Runs `podkit-probe grpc ARGS`.
fn grpc(args: &[&str]) -> Probe {
    // A timeout far above any answer here: the probe's own 1s default could be outrun by a
    // busy CI machine, and a hung probe is caught by the harness's hang guard anyway.
    let mut argv = vec!["grpc", "--timeout", "20s"];
    argv.extend_from_slice(args);
    servers::probe(&argv)
}

/// Whether python3 has grpcio and its health service; if not, the test says why it skips.
fn grpc_python(test: &str) -> bool {
    let importable = try_run(command("python3").args(["-c", "import grpc, grpc_health"]))
        .is_ok_and(|done| done.succeeded());
    if !importable {
        podkit_tests::skip(
            test,
            "python3 cannot import grpc and grpc_health (pip install grpcio grpcio-health-checking)",
        );
    }
    importable
}

/// A running grpc_health_server.py, ended when dropped.
struct HealthServer {
    server: Announced,
    stdin: Option<ChildStdin>,
    /// `127.0.0.1:PORT`, as it announced.
    address: String,
}

impl HealthServer {
    /// Starts the server on a free loopback port with `args` and waits until it listens.
    fn start(args: &[&str]) -> HealthServer {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/grpc_health_server.py"
        );
        let mut server = Announced::start(
            command("python3")
                .arg(script)
                .args(["--listen", "127.0.0.1:0"])
                .args(args)
                // grpcio logs every refused handshake, which half of these tests cause on purpose.
                .env("GRPC_VERBOSITY", "NONE")
                .stdin(Stdio::piped()),
            "listening ",
        );
        HealthServer {
            stdin: server.process.child.stdin.take(),
            address: server.address.clone(),
            server,
        }
    }

    /// Sets the named service's status (`serving` or `not_serving`) and waits until the
    /// server confirms that the next call sees it.
    fn set(&mut self, word: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{word}").expect("the server reads its stdin");
        stdin.flush().expect("the server reads its stdin");
        let confirmation = format!("status {}", word.to_uppercase());
        self.server
            .stdout
            .next_satisfying(&confirmation, |line| line == confirmation);
    }
}

impl HealthServer {
    /// The next call the server logged (`--log-calls`): its metadata and the seconds it had.
    fn next_call(&mut self) -> Value {
        let line = self
            .server
            .stdout
            .next_satisfying("a logged call", |line| line.starts_with("call "));
        serde_json::from_str(&line["call ".len()..]).unwrap_or_else(|e| panic!("{e}: {line}"))
    }
}

/// The values of the metadata `name` in a logged call.
fn metadata(call: &Value, name: &str) -> Vec<String> {
    call["metadata"]
        .as_array()
        .expect("metadata")
        .iter()
        .filter(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().expect("a text value").to_owned())
        .collect()
}

impl Drop for HealthServer {
    fn drop(&mut self) {
        // The end of its stdin stops the server; dropping `server` then kills its process group,
        // for one that does not stop.
        drop(self.stdin.take());
    }
}

#[test]
fn serving_exits_0_and_not_serving_exits_1_as_the_service_switches() {
    if !grpc_python("serving_exits_0_and_not_serving_exits_1_as_the_service_switches") {
        return;
    }
    let mut server = HealthServer::start(&["--service", "db"]);
    let address = server.address.clone();
    let db = [address.as_str(), "--service", "db"];
    grpc(&[&address])
        .assert_exit(0)
        .assert_says(&format!("healthy grpc://{address} status=SERVING"));
    grpc(&db)
        .assert_exit(0)
        .assert_says(&format!("healthy grpc://{address}/db status=SERVING"));

    server.set("not_serving");
    grpc(&db)
        .assert_exit(1)
        .assert_says(&format!("unhealthy grpc://{address}/db status=NOT_SERVING"))
        .assert_says(r#"error="service \"db\" is NOT_SERVING""#);
    // The server as a whole is a service of its own, still SERVING.
    grpc(&[&address]).assert_exit(0);

    server.set("serving");
    grpc(&db).assert_exit(0).assert_says("status=SERVING");
}

#[test]
fn an_unknown_service_exits_1_not_found() {
    if !grpc_python("an_unknown_service_exits_1_not_found") {
        return;
    }
    let server = HealthServer::start(&["--service", "db"]);
    grpc(&[&server.address, "--service", "nosuch"])
        .assert_exit(1)
        .assert_says("status=NOT_FOUND");
}

#[test]
fn a_server_without_the_health_service_exits_1_unimplemented() {
    if !grpc_python("a_server_without_the_health_service_exits_1_unimplemented") {
        return;
    }
    let server = HealthServer::start(&["--no-health"]);
    grpc(&[&server.address])
        .assert_exit(1)
        .assert_says("status=UNIMPLEMENTED");
}

#[test]
fn nothing_listening_exits_3() {
    let port = DeadPort::reserve();
    grpc(&[&port.address])
        .assert_exit(3)
        .assert_says(&format!("unreachable grpc://{} ", port.address))
        .assert_says("Connection refused");
}

#[test]
fn a_peer_that_accepts_the_connection_and_never_answers_exits_3_at_the_timeout() {
    // The kernel completes the handshake for a listener; nothing ever reads or answers, neither
    // the HTTP/2 preface nor a ClientHello.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    servers::probe(&["grpc", &address, "--timeout", "500ms"])
        .assert_exit(3)
        .assert_says(&format!("unreachable grpc://{address} "))
        .assert_says("timed out after 500ms");
    servers::probe(&[
        "grpc",
        &address,
        "--tls",
        "--insecure",
        "--timeout",
        "500ms",
    ])
    .assert_exit(3)
    .assert_says("timed out after 500ms");
}

#[test]
fn tls_with_the_servers_ca_exits_0_and_with_another_ca_3() {
    if !grpc_python("tls_with_the_servers_ca_exits_0_and_with_another_ca_3") {
        return;
    }
    let pki = Pki::generate();
    let (cert, key) = pki.pair("server");
    let (ca, wrong_ca) = (pki.file("ca.crt"), pki.file("wrong-ca.crt"));
    let server = HealthServer::start(&["--tls-cert", &cert, "--tls-key", &key]);
    let address = server.address.as_str();
    // The certificate names localhost and probe.test, no IP address.
    let localhost = address.replace("127.0.0.1", "localhost");
    let as_localhost = ["--server-name", "localhost"];

    grpc(&[&localhost, "--tls", "--ca", &ca])
        .assert_exit(0)
        .assert_says("status=SERVING");
    grpc(&[&[address, "--tls", "--ca", &ca][..], &as_localhost].concat()).assert_exit(0);
    grpc(&[&[address, "--tls", "--ca", &wrong_ca][..], &as_localhost].concat())
        .assert_exit(3)
        .assert_says("TLS handshake")
        .assert_says("UnknownIssuer");
    grpc(&[address, "--tls", "--ca", &ca])
        .assert_exit(3)
        .assert_says("not valid for name");
    grpc(&[address, "--tls", "--insecure"]).assert_exit(0);
    // Plain HTTP/2 to a TLS port never gets an HTTP/2 answer.
    grpc(&[address]).assert_exit(3);
}

#[test]
fn mtls_presents_the_client_certificate_and_is_refused_without_one_the_server_trusts() {
    if !grpc_python(
        "mtls_presents_the_client_certificate_and_is_refused_without_one_the_server_trusts",
    ) {
        return;
    }
    let pki = Pki::generate();
    let (cert, key, ca) = (
        pki.file("server.crt"),
        pki.file("server.key"),
        pki.file("ca.crt"),
    );
    let server = HealthServer::start(&["--tls-cert", &cert, "--tls-key", &key, "--client-ca", &ca]);
    let tls = [
        server.address.as_str(),
        "--tls",
        "--ca",
        &ca,
        "--server-name",
        "localhost",
    ];
    let identity = |name: &str| {
        [
            "--cert".to_owned(),
            pki.file(&format!("{name}.crt")),
            "--key".to_owned(),
            pki.file(&format!("{name}.key")),
        ]
    };
    let client = identity("client");
    let stranger = identity("stranger");
    let with = |id: &[String; 4]| {
        let mut args = tls.to_vec();
        args.extend(id.iter().map(String::as_str));
        grpc(&args)
    };
    with(&client).assert_exit(0).assert_says("status=SERVING");
    with(&stranger).assert_exit(3);
    grpc(&tls).assert_exit(3);
}

#[test]
fn bad_flags_and_certificate_files_exit_2_before_connecting() {
    // A dead port: had the probe tried to connect, it would have exited 3.
    let port = DeadPort::reserve();
    let address = port.address.as_str();
    let scratch = Scratch::new("grpc-flags");
    std::fs::write(scratch.join("garbage.crt"), "not a certificate\n").unwrap();
    let garbage = scratch.file("garbage.crt");
    let cases: &[(&[&str], &str)] = &[
        (
            &[address, "--ca", &garbage],
            "--cacert: only used with --tls",
        ),
        (&[address, "--insecure"], "--insecure: only used with --tls"),
        (
            &[address, "--tls", "--ca", "/nonexistent/ca.crt"],
            "/nonexistent/ca.crt: ",
        ),
        (&[address, "--tls", "--ca", &garbage], "no certificate"),
        (
            &[address, "--tls", "--server-name", "bad name!"],
            "invalid TLS server name",
        ),
        (&["nowhere", "--tls"], "HOST:PORT"),
        // Metadata gRPC sets itself, or would read as its own, is not the user's to send.
        (
            &[address, "--rpc-header", "grpc-timeout: 1S"],
            "--rpc-header: grpc-timeout is gRPC's own",
        ),
        (
            &[address, "--rpc-header", "Content-Type: text/plain"],
            "--rpc-header: content-type is gRPC's own",
        ),
        (&[address, "--rpc-header", "x-a: 1\rx-b: 2"], "--rpc-header"),
        (&[address, "--rpc-header", "no colon"], "--rpc-header"),
        (&[address, "--user-agent", "a\nb"], "--user-agent"),
        (&[address, "--connect-timeout", "0s"], "--connect-timeout"),
        (&[address, "--rpc-timeout", "0s"], "--rpc-timeout"),
    ];
    for (args, named) in cases {
        grpc(args).assert_refused(named);
    }
}

#[test]
fn rpc_headers_and_the_user_agent_reach_the_server_as_metadata_with_the_deadline() {
    if !grpc_python("rpc_headers_and_the_user_agent_reach_the_server_as_metadata_with_the_deadline")
    {
        return;
    }
    let mut server = HealthServer::start(&["--log-calls"]);
    let address = server.address.clone();
    grpc(&[&address]).assert_exit(0);
    let call = server.next_call();
    let agent = metadata(&call, "user-agent").join(" ");
    assert!(agent.starts_with("podkit-probe/"), "{call}");
    // The deadline goes along (grpc-timeout), as grpc_health_probe's does: here --timeout 20s.
    let left = call["time_remaining"].as_f64().expect("a deadline");
    assert!(left > 0.0 && left <= 20.0, "{call}");

    let run = grpc(&[
        &address,
        "--rpc-header",
        "Authorization: Bearer s3cret",
        "--rpc-header",
        "x-tenant: blue",
        "--rpc-header",
        "x-tenant: green",
        "--user-agent",
        "kube-probe/1.34",
        "--rpc-timeout",
        "5s",
    ]);
    run.assert_exit(0).assert_says("status=SERVING");
    assert!(!format!("{run:?}").contains("s3cret"), "{run:#?}");
    let call = server.next_call();
    assert_eq!(
        metadata(&call, "authorization"),
        ["Bearer s3cret"],
        "{call}"
    );
    assert_eq!(metadata(&call, "x-tenant"), ["blue", "green"], "{call}");
    assert!(
        metadata(&call, "user-agent")
            .join(" ")
            .starts_with("kube-probe/1.34"),
        "{call}"
    );
    let left = call["time_remaining"].as_f64().expect("a deadline");
    assert!(left > 0.0 && left <= 5.0, "--rpc-timeout 5s: {call}");

    // From the environment, one header a line.
    servers::probe_with(&["grpc", &address], |command| {
        command.env("PODKIT_RPC_HEADER", "x-a: 1\nx-b: 2\n");
    })
    .assert_exit(0);
    let call = server.next_call();
    assert_eq!(metadata(&call, "x-a"), ["1"], "{call}");
    assert_eq!(metadata(&call, "x-b"), ["2"], "{call}");
}

#[test]
fn a_unix_socket_address_reaches_a_server_on_a_unix_socket() {
    if !grpc_python("a_unix_socket_address_reaches_a_server_on_a_unix_socket") {
        return;
    }
    let scratch = Scratch::new("grpc-unix");
    let socket = scratch.file("health.sock");
    let server = HealthServer::start(&["--service", "db", "--listen", &format!("unix:{socket}")]);
    assert_eq!(server.address, format!("unix:{socket}"));
    // Both spellings gRPC knows: unix:PATH and unix:///PATH.
    for address in [format!("unix:{socket}"), format!("unix://{socket}")] {
        grpc(&[&address])
            .assert_exit(0)
            .assert_says(&format!("healthy unix:{socket} status=SERVING"));
    }
    grpc(&[&format!("unix:{socket}"), "--service", "db"])
        .assert_exit(0)
        .assert_says(&format!("healthy unix:{socket}?service=db status=SERVING"));
    let missing = scratch.file("nobody.sock");
    grpc(&[&format!("unix:{missing}")]).assert_exit(3);
}

#[test]
fn connect_and_rpc_timeouts_each_bound_their_step_within_the_whole_timeout() {
    // Connecting never ends: a listener whose backlog is full drops every SYN.
    let hole = HttpServer::start(&["--listen", "127.0.0.1:0", "--no-accept"]);
    let _queued = std::net::TcpStream::connect(&hole.address).expect("a queued connection");
    grpc(&[&hole.address, "--connect-timeout", "300ms"])
        .assert_exit(3)
        .assert_says(r#"error="connecting timed out after 300ms""#);
    // Connected, the call is never answered.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = listener.local_addr().unwrap().to_string();
    grpc(&[&silent, "--rpc-timeout", "300ms"])
        .assert_exit(3)
        .assert_says(r#"error="the call timed out after 300ms""#);
    // Without --timeout, the whole is their sum (each 1s unless given), as grpc_health_probe
    // allows each its own time: a call given 1500ms is not cut at 1s.
    servers::probe_with(&["grpc", &silent, "--rpc-timeout", "1500ms"], |command| {
        command.env_remove("PODKIT_TIMEOUT");
    })
    .assert_exit(3)
    .assert_says(r#"error="the call timed out after 1500ms""#);
    // Given, --timeout bounds the whole.
    servers::probe(&[
        "grpc",
        &silent,
        "--rpc-timeout",
        "30s",
        "--timeout",
        "300ms",
    ])
    .assert_exit(3)
    .assert_says(r#"error="timed out after 300ms""#);
}
