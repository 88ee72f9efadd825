//! `amqp`: AMQP 0-9-1, RabbitMQ's protocol (5672); `amqps` is the same inside TLS (5671).
//!
//! Without credentials the probe sends the protocol header and decodes the broker's
//! `Connection.Start` by hand ([`wire`]): product, version, platform, cluster name,
//! capabilities and SASL mechanisms name the broker without a login (level `speaks`). lapin
//! consumes that frame inside its handshake and exposes none of it, hence the hand decoding.
//! A server that answers with another protocol header is named (AMQP 1.0, 0-10).
//!
//! With `login:` the probe then logs in with lapin on a second connection (over the same TLS
//! configuration, so the verdict on the certificate holds for both): Start-Ok, Tune, Open of
//! the vhost, a channel, and a passive declare of `queue` when one is named: `healthy`.
//! Refusals get their own codes: `auth.rejected`, `amqp.vhost_denied`, `amqp.queue_missing`,
//! `amqp.closed.<reply-code>`.

pub mod codes;
pub mod options;
pub mod wire;
pub use options::*;

use std::net::SocketAddr;
use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::tcp::{AsyncTcpStream, RustlsConnector};
use lapin::types::FieldTable;
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo, SASLMechanism};
use lapin::{Connection, ConnectionProperties, ErrorKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::codes::core;
use crate::net::{self, BoxIo, Conn, Tape, is_reset, read_failure};
use crate::{Failure, Level, Login, Over, Phase, Probe, ProbeCx, Secret, Target, sniff, tls};
use wire::{FRAME_END, FRAME_HEADER_LEN, FRAME_METHOD, MAX_UNTUNED_FRAME, Method, Opening, Start};

/// The `amqp` probe.
#[derive(Debug, Clone, Copy)]
pub struct Amqp;

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "amqp",
    summary: "AMQP 0-9-1 (RabbitMQ): Connection.Start names the broker; with login: vhost and queue (amqps: over TLS)",
    proves: "AMQP 0-9-1: `Connection.Start` decoded without a login (`speaks`): product, version, platform, cluster name, capabilities, mechanisms; with `login:` a lapin login, the vhost, a channel and a passive declare of `amqp.queue` (`healthy`)",
    default_ports: &[5672, 5671],
    options: Some(&SECTION),
    tls_alias: Some("amqps"),
    // lapin at trace level prints the frames it writes, the login's password among them, and
    // it logs a refused login as an error, which the report already explains.
    quiet_logs: &[crate::Quiet::Always("lapin"), crate::Quiet::Always("amq_protocol")],
    codes: codes::CODES,
    logs_in: true,
    ..crate::About::DEFAULT
};

impl Probe for Amqp {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    fn default_require(&self, t: &Target) -> Level {
        if t.login.is_some() { Level::Healthy } else { Level::Speaks }
    }
    fn validate(&self, t: &Target) -> Result<(), Failure> {
        if t.over == Over::Tls {
            tls::validate(&t.tls)?;
        }
        if let Some(login) = &t.login {
            login.password()?;
        }
        if t.options::<AmqpOptions>().and_then(|o| o.queue.as_ref()).is_some_and(|q| q.len() > 255) {
            return Err(Failure::config("amqp.queue: AMQP queue names are at most 255 bytes"));
        }
        if let Some(o) = t.options::<AmqpOptions>()
            && t.login.is_none()
        {
            if o.queue.is_some() {
                return Err(Failure::config("amqp.queue: checking a queue needs a login; give login: too"));
            }
            if o.vhost.is_some() {
                return Err(Failure::config("amqp.vhost: opening a vhost needs a login; give login: too"));
            }
        }
        Ok(())
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(run(t, cx))
    }
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let net::Opened { mut conn, tape, peer } = net::open(cx, t, &[]).await?;
    cx.phase(Phase::Request);
    conn.write_all(&wire::PROTOCOL_HEADER)
        .await
        .map_err(|e| read_failure(&e, Phase::Request, "sending the AMQP protocol header"))?;
    let start = match read_start(cx, &mut conn, &tape).await {
        Ok(s) => s,
        Err(Unheard::Failure(f)) => return Err(f),
        Err(Unheard::Silent(f)) => return Err(silent(cx, t, peer, f).await),
    };
    cx.reach(Level::Speaks);
    record_start(cx, &start);
    // Nothing more to say on this connection: a clean FIN, not a reset.
    let _ = conn.shutdown().await;
    drop(conn);
    let Some(login) = &t.login else {
        return Err(Failure::new(
            &core::AUTH_NO_CREDENTIALS,
            Phase::Auth,
            "the broker was identified without logging in; a login would prove the vhost (healthy)",
        )
        .hint("give login: {user, password_env} (and amqp: {vhost, queue}) to check a login"));
    };
    // PLAIN and AMQPLAIN carry the password as it is: only inside TLS, or to loopback, unless
    // the check allows clear text.
    if let Some(f) = t.cleartext_refusal(peer.map(|p| p.ip()), t.over == Over::Tls) {
        return Err(f);
    }
    let password = login.password()?;
    login_and_check(cx, t, peer, login, &password, &start).await
}

