//! `thrift` (and `thrifts`, the same over TLS): a call of a method that cannot exist.
//!
//! A Thrift server answers a call of a name no service has with a TApplicationException of
//! type UNKNOWN_METHOD: that answer proves the port is a Thrift server, which stack it speaks,
//! and that it dispatches calls (`speaks` and `healthy` at once). A port does not say which
//! stack it speaks, and a wrong one gets a reset or silence from real servers, so the probe
//! tries binary unframed, binary framed, then compact framed, each attempt short and on its own
//! connection, closed as soon as it is done (single-threaded Thrift servers serve one
//! connection at a time). The messages are written and read by hand (`wire.rs`): no Thrift
//! crate exposes a raw call without generated code.

pub mod codes;
pub mod wire;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::{self, BoxIo, Conn, read_head};
use crate::{Failure, Level, Phase, Probe, ProbeCx, Target, sniff};
use wire::{Framing, Malformed, Message, Protocol};

/// The `thrift` probe.
#[derive(Debug, Clone, Copy)]
pub struct Thrift;

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "thrift",
    summary: "Apache Thrift: a call of a method that cannot exist draws UNKNOWN_METHOD (thrifts: over TLS)",
    proves: "Apache Thrift: a call of a method no service has, in binary unframed, binary framed, then compact framed, each attempt short and on its own connection; the TApplicationException UNKNOWN_METHOD answering it (with its text and our sequence id) is `speaks` and `healthy`, with the protocol and framing in the facts and the server's library where its wording shows it (Java or C++: \"Invalid method name\"; Python or Go: \"Unknown function\"); another exception type is `thrift.exception.<TYPE>`",
    default_ports: &[7611, 7711, 9160, 7612, 7712, 10500, 11224, 7614],
    tls_alias: Some("thrifts"),
    codes: codes::CODES,
    ..crate::About::DEFAULT
};

impl Probe for Thrift {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    fn key_facts(&self, facts: &crate::Facts, mut generic: Vec<String>) -> Vec<String> {
        if let Some(l) = facts.get("thrift_server_language").and_then(|v| v.as_str()) {
            generic.push(format!("server: {}", l.split(" (").next().unwrap_or(l)));
        }
        generic
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(run(t, cx))
    }
}

const EXPECTED: sniff::Expected<'static> =
    sniff::Expected { name: "thrift", label: "Thrift", over_tls: Some("thrifts") };

/// The longest one attempt waits for an answer: a real server answers a right stack at once,
/// and a wrong one with a reset, a close, or a wait for bytes that never come.
const ATTEMPT: Duration = Duration::from_millis(1500);

