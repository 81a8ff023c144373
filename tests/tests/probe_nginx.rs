//! podkit-probe against nginx from Debian, the HTTPS server most probes meet in practice:
//! certificates from a test CA, and mutual TLS as nginx does it (a missing or untrusted client
//! certificate is an HTTP 400 after the handshake, not a failed handshake).

use std::process::Stdio;

use podkit_tests::run::{command, installed, Group};
use podkit_tests::servers::{probe, wait_listening, DeadPort, Pki, Scratch};

struct Nginx {
    _child: Group,
    port: u16,
    _dir: Scratch,
}

/// nginx in the foreground, one process, everything under a scratch directory; `None` (with the
/// reason reported) when nginx is not installed.
fn nginx(test: &str, pki: &Pki, require_client: bool) -> Option<Nginx> {
    if !installed(test, "nginx", &["-v"], "nginx-light") {
        return None;
    }
    let dir = Scratch::new("nginx");
    // nginx cannot listen on port 0 and tell which port it got, so the port goes into its
    // configuration; it stays held until nginx listens on it (nginx binds with SO_REUSEADDR).
    let reserved = DeadPort::for_a_server();
    let port = reserved.port;
    let prefix = dir.path.display().to_string();
    let client = if require_client {
        format!(
            "ssl_client_certificate {}; ssl_verify_client on;",
            pki.file("ca.crt")
        )
    } else {
        String::new()
    };
    let config = format!(
        "daemon off; master_process off; pid {prefix}/nginx.pid; error_log {prefix}/error.log;
events {{}}
http {{
  access_log off;
  client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy; fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert}; ssl_certificate_key {key}; {client}
    location = /healthz {{ return 200 \"ok\\n\"; }}
    location / {{ return 503; }}
  }}
}}
",
        cert = pki.file("server.crt"),
        key = pki.file("server.key"),
    );
    std::fs::write(dir.join("nginx.conf"), config).unwrap();
    let mut child = Group::spawn(
        command("nginx")
            .args(["-p", &prefix, "-c", &dir.file("nginx.conf")])
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    );
    wait_listening("nginx", &mut child, port, &dir.join("error.log"));
    drop(reserved);
    Some(Nginx {
        _child: child,
        port,
        _dir: dir,
    })
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
    let ca = pki.file("ca.crt");
    probe(&["http", &healthz, "--ca", &ca])
        .assert_exit(1)
        .assert_says("status=400");
    let (stranger, stranger_key) = (pki.file("stranger.crt"), pki.file("stranger.key"));
    probe(&[
        "http",
        &healthz,
        "--ca",
        &ca,
        "--cert",
        &stranger,
        "--key",
        &stranger_key,
    ])
    .assert_exit(1)
    .assert_says("status=400");
    let (client, client_key) = (pki.file("client.crt"), pki.file("client.key"));
    probe(&[
        "http",
        &healthz,
        "--ca",
        &ca,
        "--cert",
        &client,
        "--key",
        &client_key,
    ])
    .assert_exit(0)
    .assert_says("status=200");
}
