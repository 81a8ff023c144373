//! The server side: what to present, and whom to ask for a certificate.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::ring;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, RootCertStore,
    ServerConfig, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, UnixTime};

use super::certificate::Validity;
use super::identity::{AllowRules, Refusal};
use super::pem::{self, PemError};
use super::{Material, TlsInput};

/// What a server's TLS flags ask for: `--cert`/`--key`, and `--cacert` to require client
/// certificates signed by those CAs (mTLS). Without a client CA, no client certificate is asked
/// for: a tool that wants that only on an explicit flag (`--disable-authentication`) decides so
/// when it parses its flags.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    /// The clients admitted among those `client_ca` signed, checked inside the handshake (see
    /// [`AllowVerifier`]); `None` admits every one of them.
    pub allow: Option<AllowRules>,
}

/// Why a server configuration could not be built; `Display` names the file at fault.
#[derive(Debug)]
pub enum ServerTlsError {
    Pem(TlsInput, PemError),
    /// The key is not the one the certificate was issued for.
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
    },
    /// rustls refused the certificate or key (an unsupported key type, typically).
    Rustls(TlsInput, PathBuf, rustls::Error),
    /// The client CA bundle cannot verify anything (no usable CA in it).
    ClientCa(PathBuf, VerifierBuilderError),
}

impl ServerTlsError {
    /// Which file was at fault, so that a tool can name its own flag for it.
    pub fn input(&self) -> TlsInput {
        match self {
            ServerTlsError::Pem(input, _) | ServerTlsError::Rustls(input, _, _) => *input,
            ServerTlsError::KeyMismatch { .. } => TlsInput::Key,
            ServerTlsError::ClientCa(..) => TlsInput::Ca,
        }
    }
}

impl fmt::Display for ServerTlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerTlsError::Pem(_, e) => e.fmt(f),
            ServerTlsError::KeyMismatch { cert, key } => write!(
                f,
                "{}: not the private key of the certificate in {}",
                key.display(),
                cert.display()
            ),
            ServerTlsError::Rustls(_, path, e) => write!(f, "{}: {e}", path.display()),
            ServerTlsError::ClientCa(path, e) => {
                write!(f, "{}: cannot verify clients with it: {e}", path.display())
            }
        }
    }
}

impl std::error::Error for ServerTlsError {}

impl ServerTls {
    /// Reads the files and builds the rustls configuration (TLS 1.2 and 1.3, rustls's AEAD
    /// suites), accepting the `alpn` protocols in the server's order of preference.
    pub fn load(&self, alpn: &[Vec<u8>]) -> Result<Material<ServerConfig>, ServerTlsError> {
        let chain =
            pem::certificates(&self.cert).map_err(|e| ServerTlsError::Pem(TlsInput::Cert, e))?;
        let key = pem::private_key(&self.key).map_err(|e| ServerTlsError::Pem(TlsInput::Key, e))?;
        let validity = Validity::of(&chain[0]);

        let provider = Arc::new(ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ServerTlsError::Rustls(TlsInput::Cert, self.cert.clone(), e))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let roots = client_roots(path)?;
                let chain = WebPkiClientVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| ServerTlsError::ClientCa(path.to_path_buf(), e))?;
                match &self.allow {
                    None => builder.with_client_cert_verifier(chain),
                    Some(allow) => builder.with_client_cert_verifier(Arc::new(AllowVerifier {
                        chain,
                        allow: allow.clone(),
                    })),
                }
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => ServerTlsError::KeyMismatch {
                cert: self.cert.clone(),
                key: self.key.clone(),
            },
            other => ServerTlsError::Rustls(TlsInput::Key, self.key.clone(), other),
        })?;
        config.alpn_protocols = alpn.to_vec();
        // The server's order of suites (rustls's: AES-256-GCM first), not each client's: a
        // client that lists a weaker suite first does not get to choose it, which scanners such
        // as testssl.sh rate HIGH when missing.
        config.ignore_client_order = true;
        Ok(Material {
            config: Arc::new(config),
            validity,
        })
    }

    /// The files this configuration is built from, for a watcher.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.cert.clone(), self.key.clone()];
        files.extend(self.client_ca.iter().cloned());
        files
    }
}

fn client_roots(path: &Path) -> Result<Arc<RootCertStore>, ServerTlsError> {
    let certificates = pem::certificates(path).map_err(|e| ServerTlsError::Pem(TlsInput::Ca, e))?;
    let mut roots = RootCertStore::empty();
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|e| ServerTlsError::Rustls(TlsInput::Ca, path.to_owned(), e))?;
    }
    Ok(Arc::new(roots))
}

/// The chain check of `--cacert`, then the identity rules, both inside the handshake: a client
/// the rules refuse gets a fatal alert (`certificate_unknown`) in answer to its Certificate
/// message, as with a certificate the CA did not sign, rather than a handshake that completes
/// and a connection closed without a word. The [`Refusal`] rides in the rustls error
/// ([`Refusal::of`] finds it), so the log line still says which names the certificate carried.
#[derive(Debug)]
struct AllowVerifier {
    chain: Arc<dyn ClientCertVerifier>,
    allow: AllowRules,
}

impl ClientCertVerifier for AllowVerifier {
    fn offer_client_auth(&self) -> bool {
        self.chain.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.chain.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .chain
            .verify_client_cert(end_entity, intermediates, now)?;
        self.allow.check(Some(end_entity)).map_err(|refusal| {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                refusal,
            ))))
        })?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain
            .verify_tls12_signature(message, certificate, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain
            .verify_tls13_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

impl Refusal {
    /// The refusal an [`AllowVerifier`] put in a failed handshake's error, if that is why it
    /// failed.
    pub fn of(error: &rustls::Error) -> Option<&Refusal> {
        match error {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
                inner.downcast_ref::<Refusal>()
            }
            _ => None,
        }
    }
}
