//! The server verifier for a CA file given (`--cacert`): webpki's, which builds a chain from the
//! server's certificate to one of the file's, and one case more that curl (OpenSSL) accepts and
//! webpki refuses (`CaUsedAsEndEntity`): the server presents, byte for byte, a certificate of the
//! file. That is the self-signed certificate `openssl req -x509` makes (CA:TRUE by default),
//! given to the client as its own trust anchor.
//!
//! There is no chain to build for it, since the user trusts this very certificate. It must still
//! carry the name asked for, be within its validity, and allow server authentication if it
//! restricts its use, as OpenSSL requires of a trusted leaf. Any other certificate goes to webpki
//! unchanged, and the handshake's signatures are always webpki's to check.
//!
//! The validity and the extended key usage are read with the few lines of DER below rather than
//! an X.509 library: webpki has parsed the certificate already (and keeps its fields to itself),
//! and a parser would cost podkit-probe 120 KB of its 3 MB budget.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::ClientTlsError;

#[derive(Debug)]
pub(super) struct TrustedLeafOrChain {
    webpki: Arc<WebPkiServerVerifier>,
    /// The certificates of the CA file, each trusted as itself.
    trusted: Vec<CertificateDer<'static>>,
}

impl TrustedLeafOrChain {
    pub(super) fn new(
        trusted: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
    ) -> Result<TrustedLeafOrChain, ClientTlsError> {
        let mut roots = RootCertStore::empty();
        for certificate in &trusted {
            roots
                .add(certificate.clone())
                .map_err(ClientTlsError::Rustls)?;
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| ClientTlsError::Rustls(rustls::Error::General(e.to_string())))?;
        Ok(TrustedLeafOrChain { webpki, trusted })
    }
}

