//! The TLS engine every probe shares: `over: tls`, HTTPS, and later the STARTTLS-style upgrades.
//!
//! The handshake runs on rustls 0.23 with a [`RecordingVerifier`], so what verification found is
//! known even when `insecure: true` lets the handshake go on. Failures are diagnosed into stable
//! codes (`tls.not_tls`, `tls.cert_expired`, `tls.cert_name_mismatch`, `tls.alert.<name>`, ...).
//! The deep diagnosis (raw ClientHello scanning, chain analysis, client-certificate requests)
//! grows here.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::net::{Conn, ReadLimitExceeded, Tape};
use crate::sniff;
use crate::{Failure, Phase, ProbeCx, TlsOptions};

/// The crypto provider for every handshake: ring, so the build needs no C toolchain beyond cc.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    static P: OnceLock<Arc<rustls::crypto::CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

/// The system's trust store, read once: parsing it costs milliseconds we should not pay per probe.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            Arc::new(roots)
        })
        .clone()
}

/// Reads every certificate of a PEM file; an empty file is an error, not an empty trust store.
pub fn load_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, Failure> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| Failure::config(format!("cannot read {what} {}: {e}", path.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::config(format!("{what} {} is not valid PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Failure::config(format!("{what} {} holds no PEM certificate", path.display())));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, Failure> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| Failure::config(format!("cannot read a private key from {}: {e}", path.display())))
}

/// What the verifier saw: the server chain and the verdict of verification.
#[derive(Debug, Default)]
pub struct VerifyLog {
    /// The chain as the server sent it, end-entity first.
    pub chain: Vec<CertificateDer<'static>>,
    /// Why verification failed, if it did.
    pub error: Option<rustls::Error>,
}

/// A verifier that records the chain and the verdict, and lets the handshake go on when the
/// target says `insecure: true`, so the verdict is reported instead of ending the probe.
#[derive(Debug)]
pub struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    insecure: bool,
    log: Mutex<VerifyLog>,
}

impl RecordingVerifier {
    /// Takes what was recorded.
    pub fn take_log(&self) -> VerifyLog {
        std::mem::take(&mut *self.log.lock().expect("verify log"))
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        let mut log = self.log.lock().expect("verify log");
        log.chain = std::iter::once(end_entity).chain(intermediates).map(|c| c.clone().into_owned()).collect();
        log.error = verdict.as_ref().err().cloned();
        match verdict {
            Err(_) if self.insecure => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Builds the client configuration for `opts`: trust roots, client identity, ALPN.
pub fn client_config(
    opts: &TlsOptions,
    alpn: &[&[u8]],
) -> Result<(Arc<ClientConfig>, Arc<RecordingVerifier>), Failure> {
    let roots = match &opts.ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in load_certs(path, "CA file")? {
                roots
                    .add(cert)
                    .map_err(|e| Failure::config(format!("CA file {}: unusable certificate: {e}", path.display())))?;
            }
            Arc::new(roots)
        }
        None => system_roots(),
    };
    let inner = WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| Failure::config(format!("no usable trust anchors: {e}")))?;
    let verifier = Arc::new(RecordingVerifier { inner, insecure: opts.insecure, log: Mutex::default() });
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::config(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone());
    let mut config = match (&opts.client_cert, &opts.client_key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(load_certs(cert, "client certificate")?, load_key(key)?)
            .map_err(|e| Failure::config(format!("client certificate {} and key do not fit: {e}", cert.display())))?,
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(Failure::config("client_cert and client_key go together: give both or neither")),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok((Arc::new(config), verifier))
}

/// Checks TLS settings before any I/O: files readable, key and certificate given together.
pub fn validate(opts: &TlsOptions) -> Result<(), Failure> {
    client_config(opts, &[]).map(|_| ())
}

/// The name to send in SNI and verify: `sni` if given, else the host.
pub fn server_name(opts: &TlsOptions, host: &str) -> Result<ServerName<'static>, Failure> {
    let name = opts.sni.as_deref().unwrap_or(host);
    ServerName::try_from(name.to_owned())
        .map_err(|_| Failure::config(format!("{name:?} is neither a DNS name nor an IP address usable for TLS")))
}

/// Runs the TLS handshake on `conn` (phase `tls`), recording version, cipher suite, ALPN and
/// the verification verdict in the facts.
pub async fn handshake<S>(
    cx: &mut ProbeCx,
    conn: Conn<S>,
    host: &str,
    opts: &TlsOptions,
    alpn: &[&[u8]],
) -> Result<TlsStream<Conn<S>>, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (config, verifier) = client_config(opts, alpn)?;
    let name = server_name(opts, host)?;
    cx.phase(Phase::Tls);
    let tape = conn.tape();
    let result = TlsConnector::from(config).connect(name.clone(), conn).await;
    let log = verifier.take_log();
    if !log.chain.is_empty() {
        cx.fact("tls_chain_length", log.chain.len());
    }
    match result {
        Ok(stream) => {
            let (_, session) = stream.get_ref();
            if let Some(v) = session.protocol_version().and_then(|v| v.as_str()) {
                cx.fact("tls_version", v);
            }
            if let Some(c) = session.negotiated_cipher_suite().and_then(|c| c.suite().as_str()) {
                cx.fact("tls_cipher", c);
            }
            if let Some(p) = session.alpn_protocol() {
                cx.fact("tls_alpn", String::from_utf8_lossy(p).into_owned());
            }
            cx.fact("tls_verified", log.error.is_none());
            if let Some(e) = &log.error {
                let f = diagnose_rustls(e, &name);
                cx.warn("tls.unverified", format!("insecure: true let an unverified certificate pass: {}", f.message));
            }
            Ok(stream)
        }
        Err(e) => Err(diagnose(&e, &name, &tape, cx)),
    }
}

/// Turns a handshake error into a failure with a stable code, naming what the peer sent.
pub fn diagnose(e: &io::Error, name: &ServerName<'_>, tape: &Tape, cx: &mut ProbeCx) -> Failure {
    let head = tape.head();
    if let Some(inner) = e.get_ref() {
        if let Some(re) = inner.downcast_ref::<rustls::Error>() {
            if is_garbled(re) {
                return not_tls(&head, cx);
            }
            return diagnose_rustls(re, name);
        }
        if let Some(lim) = inner.downcast_ref::<ReadLimitExceeded>() {
            return Failure::new("tls.oversized", Phase::Tls, lim.to_string());
        }
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof if head.is_empty() => Failure::new(
            "tls.no_response",
            Phase::Tls,
            "the peer closed the connection after our ClientHello without a word",
        )
        .hint(
            "the port is not a TLS port, or it refuses this client before the handshake (IP allow-list, SNI routing)",
        ),
        io::ErrorKind::UnexpectedEof if sniff::identify(&head).is_some_and(|h| h.protocol != "tls") => {
            not_tls(&head, cx)
        }
        io::ErrorKind::UnexpectedEof => {
            Failure::new("tls.closed", Phase::Tls, "the peer closed the connection during the handshake")
        }
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
            Failure::new("tls.reset", Phase::Tls, format!("the peer reset the connection during the handshake ({e})"))
                .hint("a firewall, a load balancer or the server's own rules dropped the handshake")
        }
        _ => Failure::new("tls.error", Phase::Tls, format!("TLS handshake: {e}")),
    }
}

