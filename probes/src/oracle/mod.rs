//! `oracle`: the Oracle Net listener (TNS, 1521), identified without a login.
//!
//! The first connection sends the listener command `version` (what `lsnrctl version` and
//! nmap's oracle-tns-version send). A listener answers with an ACCEPT naming its VSNNUM and
//! its banner, or refuses remote commands (TNS-01189 since 10g, when the listener is secured)
//! with a REFUSE that still carries the VSNNUM: either way the port speaks TNS (`speaks`), and
//! the listener's version goes into the facts.
//!
//! With `oracle.service_name` (or `oracle.sid`), a second connection asks for that service the
//! way a 19c client does, a CONNECT of TNS version 318 with a connect descriptor, and stops at
//! the answer:
//! - ACCEPT: the listener knows the service and handed the connection to a server that took
//!   it: `healthy`. The probe then closes the session (a DATA packet with the EOF flag); it
//!   never logs in, Oracle's login is out of its scope;
//! - REFUSE: the ORA/TNS number decoded, with a hint: 12514 `oracle.service_unknown`, 12505
//!   `oracle.sid_unknown`, 12516/12519/12520 `oracle.no_handler`, 12526 `oracle.restricted`,
//!   any other `oracle.refused.<n>`. The level stays `speaks`: the listener spoke TNS;
//! - REDIRECT: the address it points to (a dispatcher, another node) is recorded
//!   (`oracle_redirect`). The probe follows it only to the checked host itself (the same name,
//!   or addresses the checked name resolves to); anywhere else is `oracle.redirected`, unless
//!   `oracle.follow_redirects` allows other hosts. Whatever answers on the port chooses that
//!   address, so even then the probe never follows to loopback, unspecified, link-local,
//!   multicast or broadcast addresses unless the checked host is one of the same kind. At the
//!   redirect target it sends its own CONNECT for the service, never the connect data the
//!   REDIRECT carried, and failures there are `oracle.redirect_unreachable` or
//!   `oracle.redirect_target.*`, naming the address, not the checked port's.
//!
//! With a service or SID to ask for, the version command gets a bounded share of the deadline:
//! a listener that never answers it is recorded (`oracle_version_command: unanswered`) and the
//! service is still asked for, on a new connection.
//!
//! A listener may answer a CONNECT with RESEND; the probe sends the same CONNECT again, once.
//! Every packet is read against a cap (the SDU the probe announces): a length beyond it is
//! `oracle.malformed`, never an allocation of what the peer claims.

pub mod codes;
pub mod options;
pub mod wire;
pub use options::*;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::codes::core::{PROTO_MISMATCH, TIMEOUT};
use crate::net::{self, BoxIo, Conn, Tape, read_available, read_failure, read_head};
use crate::{Failure, Level, Over, Phase, Probe, ProbeCx, Target, sniff, tls};
use wire::{Header, ListenerAnswer, ptype};

/// The `oracle` probe.
#[derive(Debug, Clone, Copy)]
pub struct Oracle;

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "oracle",
    summary: "Oracle TNS listener: its version (VSNNUM), a service name or SID accepted, refused (ORA code) or redirected",
    proves: "the listener's answer to the `version` command (ACCEPT with its VSNNUM and banner, or a REFUSE that still names the VSNNUM) is `speaks`: version in the facts; with `oracle.service_name` or `oracle.sid`, a CONNECT for it as a client sends it: ACCEPT (the listener handed the connection to a server that took it) is `healthy`, the session is closed without a login; REFUSE by TNS number with a hint; REDIRECT recorded (`oracle_redirect`, with `followed`) and followed to the checked host itself (its name, or an address it resolves to) with the probe's own CONNECT, never the connect data the REDIRECT carried; elsewhere only with `oracle.follow_redirects` (`--follow-redirects`), and never to loopback, unspecified, link-local, multicast or broadcast addresses unless the checked host is one; failures at a redirect target name its address; RESEND answered once; with a service set, a listener silent on `version` is recorded (`oracle_version_command: unanswered`) after at most 1.5 s and the service still asked for",
    default_ports: &[1521],
    options: Some(&SECTION),
    codes: codes::CODES,
    ..crate::About::DEFAULT
};

impl Probe for Oracle {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    /// A service name or SID is a stated criterion: the check then requires that the listener
    /// accepts it. Without one the listener's own answer is all there is to prove.
    fn default_require(&self, t: &Target) -> Level {
        if t.options::<OracleOptions>().is_some_and(|o| o.service_name.is_some() || o.sid.is_some()) {
            Level::Healthy
        } else {
            Level::Speaks
        }
    }
    fn validate(&self, t: &Target) -> Result<(), Failure> {
        if t.over == Over::Tls {
            tls::validate(&t.tls)?;
        }
        let Some(o) = t.options::<OracleOptions>() else { return Ok(()) };
        if o.service_name.is_some() && o.sid.is_some() {
            return Err(Failure::config(
                "oracle: give service_name or sid, not both (a connect descriptor names one of them)",
            ));
        }
        for (field, value) in [("service_name", &o.service_name), ("sid", &o.sid)] {
            if let Some(v) = value
                && (v.is_empty() || v.len() > 128 || !v.chars().all(name_char))
            {
                return Err(Failure::config(format!(
                    "oracle.{field}: {v:?} is not an Oracle service name or SID (letters, digits, '.', '_', '-', '$', '#')"
                )));
            }
        }
        Ok(())
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(run(t, cx))
    }
}

