//! podkit-ambassador's TLS identity, refusals and real peers.
//!
//! Server mode meets `curl` and `openssl s_client` (each allow rule, each refusal with its reason
//! in the log and in `/metrics`, the TLS versions, ALPN); client mode meets `openssl s_server`
//! and nginx (mTLS, `--verify-dns`, `--server-name`, an untrusted CA); the PROXY v2 header is read
//! by haproxy and by a parser here; testssl.sh rates server mode; start-up errors are one line.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use podkit_tests::ambassador::{
    ambassador, client_args, metered, refused_series, server_args, AmbassadorSeries, TlsPki,
};
use podkit_tests::daemon::Daemon;
use podkit_tests::run::{
    command, curl, installed, run, run_with_guard, run_with_input, Announced, Finished,
};
use podkit_tests::servers::{echo_and_local_port, header, Haproxy, HttpServer, Nginx};
use podkit_tests::wait;
use podkit_tests::wait::HANG_GUARD;

// ---------------------------------------------------------------------------------------------
// The ambassador under test and what it tells.

/// Server mode in front of `target`, presenting the PKI's `NAME.crt`.
fn server_mode_presenting(pki: &TlsPki, name: &str, target: &str, extra: &[&str]) -> Daemon {
    let (cert, key) = pki.pair(name);
    metered(&server_args(&cert, &key, target, extra)).start()
}

/// Server mode in front of `target`, presenting the `server` certificate.
fn server_mode(pki: &TlsPki, target: &str, extra: &[&str]) -> Daemon {
    server_mode_presenting(pki, "server", target, extra)
}

/// Server mode in front of `backend`, requiring client certificates from the test CA and
/// admitting what `rules` (`--allow-*` flags) admit.
fn mtls_server(pki: &TlsPki, backend: &HttpServer, rules: &[&str]) -> Daemon {
    let ca = pki.file("ca.crt");
    let mut extra = vec!["--cacert", &ca];
    extra.extend_from_slice(rules);
    server_mode(pki, &backend.address, &extra)
}

/// Client mode in front of `target`, trusting the PKI's `CA_NAME.crt`.
fn client_mode(pki: &TlsPki, target: &str, ca_name: &str, extra: &[&str]) -> Daemon {
    let ca = pki.file(&format!("{ca_name}.crt"));
    metered(&client_args(target, &ca, extra)).start()
}

/// Asserts one refusal so far, for `reason`: logged with the reason, and counted (the counter
/// moves before the line is logged).
#[track_caller]
fn assert_refused_once(under: &Daemon, reason: &str) {
    let line = under.wait_for_log(&format!("reason={reason} "));
    assert!(
        line.contains("WARN") && line.contains("connection refused"),
        "{line}"
    );
    let refusals: Vec<String> = under
        .log()
        .into_iter()
        .filter(|l| l.contains("connection refused"))
        .collect();
    assert_eq!(refusals.len(), 1, "one refusal: {refusals:#?}");
    assert_eq!(
        under.refused(reason),
        1.0,
        "refused_total{{reason={reason}}}"
    );
}

// ---------------------------------------------------------------------------------------------
// Clients.

/// `curl https://localhost:PORT/echo` to server mode, trusting the test CA and presenting the
/// PKI's `identity` (`client`, `other`...) when given.
fn curl_through(pki: &TlsPki, under: &Daemon, identity: Option<&str>, extra: &[&str]) -> Finished {
    let url = format!("https://localhost:{}/echo", under.port());
    let ca = pki.file("ca.crt");
    let mut args = vec!["--cacert", &ca];
    let pair = identity.map(|name| pki.pair(name));
    if let Some((cert, key)) = &pair {
        args.extend(["--cert", cert, "--key", key]);
    }
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args)
}

/// Asserts that the backend answered curl: its echo of the request came back.
#[track_caller]
fn assert_answered(curl: &Finished) {
    assert!(
        curl.succeeded() && curl.stdout.contains(r#""path": "/echo""#),
        "expected the backend's echo: {curl:#?}"
    );
}

/// Asserts that curl got nothing from the backend.
#[track_caller]
fn assert_not_answered(curl: &Finished) {
    assert!(
        !curl.succeeded() && !curl.stdout.contains("/echo"),
        "expected no answer: {curl:#?}"
    );
}

/// `openssl s_client` to server mode as `client`, asking for `/echo` over HTTP/1.0 and reading
/// until the server closes.
fn s_client(pki: &TlsPki, under: &Daemon, extra: &[&str]) -> Finished {
    let (cert, key) = pki.pair("client");
    run_with_input(
        command("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{}", under.port()),
            ])
            .args(["-servername", "localhost", "-verify_return_error"])
            .args(["-CAfile", &pki.file("ca.crt")])
            .args(["-cert", &cert, "-key", &key])
            .arg("-ign_eof")
            .args(extra),
        b"GET /echo HTTP/1.0\r\nHost: localhost\r\n\r\n",
    )
}

/// An app's plain request through client mode: everything that came back before the end (a
/// reset counts as the end).
fn app_request(under: &Daemon) -> Vec<u8> {
    let mut stream = TcpStream::connect(under.addr()).expect("connect to client mode");
    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .expect("send the request");
    let mut received = Vec::new();
    match stream.read_to_end(&mut received) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("read from client mode: {e}"),
    }
    received
}

// ---------------------------------------------------------------------------------------------
// Certificates the test PKI does not have, issued by its CA with openssl.

