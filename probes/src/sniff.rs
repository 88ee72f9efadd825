//! Names the protocol a peer spoke when it was not the one expected.
//!
//! [`identify`] looks at the first bytes a peer sent (passively, from a connection's
//! [`crate::net::Tape`]); [`poke`] opens a fresh connection, sends a probe's opening bytes (a
//! real TLS ClientHello from [`client_hello`]) and names the answer. Signatures are ordered
//! most specific first; each cites what it matches so later issues can add theirs beside them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::net::read_available;

/// What was heard: a protocol name (as used in `identified`) and the evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heard {
    /// Stable protocol name: `http`, `tls`, `ssh`, `mysql`, `amqp`, `amqp1.0`, ...
    pub protocol: &'static str,
    /// The evidence, quoted for a person: a status line, a banner, an alert name.
    pub detail: String,
}

impl Heard {
    fn new(protocol: &'static str, detail: impl Into<String>) -> Self {
        Heard { protocol, detail: detail.into() }
    }
}

/// Names the protocol of `bytes`, the first bytes a peer sent, if a signature matches.
pub fn identify(bytes: &[u8]) -> Option<Heard> {
    if bytes.is_empty() {
        return None;
    }
    if let Some(h) = tls_record(bytes) {
        return Some(h);
    }
    let line = first_line(bytes);
    // RFC 9112 section 4: status-line = HTTP-version SP status-code SP [ reason-phrase ].
    if bytes.starts_with(b"HTTP/") {
        if https_only_complaint(bytes) {
            return Some(Heard::new("tls", format!("an HTTPS server answered a plain request: {line}")));
        }
        return Some(Heard::new("http", line));
    }
    // RFC 4253 section 4.2: the identification string.
    if bytes.starts_with(b"SSH-") {
        return Some(Heard::new("ssh", line));
    }
    // AMQP 0-9-1 section 4.2.2 / AMQP 1.0 section 2.2: a server that dislikes our header
    // answers with its own protocol header.
    if bytes.len() >= 8 && bytes.starts_with(b"AMQP") {
        let version: [u8; 4] = bytes[4..8].try_into().expect("length checked");
        return Some(match version {
            [0, 0, 9, 1] => Heard::new("amqp", "AMQP 0-9-1 protocol header"),
            [id, 1, 0, 0] => Heard::new("amqp1.0", format!("AMQP 1.0 protocol header (protocol id {id})")),
            [a, b, c, d] => Heard::new("amqp", format!("AMQP protocol header {a}-{b}-{c}-{d}")),
        });
    }
    // OPC UA Part 6 section 7.1.2: message types ACK and ERR, chunk type F.
    if bytes.starts_with(b"ACKF") || bytes.starts_with(b"ERRF") {
        return Some(Heard::new("opcua", format!("OPC UA TCP {} message", &line[..3])));
    }
    if let Some(h) = mysql_greeting(bytes) {
        return Some(h);
    }
    if let Some(h) = tns_answer(bytes) {
        return Some(h);
    }
    // PostgreSQL protocol, ErrorResponse: 'E', int32 length, fields like "SFATAL".
    if bytes[0] == b'E' && bytes.len() > 6 && contains(bytes, b"SFATAL") {
        return Some(Heard::new("postgres", "PostgreSQL ErrorResponse"));
    }
    // MQTT 3.1.1 section 3.2: CONNACK fixed header 0x20, remaining length 2.
    if bytes.len() >= 4 && bytes[0] == 0x20 && (bytes[1] == 2 || bytes[1] == 3) {
        return Some(Heard::new("mqtt", "MQTT CONNACK"));
    }
    if bytes.starts_with(b"INFO {") {
        return Some(Heard::new("nats", "NATS INFO"));
    }
    if bytes.starts_with(b"RFB ") {
        return Some(Heard::new("vnc", line));
    }
    if bytes.starts_with(b"-ERR") || bytes.starts_with(b"-NOAUTH") || bytes.starts_with(b"+PONG") {
        return Some(Heard::new("redis", line));
    }
    if bytes.starts_with(b"+OK") {
        return Some(Heard::new("pop3", line));
    }
    if bytes.starts_with(b"* OK") || bytes.starts_with(b"* PREAUTH") {
        return Some(Heard::new("imap", line));
    }
    // RFC 5321 section 4.2 / RFC 959 section 4.2: "220" greetings.
    if bytes.starts_with(b"220") {
        let upper = line.to_ascii_uppercase();
        let proto = if upper.contains("FTP") { "ftp" } else { "smtp" };
        return Some(Heard::new(proto, line));
    }
    // RFC 854: telnet option negotiation starts with IAC (255) WILL/WONT/DO/DONT.
    if bytes.len() >= 2 && bytes[0] == 0xff && (0xfb..=0xfe).contains(&bytes[1]) {
        return Some(Heard::new("telnet", "telnet option negotiation"));
    }
    // RFC 1006 TPKT (RDP, ISO-TSAP): version 3, reserved 0.
    if bytes.len() >= 4 && bytes[0] == 3 && bytes[1] == 0 {
        return Some(Heard::new("tpkt", "TPKT header (RDP or ISO-TSAP)"));
    }
    let lower = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).to_ascii_lowercase();
    if lower.trim_start().starts_with("<!doctype html") || lower.trim_start().starts_with("<html") {
        return Some(Heard::new("http", "an HTML page without an HTTP status line (HTTP/0.9)"));
    }
    None
}

