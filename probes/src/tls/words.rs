//! rustls's and webpki's errors in words. Their `Display` embeds `Debug` names
//! (`Other(OtherError(CaUsedAsEndEntity))`, `received corrupt message of type
//! InvalidContentType`), which a person cannot act on; every error the engine can meet is
//! said here in a sentence instead, and the engine's diagnosis adds the code and the hint.

use rustls::{CertRevocationListError, CertificateError, EncryptedClientHelloError, InconsistentKeys};

/// A CamelCase identifier as lowercase words: `NoKxGroupsInCommon` -> `no kx groups in common`.
/// rustls adds `PeerMisbehaved` and `PeerIncompatible` variants in minor releases (there are
/// about a hundred): their names are descriptive, and this keeps a new one readable instead
/// of falling back to its `Debug` form.
pub fn decamel(ident: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = ident.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit() || (p.is_uppercase() && next_lower));
        let digit_start = c.is_ascii_digit() && prev.is_some_and(|p| p.is_alphabetic());
        if boundary || digit_start {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// The variant name of a value's `Debug` form, in words (`MissingData("x")` -> `missing data`).
fn variant_words(v: &impl std::fmt::Debug) -> String {
    let debug = format!("{v:?}");
    let ident: String = debug.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    decamel(&ident)
}

/// What went wrong, in a sentence a person can act on, for every error of rustls 0.23.
pub fn rustls_words(e: &rustls::Error) -> String {
    use rustls::Error as E;
    match e {
        E::InappropriateMessage { expect_types, got_type } => format!(
            "the server sent a {} record where TLS expects {}",
            variant_words(got_type),
            expect_types.iter().map(variant_words).collect::<Vec<_>>().join(" or ")
        ),
        E::InappropriateHandshakeMessage { expect_types, got_type } => format!(
            "the server sent the handshake message {} where TLS expects {}",
            variant_words(got_type),
            expect_types.iter().map(variant_words).collect::<Vec<_>>().join(" or ")
        ),
        E::InvalidEncryptedClientHello(ech) => match ech {
            EncryptedClientHelloError::InvalidConfigList => "the encrypted ClientHello configuration is invalid".into(),
            EncryptedClientHelloError::NoCompatibleConfig => {
                "no encrypted ClientHello configuration fits this client".into()
            }
            EncryptedClientHelloError::SniRequired => "an encrypted ClientHello needs a server name".into(),
            other => format!("encrypted ClientHello: {}", variant_words(other)),
        },
        E::InvalidMessage(m) => format!("the server sent a malformed TLS message ({})", variant_words(m)),
        E::NoCertificatesPresented => "the server sent no certificate".into(),
        E::UnsupportedNameType => "the server name is of a type TLS cannot carry".into(),
        E::DecryptError => {
            "a record from the server did not decrypt: it was damaged on the way or the server's TLS stack is broken"
                .into()
        }
        E::EncryptError => "this client could not encrypt a record".into(),
        E::PeerIncompatible(p) => incompatible_words(p),
        E::PeerMisbehaved(p) => format!("the server broke the TLS protocol: {}", variant_words(p)),
        E::AlertReceived(a) => {
            format!("the server ended the handshake with alert {}", crate::sniff::alert_name(u8::from(*a)))
        }
        E::InvalidCertificate(c) => certificate_words(c),
        E::InvalidCertRevocationList(c) => format!("a certificate revocation list is unusable: {}", crl_words(c)),
        E::General(s) => format!("the TLS library failed: {s}"),
        E::FailedToGetCurrentTime => "this machine's clock could not be read, so no certificate can be checked".into(),
        E::FailedToGetRandomBytes => "this machine gave no random bytes for the handshake".into(),
        E::HandshakeNotComplete => "the session ended before the handshake completed".into(),
        E::PeerSentOversizedRecord => "the server sent a TLS record larger than the protocol allows".into(),
        E::NoApplicationProtocol => "the server accepts none of the offered ALPN protocols".into(),
        E::BadMaxFragmentSize => "the maximum fragment size configured here is out of range".into(),
        E::InconsistentKeys(k) => match k {
            InconsistentKeys::KeyMismatch => "the client private key does not fit the client certificate".into(),
            InconsistentKeys::Unknown => {
                "the client key and certificate could not be checked against each other".into()
            }
            other => format!("client key and certificate: {}", variant_words(other)),
        },
        E::Other(o) => other_words(o),
        other => format!("the TLS library failed: {}", variant_words(other)),
    }
}

fn incompatible_words(p: &rustls::PeerIncompatible) -> String {
    use rustls::PeerIncompatible as P;
    let what = match p {
        P::NoCipherSuitesInCommon => "the server shares no cipher suite with this client".into(),
        P::NoKxGroupsInCommon => "the server shares no key-exchange group with this client".into(),
        P::NoSignatureSchemesInCommon => "the server shares no signature scheme with this client".into(),
        P::ServerDoesNotSupportTls12Or13 | P::Tls12NotOffered | P::Tls12NotOfferedOrEnabled => {
            "the server speaks neither TLS 1.2 nor TLS 1.3".into()
        }
        P::ExtendedMasterSecretExtensionRequired => {
            "the server does not support the extended master secret (RFC 7627), which this client requires for TLS 1.2"
                .into()
        }
        P::NoCertificateRequestSignatureSchemesInCommon => {
            "the server asks for a client certificate signed with schemes this client's key cannot make".into()
        }
        other => variant_words(other),
    };
    format!("the server's TLS is incompatible with this client's: {what}")
}

/// A certificate error in words. The engine's diagnosis usually says more from the chain
/// itself (dates, names, issuers); these words stand when it cannot.
pub fn certificate_words(c: &CertificateError) -> String {
    use CertificateError as C;
    #[allow(deprecated)]
    match c {
        C::BadEncoding => "a certificate of the server's chain does not parse (bad DER encoding)".into(),
        C::Expired | C::ExpiredContext { .. } => "the server certificate has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "the server certificate is not valid yet".into(),
        C::Revoked => "the server certificate has been revoked".into(),
        C::UnhandledCriticalExtension => {
            "a certificate of the server's chain carries a critical extension this client does not understand".into()
        }
        C::UnknownIssuer => "the server's chain does not lead to a CA trusted here".into(),
        C::UnknownRevocationStatus => "the revocation status of the server certificate is unknown".into(),
        C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => {
            "the certificate revocation list has expired".into()
        }
        C::BadSignature => "a signature in the server's chain does not verify".into(),
        C::UnsupportedSignatureAlgorithm
        | C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "a certificate of the server's chain is signed with an algorithm this client does not accept".into()
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "the server certificate is not valid for the name connected to".into()
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "the server certificate is not issued for server authentication (its extendedKeyUsage lacks serverAuth)"
                .into()
        }
        C::InvalidOcspResponse => "the server's stapled OCSP response is invalid".into(),
        C::ApplicationVerificationFailure => "the certificate was refused by this client's own rules".into(),
        C::Other(o) => other_words(o),
        other => format!("the server certificate failed verification: {}", variant_words(other)),
    }
}

