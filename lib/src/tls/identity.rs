//! Peer identity rules: which clients a TLS server lets in (`--allow-cn`, `--allow-dns`,
//! `--allow-uri`, `--allow-all`) and which names a TLS client requires of its server
//! (`--verify-dns`, `--verify-uri`), parsed once from flags and checked against the peer's
//! end-entity certificate.
//!
//! These rules only say *who* the peer is: rustls has already verified the chain, the validity
//! period and (for a client) the server name before they run, so a certificate reaching them is
//! genuine and the question left is whether its subject is welcome.
//!
//! The semantics are ghostunnel's access flags (its `docs/ACCESS-FLAGS.md` and `wildcard`
//! package), which users of a TLS ambassador already know:
//!
//! - Rules are OR-ed: a peer passes if any one rule matches any one of its names. `--allow-all`
//!   admits every client with a verified certificate and cannot be combined with other rules. A
//!   server with no rule at all is a configuration error, not an open door; a client with no
//!   `--verify-*` rule relies on the chain and server-name checks alone.
//! - `--allow-cn` compares the subject's common name exactly, case included; of a subject with
//!   several, the last one, as Go reads it, and the same one the PROXY header's CN TLV carries
//!   ([`super::subject_common_name`]).
//! - `--allow-dns` and `--verify-dns` compare with the certificate's DNS SANs, ignoring ASCII case
//!   (DNS names are case-insensitive, RFC 4343) and a trailing dot. There is no wildcard
//!   matching: a rule `*.example.com` matches only a SAN that is literally `*.example.com`, and a
//!   rule is never resolved in DNS.
//! - `--allow-uri` and `--verify-uri` match the certificate's URI SANs, such as SPIFFE IDs
//!   (`spiffe://trust-domain/path`). The path compares exactly, segment by segment. A path
//!   segment `*` matches exactly one non-empty segment; a final `**` matches any suffix of zero
//!   or more segments, so `spiffe://example.com/ns/**` admits `spiffe://example.com/ns` itself
//!   as well as everything below it. A `.` or `..` segment, percent-encoding, a query or a
//!   fragment is refused in a rule and matches nothing in a certificate: each names another
//!   path than the one it spells.
//! - A `spiffe://` rule matches only a valid SPIFFE ID (the SPIFFE ID specification, section
//!   2): lowercase `spiffe` and trust domain, no port or user, path segments of letters, digits,
//!   `.`, `-` and `_`, none empty, `.` or `..`, no trailing `/`. A rule that is not one (wildcard
//!   segments aside) is refused at start. So `spiffe://cluster.local/ns/shop/sa/../../admin`
//!   matches no rule, not even `spiffe://cluster.local/ns/shop/**`.
//! - Other schemes compare the scheme and host ignoring ASCII case (RFC 3986 section 6.2.2.1),
//!   and ignore one trailing `/` on either side (`https://x/a/` is `https://x/a`).
//!
//! Where this departs from ghostunnel, it is stricter or more exact, never looser: wildcards are
//! only whole path segments (ghostunnel reads `a*` as a literal and accepts `*` in the host,
//! where it would match any trust domain); `bar/**` does not match a sibling `barx` (ghostunnel's
//! pattern compiles to the regular expression `bar/?.*`, which does); a certificate URI with a
//! query or fragment, a dot segment or percent-encoding matches no rule; SPIFFE IDs are held to
//! their specification; and DNS names, schemes and hosts ignore case where ghostunnel compares
//! bytes.

use std::fmt;

use rustls_pki_types::{CertificateDer, DnsName};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::certificate::common_name;

/// One thing a peer certificate may carry that a rule can name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityRule {
    /// The subject's common name, compared exactly (`--allow-cn`).
    Cn(String),
    /// A DNS SAN, kept in lowercase without a trailing dot (`--allow-dns`, `--verify-dns`).
    Dns(String),
    /// A URI SAN pattern, typically a SPIFFE ID (`--allow-uri`, `--verify-uri`).
    Uri(UriPattern),
}

