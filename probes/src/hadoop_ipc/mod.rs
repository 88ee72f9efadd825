//! `hadoop-ipc`: Hadoop's RPC port (NameNode, ResourceManager, JobTracker and the other
//! daemons that speak Hadoop IPC).
//!
//! The probe sends the 7-byte connection header offering IPC version 127, which no server
//! speaks; every Hadoop IPC server answers a version other than its own with a fatal
//! `RPC$VersionMismatch` naming its own version ("Server IPC version 9 cannot communicate with
//! client version 127") and closes. That answer, parsed in either of its shapes, is `speaks`
//! with the server's IPC version and text in the facts. `speaks` is the best level: going
//! further would take a connection context, SASL and a real call, and a version-mismatch
//! answer already proves the daemon's IPC layer is up.

mod codes;
pub mod wire;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::{self, read_failure, read_head};
use crate::{Failure, Level, Phase, Probe, ProbeCx, Target, sniff};
use wire::Malformed;

/// The Hadoop IPC probe.
#[derive(Debug, Clone, Copy)]
pub struct HadoopIpc;

static ABOUT: crate::About = crate::About {
    name: "hadoop-ipc",
    summary: "Hadoop IPC: the hrpc connection header and the server's version-mismatch answer",
    proves: "Hadoop IPC (NameNode, ResourceManager, other Hadoop daemons): the `hrpc` connection header offering a version no server has draws the fatal `RPC$VersionMismatch` answer (protobuf from Hadoop 2, Writable from Hadoop 1), which is `speaks`, with the server's IPC version and its text in the facts; `speaks` is the best level (no connection context, SASL or call is sent). Verified against a responder written from Hadoop's IPC description, not a real server",
    default_ports: &[8020, 9000, 54310],
    best_level: Level::Speaks,
    codes: codes::CODES,
    ..crate::About::DEFAULT
};

const EXPECTED: sniff::Expected<'static> = sniff::Expected { name: "hadoop-ipc", label: "Hadoop IPC", over_tls: None };

impl Probe for HadoopIpc {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    fn key_facts(&self, facts: &crate::Facts, mut generic: Vec<String>) -> Vec<String> {
        if let Some(v) = facts.get("hadoop_ipc_version").and_then(serde_json::Value::as_u64) {
            generic.push(format!("IPC version {v}"));
        }
        generic
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(async move { run(t, cx).await })
    }
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let net::Opened { mut conn, tape, peer } = net::open(cx, t, &[]).await?;
    cx.phase(Phase::Greeting);
    conn.write_all(wire::HEADER).await.map_err(|e| read_failure(&e, Phase::Greeting, "sending the hrpc header"))?;
    let mut buf = vec![0u8; 4];
    if read_head(&mut conn, &mut buf, Phase::Greeting, "waiting for the server's answer").await? < 4 {
        if tape.bytes_read() == 0 {
            let f =
                Failure::new(&codes::NO_RESPONSE, Phase::Greeting, "the peer closed the connection on the hrpc header");
            return Err(sniff::silent_then_closed(cx, t, peer, &EXPECTED, "the hrpc header", f).await);
        }
        return Err(Failure::new(&codes::MALFORMED, Phase::Greeting, "the peer closed after fewer than 4 bytes"));
    }
    let fatal = loop {
        match wire::answer(&buf) {
            Ok(f) => break f,
            Err(Malformed::Short) if buf.len() < wire::MAX_ANSWER + 4 => {
                let mut more = [0u8; 4096];
                let room = (wire::MAX_ANSWER + 4 - buf.len()).min(more.len());
                let n = conn
                    .read(&mut more[..room])
                    .await
                    .map_err(|e| read_failure(&e, Phase::Greeting, "reading the server's answer"))?;
                if n == 0 {
                    return Err(Failure::new(
                        &codes::MALFORMED,
                        Phase::Greeting,
                        format!("the peer closed after {} bytes of an answer that is not whole", buf.len()),
                    ));
                }
                buf.extend_from_slice(&more[..n]);
            }
            Err(Malformed::Short) => {
                return Err(Failure::new(&codes::MALFORMED, Phase::Greeting, "the answer never ends"));
            }
            Err(Malformed::Bad(why)) => {
                if let Some(f) = sniff::mismatch(cx, &tape.head(), &EXPECTED, Phase::Greeting) {
                    return Err(f);
                }
                return Err(Failure::new(
                    &codes::MALFORMED,
                    Phase::Greeting,
                    format!(
                        "the answer to the hrpc header is not Hadoop IPC ({why}): {}",
                        sniff::describe(&tape.head())
                    ),
                ));
            }
        }
    };
    let _ = conn.shutdown().await;
    cx.reach(Level::Speaks);
    cx.fact("protocol", "Hadoop IPC");
    cx.fact("hadoop_ipc_answer", fatal.shape);
    if let Some(v) = fatal.ipc_version() {
        cx.fact("hadoop_ipc_version", v);
    }
    if let Some(e) = &fatal.exception {
        cx.fact("hadoop_ipc_exception", e.clone());
    }
    if let Some(m) = &fatal.message {
        cx.fact("hadoop_ipc_message", m.clone());
    }
    if fatal.is_version_mismatch() {
        return Ok(());
    }
    let name = fatal.error_code.map_or("UNKNOWN", wire::error_code_name);
    Err(codes::FATAL.failure_with(
        name,
        Phase::Greeting,
        format!(
            "the server refused the connection header with {}: {}",
            fatal.exception.as_deref().unwrap_or(name),
            fatal.message.as_deref().unwrap_or("(no message)")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn peer(answer: Vec<u8>) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut h = [0u8; 7];
            s.read_exact(&mut h).await.unwrap();
            assert_eq!(&h, wire::HEADER);
            s.write_all(&answer).await.unwrap();
            let _ = s.shutdown().await;
        });
        port
    }

    async fn probe(port: u16) -> crate::Outcome {
        let t = Target::new("127.0.0.1", port);
        let mut cx = ProbeCx::new(Some(std::time::Instant::now() + std::time::Duration::from_secs(5)));
        HadoopIpc.probe(&t, &mut cx).await
    }

    #[tokio::test]
    async fn both_fixtures_are_speaks() {
        let o = probe(peer(include_bytes!("fixtures/hadoop3-version-mismatch.bin").to_vec()).await).await;
        assert_eq!(o.level, Level::Speaks, "{:?}", o.failure);
        assert!(o.failure.is_none());
        assert_eq!(o.facts["hadoop_ipc_version"], 9);
        let o = probe(peer(include_bytes!("fixtures/hadoop1-version-mismatch.bin").to_vec()).await).await;
        assert_eq!((o.level, o.facts["hadoop_ipc_answer"].as_str()), (Level::Speaks, Some("writable")));
    }

    #[tokio::test]
    async fn an_answer_cut_short_is_malformed() {
        let b = include_bytes!("fixtures/hadoop3-version-mismatch.bin");
        let o = probe(peer(b[..60].to_vec()).await).await;
        assert_eq!(o.level, Level::Open);
        assert_eq!(o.failure.unwrap().code, "hadoop_ipc.malformed");
    }
}
