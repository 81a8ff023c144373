//! TLS configuration for the network tools, built once at the edge from flags: rustls only, TLS
//! 1.2 and 1.3, AEAD suites (rustls's defaults; nothing weaker can be configured). Loaded
//! material sits behind a [`Reloadable`] handle, and with the `watch` feature [`reload`] keeps it
//! fresh from SIGHUP and file changes.
//!
//! Only compiled with the `tls` feature: podkit-init never links it.

mod certificate;
mod client;
mod identity;
mod material;
mod pem;
#[cfg(feature = "watch")]
pub mod reload;
mod server;
mod usage;

pub use certificate::{subject_common_name, Validity};
pub use client::{ClientTls, ClientTlsError, TlsInput};
pub use identity::{AllowRules, IdentityRule, Refusal, RuleError, UriPattern, VerifyRules};
pub use material::{Material, Reloadable};
pub use pem::PemError;
pub use rustls;
pub use rustls_pki_types;
pub use server::{ServerTls, ServerTlsError};
pub use tokio_rustls;
