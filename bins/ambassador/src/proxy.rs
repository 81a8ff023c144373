//! One connection's life, in either mode: the TLS handshake (bounded by the handshake timeout),
//! the identity checks, the connection to the target, the PROXY header, then the pipe.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use podkit::addr::Address;
use podkit::tls::rustls::{self, CertificateError, ClientConfig, ServerConfig};
use podkit::tls::rustls_pki_types::{CertificateDer, ServerName};
use podkit::tls::tokio_rustls::{TlsAcceptor, TlsConnector};
use podkit::tls::{subject_common_name, Refusal, Reloadable, VerifyRules};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::config::{Limits, ProxyProtocol};
use crate::metrics::Metrics;
use crate::net::{self, Ends, Stream};
use crate::pipe::{pipe, Ended};
use crate::proxy_header::{self, TlsFacts};
use crate::slots::Silent;

/// Everything a connection needs, shared by all of them; built once at start.
pub struct Proxy {
    pub side: Side,
    pub target: Address,
    pub proxy_protocol: ProxyProtocol,
    pub limits: Limits,
    pub metrics: Metrics,
}

pub enum Side {
    /// Server mode: TLS in, plain out.
    /// The identity rules are the TLS configuration's: a client they refuse fails its handshake.
    Terminate { tls: Arc<Reloadable<ServerConfig>> },
    /// Client mode: plain in, TLS out.
    Originate {
        tls: Arc<Reloadable<ClientConfig>>,
        server_name: ServerName<'static>,
        verify: VerifyRules,
    },
}

/// Who is on the other end of a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// The accepted connection (server mode).
    Client,
    /// The target (client mode).
    Server,
}

/// A connection closed before any byte was proxied: why (a metric label) and the details.
struct Refused {
    reason: &'static str,
    detail: String,
    /// The peer closed before saying anything: a TCP health check (the kubelet's tcpSocket
    /// probe, a load balancer's) rather than a client. Counted, but logged only at debug level,
    /// or every probe period would write a warning.
    silent_peer: bool,
}

impl Refused {
    fn new(reason: &'static str, detail: impl ToString) -> Refused {
        Refused {
            reason,
            detail: detail.to_string(),
            silent_peer: false,
        }
    }
}

impl Proxy {
    /// Serves one accepted connection to its end; never fails, only logs and counts.
    /// `silent` is the connection's place among those not heard from yet, when `--max-conns`
    /// may evict it ([`crate::slots`]).
    pub async fn handle(self: Arc<Self>, client: Stream, ends: Ends, silent: Option<Silent>) {
        self.metrics.open_connections.inc();
        let peer = ends
            .peer
            .map_or_else(|| "unix socket".to_owned(), |a| a.to_string());
        let outcome = match &self.side {
            Side::Terminate { tls } => self.terminate(client, &ends, tls, silent).await,
            Side::Originate {
                tls,
                server_name,
                verify,
            } => {
                self.originate(client, &ends, tls, server_name, verify)
                    .await
            }
        };
        match outcome {
            Ok(ended) => log_end(&peer, ended),
            Err(refused) if refused.silent_peer => {
                self.metrics.refused(refused.reason);
                podkit::debug!(
                    "connection closed before the handshake",
                    peer = peer,
                    reason = refused.reason
                );
            }
            Err(refused) => {
                self.metrics.refused(refused.reason);
                podkit::warn!(
                    "connection refused",
                    peer = peer,
                    reason = refused.reason,
                    error = refused.detail
                );
            }
        }
        self.metrics.open_connections.dec();
    }

