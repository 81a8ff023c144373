//! podkit-ambassador's connection handling, observed end to end: half-close in both directions,
//! bulk transfer, the idle and handshake timeouts, drain on SIGTERM, `--max-conns`, unreachable
//! targets, Unix sockets, and the health endpoints.
//!
//! Most tests chain both modes so that the test speaks plain TCP at both ends:
//! test client -> `client` mode -> mTLS -> `server` mode -> a backend the test controls. A byte
//! or a FIN then crosses a plain socket, a TLS session (close_notify) and a plain socket again.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use podkit_tests::ambassador::{
    self, ambassador, metered, refused_series, TlsPki, NOT_AFTER, OPEN_CONNECTIONS,
};
use podkit_tests::daemon::Daemon;
use podkit_tests::run::{command, run, Process};
use podkit_tests::servers::{DeadPort, HttpServer, Scratch};
use podkit_tests::tcp::{accept_queue, connect, http_get, Backend};
use podkit_tests::wait::HANG_GUARD;
use podkit_tests::{pidns, wait};

// ---------------------------------------------------------------------------------------------
// The ambassadors.

/// `server` mode presenting the `server` certificate, client certificates required and CN
/// `client` admitted.
fn server_args(pki: &TlsPki, target: &str, extra: &[&str]) -> Vec<String> {
    server_args_presenting(pki, "server", target, extra)
}

/// As [`server_args`], presenting the certificate `NAME.crt` of the test PKI.
fn server_args_presenting(pki: &TlsPki, name: &str, target: &str, extra: &[&str]) -> Vec<String> {
    let (cert, key) = pki.pair(name);
    let ca = pki.file("ca.crt");
    let mut flags = vec!["--cacert", &ca, "--allow-cn", "client"];
    flags.extend_from_slice(extra);
    ambassador::server_args(&cert, &key, target, &flags)
}

/// `client` mode, presenting the `client` certificate to a target that must be `localhost`.
fn client_args(pki: &TlsPki, target: &str, extra: &[&str]) -> Vec<String> {
    let (cert, key) = pki.pair("client");
    let mut flags = vec!["--cert", &cert, "--key", &key, "--server-name", "localhost"];
    flags.extend_from_slice(extra);
    ambassador::client_args(target, &pki.file("ca.crt"), &flags)
}

/// `args` with `--listen LISTEN`.
fn listening_on(mut args: Vec<String>, listen: &str) -> Vec<String> {
    args.extend(["--listen", listen].map(String::from));
    args
}

/// podkit-ambassador ARGS listening on a free loopback port.
fn start(args: Vec<String>) -> Daemon {
    ambassador(&listening_on(args, "127.0.0.1:0")).start()
}

/// A `client` mode ambassador in front of `server`, for the test to speak plain TCP to.
fn front(pki: &TlsPki, server: &Daemon, extra: &[&str]) -> Daemon {
    start(client_args(pki, &server.addr().to_string(), extra))
}

/// Both modes in a row in front of `target`: returns (client mode, server mode).
fn chain(pki: &TlsPki, target: &str, server_extra: &[&str]) -> (Daemon, Daemon) {
    let server = start(server_args(pki, target, server_extra));
    (front(pki, &server, &[]), server)
}

/// An echo backend behind both modes in a row, server mode (with `server_extra`) as PID 1 of a
/// new PID namespace, for the tests that signal it.
struct SignalledChain {
    backend: Backend,
    client: Daemon,
    server: Daemon,
    _pki: TlsPki,
}

fn echo_chain_with_server_as_pid1(server_extra: &[&str]) -> SignalledChain {
    let backend = Backend::echo();
    let pki = TlsPki::generate();
    let server = ambassador(&listening_on(
        server_args(&pki, &backend.target(), server_extra),
        "127.0.0.1:0",
    ))
    .as_pid1()
    .start();
    SignalledChain {
        client: front(&pki, &server, &[]),
        server,
        backend,
        _pki: pki,
    }
}