/// The characters of service names and SIDs (Oracle's database and domain names), which also
/// keeps the probe's connect descriptor well formed: no `(`, `)`, `=` or quotes.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '$' | '#')
}

/// How long the probe waits for the listener's banner after the ACCEPT of `version`; the
/// listener sends it at once, so this only bounds a peer that stops mid-answer.
const BANNER_WAIT: Duration = Duration::from_millis(800);

/// The most banner text kept.
const MAX_BANNER: usize = 4096;

/// How many REDIRECTs the probe follows on one check.
const MAX_REDIRECTS: usize = 2;

/// The most time the version command may take when a service is asked for after it. A
/// listener answers it at once; one that stays silent must not spend the deadline the service
/// check needs, so the query gets this, or a third of what is left if that is less.
const VERSION_SLICE: Duration = Duration::from_millis(1500);

/// How long the probe waits for the addresses of a name (the checked host's, or one a
/// REDIRECT names) when it decides whether a redirect stays on the checked host, at most.
const RESOLVE_WAIT: Duration = Duration::from_secs(2);

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let opts = t.options_or_default::<OracleOptions>();
    // Without a service the version command is the whole check, and silence is its verdict
    // (a timeout); with one, the command is only extra information.
    let slice = (opts.service_name.is_some() || opts.sid.is_some())
        .then(|| cx.remaining().map_or(VERSION_SLICE, |r| VERSION_SLICE.min(r / 3)));
    version_query(t, cx, slice).await?;
    let asked = match (&opts.service_name, &opts.sid) {
        (Some(s), _) => Asked { key: "SERVICE_NAME", name: s.clone() },
        (None, Some(s)) => Asked { key: "SID", name: s.clone() },
        (None, None) => {
            return Err(Failure::new(
                &codes::NO_SERVICE,
                Phase::Request,
                "the listener was identified; no service name or SID was given, so no service was asked for",
            ));
        }
    };
    service_connect(t, cx, &asked).await
}

/// What the second connection asks for.
struct Asked {
    /// `SERVICE_NAME` or `SID`.
    key: &'static str,
    name: String,
}

impl Asked {
    fn describe(&self) -> String {
        match self.key {
            "SID" => format!("SID {:?}", self.name),
            _ => format!("service {:?}", self.name),
        }
    }
}

/// A connection, with what the sniffer needs when the answer is not TNS.
struct Link {
    conn: Conn<BoxIo>,
    tape: Tape,
    peer: Option<SocketAddr>,
    host: String,
    /// A connection to where a REDIRECT pointed: what answers there is not the checked port,
    /// so it is neither sniffed into `identified` nor poked with a TLS side connection.
    redirected: bool,
}

/// Dials `host:port` and, with `over: tls` (a TCPS listener), runs the TLS handshake.
async fn open(t: &Target, cx: &mut ProbeCx, host: &str, port: u16) -> Result<Link, Failure> {
    open_at(t, cx, host, host, port).await
}

/// Dials `dial_host:port` (a name, or an address already resolved and checked) and, with
/// `over: tls`, runs the TLS handshake verifying the certificate against `name`.
async fn open_at(t: &Target, cx: &mut ProbeCx, dial_host: &str, name: &str, port: u16) -> Result<Link, Failure> {
    let layer = (t.over == Over::Tls).then_some(net::TlsLayer { name, tls: &t.tls, alpn: &[] });
    let net::Opened { conn, tape, peer } = net::open_to(cx, dial_host, port, layer).await?;
    Ok(Link { conn, tape, peer, host: name.to_owned(), redirected: false })
}

/// One received packet.
struct Packet {
    header: Header,
    body: Vec<u8>,
}

/// Sends `request` and reads the answer, sending it again once when the listener asks with
/// RESEND. MARKER packets before the answer are skipped (a few at most).
async fn exchange(cx: &mut ProbeCx, link: &mut Link, request: &[u8]) -> Result<Packet, Failure> {
    cx.phase(Phase::Request);
    send(link, request).await?;
    let mut resent = false;
    for _ in 0..4 {
        let p = first_packet(cx, link).await?;
        match p.header.packet_type {
            ptype::RESEND if !resent => {
                resent = true;
                cx.fact("oracle_resend", true);
                send(link, request).await?;
            }
            ptype::RESEND => {
                return Err(malformed("the listener asked a second time to resend the CONNECT".into()));
            }
            ptype::MARKER => {}
            _ => return Ok(p),
        }
    }
    Err(malformed("the listener answered the CONNECT with markers only".into()))
}

async fn send(link: &mut Link, bytes: &[u8]) -> Result<(), Failure> {
    link.conn.write_all(bytes).await.map_err(|e| read_failure(&e, Phase::Request, "sending the CONNECT"))?;
    link.conn.flush().await.map_err(|e| read_failure(&e, Phase::Request, "sending the CONNECT"))
}

