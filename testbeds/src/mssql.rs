//! A Microsoft SQL Server responder: the TDS pre-login, every way of negotiating TLS, the login
//! and `SELECT @@VERSION`, the refusals a real server gives, the broken servers a real one will
//! not impersonate on demand, and a SQL Server Browser on UDP.
//!
//! SQL Server cannot run in-process, and the states that make it refuse (a disabled account, a
//! missing database, a certificate forced on every client, TDS 8.0 strict) take an installation
//! and a restart each; this responder produces them at will, for the `mssql` probe's tests and
//! the demo.
//!
//! It follows [MS-TDS] (<https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-tds/>):
//! the packet header of 2.2.3.1 (type, status with EOM, big-endian length including the header,
//! SPID, packet id, window), PRELOGIN of 2.2.6.5 with its encryption negotiation table, the TLS
//! handshake of TDS 7.x carried in PRELOGIN packets (2.2.6.5 and 3.3.5.2) and TDS 8.0's TLS
//! first (3.3.5.1), LOGIN7 of 2.2.6.4, SQLBatch with ALL_HEADERS of 2.2.6.7 and 2.2.5.3, and
//! the tokens of 2.2.7: LOGINACK (0xAD), ENVCHANGE (0xE3: database, language, collation, packet
//! size), INFO (0xAB), ERROR (0xAA), DONE (0xFD), COLMETADATA (0x81), ROW (0xD1) and
//! FEATUREEXTACK (0xAE, sent only when the LOGIN7 asked for feature extensions, acknowledging
//! none). The Browser follows [MC-SQLR]
//! (<https://learn.microsoft.com/en-us/openspecs/windows_protocols/mc-sqlr/>): CLNT_BCAST_EX,
//! CLNT_UCAST_EX and CLNT_UCAST_INST answered with SVR_RESP.
//!
//! The server's [`Encryption`] setting is read as the columns of the 2.2.6.5 table: `Off` is a
//! server with a certificate that does not force encryption, `On` one that forces it
//! (ForceEncryption), `NotSupported` one without a certificate; `Required` answers ENCRYPT_REQ to
//! every client, and `Strict` is TDS 8.0. Where the table says the connection is terminated, the
//! server still sends its PRELOGIN answer (which tells the client why) and then closes. With
//! ENCRYPT_OFF negotiated, only the LOGIN7 travels in TLS: after reading it, both sides drop TLS
//! without a close_notify and continue in plain TDS, as SQL Server and tiberius do.
//!
//! Where the specification leaves a choice, it does what SQL Server 2022 does on the wire, and
//! where tiberius 0.13 (the `mssql` probe's client) is stricter than the specification, it
//! follows tiberius:
//! - The PRELOGIN answer carries VERSION, ENCRYPTION, INSTOPT (one byte, 0 or 1), THREADID
//!   (empty, as SQL Server sends it; tiberius asserts a zero thread id in debug builds) and MARS,
//!   in that order, so the INSTOPT byte is followed by the MARS byte.
//! - A TLS 1.3 handshake inside PRELOGIN packets sends no session tickets: tiberius stops
//!   unwrapping once its side of the handshake is done, and tickets sent after the client's
//!   Finished would reach it wrapped. Tickets are untouched under strict encryption.
//! - TLS records from the client that arrive unwrapped during the handshake (a TLS 1.3 client
//!   sends its LOGIN7 right after its Finished, before the server has seen the Finished) are
//!   taken as the end of the wrapping.
//! - The LOGINACK always says TDS 7.4 (0x74000004), the only version tiberius accepts, and DONE
//!   tokens carry 8-byte row counts as TDS 7.2 and later do.
//! - Under [`Encryption::Strict`] the PRELOGIN inside TLS is answered with ENCRYPT_REQ whatever
//!   the client says (the option means nothing once TLS is up; tiberius sends ENCRYPT_REQ and
//!   ignores the answer), and a first byte that is not a TLS handshake record (a plaintext
//!   PRELOGIN) is answered by closing.
//! - Login names and database names compare case-insensitively, passwords exactly, as under SQL
//!   Server's default case-insensitive collation. Refusals carry state 1, as SQL Server sends
//!   them to clients (the real state goes only to its error log).
//!
//! Every read is bounded (packets of at most 32 KiB, messages of at most 1 MiB, a PRELOGIN
//! option table of at most 64 entries), every step of the handshake has a 10-second limit and
//! an idle session one of 60 seconds, client garbage is answered with a close instead of a
//! panic, and every connection task ends when its client leaves.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::Server;
use crate::conn::{BoxIo, accept_each, finish, hold, send};

/// How the server answers the client's ENCRYPTION option in PRELOGIN ([MS-TDS] 2.2.6.5 table).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encryption {
    /// A server with a certificate that does not force encryption: a client saying ENCRYPT_OFF
    /// gets ENCRYPT_OFF and only its LOGIN7 in TLS, ENCRYPT_ON or ENCRYPT_REQ gets ENCRYPT_ON
    /// and the whole session in TLS, ENCRYPT_NOT_SUP gets ENCRYPT_NOT_SUP and no TLS at all.
    #[default]
    Off,
    /// A server that forces encryption (ForceEncryption): ENCRYPT_REQ to a client saying
    /// ENCRYPT_OFF, ENCRYPT_ON to ENCRYPT_ON or ENCRYPT_REQ, the whole session in TLS; a client
    /// saying ENCRYPT_NOT_SUP gets ENCRYPT_REQ and a close.
    On,
    /// A server without a certificate: ENCRYPT_NOT_SUP to everyone, no TLS; a client saying
    /// ENCRYPT_ON or ENCRYPT_REQ gets that answer and a close.
    NotSupported,
    /// ENCRYPT_REQ to everyone and the whole session in TLS; a client saying ENCRYPT_NOT_SUP
    /// gets that answer and a close.
    Required,
    /// TDS 8.0 strict: TLS on the raw socket first, offering the ALPN protocol `tds/8.0` (see
    /// [`strict_tls`]), then PRELOGIN, LOGIN7 and the rest inside it, unwrapped. A plaintext
    /// PRELOGIN is answered by closing.
    Strict,
}

/// What the [`MssqlMode::Server`] announces and accepts, so each outcome of a probe (version,
/// encryption, instance, login accepted or refused and why) can be arranged.
#[derive(Clone, Debug)]
pub struct MssqlConfig {
    /// The PRELOGIN VERSION (major, minor, build; the sub-build is 0), also the LOGINACK's
    /// version and the one `SELECT @@VERSION` names. Default `(16, 0, 4135)`, SQL Server 2022.
    pub version: (u8, u8, u16),
    /// The server's encryption setting. Default [`Encryption::Off`].
    pub encryption: Encryption,
    /// The server's TLS configuration, required for every [`Encryption`] but
    /// [`Encryption::NotSupported`]: without it the other settings act as `NotSupported`, except
    /// `Strict`, which then closes every connection. Its ALPN list is replaced: emptied for the
    /// TLS inside PRELOGIN (TDS 7.x has no ALPN), `tds/8.0` for strict. Default `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The instance name. The INSTOPT answer is 0 (valid) when the client names no instance or
    /// this one (case-insensitively), 1 otherwise. Default `MSSQLSERVER`, the default instance.
    pub instance: String,
    /// The PRELOGIN MARS answer. Default false.
    pub mars: bool,
    /// The SQL login accepted (case-insensitively). Any other user gets error 18456, state 1,
    /// class 14, `Login failed for user '<user>'.`. Default `portproof`.
    pub user: String,
    /// The password of [`MssqlConfig::user`], compared after undoing LOGIN7's obfuscation; a
    /// wrong one gets error 18456 like a wrong user. Default `portproof-Secret1`.
    pub password: String,
    /// The databases that exist (case-insensitively); a LOGIN7 naming none gets the first. Any
    /// other gets error 4060, class 11, `Cannot open database "x" requested by the login. The
    /// login failed.`, followed by 18456. Default `master`.
    pub databases: Vec<String>,
    /// Refuse every login with this ERROR token: (number, state, class, message), e.g. 18470
    /// `Login failed for user 'x'. Reason: The account is disabled.` or 18452 `Login failed.
    /// The login is from an untrusted domain and cannot be used with Integrated
    /// authentication.`. Checked before the user and the password. Default `None`.
    pub login_error: Option<(u32, u8, u8, String)>,
    /// How many LOGIN7 messages arrived, readable or not: a test that must prove no password
    /// reached this server counts them. Shared by clones of the configuration.
    pub logins: Arc<std::sync::atomic::AtomicUsize>,
}

impl Default for MssqlConfig {
    fn default() -> Self {
        MssqlConfig {
            version: (16, 0, 4135),
            encryption: Encryption::Off,
            tls: None,
            instance: "MSSQLSERVER".to_owned(),
            mars: false,
            user: "portproof".to_owned(),
            password: "portproof-Secret1".to_owned(),
            databases: vec!["master".to_owned()],
            login_error: None,
            logins: Arc::default(),
        }
    }
}

/// How the responder behaves: a working server, or one of the failures a probe must grade.
#[derive(Clone, Debug)]
pub enum MssqlMode {
    /// A server that answers PRELOGIN, negotiates encryption as [`MssqlConfig::encryption`]
    /// says, checks the LOGIN7 and then answers SQL batches: `SELECT @@VERSION` with a
    /// one-row NVARCHAR(4000) result, `SET ...` with a bare DONE, anything else with error
    /// 2812 (state 62, class 16) `Could not find stored procedure '<name>'.`, the name being
    /// the batch's first word or the one after `EXEC`. Any other packet (an Attention, an RPC)
    /// closes the connection.
    Server(MssqlConfig),
    /// Closes right after reading the PRELOGIN (a server that drops unknown clients).
    CloseOnPrelogin,
    /// Answers PRELOGIN with random bytes that are not TDS: 64 bytes whose first is at least
    /// 0x80 (no TDS packet type, no TLS record); then holds the connection.
    Garbage,
    /// A PRELOGIN response whose TDS header claims 65535 bytes and sends 10: 10 bytes in all,
    /// the 8-byte header (type 0x04, EOM, length 0xFFFF) and the first two bytes of a valid
    /// payload; then holds the connection.
    LyingLength,
    /// A valid PRELOGIN response whose option table points past its end: a packet of the right
    /// length whose VERSION entry has offset 0x0400 in a payload of 35 bytes; then holds the
    /// connection.
    BadOptionTable,
    /// Sends the PRELOGIN response one byte per second: a valid answer saying ENCRYPT_NOT_SUP,
    /// then holds the connection.
    Trickle,
    /// Accepts and never answers.
    Silent,
}