/// Waits for the ambassador to exit, asserts that it exited 0, and returns its log as one string.
#[track_caller]
fn exits_0(ambassador: Daemon) -> String {
    ambassador.wait().assert_success()
}

// ---------------------------------------------------------------------------------------------
// Clients.

/// A TCP connection to `addr` started and not waited for, as a flood starts them: a
/// non-blocking socket whose connect(2) is in progress or done. Closing it abandons it.
fn start_connecting(addr: SocketAddr) -> OwnedFd {
    let SocketAddr::V4(v4) = addr else {
        panic!("an IPv4 address: {addr}")
    };
    let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: socket has no memory preconditions; the result is checked.
    let raw = unsafe { libc::socket(libc::AF_INET, flags, 0) };
    assert!(raw >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: `raw` was just opened and nothing else owns it.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    let address = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `address` is a valid sockaddr_in and the length given is its size.
    let connected = unsafe {
        libc::connect(
            socket.as_raw_fd(),
            std::ptr::addr_of!(address).cast::<libc::sockaddr>(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    let error = std::io::Error::last_os_error();
    assert!(
        connected == 0 || error.raw_os_error() == Some(libc::EINPROGRESS),
        "connect to {addr}: {error}"
    );
    socket
}

/// Writes `bytes` and reads them back from an echo backend.
fn round_trip(stream: &mut (impl Read + Write), bytes: &[u8]) {
    stream.write_all(bytes).expect("send through the proxy");
    let mut back = vec![0; bytes.len()];
    stream
        .read_exact(&mut back)
        .expect("the echo through the proxy");
    assert_eq!(back, bytes, "the echo differs from what was sent");
}

/// Reads to the end of `stream`, which must end with a FIN (not a reset, not a hang) and no byte
/// before it.
fn expect_eof(stream: &mut impl Read, what: &str) {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => assert!(
            rest.is_empty(),
            "{what}: {} unexpected bytes before the end",
            rest.len()
        ),
        Err(e) => panic!("{what}: expected the end of the stream, got {e}"),
    }
}

/// Like [`expect_eof`], but a reset also counts as closed: the ambassador drops a connection it
/// refuses without reading what may be left in it.
fn expect_closed(stream: &mut impl Read, what: &str) {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "{what}: {} unexpected bytes", rest.len()),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{what}: expected the connection to be closed, got {e}"),
    }
}

/// `len` bytes that differ from `seed` to `seed` and never repeat with a short period
/// (xorshift64), so that a lost, duplicated or reordered chunk shows.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Reads `stream` to its end and checks it against `expected` as it comes, without keeping it:
/// `Err` names the first byte that differs, or the lengths.
fn read_matching(stream: &mut impl Read, expected: &[u8]) -> Result<(), String> {
    let mut buffer = vec![0; 256 * 1024];
    let mut at = 0;
    loop {
        let n = stream
            .read(&mut buffer)
            .map_err(|e| format!("read failed after {at} bytes: {e}"))?;
        if n == 0 {
            break;
        }
        let Some(wanted) = expected.get(at..at + n) else {
            return Err(format!("more than the {} bytes sent", expected.len()));
        };
        if buffer[..n] != *wanted {
            let i = (0..n).find(|&i| buffer[i] != wanted[i]).unwrap_or(0);
            return Err(format!("byte {} differs", at + i));
        }
        at += n;
    }
    match at == expected.len() {
        true => Ok(()),
        false => Err(format!("{at} bytes of {}", expected.len())),
    }
}

// ---------------------------------------------------------------------------------------------
// Half-close and bulk transfer.

#[test]
fn a_client_fin_crosses_both_modes_and_the_reply_still_comes_back() {
    let trailer = Arc::new(pattern(1, 256 * 1024));
    let reply_trailer = trailer.clone();
    // The backend answers only once the client's FIN reached it.
    let backend = Backend::start(move |mut stream| {
        let mut request = Vec::new();
        stream.read_to_end(&mut request).expect("read to the FIN");
        let _ = writeln!(stream, "received {} bytes", request.len());
        let _ = stream.write_all(&reply_trailer);
    });
    let pki = TlsPki::generate();
    let (client, _server) = chain(&pki, &backend.target(), &[]);

    let mut stream = connect(client.addr());
    stream.write_all(&pattern(2, 100_000)).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();

    let mut expected = b"received 100000 bytes\n".to_vec();
    expected.extend_from_slice(&trailer);
    read_matching(&mut stream, &expected)
        .unwrap_or_else(|e| panic!("the reply after the client's FIN: {e}"));
}

#[test]
fn a_backend_fin_crosses_both_modes_and_the_client_can_still_send() {
    let greeting = Arc::new(pattern(3, 256 * 1024));
    let sent = greeting.clone();
    let (received, heard) = mpsc::channel();
    // The backend speaks first and ends its side, then listens to the end.
    let backend = Backend::start(move |mut stream| {
        stream.write_all(&sent).expect("send the greeting");
        stream.shutdown(Shutdown::Write).expect("send the FIN");
        let mut request = Vec::new();
        let read = stream.read_to_end(&mut request).map(|_| request);
        let _ = received.send(read.map_err(|e| e.to_string()));
    });
    let pki = TlsPki::generate();
    let (client, _server) = chain(&pki, &backend.target(), &[]);

    let mut stream = connect(client.addr());
    read_matching(&mut stream, &greeting)
        .unwrap_or_else(|e| panic!("the backend's data up to its FIN: {e}"));
    let request = pattern(4, 100_000);
    stream
        .write_all(&request)
        .expect("send after the backend's FIN");
    stream.shutdown(Shutdown::Write).unwrap();

    let got = heard
        .recv_timeout(HANG_GUARD)
        .expect("the backend reads to the client's FIN")
        .expect("the backend's read");
    assert!(
        got == request,
        "the backend got {} bytes after its FIN, not the {} the client sent",
        got.len(),
        request.len()
    );
}

#[test]
fn sixty_four_mib_each_way_at_once_arrive_byte_exact() {
    const SIZE: usize = 64 << 20;
    let (up, down) = (Arc::new(pattern(5, SIZE)), Arc::new(pattern(6, SIZE)));
    let (backend_up, backend_down) = (up.clone(), down.clone());
    let (report, reported) = mpsc::channel();
    let backend = Backend::start(move |mut stream| {
        let mut writer = stream.try_clone().expect("clone the stream");
        let down = backend_down.clone();
        let sending = thread::spawn(move || {
            writer.write_all(&down)?;
            writer.shutdown(Shutdown::Write)
        });
        let matched = read_matching(&mut stream, &backend_up);
        let sent = sending.join().expect("the backend's writer");
        let _ = report.send((matched, sent.map_err(|e| e.to_string())));
    });
    let pki = TlsPki::generate();
    let (client, _server) = chain(&pki, &backend.target(), &[]);

    let mut stream = connect(client.addr());
    let mut writer = stream.try_clone().unwrap();
    let sending = thread::spawn(move || {
        writer.write_all(&up)?;
        writer.shutdown(Shutdown::Write)
    });
    let downstream = read_matching(&mut stream, &down);
    sending
        .join()
        .unwrap()
        .expect("the client sends 64 MiB and its FIN");
    let (upstream, backend_sent) = reported.recv_timeout(HANG_GUARD).expect("the backend ends");
    backend_sent.expect("the backend sends 64 MiB and its FIN");
    upstream.unwrap_or_else(|e| panic!("client -> backend: {e}"));
    downstream.unwrap_or_else(|e| panic!("backend -> client: {e}"));
}

// ---------------------------------------------------------------------------------------------
// Idle timeout.

#[test]
fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let backend = Backend::echo();
    let pki = TlsPki::generate();
    let (client, server) = chain(&pki, &backend.target(), &["--idle-timeout", "1s"]);

    let mut stream = connect(client.addr());
    round_trip(&mut stream, b"proxied");
    expect_eof(&mut stream, "a silent connection");
    server.wait_for_log("connection closed: idle timeout");
}

