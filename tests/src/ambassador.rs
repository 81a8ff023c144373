//! What podkit-ambassador's tests share: a PKI with every certificate the identity rules and
//! refusals need, the command lines of both modes, how to start it as a [`Daemon`] (which reads
//! its listening address from its log), and the series of `/metrics` the tests read.

use std::ffi::OsStr;
use std::path::PathBuf;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::daemon::{Daemon, Launch};
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

    /// The paths of `NAME.crt` and `NAME.key`: a certificate and its key, for `--cert` and
    /// `--key`.
    pub fn pair(&self, name: &str) -> (String, String) {
        self.dir.pem_pair(name)
    }

    /// The directory the files are in.
    pub fn dir(&self) -> PathBuf {
        self.dir.join("")
    }
}

/// `server --target TARGET --cert CERT --key KEY EXTRA...`: server mode's command line, without
/// `--listen` (see [`metered`]) unless `extra` has it.
pub fn server_args(cert: &str, key: &str, target: &str, extra: &[&str]) -> Vec<String> {
    let fixed = ["server", "--target", target, "--cert", cert, "--key", key];
    fixed.iter().chain(extra).map(|s| (*s).to_owned()).collect()
}

/// `client --target TARGET --cacert CACERT EXTRA...`: client mode's command line, without
/// `--listen` (see [`metered`]) unless `extra` has it.
pub fn client_args(target: &str, cacert: &str, extra: &[&str]) -> Vec<String> {
    let fixed = ["client", "--target", target, "--cacert", cacert];
    fixed.iter().chain(extra).map(|s| (*s).to_owned()).collect()
}

/// A CA certificate and key, `NAME.crt` and `NAME.key` in `dir`; the issuer of leaves. Also
/// the cluster CA of the podman tests' cert-manager stand-in.
pub(crate) fn make_ca(dir: &Scratch, name: &str) -> Issuer<'static, KeyPair> {
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

/// `podkit-ambassador ARGS`, to be started once it logs that it listens (give `--listen`; its
/// address is then [`Daemon::addr`]).
pub fn ambassador<S: AsRef<OsStr>>(args: &[S]) -> Launch {
    Daemon::tool("ambassador")
        .args(args)
        .ready_when("listening")
}

/// As [`ambassador`], listening on a free loopback port and serving its `/metrics`.
pub fn metered<S: AsRef<OsStr>>(args: &[S]) -> Launch {
    ambassador(args).args(["--listen", "127.0.0.1:0"]).metered()
}

/// The series of a running ambassador's `/metrics` that its tests read.
pub trait AmbassadorSeries {
    /// `podkit_ambassador_connections_accepted_total`.
    fn accepted(&self) -> f64;
    /// `podkit_ambassador_connections_refused_total{reason="REASON"}`.
    fn refused(&self, reason: &str) -> f64;
    /// `podkit_ambassador_reloads_total{result="RESULT"}`.
    fn reloads(&self, result: &str) -> f64;
    /// `podkit_ambassador_certificate_not_after_timestamp_seconds`.
    fn not_after(&self) -> f64;
}

impl AmbassadorSeries for Daemon {
    fn accepted(&self) -> f64 {
        self.metric(ACCEPTED)
    }

    fn refused(&self, reason: &str) -> f64 {
        self.metric(&refused_series(reason))
    }

    fn reloads(&self, result: &str) -> f64 {
        self.metric(&reloads_series(result))
    }

    fn not_after(&self) -> f64 {
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
