//! The PROXY protocol v2 header (haproxy's `proxy-protocol.txt`) that tells the target who the
//! client really is: its address and, with TLVs, what its TLS session carried.

use std::net::{IpAddr, SocketAddr};

use ppp::v2::{Addresses, Builder, Command, Protocol, Type, Version};

use crate::net::Ends;

/// What the TLS session told us about the client, for the TLVs.
#[derive(Debug, Default)]
pub struct TlsFacts {
    /// The server name the client asked for (SNI).
    pub sni: Option<String>,
    /// The protocol ALPN settled on.
    pub alpn: Option<Vec<u8>>,
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: Option<&'static str>,
    /// The negotiated cipher suite, in IANA naming.
    pub cipher: Option<String>,
    /// The client certificate's subject common name, when it presented one.
    pub client_cn: Option<String>,
    /// Whether the client presented a certificate (that verified: others never get this far).
    pub client_certificate: bool,
}

/// `PP2_CLIENT_SSL`, `PP2_CLIENT_CERT_CONN` and `PP2_CLIENT_CERT_SESS` of the SSL TLV.
const CLIENT_SSL: u8 = 0x01;
const CLIENT_CERT_CONN: u8 = 0x02;
const CLIENT_CERT_SESS: u8 = 0x04;

/// Builds the header: the client's address as source, the listener's as destination, and with
/// `tls` the authority (SNI), ALPN and SSL TLVs. A client on a Unix socket has no address to
/// give: the command is then LOCAL (the spec's "use the connection's own addresses"), since
/// haproxy refuses a PROXY command with family UNSPEC.
pub fn v2(ends: &Ends, tls: Option<&TlsFacts>) -> Vec<u8> {
    let (command, addresses) = match (ends.peer, ends.local) {
        (Some(peer), Some(local)) => (Command::Proxy, Addresses::from(same_family(peer, local))),
        _ => (Command::Local, Addresses::Unspecified),
    };
    let header = Builder::with_addresses(Version::Two | command, Protocol::Stream, addresses);
    let header = match tls {
        None => Ok(header),
        Some(facts) => with_tlvs(header, facts),
    };
    // The builder fails only when a TLV is longer than 65535 bytes, and ours are bounded by the
    // TLS limits on names (255 bytes) and a CN (64): not reachable, but a header without TLVs is
    // the safe answer if it ever were.
    header
        .and_then(Builder::build)
        .unwrap_or_else(|_| v2(ends, None))
}

fn with_tlvs(mut header: Builder, facts: &TlsFacts) -> std::io::Result<Builder> {
    if let Some(alpn) = &facts.alpn {
        header = header.write_tlv(Type::ALPN, alpn)?;
    }
    if let Some(sni) = &facts.sni {
        header = header.write_tlv(Type::Authority, sni.as_bytes())?;
    }
    // The SSL TLV says the client connected over TLS: only true in server mode, where the
    // version is known.
    if facts.version.is_none() {
        return Ok(header);
    }
    header.write_tlv(Type::SSL, &ssl_tlv(facts))
}

/// The `PP2_TYPE_SSL` value: client flags, verify result (0: verified), then sub-TLVs.
fn ssl_tlv(facts: &TlsFacts) -> Vec<u8> {
    let mut client = CLIENT_SSL;
    if facts.client_certificate {
        client |= CLIENT_CERT_CONN | CLIENT_CERT_SESS;
    }
    let mut value = vec![client];
    // 0 only for a certificate that was presented and verified (the spec's wording); a client
    // without one (--disable-authentication) gets 1.
    let verify: u32 = if facts.client_certificate { 0 } else { 1 };
    value.extend_from_slice(&verify.to_be_bytes());
    let subs = [
        (Type::SSLVersion, facts.version.map(str::as_bytes)),
        (Type::SSLCipher, facts.cipher.as_deref().map(str::as_bytes)),
        (
            Type::SSLCommonName,
            facts.client_cn.as_deref().map(str::as_bytes),
        ),
    ];
    for (kind, bytes) in subs {
        if let Some(bytes) = bytes {
            let length = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
            value.push(kind as u8);
            value.extend_from_slice(&length.to_be_bytes());
            value.extend_from_slice(&bytes[..usize::from(length)]);
        }
    }
    value
}