#[test]
fn a_byte_each_way_every_200ms_keeps_a_connection_past_the_idle_timeout() {
    let backend = Backend::echo();
    let pki = TlsPki::generate();
    let (client, server) = chain(&pki, &backend.target(), &["--idle-timeout", "1s"]);

    let mut stream = connect(client.addr());
    for byte in b"fifteen * 200ms" {
        round_trip(&mut stream, &[*byte]);
        thread::sleep(Duration::from_millis(200));
    }
    round_trip(&mut stream, b"still open after 3 s");
    assert_none_closed_as_idle(&server, "a busy connection");
}

#[test]
fn bytes_only_from_the_backend_keep_a_connection_past_the_idle_timeout() {
    const TICKS: &[u8] = b"fifteen * 200ms";
    // The backend ticks for 3 s while the client says nothing, then echoes.
    let backend = Backend::start(|mut stream| {
        for byte in TICKS {
            if stream.write_all(&[*byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(200));
        }
        let mut reader = stream.try_clone().expect("clone the stream");
        let _ = std::io::copy(&mut reader, &mut stream);
    });
    let pki = TlsPki::generate();
    let (client, server) = chain(&pki, &backend.target(), &["--idle-timeout", "1s"]);

    let mut stream = connect(client.addr());
    let mut ticks = vec![0; TICKS.len()];
    stream
        .read_exact(&mut ticks)
        .expect("every tick of the backend");
    assert_eq!(ticks, TICKS);
    round_trip(&mut stream, b"still open after 3 s");
    assert_none_closed_as_idle(&server, "a connection with traffic");
}

/// Asserts that `server` closed no connection for the idle timeout: `what` was not.
#[track_caller]
fn assert_none_closed_as_idle(server: &Daemon, what: &str) {
    let closed = server
        .log()
        .into_iter()
        .find(|line| line.contains("idle timeout"));
    assert_eq!(closed, None, "{what} was closed as idle");
}

// ---------------------------------------------------------------------------------------------
// Drain on SIGTERM.

#[test]
fn on_sigterm_it_refuses_new_connections_finishes_the_open_one_and_exits_0() {
    if !pidns::available("on_sigterm_it_refuses_new_connections_finishes_the_open_one_and_exits_0")
    {
        return;
    }
    let chain = echo_chain_with_server_as_pid1(&[]);
    let mut open = connect(chain.client.addr());
    round_trip(&mut open, b"before SIGTERM");

    chain.server.signal(libc::SIGTERM);
    chain.server.wait_for_log("no longer accepting");
    let refused = TcpStream::connect(chain.server.addr()).map(|_| ());
    assert_eq!(
        refused.map_err(|e| e.kind()),
        Err(ErrorKind::ConnectionRefused),
        "a new connection to the draining server mode"
    );
    let mut late = connect(chain.client.addr());
    expect_closed(
        &mut late,
        "a new connection through the chain while draining",
    );
    round_trip(&mut open, b"after SIGTERM, both ways");
    assert_eq!(
        chain.backend.accepted(),
        1,
        "only the open connection reached the backend"
    );

    drop(open);
    let log = exits_0(chain.server);
    assert!(log.contains("drained"), "{log}");
}

#[test]
fn after_the_drain_timeout_open_connections_are_closed_and_it_exits_0() {
    if !pidns::available("after_the_drain_timeout_open_connections_are_closed_and_it_exits_0") {
        return;
    }
    let chain = echo_chain_with_server_as_pid1(&["--drain-timeout", "1s"]);
    let mut kept = connect(chain.client.addr());
    round_trip(&mut kept, b"kept open");

    chain.server.signal(libc::SIGTERM);
    expect_eof(&mut kept, "a connection kept open past the drain timeout");
    let log = exits_0(chain.server);
    assert!(log.contains("drain timeout reached"), "{log}");
}

#[test]
fn sigint_stops_it_with_exit_0() {
    if !pidns::available("sigint_stops_it_with_exit_0") {
        return;
    }
    let chain = echo_chain_with_server_as_pid1(&[]);
    round_trip(&mut connect(chain.client.addr()), b"served");

    chain.server.signal(libc::SIGINT);
    let log = exits_0(chain.server);
    assert!(log.contains("cause=SIGINT"), "{log}");
}

// ---------------------------------------------------------------------------------------------
// --max-conns.

#[test]
fn beyond_max_conns_a_connection_waits_unproxied_until_a_slot_frees() {
    let backend = Backend::echo();
    let pki = TlsPki::generate();
    let server = start(server_args(&pki, &backend.target(), &["--max-conns", "2"]));
    // The third connection's handshake waits in the server's backlog: the client mode in front
    // must not give up on it before the test frees a slot.
    let client = front(&pki, &server, &["--handshake-timeout", "60s"]);
    let mut first = connect(client.addr());
    let mut second = connect(client.addr());
    round_trip(&mut first, b"first");
    round_trip(&mut second, b"second");

    let mut third = connect(client.addr());
    third.write_all(b"third").unwrap();
    round_trip(&mut first, b"first again");
    round_trip(&mut second, b"second again");
    // The third connection has reached the server once the kernel queues it on the listening
    // socket: from then on, only the server's --max-conns keeps it from the backend.
    wait::until("the third connection to wait at the server", || {
        (accept_queue(server.addr())? >= 1).then_some(())
    });
    assert_eq!(
        backend.accepted(),
        2,
        "a connection beyond --max-conns was proxied"
    );

    drop(first);
    let mut echo = [0; 5];
    third
        .read_exact(&mut echo)
        .expect("the third connection is proxied once a slot frees");
    assert_eq!(&echo, b"third");
    assert_eq!(backend.accepted(), 3);
    round_trip(&mut second, b"second still works");
}

#[test]
fn a_flood_beyond_max_conns_is_absorbed_and_it_keeps_serving() {
    let backend = Backend::echo();
    let pki = TlsPki::generate();
    let server = metered(&server_args(
        &pki,
        &backend.target(),
        &["--max-conns", "10"],
    ))
    .start();
    let client = front(&pki, &server, &[]);

    // The listen backlog holds only so many: the rest of the flood is still knocking (SYN).
    let flood: Vec<OwnedFd> = (0..300).map(|_| start_connecting(server.addr())).collect();
    let open = server.wait_for_count(OPEN_CONNECTIONS, 10.0);
    assert_eq!(
        open, 10.0,
        "open connections under a flood with --max-conns 10"
    );
    drop(flood);
    server.wait_for_metric(OPEN_CONNECTIONS, 0.0);

    let mut stream = connect(client.addr());
    round_trip(&mut stream, b"served after the flood");
    drop(stream);
    server.wait_for_metric(OPEN_CONNECTIONS, 0.0);
    assert_eq!(
        backend.accepted(),
        1,
        "only the normal request reached the backend"
    );
}

#[test]
fn silent_sockets_cannot_keep_a_real_client_from_every_max_conns_slot() {
    let backend = Backend::echo();
    let pki = TlsPki::generate();
    // A handshake timeout beyond any wait of this test: only giving a silent socket's slot to
    // the next connection can let the real client in.
    let server = metered(&server_args(
        &pki,
        &backend.target(),
        &["--max-conns", "4", "--handshake-timeout", "1h"],
    ))
    .start();
    let silent: Vec<TcpStream> = (0..20).map(|_| connect(server.addr())).collect();
    server.wait_for_count(OPEN_CONNECTIONS, 4.0);

    let client = front(&pki, &server, &[]);
    let mut stream = connect(client.addr());
    round_trip(&mut stream, b"a real client among silent sockets");
    assert_eq!(backend.accepted(), 1);
    let evicted = server.metric(&refused_series("evicted_silent"));
    assert!(evicted >= 1.0, "silent sockets evicted: {evicted}");
    assert!(
        !server.logged("WARN"),
        "evictions are counted, not warned about:\n{}",
        server.log_text()
    );
    assert_eq!(server.metric("podkit_ambassador_max_connections"), 4.0);
    drop(silent);
}

// ---------------------------------------------------------------------------------------------
// Handshake timeout and target failures.

#[test]
fn a_silent_or_stalled_tls_client_is_closed_after_the_handshake_timeout_and_counted() {
    let backend = Backend::echo();
    let pki = TlsPki::generate();
    let server = metered(&server_args(
        &pki,
        &backend.target(),
        &["--handshake-timeout", "1s"],
    ))
    .start();

    let mut silent = connect(server.addr());
    // The first bytes of a TLS record header, and then nothing.
    let mut stalled = connect(server.addr());
    stalled.write_all(&[0x16, 0x03, 0x01]).unwrap();
    expect_closed(&mut silent, "a client that sends nothing");
    expect_closed(&mut stalled, "a client that stalls in its ClientHello");
    server.wait_for_metric(&refused_series("handshake_timeout"), 2.0);
    server.wait_for_log("reason=handshake_timeout");
    assert_eq!(backend.accepted(), 0);
}

/// Starts each mode with `--target target`, connects through it, and checks that the client's
/// connection is closed and counted as `reason` in that mode's metrics.
fn assert_refused_in_both_modes(target: &str, reason: &str) {
    let pki = TlsPki::generate();

    let client = metered(&client_args(&pki, target, &[])).start();
    expect_closed(
        &mut connect(client.addr()),
        &format!("client mode, target {target}"),
    );
    client.wait_for_metric(&refused_series(reason), 1.0);

    let server = metered(&server_args(&pki, target, &[])).start();
    let client = front(&pki, &server, &[]);
    expect_closed(
        &mut connect(client.addr()),
        &format!("server mode, target {target}"),
    );
    server.wait_for_metric(&refused_series(reason), 1.0);
}

#[test]
fn a_dead_target_port_closes_the_client_and_counts_target_unreachable() {
    let dead = DeadPort::reserve();
    assert_refused_in_both_modes(&dead.address, "target_unreachable");
}

#[test]
fn an_unresolvable_target_closes_the_client_and_counts_target_unresolved() {
    assert_refused_in_both_modes("nonexistent.invalid:80", "target_unresolved");
}

/// Closes `stream` with a reset (SO_LINGER 0) instead of a FIN.
fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket this test owns, with a valid linger struct and its size.
    let set = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
}