impl IdentityRule {
    /// A `--allow-cn` value: any non-empty text.
    pub fn cn(text: &str) -> Result<Self, &'static str> {
        if text.is_empty() {
            return Err("empty common name");
        }
        Ok(IdentityRule::Cn(text.to_owned()))
    }

    /// A `--allow-dns` or `--verify-dns` value: a DNS name, or `*.` and a DNS name for a
    /// certificate that literally carries a wildcard SAN.
    pub fn dns(text: &str) -> Result<Self, &'static str> {
        let (wildcard, name) = match text.strip_prefix("*.") {
            Some(name) => ("*.", name),
            None => ("", text),
        };
        // DnsName validates and drops a trailing dot.
        let name = DnsName::try_from(name).map_err(|_| "not a valid DNS name")?;
        Ok(IdentityRule::Dns(format!(
            "{wildcard}{}",
            name.as_ref().to_ascii_lowercase()
        )))
    }

    /// A `--allow-uri` or `--verify-uri` value: see [`UriPattern::parse`].
    pub fn uri(text: &str) -> Result<Self, &'static str> {
        UriPattern::parse(text).map(IdentityRule::Uri)
    }

    fn matches(&self, peer: &Peer<'_>) -> bool {
        match self {
            IdentityRule::Cn(cn) => peer.cn.iter().any(|name| name == cn),
            IdentityRule::Dns(dns) => peer.dns.iter().any(|name| {
                name.strip_suffix('.')
                    .unwrap_or(name)
                    .eq_ignore_ascii_case(dns)
            }),
            IdentityRule::Uri(pattern) => peer.uris.iter().any(|uri| pattern.matches(uri)),
        }
    }
}

/// A URI SAN pattern such as `spiffe://example.com/ns/*/sa/web` or `spiffe://example.com/**`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriPattern {
    /// As the user wrote it, for messages.
    text: String,
    /// Lowercase.
    scheme: String,
    /// Lowercase; the whole authority (host, and port if any).
    host: String,
    path: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*`: exactly one non-empty segment.
    One,
    /// `**`, always last: zero or more segments.
    Rest,
}

impl UriPattern {
    /// Parses `scheme://host[/path]`, where a path segment may be `*` (one segment) and the last
    /// one may be `**` (any suffix). A `spiffe://` pattern must otherwise be a SPIFFE ID (see
    /// [`spiffe_fault`]). The error says what is wrong, for a message that also names the flag
    /// and the rule.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("spaces and control characters are not allowed in a URI");
        }
        if text.contains(['?', '#']) {
            return Err("a query or fragment cannot be matched: give scheme://host/path");
        }
        if text.contains('%') {
            return Err("percent-encoding cannot be matched: give the path as plain text");
        }
        let (scheme, rest) = text
            .split_once("://")
            .ok_or("not a URI of the form scheme://host/path")?;
        let mut chars = scheme.chars();
        let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return Err("not a valid URI scheme");
        }
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() {
            return Err("no host (for SPIFFE, the trust domain)");
        }
        if host.contains('*') {
            return Err("wildcards only in the path, not in the host");
        }
        let parts = path_segments(path);
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            segments.push(match *part {
                "" => return Err("empty path segment"),
                "." | ".." => return Err("a . or .. path segment cannot be matched"),
                "*" => Segment::One,
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => return Err("** only as the last segment"),
                part if part.contains('*') => return Err("* and ** only as whole path segments"),
                part => Segment::Literal(part.to_owned()),
            });
        }
        if scheme.eq_ignore_ascii_case(SPIFFE) {
            let literal_path = rest.get(host.len()..).unwrap_or_default();
            let wildcards_as_segments = literal_path.replace("/**", "/x").replace("/*", "/x");
            if let Some(fault) = spiffe_fault(scheme, host, &wildcards_as_segments) {
                return Err(fault);
            }
        }
        Ok(UriPattern {
            text: text.to_owned(),
            scheme: scheme.to_ascii_lowercase(),
            host: host.to_ascii_lowercase(),
            path: segments,
        })
    }

    /// Whether a certificate's URI SAN matches; see the module documentation for the rules.
    pub fn matches(&self, uri: &str) -> bool {
        if uri.contains(['?', '#', '%']) {
            return false;
        }
        let Some((scheme, rest)) = uri.split_once("://") else {
            return false;
        };
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !scheme.eq_ignore_ascii_case(&self.scheme) || !host.eq_ignore_ascii_case(&self.host) {
            return false;
        }
        // Only a valid SPIFFE ID can match a SPIFFE pattern: `ns/shop/sa/../../admin` must not
        // pass for something below `ns/shop`.
        if self.scheme == SPIFFE && spiffe_fault(scheme, host, &rest[host.len()..]).is_some() {
            return false;
        }
        let segments = path_segments(path);
        // Whatever the scheme, a dot segment names another path than the one it spells.
        if segments.iter().any(|s| matches!(*s, "." | "..")) {
            return false;
        }
        let mut segments = segments.into_iter();
        for expected in &self.path {
            match expected {
                Segment::Rest => return true,
                Segment::One => match segments.next() {
                    Some(segment) if !segment.is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(literal) => {
                    if segments.next() != Some(literal.as_str()) {
                        return false;
                    }
                }
            }
        }
        segments.next().is_none()
    }
}

const SPIFFE: &str = "spiffe";