/// Reads the answer to a CONNECT: names another protocol, or a silent close, from its first bytes.
async fn first_packet(cx: &mut ProbeCx, link: &mut Link) -> Result<Packet, Failure> {
    let mut h = [0u8; wire::HEADER_LEN];
    let got = read_head(&mut link.conn, &mut h, Phase::Request, "waiting for the listener's answer").await?;
    if got == 0 {
        if link.redirected {
            return Err(Failure::new(
                &codes::NO_RESPONSE,
                Phase::Request,
                "the peer closed the connection without answering the CONNECT",
            ));
        }
        let (peer, host) = (link.peer, link.host.clone());
        return Err(no_answer(cx, peer, &host).await);
    }
    let header = if got < h.len() {
        Err(wire::WireError(format!("an answer of {got} bytes, shorter than a TNS header")))
    } else {
        wire::header(&h, false)
    };
    let header = match header {
        Ok(header) => header,
        Err(e) => {
            let _ = read_available(&mut link.conn, 512, Duration::from_millis(100)).await;
            if link.redirected {
                return Err(not_tns_there(&link.tape.head(), &e));
            }
            return Err(not_tns(cx, &link.tape.head(), &e));
        }
    };
    let mut body = vec![0u8; header.length - wire::HEADER_LEN];
    link.conn
        .read_exact(&mut body)
        .await
        .map_err(|e| read_failure(&e, Phase::Request, "reading the listener's answer"))?;
    Ok(Packet { header, body })
}

/// Reads one more packet, in the framing the ACCEPT settled on.
async fn next_packet(conn: &mut Conn<BoxIo>, large: bool) -> Result<Packet, Failure> {
    let mut h = [0u8; wire::HEADER_LEN];
    conn.read_exact(&mut h).await.map_err(|e| read_failure(&e, Phase::Request, "reading the listener's answer"))?;
    let header = wire::header(&h, large).map_err(|e| malformed(format!("a packet after the first: {e}")))?;
    let mut body = vec![0u8; header.length - wire::HEADER_LEN];
    conn.read_exact(&mut body).await.map_err(|e| read_failure(&e, Phase::Request, "reading the listener's answer"))?;
    Ok(Packet { header, body })
}

/// The first connection: the `version` command. With `slice`, the connection and the
/// listener's first answer must come within it; when they do not, the command is recorded as
/// unanswered and the check goes on (the banner has its own, shorter, wait).
async fn version_query(t: &Target, cx: &mut ProbeCx, slice: Option<Duration>) -> Result<(), Failure> {
    let first = async {
        let mut link = open(t, cx, &t.host, t.port).await?;
        let p = exchange(cx, &mut link, &wire::connect(wire::VERSION_COMMAND, 0)).await?;
        Ok::<_, Failure>((link, p))
    };
    let (mut link, p) = match slice {
        None => first.await?,
        Some(slice) => {
            let answered = tokio::time::timeout(slice, first).await;
            match answered {
                Ok(r) => r?,
                Err(_) => {
                    cx.fact("oracle_version_command", "unanswered");
                    return Ok(());
                }
            }
        }
    };
    match p.header.packet_type {
        ptype::ACCEPT => {
            let a = wire::accept(&p.body).map_err(|e| malformed(format!("the ACCEPT does not decode: {e}")))?;
            cx.reach(Level::Speaks);
            cx.fact("protocol", format!("Oracle TNS {}", a.version));
            let answer = wire::listener_answer(&a.data);
            record_version(cx, &answer);
            let large = a.version >= wire::VERSION_LARGE_SDU;
            let budget = cx.remaining().map_or(BANNER_WAIT, |r| BANNER_WAIT.min(r / 2));
            let text = tokio::time::timeout(budget, banner(&mut link.conn, large)).await.unwrap_or_default();
            if let Some(line) = banner_line(&text) {
                if let Some(v) = line.split("Version ").nth(1).and_then(|r| r.split_whitespace().next()) {
                    cx.fact("product_version", v.trim_end_matches(','));
                }
                cx.fact("oracle_listener_banner", line);
            }
            cx.fact("oracle_version_command", "answered");
        }
        ptype::REFUSE => {
            let r = wire::refuse(&p.body).map_err(|e| malformed(format!("the REFUSE does not decode: {e}")))?;
            cx.reach(Level::Speaks);
            cx.fact("protocol", "Oracle TNS");
            let answer = wire::listener_answer(&r.data);
            record_version(cx, &answer);
            let said = match answer.err {
                Some(n) => {
                    format!("refused: TNS-{n:05}{}", wire::error_text(n).map(|w| format!(" {w}")).unwrap_or_default())
                }
                None => "refused".to_owned(),
            };
            cx.fact("oracle_version_command", said);
        }
        ptype::REDIRECT => {
            let (len, here) = wire::redirect(&p.body).map_err(|e| malformed(e.to_string()))?;
            cx.reach(Level::Speaks);
            cx.fact("protocol", "Oracle TNS");
            let data = redirect_data(&mut link.conn, len, here).await?;
            let target = wire::redirect_target(&data).map_err(|e| malformed(format!("the REDIRECT: {e}")))?;
            cx.fact("oracle_version_command", format!("redirected to {}", address(&target)));
        }
        other => {
            return Err(malformed(format!("the listener answered the version command with {}", ptype::name(other))));
        }
    }
    let _ = link.conn.shutdown().await;
    Ok(())
}

/// VSNNUM as the listener's version.
fn record_version(cx: &mut ProbeCx, a: &ListenerAnswer) {
    if let Some(v) = a.vsnnum {
        let dotted = wire::vsnnum(v);
        cx.fact("oracle_vsnnum", v);
        cx.fact("oracle_listener_version", dotted.as_str());
        cx.fact("product", "Oracle TNS listener");
        cx.fact("product_version", dotted);
    }
}

