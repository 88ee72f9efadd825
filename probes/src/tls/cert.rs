//! Certificate analysis: what each certificate of a chain says, and every problem of the chain
//! (not only the first one webpki stops at), for facts, warnings and the diagnosis.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::X509Name;

use super::codes;
use crate::codes::Code;

/// Days before expiry from which a certificate draws a `tls.cert_expiring` warning, unless the
/// target sets `tls.expiry_warning_days`.
pub const EXPIRY_WARNING_DAYS: u32 = 30;

/// What one certificate says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// Subject distinguished name, RFC 4514 style.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// DNS names and IP addresses of the subjectAltName extension, for display.
    pub sans: Vec<String>,
    /// The DNS-name SANs only: what a host name is matched against.
    #[serde(skip)]
    pub dns_names: Vec<String>,
    /// The IP-address SANs only: what an IP address is matched against (RFC 6125 6.2.1).
    #[serde(skip)]
    pub ip_addresses: Vec<IpAddr>,
    /// Where the issuer's certificate can be fetched (Authority Information Access), if named:
    /// public CAs always name it, private ones seldom do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_issuers: Option<String>,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Whole days until `not_after` (negative once expired).
    pub days_left: i64,
    /// Key algorithm and size: `RSA 2048`, `EC P-256`, `Ed25519`.
    pub key: String,
    /// Key size in bits, when it has one.
    pub key_bits: u32,
    /// Signature algorithm: `sha256WithRSAEncryption`, `ecdsa-with-SHA256`, ...
    pub signature: String,
    /// Subject equals issuer.
    pub self_signed: bool,
    /// A CA certificate (basicConstraints CA:TRUE).
    pub ca: bool,
    /// SHA-256 of the DER, hex.
    pub sha256: String,
    #[serde(skip)]
    not_before_unix: i64,
    #[serde(skip)]
    not_after_unix: i64,
    #[serde(skip)]
    subject_der: Vec<u8>,
    #[serde(skip)]
    issuer_der: Vec<u8>,
}

/// Parses one DER certificate.
pub fn analyze(der: &[u8]) -> Result<CertInfo, String> {
    let (_, c) = X509Certificate::from_der(der).map_err(|e| format!("unparsable certificate: {e}"))?;
    let tbs = &c.tbs_certificate;
    let (mut sans, mut dns_names, mut ip_addresses) = (Vec::new(), Vec::new(), Vec::new());
    if let Ok(Some(ext)) = tbs.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(d) => {
                    sans.push((*d).to_owned());
                    dns_names.push((*d).to_owned());
                }
                GeneralName::IPAddress(b) => {
                    if let Some(ip) = ip_from_bytes(b) {
                        sans.push(ip.to_string());
                        ip_addresses.push(ip);
                    }
                }
                _ => {}
            }
        }
    }
    let mut ca_issuers = None;
    for ext in tbs.extensions() {
        if let x509_parser::extensions::ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() {
            for d in &aia.accessdescs {
                // id-ad-caIssuers, RFC 5280 4.2.2.1
                if d.access_method.to_id_string() == "1.3.6.1.5.5.7.48.2"
                    && let GeneralName::URI(u) = d.access_location
                {
                    ca_issuers = Some(u.to_owned());
                }
            }
        }
    }
    let (key, key_bits) = match tbs.subject_pki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let bits = rsa.key_size() as u32;
            (format!("RSA {bits}"), bits)
        }
        Ok(PublicKey::EC(ec)) => {
            let bits = ec.key_size() as u32;
            let curve = match bits {
                256 => "P-256".to_owned(),
                384 => "P-384".to_owned(),
                521 => "P-521".to_owned(),
                b => format!("{b}-bit curve"),
            };
            (format!("EC {curve}"), bits)
        }
        Ok(PublicKey::DSA(_)) => ("DSA".to_owned(), 0),
        Ok(PublicKey::GostR3410(_) | PublicKey::GostR3410_2012(_)) => ("GOST".to_owned(), 0),
        Ok(PublicKey::Unknown(_)) | Err(_) => {
            let oid = tbs.subject_pki.algorithm.algorithm.to_id_string();
            match oid.as_str() {
                "1.3.101.112" => ("Ed25519".to_owned(), 256),
                "1.3.101.113" => ("Ed448".to_owned(), 456),
                other => (format!("key {other}"), 0),
            }
        }
    };
    let signature =
        x509_parser::objects::oid2sn(&c.signature_algorithm.algorithm, x509_parser::objects::oid_registry())
            .map(str::to_owned)
            .unwrap_or_else(|_| c.signature_algorithm.algorithm.to_id_string());
    let nb = tbs.validity.not_before.timestamp();
    let na = tbs.validity.not_after.timestamp();
    let ca = tbs.basic_constraints().ok().flatten().is_some_and(|b| b.value.ca);
    Ok(CertInfo {
        subject: tbs.subject.to_string(),
        issuer: tbs.issuer.to_string(),
        sans,
        dns_names,
        ip_addresses,
        ca_issuers,
        not_before: rfc3339(nb),
        not_after: rfc3339(na),
        days_left: (na - now_unix()).div_euclid(86_400),
        key,
        key_bits,
        signature,
        self_signed: tbs.subject.as_raw() == tbs.issuer.as_raw(),
        ca,
        sha256: hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref()),
        not_before_unix: nb,
        not_after_unix: na,
        subject_der: tbs.subject.as_raw().to_vec(),
        issuer_der: tbs.issuer.as_raw().to_vec(),
    })
}

