//! What podkit-ambassador's tests share: a PKI with every certificate the identity rules and
//! refusals need, and a running ambassador whose listening address is read from its log.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::servers::Scratch;

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

    /// The directory the files are in.
    pub fn dir(&self) -> PathBuf {
        self.dir.join("")
    }
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
