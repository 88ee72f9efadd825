//! `modbus`: Modbus TCP (502), read-only and gentle.
//!
//! The probe asks the unit (1 by default; 255 or the mapped id behind a gateway) for Read
//! Device Identification (0x2B / MEI 0x0E, basic objects: vendor, product code, revision). A
//! device that refuses it (many do: the function is optional) is asked for one holding
//! register, then one input register, at the configured address (0 by default). The MBAP
//! framing and the few PDUs are written by hand ([`wire`]): tokio-modbus 0.17 does read
//! device identification, but it folds a wrong MBAP protocol or transaction id into a generic
//! I/O error and drops the bytes a diagnosis names, and its client can send writing functions,
//! where this probe's [`wire::Request`] cannot.
//!
//! The identification gets a slice of the deadline (1 s, or a third of what is left when that
//! is less): a device that ignores the request instead of refusing it is then asked for the
//! register on the same connection, with the next transaction id, so a late answer to the
//! identification is told apart by its id and set aside, and the register read has the rest
//! of the deadline.
//!
//! Levels: any well-framed Modbus answer proves Modbus. A normal response, the device
//! identification or the register read, is `healthy`: the device answered a read of its own
//! data. An exception response is `speaks` with `modbus.exception.<name>` (illegal function,
//! illegal data address, gateway target failed, ...). With `modbus.register`, `modbus.kind` or
//! `modbus.unit` stated, the register read is the health criterion and is always made, unless
//! the identification was refused with an exception that says the device cannot serve now or
//! cannot be reached (acknowledge, busy, gateway path unavailable, gateway target failed),
//! where more requests would only add load. A stated unit needs it because gateways and
//! servers (pymodbus among them) answer the identification with their own identity for any
//! unit id: only a register read proves that the unit is there, and it must come back naming
//! that unit (`modbus.unit_mismatch` otherwise). A reply with a wrong MBAP protocol or
//! transaction id, an undefined exception code (0), a device identification that does not
//! echo the code asked for, or another protocol, is `proto.mismatch` with `identified` when
//! the sniffer names it, else `modbus.malformed`. Identification objects outside the basic
//! category are not reported.
//!
//! Gentle: one connection (the probe's per-host limit is 1, so the runner never opens two to
//! one host at once), at most a handful of one-item reads on it, never a retry of its own (the
//! runner's retries are at least 1 s apart), and a clean close: a FIN, then the device's
//! remaining bytes read, so the close does not turn into a reset. When the port closes on the
//! first request without a byte, the TLS side question (does it complete a ClientHello?) is
//! asked only on port 802, Modbus/TCP Security's: on any other port a ClientHello read as
//! Modbus is a broadcast (unit 0) whose function code is a byte of the handshake's length, and
//! could be a write (0x05, 0x06, 0x0F, 0x10), which this probe must never send.

pub mod codes;
pub mod options;
pub mod wire;
pub use options::*;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::{self, BoxIo, Conn, Tape, is_reset, read_available, read_failure};
use crate::{Failure, Level, Over, Phase, Probe, ProbeCx, Target, sniff, tls};
use wire::{Answer, Data, DeviceId, DeviceIdCode, MBAP_LEN, Mbap, Request};

/// How many Read Device Identification requests a device that splits its answer ("more
/// follows") gets: the basic objects are three, so a few rounds are plenty.
const MAX_DEVICE_ID_ROUNDS: usize = 3;
/// How long the close waits for the device to close its side after our FIN.
const CLOSE_WAIT: Duration = Duration::from_millis(300);
/// The most the device identification may take (all its rounds), so that a device that
/// ignores it leaves the register read most of the deadline.
const IDENTIFICATION_SLICE: Duration = Duration::from_secs(1);
/// Modbus/TCP Security (Modbus over TLS): the one port where the TLS side question is asked.
pub const MODBUS_SECURITY_PORT: u16 = 802;

