//! Modbus TCP servers: a device with identification and registers, one that answers every
//! request with an exception, a gateway whose target does not answer, and the broken framings
//! and misbehaving devices a real server will not produce on demand (an identification
//! ignored or answered late, a hang-up between identification rounds, answers naming another
//! unit).
//!
//! The working modes are tokio-modbus 0.17's own server (its codec frames the answers, so the
//! probe's hand-written decoder meets an encoder it did not write); the broken and misbehaving
//! ones are written by hand on the socket. Every mode reports to a [`Guard`]: each function code received, so
//! a test can fail if the probe ever sends a writing function, and how each connection ended
//! (a FIN, or a reset), so a test can check that the probe closes cleanly.
//!
//! Layouts per the MODBUS Application Protocol Specification V1.1b3 (§6.21 Read Device
//! Identification, §7 exceptions) and the Messaging on TCP/IP Implementation Guide V1.0b
//! (§3.1.3 the MBAP header).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_modbus::prelude::{
    ConformityLevel, DeviceIdObject, ExceptionCode, ReadCode, ReadDeviceIdentificationResponse, Request, Response,
    SlaveRequest,
};
use tokio_rustls::TlsAcceptor;

use crate::Server;
use crate::conn::{BoxIo, accept_each, hold, send, upgrade};

/// The function codes a client may send to read (0x01–0x04) or identify the device (0x2B);
/// anything else received is recorded as a write (or worse: diagnostics, file records).
pub const READING_FUNCTIONS: [u8; 5] = [0x01, 0x02, 0x03, 0x04, 0x2B];

/// The exception a gateway answers when the device behind it does not (§7, code 0x0B).
pub const GATEWAY_TARGET_FAILED: u8 = 0x0B;

/// How a server behaves.
#[derive(Clone, Debug)]
pub enum ModbusMode {
    /// A working device (tokio-modbus server): device identification when configured, and
    /// holding and input registers from address 0.
    Device(DeviceConfig),
    /// Answers every request with this exception code (tokio-modbus server).
    Exception(u8),
    /// A gateway whose target device does not answer: every request gets exception 0x0B
    /// (tokio-modbus server).
    GatewayTargetFailed,
    /// Answers with a well-formed exception under another transaction id than the request's.
    WrongTransaction,
    /// Answers with the request's transaction id and protocol id 0x0001 instead of 0.
    WrongProtocol,
    /// Answers with an MBAP header that claims 65535 bytes follow (and sends two), then holds
    /// the connection: a reader that trusts the length waits or allocates for nothing.
    AbsurdLength,
    /// Answers with a valid exception one byte a second: slow but correct, so the deadline,
    /// not the parser, decides.
    Trickle,
    /// Never answers Read Device Identification (the request is read and dropped, as some
    /// devices without it do instead of answering illegal function), or, with `late`, answers
    /// it after that delay, before it reads the next request (a slow device). Register reads
    /// are answered as [`DeviceConfig::default`] serves them. Hand-written.
    IgnoresIdentification {
        /// The delay before the identification's answer; `None` never answers it.
        late: Option<Duration>,
    },
    /// Answers the first identification request with one object and "more follows", then
    /// closes the connection (a FIN) when asked again: the objects already sent must not be
    /// lost. Hand-written.
    HangsUpMidIdentification,
    /// Answers as [`DeviceConfig::default`] would, but names another unit (the request's + 1)
    /// in every MBAP header: a misrouting gateway. Hand-written.
    WrongUnit,
    /// Reads one request and closes the connection (a FIN) without a byte: a device that drops
    /// clients it does not know, or a TLS-only port. Hand-written.
    HangsUp,
}

/// What a [`ModbusMode::Device`] serves.
#[derive(Clone, Debug)]
pub struct DeviceConfig {
    /// VendorName, ProductCode and MajorMinorRevision; `None` answers Read Device
    /// Identification with illegal function, as devices without it do.
    pub identity: Option<(String, String, String)>,
    /// Holding registers from address 0; an address past them is illegal data address.
    pub holding: Vec<u16>,
    /// Input registers from address 0.
    pub input: Vec<u16>,
    /// Send one identification object per answer, with "more follows" and the next object's
    /// id, as devices with small buffers do (§6.21), so the client must ask again.
    pub one_object_per_answer: bool,
    /// The exception that answers Read Device Identification when `identity` is `None`:
    /// illegal function (0x01) by default, as devices without it answer.
    pub refusal: u8,
    /// The only unit with registers: a register read for any other unit is answered with
    /// server device failure (0x04), while identification is answered for every unit, as
    /// pymodbus does. `None` serves the registers to every unit.
    pub only_unit: Option<u8>,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            identity: Some(("portproof-testbed".into(), "PP-MB1".into(), "1.0".into())),
            holding: vec![1234, 2, 3, 4],
            input: vec![4321],
            one_object_per_answer: false,
            refusal: 0x01,
            only_unit: None,
        }
    }
}

