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

/// A server certificate with one flaw, for each way verification can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// Valid until yesterday.
    Expired,
    /// Valid from tomorrow.
    NotYetValid,
    /// Valid for `wrong.example` only.
    WrongHost,
    /// Signed by itself, not by the CA.
    SelfSigned,
    /// Signed by an intermediate CA that the server does not send.
    MissingIntermediate,
    /// Valid, but for 10 more days only.
    ExpiringSoon,
}

/// A CA with one server and one client certificate.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The root CA.
    pub ca: Identity,
    ca_params: CertificateParams,
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
        let issuer = Issuer::new(ca_params.clone(), ca_key);

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
        Pki { ca, ca_params, server, client }
    }

    fn issuer(&self) -> Issuer<'static, KeyPair> {
        let key = KeyPair::try_from(self.ca.key_der.as_slice()).expect("our own CA key");
        Issuer::new(self.ca_params.clone(), key)
    }

    /// A server configuration whose certificate has `flaw` (and whose chain includes the CA,
    /// except where the flaw is the missing link).
    pub fn flawed_config(&self, flaw: Flaw) -> Arc<ServerConfig> {
        let (chain, key) = self.flawed_chain(flaw);
        let chain = chain.into_iter().map(|(der, _)| der).collect();
        let k = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let c = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, k)
            .expect("server identity");
        Arc::new(c)
    }

    /// The chain and key of [`Pki::flawed_config`] as PEM, for a real server to present.
    pub fn flawed_pem(&self, flaw: Flaw) -> (String, String) {
        let (chain, key) = self.flawed_chain(flaw);
        (chain.into_iter().map(|(_, pem)| pem).collect(), key.serialize_pem())
    }

    /// The flawed chain (each certificate in DER and PEM) and its key.
    fn flawed_chain(&self, flaw: Flaw) -> (Vec<(CertificateDer<'static>, String)>, KeyPair) {
        let now = time::OffsetDateTime::now_utc();
        let day = time::Duration::days(1);
        let mut names = vec!["localhost".to_string()];
        let mut window = (now - day, now + 365 * day);
        match flaw {
            Flaw::Expired => window = (now - 30 * day, now - day),
            Flaw::NotYetValid => window = (now + day, now + 30 * day),
            Flaw::WrongHost => names = vec!["wrong.example".to_string()],
            Flaw::ExpiringSoon => window = (now - 300 * day, now + 10 * day + time::Duration::hours(1)),
            Flaw::SelfSigned | Flaw::MissingIntermediate => {}
        }
        let key = KeyPair::generate().expect("key generation");
        let mut p = CertificateParams::new(names.clone()).expect("params");
        if flaw != Flaw::WrongHost {
            p.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().expect("ip")));
        }
        p.distinguished_name.push(DnType::CommonName, names[0].as_str());
        p.not_before = window.0;
        p.not_after = window.1;
        let chain = match flaw {
            Flaw::SelfSigned => vec![both(p.self_signed(&key).expect("self-signed"))],
            Flaw::MissingIntermediate => {
                let mid_key = KeyPair::generate().expect("key generation");
                let mut mid = CertificateParams::new(Vec::<String>::new()).expect("params");
                mid.distinguished_name.push(DnType::CommonName, "portproof testbed intermediate CA");
                mid.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                mid.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
                mid.signed_by(&mid_key, &self.issuer()).expect("intermediate");
                let mid_issuer = Issuer::new(mid, mid_key);
                // Only the leaf is sent: the intermediate is the missing link.
                vec![both(p.signed_by(&key, &mid_issuer).expect("leaf"))]
            }
            _ => vec![
                both(p.signed_by(&key, &self.issuer()).expect("leaf")),
                (self.ca.cert_der.clone(), self.ca.cert_pem.clone()),
            ],
        };
        (chain, key)
    }

    /// A server configuration speaking only `versions` (`rustls::version::TLS12`, `TLS13`).
    pub fn versions_config(&self, versions: &[&'static rustls::SupportedProtocolVersion]) -> Arc<ServerConfig> {
        let c = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.server.cert_der.clone(), self.ca.cert_der.clone()], self.server.key())
            .expect("server identity");
        Arc::new(c)
    }

    /// A server configuration that asks for a client certificate but lets clients in without.
    pub fn optional_mtls_config(&self) -> Arc<ServerConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.cert_der.clone()).expect("CA");
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .allow_unauthenticated()
            .build()
            .expect("client verifier");
        let c = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.server.cert_der.clone(), self.ca.cert_der.clone()], self.server.key())
            .expect("server identity");
        Arc::new(c)
    }

    /// A server configuration that demands a client certificate and lets any certificate in,
    /// from whatever CA: OpenSSL's `s_server -Verify` without `-verify_return_error`, or a
    /// gateway that "requires" certificates but never checks them. It names no CA, as TLS 1.3
    /// servers often do not.
    pub fn careless_mtls_config(&self) -> Arc<ServerConfig> {
        let c = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_client_cert_verifier(Arc::new(Careless))
            .with_single_cert(vec![self.server.cert_der.clone(), self.ca.cert_der.clone()], self.server.key())
            .expect("server identity");
        Arc::new(c)
    }

    /// A self-signed server certificate for `names` (not a CA: rcgen's default), and a server
    /// presenting it alone: what `--ca` pins when it is given this very certificate.
    pub fn self_signed_config(names: &[&str]) -> (Arc<ServerConfig>, String) {
        let key = KeyPair::generate().expect("key generation");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        for n in names {
            p.subject_alt_names.push(match n.parse() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*n).try_into().expect("a DNS name")),
            });
        }
        p.distinguished_name.push(DnType::CommonName, names[0]);
        let cert = p.self_signed(&key).expect("self-signed");
        let k = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let c = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], k)
            .expect("server identity");
        (Arc::new(c), cert.pem())
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
        self.mtls_config_with(rustls::DEFAULT_VERSIONS)
    }

    /// Like [`Pki::mtls_server_config`], speaking only `versions`: a TLS 1.2 server refuses a
    /// missing client certificate inside the handshake, a TLS 1.3 one after it.
    pub fn mtls_config_with(&self, versions: &[&'static rustls::SupportedProtocolVersion]) -> Arc<ServerConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.cert_der.clone()).expect("CA");
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).build().expect("client verifier");
        let c = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
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

fn both(c: rcgen::Certificate) -> (CertificateDer<'static>, String) {
    (c.der().clone(), c.pem())
}

fn identity(der: CertificateDer<'static>, pem: String, key: &KeyPair) -> Identity {
    Identity { cert_der: der, cert_pem: pem, key_der: key.serialize_der(), key_pem: key.serialize_pem() }
}

/// The crypto provider of every testbed TLS server.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client-certificate verifier that asks, demands one, and takes any.
#[derive(Debug)]
struct Careless;

impl rustls::server::danger::ClientCertVerifier for Careless {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &provider().signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &provider().signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        provider().signature_verification_algorithms.supported_schemes()
    }
}