/// The `modbus` probe.
#[derive(Debug, Clone, Copy)]
pub struct Modbus;

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "modbus",
    summary: "Modbus TCP, read-only: device identification (vendor, product, revision), else one register; exceptions by name",
    proves: "Modbus TCP, read-only by construction (the probe can emit only functions 0x01–0x04 and 0x2B): Read Device Identification (0x2B / MEI 0x0E, basic objects: vendor, product code, revision; objects outside that category are not reported), given at most 1 s (or a third of the time left), else one holding register, then one input register (`modbus.unit`, default 1; `modbus.register`, default address 0; `modbus.kind`); a device that ignores the identification is asked for the register on the same connection (a late answer is told apart by its transaction id); a normal answer to either is `healthy` (the device served a read of its own data), an exception is `speaks` (it proves Modbus); with `modbus.register`, `modbus.kind` or `modbus.unit` stated the register read is the health criterion and is made after any identification exception but acknowledge, busy and the gateway ones. A stated unit needs it because gateways and servers answer the identification for any unit id, and its answer must name that unit. One connection per host at a time, counted together with the OPC UA checks of that host (a PLC counts its clients, not their protocols), no retries faster than 1 s, closed with a FIN; the TLS side question after a silent close (a ClientHello on a second connection, which a Modbus device would read as a request) is asked only on port 802",
    default_ports: &[502],
    // A PLC may accept only a few clients: one connection per host at a time.
    per_host_limit: Some(1),
    per_host_group: Some(crate::INDUSTRIAL),
    identify: crate::Identify::OwnPortOnly,
    options: Some(&SECTION),
    codes: codes::CODES,
    ..crate::About::DEFAULT
};

impl Probe for Modbus {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    /// A stated register or unit is a health criterion; otherwise an exception, which proves
    /// Modbus, passes as `speaks`.
    fn default_require(&self, t: &Target) -> Level {
        if t.options::<ModbusOptions>().is_some_and(ModbusOptions::has_criteria) {
            Level::Healthy
        } else {
            Level::Speaks
        }
    }
    fn validate(&self, t: &Target) -> Result<(), Failure> {
        if t.over == Over::Tls {
            tls::validate(&t.tls)?;
        }
        Ok(())
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(run(t, cx))
    }
}

/// One connection to the device: the stream, what it sent, and the request counter.
struct Session {
    conn: Conn<BoxIo>,
    tape: Tape,
    unit: u8,
    /// Whether the unit was stated (`modbus.unit`): then only an answer naming it is health.
    unit_stated: bool,
    transaction: u16,
    /// The unit id the last answer named.
    answered_unit: u8,
    /// The time the device identification was given (see [`identification_budget`]).
    identification_slice: Duration,
    /// A request that got no answer within its slice, and its transaction id: a late answer
    /// to it is told apart by that id and set aside.
    unanswered: Option<(u16, Request)>,
    /// Requests that got an exception: `(request, exception code)`, in order.
    refused: Vec<(Request, u8)>,
}

/// Why an exchange ended without an answer.
enum Unheard {
    Failure(Failure),
    /// Closed or reset without a byte.
    Silent(Failure),
    /// No byte within the exchange's slice; the connection is still open.
    Unanswered,
}

impl From<Failure> for Unheard {
    fn from(f: Failure) -> Self {
        Unheard::Failure(f)
    }
}