/// The DATA packets that follow the ACCEPT of `version`, up to the EOF flag.
async fn banner(conn: &mut Conn<BoxIo>, large: bool) -> Vec<u8> {
    let mut text = Vec::new();
    for _ in 0..8 {
        let Ok(p) = next_packet(conn, large).await else { break };
        if p.header.packet_type != ptype::DATA {
            break;
        }
        let Ok((flags, payload)) = wire::data(&p.body) else { break };
        let room = MAX_BANNER - text.len();
        text.extend_from_slice(&payload[..payload.len().min(room)]);
        if flags & wire::DATA_FLAG_EOF != 0 || text.len() >= MAX_BANNER {
            break;
        }
    }
    text
}

/// `TNSLSNR for Linux: Version 19.0.0.0.0 - Production`: the banner's first line.
fn banner_line(text: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(text);
    let start = s.find("TNSLSNR")?;
    let line: String = s[start..].chars().take_while(|c| !c.is_control()).take(256).collect();
    Some(line.trim().to_owned())
}

/// The redirect data: what the REDIRECT carried, then the payload of the DATA packets that
/// follow, until `len` bytes.
async fn redirect_data(conn: &mut Conn<BoxIo>, len: usize, here: &[u8]) -> Result<Vec<u8>, Failure> {
    let mut data = here.to_vec();
    for _ in 0..4 {
        if data.len() >= len {
            break;
        }
        let p = next_packet(conn, false).await?;
        if p.header.packet_type != ptype::DATA {
            return Err(malformed(format!(
                "a REDIRECT announced {len} bytes of data, then came a {} packet",
                ptype::name(p.header.packet_type)
            )));
        }
        let (_, payload) = wire::data(&p.body).map_err(|e| malformed(e.to_string()))?;
        data.extend_from_slice(payload);
    }
    if data.len() < len {
        return Err(malformed(format!("a REDIRECT announced {len} bytes of data and sent {}", data.len())));
    }
    data.truncate(len);
    Ok(data)
}

