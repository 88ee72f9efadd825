//! The TLS engine every probe shares: `over: tls`, HTTPS, and later the STARTTLS-style upgrades.
//!
//! The handshake runs on rustls 0.23 with a [`RecordingVerifier`], so what verification found is
//! known even when `insecure: true` lets the handshake go on. Failures are diagnosed into stable
//! codes (`tls.not_tls`, `tls.cert_expired`, `tls.cert_name_mismatch`, `tls.alert.<name>`, ...).
//! The deep diagnosis (raw ClientHello scanning, chain analysis, client-certificate requests)
//! grows here.

pub mod cert;
pub mod codes;
pub mod probe;
pub mod scan;
pub mod sslmode;
pub use sslmode::SslMode;

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::codes::{Code, core};
use crate::net::{Conn, ReadLimitExceeded, Tape};
use crate::sniff;
use crate::{Facts, Failure, Phase, ProbeCx, TlsOptions};

/// Installs ring as the process's rustls provider, once. Clients that build their TLS
/// configuration without naming a provider (mysql_async, tiberius) take the process default,
/// and with both ring and aws-lc-rs compiled in (tiberius's tokio-rustls pulls the latter)
/// there is none until one is installed: rustls panics instead.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

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

/// What the handshake showed of client authentication.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientAuthSeen {
    /// The server sent a CertificateRequest.
    pub requested: bool,
    /// We answered it with a certificate (a client identity was configured).
    pub sent: bool,
    /// The CA names the server said it accepts (often empty in TLS 1.3).
    pub acceptable_cas: Vec<String>,
    /// The signature schemes the server accepts for the client's signature.
    pub sigschemes: Vec<String>,
}

impl ClientAuthSeen {
    /// Reads back what [`handshake`] recorded in the facts, for diagnosing alerts that arrive
    /// after the handshake.
    pub fn from_facts(f: &Facts) -> Self {
        ClientAuthSeen {
            requested: f.get("tls_client_cert_requested").and_then(|v| v.as_bool()).unwrap_or(false),
            sent: f.get("tls_client_cert_sent").and_then(|v| v.as_bool()).unwrap_or(false),
            acceptable_cas: f
                .get("tls_acceptable_cas")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            sigschemes: f
                .get("tls_client_cert_sigschemes")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
        }
    }

    fn record(&self, cx: &mut ProbeCx) {
        cx.fact("tls_client_cert_requested", self.requested);
        if self.requested {
            cx.fact("tls_client_cert_sent", self.sent);
            cx.fact("tls_acceptable_cas", self.acceptable_cas.clone());
            cx.fact("tls_client_cert_sigschemes", self.sigschemes.clone());
        }
    }

    fn ca_list(&self) -> String {
        if self.acceptable_cas.is_empty() {
            "the server did not name the CAs it accepts".into()
        } else {
            format!("it accepts certificates issued by: {}", self.acceptable_cas.join("; "))
        }
    }
}

/// A client-certificate resolver that records the server's request (and its acceptable CA
/// names) and answers with the configured identity, if any.
#[derive(Debug)]
pub struct RecordingResolver {
    key: Option<Arc<CertifiedKey>>,
    seen: Mutex<ClientAuthSeen>,
}

impl RecordingResolver {
    /// Takes what was recorded.
    pub fn take(&self) -> ClientAuthSeen {
        std::mem::take(&mut *self.seen.lock().expect("client auth log"))
    }
}

impl ResolvesClientCert for RecordingResolver {
    fn resolve(&self, root_hint_subjects: &[&[u8]], sigschemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        let mut seen = self.seen.lock().expect("client auth log");
        seen.requested = true;
        seen.sigschemes =
            sigschemes.iter().map(|s| s.as_str().map_or_else(|| format!("{s:?}"), str::to_owned)).collect();
        seen.sent = self.key.is_some();
        seen.acceptable_cas = root_hint_subjects.iter().map(|dn| cert::name_to_string(dn)).collect();
        self.key.clone()
    }
    /// Always: so that even without an identity the server's request is seen and recorded.
    fn has_certs(&self) -> bool {
        true
    }
}

