//! The raw ClientHello scanner: which TLS versions a server accepts, which cipher suites per
//! version, and in whose order it picks them, including what rustls will not speak (TLS 1.0
//! and 1.1, RC4, 3DES, NULL and export suites).
//!
//! Each question is one short connection: a hand-built ClientHello offering a set of suites,
//! answered by a ServerHello (the server's pick), an alert, or silence. Removing each pick and
//! asking again lists the suites in the server's order. Only the ServerHello is read; no
//! handshake is ever completed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// A protocol version the scanner can offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// TLS 1.0 (RFC 2246), 0x0301.
    Tls10,
    /// TLS 1.1 (RFC 4346), 0x0302.
    Tls11,
    /// TLS 1.2 (RFC 5246), 0x0303.
    Tls12,
    /// TLS 1.3 (RFC 8446), 0x0304, offered through supported_versions.
    Tls13,
}

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Version; 4] = [Version::Tls10, Version::Tls11, Version::Tls12, Version::Tls13];

    /// The wire value.
    pub fn wire(self) -> u16 {
        match self {
            Version::Tls10 => 0x0301,
            Version::Tls11 => 0x0302,
            Version::Tls12 => 0x0303,
            Version::Tls13 => 0x0304,
        }
    }

    /// `TLS 1.2`.
    pub fn name(self) -> &'static str {
        match self {
            Version::Tls10 => "TLS 1.0",
            Version::Tls11 => "TLS 1.1",
            Version::Tls12 => "TLS 1.2",
            Version::Tls13 => "TLS 1.3",
        }
    }

    /// The suites worth asking about at this version.
    pub fn candidates(self) -> &'static [u16] {
        match self {
            Version::Tls13 => TLS13_SUITES,
            _ => legacy_suites(),
        }
    }
}

/// TLS 1.3 suites (RFC 8446 B.4).
const TLS13_SUITES: &[u16] = &[0x1301, 0x1302, 0x1303, 0x1304, 0x1305];

/// TLS 1.0-1.2 suites: every registered suite rustls can name, except those that cannot be
/// negotiated without a pre-shared secret or a special client (PSK, SRP, Kerberos, GOST, the
/// integrity-only and signalling values). Several hundred, in registry order: a server accepts a
/// handful, and each accepted one costs one connection.
fn legacy_suites() -> &'static [u16] {
    static SUITES: std::sync::OnceLock<Vec<u16>> = std::sync::OnceLock::new();
    SUITES.get_or_init(|| {
        const SKIP: [&str; 8] = ["PSK", "SRP", "KRB5", "GOST", "SCSV", "ECCPWD", "_SHA256_SHA256", "_SHA384_SHA384"];
        (0..=u16::MAX)
            .filter(|c| {
                rustls::CipherSuite::from(*c).as_str().is_some_and(|n| {
                    n.starts_with("TLS_") && !n.starts_with("TLS13_") && !SKIP.iter().any(|s| n.contains(s))
                })
            })
            .collect()
    })
}

/// The random of a HelloRetryRequest (RFC 8446 4.1.3): SHA-256 of "HelloRetryRequest".
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11,
    0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// The IANA name of a suite, as rustls knows it, or its code.
pub fn suite_name(code: u16) -> String {
    rustls::CipherSuite::from(code).as_str().map_or_else(|| format!("0x{code:04x}"), str::to_owned)
}

/// Whether a suite is weak: no encryption, export-grade, anonymous, RC4, DES or 3DES, MD5.
pub fn is_weak(name: &str) -> bool {
    ["NULL", "EXPORT", "anon", "RC4", "_DES_", "3DES", "MD5"].iter().any(|w| name.contains(w))
}

fn push_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends `body` prefixed with its length in `width` bytes (1, 2 or 3).
fn with_len(out: &mut Vec<u8>, width: usize, body: &[u8]) {
    let n = body.len();
    out.extend_from_slice(&(n as u32).to_be_bytes()[4 - width..]);
    out.extend_from_slice(body);
}

fn extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    push_u16(out, kind);
    with_len(out, 2, body);
}

