//! Dialing with per-phase timing, and connections that record and bound what the peer sends.
//!
//! Every probe dials through here so that `dns.failed`, `tcp.refused`, `tcp.unreachable`,
//! `tcp.reset` and `tcp.timeout` mean the same thing for every protocol, and so that no peer can
//! make a probe buffer more than [`crate::Limits::max_read`] bytes.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::codes::core;
use crate::target::{TlsOptions, authority};
use crate::{Failure, Level, Over, Phase, ProbeCx, Target};

/// Any byte stream a probe can speak over: TCP, TLS over TCP, or a test double.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A boxed [`Io`], so a probe can run the same code over plain TCP and over TLS.
pub type BoxIo = Box<dyn Io>;

/// How many of the peer's first bytes a connection keeps, for the sniffer to name them.
pub const HEAD_LEN: usize = 2048;

/// The error a [`Conn`] returns once the peer has sent more than its read limit.
#[derive(Debug)]
pub struct ReadLimitExceeded(pub u64);

impl std::fmt::Display for ReadLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the peer sent more than {} bytes, the most a probe reads from one connection", self.0)
    }
}

impl std::error::Error for ReadLimitExceeded {}

#[derive(Debug, Default)]
struct TapeInner {
    head: Vec<u8>,
    read: u64,
}

/// A shared view of what the peer sent on a [`Conn`]: its first bytes and how many in all.
/// Cloned handles stay valid after the connection was handed to a protocol library.
#[derive(Clone, Debug, Default)]
pub struct Tape(Arc<Mutex<TapeInner>>);

impl Tape {
    /// The first bytes the peer sent (at most [`HEAD_LEN`]).
    pub fn head(&self) -> Vec<u8> {
        self.0.lock().expect("tape lock").head.clone()
    }
    /// How many bytes the peer sent.
    pub fn bytes_read(&self) -> u64 {
        self.0.lock().expect("tape lock").read
    }
}

/// A stream that records the peer's first bytes and refuses to read past a limit.
#[derive(Debug)]
pub struct Conn<S = TcpStream> {
    inner: S,
    tape: Tape,
    limit: u64,
    peer: Option<SocketAddr>,
}

impl<S> Conn<S> {
    /// Wraps a stream; reads past `limit` bytes fail with [`ReadLimitExceeded`].
    pub fn new(inner: S, limit: u64) -> Self {
        Conn { inner, tape: Tape::default(), limit, peer: None }
    }
    /// A handle on what crossed this connection.
    pub fn tape(&self) -> Tape {
        self.tape.clone()
    }
    /// The address dialed, for plain TCP connections.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }
    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// The wrapped stream, to change its mode (TDS drops its PRELOGIN framing after the TLS
    /// handshake).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Conn<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let already = this.tape.0.lock().expect("tape lock").read;
        if already >= this.limit {
            // At the limit: a clean end of stream is still fine; one more byte is not.
            let mut one = [0u8; 1];
            let mut probe = ReadBuf::new(&mut one);
            return match Pin::new(&mut this.inner).poll_read(cx, &mut probe) {
                Poll::Ready(Ok(())) if probe.filled().is_empty() => Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => Poll::Ready(Err(io::Error::other(ReadLimitExceeded(this.limit)))),
                other => other,
            };
        }
        let room = usize::try_from(this.limit - already).unwrap_or(usize::MAX);
        let before = buf.filled().len();
        if room >= buf.remaining() {
            if let Poll::Ready(r) = Pin::new(&mut this.inner).poll_read(cx, buf) {
                r?;
            } else {
                return Poll::Pending;
            }
        } else {
            // Close to the limit: read no more than the room left, through a small buffer.
            let mut tmp = vec![0u8; room];
            let mut small = ReadBuf::new(&mut tmp);
            match Pin::new(&mut this.inner).poll_read(cx, &mut small) {
                Poll::Ready(Ok(())) => buf.put_slice(small.filled()),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let got = &buf.filled()[before..];
        let mut t = this.tape.0.lock().expect("tape lock");
        if t.head.len() < HEAD_LEN {
            let take = (HEAD_LEN - t.head.len()).min(got.len());
            t.head.extend_from_slice(&got[..take]);
        }
        t.read += got.len() as u64;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Conn<S> {
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

/// Resolves `host` (phase `resolve`), recording the addresses in the facts.
pub async fn resolve(cx: &mut ProbeCx, host: &str, port: u16) -> Result<Vec<SocketAddr>, Failure> {
    cx.phase(Phase::Resolve);
    let named = host.parse::<IpAddr>().is_err();
    let addrs = lookup(host, port).await?;
    if named {
        cx.fact("addresses", addrs.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>());
    }
    Ok(addrs)
}

/// Resolves `host` without a probe context, for side questions that run beside the probe (the
/// SQL Server Browser): `dns.failed` when it has no address.
pub async fn lookup(host: &str, port: u16) -> Result<Vec<SocketAddr>, Failure> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(a) => a.collect(),
        Err(e) => {
            return Err(Failure::new(&core::DNS_FAILED, Phase::Resolve, format!("could not resolve {host:?}: {e}")));
        }
    };
    if addrs.is_empty() {
        return Err(Failure::new(&core::DNS_FAILED, Phase::Resolve, format!("{host:?} resolved to no address"))
            .hint("the name exists but has no A or AAAA record"));
    }
    Ok(addrs)
}

/// Which datagrams count as the peer's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyFrom {
    /// Only from the address and port asked, as most UDP services answer. The socket is
    /// connected, so the kernel drops everything else and reports an ICMP port unreachable.
    Target,
    /// From the target's address, any port: WS-Discovery answers from an ephemeral port.
    AnyPort,
}

/// One datagram the peer sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Its payload.
    pub bytes: Vec<u8>,
    /// Where it came from (the target's address; with [`ReplyFrom::AnyPort`], perhaps another port).
    pub from: SocketAddr,
}