/// Both addresses in one family, as the header has room for only one: IPv4 where both can be
/// (a dual-stack listener sees IPv4 clients as `::ffff:a.b.c.d`), else IPv6.
fn same_family(peer: SocketAddr, local: SocketAddr) -> (SocketAddr, SocketAddr) {
    let canonical = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    let (peer, local) = (canonical(peer), canonical(local));
    if peer.is_ipv4() == local.is_ipv4() {
        return (peer, local);
    }
    let v6 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    (v6(peer), v6(local))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppp::v2::{Header, TypeLengthValue};

    fn ends(peer: &str, local: &str) -> Ends {
        Ends {
            peer: Some(peer.parse().unwrap()),
            local: Some(local.parse().unwrap()),
        }
    }

    #[test]
    fn carries_the_client_address_as_source() {
        let bytes = v2(&ends("10.1.2.3:40000", "10.9.9.9:8443"), None);
        let header = Header::try_from(bytes.as_slice()).expect("a valid v2 header");
        assert_eq!(header.command, Command::Proxy);
        assert_eq!(
            header.addresses,
            Addresses::from((
                "10.1.2.3:40000".parse::<SocketAddr>().unwrap(),
                "10.9.9.9:8443".parse::<SocketAddr>().unwrap()
            ))
        );
        assert_eq!(header.tlvs().count(), 0);
    }

    #[test]
    fn a_mapped_ipv4_client_on_a_dual_stack_listener_is_sent_as_ipv4() {
        let bytes = v2(
            &ends("[::ffff:10.1.2.3]:40000", "[::ffff:10.9.9.9]:8443"),
            None,
        );
        let header = Header::try_from(bytes.as_slice()).unwrap();
        assert!(matches!(header.addresses, Addresses::IPv4(_)));
    }

    #[test]
    fn mixed_families_become_ipv6() {
        let bytes = v2(&ends("10.1.2.3:40000", "[2001:db8::1]:8443"), None);
        let header = Header::try_from(bytes.as_slice()).unwrap();
        assert!(matches!(header.addresses, Addresses::IPv6(_)));
    }

    #[test]
    fn without_a_tls_client_there_is_no_ssl_tlv_and_without_a_certificate_verify_is_not_zero() {
        let ends = ends("10.1.2.3:40000", "10.9.9.9:8443");
        let plain = TlsFacts {
            sni: Some("api.example.com".into()),
            ..TlsFacts::default()
        };
        let bytes = v2(&ends, Some(&plain));
        let header = Header::try_from(bytes.as_slice()).unwrap();
        let kinds: Vec<u8> = header.tlvs().map(|tlv| tlv.unwrap().kind).collect();
        assert_eq!(kinds, vec![Type::Authority as u8]);

        let anonymous = TlsFacts {
            version: Some("TLSv1.3"),
            ..TlsFacts::default()
        };
        let bytes = v2(&ends, Some(&anonymous));
        let header = Header::try_from(bytes.as_slice()).unwrap();
        let ssl = header
            .tlvs()
            .map(|tlv| tlv.unwrap())
            .find(|tlv| tlv.kind == Type::SSL as u8)
            .expect("an SSL TLV");
        assert_eq!(ssl.value[0], CLIENT_SSL);
        assert_ne!(
            &ssl.value[1..5],
            &[0, 0, 0, 0],
            "no certificate: not verified"
        );
    }

    #[test]
    fn a_unix_listener_sends_a_local_command_without_addresses() {
        let unix = Ends {
            peer: None,
            local: None,
        };
        let bytes = v2(&unix, None);
        let header = Header::try_from(bytes.as_slice()).unwrap();
        assert_eq!(header.command, Command::Local);
        assert_eq!(header.addresses, Addresses::Unspecified);
    }

    #[test]
    fn tlvs_carry_sni_alpn_and_the_client_certificate_cn() {
        let facts = TlsFacts {
            sni: Some("api.example.com".into()),
            alpn: Some(b"h2".to_vec()),
            version: Some("TLSv1.3"),
            cipher: Some("TLS_AES_128_GCM_SHA256".into()),
            client_cn: Some("billing".into()),
            client_certificate: true,
        };
        let bytes = v2(&ends("10.1.2.3:40000", "10.9.9.9:8443"), Some(&facts));
        let header = Header::try_from(bytes.as_slice()).unwrap();
        let tlvs: Vec<TypeLengthValue> = header.tlvs().collect::<Result<_, _>>().unwrap();
        assert!(tlvs.contains(&TypeLengthValue::new(Type::ALPN, b"h2".as_slice())));
        assert!(tlvs.contains(&TypeLengthValue::new(
            Type::Authority,
            b"api.example.com".as_slice()
        )));
        let ssl = tlvs
            .iter()
            .find(|tlv| tlv.kind == Type::SSL as u8)
            .expect("an SSL TLV");
        assert_eq!(
            ssl.value[0],
            CLIENT_SSL | CLIENT_CERT_CONN | CLIENT_CERT_SESS
        );
        assert_eq!(&ssl.value[1..5], &[0, 0, 0, 0], "verified");
        let subs = &ssl.value[5..];
        let expected_cn = [&[Type::SSLCommonName as u8, 0, 7][..], b"billing"].concat();
        assert!(
            subs.windows(expected_cn.len()).any(|w| w == expected_cn),
            "CN sub-TLV in {subs:?}"
        );
    }
}
