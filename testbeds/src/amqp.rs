//! An AMQP 0-9-1 responder: enough of a broker for the demo, and the broken brokers a real one
//! will not impersonate on demand.
//!
//! RabbitMQ is the truth for the `amqp` probe; this responder exists so the demo and the tests run
//! in-process, and so the failure modes (an AMQP 1.0 broker on the port, a table that lies about
//! its length, a frame of 2 GiB, a broker shutting down) can be produced at will.
//!
//! It follows the AMQP 0-9-1 specification (<https://www.rabbitmq.com/resources/specs/amqp0-9-1.pdf>):
//! the protocol header of §4.2.2 (a wrong one is answered with ours, then a close), the frames of
//! §4.2.3–§4.2.6 (type, channel, size, payload, frame-end 0xCE), and the method argument layouts
//! of the Connection, Channel and Queue classes. Field tables are read with the value types
//! RabbitMQ actually uses, which differ from the specification's table
//! (<https://www.rabbitmq.com/amqp-0-9-1-errata#section_3>: `s` is a signed 16-bit integer, `l` a
//! signed 64-bit one, `x` a byte array, and so on).
//!
//! Every read is bounded (no client frame over 1 MiB), client garbage closes the connection
//! instead of panicking, and every connection task ends when its client leaves.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use crate::Server;
use crate::bytes::Cursor;
use crate::conn::{BoxIo, accept_each, finish, hold, send, upgrade};

/// How the responder behaves: a working broker, or one of the failures a probe must grade.
#[derive(Clone, Debug)]
pub enum AmqpMode {
    /// A broker that logs in, opens vhosts and channels and answers passive queue declarations,
    /// like RabbitMQ, so the probe's happy path and its refusals can be shown without RabbitMQ.
    Broker(BrokerConfig),
    /// Answers the 0-9-1 header with `AMQP\x03\x01\x00\x00` (the AMQP 1.0 SASL layer) and
    /// closes, as ActiveMQ Artemis and Qpid do: the port speaks AMQP, but not the AMQP asked for.
    Amqp10,
    /// Sends a Connection.Start whose server-properties table claims 0xFFFF_FF00 bytes inside a
    /// 40-byte frame, then holds the connection: a decoder that trusts inner lengths over the
    /// frame size overruns or allocates 4 GiB.
    AbsurdTable,
    /// Announces a 2 GiB frame and trickles it one byte every 200 ms: a reader that waits for
    /// the whole frame, or allocates it up front, never reaches a verdict in time.
    HugeFrame,
    /// Answers the header with Connection.Close 320 (CONNECTION_FORCED), what RabbitMQ sends
    /// while it shuts down: an AMQP broker, but not one that serves.
    CloseBeforeStart,
}

/// What the [`AmqpMode::Broker`] knows: the users, vhosts and queues a probe can be pointed at,
/// so each of its outcomes (logged in, refused, vhost denied, queue missing) can be arranged.
#[derive(Clone, Debug)]
pub struct BrokerConfig {
    /// `product` in Connection.Start's server properties, what the probe reports as the broker;
    /// default `portproof-testbed`.
    pub product: String,
    /// `version` in the server properties; default `1.0`.
    pub version: String,
    /// The accepted user names and passwords; default `guest`/`guest`, RabbitMQ's own default.
    pub users: Vec<(String, String)>,
    /// The vhosts every user may open; default `/`.
    pub vhosts: Vec<String>,
    /// The queues a passive Queue.Declare finds: name, message count, consumer count; default
    /// `portproof-probe` with 0 and 0.
    pub queues: Vec<(String, u32, u32)>,
    /// Announce the `authentication_failure_close` capability and, on a failed login, send
    /// Connection.Close 403 before closing; when false the capability is left out of the table
    /// and the socket is just closed, as brokers without it (and RabbitMQ, for clients that do
    /// not share it) do. Default true.
    pub auth_failure_close: bool,
    /// frame-max offered in Connection.Tune; default 131072 (RabbitMQ's). 0 means "no limit",
    /// which a careless or hostile broker may offer: a client must not size buffers by it.
    pub frame_max: u32,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            product: "portproof-testbed".to_owned(),
            version: "1.0".to_owned(),
            users: vec![("guest".to_owned(), "guest".to_owned())],
            vhosts: vec!["/".to_owned()],
            queues: vec![("portproof-probe".to_owned(), 0, 0)],
            auth_failure_close: true,
            frame_max: FRAME_MAX,
        }
    }
}

/// Serves `mode` in plain TCP on `listener`, the way AMQP runs on 5672.
pub fn serve(listener: TcpListener, mode: AmqpMode) -> Server {
    accept_loop(listener, None, mode)
}

/// Serves `mode` over TLS with `config` on `listener`, the way AMQPS runs on 5671: the TLS
/// handshake comes first, then the same protocol inside it.
pub fn serve_tls(listener: TcpListener, mode: AmqpMode, config: Arc<rustls::ServerConfig>) -> Server {
    accept_loop(listener, Some(TlsAcceptor::from(config)), mode)
}