/// The largest UDP payload: a receive buffer this size never truncates a datagram.
pub const MAX_DATAGRAM: usize = 65_535;

/// A UDP socket aimed at one peer, with the same guarantees as [`Conn`]: the peer cannot make
/// a probe read more than its limit, an ICMP port unreachable is `udp.refused`, and datagrams
/// from anyone but the peer are dropped (counted in [`Datagrams::strays`]).
#[derive(Debug)]
pub struct Datagrams {
    socket: tokio::net::UdpSocket,
    peer: SocketAddr,
    from: ReplyFrom,
    limit: u64,
    read: u64,
    strays: u64,
    buf: Vec<u8>,
}

/// Resolves `host` and opens a UDP socket to it (phase `resolve`; the first address is used,
/// since UDP cannot tell a live address from a dead one until it answers). The level stays
/// `unreachable`: UDP has no `open`, only an answer, which makes the probe's first level.
pub async fn dial_udp(cx: &mut ProbeCx, host: &str, port: u16, from: ReplyFrom) -> Result<Datagrams, Failure> {
    let addrs = resolve(cx, host, port).await?;
    let d = Datagrams::open(addrs[0], from, cx.limits.max_read).await?;
    cx.fact("peer", d.peer.to_string());
    Ok(d)
}

impl Datagrams {
    /// Opens a socket aimed at `peer`, reading at most `limit` bytes in all.
    pub async fn open(peer: SocketAddr, from: ReplyFrom, limit: u64) -> Result<Self, Failure> {
        let local: SocketAddr = if peer.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = tokio::net::UdpSocket::bind(local).await.map_err(|e| udp_failure(&e, peer, Phase::Connect))?;
        match from {
            ReplyFrom::Target => socket.connect(peer).await.map_err(|e| udp_failure(&e, peer, Phase::Connect))?,
            ReplyFrom::AnyPort => receive_errors(&socket, peer.is_ipv4()),
        }
        Ok(Datagrams { socket, peer, from, limit, read: 0, strays: 0, buf: Vec::new() })
    }

    /// The address the datagrams go to.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// How many payload bytes the peer sent so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// How many datagrams came from someone other than the peer, and were dropped.
    pub fn strays(&self) -> u64 {
        self.strays
    }

    /// Sends one datagram (phase `request`).
    pub async fn send(&mut self, cx: &mut ProbeCx, data: &[u8]) -> Result<(), Failure> {
        cx.phase(Phase::Request);
        self.send_raw(data).await
    }

