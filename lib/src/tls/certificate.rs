//! What a tool needs to know about its own certificate beyond rustls: when it stops being valid.

use std::time::{Duration, SystemTime};

use rustls_pki_types::CertificateDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

/// A certificate's validity period, for the not-after gauge and for readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Validity {
    /// Reads the period from a DER certificate; `None` when it cannot be parsed (rustls, which
    /// parses it again, gives the error the user sees).
    pub fn of(certificate: &CertificateDer<'_>) -> Option<Validity> {
        let (_, parsed) = X509Certificate::from_der(certificate.as_ref()).ok()?;
        let validity = parsed.validity();
        Some(Validity {
            not_before: to_system_time(validity.not_before.timestamp()),
            not_after: to_system_time(validity.not_after.timestamp()),
        })
    }

    /// Whether `now` lies within the period, bounds included.
    pub fn contains(&self, now: SystemTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// The not-after time in seconds since the epoch, as a Prometheus timestamp gauge wants it.
    pub fn not_after_unix(&self) -> f64 {
        unix_seconds(self.not_after)
    }
}

fn to_system_time(seconds: i64) -> SystemTime {
    let magnitude = Duration::from_secs(seconds.unsigned_abs());
    if seconds >= 0 {
        SystemTime::UNIX_EPOCH + magnitude
    } else {
        SystemTime::UNIX_EPOCH - magnitude
    }
}

fn unix_seconds(time: SystemTime) -> f64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => after.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// The subject's common name as every part of podkit reads it: the last CN of a subject with
/// several, as Go's `pkix.Name.CommonName` (and so ghostunnel) reads it. `--allow-cn` matches
/// this one, and the PROXY header's CN TLV and the logs carry this one: a backend must never be
/// told a name other than the one the rules admitted. `None` when there is none, the
/// certificate cannot be parsed, or the CN is in a string type that is not UTF-8 compatible
/// (BMPString, TeletexString: no rule typed on a command line can equal it).
pub fn subject_common_name(certificate: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = X509Certificate::from_der(certificate.as_ref()).ok()?;
    common_name(&parsed.tbs_certificate.subject).map(str::to_owned)
}

/// The last CN of `name`; see [`subject_common_name`].
pub(super) fn common_name<'a>(name: &X509Name<'a>) -> Option<&'a str> {
    name.iter_common_name().last()?.as_str().ok()
}
