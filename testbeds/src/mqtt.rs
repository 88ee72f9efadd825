//! An MQTT 3.1.1 and 5.0 responder: enough of a broker for the demo, and the broken brokers a
//! real one will not impersonate on demand.
//!
//! Mosquitto is the truth for the `mqtt` probe; this responder exists so the demo and the tests
//! run in-process, and so the failure modes (a 3.1.1-only broker that hangs up on 5.0, a
//! remaining length that never ends, a CONNACK shorter than it claims, a CONNACK one byte at a
//! time) can be produced at will.
//!
//! It follows MQTT Version 3.1.1 (OASIS Standard, 29 October 2014,
//! <https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html>) and MQTT Version 5.0
//! (OASIS Standard, 7 March 2019, <https://docs.oasis-open.org/mqtt/mqtt/v5.0/os/mqtt-v5.0-os.html>):
//! the remaining length is the variable byte integer of 3.1.1 §2.2.3 and 5.0 §1.5.5 (at most four
//! bytes), CONNECT and CONNACK are laid out per 3.1.1 §3.1–3.2 and 5.0 §3.1–3.2 (5.0 adds the
//! property lists of §2.2.2), and a 3.1.1 broker answers an unknown protocol level with return
//! code 1 (3.1.1 §3.1.2.2).
//!
//! Every read is bounded (no client packet over 1 MiB), client garbage closes the connection
//! instead of panicking, and every connection task ends when its client leaves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use crate::Server;
use crate::bytes::Cursor;
use crate::conn::{BoxIo, accept_each, finish, hold, send, upgrade};

/// How the responder behaves: a working broker, or one of the failures a probe must grade.
#[derive(Clone, Debug)]
pub enum MqttMode {
    /// A broker that logs in, subscribes, publishes back and answers `$SYS/broker/version`, like
    /// Mosquitto, so the probe's happy path and its refusals can be shown without Mosquitto.
    Broker(MqttConfig),
    /// Answers any CONNECT with a CONNACK carrying `code` and closes: every refusal a real
    /// broker can give, including the MQTT 5 redirect (`server_reference`, property 0x1C, sent
    /// only in the 5.0 layout) that brokers rarely produce on demand.
    Refuse {
        /// The 3.1.1 return code or the MQTT 5 reason code.
        code: u8,
        /// Lay the CONNACK out as MQTT 5 (with a property list) rather than 3.1.1.
        v5_layout: bool,
        /// The server to use instead, as an MQTT 5 Server Reference.
        server_reference: Option<String>,
    },
    /// A 3.1.1-only broker that does not answer a level-5 CONNECT but closes (FIN) after reading
    /// it, as some brokers do: the probe must fall back to 3.1.1 without a CONNACK to go on. Any
    /// other CONNECT is served as [`MqttMode::Broker`] with `v5` false.
    SilentOn5,
    /// Answers CONNECT with `20 FF FF FF FF 7F`, a remaining length running past its four bytes,
    /// and holds the connection: a reader that does not stop at four bytes reads forever.
    BadRemainingLength,
    /// Answers `20 0A 00 00` (a CONNACK claiming 10 bytes and sending 2), then closes: the
    /// reader must report a truncated packet, not wait or accept it.
    LyingConnack,
    /// Sends a valid CONNACK (in the layout of the client's level) one byte every 500 ms: slow
    /// but correct, so deadlines, not parsing, decide the verdict.
    Trickle,
}

/// What the [`MqttMode::Broker`] does, so each outcome of the probe (5.0 or 3.1.1 only, login
/// refused, `$SYS` version read or denied) can be arranged.
#[derive(Clone, Debug)]
pub struct MqttConfig {
    /// Speak MQTT 5.0 as well as 3.1.1; when false, a level-5 CONNECT gets the 3.1.1 answer
    /// `20 02 00 01` (unacceptable protocol version), as 3.1.1-only brokers give. Default true.
    pub v5: bool,
    /// The one user name and password accepted; `None` lets anyone in. Default `None`.
    pub login: Option<(String, String)>,
    /// The retained text of `$SYS/broker/version`, sent right after a SUBACK granting it, where
    /// the probe reads the broker's version; `None` publishes nothing. Default
    /// `Some("portproof-testbed version 1.0")`.
    pub sys_version: Option<String>,
    /// Refuse (0x80) subscriptions to `$SYS` topics, as brokers with restrictive ACLs do.
    /// Default false.
    pub deny_sys: bool,
    /// Refuse every PUBLISH as an ACL would: MQTT 5 gets PUBACK with 0x87 (not authorized),
    /// 3.1.1 a PUBACK and no delivery (3.1.1 has no way to say no). Default false.
    pub deny_publish: bool,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            v5: true,
            login: None,
            sys_version: Some("portproof-testbed version 1.0".to_owned()),
            deny_sys: false,
            deny_publish: false,
        }
    }
}

/// Serves `mode` in plain TCP on `listener`, the way MQTT runs on 1883.
pub fn serve(listener: TcpListener, mode: MqttMode) -> Server {
    accept_loop(listener, None, mode)
}