/// Whether an HTTP answer is a TLS server complaining about a plain-text request:
/// nginx ("The plain HTTP request was sent to HTTPS port") and Go's net/http
/// ("Client sent an HTTP request to an HTTPS server.").
pub fn https_only_complaint(answer: &[u8]) -> bool {
    contains(answer, b"plain HTTP request was sent to HTTPS port")
        || contains(answer, b"Client sent an HTTP request to an HTTPS server")
}

/// Whether an HTTP answer is a server refusing a client without a certificate after the TLS
/// handshake let it in: nginx with `ssl_verify_client on` ("No required SSL certificate was
/// sent"), which refuses at the HTTP layer rather than with a TLS alert.
pub fn client_cert_complaint(answer: &[u8]) -> bool {
    contains(answer, b"No required SSL certificate was sent")
}

/// RFC 8446 section 5.1 (and RFC 5246 6.2.1): ContentType, legacy version 3.x, 16-bit length.
fn tls_record(b: &[u8]) -> Option<Heard> {
    if b.len() < 5 || b[1] != 3 || b[2] > 4 {
        return None;
    }
    match b[0] {
        22 => Some(Heard::new("tls", "TLS handshake record")),
        21 if b.len() >= 7 => Some(Heard::new(
            "tls",
            format!("TLS alert: {} ({})", alert_name(b[6]), if b[5] == 2 { "fatal" } else { "warning" }),
        )),
        21 => Some(Heard::new("tls", "TLS alert record")),
        20 | 23 => Some(Heard::new("tls", "TLS record")),
        _ => None,
    }
}

/// The name of a TLS alert (RFC 8446 section 6, RFC 5246 section 7.2), lowercase with underscores.
pub fn alert_name(code: u8) -> &'static str {
    match code {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "unknown_alert",
    }
}

/// MySQL client/server protocol: a packet (3-byte length, sequence 0) holding either the
/// initial handshake (protocol version 10, NUL-terminated server version) or an ERR packet.
fn mysql_greeting(b: &[u8]) -> Option<Heard> {
    if b.len() < 7 || b[3] != 0 {
        return None;
    }
    let len = u32::from_le_bytes([b[0], b[1], b[2], 0]) as usize;
    if !(4..=1 << 16).contains(&len) {
        return None;
    }
    let body = &b[4..];
    match body[0] {
        10 => {
            let end = body[1..].iter().position(|&c| c == 0)?;
            let version = &body[1..1 + end];
            if version.is_empty() || !version.iter().all(|c| c.is_ascii_graphic()) {
                return None;
            }
            Some(Heard::new("mysql", format!("MySQL handshake, server version {}", String::from_utf8_lossy(version))))
        }
        0xff if body.len() >= 3 => {
            let code = u16::from_le_bytes([body[1], body[2]]);
            let msg = String::from_utf8_lossy(&body[3..]).trim_start_matches('#').to_string();
            Some(Heard::new("mysql", format!("MySQL error {code}: {}", msg.trim())))
        }
        _ => None,
    }
}