/// What the SPIFFE ID specification (section 2) forbids in `scheme://trust_domain` followed by
/// `path` (empty, or starting with `/`), if anything: the scheme is lowercase `spiffe`; the trust
/// domain is lowercase letters, digits, `.`, `-` and `_` (so no port and no user); the path's
/// segments are letters, digits, `.`, `-` and `_`, never empty, `.` or `..`, and there is no
/// trailing `/`. Percent-encoding, queries and fragments are refused before this is asked.
fn spiffe_fault(scheme: &str, trust_domain: &str, path: &str) -> Option<&'static str> {
    if scheme != SPIFFE {
        return Some("a SPIFFE ID's scheme is spiffe, in lowercase");
    }
    let domain_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._".contains(c);
    if !trust_domain.chars().all(domain_char) {
        return Some(
            "a SPIFFE trust domain has only lowercase letters, digits, '.', '-' and '_' (no port, no user)",
        );
    }
    let path_char = |c: char| c.is_ascii_alphanumeric() || "-._".contains(c);
    // An empty path (the trust domain's own ID) has no segment at all.
    let segments = path
        .strip_prefix('/')
        .into_iter()
        .flat_map(|p| p.split('/'));
    for segment in segments {
        match segment {
            "" => return Some("a SPIFFE ID has no empty path segment and no trailing /"),
            "." | ".." => return Some("a SPIFFE ID has no . or .. path segment"),
            segment if !segment.chars().all(path_char) => {
                return Some(
                    "a SPIFFE ID's path has only letters, digits, '.', '-' and '_' in each segment",
                )
            }
            _ => {}
        }
    }
    None
}

/// The segments of a URI path given without its leading `/`: none for an empty path, and one
/// trailing `/` ignored, so that `a/b/` is `a/b` but `a//` still ends in an empty segment.
fn path_segments(path: &str) -> Vec<&str> {
    if path.is_empty() {
        return Vec::new();
    }
    let mut segments: Vec<&str> = path.split('/').collect();
    if segments.last() == Some(&"") {
        segments.pop();
    }
    segments
}

impl fmt::Display for UriPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The clients a TLS server admits (`--allow-*`), parsed from flags by [`AllowRules::from_flags`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowRules {
    /// `--allow-all`: any client whose certificate chain verified.
    All,
    /// Clients matching at least one of these rules.
    AnyOf(Vec<IdentityRule>),
}

impl AllowRules {
    /// Parses the server's flags. With none of them, no client could ever connect, so that is an
    /// error rather than a server that refuses everyone (or, worse, admits everyone).
    pub fn from_flags(
        allow_all: bool,
        cn: &[impl AsRef<str>],
        dns: &[impl AsRef<str>],
        uri: &[impl AsRef<str>],
    ) -> Result<Self, RuleError> {
        let rules = [
            parse_all("--allow-cn", cn, IdentityRule::cn)?,
            parse_all("--allow-dns", dns, IdentityRule::dns)?,
            parse_all("--allow-uri", uri, IdentityRule::uri)?,
        ]
        .concat();
        match (allow_all, rules.is_empty()) {
            (true, true) => Ok(AllowRules::All),
            (true, false) => Err(RuleError::AllowAllWithRules),
            (false, true) => Err(RuleError::NoAllowRule),
            (false, false) => Ok(AllowRules::AnyOf(rules)),
        }
    }

    /// Decides on a client from its end-entity certificate (the first of rustls's
    /// `peer_certificates()`), after rustls has verified its chain.
    pub fn check(&self, end_entity: Option<&CertificateDer<'_>>) -> Result<(), Refusal> {
        let end_entity = end_entity.ok_or(Refusal::NoClientCertificate)?;
        match self {
            AllowRules::All => Ok(()),
            AllowRules::AnyOf(rules) => check_any(rules, end_entity),
        }
    }
}

/// What a TLS client requires of its server's certificate on top of chain and server-name
/// verification (`--verify-dns`, `--verify-uri`); empty means nothing more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyRules {
    rules: Vec<IdentityRule>,
}

impl VerifyRules {
    /// Parses the client's flags; none at all is valid and checks nothing.
    pub fn from_flags(dns: &[impl AsRef<str>], uri: &[impl AsRef<str>]) -> Result<Self, RuleError> {
        let rules = [
            parse_all("--verify-dns", dns, IdentityRule::dns)?,
            parse_all("--verify-uri", uri, IdentityRule::uri)?,
        ]
        .concat();
        Ok(VerifyRules { rules })
    }

    /// True when no `--verify-*` flag was given, so a tool can keep rustls's stock verifier.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Decides on a server from its end-entity certificate, after rustls has verified it: the
    /// certificate must carry one of the names (any one suffices).
    pub fn check(&self, end_entity: &CertificateDer<'_>) -> Result<(), Refusal> {
        if self.rules.is_empty() {
            return Ok(());
        }
        check_any(&self.rules, end_entity)
    }
}