    /// Sends one datagram, without a probe context.
    pub async fn send_raw(&mut self, data: &[u8]) -> Result<(), Failure> {
        let sent = match self.from {
            ReplyFrom::Target => self.socket.send(data).await,
            ReplyFrom::AnyPort => self.socket.send_to(data, self.peer).await,
        };
        sent.map(|_| ()).map_err(|e| udp_failure(&e, self.peer, Phase::Request))
    }

    /// Waits for the peer's next datagram until the deadline; silence is the probe's own `silence`
    /// code ("`ntp.no_response`"), whoever notices it first: this wait or the runner's cut-off.
    pub async fn recv(
        &mut self,
        cx: &mut ProbeCx,
        silence: &'static crate::codes::Code,
        waiting_for: &str,
    ) -> Result<Datagram, Failure> {
        cx.await_answer(silence, waiting_for);
        let started = std::time::Instant::now();
        let got = match cx.remaining() {
            Some(left) => self.recv_within(left).await,
            None => self.next().await.map(Some),
        };
        let result = match got {
            Ok(Some(d)) => {
                // A datagram from the target is UDP's only sign of an open port, whatever it
                // says: a port that must be closed and answers this is not closed.
                cx.reach(crate::Level::Open);
                Ok(d)
            }
            Ok(None) => Err(cx.silence_failure(started.elapsed()).expect("awaiting an answer")),
            Err(e) => Err(e),
        };
        cx.answered();
        result
    }

    /// The peer's next datagram within `wait`, or `None` when it stays silent that long.
    pub async fn recv_within(&mut self, wait: std::time::Duration) -> Result<Option<Datagram>, Failure> {
        match tokio::time::timeout(wait, self.next()).await {
            Ok(r) => r.map(Some),
            Err(_) => Ok(None),
        }
    }

    async fn next(&mut self) -> Result<Datagram, Failure> {
        if self.buf.len() < MAX_DATAGRAM {
            self.buf = vec![0u8; MAX_DATAGRAM];
        }
        loop {
            let (n, from) =
                self.socket.recv_from(&mut self.buf).await.map_err(|e| udp_failure(&e, self.peer, Phase::Request))?;
            let ours = match self.from {
                ReplyFrom::Target => from == self.peer,
                ReplyFrom::AnyPort => from.ip() == self.peer.ip(),
            };
            if !ours {
                self.strays += 1;
                continue;
            }
            self.read += n as u64;
            if self.read > self.limit {
                return Err(core::OVERSIZED.failure_in(
                    Phase::Request,
                    format!("the peer sent more than {} bytes of datagrams, the most a probe reads", self.limit),
                ));
            }
            return Ok(Datagram { bytes: self.buf[..n].to_vec(), from });
        }
    }
}

/// The failure for an error of a UDP socket: an ICMP port unreachable reported on it is
/// `udp.refused`, an ICMP host or network unreachable `udp.unreachable`.
fn udp_failure(e: &io::Error, peer: SocketAddr, phase: Phase) -> Failure {
    let unreachable = matches!(e.raw_os_error(), Some(101 | 112 | 113))
        || matches!(e.kind(), io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable);
    let msg = format!("UDP {peer}: {}", plain_io(e));
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Failure::new(&core::UDP_REFUSED, phase, msg),
        _ if unreachable => Failure::new(&core::UDP_UNREACHABLE, phase, msg),
        _ => Failure::new(&core::UDP_ERROR, phase, msg),
    }
}

