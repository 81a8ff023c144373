//! TLS configuration for the network tools, built once at the edge from flags: rustls only, TLS
//! 1.2 and 1.3, AEAD suites (rustls's defaults; nothing weaker can be configured).
//!
//! Only compiled with the `tls` feature: podkit-init never links it.

mod client;
mod identity;
mod pem;

pub use client::{ClientTls, ClientTlsError, TlsInput};
pub use identity::{AllowRules, IdentityRule, Refusal, RuleError, UriPattern, VerifyRules};
pub use pem::PemError;
pub use rustls;
pub use rustls_pki_types;
pub use tokio_rustls;
