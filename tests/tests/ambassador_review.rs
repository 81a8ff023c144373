//! What podkit-ambassador's review found, each as the behaviour a user observes: an early HTTP
//! answer survives an upload the backend refused to read, one busy direction does not starve the
//! other, a reset on one side reaches the other as a reset, an expired certificate is never
//! rotated in over a valid one, the security switches and the timeouts take no empty or zero
//! value, client mode's PROXY header comes before the ClientHello, and a target that hangs up
//! during the handshake is a warning.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use podkit_tests::ambassador::{
    ambassador, client_args, metered, refused_series, server_args, AmbassadorSeries, TlsPki,
};
use podkit_tests::daemon::Daemon;
use podkit_tests::run::{command, curl, Finished, Talking};
use podkit_tests::servers::{echo_and_local_port, Haproxy, HttpServer, Scratch};
use podkit_tests::tcp::{connect, http_get, Backend};
use podkit_tests::wait;
use podkit_tests::wait::HANG_GUARD;

// ---------------------------------------------------------------------------------------------
// The ambassador under test.

/// Server mode presenting the PKI's `server` certificate in front of `target`, to any client
/// (`--disable-authentication`).
fn server_mode_without_authentication(pki: &TlsPki, target: &str) -> Daemon {
    let (cert, key) = pki.pair("server");
    metered(&server_args(
        &cert,
        &key,
        target,
        &["--disable-authentication"],
    ))
    .start()
}

// ---------------------------------------------------------------------------------------------
// Plain TCP peers the test controls.

/// How a stream whose peer is done ended, as its reader sees it: `Ok` for a FIN (the end of the
/// stream), or the read error (a reset is `ConnectionReset`).
fn read_to_the_end(stream: &mut TcpStream) -> Result<(), ErrorKind> {
    let mut sink = Vec::new();
    stream
        .read_to_end(&mut sink)
        .map(drop)
        .map_err(|e| e.kind())
}

// ---------------------------------------------------------------------------------------------
// An early answer survives a failed upload.

/// What a server that limits request bodies answers once it has read the head of a request
/// that is too large (nginx's client_max_body_size, say).
const PAYLOAD_TOO_LARGE: &[u8] = b"HTTP/1.1 413 Payload Too Large\r\n\
    Content-Length: 10\r\nConnection: close\r\n\r\ntoo large\n";

/// How many times curl uploads: the old pipe lost the answer in most uploads but not in every
/// one, and an upload takes a few tens of milliseconds.
const UPLOADS: usize = 20;

/// Reads `stream` up to the end of an HTTP request head, and not a byte of the body on purpose:
/// a read may take some of it along, the rest stays unread.
fn read_request_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut chunk = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
}

#[test]
fn a_413_from_a_backend_that_never_reads_the_upload_reaches_curl_every_time() {
    // The backend answers after the head, ends its side (FIN), and closes with the upload
    // unread: its kernel resets the connection, and the ambassador's writes of the rest of the
    // upload fail while the answer is on its way to curl.
    let backend = Backend::start(|mut stream| {
        read_request_head(&mut stream);
        let _ = stream.write_all(PAYLOAD_TOO_LARGE);
        let _ = stream.shutdown(Shutdown::Write);
    });
    let pki = TlsPki::generate();
    let under = server_mode_without_authentication(&pki, &backend.target());
    let scratch = Scratch::new("ambassador-upload");
    let upload = scratch.join("upload.bin");
    std::fs::write(&upload, vec![b'u'; 20 << 20]).unwrap();
    let body = format!("@{}", upload.display());
    let url = format!("https://localhost:{}/upload", under.port());
    let ca = pki.file("ca.crt");

    // The race between the answer and the failed upload goes one way or the other from one run
    // to the next: every run must get the answer.
    let runs: Vec<Finished> = (0..UPLOADS)
        .map(|_| {
            curl(&[
                "--cacert",
                &ca,
                "-H",
                "Expect:",
                "--data-binary",
                &body,
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &url,
            ])
        })
        .collect();
    let codes: Vec<&str> = runs.iter().map(|run| run.stdout.as_str()).collect();
    assert_eq!(
        codes,
        ["413"; UPLOADS],
        "curl's status for each of {UPLOADS} uploads: {runs:#?}\nthe ambassador's log:\n{}",
        under.log_text()
    );
}

// ---------------------------------------------------------------------------------------------
// Fairness between the two directions of one connection.

/// Bytes each end sends: far more than every socket buffer on the way can hold (a few MB each),
/// so that the counts at the receiving ends show what the ambassadors moved.
const EACH_WAY: u64 = 400_000_000;