/// Serves `mode` over TLS with `config` on `listener`, the way MQTT runs on 8883: the TLS
/// handshake comes first, then the same protocol inside it.
pub fn serve_tls(listener: TcpListener, mode: MqttMode, config: Arc<rustls::ServerConfig>) -> Server {
    accept_loop(listener, Some(TlsAcceptor::from(config)), mode)
}

const CONNECT: u8 = 1;
const PUBLISH: u8 = 3;
const PUBACK: u8 = 4;
const PUBREC: u8 = 5;
const PUBREL: u8 = 6;
const PUBCOMP: u8 = 7;
const SUBSCRIBE: u8 = 8;
const UNSUBSCRIBE: u8 = 10;
const PINGREQ: u8 = 12;
const DISCONNECT: u8 = 14;

/// MQTT 5 reason codes sent in DISCONNECT when the client breaks the protocol.
const MALFORMED: u8 = 0x81;
const PROTOCOL_ERROR: u8 = 0x82;
const KEEP_ALIVE_TIMEOUT: u8 = 0x8D;
const TOPIC_NAME_INVALID: u8 = 0x90;
const TOPIC_ALIAS_INVALID: u8 = 0x94;
const QOS_NOT_SUPPORTED: u8 = 0x9B;
/// Not a reason code: close without a DISCONNECT (the client is gone).
const GONE: u8 = 0;

/// The largest packet (remaining length) accepted from a client.
const MAX_PACKET: usize = 1 << 20;
/// How long a client may take to send CONNECT.
const CONNECT_WAIT: Duration = Duration::from_secs(10);
const RECEIVE_MAXIMUM: u16 = 20;
const MAXIMUM_QOS: u8 = 1;
const TOPIC_ALIAS_MAXIMUM: u16 = 10;
const SYS_VERSION_TOPIC: &str = "$SYS/broker/version";

type Stream = BufReader<BoxIo>;

fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, mode: MqttMode) -> Server {
    let mode = Arc::new(mode);
    accept_each(listener, move |tcp| {
        let (mode, tls) = (mode.clone(), tls.clone());
        async move {
            if let Some(io) = upgrade(tcp, tls.as_ref()).await {
                session(&mut BufReader::new(io), &mode).await;
            }
        }
    })
}

async fn session(s: &mut Stream, mode: &MqttMode) {
    let connect = match timeout(CONNECT_WAIT, read_packet(s)).await {
        Ok(Some(p)) if p.kind == CONNECT && p.flags == 0 => p,
        _ => return finish(s).await,
    };
    match mode {
        MqttMode::Broker(config) => broker(s, &connect.body, config, false).await,
        MqttMode::SilentOn5 => {
            let config = MqttConfig { v5: false, ..MqttConfig::default() };
            broker(s, &connect.body, &config, true).await;
        }
        MqttMode::Refuse { code, v5_layout, server_reference } => {
            let answer = if *v5_layout {
                let mut properties = Vec::new();
                if let Some(reference) = server_reference {
                    properties.push(0x1C);
                    put_str(&mut properties, reference);
                }
                connack_v5(*code, &properties)
            } else {
                connack_v3(*code)
            };
            let _ = send(s, &answer).await;
            finish(s).await;
        }
        MqttMode::BadRemainingLength => {
            if send(s, &[0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]).await.is_some() {
                hold(s).await;
            }
        }
        MqttMode::LyingConnack => {
            let _ = send(s, &[0x20, 0x0A, 0x00, 0x00]).await;
            finish(s).await;
        }
        MqttMode::Trickle => {
            let mut c = Cursor(&connect.body);
            let v5 = c.binary().and_then(|_| c.u8()) == Some(5);
            let answer = if v5 { connack_v5(0, &[]) } else { connack_v3(0) };
            for (i, byte) in answer.iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                if send(s, &[*byte]).await.is_none() {
                    return;
                }
            }
            hold(s).await;
        }
    }
}

/// A connected client's state.
struct Session {
    v5: bool,
    keep_alive: u16,
    subscriptions: Vec<Subscription>,
    /// MQTT 5 topic aliases the client set (5.0 §3.3.2.3.4).
    aliases: std::collections::HashMap<u16, String>,
    last_packet_id: u16,
    deny_publish: bool,
}

struct Subscription {
    filter: String,
    qos: u8,
    no_local: bool,
}

impl Session {
    fn next_packet_id(&mut self) -> u16 {
        self.last_packet_id = self.last_packet_id.checked_add(1).unwrap_or(1);
        self.last_packet_id
    }
}

/// The working broker, from the CONNECT's body on.
async fn broker(s: &mut Stream, connect: &[u8], config: &MqttConfig, silent_on_5: bool) {
    if let Some(session) = accept(s, connect, config, silent_on_5).await {
        serve_session(s, session, config).await;
    }
    finish(s).await;
}

/// The CONNECT read (3.1.1 §3.1, 5.0 §3.1): what the broker needs of it.
struct Connect {
    clean: bool,
    keep_alive: u16,
    client_id: String,
    user: Option<Vec<u8>>,
    password: Option<Vec<u8>>,
}