/// How a connection to a testbed server ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// The client sent a FIN: a clean close.
    Fin,
    /// The client reset the connection (or it failed otherwise).
    Reset,
}

#[derive(Debug, Default)]
struct GuardInner {
    functions: Vec<u8>,
    closes: Vec<Close>,
    opened_at: Vec<Instant>,
    open: usize,
    peak: usize,
}

/// What a server saw: every function code received and how each connection ended. Clones
/// share one record.
#[derive(Clone, Debug, Default)]
pub struct Guard(Arc<Mutex<GuardInner>>);

impl Guard {
    /// Every function code received, in order.
    pub fn functions(&self) -> Vec<u8> {
        self.0.lock().expect("guard lock").functions.clone()
    }
    /// The function codes received that are not reading ones: the probe must never send any.
    pub fn writes(&self) -> Vec<u8> {
        self.functions().into_iter().filter(|f| !READING_FUNCTIONS.contains(f)).collect()
    }
    /// How each finished connection ended, in order.
    pub fn closes(&self) -> Vec<Close> {
        self.0.lock().expect("guard lock").closes.clone()
    }
    /// When each connection was accepted, in order: a gentle client's retries are spaced.
    pub fn opened_at(&self) -> Vec<Instant> {
        self.0.lock().expect("guard lock").opened_at.clone()
    }
    /// The most connections that were open at once: 1 for a gentle client.
    pub fn peak_connections(&self) -> usize {
        self.0.lock().expect("guard lock").peak
    }
    fn opened(&self) {
        let mut g = self.0.lock().expect("guard lock");
        g.opened_at.push(Instant::now());
        g.open += 1;
        g.peak = g.peak.max(g.open);
    }
    fn dropped(&self) {
        let mut g = self.0.lock().expect("guard lock");
        g.open = g.open.saturating_sub(1);
    }
    fn function(&self, f: u8) {
        self.0.lock().expect("guard lock").functions.push(f);
    }
    fn closed(&self, c: Close) {
        self.0.lock().expect("guard lock").closes.push(c);
    }
}

/// Serves `mode` on `listener`, reporting to `guard`.
pub fn serve(listener: TcpListener, mode: ModbusMode, guard: Guard) -> Server {
    match mode {
        ModbusMode::Device(config) => tokio_modbus_server(listener, Arc::new(Answerer::Device(config)), guard, None),
        ModbusMode::Exception(code) => tokio_modbus_server(listener, Arc::new(Answerer::Exception(code)), guard, None),
        ModbusMode::GatewayTargetFailed => {
            tokio_modbus_server(listener, Arc::new(Answerer::Exception(GATEWAY_TARGET_FAILED)), guard, None)
        }
        broken => accept_each(listener, move |tcp| {
            let (broken, guard) = (broken.clone(), guard.clone());
            async move { raw_session(Watched::new(Box::new(tcp), guard.clone()), &broken, &guard).await }
        }),
    }
}

/// A device (tokio-modbus server) inside TLS with `tls`: Modbus/TCP Security's layering (the
/// Modbus Organization's MB-TCP-Security, port 802), without its certificate-based roles.
pub fn serve_tls(listener: TcpListener, config: DeviceConfig, guard: Guard, tls: Arc<rustls::ServerConfig>) -> Server {
    tokio_modbus_server(listener, Arc::new(Answerer::Device(config)), guard, Some(TlsAcceptor::from(tls)))
}

/// A connection that tells the guard how it ended: end of stream (the client's FIN, or its
/// close_notify inside TLS) or an error.
struct Watched {
    inner: BoxIo,
    guard: Guard,
    ended: bool,
}

