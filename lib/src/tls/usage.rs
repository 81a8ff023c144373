//! TLS errors as usage errors, blamed on the flag that named the file at fault: the flags are
//! the same in every tool (`--cacert`, `--cert`, `--key`), so the mapping is written once, here.

use crate::cli::UsageError;

use super::{ClientTlsError, ServerTlsError, TlsInput};

impl TlsInput {
    /// The flag every podkit tool takes this file from.
    pub fn flag(self) -> &'static str {
        match self {
            TlsInput::Ca => "--cacert",
            TlsInput::Cert => "--cert",
            TlsInput::Key => "--key",
        }
    }
}

impl ClientTlsError {
    /// The error as a usage error's line, naming the flag of the file at fault:
    /// `--cacert /etc/ca.pem: no certificate` (a PEM error starts with the file's path).
    pub fn blamed_line(&self) -> String {
        match self {
            ClientTlsError::Pem(input, pem) => format!("{} {pem}", input.flag()),
            ClientTlsError::KeyMismatch { .. } => format!("--key {self}"),
            ClientTlsError::NoSystemRoots(_) => format!("{self} with --cacert"),
            ClientTlsError::Rustls(_) => self.to_string(),
        }
    }
}

impl From<ClientTlsError> for UsageError {
    fn from(error: ClientTlsError) -> UsageError {
        UsageError::new(error.blamed_line())
    }
}

impl From<ServerTlsError> for UsageError {
    fn from(error: ServerTlsError) -> UsageError {
        UsageError::new(format!("{} {error}", error.input().flag()))
    }
}
