//! `ignite`: Apache Ignite's listeners, named without joining anything.
//!
//! - The thin-client port (10800): the binary client protocol's handshake. An accept is
//!   `speaks` and `healthy` (the node id in the facts when the server sends it); a refusal
//!   carries the server's protocol version and message (`speaks`): a version refusal is
//!   retried once at the server's version, as the thin clients do; an unauthenticated one is
//!   the core `auth.no_credentials`.
//! - The communication port (47100): TcpCommunicationSpi greets every accepted connection
//!   with its node id (NodeIdMessage) before the client says a word: that is `speaks`.
//! - The discovery port (47500): TcpDiscoverySpi sends nothing first, and the probe never sends
//!   a serialized discovery message. What it does observe is the header check: the port holds
//!   a connection that sent Ignite's 4-byte header (`00 00 47 47`) and closes at once one that
//!   sent a header one byte off. Seeing both, on two connections at once, is `speaks`.
//!
//! `ignite.port_kind` names the listener; `auto` (the default) listens first for a node id,
//! then tries the handshake, then the header check when the handshake was hung up on.

mod codes;
pub mod options;
pub mod wire;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::codes::core;
use crate::net::{self, read_failure};
use crate::{Failure, Level, Phase, Probe, ProbeCx, Target, sniff};
use options::{IgniteOptions, PortKind};
use wire::{Greeting, Handshake, Malformed, Version};

/// The Apache Ignite probe.
#[derive(Debug, Clone, Copy)]
pub struct Ignite;

static ABOUT: crate::About = crate::About {
    name: "ignite",
    summary: "Apache Ignite: the thin-client handshake, the communication port's node id, the discovery port's header check",
    proves: "Apache Ignite, without joining anything: the thin-client handshake (10800) accepted is `speaks` and `healthy`, a refusal `speaks` with the server's protocol version and message; the communication port (47100) is `speaks` on the node id it sends first; the discovery port (47500) is `speaks` when it holds a connection after Ignite's header `00 00 47 47` and closes one with a header one byte off (no serialized discovery message is ever sent). `ignite.port_kind` names the listener (default `auto`). Verified against a responder written from Ignite's protocol description, not a real server",
    default_ports: &[10800, 47500, 47100, 5702],
    options: Some(&options::SECTION),
    codes: codes::CODES,
    ..crate::About::DEFAULT
};

const EXPECTED: sniff::Expected<'static> = sniff::Expected { name: "ignite", label: "Apache Ignite", over_tls: None };

/// How long `auto` waits for a communication port's node id before it speaks itself.
const LISTEN: Duration = Duration::from_millis(500);
/// How long the header check waits for the wrong header's connection to be closed.
const HEADER_CHECK: Duration = Duration::from_millis(700);

impl Probe for Ignite {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    fn key_facts(&self, facts: &crate::Facts, mut generic: Vec<String>) -> Vec<String> {
        if let Some(k) = facts.get("ignite_port_kind").and_then(|v| v.as_str()) {
            generic.push(format!("{k} port"));
        }
        if let Some(id) = facts.get("ignite_node_id").and_then(|v| v.as_str()) {
            generic.push(format!("node {id}"));
        }
        generic
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(async move { run(t, cx).await })
    }
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let kind = t.options::<IgniteOptions>().map(|o| o.port_kind).unwrap_or_default();
    match kind {
        PortKind::Thin => {
            let opened = net::open(cx, t, &[]).await?;
            match thin(cx, t, opened, wire::OFFERED, true).await? {
                Some(r) => r,
                None => Err(Failure::new(
                    &codes::NO_RESPONSE,
                    Phase::Request,
                    "the port closed on the thin-client handshake",
                )),
            }
        }
        PortKind::Communication => {
            let net::Opened { mut conn, tape, .. } = net::open(cx, t, &[]).await?;
            cx.phase(Phase::Greeting);
            let mut buf = Vec::new();
            communication(cx, &mut conn, &tape, &mut buf).await
        }
        PortKind::Discovery => discovery(cx, t).await,
        PortKind::Auto => auto(cx, t).await,
    }
}