/// A client configuration with the recorders that watch its handshakes.
pub struct Engine {
    /// Subject DERs of the CAs of the target's CA file, when it names one.
    pub anchors: Option<Vec<Vec<u8>>>,
    /// The rustls configuration.
    pub config: Arc<ClientConfig>,
    /// Records the server chain and the verification verdict.
    pub verifier: Arc<RecordingVerifier>,
    /// Records the client-certificate request.
    pub resolver: Arc<RecordingResolver>,
}

/// Builds the client configuration for `opts`: trust roots, client identity, ALPN.
pub fn client_config(opts: &TlsOptions, alpn: &[&[u8]]) -> Result<Engine, Failure> {
    let mut anchors = None;
    let roots = match &opts.ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            let certs = load_certs(path, "CA file")?;
            anchors = Some(cert::subjects(&certs));
            for cert in certs {
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
    let key = match (&opts.client_cert, &opts.client_key) {
        (Some(cert), Some(key)) => Some(Arc::new(
            CertifiedKey::from_der(load_certs(cert, "client certificate")?, load_key(key)?, &provider()).map_err(
                |e| Failure::config(format!("client certificate {} and key do not fit: {e}", cert.display())),
            )?,
        )),
        (None, None) => None,
        _ => return Err(Failure::config("client_cert and client_key go together: give both or neither")),
    };
    let resolver = Arc::new(RecordingResolver { key, seen: Mutex::default() });
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::config(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_client_cert_resolver(resolver.clone());
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Engine { anchors, config: Arc::new(config), verifier, resolver })
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

/// Runs the TLS handshake on `conn` (phase `tls`) for a protocol inside TLS: a certificate
/// that does not verify ends it, unless `insecure: true`, which turns that into a
/// `tls.unverified` warning.
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
    let done = handshake_recorded(cx, conn, host, opts, opts.insecure, alpn).await.map_err(|e| e.failure)?;
    if let Some(f) = done.unverified {
        cx.warn(&codes::UNVERIFIED, format!("insecure: true let an unverified certificate pass: {}", f.message));
    }
    Ok(done.stream)
}

/// A handshake that failed, with what it had shown by then.
pub struct HandshakeFailed {
    /// Why it failed.
    pub failure: Failure,
    /// Why the server certificate did not verify, if it was checked and did not.
    pub unverified: Option<Failure>,
    /// What the handshake showed of client authentication before it ended.
    pub client_auth: ClientAuthSeen,
}

impl From<Failure> for HandshakeFailed {
    fn from(failure: Failure) -> Self {
        HandshakeFailed { failure, unverified: None, client_auth: ClientAuthSeen::default() }
    }
}

/// A finished handshake and what verification found.
pub struct Handshaken<S> {
    /// The session.
    pub stream: TlsStream<Conn<S>>,
    /// Why the server certificate did not verify, when `go_on` let the handshake finish anyway.
    pub unverified: Option<Failure>,
    /// What the handshake showed of client authentication.
    pub client_auth: ClientAuthSeen,
    /// The name verified.
    pub name: ServerName<'static>,
}

/// The handshake itself, recording version, cipher suite, ALPN, the chain and the
/// client-certificate request in the facts. With `go_on`, a certificate that does not verify
/// does not stop the handshake; the caller gets the verdict in [`Handshaken::unverified`].
pub async fn handshake_recorded<S>(
    cx: &mut ProbeCx,
    conn: Conn<S>,
    host: &str,
    opts: &TlsOptions,
    go_on: bool,
    alpn: &[&[u8]],
) -> Result<Handshaken<S>, HandshakeFailed>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let opts = TlsOptions { insecure: go_on, ..opts.clone() };
    let engine = client_config(&opts, alpn)?;
    let name = server_name(&opts, host)?;
    cx.phase(Phase::Tls);
    let tape = conn.tape();
    let result = TlsConnector::from(engine.config.clone()).connect(name.clone(), conn).await;
    let log = engine.verifier.take_log();
    let chain = cert::examine(&log.chain, name.to_str().as_ref(), opts.expiry_warning_days());
    if !log.chain.is_empty() {
        cx.fact("tls_chain_length", log.chain.len());
        cx.fact("tls_certificates", serde_json::to_value(&chain.certs).unwrap_or_default());
        cx.fact("tls_name_match", chain.name_match);
        for w in &chain.warnings {
            cx.warn(w.code.0, w.message.clone());
        }
    }
    let auth = engine.resolver.take();
    // A failed handshake may have ended before the server could ask: say nothing then.
    if result.is_ok() || auth.requested {
        auth.record(cx);
    }
    let diagnose_chain = |e: &rustls::Error| {
        let mut f = diagnose_rustls(e, &name, &chain, &auth);
        if matches!(e, rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) {
            // With the CA file's subjects at hand, a missing intermediate is told for sure.
            let why = chain.untrusted(engine.anchors.as_deref());
            f = Failure::new(why.code.0, Phase::Tls, why.message);
        }
        f
    };
    if !log.chain.is_empty() {
        cx.fact("tls_verified", log.error.is_none());
    }
    let unverified = log.error.as_ref().map(diagnose_chain);
    match result {
        Ok(stream) => {
            let (_, session) = stream.get_ref();
            if let Some(v) = session.protocol_version().and_then(|v| v.as_str()) {
                // "TLS 1.3", as the scanner and people write it, not rustls's "TLSv1_3".
                cx.fact("tls_version", v.replace("TLSv1_", "TLS 1."));
            }
            if let Some(c) = session.negotiated_cipher_suite().and_then(|c| c.suite().as_str()) {
                cx.fact("tls_cipher", c);
            }
            if let Some(p) = session.alpn_protocol() {
                cx.fact("tls_alpn", String::from_utf8_lossy(p).into_owned());
            }
            Ok(Handshaken { stream, unverified, client_auth: auth, name })
        }
        Err(e) => {
            let mut failure = diagnose(&e, &name, &tape, &chain, &auth, cx);
            // The verifier's own refusal is diagnosed with the trust anchors in mind.
            if let (false, Some(u), Some(rustls::Error::InvalidCertificate(_))) =
                (go_on, &unverified, e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()))
            {
                failure = u.clone();
            }
            Err(HandshakeFailed { failure, unverified, client_auth: auth })
        }
    }
}