/// A ClientHello record offering `suites` at `version` (RFC 8446 4.1.2, RFC 5246 7.4.1.2).
/// `sni` is sent when it is a DNS name.
pub fn client_hello(version: Version, suites: &[u16], sni: Option<&str>) -> Vec<u8> {
    let mut random = [0u8; 64];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random);
    let mut ext = Vec::new();
    if let Some(name) = sni.filter(|n| n.parse::<std::net::IpAddr>().is_err() && !n.is_empty()) {
        // server_name: list of one host_name (type 0).
        let mut entry = vec![0u8];
        with_len(&mut entry, 2, name.as_bytes());
        let mut list = Vec::new();
        with_len(&mut list, 2, &entry);
        extension(&mut ext, 0x0000, &list);
    }
    // supported_groups: x25519, secp256r1, secp384r1, secp521r1, x448, ffdhe2048, ffdhe3072.
    let mut groups = Vec::new();
    for g in [0x001d_u16, 0x0017, 0x0018, 0x0019, 0x001e, 0x0100, 0x0101] {
        push_u16(&mut groups, g);
    }
    let mut g = Vec::new();
    with_len(&mut g, 2, &groups);
    extension(&mut ext, 0x000a, &g);
    // ec_point_formats: uncompressed.
    extension(&mut ext, 0x000b, &[1, 0]);
    // signature_algorithms: ECDSA, RSA-PSS, EdDSA, RSA PKCS#1 (SHA-2 and SHA-1).
    let mut algs = Vec::new();
    for a in
        [0x0403_u16, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0807, 0x0808, 0x0401, 0x0501, 0x0601, 0x0201, 0x0203]
    {
        push_u16(&mut algs, a);
    }
    let mut s = Vec::new();
    with_len(&mut s, 2, &algs);
    extension(&mut ext, 0x000d, &s);
    if version == Version::Tls13 {
        // supported_versions: TLS 1.3 only.
        extension(&mut ext, 0x002b, &[2, 0x03, 0x04]);
        // psk_key_exchange_modes: psk_dhe_ke.
        extension(&mut ext, 0x002d, &[1, 1]);
        // key_share: one x25519 share (random bytes: the handshake is never finished).
        let mut share = Vec::new();
        push_u16(&mut share, 0x001d);
        with_len(&mut share, 2, &random[32..64]);
        let mut ks = Vec::new();
        with_len(&mut ks, 2, &share);
        extension(&mut ext, 0x0033, &ks);
    } else {
        // renegotiation_info (RFC 5746), empty: some servers refuse hellos without it.
        extension(&mut ext, 0xff01, &[0]);
        // extended_master_secret (RFC 7627), empty: FIPS-mode servers require it.
        extension(&mut ext, 0x0017, &[]);
    }
    let mut body = Vec::new();
    push_u16(&mut body, if version == Version::Tls13 { 0x0303 } else { version.wire() });
    body.extend_from_slice(&random[..32]);
    with_len(&mut body, 1, &random[32..64]); // session id: middlebox compatibility
    let mut cs = Vec::new();
    for s in suites {
        push_u16(&mut cs, *s);
    }
    with_len(&mut body, 2, &cs);
    body.extend_from_slice(&[1, 0]); // compression: null only
    with_len(&mut body, 2, &ext);
    let mut hs = vec![1u8]; // client_hello
    with_len(&mut hs, 3, &body);
    let mut record = vec![22u8, 0x03, 0x01]; // handshake, legacy record version TLS 1.0
    with_len(&mut record, 2, &hs);
    record
}

/// What a server answered to a ClientHello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A ServerHello (or HelloRetryRequest) choosing `version` and `suite`.
    Hello {
        /// The negotiated version (supported_versions for TLS 1.3).
        version: u16,
        /// The chosen cipher suite.
        suite: u16,
        /// A HelloRetryRequest: TLS 1.3 accepted, with another key-share group.
        retry: bool,
    },
    /// An alert: `description` per RFC 8446 6.
    Alert {
        /// 1 warning, 2 fatal.
        level: u8,
        /// The alert code.
        description: u8,
    },
    /// Bytes that are not a TLS handshake or alert record.
    NotTls(Vec<u8>),
    /// The connection closed, or stayed silent, without an answer.
    Nothing,
}

/// Largest record the parser waits for: a TLS record holds at most 2^14 bytes plus expansion.
const MAX_RECORD: usize = (1 << 14) + 2048;