/// The most one direction may deliver while the other, not yet done, delivers nothing.
///
/// Turns taken fairly keep both directions moving: one stands still only while the other has a
/// turn (hundreds of KB) or while a receiving thread of the test waits for a core (at most 25 MB
/// in some 150 runs on a loaded 2-core machine, whatever the size of the transfer). A direction
/// that keeps its turn as long as its sender never pauses stops the other dead for a good part
/// of the transfer (94 to 268 MB of these 400 MB in 15 runs of the old pipe, which had then
/// delivered mostly under 20% of the slower direction when the faster one ended; 2% in the
/// review's run). An eighth of the transfer, 50 MB, stands clear of both.
const LONGEST_STALL: u64 = EACH_WAY / 8;

const UP: usize = 0;
const DOWN: usize = 1;

fn way_name(way: usize) -> &'static str {
    match way {
        UP => "app -> backend",
        _ => "backend -> app",
    }
}

/// What each receiving end has counted, and how long each direction stood still.
#[derive(Default, Debug)]
struct Counts {
    received: [u64; 2],
    /// What the other direction had received when this one last received.
    other_then: [u64; 2],
    /// The most the other direction received while this one received nothing and was not done.
    longest_stall: [u64; 2],
}

impl Counts {
    fn add(&mut self, way: usize, n: u64) {
        let other = 1 - way;
        self.received[way] += n;
        self.other_then[way] = self.received[other];
        if self.received[other] < EACH_WAY {
            let stall = self.received[way] - self.other_then[other];
            self.longest_stall[other] = self.longest_stall[other].max(stall);
        }
    }
}

#[derive(Default)]
struct Progress {
    counts: Mutex<Counts>,
}

impl Progress {
    /// Reads `stream` to its end, counting as direction `way`; the count at the end.
    fn receive(&self, stream: &mut TcpStream, way: usize) -> std::io::Result<u64> {
        let mut buffer = vec![0; 256 * 1024];
        loop {
            let n = stream.read(&mut buffer)? as u64;
            let mut counts = self.counts.lock().unwrap();
            if n == 0 {
                return Ok(counts.received[way]);
            }
            counts.add(way, n);
        }
    }
}

/// Sends [`EACH_WAY`] bytes without a pause, then a FIN.
fn send_all(stream: &mut TcpStream) -> std::io::Result<()> {
    let chunk = vec![b'z'; 64 * 1024];
    let mut sent = 0;
    while sent < EACH_WAY {
        let n = (EACH_WAY - sent).min(chunk.len() as u64) as usize;
        stream.write_all(&chunk[..n])?;
        sent += n as u64;
    }
    stream.shutdown(Shutdown::Write)
}

/// Sends [`EACH_WAY`] bytes on a thread of its own while it receives the other direction.
fn full_duplex(stream: &mut TcpStream, progress: &Progress, way: usize) -> Result<u64, String> {
    let mut writer = stream.try_clone().expect("clone the stream");
    let sending = thread::spawn(move || send_all(&mut writer));
    let received = progress.receive(stream, way);
    let sent = sending.join().expect("the sending thread");
    sent.map_err(|e| format!("send: {e}"))?;
    received.map_err(|e| format!("receive: {e}"))
}