/// Issues `NAME.crt` and `NAME.key` (P-256) from the PKI's `ca`, valid for `days`, with subject
/// CN `cn` and the openssl `extensions` lines (SANs and the like).
fn issue(pki: &TlsPki, name: &str, cn: &str, days: u32, extensions: &str) {
    let config = format!(
        "[leaf]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n\
         {extensions}\n"
    );
    std::fs::write(pki.dir().join(format!("{name}.ext")), config).unwrap();
    // The names are the test's own, without spaces: each command reads as one line.
    let openssl = |command_line: String| {
        let args: Vec<&str> = command_line.split(' ').collect();
        let done = run(command("openssl").args(&args).current_dir(pki.dir()));
        assert!(done.succeeded(), "openssl {command_line}: {done:#?}");
    };
    openssl(format!(
        "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
         -keyout {name}.key -out {name}.csr -subj /CN={cn}"
    ));
    openssl(format!(
        "x509 -req -in {name}.csr -CA ca.crt -CAkey ca.key -days {days} \
         -extfile {name}.ext -extensions leaf -out {name}.crt"
    ));
}

/// A client certificate from the test CA whose only identity is the URI SAN `uri`.
fn issue_client_with_uri(pki: &TlsPki, name: &str, uri: &str) {
    issue(
        pki,
        name,
        name,
        30,
        &format!("extendedKeyUsage = clientAuth\nsubjectAltName = URI:{uri}"),
    );
}

// ---------------------------------------------------------------------------------------------
// Server mode: each allow rule, each refusal.

/// Server mode with `rules` admits `client` (its request reaches the backend) and refuses
/// `other` as not_allowed, logged and counted, without a byte reaching the backend.
fn assert_admits_client_and_refuses_other(rules: &[&str]) {
    let pki = TlsPki::generate();
    let mut backend = HttpServer::local();
    let under = mtls_server(&pki, &backend, rules);
    assert_answered(&curl_through(&pki, &under, Some("client"), &[]));
    assert_not_answered(&curl_through(&pki, &under, Some("other"), &[]));
    assert_refused_once(&under, "not_allowed");
    assert_eq!(under.accepted(), 1.0);
    assert_eq!(backend.requests().len(), 1, "only client's request arrived");
}

#[test]
fn allow_cn_admits_that_common_name_and_refuses_another_as_not_allowed() {
    assert_admits_client_and_refuses_other(&["--allow-cn", "client"]);
}

#[test]
fn allow_dns_admits_that_dns_san_and_refuses_another_as_not_allowed() {
    assert_admits_client_and_refuses_other(&["--allow-dns", "client.test"]);
}

#[test]
fn allow_uri_with_a_star_admits_any_one_segment_there_and_refuses_other() {
    assert_admits_client_and_refuses_other(&[
        "--allow-uri",
        "spiffe://cluster.test/ns/*/sa/client",
    ]);
}

#[test]
fn allow_uri_with_a_final_double_star_admits_any_suffix_and_refuses_other() {
    assert_admits_client_and_refuses_other(&["--allow-uri", "spiffe://cluster.test/ns/default/**"]);
}

#[test]
fn allow_rules_from_a_yaml_block_in_the_environment_ignore_blanks_and_the_final_newline() {
    let pki = TlsPki::generate();
    let mut backend = HttpServer::local();
    let (cert, key) = pki.pair("server");
    let ca = pki.file("ca.crt");
    let args = server_args(&cert, &key, &backend.address, &["--cacert", &ca]);
    // What a `value: |` block in a manifest puts in the variable: indented lines, a newline at
    // the end, an empty line.
    let under = metered(&args)
        .env(
            "PODKIT_ALLOW_URI",
            "  spiffe://cluster.test/ns/default/**\n\n  spiffe://cluster.test/ns/none/sa/x  \n",
        )
        .start();
    assert_answered(&curl_through(&pki, &under, Some("client"), &[]));
    assert_not_answered(&curl_through(&pki, &under, Some("other"), &[]));
    assert_refused_once(&under, "not_allowed");
    assert_eq!(backend.requests().len(), 1, "only client's request arrived");
}

#[test]
fn a_star_in_allow_uri_matches_exactly_one_path_segment() {
    let pki = TlsPki::generate();
    issue_client_with_uri(
        &pki,
        "tenant-client",
        "spiffe://cluster.test/ns/tenants/sa/client",
    );
    issue_client_with_uri(
        &pki,
        "deep-client",
        "spiffe://cluster.test/ns/a/b/sa/client",
    );
    let mut backend = HttpServer::local();
    let under = mtls_server(
        &pki,
        &backend,
        &["--allow-uri", "spiffe://cluster.test/ns/*/sa/client"],
    );
    assert_answered(&curl_through(&pki, &under, Some("tenant-client"), &[]));
    assert_not_answered(&curl_through(&pki, &under, Some("deep-client"), &[]));
    assert_refused_once(&under, "not_allowed");
    assert_eq!(
        backend.requests().len(),
        1,
        "only tenant-client's request arrived"
    );
}

#[test]
fn allow_all_admits_every_client_of_the_ca() {
    let pki = TlsPki::generate();
    let mut backend = HttpServer::local();
    let under = mtls_server(&pki, &backend, &["--allow-all"]);
    assert_answered(&curl_through(&pki, &under, Some("client"), &[]));
    assert_answered(&curl_through(&pki, &under, Some("other"), &[]));
    assert_eq!(under.accepted(), 2.0);
    assert_eq!(backend.requests().len(), 2);
}