/// The AMQP 0-9-1 protocol header (§4.2.2).
const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";
/// The header of the AMQP 1.0 SASL layer, what 1.0 brokers answer a 0-9-1 header with.
const AMQP10_SASL_HEADER: &[u8; 8] = b"AMQP\x03\x01\x00\x00";
const FRAME_END: u8 = 0xCE;
const FRAME_METHOD: u8 = 1;
const FRAME_HEADER: u8 = 2;
const FRAME_BODY: u8 = 3;
const FRAME_HEARTBEAT: u8 = 8;
/// The largest frame payload accepted from a client.
const MAX_FRAME: u32 = 1 << 20;
/// How deep field tables and arrays may nest before the table counts as garbage.
const MAX_DEPTH: u8 = 16;
/// How long a client may take to send its protocol header (RabbitMQ's handshake timeout).
const HANDSHAKE_WAIT: Duration = Duration::from_secs(10);
/// How long to wait for Close-Ok after sending Connection.Close.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
const CHANNEL_MAX: u16 = 2047;
const FRAME_MAX: u32 = 131_072;
const HEARTBEAT: u16 = 60;
const PLATFORM: &str = "Rust/Tokio";
const CLUSTER_NAME: &str = "testbed@localhost";
const MECHANISMS: &str = "PLAIN AMQPLAIN";
const LOCALES: &str = "en_US";

/// A method's class and method ids.
type MethodId = (u16, u16);
const CONNECTION_START: MethodId = (10, 10);
const CONNECTION_START_OK: MethodId = (10, 11);
const CONNECTION_TUNE: MethodId = (10, 30);
const CONNECTION_TUNE_OK: MethodId = (10, 31);
const CONNECTION_OPEN: MethodId = (10, 40);
const CONNECTION_OPEN_OK: MethodId = (10, 41);
const CONNECTION_CLOSE: MethodId = (10, 50);
const CONNECTION_CLOSE_OK: MethodId = (10, 51);
const CHANNEL_OPEN: MethodId = (20, 10);
const CHANNEL_OPEN_OK: MethodId = (20, 11);
const CHANNEL_CLOSE: MethodId = (20, 40);
const CHANNEL_CLOSE_OK: MethodId = (20, 41);
const QUEUE_DECLARE: MethodId = (50, 10);
const QUEUE_DECLARE_OK: MethodId = (50, 11);

type Stream = BufReader<BoxIo>;

fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, mode: AmqpMode) -> Server {
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

async fn session(s: &mut Stream, mode: &AmqpMode) {
    let mut header = [0u8; 8];
    if !matches!(timeout(HANDSHAKE_WAIT, s.read_exact(&mut header)).await, Ok(Ok(_))) {
        return finish(s).await;
    }
    match mode {
        AmqpMode::Amqp10 => {
            let _ = send(s, AMQP10_SASL_HEADER).await;
            finish(s).await;
        }
        _ if &header != PROTOCOL_HEADER => {
            // §4.2.2: a server that does not support the protocol asked for answers with the
            // header of one it does support, then closes.
            let _ = send(s, PROTOCOL_HEADER).await;
            finish(s).await;
        }
        AmqpMode::Broker(config) => {
            let _ = broker(s, config).await;
            finish(s).await;
        }
        AmqpMode::AbsurdTable => {
            if send(s, &absurd_table_frame()).await.is_some() {
                hold(s).await;
            }
        }
        AmqpMode::HugeFrame => huge_frame(s).await,
        AmqpMode::CloseBeforeStart => {
            let text = "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'";
            close_connection(s, 320, text, (0, 0)).await;
            finish(s).await;
        }
    }
}

/// The working broker, from Connection.Start on; `None` when the connection is to be closed.
async fn broker(s: &mut Stream, config: &BrokerConfig) -> Option<()> {
    send(s, &method_frame(0, CONNECTION_START, &start_args(config))).await?;

    let frame = read_frame(s).await?;
    let (id, mut args) = frame.method_on(0)?;
    if id != CONNECTION_START_OK {
        return None;
    }
    table_body(args.longstr()?, 0)?;
    let mechanism = args.shortstr()?;
    let response = args.longstr()?;
    args.shortstr()?;
    let login = credentials(mechanism, response).filter(|(user, password)| {
        config.users.iter().any(|(u, p)| u.as_bytes() == *user && p.as_bytes() == *password)
    });
    let Some((user, _)) = login else {
        if config.auth_failure_close {
            let text = format!(
                "ACCESS_REFUSED - Login was refused using authentication mechanism {}",
                String::from_utf8_lossy(mechanism)
            );
            close_connection(s, 403, &text, (0, 0)).await;
        }
        return None;
    };
    let user = String::from_utf8_lossy(user).into_owned();

    let mut tune = Vec::new();
    tune.extend(CHANNEL_MAX.to_be_bytes());
    tune.extend(config.frame_max.to_be_bytes());
    tune.extend(HEARTBEAT.to_be_bytes());
    send(s, &method_frame(0, CONNECTION_TUNE, &tune)).await?;

    let frame = read_non_heartbeat(s).await?;
    let (id, mut args) = frame.method_on(0)?;
    if id != CONNECTION_TUNE_OK {
        return None;
    }
    let client_channel_max = args.u16_be()?;
    args.u32_be()?;
    let heartbeat = args.u16_be()?;
    let channel_max = if client_channel_max == 0 { CHANNEL_MAX } else { client_channel_max.min(CHANNEL_MAX) };

    let frame = read_non_heartbeat(s).await?;
    let (id, mut args) = frame.method_on(0)?;
    if id != CONNECTION_OPEN {
        return None;
    }
    let vhost = String::from_utf8_lossy(args.shortstr()?).into_owned();
    if !config.vhosts.contains(&vhost) {
        let text = format!("NOT_ALLOWED - access to vhost '{vhost}' refused for user '{user}'");
        close_connection(s, 530, &text, CONNECTION_OPEN).await;
        return None;
    }
    send(s, &method_frame(0, CONNECTION_OPEN_OK, &[0])).await?;

    channels(s, config, &vhost, channel_max, heartbeat).await
}

/// The open connection: channels and passive queue declarations until the client closes, with
/// a heartbeat every half of the negotiated interval (§4.2.7) while the client is quiet, since
/// clients such as lapin drop a connection that stays silent for two intervals.
async fn channels(s: &mut Stream, config: &BrokerConfig, vhost: &str, channel_max: u16, heartbeat: u16) -> Option<()> {
    let period = Duration::from_millis(u64::from(heartbeat) * 500);
    let mut ticker = (heartbeat > 0).then(|| tokio::time::interval_at(tokio::time::Instant::now() + period, period));
    let mut open = HashSet::new();
    // Channels we closed, awaiting the client's Close-Ok: everything else on them is discarded.
    let mut closing = HashSet::new();
    let mut queues = config.queues.clone();
    let mut generated = 0u32;
    loop {
        if let Some(ticker) = ticker.as_mut() {
            // Waiting in fill_buf, unlike in read_frame, loses nothing when the tick wins.
            tokio::select! {
                r = s.fill_buf() => {
                    if !matches!(r, Ok(bytes) if !bytes.is_empty()) {
                        return None;
                    }
                }
                _ = ticker.tick() => {
                    send(s, &[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]).await?;
                    continue;
                }
            }
        }
        let frame = read_frame(s).await?;
        match frame.kind {
            FRAME_METHOD => {}
            FRAME_HEARTBEAT | FRAME_HEADER | FRAME_BODY => continue,
            _ => {
                close_connection(s, 501, "FRAME_ERROR - unknown frame type", (0, 0)).await;
                return None;
            }
        }
        let channel = frame.channel;
        let Some((id, mut args)) = frame.method() else {
            close_connection(s, 502, "SYNTAX_ERROR - method frame too short", (0, 0)).await;
            return None;
        };
        if channel == 0 {
            return match id {
                CONNECTION_CLOSE => send(s, &method_frame(0, CONNECTION_CLOSE_OK, &[])).await,
                CONNECTION_CLOSE_OK => None,
                _ => {
                    close_connection(s, 503, "COMMAND_INVALID - unexpected method on channel 0", id).await;
                    None
                }
            };
        }
        if closing.contains(&channel) {
            if id == CHANNEL_CLOSE {
                send(s, &method_frame(channel, CHANNEL_CLOSE_OK, &[])).await?;
            }
            if id == CHANNEL_CLOSE || id == CHANNEL_CLOSE_OK {
                closing.remove(&channel);
                open.remove(&channel);
            }
            continue;
        }
        if id == CHANNEL_OPEN {
            if open.contains(&channel) {
                close_connection(s, 504, "CHANNEL_ERROR - second 'channel.open' seen", id).await;
                return None;
            }
            if channel > channel_max {
                close_connection(s, 504, "CHANNEL_ERROR - channel number above the negotiated channel_max", id).await;
                return None;
            }
            open.insert(channel);
            send(s, &method_frame(channel, CHANNEL_OPEN_OK, &[0, 0, 0, 0])).await?;
            continue;
        }
        if !open.contains(&channel) {
            close_connection(s, 504, "CHANNEL_ERROR - expected 'channel.open'", id).await;
            return None;
        }
        match id {
            CHANNEL_CLOSE => {
                open.remove(&channel);
                send(s, &method_frame(channel, CHANNEL_CLOSE_OK, &[])).await?;
            }
            CHANNEL_CLOSE_OK => {
                open.remove(&channel);
            }
            QUEUE_DECLARE => {
                let declare = (|| {
                    args.u16_be()?;
                    let name = String::from_utf8_lossy(args.shortstr()?).into_owned();
                    let bits = args.u8()?;
                    table_body(args.longstr()?, 0)?;
                    Some((name, bits & 0x01 != 0, bits & 0x10 != 0))
                })();
                let Some((name, passive, no_wait)) = declare else {
                    close_connection(s, 502, "SYNTAX_ERROR - malformed queue.declare", id).await;
                    return None;
                };
                let found = queues.iter().find(|(q, _, _)| *q == name).cloned();
                let queue = match (found, passive) {
                    (Some(queue), _) => queue,
                    (None, true) => {
                        let text = format!("NOT_FOUND - no queue '{name}' in vhost '{vhost}'");
                        send(s, &method_frame(channel, CHANNEL_CLOSE, &close_args(404, &text, id))).await?;
                        closing.insert(channel);
                        continue;
                    }
                    (None, false) => {
                        let name = if name.is_empty() {
                            generated += 1;
                            format!("amq.gen-portproof-testbed-{generated}")
                        } else {
                            name
                        };
                        queues.push((name.clone(), 0, 0));
                        (name, 0, 0)
                    }
                };
                if !no_wait {
                    let mut ok = Vec::new();
                    put_shortstr(&mut ok, &queue.0);
                    ok.extend(queue.1.to_be_bytes());
                    ok.extend(queue.2.to_be_bytes());
                    send(s, &method_frame(channel, QUEUE_DECLARE_OK, &ok)).await?;
                }
            }
            _ => {
                let text = format!("NOT_IMPLEMENTED - method {}.{} is not served by the testbed", id.0, id.1);
                close_connection(s, 540, &text, id).await;
                return None;
            }
        }
    }
}

/// The user name and password of a Start-Ok response, for the mechanisms the broker offers.
fn credentials<'a>(mechanism: &[u8], response: &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
    match mechanism {
        b"PLAIN" => {
            // RFC 4616: [authzid] NUL authcid NUL passwd.
            let mut parts = response.split(|b| *b == 0);
            let (_authzid, user, password) = (parts.next()?, parts.next()?, parts.next()?);
            parts.next().is_none().then_some((user, password))
        }
        b"AMQPLAIN" => {
            // A field table without its length prefix; tolerate one carrying it anyway.
            let body = match response {
                [a, b, c, d, rest @ ..] if u32::from_be_bytes([*a, *b, *c, *d]) as usize == rest.len() => rest,
                _ => response,
            };
            let entries = table_body(body, 0)?;
            let find = |key: &[u8]| {
                entries.iter().find_map(|(k, v)| match v {
                    Value::Str(s) if *k == key => Some(*s),
                    _ => None,
                })
            };
            Some((find(b"LOGIN")?, find(b"PASSWORD")?))
        }
        _ => None,
    }
}