/// Serves `mode` on `listener`, as SQL Server does on 1433.
pub fn serve(listener: TcpListener, mode: MssqlMode) -> Server {
    let (wrapped, strict) = match &mode {
        MssqlMode::Server(MssqlConfig { tls: Some(tls), .. }) => {
            (Some(TlsAcceptor::from(prelogin_tls(tls))), Some(TlsAcceptor::from(strict_tls(tls.clone()))))
        }
        _ => (None, None),
    };
    let shared = Arc::new(Shared { mode, wrapped, strict, next_spid: AtomicU16::new(FIRST_SPID) });
    accept_each(listener, move |tcp| {
        let shared = shared.clone();
        async move { connection(tcp, &shared).await }
    })
}

/// `config` for TDS 8.0 strict: the same identity, offering the ALPN protocol `tds/8.0` only.
/// [`serve`] applies it itself under [`Encryption::Strict`].
pub fn strict_tls(config: Arc<rustls::ServerConfig>) -> Arc<rustls::ServerConfig> {
    let mut config = (*config).clone();
    config.alpn_protocols = vec![TDS8_ALPN.to_vec()];
    Arc::new(config)
}

/// `config` for the TLS handshake inside PRELOGIN packets: no ALPN (TDS 7.x has none, and a
/// list without the client's protocol would fail its handshake), and no TLS 1.3 session
/// tickets, which would follow the handshake after the client has stopped unwrapping.
fn prelogin_tls(config: &Arc<rustls::ServerConfig>) -> Arc<rustls::ServerConfig> {
    let mut config = (**config).clone();
    config.alpn_protocols = Vec::new();
    config.send_tls13_tickets = 0;
    Arc::new(config)
}

/// One instance the SQL Server Browser lists ([MC-SQLR] SVR_RESP): name, version, tcp port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrowserInstance {
    /// The `ServerName` field: the machine's name.
    pub server_name: String,
    /// The `InstanceName` field, `MSSQLSERVER` for the default instance.
    pub instance: String,
    /// The `Version` field, e.g. `16.0.4135.4`.
    pub version: String,
    /// The `tcp` field: the port the instance listens on, or `None` when TCP is disabled (the
    /// field is then left out).
    pub tcp_port: Option<u16>,
    /// The `IsClustered` field (`Yes` or `No`).
    pub clustered: bool,
}

/// A SQL Server Browser on UDP: answers CLNT_BCAST_EX (0x02), CLNT_UCAST_EX (0x03) with every
/// instance and CLNT_UCAST_INST (0x04 + instance name) with that one; ignores anything else
/// (an unknown instance, CLNT_UCAST_DAC, garbage); returns the running task handle.
///
/// The answer is SVR_RESP: 0x05, the data's length (u16, little-endian), then for each instance
/// `ServerName;<server>;InstanceName;<instance>;IsClustered;<Yes|No>;Version;<version>;`,
/// `tcp;<port>;` when it has a port, and a closing `;`. Instances that would take the answer
/// past its limit (1024 bytes for CLNT_UCAST_INST, what fits in a datagram otherwise) are left
/// out.
pub fn serve_browser(socket: UdpSocket, instances: Vec<BrowserInstance>) -> Server {
    let addr = socket.local_addr().expect("bound socket");
    let task = tokio::spawn(async move {
        let mut request = [0u8; 1024];
        // An error on an unconnected UDP socket means it is unusable; end with it.
        while let Ok((n, peer)) = socket.recv_from(&mut request).await {
            if let Some(answer) = browser_answer(&request[..n], &instances) {
                let _ = socket.send_to(&answer, peer).await;
            }
        }
    });
    Server::new(addr, task)
}

/// The ALPN protocol of TDS 8.0.
const TDS8_ALPN: &[u8] = b"tds/8.0";

/// Packet types of [MS-TDS] 2.2.3.1.1.
const PT_SQL_BATCH: u8 = 0x01;
const PT_REPLY: u8 = 0x04;
const PT_LOGIN7: u8 = 0x10;
const PT_PRELOGIN: u8 = 0x12;
/// The packet status bit of the last packet of a message.
const STATUS_EOM: u8 = 0x01;
/// The packet header's length.
const HEADER: usize = 8;
/// The largest client packet accepted (the largest packet size TDS negotiates is 32767).
const MAX_PACKET: usize = 32 * 1024;
/// The largest client message accepted.
const MAX_MESSAGE: usize = 1 << 20;
/// The packet size before the login negotiates one, and the one asked for by a LOGIN7 with 0.
const DEFAULT_PACKET_SIZE: usize = 4096;
/// How long a client may take for each step of the handshake.
const STEP_WAIT: Duration = Duration::from_secs(10);
/// How long a logged-in session may stay idle.
const IDLE_WAIT: Duration = Duration::from_secs(60);
/// The first SPID handed out: SQL Server keeps 1 to 50 for its own sessions.
const FIRST_SPID: u16 = 51;

/// PRELOGIN option tokens.
const PL_VERSION: u8 = 0x00;
const PL_ENCRYPTION: u8 = 0x01;
const PL_INSTOPT: u8 = 0x02;
const PL_THREADID: u8 = 0x03;
const PL_MARS: u8 = 0x04;
const PL_TERMINATOR: u8 = 0xFF;
/// The most PRELOGIN options read from a client.
const MAX_OPTIONS: usize = 64;

/// ENCRYPTION option values.
const ENCRYPT_OFF: u8 = 0x00;
const ENCRYPT_ON: u8 = 0x01;
const ENCRYPT_NOT_SUP: u8 = 0x02;
const ENCRYPT_REQ: u8 = 0x03;
/// The ENCRYPT_CLIENT_CERT bit a client may add to its value.
const ENCRYPT_CLIENT_CERT: u8 = 0x80;

/// Token types of [MS-TDS] 2.2.7.
const TOKEN_COLMETADATA: u8 = 0x81;
const TOKEN_ERROR: u8 = 0xAA;
const TOKEN_INFO: u8 = 0xAB;
const TOKEN_LOGINACK: u8 = 0xAD;
const TOKEN_FEATUREEXTACK: u8 = 0xAE;
const TOKEN_ROW: u8 = 0xD1;
const TOKEN_ENVCHANGE: u8 = 0xE3;
const TOKEN_DONE: u8 = 0xFD;

/// ENVCHANGE types.
const ENV_DATABASE: u8 = 1;
const ENV_LANGUAGE: u8 = 2;
const ENV_PACKET_SIZE: u8 = 4;
const ENV_COLLATION: u8 = 7;

/// DONE status bits and the command of a SELECT.
const DONE_FINAL: u16 = 0x0000;
const DONE_ERROR: u16 = 0x0002;
const DONE_COUNT: u16 = 0x0010;
const CURCMD_SELECT: u16 = 0xC1;

/// The TDS version of the LOGINACK: 7.4.
const TDS_74: u32 = 0x7400_0004;
/// NVARCHARTYPE, and the byte length of NVARCHAR(4000).
const NVARCHAR: u8 = 0xE7;
const NVARCHAR_4000: u16 = 8000;
/// SQL_Latin1_General_CP1_CI_AS, SQL Server's default collation: LCID 0x0409 with the
/// ignore-case, ignore-kana and ignore-width flags, sort id 52.
const COLLATION: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];
/// The LOGIN7 OptionFlags2 bit of integrated (SSPI) authentication.
const F_INT_SECURITY: u8 = 0x80;
/// The LOGIN7 OptionFlags3 bit of a FeatureExt block.
const F_EXTENSION: u8 = 0x10;
/// The fixed part of LOGIN7 this responder reads: up to the database's offset and length.
const LOGIN7_FIXED: usize = 72;

/// The first byte of a TLS handshake record, and the range of TLS record types.
const TLS_HANDSHAKE: u8 = 0x16;
const TLS_RECORD_TYPES: std::ops::RangeInclusive<u8> = 0x14..=0x17;

/// What every connection of one server shares.
struct Shared {
    mode: MssqlMode,
    /// For the TLS handshake inside PRELOGIN packets.
    wrapped: Option<TlsAcceptor>,
    /// For TDS 8.0 strict.
    strict: Option<TlsAcceptor>,
    next_spid: AtomicU16,
}

async fn connection(mut tcp: TcpStream, shared: &Shared) {
    match &shared.mode {
        MssqlMode::Server(config) => {
            let spid = shared.next_spid.fetch_add(1, Ordering::Relaxed);
            server(tcp, config, shared, spid).await;
        }
        MssqlMode::Silent => hold(&mut tcp).await,
        hostile => {
            if read_timed(&mut tcp, PT_PRELOGIN).await.is_none() {
                finish(&mut tcp).await;
                return;
            }
            misbehave(&mut tcp, hostile).await;
        }
    }
}

/// The answers of the hostile modes, after the client's PRELOGIN.
async fn misbehave(tcp: &mut TcpStream, mode: &MssqlMode) {
    let valid =
        || frame(PT_REPLY, &prelogin_answer(&MssqlConfig::default(), ENCRYPT_NOT_SUP, true), 0, DEFAULT_PACKET_SIZE);
    let sent = match mode {
        MssqlMode::CloseOnPrelogin => {
            finish(tcp).await;
            return;
        }
        MssqlMode::Garbage => {
            let mut junk = [0u8; 64];
            let _ = SystemRandom::new().fill(&mut junk);
            junk[0] |= 0x80;
            send(tcp, &junk).await
        }
        MssqlMode::LyingLength => {
            let mut bytes = valid();
            bytes[2..4].copy_from_slice(&[0xFF, 0xFF]);
            bytes.truncate(10);
            send(tcp, &bytes).await
        }
        MssqlMode::BadOptionTable => {
            let mut payload = prelogin_answer(&MssqlConfig::default(), ENCRYPT_NOT_SUP, true);
            // The VERSION entry's offset (bytes 1 and 2 of the table).
            payload[1..3].copy_from_slice(&0x0400u16.to_be_bytes());
            send(tcp, &frame(PT_REPLY, &payload, 0, DEFAULT_PACKET_SIZE)).await
        }
        MssqlMode::Trickle => trickle(tcp, &valid()).await,
        MssqlMode::Server(_) | MssqlMode::Silent => Some(()),
    };
    if sent.is_some() {
        hold(tcp).await;
    }
}