/// Server mode admitting CN `client` refuses curl presenting `identity` for `reason`: curl gets
/// nothing, the backend sees nothing, the refusal is logged with its reason and counted.
fn assert_client_refused(identity: Option<&str>, reason: &str) {
    let pki = TlsPki::generate();
    let mut backend = HttpServer::local();
    let under = mtls_server(&pki, &backend, &["--allow-cn", "client"]);
    assert_not_answered(&curl_through(&pki, &under, identity, &[]));
    assert_refused_once(&under, reason);
    assert_eq!(under.accepted(), 0.0);
    assert_eq!(
        backend.requests(),
        Vec::<String>::new(),
        "nothing reached the backend"
    );
}

#[test]
fn a_client_without_a_certificate_is_refused_and_counted() {
    assert_client_refused(None, "no_client_certificate");
}

#[test]
fn a_client_certificate_from_another_ca_is_refused_as_unknown_issuer_and_counted() {
    assert_client_refused(Some("stranger"), "unknown_issuer");
}

#[test]
fn an_expired_client_certificate_is_refused_and_counted() {
    assert_client_refused(Some("expired"), "certificate_expired");
}

#[test]
fn a_client_matching_no_rule_is_refused_as_not_allowed_and_counted() {
    assert_client_refused(Some("other"), "not_allowed");
}

