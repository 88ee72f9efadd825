//! `hazelcast`: a Hazelcast member's port (5701, or a product's own: WSO2 Carbon's clustering
//! well-known-address port 4000), through the client protocol, never the member protocol: the
//! probe is a client for one exchange and never joins the cluster.
//!
//! The `CP2` preamble and a ClientAuthentication request with the cluster name (default `dev`)
//! and no credentials: the authentication response (matched by its correlation id) names a
//! Hazelcast member, with its version, uuid, address, the cluster's id and partition count:
//! `speaks`; an accepted authentication is `healthy`. A refusal (a wrong cluster name) is
//! `speaks` with `hazelcast.auth_failed.<status>`, a stated failure when the check named the
//! cluster. With `hazelcast.health`, the REST health endpoint (`/hazelcast/health`) must also
//! say node and cluster ACTIVE. Hazelcast 3.x (client protocol 1.x) is not spoken.

mod codes;
pub mod options;
pub mod wire;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::{self, read_failure, read_head};
use crate::{Failure, Level, Phase, Probe, ProbeCx, Target, sniff};
use options::HazelcastOptions;
use wire::{Answer, Malformed};

/// The Hazelcast probe.
#[derive(Debug, Clone, Copy)]
pub struct Hazelcast;

static ABOUT: crate::About = crate::About {
    name: "hazelcast",
    summary: "Hazelcast: the client protocol's authentication names the member; the REST health endpoint optionally",
    proves: "a Hazelcast member (4.0 and later), through the client protocol only (never joining the cluster): the `CP2` preamble and a ClientAuthentication with the cluster name (default `dev`) and no credentials; the response is `speaks` with the member's version, uuid and address and the cluster id, an accepted authentication `healthy`, a refusal `hazelcast.auth_failed.<status>`. `hazelcast.health` also reads `/hazelcast/health` (node and cluster ACTIVE). Verified against a responder written from the Open Binary Client Protocol, not a real member",
    default_ports: &[5701, 4000],
    options: Some(&options::SECTION),
    codes: codes::CODES,
    ..crate::About::DEFAULT
};

const EXPECTED: sniff::Expected<'static> = sniff::Expected { name: "hazelcast", label: "Hazelcast", over_tls: None };

impl Probe for Hazelcast {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    fn default_require(&self, t: &Target) -> Level {
        if t.options::<HazelcastOptions>().is_some_and(|o| o.health) { Level::Healthy } else { Level::Speaks }
    }
    fn validate(&self, t: &Target) -> Result<(), Failure> {
        match t.options::<HazelcastOptions>().and_then(|o| o.cluster_name.as_deref()) {
            Some(c) if c.is_empty() || c.len() > 1024 => {
                Err(Failure::config("hazelcast.cluster_name must be 1 to 1024 bytes long"))
            }
            _ => Ok(()),
        }
    }
    fn key_facts(&self, facts: &crate::Facts, mut generic: Vec<String>) -> Vec<String> {
        if let Some(v) = facts.get("hazelcast_version").and_then(|v| v.as_str()) {
            generic.push(format!("Hazelcast {v}"));
        }
        if let Some(s) = facts.get("hazelcast_cluster_state").and_then(|v| v.as_str()) {
            generic.push(format!("cluster {s}"));
        }
        generic
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(async move { run(t, cx).await })
    }
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let opts = t.options::<HazelcastOptions>().cloned().unwrap_or_default();
    let cluster = opts.cluster().to_owned();
    let net::Opened { mut conn, tape, peer } = net::open(cx, t, &[]).await?;
    cx.phase(Phase::Greeting);
    conn.write_all(&wire::authentication(&cluster))
        .await
        .map_err(|e| read_failure(&e, Phase::Greeting, "sending the authentication"))?;
    let mut buf = vec![0u8; 6];
    let got = read_head(&mut conn, &mut buf, Phase::Greeting, "waiting for the authentication's answer").await?;
    buf.truncate(got);
    if got == 0 {
        let f =
            Failure::new(&codes::NO_RESPONSE, Phase::Greeting, "the peer closed the connection on the CP2 preamble");
        return Err(sniff::silent_then_closed(cx, t, peer, &EXPECTED, "the CP2 preamble", f).await);
    }
    let frames = loop {
        match wire::frames(&buf) {
            Ok(f) => break f,
            Err(Malformed::Short) if buf.len() < wire::MAX_MESSAGE => {
                let mut more = [0u8; 4096];
                let n =
                    conn.read(&mut more).await.map_err(|e| read_failure(&e, Phase::Greeting, "reading the answer"))?;
                if n == 0 {
                    return Err(Failure::new(
                        &codes::MALFORMED,
                        Phase::Greeting,
                        format!("the peer closed after {} bytes of a message that is not whole", buf.len()),
                    ));
                }
                buf.extend_from_slice(&more[..n]);
            }
            Err(Malformed::Short) => {
                return Err(Failure::new(&codes::MALFORMED, Phase::Greeting, "the answer never ends"));
            }
            Err(Malformed::Bad(why)) => return Err(other_protocol(cx, &tape, &why)),
        }
    };
    let answer = wire::answer(&frames).map_err(|m| match m {
        Malformed::Bad(why) => Failure::new(
            &codes::MALFORMED,
            Phase::Greeting,
            format!("the answer is not an authentication response: {why}"),
        ),
        Malformed::Short => Failure::new(&codes::MALFORMED, Phase::Greeting, "the answer is cut short"),
    })?;
    let _ = conn.shutdown().await;
    cx.reach(Level::Speaks);
    cx.fact("protocol", "Hazelcast client protocol 2");
    let auth = match answer {
        Answer::Error { class, message } => {
            cx.fact("hazelcast_error", class.clone());
            return Err(Failure::new(
                &codes::ERROR,
                Phase::Greeting,
                format!("the member answered with {class}: {}", message.as_deref().unwrap_or("(no message)")),
            ));
        }
        Answer::Authentication(a) => a,
    };
    if let Some(v) = &auth.version {
        cx.fact("hazelcast_version", v.clone());
    }
    if let Some(u) = &auth.member_uuid {
        cx.fact("hazelcast_member_uuid", u.clone());
    }
    if let Some(c) = &auth.cluster_id {
        cx.fact("hazelcast_cluster_id", c.clone());
    }
    if let Some(a) = &auth.address {
        cx.fact("hazelcast_member_address", a.clone());
    }
    if auth.partitions > 0 {
        cx.fact("hazelcast_partitions", auth.partitions);
    }
    cx.fact("hazelcast_status", wire::status_name(auth.status));
    if auth.status != 0 {
        let status = wire::status_name(auth.status);
        return Err(codes::AUTH_FAILED
            .failure_with(
                status,
                Phase::Greeting,
                format!("the member refused the client's authentication to cluster {cluster:?}: {status}"),
            )
            .stated_if(opts.cluster_name.is_some()));
    }
    cx.fact("hazelcast_cluster_name", cluster);
    if opts.health {
        return health(cx, t).await;
    }
    cx.reach(Level::Healthy);
    Ok(())
}