/// Oracle Net (TNS), as Wireshark's TNS dissector frames it: a 16-bit packet length of at
/// least the 8-byte header, packet checksum 0, the type of a listener's answer (ACCEPT 2,
/// REFUSE 4, REDIRECT 5, RESEND 11), header checksum 0: what another probe hears when an
/// Oracle listener answers it.
fn tns_answer(b: &[u8]) -> Option<Heard> {
    if b.len() < 8 || b[2..4] != [0, 0] || b[6..8] != [0, 0] {
        return None;
    }
    let len = u16::from_be_bytes([b[0], b[1]]);
    let name = match b[4] {
        2 if len >= 24 => "ACCEPT",
        4 if len >= 12 => "REFUSE",
        5 if len >= 10 => "REDIRECT",
        11 if len == 8 => "RESEND",
        _ => return None,
    };
    Some(Heard::new("oracle", format!("Oracle TNS {name} packet")))
}

fn first_line(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == b'\n' || c == b'\r').unwrap_or(b.len()).min(200);
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A short printable rendering of bytes nobody recognised, for failure messages.
pub fn describe(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(24)];
    if shown.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        format!("{:?}", String::from_utf8_lossy(shown))
    } else {
        shown.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
    }
}

/// The bytes of a real TLS ClientHello for `server_name`, built by rustls, to ask a port
/// whether it speaks TLS.
pub fn client_hello(server_name: &str) -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(server_name.to_owned())
        .unwrap_or_else(|_| rustls_pki_types::ServerName::try_from("localhost").expect("valid name"));
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client connection");
    let mut out = Vec::new();
    conn.write_tls(&mut out).expect("write to a Vec");
    out
}

/// Longest we spend on a second connection that only asks "is this TLS?".
pub const POKE_BUDGET: Duration = Duration::from_millis(800);

/// The time a side question may take: [`POKE_BUDGET`], less when the deadline is nearer, so
/// that it never pushes the verdict past the deadline.
pub fn poke_budget(remaining: Option<Duration>) -> Duration {
    remaining.map_or(POKE_BUDGET, |r| POKE_BUDGET.min(r.saturating_sub(Duration::from_millis(50))))
}

/// The protocol a probe expects, as the failure for another one names it.
pub struct Expected<'a> {
    /// The probe's name, which the sniffer also uses (`amqp`, `mysql`).
    pub name: &'a str,
    /// How people write it (`AMQP`, `MySQL`).
    pub label: &'a str,
    /// The `expect` name of the same protocol over TLS (`amqps`), when there is one.
    pub over_tls: Option<&'a str>,
}

/// The answer to what a probe sent (`sent`: "CONNECT") is not its protocol: read a little more
/// so the sniffer can name it (`proto.mismatch`), else `malformed` naming what came.
pub async fn not_expected(
    cx: &mut crate::ProbeCx,
    conn: &mut crate::net::Conn<crate::net::BoxIo>,
    tape: &crate::net::Tape,
    expected: &Expected<'_>,
    sent: &str,
    malformed: &'static crate::codes::Code,
) -> crate::Failure {
    let _ = read_available(conn, 512, Duration::from_millis(100)).await;
    let head = tape.head();
    if let Some(f) = mismatch(cx, &head, expected, crate::Phase::Request) {
        return f;
    }
    crate::Failure::new(
        malformed,
        crate::Phase::Request,
        format!("the answer to {sent} is not {}: {}", expected.label, describe(&head)),
    )
    .hint(format!("the port speaks something other than {}: check the port number", expected.label))
}