/// Sends `bytes` one a second; `None` when the client left.
async fn trickle(tcp: &mut TcpStream, bytes: &[u8]) -> Option<()> {
    let mut buf = [0u8; 1024];
    for byte in bytes {
        send(tcp, &[*byte]).await?;
        tokio::select! {
            r = tcp.read(&mut buf) => {
                if !matches!(r, Ok(n) if n > 0) {
                    return None;
                }
            }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    Some(())
}

/// What follows the PRELOGIN answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    /// No TLS.
    Plain,
    /// TLS for the LOGIN7 only (ENCRYPT_OFF).
    LoginOnly,
    /// TLS for the whole session.
    Full,
    /// The table says the connection is terminated.
    Close,
}

/// The [MS-TDS] 2.2.6.5 table: the answer to the client's ENCRYPTION value under `setting`,
/// and what follows; `None` for a value the table does not have.
fn negotiate(setting: Encryption, client: u8) -> Option<(u8, Next)> {
    let client = client & !ENCRYPT_CLIENT_CERT;
    if client > ENCRYPT_REQ {
        return None;
    }
    // A client saying ENCRYPT_REQ is treated like one saying ENCRYPT_ON.
    let wants = client == ENCRYPT_ON || client == ENCRYPT_REQ;
    Some(match setting {
        Encryption::Off if client == ENCRYPT_OFF => (ENCRYPT_OFF, Next::LoginOnly),
        Encryption::Off if wants => (ENCRYPT_ON, Next::Full),
        Encryption::Off => (ENCRYPT_NOT_SUP, Next::Plain),
        Encryption::On if wants => (ENCRYPT_ON, Next::Full),
        Encryption::On | Encryption::Required if client == ENCRYPT_NOT_SUP => (ENCRYPT_REQ, Next::Close),
        Encryption::On | Encryption::Required => (ENCRYPT_REQ, Next::Full),
        Encryption::NotSupported if wants => (ENCRYPT_NOT_SUP, Next::Close),
        Encryption::NotSupported => (ENCRYPT_NOT_SUP, Next::Plain),
        // Inside TLS already: the option changes nothing.
        Encryption::Strict => (ENCRYPT_REQ, Next::Plain),
    })
}

/// The working server: PRELOGIN, TLS as negotiated, LOGIN7, batches.
async fn server(mut tcp: TcpStream, config: &MssqlConfig, shared: &Shared, spid: u16) {
    if config.encryption == Encryption::Strict {
        strict(tcp, config, shared.strict.as_ref(), spid).await;
        return;
    }
    // A first packet that is not a PRELOGIN (a TLS ClientHello from a strict client among
    // them) is not structurally correct: SQL Server closes.
    let Some(request) = read_timed(&mut tcp, PT_PRELOGIN).await else {
        finish(&mut tcp).await;
        return;
    };
    let Some(request) = PreloginRequest::parse(&request) else {
        finish(&mut tcp).await;
        return;
    };
    let acceptor = shared.wrapped.as_ref();
    let setting = if acceptor.is_some() { config.encryption } else { Encryption::NotSupported };
    let Some((answer, next)) = negotiate(setting, request.encryption) else {
        finish(&mut tcp).await;
        return;
    };
    let reply = prelogin_answer(config, answer, instance_valid(&request.instance, &config.instance));
    if send(&mut tcp, &frame(PT_REPLY, &reply, spid, DEFAULT_PACKET_SIZE)).await.is_none() {
        return;
    }
    match (next, acceptor) {
        (Next::Plain, _) => {
            let mut s: BoxIo = Box::new(tcp);
            session(&mut s, None, config, spid).await;
            finish(&mut s).await;
        }
        (Next::Full, Some(acceptor)) => {
            let Some(tls) = wrapped_handshake(tcp, acceptor).await else { return };
            let mut s: BoxIo = Box::new(tls);
            session(&mut s, None, config, spid).await;
            finish(&mut s).await;
        }
        (Next::LoginOnly, Some(acceptor)) => {
            let Some(mut tls) = wrapped_handshake(tcp, acceptor).await else { return };
            let login = read_timed(&mut tls, PT_LOGIN7).await;
            // Login-only encryption: the answer and all that follows are plain TDS, on the
            // socket under the abandoned TLS session.
            let (tunnel, _) = tls.into_inner();
            let mut s: BoxIo = Box::new(tunnel.tcp);
            if let Some(login) = login {
                session(&mut s, Some(login), config, spid).await;
            }
            finish(&mut s).await;
        }
        _ => finish(&mut tcp).await,
    }
}

/// TDS 8.0: TLS on the raw socket, then the same protocol inside it.
async fn strict(mut tcp: TcpStream, config: &MssqlConfig, acceptor: Option<&TlsAcceptor>, spid: u16) {
    let mut first = [0u8; 1];
    let peeked = timeout(STEP_WAIT, tcp.peek(&mut first)).await;
    let (Some(acceptor), Ok(Ok(1))) = (acceptor, peeked) else {
        finish(&mut tcp).await;
        return;
    };
    if first[0] != TLS_HANDSHAKE {
        finish(&mut tcp).await;
        return;
    }
    let Ok(Ok(tls)) = timeout(STEP_WAIT, acceptor.accept(tcp)).await else { return };
    let mut s: BoxIo = Box::new(tls);
    let request = read_timed(&mut s, PT_PRELOGIN).await;
    let request = request.as_deref().and_then(PreloginRequest::parse);
    // A value outside the table is closed, as without strict encryption.
    let answer = request.as_ref().and_then(|r| negotiate(Encryption::Strict, r.encryption));
    if let (Some(request), Some((answer, _))) = (request, answer) {
        let reply = prelogin_answer(config, answer, instance_valid(&request.instance, &config.instance));
        if send(&mut s, &frame(PT_REPLY, &reply, spid, DEFAULT_PACKET_SIZE)).await.is_some() {
            session(&mut s, None, config, spid).await;
        }
    }
    finish(&mut s).await;
}

/// The TLS handshake inside PRELOGIN packets; `None` when it failed.
async fn wrapped_handshake(tcp: TcpStream, acceptor: &TlsAcceptor) -> Option<TlsStream<Tunnel>> {
    let mut tls = timeout(STEP_WAIT, acceptor.accept(Tunnel::new(tcp))).await.ok()?.ok()?;
    tls.get_mut().0.stop_wrapping();
    Some(tls)
}

/// The login, and the batches after a successful one. `login` is the LOGIN7 already read
/// (inside the TLS of login-only encryption), or `None` to read it from `s`.
async fn session(s: &mut BoxIo, login: Option<Vec<u8>>, config: &MssqlConfig, spid: u16) {
    let login = match login {
        Some(login) => Some(login),
        None => read_timed(s, PT_LOGIN7).await,
    };
    let Some(login) = login else { return };
    config.logins.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    // A LOGIN7 that cannot be read is closed without an answer.
    let Some(login) = Login7::parse(&login) else { return };
    let (tokens, packet_size) = login_answer(&login, config);
    if send(s, &frame(PT_REPLY, &tokens, spid, DEFAULT_PACKET_SIZE)).await.is_none() {
        return;
    }
    let Some(packet_size) = packet_size else { return };
    loop {
        let Ok(Some((kind, payload))) = timeout(IDLE_WAIT, read_message(s, None)).await else { return };
        // An Attention, an RPC, a second LOGIN7: not served, closed.
        if kind != PT_SQL_BATCH {
            return;
        }
        let tokens = batch_answer(&batch_text(&payload), config);
        if send(s, &frame(PT_REPLY, &tokens, spid, packet_size)).await.is_none() {
            return;
        }
    }
}

/// What the server reads of a PRELOGIN request.
struct PreloginRequest {
    /// The ENCRYPTION value; ENCRYPT_NOT_SUP when the option is missing.
    encryption: u8,
    /// The INSTOPT instance name, without its NUL.
    instance: Vec<u8>,
}

impl PreloginRequest {
    /// Parses the option table and the two options used; `None` when the table runs past the
    /// payload, an option points outside it, or VERSION is not the first option ([MS-TDS]
    /// 3.3.5.1: such a PRELOGIN is not structurally correct).
    fn parse(p: &[u8]) -> Option<PreloginRequest> {
        let mut request = PreloginRequest { encryption: ENCRYPT_NOT_SUP, instance: Vec::new() };
        let mut at = 0;
        for index in 0..=MAX_OPTIONS {
            let token = *p.get(at)?;
            if token == PL_TERMINATOR {
                return (index > 0).then_some(request);
            }
            let entry = p.get(at..at + 5)?;
            let offset = usize::from(u16::from_be_bytes([entry[1], entry[2]]));
            let length = usize::from(u16::from_be_bytes([entry[3], entry[4]]));
            let data = p.get(offset..offset + length)?;
            match token {
                PL_VERSION if length >= 6 => {}
                _ if index == 0 => return None,
                PL_ENCRYPTION => request.encryption = *data.first()?,
                PL_INSTOPT => request.instance = data.iter().take_while(|b| **b != 0).copied().collect(),
                _ => {}
            }
            at += 5;
        }
        None
    }
}

/// Whether the client's INSTOPT names this instance: empty, or the same name.
fn instance_valid(requested: &[u8], instance: &str) -> bool {
    requested.is_empty() || requested.eq_ignore_ascii_case(instance.as_bytes())
}

/// The PRELOGIN answer: VERSION, ENCRYPTION, INSTOPT, THREADID (empty), MARS, TERMINATOR.
fn prelogin_answer(config: &MssqlConfig, encryption: u8, instance_valid: bool) -> Vec<u8> {
    let (major, minor, build) = config.version;
    let mut version = vec![major, minor];
    version.extend(build.to_be_bytes());
    version.extend(0u16.to_be_bytes()); // the sub-build
    let options: [(u8, Vec<u8>); 5] = [
        (PL_VERSION, version),
        (PL_ENCRYPTION, vec![encryption]),
        (PL_INSTOPT, vec![u8::from(!instance_valid)]),
        (PL_THREADID, Vec::new()),
        (PL_MARS, vec![u8::from(config.mars)]),
    ];
    let mut table = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let start = options.len() * 5 + 1;
    for (token, value) in &options {
        table.push(*token);
        table.extend(((start + data.len()) as u16).to_be_bytes());
        table.extend((value.len() as u16).to_be_bytes());
        data.extend(value);
    }
    table.push(PL_TERMINATOR);
    table.extend(data);
    table
}

/// What the server reads of a LOGIN7.
struct Login7 {
    packet_size: u32,
    user: String,
    password: String,
    database: String,
    /// OptionFlags2 asks for integrated (SSPI) authentication.
    integrated: bool,
    /// OptionFlags3 says a FeatureExt block follows.
    extension: bool,
}

impl Login7 {
    /// Parses the fixed part and the strings used; `None` when the declared length exceeds the
    /// message, the fixed part is short, or a string lies outside the record.
    fn parse(p: &[u8]) -> Option<Login7> {
        let u16_at = |at: usize| p.get(at..at + 2).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])));
        let declared = usize::try_from(u32::from_le_bytes(p.get(..4)?.try_into().ok()?)).ok()?;
        if !(LOGIN7_FIXED..=p.len()).contains(&declared) {
            return None;
        }
        let p = &p[..declared];
        // OffsetLength pairs: a byte offset from the record's start and a length in UTF-16
        // code units.
        let bytes = |at: usize| -> Option<&[u8]> {
            let (offset, chars) = (u16_at(at)?, u16_at(at + 2)?);
            p.get(offset..offset + 2 * chars)
        };
        let text = |b: &[u8]| {
            let units: Vec<u16> = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
            String::from_utf16_lossy(&units)
        };
        // The client swapped each byte's nibbles, then XORed it with 0xA5: undone backwards.
        let password: Vec<u8> = bytes(44)?.iter().map(|b| (b ^ 0xA5).rotate_left(4)).collect();
        Some(Login7 {
            packet_size: u32::from_le_bytes(p.get(8..12)?.try_into().ok()?),
            user: text(bytes(40)?),
            password: text(&password),
            database: text(bytes(68)?),
            integrated: p[25] & F_INT_SECURITY != 0,
            extension: p[27] & F_EXTENSION != 0,
        })
    }
}