enum Unheard {
    /// Why the answer is not a usable `Connection.Start`.
    Failure(Failure),
    /// The peer closed or stayed silent without a byte: maybe a TLS port, asked on the side.
    Silent(Failure),
}

impl From<Failure> for Unheard {
    fn from(f: Failure) -> Self {
        Unheard::Failure(f)
    }
}

/// Reads the answer to the protocol header and decodes `Connection.Start`.
async fn read_start(cx: &mut ProbeCx, conn: &mut Conn<BoxIo>, tape: &Tape) -> Result<Start, Unheard> {
    let mut first = [0u8; 8];
    let mut got = 0;
    while got < first.len() {
        match conn.read(&mut first[got..]).await {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if got == 0 && is_reset(&e) => break,
            Err(e) if got == 0 => {
                return Err(Unheard::Silent(read_failure(&e, Phase::Request, "waiting for Connection.Start")));
            }
            Err(e) => return Err(read_failure(&e, Phase::Request, "waiting for Connection.Start").into()),
        }
    }
    if got == 0 {
        return Err(Unheard::Silent(Failure::new(
            &codes::NO_RESPONSE,
            Phase::Request,
            "the peer closed (or reset) the connection without answering the AMQP protocol header",
        )));
    }
    let opening = if got == first.len() { wire::opening(&first) } else { None };
    let header = match opening {
        Some(Opening::Header(h)) => return Err(version_mismatch(cx, h).into()),
        Some(Opening::Frame(h)) => h,
        None => return Err(not_amqp(cx, conn, tape).await.into()),
    };
    if header.kind != FRAME_METHOD || header.channel != 0 {
        return Err(malformed(format!(
            "the first frame is of type {} on channel {}; AMQP starts with a method frame on channel 0",
            header.kind, header.channel
        ))
        .into());
    }
    if header.size > MAX_UNTUNED_FRAME {
        return Err(malformed(format!(
            "the first frame claims {} bytes; before tuning AMQP allows 4096 (this probe accepts up to {} KiB)",
            header.size,
            MAX_UNTUNED_FRAME / 1024
        ))
        .into());
    }
    // The 8th byte read is the payload's first; the rest of the payload and the frame end follow.
    let size = header.size as usize;
    let mut frame = vec![0u8; size + 1];
    frame[0] = first[FRAME_HEADER_LEN];
    if size > 0 {
        conn.read_exact(&mut frame[1..]).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                malformed(format!("the peer closed the connection inside a frame that claims {size} bytes"))
            } else {
                read_failure(&e, Phase::Request, "reading Connection.Start")
            }
        })?;
    }
    let (payload, end) = frame.split_at(size);
    if end.first() != Some(&FRAME_END) {
        return Err(malformed(format!(
            "the frame does not end with 0xCE (got 0x{:02x}): the peer's lengths lie",
            end.first().copied().unwrap_or(0)
        ))
        .into());
    }
    match wire::method(payload) {
        Ok(Method::Start(s)) => Ok(s),
        Ok(Method::Close(c)) => {
            cx.reach(Level::Speaks);
            Err(closed(&c, "before the handshake", Phase::Request).into())
        }
        Ok(Method::Other(class, id)) => {
            Err(malformed(format!("expected Connection.Start (10.10), got method {class}.{id}")).into())
        }
        Err(e) => Err(malformed(format!("Connection.Start does not decode: {e}")).into()),
    }
}

fn malformed(message: String) -> Failure {
    Failure::new(&codes::MALFORMED, Phase::Request, message)
}