/// Silence then close on what a probe sent: a TLS port waiting for a ClientHello does exactly
/// that, so ask on a side connection; `f` stands when it is not TLS either.
pub async fn silent_then_closed(
    cx: &mut crate::ProbeCx,
    t: &crate::Target,
    peer: Option<SocketAddr>,
    expected: &Expected<'_>,
    sent: &str,
    f: crate::Failure,
) -> crate::Failure {
    if t.over == crate::Over::Tcp && answers_tls(peer, &t.host, cx.remaining()).await {
        cx.identify("tls");
        let tls = expected.over_tls.unwrap_or("tls");
        return crate::Failure::new(
            &crate::codes::core::PROTO_MISMATCH,
            crate::Phase::Request,
            format!("the port closed on {sent} but completes a TLS ClientHello: it is an {tls} port"),
        )
        .hint(format!("use expect: {tls} (or over: tls)"));
    }
    f
}

/// `proto.mismatch` when `head` is another protocol the sniffer knows, which goes into
/// `identified`; `None` when it is unknown or the expected one (then the probe says malformed).
pub fn mismatch(
    cx: &mut crate::ProbeCx,
    head: &[u8],
    expected: &Expected<'_>,
    phase: crate::Phase,
) -> Option<crate::Failure> {
    let heard = identify(head).filter(|h| h.protocol != expected.name)?;
    cx.identify(heard.protocol);
    let hint = match (heard.protocol, expected.over_tls) {
        ("tls", Some(alias)) => format!("this port speaks TLS: use expect: {alias} (or over: tls)"),
        (p, _) => format!("this port speaks {p}, not {}: check the port number", expected.label),
    };
    Some(
        crate::Failure::new(
            &crate::codes::core::PROTO_MISMATCH,
            phase,
            format!("expected {}, the peer answered in {}: {}", expected.label, heard.protocol, heard.detail),
        )
        .hint(hint),
    )
}

/// Whether the port at `addr` completes a TLS ClientHello, asked on a side connection within
/// what is left of the deadline. A probe whose opening met silence or a hang-up asks it, to
/// tell a TLS port (waiting for a ClientHello) from a service that refused to talk.
pub async fn answers_tls(addr: Option<SocketAddr>, host: &str, remaining: Option<Duration>) -> bool {
    let Some(addr) = addr else { return false };
    let budget = poke_budget(remaining);
    !budget.is_zero() && poke(addr, &client_hello(host), budget).await.is_some_and(|h| h.protocol == "tls")
}