/// The answer to a LOGIN7 and, when it logged in, the packet size negotiated.
fn login_answer(login: &Login7, config: &MssqlConfig) -> (Vec<u8>, Option<usize>) {
    let server = server_name(config);
    let mut out = Vec::new();
    let failed = |user: &str| format!("Login failed for user '{user}'.");
    let refused = if let Some((number, state, class, message)) = &config.login_error {
        Some(info_token(TOKEN_ERROR, *number, *state, *class, message, &server))
    } else if login.integrated && login.user.is_empty() {
        let text = "Login failed. The login is from an untrusted domain and cannot be used with Integrated \
                    authentication.";
        Some(info_token(TOKEN_ERROR, 18452, 1, 14, text, &server))
    } else if !login.user.eq_ignore_ascii_case(&config.user) || login.password != config.password {
        Some(info_token(TOKEN_ERROR, 18456, 1, 14, &failed(&login.user), &server))
    } else {
        None
    };
    if let Some(error) = refused {
        out.extend(error);
        out.extend(done(DONE_ERROR, 0, 0));
        return (out, None);
    }
    let database = if login.database.is_empty() {
        config.databases.first().map_or("master", String::as_str)
    } else {
        &login.database
    };
    let Some(database) = config.databases.iter().find(|d| d.eq_ignore_ascii_case(database)) else {
        let text = format!("Cannot open database \"{database}\" requested by the login. The login failed.");
        out.extend(info_token(TOKEN_ERROR, 4060, 1, 11, &text, &server));
        out.extend(info_token(TOKEN_ERROR, 18456, 1, 14, &failed(&login.user), &server));
        out.extend(done(DONE_ERROR, 0, 0));
        return (out, None);
    };
    // What SQL Server 2022 sends, in its order.
    let packet_size = match login.packet_size {
        0 => DEFAULT_PACKET_SIZE,
        n => usize::try_from(n).unwrap_or(usize::MAX).clamp(512, 32767),
    };
    out.extend(env_change(ENV_DATABASE, &b_varchar(database), &b_varchar("master")));
    out.extend(info_token(TOKEN_INFO, 5701, 2, 0, &format!("Changed database context to '{database}'."), &server));
    out.extend(env_change(ENV_LANGUAGE, &b_varchar("us_english"), &b_varchar("")));
    out.extend(info_token(TOKEN_INFO, 5703, 1, 0, "Changed language setting to us_english.", &server));
    let mut collation = vec![COLLATION.len() as u8];
    collation.extend(COLLATION);
    out.extend(env_change(ENV_COLLATION, &collation, &[0]));
    out.extend(login_ack(config));
    if login.extension {
        // The FeatureExt block asked for features; none is acknowledged.
        out.extend([TOKEN_FEATUREEXTACK, 0xFF]);
    }
    let size = packet_size.to_string();
    out.extend(env_change(ENV_PACKET_SIZE, &b_varchar(&size), &b_varchar(&DEFAULT_PACKET_SIZE.to_string())));
    out.extend(done(DONE_FINAL, 0, 0));
    (out, Some(packet_size))
}

/// The server name of ERROR and INFO tokens: the machine's, with the instance unless default.
fn server_name(config: &MssqlConfig) -> String {
    if config.instance.eq_ignore_ascii_case("MSSQLSERVER") || config.instance.is_empty() {
        "PORTPROOF".to_owned()
    } else {
        format!("PORTPROOF\\{}", config.instance)
    }
}

/// LOGINACK: SQL_TSQL, TDS 7.4, `Microsoft SQL Server`, the version.
fn login_ack(config: &MssqlConfig) -> Vec<u8> {
    let (major, minor, build) = config.version;
    let mut body = vec![1];
    body.extend(TDS_74.to_be_bytes());
    body.extend(b_varchar("Microsoft SQL Server"));
    body.extend([major, minor]);
    body.extend(build.to_be_bytes());
    token(TOKEN_LOGINACK, &body)
}

/// An ERROR or INFO token: number, state, class, message, server, no procedure, line 1.
fn info_token(kind: u8, number: u32, state: u8, class: u8, text: &str, server: &str) -> Vec<u8> {
    let mut body = number.to_le_bytes().to_vec();
    body.extend([state, class]);
    body.extend(us_varchar(text));
    body.extend(b_varchar(server));
    body.extend(b_varchar(""));
    body.extend(1u32.to_le_bytes());
    token(kind, &body)
}

/// ENVCHANGE of `kind` with the new and old values, already encoded.
fn env_change(kind: u8, new: &[u8], old: &[u8]) -> Vec<u8> {
    let mut body = vec![kind];
    body.extend(new);
    body.extend(old);
    token(TOKEN_ENVCHANGE, &body)
}

/// DONE: status, current command, an 8-byte row count.
fn done(status: u16, command: u16, rows: u64) -> Vec<u8> {
    let mut out = vec![TOKEN_DONE];
    out.extend(status.to_le_bytes());
    out.extend(command.to_le_bytes());
    out.extend(rows.to_le_bytes());
    out
}

/// A token with a u16 length (bodies here are far below 64 KiB; longer ones are cut).
fn token(kind: u8, body: &[u8]) -> Vec<u8> {
    let body = &body[..body.len().min(usize::from(u16::MAX))];
    let mut out = vec![kind];
    out.extend((body.len() as u16).to_le_bytes());
    out.extend(body);
    out
}

/// UTF-16LE code units of `s`, at most `max`.
fn utf16(s: &str, max: usize) -> Vec<u16> {
    s.encode_utf16().take(max).collect()
}

/// B_VARCHAR: a one-byte length in code units, then UTF-16LE.
fn b_varchar(s: &str) -> Vec<u8> {
    let units = utf16(s, 255);
    let mut out = vec![units.len() as u8];
    out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
    out
}

/// US_VARCHAR: a two-byte length in code units, then UTF-16LE (cut at 4000 units, SQL
/// Server's longest message).
fn us_varchar(s: &str) -> Vec<u8> {
    let units = utf16(s, 4000);
    let mut out = (units.len() as u16).to_le_bytes().to_vec();
    out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
    out
}

/// The SQL text of a SQLBatch: after ALL_HEADERS when a plausible one leads it.
fn batch_text(p: &[u8]) -> String {
    let u32_at = |at: usize| p.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let skip = match (u32_at(0), u32_at(4)) {
        (Some(total), Some(first)) if (8..=p.len()).contains(&total) && first <= total - 4 => total,
        _ => 0,
    };
    let units: Vec<u16> = p[skip..].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16_lossy(&units)
}

/// The answer to a SQL batch.
fn batch_answer(sql: &str, config: &MssqlConfig) -> Vec<u8> {
    let normal = sql
        .trim_matches(|c: char| c == ';' || c.is_whitespace())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    if normal == "select @@version" {
        return version_result(&version_text(config));
    }
    let first = normal.split([' ', '(', ';']).next().unwrap_or_default();
    if first.is_empty() || first == "set" {
        return done(DONE_FINAL, 0, 0);
    }
    // What SQL Server answers a batch that starts with (or executes) a name it cannot find.
    let mut words = sql.split(|c: char| c.is_whitespace() || c == '(' || c == ';').filter(|w| !w.is_empty());
    let mut word = words.next().unwrap_or_default();
    if word.eq_ignore_ascii_case("exec") || word.eq_ignore_ascii_case("execute") {
        word = words.next().unwrap_or(word);
    }
    let word: String = word.chars().take(128).collect();
    let mut out = info_token(
        TOKEN_ERROR,
        2812,
        62,
        16,
        &format!("Could not find stored procedure '{word}'."),
        &server_name(config),
    );
    out.extend(done(DONE_ERROR, 0, 0));
    out
}

/// `@@VERSION` as SQL Server words it, from the configured version (revision 0).
fn version_text(config: &MssqlConfig) -> String {
    let (major, minor, build) = config.version;
    let year = match (major, minor) {
        (17, _) => "2025",
        (16, _) => "2022",
        (15, _) => "2019",
        (14, _) => "2017",
        (13, _) => "2016",
        (12, _) => "2014",
        (11, _) => "2012",
        (10, 50..) => "2008 R2",
        (10, _) => "2008",
        (9, _) => "2005",
        _ => "vNext",
    };
    format!(
        "Microsoft SQL Server {year} (RTM) - {major}.{minor}.{build}.0 (X64) \n\tportproof testbed\n\tCopyright (C) \
         Microsoft Corporation\n\tDeveloper Edition (64-bit) on Linux (portproof testbed) <X64>"
    )
}

/// A result of one unnamed NVARCHAR(4000) column and one row, then DONE with its count.
fn version_result(text: &str) -> Vec<u8> {
    let mut out = vec![TOKEN_COLMETADATA];
    out.extend(1u16.to_le_bytes());
    out.extend(0u32.to_le_bytes()); // UserType
    out.extend(0u16.to_le_bytes()); // Flags: not nullable, read-only
    out.push(NVARCHAR);
    out.extend(NVARCHAR_4000.to_le_bytes());
    out.extend(COLLATION);
    out.extend(b_varchar(""));
    out.push(TOKEN_ROW);
    let units = utf16(text, usize::from(NVARCHAR_4000 / 2));
    out.extend(((units.len() * 2) as u16).to_le_bytes());
    out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
    out.extend(done(DONE_COUNT, CURCMD_SELECT, 1));
    out
}

/// A message as packets of at most `packet_size` bytes, EOM on the last, numbered from 1.
fn frame(kind: u8, payload: &[u8], spid: u16, packet_size: usize) -> Vec<u8> {
    let room = packet_size.clamp(512, 32767) - HEADER;
    let chunks: Vec<&[u8]> = if payload.is_empty() { vec![&[]] } else { payload.chunks(room).collect() };
    let mut out = Vec::with_capacity(payload.len() + chunks.len() * HEADER);
    for (i, chunk) in chunks.iter().enumerate() {
        let status = if i + 1 == chunks.len() { STATUS_EOM } else { 0 };
        out.extend([kind, status]);
        out.extend(((chunk.len() + HEADER) as u16).to_be_bytes());
        out.extend(spid.to_be_bytes());
        out.extend([(i + 1) as u8, 0]);
        out.extend(*chunk);
    }
    out
}