fn parse_all(
    flag: &'static str,
    texts: &[impl AsRef<str>],
    parse: fn(&str) -> Result<IdentityRule, &'static str>,
) -> Result<Vec<IdentityRule>, RuleError> {
    texts
        .iter()
        .map(|text| {
            let text = text.as_ref();
            parse(text).map_err(|reason| RuleError::Invalid {
                flag,
                rule: text.to_owned(),
                reason,
            })
        })
        .collect()
}

fn check_any(rules: &[IdentityRule], end_entity: &CertificateDer<'_>) -> Result<(), Refusal> {
    let peer = Peer::parse(end_entity)?;
    if rules.iter().any(|rule| rule.matches(&peer)) {
        return Ok(());
    }
    let owned = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect();
    Err(Refusal::NotAllowed {
        cn: owned(&peer.cn),
        dns: owned(&peer.dns),
        uris: owned(&peer.uris),
    })
}

/// The names a certificate carries, borrowed from its DER.
struct Peer<'a> {
    cn: Vec<&'a str>,
    dns: Vec<&'a str>,
    uris: Vec<&'a str>,
}

impl<'a> Peer<'a> {
    fn parse(der: &'a CertificateDer<'_>) -> Result<Self, Refusal> {
        let unreadable = |e: &dyn fmt::Display| Refusal::UnreadableCertificate(e.to_string());
        let (_, certificate) = X509Certificate::from_der(der).map_err(|e| unreadable(&e))?;
        // One CN, the same everywhere: see `subject_common_name`. The subject field rather than
        // `subject()`, which ties the name to `certificate` instead of the DER.
        let cn = common_name(&certificate.tbs_certificate.subject)
            .into_iter()
            .collect();
        let mut dns = Vec::new();
        let mut uris = Vec::new();
        let san = certificate
            .subject_alternative_name()
            .map_err(|e| unreadable(&e))?;
        for name in san.iter().flat_map(|san| &san.value.general_names) {
            match name {
                GeneralName::DNSName(name) => dns.push(*name),
                GeneralName::URI(uri) => uris.push(*uri),
                _ => {}
            }
        }
        Ok(Peer { cn, dns, uris })
    }
}

/// Why a peer was refused. [`Refusal::reason`] is a fixed label for metrics; `Display` is the
/// log line, with what the certificate carried so that an operator can fix the rule or the
/// certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The client sent no certificate (possible only when the server made one optional).
    NoClientCertificate,
    /// The certificate verified but its names could not be read.
    UnreadableCertificate(String),
    /// The certificate matches no rule; these are the names it carried.
    NotAllowed {
        cn: Vec<String>,
        dns: Vec<String>,
        uris: Vec<String>,
    },
}

impl Refusal {
    /// A label for a `reason` metric dimension: fixed, so the metric's cardinality stays bounded
    /// whatever certificates clients present.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::NoClientCertificate => "no_client_certificate",
            Refusal::UnreadableCertificate(_) => "unreadable_certificate",
            Refusal::NotAllowed { .. } => "not_allowed",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoClientCertificate => f.write_str("no client certificate"),
            Refusal::UnreadableCertificate(e) => write!(f, "unreadable certificate: {e}"),
            // Debug formatting quotes and escapes the names: they come from the peer.
            Refusal::NotAllowed { cn, dns, uris } => write!(
                f,
                "certificate matches no rule (CN {cn:?}, DNS {dns:?}, URI {uris:?})"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// A flag value that cannot be a rule, or flags that do not go together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    /// One rule is malformed: which flag, its value, and what is wrong with it.
    Invalid {
        flag: &'static str,
        rule: String,
        reason: &'static str,
    },
    /// `--allow-all` with other `--allow-*` rules: one of them would be meaningless.
    AllowAllWithRules,
    /// A server with client authentication and no rule would admit no one.
    NoAllowRule,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::Invalid { flag, rule, reason } => write!(f, "{flag} {rule:?}: {reason}"),
            RuleError::AllowAllWithRules => {
                f.write_str("--allow-all cannot be combined with --allow-cn, --allow-dns or --allow-uri")
            }
            RuleError::NoAllowRule => f.write_str(
                "no client would be allowed: give --allow-cn, --allow-dns, --allow-uri or --allow-all",
            ),
        }
    }
}

