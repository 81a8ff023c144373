//! podkit-probe against nginx from Debian, the HTTPS server most probes meet in practice:
//! certificates from a test CA, and mutual TLS as nginx does it (a missing or untrusted client
//! certificate is an HTTP 400 after the handshake, not a failed handshake).

use podkit_tests::servers::{probe, Nginx, Pki};

/// nginx with the `server` certificate, answering `/healthz` and 503 elsewhere; with
/// `require_client`, it demands a client certificate from the test CA.
fn nginx(test: &str, pki: &Pki, require_client: bool) -> Option<Nginx> {
    let client = match require_client {
        true => format!(
            "ssl_client_certificate {}; ssl_verify_client on;",
            pki.file("ca.crt")
        ),
        false => String::new(),
    };
    let directives = format!(
        "ssl_certificate {}; ssl_certificate_key {}; {client}
    location = /healthz {{ return 200 \"ok\\n\"; }}
    location / {{ return 503; }}",
        pki.file("server.crt"),
        pki.file("server.key"),
    );
    Nginx::start_https(test, &directives)
}

#[test]
fn nginx_over_https_with_the_test_ca_is_healthy_and_its_503_is_not() {
    let pki = Pki::generate();
    let Some(nginx) = nginx(
        "nginx_over_https_with_the_test_ca_is_healthy_and_its_503_is_not",
        &pki,
        false,
    ) else {
        return;
    };
    let healthz = format!("https://localhost:{}/healthz", nginx.port);
    probe(&[
        "http",
        &healthz,
        "--ca",
        &pki.file("ca.crt"),
        "--expect-body",
        "^ok",
    ])
    .assert_exit(0)
    .assert_says("status=200");
    let other = format!("https://localhost:{}/other", nginx.port);
    probe(&["http", &other, "--ca", &pki.file("ca.crt")])
        .assert_exit(1)
        .assert_says("status=503");
    // Verified by default: the system bundle does not know the test CA; --k8s does not verify.
    probe(&["http", &healthz]).assert_exit(3);
    probe(&["http", &healthz, "--k8s"]).assert_exit(0);
}

#[test]
fn nginx_demanding_a_client_certificate_answers_400_without_the_right_one() {
    let pki = Pki::generate();
    let test = "nginx_demanding_a_client_certificate_answers_400_without_the_right_one";
    let Some(nginx) = nginx(test, &pki, true) else {
        return;
    };
    let healthz = format!("https://localhost:{}/healthz", nginx.port);
    pki.probe_http(&healthz, None)
        .assert_exit(1)
        .assert_says("status=400");
    pki.probe_http(&healthz, Some("stranger"))
        .assert_exit(1)
        .assert_says("status=400");
    pki.probe_http(&healthz, Some("client"))
        .assert_exit(0)
        .assert_says("status=200");
}