/// How the device identification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Identification {
    /// A normal response (all rounds, or the ones before the device stopped answering).
    Answered,
    /// An exception to the first round, with its code.
    Refused(u8),
    /// No answer within the slice.
    Unanswered,
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let opts = t.options_or_default::<ModbusOptions>();
    let net::Opened { conn, tape, peer } = net::open(cx, t, &[]).await?;
    let unit = opts.unit();
    let mut s = Session {
        conn,
        tape,
        unit,
        unit_stated: opts.unit.is_some(),
        transaction: first_transaction(),
        answered_unit: unit,
        identification_slice: IDENTIFICATION_SLICE,
        unanswered: None,
        refused: Vec::new(),
    };
    cx.fact("modbus_unit", s.unit);
    let result = converse(cx, &opts, &mut s).await;
    close(&mut s.conn).await;
    if !s.refused.is_empty() {
        let list: Vec<String> = s
            .refused
            .iter()
            .map(|(r, c)| format!("{}: 0x{c:02x} {}", r.describe(), wire::exception_name(*c)))
            .collect();
        cx.fact("modbus_exceptions", list);
    }
    match result {
        Ok(()) => Ok(()),
        Err(Unheard::Failure(f)) => Err(f),
        // The first connection is closed by now: the side question never makes two at once.
        Err(Unheard::Silent(f)) => Err(silent(cx, t, peer, f).await),
        // Only the identification has a slice, and it handles its own silence: this is a
        // fallback that keeps the result well-defined.
        Err(Unheard::Unanswered) => Err(crate::codes::core::TIMEOUT
            .failure_in(Phase::Request, "the device did not answer within the time given to the request")),
    }
}

/// A transaction id that differs from run to run, so a reply meant for another client (or a
/// stale one) does not pass as ours.
fn first_transaction() -> u16 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 2];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    u16::from_be_bytes(b)
}

/// The identification's share of what is left of the deadline: [`IDENTIFICATION_SLICE`], or a
/// third of the rest when that is less, so the register read keeps at least two thirds.
fn identification_budget(remaining: Option<Duration>) -> Duration {
    remaining.map_or(IDENTIFICATION_SLICE, |r| IDENTIFICATION_SLICE.min(r / 3))
}

/// Device identification, then the register read where it is needed.
async fn converse(cx: &mut ProbeCx, opts: &ModbusOptions, s: &mut Session) -> Result<(), Unheard> {
    cx.phase(Phase::Request);
    let identification = device_identification(cx, s).await?;
    let criteria = opts.has_criteria();
    match identification {
        Identification::Answered if !criteria => {
            cx.reach(Level::Healthy);
            return Ok(());
        }
        Identification::Refused(c) if !reads_register_after(c, criteria) => {
            return Err(exception_failure(s, Phase::Request).into());
        }
        Identification::Unanswered => cx.warn(
            &codes::IDENTIFICATION_UNANSWERED,
            format!(
                "unit {} did not answer Read Device Identification within {} ms (a device without it should answer illegal function), so a register is read instead",
                s.unit,
                s.identification_slice.as_millis()
            ),
        ),
        Identification::Answered | Identification::Refused(_) => {}
    }
    // Until something answered, the register read is still the question "is this Modbus?".
    if cx.level() >= Level::Speaks {
        cx.phase(Phase::Query);
    }
    let result = read_register(cx, opts, s).await;
    if result.is_err() && s.unit_stated && identification == Identification::Answered {
        cx.warn(
            &codes::IDENTITY_ANY_UNIT,
            format!(
                "the device identification came back for unit {}, but gateways and servers answer it with their own identity for any unit id: only a register read proves the unit",
                s.unit
            ),
        );
    }
    result
}