fn version_mismatch(cx: &mut ProbeCx, h: wire::HeaderReply) -> Failure {
    cx.identify(h.identified());
    cx.fact("amqp_wanted_version", h.describe());
    let f = Failure::new(
        &codes::VERSION_MISMATCH,
        Phase::Request,
        format!("the server does not speak AMQP 0-9-1: it answered with the protocol header of {}", h.describe()),
    );
    if h.identified() == "amqp1.0" {
        return f.hint("an AMQP 1.0 server (ActiveMQ Artemis, Azure Service Bus, Qpid, Solace): AMQP 0-9-1 clients cannot use it; check the port, or expect an AMQP 1.0 client here");
    }
    f
}

const EXPECTED: sniff::Expected<'static> = sniff::Expected { name: "amqp", label: "AMQP", over_tls: Some("amqps") };

/// The answer is not AMQP: the sniffer names it, or it is malformed.
async fn not_amqp(cx: &mut ProbeCx, conn: &mut Conn<BoxIo>, tape: &Tape) -> Failure {
    sniff::not_expected(cx, conn, tape, &EXPECTED, "the AMQP protocol header", &codes::MALFORMED).await
}

/// Silence then close: a TLS port waiting for a ClientHello does exactly that. Ask on the side.
async fn silent(cx: &mut ProbeCx, t: &Target, peer: Option<SocketAddr>, f: Failure) -> Failure {
    sniff::silent_then_closed(cx, t, peer, &EXPECTED, "the AMQP protocol header", f).await
}

fn record_start(cx: &mut ProbeCx, s: &Start) {
    let version = match (s.version_major, s.version_minor) {
        (0, 9) => "0-9-1".to_owned(),
        (a, b) => format!("{a}-{b}"),
    };
    cx.fact("protocol", format!("AMQP {version}"));
    for (fact, key) in [
        ("product", "product"),
        ("product_version", "version"),
        ("platform", "platform"),
        ("cluster_name", "cluster_name"),
    ] {
        if let Some(v) = s.property(key) {
            cx.fact(fact, v);
        }
    }
    cx.fact("amqp_capabilities", s.capabilities());
    cx.fact("amqp_mechanisms", s.mechanisms.clone());
    cx.fact("amqp_locales", s.locales.clone());
    cx.fact("amqp_server_properties", serde_json::Value::Object(s.server_properties.clone()));
}

/// The SASL mechanism to log in with: PLAIN, else AMQPLAIN (both carry user and password).
fn mechanism(start: &Start) -> Option<SASLMechanism> {
    let offered = |m: &str| start.mechanisms.iter().any(|o| o.eq_ignore_ascii_case(m));
    if offered("PLAIN") {
        Some(SASLMechanism::Plain)
    } else if offered("AMQPLAIN") {
        Some(SASLMechanism::AMQPlain)
    } else {
        None
    }
}

