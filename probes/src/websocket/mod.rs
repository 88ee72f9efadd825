//! `websocket` (and `wss`, the same over TLS): the RFC 6455 opening and closing handshakes.
//!
//! The upgrade request carries a fresh random key; only a 101 whose Sec-WebSocket-Accept is
//! that key's SHA-1 with RFC 6455's GUID proves a WebSocket server (`speaks`): an HTTP server
//! that answers 101 to anything, or a proxy that invents the handshake, gets the accept wrong
//! and is named (`websocket.accept_mismatch`). The probe then sends a Close frame and waits for
//! the server's (`healthy`: the endpoint runs the protocol, not only the handshake). Refusals
//! are decoded: 401 and 403 say a token is wanted (WSO2 API Manager's WebSocket gateway),
//! 404 the path, 426 the version. The exchange is short and written by hand (`wire.rs`), the
//! head parsed by httparse; TLS is the shared engine under `wss`.

pub mod codes;
pub mod options;
pub mod wire;

pub use options::WebsocketOptions;

use ring::rand::SecureRandom;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::codes::core;
use crate::net::{self, BoxIo, Conn, read_failure};
use crate::{Failure, Level, Phase, Probe, ProbeCx, Target, sniff};
use wire::Head;

/// The `websocket` probe.
#[derive(Debug, Clone, Copy)]
pub struct Websocket;

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "websocket",
    summary: "WebSocket (RFC 6455): the upgrade's Sec-WebSocket-Accept, then the close handshake (wss: over TLS)",
    proves: "WebSocket (RFC 6455): an upgrade request with a fresh key; a 101 whose Sec-WebSocket-Accept is right for that key is `speaks` (a wrong or missing one is `websocket.accept_mismatch`: a broken proxy or a fake upgrade); the server's answer to the probe's Close frame is `healthy`, with its close code in the facts. 400, 401, 403, 404 and 426 are decoded (401 and 403 without an `Authorization` header are `auth.no_credentials`: API Manager's gateway wants a token); path (`--path`, the URL's path) and headers (`--header`) settable; the TLS engine under `wss`",
    default_ports: &[9099],
    options: Some(&options::SECTION),
    tls_alias: Some("wss"),
    url_schemes: &[
        crate::UrlScheme { scheme: "ws", default_port: 80, tls: false, path_key: Some("path") },
        crate::UrlScheme { scheme: "wss", default_port: 443, tls: true, path_key: Some("path") },
    ],
    codes: codes::CODES,
    refines: Some("http"),
    ..crate::About::DEFAULT
};

impl Probe for Websocket {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    fn validate(&self, t: &Target) -> Result<(), Failure> {
        validate(&t.options_or_default::<WebsocketOptions>())
    }
    fn key_facts(&self, facts: &crate::Facts, mut generic: Vec<String>) -> Vec<String> {
        if let Some(p) = facts.get("websocket_path").and_then(|v| v.as_str()) {
            generic.push(format!("path {p}"));
        }
        if let Some(c) = facts.get("websocket_close_code") {
            generic.push(format!("closed with {c}"));
        }
        generic
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(async move { run(t, cx, &t.options_or_default::<WebsocketOptions>()).await })
    }
}

/// Checks the path and headers before any I/O: nothing may break the request's lines, and the
/// handshake's own headers are the probe's.
fn validate(o: &WebsocketOptions) -> Result<(), Failure> {
    let bad = |c: char| c.is_ascii_control() || c == ' ';
    if !o.path.starts_with('/') || o.path.chars().any(bad) {
        return Err(Failure::config(format!(
            "websocket.path: {:?} must start with / and hold no spaces or control characters",
            o.path
        )));
    }
    for (k, v) in &o.headers {
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if k.is_empty() || !k.chars().all(token) {
            return Err(Failure::config(format!("websocket.headers: {k:?} is not a header name")));
        }
        if v.chars().any(|c| c.is_ascii_control() && c != '\t') {
            return Err(Failure::config(format!("websocket.headers.{k}: the value holds a control character")));
        }
        if wire::RESERVED.iter().any(|r| k.eq_ignore_ascii_case(r)) {
            return Err(Failure::config(format!(
                "websocket.headers.{k}: the handshake sets this header itself (its key is checked in the answer)"
            )));
        }
    }
    Ok(())
}

const EXPECTED: sniff::Expected<'static> =
    sniff::Expected { name: "websocket", label: "WebSocket", over_tls: Some("wss") };

fn random<const N: usize>() -> Result<[u8; N], Failure> {
    let mut b = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| core::ERROR.failure_in(Phase::Request, "no random bytes from the system for the key"))?;
    Ok(b)
}