/// Opens a fresh connection to `addr`, sends `opening`, and names what comes back within
/// `budget` in all. For identification only: the answer is never acted on.
pub async fn poke(addr: SocketAddr, opening: &[u8], budget: Duration) -> Option<Heard> {
    let work = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(opening).await.ok()?;
        let got = read_available(&mut s, 4096, budget / 2).await;
        identify(&got)
    };
    tokio::time::timeout(budget, work).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_common_greetings() {
        let cases: &[(&[u8], &str)] = &[
            (b"HTTP/1.1 200 OK\r\nServer: x\r\n", "http"),
            (b"SSH-2.0-OpenSSH_9.6p1 Debian\r\n", "ssh"),
            (b"AMQP\x00\x00\x09\x01", "amqp"),
            (b"AMQP\x03\x01\x00\x00", "amqp1.0"),
            (b"ACKF\x1c\x00\x00\x00", "opcua"),
            (b"220 mail.example ESMTP Postfix\r\n", "smtp"),
            (b"220 ProFTPD Server ready.\r\n", "ftp"),
            (b"+OK POP3 ready\r\n", "pop3"),
            (b"* OK IMAP4rev1\r\n", "imap"),
            (b"-ERR unknown command 'GET'\r\n", "redis"),
            (b"INFO {\"server_id\":\"x\"}\r\n", "nats"),
            (b"RFB 003.008\n", "vnc"),
            (b"\x20\x02\x00\x00", "mqtt"),
            (b"\xff\xfd\x18\xff\xfd\x20", "telnet"),
            (b"<!DOCTYPE html><html>", "http"),
            (b"\x00\x67\x00\x00\x04\x00\x00\x00\x22\x00\x00\x5b(DESCRIPTION=", "oracle"),
            (b"\x00\x08\x00\x00\x0b\x00\x00\x00", "oracle"),
        ];
        for (bytes, proto) in cases {
            assert_eq!(identify(bytes).map(|h| h.protocol), Some(*proto), "{}", describe(bytes));
        }
        assert_eq!(identify(b"\x00\x01\x02\x03\x04"), None);
        assert_eq!(identify(b""), None);
    }

    #[test]
    fn names_tls_records_and_alerts() {
        // Alert record: type 21, TLS 1.2, length 2, fatal (2), decode_error (50).
        let h = identify(&[21, 3, 3, 0, 2, 2, 50]).unwrap();
        assert_eq!(h.protocol, "tls");
        assert!(h.detail.contains("decode_error") && h.detail.contains("fatal"), "{}", h.detail);
        // Handshake record (a ServerHello follows).
        assert_eq!(identify(&[22, 3, 3, 0, 90, 2]).unwrap().detail, "TLS handshake record");
        // Not TLS: legacy version byte out of range.
        assert_eq!(identify(&[22, 9, 9, 0, 1]), None);
    }

    #[test]
    fn names_nginx_complaint_as_tls() {
        let answer =
            b"HTTP/1.1 400 Bad Request\r\n\r\n<html><center>The plain HTTP request was sent to HTTPS port</center>";
        assert_eq!(identify(answer).unwrap().protocol, "tls");
    }

    #[test]
    fn names_nginx_client_certificate_refusal() {
        assert!(client_cert_complaint(b"<center>No required SSL certificate was sent</center>"));
        assert!(!client_cert_complaint(b"<center>400 Bad Request</center>"));
    }

    #[test]
    fn names_mysql_greeting_and_error() {
        // Length 0x4a, sequence 0, protocol 10, "5.5.5-10.11.6-MariaDB\0", ...
        let mut g = vec![0x4a, 0, 0, 0, 10];
        g.extend_from_slice(b"5.5.5-10.11.6-MariaDB\0rest");
        let h = identify(&g).unwrap();
        assert_eq!(h.protocol, "mysql");
        assert!(h.detail.contains("10.11.6-MariaDB"));
        // ERR packet: 0xff, code 1130 (0x046a) little-endian, message.
        let mut e = vec![0x20, 0, 0, 0, 0xff, 0x6a, 0x04];
        e.extend_from_slice(b"Host 'x' is not allowed to connect");
        assert!(identify(&e).unwrap().detail.contains("1130"));
    }

    #[test]
    fn client_hello_is_a_tls_handshake_record() {
        let ch = client_hello("example.com");
        assert_eq!(&ch[..2], &[22, 3]);
        assert_eq!(ch[5], 1, "handshake type client_hello");
        assert!(contains(&ch, b"example.com"), "SNI is present");
        // An IP literal is not a DNS name; the hello must still be produced.
        assert_eq!(client_hello("127.0.0.1")[0], 22);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // Deterministic xorshift, so a failure reproduces; lengths straddle every signature.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let prefixes: [&[u8]; 6] = [b"", b"AMQP", b"HTTP/", &[22, 3], &[21, 3, 3, 0, 2], &[0x4a, 0, 0, 0, 10]];
        for i in 0..20_000 {
            let prefix = prefixes[i % prefixes.len()];
            let len = (next() % 80) as usize;
            let mut bytes = prefix.to_vec();
            bytes.extend((0..len).map(|_| next() as u8));
            let _ = identify(&bytes);
            let _ = describe(&bytes);
        }
        // Every truncation of a real signature, too.
        for sig in [
            &b"AMQP\x00\x00\x09\x01"[..],
            b"\x4a\x00\x00\x00\x0a5.5.5-10\x00",
            &[21, 3, 3, 0, 2, 2, 50],
            b"220 x FTP\r\n",
        ] {
            for n in 0..=sig.len() {
                let _ = identify(&sig[..n]);
            }
        }
    }

    #[test]
    fn describe_is_short_and_printable() {
        assert_eq!(describe(b"hello"), "\"hello\"");
        assert_eq!(describe(&[0, 1, 255]), "00 01 ff");
        assert!(describe(&[b'a'; 100]).len() < 40);
    }
}