/// Turns a handshake error into a failure with a stable code, naming what the peer sent.
pub fn diagnose(
    e: &io::Error,
    name: &ServerName<'_>,
    tape: &Tape,
    chain: &cert::ChainReport,
    auth: &ClientAuthSeen,
    cx: &mut ProbeCx,
) -> Failure {
    let head = tape.head();
    if let Some(inner) = e.get_ref() {
        if let Some(re) = inner.downcast_ref::<rustls::Error>() {
            if is_garbled(re) {
                if sniff::identify(&head).is_some_and(|h| h.protocol == "tls") {
                    return Failure::new(
                        &codes::MALFORMED,
                        Phase::Tls,
                        format!("the server's TLS messages are malformed: {re}"),
                    );
                }
                return not_tls(&head, cx);
            }
            return diagnose_rustls(re, name, chain, auth);
        }
        if let Some(lim) = inner.downcast_ref::<ReadLimitExceeded>() {
            return core::OVERSIZED.failure_in(Phase::Tls, lim.to_string());
        }
    }
    // A server that asked for a client certificate and then dropped the connection has most
    // likely refused us: TLS 1.2 servers close while we are still sending our side, so the
    // alert is lost behind a broken pipe.
    if auth.requested
        && matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof)
    {
        return if auth.sent {
            Failure::new(
                &codes::CLIENT_CERT_REJECTED,
                Phase::Tls,
                format!(
                    "the server dropped the connection after our client certificate (likely a rejection: {e}); {}",
                    auth.ca_list()
                ),
            )
        } else {
            Failure::new(
                &codes::CLIENT_CERT_REQUIRED,
                Phase::Tls,
                format!(
                    "the server asked for a client certificate, got none, and dropped the connection (likely a refusal: {e}); {}",
                    auth.ca_list()
                ),
            )
        };
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof if head.is_empty() => Failure::new(
            &codes::NO_RESPONSE,
            Phase::Tls,
            "the peer closed the connection after our ClientHello without a word",
        ),
        io::ErrorKind::UnexpectedEof if sniff::identify(&head).is_some_and(|h| h.protocol != "tls") => {
            not_tls(&head, cx)
        }
        io::ErrorKind::UnexpectedEof => {
            core::CLOSED.failure_in(Phase::Tls, "the peer closed the connection during the handshake")
        }
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
            Failure::new(&codes::RESET, Phase::Tls, format!("the peer reset the connection during the handshake ({e})"))
        }
        _ => core::ERROR.failure_in(Phase::Tls, format!("TLS handshake: {e}")),
    }
}