/// `GET /hazelcast/health` on a connection of its own: node and cluster must be ACTIVE.
async fn health(cx: &mut ProbeCx, t: &Target) -> Result<(), Failure> {
    let net::Opened { mut conn, .. } = net::open(cx, t, &[]).await?;
    cx.phase(Phase::Query);
    let request = format!("GET /hazelcast/health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", t.host);
    conn.write_all(request.as_bytes())
        .await
        .map_err(|e| read_failure(&e, Phase::Query, "sending the health request"))?;
    let mut all = Vec::new();
    let mut chunk = [0u8; 4096];
    while all.len() < wire::MAX_MESSAGE {
        let n = conn.read(&mut chunk).await.map_err(|e| read_failure(&e, Phase::Query, "reading the health answer"))?;
        if n == 0 {
            break;
        }
        all.extend_from_slice(&chunk[..n]);
    }
    let unavailable = |why: String| Failure::new(&codes::HEALTH_UNAVAILABLE, Phase::Query, why).stated();
    let Some(split) = all.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(unavailable(format!("the health endpoint's answer is not HTTP: {}", sniff::describe(&all))));
    };
    let status_line = String::from_utf8_lossy(&all[..all.iter().position(|&b| b == b'\r').unwrap_or(0)]).into_owned();
    let code = status_line.split(' ').nth(1).unwrap_or("");
    if !status_line.starts_with("HTTP/") || code != "200" {
        return Err(unavailable(format!("GET /hazelcast/health answered {status_line:?}")));
    }
    let Some(h) = wire::health(&all[split + 4..]) else {
        return Err(unavailable("the health endpoint's body names no node state".into()));
    };
    if let Some(s) = &h.node_state {
        cx.fact("hazelcast_node_state", s.clone());
    }
    if let Some(s) = &h.cluster_state {
        cx.fact("hazelcast_cluster_state", s.clone());
    }
    if let Some(s) = h.cluster_safe {
        cx.fact("hazelcast_cluster_safe", s);
    }
    if let Some(s) = h.cluster_size {
        cx.fact("hazelcast_cluster_size", s);
    }
    let node = h.node_state.as_deref().unwrap_or("?");
    let state = h.cluster_state.as_deref().unwrap_or("?");
    if node != "ACTIVE" || state != "ACTIVE" {
        return Err(Failure::new(
            &codes::NOT_ACTIVE,
            Phase::Query,
            format!("node state {node}, cluster state {state}"),
        )
        .stated());
    }
    cx.reach(Level::Healthy);
    Ok(())
}

/// The answer is not Hazelcast's: another protocol the sniffer names, else malformed.
fn other_protocol(cx: &mut ProbeCx, tape: &net::Tape, why: &str) -> Failure {
    let head = tape.head();
    if let Some(f) = sniff::mismatch(cx, &head, &EXPECTED, Phase::Greeting) {
        return f;
    }
    Failure::new(
        &codes::MALFORMED,
        Phase::Greeting,
        format!("the answer to the CP2 preamble is not Hazelcast's ({why}): {}", sniff::describe(&head)),
    )
}
