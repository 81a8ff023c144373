//! The client side: whom to trust, what to present, and whether to verify at all.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::certificate::Validity;
use super::material::Material;
use super::pem::{self, PemError};
use trusted_leaf::TrustedLeafOrChain;

mod trusted_leaf;

/// What a client's TLS flags ask for: `--ca`, `--cert`/`--key`, `--insecure`.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// Trust only these CAs; `None` trusts the system bundle (`SSL_CERT_FILE`, /etc/ssl/certs).
    pub ca: Option<PathBuf>,
    /// Present this certificate and key (mTLS).
    pub identity: Option<(PathBuf, PathBuf)>,
    /// Accept any server certificate, as the kubelet's own HTTPS probes do.
    pub insecure: bool,
}

/// Which of a client's TLS files was at fault, so that a tool can name its own flag for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsInput {
    Ca,
    Cert,
    Key,
}

/// Why a client configuration could not be built.
#[derive(Debug)]
pub enum ClientTlsError {
    Pem(TlsInput, PemError),
    NoSystemRoots(String),
    /// `--key` is not the private key of `--cert`.
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
    },
    Rustls(rustls::Error),
}

impl fmt::Display for ClientTlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientTlsError::Pem(_, e) => e.fmt(f),
            ClientTlsError::NoSystemRoots(why) => {
                write!(f, "no system CA certificates ({why}); give a CA file")
            }
            ClientTlsError::KeyMismatch { cert, key } => write!(
                f,
                "{}: not the private key of the certificate in {}",
                key.display(),
                cert.display()
            ),
            ClientTlsError::Rustls(e) => write!(f, "TLS configuration: {e}"),
        }
    }
}

impl std::error::Error for ClientTlsError {}

impl ClientTls {
    /// Builds the rustls configuration, reading the files (and only then the system bundle).
    /// `alpn` lists the protocols to offer, most preferred first.
    pub fn config(&self, alpn: &[&[u8]]) -> Result<ClientConfig, ClientTlsError> {
        self.build(alpn).map(|(config, _)| config)
    }

    /// [`config`](ClientTls::config) as reloadable [`Material`], with the validity of the
    /// certificate presented (mTLS), if any: the one read for the configuration, so that the
    /// two cannot disagree when the file is rotated in between.
    pub fn load(&self, alpn: &[Vec<u8>]) -> Result<Material<ClientConfig>, ClientTlsError> {
        let alpn: Vec<&[u8]> = alpn.iter().map(Vec::as_slice).collect();
        let (config, leaf) = self.build(&alpn)?;
        Ok(Material {
            config: Arc::new(config),
            validity: leaf.as_ref().and_then(Validity::of),
        })
    }

    /// The configuration, and the leaf certificate it presents (mTLS), if any.
    fn build(
        &self,
        alpn: &[&[u8]],
    ) -> Result<(ClientConfig, Option<CertificateDer<'static>>), ClientTlsError> {
        let provider = Arc::new(ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(ClientTlsError::Rustls)?;
        let builder = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)))
        } else {
            match &self.ca {
                Some(path) => {
                    let trusted = pem::certificates(path)
                        .map_err(|e| ClientTlsError::Pem(TlsInput::Ca, e))?;
                    let verifier = TrustedLeafOrChain::new(trusted, provider.clone())?;
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(verifier))
                }
                None => builder.with_root_certificates(system_roots()?),
            }
        };
        let (mut config, leaf) = match &self.identity {
            None => (builder.with_no_client_auth(), None),
            Some((cert, key_path)) => {
                let chain =
                    pem::certificates(cert).map_err(|e| ClientTlsError::Pem(TlsInput::Cert, e))?;
                let key = pem::private_key(key_path)
                    .map_err(|e| ClientTlsError::Pem(TlsInput::Key, e))?;
                // `certificates` never returns an empty chain.
                let leaf = chain.first().cloned();
                let config = builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| match e {
                        rustls::Error::InconsistentKeys(_) => ClientTlsError::KeyMismatch {
                            cert: cert.clone(),
                            key: key_path.clone(),
                        },
                        other => ClientTlsError::Rustls(other),
                    })?;
                (config, leaf)
            }
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok((config, leaf))
    }

    /// The files this configuration is built from, for a watcher.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.ca.iter().cloned().collect();
        if let Some((cert, key)) = &self.identity {
            files.extend([cert.clone(), key.clone()]);
        }
        files
    }
}

/// The system's CA certificates: the bundle file, else whatever rustls-native-certs finds.
fn system_roots() -> Result<RootCertStore, ClientTlsError> {
    let mut roots = RootCertStore::empty();
    match system_bundle() {
        // One file, one parse: rustls-native-certs also reads every file in /etc/ssl/certs,
        // parsing the same certificates again (12 ms against 4 for a probe that runs every few
        // seconds).
        Some(bundle) => {
            let certificates = pem::certificates(&bundle)
                .map_err(|e| ClientTlsError::NoSystemRoots(e.to_string()))?;
            roots.add_parsable_certificates(certificates);
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                let why = found
                    .errors
                    .first()
                    .map_or("none found".to_owned(), |e| e.to_string());
                return Err(ClientTlsError::NoSystemRoots(why));
            }
            roots.add_parsable_certificates(found.certs);
        }
    }
    Ok(roots)
}

/// The system's CA bundle file: `SSL_CERT_FILE`, else the first of the usual places that exists
/// (Debian and Alpine, then Fedora and RHEL).
fn system_bundle() -> Option<PathBuf> {
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        return Some(PathBuf::from(file));
    }
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|path| path.is_file())
}

/// The kubelet's `InsecureSkipVerify`: any certificate, any name. Signatures are still checked,
/// so the handshake itself stays sound.
#[derive(Debug)]
struct AcceptAnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