/// `host:port` of a redirect, for messages and facts. The host is the peer's text: control
/// characters are dropped and its length capped, so it cannot break a report's lines.
fn address(t: &wire::RedirectTarget) -> String {
    let host: String = t.host.as_deref().unwrap_or("?").chars().filter(|c| !c.is_control()).take(255).collect();
    let port = t.port.map_or_else(|| "?".to_owned(), |p| p.to_string());
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// What a listener answered a service CONNECT with.
enum Answer {
    /// ACCEPT: the session was started, and has been ended.
    Accepted,
    /// REFUSE, with its NV answer.
    Refused(ListenerAnswer),
    /// REDIRECT to this address.
    Redirected(wire::RedirectTarget),
}

/// The second connection: a CONNECT for the service, as a client sends it; REDIRECTs to the
/// checked host followed (elsewhere only with `follow_redirects`).
async fn service_connect(t: &Target, cx: &mut ProbeCx, asked: &Asked) -> Result<(), Failure> {
    cx.fact(
        match asked.key {
            "SID" => "oracle_sid",
            _ => "oracle_service_name",
        },
        asked.name.as_str(),
    );
    let mut link = open(t, cx, &t.host, t.port).await?;
    let first_peer = link.peer;
    let mut request = wire::connect_client(&descriptor(t, asked, &t.host, t.port), 0);
    // Where the current connection goes when it is not the checked port: a redirect target.
    let mut there: Option<String> = None;
    for hop in 0..=MAX_REDIRECTS {
        let answer = match &there {
            None => service_answer(cx, &mut link, &request).await,
            Some(addr) => {
                // The checked port has answered; the deadline's own timeout would name the
                // phase and blame the port, so the redirect target gets what is left but a
                // margin, and its silence is said to be its own.
                let remaining = cx.remaining();
                let asking = service_answer(cx, &mut link, &request);
                let answered = match remaining {
                    Some(r) => tokio::time::timeout(r.saturating_sub(margin(r)), asking).await.unwrap_or_else(|_| {
                        Err(TIMEOUT.failure_in(Phase::Request, "no answer to the CONNECT within the deadline"))
                    }),
                    None => asking.await,
                };
                answered.map_err(|f| at_redirect_target(f, addr))
            }
        }?;
        match answer {
            Answer::Accepted => return Ok(()),
            Answer::Refused(a) => {
                if cx.facts().get("oracle_vsnnum").is_none() {
                    record_version(cx, &a);
                }
                cx.fact("oracle_service", "refused");
                let mut f = refusal(cx, &a, asked);
                if let Some(addr) = &there {
                    f.message = format!("{} (at {addr}, where the listener redirected the client)", f.message);
                }
                return Err(f);
            }
            Answer::Redirected(target) => {
                let addr = address(&target);
                cx.fact("oracle_service", "redirected");
                let mut record = serde_json::json!({
                    "protocol": target.protocol,
                    "host": target.host.as_deref().map(|h| h.chars().filter(|c| !c.is_control()).take(255).collect::<String>()),
                    "port": target.port,
                    "address": addr,
                    "followed": false,
                });
                if hop == MAX_REDIRECTS {
                    cx.fact("oracle_redirect", record);
                    break;
                }
                let followed = follow(t, cx, &target, first_peer).await;
                record["followed"] = followed.is_ok().into();
                cx.fact("oracle_redirect", record);
                link = followed?;
                // The probe's own descriptor, naming the address it now dials: the connect
                // data the REDIRECT carried is the peer's text, and whatever answers on the
                // port must not choose the bytes the probe sends to another address.
                let (host, port) = (target.host.as_deref().unwrap_or(&t.host), target.port.unwrap_or(t.port));
                request = wire::connect_client(&descriptor(t, asked, host, port), wire::FLAG_REDIRECT);
                there = Some(addr);
            }
        }
    }
    Err(Failure::new(
        &codes::REDIRECT_LOOP,
        Phase::Request,
        format!("the listener redirected more than {MAX_REDIRECTS} times"),
    ))
}

/// Sends the service CONNECT on `link` and reads what the listener decided.
async fn service_answer(cx: &mut ProbeCx, link: &mut Link, request: &[u8]) -> Result<Answer, Failure> {
    let p = exchange(cx, link, request).await?;
    match p.header.packet_type {
        ptype::ACCEPT => {
            let a = wire::accept(&p.body).map_err(|e| malformed(format!("the ACCEPT does not decode: {e}")))?;
            cx.reach(Level::Healthy);
            cx.fact("oracle_service", "accepted");
            cx.fact("oracle_tns_version", a.version);
            cx.fact("oracle_sdu", a.sdu);
            // An orderly end of the session the server just started for us, framed as
            // the version it settled on frames its packets.
            let large = a.version >= wire::VERSION_LARGE_SDU;
            let _ = link.conn.write_all(&wire::data_eof(large)).await;
            let _ = link.conn.shutdown().await;
            Ok(Answer::Accepted)
        }
        ptype::REFUSE => {
            let r = wire::refuse(&p.body).map_err(|e| malformed(format!("the REFUSE does not decode: {e}")))?;
            cx.reach(Level::Speaks);
            let _ = link.conn.shutdown().await;
            Ok(Answer::Refused(wire::listener_answer(&r.data)))
        }
        ptype::REDIRECT => {
            let (len, here) = wire::redirect(&p.body).map_err(|e| malformed(e.to_string()))?;
            cx.reach(Level::Speaks);
            let data = redirect_data(&mut link.conn, len, here).await?;
            let target = wire::redirect_target(&data).map_err(|e| malformed(format!("the REDIRECT: {e}")))?;
            let _ = link.conn.shutdown().await;
            Ok(Answer::Redirected(target))
        }
        other => Err(malformed(format!("the listener answered the CONNECT with {}", ptype::name(other)))),
    }
}

/// A failure at a redirect target, said to be there: `oracle.redirect_target.<what>` (the last
/// part of the code it had: `malformed`, `mismatch`, `no_response`, `timeout`, ...), naming the
/// address, with a hint about the redirect rather than the checked port.
fn at_redirect_target(f: Failure, addr: &str) -> Failure {
    let what = match f.code.rsplit('.').next() {
        Some(w) if !w.is_empty() => w.to_owned(),
        _ => "failed".to_owned(),
    };
    codes::REDIRECT_TARGET
        .failure_with(what, f.phase, format!("at {addr}, where the listener redirected the client: {}", f.message))
        .hint(format!("the checked port speaks TNS and redirected the CONNECT to {addr}, which failed: check the dispatcher or listener at that address (`lsnrctl services` lists each handler's address), or why the listener hands out this one"))
}

/// Connects where a REDIRECT points, if the probe may go there; says why not otherwise.
/// `first_peer` is the address the check's own connection reached.
async fn follow(
    t: &Target,
    cx: &mut ProbeCx,
    target: &wire::RedirectTarget,
    first_peer: Option<SocketAddr>,
) -> Result<Link, Failure> {
    let addr = address(target);
    let protocol = target.protocol.as_deref().unwrap_or("TCP");
    let tcp_like = protocol.eq_ignore_ascii_case("TCP") || protocol.eq_ignore_ascii_case("TCPS");
    let (Some(host), Some(port), true) = (target.host.as_deref(), target.port, tcp_like) else {
        return Err(redirected(
            format!("the listener redirects to {addr} over {protocol}, which the probe does not follow"),
            "check the dispatcher or listener at that address from where the clients are".into(),
        ));
    };
    let follow_elsewhere = t.options::<OracleOptions>().is_some_and(|o| o.follow_redirects);
    // The checked host by its own name: where the user pointed the probe, nothing to decide.
    if host.eq_ignore_ascii_case(&t.host) {
        return connect_there(cx, t, &addr, &[], host, port).await;
    }
    let mut checked = addresses_of(&t.host, cx.remaining()).await.unwrap_or_default();
    checked.extend(first_peer.map(|p| p.ip()));
    let there = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => match addresses_of(host, cx.remaining()).await {
            Some(a) if !a.is_empty() => a,
            _ => {
                cx.warn(
                    &codes::REDIRECT_UNRESOLVABLE,
                    format!("the listener redirects clients to {addr}, a name this machine cannot resolve"),
                );
                let f = Failure::new(
                    &codes::REDIRECT_UNREACHABLE,
                    Phase::Resolve,
                    format!("the listener redirects to {addr}, and this machine cannot resolve that name"),
                )
                .hint("the listener hands clients an address (a dispatcher's, another node's, the host's own name) that they must reach too: check the dispatchers' and LOCAL_LISTENER addresses, and DNS");
                return Err(if follow_elsewhere {
                    f
                } else {
                    redirected(
                        format!("the listener redirects to {addr}, a name this machine cannot resolve, so not known to be the checked host"),
                        "check the dispatchers' and LOCAL_LISTENER addresses and DNS; oracle.follow_redirects (--follow-redirects) lets the probe follow redirects to other hosts".into(),
                    )
                });
            }
        },
    };
    if there.iter().all(|ip| checked.contains(ip)) {
        return connect_there(cx, t, &addr, &there, host, port).await;
    }
    if !follow_elsewhere {
        return Err(redirected(
            format!(
                "the listener redirects to {addr}, which is not {} (the probe follows redirects to the checked host only)",
                t.host
            ),
            format!(
                "clients are sent to {addr}: check from where they are that it answers, or set oracle.follow_redirects (--follow-redirects) to let the probe follow redirects to other hosts"
            ),
        ));
    }
    let kinds: Vec<&str> = checked.iter().filter_map(|ip| special(*ip)).collect();
    if let Some((ip, kind)) = there.iter().find_map(|ip| special(*ip).filter(|k| !kinds.contains(k)).map(|k| (ip, k))) {
        return Err(redirected(
            format!("the listener redirects to {addr} ({ip}, a {kind} address), which the probe never follows"),
            format!(
                "a listener that hands out a {kind} address sends clients nowhere useful, or points the probe at this machine's own services: check LOCAL_LISTENER, the dispatchers' addresses and the host's name resolution on the database host"
            ),
        ));
    }
    connect_there(cx, t, &addr, &there, host, port).await
}