/// One register (or bit) at the configured address: holding, then input, unless a kind is
/// stated. A normal answer naming the unit asked is `healthy`.
async fn read_register(cx: &mut ProbeCx, opts: &ModbusOptions, s: &mut Session) -> Result<(), Unheard> {
    let phase = cx.current_phase();
    let address = opts.register.unwrap_or(0);
    let kinds: &[RegisterKind] = match &opts.kind {
        Some(k) => std::slice::from_ref(k),
        None => &[RegisterKind::Holding, RegisterKind::Input],
    };
    for kind in kinds {
        let req = match kind {
            RegisterKind::Holding => Request::ReadHoldingRegister { address },
            RegisterKind::Input => Request::ReadInputRegister { address },
            RegisterKind::Coil => Request::ReadCoil { address },
            RegisterKind::Discrete => Request::ReadDiscreteInput { address },
        };
        let value: serde_json::Value = match exchange(cx, s, &req, phase, None).await? {
            Answer::Data(Data::Register(v)) => v.into(),
            Answer::Data(Data::Bit(b)) => b.into(),
            Answer::Data(Data::DeviceId(_)) => {
                unreachable!("a register request never decodes as device identification")
            }
            Answer::Exception(c) => {
                s.refused.push((req, c));
                if !falls_back(c) {
                    break;
                }
                continue;
            }
        };
        cx.fact("modbus_register", serde_json::json!({ "kind": kind.to_string(), "address": address, "value": value }));
        // A stated unit is proven only by an answer that names it: another unit's answer may
        // come from whatever a gateway routed the request to.
        if s.unit_stated && s.answered_unit != s.unit {
            return Err(Failure::new(
                &codes::UNIT_MISMATCH,
                phase,
                format!("asked unit {} for {} and the answer names unit {}", s.unit, req.describe(), s.answered_unit),
            )
            .stated()
            .into());
        }
        cx.reach(Level::Healthy);
        return Ok(());
    }
    // With a register, kind or unit stated, this read is what the check asked for.
    Err(exception_failure(s, phase).stated_if(opts.has_criteria()).into())
}

/// Read Device Identification, basic objects, within [`identification_budget`]. An exception
/// is recorded in the session for the caller to grade. Objects read before the device stopped
/// answering (an exception, silence, or a close in a later round) are recorded either way.
async fn device_identification(cx: &mut ProbeCx, s: &mut Session) -> Result<Identification, Unheard> {
    s.identification_slice = identification_budget(cx.remaining());
    let until = Instant::now() + s.identification_slice;
    let code = DeviceIdCode::Basic;
    let mut all = DeviceId::default();
    let mut heard = false;
    let mut first = 0u8;
    for _ in 0..MAX_DEVICE_ID_ROUNDS {
        // A later round with the slice spent would only leave a request behind unanswered.
        if heard && Instant::now() >= until {
            break;
        }
        let req = Request::ReadDeviceId { code, first };
        match exchange(cx, s, &req, Phase::Request, Some(until)).await {
            Ok(Answer::Data(Data::DeviceId(d))) => {
                heard = true;
                all.conformity = d.conformity;
                all.objects.extend(d.objects);
                // A device that names an object at or before the one asked for would loop; one
                // outside the category was not asked for.
                if d.more_follows && d.next_object > first && code.covers(d.next_object) {
                    first = d.next_object;
                    continue;
                }
            }
            Ok(Answer::Data(_)) => unreachable!("a device identification request decodes only as one"),
            Ok(Answer::Exception(c)) => {
                s.refused.push((req, c));
                // Objects already read stand; an exception on the first round means none.
                if !heard {
                    return Ok(Identification::Refused(c));
                }
            }
            // A later round unanswered: the objects already read stand.
            Err(Unheard::Unanswered) if heard => {}
            Err(Unheard::Unanswered) => return Ok(Identification::Unanswered),
            Err(e) => {
                // The device hung up (or broke the framing) between rounds: what it said stands.
                if heard {
                    record_identity(cx, &all);
                }
                return Err(e);
            }
        }
        break;
    }
    record_identity(cx, &all);
    Ok(Identification::Answered)
}

fn record_identity(cx: &mut ProbeCx, d: &DeviceId) {
    cx.fact("modbus_conformity_level", format!("0x{:02x}", d.conformity));
    for (id, _) in &d.objects {
        let text = d.text(*id).unwrap_or_default();
        match wire::object_name(*id) {
            Some(name) => cx.fact(&format!("modbus_{name}"), text),
            None => cx.fact(&format!("modbus_object_0x{id:02x}"), text),
        }
    }
    let vendor = d.text(0).filter(|v| !v.is_empty());
    let code = d.text(1).filter(|v| !v.is_empty());
    let product = match (vendor, code) {
        (Some(v), Some(c)) => Some(format!("{v} {c}")),
        (v, c) => v.or(c),
    };
    if let Some(p) = product {
        cx.fact("product", p);
    }
    if let Some(r) = d.text(2).filter(|r| !r.is_empty()) {
        cx.fact("product_version", r);
    }
}

