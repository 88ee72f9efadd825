//! `cql`: Cassandra's native protocol (and every server that speaks it: ScyllaDB, DataStax
//! Enterprise, Azure Cosmos DB's Cassandra API).
//!
//! OPTIONS, answered by SUPPORTED (the CQL versions, compressions and, from Cassandra 4.0, the
//! protocol versions), is `speaks`; STARTUP answered by READY is `healthy`, and by AUTHENTICATE
//! (naming the authenticator class) `speaks` with the core `auth.no_credentials`: the probe
//! sends no credentials. A protocol version the server does not speak is refused with a
//! protocol ERROR naming the versions it does; like the drivers, the probe starts at v5 and
//! goes down (to the greatest version the refusal names, else one lower), each attempt on a
//! connection of its own, since the server closes after the refusal. Nothing is queried.

mod codes;
pub mod wire;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::codes::core;
use crate::net::{self, read_failure, read_head};
use crate::{Failure, Level, Phase, Probe, ProbeCx, Target, sniff};
use wire::{Header, op};

/// The CQL native protocol probe.
#[derive(Debug, Clone, Copy)]
pub struct Cql;

static ABOUT: crate::About = crate::About {
    name: "cql",
    summary: "Cassandra's CQL native protocol: OPTIONS/SUPPORTED, then STARTUP/READY",
    proves: "the CQL native protocol (Cassandra, ScyllaDB): OPTIONS answered by SUPPORTED is `speaks` (CQL versions, compressions and protocol versions in the facts); STARTUP answered by READY is `healthy`, by AUTHENTICATE `speaks` with `auth.no_credentials` and the authenticator class. Protocol versions are negotiated downward from v5 as drivers do, the server's refusal decoded (the greatest version it names). Verified against a responder written from the v4 specification, not a real server",
    default_ports: &[9042, 9142],
    codes: codes::CODES,
    ..crate::About::DEFAULT
};

/// The version the probe offers first; the lowest it goes down to.
const FIRST_VERSION: u8 = 5;
const LAST_VERSION: u8 = 3;

const EXPECTED: sniff::Expected<'static> = sniff::Expected { name: "cql", label: "CQL", over_tls: None };

impl Probe for Cql {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    fn key_facts(&self, facts: &crate::Facts, mut generic: Vec<String>) -> Vec<String> {
        if let Some(v) = facts.get("cql_protocol_version").and_then(serde_json::Value::as_u64) {
            generic.push(format!("protocol v{v}"));
        }
        if let Some(a) = facts.get("cql_authenticator").and_then(|v| v.as_str()) {
            generic.push(format!("authenticator {}", a.rsplit('.').next().unwrap_or(a)));
        }
        generic
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(async move { run(t, cx).await })
    }
}

/// What one OPTIONS attempt ended in.
enum Attempt {
    /// SUPPORTED came: the connection goes on to STARTUP.
    Supported(net::Conn<net::BoxIo>),
    /// The version was refused; the refusal names this greatest version, if any.
    Refused { greatest: Option<u8>, message: String },
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let mut version = FIRST_VERSION;
    let mut refused = Vec::new();
    let mut conn = loop {
        match attempt(t, cx, version).await? {
            Attempt::Supported(conn) => break conn,
            Attempt::Refused { greatest, message } => {
                refused.push(serde_json::json!({ "version": version, "message": message }));
                cx.fact("cql_refused", serde_json::Value::Array(refused.clone()));
                // Down to what the server names, else one lower; never up again, never below v3.
                let next = greatest.filter(|g| *g < version).unwrap_or(version - 1);
                if next < LAST_VERSION {
                    return Err(Failure::new(
                        &codes::NO_COMMON_VERSION,
                        Phase::Greeting,
                        format!("the server refused protocol v{version} and every later one: {message}"),
                    ));
                }
                version = next;
            }
        }
    };
    cx.fact("cql_protocol_version", version);

    cx.phase(Phase::Auth);
    conn.write_all(&wire::startup(version)).await.map_err(|e| read_failure(&e, Phase::Auth, "sending STARTUP"))?;
    let (h, body) = read_frame(&mut conn, Phase::Auth, "the answer to STARTUP").await?;
    let _ = conn.shutdown().await;
    match h.opcode {
        op::READY => {
            cx.reach(Level::Healthy);
            Ok(())
        }
        op::AUTHENTICATE => {
            let class = wire::authenticate(&body).map_err(|m| malformed(Phase::Auth, "AUTHENTICATE", m))?;
            cx.fact("cql_authenticator", class.clone());
            Err(Failure::new(
                &core::AUTH_NO_CREDENTIALS,
                Phase::Auth,
                format!("the server requires a login ({class}); the probe sends no credentials"),
            )
            .hint("CQL answers to a login: the port and the protocol are proven; a login is not part of this check"))
        }
        op::ERROR => Err(server_error(&body, Phase::Auth)?),
        other => Err(Failure::new(
            &codes::MALFORMED,
            Phase::Auth,
            format!("STARTUP was answered with opcode 0x{other:02x}, not READY, AUTHENTICATE or ERROR"),
        )),
    }
}