async fn run(t: &Target, cx: &mut ProbeCx, o: &WebsocketOptions) -> Result<(), Failure> {
    let net::Opened { mut conn, tape, peer } = net::open(cx, t, &[b"http/1.1"]).await?;
    cx.phase(Phase::Request);
    cx.fact("websocket_path", o.path.clone());
    let key = wire::key(random()?);
    let headers: Vec<(String, String)> = o.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    conn.write_all(&wire::request(&o.path, &t.authority(), &headers, &key))
        .await
        .map_err(|e| read_failure(&e, Phase::Request, "sending the upgrade request"))?;

    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, used) = loop {
        match wire::parse_head(&buf) {
            Ok(Some(h)) => break h,
            Ok(None) => {}
            Err(_) => {
                return Err(sniff::not_expected(
                    cx,
                    &mut conn,
                    &tape,
                    &EXPECTED,
                    "the upgrade request",
                    &codes::MALFORMED,
                )
                .await);
            }
        }
        let n = match conn.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) if buf.is_empty() && net::is_reset(&e) => 0,
            Err(e) => return Err(read_failure(&e, Phase::Request, "reading the answer to the upgrade")),
        };
        if n == 0 {
            if buf.is_empty() {
                let f = Failure::new(
                    &codes::NO_RESPONSE,
                    Phase::Request,
                    "the peer closed the connection on the upgrade request",
                );
                return Err(sniff::silent_then_closed(cx, t, peer, &EXPECTED, "the upgrade request", f).await);
            }
            return Err(Failure::new(
                &codes::MALFORMED,
                Phase::Request,
                format!("the peer closed after {} bytes of the answer's head", buf.len()),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    cx.fact("http_status", head.status);
    if let Some(s) = head.get("server") {
        cx.fact("http_server", s.to_owned());
    }
    if head.status != 101 {
        let mut body = buf[used..].to_vec();
        if body.len() < 512 {
            body.extend(net::read_available(&mut conn, 512 - body.len(), std::time::Duration::from_millis(100)).await);
        }
        if head.status == 400 && t.over == crate::Over::Tcp && sniff::https_only_complaint(&body) {
            cx.identify("tls");
            return Err(Failure::new(
                &core::PROTO_MISMATCH,
                Phase::Request,
                "the server answered HTTP 400 saying this port expects TLS (plain ws:// sent to a TLS port)",
            )
            .hint("use expect: wss (a wss:// URL, or over: tls) for this port"));
        }
        return Err(refusal(cx, o, &head, &body));
    }
    if !head.has_token("upgrade", "websocket") || !head.has_token("connection", "upgrade") {
        return Err(Failure::new(
            &codes::UPGRADE_MISSING,
            Phase::Request,
            format!(
                "101 {} with Upgrade: {} and Connection: {}",
                head.reason,
                head.get("upgrade").unwrap_or("(none)"),
                head.get("connection").unwrap_or("(none)")
            ),
        ));
    }
    let want = wire::accept_for(&key);
    match head.get("sec-websocket-accept") {
        Some(got) if got == want => {}
        got => {
            cx.fact("websocket_accept_ok", false);
            return Err(Failure::new(
                &codes::ACCEPT_MISMATCH,
                Phase::Request,
                match got {
                    Some(got) => {
                        format!("101 with Sec-WebSocket-Accept {got:?}, where the key sent calls for {want:?}")
                    }
                    None => "101 without a Sec-WebSocket-Accept header".to_owned(),
                },
            ));
        }
    }
    cx.reach(Level::Speaks);
    cx.fact("protocol", "WebSocket (RFC 6455)");
    cx.fact("websocket_accept_ok", true);
    if let Some(p) = head.get("sec-websocket-protocol") {
        cx.fact("websocket_subprotocol", p.to_owned());
    }
    if let Some(x) = head.get("sec-websocket-extensions") {
        cx.fact("websocket_extensions", x.to_owned());
    }
    close(cx, &mut conn, buf[used..].to_vec()).await
}

/// The close handshake (§7.1.2): our masked Close, then frames until the server's Close.
async fn close(cx: &mut ProbeCx, conn: &mut Conn<BoxIo>, mut pending: Vec<u8>) -> Result<(), Failure> {
    cx.phase(Phase::Query);
    conn.write_all(&wire::close_frame(1000, random()?))
        .await
        .map_err(|e| read_failure(&e, Phase::Query, "sending the Close frame"))?;
    let mut skipped = 0u64;
    let mut chunk = [0u8; 4096];
    let incomplete = |why: String| Failure::new(&codes::CLOSE_INCOMPLETE, Phase::Query, why);
    let broken = |why: String| Failure::new(&codes::PROTOCOL_ERROR, Phase::Query, why);
    // Bytes of a data frame's payload still to come, read past.
    let mut discard = 0u64;
    loop {
        if discard == 0 {
            match wire::frame_header(&pending) {
                Err(e) => return Err(broken(format!("after the upgrade: {e}"))),
                Ok(Some(h)) if h.masked => {
                    return Err(broken(format!(
                        "the server sent a masked frame (opcode {:#x}); §5.1 forbids it",
                        h.opcode
                    )));
                }
                Ok(Some(h)) if h.opcode == wire::CLOSE => {
                    let end = h.header_len + h.len as usize;
                    if pending.len() >= end {
                        let (code, reason) = wire::close_payload(&pending[h.header_len..end])
                            .map_err(|e| broken(format!("the server's Close: {e}")))?;
                        match code {
                            Some(c) => cx.fact("websocket_close_code", c),
                            None => cx.fact("websocket_close_code", "none"),
                        }
                        if !reason.is_empty() {
                            cx.fact("websocket_close_reason", reason);
                        }
                        let _ = tokio::time::timeout(std::time::Duration::from_millis(100), conn.shutdown()).await;
                        cx.reach(Level::Healthy);
                        return Ok(());
                    }
                }
                Ok(Some(h)) => {
                    skipped += h.len;
                    if skipped > wire::MAX_BEFORE_CLOSE {
                        return Err(incomplete(format!(
                            "the server sent over {} bytes of messages after the Close without its own",
                            wire::MAX_BEFORE_CLOSE
                        )));
                    }
                    let total = h.header_len as u64 + h.len;
                    if (pending.len() as u64) >= total {
                        pending.drain(..total as usize);
                        continue;
                    }
                    discard = total - pending.len() as u64;
                    pending.clear();
                }
                Ok(None) => {}
            }
        }
        let n = match conn.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) if net::is_reset(&e) => 0,
            Err(e) => return Err(read_failure(&e, Phase::Query, "reading the server's Close")),
        };
        if n == 0 {
            return Err(incomplete("the server closed the connection without answering the Close frame".into()));
        }
        let mut got = &chunk[..n];
        if discard > 0 {
            let d = discard.min(got.len() as u64) as usize;
            discard -= d as u64;
            got = &got[d..];
        }
        pending.extend_from_slice(got);
    }
}