/// One problem of a chain, with the failure or warning code it maps to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `tls.cert_expired`, `tls.cert_name_mismatch`, `tls.cert_expiring`, ...
    pub code: ProblemCode,
    /// What was seen, naming the certificate.
    pub message: String,
}

impl Problem {
    fn new(code: &'static Code, message: impl Into<String>) -> Self {
        Problem { code: ProblemCode(code), message: message.into() }
    }
}

/// A [`Problem`]'s code: a table entry that compares with the string results spell, so a
/// problem can be matched on by name, and prints as that name.
#[derive(Clone, Copy)]
pub struct ProblemCode(pub &'static Code);

impl ProblemCode {
    /// Whether this is `code` (the very table entry).
    pub fn is(self, code: &Code) -> bool {
        std::ptr::eq(self.0, code)
    }
}

impl std::ops::Deref for ProblemCode {
    type Target = Code;
    fn deref(&self) -> &Code {
        self.0
    }
}

impl PartialEq for ProblemCode {
    fn eq(&self, other: &Self) -> bool {
        self.is(other.0)
    }
}

impl Eq for ProblemCode {}

impl PartialEq<&str> for ProblemCode {
    fn eq(&self, name: &&str) -> bool {
        self.0.matches(name)
    }
}

impl std::fmt::Debug for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.0.name, f)
    }
}

impl Serialize for ProblemCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name)
    }
}

/// A chain as the server sent it, with every problem found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChainReport {
    /// Each certificate, end-entity first.
    pub certs: Vec<CertInfo>,
    /// Whether the end-entity certificate holds the name connected to.
    pub name_match: bool,
    /// Problems that stop verification (`tls.cert_*`), in order of importance.
    pub errors: Vec<Problem>,
    /// Problems that do not (`tls.cert_expiring`, `tls.weak_key`, `tls.weak_signature`).
    pub warnings: Vec<Problem>,
}