/// A stream id for OPTIONS: random and positive (negative ids are the server's events), so that
/// only a peer that read the request answers it.
fn stream_id() -> i16 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 2];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    (i16::from_be_bytes(b) & 0x7fff).max(1)
}

/// One connection: OPTIONS in `version`, and what came back.
async fn attempt(t: &Target, cx: &mut ProbeCx, version: u8) -> Result<Attempt, Failure> {
    let net::Opened { mut conn, tape, peer } = net::open(cx, t, &[]).await?;
    cx.phase(Phase::Greeting);
    let stream = stream_id();
    conn.write_all(&wire::options_on(version, stream))
        .await
        .map_err(|e| read_failure(&e, Phase::Greeting, "sending OPTIONS"))?;
    let mut head = [0u8; wire::HEADER_LEN];
    let got = read_head(&mut conn, &mut head, Phase::Greeting, "waiting for the answer to OPTIONS").await?;
    if got == 0 {
        let f = Failure::new(&codes::NO_RESPONSE, Phase::Greeting, "the peer closed the connection on OPTIONS");
        return Err(sniff::silent_then_closed(cx, t, peer, &EXPECTED, "OPTIONS", f).await);
    }
    let parsed = if got < wire::HEADER_LEN { None } else { wire::header(&head).ok() };
    let Some(h) = parsed else {
        return Err(sniff::not_expected(cx, &mut conn, &tape, &EXPECTED, "OPTIONS", &codes::MALFORMED).await);
    };
    let body = read_body(&mut conn, &h, Phase::Greeting, "the answer to OPTIONS").await?;
    if h.stream != stream {
        return Err(Failure::new(
            &codes::MALFORMED,
            Phase::Greeting,
            format!(
                "the answer to OPTIONS on stream {stream} came on stream {}: it does not answer the request",
                h.stream
            ),
        )
        .hint("a CQL server answers on the request's stream; this peer sends something else"));
    }
    match h.opcode {
        op::SUPPORTED => {
            let options = wire::supported(&body).map_err(|m| malformed(Phase::Greeting, "SUPPORTED", m))?;
            cx.reach(Level::Speaks);
            cx.fact("protocol", "CQL native protocol");
            for (key, fact) in [
                ("CQL_VERSION", "cql_versions"),
                ("COMPRESSION", "cql_compression"),
                ("PROTOCOL_VERSIONS", "cql_protocol_versions"),
            ] {
                if let Some((_, v)) = options.iter().find(|(k, _)| k == key) {
                    cx.fact(fact, v.clone());
                }
            }
            let others: serde_json::Map<String, serde_json::Value> = options
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "CQL_VERSION" | "COMPRESSION" | "PROTOCOL_VERSIONS"))
                .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                .collect();
            if !others.is_empty() {
                cx.fact("cql_options", serde_json::Value::Object(others));
            }
            Ok(Attempt::Supported(conn))
        }
        op::ERROR => {
            let (code, message) = wire::error(&body).map_err(|m| malformed(Phase::Greeting, "ERROR", m))?;
            // A well-formed ERROR frame with its code and message is the protocol's own answer.
            cx.reach(Level::Speaks);
            cx.fact("protocol", "CQL native protocol");
            if wire::is_version_refusal(code, &message) {
                let _ = conn.shutdown().await;
                return Ok(Attempt::Refused { greatest: wire::greatest_named(&message), message });
            }
            Err(error_failure(code, &message, Phase::Greeting))
        }
        other => Err(Failure::new(
            &codes::MALFORMED,
            Phase::Greeting,
            format!("OPTIONS was answered with opcode 0x{other:02x}, not SUPPORTED or ERROR"),
        )),
    }
}

/// Reads one whole frame: its header (checked) and its body.
async fn read_frame(conn: &mut net::Conn<net::BoxIo>, phase: Phase, what: &str) -> Result<(Header, Vec<u8>), Failure> {
    let mut head = [0u8; wire::HEADER_LEN];
    conn.read_exact(&mut head).await.map_err(|e| read_failure(&e, phase, what))?;
    let h = wire::header(&head).map_err(|m| malformed(phase, what, m))?;
    let body = read_body(conn, &h, phase, what).await?;
    Ok((h, body))
}