    async fn terminate(
        &self,
        client: Stream,
        ends: &Ends,
        tls: &Reloadable<ServerConfig>,
        silent: Option<Silent>,
    ) -> Result<Ended, Refused> {
        // One --handshake-timeout from the accept, the wait for the first byte included.
        let started = Instant::now();
        if let Some(silent) = silent {
            self.first_byte(&client, silent, started).await?;
        }
        let acceptor = TlsAcceptor::from(tls.current().config.clone());
        let mut client = self
            .handshake(acceptor.accept(client), Peer::Client, started)
            .await?;
        let (_, session) = client.get_ref();
        let client_certificate = session.peer_certificates().and_then(|chain| chain.first());
        let facts = (self.proxy_protocol == ProxyProtocol::WithTlvs).then(|| {
            let sni = session.server_name().map(str::to_owned);
            tls_facts(session, sni, client_certificate)
        });
        let mut target = self.connect_target().await?;
        self.send_proxy_header(&mut target, ends, facts.as_ref())
            .await?;
        let ended = self.pipe(&mut client, &mut target).await;
        if matches!(ended, Ended::Failed(..)) {
            target.abort_on_close();
        }
        Ok(ended)
    }

    async fn originate(
        &self,
        mut client: Stream,
        ends: &Ends,
        tls: &Reloadable<ClientConfig>,
        server_name: &ServerName<'static>,
        verify: &VerifyRules,
    ) -> Result<Ended, Refused> {
        let mut target = self.connect_target().await?;
        // Before the ClientHello, on the TCP connection itself, as haproxy's send-proxy-v2 does:
        // the target's TLS listener reads it first (`accept-proxy`). The client side is plain,
        // so the TLVs carry only the server name it will be asked for.
        let facts = (self.proxy_protocol == ProxyProtocol::WithTlvs).then(|| TlsFacts {
            sni: Some(server_name.to_str().into_owned()),
            ..TlsFacts::default()
        });
        self.send_proxy_header(&mut target, ends, facts.as_ref())
            .await?;
        let connector = TlsConnector::from(tls.current().config.clone());
        let mut target = self
            .handshake(
                connector.connect(server_name.clone(), target),
                Peer::Server,
                Instant::now(),
            )
            .await?;
        let (_, session) = target.get_ref();
        if let Some(server_certificate) =
            session.peer_certificates().and_then(|chain| chain.first())
        {
            verify
                .check(server_certificate)
                .map_err(|refusal| Refused::new("server_not_allowed", &refusal))?;
        }
        let ended = self.pipe(&mut client, &mut target).await;
        if matches!(ended, Ended::Failed(..)) {
            client.abort_on_close();
        }
        Ok(ended)
    }

    /// Waits for the client's first byte, within the handshake timeout, unless its slot is
    /// wanted first.
    async fn first_byte(
        &self,
        client: &Stream,
        silent: Silent,
        started: Instant,
    ) -> Result<(), Refused> {
        let deadline = started + self.limits.handshake_timeout;
        tokio::select! {
            () = silent.evicted.cancelled() => Err(Refused {
                silent_peer: true,
                ..Refused::new("evicted_silent", "every slot taken: the oldest silent connection gives its slot up")
            }),
            heard = tokio::time::timeout_at(deadline.into(), client.peer_spoke()) => match heard {
                Err(_) => Err(Refused::new("handshake_timeout", "no handshake within the timeout")),
                Ok(_) => Ok(()),
            },
        }
    }

    /// Runs a TLS handshake within the handshake timeout counted from `started`, timing it.
    async fn handshake<S>(
        &self,
        handshake: impl Future<Output = io::Result<S>>,
        peer: Peer,
        started: Instant,
    ) -> Result<S, Refused> {
        let deadline = started + self.limits.handshake_timeout;
        match tokio::time::timeout_at(deadline.into(), handshake).await {
            Err(_) => Err(Refused::new(
                "handshake_timeout",
                "no handshake within the timeout",
            )),
            Ok(Err(e)) => Err(handshake_refusal(&e, peer)),
            Ok(Ok(stream)) => {
                self.metrics
                    .handshake_seconds
                    .observe(started.elapsed().as_secs_f64());
                Ok(stream)
            }
        }
    }

    async fn connect_target(&self) -> Result<Stream, Refused> {
        net::connect(&self.target, self.limits.connect_timeout)
            .await
            .map_err(|e| Refused::new(e.reason(), format!("target {}: {e}", self.target)))
    }