#[test]
fn with_disable_authentication_a_client_without_a_certificate_gets_through() {
    let pki = TlsPki::generate();
    let mut backend = HttpServer::local();
    let under = server_mode(&pki, &backend.address, &["--disable-authentication"]);
    assert_answered(&curl_through(&pki, &under, None, &[]));
    assert_eq!(under.accepted(), 1.0);
    assert_eq!(backend.requests().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Server mode and openssl s_client: versions and ALPN.

#[test]
fn openssl_s_client_gets_through_with_tls_1_2_and_with_tls_1_3() {
    let pki = TlsPki::generate();
    let backend = HttpServer::local();
    let under = mtls_server(&pki, &backend, &["--allow-cn", "client"]);
    for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let session = s_client(&pki, &under, &[flag]);
        assert!(
            session.succeeded()
                && session
                    .stdout
                    .contains(&format!("New, {version}, Cipher is"))
                && session.stdout.contains(r#""path": "/echo""#),
            "{flag}: {session:#?}"
        );
    }
    assert_eq!(under.accepted(), 2.0);
}

#[test]
fn tls_1_1_and_tls_1_0_are_refused_even_to_a_client_that_offers_them() {
    let pki = TlsPki::generate();
    let backend = HttpServer::local();
    let under = mtls_server(&pki, &backend, &["--allow-cn", "client"]);
    // OpenSSL 3 sends TLS 1.1 and 1.0 hellos only at security level 0.
    for flag in ["-tls1_1", "-tls1"] {
        let session = s_client(&pki, &under, &[flag, "-cipher", "DEFAULT:@SECLEVEL=0"]);
        assert!(
            !session.succeeded() && session.stdout.contains("Cipher is (NONE)"),
            "{flag}: {session:#?}"
        );
    }
    // The hellos reached the ambassador, which refused them: not a client that gave up alone.
    // The counter moves before the line is logged.
    under.wait_logged("reason=handshake_failed", 2);
    let refused = under.count_logged("reason=handshake_failed");
    assert_eq!(refused, 2, "{}", under.log_text());
    assert_eq!(under.refused("handshake_failed"), 2.0);
    assert_eq!(under.accepted(), 0.0);
}

#[test]
fn with_alpn_h2_and_http_1_1_openssl_s_client_negotiates_h2_or_http_1_1_server_order_first() {
    let pki = TlsPki::generate();
    let backend = HttpServer::local();
    let ca = pki.file("ca.crt");
    let under = server_mode(
        &pki,
        &backend.address,
        &[
            "--cacert",
            &ca,
            "--allow-cn",
            "client",
            "--alpn",
            "h2",
            "--alpn",
            "http/1.1",
        ],
    );
    let h2 = s_client(&pki, &under, &["-alpn", "h2"]);
    assert!(h2.stdout.contains("ALPN protocol: h2\n"), "{h2:#?}");
    // The server's order of preference decides between two it accepts.
    let both = s_client(&pki, &under, &["-alpn", "http/1.1,h2"]);
    assert!(both.stdout.contains("ALPN protocol: h2\n"), "{both:#?}");
    let http1 = s_client(&pki, &under, &["-alpn", "http/1.1"]);
    assert!(
        http1.stdout.contains("ALPN protocol: http/1.1\n"),
        "{http1:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Client mode in front of real TLS servers.

/// `openssl s_server -www` with the `server` certificate on a free loopback port.
struct SServer {
    _server: Announced,
    port: u16,
}

fn s_server(pki: &TlsPki) -> SServer {
    let (cert, key) = pki.pair("server");
    let server = Announced::start(
        command("openssl")
            .args(["s_server", "-accept", "127.0.0.1:0", "-www"])
            .args(["-cert", &cert, "-key", &key])
            .stdin(Stdio::null())
            .stderr(Stdio::null()),
        "ACCEPT ",
    );
    let port = server
        .address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("a port in {:?}", server.address));
    SServer {
        _server: server,
        port,
    }
}

impl SServer {
    /// `localhost:PORT`: client mode verifies the certificate against `localhost`.
    fn target(&self) -> String {
        format!("localhost:{}", self.port)
    }
}

/// The cipher suites s_server's page lists as common to both ends.
fn common_ciphers(page: &str) -> Vec<&str> {
    page.lines()
        .skip_while(|l| !l.starts_with("Ciphers common between both SSL end points:"))
        .skip(1)
        .take_while(|l| !l.contains("Signature Algorithms"))
        .flat_map(str::split_whitespace)
        .collect()
}

#[test]
fn client_mode_carries_an_app_request_to_openssl_s_server_over_tls_1_3_with_aead_only() {
    let pki = TlsPki::generate();
    let server = s_server(&pki);
    let under = client_mode(&pki, &server.target(), "ca", &[]);
    let page = String::from_utf8_lossy(&app_request(&under)).into_owned();
    assert!(
        page.starts_with("HTTP/1.0 200 ok") && page.contains("New, TLSv1.3, Cipher is"),
        "{page}"
    );
    let common = common_ciphers(&page);
    assert!(!common.is_empty(), "{page}");
    let weak: Vec<&&str> = common
        .iter()
        .filter(|suite| !(suite.contains("GCM") || suite.contains("CHACHA20")))
        .collect();
    assert!(
        weak.is_empty(),
        "the ambassador offered non-AEAD suites {weak:?}"
    );
    assert_eq!(under.accepted(), 1.0);
}

#[test]
fn verify_dns_with_a_name_the_server_certificate_has_lets_the_app_through() {
    let pki = TlsPki::generate();
    let server = s_server(&pki);
    let under = client_mode(
        &pki,
        &server.target(),
        "ca",
        &["--verify-dns", "ambassador.test"],
    );
    let page = String::from_utf8_lossy(&app_request(&under)).into_owned();
    assert!(page.starts_with("HTTP/1.0 200 ok"), "{page}");
}

/// Client mode in front of s_server with `extra` refuses the server for `reason`: the app's
/// connection is closed without a byte, and the refusal is logged and counted.
fn assert_server_refused(ca_name: &str, extra: &[&str], reason: &str) {
    let pki = TlsPki::generate();
    let server = s_server(&pki);
    let under = client_mode(&pki, &server.target(), ca_name, extra);
    let received = app_request(&under);
    assert!(
        received.is_empty(),
        "the app got {:?}",
        String::from_utf8_lossy(&received)
    );
    assert_refused_once(&under, reason);
    assert_eq!(under.accepted(), 0.0);
}

#[test]
fn verify_dns_with_a_name_the_server_certificate_lacks_refuses_it_as_server_not_allowed() {
    assert_server_refused("ca", &["--verify-dns", "nope.test"], "server_not_allowed");
}

#[test]
fn a_server_name_the_certificate_is_not_valid_for_is_refused_as_bad_certificate() {
    assert_server_refused("ca", &["--server-name", "wrong.test"], "bad_certificate");
}

#[test]
fn a_server_certificate_from_an_untrusted_ca_is_refused_as_unknown_issuer() {
    assert_server_refused("other-ca", &[], "unknown_issuer");
}

/// nginx requiring client certificates from the test CA; it answers `hello` and the client
/// certificate's subject.
fn nginx_requiring_client_certificates(test: &str, pki: &TlsPki) -> Option<Nginx> {
    let directives = format!(
        "ssl_certificate {}; ssl_certificate_key {};
    ssl_client_certificate {}; ssl_verify_client on;
    location / {{ return 200 \"hello $ssl_client_s_dn\\n\"; }}",
        pki.file("server.crt"),
        pki.file("server.key"),
        pki.file("ca.crt"),
    );
    Nginx::start_https(test, &directives)
}

#[test]
fn client_mode_presents_its_certificate_to_nginx_which_requires_one() {
    let test = "client_mode_presents_its_certificate_to_nginx_which_requires_one";
    let pki = TlsPki::generate();
    let Some(nginx) = nginx_requiring_client_certificates(test, &pki) else {
        return;
    };
    let (cert, key) = pki.pair("client");
    let target = format!("localhost:{}", nginx.port);
    let under = client_mode(&pki, &target, "ca", &["--cert", &cert, "--key", &key]);
    let app = curl(&[&format!("http://127.0.0.1:{}/", under.port())]);
    assert!(
        app.succeeded() && app.stdout == "hello CN=client\n",
        "{app:#?}"
    );
    // The same nginx turns away a client without a certificate.
    let direct = curl(&[
        "-w",
        "\n%{http_code}",
        "--cacert",
        &pki.file("ca.crt"),
        &format!("https://localhost:{}/", nginx.port),
    ]);
    assert!(
        direct.stdout.ends_with("\n400") && direct.stdout.contains("No required SSL certificate"),
        "{direct:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// PROXY protocol v2.

/// haproxy accepting a PROXY header on its one frontend and forwarding to `backend` with the
/// address and SNI it read in request headers `X-Client` and `X-Authority`.
fn haproxy_accepting_proxy(test: &str, backend: &HttpServer) -> Option<Haproxy> {
    Haproxy::start(
        test,
        &backend.address,
        |_| "accept-proxy".to_owned(),
        &["X-Authority %[fc_pp_authority]"],
    )
}

/// curl as `client` through server mode (admitting CN `client`, with `proxy_flags`) in front of
/// [`haproxy_accepting_proxy`]: its request as the backend echoed it, and the local port curl
/// connected from (`-w`). `None`, with the skip reported, without haproxy.
fn echo_through_haproxy(test: &str, proxy_flags: &[&str]) -> Option<(serde_json::Value, u16)> {
    let pki = TlsPki::generate();
    let backend = HttpServer::local();
    let haproxy = haproxy_accepting_proxy(test, &backend)?;
    let ca = pki.file("ca.crt");
    let mut extra = vec!["--cacert", &ca, "--allow-cn", "client"];
    extra.extend_from_slice(proxy_flags);
    let under = server_mode(&pki, &format!("127.0.0.1:{}", haproxy.port), &extra);
    let curl = curl_through(&pki, &under, Some("client"), &["-w", "\n%{local_port}"]);
    assert!(curl.succeeded(), "{curl:#?}");
    Some(echo_and_local_port(&curl.stdout))
}

#[test]
fn haproxy_accept_proxy_sees_the_original_client_address_and_port() {
    let test = "haproxy_accept_proxy_sees_the_original_client_address_and_port";
    let Some((echo, curl_port)) = echo_through_haproxy(test, &["--proxy-protocol"]) else {
        return;
    };
    Haproxy::assert_saw_client(&echo, curl_port);
}

#[test]
fn haproxy_reads_the_sni_from_the_authority_tlv() {
    let test = "haproxy_reads_the_sni_from_the_authority_tlv";
    let flags = ["--proxy-protocol", "--proxy-protocol-tlvs"];
    let Some((echo, curl_port)) = echo_through_haproxy(test, &flags) else {
        return;
    };
    assert_eq!(
        header(&echo, "X-Authority").as_deref(),
        Some("localhost"),
        "{echo}"
    );
    Haproxy::assert_saw_client(&echo, curl_port);
}

/// A PROXY protocol v2 header (haproxy's proxy-protocol.txt, section 2.2), for TCP over IPv4.
#[derive(Debug)]
struct ProxyHeader {
    source: SocketAddr,
    destination: SocketAddr,
    /// Type and value of each TLV, in order.
    tlvs: Vec<(u8, Vec<u8>)>,
}

const PP2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const PP2_TYPE_ALPN: u8 = 0x01;
const PP2_TYPE_AUTHORITY: u8 = 0x02;
const PP2_TYPE_SSL: u8 = 0x20;
const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
const PP2_SUBTYPE_SSL_CN: u8 = 0x22;
const PP2_SUBTYPE_SSL_CIPHER: u8 = 0x23;
const PP2_CLIENT_SSL: u8 = 0x01;
const PP2_CLIENT_CERT_CONN: u8 = 0x02;
const PP2_CLIENT_CERT_SESS: u8 = 0x04;

impl ProxyHeader {
    /// Reads the header from the start of `stream`, asserting each fixed field on the way.
    fn read_from(stream: &mut TcpStream) -> ProxyHeader {
        let mut fixed = [0u8; 16];
        stream
            .read_exact(&mut fixed)
            .expect("the header's 16 bytes");
        assert_eq!(&fixed[..12], PP2_SIGNATURE, "signature");
        assert_eq!(fixed[12], 0x21, "version 2, command PROXY");
        assert_eq!(fixed[13], 0x11, "TCP over IPv4");
        let mut rest = vec![0u8; usize::from(u16::from_be_bytes([fixed[14], fixed[15]]))];
        stream
            .read_exact(&mut rest)
            .expect("the header's addresses and TLVs");
        assert!(
            rest.len() >= 12,
            "room for two IPv4 addresses and ports: {rest:?}"
        );
        let (addresses, tlvs) = rest.split_at(12);
        let address = |ip: &[u8], port: &[u8]| {
            SocketAddr::from((
                Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]),
                u16::from_be_bytes([port[0], port[1]]),
            ))
        };
        ProxyHeader {
            source: address(&addresses[0..4], &addresses[8..10]),
            destination: address(&addresses[4..8], &addresses[10..12]),
            tlvs: parse_tlvs(tlvs),
        }
    }

    fn tlv(&self, kind: u8) -> Option<&[u8]> {
        find_tlv(&self.tlvs, kind)
    }

    /// The SSL TLV: its client flags, verify result, and sub-TLVs.
    fn ssl(&self) -> (u8, u32, Vec<(u8, Vec<u8>)>) {
        let value = self.tlv(PP2_TYPE_SSL).expect("an SSL TLV");
        assert!(value.len() >= 5, "client and verify fields: {value:?}");
        let verify = u32::from_be_bytes([value[1], value[2], value[3], value[4]]);
        (value[0], verify, parse_tlvs(&value[5..]))
    }
}

fn parse_tlvs(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut tlvs = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 3, "a truncated TLV: {bytes:?}");
        let length = usize::from(u16::from_be_bytes([bytes[1], bytes[2]]));
        assert!(
            bytes.len() >= 3 + length,
            "a TLV longer than the header: {bytes:?}"
        );
        tlvs.push((bytes[0], bytes[3..3 + length].to_vec()));
        bytes = &bytes[3 + length..];
    }
    tlvs
}

fn find_tlv(tlvs: &[(u8, Vec<u8>)], kind: u8) -> Option<&[u8]> {
    tlvs.iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, value)| value.as_slice())
}

/// Connects curl (as `client`, with `curl_flags`) to server mode, whose target is `target`;
/// returns the PROXY header the target read first, and curl's local port.
fn proxy_header_for(
    pki: &TlsPki,
    under: &Daemon,
    target: &TcpListener,
    curl_flags: &[&str],
) -> (ProxyHeader, u16) {
    proxy_header_for_identity(pki, under, target, "client", curl_flags)
}

/// As [`proxy_header_for`], curl presenting the PKI's `identity`.
fn proxy_header_for_identity(
    pki: &TlsPki,
    under: &Daemon,
    target: &TcpListener,
    identity: &str,
    curl_flags: &[&str],
) -> (ProxyHeader, u16) {
    std::thread::scope(|scope| {
        let mut flags = vec!["-w", "%{local_port}"];
        flags.extend_from_slice(curl_flags);
        let curl = scope.spawn(move || curl_through(pki, under, Some(identity), &flags));
        target.set_nonblocking(true).unwrap();
        let (mut stream, _) = wait::until("the ambassador to connect to the target", || {
            target.accept().ok()
        });
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
        let header = ProxyHeader::read_from(&mut stream);
        // Closing the target ends curl's request; only its port matters.
        drop(stream);
        let curl = curl.join().expect("curl ran");
        let port = curl
            .stdout
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("curl's local port: {curl:#?}"));
        (header, port)
    })
}