async fn read_body(conn: &mut net::Conn<net::BoxIo>, h: &Header, phase: Phase, what: &str) -> Result<Vec<u8>, Failure> {
    if h.flags & 0x01 != 0 {
        return Err(Failure::new(
            &codes::MALFORMED,
            phase,
            format!("{what} is compressed, which the probe never asked for"),
        ));
    }
    // The length is bounded by the header check (`MAX_BODY`).
    let mut body = vec![0u8; h.length as usize];
    conn.read_exact(&mut body).await.map_err(|e| read_failure(&e, phase, what))?;
    Ok(body)
}

fn malformed(phase: Phase, what: &str, m: wire::Malformed) -> Failure {
    Failure::new(&codes::MALFORMED, phase, format!("{what}: {}", m.0))
}

fn server_error(body: &[u8], phase: Phase) -> Result<Failure, Failure> {
    let (code, message) = wire::error(body).map_err(|m| malformed(phase, "ERROR", m))?;
    Ok(error_failure(code, &message, phase))
}

/// `cql.error.0x<code>`: bad credentials (0x0100) would need a login the probe never sends,
/// so every ERROR here is the server refusing the handshake itself.
fn error_failure(code: i32, message: &str, phase: Phase) -> Failure {
    codes::ERROR.failure_with(
        format!("0x{code:04x}"),
        phase,
        format!("the server answered ERROR 0x{code:04x}: {message}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A peer that answers each connection's first frame with `answers[i]` (one per
    /// connection), on the request's stream as a server does.
    async fn peer(answers: Vec<Vec<u8>>) -> u16 {
        peer_on(answers, true).await
    }

    /// [`peer`], echoing the request's stream id or not.
    async fn peer_on(answers: Vec<Vec<u8>>, echo: bool) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            for mut a in answers {
                let (mut s, _) = l.accept().await.unwrap();
                let mut h = [0u8; 9];
                s.read_exact(&mut h).await.unwrap();
                if echo && a.len() >= 4 {
                    a[2..4].copy_from_slice(&h[2..4]);
                }
                s.write_all(&a).await.unwrap();
                let _ = s.shutdown().await;
            }
        });
        port
    }

    async fn probe(port: u16) -> crate::Outcome {
        let t = Target::new("127.0.0.1", port);
        let mut cx = ProbeCx::new(Some(std::time::Instant::now() + std::time::Duration::from_secs(5)));
        Cql.probe(&t, &mut cx).await
    }

    #[tokio::test]
    async fn an_answer_on_another_stream_is_not_cql() {
        // The same ERROR frame sent to everyone, on stream 0: it answers no request of ours.
        let mut f = vec![0x85, 0, 0, 0, 0, 0, 0, 0, 6];
        f.extend_from_slice(b"\x00\x00\x00\x0a\x00\x00");
        let o = probe(peer_on(vec![f], false).await).await;
        assert!(o.level < Level::Speaks, "{o:?}");
        assert_eq!(o.failure.unwrap().code, "cql.malformed");
    }

    #[tokio::test]
    async fn a_refusal_of_every_version_is_no_common_version() {
        let refusal = include_bytes!("fixtures/error-v5-refused.bin").to_vec();
        // The fixture says "the greatest is 4", but the peer refuses 4 and 3 too.
        let o = probe(peer(vec![refusal.clone(), refusal.clone(), refusal]).await).await;
        assert_eq!(o.level, Level::Speaks);
        assert_eq!(o.failure.unwrap().code, "cql.no_common_version");
        assert_eq!(o.facts["cql_refused"].as_array().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn an_error_that_is_not_about_versions_is_named_by_its_code() {
        let mut body = 0x1002i32.to_be_bytes().to_vec();
        body.extend_from_slice(b"\x00\x0dbootstrapping");
        let mut f = vec![0x85, 0, 0, 0, 0];
        f.extend_from_slice(&(body.len() as u32).to_be_bytes());
        f.extend_from_slice(&body);
        let o = probe(peer(vec![f]).await).await;
        assert_eq!(o.level, Level::Speaks);
        assert_eq!(o.failure.unwrap().code, "cql.error.0x1002");
    }

    #[tokio::test]
    async fn a_supported_cut_short_is_not_speaks() {
        let f = include_bytes!("fixtures/supported-v4.bin");
        let o = probe(peer(vec![f[..f.len() - 4].to_vec()]).await).await;
        assert_eq!(o.level, Level::Open, "{:?}", o.failure);
    }
}