/// Asks the kernel to report ICMP errors on an unconnected socket too (Linux `IP_RECVERR`), so
/// a port that nothing listens on is `udp.refused` at once rather than silence until the deadline.
#[cfg(target_os = "linux")]
fn receive_errors(socket: &tokio::net::UdpSocket, v4: bool) {
    use std::os::fd::AsRawFd;
    let (level, name) =
        if v4 { (libc::IPPROTO_IP, libc::IP_RECVERR) } else { (libc::IPPROTO_IPV6, libc::IPV6_RECVERR) };
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor, and a c_int option value whose size is passed with it.
    let _ = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

/// Elsewhere an unconnected socket learns of no ICMP error: silence until the deadline.
#[cfg(not(target_os = "linux"))]
fn receive_errors(_socket: &tokio::net::UdpSocket, _v4: bool) {}

/// Resolves and connects (phases `resolve`, `connect`), trying each address in turn.
/// On success the level is `open` and the address connected to is in the facts as `peer`.
pub async fn dial(cx: &mut ProbeCx, host: &str, port: u16) -> Result<Conn, Failure> {
    let addrs = resolve(cx, host, port).await?;
    cx.phase(Phase::Connect);
    let mut last = None;
    for (i, addr) in addrs.iter().enumerate() {
        // With several addresses, each gets a fair share of the time left, so one that drops
        // packets cannot spend the whole deadline while the next would answer.
        let left = addrs.len() - i;
        let attempt = TcpStream::connect(addr);
        let result = match cx.remaining().filter(|_| left > 1) {
            Some(r) => match tokio::time::timeout(r / left as u32, attempt).await {
                Ok(res) => res,
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no answer within its share of the deadline")),
            },
            None => attempt.await,
        };
        match result {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                cx.reach(Level::Open);
                cx.fact("peer", addr.to_string());
                let mut c = Conn::new(s, cx.limits.max_read);
                c.peer = Some(*addr);
                return Ok(c);
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    let (addr, e) = last.expect("resolve returns at least one address");
    let mut f = connect_failure(&e, &authority(host, port), *addr);
    if addrs.len() > 1 {
        f.message.push_str(&format!(" (tried all {} addresses, this was the last)", addrs.len()));
    }
    Err(f)
}

/// The TLS layer a connection opens with: the name the certificate must carry, the check's TLS
/// settings, and the ALPN protocols offered.
#[derive(Clone, Copy, Debug)]
pub struct TlsLayer<'a> {
    /// The name verified against the certificate (and sent as SNI).
    pub name: &'a str,
    /// The check's TLS settings.
    pub tls: &'a TlsOptions,
    /// The ALPN protocols offered, most preferred first; empty for none.
    pub alpn: &'a [&'a [u8]],
}

/// A connection ready for a protocol's first message, whatever it runs over.
pub struct Opened {
    /// The byte stream: plain TCP, or TLS over it; reads bounded by the probe's limit.
    pub conn: Conn<BoxIo>,
    /// What the peer sent on `conn`, for the sniffer.
    pub tape: Tape,
    /// The address connected to.
    pub peer: Option<SocketAddr>,
}

/// Opens the check's connection (phases `resolve`, `connect`, and `tls` when the check goes
/// over TLS): the one opening every stream probe shares, so that a TLS port behaves the same
/// for every protocol on it.
pub async fn open(cx: &mut ProbeCx, t: &Target, alpn: &[&[u8]]) -> Result<Opened, Failure> {
    let layer = (t.over == Over::Tls).then_some(TlsLayer { name: &t.host, tls: &t.tls, alpn });
    open_to(cx, &t.host, t.port, layer).await
}

/// Like [`open`], to another address than the target's (a redirect, a listener's referral,
/// an address already resolved): the TLS layer, if any, names what the certificate must say.
pub async fn open_to(cx: &mut ProbeCx, host: &str, port: u16, layer: Option<TlsLayer<'_>>) -> Result<Opened, Failure> {
    let tcp = dial(cx, host, port).await?;
    let peer = tcp.peer();
    let io: BoxIo = match layer {
        Some(l) => Box::new(crate::tls::handshake(cx, tcp, l.name, l.tls, l.alpn).await?),
        None => Box::new(tcp),
    };
    let conn = Conn::new(io, cx.limits.max_read);
    let tape = conn.tape();
    Ok(Opened { conn, tape, peer })
}

/// The failure for an error of `connect(2)`, one code per cause.
pub fn connect_failure(e: &io::Error, target: &str, addr: SocketAddr) -> Failure {
    let via = if target.starts_with(&addr.ip().to_string()) || target.contains(&format!("[{}]", addr.ip())) {
        String::new()
    } else {
        format!(" (at {addr})")
    };
    // Linux errno values: ENETUNREACH 101, EHOSTUNREACH 113, EHOSTDOWN 112.
    let unreachable = matches!(e.raw_os_error(), Some(101 | 112 | 113))
        || matches!(e.kind(), io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable);
    let msg = format!("connect to {target}{via}: {}", plain_io(e));
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Failure::new(&core::TCP_REFUSED, Phase::Connect, msg),
        _ if unreachable => Failure::new(&core::TCP_UNREACHABLE, Phase::Connect, msg),
        // A reset before the connection stands is a refusal, not a service dropping it.
        io::ErrorKind::ConnectionReset => Failure::new(&core::TCP_RESET, Phase::Connect, msg).hint(
            "the connection was reset while connecting: a firewall or the service's own access rules rejected it",
        ),
        io::ErrorKind::TimedOut => core::TIMEOUT
            .failure_in(Phase::Connect, msg)
            .hint("no answer to the connection attempt: a firewall is probably dropping packets"),
        io::ErrorKind::PermissionDenied => Failure::new(&core::TCP_DENIED, Phase::Connect, msg),
        _ => Failure::new(&core::TCP_ERROR, Phase::Connect, msg),
    }
}