/// Parses the start of a server's answer. `Ok(None)`: a well-formed start that needs more bytes.
pub fn parse_reply(b: &[u8]) -> Result<Option<Reply>, String> {
    if b.len() < 5 {
        return if b.is_empty() || matches!(b[0], 21 | 22) { Ok(None) } else { Ok(Some(Reply::NotTls(b.to_vec()))) };
    }
    if b[1] != 3 || !matches!(b[0], 20..=23) {
        return Ok(Some(Reply::NotTls(b[..b.len().min(64)].to_vec())));
    }
    let len = usize::from(u16::from_be_bytes([b[3], b[4]]));
    if len > MAX_RECORD {
        return Err(format!("record length {len} is larger than TLS allows"));
    }
    if b.len() < 5 + len {
        return Ok(None);
    }
    let body = &b[5..5 + len];
    match b[0] {
        21 if body.len() >= 2 => Ok(Some(Reply::Alert { level: body[0], description: body[1] })),
        22 => parse_server_hello(body).map(Some),
        other => Err(format!("unexpected record type {other} before the ServerHello")),
    }
}

fn parse_server_hello(h: &[u8]) -> Result<Reply, String> {
    let short = || "ServerHello is cut short".to_string();
    if h.len() < 4 || h[0] != 2 {
        return Err(format!("expected a ServerHello, got handshake type {}", h.first().copied().unwrap_or(0)));
    }
    let len = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
    let m = h.get(4..4 + len).ok_or_else(short)?;
    let legacy = u16::from_be_bytes([*m.first().ok_or_else(short)?, *m.get(1).ok_or_else(short)?]);
    let random = m.get(2..34).ok_or_else(short)?;
    let sid_len = usize::from(*m.get(34).ok_or_else(short)?);
    let at = 35 + sid_len;
    let suite = u16::from_be_bytes([*m.get(at).ok_or_else(short)?, *m.get(at + 1).ok_or_else(short)?]);
    let mut version = legacy;
    // Extensions follow the compression method, if present.
    if let Some(ext_len) = m.get(at + 3..at + 5) {
        let end = (at + 5 + usize::from(u16::from_be_bytes([ext_len[0], ext_len[1]]))).min(m.len());
        let mut p = at + 5;
        while p + 4 <= end {
            let kind = u16::from_be_bytes([m[p], m[p + 1]]);
            let n = usize::from(u16::from_be_bytes([m[p + 2], m[p + 3]]));
            if kind == 0x002b && n == 2 && p + 6 <= end {
                version = u16::from_be_bytes([m[p + 4], m[p + 5]]);
            }
            p += 4 + n;
        }
    }
    Ok(Reply::Hello { version, suite, retry: random == HRR_RANDOM })
}

/// Sends one ClientHello on a fresh connection and reads the answer, within `budget`.
pub async fn ask(addr: SocketAddr, hello: &[u8], budget: Duration) -> Reply {
    let work = async {
        let Ok(mut s) = TcpStream::connect(addr).await else { return Reply::Nothing };
        if s.write_all(hello).await.is_err() {
            return Reply::Nothing;
        }
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return Reply::Nothing,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            match parse_reply(&buf) {
                // A warning (unrecognized_name from a name-based virtual host) may precede
                // the ServerHello: drop that record and read on.
                Ok(Some(Reply::Alert { level: 1, .. })) => {
                    let len = 5 + usize::from(u16::from_be_bytes([buf[3], buf[4]]));
                    buf.drain(..len.min(buf.len()));
                    if !buf.is_empty()
                        && let Ok(Some(r)) = parse_reply(&buf)
                    {
                        return r;
                    }
                }
                Ok(Some(r)) => return r,
                Ok(None) if buf.len() <= MAX_RECORD + 5 => continue,
                Ok(None) | Err(_) => return Reply::NotTls(buf[..buf.len().min(64)].to_vec()),
            }
        }
    };
    tokio::time::timeout(budget, work).await.unwrap_or(Reply::Nothing)
}

/// What one version showed.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct VersionScan {
    /// `TLS 1.2`.
    pub version: &'static str,
    /// Whether the server negotiates this version.
    pub accepted: bool,
    /// The suites it accepts at this version, in the order it picked them.
    pub suites: Vec<String>,
    /// `Some(true)` when the server imposes its own order, `Some(false)` when it follows the
    /// client's; `None` when fewer than two suites were found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_order: Option<bool>,
    /// What ended the enumeration, when it was not a plain refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The whole scan.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, Default)]
pub struct ScanReport {
    /// One entry per version, oldest first.
    pub versions: Vec<VersionScan>,
    /// How many connections the scan made.
    pub connections: usize,
}

impl ScanReport {
    /// The versions accepted, oldest first.
    pub fn accepted(&self) -> Vec<&'static str> {
        self.versions.iter().filter(|v| v.accepted).map(|v| v.version).collect()
    }
}

/// How much to ask.
#[derive(Clone, Copy, Debug)]
pub enum Depth {
    /// One question per version: is it accepted?
    Versions,
    /// Every accepted suite per version, and the server's order.
    Suites,
}