/// Dials a redirect target: `ips` in turn (already checked, so the name is not resolved
/// again), or `host` itself when `ips` is empty.
///
/// The dial and any TLS handshake run on a context of their own: what they record (`peer`,
/// `addresses`, TLS facts and warnings, a protocol the handshake sniffs) is about the redirect
/// target, and the check's facts and `identified` stay those of the checked port. They get
/// what is left of the deadline but a margin, so that a target that never answers is said to
/// be unreachable rather than a timeout of the checked port.
async fn connect_there(
    cx: &mut ProbeCx,
    t: &Target,
    addr: &str,
    ips: &[IpAddr],
    host: &str,
    port: u16,
) -> Result<Link, Failure> {
    let remaining = cx.remaining();
    let mut side = ProbeCx::new(remaining.map(|r| std::time::Instant::now() + r));
    side.limits = cx.limits;
    cx.phase(Phase::Connect);
    let dialing = async {
        let mut last = None;
        if ips.is_empty() {
            last = Some(open_at(t, &mut side, host, host, port).await);
        }
        for ip in ips {
            last = Some(open_at(t, &mut side, &ip.to_string(), host, port).await);
            if last.as_ref().is_some_and(Result::is_ok) {
                break;
            }
        }
        last.expect("a redirect target has a host or addresses")
    };
    let dialed = match remaining {
        Some(r) => tokio::time::timeout(r.saturating_sub(margin(r)), dialing)
            .await
            .unwrap_or_else(|_| Err(TIMEOUT.failure_in(Phase::Connect, "no answer within the deadline"))),
        None => dialing.await,
    };
    cx.phase(Phase::Request);
    match dialed {
        Ok(mut link) => {
            link.redirected = true;
            Ok(link)
        }
        Err(f) => Err(Failure::new(
            &codes::REDIRECT_UNREACHABLE,
            f.phase,
            format!("the listener redirects to {addr}, which does not answer from here: {}", f.message),
        )),
    }
}

/// What a step at a redirect target leaves of the remaining time `r`, to report its own
/// failure before the deadline's timeout would blame the checked port.
fn margin(r: Duration) -> Duration {
    (r / 10).min(Duration::from_millis(300))
}

/// `oracle.redirected`: a REDIRECT the probe does not follow.
fn redirected(message: String, hint: String) -> Failure {
    Failure::new(&codes::REDIRECTED, Phase::Request, message).hint(hint)
}

/// The addresses `host` resolves to, within [`RESOLVE_WAIT`] and a third of what is left;
/// `None` when it does not resolve in time.
async fn addresses_of(host: &str, remaining: Option<Duration>) -> Option<Vec<IpAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(vec![ip]);
    }
    let wait = remaining.map_or(RESOLVE_WAIT, |r| RESOLVE_WAIT.min(r / 3));
    let found = tokio::time::timeout(wait, tokio::net::lookup_host((host, 0))).await.ok()?.ok()?;
    let mut ips: Vec<IpAddr> = found.map(|a| a.ip()).collect();
    ips.dedup();
    Some(ips)
}

/// The kind of an address no redirect should lead to unless the checked host is of the same
/// kind: this machine itself (loopback, unspecified: connecting to 0.0.0.0 or :: reaches the
/// local host), the link (link-local, where cloud metadata services answer), or no single host
/// (multicast, broadcast, reserved). IPv4-mapped IPv6 addresses are judged as IPv4.
fn special(ip: IpAddr) -> Option<&'static str> {
    let v4 = |v4: std::net::Ipv4Addr| {
        let o = v4.octets();
        Some(if v4.is_loopback() {
            "loopback"
        } else if o[0] == 0 {
            "unspecified"
        } else if v4.is_link_local() {
            "link-local"
        } else if v4.is_broadcast() {
            "broadcast"
        } else if v4.is_multicast() {
            "multicast"
        } else if o[0] >= 240 {
            "reserved"
        } else {
            return None;
        })
    };
    match ip {
        IpAddr::V4(a) => v4(a),
        IpAddr::V6(a) => {
            if let Some(m) = a.to_ipv4_mapped() {
                return v4(m);
            }
            Some(if a.is_loopback() {
                "loopback"
            } else if a.is_unspecified() {
                "unspecified"
            } else if a.segments()[0] & 0xffc0 == 0xfe80 {
                "link-local"
            } else if a.is_multicast() {
                "multicast"
            } else {
                return None;
            })
        }
    }
}

