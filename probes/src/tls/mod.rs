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
pub mod stranger;
pub mod words;
pub use sslmode::SslMode;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

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
    let pem = crate::files::read_small(path, what, crate::files::MAX_SMALL_FILE).map_err(Failure::config)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::config(format!("{what} {} is not valid PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Failure::config(format!("{what} {} holds no PEM certificate", path.display())));
    }
    Ok(certs)
}

/// A CA file as every check that names it uses it: parsed once per run, not once per check.
struct Trust {
    roots: Arc<RootCertStore>,
    /// The subjects of its certificates (to compare with a server's acceptable-CA list).
    anchors: Arc<Vec<Vec<u8>>>,
    /// Its certificates, which a server may present as its own (pinning).
    certs: Arc<Vec<CertificateDer<'static>>>,
}

/// Which version of a file a cache entry holds (path, mtime, size, inode, ctime): a file changed
/// since (an exporter's long run, a test rewriting it) is read again, at the price of one
/// `stat` per check.
type FileKey = (PathBuf, Option<SystemTime>, u64, u64, i64, i64);

/// Parsed files by the version of the files they came from.
type FileCache<K, T> = OnceLock<Mutex<HashMap<K, T>>>;

fn file_key(path: &Path) -> FileKey {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok();
    let m = meta.as_ref();
    // The inode and the change time as well: a file replaced with one of the same size and
    // modification time (`cp -p`, `rsync -t`, a tar extraction) is another inode, or has a new
    // ctime, which no tool can set back.
    (
        path.to_path_buf(),
        m.and_then(|m| m.modified().ok()),
        m.map_or(0, |m| m.len()),
        m.map_or(0, MetadataExt::ino),
        m.map_or(0, MetadataExt::ctime),
        m.map_or(0, MetadataExt::ctime_nsec),
    )
}

/// Looks `key` up in `cache`, or loads and keeps it. Errors are not kept: each check reports its
/// own, and a file fixed in the meantime is read again.
fn cached<K: Eq + std::hash::Hash, T: Clone>(
    cache: &Mutex<HashMap<K, T>>,
    key: K,
    load: impl FnOnce() -> Result<T, Failure>,
) -> Result<T, Failure> {
    if let Some(hit) = cache.lock().expect("tls file cache").get(&key) {
        return Ok(hit.clone());
    }
    let value = load()?;
    cache.lock().expect("tls file cache").insert(key, value.clone());
    Ok(value)
}

fn trust_file(path: &Path) -> Result<Arc<Trust>, Failure> {
    static CACHE: FileCache<FileKey, Arc<Trust>> = OnceLock::new();
    cached(CACHE.get_or_init(Mutex::default), file_key(path), || {
        let certs = load_certs(path, "CA file")?;
        let mut roots = RootCertStore::empty();
        for cert in &certs {
            roots
                .add(cert.clone())
                .map_err(|e| Failure::config(format!("CA file {}: unusable certificate: {e}", path.display())))?;
        }
        Ok(Arc::new(Trust {
            roots: Arc::new(roots),
            anchors: Arc::new(cert::subjects(&certs)),
            certs: Arc::new(certs),
        }))
    })
}

