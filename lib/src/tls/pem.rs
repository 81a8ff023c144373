//! Certificates and keys from PEM files, with errors that name the file and what was wrong.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A PEM file that could not be used: which file, and why.
#[derive(Debug)]
pub struct PemError {
    pub path: PathBuf,
    pub reason: String,
}

impl fmt::Display for PemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for PemError {}

fn fail(path: &Path, reason: impl Into<String>) -> PemError {
    PemError {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Every certificate in `path`; an empty file is an error, not an empty trust store.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let bytes = std::fs::read(path).map_err(|e| fail(path, e.to_string()))?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(path, format!("not valid PEM: {e}")))?;
    if certificates.is_empty() {
        return Err(fail(path, "no certificate in the file"));
    }
    Ok(certificates)
}

/// The private key in `path` (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, PemError> {
    let bytes = std::fs::read(path).map_err(|e| fail(path, e.to_string()))?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| fail(path, format!("no usable private key: {e}")))
}