/// A status other than 101, decoded.
fn refusal(cx: &mut ProbeCx, o: &WebsocketOptions, head: &Head, body: &[u8]) -> Failure {
    let status = head.status;
    let text: String = String::from_utf8_lossy(body)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect();
    let said = if text.is_empty() { String::new() } else { format!(": {text}") };
    let line = format!("the server answered the upgrade with HTTP {status} {}{said}", head.reason);
    match status {
        400 => Failure::new(&codes::BAD_REQUEST, Phase::Request, line),
        401 | 403 => {
            if let Some(w) = head.get("www-authenticate") {
                cx.fact("http_www_authenticate", w.to_owned());
            }
            let token = o.headers.keys().any(|k| k.eq_ignore_ascii_case("authorization"));
            if token {
                Failure::new(&core::AUTH_REJECTED, Phase::Request, format!("{line} (the Authorization header was refused)"))
                    .hint("the token or credentials in the Authorization header were refused: renew the token, or check its scopes for this API")
            } else {
                Failure::new(&core::AUTH_NO_CREDENTIALS, Phase::Request, line).hint(
                    "the endpoint wants credentials: WSO2 API Manager's WebSocket gateway wants an OAuth token, --header 'Authorization: Bearer TOKEN' (a 403 may also be an Origin the server refuses: --header 'Origin: ...')",
                )
            }
        }
        404 => Failure::new(&codes::NOT_FOUND, Phase::Request, format!("{line} (path {})", o.path)),
        426 => {
            let v = head
                .get("sec-websocket-version")
                .map(|v| format!(" (it speaks Sec-WebSocket-Version {v})"))
                .unwrap_or_default();
            Failure::new(&codes::VERSION_REFUSED, Phase::Request, format!("{line}{v}"))
        }
        s => {
            let to = head.get("location").map(|l| format!(" (to {l})")).unwrap_or_default();
            codes::NOT_UPGRADED.failure_with(s, Phase::Request, format!("{line}{to}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A peer that reads the request and answers with what `answer` makes of the key.
    async fn peer(answer: fn(&str) -> Vec<u8>) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut req = vec![0u8; 4096];
            let n = s.read(&mut req).await.unwrap();
            let req = String::from_utf8_lossy(&req[..n]).into_owned();
            let key = req.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap_or("").to_owned();
            let _ = s.write_all(&answer(&key)).await;
            // Read the Close (or anything), then hang up.
            let mut rest = [0u8; 64];
            let _ = s.read(&mut rest).await;
        });
        port
    }

    async fn probe(port: u16, o: WebsocketOptions) -> crate::Outcome {
        let mut t = Target::new("127.0.0.1", port);
        t.set_options(o);
        let mut cx = ProbeCx::new(Some(std::time::Instant::now() + std::time::Duration::from_secs(5)));
        Websocket.probe(&t, &mut cx).await
    }

    fn upgraded(key: &str, accept: &str, then: &[u8]) -> Vec<u8> {
        let _ = key;
        let mut a = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .into_bytes();
        a.extend_from_slice(then);
        a
    }

    #[tokio::test]
    async fn a_right_accept_and_a_close_is_healthy() {
        // A text message first, then the Close: the message is read past.
        let o =
            probe(peer(|k| upgraded(k, &wire::accept_for(k), b"\x81\x02hi\x88\x02\x03\xe8")).await, Default::default())
                .await;
        assert_eq!(o.level, Level::Healthy, "{:?}", o.failure);
        assert_eq!(o.facts["websocket_close_code"], 1000);
    }

    #[tokio::test]
    async fn a_wrong_accept_is_a_broken_proxy_and_fails() {
        let o = probe(peer(|k| upgraded(k, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", b"")).await, Default::default()).await;
        assert_eq!(o.level, Level::Open);
        assert_eq!(o.failure.unwrap().code, "websocket.accept_mismatch");
    }

    #[tokio::test]
    async fn an_upgrade_then_a_hang_up_speaks_but_is_not_healthy() {
        let o = probe(peer(|k| upgraded(k, &wire::accept_for(k), b"")).await, Default::default()).await;
        assert_eq!(o.level, Level::Speaks);
        assert_eq!(o.failure.unwrap().code, "websocket.close_incomplete");
    }

    #[tokio::test]
    async fn a_masked_server_frame_is_a_protocol_error() {
        let o = probe(
            peer(|k| upgraded(k, &wire::accept_for(k), b"\x88\x82\x00\x00\x00\x00\x03\xe8")).await,
            Default::default(),
        )
        .await;
        assert_eq!(o.level, Level::Speaks);
        assert_eq!(o.failure.unwrap().code, "websocket.protocol_error");
    }

    #[tokio::test]
    async fn refusals_are_decoded() {
        let o = probe(
            peer(|_| b"HTTP/1.1 400 Bad Request\r\nContent-Length: 4\r\n\r\nnope".to_vec()).await,
            Default::default(),
        )
        .await;
        let f = o.failure.unwrap();
        assert_eq!((o.level, f.code.as_str()), (Level::Open, "websocket.bad_request"));
        assert!(f.message.ends_with(": nope"), "{}", f.message);
        let o = probe(
            peer(|_| b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13, 8\r\n\r\n".to_vec()).await,
            Default::default(),
        )
        .await;
        let f = o.failure.unwrap();
        assert_eq!(f.code, "websocket.upgrade_required");
        assert!(f.message.contains("13, 8"), "{}", f.message);
        let o =
            probe(peer(|_| b"HTTP/1.1 302 Found\r\nLocation: /login\r\n\r\n".to_vec()).await, Default::default()).await;
        assert_eq!(o.failure.unwrap().code, "websocket.not_upgraded.302");
        let with_token = WebsocketOptions {
            headers: [("Authorization".to_owned(), "Bearer expired".to_owned())].into(),
            ..Default::default()
        };
        let o = probe(peer(|_| b"HTTP/1.1 401 Unauthorized\r\n\r\n".to_vec()).await, with_token).await;
        assert_eq!(o.failure.unwrap().code, "auth.rejected");
    }

    #[test]
    fn the_handshake_headers_and_broken_paths_are_refused_before_any_io() {
        let o = WebsocketOptions {
            headers: [("Sec-WebSocket-Key".to_owned(), "x".to_owned())].into(),
            ..Default::default()
        };
        assert!(validate(&o).unwrap_err().message.contains("websocket.headers.Sec-WebSocket-Key"));
        let o = WebsocketOptions { path: "/a b".into(), ..Default::default() };
        assert!(validate(&o).unwrap_err().message.starts_with("websocket.path"));
        let o =
            WebsocketOptions { headers: [("X-A".to_owned(), "1\r\nEvil: 2".to_owned())].into(), ..Default::default() };
        assert!(validate(&o).is_err());
        assert!(validate(&WebsocketOptions::default()).is_ok());
    }
}