    async fn send_proxy_header(
        &self,
        target: &mut (impl AsyncWrite + Unpin),
        ends: &Ends,
        facts: Option<&TlsFacts>,
    ) -> Result<(), Refused> {
        if self.proxy_protocol == ProxyProtocol::Off {
            return Ok(());
        }
        let header = proxy_header::v2(ends, facts);
        target
            .write_all(&header)
            .await
            .map_err(|e| Refused::new("target_unreachable", format!("target {}: {e}", self.target)))
    }

    async fn pipe<C, T>(&self, client: &mut C, target: &mut T) -> Ended
    where
        C: tokio::io::AsyncRead + AsyncWrite + Unpin,
        T: tokio::io::AsyncRead + AsyncWrite + Unpin,
    {
        self.metrics.accepted.inc();
        let metrics = &self.metrics;
        let ended = pipe(client, target, self.limits.idle_timeout, |way, n| {
            metrics.bytes(way, n)
        })
        .await;
        if matches!(ended, Ended::Failed(..)) {
            self.metrics.failed.inc();
        }
        ended
    }
}

/// Names a failed handshake by what a user can act on: the peer's certificate (missing, expired,
/// from an unknown CA, otherwise bad) or the handshake itself.
fn handshake_refusal(error: &io::Error, peer: Peer) -> Refused {
    let tls_error = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    if let Some(refusal) = tls_error.and_then(Refusal::of) {
        return Refused::new(refusal.reason(), refusal);
    }
    let reason = match tls_error {
        Some(rustls::Error::NoCertificatesPresented) => "no_client_certificate",
        Some(rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        )) => "certificate_expired",
        Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            "unknown_issuer"
        }
        Some(rustls::Error::InvalidCertificate(_)) => "bad_certificate",
        _ => "handshake_failed",
    };
    Refused {
        // Only a client can be a health check; a target that hangs up is worth a warning.
        silent_peer: peer == Peer::Client
            && tls_error.is_none()
            && error.kind() == io::ErrorKind::UnexpectedEof,
        ..Refused::new(reason, error)
    }
}

/// What the PROXY header's TLVs carry about a session; `client_certificate` is the certificate
/// the client presented to us (server mode only).
fn tls_facts(
    session: &rustls::CommonState,
    sni: Option<String>,
    client_certificate: Option<&CertificateDer<'_>>,
) -> TlsFacts {
    TlsFacts {
        sni,
        alpn: session.alpn_protocol().map(<[u8]>::to_vec),
        version: session.protocol_version().and_then(version_name),
        cipher: session
            .negotiated_cipher_suite()
            .and_then(|suite| suite.suite().as_str())
            .map(iana_cipher_name),
        client_cn: client_certificate.and_then(subject_common_name),
        client_certificate: client_certificate.is_some(),
    }
}

/// The IANA name of a suite (`TLS_AES_256_GCM_SHA384`), which rustls spells with a `TLS13_`
/// prefix for the TLS 1.3 suites to tell them apart; its TLS 1.2 names are IANA's already.
fn iana_cipher_name(rustls_name: &str) -> String {
    match rustls_name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => rustls_name.to_owned(),
    }
}

fn version_name(version: rustls::ProtocolVersion) -> Option<&'static str> {
    match version {
        rustls::ProtocolVersion::TLSv1_2 => Some("TLSv1.2"),
        rustls::ProtocolVersion::TLSv1_3 => Some("TLSv1.3"),
        _ => None,
    }
}

fn log_end(peer: &str, ended: Ended) {
    match ended {
        Ended::Closed => podkit::debug!("connection closed", peer = peer),
        Ended::Idle => podkit::info!("connection closed: idle timeout", peer = peer),
        Ended::Failed(way, error) => {
            podkit::debug!(
                "connection failed",
                peer = peer,
                way = format!("{way:?}"),
                error = error
            )
        }
    }
}
