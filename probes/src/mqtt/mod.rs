//! `mqtt`: MQTT 5 and 3.1.1 (1883); `mqtts` is the same inside TLS (8883).
//!
//! CONNECT with a random client id and a clean session, MQTT 5 first and 3.1.1 when the broker
//! refuses 5 (unless `version:` pins one); the CONNACK is decoded by hand ([`wire`]): every
//! 3.1.1 return code and 5.0 reason code by name, and the 5.0 properties. rumqttc hides what
//! a diagnosis needs here (the bytes of a non-MQTT answer, which layout a refusal came in, the
//! properties of a refused CONNACK), so the few packets are written by hand.
//!
//! Any CONNACK proves MQTT (`speaks`); an accepted one is `healthy`, or with `roundtrip: true`
//! a message published to a probe topic must come back. `$SYS/broker/version` names the
//! broker where it is readable.

pub mod codes;
pub mod options;
pub mod wire;
pub use options::*;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::codes::core;
use crate::net::{self, BoxIo, Conn, Tape, is_reset, read_failure};
use crate::{Failure, Level, Over, Phase, Probe, ProbeCx, Target, sniff, tls};
use wire::{ConnAck, FixedHeader};

/// Keep-alive announced in CONNECT; the probe is gone long before it matters.
const KEEP_ALIVE: u16 = 30;
/// Largest packet accepted from the broker. CONNACKs are a few dozen bytes; retained messages
/// on `$SYS` a few hundred.
const MAX_PACKET: u32 = 64 * 1024;
/// How long to wait for the retained `$SYS/broker/version` once the subscription is granted.
const SYS_WAIT: Duration = Duration::from_millis(300);
/// The most the optional version read may take in all.
const SYS_BUDGET: Duration = Duration::from_secs(1);
/// The broker's version topic (Mosquitto, and others that copy it).
const SYS_VERSION: &str = "$SYS/broker/version";

/// The `mqtt` probe.
#[derive(Debug, Clone, Copy)]
pub struct Mqtt;

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "mqtt",
    summary: "MQTT 5 / 3.1.1: CONNACK decoded (accepted = healthy); optional publish round trip (mqtts: over TLS)",
    proves: "CONNECT with a random client id, MQTT 5 then 3.1.1 (or `mqtt.version`); any CONNACK is `speaks`, accepted is `healthy`; with `roundtrip`, a message published to a probe topic must come back; `$SYS/broker/version` names the broker",
    default_ports: &[1883, 8883],
    options: Some(&SECTION),
    tls_alias: Some("mqtts"),
    codes: codes::CODES,
    logs_in: true,
    ..crate::About::DEFAULT
};

impl Probe for Mqtt {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    fn default_require(&self, t: &Target) -> Level {
        if t.login.is_some() || t.options::<MqttOptions>().is_some_and(|m| m.roundtrip) {
            Level::Healthy
        } else {
            Level::Speaks
        }
    }
    fn validate(&self, t: &Target) -> Result<(), Failure> {
        if t.over == Over::Tls {
            tls::validate(&t.tls)?;
        }
        if let Some(login) = &t.login {
            login.password()?;
        }
        if let Some(topic) = t.options::<MqttOptions>().and_then(|m| m.topic.as_deref()) {
            if !t.options::<MqttOptions>().is_some_and(|m| m.roundtrip) {
                return Err(Failure::config("mqtt.topic is the round trip's topic: give roundtrip: true too"));
            }
            if topic.is_empty()
                || topic.contains(['+', '#'])
                || topic.starts_with('$')
                || topic.len() > 1024
                || topic.chars().any(char::is_control)
            {
                return Err(Failure::config(format!(
                    "mqtt.topic {topic:?}: give a plain topic name (no wildcards or control characters, not $SYS, at most 1024 bytes)"
                )));
            }
        }
        Ok(())
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(run(t, cx))
    }
}