/// An I/O error as a person reads it: "Connection refused", without "(os error 111)".
fn plain_io(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// What a read error means for a probe: a reset, a hostile peer over the limit, or a plain error.
pub fn read_failure(e: &io::Error, phase: Phase, what: &str) -> Failure {
    if let Some(lim) = e.get_ref().and_then(|i| i.downcast_ref::<ReadLimitExceeded>()) {
        return core::OVERSIZED.failure_in(phase, format!("{what}: {lim}"));
    }
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted => {
            Failure::new(&core::TCP_RESET, phase, format!("{what}: the peer reset the connection ({e})"))
        }
        io::ErrorKind::UnexpectedEof => {
            core::CLOSED.failure_in(phase, format!("{what}: the peer closed the connection"))
        }
        _ => core::ERROR.failure_in(phase, format!("{what}: {e}")),
    }
}

/// Reads up to `buf.len()` bytes of a peer's first answer and says how many came before it
/// closed. A reset before any byte counts as a close (0), which the probe then questions (a TLS
/// port? a refusal?); an error after some bytes is a read failure in `phase`.
pub async fn read_head<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut [u8],
    phase: Phase,
    what: &str,
) -> Result<usize, Failure> {
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]).await {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if got == 0 && is_reset(&e) => break,
            Err(e) => return Err(read_failure(&e, phase, what)),
        }
    }
    Ok(got)
}

/// Whether a read error is the peer resetting the connection. Before any answer this is the
/// service hanging up on what we said (a protocol it does not speak), not a network fault.
pub fn is_reset(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted)
}