impl Watched {
    fn new(inner: BoxIo, guard: Guard) -> Self {
        guard.opened();
        Watched { inner, guard, ended: false }
    }
    fn end(&mut self, c: Close) {
        if !self.ended {
            self.ended = true;
            self.guard.closed(c);
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.guard.dropped();
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        match &r {
            Poll::Ready(Ok(())) if buf.filled().len() == before && buf.remaining() > 0 => self.end(Close::Fin),
            Poll::Ready(Err(_)) => self.end(Close::Reset),
            _ => {}
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The tokio-modbus service behind the working modes.
#[derive(Debug)]
enum Answerer {
    Device(DeviceConfig),
    Exception(u8),
}

struct Service {
    answerer: Arc<Answerer>,
    guard: Guard,
}

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = std::future::Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: SlaveRequest<'static>) -> Self::Future {
        let function = req.request.function_code().value();
        self.guard.function(function);
        std::future::ready(self.answer(req.slave, &req.request))
    }
}

impl Service {
    fn answer(&self, unit: u8, req: &Request<'_>) -> Result<Response, ExceptionCode> {
        let config = match &*self.answerer {
            Answerer::Exception(code) => return Err(ExceptionCode::new(*code)),
            Answerer::Device(c) => c,
        };
        let registers = |table: &[u16], address: u16, count: u16| {
            if config.only_unit.is_some_and(|u| u != unit) {
                return Err(ExceptionCode::ServerDeviceFailure);
            }
            let (a, n) = (usize::from(address), usize::from(count));
            table.get(a..a + n).map(<[u16]>::to_vec).ok_or(ExceptionCode::IllegalDataAddress)
        };
        match req {
            Request::ReadHoldingRegisters(a, n) => {
                registers(&config.holding, *a, *n).map(Response::ReadHoldingRegisters)
            }
            Request::ReadInputRegisters(a, n) => registers(&config.input, *a, *n).map(Response::ReadInputRegisters),
            Request::ReadDeviceIdentification(_, first) => {
                let Some((vendor, product, revision)) = &config.identity else {
                    return Err(ExceptionCode::new(config.refusal));
                };
                let object = |id: u8, v: &str| DeviceIdObject { id, value: v.as_bytes().to_vec().into() };
                let all = [object(0, vendor), object(1, product), object(2, revision)];
                // §6.21: an object id past the basic ones is answered from the first.
                let from = if usize::from(*first) < all.len() { usize::from(*first) } else { 0 };
                let (objects, more) = if config.one_object_per_answer {
                    (all[from..=from].to_vec(), from + 1 < all.len())
                } else {
                    (all[from..].to_vec(), false)
                };
                Ok(Response::ReadDeviceIdentification(ReadDeviceIdentificationResponse {
                    read_code: ReadCode::Basic,
                    conformity_level: ConformityLevel::BasicIdentificationStreamOnly,
                    more_follows: more,
                    next_object_id: if more { (from + 1) as u8 } else { 0 },
                    device_id_objects: objects,
                }))
            }
            // Coils, discrete inputs, and every writing function: this device has none, and a
            // write is refused (after the guard recorded it).
            _ => Err(ExceptionCode::IllegalFunction),
        }
    }
}

fn tokio_modbus_server(
    listener: TcpListener,
    answerer: Arc<Answerer>,
    guard: Guard,
    tls: Option<TlsAcceptor>,
) -> Server {
    let addr = listener.local_addr().expect("bound listener");
    let task = tokio::spawn(async move {
        let server = tokio_modbus::server::tcp::Server::new(listener);
        let on_connected = move |tcp: TcpStream, _peer| {
            let service = Service { answerer: answerer.clone(), guard: guard.clone() };
            let (guard, tls) = (guard.clone(), tls.clone());
            async move {
                // Answers go out in one write each; without this each waits for a delayed ACK.
                let _ = tcp.set_nodelay(true);
                // A failed TLS handshake refuses this connection and keeps serving others.
                Ok(upgrade(tcp, tls.as_ref()).await.map(|io| (service, Watched::new(io, guard))))
            }
        };
        let _ = server.serve(&on_connected, |_| {}).await;
    });
    Server::new(addr, task)
}

/// Reads one request: its MBAP header and PDU (bounded), recording its function code.
/// `None` when the client left or sent something that is not a request.
async fn read_request(s: &mut Watched, guard: &Guard) -> Option<([u8; 7], Vec<u8>)> {
    let mut h = [0u8; 7];
    s.read_exact(&mut h).await.ok()?;
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    if !(2..=254).contains(&len) {
        return None;
    }
    let mut pdu = vec![0u8; len - 1];
    s.read_exact(&mut pdu).await.ok()?;
    guard.function(pdu[0]);
    Some((h, pdu))
}

/// An ADU with the length its `pdu` needs.
fn adu(transaction: u16, unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(7 + pdu.len());
    f.extend_from_slice(&transaction.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    // A request's PDU is at most 253 bytes: the cast cannot truncate.
    f.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
    f.push(unit);
    f.extend_from_slice(pdu);
    f
}

/// The hand-written modes' device: the answer [`DeviceConfig::default`] gives to `pdu`, with
/// one identification object per answer when `one_object` (§6.21 "more follows").
fn device_answer(pdu: &[u8], one_object: bool) -> Vec<u8> {
    let config = DeviceConfig::default();
    let function = pdu[0];
    match (function, &pdu[1..]) {
        (0x2B, [0x0E, code, first]) => {
            let (vendor, product, revision) = config.identity.expect("the default device has an identity");
            let all = [vendor, product, revision];
            let from = if usize::from(*first) < all.len() { usize::from(*first) } else { 0 };
            let upto = if one_object { from + 1 } else { all.len() };
            let more = upto < all.len();
            let mut out = vec![0x2B, 0x0E, *code, 0x01, if more { 0xFF } else { 0 }, if more { upto as u8 } else { 0 }];
            out.push((upto - from) as u8);
            for (id, value) in all.iter().enumerate().take(upto).skip(from) {
                out.extend_from_slice(&[id as u8, value.len() as u8]);
                out.extend_from_slice(value.as_bytes());
            }
            out
        }
        (0x03 | 0x04, [hi, lo, 0, 1]) => {
            let table = if function == 0x03 { &config.holding } else { &config.input };
            match table.get(usize::from(u16::from_be_bytes([*hi, *lo]))) {
                Some(v) => [&[function, 2][..], &v.to_be_bytes()].concat(),
                None => vec![function | 0x80, 0x02],
            }
        }
        _ => vec![function | 0x80, 0x01],
    }
}

/// Waits for the client's end of the connection (so the guard sees how it closed), then lets
/// the caller drop it.
async fn drain(s: &mut Watched) {
    let mut buf = [0u8; 256];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
}

async fn raw_session(mut s: Watched, mode: &ModbusMode, guard: &Guard) {
    let mut requests = 0;
    while let Some((h, pdu)) = read_request(&mut s, guard).await {
        let tid = u16::from_be_bytes([h[0], h[1]]);
        let unit = h[6];
        // Illegal function, in the exception form of the request's function.
        let exception = [pdu[0] | 0x80, 0x01];
        let frame = |tid: u16, protocol: u16, length: u16, body: &[u8]| {
            let mut f = Vec::with_capacity(7 + body.len());
            f.extend_from_slice(&tid.to_be_bytes());
            f.extend_from_slice(&protocol.to_be_bytes());
            f.extend_from_slice(&length.to_be_bytes());
            f.push(unit);
            f.extend_from_slice(body);
            f
        };
        match mode {
            ModbusMode::WrongTransaction => {
                if send(&mut s, &frame(tid.wrapping_add(0x100), 0, 3, &exception)).await.is_none() {
                    return;
                }
            }
            ModbusMode::WrongProtocol => {
                if send(&mut s, &frame(tid, 1, 3, &exception)).await.is_none() {
                    return;
                }
            }
            ModbusMode::AbsurdLength => {
                let _ = send(&mut s, &frame(tid, 0, u16::MAX, &exception)).await;
                hold(&mut s).await;
                return;
            }
            ModbusMode::Trickle => {
                for byte in frame(tid, 0, 3, &exception) {
                    if send(&mut s, &[byte]).await.is_none() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            ModbusMode::IgnoresIdentification { late } => {
                if pdu[0] == 0x2B {
                    let Some(late) = late else { continue };
                    tokio::time::sleep(*late).await;
                }
                if send(&mut s, &adu(tid, unit, &device_answer(&pdu, false))).await.is_none() {
                    return;
                }
            }
            ModbusMode::HangsUpMidIdentification => {
                requests += 1;
                if requests > 1 {
                    let _ = s.shutdown().await;
                    drain(&mut s).await;
                    return;
                }
                if send(&mut s, &adu(tid, unit, &device_answer(&pdu, true))).await.is_none() {
                    return;
                }
            }
            ModbusMode::WrongUnit => {
                if send(&mut s, &adu(tid, unit.wrapping_add(1), &device_answer(&pdu, false))).await.is_none() {
                    return;
                }
            }
            ModbusMode::HangsUp => {
                let _ = s.shutdown().await;
                drain(&mut s).await;
                return;
            }
            ModbusMode::Device(_) | ModbusMode::Exception(_) | ModbusMode::GatewayTargetFailed => {
                unreachable!("served by tokio-modbus")
            }
        }
    }
    // The client left (or sent garbage): let the read side see its end, then close.
    let mut buf = [0u8; 256];
    let _ = tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ask(port: u16, adu: &[u8]) -> Vec<u8> {
        let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        c.write_all(adu).await.unwrap();
        let mut buf = vec![0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(2), c.read(&mut buf)).await.unwrap().unwrap();
        buf.truncate(n);
        c.shutdown().await.unwrap();
        buf
    }

    #[tokio::test]
    async fn the_device_identifies_itself_and_reads_registers() {
        let guard = Guard::default();
        let s = serve(crate::bind_any().await.unwrap(), ModbusMode::Device(DeviceConfig::default()), guard.clone());
        // Read Device Identification, basic, from object 0, unit 1.
        let a = ask(s.port(), &[0, 9, 0, 0, 0, 5, 1, 0x2B, 0x0E, 1, 0]).await;
        assert_eq!(&a[..2], [0, 9], "transaction echoed");
        assert_eq!(&a[7..9], [0x2B, 0x0E]);
        assert!(a.windows(17).any(|w| w == b"portproof-testbed"), "{a:02x?}");
        // Holding register 0 holds 1234 (0x04D2).
        let a = ask(s.port(), &[0, 10, 0, 0, 0, 6, 1, 0x03, 0, 0, 0, 1]).await;
        assert_eq!(&a[7..], [0x03, 2, 0x04, 0xD2]);
        // A write is refused and recorded.
        let a = ask(s.port(), &[0, 11, 0, 0, 0, 6, 1, 0x06, 0, 0, 0, 7]).await;
        assert_eq!(&a[7..], [0x86, 0x01]);
        assert_eq!(guard.functions(), [0x2B, 0x03, 0x06]);
        assert_eq!(guard.writes(), [0x06]);
    }

    #[tokio::test]
    async fn the_gateway_answers_target_failed() {
        let guard = Guard::default();
        let s = serve(crate::bind_any().await.unwrap(), ModbusMode::GatewayTargetFailed, guard.clone());
        let a = ask(s.port(), &[0, 1, 0, 0, 0, 6, 7, 0x04, 0, 0, 0, 1]).await;
        assert_eq!(a, [0, 1, 0, 0, 0, 3, 7, 0x84, 0x0B]);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(guard.closes(), [Close::Fin]);
    }

    #[tokio::test]
    async fn hand_written_devices_answer_as_described() {
        let id = [0x12, 0x34, 0, 0, 0, 5, 1, 0x2B, 0x0E, 1, 0];
        let holding = [0, 2, 0, 0, 0, 6, 1, 0x03, 0, 0, 0, 1];
        let s = serve(crate::bind_any().await.unwrap(), ModbusMode::WrongUnit, Guard::default());
        assert_eq!(ask(s.port(), &holding).await, [0, 2, 0, 0, 0, 5, 2, 0x03, 2, 0x04, 0xD2]);
        let s = serve(crate::bind_any().await.unwrap(), ModbusMode::HangsUpMidIdentification, Guard::default());
        let a = ask(s.port(), &id).await;
        // Basic, conformity 0x01, more follows, next object 1, one object: 0, "portproof-testbed".
        assert_eq!(&a[7..15], [0x2B, 0x0E, 1, 1, 0xFF, 1, 1, 0]);
        let guard = Guard::default();
        let s =
            serve(crate::bind_any().await.unwrap(), ModbusMode::IgnoresIdentification { late: None }, guard.clone());
        let mut c = TcpStream::connect(("127.0.0.1", s.port())).await.unwrap();
        c.write_all(&id).await.unwrap();
        c.write_all(&holding).await.unwrap();
        let mut a = [0u8; 11];
        c.read_exact(&mut a).await.unwrap();
        assert_eq!(a, [0, 2, 0, 0, 0, 5, 1, 0x03, 2, 0x04, 0xD2], "the identification is never answered");
        assert_eq!(guard.functions(), [0x2B, 0x03]);
    }

    #[tokio::test]
    async fn broken_framings_are_what_they_say() {
        let adu = [0x12, 0x34, 0, 0, 0, 5, 1, 0x2B, 0x0E, 1, 0];
        let s = serve(crate::bind_any().await.unwrap(), ModbusMode::WrongTransaction, Guard::default());
        assert_eq!(ask(s.port(), &adu).await, [0x13, 0x34, 0, 0, 0, 3, 1, 0xAB, 0x01]);
        let s = serve(crate::bind_any().await.unwrap(), ModbusMode::WrongProtocol, Guard::default());
        assert_eq!(ask(s.port(), &adu).await, [0x12, 0x34, 0, 1, 0, 3, 1, 0xAB, 0x01]);
        let s = serve(crate::bind_any().await.unwrap(), ModbusMode::AbsurdLength, Guard::default());
        assert_eq!(ask(s.port(), &adu).await, [0x12, 0x34, 0, 0, 0xFF, 0xFF, 1, 0xAB, 0x01]);
    }
}