/// A random client id: a fixed one would kick out another instance of the probe (the broker
/// ends the older session of the same id), and give away nothing in the broker's log.
fn client_id() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 6];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    // Letters and digits only: all a 3.1.1 server must accept (3.1.3.1).
    format!("portproof{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>())
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let opts = t.options_or_default::<MqttOptions>();
    let password = t.login.as_ref().map(|l| l.password()).transpose()?;
    let login = t.login.as_ref().zip(password.as_ref()).map(|(l, p)| (l.user.as_str(), p.expose()));
    let versions: &[MqttVersion] = match opts.version {
        Some(MqttVersion::V5) => &[MqttVersion::V5],
        Some(MqttVersion::V311) => &[MqttVersion::V311],
        None => &[MqttVersion::V5, MqttVersion::V311],
    };
    let id = client_id();
    let mut tried = Vec::new();
    for (i, &v) in versions.iter().enumerate() {
        let last = i + 1 == versions.len();
        let (mut conn, peer) = open(cx, t).await?;
        // CONNECT carries the password as it is: where the policy refuses clear text, an
        // anonymous CONNECT still names the broker, and the check ends on the refusal.
        let refused = t.cleartext_refusal(peer.map(|p| p.ip()), t.over == Over::Tls);
        let login = if refused.is_some() { None } else { login };
        cx.phase(Phase::Request);
        conn.write_all(&wire::connect(v, &id, login, KEEP_ALIVE))
            .await
            .map_err(|e| read_failure(&e, Phase::Request, "sending CONNECT"))?;
        let ack = match read_connack(cx, &mut conn).await {
            Ok(a) => a,
            // A broker that knows only 3.1.1 may just hang up on a 5.0 CONNECT.
            Err(Unheard::Silent(_)) if !last => {
                tried.push(format!("{v}: closed without CONNACK"));
                cx.fact("mqtt_versions_tried", tried.clone());
                continue;
            }
            // Once a CONNACK has proved MQTT, a later silence is the broker's, not a TLS port's.
            Err(Unheard::Silent(mut f)) if cx.level() >= Level::Speaks => {
                f.hint = Some("the broker refused MQTT 5 and then hung up on 3.1.1: check its log".into());
                return Err(f);
            }
            Err(Unheard::Silent(f)) => return Err(silent(cx, t, peer, f).await),
            Err(Unheard::Failure(f)) => return Err(f),
        };
        cx.reach(Level::Speaks);
        if ack.is_version_refusal() && !last {
            tried.push(format!("{v}: refused ({})", ack.name()));
            cx.fact("mqtt_versions_tried", tried.clone());
            let _ = conn.shutdown().await;
            continue;
        }
        tried.push(format!("{v}: {}", ack.name()));
        if tried.len() > 1 {
            cx.fact("mqtt_versions_tried", tried.clone());
        }
        record(cx, v, &ack, &id);
        if let Some(f) = refused {
            if ack.accepted() {
                let _ = conn.write_all(&wire::DISCONNECT).await;
            }
            let _ = conn.shutdown().await;
            return Err(f);
        }
        let result = match grade(&ack, t) {
            Ok(()) => after_connack(cx, &mut conn, v, &opts, &id).await,
            Err(f) => Err(f),
        };
        // A DISCONNECT and a FIN: the broker logs a client that left, not a dropped socket.
        if ack.accepted() {
            let _ = conn.write_all(&wire::DISCONNECT).await;
        }
        let _ = conn.shutdown().await;
        return result;
    }
    unreachable!("the last version returns")
}

async fn open(cx: &mut ProbeCx, t: &Target) -> Result<(Conn<BoxIo>, Option<SocketAddr>), Failure> {
    // No ALPN: most MQTT clients offer none, and a server with an ALPN list refuses a
    // protocol name it does not know (no_application_protocol).
    let o = net::open(cx, t, &[]).await?;
    Ok((o.conn, o.peer))
}

enum Unheard {
    Failure(Failure),
    /// Closed or reset without a byte.
    Silent(Failure),
}

/// Reads one packet: its fixed header and body, refusing lengths beyond [`MAX_PACKET`].
async fn read_packet(conn: &mut Conn<BoxIo>, phase: Phase) -> Result<(FixedHeader, Vec<u8>), Failure> {
    let mut head = Vec::with_capacity(5);
    let h = loop {
        match wire::fixed_header(&head) {
            Ok(Some(h)) => break h,
            Ok(None) => {}
            Err(e) => return Err(malformed(format!("{e}"), phase)),
        }
        let mut b = [0u8; 1];
        conn.read_exact(&mut b).await.map_err(|e| read_failure(&e, phase, "reading an MQTT packet"))?;
        head.push(b[0]);
    };
    if h.remaining > MAX_PACKET {
        return Err(malformed(
            format!(
                "a packet of type {} claims {} bytes; this probe accepts at most {MAX_PACKET}",
                h.kind, h.remaining
            ),
            phase,
        ));
    }
    let mut body = vec![0u8; h.remaining as usize];
    conn.read_exact(&mut body).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            malformed(
                format!("the peer closed the connection inside a packet that claims {} bytes", h.remaining),
                phase,
            )
        } else {
            read_failure(&e, phase, "reading an MQTT packet")
        }
    })?;
    Ok((h, body))
}