/// Reads one message: the payloads of its packets up to the one with EOM. `None` on end of
/// stream, a packet over [`MAX_PACKET`] or shorter than its header, a message over
/// [`MAX_MESSAGE`], or packets of different types or, as soon as its header says so, not of the
/// type `expect`ed.
async fn read_message<R: AsyncRead + Unpin>(r: &mut R, expect: Option<u8>) -> Option<(u8, Vec<u8>)> {
    let mut kind = expect;
    let mut payload = Vec::new();
    loop {
        let mut head = [0u8; HEADER];
        r.read_exact(&mut head).await.ok()?;
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        if !(HEADER..=MAX_PACKET).contains(&len)
            || kind.is_some_and(|k| k != head[0])
            || payload.len() + len - HEADER > MAX_MESSAGE
        {
            return None;
        }
        kind = Some(head[0]);
        let start = payload.len();
        payload.resize(start + len - HEADER, 0);
        r.read_exact(&mut payload[start..]).await.ok()?;
        if head[1] & STATUS_EOM != 0 {
            return Some((head[0], payload));
        }
    }
}

/// [`read_message`] of an `expect`ed type within [`STEP_WAIT`], for the handshake: its payload.
async fn read_timed<R: AsyncRead + Unpin>(r: &mut R, expect: u8) -> Option<Vec<u8>> {
    Some(timeout(STEP_WAIT, read_message(r, Some(expect))).await.ok()??.1)
}

/// The socket under a TDS 7.x TLS handshake: the client's PRELOGIN packets are unwrapped for
/// rustls, and what rustls writes is wrapped in PRELOGIN packets at each flush (rustls flushes
/// after each flight). [`Tunnel::stop_wrapping`] ends the wrapping once the handshake is done; a bare
/// TLS record from the client at a packet boundary ends it for reading on its own.
struct Tunnel {
    tcp: TcpStream,
    wrap_reads: bool,
    wrap_writes: bool,
    /// The header of the next client packet, as far as read.
    head: [u8; HEADER],
    head_len: usize,
    /// Payload bytes of the current client packet not yet read.
    left: usize,
    /// Bytes read as a header that belong to rustls after all.
    carry: Vec<u8>,
    /// What rustls wrote since the last flush.
    out: Vec<u8>,
    /// Packets not yet on the wire.
    framed: Vec<u8>,
}

impl Tunnel {
    fn new(tcp: TcpStream) -> Self {
        Tunnel {
            tcp,
            wrap_reads: true,
            wrap_writes: true,
            head: [0; HEADER],
            head_len: 0,
            left: 0,
            carry: Vec::new(),
            out: Vec::new(),
            framed: Vec::new(),
        }
    }

    /// Ends the wrapping: the handshake is done and TLS records flow bare.
    fn stop_wrapping(&mut self) {
        self.wrap_reads = false;
        self.wrap_writes = false;
        self.carry.extend(&self.head[..self.head_len]);
        self.head_len = 0;
    }

    /// Writes the packets framed so far.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.framed.is_empty() {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.framed))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.framed.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Tunnel {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.carry.is_empty() {
            let n = this.carry.len().min(buf.remaining());
            buf.put_slice(&this.carry[..n]);
            this.carry.drain(..n);
            return Poll::Ready(Ok(()));
        }
        if !this.wrap_reads {
            return Pin::new(&mut this.tcp).poll_read(cx, buf);
        }
        loop {
            if this.left > 0 {
                let mut chunk = [0u8; 4096];
                let max = this.left.min(buf.remaining()).min(chunk.len());
                let mut part = ReadBuf::new(&mut chunk[..max]);
                ready!(Pin::new(&mut this.tcp).poll_read(cx, &mut part))?;
                let n = part.filled().len();
                this.left -= n;
                buf.put_slice(&chunk[..n]);
                return Poll::Ready(Ok(()));
            }
            while this.head_len < HEADER {
                let mut part = ReadBuf::new(&mut this.head[this.head_len..]);
                ready!(Pin::new(&mut this.tcp).poll_read(cx, &mut part))?;
                let n = part.filled().len();
                if n == 0 {
                    return Poll::Ready(Ok(()));
                }
                this.head_len += n;
                if TLS_RECORD_TYPES.contains(&this.head[0]) {
                    // The client is done with its handshake and speaks TLS directly.
                    this.wrap_reads = false;
                    let n = this.head_len.min(buf.remaining());
                    buf.put_slice(&this.head[..n]);
                    this.carry.extend(&this.head[n..this.head_len]);
                    this.head_len = 0;
                    return Poll::Ready(Ok(()));
                }
            }
            this.head_len = 0;
            let len = usize::from(u16::from_be_bytes([this.head[2], this.head[3]]));
            if this.head[0] != PT_PRELOGIN || !(HEADER..=MAX_PACKET).contains(&len) {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "not a PRELOGIN packet")));
            }
            this.left = len - HEADER;
        }
    }
}