/// Errors that mean the bytes we got were not TLS records at all.
fn is_garbled(e: &rustls::Error) -> bool {
    matches!(e, rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. })
}

fn not_tls(head: &[u8], cx: &mut ProbeCx) -> Failure {
    match sniff::identify(head) {
        Some(h) if h.protocol != "tls" => {
            cx.identify(h.protocol);
            let hint = if h.protocol == "http" {
                "this port speaks plain HTTP: use expect: http without TLS, or point the check at the HTTPS port"
            } else {
                "this port speaks another protocol: check the port number"
            };
            Failure::new(
                "tls.not_tls",
                Phase::Tls,
                format!("the peer answered our ClientHello in {}: {}", h.protocol, h.detail),
            )
            .hint(hint)
        }
        _ => Failure::new(
            "tls.not_tls",
            Phase::Tls,
            format!("the peer answered our ClientHello with bytes that are not TLS: {}", sniff::describe(head)),
        )
        .hint("this port speaks something other than TLS: check the port number"),
    }
}

/// The failure for a rustls error: certificate problems and alerts by name.
pub fn diagnose_rustls(e: &rustls::Error, name: &ServerName<'_>) -> Failure {
    let name = name.to_str();
    let f = |code: &str, msg: String| Failure::new(code, Phase::Tls, msg);
    match e {
        rustls::Error::InvalidCertificate(ce) => match ce {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                f("tls.cert_expired", format!("the server certificate has expired ({ce:?})"))
                    .hint("renew the server certificate and restart the service")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                f("tls.cert_not_yet_valid", format!("the server certificate is not valid yet ({ce:?})"))
                    .hint("check the clocks of this machine and of the server, or the certificate's notBefore")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                f("tls.cert_name_mismatch", format!("the server certificate is not valid for {name:?} ({ce:?})")).hint(
                    "connect with a name the certificate holds (tls.sni), or reissue the certificate with this name",
                )
            }
            CertificateError::UnknownIssuer => f(
                "tls.cert_unknown_ca",
                "the server certificate is not signed by a trusted CA (self-signed or private CA)".into(),
            )
            .hint(
                "give the issuing CA with --ca FILE (tls.ca in a manifest), or install a publicly trusted certificate",
            ),
            other => f("tls.cert_invalid", format!("the server certificate failed verification: {other:?}")),
        },
        rustls::Error::AlertReceived(alert) => {
            let code = u8::from(*alert);
            let alert_name = sniff::alert_name(code);
            match alert_name {
                "certificate_required" => f(
                    "tls.client_cert_required",
                    "the server requires a client certificate and none was given (alert certificate_required)".into(),
                )
                .hint("give a client identity with --client-cert FILE --client-key FILE"),
                "protocol_version" => {
                    f("tls.protocol_version", "the server accepts none of our TLS versions (1.2, 1.3)".into()).hint(
                        "the server may only speak TLS 1.0/1.1, which are obsolete: upgrade its TLS configuration",
                    )
                }
                "unrecognized_name" => {
                    f("tls.sni_required", format!("the server does not know the name {name:?} (unrecognized_name)"))
                        .hint("set tls.sni to a name the server serves")
                }
                _ => f(
                    &format!("tls.alert.{alert_name}"),
                    format!("the server ended the handshake with alert {alert_name} ({code})"),
                ),
            }
        }
        rustls::Error::PeerIncompatible(p) => {
            f("tls.incompatible", format!("the server's TLS is incompatible with ours: {p:?}"))
        }
        rustls::Error::NoApplicationProtocol => {
            f("tls.alpn", "the server accepts none of the offered ALPN protocols".into())
        }
        other => f("tls.error", format!("TLS handshake: {other}")),
    }
}