/// A client certificate and its key, read and matched once per run.
fn identity_files(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, Failure> {
    static CACHE: FileCache<(FileKey, FileKey), Arc<CertifiedKey>> = OnceLock::new();
    cached(CACHE.get_or_init(Mutex::default), (file_key(cert), file_key(key)), || {
        let pair = CertifiedKey::from_der(load_certs(cert, "client certificate")?, load_key(key)?, &provider())
            .map_err(|e| Failure::config(format!("client certificate {} and key do not fit: {e}", cert.display())))?;
        Ok(Arc::new(pair))
    })
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, Failure> {
    let pem = crate::files::read_small(path, "client key", crate::files::MAX_SMALL_FILE).map_err(Failure::config)?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| Failure::config(format!("cannot read a private key from {}: {e}", path.display())))
}

/// What the verifier saw: the server chain and the verdict of verification.
#[derive(Debug, Default)]
pub struct VerifyLog {
    /// The chain as the server sent it, end-entity first.
    pub chain: Vec<CertificateDer<'static>>,
    /// Why verification failed, if it did.
    pub error: Option<rustls::Error>,
    /// The server's certificate is one the CA file holds itself (a pinned certificate).
    pub pinned: bool,
}

/// A verifier that records the chain and the verdict, and lets the handshake go on when the
/// target says `insecure: true`, so the verdict is reported instead of ending the probe.
#[derive(Debug)]
pub struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    insecure: bool,
    /// The CA file's certificates: a server presenting one of them as its own is trusted as it
    /// stands (what OpenSSL and curl do with `--cacert server.pem`), where webpki would refuse
    /// a trust anchor used as an end entity.
    pinned: Arc<Vec<CertificateDer<'static>>>,
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
        let pinned = self.pinned.iter().any(|p| p.as_ref() == end_entity.as_ref());
        let verdict = if pinned {
            pinned_verdict(end_entity, server_name)
        } else {
            self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        };
        let mut log = self.log.lock().expect("verify log");
        log.pinned = pinned;
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

/// A pinned certificate needs no issuer, but it must still be valid now and for the name:
/// pinning says whose certificate it is, not that it may be expired or moved to another host.
fn pinned_verdict(end_entity: &CertificateDer<'_>, name: &ServerName<'_>) -> Result<ServerCertVerified, rustls::Error> {
    let report = cert::examine(&[end_entity], name.to_str().as_ref(), 0);
    let Some(first) = report.errors.iter().find(|p| !p.code.is(&codes::CERT_CHAIN_ORDER)) else {
        return Ok(ServerCertVerified::assertion());
    };
    let e = if first.code.is(&codes::CERT_EXPIRED) {
        CertificateError::Expired
    } else if first.code.is(&codes::CERT_NOT_YET_VALID) {
        CertificateError::NotValidYet
    } else if first.code.is(&codes::CERT_NAME_MISMATCH) {
        CertificateError::NotValidForName
    } else {
        CertificateError::BadEncoding
    };
    Err(rustls::Error::InvalidCertificate(e))
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
    pub anchors: Option<Arc<Vec<Vec<u8>>>>,
    /// The rustls configuration.
    pub config: Arc<ClientConfig>,
    /// Records the server chain and the verification verdict.
    pub verifier: Arc<RecordingVerifier>,
    /// Records the client-certificate request.
    pub resolver: Arc<RecordingResolver>,
}

/// Builds the client configuration for `opts`: trust roots, client identity, ALPN.
pub fn client_config(opts: &TlsOptions, alpn: &[&[u8]]) -> Result<Engine, Failure> {
    client_config_as(opts, alpn, None)
}

/// [`client_config`], answering a certificate request with `identity` instead of the
/// configured one when it is given (the throwaway identity of [`stranger`]).
pub fn client_config_as(
    opts: &TlsOptions,
    alpn: &[&[u8]],
    identity: Option<Arc<CertifiedKey>>,
) -> Result<Engine, Failure> {
    let (roots, anchors, pinned) = match &opts.ca {
        Some(path) => {
            let trust = trust_file(path)?;
            (trust.roots.clone(), Some(trust.anchors.clone()), trust.certs.clone())
        }
        None => (system_roots(), None, Arc::default()),
    };
    let inner = WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| Failure::config(format!("no usable trust anchors: {e}")))?;
    let verifier = Arc::new(RecordingVerifier { inner, insecure: opts.insecure, pinned, log: Mutex::default() });
    let key = match (&opts.client_cert, &opts.client_key) {
        _ if identity.is_some() => identity,
        (Some(cert), Some(key)) => Some(identity_files(cert, key)?),
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
    handshake_as(cx, conn, host, opts, go_on, alpn, None).await
}

/// [`handshake_recorded`] answering a certificate request with `identity` when it is given.
pub async fn handshake_as<S>(
    cx: &mut ProbeCx,
    conn: Conn<S>,
    host: &str,
    opts: &TlsOptions,
    go_on: bool,
    alpn: &[&[u8]],
    identity: Option<Arc<CertifiedKey>>,
) -> Result<Handshaken<S>, HandshakeFailed>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let opts = TlsOptions { insecure: go_on, ..opts.clone() };
    let engine = client_config_as(&opts, alpn, identity)?;
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
            let why = chain.untrusted(engine.anchors.as_deref().map(Vec::as_slice));
            f = Failure::new(why.code.0, Phase::Tls, why.message);
        }
        f
    };
    if !log.chain.is_empty() {
        cx.fact("tls_verified", log.error.is_none());
        if log.pinned {
            cx.fact("tls_pinned", true);
        }
    }
    // A chain that does not verify for the name fails the check, whatever level follows;
    // only `insecure: true` (handled by the callers) turns it into a warning.
    let unverified = log.error.as_ref().map(|e| diagnose_chain(e).stated());
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
                    return Failure::new(&codes::MALFORMED, Phase::Tls, words::rustls_words(re));
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
            .stated()
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
/// with what the client-certificate exchange showed, everything else in words
/// ([`words::rustls_words`]) with a hint: never a `Debug` string.
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
    let weak_key = chain.warnings.iter().find(|w| w.code.is(&codes::WEAK_KEY)).map(|w| w.message.clone());
    match e {
        rustls::Error::InvalidCertificate(ce) => match ce {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                from_chain(&codes::CERT_EXPIRED, words::certificate_words(ce))
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                from_chain(&codes::CERT_NOT_YET_VALID, words::certificate_words(ce))
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                from_chain(&codes::CERT_NAME_MISMATCH, format!("the server certificate is not valid for {name:?}"))
            }
            CertificateError::UnknownIssuer => {
                // Each answer to "why untrusted" has its own code, and the code its own hint.
                let why = chain.untrusted(None);
                from_chain(why.code.0, why.message)
            }
            #[allow(deprecated)]
            CertificateError::BadSignature
            | CertificateError::UnsupportedSignatureAlgorithm
            | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. }
                if weak_key.is_some() =>
            {
                let weak = weak_key.unwrap_or_default();
                from_chain(
                    &codes::CERT_INVALID,
                    format!(
                        "the server's signature was refused ({}): likely because {weak}, which this client does not accept",
                        words::certificate_words(ce)
                    ),
                )
                .hint(codes::WEAK_KEY.hint)
            }
            #[allow(deprecated)]
            CertificateError::BadSignature
            | CertificateError::UnsupportedSignatureAlgorithm
            | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. }
                if chain.certs.len() == 1 && chain.certs[0].self_signed =>
            {
                // A trusted root of the same name with another key (a "CN=localhost" root in the
                // system store is common) makes webpki check the signature with the wrong key:
                // the certificate is still a self-signed one not trusted here.
                let why = chain.untrusted(None);
                from_chain(why.code.0, why.message)
            }
            CertificateError::Other(o) if is_webpki(o, &webpki::Error::CaUsedAsEndEntity) => {
                // OpenSSL's `req -x509` marks its self-signed certificates CA:TRUE, and webpki
                // refuses a CA certificate as a server's own before it looks for an issuer.
                let self_signed = chain.certs.len() == 1 && chain.certs[0].self_signed;
                if self_signed {
                    let why = chain.untrusted(None);
                    from_chain(why.code.0, why.message).hint(
                        "give this very certificate with --ca FILE (tls.ca) to pin it, as curl --cacert does, or install a certificate from a CA",
                    )
                } else {
                    from_chain(&codes::CERT_INVALID, words::certificate_words(ce))
                        .hint("reissue the server certificate without basicConstraints CA:TRUE, signed by a CA")
                }
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                from_chain(&codes::CERT_INVALID, words::certificate_words(ce))
                    .hint("reissue the server certificate with extendedKeyUsage serverAuth")
            }
            other => from_chain(&codes::CERT_INVALID, words::certificate_words(other)),
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
                    // The check gave this identity to get in: its refusal fails the check.
                    f(
                        &codes::CLIENT_CERT_REJECTED,
                        format!(
                            "the server rejected our client certificate (alert {alert_name}): likely {cause}; {}",
                            auth.ca_list()
                        ),
                    )
                    .stated()
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
        rustls::Error::PeerIncompatible(_) => f(&codes::INCOMPATIBLE, words::rustls_words(e)),
        rustls::Error::NoApplicationProtocol => f(&codes::ALPN, words::rustls_words(e)),
        rustls::Error::NoCertificatesPresented => f(&codes::CERT_INVALID, words::rustls_words(e))
            .hint("configure the server with a certificate for this name"),
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. }
        | rustls::Error::PeerMisbehaved(_)
        | rustls::Error::DecryptError
        | rustls::Error::PeerSentOversizedRecord => f(&codes::MALFORMED, words::rustls_words(e)),
        rustls::Error::InconsistentKeys(_) => core::ERROR
            .failure_in(Phase::Tls, words::rustls_words(e))
            .hint("give the client key that belongs to the client certificate (--client-cert, --client-key)"),
        rustls::Error::FailedToGetCurrentTime => core::ERROR
            .failure_in(Phase::Tls, words::rustls_words(e))
            .hint("check this machine's clock: certificates are judged by it"),
        // What remains are faults on this side (configuration, randomness, the library).
        _ => core::ERROR
            .failure_in(Phase::Tls, words::rustls_words(e))
            .hint("a fault on this side of the connection, not the server's: the message names it"),
    }
}