#[test]
fn proxy_protocol_tlvs_carry_the_sni_the_client_cn_and_the_alpn_only_when_negotiated() {
    let pki = TlsPki::generate();
    let target = TcpListener::bind("127.0.0.1:0").expect("bind the target");
    let ca = pki.file("ca.crt");
    let under = server_mode(
        &pki,
        &target.local_addr().unwrap().to_string(),
        &[
            "--cacert",
            &ca,
            "--allow-cn",
            "client",
            "--proxy-protocol",
            "--proxy-protocol-tlvs",
            "--alpn",
            "h2",
            "--alpn",
            "http/1.1",
        ],
    );
    let (header, curl_port) = proxy_header_for(&pki, &under, &target, &["--http2"]);
    assert_eq!(
        header.source,
        SocketAddr::from(([127, 0, 0, 1], curl_port)),
        "{header:?}"
    );
    assert_eq!(header.destination, under.addr(), "{header:?}");
    assert_eq!(header.tlv(PP2_TYPE_ALPN), Some(&b"h2"[..]), "{header:?}");
    assert_eq!(
        header.tlv(PP2_TYPE_AUTHORITY),
        Some(&b"localhost"[..]),
        "{header:?}"
    );
    let (client, verify, subs) = header.ssl();
    assert_eq!(
        client,
        PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS,
        "{header:?}"
    );
    assert_eq!(verify, 0, "the client certificate verified");
    assert_eq!(
        find_tlv(&subs, PP2_SUBTYPE_SSL_CN),
        Some(&b"client"[..]),
        "{subs:?}"
    );
    assert_eq!(
        find_tlv(&subs, PP2_SUBTYPE_SSL_VERSION),
        Some(&b"TLSv1.3"[..]),
        "{subs:?}"
    );
    // IANA's name, as haproxy's ssl_fc_cipher and OpenSSL's -ciphersuites spell TLS 1.3 suites.
    assert_eq!(
        find_tlv(&subs, PP2_SUBTYPE_SSL_CIPHER),
        Some(&b"TLS_AES_256_GCM_SHA384"[..]),
        "{subs:?}"
    );

    let (header, _) = proxy_header_for(&pki, &under, &target, &["--no-alpn"]);
    assert_eq!(
        header.tlv(PP2_TYPE_ALPN),
        None,
        "no ALPN was negotiated: {header:?}"
    );
    assert_eq!(
        header.tlv(PP2_TYPE_AUTHORITY),
        Some(&b"localhost"[..]),
        "{header:?}"
    );
}