impl AsyncWrite for Tunnel {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.wrap_writes {
            this.out.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.tcp).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.out.is_empty() {
            let out = std::mem::take(&mut this.out);
            this.framed.extend(frame(PT_PRELOGIN, &out, 0, DEFAULT_PACKET_SIZE));
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

/// The Browser's answer to `request`, if any.
fn browser_answer(request: &[u8], instances: &[BrowserInstance]) -> Option<Vec<u8>> {
    let (&kind, rest) = request.split_first()?;
    let (chosen, limit): (Vec<&BrowserInstance>, usize) = match kind {
        // CLNT_BCAST_EX and CLNT_UCAST_EX. The data may reach 65535 bytes by the specification,
        // less than that fits a UDP datagram.
        0x02 | 0x03 => (instances.iter().collect(), 65_000),
        // CLNT_UCAST_INST: a name of at most 32 bytes, NUL-terminated.
        0x04 => {
            let name: Vec<u8> = rest.iter().take_while(|b| **b != 0).copied().collect();
            if name.is_empty() || name.len() > 32 {
                return None;
            }
            (instances.iter().filter(|i| i.instance.as_bytes().eq_ignore_ascii_case(&name)).take(1).collect(), 1024)
        }
        _ => return None,
    };
    let mut data: Vec<u8> = Vec::new();
    for instance in chosen {
        let mut entry = format!(
            "ServerName;{};InstanceName;{};IsClustered;{};Version;{};",
            instance.server_name,
            instance.instance,
            if instance.clustered { "Yes" } else { "No" },
            instance.version
        );
        if let Some(port) = instance.tcp_port {
            entry.push_str(&format!("tcp;{port};"));
        }
        entry.push(';');
        if data.len() + entry.len() <= limit {
            data.extend(entry.as_bytes());
        }
    }
    if data.is_empty() {
        return None;
    }
    let mut out = vec![0x05];
    out.extend((data.len() as u16).to_le_bytes());
    out.extend(data);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
    use tokio::io::AsyncWriteExt;
    use tokio_util::compat::TokioAsyncWriteCompatExt;

    const WAIT: Duration = Duration::from_secs(10);
    const PASSWORD: &str = "portproof-Secret1";
    const VERSION_2022: &str = concat!(
        "Microsoft SQL Server 2022 (RTM) - 16.0.4135.0 (X64) \n\tportproof testbed\n\t",
        "Copyright (C) Microsoft Corporation\n\tDeveloper Edition (64-bit) on Linux (portproof testbed) <X64>"
    );

    async fn start(mode: MssqlMode) -> (Server, TcpStream) {
        crate::serve_and_connect(|l| serve(l, mode)).await
    }

    fn with_tls(encryption: Encryption, pki: &crate::pki::Pki) -> MssqlConfig {
        MssqlConfig { encryption, tls: Some(pki.server_config()), ..MssqlConfig::default() }
    }

    /// A PRELOGIN as clients send it: VERSION, ENCRYPTION, INSTOPT, THREADID, MARS.
    fn prelogin(encryption: u8, instance: &str) -> Vec<u8> {
        let mut name = instance.as_bytes().to_vec();
        name.push(0);
        let options = [
            (PL_VERSION, vec![9, 0, 0, 0, 0, 0]),
            (PL_ENCRYPTION, vec![encryption]),
            (PL_INSTOPT, name),
            (PL_THREADID, 4242u32.to_be_bytes().to_vec()),
            (PL_MARS, vec![0]),
        ];
        let mut payload = Vec::new();
        let mut data: Vec<u8> = Vec::new();
        for (token, value) in &options {
            payload.push(*token);
            payload.extend(((26 + data.len()) as u16).to_be_bytes());
            payload.extend((value.len() as u16).to_be_bytes());
            data.extend(value);
        }
        payload.push(PL_TERMINATOR);
        payload.extend(data);
        frame(PT_PRELOGIN, &payload, 0, 4096)
    }

    /// The options of a PRELOGIN answer, checked to lie inside it.
    fn options(p: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = 0;
        while p[at] != PL_TERMINATOR {
            let offset = usize::from(u16::from_be_bytes([p[at + 1], p[at + 2]]));
            let length = usize::from(u16::from_be_bytes([p[at + 3], p[at + 4]]));
            out.push((p[at], p[offset..offset + length].to_vec()));
            at += 5;
        }
        out
    }

    fn encryption_of(p: &[u8]) -> u8 {
        options(p).iter().find(|(t, _)| *t == PL_ENCRYPTION).unwrap().1[0]
    }

    async fn next<R: AsyncRead + Unpin>(c: &mut R) -> (u8, Vec<u8>) {
        timeout(WAIT, read_message(c, None)).await.unwrap().expect("a message")
    }

    async fn eof<R: AsyncRead + Unpin>(c: &mut R) -> bool {
        let mut buf = [0u8; 64];
        // A FIN, not a reset: the close must not lose what was sent before it.
        matches!(timeout(WAIT, c.read(&mut buf)).await, Ok(Ok(0)))
    }

    async fn held(c: &mut TcpStream) -> bool {
        let mut buf = [0u8; 64];
        timeout(Duration::from_millis(300), c.read(&mut buf)).await.is_err()
    }

    /// A LOGIN7 for TDS 7.4 with the fixed part of 94 bytes, the strings after it.
    fn login7(user: &str, password: &str, database: &str) -> Vec<u8> {
        let fields = [("probe", false), (user, false), (password, true), ("portproof", false), ("localhost", false)];
        let tail = [("", false), ("portproof", false), ("", false), (database, false)];
        let mut fixed = vec![0u8; 94];
        fixed[4..8].copy_from_slice(&TDS_74.to_le_bytes());
        fixed[8..12].copy_from_slice(&4096u32.to_le_bytes());
        fixed[24] = 0xE0;
        fixed[25] = 0x03;
        let mut data = Vec::new();
        for (i, (s, secret)) in fields.iter().chain(tail.iter()).enumerate() {
            let at = 36 + 4 * i;
            let mut bytes: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
            if *secret {
                bytes.iter_mut().for_each(|b| *b = b.rotate_left(4) ^ 0xA5);
            }
            fixed[at..at + 2].copy_from_slice(&((94 + data.len()) as u16).to_le_bytes());
            fixed[at + 2..at + 4].copy_from_slice(&(s.encode_utf16().count() as u16).to_le_bytes());
            data.extend(bytes);
        }
        for at in [78, 82, 86] {
            fixed[at..at + 2].copy_from_slice(&((94 + data.len()) as u16).to_le_bytes());
        }
        let total = (fixed.len() + data.len()) as u32;
        fixed[..4].copy_from_slice(&total.to_le_bytes());
        fixed.extend(data);
        frame(PT_LOGIN7, &fixed, 0, 4096)
    }

    /// A SQLBatch with ALL_HEADERS (one transaction descriptor header), as tiberius sends it.
    fn batch(sql: &str) -> Vec<u8> {
        let mut p = 22u32.to_le_bytes().to_vec();
        p.extend(18u32.to_le_bytes());
        p.extend(2u16.to_le_bytes());
        p.extend([0; 8]);
        p.extend(1u32.to_le_bytes());
        p.extend(sql.encode_utf16().flat_map(|u| u.to_le_bytes()));
        frame(PT_SQL_BATCH, &p, 0, 4096)
    }

    /// The tokens of a login answer or an error, split (the token types this server sends).
    fn tokens(mut p: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some((&kind, rest)) = p.split_first() {
            let len = match kind {
                TOKEN_DONE => 12,
                TOKEN_FEATUREEXTACK => 1,
                _ => {
                    let n = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
                    p = &rest[2..];
                    out.push((kind, p[..n].to_vec()));
                    p = &p[n..];
                    continue;
                }
            };
            out.push((kind, rest[..len].to_vec()));
            p = &rest[len..];
        }
        out
    }

    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
    }

    /// (number, state, class, message) of an ERROR or INFO token body.
    fn error_of(body: &[u8]) -> (u32, u8, u8, String) {
        let n = usize::from(u16::from_le_bytes([body[6], body[7]]));
        let units: Vec<u16> = body[8..8 + 2 * n].chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        (u32::from_le_bytes(body[..4].try_into().unwrap()), body[4], body[5], String::from_utf16(&units).unwrap())
    }

    /// Connects, sends a PRELOGIN saying `client`, returns the answer's payload.
    async fn negotiated(server: &Server, client: u8, instance: &str) -> (TcpStream, Vec<u8>) {
        let mut c = TcpStream::connect(server.addr).await.unwrap();
        c.write_all(&prelogin(client, instance)).await.unwrap();
        let (kind, payload) = next(&mut c).await;
        assert_eq!(kind, PT_REPLY);
        (c, payload)
    }

    #[tokio::test]
    async fn prelogin_answer_has_the_options_sql_server_sends() {
        let (_server, mut c) = start(MssqlMode::Server(MssqlConfig::default())).await;
        c.write_all(&prelogin(ENCRYPT_NOT_SUP, "")).await.unwrap();
        let mut head = [0u8; HEADER];
        timeout(WAIT, c.read_exact(&mut head)).await.unwrap().unwrap();
        assert_eq!(head, [0x04, 0x01, 0x00, 0x2B, 0x00, 51, 0x01, 0x00]);
        let mut payload = [0u8; 35];
        c.read_exact(&mut payload).await.unwrap();
        assert_eq!(
            options(&payload),
            [
                (PL_VERSION, vec![16, 0, 0x10, 0x27, 0, 0]),
                (PL_ENCRYPTION, vec![ENCRYPT_NOT_SUP]),
                (PL_INSTOPT, vec![0]),
                (PL_THREADID, vec![]),
                (PL_MARS, vec![0]),
            ]
        );
    }

    #[tokio::test]
    async fn encryption_follows_the_table() {
        let pki = crate::pki::Pki::new();
        // (setting, client, answer, closed after the answer)
        let table = [
            (Encryption::Off, ENCRYPT_OFF, ENCRYPT_OFF, false),
            (Encryption::Off, ENCRYPT_ON, ENCRYPT_ON, false),
            (Encryption::Off, ENCRYPT_NOT_SUP, ENCRYPT_NOT_SUP, false),
            (Encryption::Off, ENCRYPT_REQ, ENCRYPT_ON, false),
            (Encryption::Off, ENCRYPT_CLIENT_CERT | ENCRYPT_ON, ENCRYPT_ON, false),
            (Encryption::On, ENCRYPT_OFF, ENCRYPT_REQ, false),
            (Encryption::On, ENCRYPT_ON, ENCRYPT_ON, false),
            (Encryption::On, ENCRYPT_NOT_SUP, ENCRYPT_REQ, true),
            (Encryption::On, ENCRYPT_REQ, ENCRYPT_ON, false),
            (Encryption::Required, ENCRYPT_OFF, ENCRYPT_REQ, false),
            (Encryption::Required, ENCRYPT_ON, ENCRYPT_REQ, false),
            (Encryption::Required, ENCRYPT_NOT_SUP, ENCRYPT_REQ, true),
            (Encryption::NotSupported, ENCRYPT_OFF, ENCRYPT_NOT_SUP, false),
            (Encryption::NotSupported, ENCRYPT_ON, ENCRYPT_NOT_SUP, true),
            (Encryption::NotSupported, ENCRYPT_NOT_SUP, ENCRYPT_NOT_SUP, false),
            (Encryption::NotSupported, ENCRYPT_REQ, ENCRYPT_NOT_SUP, true),
        ];
        for (setting, client, answer, closed) in table {
            let server = serve(crate::bind_any().await.unwrap(), MssqlMode::Server(with_tls(setting, &pki)));
            let (mut c, payload) = negotiated(&server, client, "").await;
            assert_eq!(encryption_of(&payload), answer, "{setting:?} {client}");
            if closed {
                assert!(eof(&mut c).await, "{setting:?} {client}");
            } else {
                assert!(held(&mut c).await, "{setting:?} {client}");
            }
        }
        // Without a certificate every setting but Strict is NotSupported.
        let server = serve(crate::bind_any().await.unwrap(), MssqlMode::Server(MssqlConfig::default()));
        let (mut c, payload) = negotiated(&server, ENCRYPT_ON, "").await;
        assert_eq!(encryption_of(&payload), ENCRYPT_NOT_SUP);
        assert!(eof(&mut c).await);
        // A value outside the table: closed unanswered.
        let (_server, mut c) = start(MssqlMode::Server(with_tls(Encryption::Off, &pki))).await;
        c.write_all(&prelogin(0x07, "")).await.unwrap();
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn instopt_says_whether_the_instance_matches() {
        let server = serve(crate::bind_any().await.unwrap(), MssqlMode::Server(MssqlConfig::default()));
        for (instance, valid) in [("", 0), ("mssqlserver", 0), ("MSSQLSERVER", 0), ("SQLEXPRESS", 1)] {
            let (_c, payload) = negotiated(&server, ENCRYPT_NOT_SUP, instance).await;
            assert_eq!(options(&payload)[2], (PL_INSTOPT, vec![valid]), "{instance}");
        }
        let config = MssqlConfig { instance: "SQLEXPRESS".into(), mars: true, ..MssqlConfig::default() };
        let server = serve(crate::bind_any().await.unwrap(), MssqlMode::Server(config));
        let (_c, payload) = negotiated(&server, ENCRYPT_NOT_SUP, "sqlexpress").await;
        assert_eq!(options(&payload)[2..], [(PL_INSTOPT, vec![0]), (PL_THREADID, vec![]), (PL_MARS, vec![1])]);
    }

    #[tokio::test]
    async fn broken_first_packets_are_closed() {
        let pki = crate::pki::Pki::new();
        let mut no_version = prelogin(ENCRYPT_OFF, "");
        no_version[HEADER] = PL_ENCRYPTION;
        let mut past_end = prelogin(ENCRYPT_OFF, "");
        past_end[HEADER + 5 + 1] = 0x7F;
        let mut no_terminator = frame(PT_PRELOGIN, &[0, 0, 5, 0, 1], 0, 4096);
        no_terminator.extend([0; 8]);
        let sends: [Vec<u8>; 8] = [
            // A TLS ClientHello's start: a strict client at a TDS 7 server.
            vec![0x16, 0x03, 0x01, 0x00, 0x80, 0x01, 0x00, 0x00, 0x7C, 0x03, 0x03],
            // A packet claiming 65535 bytes, over the 32 KiB limit.
            vec![PT_PRELOGIN, 0x01, 0xFF, 0xFF, 0, 0, 1, 0],
            // A length shorter than the header.
            vec![PT_PRELOGIN, 0x01, 0x00, 0x04, 0, 0, 1, 0],
            login7("portproof", PASSWORD, ""),
            no_version,
            past_end,
            no_terminator,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ];
        for bytes in sends {
            let (_server, mut c) = start(MssqlMode::Server(with_tls(Encryption::Off, &pki))).await;
            c.write_all(&bytes).await.unwrap();
            assert!(eof(&mut c).await, "{bytes:02x?}");
        }
        // A strict server closes a plaintext PRELOGIN.
        let (_server, mut c) = start(MssqlMode::Server(with_tls(Encryption::Strict, &pki))).await;
        c.write_all(&prelogin(ENCRYPT_REQ, "")).await.unwrap();
        assert!(eof(&mut c).await);
        // A strict server without a certificate closes everything.
        let (_server, mut c) =
            start(MssqlMode::Server(MssqlConfig { encryption: Encryption::Strict, ..MssqlConfig::default() })).await;
        c.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
        assert!(eof(&mut c).await);
    }

    /// Logs in without TLS by hand; the answer's tokens.
    async fn raw_login(config: MssqlConfig, user: &str, password: &str, db: &str) -> (TcpStream, Vec<(u8, Vec<u8>)>) {
        let (server, mut c) = start(MssqlMode::Server(config)).await;
        c.write_all(&prelogin(ENCRYPT_NOT_SUP, "")).await.unwrap();
        next(&mut c).await;
        c.write_all(&login7(user, password, db)).await.unwrap();
        let (kind, answer) = next(&mut c).await;
        assert_eq!(kind, PT_REPLY);
        // Keep the server alive as long as the connection (the task is aborted on drop).
        std::mem::forget(server);
        (c, tokens(&answer))
    }

    #[tokio::test]
    async fn plain_login_and_batches_byte_by_byte() {
        let config = MssqlConfig { databases: vec!["master".into(), "portproof".into()], ..MssqlConfig::default() };
        let (mut c, answer) = raw_login(config, "PortProof", PASSWORD, "PORTPROOF").await;
        let kinds: Vec<u8> = answer.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [
                TOKEN_ENVCHANGE,
                TOKEN_INFO,
                TOKEN_ENVCHANGE,
                TOKEN_INFO,
                TOKEN_ENVCHANGE,
                TOKEN_LOGINACK,
                TOKEN_ENVCHANGE,
                TOKEN_DONE
            ]
        );
        let mut db = vec![ENV_DATABASE, 9];
        db.extend(utf16le("portproof"));
        db.push(6);
        db.extend(utf16le("master"));
        assert_eq!(answer[0].1, db);
        assert_eq!(error_of(&answer[1].1), (5701, 2, 0, "Changed database context to 'portproof'.".into()));
        assert_eq!(answer[4].1, [ENV_COLLATION, 5, 0x09, 0x04, 0xD0, 0x00, 0x34, 0]);
        let mut ack = vec![1, 0x74, 0, 0, 4, 20];
        ack.extend(utf16le("Microsoft SQL Server"));
        ack.extend([16, 0, 0x10, 0x27]);
        assert_eq!(answer[5].1, ack);
        let mut size = vec![ENV_PACKET_SIZE, 4];
        size.extend(utf16le("4096"));
        size.push(4);
        size.extend(utf16le("4096"));
        assert_eq!(answer[6].1, size);
        assert_eq!(answer[7].1, [0; 12]);

        c.write_all(&batch(" select  @@VERSION ;")).await.unwrap();
        let (kind, result) = next(&mut c).await;
        assert_eq!(kind, PT_REPLY);
        let mut expected = vec![TOKEN_COLMETADATA, 1, 0, 0, 0, 0, 0, 0, 0, NVARCHAR, 0x40, 0x1F];
        expected.extend(COLLATION);
        expected.extend([0, TOKEN_ROW]);
        expected.extend(((VERSION_2022.encode_utf16().count() * 2) as u16).to_le_bytes());
        expected.extend(utf16le(VERSION_2022));
        expected.extend([TOKEN_DONE, 0x10, 0, 0xC1, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(result, expected);

        c.write_all(&batch("SET NOCOUNT ON")).await.unwrap();
        assert_eq!(next(&mut c).await.1, done(DONE_FINAL, 0, 0));
        c.write_all(&batch("EXEC sp_who")).await.unwrap();
        let answer = tokens(&next(&mut c).await.1);
        assert_eq!(error_of(&answer[0].1), (2812, 62, 16, "Could not find stored procedure 'sp_who'.".into()));
        assert_eq!(answer[1], (TOKEN_DONE, done(DONE_ERROR, 0, 0)[1..].to_vec()));
        // An Attention closes.
        c.write_all(&[0x06, 0x01, 0x00, 0x08, 0, 0, 1, 0]).await.unwrap();
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn raw_refusals_are_sql_servers() {
        let failed = |user: &str| (18456, 1, 14, format!("Login failed for user '{user}'."));
        let (mut c, answer) = raw_login(MssqlConfig::default(), "portproof", "wrong", "").await;
        assert_eq!(answer.len(), 2);
        assert_eq!(error_of(&answer[0].1), failed("portproof"));
        assert_eq!(answer[1].1, done(DONE_ERROR, 0, 0)[1..]);
        assert!(eof(&mut c).await);

        let (mut c, answer) = raw_login(MssqlConfig::default(), "sa", PASSWORD, "").await;
        assert_eq!(error_of(&answer[0].1), failed("sa"));
        assert!(eof(&mut c).await);

        let (mut c, answer) = raw_login(MssqlConfig::default(), "portproof", PASSWORD, "nope").await;
        let text = "Cannot open database \"nope\" requested by the login. The login failed.";
        assert_eq!(error_of(&answer[0].1), (4060, 1, 11, text.into()));
        assert_eq!(error_of(&answer[1].1), failed("portproof"));
        assert_eq!(answer[2].0, TOKEN_DONE);
        assert!(eof(&mut c).await);

        let text = "Login failed for user 'portproof'. Reason: The account is disabled.";
        let config = MssqlConfig { login_error: Some((18470, 1, 14, text.into())), ..MssqlConfig::default() };
        let (mut c, answer) = raw_login(config, "portproof", PASSWORD, "").await;
        assert_eq!(error_of(&answer[0].1), (18470, 1, 14, text.into()));
        assert!(eof(&mut c).await);

        // A LOGIN7 whose user runs past its end: closed unanswered.
        let (_server, mut c) = start(MssqlMode::Server(MssqlConfig::default())).await;
        c.write_all(&prelogin(ENCRYPT_NOT_SUP, "")).await.unwrap();
        next(&mut c).await;
        let mut bad = login7("portproof", PASSWORD, "");
        bad[HEADER + 42] = 0xFF;
        c.write_all(&bad).await.unwrap();
        assert!(eof(&mut c).await);
    }

    fn client_tls(pki: &crate::pki::Pki, alpn: &[u8]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca.cert_der.clone()).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(crate::pki::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    #[tokio::test]
    async fn strict_speaks_tds_inside_tls_with_alpn() {
        let pki = crate::pki::Pki::new();
        let (_server, c) = start(MssqlMode::Server(with_tls(Encryption::Strict, &pki))).await;
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = timeout(WAIT, client_tls(&pki, TDS8_ALPN).connect(name, c)).await.unwrap().unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(TDS8_ALPN));
        tls.write_all(&prelogin(ENCRYPT_REQ, "")).await.unwrap();
        let (kind, payload) = next(&mut tls).await;
        assert_eq!((kind, encryption_of(&payload)), (PT_REPLY, ENCRYPT_REQ));
        tls.write_all(&login7("portproof", PASSWORD, "")).await.unwrap();
        let answer = tokens(&next(&mut tls).await.1);
        assert!(answer.iter().any(|(k, _)| *k == TOKEN_LOGINACK));
    }

    /// Logs in with tiberius as `user` at `level` and asks `SELECT @@VERSION`; the client's
    /// error otherwise.
    async fn tiberius_version(
        addr: SocketAddr,
        level: EncryptionLevel,
        pki: &crate::pki::Pki,
        tweak: impl FnOnce(&mut Config),
    ) -> tiberius::Result<String> {
        // tiberius falls back to aws-lc-rs without a process default.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = Config::new();
        config.host("localhost");
        config.port(addr.port());
        config.authentication(AuthMethod::sql_server("portproof", PASSWORD));
        config.encryption(level);
        config.trust_cert_ca_bundle(pki.ca.cert_pem.as_bytes().to_vec());
        tweak(&mut config);
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let mut client = timeout(WAIT, Client::connect(config, tcp.compat_write())).await.expect("in time")?;
        let row = client.simple_query("SELECT @@VERSION").await?.into_row().await?.expect("a row");
        let version = row.get::<&str, _>(0).expect("a value").to_owned();
        // A second batch on the same session: refused as SQL Server refuses it.
        let refused = match client.simple_query("EXEC sp_who").await {
            Ok(stream) => stream.into_results().await.unwrap_err(),
            Err(e) => e,
        };
        assert_eq!(refused.code(), Some(2812));
        let row = client.simple_query("select @@version").await?.into_row().await?.expect("a row");
        assert_eq!(row.get::<&str, _>(0), Some(version.as_str()));
        Ok(version)
    }

    async fn tiberius_at(setting: Encryption, level: EncryptionLevel) -> tiberius::Result<String> {
        let pki = crate::pki::Pki::new();
        let server = serve(crate::bind_any().await.unwrap(), MssqlMode::Server(with_tls(setting, &pki)));
        tiberius_version(server.addr, level, &pki, |_| {}).await
    }

    #[tokio::test]
    async fn tiberius_logs_in_with_login_only_tls() {
        assert_eq!(tiberius_at(Encryption::Off, EncryptionLevel::Off).await.unwrap(), VERSION_2022);
    }

    #[tokio::test]
    async fn tiberius_logs_in_with_encryption_on() {
        assert_eq!(tiberius_at(Encryption::On, EncryptionLevel::On).await.unwrap(), VERSION_2022);
        assert_eq!(tiberius_at(Encryption::Off, EncryptionLevel::On).await.unwrap(), VERSION_2022);
        // ForceEncryption turns a client's OFF into a fully encrypted session.
        assert_eq!(tiberius_at(Encryption::On, EncryptionLevel::Off).await.unwrap(), VERSION_2022);
    }

    #[tokio::test]
    async fn tiberius_logs_in_with_encryption_required() {
        assert_eq!(tiberius_at(Encryption::Required, EncryptionLevel::Required).await.unwrap(), VERSION_2022);
        assert_eq!(tiberius_at(Encryption::Required, EncryptionLevel::Off).await.unwrap(), VERSION_2022);
        // A client that will not encrypt is turned away.
        assert!(tiberius_at(Encryption::Required, EncryptionLevel::NotSupported).await.is_err());
    }

    #[tokio::test]
    async fn tiberius_logs_in_without_tls() {
        assert_eq!(tiberius_at(Encryption::NotSupported, EncryptionLevel::NotSupported).await.unwrap(), VERSION_2022);
        assert_eq!(tiberius_at(Encryption::Off, EncryptionLevel::NotSupported).await.unwrap(), VERSION_2022);
        // A client that requires encryption gives up.
        assert!(tiberius_at(Encryption::NotSupported, EncryptionLevel::Required).await.is_err());
    }

    #[tokio::test]
    async fn tiberius_logs_in_under_tds8_strict() {
        assert_eq!(tiberius_at(Encryption::Strict, EncryptionLevel::Strict).await.unwrap(), VERSION_2022);
        // A TDS 7 client's plaintext PRELOGIN is closed.
        assert!(tiberius_at(Encryption::Strict, EncryptionLevel::Required).await.is_err());
        // A strict client at a TDS 7 server: its ClientHello is closed.
        assert!(tiberius_at(Encryption::Off, EncryptionLevel::Strict).await.is_err());
    }

    #[tokio::test]
    async fn tiberius_logs_in_over_tls12_too() {
        let pki = crate::pki::Pki::new();
        for (setting, level) in [(Encryption::Off, EncryptionLevel::Off), (Encryption::On, EncryptionLevel::On)] {
            let tls = Some(pki.versions_config(&[&rustls::version::TLS12]));
            let config = MssqlConfig { encryption: setting, tls, ..MssqlConfig::default() };
            let server = serve(crate::bind_any().await.unwrap(), MssqlMode::Server(config));
            let got = tiberius_version(server.addr, level, &pki, |_| {}).await;
            assert_eq!(got.unwrap(), VERSION_2022, "{setting:?}");
        }
    }

    #[tokio::test]
    async fn tunnel_unwraps_packets_and_passes_bare_records() {
        let listener = crate::bind_any().await.unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let mut tunnel = Tunnel::new(listener.accept().await.unwrap().0);
        // Two wrapped handshake packets, then a bare TLS record right behind them.
        let mut wire = frame(PT_PRELOGIN, b"hello", 0, 4096);
        wire.extend(frame(PT_PRELOGIN, b"", 0, 4096));
        wire.extend(frame(PT_PRELOGIN, b" world", 0, 4096));
        wire.extend([0x17, 0x03, 0x03, 0x00, 0x02, 0xAB, 0xCD]);
        peer.write_all(&wire).await.unwrap();
        let mut got = [0u8; 18];
        timeout(WAIT, tunnel.read_exact(&mut got)).await.unwrap().unwrap();
        assert_eq!(&got, b"hello world\x17\x03\x03\x00\x02\xab\xcd");
        // Writes are wrapped at each flush while the handshake lasts, bare afterwards.
        tunnel.write_all(&[1; 5000]).await.unwrap();
        tunnel.flush().await.unwrap();
        let (kind, payload) = next(&mut peer).await;
        assert_eq!((kind, payload), (PT_PRELOGIN, vec![1; 5000]));
        tunnel.stop_wrapping();
        tunnel.write_all(b"bare").await.unwrap();
        tunnel.flush().await.unwrap();
        let mut bare = [0u8; 4];
        peer.read_exact(&mut bare).await.unwrap();
        assert_eq!(&bare, b"bare");
        // Anything but a PRELOGIN packet or a TLS record is refused while wrapping.
        let listener = crate::bind_any().await.unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let mut tunnel = Tunnel::new(listener.accept().await.unwrap().0);
        peer.write_all(&frame(PT_LOGIN7, b"x", 0, 4096)).await.unwrap();
        let mut buf = [0u8; 8];
        assert!(timeout(WAIT, tunnel.read(&mut buf)).await.unwrap().is_err());
    }

    #[tokio::test]
    async fn tiberius_off_needs_a_server_with_a_certificate() {
        // tiberius reads ENCRYPT_NOT_SUP answered to its ENCRYPT_OFF as "encrypt", sends a
        // ClientHello where the LOGIN7 belongs, and is closed: only NotSupported logs in there.
        assert!(tiberius_at(Encryption::NotSupported, EncryptionLevel::Off).await.is_err());
    }

    #[test]
    fn parsers_survive_random_input() {
        let random = SystemRandom::new();
        let login = login7("portproof", PASSWORD, "master")[HEADER..].to_vec();
        let prelogin = prelogin(ENCRYPT_OFF, "SQLEXPRESS")[HEADER..].to_vec();
        let mut noise = [0u8; 512];
        for round in 0..4000 {
            random.fill(&mut noise).unwrap();
            let len = usize::from(noise[0]) * 2 % noise.len();
            // Half the rounds: valid messages with a few bytes changed, the rest noise.
            let mut bytes = match round % 4 {
                0 => login.clone(),
                1 => prelogin.clone(),
                _ => noise[..len].to_vec(),
            };
            if round % 4 < 2 {
                for pair in noise[1..9].chunks(2) {
                    let at = usize::from(pair[0]) % bytes.len();
                    bytes[at] = pair[1];
                }
                bytes.truncate(bytes.len() - usize::from(noise[9]) % 8);
            }
            let _ = PreloginRequest::parse(&bytes);
            if let Some(login) = Login7::parse(&bytes) {
                let _ = login_answer(&login, &MssqlConfig::default());
            }
            let _ = batch_answer(&batch_text(&bytes), &MssqlConfig::default());
            let _ = browser_answer(&bytes, &[]);
        }
    }

    #[tokio::test]
    async fn tiberius_refuses_an_untrusted_certificate() {
        let pki = crate::pki::Pki::new();
        let server = serve(crate::bind_any().await.unwrap(), MssqlMode::Server(with_tls(Encryption::On, &pki)));
        let other = crate::pki::Pki::new();
        let e = tiberius_version(server.addr, EncryptionLevel::On, &other, |_| {}).await.unwrap_err();
        assert!(matches!(e, tiberius::error::Error::Tls(_)), "{e:?}");
    }

    #[tokio::test]
    async fn tiberius_gets_the_refusals_we_meant() {
        let pki = crate::pki::Pki::new();
        let server = serve(crate::bind_any().await.unwrap(), MssqlMode::Server(with_tls(Encryption::Off, &pki)));
        let wrong = |user: &'static str, password: &'static str| {
            move |c: &mut Config| c.authentication(AuthMethod::sql_server(user, password))
        };
        let e = tiberius_version(server.addr, EncryptionLevel::Off, &pki, wrong("portproof", "nope")).await;
        assert_eq!(e.unwrap_err().code(), Some(18456));
        let e = tiberius_version(server.addr, EncryptionLevel::On, &pki, wrong("sa", PASSWORD)).await;
        assert_eq!(e.unwrap_err().code(), Some(18456));
        let e = tiberius_version(server.addr, EncryptionLevel::Off, &pki, |c| c.database("nope")).await;
        assert_eq!(e.unwrap_err().code(), Some(4060));
        assert!(tiberius_version(server.addr, EncryptionLevel::Off, &pki, |c| c.database("MASTER")).await.is_ok());

        let text = "Login failed for user 'portproof'. Reason: The account is disabled.";
        let config = MssqlConfig { login_error: Some((18470, 1, 14, text.into())), ..with_tls(Encryption::On, &pki) };
        let server = serve(crate::bind_any().await.unwrap(), MssqlMode::Server(config));
        let e = tiberius_version(server.addr, EncryptionLevel::On, &pki, |_| {}).await.unwrap_err();
        assert_eq!(e.code(), Some(18470));
        assert!(e.to_string().contains("The account is disabled."), "{e}");
    }

    #[tokio::test]
    async fn tiberius_checks_the_instance() {
        let pki = crate::pki::Pki::new();
        let config = MssqlConfig { instance: "SQLEXPRESS".into(), ..with_tls(Encryption::Off, &pki) };
        let server = serve(crate::bind_any().await.unwrap(), MssqlMode::Server(config));
        let got = tiberius_version(server.addr, EncryptionLevel::Off, &pki, |c| c.instance_name("sqlexpress")).await;
        assert_eq!(got.unwrap(), VERSION_2022);
        let e = tiberius_version(server.addr, EncryptionLevel::Off, &pki, |c| c.instance_name("OTHER")).await;
        assert!(e.unwrap_err().to_string().contains("rejected the requested instance"));
    }

    #[tokio::test]
    async fn version_names_the_release() {
        let config = MssqlConfig { version: (15, 0, 2000), ..MssqlConfig::default() };
        assert!(version_text(&config).starts_with("Microsoft SQL Server 2019 (RTM) - 15.0.2000.0 (X64)"));
        let config = MssqlConfig { version: (10, 50, 1600), ..MssqlConfig::default() };
        assert!(version_text(&config).starts_with("Microsoft SQL Server 2008 R2 (RTM) - 10.50.1600.0"));
    }

    #[tokio::test]
    async fn close_on_prelogin_closes() {
        let (_server, mut c) = start(MssqlMode::CloseOnPrelogin).await;
        c.write_all(&prelogin(ENCRYPT_OFF, "")).await.unwrap();
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn garbage_is_not_tds() {
        let (_server, mut c) = start(MssqlMode::Garbage).await;
        c.write_all(&prelogin(ENCRYPT_OFF, "")).await.unwrap();
        let mut junk = [0u8; 64];
        timeout(WAIT, c.read_exact(&mut junk)).await.unwrap().unwrap();
        assert!(junk[0] >= 0x80);
        assert!(held(&mut c).await);
    }

    #[tokio::test]
    async fn lying_length_sends_ten_bytes_and_holds() {
        let (_server, mut c) = start(MssqlMode::LyingLength).await;
        c.write_all(&prelogin(ENCRYPT_OFF, "")).await.unwrap();
        let mut got = [0u8; 10];
        timeout(WAIT, c.read_exact(&mut got)).await.unwrap().unwrap();
        assert_eq!(got, [0x04, 0x01, 0xFF, 0xFF, 0x00, 0x00, 0x01, 0x00, PL_VERSION, 0x00]);
        assert!(held(&mut c).await);
    }

    #[tokio::test]
    async fn bad_option_table_points_past_the_end() {
        let (_server, mut c) = start(MssqlMode::BadOptionTable).await;
        c.write_all(&prelogin(ENCRYPT_OFF, "")).await.unwrap();
        let (kind, payload) = next(&mut c).await;
        assert_eq!((kind, payload.len()), (PT_REPLY, 35));
        assert_eq!(payload[..5], [PL_VERSION, 0x04, 0x00, 0x00, 0x06]);
        assert!(held(&mut c).await);
    }

    #[tokio::test]
    async fn trickle_sends_a_byte_a_second() {
        let (_server, mut c) = start(MssqlMode::Trickle).await;
        c.write_all(&prelogin(ENCRYPT_OFF, "")).await.unwrap();
        let mut byte = [0u8; 2];
        timeout(WAIT, c.read_exact(&mut byte[..1])).await.unwrap().unwrap();
        let t = std::time::Instant::now();
        timeout(WAIT, c.read_exact(&mut byte[1..])).await.unwrap().unwrap();
        assert_eq!(byte, [0x04, 0x01]);
        assert!(t.elapsed() >= Duration::from_millis(800), "{:?}", t.elapsed());
    }

    #[tokio::test]
    async fn silent_never_answers() {
        let (_server, mut c) = start(MssqlMode::Silent).await;
        c.write_all(&prelogin(ENCRYPT_OFF, "")).await.unwrap();
        assert!(held(&mut c).await);
    }

    #[tokio::test]
    async fn browser_lists_instances_and_answers_for_one() {
        let instances = vec![
            BrowserInstance {
                server_name: "H".into(),
                instance: "MSSQLSERVER".into(),
                version: "16.0.4135.4".into(),
                tcp_port: Some(1433),
                clustered: false,
            },
            BrowserInstance {
                server_name: "H".into(),
                instance: "SQLEXPRESS".into(),
                version: "15.0.2000.5".into(),
                tcp_port: None,
                clustered: true,
            },
        ];
        let server = serve_browser(UdpSocket::bind("127.0.0.1:0").await.unwrap(), instances);
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.connect(server.addr).await.unwrap();
        let ask = |request: &'static [u8]| {
            let client = &client;
            async move {
                client.send(request).await.unwrap();
                let mut buf = [0u8; 2048];
                let n = timeout(Duration::from_millis(500), client.recv(&mut buf)).await.ok()?.unwrap();
                assert_eq!(buf[0], 0x05);
                assert_eq!(usize::from(u16::from_le_bytes([buf[1], buf[2]])), n - 3);
                Some(String::from_utf8(buf[3..n].to_vec()).unwrap())
            }
        };
        let first = "ServerName;H;InstanceName;MSSQLSERVER;IsClustered;No;Version;16.0.4135.4;tcp;1433;;";
        let second = "ServerName;H;InstanceName;SQLEXPRESS;IsClustered;Yes;Version;15.0.2000.5;;";
        assert_eq!(ask(b"\x03").await.unwrap(), format!("{first}{second}"));
        assert_eq!(ask(b"\x02").await.unwrap(), format!("{first}{second}"));
        assert_eq!(ask(b"\x04sqlexpress\x00").await.unwrap(), second);
        assert_eq!(ask(b"\x04NOPE\x00").await, None);
        assert_eq!(ask(b"\x0f\x01MSSQLSERVER\x00").await, None);
        assert_eq!(ask(b"\x05garbage").await, None);
        // Still answering after the garbage.
        assert_eq!(ask(b"\x04MSSQLSERVER").await.unwrap(), first);
    }
}