/// The connect descriptor a client sends for the service, with who is asking (CID) and the
/// address it thinks it dialed (`host:port`), as the listener logs them.
fn descriptor(t: &Target, asked: &Asked, host: &str, port: u16) -> String {
    format!(
        "(DESCRIPTION=(CONNECT_DATA=({}={})(CID=(PROGRAM=portproof)(HOST={})(USER={})))(ADDRESS=(PROTOCOL={})(HOST={})(PORT={})))",
        asked.key,
        asked.name,
        local_host(),
        local_user(),
        if t.over == Over::Tls { "TCPS" } else { "TCP" },
        clean(host, "localhost"),
        port
    )
}

/// Keeps a value the probe did not choose (host and user names) to characters an NV value
/// may hold unquoted.
fn clean(s: &str, fallback: &str) -> String {
    let c: String =
        s.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':')).take(64).collect();
    if c.is_empty() { fallback.to_owned() } else { c }
}

fn local_host() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    clean(name.trim(), "localhost")
}

fn local_user() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_default();
    clean(&user, "portproof")
}

/// A REFUSE of the service as a failure, by TNS error number.
fn refusal(cx: &mut ProbeCx, a: &ListenerAnswer, asked: &Asked) -> Failure {
    let n = a.err.unwrap_or(0);
    cx.fact("oracle_error", n);
    if a.stack.len() > 1 {
        cx.fact("oracle_error_stack", a.stack.clone());
    }
    let what = asked.describe();
    let words = wire::error_text(n).map(|w| format!(" ({w})")).unwrap_or_default();
    let message = format!("the listener refused {what}: TNS-{n:05}{words}");
    let code = match n {
        12514 => &codes::SERVICE_UNKNOWN,
        12505 => &codes::SID_UNKNOWN,
        12516 | 12519 | 12520 => &codes::NO_HANDLER,
        12526 => &codes::RESTRICTED,
        0 => &codes::REFUSED,
        other => {
            return codes::REFUSED_WITH
                .failure_with(other, Phase::Request, message)
                .hint(format!(
                    "see TNS-{other:05} in Oracle's error messages, `lsnrctl status`, and the listener's log (listener.log)"
                ))
                .stated();
        }
    };
    // The listener refused the service or SID the check named.
    Failure::new(code, Phase::Request, message).stated()
}

fn malformed(message: String) -> Failure {
    Failure::new(&codes::MALFORMED, Phase::Request, message)
}

/// The answer is not TNS: another protocol by name, or malformed.
fn not_tns(cx: &mut ProbeCx, head: &[u8], why: &wire::WireError) -> Failure {
    let expected = sniff::Expected { name: "oracle", label: "Oracle TNS", over_tls: None };
    if let Some(mut f) = sniff::mismatch(cx, head, &expected, Phase::Request) {
        if cx.identified() == Some("tls") {
            f.hint = Some("this port speaks TLS: an Oracle TCPS listener? use over: tls".into());
        }
        return f;
    }
    Failure::new(
        &codes::MALFORMED,
        Phase::Request,
        format!("the answer to the CONNECT is not TNS ({why}): {}", sniff::describe(head)),
    )
    .hint("the port speaks something other than Oracle Net: check the port number")
}

/// The answer of a redirect target is not TNS: named when the sniffer knows it, but not put in
/// `identified`, which is about the checked port.
fn not_tns_there(head: &[u8], why: &wire::WireError) -> Failure {
    match sniff::identify(head).filter(|h| h.protocol != "oracle") {
        Some(h) => Failure::new(
            &PROTO_MISMATCH,
            Phase::Request,
            format!("the answer to the CONNECT is {}, not TNS: {}", h.protocol, h.detail),
        ),
        None => Failure::new(
            &codes::MALFORMED,
            Phase::Request,
            format!("the answer to the CONNECT is not TNS ({why}): {}", sniff::describe(head)),
        ),
    }
}

/// A close without a byte: a TLS port, or a listener that drops this client.
async fn no_answer(cx: &mut ProbeCx, peer: Option<SocketAddr>, host: &str) -> Failure {
    if sniff::answers_tls(peer, host, cx.remaining()).await {
        cx.identify("tls");
        return Failure::new(
            &PROTO_MISMATCH,
            Phase::Request,
            "the port closed on the CONNECT but completes a TLS ClientHello: a TCPS listener",
        )
        .hint("use over: tls for an Oracle TCPS port (2484 by convention)");
    }
    Failure::new(&codes::NO_RESPONSE, Phase::Request, "the peer closed the connection without answering the CONNECT")
}

#[cfg(test)]
mod tests {
    use super::OracleOptions;
    use super::*;

    #[test]
    fn banner_first_line() {
        let t = b"\x00\x00TNSLSNR for Linux: Version 19.0.0.0.0 - Production\n\tTNS for Linux: Version 19.0.0.0.0";
        assert_eq!(banner_line(t).as_deref(), Some("TNSLSNR for Linux: Version 19.0.0.0.0 - Production"));
        assert_eq!(banner_line(b"nothing"), None);
    }