/// Server mode admitting CN `cn`, sending a PROXY header with TLVs to a listener of the test's.
fn server_with_tlvs_admitting_cn(pki: &TlsPki, target: &TcpListener, cn: &str) -> Daemon {
    let ca = pki.file("ca.crt");
    server_mode(
        pki,
        &target.local_addr().unwrap().to_string(),
        &[
            "--cacert",
            &ca,
            "--allow-cn",
            cn,
            "--proxy-protocol",
            "--proxy-protocol-tlvs",
        ],
    )
}

#[test]
fn of_two_common_names_the_rules_and_the_proxy_header_both_use_the_last() {
    let pki = TlsPki::generate();
    // Subject CN=admin, CN=evil: Go's crypto/x509 (and so ghostunnel) reads `evil`.
    issue(
        &pki,
        "two-cns",
        "admin/CN=evil",
        30,
        "extendedKeyUsage = clientAuth",
    );
    let target = TcpListener::bind("127.0.0.1:0").expect("bind the target");

    let under = server_with_tlvs_admitting_cn(&pki, &target, "evil");
    let (header, _) = proxy_header_for_identity(&pki, &under, &target, "two-cns", &[]);
    let (_, _, subs) = header.ssl();
    assert_eq!(
        find_tlv(&subs, PP2_SUBTYPE_SSL_CN),
        Some(&b"evil"[..]),
        "the backend is told the CN the rule admitted: {subs:?}"
    );

    let under = server_with_tlvs_admitting_cn(&pki, &target, "admin");
    assert_not_answered(&curl_through(&pki, &under, Some("two-cns"), &[]));
    assert_refused_once(&under, "not_allowed");
}

#[test]
fn a_spiffe_id_with_dot_segments_matches_no_uri_rule() {
    let pki = TlsPki::generate();
    let mut backend = HttpServer::local();
    issue_client_with_uri(
        &pki,
        "climber",
        "spiffe://cluster.test/ns/default/sa/../../admin",
    );
    let under = mtls_server(
        &pki,
        &backend,
        &["--allow-uri", "spiffe://cluster.test/ns/default/**"],
    );
    assert_answered(&curl_through(&pki, &under, Some("client"), &[]));
    assert_not_answered(&curl_through(&pki, &under, Some("climber"), &[]));
    assert_refused_once(&under, "not_allowed");
    let refused = under.wait_for_log("reason=not_allowed");
    assert!(refused.contains("ns/default/sa/../../admin"), "{refused}");
    assert_eq!(backend.requests().len(), 1, "only client's request arrived");
}

