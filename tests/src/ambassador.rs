//! What podkit-ambassador's tests share: a PKI with every certificate the identity rules and
//! refusals need, the command lines of both modes, a running ambassador whose listening address
//! is read from its log (with its `/metrics` address, or as PID 1 of a PID namespace), and the
//! series of `/metrics` the tests read.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::servers::{DeadPort, Scratch};

/// The SPIFFE trust domain of the test PKI.
pub const TRUST_DOMAIN: &str = "spiffe://cluster.test";

/// Certificates made at test time (rcgen, ECDSA P-256), written as `NAME.crt` and `NAME.key`:
///
/// | name | issuer | subject and names |
/// |---|---|---|
/// | `ca` | itself | the CA both sides trust |
/// | `other-ca` | itself | a CA nobody here trusts |
/// | `server` | ca | CN `server`, DNS `localhost`, `ambassador.test`, IP 127.0.0.1 and ::1 |
/// | `server-expired` | ca | as `server`, valid only in 2020 |
/// | `client` | ca | CN `client`, DNS `client.test`, URI `spiffe://cluster.test/ns/default/sa/client` |
/// | `other` | ca | CN `other`, DNS `other.test`, URI `spiffe://cluster.test/ns/tenants/sa/other` |
/// | `expired` | ca | as `client`, valid only in 2020 |
/// | `stranger` | other-ca | as `client` |
///
/// Leaves carry both serverAuth and clientAuth, so any of them can stand on either side.
pub struct TlsPki {
    dir: Scratch,
}

struct Leaf {
    name: &'static str,
    cn: &'static str,
    dns: &'static [&'static str],
    ips: &'static [&'static str],
    uri: Option<&'static str>,
    expired: bool,
}

impl TlsPki {
    pub fn generate() -> TlsPki {
        let dir = Scratch::new("ambassador-pki");
        let ca = make_ca(&dir, "ca");
        let other_ca = make_ca(&dir, "other-ca");
        let leaves = [
            (
                &ca,
                Leaf {
                    name: "server",
                    cn: "server",
                    dns: &["localhost", "ambassador.test"],
                    ips: &["127.0.0.1", "::1"],
                    uri: None,
                    expired: false,
                },
            ),
            (
                &ca,
                Leaf {
                    name: "server-expired",
                    cn: "server",
                    dns: &["localhost", "ambassador.test"],
                    ips: &["127.0.0.1", "::1"],
                    uri: None,
                    expired: true,
                },
            ),
            (
                &ca,
                Leaf {
                    name: "client",
                    cn: "client",
                    dns: &["client.test"],
                    ips: &[],
                    uri: Some("spiffe://cluster.test/ns/default/sa/client"),
                    expired: false,
                },
            ),
            (
                &ca,
                Leaf {
                    name: "other",
                    cn: "other",
                    dns: &["other.test"],
                    ips: &[],
                    uri: Some("spiffe://cluster.test/ns/tenants/sa/other"),
                    expired: false,
                },
            ),
            (
                &ca,
                Leaf {
                    name: "expired",
                    cn: "client",
                    dns: &["client.test"],
                    ips: &[],
                    uri: Some("spiffe://cluster.test/ns/default/sa/client"),
                    expired: true,
                },
            ),
            (
                &other_ca,
                Leaf {
                    name: "stranger",
                    cn: "client",
                    dns: &["client.test"],
                    ips: &[],
                    uri: Some("spiffe://cluster.test/ns/default/sa/client"),
                    expired: false,
                },
            ),
        ];
        for (issuer, leaf) in leaves {
            make_leaf(&dir, issuer, &leaf);
        }
        TlsPki { dir }
    }

    /// The path of `NAME.crt` or `NAME.key`, for a command line.
    pub fn file(&self, name: &str) -> String {
        self.dir.file(name)
    }

    /// The paths of `NAME.crt` and `NAME.key`: a certificate and its key, for `--cert` and
    /// `--key`.
    pub fn pair(&self, name: &str) -> (String, String) {
        (
            self.file(&format!("{name}.crt")),
            self.file(&format!("{name}.key")),
        )
    }