impl ServerCertVerifier for TrustedLeafOrChain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .trusted
            .iter()
            .any(|t| t.as_ref() == end_entity.as_ref())
        {
            return verify_trusted_leaf(end_entity, server_name, now);
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Checks a server certificate that is itself a trust anchor: its name (webpki's check), its
/// validity at `now` and its extended key usage, if it has one.
fn verify_trusted_leaf(
    certificate: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, rustls::Error> {
    verify_server_name(&ParsedCertificate::try_from(certificate)?, server_name)?;
    let bad = rustls::Error::InvalidCertificate;
    let fields =
        der::leaf_fields(certificate.as_ref()).ok_or(bad(CertificateError::BadEncoding))?;
    if now.as_secs() < fields.not_before.as_secs() {
        let not_before = fields.not_before;
        return Err(bad(CertificateError::NotValidYetContext {
            time: now,
            not_before,
        }));
    }
    if now.as_secs() > fields.not_after.as_secs() {
        let not_after = fields.not_after;
        return Err(bad(CertificateError::ExpiredContext {
            time: now,
            not_after,
        }));
    }
    if !fields.serves_servers {
        return Err(bad(CertificateError::InvalidPurpose));
    }
    Ok(ServerCertVerified::assertion())
}

/// Just enough DER (X.690) to read a certificate's validity and extended key usage (RFC 5280,
/// section 4.1). Anything unexpected is `None`: the caller refuses the certificate.
mod der {
    use std::time::Duration;

    use rustls_pki_types::UnixTime;

    const SEQUENCE: u8 = 0x30;
    const OID: u8 = 0x06;
    const BOOLEAN: u8 = 0x01;
    const OCTET_STRING: u8 = 0x04;
    const UTC_TIME: u8 = 0x17;
    const GENERALIZED_TIME: u8 = 0x18;
    /// `[0] EXPLICIT`, the version; `[3] EXPLICIT`, the extensions.
    const VERSION: u8 = 0xa0;
    const EXTENSIONS: u8 = 0xa3;
    /// id-ce-extKeyUsage (2.5.29.37), anyExtendedKeyUsage (2.5.29.37.0), id-kp-serverAuth
    /// (1.3.6.1.5.5.7.3.1), as DER encodes their arcs.
    const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
    const ANY_USAGE: &[u8] = &[0x55, 0x1d, 0x25, 0x00];
    const SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];

    /// What the trusted-leaf check reads from a certificate.
    #[derive(Debug, PartialEq, Eq)]
    pub struct LeafFields {
        pub not_before: UnixTime,
        pub not_after: UnixTime,
        /// No extended key usage, or one that names serverAuth or any usage.
        pub serves_servers: bool,
    }

    pub fn leaf_fields(certificate: &[u8]) -> Option<LeafFields> {
        let (certificate, _) = element(certificate, SEQUENCE)?;
        let (mut tbs, _) = element(certificate, SEQUENCE)?;
        if tbs.first() == Some(&VERSION) {
            tbs = any(tbs)?.1;
        }
        // serialNumber, signature, issuer: skipped.
        for _ in 0..3 {
            tbs = any(tbs)?.1;
        }
        let (validity, mut rest) = element(tbs, SEQUENCE)?;
        let (not_before, validity) = time(validity)?;
        let (not_after, _) = time(validity)?;
        // subject, subjectPublicKeyInfo, then the optional unique IDs and extensions.
        let mut serves_servers = true;
        while let Some(&tag) = rest.first() {
            let (content, next) = any(rest)?;
            if tag == EXTENSIONS {
                serves_servers = allows_server_auth(content)?;
            }
            rest = next;
        }
        Some(LeafFields {
            not_before,
            not_after,
            serves_servers,
        })
    }

    /// Whether the extensions (`[3]`'s content) allow server authentication.
    fn allows_server_auth(extensions: &[u8]) -> Option<bool> {
        let (mut extensions, _) = element(extensions, SEQUENCE)?;
        while !extensions.is_empty() {
            let (extension, next) = element(extensions, SEQUENCE)?;
            extensions = next;
            let (id, mut value) = element(extension, OID)?;
            if id != EXT_KEY_USAGE {
                continue;
            }
            if value.first() == Some(&BOOLEAN) {
                value = any(value)?.1;
            }
            let (usages, _) = element(value, OCTET_STRING)?;
            let (mut usages, _) = element(usages, SEQUENCE)?;
            while !usages.is_empty() {
                let (usage, next) = element(usages, OID)?;
                if usage == SERVER_AUTH || usage == ANY_USAGE {
                    return Some(true);
                }
                usages = next;
            }
            return Some(false);
        }
        Some(true)
    }

    /// A `Time`: UTCTime `YYMMDDHHMMSSZ` (years 1950 to 2049) or GeneralizedTime
    /// `YYYYMMDDHHMMSSZ`, as RFC 5280 requires them written.
    fn time(input: &[u8]) -> Option<(UnixTime, &[u8])> {
        let tag = *input.first()?;
        let (text, rest) = element(input, tag)?;
        let digits = |range: std::ops::Range<usize>| -> Option<i64> {
            let field = text.get(range)?;
            field.iter().try_fold(0i64, |n, d| {
                d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
            })
        };
        let (year, at) = match (tag, text.len()) {
            (UTC_TIME, 13) => {
                let year = digits(0..2)?;
                (if year < 50 { 2000 + year } else { 1900 + year }, 2)
            }
            (GENERALIZED_TIME, 15) => (digits(0..4)?, 4),
            _ => return None,
        };
        if text.last() != Some(&b'Z') {
            return None;
        }
        let (month, day) = (digits(at..at + 2)?, digits(at + 2..at + 4)?);
        let (hour, minute, second) = (
            digits(at + 4..at + 6)?,
            digits(at + 6..at + 8)?,
            digits(at + 8..at + 10)?,
        );
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
            return None;
        }
        let seconds =
            days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
        // Before 1970 counts as 1970: only ever compared with now.
        let unix = UnixTime::since_unix_epoch(Duration::from_secs(seconds.max(0).unsigned_abs()));
        Some((unix, rest))
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
        let year = if month <= 2 { year - 1 } else { year };
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// The content of the element at the start of `input` if its tag is `tag`, and what follows.
    fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        (input.first() == Some(&tag)).then(|| any(input))?
    }

    /// The content of the element at the start of `input`, whatever its tag, and what follows:
    /// one tag byte (every tag here is below 31), then the length, short or long form.
    fn any(input: &[u8]) -> Option<(&[u8], &[u8])> {
        let (_tag, rest) = input.split_first()?;
        let (&length, mut rest) = rest.split_first()?;
        let length = if length < 0x80 {
            usize::from(length)
        } else {
            let count = usize::from(length & 0x7f);
            if count == 0 || count > 4 {
                return None;
            }
            let (bytes, after) = rest.split_at_checked(count)?;
            rest = after;
            bytes.iter().fold(0usize, |n, b| n << 8 | usize::from(*b))
        };
        rest.split_at_checked(length)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn times_read_as_rfc_5280_writes_them() {
            let at = |tag: u8, text: &[u8]| {
                let mut der = vec![tag, text.len() as u8];
                der.extend_from_slice(text);
                time(&der).map(|(t, _)| t.as_secs())
            };
            assert_eq!(at(UTC_TIME, b"700101000000Z"), Some(0));
            assert_eq!(at(UTC_TIME, b"491231235959Z"), Some(2_524_607_999));
            assert_eq!(at(UTC_TIME, b"500101000000Z"), Some(0));
            assert_eq!(
                at(GENERALIZED_TIME, b"20201231000000Z"),
                Some(1_609_372_800)
            );
            assert_eq!(
                at(GENERALIZED_TIME, b"20240229120000Z"),
                Some(1_709_208_000)
            );
            for bad in [
                &b"2020123100000Z"[..],
                b"20201231000000+",
                b"2020133100000aZ",
            ] {
                assert_eq!(at(GENERALIZED_TIME, bad), None, "{bad:?}");
            }
            assert_eq!(at(OCTET_STRING, b"700101000000Z"), None);
        }

        #[test]
        fn lengths_in_long_form_and_truncation() {
            assert_eq!(
                any(&[0x04, 0x02, 1, 2, 3]),
                Some((&[1u8, 2][..], &[3u8][..]))
            );
            let long = [&[0x04, 0x81, 0x03][..], &[7, 8, 9]].concat();
            assert_eq!(any(&long), Some((&[7u8, 8, 9][..], &[][..])));
            assert_eq!(any(&[0x04, 0x05, 1]), None);
            assert_eq!(any(&[0x04, 0x80]), None);
            assert_eq!(any(&[0x04]), None);
            assert_eq!(any(&[]), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        date_time_ymd, BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };

    /// A self-signed CA:TRUE certificate for localhost, valid in 2025 and 2026 unless changed.
    fn self_signed(adjust: impl FnOnce(&mut CertificateParams)) -> CertificateDer<'static> {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.not_before = date_time_ymd(2025, 1, 1);
        params.not_after = date_time_ymd(2027, 1, 1);
        adjust(&mut params);
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    fn verifier(trusted: &[&CertificateDer<'static>]) -> TrustedLeafOrChain {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        TrustedLeafOrChain::new(trusted.iter().map(|c| (*c).clone()).collect(), provider).unwrap()
    }

    /// 2026-01-01, within the default validity.
    fn in_2026() -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_767_225_600))
    }

    fn verify(
        verifier: &TrustedLeafOrChain,
        leaf: &CertificateDer<'_>,
        name: &'static str,
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = ServerName::try_from(name).unwrap();
        verifier.verify_server_cert(leaf, &[], &name, &[], now)
    }

    #[test]
    fn the_trusted_certificate_itself_passes_for_its_name_within_its_validity() {
        let leaf = self_signed(|_| {});
        let verifier = verifier(&[&leaf]);
        assert!(verify(&verifier, &leaf, "localhost", in_2026()).is_ok());
        let not_for = verify(&verifier, &leaf, "example.com", in_2026()).unwrap_err();
        assert!(matches!(
            not_for,
            rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })
        ));
        let early = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_700_000_000));
        assert!(matches!(
            verify(&verifier, &leaf, "localhost", early),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidYetContext { .. }
            ))
        ));
        let late = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_900_000_000));
        assert!(matches!(
            verify(&verifier, &leaf, "localhost", late),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ExpiredContext { .. }
            ))
        ));
    }

    #[test]
    fn a_usage_that_excludes_servers_is_refused_and_one_that_names_them_passes() {
        let client_only = self_signed(|p| {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        });
        let verifier_of = verifier(&[&client_only]);
        assert_eq!(
            verify(&verifier_of, &client_only, "localhost", in_2026()).unwrap_err(),
            rustls::Error::InvalidCertificate(CertificateError::InvalidPurpose)
        );
        let server = self_signed(|p| {
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ClientAuth,
                ExtendedKeyUsagePurpose::ServerAuth,
            ];
        });
        assert!(verify(&verifier(&[&server]), &server, "localhost", in_2026()).is_ok());
    }

    #[test]
    fn a_ca_certificate_that_is_not_the_one_trusted_is_still_refused_as_a_leaf() {
        // Same name, same kind, another key: webpki's answer, unchanged.
        let trusted = self_signed(|_| {});
        let other = self_signed(|_| {});
        assert!(verify(&verifier(&[&trusted]), &other, "localhost", in_2026()).is_err());
    }
}
