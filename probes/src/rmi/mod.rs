//! `rmi` and `jmx`: Java RMI's JRMP handshake, then a registry `list()` call.
//!
//! The stream-protocol handshake (`JRMI`, version 2, ProtocolAck with the address the server
//! sees the client at) proves Java RMI (`speaks`); `Registry.list()` on the registry's
//! well-known object id is `healthy`, with the bound names in the facts. `jmx` is the same
//! exchange and requires the platform JMX agent's `jmxrmi` name among them. The probe never
//! calls `lookup()` and never deserializes a Java object: it reads a string array, or the class
//! name of an exception, and nothing else (`wire.rs`).

mod codes;
pub mod wire;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::{self, read_failure, read_head};
use crate::{Failure, Level, Phase, Probe, ProbeCx, Target, sniff};
use wire::{Malformed, Returned};

/// Java RMI: the JRMP handshake and the registry's bound names.
#[derive(Debug, Clone, Copy)]
pub struct Rmi;

/// JMX over RMI: an RMI registry with the JMX connector (`jmxrmi`) bound.
#[derive(Debug, Clone, Copy)]
pub struct Jmx;

/// What the `rmi` probe is.
static RMI: crate::About = crate::About {
    name: "rmi",
    summary: "Java RMI: the JRMP handshake; the registry's list() names what is bound",
    proves: "Java RMI (JRMP): the stream-protocol handshake (`JRMI`, version 2; the ProtocolAck and the address the server sees the client at) is `speaks`; the registry's `list()` call is `healthy`, with the bound names in the facts; an RMI server that is not a registry (WSO2's 9999) is named as such. The probe never calls `lookup()` and never deserializes a Java object: it reads a string array or an exception's class name",
    default_ports: &[1099, 11111, 9999, 2199],
    codes: codes::CODES,
    ..crate::About::DEFAULT
};

/// What the `jmx` probe is.
static JMX: crate::About = crate::About {
    name: "jmx",
    summary: "JMX over RMI: the registry lists the JMX connector (jmxrmi)",
    proves: "the `rmi` exchange, and `healthy` only when the registry lists `jmxrmi`, the JMX connector a JVM started with `com.sun.management.jmxremote.port` binds",
    default_ports: &[1099, 11111],
    codes: codes::CODES,
    ..crate::About::DEFAULT
};

impl Probe for Rmi {
    fn about(&self) -> &'static crate::About {
        &RMI
    }
    fn key_facts(&self, facts: &crate::Facts, generic: Vec<String>) -> Vec<String> {
        key_facts(facts, generic)
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(async move { run(t, cx, false).await })
    }
}

impl Probe for Jmx {
    fn about(&self) -> &'static crate::About {
        &JMX
    }
    fn key_facts(&self, facts: &crate::Facts, generic: Vec<String>) -> Vec<String> {
        key_facts(facts, generic)
    }
    /// Without `jmxrmi` there is no JMX: the names are the point of the check.
    fn default_require(&self, _t: &Target) -> Level {
        Level::Healthy
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(async move { run(t, cx, true).await })
    }
}

/// The most a Return to `list()` may take: 4096 names of 255 bytes, and then some.
const MAX_RETURN: usize = 1 << 20;

const EXPECTED: sniff::Expected<'static> = sniff::Expected { name: "rmi", label: "Java RMI (JRMP)", over_tls: None };