/// Connection.Start's arguments: version 0-9, server properties, mechanisms, locales.
fn start_args(config: &BrokerConfig) -> Vec<u8> {
    let mut capabilities = vec![
        ("publisher_confirms", Field::Bool(true)),
        ("exchange_exchange_bindings", Field::Bool(true)),
        ("basic.nack", Field::Bool(true)),
        ("consumer_cancel_notify", Field::Bool(true)),
        ("connection.blocked", Field::Bool(true)),
    ];
    if config.auth_failure_close {
        capabilities.push(("authentication_failure_close", Field::Bool(true)));
    }
    let properties = [
        ("product", Field::Str(&config.product)),
        ("version", Field::Str(&config.version)),
        ("platform", Field::Str(PLATFORM)),
        ("cluster_name", Field::Str(CLUSTER_NAME)),
        ("capabilities", Field::Table(capabilities)),
    ];
    let mut out = vec![0, 9];
    put_table(&mut out, &properties);
    put_longstr(&mut out, MECHANISMS.as_bytes());
    put_longstr(&mut out, LOCALES.as_bytes());
    out
}

/// Connection.Start whose table length claims 0xFFFF_FF00 bytes; the frame itself is sound.
fn absurd_table_frame() -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend(CONNECTION_START.0.to_be_bytes());
    payload.extend(CONNECTION_START.1.to_be_bytes());
    payload.extend([0, 9]);
    payload.extend(0xFFFF_FF00u32.to_be_bytes());
    put_shortstr(&mut payload, "product");
    payload.push(b'S');
    put_longstr(&mut payload, b"portproof-testbed");
    frame(FRAME_METHOD, 0, &payload)
}

/// A frame header announcing 0x7FFF_FFF0 bytes, then a plausible Connection.Start payload one
/// byte every 200 ms, until the client leaves.
async fn huge_frame(s: &mut Stream) {
    let mut head = vec![FRAME_METHOD, 0, 0];
    head.extend(0x7FFF_FFF0u32.to_be_bytes());
    if send(s, &head).await.is_none() {
        return;
    }
    let mut body = Vec::new();
    body.extend(CONNECTION_START.0.to_be_bytes());
    body.extend(CONNECTION_START.1.to_be_bytes());
    body.extend(start_args(&BrokerConfig::default()));
    let mut buf = [0u8; 4096];
    for byte in body.iter().cycle() {
        tokio::select! {
            r = s.read(&mut buf) => {
                if !matches!(r, Ok(n) if n > 0) {
                    return;
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                if send(s, &[*byte]).await.is_none() {
                    return;
                }
            }
        }
    }
}

/// Sends Connection.Close and waits (briefly) for the client's Close-Ok, discarding the rest,
/// as the specification's connection.close asks of the side that closes (every method but Close
/// and Close-Ok is discarded meanwhile).
async fn close_connection(s: &mut Stream, code: u16, text: &str, failing: MethodId) {
    if send(s, &method_frame(0, CONNECTION_CLOSE, &close_args(code, text, failing))).await.is_none() {
        return;
    }
    let _ = timeout(CLOSE_WAIT, async {
        while let Some(frame) = read_frame(s).await {
            if frame.channel != 0 {
                continue;
            }
            match frame.method() {
                Some((CONNECTION_CLOSE_OK, _)) => break,
                Some((CONNECTION_CLOSE, _)) => {
                    let _ = send(s, &method_frame(0, CONNECTION_CLOSE_OK, &[])).await;
                    break;
                }
                _ => {}
            }
        }
    })
    .await;
}

/// Connection.Close and Channel.Close arguments: reply code, reply text, failing method.
fn close_args(code: u16, text: &str, failing: MethodId) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(code.to_be_bytes());
    put_shortstr(&mut out, text);
    out.extend(failing.0.to_be_bytes());
    out.extend(failing.1.to_be_bytes());
    out
}

fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.push(kind);
    out.extend(channel.to_be_bytes());
    out.extend((payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(FRAME_END);
    out
}

fn method_frame(channel: u16, id: MethodId, args: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(args.len() + 4);
    payload.extend(id.0.to_be_bytes());
    payload.extend(id.1.to_be_bytes());
    payload.extend_from_slice(args);
    frame(FRAME_METHOD, channel, &payload)
}

/// A frame read from the client.
struct Frame {
    kind: u8,
    channel: u16,
    payload: Vec<u8>,
}

impl Frame {
    fn method(&self) -> Option<(MethodId, Cursor<'_>)> {
        if self.kind != FRAME_METHOD {
            return None;
        }
        let mut c = Cursor(&self.payload);
        Some(((c.u16_be()?, c.u16_be()?), c))
    }
    fn method_on(&self, channel: u16) -> Option<(MethodId, Cursor<'_>)> {
        if self.channel != channel {
            return None;
        }
        self.method()
    }
}

/// Reads one frame; `None` on end of stream, a frame over [`MAX_FRAME`] or a bad frame-end.
async fn read_frame<R: AsyncRead + Unpin>(s: &mut R) -> Option<Frame> {
    let mut head = [0u8; 7];
    s.read_exact(&mut head).await.ok()?;
    let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]);
    if size > MAX_FRAME {
        return None;
    }
    let mut payload = vec![0u8; size as usize + 1];
    s.read_exact(&mut payload).await.ok()?;
    if payload.pop() != Some(FRAME_END) {
        return None;
    }
    Some(Frame { kind: head[0], channel: u16::from_be_bytes([head[1], head[2]]), payload })
}

/// Reads the next frame that is not a heartbeat: once tuned, a client may send them anytime.
async fn read_non_heartbeat(s: &mut Stream) -> Option<Frame> {
    loop {
        let frame = read_frame(s).await?;
        if frame.kind != FRAME_HEARTBEAT {
            return Some(frame);
        }
    }
}

/// A field value to write; the server properties need no other types.
enum Field<'a> {
    Bool(bool),
    Str(&'a str),
    Table(Vec<(&'a str, Field<'a>)>),
}

