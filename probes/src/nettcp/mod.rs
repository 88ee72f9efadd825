//! `nettcp`: WCF's net.tcp transport, [MC-NMF] .NET Message Framing.
//!
//! The probe sends the preamble a duplex client sends for `net.tcp://HOST:PORT/` and reads one
//! record: a PreambleAck proves a WCF endpoint (`speaks`, and `healthy` unless an End record
//! follows at once); a Fault record also proves .NET framing and is its own failure, named by
//! the fault. Anything else goes to the sniffer. No Upgrade request is ever sent (`wire.rs`).

mod codes;
pub mod wire;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::{self, read_available, read_failure, read_head};
use crate::{Failure, Level, Phase, Probe, ProbeCx, Target, sniff};
use wire::Malformed;

/// .NET Message Framing (WCF net.tcp): the preamble, then PreambleAck or a Fault.
#[derive(Debug, Clone, Copy)]
pub struct NetTcp;

/// What the `nettcp` probe is.
static ABOUT: crate::About = crate::About {
    name: "nettcp",
    summary: "WCF net.tcp: the .NET Message Framing preamble; PreambleAck or a named Fault",
    proves: "[MC-NMF] .NET Message Framing: the duplex preamble for `net.tcp://HOST:PORT/` (binary session encoding, no TLS or negotiate upgrade) answered with a PreambleAck is `speaks`, and `healthy` unless the server sends an End record at once; a Fault record (EndpointNotFound, ...) also proves .NET framing and is `nettcp.fault.<name>`. Port 7237 (PADS4) is inferred, not published: PADS4 is a .NET product and does not document its protocol; when 7237 speaks something else the sniffer names it",
    default_ports: &[7237, 808],
    codes: codes::CODES,
    ..crate::About::DEFAULT
};

impl Probe for NetTcp {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(async move { run(t, cx).await })
    }
}

const EXPECTED: sniff::Expected<'static> =
    sniff::Expected { name: "nettcp", label: ".NET Message Framing (net.tcp)", over_tls: None };

/// How long the probe waits, after a PreambleAck, for an End record sent at once.
const END_GRACE: Duration = Duration::from_millis(150);

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let net::Opened { mut conn, tape, peer } = net::open(cx, t, &[]).await?;
    cx.phase(Phase::Greeting);
    let preamble = wire::preamble(&t.host, t.port);
    conn.write_all(&preamble).await.map_err(|e| read_failure(&e, Phase::Greeting, "sending the preamble"))?;
    let mut first = [0u8; 1];
    if read_head(&mut conn, &mut first, Phase::Greeting, "waiting for the PreambleAck").await? == 0 {
        let f = Failure::new(&codes::NO_RESPONSE, Phase::Greeting, "the peer closed the connection on the preamble");
        return Err(sniff::silent_then_closed(cx, t, peer, &EXPECTED, "the .NET framing preamble", f).await);
    }
    match first[0] {
        wire::PREAMBLE_ACK => {
            cx.reach(Level::Speaks);
            cx.fact("protocol", ".NET Message Framing (net.tcp)");
            cx.fact("nettcp_via", format!("net.tcp://{}:{}/", t.host, t.port));
            let after = read_available(&mut conn, 64, END_GRACE).await;
            if after.first() == Some(&wire::END) {
                return Err(Failure::new(
                    &codes::ENDED,
                    Phase::Greeting,
                    "the server sent an End record right after its PreambleAck",
                ));
            }
            // A clean FIN: an End record of our own would start nothing the server needs.
            let _ = conn.shutdown().await;
            cx.reach(Level::Healthy);
            Ok(())
        }
        wire::FAULT => {
            let mut buf = vec![wire::FAULT];
            let limit = 1 + 5 + wire::MAX_FAULT as usize;
            let fault = loop {
                match wire::fault(&buf) {
                    Ok(f) => break f,
                    Err(Malformed::Short) if buf.len() < limit => {
                        let mut more = [0u8; 512];
                        let room = (limit - buf.len()).min(more.len());
                        let n = conn
                            .read(&mut more[..room])
                            .await
                            .map_err(|e| read_failure(&e, Phase::Greeting, "reading the Fault record"))?;
                        if n == 0 {
                            return Err(Failure::new(
                                &codes::MALFORMED,
                                Phase::Greeting,
                                "the peer closed in a Fault record",
                            ));
                        }
                        buf.extend_from_slice(&more[..n]);
                    }
                    Err(Malformed::Short) => {
                        // Never met while the limit covers the longest valid record; a wrong
                        // verdict beats a panic if that ever changes.
                        return Err(Failure::new(
                            &codes::MALFORMED,
                            Phase::Greeting,
                            "a Fault record longer than allowed",
                        ));
                    }
                    Err(Malformed::Bad(why)) => {
                        return Err(Failure::new(&codes::MALFORMED, Phase::Greeting, format!("a Fault record: {why}")));
                    }
                }
            };
            cx.reach(Level::Speaks);
            cx.fact("protocol", ".NET Message Framing (net.tcp)");
            cx.fact("nettcp_fault", fault.clone());
            let name = wire::fault_name(&fault);
            let mut f = codes::FAULT.failure_with(
                &name,
                Phase::Greeting,
                format!("the server answered the preamble with the fault {fault}"),
            );
            if let Some(h) = fault_hint(&name) {
                f = f.hint(h);
            }
            Err(f)
        }
        _ => {
            Err(sniff::not_expected(cx, &mut conn, &tape, &EXPECTED, "the .NET framing preamble", &codes::MALFORMED)
                .await)
        }
    }
}