/// Examines a chain (end-entity first) sent for `name` (a DNS name or an IP address); a
/// certificate with fewer than `warn_days` days left draws `tls.cert_expiring`.
pub fn examine(chain: &[impl AsRef<[u8]>], name: &str, warn_days: u32) -> ChainReport {
    let mut r = ChainReport::default();
    for der in chain {
        match analyze(der.as_ref()) {
            Ok(c) => r.certs.push(c),
            Err(e) => r.errors.push(Problem::new(&codes::CERT_INVALID, e)),
        }
    }
    let Some(leaf) = r.certs.first().cloned() else { return r };
    let now = now_unix();
    for (i, c) in r.certs.iter().enumerate() {
        let which = if i == 0 {
            "the server certificate".to_owned()
        } else {
            format!("chain certificate {} ({})", i + 1, c.subject)
        };
        if now > c.not_after_unix {
            r.errors.push(Problem::new(
                &codes::CERT_EXPIRED,
                format!("{which} expired on {} ({} days ago)", c.not_after, -c.days_left),
            ));
        } else if now < c.not_before_unix {
            r.errors
                .push(Problem::new(&codes::CERT_NOT_YET_VALID, format!("{which} is valid only from {}", c.not_before)));
        } else if c.days_left < i64::from(warn_days) {
            r.warnings.push(Problem::new(
                &codes::CERT_EXPIRING,
                format!("{which} expires on {} (in {} days)", c.not_after, c.days_left),
            ));
        }
        let weak = (c.key.starts_with("RSA") || c.key == "DSA") && c.key_bits < 2048
            || c.key.starts_with("EC") && c.key_bits < 256;
        if weak {
            r.warnings.push(Problem::new(&codes::WEAK_KEY, format!("{which} has a weak key: {}", c.key)));
        }
        let sig = c.signature.to_ascii_lowercase();
        if !c.self_signed && (sig.contains("sha1") || sig.contains("md5")) {
            r.warnings.push(Problem::new(&codes::WEAK_SIGNATURE, format!("{which} is signed with {}", c.signature)));
        }
    }
    r.name_match = matches_name(&leaf, name);
    if !r.name_match {
        let presented = if leaf.sans.is_empty() {
            format!("no subjectAltName (subject {})", leaf.subject)
        } else {
            leaf.sans.join(", ")
        };
        r.errors.push(Problem::new(
            &codes::CERT_NAME_MISMATCH,
            format!("the server certificate is not valid for {name:?}: it names {presented}"),
        ));
    }
    for pair in r.certs.windows(2) {
        if pair[0].issuer_der != pair[1].subject_der {
            r.errors.push(Problem::new(
                &codes::CERT_CHAIN_ORDER,
                format!(
                    "{} is followed by {}, which is not its issuer ({})",
                    pair[0].subject, pair[1].subject, pair[0].issuer
                ),
            ));
            break;
        }
    }
    r
}

impl ChainReport {
    /// Why an untrusted chain is untrusted. Servers leave the root out, so a chain that ends
    /// below a root is normal; what tells a missing intermediate from an unknown CA is a lone
    /// leaf whose issuer is neither among the CAs the user named (`anchors`, subject DERs of a
    /// `--ca` file) nor the self-signed end of the chain, or, with the system store, a lone leaf
    /// that names where its issuer lives (AIA caIssuers, which public CAs always set).
    pub fn untrusted(&self, anchors: Option<&[Vec<u8>]>) -> Problem {
        let Some(last) = self.certs.last() else {
            return Problem::new(&codes::CERT_UNKNOWN_CA, "the server sent no certificate");
        };
        if last.self_signed {
            let what = if self.certs.len() == 1 {
                "the server certificate is self-signed and not trusted here"
            } else {
                "the chain ends at a root that is not trusted here"
            };
            return Problem::new(&codes::CERT_UNKNOWN_CA, format!("{what}: {}", last.subject));
        }
        let lone_leaf = self.certs.len() == 1;
        let missing_link = match anchors {
            Some(a) => lone_leaf && !a.contains(&last.issuer_der),
            None => lone_leaf && last.ca_issuers.is_some(),
        };
        if missing_link {
            let fetch = last.ca_issuers.as_deref().map(|u| format!(" (published at {u})")).unwrap_or_default();
            Problem::new(
                &codes::CERT_INCOMPLETE_CHAIN,
                format!(
                    "the server sent its certificate alone, and its issuer {}{fetch} is not a CA trusted here: likely a missing intermediate certificate",
                    last.issuer
                ),
            )
        } else {
            Problem::new(
                &codes::CERT_UNKNOWN_CA,
                format!(
                    "the chain ends at {}, issued by {}, a CA not trusted here (likely a private CA)",
                    last.subject, last.issuer
                ),
            )
        }
    }
}

/// The subject DERs of CA certificates, for [`ChainReport::untrusted`].
pub fn subjects(certs: &[impl AsRef<[u8]>]) -> Vec<Vec<u8>> {
    certs.iter().filter_map(|c| analyze(c.as_ref()).ok()).map(|c| c.subject_der).collect()
}