/// Whether an exception says "not this request" (so another read may work) rather than "not
/// now" or "not this device" (busy, failed, a gateway without its target), where more requests
/// would only add load.
fn falls_back(code: u8) -> bool {
    matches!(code, 0x01..=0x03)
}

/// Whether an exception says the device cannot serve now (acknowledge, busy) or cannot be
/// reached (a gateway without a path, or without an answer from its target): more requests
/// would only add load.
fn unavailable(code: u8) -> bool {
    matches!(code, 0x05 | 0x06 | 0x0A | 0x0B)
}

/// Whether the register read follows an identification refused with `code`: after a refusal
/// of the request itself always; with a stated criterion (the register read is then the
/// health criterion) after any refusal but one saying the device is [`unavailable`]. A
/// device failure (0x04) on the identification says nothing of its registers.
fn reads_register_after(code: u8, criteria: bool) -> bool {
    falls_back(code) || (criteria && !unavailable(code))
}

/// One request and its answer. The first answer of a connection decides whether the peer
/// speaks Modbus at all; later ones only whether it keeps to it. With `until`, no byte by then
/// is [`Unheard::Unanswered`] and the request is remembered, so that its late answer, told
/// apart by transaction id, is set aside by the next exchange.
async fn exchange(
    cx: &mut ProbeCx,
    s: &mut Session,
    req: &Request,
    phase: Phase,
    until: Option<Instant>,
) -> Result<Answer, Unheard> {
    s.transaction = s.transaction.wrapping_add(1);
    let tid = s.transaction;
    s.conn
        .write_all(&req.encode(tid, s.unit))
        .await
        .map_err(|e| read_failure(&e, phase, &format!("sending {}", req.describe())))?;
    loop {
        let (mbap, pdu) = match read_frame(cx, s, req, phase, until, tid).await {
            Err(Unheard::Unanswered) => {
                s.unanswered = Some((tid, *req));
                return Err(Unheard::Unanswered);
            }
            other => other?,
        };
        if mbap.transaction != tid {
            // read_frame lets only the unanswered request's id through besides ours.
            late_answer(cx, s, &pdu, phase).await?;
            continue;
        }
        let answer = match wire::answer(req, &pdu) {
            Ok(a) => a,
            Err(e) => {
                return Err(not_modbus(cx, s, phase, format!("the answer to {}: {e}", req.describe())).await);
            }
        };
        // A well-framed answer with our transaction id: this is Modbus.
        cx.reach(Level::Speaks);
        cx.fact("protocol", "Modbus TCP");
        s.answered_unit = mbap.unit;
        if mbap.unit != s.unit {
            cx.warn(&codes::UNIT_MISMATCH, format!("asked unit {} and the answer names unit {}", s.unit, mbap.unit));
        }
        return Ok(answer);
    }
}

