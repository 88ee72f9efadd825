//! An Oracle Net (TNS) listener responder: the listener's answers to the version command and
//! to connect descriptors naming a service or SID (ACCEPT, REFUSE with TNS error numbers,
//! REDIRECT), RESEND-first listeners, and listeners whose packets lie.
//!
//! No Oracle listener can run here, so this responder is the only peer the `oracle` probe is
//! tested against. It is written from the public descriptions of TNS, independently of the
//! probe: the packet layouts of Wireshark's TNS dissector (8-byte header with a 16-bit length,
//! packet checksum, type and flags; CONNECT with its connect data offset; ACCEPT; REFUSE with
//! user and system reasons and its NV string; REDIRECT whose data follows in a DATA packet;
//! DATA with its flags), python-oracledb's thin client (RESEND, the redirect data `address NUL
//! connect data`, connect data over 230 bytes in a DATA packet after the CONNECT), nmap's and
//! tnscmd's records of the `version` command's answer, and Oracle's error messages for the
//! numbers a listener refuses with (TNS-12514, 12505, 12504, 12516, 12519, 12520, 12526, 1189).
//!
//! Every read is bounded (packets of at most 8 KiB, connect data of at most 4 KiB), garbage
//! from a client ends its connection, and every connection task ends when its client leaves.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use crate::Server;
use crate::conn::{BoxIo, accept_each, finish, hold, send, upgrade};

/// How the responder behaves.
#[derive(Clone, Debug)]
pub enum OracleMode {
    /// A listener: answers the version command and connect descriptors per its configuration.
    Listener(ListenerConfig),
    /// Reads the CONNECT, then sends a header claiming 65535 bytes (more than any SDU a client
    /// asks for) and the start of a REFUSE one byte every 200 ms until the client leaves.
    LyingLength,
    /// Reads the CONNECT, then sends a REFUSE header claiming 2000 bytes, 20 of them, and holds
    /// the connection: a plausible length the bytes never fill.
    ShortPacket,
    /// Reads the CONNECT and answers with an ACCEPT whose accept data length runs past the
    /// end of its packet.
    AcceptPastEnd,
    /// Answers nothing: records every byte a connection sends (until the client stops sending
    /// for 300 ms, closes, or has sent 16 KiB), one entry per connection, then closes. The
    /// place a hostile listener's REDIRECT points to, to see what a client sends there.
    Capture(Captured),
}

/// What a [`OracleMode::Capture`] server received, one entry per connection.
pub type Captured = Arc<Mutex<Vec<Vec<u8>>>>;

/// How the version command is answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionAnswer {
    /// ACCEPT with the VSNNUM, the banner in a DATA packet, then DATA with EOF.
    Answer,
    /// REFUSE with this error number and the VSNNUM (1189: a secured listener refusing
    /// remote commands).
    Refuse(u32),
    /// No answer at all: the connection is held until the client leaves (a listener stuck on
    /// remote commands, or a filter that drops them), while service CONNECTs are answered.
    Silent,
}