fn malformed(message: String, phase: Phase) -> Failure {
    Failure::new(&codes::MALFORMED, phase, message)
}

async fn read_connack(cx: &mut ProbeCx, conn: &mut Conn<BoxIo>) -> Result<ConnAck, Unheard> {
    let tape = conn.tape();
    // The first byte decides: 0x20 is CONNACK; anything else is not an MQTT broker's answer.
    let mut first = [0u8; 1];
    match conn.read(&mut first).await {
        Err(e) if !is_reset(&e) => {
            return Err(Unheard::Silent(read_failure(&e, Phase::Request, "waiting for CONNACK")));
        }
        Ok(0) | Err(_) => {
            return Err(Unheard::Silent(Failure::new(
                &codes::NO_RESPONSE,
                Phase::Request,
                "the peer closed (or reset) the connection without a CONNACK",
            )));
        }
        Ok(_) => {}
    }
    if first[0] != 0x20 {
        return Err(Unheard::Failure(not_mqtt(cx, conn, &tape).await));
    }
    let mut rest = [0u8; 4];
    let mut head = vec![first[0]];
    let h = loop {
        match wire::fixed_header(&head) {
            Ok(Some(h)) => break h,
            Ok(None) => {}
            Err(e) => return Err(Unheard::Failure(malformed(e.to_string(), Phase::Request))),
        }
        let n = conn.read(&mut rest[..1]).await.unwrap_or(0);
        if n == 0 {
            return Err(Unheard::Failure(malformed(
                "the connection ended inside the CONNACK header".into(),
                Phase::Request,
            )));
        }
        head.push(rest[0]);
    };
    if !(2..=MAX_PACKET).contains(&h.remaining) {
        return Err(Unheard::Failure(malformed(
            format!("CONNACK claims {} bytes (2 in 3.1.1, a few dozen in 5.0)", h.remaining),
            Phase::Request,
        )));
    }
    let mut body = vec![0u8; h.remaining as usize];
    if let Err(e) = conn.read_exact(&mut body).await {
        let mut f = read_failure(&e, Phase::Request, "reading CONNACK");
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            f = malformed(
                format!("the peer closed the connection inside a CONNACK that claims {} bytes", h.remaining),
                Phase::Request,
            );
        }
        return Err(Unheard::Failure(f));
    }
    wire::connack(&body)
        .map_err(|e| Unheard::Failure(malformed(format!("CONNACK does not decode: {e}"), Phase::Request)))
}

const EXPECTED: sniff::Expected<'static> = sniff::Expected { name: "mqtt", label: "MQTT", over_tls: Some("mqtts") };

/// The answer is not MQTT: the sniffer names it, or it is malformed.
async fn not_mqtt(cx: &mut ProbeCx, conn: &mut Conn<BoxIo>, tape: &Tape) -> Failure {
    sniff::not_expected(cx, conn, tape, &EXPECTED, "CONNECT", &codes::MALFORMED).await
}

/// Silence then close: a TLS port waiting for a ClientHello does exactly that. Ask on the side.
async fn silent(cx: &mut ProbeCx, t: &Target, peer: Option<SocketAddr>, f: Failure) -> Failure {
    sniff::silent_then_closed(cx, t, peer, &EXPECTED, "CONNECT", f).await
}

fn record(cx: &mut ProbeCx, v: MqttVersion, ack: &ConnAck, id: &str) {
    cx.fact("protocol", format!("MQTT {v}"));
    cx.fact("mqtt_version", v.to_string());
    cx.fact("mqtt_connack", ack.name());
    cx.fact("mqtt_connack_code", ack.code);
    cx.fact("mqtt_session_present", ack.session_present);
    cx.fact("mqtt_client_id", id);
    for (k, val) in &ack.properties {
        cx.fact(&format!("mqtt_{k}"), val.clone());
    }
}