async fn run(t: &Target, cx: &mut ProbeCx, jmx: bool) -> Result<(), Failure> {
    let net::Opened { mut conn, tape, peer } = net::open(cx, t, &[]).await?;
    cx.phase(Phase::Greeting);
    conn.write_all(wire::HEADER).await.map_err(|e| read_failure(&e, Phase::Greeting, "sending the JRMP header"))?;
    let mut first = [0u8; 1];
    if read_head(&mut conn, &mut first, Phase::Greeting, "waiting for the ProtocolAck").await? == 0 {
        let f = Failure::new(&codes::NO_RESPONSE, Phase::Greeting, "the peer closed the connection on the JRMP header");
        return Err(sniff::silent_then_closed(cx, t, peer, &EXPECTED, "the JRMP header", f).await);
    }
    match first[0] {
        wire::PROTOCOL_ACK => {}
        wire::PROTOCOL_NOT_SUPPORTED => {
            cx.reach(Level::Speaks);
            cx.fact("protocol", "Java RMI (JRMP)");
            return Err(Failure::new(
                &codes::PROTOCOL_NOT_SUPPORTED,
                Phase::Greeting,
                "the server answered ProtocolNotSupported to the stream protocol",
            ));
        }
        _ => {
            return Err(
                sniff::not_expected(cx, &mut conn, &tape, &EXPECTED, "the JRMP header", &codes::MALFORMED).await
            );
        }
    }
    // The EndpointIdentifier: a short UTF string and a port.
    let mut buf = vec![0u8; 0];
    let seen = loop {
        match wire::seen_as(&buf) {
            Ok((_, s)) => break s,
            Err(Malformed::Short) if buf.len() < 2 + 255 + 4 => {
                let mut more = [0u8; 64];
                let n = conn
                    .read(&mut more[..(2 + 255 + 4 - buf.len()).min(64)])
                    .await
                    .map_err(|e| read_failure(&e, Phase::Greeting, "reading the ProtocolAck's endpoint"))?;
                if n == 0 {
                    return Err(Failure::new(&codes::MALFORMED, Phase::Greeting, "the peer closed in the ProtocolAck"));
                }
                buf.extend_from_slice(&more[..n]);
            }
            Err(Malformed::Short) => {
                return Err(Failure::new(&codes::MALFORMED, Phase::Greeting, "the ProtocolAck's endpoint never ends"));
            }
            Err(Malformed::Bad(why)) => return Err(Failure::new(&codes::MALFORMED, Phase::Greeting, why)),
        }
    };
    cx.reach(Level::Speaks);
    cx.fact("protocol", "Java RMI (JRMP)");
    cx.fact("rmi_client_seen_as", format!("{}:{}", seen.host, seen.port));

    cx.phase(Phase::Query);
    let mut hello = wire::client_endpoint(&seen.host);
    hello.extend_from_slice(&wire::list_call());
    conn.write_all(&hello).await.map_err(|e| read_failure(&e, Phase::Query, "sending the registry call"))?;
    let mut answer = Vec::new();
    let returned = loop {
        match wire::returned(&answer) {
            Ok(r) => break r,
            Err(Malformed::Short) if answer.len() < MAX_RETURN => {
                let mut more = vec![0u8; 8192];
                let n = conn
                    .read(&mut more)
                    .await
                    .map_err(|e| read_failure(&e, Phase::Query, "reading the registry's answer"))?;
                if n == 0 {
                    return Err(Failure::new(
                        &codes::MALFORMED,
                        Phase::Query,
                        format!("the peer closed after {} bytes of the answer to list()", answer.len()),
                    ));
                }
                answer.extend_from_slice(&more[..n]);
            }
            Err(Malformed::Short) => {
                return Err(Failure::new(&codes::MALFORMED, Phase::Query, "the answer to list() is larger than 1 MiB"));
            }
            Err(Malformed::Bad(why)) => {
                return Err(Failure::new(&codes::MALFORMED, Phase::Query, format!("the answer to list(): {why}")));
            }
        }
    };
    // Done: a clean FIN, so the server's connection thread ends at once.
    let _ = conn.shutdown().await;
    match returned {
        Returned::Names(names) => {
            cx.fact("rmi_registry", true);
            cx.fact("rmi_names", names.clone());
            if jmx && !names.iter().any(|n| n == "jmxrmi") {
                return Err(Failure::new(
                    &codes::JMX_NOT_BOUND,
                    Phase::Query,
                    format!("the registry binds {} name(s), none of them jmxrmi: {}", names.len(), shown(&names)),
                ));
            }
            cx.reach(Level::Healthy);
            Ok(())
        }
        Returned::Exception(class) if class == "java.rmi.NoSuchObjectException" => {
            cx.fact("rmi_registry", false);
            Err(Failure::new(
                &codes::NOT_REGISTRY,
                Phase::Query,
                "an RMI server, not a registry: the registry's object id is not exported here (NoSuchObjectException)",
            ))
        }
        Returned::Exception(class) => {
            let short = class.rsplit('.').next().unwrap_or(&class).to_owned();
            Err(codes::CALL_FAILED.failure_with(short, Phase::Query, format!("the registry's list() threw {class}")))
        }
    }
}

