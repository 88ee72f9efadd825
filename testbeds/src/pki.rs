//! A throwaway PKI made at run time: a CA, a server certificate for the loopback names, and a
//! client certificate, so TLS testbeds never ship keys and never expire.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate with its key, in DER and PEM.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The PKCS#8 private key, DER.
    pub key_der: Vec<u8>,
    /// The private key, PEM.
    pub key_pem: String,
}

impl Identity {
    /// The key in the form rustls takes.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// A CA with one server and one client certificate.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The root CA.
    pub ca: Identity,
    /// Server certificate for `localhost`, `127.0.0.1` and `::1`, signed by the CA.
    pub server: Identity,
    /// Client certificate (CN `portproof-test-client`), signed by the CA.
    pub client: Identity,
}

/// Paths of a PKI written to disk, for command-line tests.
#[derive(Debug, Clone)]
pub struct PkiFiles {
    /// The CA certificate.
    pub ca: PathBuf,
    /// The client certificate.
    pub client_cert: PathBuf,
    /// The client key.
    pub client_key: PathBuf,
}

impl Pki {
    /// Makes a fresh CA and its two leaf certificates.
    pub fn new() -> Self {
        let ca_key = KeyPair::generate().expect("key generation");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.distinguished_name.push(DnType::CommonName, "portproof testbed CA");
        ca_params.distinguished_name.push(DnType::OrganizationName, "portproof");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-signed CA");
        let ca = identity(ca_cert.der().clone(), ca_cert.pem(), &ca_key);
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().expect("key generation");
        let mut sp = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        sp.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().expect("ip")));
        sp.subject_alt_names.push(SanType::IpAddress("::1".parse().expect("ip")));
        sp.distinguished_name.push(DnType::CommonName, "localhost");
        sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = sp.signed_by(&server_key, &issuer).expect("server cert");
        let server = identity(server_cert.der().clone(), server_cert.pem(), &server_key);

        let client_key = KeyPair::generate().expect("key generation");
        let mut cp = CertificateParams::new(Vec::<String>::new()).expect("params");
        cp.distinguished_name.push(DnType::CommonName, "portproof-test-client");
        cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = cp.signed_by(&client_key, &issuer).expect("client cert");
        let client = identity(client_cert.der().clone(), client_cert.pem(), &client_key);
        Pki { ca, server, client }
    }

    /// A server configuration presenting the server certificate (and the CA, as a full chain).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let mut c = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.server.cert_der.clone(), self.ca.cert_der.clone()], self.server.key())
            .expect("server identity");
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(c)
    }

    /// A server configuration that demands a client certificate signed by this CA.
    pub fn mtls_server_config(&self) -> Arc<ServerConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.cert_der.clone()).expect("CA");
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).build().expect("client verifier");
        let c = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.server.cert_der.clone(), self.ca.cert_der.clone()], self.server.key())
            .expect("server identity");
        Arc::new(c)
    }

    /// Writes the CA and the client identity as PEM files into `dir`.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<PkiFiles> {
        let files = PkiFiles {
            ca: dir.join("ca.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
        };
        std::fs::write(&files.ca, &self.ca.cert_pem)?;
        std::fs::write(&files.client_cert, &self.client.cert_pem)?;
        std::fs::write(&files.client_key, &self.client.key_pem)?;
        Ok(files)
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

fn identity(der: CertificateDer<'static>, pem: String, key: &KeyPair) -> Identity {
    Identity { cert_der: der, cert_pem: pem, key_der: key.serialize_der(), key_pem: key.serialize_pem() }
}

/// The crypto provider of every testbed TLS server.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