#[test]
fn a_target_that_resets_at_once_is_counted_as_a_failed_connection() {
    let target = Backend::start(reset);
    let pki = TlsPki::generate();
    let server = metered(&server_args(&pki, &target.target(), &[])).start();
    let client = front(&pki, &server, &[]);
    expect_closed(
        &mut connect(client.addr()),
        "a connection whose target reset at once",
    );
    // The reset lands after the target's connect returned, or, when the kernel has it first,
    // during the ambassador's set-up of that connection (a target unreachable): counted once,
    // in one counter or the other.
    let counted = || {
        let value = |series: &str| {
            let body = server.metrics();
            body.lines()
                .find_map(|line| {
                    line.strip_prefix(series)?
                        .strip_prefix(' ')?
                        .parse::<f64>()
                        .ok()
                })
                .unwrap_or(0.0)
        };
        value("podkit_ambassador_connections_failed_total")
            + value(&refused_series("target_unreachable"))
    };
    wait::until("the reset connection to be counted", || {
        (counted() >= 1.0).then_some(())
    });
    assert_eq!(counted(), 1.0, "{}", server.metrics());
    assert_eq!(target.accepted(), 1);
}

/// A listener on `ip:port` that lets no connection in: a backlog of 0, already full, so the
/// kernel drops every further SYN and a connect to it hangs until its timeout. Both are held
/// until dropped.
fn black_hole(ip: &str, port: u16) -> (std::net::TcpListener, TcpStream) {
    let listener = std::net::TcpListener::bind((ip, port)).expect("bind the black hole");
    // SAFETY: listen(2) on a socket this test owns; calling it again sets a new backlog.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let queued = TcpStream::connect((ip, port)).expect("fill the black hole's backlog");
    (listener, queued)
}