/// What one attempt heard.
enum Heard {
    /// A Thrift message of the stack tried.
    Message(Message),
    /// The peer closed or reset without a byte.
    Closed(&'static str),
    /// Bytes that are not a Thrift answer of this stack, and why.
    Bad(String),
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let seqid = sequence_id();
    let mut tried = Vec::new();
    let mut malformed: Option<String> = None;
    let mut peer = None;
    for (i, &(protocol, framing)) in wire::ATTEMPTS.iter().enumerate() {
        let left = (wire::ATTEMPTS.len() - i) as u32;
        let budget =
            cx.remaining().map_or(ATTEMPT, |r| ATTEMPT.min(r.saturating_sub(Duration::from_millis(50)) / left));
        let net::Opened { mut conn, tape, peer: p } = net::open(cx, t, &[]).await?;
        peer = p;
        cx.phase(Phase::Request);
        let stack = format!("{} {}", protocol.name(), framing.name());
        let heard = tokio::time::timeout(budget, attempt(&mut conn, protocol, framing, seqid)).await;
        // Closed at once, whatever came: the next attempt must not wait behind this one.
        let _ = tokio::time::timeout(Duration::from_millis(100), conn.shutdown()).await;
        drop(conn);
        match heard {
            Err(_) => tried.push(format!("{stack}: no answer within {}", crate::humanize(budget))),
            Ok(Heard::Closed(how)) => tried.push(format!("{stack}: {how}")),
            Ok(Heard::Bad(why)) => {
                if let Some(f) = sniff::mismatch(cx, &tape.head(), &EXPECTED, Phase::Request) {
                    return Err(f);
                }
                tried.push(format!("{stack}: {why}"));
                malformed.get_or_insert(format!("{stack}: {why}"));
            }
            Ok(Heard::Message(m)) => return judge(cx, protocol, framing, seqid, m),
        }
    }
    let all = tried.join("; ");
    if let Some(why) = malformed {
        return Err(Failure::new(
            &codes::MALFORMED,
            Phase::Request,
            format!("no Thrift answer to a call in any of the three stacks ({all}); first: {why}"),
        ));
    }
    let f = Failure::new(&codes::NO_RESPONSE, Phase::Request, format!("no answer in any of the three stacks: {all}"));
    Err(sniff::silent_then_closed(cx, t, peer, &EXPECTED, "three Thrift calls", f).await)
}

/// What a Thrift message answering our call proves.
fn judge(cx: &mut ProbeCx, protocol: Protocol, framing: Framing, seqid: i32, m: Message) -> Result<(), Failure> {
    if m.seqid != seqid || !matches!(m.kind, wire::REPLY | wire::EXCEPTION) {
        return Err(Failure::new(
            &codes::MALFORMED,
            Phase::Request,
            format!(
                "a Thrift-shaped message of type {} with sequence id {} answered a call with sequence id {seqid}",
                m.kind, m.seqid
            ),
        ));
    }
    cx.reach(Level::Speaks);
    cx.fact("protocol", format!("Thrift ({}, {})", protocol.name(), framing.name()));
    cx.fact("thrift_protocol", protocol.name());
    cx.fact("thrift_framing", framing.name());
    if m.name != wire::METHOD {
        cx.fact("thrift_answer_method", m.name.clone());
    }
    let Some(x) = m.exception else {
        return Err(Failure::new(
            &codes::UNEXPECTED_REPLY,
            Phase::Request,
            format!("the server sent a REPLY to {}, a method no service has", wire::METHOD),
        ));
    };
    if let Some(text) = &x.message {
        cx.fact("thrift_exception_message", text.clone());
        if let Some(lang) = wire::language_hint(text) {
            cx.fact("thrift_server_language", lang);
        }
    }
    let kind = x.kind.unwrap_or(0);
    let name = wire::exception_name(kind).map_or_else(|| format!("TYPE_{kind}"), str::to_owned);
    cx.fact("thrift_exception", name.clone());
    if kind == 1 {
        cx.reach(Level::Healthy);
        return Ok(());
    }
    let text = x.message.as_deref().unwrap_or("(no message)");
    Err(codes::EXCEPTION.failure_with(
        &name,
        Phase::Request,
        format!("the server answered the call with TApplicationException {name} ({kind}): {text}"),
    ))
}

/// One call on its own connection, and what came back.
async fn attempt(conn: &mut Conn<BoxIo>, protocol: Protocol, framing: Framing, seqid: i32) -> Heard {
    if conn.write_all(&wire::call(protocol, framing, seqid)).await.is_err() {
        return Heard::Closed("reset on the call");
    }
    match framing {
        Framing::Framed => {
            let mut head = [0u8; 4];
            match read_head(conn, &mut head, Phase::Request, "reading the frame length").await {
                Ok(0) => return Heard::Closed("closed without answering"),
                Ok(4) => {}
                Ok(n) => return Heard::Bad(format!("closed after {n} bytes")),
                Err(f) => return Heard::Bad(f.message),
            }
            let len = match wire::frame_len(head) {
                Ok(n) => n,
                Err(Malformed::Bad(why)) => return Heard::Bad(why),
                Err(Malformed::Short) => return Heard::Bad("a frame length too short for a message".into()),
            };
            let mut body = vec![0u8; len];
            match read_head(conn, &mut body, Phase::Request, "reading the frame").await {
                Ok(n) if n == len => {}
                Ok(n) => return Heard::Bad(format!("the frame of {len} bytes ended after {n}")),
                Err(f) => return Heard::Bad(f.message),
            }
            match wire::parse(protocol, &body) {
                Ok((m, _)) => Heard::Message(m),
                Err(Malformed::Short) => Heard::Bad(format!("the frame of {len} bytes ends inside the message")),
                Err(Malformed::Bad(why)) => Heard::Bad(why),
            }
        }
        Framing::Unframed => {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                match wire::parse(protocol, &buf) {
                    Ok((m, _)) => return Heard::Message(m),
                    Err(Malformed::Bad(why)) => return Heard::Bad(why),
                    Err(Malformed::Short) if buf.len() >= wire::MAX_MESSAGE => {
                        return Heard::Bad(format!("no whole message in the first {} bytes", buf.len()));
                    }
                    Err(Malformed::Short) => {}
                }
                let room = chunk.len().min(wire::MAX_MESSAGE - buf.len());
                match conn.read(&mut chunk[..room]).await {
                    Ok(0) if buf.is_empty() => return Heard::Closed("closed without answering"),
                    Ok(0) => return Heard::Bad(format!("closed after {} bytes, inside a message", buf.len())),
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e) if buf.is_empty() && net::is_reset(&e) => return Heard::Closed("reset without answering"),
                    Err(e) => return Heard::Bad(net::read_failure(&e, Phase::Request, "reading the answer").message),
                }
            }
        }
    }
}