/// Listen for a node id; else the handshake; else the header check.
async fn auto(cx: &mut ProbeCx, t: &Target) -> Result<(), Failure> {
    let net::Opened { mut conn, tape, peer } = net::open(cx, t, &[]).await?;
    cx.phase(Phase::Greeting);
    let listen = cx.remaining().map_or(LISTEN, |r| LISTEN.min(r / 4));
    let mut first = [0u8; 64];
    match tokio::time::timeout(listen, conn.read(&mut first)).await {
        Ok(Ok(0)) => {
            let f = Failure::new(
                &codes::NO_RESPONSE,
                Phase::Greeting,
                "the port closed the connection before a word was said",
            );
            return Err(sniff::silent_then_closed(cx, t, peer, &EXPECTED, "the connection", f).await);
        }
        Ok(Ok(n)) => {
            let mut buf = first[..n].to_vec();
            return communication(cx, &mut conn, &tape, &mut buf).await;
        }
        Ok(Err(e)) if net::is_reset(&e) => {
            return Err(Failure::new(
                &core::TCP_RESET,
                Phase::Greeting,
                "the port reset the connection before a word was said",
            ));
        }
        Ok(Err(e)) => return Err(read_failure(&e, Phase::Greeting, "waiting for a node id")),
        // Silence: not a communication port.
        Err(_) => {}
    }
    match thin(cx, t, net::Opened { conn, tape, peer }, wire::OFFERED, true).await? {
        Some(r) => r,
        // Hung up on at once: what a discovery port does to a header not its own.
        None => discovery(cx, t).await,
    }
}

/// The thin-client handshake in `offer` on `opened`: `None` when the port closed without a
/// byte. A version refusal is retried once (`retry`) at the server's version.
async fn thin(
    cx: &mut ProbeCx,
    t: &Target,
    opened: net::Opened,
    offer: Version,
    retry: bool,
) -> Result<Option<Result<(), Failure>>, Failure> {
    let net::Opened { mut conn, tape, .. } = opened;
    cx.phase(Phase::Request);
    conn.write_all(&wire::handshake(offer))
        .await
        .map_err(|e| read_failure(&e, Phase::Request, "sending the handshake"))?;
    let mut buf = Vec::new();
    let answer = loop {
        match wire::handshake_answer(&buf) {
            Ok(a) => break a,
            Err(Malformed::Short) if buf.len() < wire::MAX_ANSWER + 4 => {
                let mut more = [0u8; 4096];
                let n = match conn.read(&mut more).await {
                    Ok(n) => n,
                    Err(e) if buf.is_empty() && net::is_reset(&e) => 0,
                    Err(e) => return Err(read_failure(&e, Phase::Request, "reading the handshake answer")),
                };
                if n == 0 && buf.is_empty() {
                    return Ok(None);
                }
                if n == 0 {
                    return Err(Failure::new(
                        &codes::MALFORMED,
                        Phase::Request,
                        format!("the peer closed after {} bytes of the handshake answer", buf.len()),
                    ));
                }
                buf.extend_from_slice(&more[..n]);
            }
            Err(Malformed::Short) => {
                return Err(Failure::new(&codes::MALFORMED, Phase::Request, "the answer never ends"));
            }
            Err(Malformed::Bad(why)) => return Err(other_protocol(cx, &tape, "the thin-client handshake", &why)),
        }
    };
    let _ = conn.shutdown().await;
    cx.reach(Level::Speaks);
    cx.fact("protocol", "Apache Ignite binary client protocol");
    cx.fact("ignite_port_kind", "thin");
    match answer {
        Handshake::Accepted { node_id } => {
            cx.fact("ignite_protocol_version", offer.to_string());
            if let Some(id) = node_id {
                cx.fact("ignite_node_id", id);
            }
            cx.reach(Level::Healthy);
            Ok(Some(Ok(())))
        }
        Handshake::Refused { server, message, status } => {
            cx.fact("ignite_server_protocol_version", server.to_string());
            if let Some(m) = &message {
                cx.fact("ignite_message", m.clone());
            }
            let text = message.clone().unwrap_or_else(|| "(no message)".into());
            // 2000: AUTH_FAILED; the text of an unauthenticated refusal says so too.
            if status == Some(2000) || text.to_ascii_lowercase().contains("authenticat") {
                return Ok(Some(Err(Failure::new(
                    &core::AUTH_NO_CREDENTIALS,
                    Phase::Request,
                    format!("the server requires a login: {text}"),
                )
                .hint(
                    "Ignite answers with authentication enabled: the port is proven; a login is not part of this check",
                ))));
            }
            if retry && server < offer && server >= Version(1, 0, 0) {
                let opened = net::open(cx, t, &[]).await?;
                return Box::pin(thin(cx, t, opened, server, false)).await;
            }
            Ok(Some(Err(Failure::new(
                &codes::REFUSED,
                Phase::Request,
                format!("the server (protocol {server}) refused the handshake in {offer}: {text}"),
            ))))
        }
    }
}

