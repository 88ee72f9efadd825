//! Peers that misbehave: every probe must still reach a verdict within its deadline, with
//! bounded memory and no panic.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::Server;

fn accept_loop<F, Fut>(listener: TcpListener, each: F) -> Server
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    crate::conn::accept_each(listener, each)
}

/// Accepts, reads what comes, and never says a word.
pub fn silent(listener: TcpListener) -> Server {
    accept_loop(listener, |mut s| async move {
        let mut buf = [0u8; 1024];
        while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
    })
}

/// Reads what the client sends first (a ClientHello, a request), then resets the connection
/// (RST, not FIN): what a firewall or an overloaded server does.
pub fn reset_after_hello(listener: TcpListener) -> Server {
    accept_loop(listener, |mut s| async move {
        let mut buf = [0u8; 2048];
        let _ = s.read(&mut buf).await;
        let _ = s.set_zero_linger();
        drop(s);
    })
}

/// Hangs up without a word: reads what the client sends first (briefly), then closes with a
/// clean FIN. Reading first matters: closing on unread data would make the kernel answer with
/// a reset instead, which is [`reset_after_hello`]'s case.
pub fn slam(listener: TcpListener) -> Server {
    accept_loop(listener, |mut s| async move {
        let mut buf = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await;
        drop(s);
    })
}

/// Answers anything with an endless stream of bytes that match no protocol.
pub fn endless_garbage(listener: TcpListener) -> Server {
    accept_loop(listener, |mut s| async move {
        let chunk: Vec<u8> = (0..8192u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 0x80).collect();
        while s.write_all(&chunk).await.is_ok() {}
    })
}