#[test]
fn a_target_name_whose_first_address_is_dead_reaches_the_next_within_the_timeout() {
    if !pidns::available(
        "a_target_name_whose_first_address_is_dead_reaches_the_next_within_the_timeout",
    ) {
        return;
    }
    let backend = Backend::echo();
    let port = backend.addr.port();
    let _hole = black_hole("127.0.0.2", port);
    // multi.test resolves to the black hole first, then to the backend: an /etc/hosts of its
    // own, bound over the real one in a mount namespace of the ambassador's alone.
    let scratch = Scratch::new("ambassador-hosts");
    let hosts = scratch.file("hosts");
    std::fs::write(&hosts, "127.0.0.2 multi.test\n127.0.0.1 multi.test\n").unwrap();
    let pki = TlsPki::generate();
    let server_args = listening_on(
        server_args(
            &pki,
            &format!("multi.test:{port}"),
            &["--connect-timeout", "4s"],
        ),
        "127.0.0.1:0",
    );
    let script = format!(
        "mount --bind {hosts} /etc/hosts && exec {} \"$@\"",
        podkit_tests::bins::path("ambassador").display()
    );
    let (_server, _, log) = Process::spawn_reading(
        command("unshare")
            .args(["--mount", "sh", "-c", &script, "sh"])
            .args(&server_args),
    );
    let ready = log.wait_for("the server to listen", |lines| {
        lines
            .iter()
            .find(|line| line.contains("listening"))
            .cloned()
    });
    let server_addr: SocketAddr = ready
        .split_whitespace()
        .find_map(|field| field.strip_prefix("listen="))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("listen= in {ready}"));
    let client = start(client_args(&pki, &server_addr.to_string(), &[]));
    // Half of the 4 s goes to the black hole; all of it would leave nothing to the backend.
    let mut stream = connect(client.addr());
    round_trip(&mut stream, b"through the second address");
    assert_eq!(backend.accepted(), 1);
    assert!(
        !log.so_far().iter().any(|line| line.contains("refused")),
        "{:#?}",
        log.so_far()
    );
}