async fn login_and_check(
    cx: &mut ProbeCx,
    t: &Target,
    peer: Option<SocketAddr>,
    login: &Login,
    password: &Secret,
    start: &Start,
) -> Result<(), Failure> {
    let opts = t.options_or_default::<AmqpOptions>();
    let Some(mech) = mechanism(start) else {
        return Err(Failure::new(
            &codes::MECHANISM_UNSUPPORTED,
            Phase::Auth,
            format!(
                "the broker offers {} for login; this probe logs in with PLAIN or AMQPLAIN",
                start.mechanisms.join(", ")
            ),
        ));
    };
    let Some(addr) = peer else {
        return Err(Failure::new(&codes::ERROR, Phase::Auth, "no peer address to log in to"));
    };
    let tls = t.over == Over::Tls;
    // The login connection gets the same TLS configuration as the first, so the certificate
    // verdict reported above holds for the connection that carries the password.
    let connector = if tls {
        let engine = tls::client_config(&t.tls, &[])?;
        let name = tls::server_name(&t.tls, &t.host)?;
        Some((RustlsConnector::from(engine.config.clone()), name.to_str().into_owned()))
    } else {
        None
    };
    let uri = AMQPUri {
        scheme: if tls { AMQPScheme::AMQPS } else { AMQPScheme::AMQP },
        authority: AMQPAuthority {
            userinfo: AMQPUserInfo { username: login.user.clone(), password: password.expose().to_owned() },
            host: t.host.clone(),
            port: t.port,
        },
        vhost: opts.vhost().to_owned(),
        // lapin sizes its buffers at 32 frames: at RabbitMQ's 128 KiB frame_max that is 8 MiB of
        // fresh pages per login (about 5 ms). A probe sends no content; 8 KiB frames suffice.
        query: AMQPQueryString { auth_mechanism: Some(mech), frame_max: Some(8192), ..Default::default() },
    };
    let runtime = lapin::runtime::default_runtime()
        .map_err(|e| Failure::new(&codes::ERROR, Phase::Auth, format!("no runtime for the AMQP client: {e}")))?;
    let props = ConnectionProperties::default().with_connection_name("portproof".into());
    cx.phase(Phase::Auth);
    cx.fact("amqp_login_mechanism", mech.name());
    let guard = SocketGuard::default();
    let slot = guard.0.clone();
    let connect = async move |_uri, _rt| {
        // Our own socket, for TCP_NODELAY: without it the small frames of the handshake meet
        // the broker's delayed ACKs, and a login takes 40 ms longer than it needs to.
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let std = tcp.into_std()?;
        if let Ok(mut s) = slot.lock() {
            *s = Some(std.try_clone()?);
        }
        let tcp = tokio::net::TcpStream::from_std(std)?;
        let stream = AsyncTcpStream::Plain(async_compat::Compat::new(tcp));
        match &connector {
            Some((c, name)) => Ok(stream.into_rustls(c, name).await?),
            None => Ok(stream),
        }
    };
    let conn = match Connection::connector(uri, runtime, connect, props).await {
        Ok(c) => c,
        Err(e) => return Err(login_failure(&e, login, mech, opts.vhost(), start)),
    };
    cx.fact("amqp_vhost", opts.vhost());
    let result = check_queue(cx, &conn, opts.queue.as_deref()).await;
    cx.end_phase();
    if result.is_ok() {
        cx.reach(Level::Healthy);
    }
    // A polite Connection.Close, so the broker logs a client that left, not one that vanished;
    // never long enough to push the verdict past the deadline.
    let wait = cx.remaining().map_or(CLOSE_WAIT, |r| CLOSE_WAIT.min(r.saturating_sub(Duration::from_millis(20))));
    let _ = tokio::time::timeout(wait, conn.close(200, "portproof done".into())).await;
    drop(guard);
    result
}

/// Longest wait for the broker's Close-Ok.
const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// A duplicate of the login connection's socket. lapin runs each connection on a thread of its
/// own that outlives a dropped future; shutting the socket down when the probe ends (done, or
/// cancelled at its deadline) makes that thread see the end and exit instead of waiting on a
/// silent broker forever. The duplicate is our own descriptor, so it can never name another
/// socket by the time it is used.
#[derive(Default)]
struct SocketGuard(std::sync::Arc<std::sync::Mutex<Option<std::net::TcpStream>>>);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        if let Some(s) = self.0.lock().ok().and_then(|mut s| s.take()) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

async fn check_queue(cx: &mut ProbeCx, conn: &Connection, queue: Option<&str>) -> Result<(), Failure> {
    cx.phase(Phase::Query);
    let channel = conn.create_channel().await.map_err(|e| lapin_failure(&e, "opening a channel", Phase::Query))?;
    let Some(name) = queue else {
        let _ = channel.close(200, "portproof done".into()).await;
        return Ok(());
    };
    let options = QueueDeclareOptions { passive: true, ..Default::default() };
    match channel.queue_declare(name.into(), options, FieldTable::default()).await {
        Ok(q) => {
            cx.fact("amqp_queue", name);
            cx.fact("amqp_queue_messages", q.message_count());
            cx.fact("amqp_queue_consumers", q.consumer_count());
            let _ = channel.close(200, "portproof done".into()).await;
            Ok(())
        }
        Err(e) => {
            let f = lapin_failure(&e, &format!("checking queue {name:?}"), Phase::Query);
            if reply_code(&e) == Some(404) {
                return Err(Failure::new(&codes::QUEUE_MISSING, f.phase, f.message).hint(format!(
                    "queue {name:?} does not exist in this vhost: declare it (the consumer or its deployment usually does), or fix amqp.queue"
                )).stated());
            }
            Err(f)
        }
    }
}

/// The reply code of the broker's Close behind an error of lapin's, if it is one.
fn reply_code(e: &lapin::Error) -> Option<u16> {
    match e.kind() {
        ErrorKind::ProtocolError(amqp) => Some(amqp.get_id()),
        _ => None,
    }
}