/// Reads one frame, its MBAP header checked against `tid` (or the unanswered request's id)
/// before the PDU it announces is read. `until` bounds the wait for its first byte.
async fn read_frame(
    cx: &mut ProbeCx,
    s: &mut Session,
    req: &Request,
    phase: Phase,
    until: Option<Instant>,
    tid: u16,
) -> Result<(Mbap, Vec<u8>), Unheard> {
    let mut h = [0u8; MBAP_LEN];
    let mut got = 0;
    while got < MBAP_LEN {
        let read = s.conn.read(&mut h[got..]);
        let r = match until {
            // Dropping a pending read loses no bytes: the next read gets them.
            Some(until) if got == 0 => {
                match tokio::time::timeout(until.saturating_duration_since(Instant::now()), read).await {
                    Ok(r) => r,
                    Err(_) => return Err(Unheard::Unanswered),
                }
            }
            _ => read.await,
        };
        match r {
            Ok(0) if got == 0 => return Err(Unheard::Silent(no_response(cx, req, phase))),
            Err(e) if got == 0 && is_reset(&e) => return Err(Unheard::Silent(no_response(cx, req, phase))),
            Ok(0) => {
                return Err(not_modbus(
                    cx,
                    s,
                    phase,
                    format!("the peer closed the connection after {got} bytes of an MBAP header"),
                )
                .await);
            }
            Ok(n) => got += n,
            Err(e) => return Err(read_failure(&e, phase, "reading the MBAP header").into()),
        }
    }
    let mbap = Mbap::parse(&h);
    let expected = match s.unanswered {
        Some((late, _)) if mbap.transaction == late => late,
        _ => tid,
    };
    let len = match mbap.check(expected) {
        Ok(n) => n,
        Err(e) => return Err(not_modbus(cx, s, phase, e.to_string()).await),
    };
    let mut pdu = vec![0u8; len];
    if let Err(e) = s.conn.read_exact(&mut pdu).await {
        let mut f = read_failure(&e, phase, "reading a Modbus PDU");
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            f = malformed(
                format!("the peer closed the connection inside a frame that claims {len} bytes of PDU"),
                phase,
            );
        }
        return Err(f.into());
    }
    Ok((mbap, pdu))
}

/// The late answer to the request that went unanswered in its slice: it proves Modbus if it
/// is one, its exception is recorded, and a first-round identification is recorded; then it
/// is set aside for the answer being waited for.
async fn late_answer(cx: &mut ProbeCx, s: &mut Session, pdu: &[u8], phase: Phase) -> Result<(), Unheard> {
    let Some((_, late)) = s.unanswered.take() else {
        return Ok(());
    };
    match wire::answer(&late, pdu) {
        Ok(answer) => {
            cx.reach(Level::Speaks);
            cx.fact("protocol", "Modbus TCP");
            match answer {
                Answer::Data(Data::DeviceId(d)) if matches!(late, Request::ReadDeviceId { first: 0, .. }) => {
                    record_identity(cx, &d);
                }
                Answer::Exception(c) => s.refused.push((late, c)),
                Answer::Data(_) => {}
            }
            Ok(())
        }
        Err(e) => Err(not_modbus(cx, s, phase, format!("the late answer to {}: {e}", late.describe())).await),
    }
}

/// The answer is not the Modbus frame asked for: the sniffer names another protocol if it can
/// (read a little more for it first), else the frame is `modbus.malformed`.
async fn not_modbus(cx: &mut ProbeCx, s: &mut Session, phase: Phase, why: String) -> Unheard {
    // Protocol id 0 is MBAP framing, however wrong the rest: a broken Modbus server, not
    // another protocol (an MBAP header can even pass for a MySQL packet).
    let framed_as_mbap = s.tape.head().get(2..4) == Some(&[0, 0]);
    if cx.level() < Level::Speaks && !framed_as_mbap {
        let _ = read_available(&mut s.conn, 512, Duration::from_millis(100)).await;
        let head = s.tape.head();
        let expected = sniff::Expected { name: "modbus", label: "Modbus TCP", over_tls: None };
        if let Some(f) = sniff::mismatch(cx, &head, &expected, phase) {
            return Unheard::Failure(f);
        }
        return Unheard::Failure(malformed(format!("{why} (the peer sent {})", sniff::describe(&head)), phase));
    }
    Unheard::Failure(malformed(why, phase))
}

fn malformed(message: String, phase: Phase) -> Failure {
    Failure::new(&codes::MALFORMED, phase, message)
}

fn no_response(cx: &ProbeCx, req: &Request, phase: Phase) -> Failure {
    let f = Failure::new(
        &codes::NO_RESPONSE,
        phase,
        format!("the peer closed (or reset) the connection without answering {}", req.describe()),
    );
    if cx.level() >= Level::Speaks {
        return f.hint("the device hung up in the middle of the conversation: it may allow only a few requests per connection; check its log");
    }
    f
}