// ---------------------------------------------------------------------------------------------
// Unix sockets.

/// An echo server on a Unix socket, on a thread that ends with the test process.
fn unix_echo(path: &Path) {
    let listener = UnixListener::bind(path).expect("bind the Unix backend");
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            thread::spawn(move || {
                let mut reader = stream.try_clone().expect("clone the stream");
                let _ = std::io::copy(&mut reader, &mut stream);
            });
        }
    });
}

#[test]
fn unix_sockets_work_on_both_sides_and_are_removed_on_exit() {
    if !pidns::available("unix_sockets_work_on_both_sides_and_are_removed_on_exit") {
        return;
    }
    let scratch = Scratch::new("ambassador-unix");
    let (app, tls, backend) = (
        scratch.file("app.sock"),
        scratch.file("tls.sock"),
        scratch.join("backend.sock"),
    );
    unix_echo(&backend);
    let pki = TlsPki::generate();
    // app -> client mode on app.sock -> TLS over tls.sock -> server mode -> backend.sock.
    let server = ambassador(&listening_on(
        server_args(&pki, &format!("unix:{}", backend.display()), &[]),
        &format!("unix:{tls}"),
    ))
    .as_pid1()
    .start();
    let client = ambassador(&listening_on(
        client_args(&pki, &format!("unix:{tls}"), &[]),
        &format!("unix:{app}"),
    ))
    .as_pid1()
    .start();

    let mut stream = UnixStream::connect(&app).expect("connect to the client mode's socket");
    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
    round_trip(&mut stream, b"over Unix sockets, TLS in the middle");
    stream.shutdown(Shutdown::Write).unwrap();
    expect_eof(&mut stream, "the echo after the client's FIN");

    for ambassador in [client, server] {
        ambassador.stop().assert_success();
    }
    assert!(!Path::new(&app).exists(), "{app} is left behind");
    assert!(!Path::new(&tls).exists(), "{tls} is left behind");
}