/// The failure for an error of lapin's, by the broker's reply code when there is one.
fn lapin_failure(e: &lapin::Error, doing: &str, phase: Phase) -> Failure {
    match e.kind() {
        ErrorKind::ProtocolError(amqp) => {
            let code = amqp.get_id();
            let text = amqp.get_message().to_string();
            closed(&wire::Close { reply_code: code, reply_text: text, class_id: 0, method_id: 0 }, doing, phase)
        }
        ErrorKind::IOError(io) => read_failure(io, phase, doing),
        _ => Failure::new(&codes::ERROR, phase, format!("{doing}: {e}")),
    }
}

/// A `Connection.Close` or `Channel.Close` as a failure: `amqp.closed.<reply-code>`.
fn closed(c: &wire::Close, doing: &str, phase: Phase) -> Failure {
    let f = codes::CLOSED.failure_with(
        c.reply_code,
        phase,
        format!(
            "{doing}: the broker closed with {} ({}): {}",
            c.reply_code,
            wire::reply_code_name(c.reply_code),
            c.reply_text
        ),
    );
    match c.reply_code {
        320 => f.hint("the broker is shutting down or an operator closed the connection"),
        403 => f.hint("the broker refused access: check the user's permissions"),
        404 => f.hint("the entity does not exist"),
        530 => f.hint("the broker does not allow this: check the vhost and the user's permissions on it"),
        541 => f.hint("the broker hit an internal error: check its logs"),
        _ => f,
    }
}

/// Why a login failed, in the words of the AMQP reply codes.
fn login_failure(e: &lapin::Error, login: &Login, mech: SASLMechanism, vhost: &str, start: &Start) -> Failure {
    let f = lapin_failure(e, "logging in", Phase::Auth);
    match reply_code(e) {
        Some(403) => Failure::new(
            &core::AUTH_REJECTED,
            f.phase,
            format!("user {:?} was refused with {}: {}", login.user, mech.name(), f.message),
        )
        .hint("check the user name and password (RabbitMQ's guest may log in only from localhost)"),
        Some(530) => Failure::new(&codes::VHOST_DENIED, f.phase, f.message).hint(format!(
            "the login worked but user {:?} may not open vhost {vhost:?}, or it does not exist: rabbitmqctl set_permissions -p {vhost:?} {} ...",
            login.user, login.user
        )).stated(),
        None if !start.closes_on_auth_failure()
            && matches!(e.kind(), ErrorKind::IOError(io) if matches!(io.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted)) =>
        {
            // Without authentication_failure_close, RabbitMQ drops the socket on a bad login.
            Failure::new(
                &core::AUTH_REJECTED,
                f.phase,
                format!(
                    "likely refused login: the broker closed the connection during the login of user {:?} with {} without saying why (it does not offer authentication_failure_close)",
                    login.user,
                    mech.name()
                ),
            )
            .hint("check the user name and password; the broker's log has the reason")
        }
        _ => f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanisms_prefer_plain() {
        let mut s = Start {
            version_major: 0,
            version_minor: 9,
            server_properties: Default::default(),
            mechanisms: vec!["AMQPLAIN".into(), "PLAIN".into()],
            locales: vec![],
        };
        assert_eq!(mechanism(&s), Some(SASLMechanism::Plain));
        s.mechanisms = vec!["AMQPLAIN".into()];
        assert_eq!(mechanism(&s), Some(SASLMechanism::AMQPlain));
        s.mechanisms = vec!["EXTERNAL".into()];
        assert_eq!(mechanism(&s), None);
    }

    #[test]
    fn close_codes_name_the_reply() {
        let c = wire::Close {
            reply_code: 530,
            reply_text: "NOT_ALLOWED - vhost x not found".into(),
            class_id: 10,
            method_id: 40,
        };
        let f = closed(&c, "logging in", Phase::Auth);
        assert_eq!(f.code, "amqp.closed.530");
        assert!(f.message.contains("not-allowed") && f.message.contains("vhost x"), "{}", f.message);
    }

    #[test]
    fn codes_the_tests_know_are_in_the_tables() {
        for c in [
            "amqp.closed.530",
            "amqp.closed.320",
            "amqp.queue_missing",
            "amqp.vhost_denied",
            "amqp.version_mismatch",
            "amqp.no_response",
            "amqp.malformed",
            "amqp.error",
            "auth.mechanism_unsupported",
            "auth.rejected",
            "auth.no_credentials",
            "proto.mismatch",
            "request.timeout",
        ] {
            assert!(crate::codes::lookup(c).is_some(), "{c}");
        }
        assert!(std::ptr::eq(crate::codes::lookup("amqp.closed.404").unwrap(), &codes::CLOSED));
    }
}