/// Answers CONNECT; `Some` when the client is in.
async fn accept(s: &mut Stream, body: &[u8], config: &MqttConfig, silent_on_5: bool) -> Option<Session> {
    let mut c = Cursor(body);
    let name = c.binary()?;
    let level = c.u8()?;
    if name != b"MQTT" && name != b"MQIsdp" {
        return None;
    }
    let v5 = level == 5;
    if name == b"MQIsdp" || !(level == 4 || v5 && config.v5) {
        if !(v5 && silent_on_5) {
            send(s, &connack_v3(0x01)).await;
        }
        return None;
    }
    let connect = connect_rest(&mut c, v5)?;
    if !v5 && connect.client_id.is_empty() && !connect.clean {
        // 3.1.1 §3.1.3.1: an empty client identifier needs a clean session.
        send(s, &connack_v3(0x02)).await;
        return None;
    }
    let refused = config.login.as_ref().is_some_and(|(user, password)| {
        connect.user.as_deref() != Some(user.as_bytes()) || connect.password.as_deref() != Some(password.as_bytes())
    });
    if refused {
        send(s, &if v5 { connack_v5(0x87, &[]) } else { connack_v3(0x05) }).await;
        return None;
    }
    let answer = if v5 {
        let mut properties = vec![0x21];
        properties.extend(RECEIVE_MAXIMUM.to_be_bytes());
        properties.extend([0x24, MAXIMUM_QOS, 0x25, 1, 0x22]);
        properties.extend(TOPIC_ALIAS_MAXIMUM.to_be_bytes());
        if connect.client_id.is_empty() {
            static ASSIGNED: AtomicU64 = AtomicU64::new(0);
            properties.push(0x12);
            put_str(&mut properties, &format!("portproof-testbed-{}", ASSIGNED.fetch_add(1, Ordering::Relaxed) + 1));
        }
        connack_v5(0, &properties)
    } else {
        connack_v3(0)
    };
    send(s, &answer).await?;
    Some(Session {
        v5,
        keep_alive: connect.keep_alive,
        subscriptions: Vec::new(),
        aliases: Default::default(),
        last_packet_id: 0,
        deny_publish: config.deny_publish,
    })
}

/// The CONNECT after its protocol name and level; `None` when malformed.
fn connect_rest(c: &mut Cursor<'_>, v5: bool) -> Option<Connect> {
    let flags = c.u8()?;
    let will = flags & 0x04 != 0;
    if flags & 0x01 != 0 || (flags >> 3) & 0x03 == 3 || (!will && flags & 0x38 != 0) {
        return None;
    }
    let keep_alive = c.u16_be()?;
    if v5 {
        properties(c)?;
    }
    let client_id = c.string()?.to_owned();
    if will {
        if v5 {
            properties(c)?;
        }
        c.string()?;
        c.binary()?;
    }
    let user = if flags & 0x80 != 0 { Some(c.string()?.as_bytes().to_vec()) } else { None };
    let password = if flags & 0x40 != 0 { Some(c.binary()?.to_vec()) } else { None };
    c.0.is_empty().then_some(Connect { clean: flags & 0x02 != 0, keep_alive, client_id, user, password })
}

/// Serves packets until the client disconnects, leaves, breaks the protocol or stays silent
/// past 1.5 times its keep alive (3.1.1 §3.1.2.10, 5.0 §3.1.2.10).
async fn serve_session(s: &mut Stream, mut session: Session, config: &MqttConfig) {
    loop {
        let packet = if session.keep_alive == 0 {
            read_packet(s).await
        } else {
            let limit = Duration::from_millis(u64::from(session.keep_alive) * 1500);
            match timeout(limit, read_packet(s)).await {
                Ok(packet) => packet,
                Err(_) => {
                    if session.v5 {
                        send(s, &[0xE0, 0x01, KEEP_ALIVE_TIMEOUT]).await;
                    }
                    return;
                }
            }
        };
        let Some(packet) = packet else { return };
        match handle(s, &mut session, config, packet).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(reason) => {
                if session.v5 && reason != GONE {
                    send(s, &[0xE0, 0x01, reason]).await;
                }
                return;
            }
        }
    }
}

/// One packet of a connected client: `Ok(false)` on DISCONNECT, `Err(reason)` to close.
async fn handle(s: &mut Stream, session: &mut Session, config: &MqttConfig, packet: Packet) -> Result<bool, u8> {
    match (packet.kind, packet.flags) {
        (PUBLISH, flags) => publish(s, session, flags, &packet.body).await?,
        (PUBACK | PUBREC | PUBCOMP, 0) => {}
        (PUBREL, 2) => {
            let id = Cursor(&packet.body).u16_be().ok_or(MALFORMED)?;
            send(s, &packet_of(PUBCOMP << 4, &id.to_be_bytes())).await.ok_or(GONE)?;
        }
        (SUBSCRIBE, 2) => subscribe(s, session, config, &packet.body).await?,
        (UNSUBSCRIBE, 2) => unsubscribe(s, session, &packet.body).await?,
        (PINGREQ, 0) => send(s, &[0xD0, 0x00]).await.ok_or(GONE)?,
        (DISCONNECT, 0) => return Ok(false),
        (PUBACK..=UNSUBSCRIBE | PINGREQ | DISCONNECT, _) => return Err(MALFORMED),
        _ => return Err(PROTOCOL_ERROR),
    }
    Ok(true)
}