#[test]
fn listen_mode_lets_another_uid_connect_to_a_unix_listener() {
    let scratch = Scratch::new("ambassador-listen-mode");
    let app = scratch.file("app.sock");
    let backend = HttpServer::local();
    let pki = TlsPki::generate();
    let server = start(server_args(&pki, &backend.address, &[]));
    let client = ambassador(&listening_on(
        client_args(&pki, &server.addr().to_string(), &["--listen-mode", "0666"]),
        &format!("unix:{app}"),
    ))
    .start();
    let mode = std::fs::metadata(&app).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666, "{app}: {mode:o}");
    // nobody (65534), as a sidecar's app running as another uid.
    let done = run(command("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .args(["curl", "--silent", "--show-error", "--unix-socket", &app])
        .arg("http://localhost/echo"));
    assert!(
        done.succeeded() && done.stdout.contains("/echo"),
        "another uid through {app}: {done:#?}"
    );
    drop(client);
}

#[test]
fn listen_mode_is_refused_for_a_tcp_listener() {
    let pki = TlsPki::generate();
    ambassador(&listening_on(
        client_args(&pki, "127.0.0.1:9", &["--listen-mode", "0660"]),
        "127.0.0.1:0",
    ))
    .assert_refused(&["--listen-mode"]);
    ambassador(&listening_on(
        client_args(&pki, "127.0.0.1:9", &["--listen-mode", "999"]),
        "unix:/tmp/podkit-never.sock",
    ))
    .assert_refused(&["--listen-mode"]);
}