#[test]
fn a_direction_that_never_pauses_does_not_starve_the_other_one() {
    let progress = Arc::new(Progress::default());
    let (report, reported) = mpsc::channel();
    let at_backend = progress.clone();
    let backend = Backend::start(move |mut stream| {
        let _ = report.send(full_duplex(&mut stream, &at_backend, UP));
    });
    let pki = TlsPki::generate();
    let ((cert, key), ca) = (pki.pair("server"), pki.file("ca.crt"));
    let (client_cert, client_key) = pki.pair("client");
    let target = backend.target();
    let server = metered(&server_args(
        &cert,
        &key,
        &target,
        &["--cacert", &ca, "--allow-cn", "client"],
    ))
    .start();
    let server_addr = server.addr().to_string();
    let client = metered(&client_args(
        &server_addr,
        &ca,
        &[
            "--cert",
            &client_cert,
            "--key",
            &client_key,
            "--server-name",
            "localhost",
        ],
    ))
    .start();

    let mut stream = connect(client.addr());
    let down = full_duplex(&mut stream, &progress, DOWN);
    let up = reported
        .recv_timeout(HANG_GUARD)
        .expect("the backend's end of the transfer");
    assert_eq!(down, Ok(EACH_WAY), "backend -> app");
    assert_eq!(up, Ok(EACH_WAY), "app -> backend");

    let counts = progress.counts.lock().unwrap();
    for way in [UP, DOWN] {
        let stall = counts.longest_stall[way];
        println!(
            "{} stood still at most while the other delivered {stall} bytes",
            way_name(way)
        );
        assert!(
            stall <= LONGEST_STALL,
            "{} delivered nothing while the other delivered {stall} bytes: {counts:?}",
            way_name(way)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A reset passed on as a reset.

/// A TLS client (Python's ssl module) that sends 100,000 bytes to server mode at 127.0.0.1:PORT,
/// says `sent`, and at a line on stdin resets the connection (SO_LINGER 0, then close), without a
/// close_notify, and says `reset`.
const RESETTING_CLIENT: &str = r#"
import socket, ssl, struct, sys
port, ca = int(sys.argv[1]), sys.argv[2]
context = ssl.create_default_context(cafile=ca)
raw = socket.create_connection(("127.0.0.1", port))
tls = context.wrap_socket(raw, server_hostname="localhost")
tls.sendall(b"x" * 100000)
print("sent", flush=True)
sys.stdin.readline()
tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
tls.close()
print("reset", flush=True)
"#;

/// A TLS server (Python's ssl module) with certificate and key from argv on 127.0.0.1: says
/// `listening PORT`, accepts one connection, sends `hello`, and at a line on stdin resets it
/// (SO_LINGER 0, then close), without a close_notify, and says `reset`.
const RESETTING_SERVER: &str = r#"
import socket, ssl, struct, sys
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
listener = socket.create_server(("127.0.0.1", 0))
print("listening", listener.getsockname()[1], flush=True)
raw, _ = listener.accept()
tls = context.wrap_socket(raw, server_side=True)
tls.sendall(b"hello\n")
sys.stdin.readline()
tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
tls.close()
print("reset", flush=True)
"#;

/// One of the scripts above, running: its stdout line by line, and its stdin for the go-ahead.
struct Python(Talking);

impl Python {
    fn run(script: &str, args: &[&str]) -> Python {
        Python(Talking::start(
            command("python3").arg("-c").arg(script).args(args),
        ))
    }

    /// Lets the script reset its connection, and waits until it did.
    fn reset(&mut self) {
        self.0.say("go");
        self.0.stdout.next_satisfying("reset", |l| l == "reset");
    }
}

#[test]
fn a_tls_client_that_resets_is_a_reset_at_the_backend_not_an_end_of_stream() {
    let (report, reported) = mpsc::channel();
    let backend = Backend::start(move |mut stream| {
        let mut upload = vec![0; 100_000];
        let _ = report.send(stream.read_exact(&mut upload).map_err(|e| e.kind()));
        let _ = report.send(read_to_the_end(&mut stream));
    });
    let pki = TlsPki::generate();
    let under = server_mode_without_authentication(&pki, &backend.target());

    let port = under.port().to_string();
    let mut client = Python::run(RESETTING_CLIENT, &[&port, &pki.file("ca.crt")]);
    client.0.stdout.next_satisfying("sent", |l| l == "sent");
    let upload = reported
        .recv_timeout(HANG_GUARD)
        .expect("the backend reads");
    assert_eq!(upload, Ok(()), "the client's 100,000 bytes at the backend");
    client.reset();
    let end = reported
        .recv_timeout(HANG_GUARD)
        .expect("the backend's end");
    assert_eq!(
        end,
        Err(ErrorKind::ConnectionReset),
        "how the backend saw the client's reset (Ok is a FIN: a cut-off upload taken as whole)"
    );
}

#[test]
fn a_tls_target_that_resets_is_a_reset_at_the_app_not_an_end_of_stream() {
    let pki = TlsPki::generate();
    let (cert, key) = pki.pair("server");
    let mut server = Python::run(RESETTING_SERVER, &[&cert, &key]);
    let line = server
        .0
        .stdout
        .next_satisfying("listening PORT", |l| l.starts_with("listening "));
    let target = format!("127.0.0.1:{}", &line["listening ".len()..]);
    let ca = pki.file("ca.crt");
    let under = metered(&client_args(&target, &ca, &["--server-name", "localhost"])).start();

    let mut app = connect(under.addr());
    let mut hello = [0; 6];
    app.read_exact(&mut hello).expect("the target's hello");
    assert_eq!(&hello, b"hello\n");
    server.reset();
    assert_eq!(
        read_to_the_end(&mut app),
        Err(ErrorKind::ConnectionReset),
        "how the app saw the target's reset (Ok is a FIN: a cut-off answer taken as whole)"
    );
}

// ---------------------------------------------------------------------------------------------
// No expired certificate rotated in over a valid one.

/// When `server.crt` expires: 2035-01-01T00:00:00Z.
const SERVER_NOT_AFTER: f64 = 2_051_222_400.0;

#[test]
fn an_expired_certificate_renamed_over_a_valid_one_is_refused_and_the_valid_one_keeps_serving() {
    let pki = TlsPki::generate();
    let files = Scratch::new("ambassador-expired-rotation");
    let (cert, key) = (files.file("tls.crt"), files.file("tls.key"));
    std::fs::copy(pki.file("server.crt"), &cert).unwrap();
    std::fs::copy(pki.file("server.key"), &key).unwrap();
    let backend = HttpServer::local();
    let under = metered(&server_args(
        &cert,
        &key,
        &backend.address,
        &["--disable-authentication"],
    ))
    .start();
    let url = format!("https://localhost:{}/status/200", under.port());
    let ca = pki.file("ca.crt");
    let request = || curl(&["--cacert", &ca, &url]);
    assert_eq!(request().stdout.trim(), "status 200", "before the rotation");

    // As a careful tool rotates: both new files written aside, then each renamed over its old one.
    for (name, from) in [
        ("tls.crt", "server-expired.crt"),
        ("tls.key", "server-expired.key"),
    ] {
        std::fs::copy(pki.file(from), files.join(&format!(".{name}.new"))).unwrap();
    }
    for name in ["tls.crt", "tls.key"] {
        std::fs::rename(files.join(&format!(".{name}.new")), files.join(name)).unwrap();
    }

    wait::until("the rotation to be judged", || {
        (under.reloads("success") + under.reloads("failure") >= 1.0).then_some(())
    });
    let log = under.log_text();
    assert_eq!(under.reloads("failure"), 1.0, "{log}");
    assert_eq!(under.reloads("success"), 0.0, "{log}");
    let refused = under.wait_for_log("TLS reload refused");
    assert!(refused.contains("expired"), "{refused}");
    let after = request();
    assert_eq!(
        after.stdout.trim(),
        "status 200",
        "after the rotation: {after:#?}"
    );
    assert_eq!(http_get(under.metrics_addr(), "/readyz").0, 200);
    assert_eq!(
        under.metric("podkit_ambassador_certificate_not_after_timestamp_seconds"),
        SERVER_NOT_AFTER
    );
}

// ---------------------------------------------------------------------------------------------
// Start-up refusals: security switches and timeouts.

#[test]
fn an_empty_security_switch_in_the_environment_stops_it_at_start_naming_the_variable() {
    let pki = TlsPki::generate();
    let ((cert, key), ca) = (pki.pair("server"), pki.file("ca.crt"));
    let variable = "PODKIT_DISABLE_AUTHENTICATION";
    let args = server_args(&cert, &key, "127.0.0.1:9", &["--listen", "127.0.0.1:0"]);
    ambassador(&args)
        .env(variable, "")
        .assert_refused(&[variable]);

    let variable = "PODKIT_ALLOW_ALL";
    let args = server_args(
        &cert,
        &key,
        "127.0.0.1:9",
        &["--listen", "127.0.0.1:0", "--cacert", &ca],
    );
    ambassador(&args)
        .env(variable, "")
        .assert_refused(&[variable]);
}

#[test]
fn true_in_the_environment_turns_the_security_switches_on() {
    let pki = TlsPki::generate();
    let ((cert, key), ca) = (pki.pair("server"), pki.file("ca.crt"));
    let backend = HttpServer::local();
    let args = server_args(&cert, &key, &backend.address, &[]);

    let open = metered(&args)
        .env("PODKIT_DISABLE_AUTHENTICATION", "true")
        .start();
    let url = format!("https://localhost:{}/status/200", open.port());
    let anonymous = curl(&["--cacert", &ca, &url]);
    assert_eq!(
        anonymous.stdout.trim(),
        "status 200",
        "no client certificate: {anonymous:#?}"
    );

    let mut args = args.clone();
    args.extend(["--cacert", &ca].map(String::from));
    let any_client = metered(&args).env("PODKIT_ALLOW_ALL", "true").start();
    let url = format!("https://localhost:{}/status/200", any_client.port());
    let (other_cert, other_key) = pki.pair("other");
    let other = curl(&[
        "--cacert",
        &ca,
        "--cert",
        &other_cert,
        "--key",
        &other_key,
        &url,
    ]);
    assert_eq!(
        other.stdout.trim(),
        "status 200",
        "CN other, no rule naming it: {other:#?}"
    );
}

#[test]
fn a_zero_timeout_stops_it_at_start_naming_the_flag() {
    let pki = TlsPki::generate();
    let (cert, key) = pki.pair("server");
    for (flag, zero) in [
        ("--idle-timeout", "0s"),
        ("--handshake-timeout", "0"),
        ("--connect-timeout", "0ms"),
    ] {
        let args = server_args(
            &cert,
            &key,
            "127.0.0.1:9",
            &[
                "--listen",
                "127.0.0.1:0",
                "--disable-authentication",
                flag,
                zero,
            ],
        );
        ambassador(&args).assert_refused(&[flag]);
    }
}

// ---------------------------------------------------------------------------------------------
// Client mode's PROXY header, read by haproxy's TLS listener.

/// haproxy terminating TLS with the PKI's `server` certificate behind a PROXY header
/// (`accept-proxy`), forwarding to `backend`.
fn haproxy_tls_accepting_proxy(test: &str, pki: &TlsPki, backend: &HttpServer) -> Option<Haproxy> {
    let bind_options = |dir: &Scratch| {
        let pem = dir.file("server.pem");
        let read = |name: &str| std::fs::read_to_string(pki.file(name)).unwrap();
        std::fs::write(&pem, read("server.crt") + &read("server.key")).unwrap();
        format!("ssl crt {pem} accept-proxy")
    };
    Haproxy::start(test, &backend.address, bind_options, &[])
}

#[test]
fn client_mode_sends_the_proxy_header_before_the_client_hello_and_haproxy_reads_the_app_address() {
    let test =
        "client_mode_sends_the_proxy_header_before_the_client_hello_and_haproxy_reads_the_app_address";
    let pki = TlsPki::generate();
    let backend = HttpServer::local();
    let Some(haproxy) = haproxy_tls_accepting_proxy(test, &pki, &backend) else {
        return;
    };
    let target = format!("127.0.0.1:{}", haproxy.port);
    let ca = pki.file("ca.crt");
    let under = metered(&client_args(
        &target,
        &ca,
        &["--server-name", "localhost", "--proxy-protocol"],
    ))
    .start();

    let url = format!("http://127.0.0.1:{}/echo", under.port());
    let app = curl(&["-w", "\n%{local_port}", &url]);
    let (echo, port) = echo_and_local_port(&app.stdout);
    Haproxy::assert_saw_client(&echo, port);
}

#[test]
fn from_a_unix_listener_the_proxy_header_is_a_local_command_that_haproxy_accepts() {
    let test = "from_a_unix_listener_the_proxy_header_is_a_local_command_that_haproxy_accepts";
    let pki = TlsPki::generate();
    let backend = HttpServer::local();
    let Some(haproxy) = haproxy_tls_accepting_proxy(test, &pki, &backend) else {
        return;
    };
    let scratch = Scratch::new("ambassador-unix-proxy");
    let app = scratch.file("app.sock");
    let target = format!("127.0.0.1:{}", haproxy.port);
    let ca = pki.file("ca.crt");
    let mut args = client_args(
        &target,
        &ca,
        &["--server-name", "localhost", "--proxy-protocol"],
    );
    args.extend(["--listen".to_owned(), format!("unix:{app}")]);
    let _under = ambassador(&args).start();

    // A Unix client has no address: haproxy, told LOCAL, uses the connection's own.
    let done = curl(&["--unix-socket", &app, "http://localhost/echo"]);
    assert!(
        done.succeeded() && done.stdout.contains(r#""path": "/echo""#),
        "haproxy accepted the header: {done:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// A target that hangs up during the handshake.

#[test]
fn a_target_that_hangs_up_during_the_handshake_is_logged_as_a_warning_and_counted() {
    // It reads the whole ClientHello record, so that its close is a FIN and not a reset, and
    // hangs up without a word.
    let target = Backend::start(|mut stream| {
        let mut header = [0; 5];
        if stream.read_exact(&mut header).is_ok() {
            let mut record = vec![0; usize::from(u16::from_be_bytes([header[3], header[4]]))];
            let _ = stream.read_exact(&mut record);
        }
    });
    let pki = TlsPki::generate();
    let ca = pki.file("ca.crt");
    let address = target.target();
    let under = metered(&client_args(&address, &ca, &["--server-name", "localhost"])).start();

    let mut app = connect(under.addr());
    app.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let end = read_to_the_end(&mut app);
    assert!(
        matches!(end, Ok(()) | Err(ErrorKind::ConnectionReset)),
        "the app's connection is closed: {end:?}"
    );
    under.wait_for_metric(&refused_series("handshake_failed"), 1.0);
    let line = under.wait_for_log("reason=handshake_failed");
    assert!(
        line.contains(" WARN ") && line.contains("connection refused"),
        "{line}"
    );
}