/// PUBLISH from the client: acknowledged by its QoS, then delivered back if it subscribed.
async fn publish(s: &mut Stream, session: &mut Session, flags: u8, body: &[u8]) -> Result<(), u8> {
    let qos = (flags >> 1) & 0x03;
    if qos == 3 {
        return Err(MALFORMED);
    }
    let mut c = Cursor(body);
    let mut topic = c.string().ok_or(MALFORMED)?.to_owned();
    let id = if qos > 0 { Some(c.u16_be().filter(|id| *id != 0).ok_or(MALFORMED)?) } else { None };
    if session.v5 {
        let properties = properties(&mut c).ok_or(MALFORMED)?;
        if let Some(&(_, alias)) = properties.iter().find(|(key, _)| *key == 0x23) {
            let alias = u16::try_from(alias).ok().filter(|a| (1..=TOPIC_ALIAS_MAXIMUM).contains(a));
            let alias = alias.ok_or(TOPIC_ALIAS_INVALID)?;
            if topic.is_empty() {
                topic = session.aliases.get(&alias).cloned().ok_or(PROTOCOL_ERROR)?;
            } else {
                session.aliases.insert(alias, topic.clone());
            }
        }
        if qos > MAXIMUM_QOS {
            return Err(QOS_NOT_SUPPORTED);
        }
    }
    if topic.is_empty() || topic.contains(['+', '#']) {
        return Err(if session.v5 { TOPIC_NAME_INVALID } else { MALFORMED });
    }
    let payload = c.0;
    if session.deny_publish {
        if let (1, Some(id)) = (qos, id) {
            let mut ack = id.to_be_bytes().to_vec();
            if session.v5 {
                ack.extend([0x87, 0]);
            }
            send(s, &packet_of(PUBACK << 4, &ack)).await.ok_or(GONE)?;
        }
        return Ok(());
    }
    match (qos, id) {
        (1, Some(id)) => send(s, &packet_of(PUBACK << 4, &id.to_be_bytes())).await.ok_or(GONE)?,
        (2, Some(id)) => send(s, &packet_of(PUBREC << 4, &id.to_be_bytes())).await.ok_or(GONE)?,
        _ => {}
    }
    let granted = session
        .subscriptions
        .iter()
        .filter(|sub| !sub.no_local && matches(&sub.filter, &topic))
        .map(|sub| sub.qos)
        .max();
    if let Some(granted) = granted {
        let qos = granted.min(qos);
        let id = (qos > 0).then(|| session.next_packet_id());
        send(s, &publish_packet(session.v5, &topic, payload, qos, false, id)).await.ok_or(GONE)?;
    }
    Ok(())
}

/// SUBSCRIBE: grants at most QoS 1, refuses `$SYS` when configured to, then sends the retained
/// `$SYS/broker/version` when a granted filter covers it.
async fn subscribe(s: &mut Stream, session: &mut Session, config: &MqttConfig, body: &[u8]) -> Result<(), u8> {
    let mut c = Cursor(body);
    let id = c.u16_be().filter(|id| *id != 0).ok_or(MALFORMED)?;
    if session.v5 {
        properties(&mut c).ok_or(MALFORMED)?;
    }
    if c.0.is_empty() {
        return Err(PROTOCOL_ERROR);
    }
    let mut codes = Vec::new();
    let mut send_version = false;
    while !c.0.is_empty() {
        let filter = c.string().ok_or(MALFORMED)?.to_owned();
        let options = c.u8().ok_or(MALFORMED)?;
        let qos = options & 0x03;
        let retain_handling = (options >> 4) & 0x03;
        let reserved = if session.v5 { options & 0xC0 != 0 || retain_handling == 3 } else { options & 0xFC != 0 };
        if qos == 3 || reserved {
            return Err(MALFORMED);
        }
        let code = if !valid_filter(&filter) {
            if session.v5 { 0x8F } else { 0x80 }
        } else if config.deny_sys && filter.starts_with("$SYS") {
            0x80
        } else {
            let granted = qos.min(MAXIMUM_QOS);
            let existed = session.subscriptions.iter().any(|sub| sub.filter == filter);
            let wants_retained = !session.v5 || retain_handling == 0 || (retain_handling == 1 && !existed);
            if config.sys_version.is_some() && wants_retained && matches(&filter, SYS_VERSION_TOPIC) {
                send_version = true;
            }
            session.subscriptions.retain(|sub| sub.filter != filter);
            session.subscriptions.push(Subscription {
                filter,
                qos: granted,
                no_local: session.v5 && options & 0x04 != 0,
            });
            granted
        };
        codes.push(code);
    }
    let mut ack = id.to_be_bytes().to_vec();
    if session.v5 {
        ack.push(0);
    }
    ack.extend(codes);
    send(s, &packet_of(0x90, &ack)).await.ok_or(GONE)?;
    if let Some(version) = config.sys_version.as_deref().filter(|_| send_version) {
        let retained = publish_packet(session.v5, SYS_VERSION_TOPIC, version.as_bytes(), 0, true, None);
        send(s, &retained).await.ok_or(GONE)?;
    }
    Ok(())
}