fn crl_words(c: &CertRevocationListError) -> String {
    match c {
        CertRevocationListError::Other(o) => other_words(o),
        other => variant_words(other),
    }
}

/// `Other` carries webpki's own errors (those rustls has no variant for) or a custom
/// verifier's; webpki's are worded, anything else keeps its own text.
fn other_words(o: &rustls::OtherError) -> String {
    match o.0.downcast_ref::<webpki::Error>() {
        Some(w) => webpki_words(w),
        None => {
            let text = o.0.to_string();
            if text.contains(' ') { text } else { decamel(&text) }
        }
    }
}

/// webpki's errors in words (those rustls passes through as `Other`).
pub fn webpki_words(w: &webpki::Error) -> String {
    use webpki::Error as W;
    match w {
        W::CaUsedAsEndEntity => {
            "the server certificate is a CA certificate (basicConstraints CA:TRUE) used as the server's own".into()
        }
        W::EndEntityUsedAsCa => {
            "a certificate of the server's chain that is not a CA (no basicConstraints CA:TRUE) signed another".into()
        }
        W::CertDistrusted => "a certificate of the server's chain is distrusted".into(),
        W::PathLenConstraintViolated => "the chain is longer than a CA's pathLenConstraint allows below it".into(),
        W::NameConstraintViolation => "the server certificate names a host its CA's name constraints forbid".into(),
        W::MaximumPathDepthExceeded | W::MaximumPathBuildCallsExceeded | W::MaximumSignatureChecksExceeded => {
            "the server's chain is too long or too tangled to verify".into()
        }
        W::EmptyEkuExtension => "the server certificate has an empty extendedKeyUsage extension".into(),
        W::UnsupportedCertVersion => "a certificate of the server's chain is not an X.509 version 3 certificate".into(),
        W::UnsupportedCriticalExtension => {
            "a certificate of the server's chain carries a critical extension this client does not understand".into()
        }
        W::InvalidSerialNumber => "a certificate of the server's chain has an invalid serial number".into(),
        W::MalformedDnsIdentifier | W::MalformedNameConstraint | W::MalformedExtensions | W::ExtensionValueInvalid => {
            format!("a certificate of the server's chain is malformed: {}", variant_words(w))
        }
        W::SignatureAlgorithmMismatch => {
            "a certificate's signature algorithm differs from the one its body names".into()
        }
        other => format!("the server certificate failed verification: {}", variant_words(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_read_as_words() {
        assert_eq!(decamel("NoKxGroupsInCommon"), "no kx groups in common");
        assert_eq!(decamel("ServerDoesNotSupportTls12Or13"), "server does not support tls 12 or 13");
        assert_eq!(decamel("CaUsedAsEndEntity"), "ca used as end entity");
        assert_eq!(decamel("InvalidCcs"), "invalid ccs");
        assert_eq!(variant_words(&rustls::InvalidMessage::MissingData("x")), "missing data");
    }
}
