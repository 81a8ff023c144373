//! What a tool needs to know about its own certificate beyond rustls: when it stops being valid.

use std::time::{Duration, SystemTime};

use rustls_pki_types::CertificateDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

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

/// The first common name of a certificate's subject, for logs and PROXY protocol TLVs; `None`
/// when it has none or the certificate cannot be parsed.
pub fn subject_common_name(certificate: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = X509Certificate::from_der(certificate.as_ref()).ok()?;
    let cn = parsed.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}