/// UNSUBSCRIBE: drops the filters; MQTT 5 says for each whether it existed.
async fn unsubscribe(s: &mut Stream, session: &mut Session, body: &[u8]) -> Result<(), u8> {
    let mut c = Cursor(body);
    let id = c.u16_be().filter(|id| *id != 0).ok_or(MALFORMED)?;
    if session.v5 {
        properties(&mut c).ok_or(MALFORMED)?;
    }
    if c.0.is_empty() {
        return Err(PROTOCOL_ERROR);
    }
    let mut codes = Vec::new();
    while !c.0.is_empty() {
        let filter = c.string().ok_or(MALFORMED)?;
        let before = session.subscriptions.len();
        session.subscriptions.retain(|sub| sub.filter != filter);
        codes.push(if session.subscriptions.len() < before { 0x00 } else { 0x11 });
    }
    let mut ack = id.to_be_bytes().to_vec();
    if session.v5 {
        ack.push(0);
        ack.extend(codes);
    }
    send(s, &packet_of(0xB0, &ack)).await.ok_or(GONE)
}

/// Whether `topic` matches `filter` (wildcards `+` and `#`; `$` topics only for filters that
/// name their first level, 3.1.1 §4.7.2).
fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let (mut f, mut t) = (filter.split('/'), topic.split('/'));
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A topic filter is non-empty, `#` only as its whole last level, `+` only as a whole level.
fn valid_filter(filter: &str) -> bool {
    let levels: Vec<&str> = filter.split('/').collect();
    !filter.is_empty()
        && levels.iter().enumerate().all(|(i, level)| {
            (!level.contains('#') || (*level == "#" && i == levels.len() - 1))
                && (!level.contains('+') || *level == "+")
        })
}

fn connack_v3(code: u8) -> Vec<u8> {
    vec![0x20, 0x02, 0x00, code]
}

fn connack_v5(code: u8, properties: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, code];
    put_vbi(&mut body, properties.len());
    body.extend_from_slice(properties);
    packet_of(0x20, &body)
}

fn publish_packet(v5: bool, topic: &str, payload: &[u8], qos: u8, retain: bool, id: Option<u16>) -> Vec<u8> {
    let mut body = Vec::with_capacity(topic.len() + payload.len() + 5);
    put_str(&mut body, topic);
    if let Some(id) = id {
        body.extend(id.to_be_bytes());
    }
    if v5 {
        body.push(0);
    }
    body.extend_from_slice(payload);
    packet_of((PUBLISH << 4) | (qos << 1) | u8::from(retain), &body)
}