/// Scans `addr` with at most `parallel` connections at once, each answer within `budget`, and
/// nothing past `deadline`: what was found by then is kept, with a note.
pub async fn scan(
    addr: SocketAddr,
    sni: Option<&str>,
    depth: Depth,
    parallel: usize,
    budget: Duration,
    deadline: Option<std::time::Instant>,
) -> ScanReport {
    let gate = Arc::new(Semaphore::new(parallel.max(1)));
    let sni = sni.map(str::to_owned);
    let mut set = tokio::task::JoinSet::new();
    for (i, v) in Version::ALL.into_iter().enumerate() {
        let (gate, sni) = (gate.clone(), sni.clone());
        set.spawn(async move { (i, scan_version(addr, v, sni.as_deref(), depth, &gate, budget, deadline).await) });
    }
    let mut out = vec![None; Version::ALL.len()];
    let mut connections = 0;
    while let Some(Ok((i, (v, n)))) = set.join_next().await {
        connections += n;
        out[i] = Some(v);
    }
    ScanReport { versions: out.into_iter().flatten().collect(), connections }
}

async fn scan_version(
    addr: SocketAddr,
    v: Version,
    sni: Option<&str>,
    depth: Depth,
    gate: &Semaphore,
    budget: Duration,
    deadline: Option<std::time::Instant>,
) -> (VersionScan, usize) {
    // Each answer may take at most what is left before the deadline.
    let wait = || match deadline {
        Some(d) => budget.min(d.saturating_duration_since(std::time::Instant::now())),
        None => budget,
    };
    let mut left: Vec<u16> = v.candidates().to_vec();
    let mut picked = Vec::new();
    let mut asked = 0;
    let mut note = None;
    // Each question removes one suite, so this ends; the bound is a second guard.
    while !left.is_empty() && asked <= v.candidates().len() {
        if wait().is_zero() {
            note = Some("cut short at the deadline: more suites may be accepted".into());
            break;
        }
        let reply = {
            let _permit = gate.acquire().await.expect("never closed");
            asked += 1;
            ask(addr, &client_hello(v, &left, sni), wait()).await
        };
        match reply {
            Reply::Hello { version, suite, .. } if version == v.wire() && left.contains(&suite) => {
                picked.push(suite);
                left.retain(|s| *s != suite);
                if matches!(depth, Depth::Versions) {
                    break;
                }
            }
            Reply::Hello { version, suite, .. } if version == v.wire() => {
                note = Some(format!("the server picked {} although it was not offered", suite_name(suite)));
                break;
            }
            Reply::Hello { .. } | Reply::Alert { .. } => break,
            Reply::Nothing => {
                if wait().is_zero() {
                    note = Some("cut short at the deadline: no answer yet, so this is not a refusal".into());
                }
                break;
            }
            Reply::NotTls(b) => {
                note = Some(format!("answered with bytes that are not TLS: {}", crate::sniff::describe(&b)));
                break;
            }
        }
    }
    let mut server_order = None;
    if picked.len() >= 2 && !wait().is_zero() {
        // Offer what was found in reverse: a server that imposes its order picks its favourite
        // again; one that follows the client picks our new first.
        let reversed: Vec<u16> = picked.iter().rev().copied().collect();
        let _permit = gate.acquire().await.expect("never closed");
        asked += 1;
        if let Reply::Hello { suite, .. } = ask(addr, &client_hello(v, &reversed, sni), wait()).await {
            server_order = Some(suite == picked[0]);
        }
    }
    let scan = VersionScan {
        version: v.name(),
        accepted: !picked.is_empty(),
        suites: picked.into_iter().map(suite_name).collect(),
        server_order,
        note,
    };
    (scan, asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hellos_are_well_formed() {
        for v in Version::ALL {
            let h = client_hello(v, v.candidates(), Some("gw.example"));
            assert_eq!(&h[..3], &[22, 3, 1]);
            let rec_len = usize::from(u16::from_be_bytes([h[3], h[4]]));
            assert_eq!(rec_len, h.len() - 5, "{v:?} record length");
            assert_eq!(h[5], 1, "client_hello");
            let hs_len = u32::from_be_bytes([0, h[6], h[7], h[8]]) as usize;
            assert_eq!(hs_len, h.len() - 9, "{v:?} handshake length");
            let sni = h.windows(10).any(|w| w == b"gw.example");
            assert!(sni, "{v:?} carries SNI");
        }
        // An IP address is never sent as SNI (RFC 6066 3).
        let h = client_hello(Version::Tls12, &[0xc02f], Some("127.0.0.1"));
        assert!(!h.windows(9).any(|w| w == b"127.0.0.1"));
    }

    #[test]
    fn rustls_parses_our_hello() {
        // A real TLS server implementation must accept the bytes: feed them to rustls.
        let pki_key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap().self_signed(&pki_key).unwrap();
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(pki_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .unwrap();
        for v in [Version::Tls12, Version::Tls13] {
            let mut server = rustls::ServerConnection::new(Arc::new(config.clone())).unwrap();
            let hello = client_hello(v, v.candidates(), Some("localhost"));
            server.read_tls(&mut &hello[..]).unwrap();
            server.process_new_packets().unwrap_or_else(|e| panic!("{v:?}: rustls rejects our hello: {e}"));
            let mut out = Vec::new();
            server.write_tls(&mut out).unwrap();
            match parse_reply(&out).unwrap() {
                Some(Reply::Hello { version, suite, retry }) => {
                    assert_eq!(version, v.wire(), "{v:?}");
                    assert!(v.candidates().contains(&suite));
                    assert!(!retry);
                }
                other => panic!("{v:?}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_warning_alert_before_the_server_hello_is_skipped() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            // warning unrecognized_name, then a minimal ServerHello choosing TLS 1.2 / 0xc02f.
            let mut reply = vec![21, 3, 3, 0, 2, 1, 112];
            let mut hello = vec![2, 0, 0, 38, 3, 3];
            hello.extend_from_slice(&[7u8; 32]);
            hello.extend_from_slice(&[0, 0xc0, 0x2f, 0]);
            reply.extend_from_slice(&[22, 3, 3, 0, hello.len() as u8]);
            reply.extend_from_slice(&hello);
            s.write_all(&reply).await.unwrap();
        });
        let r = ask(addr, &client_hello(Version::Tls12, &[0xc02f], None), Duration::from_secs(2)).await;
        assert_eq!(r, Reply::Hello { version: 0x0303, suite: 0xc02f, retry: false });
    }

    #[test]
    fn alerts_and_garbage_are_told_apart() {
        assert_eq!(parse_reply(&[21, 3, 3, 0, 2, 2, 70]).unwrap(), Some(Reply::Alert { level: 2, description: 70 }));
        assert_eq!(parse_reply(&[22, 3, 3, 0]).unwrap(), None, "needs more");
        assert!(matches!(parse_reply(b"HTTP/1.1 400").unwrap(), Some(Reply::NotTls(_))));
        assert!(parse_reply(&[22, 3, 3, 0xff, 0xff]).is_err(), "a record longer than TLS allows");
        assert!(parse_reply(&[22, 3, 3, 0, 4, 2, 0, 0, 9]).is_err(), "a ServerHello cut short");
    }

    #[test]
    fn the_candidates_cover_the_registry_but_nothing_unusable() {
        let names: Vec<String> = Version::Tls12.candidates().iter().map(|c| suite_name(*c)).collect();
        assert!(names.len() > 150, "{} suites", names.len());
        for wanted in [
            "TLS_RSA_WITH_ARIA_128_GCM_SHA256",
            "TLS_RSA_WITH_AES_128_CCM_8",
            "TLS_RSA_WITH_RC4_128_SHA",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ] {
            assert!(names.iter().any(|n| n == wanted), "{wanted} is asked about");
        }
        assert!(!names.iter().any(|n| n.contains("PSK") || n.contains("SCSV")), "no suite needing a pre-shared key");
        // Fits one record and one 16-bit length with room to spare.
        assert!(client_hello(Version::Tls12, Version::Tls12.candidates(), Some("x")).len() < 4096);
    }

    #[test]
    fn weak_suites_are_named() {
        assert_eq!(suite_name(0xc02f), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert!(is_weak(&suite_name(0x0005)), "RC4");
        assert!(is_weak(&suite_name(0x000a)), "3DES");
        assert!(!is_weak(&suite_name(0x1301)));
        assert_eq!(suite_name(0x7777), "0x7777", "an unassigned code is shown as a number");
    }

    #[test]
    fn the_parser_never_panics() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 120) as usize;
            let mut b: Vec<u8> = (0..len).map(|j| (x >> (j % 56)) as u8).collect();
            if i % 2 == 0 && b.len() >= 6 {
                b[0] = 22;
                b[1] = 3;
                b[5] = 2;
            }
            let _ = parse_reply(&b);
        }
    }
}
