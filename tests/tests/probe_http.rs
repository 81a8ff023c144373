//! `podkit-probe http` against a real HTTP server (tests/fixtures/probe_http_server.py): the
//! kubelet's semantics for statuses, bodies, headers and redirects, TLS with certificates made by
//! openssl, IPv6 and unix sockets, and timeouts that hold whatever the server does.

use podkit_tests::run::{command, installed, run, Announced};
use podkit_tests::servers::{ipv6_loopback, probe, probe_with, DeadPort, HttpServer, Pki, Scratch};
use serde_json::Value;

/// A request as the server reported it.
fn parsed(request: &str) -> Value {
    serde_json::from_str(request).unwrap_or_else(|e| panic!("{e}: {request}"))
}

/// Every value the request carried for header `name` (any case), in order.
fn header_values(request: &Value, name: &str) -> Vec<String> {
    request["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .filter(|pair| pair[0].as_str().unwrap().eq_ignore_ascii_case(name))
        .map(|pair| pair[1].as_str().unwrap().to_owned())
        .collect()
}

/// The paths of `requests`, in order.
fn paths(requests: &[String]) -> Vec<String> {
    requests
        .iter()
        .map(|r| parsed(r)["path"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn statuses_from_200_to_399_are_healthy_and_all_others_unhealthy() {
    let server = HttpServer::local();
    for (status, code) in [
        (200, 0),
        (204, 0),
        (302, 0), // without a Location, a redirect is its own answer
        (399, 0),
        (400, 1),
        (404, 1),
        (500, 1),
        (503, 1),
    ] {
        let url = server.url(&format!("/status/{status}"));
        let run = probe(&["http", &url]);
        run.assert_exit(code);
        let word = if code == 0 { "healthy" } else { "unhealthy" };
        run.assert_says(&format!("{word} {url} status={status} "));
        if code == 1 {
            run.assert_says(&format!("error=\"status {status} is not expected\""));
        }
    }
}

#[test]
fn expect_status_replaces_the_healthy_range() {
    let server = HttpServer::local();
    for (status, expect, code) in [
        (204, "200", 1),
        (200, "200", 0),
        (302, "200-299", 1),
        (404, "200-299,404", 0),
        (503, "503", 0),
        (200, "500-599", 1),
    ] {
        let url = server.url(&format!("/status/{status}"));
        probe(&["http", &url, "--expect-status", expect])
            .assert_exit(code)
            .assert_says(&format!("status={status}"));
    }
}

#[test]
fn expect_body_must_match_the_body() {
    let server = HttpServer::local();
    let url = server.url("/status/200");
    probe(&["http", &url, "--expect-body", r"^status \d+\n$"]).assert_exit(0);
    probe(&["http", &url, "--expect-body", "^ok$"])
        .assert_exit(1)
        .assert_says(r#"status=200"#)
        .assert_says(r#"error="body does not match \"^ok$\"""#);
    // The status is judged first: a matching body does not make a 503 healthy.
    let url = server.url("/status/503");
    probe(&["http", &url, "--expect-body", "status"]).assert_exit(1);
}

#[test]
fn only_the_first_10_kib_of_the_body_is_matched() {
    let server = HttpServer::local();
    // 10236 bytes of padding and TAIL end exactly at 10 KiB; one byte more pushes the L past it.
    let within = server.url("/padded/10236/TAIL");
    probe(&["http", &within, "--expect-body", "TAIL"]).assert_exit(0);
    let beyond = server.url("/padded/10237/TAIL");
    probe(&["http", &beyond, "--expect-body", "TAIL"])
        .assert_exit(1)
        .assert_says("body does not match");
    probe(&["http", &beyond, "--expect-body", "TAI$"]).assert_exit(0);
}

#[test]
fn an_endless_body_is_judged_on_its_first_10_kib() {
    let server = HttpServer::local();
    let url = server.url("/endless?head=ALIVE");
    probe(&["http", &url, "--expect-body", "^ALIVE"]).assert_exit(0);
    let url = server.url("/endless");
    probe(&["http", &url, "--expect-body", "ALIVE"])
        .assert_exit(1)
        .assert_says("body does not match");
    // Read as the kubelet reads it, up to 10 KiB, with nothing to match: the status decides.
    probe(&["http", &url])
        .assert_exit(0)
        .assert_says("status=200");
}

#[test]
fn the_request_is_a_get_with_the_kubelets_headers() {
    let mut server = HttpServer::local();
    probe(&["http", &server.url("/status/200?full=1")]).assert_exit(0);
    let request = parsed(&server.next_request());
    assert_eq!(request["request_line"], "GET /status/200?full=1 HTTP/1.1");
    let host = format!("127.0.0.1:{}", server.port());
    assert_eq!(header_values(&request, "Host"), [host]);
    assert_eq!(header_values(&request, "User-Agent"), ["kube-probe/1.34"]);
    assert_eq!(header_values(&request, "Accept"), ["*/*"]);
    assert_eq!(header_values(&request, "Connection"), ["close"]);
}

#[test]
fn header_flags_replace_defaults_of_the_same_name_and_add_others() {
    let mut server = HttpServer::local();
    probe(&[
        "http",
        &server.url("/status/200"),
        "--header",
        "user-agent: my-probe/2",
        "--header",
        "Accept: application/json",
        "--header",
        "X-Probe:  liveness ",
        "--header",
        "Authorization: Bearer t0ken",
    ])
    .assert_exit(0);
    let request = parsed(&server.next_request());
    assert_eq!(header_values(&request, "User-Agent"), ["my-probe/2"]);
    assert_eq!(header_values(&request, "Accept"), ["application/json"]);
    assert_eq!(header_values(&request, "X-Probe"), ["liveness"]);
    assert_eq!(header_values(&request, "Authorization"), ["Bearer t0ken"]);
}

#[test]
fn header_variable_takes_one_header_a_line() {
    let mut server = HttpServer::local();
    probe_with(&["http", &server.url("/status/200")], |command| {
        command.env("PODKIT_HEADER", "X-One: 1\nX-Two: 2");
    })
    .assert_exit(0);
    let request = parsed(&server.next_request());
    assert_eq!(header_values(&request, "X-One"), ["1"]);
    assert_eq!(header_values(&request, "X-Two"), ["2"]);
}

#[test]
fn a_header_given_twice_is_sent_with_both_values() {
    let mut server = HttpServer::local();
    probe(&[
        "http",
        &server.url("/status/200"),
        "--header",
        "X-Tenant: a",
        "--header",
        "X-Tenant: b",
    ])
    .assert_exit(0);
    let request = parsed(&server.next_request());
    assert_eq!(header_values(&request, "X-Tenant"), ["a", "b"]);
}

#[test]
fn host_flag_sets_the_host_header() {
    let mut server = HttpServer::local();
    probe(&[
        "http",
        &server.url("/status/200"),
        "--host",
        "app.example.test",
    ])
    .assert_exit(0);
    let request = parsed(&server.next_request());
    assert_eq!(header_values(&request, "Host"), ["app.example.test"]);
}

#[test]
fn a_host_header_flag_is_the_one_host_header_sent() {
    // The kubelet sets a Host among a probe's httpHeaders as the request's Host: one header.
    let mut server = HttpServer::local();
    probe(&[
        "http",
        &server.url("/status/200"),
        "--header",
        "Host: foo.example",
    ])
    .assert_exit(0);
    let request = parsed(&server.next_request());
    assert_eq!(header_values(&request, "Host"), ["foo.example"]);
}

#[test]
fn method_flag_sets_the_request_method() {
    let mut server = HttpServer::local();
    for method in ["POST", "HEAD", "OPTIONS"] {
        probe(&["http", &server.url("/status/200"), "--method", method]).assert_exit(0);
        let request = parsed(&server.next_request());
        assert_eq!(request["method"], method);
    }
}

#[test]
fn same_host_redirects_are_followed_to_the_final_answer() {
    let mut server = HttpServer::local();
    probe(&["http", &server.url("/redirect/3")])
        .assert_exit(0)
        .assert_says("status=200");
    assert_eq!(
        paths(&server.requests()),
        ["/redirect/3", "/redirect/2", "/redirect/1", "/redirect/0"]
    );
    // The final answer is what is judged: a redirect to a 503 is unhealthy.
    let to_503 = server.url("/to?location=/status/503");
    probe(&["http", &to_503])
        .assert_exit(1)
        .assert_says("status=503");
}

#[test]
fn nine_redirects_are_followed_and_the_tenth_is_unhealthy_as_in_the_kubelet() {
    // The kubelet makes at most 10 requests: "stopped after 10 redirects" at the 10th.
    let mut server = HttpServer::local();
    probe(&["http", &server.url("/redirect/9")]).assert_exit(0);
    assert_eq!(server.requests().len(), 10, "nine redirects and the answer");
    probe(&["http", &server.url("/redirect/10")])
        .assert_exit(1)
        .assert_says("stopped after 10 redirects");
    let followed = paths(&server.requests());
    assert_eq!(followed.len(), 10, "{followed:?}");
    assert_eq!(followed.last().unwrap(), "/redirect/1");
}

#[test]
fn a_300_or_304_with_a_location_is_not_followed_but_judged_as_it_is() {
    // Go's client, the kubelet's, follows only 301, 302, 303, 307 and 308.
    let mut server = HttpServer::local();
    for status in [300, 304] {
        // Followed, the answer would be a 503.
        let url = server.url(&format!("/to?location=/status/503&status={status}"));
        probe(&["http", &url])
            .assert_exit(0)
            .assert_says(&format!("healthy {url} status={status} "));
        assert_eq!(
            paths(&server.requests()).len(),
            1,
            "{status} with a Location must not be followed"
        );
    }
}

#[test]
fn a_redirect_to_another_host_is_its_own_answer_with_a_warning() {
    let mut server = HttpServer::local();
    // The same server under another name: followed, the redirect would end in a 500.
    let elsewhere = format!("http://localhost:{}/status/500", server.port());
    let url = server.url(&format!("/to?location={elsewhere}"));
    probe(&["http", &url])
        .assert_exit(0)
        .assert_says("healthy ")
        .assert_says("status=302")
        .assert_says(r#"warning="redirect to another host (localhost) not followed""#);
    assert_eq!(paths(&server.requests()).len(), 1, "not followed");
    // The 302 is the answer, so a range without it makes the probe unhealthy.
    probe(&["http", &url, "--expect-status", "200"])
        .assert_exit(1)
        .assert_says("status=302");
}

#[test]
fn a_redirect_hosts_letters_are_compared_as_written_as_in_the_kubelet() {
    // Go compares the two URL.Hostname() strings: LOCALHOST is another host than localhost.
    let mut server = HttpServer::local();
    let port = server.port();
    let url = format!("http://localhost:{port}/to?location=http://LOCALHOST:{port}/status/500");
    probe(&["http", &url])
        .assert_exit(0)
        .assert_says("status=302")
        .assert_says(r#"warning="redirect to another host (LOCALHOST) not followed""#);
    assert_eq!(server.requests().len(), 1, "not followed");
    // Written the same way, and for a Location without a host, it is the same host.
    for location in [
        format!("http://LOCALHOST:{port}/status/500"),
        "/status/500".into(),
    ] {
        let url = format!("http://LOCALHOST:{port}/to?location={location}");
        probe(&["http", &url])
            .assert_exit(1)
            .assert_says("status=500");
        let followed = paths(&server.requests());
        assert_eq!(followed[1..], ["/status/500"], "{location}");
    }
}

#[test]
fn a_redirect_to_the_same_host_on_another_port_is_followed() {
    // The kubelet compares host names only.
    let mut first = HttpServer::local();
    let mut second = HttpServer::local();
    let there = second.url("/landing/here");
    probe(&["http", &first.url(&format!("/to?location={there}"))])
        .assert_exit(0)
        .assert_says("status=200");
    assert_eq!(first.requests().len(), 1);
    assert_eq!(paths(&second.requests()), ["/landing/here"]);
}

#[test]
fn relative_locations_resolve_against_the_current_path() {
    let mut server = HttpServer::local();
    for (location, resolved) in [
        ("landing/x", "/deep/dir/landing/x"),
        ("/landing/y", "/landing/y"),
        ("landing?full=1", "/deep/dir/landing?full=1"),
    ] {
        let url = server.url(&format!("/deep/dir/to?location={location}"));
        probe(&["http", &url])
            .assert_exit(0)
            .assert_says("status=200");
        let followed = paths(&server.requests());
        assert_eq!(followed[1..], [resolved], "Location: {location}");
    }
}

#[test]
fn dot_segments_and_query_only_locations_resolve_as_rfc_3986_says() {
    let mut server = HttpServer::local();
    // RFC 3986 section 5.2, as Go's URL.ResolveReference (the kubelet's client) applies it.
    for (location, resolved) in [
        ("../landing/x", "/deep/landing/x"),
        ("./landing", "/deep/dir/landing"),
        ("%3Flanding", "/deep/dir/to?landing"),
    ] {
        let url = server.url(&format!("/deep/dir/to?location={location}"));
        probe(&["http", &url]).assert_exit(0);
        let followed = paths(&server.requests());
        assert_eq!(followed[1..], [resolved], "Location: {location}");
    }
}

#[test]
fn a_scheme_relative_location_names_another_host() {
    let mut server = HttpServer::local();
    let url = server.url("/to?location=//elsewhere.test/landing");
    probe(&["http", &url])
        .assert_exit(0)
        .assert_says("status=302")
        .assert_says("redirect to another host (elsewhere.test) not followed");
    assert_eq!(server.requests().len(), 1, "not followed");
}

#[test]
fn https_verifies_the_server_against_the_ca_given() {
    let pki = Pki::generate();
    let mut server = pki.https_server(false);
    let url = format!("https://localhost:{}/status/200", server.port());
    probe(&["http", &url, "--ca", &pki.file("ca.crt")])
        .assert_exit(0)
        .assert_says("status=200");
    let request = parsed(&server.next_request());
    assert_eq!(request["sni"], "localhost");
    assert_eq!(
        header_values(&request, "Host"),
        [format!("localhost:{}", server.port())]
    );
}

#[test]
fn a_server_certificate_from_another_ca_is_unreachable() {
    let pki = Pki::generate();
    let server = pki.https_server(false);
    let url = format!("https://localhost:{}/status/200", server.port());
    probe(&["http", &url, "--ca", &pki.file("wrong-ca.crt")])
        .assert_exit(3)
        .assert_says("unreachable ")
        .assert_says("invalid peer certificate");
    // Nor does the system bundle know the test CA.
    probe(&["http", &url])
        .assert_exit(3)
        .assert_says("invalid peer certificate");
}

#[test]
fn insecure_and_k8s_accept_a_certificate_from_any_ca() {
    let pki = Pki::generate();
    let server = pki.https_server(false);
    let url = format!("https://localhost:{}/status/200", server.port());
    let wrong_ca = pki.file("wrong-ca.crt");
    for flag in ["--insecure", "--k8s"] {
        probe(&["http", &url, "--ca", &wrong_ca, flag])
            .assert_exit(0)
            .assert_says("status=200");
    }
    // Even at an address the certificate does not name, as the kubelet's probe does.
    let by_ip = format!("https://127.0.0.1:{}/status/200", server.port());
    probe(&["http", &by_ip, "--k8s"]).assert_exit(0);
}

#[test]
fn a_certificate_for_another_name_is_refused_unless_server_name_names_it() {
    let pki = Pki::generate();
    let mut server = pki.https_server(false);
    // The certificate names localhost and probe.test, not 127.0.0.1.
    let url = format!("https://127.0.0.1:{}/status/200", server.port());
    let ca = pki.file("ca.crt");
    probe(&["http", &url, "--ca", &ca])
        .assert_exit(3)
        .assert_says("not valid for name");
    probe(&["http", &url, "--ca", &ca, "--server-name", "probe.test"])
        .assert_exit(0)
        .assert_says("status=200");
    let request = parsed(&server.next_request());
    assert_eq!(request["sni"], "probe.test");
    // The Host header stays the URL's.
    let host = format!("127.0.0.1:{}", server.port());
    assert_eq!(header_values(&request, "Host"), [host]);
}

#[test]
fn the_tls_name_comes_from_the_url_not_the_host_header_as_in_the_kubelet() {
    // Go, the kubelet's client, names the TLS server after the URL (no SNI for an IP address);
    // a Host header changes what the request says, not whom the handshake expects.
    let pki = Pki::generate();
    let mut server = pki.https_server(false);
    let ca = pki.file("ca.crt");
    let by_ip = format!("https://127.0.0.1:{}/status/200", server.port());
    // The certificate has no IP address: verified by the URL's name, it fails.
    probe(&["http", &by_ip, "--ca", &ca, "--host", "probe.test"]).assert_exit(3);
    probe(&["http", &by_ip, "--k8s", "--host", "probe.test"]).assert_exit(0);
    let request = parsed(&server.next_request());
    assert!(request["sni"].is_null(), "no SNI for an IP URL: {request}");
    assert_eq!(header_values(&request, "Host"), ["probe.test"]);
    // --server-name names the TLS server; the Host header keeps its own value and port.
    probe(&[
        "http",
        &by_ip,
        "--ca",
        &ca,
        "--host",
        "probe.test:8443",
        "--server-name",
        "probe.test",
    ])
    .assert_exit(0);
    let request = parsed(&server.next_request());
    assert_eq!(request["sni"], "probe.test");
    assert_eq!(header_values(&request, "Host"), ["probe.test:8443"]);
    let by_name = format!("https://localhost:{}/status/200", server.port());
    probe(&["http", &by_name, "--ca", &ca, "--host", "app.example.test"]).assert_exit(0);
    let request = parsed(&server.next_request());
    assert_eq!(request["sni"], "localhost");
    assert_eq!(header_values(&request, "Host"), ["app.example.test"]);
}

#[test]
fn a_bad_tls_server_name_is_a_configuration_error_before_connecting() {
    // A dead port: had the probe tried to connect, it would have exited 3.
    let dead = DeadPort::reserve();
    let url = format!("https://{}/", dead.address);
    probe(&["http", &url, "--server-name", "bad name!"]).assert_refused("bad name!");
}

#[test]
fn an_ipv6_url_names_the_tls_server_by_its_address_whatever_the_host_header() {
    if !ipv6_loopback("an_ipv6_url_names_the_tls_server_by_its_address_whatever_the_host_header") {
        return;
    }
    let pki = Pki::generate();
    let (cert, key) = pki.pair("server");
    let mut server = HttpServer::start(&[
        "--listen",
        "[::1]:0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ]);
    let url = format!("https://[::1]:{}/status/200", server.port());
    let host = ["--host", "[::1]:8443"];
    // Verified against the name ::1, which the certificate (localhost, probe.test) does not
    // carry: the handshake's verdict, not a refused server name.
    let ca = pki.file("ca.crt");
    probe(&[&["http", &url, "--ca", &ca][..], &host].concat())
        .assert_exit(3)
        .assert_says("not valid for name");
    probe(&[&["http", &url, "--insecure"][..], &host].concat())
        .assert_exit(0)
        .assert_says("status=200");
    let request = parsed(&server.next_request());
    assert_eq!(header_values(&request, "Host"), ["[::1]:8443"]);
    // An IP address is never sent as SNI.
    assert_eq!(request["sni"], Value::Null);
}

#[test]
fn tls_with_an_http_url_is_refused_naming_the_flag() {
    let dead = DeadPort::reserve();
    let url = format!("http://{}/", dead.address);
    probe(&["http", &url, "--tls"])
        .assert_refused("--tls")
        .assert_refused("https://");
}

#[test]
fn insecure_and_k8s_from_the_environment_take_only_an_explicit_value() {
    let pki = Pki::generate();
    let server = pki.https_server(false);
    // The certificate comes from a CA the system bundle does not know.
    let url = format!("https://localhost:{}/status/200", server.port());
    for (variable, value, code) in [
        ("PODKIT_INSECURE", "1", 0),
        ("PODKIT_INSECURE", "true", 0),
        ("PODKIT_K8S", "TRUE", 0),
        ("PODKIT_K8S", "1", 0),
        ("PODKIT_INSECURE", "0", 3),
        ("PODKIT_K8S", "false", 3),
        // Empty (a Helm value left blank) or mistyped never switches verification off.
        ("PODKIT_INSECURE", "", 2),
        ("PODKIT_K8S", "", 2),
        ("PODKIT_INSECURE", "yes", 2),
        ("PODKIT_K8S", "garbage", 2),
    ] {
        let run = probe_with(&["http", &url], |command| {
            command.env(variable, value);
        });
        assert_eq!(run.code, code, "{variable}={value}: {run:#?}");
        if code == 2 {
            run.assert_refused(variable);
        }
    }
    // The same for every check that verifies TLS: gRPC with --tls, and wait's https targets.
    let dead = DeadPort::reserve();
    for args in [
        &["grpc", "--tls", dead.address.as_str()][..],
        &["wait", "--timeout", "1s", &url],
    ] {
        let run = probe_with(args, |command| {
            command.env("PODKIT_INSECURE", "");
        });
        run.assert_refused("PODKIT_INSECURE");
    }
}

#[test]
fn mtls_presents_the_client_certificate_the_server_requires() {
    let pki = Pki::generate();
    let mut server = pki.https_server(true);
    let url = format!("https://localhost:{}/status/200", server.port());
    pki.probe_http(&url, None)
        .assert_exit(3)
        .assert_says("unreachable ");
    pki.probe_http(&url, Some("stranger")).assert_exit(3);
    pki.probe_http(&url, Some("client"))
        .assert_exit(0)
        .assert_says("status=200");
    let request = parsed(&server.next_request());
    assert_eq!(request["client_cn"], "probe-client");
}

#[test]
fn an_ipv6_literal_reaches_a_server_on_ipv6_loopback() {
    if !ipv6_loopback("an_ipv6_literal_reaches_a_server_on_ipv6_loopback") {
        return;
    }
    let mut server = HttpServer::start(&["--listen", "[::1]:0"]);
    let url = format!("http://[::1]:{}/status/200", server.port());
    probe(&["http", &url])
        .assert_exit(0)
        .assert_says(&format!("healthy {url} status=200"));
    let request = parsed(&server.next_request());
    assert_eq!(
        header_values(&request, "Host"),
        [format!("[::1]:{}", server.port())]
    );
}

#[test]
fn unix_socket_carries_the_request_to_a_server_on_a_unix_socket() {
    let scratch = Scratch::new("probe-unix");
    let socket = scratch.file("http.sock");
    let mut server = HttpServer::start(&["--unix", &socket]);
    assert_eq!(server.address, format!("unix:{socket}"));
    probe(&[
        "http",
        "http://app.local/status/200?via=unix",
        "--unix-socket",
        &socket,
    ])
    .assert_exit(0)
    .assert_says("status=200");
    let request = parsed(&server.next_request());
    assert_eq!(request["path"], "/status/200?via=unix");
    assert_eq!(header_values(&request, "Host"), ["app.local"]);
    let missing = scratch.file("nobody.sock");
    probe(&["http", "http://app.local/", "--unix-socket", &missing])
        .assert_exit(3)
        .assert_says("unreachable ");
}

#[test]
fn a_port_above_65535_is_a_configuration_error_naming_the_url_not_port_80() {
    // The URL parser refuses the port; a port that did not fit in 16 bits used to be dropped
    // for the scheme's 80, and the probe asked another service.
    let named = r#"invalid URL "http://127.0.0.3:99999/": invalid port number"#;
    probe(&["http", "http://127.0.0.3:99999/"]).assert_refused(named);
    probe(&["wait", "--timeout", "1s", "http://127.0.0.3:99999/"]).assert_refused(named);
    // Nor 443 for https.
    let named = r#"invalid URL "https://127.0.0.3:70000/": invalid port number"#;
    probe(&["http", "https://127.0.0.3:70000/"]).assert_refused(named);
    probe(&["wait", "--timeout", "1s", "https://127.0.0.3:70000/"]).assert_refused(named);
}

#[test]
fn credentials_in_the_url_go_as_basic_authorization_and_never_show() {
    let mut server = HttpServer::local();
    let url = format!("http://probe:p%40ss@{}/redirect/1", server.address);
    let shown = format!("http://***@{}/redirect/1", server.address);
    let run = probe(&["http", &url]);
    run.assert_exit(0)
        .assert_says(&format!("healthy {shown} status=200"));
    assert!(!run.stdout.contains("p%40ss"), "{run:#?}");
    // Percent-decoded, and kept for a redirect to a path on the same host, as Go does.
    let basic = "Basic cHJvYmU6cEBzcw==";
    for request in server.requests() {
        assert_eq!(header_values(&parsed(&request), "Authorization"), [basic]);
    }
    // An Authorization header given as a flag wins over the URL's.
    probe(&["http", &url, "--header", "Authorization: Bearer t"]).assert_exit(0);
    let request = parsed(&server.next_request());
    assert_eq!(header_values(&request, "Authorization"), ["Bearer t"]);
    // An unreachable target's line, text or JSON, and a wait's, masks them too.
    let dead = DeadPort::reserve();
    let url = format!("http://probe:s3cret@{}/", dead.address);
    for args in [
        &["http", &url][..],
        &["--output", "json", "http", &url],
        &["wait", "--timeout", "1s", &url],
    ] {
        let run = probe(args);
        run.assert_exit(3).assert_says("***@");
        assert!(
            !run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"),
            "{run:#?}"
        );
    }
}

#[test]
fn a_closed_port_is_unreachable() {
    let port = DeadPort::reserve();
    probe(&["http", &format!("http://{}/", port.address)])
        .assert_exit(3)
        .assert_says("Connection refused");
}

// Each of these servers would keep a probe waiting forever; the probe's own timeout must end it
// with 3. The test bounds the wait only with the hang guard.

#[test]
fn a_server_that_accepts_and_never_answers_is_unreachable() {
    let server = HttpServer::local();
    probe(&["http", &server.url("/hang"), "--timeout", "1s"])
        .assert_exit(3)
        .assert_says("error=\"timed out after 1s\"");
}

#[test]
fn the_timeout_is_1s_unless_given() {
    let server = HttpServer::local();
    probe_with(&["http", &server.url("/hang")], |command| {
        command.env_remove("PODKIT_TIMEOUT");
    })
    .assert_exit(3)
    .assert_says("error=\"timed out after 1s\"");
}

#[test]
fn a_server_that_trickles_its_answer_a_byte_a_second_is_unreachable() {
    let server = HttpServer::local();
    probe(&["http", &server.url("/trickle"), "--timeout", "2s"])
        .assert_exit(3)
        .assert_says("timed out after 2s");
}

#[test]
fn a_body_that_trickles_forever_is_unreachable_with_or_without_expect_body() {
    // The status comes at once, but the kubelet reads the body (up to 10 KiB) under its timeout
    // whether or not anything is matched against it.
    let server = HttpServer::local();
    let url = server.url("/slow-body");
    probe(&["http", &url, "--expect-body", "never", "--timeout", "2s"])
        .assert_exit(3)
        .assert_says("timed out after 2s");
    probe(&["http", &url, "--timeout", "2s"])
        .assert_exit(3)
        .assert_says("timed out after 2s");
}

#[test]
fn a_tls_handshake_that_never_completes_is_unreachable() {
    // The kernel completes the TCP handshake for a listener that never accepts; nothing ever
    // answers the ClientHello.
    let server = HttpServer::start(&["--listen", "127.0.0.1:0", "--no-accept"]);
    let url = format!("https://localhost:{}/", server.port());
    probe(&["http", &url, "--insecure", "--timeout", "1s"])
        .assert_exit(3)
        .assert_says("timed out after 1s");
}

#[test]
fn a_custom_host_goes_with_every_relative_redirect_and_not_with_an_absolute_one() {
    // As in Go: the first request's Host returns on a relative Location after an absolute one.
    let mut server = HttpServer::local();
    let back = format!("http://127.0.0.1:{}/to?location=/status/200", server.port());
    let first = server.url(&format!("/to?location={back}"));
    probe(&["http", &first, "--host", "custom.example"])
        .assert_exit(0)
        .assert_says("status=200");
    let hosts: Vec<Vec<String>> = server
        .requests()
        .iter()
        .map(|r| header_values(&parsed(r), "Host"))
        .collect();
    let direct = format!("127.0.0.1:{}", server.port());
    assert_eq!(
        hosts,
        [
            vec!["custom.example".to_owned()],
            vec![direct],
            vec!["custom.example".to_owned()]
        ]
    );
}

#[test]
fn an_empty_accept_or_user_agent_header_means_none_is_sent() {
    let mut server = HttpServer::local();
    probe(&[
        "http",
        &server.url("/status/200"),
        "--header",
        "Accept:",
        "--header",
        "User-Agent:",
    ])
    .assert_exit(0);
    let request = parsed(&server.next_request());
    assert!(header_values(&request, "Accept").is_empty(), "{request}");
    assert!(
        header_values(&request, "User-Agent").is_empty(),
        "{request}"
    );
}

#[test]
fn a_body_that_breaks_off_after_a_200_is_an_error_exit_3_as_in_the_kubelet() {
    // The kubelet reads the body first, and a read that fails makes the probe an error (it
    // returns the error, not a failure): 3, as for an answer that never came, not 1.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut connection, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let _ = connection.read(&mut request);
        connection
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
            .unwrap();
    });
    probe(&["http", &url])
        .assert_exit(3)
        .assert_says("unreachable ")
        .assert_says("status=200")
        .assert_says("reading the body");
    server.join().unwrap();
}

#[test]
fn tls_flags_with_an_http_url_are_checked_before_any_request() {
    // They would serve a redirect to https; a bad one is a configuration error all the same.
    let server = HttpServer::local();
    let url = server.url("/status/200");
    probe(&["http", &url, "--ca", "/nonexistent/ca.crt"]).assert_refused("--ca");
    probe(&["http", &url, "--insecure", "--server-name", "bad name!"]).assert_refused("bad name!");
}

/// `openssl s_server -www` presenting `cert`, answering every request 200; its `127.0.0.1:PORT`.
fn openssl_server(cert: &str, key: &str) -> Announced {
    let mut command = command("openssl");
    command
        .args(["s_server", "-accept", "127.0.0.1:0", "-www"])
        .args(["-cert", cert, "-key", key])
        .stdin(std::process::Stdio::piped());
    Announced::start(&mut command, "ACCEPT ")
}

/// `openssl req -x509` with its defaults, for the name localhost, and `extensions` added: a
/// self-signed certificate with CA:TRUE, as a user makes one in a hurry.
fn self_signed(scratch: &Scratch, name: &str, extensions: &[&str]) -> (String, String) {
    let (cert, key) = scratch.pem_pair(name);
    let mut args = vec!["req", "-x509", "-newkey", "ec", "-pkeyopt"];
    args.extend(["ec_paramgen_curve:P-256", "-nodes", "-days", "2"]);
    args.extend(["-keyout", &key, "-out", &cert, "-subj", "/CN=localhost"]);
    args.extend(["-addext", "subjectAltName=DNS:localhost"]);
    for extension in extensions {
        args.extend(["-addext", extension]);
    }
    let made = run(command("openssl").args(&args));
    assert!(made.succeeded(), "openssl {args:?}: {made:#?}");
    let text = run(command("openssl").args(["x509", "-noout", "-text", "-in", &cert]));
    assert!(text.stdout.contains("CA:TRUE"), "{}", text.stdout);
    (cert, key)
}

#[test]
fn a_self_signed_ca_certificate_given_as_cacert_and_served_is_trusted_as_curl_trusts_it() {
    let test =
        "a_self_signed_ca_certificate_given_as_cacert_and_served_is_trusted_as_curl_trusts_it";
    if !installed(test, "openssl", &["version"], "openssl") {
        return;
    }
    let scratch = Scratch::new("probe-self-signed");
    let (cert, key) = self_signed(&scratch, "self", &[]);
    let server = openssl_server(&cert, &key);
    let port = server.address.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}/");
    probe(&["http", &url, "--cacert", &cert])
        .assert_exit(0)
        .assert_says("status=200");
    // It is trusted as the certificate it is, no more: for its name only...
    probe(&[
        "http",
        &format!("https://127.0.0.1:{port}/"),
        "--cacert",
        &cert,
    ])
    .assert_exit(3)
    .assert_says("not valid for name");
    // ...only when given, not by the system bundle nor another CA file...
    probe(&["http", &url]).assert_exit(3);
    let (other, _) = self_signed(&scratch, "other", &[]);
    probe(&["http", &url, "--cacert", &other]).assert_exit(3);
    // ...and not for a use it excludes.
    let (client_only, key) = self_signed(&scratch, "client-only", &["extendedKeyUsage=clientAuth"]);
    let server = openssl_server(&client_only, &key);
    let port = server.address.rsplit(':').next().unwrap();
    probe(&[
        "http",
        &format!("https://localhost:{port}/"),
        "--cacert",
        &client_only,
    ])
    .assert_exit(3)
    .assert_says("InvalidPurpose");
}

#[test]
fn a_self_signed_ca_certificate_given_as_cacert_and_served_is_refused_once_expired() {
    let test = "a_self_signed_ca_certificate_given_as_cacert_and_served_is_refused_once_expired";
    if !installed(test, "openssl", &["version"], "openssl") {
        return;
    }
    use rcgen::{date_time_ymd, BasicConstraints, CertificateParams, IsCa, KeyPair};
    let scratch = Scratch::new("probe-self-signed-expired");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2020, 12, 31);
    let key = KeyPair::generate().unwrap();
    let certificate = params.self_signed(&key).unwrap();
    let (cert, key_file) = scratch.pem_pair("expired");
    std::fs::write(&cert, certificate.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let server = openssl_server(&cert, &key_file);
    let port = server.address.rsplit(':').next().unwrap();
    probe(&[
        "http",
        &format!("https://localhost:{port}/"),
        "--cacert",
        &cert,
    ])
    .assert_exit(3)
    .assert_says("certificate expired");
}