/// A sequence id of this run, never 0 (the value a careless responder would echo by chance).
fn sequence_id() -> i32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.subsec_nanos());
    ((nanos & 0x7fff_fffe) | 1) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A peer that answers every connection with `answer(call)`, or closes when it gives none.
    async fn peer(answer: fn(&[u8]) -> Option<Vec<u8>>) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut call = [0u8; 256];
                    let n = s.read(&mut call).await.unwrap_or(0);
                    if let Some(a) = answer(&call[..n]) {
                        let _ = s.write_all(&a).await;
                    }
                });
            }
        });
        port
    }

    async fn probe(port: u16) -> crate::Outcome {
        let t = Target::new("127.0.0.1", port);
        let mut cx = ProbeCx::new(Some(std::time::Instant::now() + Duration::from_secs(5)));
        Thrift.probe(&t, &mut cx).await
    }

    /// A framed binary EXCEPTION answering `call` (a framed binary call) with `kind`.
    fn framed_exception(call: &[u8], kind: i32) -> Option<Vec<u8>> {
        // Only framed calls: the first word of a framed call is its (small) length.
        if call.len() < 8 || call[0] != 0 {
            return None;
        }
        let seqid = &call[4 + 8 + wire::METHOD.len()..4 + 12 + wire::METHOD.len()];
        let mut m = b"\x80\x01\x00\x03".to_vec();
        m.extend_from_slice(&(wire::METHOD.len() as i32).to_be_bytes());
        m.extend_from_slice(wire::METHOD.as_bytes());
        m.extend_from_slice(seqid);
        m.extend_from_slice(b"\x0b\x00\x01\x00\x00\x00\x04oops\x08\x00\x02");
        m.extend_from_slice(&kind.to_be_bytes());
        m.push(0);
        let mut out = (m.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(&m);
        Some(out)
    }

    #[tokio::test]
    async fn a_framed_server_is_found_on_the_second_attempt() {
        let o = probe(peer(|c| framed_exception(c, 1)).await).await;
        assert_eq!(o.level, Level::Healthy, "{:?}", o.failure);
        assert_eq!(o.facts["thrift_framing"], "framed");
        assert_eq!(o.facts["thrift_exception"], "UNKNOWN_METHOD");
    }

    #[tokio::test]
    async fn another_exception_type_speaks_but_is_named() {
        let o = probe(peer(|c| framed_exception(c, 7)).await).await;
        assert_eq!(o.level, Level::Speaks);
        assert_eq!(o.failure.unwrap().code, "thrift.exception.PROTOCOL_ERROR");
    }

    #[tokio::test]
    async fn a_wrong_sequence_id_is_not_evidence() {
        fn wrong(c: &[u8]) -> Option<Vec<u8>> {
            let mut a = framed_exception(c, 1)?;
            let at = 4 + 8 + wire::METHOD.len();
            a[at] ^= 0x40;
            Some(a)
        }
        let o = probe(peer(wrong).await).await;
        assert_eq!(o.level, Level::Open);
        assert_eq!(o.failure.unwrap().code, "thrift.malformed");
    }

    #[tokio::test]
    async fn a_port_that_closes_on_everything_is_no_response() {
        let o = probe(peer(|_| None).await).await;
        assert_eq!(o.level, Level::Open);
        let f = o.failure.unwrap();
        assert_eq!(f.code, "thrift.no_response");
        assert!(f.message.contains("compact framed"), "{}", f.message);
    }
}