/// Silence then close: a TLS port (Modbus/TCP Security, 802) waits for a ClientHello and then
/// hangs up on our bytes. Ask on a side connection, after ours is closed, where
/// [`asks_tls_side_question`] allows it.
async fn silent(cx: &mut ProbeCx, t: &Target, peer: Option<SocketAddr>, f: Failure) -> Failure {
    if asks_tls_side_question(t)
        && cx.level() < Level::Speaks
        && sniff::answers_tls(peer, &t.host, cx.remaining()).await
    {
        cx.identify("tls");
        return Failure::new(
            &crate::codes::core::PROTO_MISMATCH,
            f.phase,
            "the port closed on a Modbus request but completes a TLS ClientHello: it speaks TLS (Modbus/TCP Security?)",
        )
        .hint("for Modbus/TCP Security use over: tls (with the device's CA); otherwise check the port number");
    }
    f
}

/// Whether a silent close may be followed by a TLS ClientHello on a side connection: only on
/// plain TCP to port 802 (Modbus/TCP Security). Anywhere else the port may be a Modbus device,
/// which would read the ClientHello as a request: transaction 0x1603, a broadcast to unit 0,
/// and for function code the second byte of the handshake's length, which a 1280–1535-byte
/// ClientHello makes 0x05, Write Single Coil. The probe sends only reads.
fn asks_tls_side_question(t: &Target) -> bool {
    t.over == Over::Tcp && t.port == MODBUS_SECURITY_PORT
}

/// The failure for the exceptions the session met: the last one names the code, the message
/// lists them all.
fn exception_failure(s: &Session, phase: Phase) -> Failure {
    let Some((req, code)) = s.refused.last() else {
        return malformed("no answer was recorded".into(), phase);
    };
    let name = wire::exception_name(*code);
    let mut message = format!("unit {} answered {} with exception 0x{code:02x} {name}", s.unit, req.describe());
    let earlier: Vec<String> = s.refused[..s.refused.len() - 1]
        .iter()
        .map(|(r, c)| format!("{} with 0x{c:02x} {}", r.describe(), wire::exception_name(*c)))
        .collect();
    if !earlier.is_empty() {
        message.push_str(&format!(" (before that: {})", earlier.join("; ")));
    }
    // Each exception has its own advice, naming the unit where it matters; the table's hint
    // covers the codes without one.
    let hint = match code {
        0x01 => Some("the device does not implement this function: set modbus.kind to a table it has (holding, input, coil, discrete)".to_owned()),
        0x02 => Some("nothing is mapped at this address on this unit: set modbus.register to an address the device has (0-based: register 40001 is holding address 0)".to_owned()),
        0x03 => Some("the device refused the request's values: check modbus.register".to_owned()),
        0x04 => Some(format!("the device failed to serve the read, or has no unit {}: check modbus.unit and the device's state", s.unit)),
        0x05 | 0x06 => Some("the device is busy with a long operation: check again later (portproof never retries faster than once a second)".to_owned()),
        0x0A => Some(format!("the gateway has no path to unit {}: check its routing table and modbus.unit", s.unit)),
        0x0B => Some(format!("the gateway got no answer from the device behind it (unit {}): check that device, its serial line and its unit id", s.unit)),
        _ => None,
    };
    let f = codes::EXCEPTION.failure_with(name, phase, message);
    match hint {
        Some(h) => f.hint(h),
        None => f,
    }
}