/// Reads what the peer sends until `max` bytes, end of stream, or `idle` without a byte.
/// For sniffing greetings: never waits longer than `idle` after the last byte.
pub async fn read_available<S: AsyncRead + Unpin>(s: &mut S, max: usize, idle: std::time::Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while out.len() < max {
        let room = (max - out.len()).min(buf.len());
        match tokio::time::timeout(idle, s.read(&mut buf[..room])).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn any_datagram_from_the_target_makes_the_port_open() {
        // A UDP port that answers junk is open, whatever the probe then makes of the answer:
        // a check that the port is closed must not read it as silence.
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let peer = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            if let Ok((_, from)) = server.recv_from(&mut buf).await {
                let _ = server.send_to(b"junk", from).await;
            }
        });
        let mut cx = ProbeCx::new(Some(std::time::Instant::now() + std::time::Duration::from_secs(5)));
        let mut d = Datagrams::open(peer, ReplyFrom::Target, 1 << 16).await.unwrap();
        d.send(&mut cx, b"hello").await.unwrap();
        assert_eq!(cx.level(), Level::Unreachable, "nothing heard yet");
        let got = d.recv(&mut cx, &crate::codes::core::UDP_ERROR, "an answer").await.unwrap();
        assert_eq!(got.bytes, b"junk");
        assert_eq!(cx.level(), Level::Open);
    }

    #[tokio::test]
    async fn refused_port_is_tcp_refused() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let mut cx = ProbeCx::default();
        let f = dial(&mut cx, "127.0.0.1", port).await.unwrap_err();
        assert_eq!(f.code, "tcp.refused");
        assert_eq!(f.phase, Phase::Connect);
        assert!(f.hint.is_some());
        assert!(f.message.ends_with("Connection refused"), "{}", f.message);
        assert_eq!(cx.level(), Level::Unreachable);
    }

    #[test]
    fn each_connect_error_has_its_own_code() {
        let addr: SocketAddr = "192.0.2.1:502".parse().unwrap();
        let cases = [
            (io::Error::from(io::ErrorKind::ConnectionRefused), "tcp.refused"),
            (io::Error::from_raw_os_error(113), "tcp.unreachable"), // EHOSTUNREACH
            (io::Error::from_raw_os_error(101), "tcp.unreachable"), // ENETUNREACH
            (io::Error::from(io::ErrorKind::ConnectionReset), "tcp.reset"),
            (io::Error::from(io::ErrorKind::TimedOut), "tcp.timeout"),
            (io::Error::other("strange"), "tcp.error"),
        ];
        for (e, code) in cases {
            let f = connect_failure(&e, "plc.example:502", addr);
            assert_eq!(f.code, code, "{e}");
            assert_eq!(f.phase, Phase::Connect);
            assert!(f.message.contains("(at 192.0.2.1:502)"), "names the address behind the name: {}", f.message);
            assert!(!f.message.contains("os error"), "{}", f.message);
            assert!(f.hint.is_some());
        }
        let f = connect_failure(&io::Error::from(io::ErrorKind::ConnectionRefused), "192.0.2.1:502", addr);
        assert!(!f.message.contains("(at "), "no repetition when the target is the address: {}", f.message);
    }

    #[tokio::test]
    async fn ipv6_loopback_dials_when_the_host_has_it() {
        let Ok(l) = TcpListener::bind("[::1]:0").await else {
            eprintln!("SKIPPED: this host has no IPv6 loopback");
            return;
        };
        let port = l.local_addr().unwrap().port();
        let mut cx = ProbeCx::default();
        let c = dial(&mut cx, "::1", port).await.unwrap();
        assert_eq!(c.peer().unwrap().ip().to_string(), "::1");
        assert_eq!(cx.facts()["peer"], format!("[::1]:{port}"));
    }

    #[tokio::test]
    async fn unknown_name_is_dns_failed() {
        let mut cx = ProbeCx::default();
        let f = dial(&mut cx, "no-such-host.invalid", 80).await.unwrap_err();
        assert_eq!(f.code, "dns.failed");
        assert_eq!(f.phase, Phase::Resolve);
    }

    #[tokio::test]
    async fn conn_records_head_and_stops_at_the_limit() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let chunk = vec![b'x'; 4096];
            // Endless: the reader must stop on its own.
            while s.write_all(&chunk).await.is_ok() {}
        });
        let mut cx = ProbeCx::default();
        cx.limits.max_read = 10_000;
        let mut c = dial(&mut cx, "127.0.0.1", addr.port()).await.unwrap();
        assert_eq!(cx.level(), Level::Open);
        let mut sink = Vec::new();
        let e = c.read_to_end(&mut sink).await.unwrap_err();
        assert!(e.get_ref().unwrap().is::<ReadLimitExceeded>());
        assert_eq!(sink.len(), 10_000);
        assert_eq!(c.tape().bytes_read(), 10_000);
        assert_eq!(c.tape().head().len(), HEAD_LEN);
        let f = read_failure(&e, Phase::Transfer, "reading");
        assert_eq!(f.code, "transfer.oversized");
    }

    #[tokio::test]
    async fn exactly_the_limit_then_eof_is_a_clean_end() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            s.write_all(&[7u8; 1000]).await.unwrap();
        });
        let mut cx = ProbeCx::default();
        cx.limits.max_read = 1000;
        let mut c = dial(&mut cx, "127.0.0.1", addr.port()).await.unwrap();
        let mut all = Vec::new();
        c.read_to_end(&mut all).await.expect("end of stream at the limit is not an error");
        assert_eq!(all.len(), 1000);
    }

    #[tokio::test]
    async fn read_available_returns_after_idle() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").await.unwrap();
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        });
        let mut s = TcpStream::connect(addr).await.unwrap();
        let got = read_available(&mut s, 4096, std::time::Duration::from_millis(100)).await;
        assert_eq!(got, b"SSH-2.0-OpenSSH_9.6\r\n");
    }

    async fn udp_port_nobody_holds() -> u16 {
        let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn udp_refused_whoever_may_answer() {
        for from in [ReplyFrom::Target, ReplyFrom::AnyPort] {
            let port = udp_port_nobody_holds().await;
            let mut cx = ProbeCx::new(Some(std::time::Instant::now() + std::time::Duration::from_secs(5)));
            let mut d = dial_udp(&mut cx, "127.0.0.1", port, from).await.unwrap();
            d.send(&mut cx, b"hello?").await.unwrap();
            let f = d.recv(&mut cx, &core::UDP_ERROR, "an answer").await.unwrap_err();
            assert_eq!(f.code, "udp.refused", "{from:?}: {}", f.message);
            assert_eq!(cx.level(), Level::Unreachable);
        }
    }

    #[tokio::test]
    async fn udp_reply_from_another_port_counts_only_when_allowed() {
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let other = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = server.local_addr().unwrap().port();
        let other_port = other.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok((n, from)) = server.recv_from(&mut buf).await {
                let _ = other.send_to(&buf[..n], from).await;
            }
        });
        let wait = std::time::Duration::from_millis(300);
        let mut cx = ProbeCx::default();
        let mut d = dial_udp(&mut cx, "127.0.0.1", port, ReplyFrom::AnyPort).await.unwrap();
        d.send(&mut cx, b"ping").await.unwrap();
        let got = d.recv_within(wait).await.unwrap().expect("the answer from the other port");
        assert_eq!(got.bytes, b"ping");
        assert_eq!(got.from.port(), other_port);

        let mut d = dial_udp(&mut cx, "127.0.0.1", port, ReplyFrom::Target).await.unwrap();
        d.send(&mut cx, b"ping").await.unwrap();
        assert_eq!(d.recv_within(wait).await.unwrap(), None, "a connected socket hears only the target");
    }

    #[tokio::test]
    async fn udp_silence_is_the_probes_own_code_and_strangers_are_dropped() {
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = server.local_addr().unwrap().port();
        let stranger = tokio::net::UdpSocket::bind("127.0.0.2:0").await;
        let mut cx = ProbeCx::new(Some(std::time::Instant::now() + std::time::Duration::from_millis(300)));
        let mut d = dial_udp(&mut cx, "127.0.0.1", port, ReplyFrom::AnyPort).await.unwrap();
        d.send(&mut cx, b"anyone?").await.unwrap();
        let (_, me) = {
            let mut buf = [0u8; 16];
            server.recv_from(&mut buf).await.unwrap()
        };
        if let Ok(stranger) = stranger {
            stranger.send_to(b"not the peer", me).await.unwrap();
        }
        let f = d.recv(&mut cx, &core::UDP_ERROR, "an answer").await.unwrap_err();
        assert_eq!(f.code, "udp.error", "the probe's silence code, not a phase timeout");
        assert!(f.message.contains("waited for an answer"), "{}", f.message);
        // And the runner's cut-off says the same while the wait holds.
        cx.await_answer(&core::UDP_ERROR, "an answer");
        let o = cx.timed_out(std::time::Duration::from_millis(300));
        assert_eq!(o.failure.unwrap().code, "udp.error");
    }

    #[tokio::test]
    async fn udp_reads_stop_at_the_limit() {
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = server.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut buf = [0u8; 16];
            let (_, from) = server.recv_from(&mut buf).await.unwrap();
            for _ in 0..8 {
                let _ = server.send_to(&[9u8; 1000], from).await;
            }
        });
        let mut cx = ProbeCx::default();
        cx.limits.max_read = 2500;
        let mut d = dial_udp(&mut cx, "127.0.0.1", port, ReplyFrom::Target).await.unwrap();
        d.send(&mut cx, b"go").await.unwrap();
        let wait = std::time::Duration::from_secs(2);
        assert_eq!(d.recv_within(wait).await.unwrap().unwrap().bytes.len(), 1000);
        assert!(d.recv_within(wait).await.unwrap().is_some());
        let f = d.recv_within(wait).await.unwrap_err();
        assert_eq!(f.code, "request.oversized");
    }

    #[test]
    fn every_code_the_net_tests_know_is_in_a_table() {
        for c in [
            "tcp.refused",
            "tcp.unreachable",
            "tcp.reset",
            "tcp.timeout",
            "tcp.error",
            "dns.failed",
            "transfer.oversized",
            "udp.refused",
            "udp.unreachable",
            "udp.error",
        ] {
            assert!(crate::codes::lookup(c).is_some(), "{c}");
        }
    }
}