/// A communication port's first message, read into `buf` (which may hold its start).
async fn communication(
    cx: &mut ProbeCx,
    conn: &mut net::Conn<net::BoxIo>,
    tape: &net::Tape,
    buf: &mut Vec<u8>,
) -> Result<(), Failure> {
    let greeting = loop {
        match wire::greeting(buf) {
            Ok(g) => break g,
            Err(Malformed::Short) => {
                let mut more = [0u8; 64];
                let n =
                    conn.read(&mut more).await.map_err(|e| read_failure(&e, Phase::Greeting, "reading the node id"))?;
                if n == 0 {
                    return Err(if buf.is_empty() {
                        Failure::new(&codes::NO_RESPONSE, Phase::Greeting, "the port closed without sending a node id")
                    } else {
                        Failure::new(&codes::MALFORMED, Phase::Greeting, "the peer closed inside the node id")
                    });
                }
                buf.extend_from_slice(&more[..n]);
            }
            Err(Malformed::Bad(why)) => return Err(other_protocol(cx, tape, "the connection", &why)),
        }
    };
    let _ = conn.shutdown().await;
    cx.reach(Level::Speaks);
    cx.fact("protocol", "Apache Ignite (TcpCommunicationSpi)");
    cx.fact("ignite_port_kind", "communication");
    match greeting {
        Greeting::NodeId(id) => cx.fact("ignite_node_id", id),
        Greeting::Wait => cx.fact("ignite_node_state", "starting (HandshakeWaitMessage)"),
    }
    Ok(())
}

/// The header check, on two connections at once: one sends Ignite's header, one a header one
/// byte off. A discovery port closes the second at once and holds the first.
async fn discovery(cx: &mut ProbeCx, t: &Target) -> Result<(), Failure> {
    let right = net::open(cx, t, &[]).await?;
    let wrong = net::open(cx, t, &[]).await?;
    let (mut right, mut wrong) = (right.conn, wrong.conn);
    cx.phase(Phase::Greeting);
    right.write_all(&wire::IGNITE_HEADER).await.map_err(|e| read_failure(&e, Phase::Greeting, "sending the header"))?;
    // A write error on the wrong header is the port refusing it: what is looked for.
    let _ = wrong.write_all(&wire::WRONG_HEADER).await;
    let wait = cx.remaining().map_or(HEADER_CHECK, |r| HEADER_CHECK.min(r / 2));
    let mut b = [0u8; 256];
    let wrong_closed = match tokio::time::timeout(wait, wrong.read(&mut b)).await {
        Ok(Ok(0)) => true,
        Ok(Err(e)) => net::is_reset(&e),
        _ => false,
    };
    let right_held = tokio::time::timeout(Duration::from_millis(20), right.read(&mut b)).await.is_err();
    drop(wrong);
    let _ = right.shutdown().await;
    if wrong_closed && right_held {
        cx.reach(Level::Speaks);
        cx.fact("protocol", "Apache Ignite (TcpDiscoverySpi)");
        cx.fact("ignite_port_kind", "discovery");
        cx.fact(
            "ignite_evidence",
            "held a connection after the header 00 00 47 47, closed at once one after 00 00 47 48",
        );
        return Ok(());
    }
    let seen = match (wrong_closed, right_held) {
        (false, true) => "held both connections (a silent port does too)",
        (true, false) => "closed the connection that sent Ignite's header too",
        _ => "answered or closed both",
    };
    Err(Failure::new(
        &codes::DISCOVERY_UNCONFIRMED,
        Phase::Greeting,
        format!("the header check failed: the port {seen}"),
    ))
}

/// The answer is not Ignite's: another protocol the sniffer names, else malformed.
fn other_protocol(cx: &mut ProbeCx, tape: &net::Tape, to: &str, why: &str) -> Failure {
    let head = tape.head();
    if let Some(f) = sniff::mismatch(cx, &head, &EXPECTED, Phase::Request) {
        return f;
    }
    Failure::new(
        &codes::MALFORMED,
        Phase::Request,
        format!("the answer to {to} is not Ignite's ({why}): {}", sniff::describe(&head)),
    )
}