/// What to check for each fault [MC-NMF] §2.2.3.8 and WCF define.
fn fault_hint(name: &str) -> Option<&'static str> {
    Some(match name {
        "EndpointNotFound" => {
            "no service listens at the Via `net.tcp://HOST:PORT/`: the service lives at a longer path; ask for its address (the probe proves the framing, not the service path)"
        }
        "ContentTypeInvalid" => {
            "the service does not take the binary session encoding: its binding uses another message encoding"
        }
        "ContentTypeTooLong" => "the service refused the encoding record's length",
        "UnsupportedVersion" => "the server does not take framing version 1.0",
        "UnsupportedMode" => "the service does not take duplex sessions: its binding uses another framing mode",
        "ServiceActivationFailed" => {
            "the service exists but failed to start (WAS/IIS activation): see the server's event log"
        }
        "ServiceTooBusy" | "ServerTooBusy" => {
            "the service is at its session or connection limit: check its throttling settings"
        }
        "MaxMessageSizeExceededFault" => "the preamble exceeded the service's configured limits",
        "ConnectionDispatchFailed" => "the Net.TCP Port Sharing service could not hand the connection to the service",
        "EndpointUnavailable" => "the endpoint is configured but not running",
        "UpgradeInvalid" => "the service expects a security upgrade (TLS or Windows negotiate) the probe does not send",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A peer that reads the preamble for `net.tcp://127.0.0.1:PORT/`, answers `answer`, closes.
    async fn peer(answer: Vec<u8>) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut p = vec![0u8; wire::preamble("127.0.0.1", port).len()];
            s.read_exact(&mut p).await.unwrap();
            assert_eq!(p, wire::preamble("127.0.0.1", port));
            let _ = s.write_all(&answer).await;
        });
        port
    }

    async fn probe(port: u16) -> crate::Outcome {
        let t = Target::new("127.0.0.1", port);
        let mut cx = ProbeCx::new(Some(std::time::Instant::now() + Duration::from_secs(5)));
        NetTcp.probe(&t, &mut cx).await
    }

    #[tokio::test]
    async fn an_ack_is_healthy_and_an_end_after_it_is_not() {
        let o = probe(peer(vec![wire::PREAMBLE_ACK]).await).await;
        assert_eq!(o.level, Level::Healthy, "{:?}", o.failure);
        let o = probe(peer(vec![wire::PREAMBLE_ACK, wire::END]).await).await;
        assert_eq!(o.level, Level::Speaks);
        assert_eq!(o.failure.unwrap().code, "nettcp.ended");
    }

    #[tokio::test]
    async fn a_fault_is_named_with_its_hint() {
        let uri = b"http://schemas.microsoft.com/ws/2006/05/framing/faults/EndpointNotFound";
        let mut rec = vec![wire::FAULT, uri.len() as u8];
        rec.extend_from_slice(uri);
        let o = probe(peer(rec.clone()).await).await;
        assert_eq!(o.level, Level::Speaks);
        let f = o.failure.unwrap();
        assert_eq!(f.code, "nettcp.fault.EndpointNotFound");
        assert!(f.hint.unwrap().contains("Via"));
        // Cut short: malformed, never a pass.
        let o = probe(peer(rec[..20].to_vec()).await).await;
        assert_eq!(o.failure.unwrap().code, "nettcp.malformed");
        assert_eq!(o.level, Level::Open);
    }

    #[tokio::test]
    async fn garbage_and_silence_are_not_nettcp() {
        let o = probe(peer(b"\x42garbage".to_vec()).await).await;
        assert_eq!(o.level, Level::Open);
        assert!(o.failure.is_some());
        let o = probe(peer(vec![]).await).await;
        assert_eq!(o.level, Level::Open);
        assert_eq!(o.failure.unwrap().code, "nettcp.no_response");
    }
}
