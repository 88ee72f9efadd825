//! The stranger's certificate: a client identity from a CA made in this process, which no
//! server can know. A server that asks for client certificates and lets this one in does not
//! verify them (OpenSSL's `s_server` without `-verify_return_error`, nginx's
//! `ssl_verify_client optional_no_ca`): anyone with any certificate gets in.

use std::sync::{Arc, OnceLock};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::provider;

/// The common name of the throwaway CA, so that a server's log says what knocked.
pub const CA_NAME: &str = "portproof throwaway CA";

/// The stranger's identity, made once per process: an EC P-256 leaf for client
/// authentication, signed by a fresh CA whose key is dropped with it, so nothing it signed
/// can ever be trusted by anyone. `None` only if key generation fails.
pub fn identity() -> Option<Arc<CertifiedKey>> {
    static ID: OnceLock<Option<Arc<CertifiedKey>>> = OnceLock::new();
    ID.get_or_init(make).clone()
}

fn make() -> Option<Arc<CertifiedKey>> {
    let ca_key = KeyPair::generate().ok()?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).ok()?;
    ca.distinguished_name.push(DnType::CommonName, CA_NAME);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().ok()?;
    let mut leaf = CertificateParams::new(Vec::<String>::new()).ok()?;
    leaf.distinguished_name.push(DnType::CommonName, "portproof stranger");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = leaf.signed_by(&key, &issuer).ok()?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    CertifiedKey::from_der(vec![cert.der().clone()], der, &provider()).ok().map(Arc::new)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stranger_is_made_once_and_names_its_ca() {
        let a = super::identity().expect("an identity");
        let b = super::identity().expect("an identity");
        assert!(std::sync::Arc::ptr_eq(&a, &b));
        let info = crate::tls::cert::examine(&a.cert, "x", 0);
        assert!(info.certs[0].issuer.contains("throwaway"), "{}", info.certs[0].issuer);
        assert!(!info.certs[0].ca);
    }
}
