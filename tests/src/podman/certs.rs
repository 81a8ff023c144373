//! cert-manager's part around the played manifests: each `cert-manager.io/v1` Certificate
//! becomes the Secret it names, issued by one CA of the test's that stands for every
//! ClusterIssuer, with the keys a CA issuer writes: `tls.crt`, `tls.key` and `ca.crt`.

use rcgen::{
    date_time_ymd, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer,
    KeyPair, KeyUsagePurpose, SanType,
};
use serde_yaml::Value;

use crate::ambassador::make_ca;
use crate::servers::Scratch;

use super::volumes::Payload;

/// The CA of the test's cluster.
pub(crate) struct ClusterCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl ClusterCa {
    pub(crate) fn new() -> ClusterCa {
        let dir = Scratch::new("cluster-ca");
        let issuer = make_ca(&dir, "cluster-ca");
        let pem = std::fs::read_to_string(dir.join("cluster-ca.crt")).expect("read the CA");
        ClusterCa { issuer, pem }
    }

    /// The Secret's name and content for the Certificate `spec`, as cert-manager issues it:
    /// the subject alternative names (`dnsNames`, `uris`, `ipAddresses`) and `usages` it asks
    /// for, an ECDSA P-256 key (`privateKey`; the manifests ask for nothing else), valid from
    /// 2025 to 2035 (`duration` and renewal are cert-manager's business, not the pod's).
    pub(crate) fn issue(&self, spec: &Value) -> (String, Payload) {
        let secret = text(&spec["secretName"]).expect("a Certificate has a secretName");
        let algorithm = text(&spec["privateKey"]["algorithm"]).unwrap_or("ECDSA");
        assert_eq!(
            algorithm, "ECDSA",
            "{secret}: only ECDSA keys are issued here"
        );
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        let common_name = text(&spec["commonName"]).unwrap_or(secret);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        for dns in strings(&spec["dnsNames"]) {
            let name = dns.try_into().expect("a DNS name");
            params.subject_alt_names.push(SanType::DnsName(name));
        }
        for uri in strings(&spec["uris"]) {
            let uri = uri.try_into().expect("a URI");
            params.subject_alt_names.push(SanType::URI(uri));
        }
        for ip in strings(&spec["ipAddresses"]) {
            let ip = ip.parse().expect("an IP address");
            params.subject_alt_names.push(SanType::IpAddress(ip));
        }
        let usages = strings(&spec["usages"]);
        // cert-manager's default when a Certificate names none.
        let usages = match usages.is_empty() {
            true => vec!["digital signature", "key encipherment", "server auth"],
            false => usages,
        };
        for usage in usages {
            match usage {
                "digital signature" => params.key_usages.push(KeyUsagePurpose::DigitalSignature),
                "key encipherment" => params.key_usages.push(KeyUsagePurpose::KeyEncipherment),
                "server auth" => params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ServerAuth),
                "client auth" => params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ClientAuth),
                other => panic!("{secret}: usage {other:?} is not issued here"),
            }
        }
        params.not_before = date_time_ymd(2025, 1, 1);
        params.not_after = date_time_ymd(2035, 1, 1);
        let key = KeyPair::generate().expect("a leaf key");
        let certificate = params
            .signed_by(&key, &self.issuer)
            .expect("a leaf certificate");
        let payload = Payload::from([
            ("ca.crt".to_owned(), self.pem.clone().into_bytes()),
            ("tls.crt".to_owned(), certificate.pem().into_bytes()),
            ("tls.key".to_owned(), key.serialize_pem().into_bytes()),
        ]);
        (secret.to_owned(), payload)
    }
}

fn text(value: &Value) -> Option<&str> {
    value.as_str()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_sequence()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}