/// RFC 6125 matching: DNS names case-insensitively with a leftmost `*` label; IP addresses
/// only against IP SANs.
pub fn matches_name(c: &CertInfo, name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if let Ok(ip) = name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return c.ip_addresses.contains(&ip);
    }
    c.dns_names.iter().any(|san| {
        let san = san.trim_end_matches('.').to_ascii_lowercase();
        match san.strip_prefix("*.") {
            // A wildcard stands for one whole leftmost label, under at least two more labels:
            // "*.com" matches nothing (as webpki and browsers agree).
            Some(rest) if rest.contains('.') => {
                name.split_once('.').is_some_and(|(first, tail)| !first.is_empty() && tail == rest)
            }
            Some(_) => false,
            None => san == name,
        }
    })
}

/// A distinguished name from its DER (with or without the outer SEQUENCE), RFC 4514 style.
pub fn name_to_string(der: &[u8]) -> String {
    if let Ok((_, n)) = X509Name::from_der(der) {
        return n.to_string();
    }
    let mut wrapped = vec![0x30];
    let len = der.len();
    if len < 128 {
        wrapped.push(len as u8);
    } else if len < 256 {
        wrapped.extend_from_slice(&[0x81, len as u8]);
    } else {
        wrapped.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    wrapped.extend_from_slice(der);
    match X509Name::from_der(&wrapped) {
        // The parser is lenient: junk can come back as a name with no attribute at all.
        Ok((rest, n)) if rest.is_empty() && n.iter_attributes().next().is_some() => n.to_string(),
        _ => format!("(unparsable name, {} bytes)", der.len()),
    }
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn rfc3339(unix: i64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair};
    use rustls_pki_types::pem::PemObject;

    fn cert(names: &[&str], days: (i64, i64)) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now + time::Duration::days(days.0);
        p.not_after = now + time::Duration::days(days.1);
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_good_self_signed_cert_is_read_fully() {
        let der = cert(&["gw.example", "127.0.0.1"], (-1, 365));
        let c = analyze(&der).unwrap();
        assert!(c.subject.contains("CN=gw.example"), "{}", c.subject);
        assert_eq!(c.sans, ["gw.example", "127.0.0.1"]);
        assert!(c.self_signed);
        assert_eq!(c.key, "EC P-256");
        assert_eq!(c.signature, "ecdsa-with-SHA256");
        assert!((363..=365).contains(&c.days_left), "{}", c.days_left);
        assert_eq!(c.sha256.len(), 64);
        let r = examine(&[der], "gw.example", EXPIRY_WARNING_DAYS);
        assert!(r.name_match && r.errors.is_empty() && r.warnings.is_empty(), "{r:?}");
        assert_eq!(r.untrusted(None).code, "tls.cert_unknown_ca");
    }

    #[test]
    fn every_problem_is_recorded_not_only_the_first() {
        let expired_wrong_name = cert(&["other.example"], (-30, -2));
        let r = examine(&[expired_wrong_name], "gw.example", EXPIRY_WARNING_DAYS);
        let codes: Vec<_> = r.errors.iter().map(|p| p.code).collect();
        assert_eq!(codes, ["tls.cert_expired", "tls.cert_name_mismatch"]);
        assert!(r.errors[1].message.contains("other.example"));
    }

    #[test]
    fn not_yet_valid_and_expiring() {
        let r = examine(&[cert(&["gw"], (2, 30))], "gw", EXPIRY_WARNING_DAYS);
        assert_eq!(r.errors[0].code, "tls.cert_not_yet_valid");
        let r = examine(&[cert(&["gw"], (-300, 9))], "gw", EXPIRY_WARNING_DAYS);
        assert!(r.errors.is_empty());
        assert!(examine(&[cert(&["gw"], (-300, 9))], "gw", 5).warnings.is_empty(), "a shorter threshold is honoured");
        assert_eq!(r.warnings[0].code, "tls.cert_expiring");
        assert!(
            r.warnings[0].message.contains("in 8 days") || r.warnings[0].message.contains("in 9 days"),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn names_match_like_rfc6125() {
        let c = analyze(&cert(&["*.example.com", "10.0.0.5"], (-1, 10))).unwrap();
        assert!(matches_name(&c, "gw.example.com"));
        assert!(matches_name(&c, "GW.Example.com."));
        assert!(!matches_name(&c, "example.com"), "a wildcard covers one label");
        assert!(!matches_name(&c, "a.b.example.com"));
        assert!(matches_name(&c, "10.0.0.5"));
        assert!(!matches_name(&c, "10.0.0.6"));
        let c = analyze(&cert(&["*.com"], (-1, 10))).unwrap();
        assert!(!matches_name(&c, "example.com"), "a wildcard needs two labels under it");
    }

    #[test]
    fn an_ip_address_matches_only_an_ip_san() {
        // Plant equipment often puts its address in a DNS-name SAN; TLS does not accept that.
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.subject_alt_names.push(rcgen::SanType::DnsName("127.0.0.1".try_into().unwrap()));
        let c = analyze(p.self_signed(&key).unwrap().der()).unwrap();
        assert_eq!(c.sans, ["127.0.0.1"]);
        assert!(!matches_name(&c, "127.0.0.1"));
    }

    #[test]
    fn an_incomplete_chain_is_told_from_an_unknown_root() {
        let pki = ca_and_leaf();
        // A lone leaf whose issuer is not among the CAs the user named: a missing link.
        let other_root = cert(&["other root"], (-1, 10));
        let r = examine(std::slice::from_ref(&pki.1), "gw.example", EXPIRY_WARNING_DAYS);
        let anchors = subjects(&[other_root]);
        assert_eq!(r.untrusted(Some(&anchors)).code, "tls.cert_incomplete_chain");
        assert!(r.untrusted(Some(&anchors)).message.contains("portproof test CA"));
        // The same lone leaf under the system store, with no AIA: most likely a private CA.
        assert_eq!(r.untrusted(None).code, "tls.cert_unknown_ca");
        assert!(r.untrusted(None).message.contains("likely a private CA"));
        let r = examine(&[pki.1, pki.0], "gw.example", EXPIRY_WARNING_DAYS);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.untrusted(None).code, "tls.cert_unknown_ca");
    }

    #[test]
    fn a_chain_out_of_order_is_named() {
        let (ca, leaf) = ca_and_leaf();
        let r = examine(&[ca, leaf], "gw.example", EXPIRY_WARNING_DAYS);
        assert!(r.errors.iter().any(|p| p.code == "tls.cert_chain_order"), "{:?}", r.errors);
    }

    #[test]
    fn a_weak_key_and_a_sha1_signature_warn() {
        let pem = include_str!("fixtures/rsa1024-sha1-chain.pem");
        let chain: Vec<Vec<u8>> =
            rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()).map(|c| c.unwrap().to_vec()).collect();
        assert_eq!(chain.len(), 2);
        let r = examine(&chain, "weak.example", EXPIRY_WARNING_DAYS);
        assert_eq!(r.certs[0].key, "RSA 1024");
        assert_eq!(r.certs[0].signature, "sha1WithRSAEncryption");
        let codes: Vec<_> = r.warnings.iter().map(|w| w.code).collect();
        assert_eq!(codes, ["tls.weak_key", "tls.weak_signature"], "{:?}", r.warnings);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let r = examine(&[vec![0x30, 0x03, 1, 2, 3]], "x", EXPIRY_WARNING_DAYS);
        assert_eq!(r.errors[0].code, "tls.cert_invalid");
        assert_eq!(name_to_string(&[1, 2, 3]), "(unparsable name, 3 bytes)");
    }

    fn ca_and_leaf() -> (Vec<u8>, Vec<u8>) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name.push(DnType::CommonName, "portproof test CA");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["gw.example".to_string()]).unwrap();
        leaf.distinguished_name.push(DnType::CommonName, "gw.example");
        let leaf_cert = leaf.signed_by(&key, &issuer).unwrap();
        (ca_cert.der().to_vec(), leaf_cert.der().to_vec())
    }
}