impl std::error::Error for RuleError {}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

    const NONE: &[&str] = &[];

    /// A self-signed certificate with exactly the given CN (if any), DNS SANs and URI SANs:
    /// rcgen's default subject is cleared so that nothing else can match.
    fn certificate(cn: Option<&str>, dns: &[&str], uris: &[&str]) -> CertificateDer<'static> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        if let Some(cn) = cn {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        let dns = dns
            .iter()
            .map(|n| SanType::DnsName((*n).try_into().unwrap()));
        let uris = uris.iter().map(|u| SanType::URI((*u).try_into().unwrap()));
        params.subject_alt_names = dns.chain(uris).collect();
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    fn allow(cn: &[&str], dns: &[&str], uri: &[&str]) -> AllowRules {
        AllowRules::from_flags(false, cn, dns, uri).unwrap()
    }

    fn uri(pattern: &str) -> UriPattern {
        UriPattern::parse(pattern).unwrap()
    }

    #[test]
    fn allow_cn_admits_the_exact_common_name_only() {
        let web = certificate(Some("web"), &[], &[]);
        assert_eq!(allow(&["web"], NONE, NONE).check(Some(&web)), Ok(()));
        for other in ["Web", "web ", "we", "web.default"] {
            let rules = allow(&[other], NONE, NONE);
            assert!(rules.check(Some(&web)).is_err(), "{other}");
        }
    }

    #[test]
    fn allow_dns_matches_a_dns_san_ignoring_case_and_a_trailing_dot() {
        let cert = certificate(Some("web"), &["api.example.com", "Web.Default.SVC"], &[]);
        for rule in [
            "api.example.com",
            "API.Example.com",
            "api.example.com.",
            "web.default.svc",
        ] {
            assert_eq!(
                allow(NONE, &[rule], NONE).check(Some(&cert)),
                Ok(()),
                "{rule}"
            );
        }
        let dotted = certificate(None, &["api.example.com."], &[]);
        assert_eq!(
            allow(NONE, &["api.example.com"], NONE).check(Some(&dotted)),
            Ok(())
        );
        for rule in ["example.com", "x.api.example.com", "web"] {
            assert!(
                allow(NONE, &[rule], NONE).check(Some(&cert)).is_err(),
                "{rule}"
            );
        }
    }

    #[test]
    fn allow_dns_does_not_match_the_common_name() {
        let cert = certificate(Some("api.example.com"), &[], &[]);
        let refusal = allow(NONE, &["api.example.com"], NONE).check(Some(&cert));
        assert_eq!(refusal.unwrap_err().reason(), "not_allowed");
    }

    #[test]
    fn dns_wildcards_are_compared_as_text_not_expanded() {
        let wildcard = certificate(None, &["*.example.com"], &[]);
        let plain = certificate(None, &["api.example.com"], &[]);
        let rule = allow(NONE, &["*.example.com"], NONE);
        assert_eq!(rule.check(Some(&wildcard)), Ok(()));
        assert!(rule.check(Some(&plain)).is_err());
        assert!(allow(NONE, &["api.example.com"], NONE)
            .check(Some(&wildcard))
            .is_err());
    }

    #[test]
    fn allow_uri_matches_a_spiffe_id() {
        let id = "spiffe://cluster.local/ns/default/sa/web";
        let cert = certificate(None, &[], &[id]);
        assert_eq!(allow(NONE, NONE, &[id]).check(Some(&cert)), Ok(()));
        let other = "spiffe://cluster.local/ns/default/sa/api";
        assert!(allow(NONE, NONE, &[other]).check(Some(&cert)).is_err());
    }

    #[test]
    fn rules_are_ored_across_and_within_kinds() {
        let cert = certificate(
            Some("web"),
            &["web.default.svc"],
            &["spiffe://cluster.local/ns/default/sa/web"],
        );
        let miss = ["nope"];
        let cases: [(&[&str], &[&str], &[&str]); 4] = [
            (&["api", "web"], &miss, &["spiffe://x/y"]),
            (
                &miss,
                &["api.default.svc", "web.default.svc"],
                &["spiffe://x/y"],
            ),
            (
                &miss,
                &["nope.svc"],
                &["spiffe://x/y", "spiffe://cluster.local/**"],
            ),
            (
                &["web"],
                &["web.default.svc"],
                &["spiffe://cluster.local/**"],
            ),
        ];
        for (cn, dns, uri) in cases {
            assert_eq!(allow(cn, dns, uri).check(Some(&cert)), Ok(()));
        }
        let none = allow(&miss, &["nope.svc"], &["spiffe://x/y"]);
        assert!(none.check(Some(&cert)).is_err());
    }

    #[test]
    fn allow_all_admits_any_certificate_but_not_its_absence() {
        let rules = AllowRules::from_flags(true, NONE, NONE, NONE).unwrap();
        assert_eq!(rules, AllowRules::All);
        assert_eq!(rules.check(Some(&certificate(None, &[], &[]))), Ok(()));
        assert_eq!(rules.check(None), Err(Refusal::NoClientCertificate));
    }

    #[test]
    fn a_missing_client_certificate_is_refused_by_every_rule() {
        let refusal = allow(&["web"], NONE, NONE).check(None).unwrap_err();
        assert_eq!(refusal, Refusal::NoClientCertificate);
        assert_eq!(refusal.reason(), "no_client_certificate");
        assert_eq!(refusal.to_string(), "no client certificate");
    }

    #[test]
    fn a_refusal_reports_what_the_certificate_carried() {
        let cert = certificate(
            Some("web"),
            &["web.default.svc", "web"],
            &["spiffe://cluster.local/ns/default/sa/web"],
        );
        let refusal = allow(&["api"], NONE, NONE).check(Some(&cert)).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::NotAllowed {
                cn: vec!["web".into()],
                dns: vec!["web.default.svc".into(), "web".into()],
                uris: vec!["spiffe://cluster.local/ns/default/sa/web".into()],
            }
        );
        assert_eq!(refusal.reason(), "not_allowed");
        assert_eq!(
            refusal.to_string(),
            "certificate matches no rule (CN [\"web\"], DNS [\"web.default.svc\", \"web\"], \
             URI [\"spiffe://cluster.local/ns/default/sa/web\"])"
        );
    }

    #[test]
    fn a_certificate_without_names_matches_no_rule() {
        let bare = certificate(None, &[], &[]);
        let rules = allow(
            &["web"],
            &["web.default.svc"],
            &["spiffe://cluster.local/**"],
        );
        assert_eq!(
            rules.check(Some(&bare)),
            Err(Refusal::NotAllowed {
                cn: vec![],
                dns: vec![],
                uris: vec![],
            })
        );
    }

    #[test]
    fn garbage_instead_of_a_certificate_is_refused_as_unreadable() {
        let garbage = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        let refusal = allow(&["web"], NONE, NONE)
            .check(Some(&garbage))
            .unwrap_err();
        assert_eq!(refusal.reason(), "unreadable_certificate");
    }

    #[test]
    fn a_single_star_matches_exactly_one_non_empty_segment() {
        let pattern = uri("spiffe://example.com/ns/*/sa/web");
        assert!(pattern.matches("spiffe://example.com/ns/default/sa/web"));
        assert!(pattern.matches("spiffe://example.com/ns/prod/sa/web"));
        // A trailing `/` (not a SPIFFE ID), a missing segment, an empty one, an extra one, or an extra one after the end.
        assert!(!pattern.matches("spiffe://example.com/ns/prod/sa/web/"));
        assert!(!pattern.matches("spiffe://example.com/ns/sa/web"));
        assert!(!pattern.matches("spiffe://example.com/ns//sa/web"));
        assert!(!pattern.matches("spiffe://example.com/ns/a/b/sa/web"));
        assert!(!pattern.matches("spiffe://example.com/ns/prod/sa/web/extra"));
        assert!(!pattern.matches("spiffe://example.com/ns/prod/sa/webx"));

        let last = uri("spiffe://example.com/*");
        assert!(last.matches("spiffe://example.com/web"));
        assert!(!last.matches("spiffe://example.com"));
        assert!(!last.matches("spiffe://example.com/"));
        assert!(!last.matches("spiffe://example.com/a/b"));
    }

    #[test]
    fn a_double_star_matches_any_suffix_including_none() {
        let pattern = uri("spiffe://example.com/ns/prod/**");
        assert!(pattern.matches("spiffe://example.com/ns/prod"));
        assert!(pattern.matches("spiffe://example.com/ns/prod/sa/web"));
        assert!(pattern.matches("spiffe://example.com/ns/prod/a/b/c/d"));
        // Whole segments only: a sibling sharing a prefix is not below the pattern.
        assert!(!pattern.matches("spiffe://example.com/ns/production"));
        assert!(!pattern.matches("spiffe://example.com/ns/production/sa/web"));
        assert!(!pattern.matches("spiffe://example.com/ns"));
        assert!(!pattern.matches("spiffe://other.example.com/ns/prod/sa/web"));

        let domain = uri("spiffe://example.com/**");
        assert!(domain.matches("spiffe://example.com"));
        assert!(domain.matches("spiffe://example.com/anything/at/all"));
        assert!(!domain.matches("spiffe://example.community/x"));

        let mixed = uri("spiffe://example.com/ns/*/sa/**");
        assert!(mixed.matches("spiffe://example.com/ns/prod/sa"));
        assert!(mixed.matches("spiffe://example.com/ns/prod/sa/web/v2"));
        assert!(!mixed.matches("spiffe://example.com/ns/sa/web"));
    }

    #[test]
    fn uri_scheme_and_host_ignore_case_but_the_path_does_not() {
        let pattern = uri("https://Example.com/ns/default/sa/web");
        assert!(pattern.matches("HTTPS://example.COM/ns/default/sa/web"));
        assert!(!pattern.matches("https://example.com/NS/default/sa/web"));
        assert!(!pattern.matches("https://example.com/ns/default/sa/Web"));
    }

    #[test]
    fn uri_without_path_matches_the_bare_id_only() {
        let pattern = uri("spiffe://example.com");
        assert!(pattern.matches("spiffe://example.com"));
        assert!(!pattern.matches("spiffe://example.com/"));
        assert!(!pattern.matches("spiffe://example.com//"));
        assert!(!pattern.matches("spiffe://example.com/web"));
        assert!(!pattern.matches("https://example.com"));
        let generic = uri("https://example.com");
        assert!(generic.matches("https://example.com/"));
        let trailing = uri("https://example.com/web/");
        assert!(trailing.matches("https://example.com/web"));
        assert!(!trailing.matches("https://example.com/web//"));
    }

    #[test]
    fn uris_with_a_query_or_fragment_or_no_authority_never_match() {
        let pattern = uri("spiffe://example.com/**");
        assert!(!pattern.matches("spiffe://example.com/web?x=1"));
        assert!(!pattern.matches("spiffe://example.com/web#frag"));
        assert!(!pattern.matches("spiffe:example.com/web"));
        assert!(!pattern.matches("urn:uuid:0f6a1b1e-0000-4000-8000-000000000000"));
    }

    #[test]
    fn uri_literals_are_not_patterns() {
        let pattern = uri("https://example.com/a.b/c+d");
        assert!(pattern.matches("https://example.com/a.b/c+d"));
        assert!(!pattern.matches("https://example.com/axb/c+d"));
        assert!(!pattern.matches("https://example.com/a.b/ccd"));
    }

    #[test]
    fn what_the_spiffe_id_specification_forbids_matches_no_spiffe_rule() {
        let shop = uri("spiffe://cluster.local/ns/shop/**");
        assert!(shop.matches("spiffe://cluster.local/ns/shop/sa/web"));
        for forbidden in [
            // Dot segments: the first two would resolve to /admin and /ns/admin.
            "spiffe://cluster.local/ns/shop/sa/../../admin",
            "spiffe://cluster.local/ns/shop/../admin",
            "spiffe://cluster.local/ns/shop/./sa/web",
            "spiffe://cluster.local/ns/shop/sa/.",
            // Empty segments and a trailing slash.
            "spiffe://cluster.local/ns/shop//sa/web",
            "spiffe://cluster.local/ns/shop/sa/web/",
            // Percent-encoding (%2F is a /, %2E a .), a query, a fragment.
            "spiffe://cluster.local/ns/shop/sa%2F..%2F..%2Fadmin",
            "spiffe://cluster.local/ns/shop/%2E%2E/admin",
            "spiffe://cluster.local/ns/shop/sa/web?x",
            "spiffe://cluster.local/ns/shop/sa/web#x",
            // Characters outside the path's set, a trust domain in uppercase, with a port or a
            // user, a scheme in uppercase.
            "spiffe://cluster.local/ns/shop/sa/w@b",
            "spiffe://cluster.local/ns/shop/sa/w+b",
            "spiffe://Cluster.local/ns/shop/sa/web",
            "spiffe://cluster.local:443/ns/shop/sa/web",
            "spiffe://user@cluster.local/ns/shop/sa/web",
            "SPIFFE://cluster.local/ns/shop/sa/web",
        ] {
            assert!(!shop.matches(forbidden), "{forbidden}");
        }
        let any = uri("spiffe://cluster.local/ns/*/sa/*");
        assert!(!any.matches("spiffe://cluster.local/ns/../sa/web"));
        assert!(!any.matches("spiffe://cluster.local/ns/./sa/web"));
        // Other schemes refuse dot segments and percent-encoding too.
        let https = uri("https://example.com/api/**");
        assert!(https.matches("https://example.com/api/v1"));
        assert!(!https.matches("https://example.com/api/../admin"));
        assert!(!https.matches("https://example.com/api/%2E%2E/admin"));
    }

    #[test]
    fn bad_rules_are_refused_naming_the_flag_the_rule_and_the_fault() {
        let cases: [(&str, &str, &str); 23] = [
            (
                "--allow-uri",
                "spiffe://x/**/y",
                "** only as the last segment",
            ),
            (
                "--allow-uri",
                "spiffe://x/a*",
                "* and ** only as whole path segments",
            ),
            (
                "--allow-uri",
                "spiffe://x/***",
                "* and ** only as whole path segments",
            ),
            (
                "--allow-uri",
                "spiffe://*/web",
                "wildcards only in the path, not in the host",
            ),
            (
                "--allow-uri",
                "spiffe://**",
                "wildcards only in the path, not in the host",
            ),
            (
                "--allow-uri",
                "spiffe:///web",
                "no host (for SPIFFE, the trust domain)",
            ),
            ("--allow-uri", "spiffe://x//web", "empty path segment"),
            ("--allow-uri", "spiffe://x//", "empty path segment"),
            (
                "--allow-uri",
                "cluster.local/web",
                "not a URI of the form scheme://host/path",
            ),
            ("--allow-uri", "1x://x/web", "not a valid URI scheme"),
            (
                "--allow-uri",
                "spiffe://x/a b",
                "spaces and control characters are not allowed in a URI",
            ),
            (
                "--allow-uri",
                "spiffe://x/web?a=1",
                "a query or fragment cannot be matched: give scheme://host/path",
            ),
            (
                "--allow-uri",
                "spiffe://x/ns/../admin",
                "a . or .. path segment cannot be matched",
            ),
            (
                "--allow-uri",
                "spiffe://x/ns/./web",
                "a . or .. path segment cannot be matched",
            ),
            (
                "--allow-uri",
                "spiffe://x/ns%2Fweb",
                "percent-encoding cannot be matched: give the path as plain text",
            ),
            (
                "--allow-uri",
                "spiffe://Cluster.local/web",
                "a SPIFFE trust domain has only lowercase letters, digits, '.', '-' and '_' (no port, no user)",
            ),
            (
                "--allow-uri",
                "spiffe://x:8443/web",
                "a SPIFFE trust domain has only lowercase letters, digits, '.', '-' and '_' (no port, no user)",
            ),
            (
                "--allow-uri",
                "SPIFFE://x/web",
                "a SPIFFE ID's scheme is spiffe, in lowercase",
            ),
            (
                "--allow-uri",
                "spiffe://x/web/",
                "a SPIFFE ID has no empty path segment and no trailing /",
            ),
            (
                "--allow-uri",
                "spiffe://x/w@b",
                "a SPIFFE ID's path has only letters, digits, '.', '-' and '_' in each segment",
            ),
            ("--allow-dns", "web_.exa mple", "not a valid DNS name"),
            ("--allow-dns", "", "not a valid DNS name"),
            ("--allow-cn", "", "empty common name"),
        ];
        for (flag, rule, reason) in cases {
            let (cn, dns, uri) = match flag {
                "--allow-cn" => (vec![rule], vec![], vec![]),
                "--allow-dns" => (vec![], vec![rule], vec![]),
                _ => (vec![], vec![], vec![rule]),
            };
            let error = AllowRules::from_flags(false, &cn, &dns, &uri).unwrap_err();
            assert_eq!(
                error,
                RuleError::Invalid {
                    flag,
                    rule: rule.into(),
                    reason
                }
            );
        }
        let error = AllowRules::from_flags(false, NONE, NONE, &["spiffe://x/**/y"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--allow-uri \"spiffe://x/**/y\": ** only as the last segment"
        );
        let error = VerifyRules::from_flags(&["bad name"], NONE).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--verify-dns \"bad name\": not a valid DNS name"
        );
    }

    #[test]
    fn allow_all_goes_alone_and_a_server_needs_some_rule() {
        assert_eq!(
            AllowRules::from_flags(true, &["web"], NONE, NONE),
            Err(RuleError::AllowAllWithRules)
        );
        assert_eq!(
            AllowRules::from_flags(false, NONE, NONE, NONE),
            Err(RuleError::NoAllowRule)
        );
        assert_eq!(
            RuleError::NoAllowRule.to_string(),
            "no client would be allowed: give --allow-cn, --allow-dns, --allow-uri or --allow-all"
        );
    }

    #[test]
    fn verify_rules_require_one_of_the_names_on_the_server_certificate() {
        let server = certificate(
            Some("api"),
            &["api.example.com"],
            &["spiffe://example.com/ns/prod/sa/api"],
        );
        let by_dns = VerifyRules::from_flags(&["other.example.com", "API.example.com"], NONE);
        assert_eq!(by_dns.unwrap().check(&server), Ok(()));
        let by_uri = VerifyRules::from_flags(NONE, &["spiffe://example.com/ns/*/sa/api"]);
        assert_eq!(by_uri.unwrap().check(&server), Ok(()));

        let wrong =
            VerifyRules::from_flags(&["db.example.com"], &["spiffe://example.com/ns/prod/sa/db"])
                .unwrap();
        assert_eq!(wrong.check(&server).unwrap_err().reason(), "not_allowed");
        // A common name is not a DNS SAN, for --verify-dns as for --allow-dns.
        let by_cn = VerifyRules::from_flags(&["api"], NONE).unwrap();
        assert!(by_cn.check(&server).is_err());
    }

    #[test]
    fn no_verify_rule_checks_nothing_more() {
        let rules = VerifyRules::from_flags(NONE, NONE).unwrap();
        assert!(rules.is_empty());
        let garbage = CertificateDer::from(vec![0u8; 4]);
        assert_eq!(rules.check(&garbage), Ok(()));
    }
}