    /// The directory the files are in.
    pub fn dir(&self) -> PathBuf {
        self.dir.join("")
    }
}

/// `server --target TARGET --cert CERT --key KEY EXTRA...`: server mode's command line, without
/// `--listen` (see [`Metered`]) unless `extra` has it.
pub fn server_args(cert: &str, key: &str, target: &str, extra: &[&str]) -> Vec<String> {
    let fixed = ["server", "--target", target, "--cert", cert, "--key", key];
    fixed.iter().chain(extra).map(|s| (*s).to_owned()).collect()
}

/// `client --target TARGET --cacert CACERT EXTRA...`: client mode's command line, without
/// `--listen` (see [`Metered`]) unless `extra` has it.
pub fn client_args(target: &str, cacert: &str, extra: &[&str]) -> Vec<String> {
    let fixed = ["client", "--target", target, "--cacert", cacert];
    fixed.iter().chain(extra).map(|s| (*s).to_owned()).collect()
}

fn make_ca(dir: &Scratch, name: &str) -> Issuer<'static, KeyPair> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("podkit test {name}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("a CA key");
    let certificate = params.self_signed(&key).expect("a CA certificate");
    std::fs::write(dir.join(&format!("{name}.crt")), certificate.pem()).unwrap();
    std::fs::write(dir.join(&format!("{name}.key")), key.serialize_pem()).unwrap();
    Issuer::new(params, key)
}

fn make_leaf(dir: &Scratch, issuer: &Issuer<'static, KeyPair>, leaf: &Leaf) {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, leaf.cn);
    for dns in leaf.dns {
        params
            .subject_alt_names
            .push(SanType::DnsName((*dns).try_into().unwrap()));
    }
    for ip in leaf.ips {
        params
            .subject_alt_names
            .push(SanType::IpAddress(ip.parse().unwrap()));
    }
    if let Some(uri) = leaf.uri {
        params
            .subject_alt_names
            .push(SanType::URI(uri.try_into().unwrap()));
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    if leaf.expired {
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2020, 12, 31);
    } else {
        params.not_before = date_time_ymd(2025, 1, 1);
        params.not_after = date_time_ymd(2035, 1, 1);
    }
    let key = KeyPair::generate().expect("a leaf key");
    let certificate = params.signed_by(&key, issuer).expect("a leaf certificate");
    std::fs::write(dir.join(&format!("{}.crt", leaf.name)), certificate.pem()).unwrap();
    std::fs::write(dir.join(&format!("{}.key", leaf.name)), key.serialize_pem()).unwrap();
}