/// The CONNACK's verdict: accepted goes on; a refusal by name.
fn grade(ack: &ConnAck, t: &Target) -> Result<(), Failure> {
    if ack.accepted() {
        return Ok(());
    }
    let version = if ack.v5 { "5" } else { "3.1.1" };
    let reason =
        ack.properties.get("reason_string").and_then(Value::as_str).map(|r| format!(": {r}")).unwrap_or_default();
    let said =
        format!("the broker refused the connection (MQTT {version} code 0x{:02x} {}){reason}", ack.code, ack.name());
    if ack.is_auth_refusal() {
        let hint = match &t.login {
            None => "the broker requires a login: give login: {user, password_env}".to_owned(),
            Some(l) => format!(
                "check user {:?}'s password and the broker's ACL (Mosquitto answers not_authorized for a wrong password too)",
                l.user
            ),
        };
        return Err(Failure::new(&core::AUTH_REJECTED, Phase::Auth, said).hint(hint));
    }
    let f = codes::CONNACK.failure_with(ack.name(), Phase::Request, said);
    let hint = match ack.properties.get("server_reference").and_then(Value::as_str) {
        Some(other) => format!("the broker points clients to {other}"),
        None => match ack.name() {
            "unacceptable_protocol_version" | "unsupported_protocol_version" if t.options::<MqttOptions>().is_some_and(|m| m.version.is_some()) => {
                "the broker does not speak this MQTT version: pin the other with mqtt.version".to_owned()
            }
            "unacceptable_protocol_version" | "unsupported_protocol_version" => {
                "the broker refused both MQTT 5 and 3.1.1: it may speak only MQTT 3.1 or be restricted by its configuration".to_owned()
            }
            "server_unavailable" | "server_busy" | "quota_exceeded" | "connection_rate_exceeded" => {
                "the broker is overloaded or limits connections: check its load and limits".to_owned()
            }
            "identifier_rejected" | "client_identifier_not_valid" => {
                "the broker rejects this client id: it may restrict client ids by pattern".to_owned()
            }
            "banned" => "this client is banned by the broker".to_owned(),
            // The table's hint.
            _ => return Err(f),
        },
    };
    Err(f.hint(hint))
}

/// After an accepted CONNACK: the round trip if asked, then `$SYS/broker/version` if readable.
async fn after_connack(
    cx: &mut ProbeCx,
    conn: &mut Conn<BoxIo>,
    v: MqttVersion,
    opts: &crate::mqtt::MqttOptions,
    id: &str,
) -> Result<(), Failure> {
    cx.phase(Phase::Query);
    if opts.roundtrip {
        let topic = opts.topic.clone().unwrap_or_else(|| format!("portproof/probe/{id}"));
        roundtrip(cx, conn, v, &topic, id).await?;
    }
    cx.reach(Level::Healthy);
    // The version is a nicety: a broker that refuses it, or even hangs up over it, does not
    // change the verdict, and it may not take more than a small share of what is left.
    let budget = cx.remaining().map_or(SYS_BUDGET, |r| (r / 3).min(SYS_BUDGET));
    match tokio::time::timeout(budget, sys_version(conn, v)).await {
        Ok(Ok(Some(text))) => {
            cx.fact("mqtt_broker_version", text.clone());
            // "mosquitto version 2.0.11": product and version.
            if let Some((product, version)) = text.rsplit_once(" version ") {
                cx.fact("product", product);
                cx.fact("product_version", version);
            }
        }
        Ok(Ok(None)) => cx.fact("mqtt_broker_version", "not published"),
        Ok(Err(f)) => cx.fact("mqtt_broker_version", format!("unreadable: {}", f.message)),
        Err(_) => cx.fact("mqtt_broker_version", "no answer in time"),
    }
    cx.end_phase();
    Ok(())
}

/// Subscribes to the probe topic, publishes to it, and waits for the message to come back.
async fn roundtrip(
    cx: &mut ProbeCx,
    conn: &mut Conn<BoxIo>,
    v: MqttVersion,
    topic: &str,
    id: &str,
) -> Result<(), Failure> {
    let payload = format!("portproof round trip {id}");
    conn.write_all(&wire::subscribe(v, 1, &[topic]))
        .await
        .map_err(|e| read_failure(&e, Phase::Query, "subscribing"))?;
    loop {
        let (h, body) = read_packet(conn, Phase::Query).await?;
        match h.kind {
            wire::SUBACK => {
                let (_, granted) =
                    wire::suback(v, &body).map_err(|e| malformed(format!("SUBACK: {e}"), Phase::Query))?;
                match granted.first() {
                    Some(c) if *c < 0x80 => {}
                    other => {
                        return Err(Failure::new(
                            &codes::SUBSCRIBE_REFUSED,
                            Phase::Query,
                            format!(
                                "the broker refused the subscription to {topic:?} (code {})",
                                other.map_or("missing".to_owned(), |c| format!("0x{c:02x}"))
                            ),
                        )
                        .stated());
                    }
                }
                conn.write_all(&wire::publish(v, 2, topic, payload.as_bytes()))
                    .await
                    .map_err(|e| read_failure(&e, Phase::Query, "publishing"))?;
            }
            wire::PUBACK => {
                // MQTT 5 says why a publish was refused (an ACL, a quota); 3.1.1 drops it silently.
                if let Some(&code) = body.get(2).filter(|_| v == MqttVersion::V5)
                    && code >= 0x80
                {
                    return Err(Failure::new(
                        &codes::PUBLISH_REFUSED,
                        Phase::Query,
                        format!(
                            "the broker refused the publish to {topic:?} (code 0x{code:02x} {})",
                            wire::reason_name(code)
                        ),
                    )
                    .stated());
                }
                let _ = conn.write_all(&wire::PINGREQ).await;
            }
            wire::PUBLISH => {
                let m = wire::publish_in(v, h.flags, &body)
                    .map_err(|e| malformed(format!("PUBLISH: {e}"), Phase::Query))?;
                if let Some(pid) = m.packet_id {
                    let _ = conn.write_all(&wire::puback(pid)).await;
                }
                if m.topic == topic && m.payload == payload.as_bytes() {
                    cx.fact("mqtt_roundtrip", topic);
                    return Ok(());
                }
            }
            _ => {}
        }
    }
}