/// Closes with a FIN, then reads what the device still sends until it closes too (briefly,
/// and bounded), so that unread bytes do not turn our close into a reset.
async fn close(conn: &mut Conn<BoxIo>) {
    let _ = conn.shutdown().await;
    let _ = tokio::time::timeout(CLOSE_WAIT, read_available(conn, 4096, CLOSE_WAIT)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_of_the_request_itself_fall_back() {
        for c in [1, 2, 3] {
            assert!(falls_back(c), "{c}");
        }
        for c in [4, 5, 6, 8, 0x0A, 0x0B, 0x42] {
            assert!(!falls_back(c), "{c}");
        }
    }

    #[test]
    fn a_stated_criterion_reads_the_register_unless_the_device_is_unavailable() {
        // Without criteria only a refusal of the request itself leads on to a register.
        assert!(reads_register_after(0x01, false) && !reads_register_after(0x04, false));
        // With one, a device failure on the identification says nothing of the registers.
        for c in [0x01, 0x02, 0x03, 0x04, 0x08, 0x42] {
            assert!(reads_register_after(c, true), "{c}");
        }
        for c in [0x05, 0x06, 0x0A, 0x0B] {
            assert!(!reads_register_after(c, true), "{c}");
        }
    }

    #[test]
    fn the_identification_gets_a_bounded_slice() {
        assert_eq!(identification_budget(None), Duration::from_secs(1));
        assert_eq!(identification_budget(Some(Duration::from_secs(10))), Duration::from_secs(1));
        assert_eq!(identification_budget(Some(Duration::from_millis(900))), Duration::from_millis(300));
    }

    #[test]
    fn the_tls_side_question_is_asked_only_on_the_secure_port() {
        let mut t = Target::new("plc", 502);
        assert!(!asks_tls_side_question(&t), "a ClientHello read as Modbus could be a write");
        t.port = MODBUS_SECURITY_PORT;
        assert!(asks_tls_side_question(&t));
        t.over = Over::Tls;
        assert!(!asks_tls_side_question(&t), "over TLS the handshake already said it");
    }

    #[test]
    fn exception_failures_name_the_code_and_list_the_history() {
        let mut s = Session {
            conn: Conn::new(Box::new(tokio::io::empty()) as BoxIo, 1),
            tape: Tape::default(),
            unit: 255,
            unit_stated: false,
            transaction: 0,
            answered_unit: 255,
            identification_slice: IDENTIFICATION_SLICE,
            unanswered: None,
            refused: vec![
                (Request::ReadDeviceId { code: DeviceIdCode::Basic, first: 0 }, 1),
                (Request::ReadHoldingRegister { address: 0 }, 2),
            ],
        };
        let f = exception_failure(&s, Phase::Query);
        assert_eq!(f.code, "modbus.exception.illegal_data_address");
        assert!(f.message.contains("unit 255") && f.message.contains("illegal_function"), "{}", f.message);
        s.refused.push((Request::ReadInputRegister { address: 0 }, 0x0B));
        let f = exception_failure(&s, Phase::Query);
        assert_eq!(f.code, "modbus.exception.gateway_target_failed");
        assert!(f.hint.unwrap().contains("unit 255"));
    }

    #[test]
    fn every_code_the_tests_know_is_in_a_table() {
        for c in [
            "modbus.exception.gateway_target_failed",
            "modbus.exception.illegal_data_address",
            "modbus.exception.illegal_function",
            "modbus.exception.server_device_busy",
            "modbus.exception.server_device_failure",
            "modbus.identification_unanswered",
            "modbus.identity_any_unit",
            "modbus.malformed",
            "modbus.no_response",
            "modbus.unit_mismatch",
            "request.timeout",
            "proto.mismatch",
        ] {
            assert!(crate::codes::lookup(c).is_some(), "{c}");
        }
        assert!(Modbus.codes().iter().any(|c| std::ptr::eq(*c, &codes::EXCEPTION)));
    }

    #[test]
    fn a_stated_register_or_unit_raises_the_requirement() {
        let mut t = Target::new("plc", 502);
        assert_eq!(Modbus.default_require(&t), Level::Speaks);
        t.set_options(ModbusOptions { register: Some(3), ..Default::default() });
        assert_eq!(Modbus.default_require(&t), Level::Healthy);
        // A stated unit needs a register read of that unit, and so does the check.
        t.set_options(ModbusOptions { unit: Some(7), ..Default::default() });
        assert_eq!(Modbus.default_require(&t), Level::Healthy);
        assert_eq!(Modbus.per_host_limit(), Some(1));
        assert_eq!(Modbus.per_host_group(), crate::INDUSTRIAL, "Modbus and OPC UA share one PLC's limit");
    }
}