/// A running podkit-ambassador. Its stderr is collected in the background; [`Ambassador::start`]
/// returns once it logs that it is listening, with the address it bound (give `127.0.0.1:0`).
/// Dropping it kills the process.
pub struct Ambassador {
    child: Child,
    /// The address it listens on, when it listens on TCP.
    pub addr: Option<SocketAddr>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Ambassador {
    /// `podkit-ambassador ARGS...`, waiting (up to the harness's hang guard) for its
    /// "listening" line. Panics with its log if it exits first.
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Ambassador {
        Ambassador::start_with(args, |_| {})
    }

    /// As [`start`](Ambassador::start), adjusting the command first (environment, a PID
    /// namespace wrapper such as `unshare`...).
    pub fn start_with<S: AsRef<std::ffi::OsStr>>(
        args: &[S],
        adjust: impl FnOnce(&mut Command),
    ) -> Ambassador {
        let mut command = Command::new(crate::bins::path("ambassador"));
        command.args(args);
        Ambassador::spawn(command, adjust)
    }

    /// Runs an arbitrary command that ends up running the ambassador (e.g. `unshare ... --
    /// podkit-ambassador ...`), and waits for its "listening" line.
    pub fn spawn(mut command: Command, adjust: impl FnOnce(&mut Command)) -> Ambassador {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        adjust(&mut command);
        let mut child = command.spawn().expect("podkit-ambassador starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let (listening, ready) = std::sync::mpsc::channel();
        collect(stderr, log.clone(), listening);
        let line = ready.recv_timeout(crate::wait::HANG_GUARD);
        let Ok(Some(line)) = line else {
            let status = child.try_wait().ok().flatten();
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "podkit-ambassador did not start listening (status {status:?}); its log:\n{}",
                log.lock().unwrap().join("\n")
            );
        };
        let addr = line
            .split_whitespace()
            .find_map(|field| field.strip_prefix("listen="))
            .and_then(|addr| addr.parse().ok());
        Ambassador { child, addr, log }
    }

    /// The listening TCP address; panics for a Unix socket listener.
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("a TCP listener")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `podkit-ambassador ARGS...` as PID 1 of a new PID namespace (with its own mount
    /// namespace), for a test that signals it: see [`pid1`](Ambassador::pid1).
    pub fn start_as_pid1<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Ambassador {
        let mut argv = vec![crate::bins::path("ambassador").into_os_string()];
        argv.extend(args.iter().map(|arg| arg.as_ref().to_owned()));
        Ambassador::spawn(crate::pidns::command(&argv), |_| {})
    }

    /// The host pid of the ambassador that [`start_as_pid1`](Ambassador::start_as_pid1) started,
    /// PID 1 of its namespace (never the `unshare` wrapper).
    pub fn pid1(&self) -> i32 {
        crate::pidns::pid1_of(self.pid() as i32)
    }

    /// Sends `signal` to the ambassador that [`start_as_pid1`](Ambassador::start_as_pid1)
    /// started.
    pub fn signal_pid1(&self, signal: i32) {
        let pid1 = self.pid1();
        // SAFETY: kill with the host pid of PID 1 of a namespace this test created.
        let sent = unsafe { libc::kill(pid1, signal) };
        assert_eq!(sent, 0, "signal {signal} to the namespace's PID 1 {pid1}");
    }

    /// Every log line so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a log line contains `text`, and returns it (panics after the hang guard).
    pub fn wait_for_log(&self, text: &str) -> String {
        crate::wait::until(&format!("a log line containing {text:?}"), || {
            self.log().into_iter().find(|line| line.contains(text))
        })
    }

    /// Sends `signal` (libc number) to the process (or, under `unshare --fork`, to the
    /// wrapper's child: pass the right pid yourself with [`pid`](Ambassador::pid)).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on a pid this test spawned and has not reaped.
        let result = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(result, 0, "kill({}, {signal})", self.child.id());
    }

    /// Waits for the process to exit (up to the hang guard) and returns its exit code and log.
    pub fn wait(mut self) -> (Option<i32>, Vec<String>) {
        let status = crate::wait::until("podkit-ambassador to exit", || {
            self.child.try_wait().expect("try_wait")
        });
        // The stderr reader may still be reading the last lines.
        std::thread::sleep(std::time::Duration::from_millis(50));
        (status.code(), self.log())
    }
}

impl Drop for Ambassador {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(
    stderr: ChildStderr,
    log: Arc<Mutex<Vec<String>>>,
    listening: std::sync::mpsc::Sender<Option<String>>,
) {
    std::thread::spawn(move || {
        let mut announced = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !announced && line.contains("listening") {
                announced = true;
                let _ = listening.send(Some(line.clone()));
            }
            log.lock().unwrap().push(line);
        }
        let _ = listening.send(None);
    });
}

/// A one-shot run of podkit-ambassador that is expected to fail at start: its exit code and
/// stderr.
pub fn run_to_exit<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (Option<i32>, String) {
    let output = Command::new(crate::bins::path("ambassador"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("podkit-ambassador runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A running podkit-ambassador listening on a free loopback port, and the address of its
/// `/metrics`: the two flags every test that reads the metrics adds.
pub struct Metered {
    pub ambassador: Ambassador,
    /// `127.0.0.1:PORT` of `/metrics`, `/readyz` and `/healthz`.
    pub metrics: String,
}

impl Metered {
    /// `podkit-ambassador ARGS --listen 127.0.0.1:0 --metrics-addr ...`, started.
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Metered {
        Metered::launch(args, Ambassador::start)
    }

    /// As [`start`](Metered::start), adjusting the command first (its environment).
    pub fn start_with<S: AsRef<std::ffi::OsStr>>(
        args: &[S],
        adjust: impl FnOnce(&mut Command),
    ) -> Metered {
        Metered::launch(args, |args| Ambassador::start_with(args, adjust))
    }

    /// As [`start`](Metered::start), as PID 1 of a new PID namespace: see
    /// [`Ambassador::start_as_pid1`].
    pub fn start_as_pid1<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Metered {
        Metered::launch(args, Ambassador::start_as_pid1)
    }

    /// The metrics port is held until the ambassador listens, so that no other test takes it.
    fn launch<S: AsRef<std::ffi::OsStr>>(
        args: &[S],
        start: impl FnOnce(&[std::ffi::OsString]) -> Ambassador,
    ) -> Metered {
        let metrics = DeadPort::for_a_server();
        let mut args: Vec<std::ffi::OsString> =
            args.iter().map(|arg| arg.as_ref().to_owned()).collect();
        args.extend(
            [
                "--listen",
                "127.0.0.1:0",
                "--metrics-addr",
                &metrics.address,
            ]
            .map(std::ffi::OsString::from),
        );
        Metered {
            ambassador: start(&args),
            metrics: metrics.address.clone(),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.ambassador.addr()
    }

    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// Its log so far, one string.
    pub fn log(&self) -> String {
        self.ambassador.log().join("\n")
    }

    /// The value of one series of its `/metrics`: see [`metric`].
    pub fn metric(&self, series: &str) -> f64 {
        metric(&self.metrics, series)
    }

    /// `podkit_ambassador_connections_accepted_total`.
    pub fn accepted(&self) -> f64 {
        self.metric(ACCEPTED)
    }

    /// `podkit_ambassador_connections_refused_total{reason="REASON"}`.
    pub fn refused(&self, reason: &str) -> f64 {
        self.metric(&refused_series(reason))
    }

    /// `podkit_ambassador_reloads_total{result="RESULT"}`.
    pub fn reloads(&self, result: &str) -> f64 {
        self.metric(&reloads_series(result))
    }

    /// `podkit_ambassador_certificate_not_after_timestamp_seconds`.
    pub fn not_after(&self) -> f64 {
        self.metric(NOT_AFTER)
    }
}

/// Connections proxied so far.
pub const ACCEPTED: &str = "podkit_ambassador_connections_accepted_total";

/// Connections open now.
pub const OPEN_CONNECTIONS: &str = "podkit_ambassador_open_connections";

/// When the certificate in use expires, as a Unix timestamp.
pub const NOT_AFTER: &str = "podkit_ambassador_certificate_not_after_timestamp_seconds";

/// The series of connections refused for `reason` (`not_allowed`, `handshake_timeout`...).
pub fn refused_series(reason: &str) -> String {
    format!("podkit_ambassador_connections_refused_total{{reason=\"{reason}\"}}")
}

/// The series of reloads that ended with `result` (`success` or `failure`).
pub fn reloads_series(result: &str) -> String {
    format!("podkit_ambassador_reloads_total{{result=\"{result}\"}}")
}

/// The value of the one series `series` (its name with its labels, if any) on the `/metrics` of
/// `addr`, which must answer 200.
pub fn metric(addr: &str, series: &str) -> f64 {
    let (status, body) = crate::tools::http_get(addr, "/metrics");
    assert_eq!(status, 200, "/metrics: {body}");
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in /metrics:\n{body}"))
}

/// Waits until the series `series` on the `/metrics` of `addr` has the value `value`.
pub fn wait_for_metric(addr: &str, series: &str, value: f64) {
    crate::wait::until(&format!("{series} to be {value} on {addr}"), || {
        (metric(addr, series) == value).then_some(())
    });
}