    #[test]
    fn descriptors_stay_well_formed() {
        let mut t = Target::new("db(1)=x", 1521);
        t.set_options(OracleOptions { service_name: Some("ORCLPDB1".into()), sid: None, follow_redirects: false });
        let d = descriptor(&t, &Asked { key: "SERVICE_NAME", name: "ORCLPDB1".into() }, &t.host, t.port);
        let nv = wire::parse_nv(&d).unwrap();
        assert_eq!(wire::nv_find(&nv, "SERVICE_NAME"), Some("ORCLPDB1"));
        assert_eq!(wire::nv_find(&nv, "PROGRAM"), Some("portproof"));
        assert_eq!(nv.len(), 1);
        assert!(d.contains("(HOST=db1x)"), "{d}");
    }

    #[test]
    fn options_are_checked_before_any_io() {
        let mut t = Target::new("db", 1521);
        t.set_options(OracleOptions { service_name: Some("a".into()), sid: Some("b".into()), follow_redirects: false });
        assert!(Oracle.validate(&t).unwrap_err().message.contains("not both"));
        t.set_options(OracleOptions {
            service_name: Some("x)(COMMAND=stop".into()),
            sid: None,
            follow_redirects: false,
        });
        assert!(Oracle.validate(&t).is_err());
        t.set_options(OracleOptions {
            service_name: Some("orclpdb1.example.com".into()),
            sid: None,
            follow_redirects: false,
        });
        assert!(Oracle.validate(&t).is_ok());
        assert_eq!(Oracle.default_require(&t), Level::Healthy);
        t.options = None;
        assert_eq!(Oracle.default_require(&t), Level::Speaks);
    }

    #[test]
    fn special_addresses_by_kind() {
        let kind = |s: &str| special(s.parse().unwrap());
        for (ip, want) in [
            ("127.0.0.1", Some("loopback")),
            ("127.9.9.9", Some("loopback")),
            ("::1", Some("loopback")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("0.0.0.0", Some("unspecified")),
            ("0.1.2.3", Some("unspecified")),
            ("::", Some("unspecified")),
            ("169.254.169.254", Some("link-local")),
            ("fe80::1", Some("link-local")),
            ("febf::1", Some("link-local")),
            ("::ffff:169.254.169.254", Some("link-local")),
            ("224.0.0.1", Some("multicast")),
            ("ff02::1", Some("multicast")),
            ("255.255.255.255", Some("broadcast")),
            ("240.0.0.1", Some("reserved")),
            ("10.0.0.5", None),
            ("192.168.1.10", None),
            ("8.8.8.8", None),
            ("2001:db8::1", None),
            ("fd00::1", None),
            ("fec0::1", None),
        ] {
            assert_eq!(kind(ip), want, "{ip}");
        }
    }

    #[test]
    fn failures_at_a_redirect_target_name_it() {
        let f = Failure::new(&crate::codes::core::PROTO_MISMATCH, Phase::Request, "the answer is ssh")
            .hint("check the port number");
        let f = at_redirect_target(f, "10.0.0.9:1522");
        assert_eq!(f.code, "oracle.redirect_target.mismatch");
        assert!(f.message.starts_with("at 10.0.0.9:1522") && f.message.contains("ssh"), "{f:?}");
        assert!(!f.hint.unwrap().contains("check the port number"));
        let t = wire::RedirectTarget {
            protocol: None,
            host: Some("db\nSET x\r".into()),
            port: Some(1),
            connect_data: None,
        };
        assert_eq!(address(&t), "dbSET x:1");
    }

    #[test]
    fn every_code_the_tests_know_is_in_a_table() {
        for c in [
            "oracle.malformed",
            "oracle.no_handler",
            "oracle.no_response",
            "oracle.no_service",
            "oracle.redirect_loop",
            "oracle.redirect_target.mismatch",
            "oracle.redirect_target.no_response",
            "oracle.redirect_target.timeout",
            "oracle.redirect_unreachable",
            "oracle.redirect_unresolvable",
            "oracle.redirected",
            "oracle.refused",
            "oracle.refused.12528",
            "oracle.restricted",
            "oracle.service_unknown",
            "oracle.sid_unknown",
            "proto.mismatch",
            "request.timeout",
            "tcp.refused",
        ] {
            assert!(crate::codes::lookup(c).is_some(), "{c}");
        }
        // A refusal without a number and one with a number are two entries of one name.
        assert!(std::ptr::eq(crate::codes::lookup("oracle.refused").unwrap(), &codes::REFUSED));
        assert!(std::ptr::eq(crate::codes::lookup("oracle.refused.12528").unwrap(), &codes::REFUSED_WITH));
    }

    #[test]
    fn refusals_by_number() {
        let asked = Asked { key: "SERVICE_NAME", name: "X".into() };
        for (n, code) in [
            (12514, "oracle.service_unknown"),
            (12505, "oracle.sid_unknown"),
            (12516, "oracle.no_handler"),
            (12519, "oracle.no_handler"),
            (12520, "oracle.no_handler"),
            (12526, "oracle.restricted"),
            (12528, "oracle.refused.12528"),
        ] {
            let mut cx = ProbeCx::default();
            let f = refusal(&mut cx, &ListenerAnswer { vsnnum: None, err: Some(n), stack: vec![n] }, &asked);
            assert_eq!(f.code, code);
            assert!(f.hint.is_some() && f.message.contains(&format!("TNS-{n:05}")), "{f:?}");
            assert_eq!(cx.facts()["oracle_error"], n);
        }
    }
}