// ---------------------------------------------------------------------------------------------
// /healthz and /readyz.

#[test]
fn with_an_expired_certificate_it_starts_live_but_not_ready() {
    let backend = Backend::echo();
    let pki = TlsPki::generate();
    let server = metered(&server_args_presenting(
        &pki,
        "server-expired",
        &backend.target(),
        &[],
    ))
    .start();

    server.wait_for_log("outside its validity period");
    assert_eq!(http_get(server.metrics_addr(), "/healthz").0, 200);
    let (status, body) = wait::until("/readyz to judge the certificate", || {
        let (status, body) = http_get(server.metrics_addr(), "/readyz");
        body.contains("certificate").then_some((status, body))
    });
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("expired"), "{body}");
}

#[test]
fn with_a_valid_certificate_it_is_ready_and_exports_its_expiry() {
    let backend = Backend::echo();
    let pki = TlsPki::generate();
    let server = metered(&server_args(&pki, &backend.target(), &[])).start();

    wait::until("/readyz to answer 200", || {
        (http_get(server.metrics_addr(), "/readyz").0 == 200).then_some(())
    });
    assert_eq!(http_get(server.metrics_addr(), "/healthz").0, 200);
    // server.crt is valid until 2035-01-01T00:00:00Z.
    assert_eq!(server.metric(NOT_AFTER), 2_051_222_400.0);
}