/// The bound names (or that there is no registry) lead the summary.
fn key_facts(f: &crate::Facts, mut generic: Vec<String>) -> Vec<String> {
    if let Some(names) = f.get("rmi_names").and_then(|v| v.as_array()) {
        let names: Vec<String> = names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect();
        generic.push(format!("registry: {}", shown(&names)));
    } else if f.get("rmi_registry").and_then(serde_json::Value::as_bool) == Some(false) {
        generic.push("an RMI server, not a registry".into());
    }
    generic
}

/// The first names, for a message.
fn shown(names: &[String]) -> String {
    let mut s = names.iter().take(8).map(String::as_str).collect::<Vec<_>>().join(", ");
    if names.len() > 8 {
        s.push_str(", ...");
    }
    if s.is_empty() { "(none)".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A peer that reads the header and the call, and answers with `after_header`, then with
    /// `after_call` once the client's endpoint and call have come, then closes.
    async fn peer(after_header: Vec<u8>, after_call: Vec<u8>) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut h = [0u8; 7];
            s.read_exact(&mut h).await.unwrap();
            assert_eq!(&h, wire::HEADER);
            s.write_all(&after_header).await.unwrap();
            // The endpoint ("127.0.0.1", port 0: 15 bytes) and the call (41).
            let mut call = [0u8; 15 + 41];
            if s.read_exact(&mut call).await.is_ok() {
                let _ = s.write_all(&after_call).await;
            }
            // Then hang up: an answer cut short ends in a close, not a wait to the deadline.
        });
        port
    }

    async fn probe(port: u16, jmx: bool) -> crate::Outcome {
        let t = Target::new("127.0.0.1", port);
        let mut cx = ProbeCx::new(Some(std::time::Instant::now() + std::time::Duration::from_secs(5)));
        if jmx { Jmx.probe(&t, &mut cx).await } else { Rmi.probe(&t, &mut cx).await }
    }

    const ACK: &[u8] = b"\x4e\x00\x09127.0.0.1\x00\x00\x30\x39";

    #[tokio::test]
    async fn protocol_not_supported_is_rmi_but_refused() {
        let o = probe(peer(vec![0x4f], vec![]).await, false).await;
        assert_eq!(o.level, Level::Speaks);
        assert_eq!(o.failure.unwrap().code, "rmi.protocol_not_supported");
    }

    #[tokio::test]
    async fn a_thrown_exception_is_named_by_its_class() {
        let mut answer = include_bytes!("fixtures/jdk17-no-such-object.bin").to_vec();
        let from = b"java.rmi.NoSuchObjectException";
        let to = b"java.rmi.AccessExceptionXXXXXX"; // same length: the stream's lengths still hold
        let at = answer.windows(from.len()).position(|w| w == from).unwrap();
        answer[at..at + from.len()].copy_from_slice(to);
        let o = probe(peer(ACK.to_vec(), answer).await, false).await;
        assert_eq!(o.level, Level::Speaks);
        assert_eq!(o.failure.unwrap().code, "rmi.call_failed.AccessExceptionXXXXXX");
    }

    #[tokio::test]
    async fn an_answer_cut_short_is_malformed_not_healthy() {
        let answer = include_bytes!("fixtures/jdk17-list-jmxrmi.bin");
        let o = probe(peer(ACK.to_vec(), answer[..answer.len() - 3].to_vec()).await, true).await;
        assert_eq!(o.level, Level::Speaks);
        assert_eq!(o.failure.unwrap().code, "rmi.malformed");
        let o = probe(peer(ACK.to_vec(), answer.to_vec()).await, true).await;
        assert_eq!(o.level, Level::Healthy, "{:?}", o.failure);
        assert_eq!(o.facts["rmi_client_seen_as"], "127.0.0.1:12345");
    }

    #[tokio::test]
    async fn an_ack_with_a_junk_endpoint_is_malformed() {
        let o = probe(peer(b"\x4e\x00\x00\xff\xff\xff\xff".to_vec(), vec![]).await, false).await;
        assert_eq!(o.level, Level::Open);
        assert_eq!(o.failure.unwrap().code, "rmi.malformed");
    }
}