/// What the [`OracleMode::Listener`] knows and does.
#[derive(Clone, Debug)]
pub struct ListenerConfig {
    /// The listener's version number. Default 318767104 (0x13000000, 19.0.0.0.0).
    pub vsnnum: u32,
    /// The version printed in the banner. Default `19.0.0.0.0`.
    pub banner_version: String,
    /// Service names it knows (compared without case). Default `ORCLPDB1` and `ORCLCDB`.
    pub services: Vec<String>,
    /// SIDs it knows (compared without case). Default `ORCLCDB`.
    pub sids: Vec<String>,
    /// The answer to `(CONNECT_DATA=(COMMAND=version))`. Default [`VersionAnswer::Answer`].
    pub version: VersionAnswer,
    /// Answer the first CONNECT of every connection with RESEND, as newer listeners do.
    pub resend_first: bool,
    /// Refuse the services and SIDs it knows with this error number (12516, 12519 or 12520:
    /// no handler; 12526: restricted mode) instead of accepting them.
    pub refuse_known: Option<u32>,
    /// Redirect the services and SIDs it knows to this host and port (a dispatcher). The host
    /// is written into the redirect address as given, whatever it is.
    pub redirect: Option<(String, u16)>,
    /// The connect data the REDIRECT carries after its NUL, instead of the client's own (what
    /// a hostile listener would have a client send to the redirect address).
    pub redirect_connect_data: Option<String>,
    /// The highest TNS version it settles on. Default 318 (19c): a client asking for 315 or
    /// more then gets the ACCEPT layout of 315 on, and every packet after the ACCEPT carries a
    /// 32-bit length; 314 keeps the 16-bit framing of 10g and 11g.
    pub max_version: u16,
    /// Counts the sessions a client ended in order, with a DATA packet carrying the EOF flag
    /// in the framing of the version accepted (shared by every clone of the configuration).
    pub orderly_closes: Arc<AtomicUsize>,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            vsnnum: 318_767_104,
            banner_version: "19.0.0.0.0".to_owned(),
            services: vec!["ORCLPDB1".to_owned(), "ORCLCDB".to_owned()],
            sids: vec!["ORCLCDB".to_owned()],
            version: VersionAnswer::Answer,
            resend_first: false,
            refuse_known: None,
            redirect: None,
            redirect_connect_data: None,
            max_version: 318,
            orderly_closes: Arc::default(),
        }
    }
}

/// Serves `mode` on `listener`, the way a listener runs on 1521.
pub fn serve(listener: TcpListener, mode: OracleMode) -> Server {
    serve_on(listener, mode, None)
}

/// Serves `mode` inside TLS, the way a TCPS listener runs (2484 by convention).
pub fn serve_tls(listener: TcpListener, mode: OracleMode, config: Arc<rustls::ServerConfig>) -> Server {
    serve_on(listener, mode, Some(TlsAcceptor::from(config)))
}

fn serve_on(listener: TcpListener, mode: OracleMode, tls: Option<TlsAcceptor>) -> Server {
    let mode = Arc::new(mode);
    accept_each(listener, move |tcp| {
        let (mode, tls) = (mode.clone(), tls.clone());
        async move {
            if let Some(s) = upgrade(tcp, tls.as_ref()).await {
                connection(s, &mode).await;
            }
        }
    })
}

const CONNECT: u8 = 1;
const ACCEPT: u8 = 2;
const REFUSE: u8 = 4;
const REDIRECT: u8 = 5;
const DATA: u8 = 6;
const RESEND: u8 = 11;

/// DATA flag: end of file.
const DATA_EOF: u16 = 0x0040;
/// The largest packet read from a client.
const MAX_PACKET: usize = 8192;
/// The most connect data accepted.
const MAX_CONNECT_DATA: usize = 4096;
/// How long a client may take to send its CONNECT (the listener's INBOUND_CONNECT_TIMEOUT,
/// 60 s by default, shortened).
const CONNECT_WAIT: Duration = Duration::from_secs(10);
/// The version of the ACCEPT of the hostile modes (16-bit framing).
const MAX_VERSION: u16 = 314;
/// The first version whose packets after the ACCEPT carry a 32-bit length.
const VERSION_LARGE_SDU: u16 = 315;