/// `openssl s_client` as `identity` to server mode over `version` (`-tls1_2`, `-tls1_3`).
fn s_client_as(pki: &TlsPki, under: &Daemon, identity: &str, version: &str) -> Finished {
    let (cert, key) = pki.pair(identity);
    run_with_input(
        command("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{}", under.port()),
            ])
            .args(["-servername", "localhost", "-CAfile", &pki.file("ca.crt")])
            .args(["-cert", &cert, "-key", &key, version, "-ign_eof"]),
        b"GET /echo HTTP/1.0\r\nHost: localhost\r\n\r\n",
    )
}

#[test]
fn a_client_the_rules_refuse_gets_a_tls_alert_inside_the_handshake() {
    let pki = TlsPki::generate();
    let mut backend = HttpServer::local();
    let under = mtls_server(&pki, &backend, &["--allow-cn", "client"]);
    for version in ["-tls1_2", "-tls1_3"] {
        let refused = s_client_as(&pki, &under, "other", version);
        let said = format!("{}{}", refused.stdout, refused.stderr);
        assert!(
            said.contains("alert certificate unknown"),
            "{version}: an alert, not an end of stream: {refused:#?}"
        );
        assert!(!said.contains("/echo"), "{version}: {refused:#?}");
    }
    under.wait_for_metric(&refused_series("not_allowed"), 2.0);
    let line = under.wait_for_log("reason=not_allowed");
    assert!(
        line.contains(r#"CN [\"other\"]"#),
        "the names it carried: {line}"
    );
    let admitted = s_client_as(&pki, &under, "client", "-tls1_3");
    assert!(admitted.stdout.contains("/echo"), "{admitted:#?}");
    assert_eq!(backend.requests().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// testssl.sh.

/// testssl.sh's scan takes most of a minute on loopback; this only stops a hang.
const TESTSSL_GUARD: Duration = Duration::from_secs(600);

#[test]
fn testssl_finds_nothing_high_or_critical_in_server_mode() {
    let test = "testssl_finds_nothing_high_or_critical_in_server_mode";
    if !installed(test, "testssl", &["--version"], "testssl.sh") {
        return;
    }
    let pki = TlsPki::generate();
    // A certificate shaped as a production one, so that the findings are about the ambassador:
    // testssl rates a 10-year validity and a certificate without CRL or OCSP URI as HIGH.
    issue(
        &pki,
        "production",
        "localhost",
        90,
        "extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1\n\
         crlDistributionPoints = URI:http://crl.cluster.test/ca.crl",
    );
    let backend = HttpServer::local();
    let under = server_mode_presenting(
        &pki,
        "production",
        &backend.address,
        &["--disable-authentication"],
    );
    let report = pki.dir().join("testssl.json");
    let started = Instant::now();
    // Protocols, server preferences, server defaults (the certificate), standard cipher
    // categories, forward secrecy and every vulnerability check: all but the per-cipher lists.
    let scan = run_with_guard(
        command("testssl")
            .args(["--quiet", "--warnings", "off", "--color", "0"])
            .args(["--add-ca", &pki.file("ca.crt")])
            .arg("--jsonfile")
            .arg(&report)
            .args(["-p", "-P", "-S", "-s", "-f", "-U"])
            .arg(format!("127.0.0.1:{}", under.port())),
        TESTSSL_GUARD,
    );
    println!("testssl.sh ran for {:.0?}", started.elapsed());
    let json = std::fs::read_to_string(&report)
        .unwrap_or_else(|e| panic!("testssl.sh wrote no report ({e}): {scan:#?}"));
    let findings: Vec<serde_json::Value> = serde_json::from_str(&json).expect("a JSON array");
    let field = |finding: &serde_json::Value, name: &str| {
        finding[name].as_str().unwrap_or_default().to_owned()
    };
    let rated = |severities: &[&str]| -> Vec<String> {
        findings
            .iter()
            .filter(|f| severities.contains(&field(f, "severity").as_str()))
            .map(|f| {
                let (severity, id, finding) =
                    (field(f, "severity"), field(f, "id"), field(f, "finding"));
                format!("{severity} {id}: {finding}")
            })
            .collect()
    };
    for line in rated(&["MEDIUM", "LOW"]) {
        println!("testssl.sh: {line}");
    }
    assert_eq!(
        rated(&["FATAL"]),
        Vec::<String>::new(),
        "the scan completed"
    );
    let scanned = [
        "TLS1_3",
        "cipher_order",
        "cert_trust",
        "heartbleed",
        "ROBOT",
    ];
    for id in scanned {
        assert!(
            findings.iter().any(|f| field(f, "id") == id),
            "no {id} in the report: the scan left it out"
        );
    }
    assert_eq!(
        rated(&["HIGH", "CRITICAL"]),
        Vec::<String>::new(),
        "testssl.sh rates these HIGH or CRITICAL"
    );
}

// ---------------------------------------------------------------------------------------------
// Start-up errors.

/// Server mode flags with the PKI's `server` certificate and key in front of a port nobody
/// listens on (it is never reached), then `extra`.
fn server_flags(cert: &str, key: &str, extra: &[&str]) -> Vec<String> {
    let mut listen = vec!["--listen", "127.0.0.1:0"];
    listen.extend_from_slice(extra);
    server_args(cert, key, "127.0.0.1:9", &listen)
}

#[test]
fn a_missing_certificate_file_stops_it_at_start_naming_cert() {
    let pki = TlsPki::generate();
    let missing = pki.dir().join("missing.crt").display().to_string();
    let args = server_flags(
        &missing,
        &pki.file("server.key"),
        &["--disable-authentication"],
    );
    ambassador(&args).assert_refused(&["--cert", &missing]);
}

#[test]
fn a_key_that_does_not_match_the_certificate_stops_it_at_start_naming_key() {
    let pki = TlsPki::generate();
    let other_key = pki.file("other.key");
    let args = server_flags(
        &pki.file("server.crt"),
        &other_key,
        &["--disable-authentication"],
    );
    ambassador(&args).assert_refused(&["--key", &other_key]);
}

#[test]
fn in_client_mode_a_key_that_does_not_match_the_certificate_stops_it_at_start_naming_key() {
    let pki = TlsPki::generate();
    let (cert, other_key) = (pki.file("client.crt"), pki.file("other.key"));
    let args = [
        "client",
        "--listen",
        "127.0.0.1:0",
        "--target",
        "localhost:1",
        "--cacert",
        &pki.file("ca.crt"),
        "--cert",
        &cert,
        "--key",
        &other_key,
    ]
    .map(String::from);
    ambassador(&args).assert_refused(&["--key", &other_key]);
}

#[test]
fn a_garbage_pem_stops_it_at_start_naming_its_flag() {
    let pki = TlsPki::generate();
    let garbage = pki.dir().join("garbage.pem").display().to_string();
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n").unwrap();
    let (cert, key) = pki.pair("server");
    let no_auth = ["--disable-authentication"];
    ambassador(&server_flags(&garbage, &key, &no_auth)).assert_refused(&["--cert", &garbage]);
    ambassador(&server_flags(&cert, &garbage, &no_auth)).assert_refused(&["--key", &garbage]);
    let trusting_garbage = ["--cacert", &garbage, "--allow-all"];
    ambassador(&server_flags(&cert, &key, &trusting_garbage))
        .assert_refused(&["--cacert", &garbage]);
}

#[test]
fn server_mode_without_cacert_or_disable_authentication_stops_at_start() {
    let pki = TlsPki::generate();
    let args = server_flags(&pki.file("server.crt"), &pki.file("server.key"), &[]);
    ambassador(&args).assert_refused(&["--cacert", "--disable-authentication"]);
}

#[test]
fn allow_all_with_allow_cn_stops_it_at_start() {
    let pki = TlsPki::generate();
    let ca = pki.file("ca.crt");
    let extra = ["--cacert", &ca, "--allow-all", "--allow-cn", "client"];
    let args = server_flags(&pki.file("server.crt"), &pki.file("server.key"), &extra);
    ambassador(&args).assert_refused(&["--allow-all", "--allow-cn"]);
}

#[test]
fn cacert_with_disable_authentication_stops_it_at_start() {
    let pki = TlsPki::generate();
    let ca = pki.file("ca.crt");
    let extra = ["--cacert", &ca, "--disable-authentication"];
    let args = server_flags(&pki.file("server.crt"), &pki.file("server.key"), &extra);
    ambassador(&args).assert_refused(&["--disable-authentication", "--cacert"]);
}

#[test]
fn a_bad_listen_address_stops_it_at_start_naming_listen() {
    let pki = TlsPki::generate();
    let (cert, key) = pki.pair("server");
    for bad in ["nonsense", "127.0.0.1:99999", "[::1:8443", "127.0.0.1:"] {
        let mut args = server_flags(&cert, &key, &["--disable-authentication"]);
        let at = args.iter().position(|a| a == "--listen").unwrap() + 1;
        args[at] = bad.to_owned();
        ambassador(&args).assert_refused(&["--listen", bad]);
    }
}

#[test]
fn a_bad_target_is_blamed_on_target_without_quoting_a_password() {
    let pki = TlsPki::generate();
    let ca = pki.file("ca.crt");
    let url = client_args(
        "http://user:s3cret@example.test:80/",
        &ca,
        &["--listen", "127.0.0.1:0"],
    );
    let refused = ambassador(&url).assert_refused(&["--target", "***@example.test"]);
    assert!(!refused.stderr.contains("s3cret"), "{refused:?}");
    // Without --server-name, the name to verify comes from --target: that is the flag at fault.
    let spaced = client_args("host name:80", &ca, &["--listen", "127.0.0.1:0"]);
    ambassador(&spaced).assert_refused(&["--target", "\"host name\""]);
}

#[test]
fn a_connect_timeout_no_clock_can_hold_stops_it_at_start_not_at_the_first_connection() {
    let pki = TlsPki::generate();
    let ca = pki.file("ca.crt");
    let extra = [
        "--listen",
        "127.0.0.1:0",
        "--connect-timeout",
        "18446744073709551615s",
    ];
    ambassador(&client_args("127.0.0.1:1", &ca, &extra)).assert_refused(&["--connect-timeout"]);
}

#[test]
fn a_listen_port_already_in_use_stops_it_at_start_naming_listen() {
    let pki = TlsPki::generate();
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let address = taken.local_addr().unwrap().to_string();
    let mut args = server_flags(
        &pki.file("server.crt"),
        &pki.file("server.key"),
        &["--disable-authentication"],
    );
    let at = args.iter().position(|a| a == "--listen").unwrap() + 1;
    args[at] = address.clone();
    ambassador(&args).assert_refused(&["--listen", &address]);
}