fn put_table(out: &mut Vec<u8>, entries: &[(&str, Field<'_>)]) {
    let start = out.len();
    out.extend([0; 4]);
    for (key, value) in entries {
        put_shortstr(out, key);
        match value {
            Field::Bool(b) => out.extend([b't', u8::from(*b)]),
            Field::Str(s) => {
                out.push(b'S');
                put_longstr(out, s.as_bytes());
            }
            Field::Table(t) => {
                out.push(b'F');
                put_table(out, t);
            }
        }
    }
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Writes a short string, cut at 255 bytes on a character boundary.
fn put_shortstr(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.push(end as u8);
    out.extend_from_slice(&s.as_bytes()[..end]);
}

fn put_longstr(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend((bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A field value read from a client's table: only strings are kept, the rest is checked and
/// skipped.
enum Value<'a> {
    Str(&'a [u8]),
    Other,
}

/// Parses the entries of a field table (without its length prefix); `None` on any malformation.
fn table_body(bytes: &[u8], depth: u8) -> Option<Vec<(&[u8], Value<'_>)>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut c = Cursor(bytes);
    let mut entries = Vec::new();
    while !c.0.is_empty() {
        let key = c.shortstr()?;
        entries.push((key, field_value(&mut c, depth)?));
    }
    Some(entries)
}

/// One field value, with RabbitMQ's type letters (the 0-9-1 errata).
fn field_value<'a>(c: &mut Cursor<'a>, depth: u8) -> Option<Value<'a>> {
    let width = match c.u8()? {
        b'V' => 0,
        b't' | b'b' | b'B' => 1,
        b's' | b'u' => 2,
        b'I' | b'i' | b'f' => 4,
        b'D' => 5,
        b'l' | b'd' | b'T' => 8,
        b'S' => return Some(Value::Str(c.longstr()?)),
        b'x' => {
            c.longstr()?;
            return Some(Value::Other);
        }
        b'F' => {
            table_body(c.longstr()?, depth + 1)?;
            return Some(Value::Other);
        }
        b'A' => {
            if depth >= MAX_DEPTH {
                return None;
            }
            let mut items = Cursor(c.longstr()?);
            while !items.0.is_empty() {
                field_value(&mut items, depth + 1)?;
            }
            return Some(Value::Other);
        }
        _ => return None,
    };
    c.take(width)?;
    Some(Value::Other)
}

/// AMQP's length-prefixed strings on the shared [`Cursor`].
trait AmqpRead<'a> {
    fn shortstr(&mut self) -> Option<&'a [u8]>;
    fn longstr(&mut self) -> Option<&'a [u8]>;
}

impl<'a> AmqpRead<'a> for Cursor<'a> {
    fn shortstr(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn longstr(&mut self) -> Option<&'a [u8]> {
        let n = self.u32_be()?;
        self.take(usize::try_from(n).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    const WAIT: Duration = Duration::from_secs(5);

    async fn start(mode: AmqpMode) -> (Server, TcpStream) {
        crate::serve_and_connect(|l| serve(l, mode)).await
    }

    /// Reads one frame as (type, channel, payload), checking the frame-end octet.
    async fn frame_of(c: &mut TcpStream) -> (u8, u16, Vec<u8>) {
        let mut head = [0u8; 7];
        timeout(WAIT, c.read_exact(&mut head)).await.unwrap().unwrap();
        let size = u32::from_be_bytes(head[3..7].try_into().unwrap()) as usize;
        let mut payload = vec![0u8; size + 1];
        timeout(WAIT, c.read_exact(&mut payload)).await.unwrap().unwrap();
        assert_eq!(payload.pop(), Some(0xCE), "frame-end");
        (head[0], u16::from_be_bytes([head[1], head[2]]), payload)
    }

    async fn method_of(c: &mut TcpStream) -> (u16, MethodId, Vec<u8>) {
        let (kind, channel, payload) = frame_of(c).await;
        assert_eq!(kind, 1, "method frame");
        let id = (u16::from_be_bytes([payload[0], payload[1]]), u16::from_be_bytes([payload[2], payload[3]]));
        (channel, id, payload[4..].to_vec())
    }

    async fn write_method(c: &mut TcpStream, channel: u16, class: u16, method: u16, args: &[u8]) {
        let mut frame = vec![1];
        frame.extend(channel.to_be_bytes());
        frame.extend((args.len() as u32 + 4).to_be_bytes());
        frame.extend(class.to_be_bytes());
        frame.extend(method.to_be_bytes());
        frame.extend_from_slice(args);
        frame.push(0xCE);
        c.write_all(&frame).await.unwrap();
    }

    async fn eof(c: &mut TcpStream) -> bool {
        let mut buf = [0u8; 64];
        // A FIN, not a reset: the close must not lose what was sent before it.
        matches!(timeout(WAIT, c.read(&mut buf)).await, Ok(Ok(0)))
    }

    /// Close arguments as (code, text, class, method).
    fn close_of(args: &[u8]) -> (u16, String, u16, u16) {
        let code = u16::from_be_bytes([args[0], args[1]]);
        let n = usize::from(args[2]);
        let text = String::from_utf8(args[3..3 + n].to_vec()).unwrap();
        let rest = &args[3 + n..];
        (code, text, u16::from_be_bytes([rest[0], rest[1]]), u16::from_be_bytes([rest[2], rest[3]]))
    }

    fn shortstr(s: &str) -> Vec<u8> {
        let mut v = vec![s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }

    /// Header, Start, Start-Ok with PLAIN `\0user\0password`; returns the client and what the
    /// broker answered.
    async fn login(mode: AmqpMode, user: &str, password: &str) -> (Server, TcpStream, (u16, MethodId, Vec<u8>)) {
        let (server, mut c) = start(mode).await;
        c.write_all(b"AMQP\x00\x00\x09\x01").await.unwrap();
        let (_, id, _) = method_of(&mut c).await;
        assert_eq!(id, (10, 10));
        let mut args = vec![0, 0, 0, 0]; // empty client-properties table
        args.extend(shortstr("PLAIN"));
        let response = format!("\0{user}\0{password}");
        args.extend((response.len() as u32).to_be_bytes());
        args.extend(response.as_bytes());
        args.extend(shortstr("en_US"));
        write_method(&mut c, 0, 10, 11, &args).await;
        let answer = method_of(&mut c).await;
        (server, c, answer)
    }

    /// Logs in as guest and sends Tune-Ok and Open(vhost); returns the answer to Open.
    async fn open(vhost: &str) -> (Server, TcpStream, (u16, MethodId, Vec<u8>)) {
        let (server, mut c, (_, id, tune)) = login(AmqpMode::Broker(BrokerConfig::default()), "guest", "guest").await;
        assert_eq!(id, (10, 30));
        assert_eq!(tune, [0x07, 0xFF, 0x00, 0x02, 0x00, 0x00, 0x00, 0x3C]);
        write_method(&mut c, 0, 10, 31, &[0x07, 0xFF, 0x00, 0x02, 0x00, 0x00, 0x00, 0x3C]).await;
        let mut args = shortstr(vhost);
        args.extend([0, 0]);
        write_method(&mut c, 0, 10, 40, &args).await;
        let answer = method_of(&mut c).await;
        (server, c, answer)
    }

    #[tokio::test]
    async fn connection_start_is_byte_exact() {
        let (_server, mut c) = start(AmqpMode::Broker(BrokerConfig::default())).await;
        c.write_all(b"AMQP\x00\x00\x09\x01").await.unwrap();
        let mut head = [0u8; 7];
        c.read_exact(&mut head).await.unwrap();

        let capabilities: &[u8] = &[
            &b"\x12publisher_confirmst\x01"[..],
            b"\x1aexchange_exchange_bindingst\x01",
            b"\x0abasic.nackt\x01",
            b"\x16consumer_cancel_notifyt\x01",
            b"\x12connection.blockedt\x01",
            b"\x1cauthentication_failure_closet\x01",
        ]
        .concat();
        assert_eq!(capabilities.len(), 0x8C);
        let properties: &[u8] = &[
            &b"\x07productS\x00\x00\x00\x11portproof-testbed"[..],
            b"\x07versionS\x00\x00\x00\x031.0",
            b"\x08platformS\x00\x00\x00\x0aRust/Tokio",
            b"\x0ccluster_nameS\x00\x00\x00\x11testbed@localhost",
            b"\x0ccapabilitiesF\x00\x00\x00\x8C",
            capabilities,
        ]
        .concat();
        assert_eq!(properties.len(), 0x107);
        let payload: Vec<u8> = [
            &b"\x00\x0a\x00\x0a"[..], // class 10 (connection), method 10 (start)
            b"\x00\x09",              // version-major 0, version-minor 9
            b"\x00\x00\x01\x07",      // server-properties length
            properties,
            b"\x00\x00\x00\x0ePLAIN AMQPLAIN",
            b"\x00\x00\x00\x05en_US",
        ]
        .concat();
        assert_eq!(head[..3], [1, 0, 0], "method frame on channel 0");
        assert_eq!(u32::from_be_bytes(head[3..7].try_into().unwrap()) as usize, payload.len());
        let mut got = vec![0u8; payload.len() + 1];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(got.pop(), Some(0xCE));
        assert_eq!(got, payload);
    }

    #[tokio::test]
    async fn amqps_speaks_inside_tls() {
        let pki = crate::pki::Pki::new();
        let server =
            serve_tls(crate::bind_any().await.unwrap(), AmqpMode::Broker(BrokerConfig::default()), pki.server_config());
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
        tls.write_all(b"AMQP\x00\x00\x09\x01").await.unwrap();
        let frame = timeout(WAIT, read_frame(&mut tls)).await.unwrap().expect("a frame");
        assert_eq!((frame.kind, frame.channel, &frame.payload[..6]), (1, 0, &[0, 10, 0, 10, 0, 9][..]));
    }

    #[tokio::test]
    async fn wrong_header_gets_ours_back_then_a_close() {
        let (_server, mut c) = start(AmqpMode::Broker(BrokerConfig::default())).await;
        c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut back = [0u8; 8];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"AMQP\x00\x00\x09\x01");
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn guest_opens_the_default_vhost_channels_and_queues() {
        let (_server, mut c, (channel, id, args)) = open("/").await;
        assert_eq!((channel, id, args), (0, (10, 41), vec![0]));

        write_method(&mut c, 1, 20, 10, &[0]).await;
        assert_eq!(method_of(&mut c).await, (1, (20, 11), vec![0, 0, 0, 0]));

        c.write_all(&[8, 0, 0, 0, 0, 0, 0, 0xCE]).await.unwrap(); // heartbeat, ignored

        let mut declare = vec![0, 0];
        declare.extend(shortstr("portproof-probe"));
        declare.push(0x01); // passive
        declare.extend([0, 0, 0, 0]);
        write_method(&mut c, 1, 50, 10, &declare).await;
        let mut ok = shortstr("portproof-probe");
        ok.extend([0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(method_of(&mut c).await, (1, (50, 11), ok));

        let mut declare = vec![0, 0];
        declare.extend(shortstr("portproof-missing"));
        declare.push(0x01);
        declare.extend([0, 0, 0, 0]);
        write_method(&mut c, 1, 50, 10, &declare).await;
        let (channel, id, args) = method_of(&mut c).await;
        assert_eq!((channel, id), (1, (20, 40)));
        assert_eq!(close_of(&args), (404, "NOT_FOUND - no queue 'portproof-missing' in vhost '/'".into(), 50, 10));
        write_method(&mut c, 1, 20, 41, &[]).await;

        // The channel number is free again.
        write_method(&mut c, 1, 20, 10, &[0]).await;
        assert_eq!(method_of(&mut c).await, (1, (20, 11), vec![0, 0, 0, 0]));
        write_method(&mut c, 1, 20, 40, &[0, 200, 0, 0, 0, 0, 0, 0]).await;
        assert_eq!(method_of(&mut c).await, (1, (20, 41), vec![]));

        write_method(&mut c, 0, 10, 50, &[0, 200, 0, 0, 0, 0, 0, 0]).await;
        assert_eq!(method_of(&mut c).await, (0, (10, 51), vec![]));
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn the_broker_beats_at_half_the_negotiated_interval() {
        let (_server, mut c, (_, id, _)) = login(AmqpMode::Broker(BrokerConfig::default()), "guest", "guest").await;
        assert_eq!(id, (10, 30));
        write_method(&mut c, 0, 10, 31, &[0x07, 0xFF, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01]).await;
        write_method(&mut c, 0, 10, 40, &[1, b'/', 0, 0]).await;
        assert_eq!(method_of(&mut c).await, (0, (10, 41), vec![0]));
        let t = std::time::Instant::now();
        for _ in 0..2 {
            assert_eq!(frame_of(&mut c).await, (8, 0, vec![]));
        }
        assert!(t.elapsed() >= Duration::from_millis(900), "{:?}", t.elapsed());
        // Still serving between beats.
        write_method(&mut c, 1, 20, 10, &[0]).await;
        loop {
            match frame_of(&mut c).await {
                (8, 0, _) => continue,
                (kind, channel, payload) => {
                    assert_eq!((kind, channel, payload), (1, 1, vec![0, 20, 0, 11, 0, 0, 0, 0]));
                    break;
                }
            }
        }
    }

    #[tokio::test]
    async fn wrong_password_gets_close_403() {
        let (_server, mut c, (channel, id, args)) =
            login(AmqpMode::Broker(BrokerConfig::default()), "guest", "nope").await;
        assert_eq!((channel, id), (0, (10, 50)));
        let text = "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN";
        assert_eq!(close_of(&args), (403, text.into(), 0, 0));
        write_method(&mut c, 0, 10, 51, &[]).await;
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn wrong_password_without_the_capability_gets_a_fin() {
        let config = BrokerConfig { auth_failure_close: false, ..BrokerConfig::default() };
        let (_server, mut c) = start(AmqpMode::Broker(config)).await;
        c.write_all(b"AMQP\x00\x00\x09\x01").await.unwrap();
        let (_, id, args) = method_of(&mut c).await;
        assert_eq!(id, (10, 10));
        assert!(!args.windows(28).any(|w| w == b"authentication_failure_close"), "not announced");
        let mut start_ok = vec![0, 0, 0, 0];
        start_ok.extend(shortstr("PLAIN"));
        start_ok.extend(b"\x00\x00\x00\x0b\0guest\0nope");
        start_ok.extend(shortstr("en_US"));
        write_method(&mut c, 0, 10, 11, &start_ok).await;
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn amqplain_logs_in_too() {
        let (_server, mut c) = start(AmqpMode::Broker(BrokerConfig::default())).await;
        c.write_all(b"AMQP\x00\x00\x09\x01").await.unwrap();
        method_of(&mut c).await;
        let response = b"\x05LOGINS\x00\x00\x00\x05guest\x08PASSWORDS\x00\x00\x00\x05guest";
        let mut start_ok = vec![0, 0, 0, 0];
        start_ok.extend(shortstr("AMQPLAIN"));
        start_ok.extend((response.len() as u32).to_be_bytes());
        start_ok.extend(response);
        start_ok.extend(shortstr("en_US"));
        write_method(&mut c, 0, 10, 11, &start_ok).await;
        assert_eq!(method_of(&mut c).await.1, (10, 30));
    }

    #[tokio::test]
    async fn unknown_vhost_gets_close_530() {
        let (_server, mut c, (channel, id, args)) = open("nope").await;
        assert_eq!((channel, id), (0, (10, 50)));
        let text = "NOT_ALLOWED - access to vhost 'nope' refused for user 'guest'";
        assert_eq!(close_of(&args), (530, text.into(), 10, 40));
        write_method(&mut c, 0, 10, 51, &[]).await;
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn oversized_and_garbage_frames_close_the_connection() {
        let (_server, mut c, _) = open("/").await;
        let mut huge = vec![1, 0, 1];
        huge.extend((2u32 << 20).to_be_bytes());
        c.write_all(&huge).await.unwrap();
        assert!(eof(&mut c).await);

        let (_server, mut c, _) = open("/").await;
        // A declare whose table claims more than the frame holds: refused, no panic.
        write_method(&mut c, 1, 20, 10, &[0]).await;
        method_of(&mut c).await;
        write_method(&mut c, 1, 50, 10, &[0, 0, 1, b'q', 1, 0xFF, 0xFF, 0xFF, 0xFF]).await;
        let (_, id, args) = method_of(&mut c).await;
        assert_eq!((id, close_of(&args).0), ((10, 50), 502));
    }

    #[tokio::test]
    async fn amqp10_answers_with_the_sasl_header() {
        let (_server, mut c) = start(AmqpMode::Amqp10).await;
        c.write_all(b"AMQP\x00\x00\x09\x01").await.unwrap();
        let mut back = [0u8; 8];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"AMQP\x03\x01\x00\x00");
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn absurd_table_lies_inside_a_sound_frame() {
        let (_server, mut c) = start(AmqpMode::AbsurdTable).await;
        c.write_all(b"AMQP\x00\x00\x09\x01").await.unwrap();
        let (kind, channel, payload) = frame_of(&mut c).await;
        assert_eq!((kind, channel, payload.len()), (1, 0, 40));
        assert_eq!(payload[..10], [0, 10, 0, 10, 0, 9, 0xFF, 0xFF, 0xFF, 0x00]);
        let mut buf = [0u8; 1];
        assert!(timeout(Duration::from_millis(300), c.read(&mut buf)).await.is_err(), "held open");
    }

    #[tokio::test]
    async fn huge_frame_trickles() {
        let (_server, mut c) = start(AmqpMode::HugeFrame).await;
        c.write_all(b"AMQP\x00\x00\x09\x01").await.unwrap();
        let mut head = [0u8; 9];
        timeout(WAIT, c.read_exact(&mut head)).await.unwrap().unwrap();
        assert_eq!(head, [1, 0, 0, 0x7F, 0xFF, 0xFF, 0xF0, 0, 10]);
    }

    #[tokio::test]
    async fn close_before_start_is_connection_forced() {
        let (_server, mut c) = start(AmqpMode::CloseBeforeStart).await;
        c.write_all(b"AMQP\x00\x00\x09\x01").await.unwrap();
        let (channel, id, args) = method_of(&mut c).await;
        assert_eq!((channel, id), (0, (10, 50)));
        let text = "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'";
        assert_eq!(close_of(&args), (320, text.into(), 0, 0));
        write_method(&mut c, 0, 10, 51, &[]).await;
        assert!(eof(&mut c).await);
    }
}