async fn connection(mut s: BoxIo, mode: &OracleMode) {
    if let OracleMode::Capture(captured) = mode {
        let got = capture(&mut s).await;
        captured.lock().expect("capture lock").push(got);
        finish(&mut s).await;
        return;
    }
    let Some(request) = read_connect(&mut s).await else { return };
    match mode {
        OracleMode::Listener(config) => listener(s, config, request).await,
        OracleMode::LyingLength => {
            let mut head = vec![0xff, 0xff, 0, 0, REFUSE, 0, 0, 0, 34, 0];
            head.extend_from_slice(b"\x00\x60(DESCRIPTION=(TMP=)(VSNNUM=318767104)(ERR=12514))");
            for b in head.iter().cycle() {
                if send(&mut s, &[*b]).await.is_none() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        OracleMode::ShortPacket => {
            let mut p = packet_header(2000, REFUSE);
            p.extend_from_slice(b"\x22\x00\x07\xc8(DESCRIPTION=(TMP");
            if send(&mut s, &p).await.is_some() {
                hold(&mut s).await;
            }
        }
        OracleMode::AcceptPastEnd => {
            let mut body = accept_fields(MAX_VERSION, 500);
            body.extend_from_slice(b"(DESCRIPTION=(TMP=)");
            let _ = send(&mut s, &packet(ACCEPT, 0, &body)).await;
            finish(&mut s).await;
        }
        OracleMode::Capture(_) => unreachable!("answered before the CONNECT is read"),
    }
}

/// Every byte the client sends until it pauses for 300 ms, closes, or has sent 16 KiB.
async fn capture(s: &mut BoxIo) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < 16 << 10 {
        match timeout(Duration::from_millis(300), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    got
}

/// A client's CONNECT: its version, header flags and connect data.
struct Request {
    version: u16,
    data: String,
}

/// Reads a packet: type, flags, body. `None` on a close, a timeout, or a header that is not
/// TNS (a length outside 8..=8192). `large`: the 32-bit length after an ACCEPT of 315 on.
async fn read_packet<S: AsyncRead + Unpin>(s: &mut S, large: bool) -> Option<(u8, u8, Vec<u8>)> {
    let mut h = [0u8; 8];
    timeout(CONNECT_WAIT, s.read_exact(&mut h)).await.ok()?.ok()?;
    let len = if large {
        u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize
    } else {
        usize::from(u16::from_be_bytes([h[0], h[1]]))
    };
    if !(8..=MAX_PACKET).contains(&len) {
        return None;
    }
    let mut body = vec![0u8; len - 8];
    timeout(CONNECT_WAIT, s.read_exact(&mut body)).await.ok()?.ok()?;
    Some((h[4], h[5], body))
}

/// Reads a CONNECT and its connect data (from the packet, or from the DATA packet after it
/// when the CONNECT carries none of it).
async fn read_connect(s: &mut BoxIo) -> Option<Request> {
    let (kind, _flags, body) = read_packet(s, false).await?;
    if kind != CONNECT || body.len() < 20 {
        return None;
    }
    // Offsets in the packet: 8 version, 24 connect data length, 26 its offset.
    let version = u16::from_be_bytes([body[0], body[1]]);
    let len = usize::from(u16::from_be_bytes([body[16], body[17]]));
    let offset = usize::from(u16::from_be_bytes([body[18], body[19]]));
    if len > MAX_CONNECT_DATA {
        return None;
    }
    let data = match body.get(offset.checked_sub(8)?..) {
        Some(rest) if !rest.is_empty() => rest[..len.min(rest.len())].to_vec(),
        _ => {
            let (kind, _, d) = read_packet(s, false).await?;
            if kind != DATA || d.len() < 2 {
                return None;
            }
            d[2..].iter().copied().take(len).collect()
        }
    };
    Some(Request { version, data: String::from_utf8_lossy(&data).into_owned() })
}

/// The value of `(KEY=value)` in connect data, without case.
fn value_of(data: &str, key: &str) -> Option<String> {
    let upper = data.to_ascii_uppercase();
    let at = upper.find(&format!("({key}="))? + key.len() + 2;
    let end = data[at..].find(')')? + at;
    Some(data[at..end].trim().to_owned())
}

async fn listener(mut s: BoxIo, config: &ListenerConfig, mut request: Request) {
    if config.resend_first {
        if send(&mut s, &packet(RESEND, 0, &[])).await.is_none() {
            return;
        }
        let Some(again) = read_connect(&mut s).await else { return };
        request = again;
    }
    let version = request.version.min(config.max_version);
    let large = version >= VERSION_LARGE_SDU;
    if let Some(command) = value_of(&request.data, "COMMAND") {
        if !command.eq_ignore_ascii_case("version") {
            // TNS-12508: listener could not resolve the COMMAND given.
            let _ = send(&mut s, &refuse(config.vsnnum, 12508)).await;
        } else {
            match &config.version {
                VersionAnswer::Answer => {
                    let _ = send(&mut s, &version_answer(config, version)).await;
                }
                VersionAnswer::Refuse(n) => {
                    let _ = send(&mut s, &refuse(config.vsnnum, *n)).await;
                }
                VersionAnswer::Silent => {
                    hold(&mut s).await;
                    return;
                }
            }
        }
        finish(&mut s).await;
        return;
    }
    let known = |list: &[String], name: &str| list.iter().any(|k| k.eq_ignore_ascii_case(name));
    let verdict = match (value_of(&request.data, "SERVICE_NAME"), value_of(&request.data, "SID")) {
        (Some(name), _) if known(&config.services, &name) => Ok(()),
        // TNS-12514: listener does not currently know of service requested.
        (Some(_), _) => Err(12514),
        (None, Some(sid)) if known(&config.sids, &sid) => Ok(()),
        // TNS-12505: listener does not currently know of SID given.
        (None, Some(_)) => Err(12505),
        // TNS-12504: listener was not given the SERVICE_NAME in CONNECT_DATA.
        (None, None) => Err(12504),
    };
    let answer = match (verdict, config.refuse_known, &config.redirect) {
        (Err(n), _, _) | (Ok(()), Some(n), _) => refuse(config.vsnnum, n),
        (Ok(()), None, Some((host, port))) => {
            redirect(host, *port, config.redirect_connect_data.as_deref().unwrap_or(&request.data))
        }
        (Ok(()), None, None) => {
            // The session is handed over: ACCEPT, then whatever the client sends until it
            // ends (DATA with EOF) or leaves.
            if send(&mut s, &packet(ACCEPT, 0, &accept_fields(version, 0))).await.is_none() {
                return;
            }
            while let Some((kind, _, body)) = read_packet(&mut s, large).await {
                if kind == DATA && body.len() >= 2 && u16::from_be_bytes([body[0], body[1]]) & DATA_EOF != 0 {
                    config.orderly_closes.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
            finish(&mut s).await;
            return;
        }
    };
    let _ = send(&mut s, &answer).await;
    finish(&mut s).await;
}

fn packet_header(len: usize, kind: u8) -> Vec<u8> {
    let mut p = (len as u16).to_be_bytes().to_vec();
    p.extend_from_slice(&[0, 0, kind, 0, 0, 0]);
    p
}

fn packet(kind: u8, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut p = packet_header(8 + body.len(), kind);
    p[5] = flags;
    p.extend_from_slice(body);
    p
}

/// A packet after an ACCEPT of version 315 or later: bytes 0-3 are one 32-bit length.
fn large_packet(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut p = ((8 + body.len()) as u32).to_be_bytes().to_vec();
    p.extend_from_slice(&[kind, 0, 0, 0]);
    p.extend_from_slice(body);
    p
}

/// The ACCEPT's fixed fields up to its accept data, for `data_len` bytes of it: version,
/// service options, SDU, TDU, the value 1, data length and offset, connect flags, 8 reserved
/// bytes (data at offset 32); from version 315 on also the 32-bit SDU and TDU, a reserved
/// byte and the 32-bit accept flags (data at offset 45).
fn accept_fields(version: u16, data_len: usize) -> Vec<u8> {
    let large = version >= VERSION_LARGE_SDU;
    let offset: u16 = if large { 45 } else { 32 };
    let mut b = Vec::with_capacity(40);
    b.extend_from_slice(&version.to_be_bytes());
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(&8192u16.to_be_bytes());
    b.extend_from_slice(&32767u16.to_be_bytes());
    b.extend_from_slice(&[0, 1]);
    b.extend_from_slice(&(data_len as u16).to_be_bytes());
    b.extend_from_slice(&(if data_len > 0 { offset } else { 0 }).to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&[0; 8]);
    if large {
        b.extend_from_slice(&8192u32.to_be_bytes());
        b.extend_from_slice(&8192u32.to_be_bytes());
        b.push(0);
        b.extend_from_slice(&0u32.to_be_bytes());
    }
    b
}

/// ACCEPT naming the VSNNUM, the banner in a DATA packet, DATA with EOF.
fn version_answer(config: &ListenerConfig, version: u16) -> Vec<u8> {
    let nv = format!("(DESCRIPTION=(TMP=)(VSNNUM={})(ERR=0)(ALIAS=LISTENER))", config.vsnnum);
    let mut body = accept_fields(version, nv.len());
    body.extend_from_slice(nv.as_bytes());
    let mut out = packet(ACCEPT, 0, &body);
    let v = &config.banner_version;
    let banner = format!(
        "TNSLSNR for Linux: Version {v} - Production\n\tTNS for Linux: Version {v} - Production\n\tTCP/IP NT Protocol Adapter for Linux: Version {v} - Production,,"
    );
    let mut data = 0u16.to_be_bytes().to_vec();
    data.extend_from_slice(banner.as_bytes());
    let frame =
        |body: &[u8]| if version >= VERSION_LARGE_SDU { large_packet(DATA, body) } else { packet(DATA, 0, body) };
    out.extend_from_slice(&frame(&data));
    out.extend_from_slice(&frame(&DATA_EOF.to_be_bytes()));
    out
}

/// REFUSE with the listener's NV answer: user reason 34, system reason 0.
fn refuse(vsnnum: u32, err: u32) -> Vec<u8> {
    let nv = format!("(DESCRIPTION=(TMP=)(VSNNUM={vsnnum})(ERR={err})(ERROR_STACK=(ERROR=(CODE={err})(EMFI=4))))");
    let mut body = vec![34, 0];
    body.extend_from_slice(&(nv.len() as u16).to_be_bytes());
    body.extend_from_slice(nv.as_bytes());
    packet(REFUSE, 0, &body)
}

/// REDIRECT carrying only the data length, then the data in a DATA packet: the address, a
/// NUL, and the client's connect data to send there.
fn redirect(host: &str, port: u16, connect_data: &str) -> Vec<u8> {
    let mut data = format!("(ADDRESS=(PROTOCOL=tcp)(HOST={host})(PORT={port}))").into_bytes();
    data.push(0);
    data.extend_from_slice(connect_data.as_bytes());
    let mut out = packet(REDIRECT, 0, &(data.len() as u16).to_be_bytes());
    let mut d = 0u16.to_be_bytes().to_vec();
    d.extend_from_slice(&data);
    out.extend_from_slice(&packet(DATA, 0, &d));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_without_case() {
        let d = "(DESCRIPTION=(CONNECT_DATA=(service_name=orclpdb1)(CID=(PROGRAM=x))))";
        assert_eq!(value_of(d, "SERVICE_NAME").as_deref(), Some("orclpdb1"));
        assert_eq!(value_of(d, "SID"), None);
        assert_eq!(value_of("(CONNECT_DATA=(COMMAND=version))", "COMMAND").as_deref(), Some("version"));
    }

    #[test]
    fn packets_state_their_length() {
        let r = refuse(318_767_104, 12514);
        assert_eq!(usize::from(u16::from_be_bytes([r[0], r[1]])), r.len());
        let v = version_answer(&ListenerConfig::default(), 314);
        let first = usize::from(u16::from_be_bytes([v[0], v[1]]));
        assert_eq!(v[4], ACCEPT);
        assert_eq!(v[first + 4], DATA);
        let redirected = redirect("db2", 49153, "(DESCRIPTION=)");
        assert_eq!(u16::from_be_bytes([redirected[8], redirected[9]]) as usize, redirected.len() - 10 - 10);
    }
}