/// The alert a `tls.alert.<name>` failure names, for deciding on it by the alert rather than
/// by spelling the code.
pub fn alert_of(f: &Failure) -> Option<&str> {
    f.code.strip_prefix(codes::ALERT.name)?.strip_prefix('.').filter(|_| f.is(&codes::ALERT))
}

/// Errors that mean the bytes we got were not TLS records at all.
fn is_garbled(e: &rustls::Error) -> bool {
    matches!(e, rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. })
}

fn not_tls(head: &[u8], cx: &mut ProbeCx) -> Failure {
    match sniff::identify(head) {
        Some(h) if h.protocol != "tls" => {
            cx.identify(h.protocol);
            let f = Failure::new(
                &codes::NOT_TLS,
                Phase::Tls,
                format!("the peer answered our ClientHello in {}: {}", h.protocol, h.detail),
            );
            if h.protocol == "http" {
                f.hint(
                    "this port speaks plain HTTP: use expect: http without TLS, or point the check at the HTTPS port",
                )
            } else {
                f
            }
        }
        _ => Failure::new(
            &codes::NOT_TLS,
            Phase::Tls,
            format!("the peer answered our ClientHello with bytes that are not TLS: {}", sniff::describe(head)),
        ),
    }
}

/// The failure for a rustls error: certificate problems from the chain report, alerts by name
/// with what the client-certificate exchange showed.
pub fn diagnose_rustls(
    e: &rustls::Error,
    name: &ServerName<'_>,
    chain: &cert::ChainReport,
    auth: &ClientAuthSeen,
) -> Failure {
    let name = name.to_str();
    let f = |code: &'static Code, msg: String| Failure::new(code, Phase::Tls, msg);
    // Every problem of the chain is named, the one that failed first in front.
    let from_chain = |code: &'static Code, fallback: String| {
        let mut msg = chain.errors.iter().find(|p| p.code.is(code)).map_or(fallback, |p| p.message.clone());
        let others: Vec<_> = chain.errors.iter().filter(|p| !p.code.is(code)).map(|p| p.message.as_str()).collect();
        if !others.is_empty() {
            msg.push_str(&format!("; also: {}", others.join("; ")));
        }
        Failure::new(code, Phase::Tls, msg)
    };
    match e {
        rustls::Error::InvalidCertificate(ce) => match ce {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                from_chain(&codes::CERT_EXPIRED, format!("the server certificate has expired ({ce:?})"))
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                from_chain(&codes::CERT_NOT_YET_VALID, format!("the server certificate is not valid yet ({ce:?})"))
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                from_chain(&codes::CERT_NAME_MISMATCH, format!("the server certificate is not valid for {name:?}"))
            }
            CertificateError::UnknownIssuer => {
                // Each answer to "why untrusted" has its own code, and the code its own hint.
                let why = chain.untrusted(None);
                from_chain(why.code.0, why.message)
            }
            CertificateError::BadSignature | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
                if chain.warnings.iter().any(|w| w.code.is(&codes::WEAK_KEY)) =>
            {
                let weak = chain
                    .warnings
                    .iter()
                    .find(|w| w.code.is(&codes::WEAK_KEY))
                    .map(|w| w.message.as_str())
                    .unwrap_or("");
                from_chain(&codes::CERT_INVALID, format!("the server's signature was refused ({ce:?}): likely because {weak}, which this client does not accept"))
                    .hint(codes::WEAK_KEY.hint)
            }
            other => from_chain(&codes::CERT_INVALID, format!("the server certificate failed verification: {other:?}")),
        },
        rustls::Error::AlertReceived(alert) => {
            let code = u8::from(*alert);
            let alert_name = sniff::alert_name(code);
            let client_cert_alert = matches!(
                alert_name,
                "certificate_required"
                    | "bad_certificate"
                    | "unsupported_certificate"
                    | "certificate_revoked"
                    | "certificate_expired"
                    | "certificate_unknown"
                    | "unknown_ca"
                    | "access_denied"
                    | "decrypt_error"
                    | "handshake_failure"
            );
            match alert_name {
                "certificate_required" if !auth.sent => f(
                    &codes::CLIENT_CERT_REQUIRED,
                    format!(
                        "the server requires a client certificate and none was given (alert certificate_required); {}",
                        auth.ca_list()
                    ),
                ),
                _ if auth.requested && !auth.sent && client_cert_alert => f(
                    &codes::CLIENT_CERT_REQUIRED,
                    format!(
                        "the server asked for a client certificate, got none, and ended the handshake (alert {alert_name}); {}",
                        auth.ca_list()
                    ),
                ),
                _ if auth.sent && client_cert_alert => {
                    let cause = match alert_name {
                        "unknown_ca" => "it is not issued by a CA the server trusts",
                        "certificate_expired" => "it has expired",
                        "certificate_revoked" => "it has been revoked",
                        "unsupported_certificate" => "its key usage or type does not allow client authentication",
                        "access_denied" => "the server knows it but does not allow it in",
                        "decrypt_error" => "the private key does not fit the certificate, or the signature failed",
                        _ => "the server does not accept it (wrong CA, expired, or not for client authentication)",
                    };
                    f(
                        &codes::CLIENT_CERT_REJECTED,
                        format!(
                            "the server rejected our client certificate (alert {alert_name}): likely {cause}; {}",
                            auth.ca_list()
                        ),
                    )
                }
                "protocol_version" => {
                    f(&codes::PROTOCOL_VERSION, "the server accepts none of our TLS versions (1.2, 1.3)".into())
                }
                "unrecognized_name" if name.parse::<std::net::IpAddr>().is_ok() => f(
                    &codes::SNI_REQUIRED,
                    format!(
                        "the server refused a handshake without a server name (unrecognized_name); an IP address ({name}) sends none"
                    ),
                ),
                "unrecognized_name" => {
                    f(&codes::SNI_REQUIRED, format!("the server does not know the name {name:?} (unrecognized_name)"))
                }
                _ => codes::ALERT.failure_with(
                    alert_name,
                    Phase::Tls,
                    format!("the server ended the handshake with alert {alert_name} ({code})"),
                ),
            }
        }
        rustls::Error::PeerIncompatible(p) => {
            f(&codes::INCOMPATIBLE, format!("the server's TLS is incompatible with ours: {p:?}"))
        }
        rustls::Error::NoApplicationProtocol => {
            f(&codes::ALPN, "the server accepts none of the offered ALPN protocols".into())
        }
        other => core::ERROR.failure_in(Phase::Tls, format!("TLS handshake: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> ServerName<'static> {
        ServerName::try_from("gw.example").unwrap()
    }

    #[test]
    fn alerts_are_named_and_the_rest_keep_their_name() {
        let none = ClientAuthSeen::default();
        let chain = cert::ChainReport::default();
        let f = diagnose_rustls(
            &rustls::Error::AlertReceived(rustls::AlertDescription::DecodeError),
            &name(),
            &chain,
            &none,
        );
        assert_eq!(f.code, "tls.alert.decode_error");
        let f = diagnose_rustls(
            &rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion),
            &name(),
            &chain,
            &none,
        );
        assert_eq!(f.code, "tls.protocol_version");
        let f = diagnose_rustls(
            &rustls::Error::AlertReceived(rustls::AlertDescription::UnrecognisedName),
            &name(),
            &chain,
            &none,
        );
        assert_eq!(f.code, "tls.sni_required");
    }

    #[test]
    fn a_handshake_failure_after_a_certificate_request_is_the_missing_certificate() {
        let asked = ClientAuthSeen { requested: true, acceptable_cas: vec!["CN=Site CA".into()], ..Default::default() };
        let chain = cert::ChainReport::default();
        // TLS 1.2 servers (Java's, Ignition's) end with handshake_failure, not certificate_required.
        let f = diagnose_rustls(
            &rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
            &name(),
            &chain,
            &asked,
        );
        assert_eq!(f.code, "tls.client_cert_required");
        assert!(f.message.contains("CN=Site CA"), "{}", f.message);
        let sent = ClientAuthSeen { sent: true, ..asked };
        let f =
            diagnose_rustls(&rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA), &name(), &chain, &sent);
        assert_eq!(f.code, "tls.client_cert_rejected");
        assert!(f.message.contains("not issued by a CA the server trusts"), "{}", f.message);
    }

    #[test]
    fn a_dropped_connection_after_a_certificate_request_is_likely_the_refusal() {
        let asked = ClientAuthSeen { requested: true, ..Default::default() };
        let chain = cert::ChainReport::default();
        let mut cx = ProbeCx::default();
        let e = io::Error::from(io::ErrorKind::BrokenPipe);
        let f = diagnose(&e, &name(), &Tape::default(), &chain, &asked, &mut cx);
        assert_eq!(f.code, "tls.client_cert_required");
        assert!(f.message.contains("likely"), "{}", f.message);
        let sent = ClientAuthSeen { sent: true, ..asked };
        let f = diagnose(
            &io::Error::from(io::ErrorKind::ConnectionReset),
            &name(),
            &Tape::default(),
            &chain,
            &sent,
            &mut cx,
        );
        assert_eq!(f.code, "tls.client_cert_rejected");
        // Without a request, a reset is only a reset.
        let f = diagnose(&e, &name(), &Tape::default(), &chain, &ClientAuthSeen::default(), &mut cx);
        assert_eq!(f.code, "tls.reset");
    }

    #[test]
    fn client_auth_round_trips_through_the_facts() {
        let seen = ClientAuthSeen {
            requested: true,
            sent: false,
            acceptable_cas: vec!["CN=A".into(), "CN=B".into()],
            sigschemes: vec!["ECDSA_NISTP256_SHA256".into()],
        };
        let mut cx = ProbeCx::default();
        seen.record(&mut cx);
        assert_eq!(ClientAuthSeen::from_facts(cx.facts()), seen);
    }

    #[test]
    fn an_alert_is_read_from_its_family_only() {
        let f = codes::ALERT.failure_with("handshake_failure", Phase::Tls, "x");
        assert_eq!(f.code, "tls.alert.handshake_failure");
        assert_eq!(alert_of(&f), Some("handshake_failure"));
        assert_eq!(alert_of(&Failure::new(&codes::PROTOCOL_VERSION, Phase::Tls, "x")), None);
    }
}