/// Reads the retained `$SYS/broker/version`: `None` when the broker refuses the subscription
/// or has nothing there.
async fn sys_version(conn: &mut Conn<BoxIo>, v: MqttVersion) -> Result<Option<String>, Failure> {
    conn.write_all(&wire::subscribe(v, 3, &[SYS_VERSION]))
        .await
        .map_err(|e| read_failure(&e, Phase::Query, "subscribing"))?;
    let mut granted_at = None;
    loop {
        let next = read_packet(conn, Phase::Query);
        let (h, body) = match granted_at {
            // The retained message follows the SUBACK at once, or never comes.
            Some(at) => match tokio::time::timeout_at(at + SYS_WAIT, next).await {
                Ok(r) => r?,
                Err(_) => return Ok(None),
            },
            None => next.await?,
        };
        match h.kind {
            wire::SUBACK => {
                let (_, granted) =
                    wire::suback(v, &body).map_err(|e| malformed(format!("SUBACK: {e}"), Phase::Query))?;
                if granted.first().is_none_or(|c| *c >= 0x80) {
                    return Ok(None);
                }
                granted_at = Some(tokio::time::Instant::now());
                let _ = conn.write_all(&wire::PINGREQ).await;
            }
            wire::PUBLISH => {
                let m = wire::publish_in(v, h.flags, &body)
                    .map_err(|e| malformed(format!("PUBLISH: {e}"), Phase::Query))?;
                if let Some(pid) = m.packet_id {
                    let _ = conn.write_all(&wire::puback(pid)).await;
                }
                if m.topic == SYS_VERSION {
                    return Ok(Some(String::from_utf8_lossy(&m.payload).into_owned()));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_random_and_valid() {
        let (a, b) = (client_id(), client_id());
        assert_ne!(a, b);
        // MQTT 3.1.1 servers must accept 1-23 bytes of [0-9a-zA-Z]; the dash is widely accepted.
        assert!(a.len() <= 23, "{a}");
    }

    #[test]
    fn refusals_get_their_codes() {
        let t = Target::new("h", 1);
        let auth = ConnAck { session_present: false, code: 5, v5: false, properties: Default::default() };
        assert_eq!(grade(&auth, &t).unwrap_err().code, "auth.rejected");
        let busy = ConnAck { session_present: false, code: 0x89, v5: true, properties: Default::default() };
        assert_eq!(grade(&busy, &t).unwrap_err().code, "mqtt.connack.server_busy");
        let mut moved = ConnAck { session_present: false, code: 0x9d, v5: true, properties: Default::default() };
        moved.properties.insert("server_reference".into(), "other:1883".into());
        let f = grade(&moved, &t).unwrap_err();
        assert_eq!(f.code, "mqtt.connack.server_moved");
        assert!(f.hint.unwrap().contains("other:1883"));
    }

    #[test]
    fn codes_the_tests_know_are_in_the_tables() {
        for c in [
            "auth.rejected",
            "mqtt.connack.server_busy",
            "mqtt.connack.server_moved",
            "mqtt.connack.banned",
            "mqtt.connack.server_unavailable",
            "mqtt.connack.unacceptable_protocol_version",
            "mqtt.no_response",
            "mqtt.malformed",
            "mqtt.subscribe_refused",
            "mqtt.publish_refused",
            "proto.mismatch",
            "request.timeout",
        ] {
            assert!(crate::codes::lookup(c).is_some(), "{c}");
        }
        assert!(std::ptr::eq(crate::codes::lookup("mqtt.connack.banned").unwrap(), &codes::CONNACK));
    }
}