/// Whether a rustls `Other` error is webpki's `w`.
fn is_webpki(o: &rustls::OtherError, w: &webpki::Error) -> bool {
    o.0.downcast_ref::<webpki::Error>() == Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_is_parsed_once_per_run_and_again_when_it_changes() {
        let dir = std::env::temp_dir().join(format!("portproof-ca-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ca.pem");
        let pem = |name: &str| rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap().cert.pem();
        std::fs::write(&path, pem("a.example")).unwrap();
        let opts = TlsOptions { ca: Some(path.clone()), ..TlsOptions::default() };
        let (first, second) = (trust_file(&path).unwrap(), trust_file(&path).unwrap());
        assert!(Arc::ptr_eq(&first, &second), "the second check reuses the parsed file");
        let engine = client_config(&opts, &[]).unwrap();
        assert!(Arc::ptr_eq(engine.anchors.as_ref().unwrap(), &first.anchors));
        // A longer file: another version, read again (the test cannot rely on mtime granularity).
        std::fs::write(&path, pem("a-much-longer-name.example") + &pem("b.example")).unwrap();
        let changed = trust_file(&path).unwrap();
        assert!(!Arc::ptr_eq(&first, &changed));
        assert_eq!(changed.certs.len(), 2);
        // Same size and modification time, replaced by a rename (`cp -p`, `rsync -t`): the inode
        // and ctime tell it apart.
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        // One certificate, padded with text outside any PEM section to the old file's size.
        let old_len = std::fs::metadata(&path).unwrap().len() as usize;
        let one = pem("c.example");
        let same_len = format!("{}\n{one}", "#".repeat(old_len - one.len() - 1));
        assert_eq!(same_len.len(), old_len);
        let next = dir.join("next.pem");
        std::fs::write(&next, &same_len).unwrap();
        std::fs::File::options().write(true).open(&next).unwrap().set_modified(mtime).unwrap();
        std::fs::rename(&next, &path).unwrap();
        let swapped = trust_file(&path).unwrap();
        assert!(!Arc::ptr_eq(&changed, &swapped), "a file swapped in with the same size and mtime is read again");
        assert_eq!(swapped.certs.len(), 1);
        std::fs::write(&path, "not pem").unwrap();
        assert!(trust_file(&path).is_err(), "a broken file is an error, not the last good version");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn name() -> ServerName<'static> {
        ServerName::try_from("gw.example").unwrap()
    }

    /// Every error of rustls 0.23 the engine can meet, and every certificate error webpki
    /// passes through `Other`: each must read as words, with a code from a table and a hint.
    fn every_rustls_error() -> Vec<rustls::Error> {
        use rustls::Error as E;
        use rustls::{
            AlertDescription, CertRevocationListError as Crl, CertificateError as C, ContentType,
            EncryptedClientHelloError as Ech, HandshakeType, InconsistentKeys, InvalidMessage as M, OtherError,
            PeerIncompatible as P, PeerMisbehaved as B,
        };
        let other = |w: webpki::Error| OtherError(Arc::new(w));
        let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_700_000_000));
        #[allow(deprecated)]
        let certificate = vec![
            C::BadEncoding,
            C::Expired,
            C::ExpiredContext { time, not_after: time },
            C::NotValidYet,
            C::NotValidYetContext { time, not_before: time },
            C::Revoked,
            C::UnhandledCriticalExtension,
            C::UnknownIssuer,
            C::UnknownRevocationStatus,
            C::ExpiredRevocationList,
            C::ExpiredRevocationListContext { time, next_update: time },
            C::BadSignature,
            C::UnsupportedSignatureAlgorithm,
            C::UnsupportedSignatureAlgorithmContext { signature_algorithm_id: vec![1], supported_algorithms: vec![] },
            C::UnsupportedSignatureAlgorithmForPublicKeyContext {
                signature_algorithm_id: vec![1],
                public_key_algorithm_id: vec![2],
            },
            C::NotValidForName,
            C::NotValidForNameContext { expected: name(), presented: vec!["other.example".into()] },
            C::InvalidPurpose,
            C::InvalidOcspResponse,
            C::ApplicationVerificationFailure,
            C::Other(other(webpki::Error::CaUsedAsEndEntity)),
            C::Other(other(webpki::Error::EndEntityUsedAsCa)),
            C::Other(other(webpki::Error::CertDistrusted)),
            C::Other(other(webpki::Error::PathLenConstraintViolated)),
            C::Other(other(webpki::Error::NameConstraintViolation)),
            C::Other(other(webpki::Error::MaximumPathDepthExceeded)),
            C::Other(other(webpki::Error::MaximumPathBuildCallsExceeded)),
            C::Other(other(webpki::Error::MaximumSignatureChecksExceeded)),
            C::Other(other(webpki::Error::EmptyEkuExtension)),
            C::Other(other(webpki::Error::UnsupportedCertVersion)),
            C::Other(other(webpki::Error::UnsupportedCriticalExtension)),
            C::Other(other(webpki::Error::InvalidSerialNumber)),
            C::Other(other(webpki::Error::MalformedDnsIdentifier)),
            C::Other(other(webpki::Error::MalformedNameConstraint)),
            C::Other(other(webpki::Error::MalformedExtensions)),
            C::Other(other(webpki::Error::ExtensionValueInvalid)),
            C::Other(other(webpki::Error::SignatureAlgorithmMismatch)),
            C::Other(other(webpki::Error::UnsupportedNameType)),
            C::Other(other(webpki::Error::InvalidNetworkMaskConstraint)),
            C::Other(other(webpki::Error::MaximumNameConstraintComparisonsExceeded)),
            C::Other(OtherError(Arc::new(io::Error::other("a custom verifier's refusal")))),
        ];
        #[allow(deprecated)]
        let mut all = vec![
            E::InappropriateMessage {
                expect_types: vec![ContentType::Handshake],
                got_type: ContentType::ApplicationData,
            },
            E::InappropriateHandshakeMessage {
                expect_types: vec![HandshakeType::ServerHello, HandshakeType::HelloRetryRequest],
                got_type: HandshakeType::Finished,
            },
            E::InvalidEncryptedClientHello(Ech::InvalidConfigList),
            E::InvalidEncryptedClientHello(Ech::NoCompatibleConfig),
            E::InvalidEncryptedClientHello(Ech::SniRequired),
            E::InvalidMessage(M::MissingData("ServerHello")),
            E::InvalidMessage(M::TrailingData("Certificate")),
            E::InvalidMessage(M::UnexpectedMessage("KeyUpdate")),
            E::InvalidMessage(M::IllegalEmptyList("CipherSuites")),
            E::InvalidMessage(M::DuplicateExtension(10)),
            E::NoCertificatesPresented,
            E::UnsupportedNameType,
            E::DecryptError,
            E::EncryptError,
            E::PeerIncompatible(P::ServerRejectedEncryptedClientHello(None)),
            E::AlertReceived(AlertDescription::HandshakeFailure),
            E::AlertReceived(AlertDescription::Unknown(200)),
            E::InvalidCertRevocationList(Crl::BadSignature),
            E::InvalidCertRevocationList(Crl::ParseError),
            E::InvalidCertRevocationList(Crl::Other(other(webpki::Error::UnsupportedDeltaCrl))),
            E::General("the session was poisoned".into()),
            E::FailedToGetCurrentTime,
            E::FailedToGetRandomBytes,
            E::HandshakeNotComplete,
            E::PeerSentOversizedRecord,
            E::NoApplicationProtocol,
            E::BadMaxFragmentSize,
            E::InconsistentKeys(InconsistentKeys::KeyMismatch),
            E::InconsistentKeys(InconsistentKeys::Unknown),
            E::Other(other(webpki::Error::BadDer)),
            E::Other(OtherError(Arc::new(io::Error::other("a custom failure")))),
        ];
        all.extend(certificate.into_iter().map(E::InvalidCertificate));
        all.extend([
            E::PeerMisbehaved(B::AttemptedDowngradeToTls12WhenTls13IsSupported),
            E::PeerMisbehaved(B::BadCertChainExtensions),
            E::PeerMisbehaved(B::CipherSuiteDifferedOnRetry),
            E::PeerMisbehaved(B::DisallowedEncryptedExtension),
            E::PeerMisbehaved(B::DuplicateClientHelloExtensions),
            E::PeerMisbehaved(B::DuplicateEncryptedExtensions),
            E::PeerMisbehaved(B::DuplicateHelloRetryRequestExtensions),
            E::PeerMisbehaved(B::DuplicateNewSessionTicketExtensions),
            E::PeerMisbehaved(B::DuplicateServerHelloExtensions),
            E::PeerMisbehaved(B::DuplicateServerNameTypes),
            E::PeerMisbehaved(B::EarlyDataAttemptedInSecondClientHello),
            E::PeerMisbehaved(B::EarlyDataExtensionWithoutResumption),
            E::PeerMisbehaved(B::EarlyDataOfferedWithVariedCipherSuite),
            E::PeerMisbehaved(B::EchAcceptanceVariedAfterRetry),
            E::PeerMisbehaved(B::HandshakeHashVariedAfterRetry),
            E::PeerMisbehaved(B::IllegalHelloRetryRequestWithEmptyCookie),
            E::PeerMisbehaved(B::IllegalHelloRetryRequestWithNoChanges),
            E::PeerMisbehaved(B::IllegalHelloRetryRequestWithOfferedGroup),
            E::PeerMisbehaved(B::IllegalHelloRetryRequestWithUnofferedCipherSuite),
            E::PeerMisbehaved(B::IllegalHelloRetryRequestWithUnofferedNamedGroup),
            E::PeerMisbehaved(B::IllegalHelloRetryRequestWithUnsupportedVersion),
            E::PeerMisbehaved(B::IllegalHelloRetryRequestWithWrongSessionId),
            E::PeerMisbehaved(B::IllegalHelloRetryRequestWithInvalidEch),
            E::PeerMisbehaved(B::IllegalMiddleboxChangeCipherSpec),
            E::PeerMisbehaved(B::IllegalTlsInnerPlaintext),
            E::PeerMisbehaved(B::IncorrectBinder),
            E::PeerMisbehaved(B::InvalidCertCompression),
            E::PeerMisbehaved(B::InvalidMaxEarlyDataSize),
            E::PeerMisbehaved(B::InvalidKeyShare),
            E::PeerMisbehaved(B::KeyEpochWithPendingFragment),
            E::PeerMisbehaved(B::KeyUpdateReceivedInQuicConnection),
            E::PeerMisbehaved(B::MessageInterleavedWithHandshakeMessage),
            E::PeerMisbehaved(B::MissingBinderInPskExtension),
            E::PeerMisbehaved(B::MissingKeyShare),
            E::PeerMisbehaved(B::MissingPskExtensionInSecondClientHello),
            E::PeerMisbehaved(B::MissingPskModesExtension),
            E::PeerMisbehaved(B::MissingQuicTransportParameters),
            E::PeerMisbehaved(B::OfferedDuplicateCertificateCompressions),
            E::PeerMisbehaved(B::OfferedDuplicateKeyShares),
            E::PeerMisbehaved(B::OfferedEarlyDataWithOldProtocolVersion),
            E::PeerMisbehaved(B::OfferedEmptyApplicationProtocol),
            E::PeerMisbehaved(B::OfferedIncorrectCompressions),
            E::PeerMisbehaved(B::PskExtensionMustBeLast),
            E::PeerMisbehaved(B::PskExtensionWithMismatchedIdsAndBinders),
            E::PeerMisbehaved(B::RefusedToFollowHelloRetryRequest),
            E::PeerMisbehaved(B::RejectedEarlyDataInterleavedWithHandshakeMessage),
            E::PeerMisbehaved(B::ResumptionAttemptedWithVariedEms),
            E::PeerMisbehaved(B::ResumptionOfferedWithVariedCipherSuite),
            E::PeerMisbehaved(B::ResumptionOfferedWithVariedEms),
            E::PeerMisbehaved(B::ResumptionOfferedWithIncompatibleCipherSuite),
            E::PeerMisbehaved(B::SelectedDifferentCipherSuiteAfterRetry),
            E::PeerMisbehaved(B::SelectedInvalidPsk),
            E::PeerMisbehaved(B::SelectedTls12UsingTls13VersionExtension),
            E::PeerMisbehaved(B::SelectedUnofferedApplicationProtocol),
            E::PeerMisbehaved(B::SelectedUnofferedCertCompression),
            E::PeerMisbehaved(B::SelectedUnofferedCipherSuite),
            E::PeerMisbehaved(B::SelectedUnofferedCompression),
            E::PeerMisbehaved(B::SelectedUnofferedKxGroup),
            E::PeerMisbehaved(B::SelectedUnofferedPsk),
            E::PeerMisbehaved(B::SelectedUnusableCipherSuiteForVersion),
            E::PeerMisbehaved(B::ServerEchoedCompatibilitySessionId),
            E::PeerMisbehaved(B::ServerHelloMustOfferUncompressedEcPoints),
            E::PeerMisbehaved(B::ServerNameDifferedOnRetry),
            E::PeerMisbehaved(B::ServerNameMustContainOneHostName),
            E::PeerMisbehaved(B::SignedKxWithWrongAlgorithm),
            E::PeerMisbehaved(B::SignedHandshakeWithUnadvertisedSigScheme),
            E::PeerMisbehaved(B::TooManyEmptyFragments),
            E::PeerMisbehaved(B::TooManyKeyUpdateRequests),
            E::PeerMisbehaved(B::TooManyRenegotiationRequests),
            E::PeerMisbehaved(B::TooManyWarningAlertsReceived),
            E::PeerMisbehaved(B::TooMuchEarlyDataReceived),
            E::PeerMisbehaved(B::UnexpectedCleartextExtension),
            E::PeerMisbehaved(B::UnsolicitedCertExtension),
            E::PeerMisbehaved(B::UnsolicitedEncryptedExtension),
            E::PeerMisbehaved(B::UnsolicitedSctList),
            E::PeerMisbehaved(B::UnsolicitedServerHelloExtension),
            E::PeerMisbehaved(B::WrongGroupForKeyShare),
            E::PeerMisbehaved(B::UnsolicitedEchExtension),
            E::PeerIncompatible(P::EcPointsExtensionRequired),
            E::PeerIncompatible(P::ExtendedMasterSecretExtensionRequired),
            E::PeerIncompatible(P::IncorrectCertificateTypeExtension),
            E::PeerIncompatible(P::KeyShareExtensionRequired),
            E::PeerIncompatible(P::NamedGroupsExtensionRequired),
            E::PeerIncompatible(P::NoCertificateRequestSignatureSchemesInCommon),
            E::PeerIncompatible(P::NoCipherSuitesInCommon),
            E::PeerIncompatible(P::NoEcPointFormatsInCommon),
            E::PeerIncompatible(P::NoKxGroupsInCommon),
            E::PeerIncompatible(P::NoSignatureSchemesInCommon),
            E::PeerIncompatible(P::NullCompressionRequired),
            E::PeerIncompatible(P::ServerDoesNotSupportTls12Or13),
            E::PeerIncompatible(P::ServerSentHelloRetryRequestWithUnknownExtension),
            E::PeerIncompatible(P::ServerTlsVersionIsDisabledByOurConfig),
            E::PeerIncompatible(P::SignatureAlgorithmsExtensionRequired),
            E::PeerIncompatible(P::SupportedVersionsExtensionRequired),
            E::PeerIncompatible(P::Tls12NotOffered),
            E::PeerIncompatible(P::Tls12NotOfferedOrEnabled),
            E::PeerIncompatible(P::Tls13RequiredForQuic),
            E::PeerIncompatible(P::UncompressedEcPointsRequired),
            E::PeerIncompatible(P::UnsolicitedCertificateTypeExtension),
            E::InvalidMessage(M::CertificatePayloadTooLarge),
            E::InvalidMessage(M::HandshakePayloadTooLarge),
            E::InvalidMessage(M::InvalidCcs),
            E::InvalidMessage(M::InvalidContentType),
            E::InvalidMessage(M::InvalidCertificateStatusType),
            E::InvalidMessage(M::InvalidCertRequest),
            E::InvalidMessage(M::InvalidDhParams),
            E::InvalidMessage(M::InvalidEmptyPayload),
            E::InvalidMessage(M::InvalidKeyUpdate),
            E::InvalidMessage(M::InvalidServerName),
            E::InvalidMessage(M::MessageTooLarge),
            E::InvalidMessage(M::MessageTooShort),
            E::InvalidMessage(M::MissingKeyExchange),
            E::InvalidMessage(M::NoSignatureSchemes),
            E::InvalidMessage(M::UnknownProtocolVersion),
            E::InvalidMessage(M::UnsupportedCompression),
            E::InvalidMessage(M::UnsupportedCurveType),
            E::InvalidMessage(M::EmptyTicketValue),
            E::InvalidMessage(M::IllegalEmptyValue),
            E::InvalidMessage(M::PreSharedKeyIsNotFinalExtension),
            E::InvalidMessage(M::UnknownHelloRetryRequestExtension),
            E::InvalidMessage(M::UnknownCertificateExtension),
        ]);
        all
    }

    /// Whether a message reads as words: no Rust paths, braces or CamelCase identifiers
    /// (`Other(OtherError(CaUsedAsEndEntity))`), the marks of a `Debug` string. The names
    /// RFC 5280 and RFC 8446 themselves spell in camel case are words to the people who read them.
    fn reads_as_words(msg: &str) -> bool {
        const SPEC_NAMES: &[&str] = &[
            "ClientHello",
            "extendedKeyUsage",
            "serverAuth",
            "clientAuth",
            "basicConstraints",
            "pathLenConstraint",
            "subjectAltName",
            "notAfter",
            "notBefore",
        ];
        let camel = msg.split(|c: char| !c.is_alphanumeric()).any(|w| {
            let b = w.as_bytes();
            !SPEC_NAMES.contains(&w) && b.windows(2).any(|p| p[0].is_ascii_lowercase() && p[1].is_ascii_uppercase())
        });
        !camel && !msg.contains("::") && !msg.contains('{') && !msg.contains("Some(") && !msg.is_empty()
    }

    #[test]
    fn every_rustls_error_reaches_the_user_as_words_with_a_hint() {
        let self_signed = {
            let key = rcgen::KeyPair::generate().unwrap();
            let p = rcgen::CertificateParams::new(vec!["gw.example".to_string()]).unwrap();
            p.self_signed(&key).unwrap().der().to_vec()
        };
        let chains = [cert::ChainReport::default(), cert::examine(&[self_signed], "gw.example", 0)];
        let sent = ClientAuthSeen { requested: true, sent: true, ..Default::default() };
        let all = every_rustls_error();
        assert!(all.len() > 150, "the table covers rustls's variants: {}", all.len());
        for e in &all {
            for chain in &chains {
                for auth in [&ClientAuthSeen::default(), &sent] {
                    let f = diagnose_rustls(e, &name(), chain, auth);
                    assert!(reads_as_words(&f.message), "{e:?} reads {:?}", f.message);
                    assert!(crate::codes::lookup(&f.code).is_some(), "{e:?}: {} is in no table", f.code);
                    assert!(f.hint.as_deref().is_some_and(|h| !h.is_empty()), "{e:?} ({}) has no hint", f.code);
                }
            }
            // And the same words where a handshake error arrives wrapped in an I/O error.
            let mut cx = ProbeCx::default();
            let io = io::Error::new(io::ErrorKind::InvalidData, e.clone());
            let tape = Tape::default();
            let f = diagnose(&io, &name(), &tape, &chains[0], &ClientAuthSeen::default(), &mut cx);
            assert!(reads_as_words(&f.message), "{e:?} reads {:?}", f.message);
            assert!(f.hint.is_some(), "{e:?} ({}) has no hint", f.code);
        }
    }

    #[test]
    fn the_words_check_catches_a_debug_string() {
        assert!(!reads_as_words("TLS handshake: invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))"));
        assert!(!reads_as_words("received corrupt message of type InvalidContentType"));
        assert!(reads_as_words("the server sent a malformed TLS message (invalid content type)"));
    }

    #[test]
    fn an_openssl_style_self_signed_ca_certificate_is_an_untrusted_self_signed_one() {
        // openssl req -x509 marks the certificate CA:TRUE; webpki refuses it as an end entity.
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec!["gw.example".to_string()]).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let chain = cert::examine(&[p.self_signed(&key).unwrap().der().to_vec()], "gw.example", 0);
        let e = rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
            webpki::Error::CaUsedAsEndEntity,
        ))));
        let f = diagnose_rustls(&e, &name(), &chain, &ClientAuthSeen::default());
        assert_eq!(f.code, "tls.cert_unknown_ca", "{f:?}");
        assert!(f.message.contains("self-signed"), "{}", f.message);
        assert!(f.hint.unwrap().contains("--ca"));
    }

    #[test]
    fn a_pinned_certificate_is_still_held_to_its_dates_and_name() {
        let make = |names: &[&str], days: (i64, i64)| {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut p = rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
            let now = time::OffsetDateTime::now_utc();
            p.not_before = now + time::Duration::days(days.0);
            p.not_after = now + time::Duration::days(days.1);
            CertificateDer::from(p.self_signed(&key).unwrap().der().to_vec())
        };
        assert!(pinned_verdict(&make(&["gw.example"], (-1, 30)), &name()).is_ok());
        let err = |c: CertificateDer<'_>| match pinned_verdict(&c, &name()) {
            Err(rustls::Error::InvalidCertificate(e)) => e,
            other => panic!("{other:?}"),
        };
        assert_eq!(err(make(&["gw.example"], (-30, -1))), CertificateError::Expired);
        assert_eq!(err(make(&["gw.example"], (1, 30))), CertificateError::NotValidYet);
        assert_eq!(err(make(&["other.example"], (-1, 30))), CertificateError::NotValidForName);
    }

    #[test]
    fn alerts_are_named_and_the_rest_keep_their_name() {
        let none = ClientAuthSeen::default();
        let chain = cert::ChainReport::default();
        use rustls::AlertDescription::{DecodeError, ProtocolVersion, UnrecognisedName};
        for (alert, code) in [
            (DecodeError, "tls.alert.decode_error"),
            (ProtocolVersion, "tls.protocol_version"),
            (UnrecognisedName, "tls.sni_required"),
        ] {
            let f = diagnose_rustls(&rustls::Error::AlertReceived(alert), &name(), &chain, &none);
            assert_eq!(f.code, code, "{alert:?}");
        }
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