/// A packet: fixed header byte, remaining length, body.
fn packet_of(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(first);
    put_vbi(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

/// A variable byte integer (3.1.1 §2.2.3, 5.0 §1.5.5).
fn put_vbi(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n % 128) as u8;
        n /= 128;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A UTF-8 string with its two-byte length (our strings all fit).
fn put_str(out: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(usize::from(u16::MAX))];
    out.extend((bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A packet read from the client.
struct Packet {
    kind: u8,
    flags: u8,
    body: Vec<u8>,
}

/// Reads one packet; `None` on end of stream, a remaining length of more than four bytes, or a
/// packet over [`MAX_PACKET`].
async fn read_packet<R: AsyncRead + Unpin>(s: &mut R) -> Option<Packet> {
    let first = s.read_u8().await.ok()?;
    let mut len = 0usize;
    for i in 0..4 {
        let byte = s.read_u8().await.ok()?;
        len |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            if len > MAX_PACKET {
                return None;
            }
            let mut body = vec![0u8; len];
            s.read_exact(&mut body).await.ok()?;
            return Some(Packet { kind: first >> 4, flags: first & 0x0F, body });
        }
    }
    None
}

/// An MQTT 5 property list (5.0 §2.2.2.2): the numeric properties by identifier; strings and
/// binary data are checked and skipped. `None` when malformed or unknown.
fn properties(c: &mut Cursor<'_>) -> Option<Vec<(u8, u32)>> {
    let len = usize::try_from(c.vbi()?).ok()?;
    let mut p = Cursor(c.take(len)?);
    let mut out = Vec::new();
    while !p.0.is_empty() {
        let id = p.u8()?;
        let value = match id {
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => u32::from(p.u8()?),
            0x13 | 0x21 | 0x22 | 0x23 => u32::from(p.u16_be()?),
            0x02 | 0x11 | 0x18 | 0x27 => p.u32_be()?,
            0x0B => p.vbi()?,
            0x03 | 0x08 | 0x12 | 0x15 | 0x1A | 0x1C | 0x1F => {
                p.string()?;
                0
            }
            0x09 | 0x16 => {
                p.binary()?;
                0
            }
            0x26 => {
                p.string()?;
                p.string()?;
                0
            }
            _ => return None,
        };
        out.push((id, value));
    }
    Some(out)
}

/// MQTT's variable byte integers and length-prefixed data on the shared [`Cursor`].
trait MqttRead<'a> {
    fn vbi(&mut self) -> Option<u32>;
    fn binary(&mut self) -> Option<&'a [u8]>;
    /// A UTF-8 string: well-formed and without U+0000 (3.1.1 §1.5.3, 5.0 §1.5.4).
    fn string(&mut self) -> Option<&'a str>;
}

impl<'a> MqttRead<'a> for Cursor<'a> {
    fn vbi(&mut self) -> Option<u32> {
        let mut value = 0u32;
        for i in 0..4 {
            let byte = self.u8()?;
            value |= u32::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    fn binary(&mut self) -> Option<&'a [u8]> {
        let n = self.u16_be()?;
        self.take(usize::from(n))
    }
    fn string(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.binary()?).ok().filter(|s| !s.contains('\0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    const WAIT: Duration = Duration::from_secs(5);

    async fn start(mode: MqttMode) -> (Server, TcpStream) {
        crate::serve_and_connect(|l| serve(l, mode)).await
    }

    fn str_of(s: &str) -> Vec<u8> {
        let mut v = (s.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(s.as_bytes());
        v
    }

    /// A CONNECT (clean session, keep alive 60) at `level` with an empty v5 property list.
    fn connect(level: u8, client_id: &str, login: Option<(&str, &str)>) -> Vec<u8> {
        let mut body = str_of("MQTT");
        body.push(level);
        body.push(if login.is_some() { 0xC2 } else { 0x02 });
        body.extend([0, 60]);
        if level == 5 {
            body.push(0);
        }
        body.extend(str_of(client_id));
        if let Some((user, password)) = login {
            body.extend(str_of(user));
            body.extend(str_of(password));
        }
        assert!(body.len() < 128);
        [vec![0x10, body.len() as u8], body].concat()
    }

    async fn exactly(c: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        timeout(WAIT, c.read_exact(&mut buf)).await.unwrap().unwrap();
        buf
    }

    async fn eof(c: &mut TcpStream) -> bool {
        let mut buf = [0u8; 64];
        // A FIN, not a reset: the close must not lose what was sent before it.
        matches!(timeout(WAIT, c.read(&mut buf)).await, Ok(Ok(0)))
    }

    /// Reads one packet as (first byte, body).
    async fn next(c: &mut TcpStream) -> (u8, Vec<u8>) {
        let p = timeout(WAIT, read_packet(c)).await.unwrap().expect("a packet");
        ((p.kind << 4) | p.flags, p.body)
    }

    #[tokio::test]
    async fn v5_accept_has_the_properties() {
        let (_server, mut c) = start(MqttMode::Broker(MqttConfig::default())).await;
        c.write_all(&connect(5, "probe", None)).await.unwrap();
        let expected = [0x20, 0x0D, 0x00, 0x00, 0x0A, 0x21, 0x00, 0x14, 0x24, 0x01, 0x25, 0x01, 0x22, 0x00, 0x0A];
        assert_eq!(exactly(&mut c, expected.len()).await, expected);

        let (_server, mut c) = start(MqttMode::Broker(MqttConfig::default())).await;
        c.write_all(&connect(5, "", None)).await.unwrap();
        let (first, body) = next(&mut c).await;
        assert_eq!((first, &body[..3]), (0x20, &[0x00, 0x00, body[2]][..]));
        let properties = &body[3..];
        assert_eq!(properties.len(), usize::from(body[2]));
        assert_eq!(properties[..10], [0x21, 0x00, 0x14, 0x24, 0x01, 0x25, 0x01, 0x22, 0x00, 0x0A]);
        assert_eq!(properties[10], 0x12, "assigned client identifier");
        let id = std::str::from_utf8(&properties[13..]).unwrap();
        assert!(id.starts_with("portproof-testbed-"), "{id}");
        assert_eq!(usize::from(u16::from_be_bytes([properties[11], properties[12]])), id.len());
    }

    #[tokio::test]
    async fn mqtts_speaks_inside_tls() {
        let pki = crate::pki::Pki::new();
        let server =
            serve_tls(crate::bind_any().await.unwrap(), MqttMode::Broker(MqttConfig::default()), pki.server_config());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca.cert_der.clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(crate::pki::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.unwrap();
        tls.write_all(&connect(4, "probe", None)).await.unwrap();
        let mut connack = [0u8; 4];
        timeout(WAIT, tls.read_exact(&mut connack)).await.unwrap().unwrap();
        assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);
    }

    #[tokio::test]
    async fn v311_accept() {
        let (_server, mut c) = start(MqttMode::Broker(MqttConfig::default())).await;
        c.write_all(&connect(4, "probe", None)).await.unwrap();
        assert_eq!(exactly(&mut c, 4).await, [0x20, 0x02, 0x00, 0x00]);
        c.write_all(&[0xC0, 0x00]).await.unwrap();
        assert_eq!(exactly(&mut c, 2).await, [0xD0, 0x00]);
        c.write_all(&[0xE0, 0x00]).await.unwrap();
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn v311_only_broker_answers_5_with_return_code_1() {
        let config = MqttConfig { v5: false, ..MqttConfig::default() };
        let (_server, mut c) = start(MqttMode::Broker(config)).await;
        c.write_all(&connect(5, "probe", None)).await.unwrap();
        assert_eq!(exactly(&mut c, 4).await, [0x20, 0x02, 0x00, 0x01]);
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn silent_on_5_closes_then_accepts_311() {
        let (server, mut c) = start(MqttMode::SilentOn5).await;
        c.write_all(&connect(5, "probe", None)).await.unwrap();
        assert!(eof(&mut c).await);
        let mut c = TcpStream::connect(server.addr).await.unwrap();
        c.write_all(&connect(4, "probe", None)).await.unwrap();
        assert_eq!(exactly(&mut c, 4).await, [0x20, 0x02, 0x00, 0x00]);
    }

    #[tokio::test]
    async fn login_refusals_in_both_layouts() {
        let config = MqttConfig { login: Some(("probe".into(), "secret".into())), ..MqttConfig::default() };
        let (server, mut c) = start(MqttMode::Broker(config)).await;
        c.write_all(&connect(4, "probe", Some(("probe", "wrong")))).await.unwrap();
        assert_eq!(exactly(&mut c, 4).await, [0x20, 0x02, 0x00, 0x05]);
        assert!(eof(&mut c).await);

        let mut c = TcpStream::connect(server.addr).await.unwrap();
        c.write_all(&connect(5, "probe", Some(("probe", "wrong")))).await.unwrap();
        assert_eq!(exactly(&mut c, 5).await, [0x20, 0x03, 0x00, 0x87, 0x00]);
        assert!(eof(&mut c).await);

        let mut c = TcpStream::connect(server.addr).await.unwrap();
        c.write_all(&connect(5, "probe", None)).await.unwrap();
        assert_eq!(exactly(&mut c, 5).await, [0x20, 0x03, 0x00, 0x87, 0x00], "missing credentials");

        let mut c = TcpStream::connect(server.addr).await.unwrap();
        c.write_all(&connect(4, "probe", Some(("probe", "secret")))).await.unwrap();
        assert_eq!(exactly(&mut c, 4).await, [0x20, 0x02, 0x00, 0x00]);
    }

    async fn round_trip(level: u8) {
        let (_server, mut c) = start(MqttMode::Broker(MqttConfig::default())).await;
        c.write_all(&connect(level, "probe", None)).await.unwrap();
        next(&mut c).await;
        let v5 = level == 5;

        let mut subscribe = vec![0x00, 0x07];
        if v5 {
            subscribe.push(0);
        }
        subscribe.extend(str_of("portproof/test"));
        subscribe.push(0x01);
        c.write_all(&packet_of(0x82, &subscribe)).await.unwrap();
        let suback: &[u8] = if v5 { &[0x00, 0x07, 0x00, 0x01] } else { &[0x00, 0x07, 0x01] };
        assert_eq!(next(&mut c).await, (0x90, suback.to_vec()));

        let mut publish = str_of("portproof/test");
        publish.extend([0x00, 0x09]);
        if v5 {
            publish.push(0);
        }
        publish.extend(b"hello");
        c.write_all(&packet_of(0x32, &publish)).await.unwrap();
        assert_eq!(next(&mut c).await, (0x40, vec![0x00, 0x09]));
        let (first, body) = next(&mut c).await;
        assert_eq!(first, 0x32, "QoS 1, no retain");
        let mut expected = str_of("portproof/test");
        expected.extend([0x00, 0x01]);
        if v5 {
            expected.push(0);
        }
        expected.extend(b"hello");
        assert_eq!(body, expected);
        c.write_all(&[0x40, 0x02, 0x00, 0x01]).await.unwrap(); // our PUBACK, ignored

        let mut publish = str_of("portproof/test");
        if v5 {
            publish.push(0);
        }
        publish.extend(b"again");
        c.write_all(&packet_of(0x30, &publish)).await.unwrap();
        let (first, body) = next(&mut c).await;
        assert_eq!(first, 0x30, "QoS 0");
        assert!(body.ends_with(b"again"));

        c.write_all(&[0xE0, 0x00]).await.unwrap();
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn subscribe_publish_round_trip_v5() {
        round_trip(5).await;
    }

    #[tokio::test]
    async fn subscribe_publish_round_trip_v311() {
        round_trip(4).await;
    }

    #[tokio::test]
    async fn sys_version_follows_the_suback() {
        for level in [4, 5] {
            let (_server, mut c) = start(MqttMode::Broker(MqttConfig::default())).await;
            c.write_all(&connect(level, "probe", None)).await.unwrap();
            next(&mut c).await;
            let mut subscribe = vec![0x00, 0x01];
            if level == 5 {
                subscribe.push(0);
            }
            subscribe.extend(str_of("$SYS/broker/version"));
            subscribe.push(0x00);
            c.write_all(&packet_of(0x82, &subscribe)).await.unwrap();
            let (first, _) = next(&mut c).await;
            assert_eq!(first, 0x90);
            let (first, body) = next(&mut c).await;
            assert_eq!(first, 0x31, "QoS 0, retained");
            let mut expected = str_of("$SYS/broker/version");
            if level == 5 {
                expected.push(0);
            }
            expected.extend(b"portproof-testbed version 1.0");
            assert_eq!(body, expected);
        }
    }

    #[tokio::test]
    async fn sys_denied() {
        let (_server, mut c) = start(MqttMode::Broker(MqttConfig { deny_sys: true, ..MqttConfig::default() })).await;
        c.write_all(&connect(4, "probe", None)).await.unwrap();
        next(&mut c).await;
        let subscribe = [vec![0x00, 0x01], str_of("$SYS/broker/version"), vec![0x01]].concat();
        c.write_all(&packet_of(0x82, &subscribe)).await.unwrap();
        assert_eq!(next(&mut c).await, (0x90, vec![0x00, 0x01, 0x80]));
        c.write_all(&[0xC0, 0x00]).await.unwrap();
        assert_eq!(next(&mut c).await, (0xD0, vec![]), "no version sent");
    }

    #[tokio::test]
    async fn refuse_with_a_server_reference() {
        let mode = MqttMode::Refuse { code: 0x9D, v5_layout: true, server_reference: Some("other:1883".into()) };
        let (_server, mut c) = start(mode).await;
        c.write_all(&connect(5, "probe", None)).await.unwrap();
        let expected = [&[0x20, 0x10, 0x00, 0x9D, 0x0D, 0x1C, 0x00, 0x0A][..], b"other:1883"].concat();
        assert_eq!(exactly(&mut c, expected.len()).await, expected);
        assert!(eof(&mut c).await);

        let (_server, mut c) = start(MqttMode::Refuse { code: 3, v5_layout: false, server_reference: None }).await;
        c.write_all(&connect(4, "probe", None)).await.unwrap();
        assert_eq!(exactly(&mut c, 4).await, [0x20, 0x02, 0x00, 0x03]);
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn hostile_connacks() {
        let (_server, mut c) = start(MqttMode::BadRemainingLength).await;
        c.write_all(&connect(4, "probe", None)).await.unwrap();
        assert_eq!(exactly(&mut c, 6).await, [0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]);
        let mut buf = [0u8; 1];
        assert!(timeout(Duration::from_millis(300), c.read(&mut buf)).await.is_err(), "held open");

        let (_server, mut c) = start(MqttMode::LyingConnack).await;
        c.write_all(&connect(4, "probe", None)).await.unwrap();
        assert_eq!(exactly(&mut c, 4).await, [0x20, 0x0A, 0x00, 0x00]);
        assert!(eof(&mut c).await);

        let (_server, mut c) = start(MqttMode::Trickle).await;
        c.write_all(&connect(4, "probe", None)).await.unwrap();
        let t = std::time::Instant::now();
        assert_eq!(exactly(&mut c, 4).await, [0x20, 0x02, 0x00, 0x00]);
        assert!(t.elapsed() >= Duration::from_millis(1400), "{:?}", t.elapsed());
    }

    #[tokio::test]
    async fn garbage_closes_without_panic() {
        // A remaining length of five bytes, then one over 1 MiB, then a truncated CONNECT.
        for bytes in
            [&[0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x01][..], &[0x10, 0x80, 0x80, 0x80, 0x01], &[0x10, 0x02, 0x00, 0x04]]
        {
            let (_server, mut c) = start(MqttMode::Broker(MqttConfig::default())).await;
            c.write_all(bytes).await.unwrap();
            c.shutdown().await.unwrap();
            assert!(eof(&mut c).await);
        }
        // A CONNECT whose property length runs past the packet.
        let (_server, mut c) = start(MqttMode::Broker(MqttConfig::default())).await;
        let mut body = str_of("MQTT");
        body.extend([5, 0x02, 0, 60, 0x7F]);
        c.write_all(&packet_of(0x10, &body)).await.unwrap();
        assert!(eof(&mut c).await);
    }

    #[test]
    fn topic_filters() {
        assert!(matches("a/+/c", "a/b/c"));
        assert!(matches("a/#", "a"));
        assert!(matches("#", "a/b"));
        assert!(!matches("#", "$SYS/broker/version"));
        assert!(matches("$SYS/#", "$SYS/broker/version"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(valid_filter("a/+/#"));
        assert!(!valid_filter("a/#/b"));
        assert!(!valid_filter("a+"));
        assert!(!valid_filter(""));
    }
}
