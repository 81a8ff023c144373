//! The typed configuration: what the flags meant, checked once; the data path reads only this.

use std::net::SocketAddr;
use std::time::Duration;

use podkit::addr::Address;
use podkit::tls::rustls_pki_types::ServerName;
use podkit::tls::{ClientTls, ServerTls, VerifyRules};

#[derive(Debug)]
pub struct Config {
    pub mode: Mode,
    pub listen: Address,
    /// The permissions of a Unix listening socket, when given.
    pub listen_mode: Option<u32>,
    pub target: Address,
    /// ALPN protocols offered (client) or accepted (server), most preferred first.
    pub alpn: Vec<Vec<u8>>,
    pub proxy_protocol: ProxyProtocol,
    pub limits: Limits,
    /// How often the TLS files are read again without an event; a refused reload is retried
    /// at this pace.
    pub resync: Duration,
    pub metrics_addr: Option<SocketAddr>,
}

#[derive(Debug)]
pub enum Mode {
    /// Plain in, TLS out.
    Client(ClientMode),
    /// TLS in, plain out.
    Server(ServerMode),
}

impl Mode {
    /// The mode's name, for logs and the `mode` label.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Client(_) => "client",
            Mode::Server(_) => "server",
        }
    }
}

#[derive(Debug)]
pub struct ClientMode {
    pub tls: ClientTls,
    pub server_name: ServerName<'static>,
    pub verify: VerifyRules,
}

#[derive(Debug)]
pub struct ServerMode {
    /// With the clients admitted, checked inside the handshake.
    pub tls: ServerTls,
}

/// Whether the target gets a PROXY protocol v2 header before the first byte of the client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyProtocol {
    Off,
    /// The client's and the listener's addresses.
    Addresses,
    /// The addresses, and TLVs for SNI, ALPN, the TLS version and the client certificate's CN.
    WithTlvs,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub connect_timeout: Duration,
    pub handshake_timeout: Duration,
    pub idle_timeout: Option<Duration>,
    pub max_conns: Option<usize>,
    pub drain_timeout: Duration,
}