/// Answers with `message` one byte a second, over and over: the slowest peer that still looks
/// alive, speaking a plausible start of its protocol so the probe has no reason to give up
/// early. Like a real server it first waits (briefly) for the client's request.
pub fn trickle(listener: TcpListener, message: &'static [u8]) -> Server {
    accept_loop(listener, move |mut s| async move {
        let mut request = [0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_millis(500), s.read(&mut request)).await;
        for byte in message.iter().cycle() {
            if s.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// A TLS server that completes handshakes (with `config`) and then holds the connection.
/// It answers plain-text bytes the way rustls does: with an alert, then a close.
pub fn tls_server(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> Server {
    let acceptor = TlsAcceptor::from(config);
    accept_loop(listener, move |s| {
        let acceptor = acceptor.clone();
        async move {
            if let Ok(mut tls) = acceptor.accept(s).await {
                let mut buf = [0u8; 1024];
                while matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {}
            }
        }
    })
}

/// Greets every connection with `greeting` (a banner, like SSH's) and then holds it: a server
/// of a protocol that talks first.
pub fn greeter(listener: TcpListener, greeting: &'static [u8]) -> Server {
    accept_loop(listener, move |mut s| async move {
        if s.write_all(greeting).await.is_ok() {
            let mut buf = [0u8; 1024];
            while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
        }
    })
}

/// Accepts and holds connections until the client closes: a stand-in for a protocol whose
/// testbed server does not exist yet, proving only that the port is open.
pub fn holder(listener: TcpListener) -> Server {
    silent(listener)
}

/// A loopback port with nothing listening on it (bound, then released).
pub async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr").port()
}

/// What a hostile peer does once a connection is up: over TCP at once, over TLS once the
/// handshake is done, so that the hostility meets the probe's protocol code rather than the
/// TLS engine. The conformance test runs every registered probe against each of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hostility {
    /// Reads what comes and never sends a byte: a probe must give up at its deadline.
    Silent,
    /// Waits briefly for the client's request, then sends `message` (over and over) one byte
    /// every `every`: alive enough that a probe resetting its clock per byte would never end.
    Trickle {
        /// What is trickled, cycled forever.
        message: Vec<u8>,
        /// The pause between two bytes.
        every: Duration,
    },
    /// Pseudo-random bytes as fast as the client reads them: the read limit must hold.
    EndlessBytes,
    /// `frame` repeated forever: every header is well formed, so only a limit on frames or
    /// bytes ends the probe's reading.
    EndlessFrames(Vec<u8>),
    /// `start`, then one line that never ends (no newline ever comes): a line reader must
    /// bound what it buffers.
    EndlessLine(Vec<u8>),
    /// Waits briefly for the client's request, sends the first half of `frame`, then resets
    /// the connection (RST through SO_LINGER 0) while the probe waits for the rest.
    ResetMidFrame(Vec<u8>),
    /// Closes (FIN) at once, before a word is said either way.
    HangUp,
    /// This many pseudo-random bytes, then silence: neither the protocol nor an end.
    Garbage(usize),
    /// Sends `bytes` and then holds the connection; when `after_request`, only once the client
    /// has spoken (or a short wait has passed), as a server of a client-first protocol does.
    /// Lying lengths (a header announcing 2^31 bytes, then a few) and other protocols' real
    /// greetings are this.
    Says {
        /// What is sent, once.
        bytes: Vec<u8>,
        /// Wait for the client's first bytes before sending.
        after_request: bool,
    },
}

/// How a connection's hostility ends, for the caller that owns the socket.
enum End {
    /// A clean close: FIN, then a brief drain so that unread bytes cause no RST.
    Close,
    /// A reset: SO_LINGER 0, then drop.
    Reset,
}

/// How long a peer waits for the client's request before doing its thing anyway: probes of
/// server-first protocols never send one.
const REQUEST_WAIT: Duration = Duration::from_millis(300);

/// Reads the client's first bytes, or gives up after [`REQUEST_WAIT`].
async fn await_request<S: tokio::io::AsyncRead + Unpin>(s: &mut S) {
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(REQUEST_WAIT, s.read(&mut buf)).await;
}

/// `len` bytes of xorshift noise: patternless to a parser, the same on every run so that a
/// failure reproduces.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// `unit` repeated to about 64 KiB, so endless writers make few system calls.
fn repeated(unit: &[u8]) -> Vec<u8> {
    let unit = if unit.is_empty() { &b"\0"[..] } else { unit };
    unit.iter().copied().cycle().take(unit.len() * (65536 / unit.len()).max(1)).collect()
}

async fn write_forever<S: tokio::io::AsyncWrite + Unpin>(s: &mut S, chunk: &[u8]) {
    while s.write_all(chunk).await.is_ok() && s.flush().await.is_ok() {}
}

async fn act<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(s: &mut S, h: &Hostility) -> End {
    match h {
        Hostility::Silent => crate::conn::hold(s).await,
        Hostility::Trickle { message, every } => {
            await_request(s).await;
            for byte in message.iter().cycle() {
                if s.write_all(&[*byte]).await.is_err() || s.flush().await.is_err() {
                    break;
                }
                tokio::time::sleep(*every).await;
            }
        }
        Hostility::EndlessBytes => write_forever(s, &noise(65536, 0x5eed)).await,
        Hostility::EndlessFrames(frame) => write_forever(s, &repeated(frame)).await,
        Hostility::EndlessLine(start) => {
            if crate::conn::send(s, start).await.is_some() {
                write_forever(s, &repeated(b"a")).await;
            }
        }
        Hostility::ResetMidFrame(frame) => {
            await_request(s).await;
            let _ = crate::conn::send(s, &frame[..frame.len() / 2]).await;
            // The half frame must reach the client before the reset overtakes it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return End::Reset;
        }
        Hostility::HangUp => {}
        Hostility::Garbage(len) => {
            if crate::conn::send(s, &noise(*len, 0x9a4b)).await.is_some() {
                crate::conn::hold(s).await;
            }
        }
        Hostility::Says { bytes, after_request } => {
            if *after_request {
                await_request(s).await;
            }
            if crate::conn::send(s, bytes).await.is_some() {
                crate::conn::hold(s).await;
            }
        }
    }
    End::Close
}

/// Serves `hostility` on plain TCP connections.
pub fn serve(listener: TcpListener, hostility: Hostility) -> Server {
    accept_loop(listener, move |mut tcp| {
        let h = hostility.clone();
        async move {
            match act(&mut tcp, &h).await {
                End::Reset => {
                    let _ = tcp.set_zero_linger();
                }
                End::Close => crate::conn::finish(&mut tcp).await,
            }
        }
    })
}

/// Serves `hostility` inside TLS sessions: the handshake (with `config`) completes, so a
/// check that trusts the certificate meets the hostility in its own protocol code.
pub fn serve_tls(listener: TcpListener, config: Arc<rustls::ServerConfig>, hostility: Hostility) -> Server {
    let acceptor = TlsAcceptor::from(config);
    accept_loop(listener, move |tcp| {
        let (acceptor, h) = (acceptor.clone(), hostility.clone());
        async move {
            let Ok(mut tls) = acceptor.accept(tcp).await else { return };
            match act(&mut tls, &h).await {
                End::Reset => {
                    let _ = tls.get_ref().0.set_zero_linger();
                }
                End::Close => crate::conn::finish(&mut tls).await,
            }
        }
    })
}

/// A TLS server that never finishes a handshake: it reads the ClientHello, answers with the
/// first bytes of a ServerHello record (a header announcing 122 bytes, then the handshake
/// type) and stalls there.
pub fn tls_stall(listener: TcpListener) -> Server {
    accept_loop(listener, |mut s| async move {
        await_request(&mut s).await;
        if crate::conn::send(&mut s, &[0x16, 0x03, 0x03, 0x00, 0x7a, 0x02]).await.is_some() {
            crate::conn::hold(&mut s).await;
        }
    })
}

/// One standard hostile peer: a name for reports, what it does, and the protocol it really
/// speaks, if any (another protocol's greeting): a probe of that very protocol may rightly
/// pass against it, every other probe must not.
#[derive(Clone, Debug)]
pub struct Peer {
    /// Short, stable name for tables and known-failure lists (`silent`, `greet-ssh`).
    pub name: &'static str,
    /// What the peer does.
    pub hostility: Hostility,
    /// The protocol whose real bytes the peer sends, by its usual name (`ssh`, `http`, `mysql`).
    pub speaks: Option<&'static str>,
}

/// A MySQL Protocol::HandshakeV10 as MySQL 8.0 sends it (no TLS offered, caching_sha2_password),
/// packet header included.
pub fn mysql_handshake_v10() -> Vec<u8> {
    let mut p = vec![0x0a];
    p.extend_from_slice(b"8.0.36\0");
    p.extend_from_slice(&7u32.to_le_bytes()); // connection id
    p.extend_from_slice(b"\x2d\x1f\x33\x4c\x0b\x6e\x51\x22"); // auth-plugin-data part 1
    p.push(0); // filler
    let caps: u32 = 0x01ff_f7ff; // PROTOCOL_41, SECURE_CONNECTION, PLUGIN_AUTH, no SSL
    p.extend_from_slice(&(caps as u16).to_le_bytes());
    p.push(0xff); // utf8mb4_0900_ai_ci
    p.extend_from_slice(&2u16.to_le_bytes()); // SERVER_STATUS_AUTOCOMMIT
    p.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    p.push(21); // length of the auth-plugin-data
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(b"\x19\x08\x6b\x3a\x58\x1d\x44\x70\x0e\x2f\x65\x12\0"); // part 2
    p.extend_from_slice(b"caching_sha2_password\0");
    let len = p.len() as u32;
    let mut packet = len.to_le_bytes()[..3].to_vec();
    packet.push(0); // sequence id
    packet.extend_from_slice(&p);
    packet
}

/// `N` (no TLS, PostgreSQL's answer to SSLRequest), then 40 NoticeResponses and nothing else:
/// the start of a PostgreSQL conversation without the Authentication message that proves one.
pub fn pg_notices() -> Vec<u8> {
    let mut out = b"N".to_vec();
    let body = b"SNOTICE\0C00000\0Mhello\0\0";
    for _ in 0..40 {
        out.push(b'N');
        out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        out.extend_from_slice(body);
    }
    out
}

/// The standard hostile peers every probe meets, over TCP and (inside a session) over TLS.
pub fn standard_peers() -> Vec<Peer> {
    let says = |bytes: &[u8], after_request| Hostility::Says { bytes: bytes.to_vec(), after_request };
    let peer = |name, hostility| Peer { name, hostility, speaks: None };
    let other = |name, speaks, hostility| Peer { name, hostility, speaks: Some(speaks) };
    // A plausible frame: a 4-byte big-endian length (the whole frame, 16 bytes) and a body.
    let frame = b"\x00\x00\x00\x10\x01\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00".to_vec();
    vec![
        peer("silent", Hostility::Silent),
        peer(
            "trickle-text",
            Hostility::Trickle { message: b"HTTP/1.1 200 OK\r\n".to_vec(), every: Duration::from_millis(300) },
        ),
        peer("trickle-binary", Hostility::Trickle { message: frame.clone(), every: Duration::from_millis(300) }),
        peer("endless-bytes", Hostility::EndlessBytes),
        peer("endless-frames", Hostility::EndlessFrames(frame.clone())),
        peer("endless-line", Hostility::EndlessLine(b"HTTP/1.1 200 OK\r\nX-Filler: ".to_vec())),
        peer("reset-mid-frame", Hostility::ResetMidFrame(frame)),
        peer("hang-up", Hostility::HangUp),
        peer("garbage", Hostility::Garbage(4096)),
        // Lengths of 2^31 in the header shapes of the binary protocols: a bare 4-byte length,
        // type + channel + 4-byte size (AMQP), and message type + chunk + little-endian size
        // (OPC UA); then a few bytes of the promised body.
        peer("lie-u32", says(b"\x80\x00\x00\x00abcdefgh", false)),
        peer("lie-typed", says(b"\x01\x00\x00\x80\x00\x00\x00abcdefgh", true)),
        peer("lie-le", says(b"ACKF\x00\x00\x00\x80abcdefgh", true)),
        other("greet-ssh", "ssh", says(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n", false)),
        other(
            "greet-http",
            "http",
            says(
                b"HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Type: text/html\r\nContent-Length: 45\r\nConnection: keep-alive\r\n\r\n<html><body><h1>It works!</h1></body></html>\n",
                true,
            ),
        ),
        // HTTP answers every HTTP preset must tell from its product's: any 401, and a JSON
        // `{"status":"ok"}` (rabbitmq-api passed both as RabbitMQ before).
        other(
            "http-401",
            "http",
            says(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"Restricted\"\r\nContent-Length: 0\r\n\r\n",
                true,
            ),
        ),
        other(
            "http-json-ok",
            "http",
            says(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}",
                true,
            ),
        ),
        // `N` to PostgreSQL's SSLRequest, then only NoticeResponses: never an Authentication.
        peer("pg-notices", says(&pg_notices(), true)),
        other("greet-mysql", "mysql", says(&mysql_handshake_v10(), false)),
        other("greet-smtp", "smtp", says(b"220 mail.example.com ESMTP Postfix (Ubuntu)\r\n", false)),
        other("greet-redis", "redis", says(b"-ERR unknown command 'GET', with args beginning with: '/' \r\n", true)),
    ]
}

/// What a hostile UDP peer does with each datagram it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpHostility {
    /// Never answers.
    Silent,
    /// Answers each datagram with 512 pseudo-random bytes.
    Garbage,
    /// Answers each datagram with a flood: 1 KiB datagrams as fast as it can for two seconds
    /// (bounded, because a departed client cannot stop an unconnected UDP sender).
    Flood,
    /// Answers each datagram with one of 65 507 bytes, the largest an IPv4 datagram carries.
    Huge,
    /// Answers (echoes the request) from another port than the one asked.
    OtherPort,
}

/// The standard hostile UDP peers, with their names for reports.
pub fn standard_udp_peers() -> Vec<(&'static str, UdpHostility)> {
    vec![
        ("udp-silent", UdpHostility::Silent),
        ("udp-garbage", UdpHostility::Garbage),
        ("udp-flood", UdpHostility::Flood),
        ("udp-64k", UdpHostility::Huge),
        ("udp-other-port", UdpHostility::OtherPort),
    ]
}

/// The largest UDP payload an IPv4 datagram can carry.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// Serves `hostility` on an ephemeral loopback UDP port.
pub async fn serve_udp(hostility: UdpHostility) -> std::io::Result<Server> {
    let sock = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await?);
    let addr = sock.local_addr()?;
    let other = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_UDP_PAYLOAD];
        let mut floods = tokio::task::JoinSet::new();
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            match hostility {
                UdpHostility::Silent => {}
                UdpHostility::Garbage => {
                    let _ = sock.send_to(&noise(512, n as u64), from).await;
                }
                UdpHostility::Flood => {
                    let sock = sock.clone();
                    floods.spawn(async move {
                        let datagram = noise(1024, 0xf100d);
                        let until = tokio::time::Instant::now() + Duration::from_secs(2);
                        while tokio::time::Instant::now() < until {
                            if sock.send_to(&datagram, from).await.is_err() {
                                tokio::task::yield_now().await;
                            }
                        }
                    });
                }
                UdpHostility::Huge => {
                    let _ = sock.send_to(&noise(MAX_UDP_PAYLOAD, 0x64), from).await;
                }
                UdpHostility::OtherPort => {
                    let _ = other.send_to(&buf[..n], from).await;
                }
            }
        }
    });
    Ok(Server::new(addr, task))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const WAIT: Duration = Duration::from_secs(3);

    async fn tcp(h: Hostility) -> (Server, TcpStream) {
        let server = serve(crate::bind_any().await.unwrap(), h);
        let s = TcpStream::connect(server.addr).await.unwrap();
        (server, s)
    }

    /// Reads until EOF, an error, or `limit` bytes: what came and how it ended.
    async fn read_all(s: &mut (impl tokio::io::AsyncRead + Unpin), limit: usize) -> (Vec<u8>, std::io::Result<()>) {
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match tokio::time::timeout(WAIT, s.read(&mut buf)).await.expect("no stall") {
                Ok(0) => return (got, Ok(())),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return (got, Err(e)),
            }
            if got.len() >= limit {
                return (got, Ok(()));
            }
        }
    }

    #[tokio::test]
    async fn hang_up_closes_at_once_and_cleanly() {
        let (_server, mut s) = tcp(Hostility::HangUp).await;
        let start = Instant::now();
        let (got, end) = read_all(&mut s, 1).await;
        assert!(got.is_empty() && end.is_ok(), "{got:?} {end:?}");
        assert!(start.elapsed() < Duration::from_millis(500));
    }

    #[tokio::test]
    async fn reset_mid_frame_sends_half_then_resets() {
        let frame = b"\x00\x00\x00\x08abcd".to_vec();
        let (_server, mut s) = tcp(Hostility::ResetMidFrame(frame)).await;
        s.write_all(b"hello").await.unwrap();
        let (got, end) = read_all(&mut s, 1 << 20).await;
        assert_eq!(got, b"\x00\x00\x00\x08");
        assert_eq!(end.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);
    }

    #[tokio::test]
    async fn endless_writers_do_not_end() {
        for h in [
            Hostility::EndlessBytes,
            Hostility::EndlessFrames(b"\x00\x00\x00\x04".to_vec()),
            Hostility::EndlessLine(b"220 ".to_vec()),
        ] {
            let (_server, mut s) = tcp(h.clone()).await;
            let (got, end) = read_all(&mut s, 4 << 20).await;
            assert!(got.len() >= 4 << 20 && end.is_ok(), "{h:?}: {} bytes, {end:?}", got.len());
            if let Hostility::EndlessLine(_) = h {
                assert!(got.starts_with(b"220 a") && !got.contains(&b'\n'));
            }
        }
    }

    #[tokio::test]
    async fn garbage_and_greetings_then_silence() {
        let (_server, mut s) = tcp(Hostility::Garbage(4096)).await;
        let mut got = vec![0u8; 4096];
        tokio::time::timeout(WAIT, s.read_exact(&mut got)).await.unwrap().unwrap();
        assert_eq!(got, noise(4096, 0x9a4b));
        let mut more = [0u8; 1];
        assert!(tokio::time::timeout(Duration::from_millis(300), s.read(&mut more)).await.is_err(), "then silence");

        let greeting = mysql_handshake_v10();
        assert_eq!(greeting.len() - 4, usize::from(greeting[0]) | usize::from(greeting[1]) << 8);
        assert_eq!(greeting[4], 0x0a, "protocol version 10");
        let peers = standard_peers();
        let mysql = peers.iter().find(|p| p.speaks == Some("mysql")).unwrap();
        let (_server, mut s) = tcp(mysql.hostility.clone()).await;
        let mut got = vec![0u8; greeting.len()];
        tokio::time::timeout(WAIT, s.read_exact(&mut got)).await.unwrap().unwrap();
        assert_eq!(got, greeting);
    }

    #[tokio::test]
    async fn trickle_sends_one_byte_at_a_time() {
        let h = Hostility::Trickle { message: b"ab".to_vec(), every: Duration::from_millis(100) };
        let (_server, mut s) = tcp(h).await;
        s.write_all(b"request").await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        while got.len() < 3 {
            let n = tokio::time::timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap();
            assert_eq!(n, 1, "one byte per write");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"aba");
    }

    #[tokio::test]
    async fn tls_peers_are_hostile_past_the_handshake() {
        let pki = crate::pki::Pki::new();
        let h = Hostility::Says { bytes: b"SSH-2.0-x\r\n".to_vec(), after_request: false };
        let server = serve_tls(crate::bind_any().await.unwrap(), pki.server_config(), h);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca.cert_der.clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(crate::pki::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let mut tls = connector.connect(name.clone(), tcp).await.unwrap();
        let mut got = [0u8; 11];
        tokio::time::timeout(WAIT, tls.read_exact(&mut got)).await.unwrap().unwrap();
        assert_eq!(&got, b"SSH-2.0-x\r\n");

        let stall = tls_stall(crate::bind_any().await.unwrap());
        let tcp = TcpStream::connect(stall.addr).await.unwrap();
        let handshake = tokio::time::timeout(Duration::from_millis(800), connector.connect(name, tcp)).await;
        assert!(handshake.is_err(), "the handshake never finishes");
    }

    async fn udp_client(h: UdpHostility) -> (Server, tokio::net::UdpSocket) {
        let server = serve_udp(h).await.unwrap();
        let c = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        c.send_to(b"ping", server.addr).await.unwrap();
        (server, c)
    }

    async fn recv(c: &tokio::net::UdpSocket, buf: &mut [u8], wait: Duration) -> Option<(usize, std::net::SocketAddr)> {
        tokio::time::timeout(wait, c.recv_from(buf)).await.ok().map(|r| r.unwrap())
    }

    #[tokio::test]
    async fn udp_peers_do_what_they_say() {
        let mut buf = vec![0u8; 70000];

        let (_s, c) = udp_client(UdpHostility::Silent).await;
        assert!(recv(&c, &mut buf, Duration::from_millis(300)).await.is_none());

        let (s, c) = udp_client(UdpHostility::Garbage).await;
        assert_eq!(recv(&c, &mut buf, WAIT).await, Some((512, s.addr)));

        let (s, c) = udp_client(UdpHostility::Huge).await;
        assert_eq!(recv(&c, &mut buf, WAIT).await, Some((MAX_UDP_PAYLOAD, s.addr)));

        let (s, c) = udp_client(UdpHostility::OtherPort).await;
        let (n, from) = recv(&c, &mut buf, WAIT).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert!(from.ip() == s.addr.ip() && from.port() != s.addr.port(), "{from} vs {}", s.addr);

        let (s, c) = udp_client(UdpHostility::Flood).await;
        let mut count = 0;
        while let Some((n, from)) = recv(&c, &mut buf, Duration::from_millis(500)).await {
            assert_eq!((n, from), (1024, s.addr));
            count += 1;
            if count == 200 {
                break;
            }
        }
        assert_eq!(count, 200, "a flood, not a trickle");
    }
}
