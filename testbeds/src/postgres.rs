//! A PostgreSQL responder: enough of a server for a client to log in and ask `SELECT version()`,
//! and the broken or refusing servers a real one will not impersonate on demand.
//!
//! A real PostgreSQL (`testbeds/scripts/databases.sh`) is the truth for the `postgres` probe;
//! this responder exists so the demo and the tests run in-process, and so the refusals a real
//! server gives only in awkward states (too many clients, starting up, a pg_hba.conf without an
//! entry) and a server that lies about a message length can be produced at will.
//!
//! It follows the PostgreSQL documentation, chapter "Frontend/Backend Protocol"
//! (<https://www.postgresql.org/docs/current/protocol.html>): the start-up (SSLRequest,
//! GSSENCRequest, StartupMessage, authentication, ParameterStatus, BackendKeyData,
//! ReadyForQuery) and the simple and extended query flows of "Message Flow"
//! (<https://www.postgresql.org/docs/current/protocol-flow.html>), the layouts of "Message
//! Formats" (<https://www.postgresql.org/docs/current/protocol-message-formats.html>), the fields
//! of "Error and Notice Message Fields"
//! (<https://www.postgresql.org/docs/current/protocol-error-fields.html>), and SCRAM-SHA-256 as
//! "SASL Authentication" (<https://www.postgresql.org/docs/current/sasl-authentication.html>,
//! RFC 5802 and RFC 7677) describes it. Where the documentation leaves a choice (the order of
//! the checks, which messages come in one write, the texts), it does what PostgreSQL 15 does on
//! the wire: authentication first, then `role "x" does not exist`, then `database "x" does not
//! exist`, each after AuthenticationOk.
//!
//! Every read is bounded (a StartupMessage of at most 10 000 bytes as in PostgreSQL, other
//! messages of at most 1 MiB), client garbage is answered with an ErrorResponse or a close
//! instead of a panic, and every connection task ends when its client leaves.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use crate::Server;
use crate::bytes::Cursor;
use crate::conn::{BoxIo, accept_each, finish, hold, send};

/// How the responder behaves: a working server, or one of the failures a probe must grade.
#[derive(Clone, Debug)]
pub enum PgMode {
    /// A server that negotiates SSL, authenticates as [`PgConfig::auth`] says, checks the role
    /// and the database like PostgreSQL and then answers `SELECT version()` in the simple and
    /// the extended query protocol, so the probe's happy path and its refusals can be shown
    /// without PostgreSQL.
    Server(PgConfig),
    /// Answers the StartupMessage with an ErrorResponse (severity FATAL, `sqlstate`, `message`)
    /// and closes: the refusals PostgreSQL gives before any authentication, such as 28000 `no
    /// pg_hba.conf entry for host ...`, 53300 `sorry, too many clients already` or 57P03 `the
    /// database system is starting up`, which a real server gives only in states hard to
    /// arrange. SSLRequest and GSSENCRequest are answered first as in [`PgMode::Server`].
    Reject {
        /// The SQLSTATE, the `C` field.
        sqlstate: String,
        /// The primary message, the `M` field.
        message: String,
    },
    /// Answers SSLRequest with `N` (also under [`serve_ssl`]), then the StartupMessage with
    /// `R 7F FF FF F0 00 00 00 00`: an authentication request claiming 2 GiB, whose first four
    /// bytes say AuthenticationOk; then holds the connection. A reader that trusts the length
    /// allocates 2 GiB or waits forever.
    LyingLength,
}

/// The authentication the [`PgMode::Server`] asks for, one per `pg_hba.conf` method a probe
/// must recognise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgAuth {
    /// No password asked: AuthenticationOk at once, as a `trust` line gives.
    Trust,
    /// AuthenticationCleartextPassword (the `password` method); the PasswordMessage is compared
    /// with [`PgConfig::password`].
    Cleartext,
    /// AuthenticationMD5Password with a random salt (the `md5` method); the answer is checked as
    /// `"md5" + md5(hex(md5(password + user)) + salt)`.
    Md5,
    /// AuthenticationSASL offering `SCRAM-SHA-256` only (the `scram-sha-256` method), and the
    /// full exchange with the proof checked and the server signature sent. `SCRAM-SHA-256-PLUS`
    /// (channel binding) is not offered, not even over TLS.
    Scram,
}

/// What the [`PgMode::Server`] knows, so each outcome of a probe (logged in, password refused,
/// role or database missing) can be arranged.
#[derive(Clone, Debug)]
pub struct PgConfig {
    /// The `server_version` ParameterStatus, which clients report as the server's version;
    /// `SELECT version()` answers `PostgreSQL <server_version>`, followed by ` (portproof
    /// testbed)` unless the version says so already. Default `16.0 (portproof testbed)`.
    pub server_version: String,
    /// The authentication asked of every client. Default [`PgAuth::Trust`].
    pub auth: PgAuth,
    /// The roles that exist. Under [`PgAuth::Trust`] any other gets 28000 `role "x" does not
    /// exist`; under the password methods it goes through the exchange and gets 28P01, as
    /// PostgreSQL does not tell which roles exist to those who cannot log in. Default
    /// `postgres` and `portproof`.
    pub users: Vec<String>,
    /// The password of every role, for [`PgAuth::Cleartext`], [`PgAuth::Md5`] and
    /// [`PgAuth::Scram`]; `None` makes every password wrong, like a role without one. Default
    /// `Some("portproof-secret")`.
    pub password: Option<String>,
    /// The databases that exist; any other gets 3D000 `database "x" does not exist` after
    /// authentication. A StartupMessage without `database` asks for the one named like the
    /// user. Default `postgres` and `portproof`.
    pub databases: Vec<String>,
}

impl Default for PgConfig {
    fn default() -> Self {
        PgConfig {
            server_version: "16.0 (portproof testbed)".to_owned(),
            auth: PgAuth::Trust,
            users: vec!["postgres".to_owned(), "portproof".to_owned()],
            password: Some("portproof-secret".to_owned()),
            databases: vec!["postgres".to_owned(), "portproof".to_owned()],
        }
    }
}

/// Serves `mode` without SSL on `listener`: SSLRequest and GSSENCRequest are answered with `N`,
/// as by a server with `ssl = off`.
pub fn serve(listener: TcpListener, mode: PgMode) -> Server {
    accept_loop(listener, None, mode)
}

/// Serves `mode` with SSL on `listener`, as PostgreSQL with `ssl = on`: SSLRequest is answered
/// with `S` and the TLS handshake with `config` follows, then the same protocol inside it; a
/// client that starts without SSLRequest is served in plain TCP. The ALPN list of `config` is
/// replaced by `postgresql`, the only one PostgreSQL 17 accepts and the one libpq 17 sends.
pub fn serve_ssl(listener: TcpListener, mode: PgMode, config: Arc<rustls::ServerConfig>) -> Server {
    let mut config = (*config).clone();
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    accept_loop(listener, Some(TlsAcceptor::from(Arc::new(config))), mode)
}

/// The request codes that take the place of a protocol version in the first message.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;
/// PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
const MAX_STARTUP: usize = 10_000;
/// PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH: the largest password or SASL message.
const MAX_AUTH_MESSAGE: usize = 65_535;
/// The largest other message accepted from a client.
const MAX_MESSAGE: usize = 1 << 20;
/// How many prepared statements or portals a connection may hold.
const MAX_NAMED: usize = 100;
/// How long a client may take for each step of the start-up and the authentication.
const STARTUP_WAIT: Duration = Duration::from_secs(10);
/// PostgreSQL's scram_iterations default.
const SCRAM_ITERATIONS: u32 = 4096;
/// The type of `version()`'s column: `text`.
const TEXT_OID: u32 = 25;
/// The first process id of BackendKeyData on each server.
const FIRST_PID: u32 = 4242;

const AUTH_OK: u32 = 0;
const AUTH_CLEARTEXT: u32 = 3;
const AUTH_MD5: u32 = 5;
const AUTH_SASL: u32 = 10;
const AUTH_SASL_CONTINUE: u32 = 11;
const AUTH_SASL_FINAL: u32 = 12;

const FATAL: &str = "FATAL";
const ERROR: &str = "ERROR";

type Stream = BufReader<BoxIo>;

/// What every connection of one server shares.
struct Shared {
    mode: PgMode,
    tls: Option<TlsAcceptor>,
    next_pid: AtomicU32,
}

fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, mode: PgMode) -> Server {
    let shared = Arc::new(Shared { mode, tls, next_pid: AtomicU32::new(FIRST_PID) });
    accept_each(listener, move |tcp| {
        let shared = shared.clone();
        async move { connection(tcp, &shared).await }
    })
}

async fn connection(tcp: TcpStream, shared: &Shared) {
    let tls = match shared.mode {
        PgMode::LyingLength => None,
        _ => shared.tls.as_ref(),
    };
    let Some((io, startup)) = negotiate(Box::new(tcp), tls).await else { return };
    let mut s = BufReader::new(io);
    if let Some((code, body)) = startup {
        match &shared.mode {
            PgMode::Server(config) => {
                let _ = server(&mut s, code, &body, config, shared).await;
            }
            PgMode::Reject { sqlstate, message } => {
                let _ = send(&mut s, &error_response(FATAL, sqlstate, message)).await;
            }
            PgMode::LyingLength => {
                let mut lie = vec![b'R'];
                lie.extend(0x7FFF_FFF0u32.to_be_bytes());
                lie.extend(AUTH_OK.to_be_bytes());
                if send(&mut s, &lie).await.is_some() {
                    hold(&mut s).await;
                }
                return;
            }
        }
    }
    finish(&mut s).await;
}

/// The requests that may precede the StartupMessage: SSLRequest (`S` and TLS when `tls` is
/// given, else `N`), GSSENCRequest (`N`), each once as in PostgreSQL, and CancelRequest (no
/// answer, then a close). Returns the stream with the StartupMessage's code and body, or with
/// `None` when the connection is to be closed; `None` outright when the TLS handshake failed.
async fn negotiate(mut io: BoxIo, tls: Option<&TlsAcceptor>) -> Option<(BoxIo, Option<(u32, Vec<u8>)>)> {
    let (mut ssl_done, mut gss_done) = (false, false);
    loop {
        // Read from the bare stream, not through a buffer: the TLS handshake must find every
        // byte that follows the SSLRequest.
        let mut head = [0u8; 8];
        if !matches!(timeout(STARTUP_WAIT, io.read_exact(&mut head)).await, Ok(Ok(_))) {
            return Some((io, None));
        }
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let code = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        // PostgreSQL closes without a word on an impossible length ("invalid length of startup
        // packet" goes to its log only).
        if !(8..=MAX_STARTUP).contains(&len) {
            return Some((io, None));
        }
        match code {
            SSL_REQUEST if len == 8 && !ssl_done => {
                ssl_done = true;
                match tls {
                    Some(acceptor) => {
                        if write_now(&mut io, b"S").await.is_none() {
                            return Some((io, None));
                        }
                        let Ok(Ok(stream)) = timeout(STARTUP_WAIT, acceptor.accept(io)).await else { return None };
                        io = Box::new(stream);
                        // No GSS encryption inside TLS.
                        gss_done = true;
                    }
                    None => {
                        if write_now(&mut io, b"N").await.is_none() {
                            return Some((io, None));
                        }
                    }
                }
            }
            GSSENC_REQUEST if len == 8 && !gss_done => {
                gss_done = true;
                if write_now(&mut io, b"N").await.is_none() {
                    return Some((io, None));
                }
            }
            CANCEL_REQUEST if len == 16 => {
                let mut key = [0u8; 8];
                let _ = timeout(STARTUP_WAIT, io.read_exact(&mut key)).await;
                return Some((io, None));
            }
            // A StartupMessage, or a repeated request, which PostgreSQL takes for a protocol
            // version it does not support.
            _ => {
                let mut body = vec![0u8; len - 8];
                if !matches!(timeout(STARTUP_WAIT, io.read_exact(&mut body)).await, Ok(Ok(_))) {
                    return Some((io, None));
                }
                return Some((io, Some((code, body))));
            }
        }
    }
}

/// The working server, from the StartupMessage on; `None` when the connection is to be closed.
async fn server(s: &mut Stream, code: u32, body: &[u8], config: &PgConfig, shared: &Shared) -> Option<()> {
    let (major, minor) = (code >> 16, code & 0xFFFF);
    if major != 3 {
        let text = format!("unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.0");
        return send(s, &error_response(FATAL, "0A000", &text)).await;
    }
    let Some(params) = startup_params(body) else {
        let text = "invalid startup packet layout: expected terminator as last byte";
        return send(s, &error_response(FATAL, "08P01", text)).await;
    };
    let param = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let Some(user) = param("user").filter(|u| !u.is_empty()).map(str::to_owned) else {
        let text = "no PostgreSQL user name specified in startup packet";
        return send(s, &error_response(FATAL, "28000", text)).await;
    };
    let database = param("database").filter(|d| !d.is_empty()).unwrap_or(&user).to_owned();

    // A newer 3.x minor version or `_pq_.` options: say what this server speaks, and go on.
    let unknown: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).filter(|k| k.starts_with("_pq_.")).collect();
    if minor > 0 || !unknown.is_empty() {
        let mut body = 0u32.to_be_bytes().to_vec();
        body.extend((unknown.len() as u32).to_be_bytes());
        for option in &unknown {
            put_cstr(&mut body, option);
        }
        send(s, &message(b'v', &body)).await?;
    }

    let known = config.users.contains(&user);
    // An unknown role goes through the same exchange and fails the same way.
    let password = config.password.as_deref().filter(|_| known);
    let authenticated = match config.auth {
        PgAuth::Trust => true,
        PgAuth::Cleartext => cleartext(s, password).await?,
        PgAuth::Md5 => md5_password(s, &user, password).await?,
        PgAuth::Scram => scram(s, &user, password).await?,
    };
    if !authenticated {
        let text = format!("password authentication failed for user \"{user}\"");
        return send(s, &error_response(FATAL, "28P01", &text)).await;
    }

    let mut out = auth_request(AUTH_OK, &[]);
    if !known {
        out.extend(error_response(FATAL, "28000", &format!("role \"{user}\" does not exist")));
        return send(s, &out).await;
    }
    if !config.databases.contains(&database) {
        out.extend(error_response(FATAL, "3D000", &format!("database \"{database}\" does not exist")));
        return send(s, &out).await;
    }
    let application_name: String =
        param("application_name").unwrap_or("").chars().map(|c| if c.is_ascii() { c } else { '?' }).take(63).collect();
    let client_encoding = param("client_encoding")
        .filter(|e| !e.is_empty() && e.len() <= 32 && e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .map_or_else(|| "UTF8".to_owned(), str::to_ascii_uppercase);
    let is_superuser = if user == "postgres" { "on" } else { "off" };
    // The parameters PostgreSQL 15 reports, in its order.
    let statuses = [
        ("application_name", application_name.as_str()),
        ("client_encoding", &client_encoding),
        ("DateStyle", "ISO, MDY"),
        ("default_transaction_read_only", "off"),
        ("in_hot_standby", "off"),
        ("integer_datetimes", "on"),
        ("IntervalStyle", "postgres"),
        ("is_superuser", is_superuser),
        ("server_encoding", "UTF8"),
        ("server_version", &config.server_version),
        ("session_authorization", &user),
        ("standard_conforming_strings", "on"),
        ("TimeZone", "Etc/UTC"),
    ];
    for (key, value) in statuses {
        let mut body = Vec::new();
        put_cstr(&mut body, key);
        put_cstr(&mut body, value);
        out.extend(message(b'S', &body));
    }
    let mut key = shared.next_pid.fetch_add(1, Ordering::Relaxed).to_be_bytes().to_vec();
    key.extend(random::<4>());
    out.extend(message(b'K', &key));
    out.extend(ready());
    send(s, &out).await?;

    let mut session = Session::new(&config.server_version);
    loop {
        let (kind, body) = match read_message(s, MAX_MESSAGE).await {
            Incoming::Message(kind, body) => (kind, body),
            Incoming::BadLength => {
                return send(s, &error_response(FATAL, "08P01", "invalid message length")).await;
            }
            Incoming::Gone => return None,
        };
        let mut out = Vec::new();
        let next = session.handle(kind, &body, &mut out);
        if !out.is_empty() {
            send(s, &out).await?;
        }
        if let Next::Close = next {
            return Some(());
        }
    }
}

/// The key/value pairs of a StartupMessage after its version; `None` when the layout is broken.
fn startup_params(body: &[u8]) -> Option<Vec<(String, String)>> {
    let (last, body) = body.split_last()?;
    if *last != 0 {
        return None;
    }
    let mut c = Cursor(body);
    let mut params = Vec::new();
    while !c.0.is_empty() {
        let key = String::from_utf8_lossy(c.cstr()?).into_owned();
        let value = String::from_utf8_lossy(c.cstr()?).into_owned();
        params.push((key, value));
    }
    Some(params)
}

/// Reads the client's answer to an authentication request; `None` (after a FATAL where
/// PostgreSQL sends one) when the client left or sent something else.
async fn password_message(s: &mut Stream) -> Option<Vec<u8>> {
    match timeout(STARTUP_WAIT, read_message(s, MAX_AUTH_MESSAGE)).await {
        Ok(Incoming::Message(b'p', body)) => Some(body),
        Ok(Incoming::Message(kind, _)) => {
            let text = format!("expected password response, got message type {kind}");
            send(s, &error_response(FATAL, "08P01", &text)).await;
            None
        }
        Ok(Incoming::BadLength) => {
            send(s, &error_response(FATAL, "08P01", "invalid message length")).await;
            None
        }
        Ok(Incoming::Gone) | Err(_) => None,
    }
}

/// The `password` method: `Some(true)` when the PasswordMessage is the password.
async fn cleartext(s: &mut Stream, password: Option<&str>) -> Option<bool> {
    send(s, &auth_request(AUTH_CLEARTEXT, &[])).await?;
    let body = password_message(s).await?;
    let Some(answer) = whole_cstr(&body) else { return malformed(s, "invalid password packet size").await };
    Some(password.is_some_and(|p| !p.is_empty() && p.as_bytes() == answer))
}

/// The `md5` method: `Some(true)` when the answer is `"md5" + md5(hex(md5(password + user)) +
/// salt)` in lowercase hex.
async fn md5_password(s: &mut Stream, user: &str, password: Option<&str>) -> Option<bool> {
    let salt = random::<4>();
    send(s, &auth_request(AUTH_MD5, &salt)).await?;
    let body = password_message(s).await?;
    let Some(answer) = whole_cstr(&body) else { return malformed(s, "invalid password packet size").await };
    Some(password.is_some_and(|password| answer == md5_answer(password, user, &salt).as_bytes()))
}

/// What a client answers to AuthenticationMD5Password.
fn md5_answer(password: &str, user: &str, salt: &[u8; 4]) -> String {
    let mut inner = hex(&md5(format!("{password}{user}").as_bytes())).into_bytes();
    inner.extend(salt);
    format!("md5{}", hex(&md5(&inner)))
}

/// The `scram-sha-256` method (RFC 5802 with SHA-256, RFC 7677): `Some(true)` when the client
/// proved it knows the password, after AuthenticationSASLFinal with the server's signature.
/// The salt is derived from the user name, so that it stays the same across connections as a
/// stored one does; unknown users and wrong passwords fail only at the proof, as in PostgreSQL.
async fn scram(s: &mut Stream, user: &str, password: Option<&str>) -> Option<bool> {
    send(s, &auth_request(AUTH_SASL, b"SCRAM-SHA-256\0\0")).await?;

    let body = password_message(s).await?;
    let mut c = Cursor(&body);
    let mechanism = c.cstr();
    let len = c.u32_be();
    let (Some(mechanism), Some(len)) = (mechanism, len) else { return malformed(s, "invalid message format").await };
    if mechanism != b"SCRAM-SHA-256" {
        return malformed(s, "client selected an invalid SASL authentication mechanism").await;
    }
    let Some(first) = (len as usize == c.0.len()).then(|| ClientFirst::parse(c.0)).flatten() else {
        return malformed(s, "malformed SCRAM message").await;
    };

    let nonce = format!("{}{}", first.nonce, base64(&random::<18>()));
    let salt = scram_salt(user);
    let server_first = format!("r={nonce},s={},i={SCRAM_ITERATIONS}", base64(&salt));
    send(s, &auth_request(AUTH_SASL_CONTINUE, server_first.as_bytes())).await?;

    let body = password_message(s).await?;
    let last = ClientFinal::parse(&body)
        .filter(|last| last.channel_binding == first.gs2_header.as_bytes() && last.nonce == nonce);
    let Some(last) = last else { return malformed(s, "malformed SCRAM message").await };
    let auth_message = format!("{},{},{}", first.bare, server_first, last.without_proof);
    let Some(signature) = password.and_then(|p| scram_verify(p, &salt, SCRAM_ITERATIONS, &auth_message, &last.proof))
    else {
        return Some(false);
    };
    send(s, &auth_request(AUTH_SASL_FINAL, format!("v={}", base64(&signature)).as_bytes())).await?;
    Some(true)
}

/// Sends FATAL 08P01 with `text`; `None`, to close.
async fn malformed<T>(s: &mut Stream, text: &str) -> Option<T> {
    send(s, &error_response(FATAL, "08P01", text)).await;
    None
}

/// The salt of `user`'s SCRAM secret: stable, as a stored one is, and unlike another user's.
fn scram_salt(user: &str) -> [u8; 16] {
    let hash = digest::digest(&digest::SHA256, format!("portproof testbed SCRAM salt {user}").as_bytes());
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&hash.as_ref()[..16]);
    salt
}

/// Checks a SCRAM-SHA-256 ClientProof against `password` (RFC 5802 §3); the ServerSignature
/// when it holds.
fn scram_verify(password: &str, salt: &[u8], iterations: u32, auth_message: &str, proof: &[u8]) -> Option<[u8; 32]> {
    if proof.len() != 32 {
        return None;
    }
    let mut salted = [0u8; 32];
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, NonZeroU32::new(iterations)?, salt, password.as_bytes(), &mut salted);
    let salted = hmac::Key::new(hmac::HMAC_SHA256, &salted);
    let client_key = hmac::sign(&salted, b"Client Key");
    let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
    let client_signature = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, stored_key.as_ref()), auth_message.as_bytes());
    let recovered: Vec<u8> = proof.iter().zip(client_signature.as_ref()).map(|(p, s)| p ^ s).collect();
    if digest::digest(&digest::SHA256, &recovered).as_ref() != stored_key.as_ref() {
        return None;
    }
    let server_key = hmac::sign(&salted, b"Server Key");
    let server_signature = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, server_key.as_ref()), auth_message.as_bytes());
    server_signature.as_ref().try_into().ok()
}

/// The client-first-message of SCRAM.
struct ClientFirst<'a> {
    /// `n,,` or `y,,`: no channel binding (`p=` needs SCRAM-SHA-256-PLUS, which is not offered).
    gs2_header: &'static str,
    /// The message after the GS2 header, part of the AuthMessage.
    bare: &'a str,
    nonce: &'a str,
}

impl<'a> ClientFirst<'a> {
    fn parse(data: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(data).ok()?;
        let mut parts = text.splitn(3, ',');
        let gs2_header = match (parts.next()?, parts.next()?) {
            ("n", "") => "n,,",
            ("y", "") => "y,,",
            _ => return None,
        };
        let bare = parts.next()?;
        let mut attributes = bare.split(',');
        // PostgreSQL ignores the user name here: the StartupMessage's counts.
        attributes.next()?.strip_prefix("n=")?;
        let nonce = attributes.next()?.strip_prefix("r=")?;
        let printable = nonce.bytes().all(|b| (0x21..=0x7E).contains(&b));
        (!nonce.is_empty() && printable).then_some(ClientFirst { gs2_header, bare, nonce })
    }
}

/// The client-final-message of SCRAM.
struct ClientFinal<'a> {
    channel_binding: Vec<u8>,
    nonce: &'a str,
    /// The message up to `,p=`, part of the AuthMessage.
    without_proof: &'a str,
    proof: Vec<u8>,
}

impl<'a> ClientFinal<'a> {
    fn parse(data: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(data).ok()?;
        let at = text.rfind(",p=")?;
        let (without_proof, proof) = (&text[..at], &text[at + 3..]);
        let mut attributes = without_proof.split(',');
        let channel_binding = unbase64(attributes.next()?.strip_prefix("c=")?)?;
        let nonce = attributes.next()?.strip_prefix("r=")?;
        Some(ClientFinal { channel_binding, nonce, without_proof, proof: unbase64(proof)? })
    }
}

/// The one query served, and the empty one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Query {
    Version,
    Empty,
}

/// `SELECT version()` in any case and spacing, with or without a semicolon; `None` for
/// anything else.
fn classify(sql: &str) -> Option<Query> {
    let sql = sql.trim_matches(|c: char| c == ';' || c.is_whitespace());
    if sql.is_empty() {
        return Some(Query::Empty);
    }
    let lower = sql.to_ascii_lowercase();
    let rest = lower.strip_prefix("select")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let rest: String = rest.chars().filter(|c| !c.is_whitespace()).collect();
    (rest == "version()").then_some(Query::Version)
}

/// A prepared statement of the extended protocol.
struct Statement {
    query: Query,
    param_types: Vec<u32>,
}

/// A portal (a bound statement) of the extended protocol.
struct Portal {
    query: Query,
    binary: bool,
    done: bool,
}

/// What to do after a message.
enum Next {
    Continue,
    Close,
}

/// An error answered with ErrorResponse (severity ERROR).
struct QueryError {
    sqlstate: &'static str,
    message: String,
}

fn query_error(sqlstate: &'static str, message: impl Into<String>) -> QueryError {
    QueryError { sqlstate, message: message.into() }
}

/// The query phase of one connection.
struct Session {
    version: String,
    statements: HashMap<String, Statement>,
    portals: HashMap<String, Portal>,
    /// After an error in the extended protocol every message up to Sync is discarded.
    skipping: bool,
}

impl Session {
    fn new(server_version: &str) -> Self {
        let version = if server_version.contains("(portproof testbed)") {
            format!("PostgreSQL {server_version}")
        } else {
            format!("PostgreSQL {server_version} (portproof testbed)")
        };
        Session { version, statements: HashMap::new(), portals: HashMap::new(), skipping: false }
    }

    /// Answers one message into `out`.
    fn handle(&mut self, kind: u8, body: &[u8], out: &mut Vec<u8>) -> Next {
        if self.skipping && !matches!(kind, b'S' | b'X') {
            return Next::Continue;
        }
        let result = match kind {
            b'Q' => {
                self.simple_query(body, out);
                Ok(())
            }
            b'P' => self.parse(body, out),
            b'B' => self.bind(body, out),
            b'D' => self.describe(body, out),
            b'E' => self.execute(body, out),
            b'C' => self.close(body, out),
            b'S' => {
                self.skipping = false;
                // Sync ends the implicit transaction, which drops every portal.
                self.portals.clear();
                out.extend(ready());
                Ok(())
            }
            b'H' => Ok(()),
            b'F' => {
                out.extend(error_response(ERROR, "0A000", "the portproof testbed serves no function calls"));
                out.extend(ready());
                Ok(())
            }
            // Copy messages outside a COPY are ignored, as the protocol asks.
            b'd' | b'c' | b'f' => Ok(()),
            b'X' => return Next::Close,
            _ => {
                out.extend(error_response(FATAL, "08P01", &format!("invalid frontend message type {kind}")));
                return Next::Close;
            }
        };
        if let Err(e) = result {
            out.extend(error_response(ERROR, e.sqlstate, &e.message));
            self.skipping = true;
        }
        Next::Continue
    }

    /// Query: the whole simple query cycle, ending with ReadyForQuery.
    fn simple_query(&mut self, body: &[u8], out: &mut Vec<u8>) {
        self.statements.remove("");
        self.portals.remove("");
        match whole_cstr(body).map(|sql| (sql, std::str::from_utf8(sql).ok().and_then(classify))) {
            None => out.extend(error_response(ERROR, "08P01", "invalid message format")),
            Some((_, Some(Query::Version))) => {
                out.extend(row_description(false));
                out.extend(self.data_row());
                out.extend(message(b'C', b"SELECT 1\0"));
            }
            Some((_, Some(Query::Empty))) => out.extend(message(b'I', &[])),
            Some((sql, None)) => {
                let error = unsupported(sql);
                out.extend(error_response(ERROR, error.sqlstate, &error.message));
            }
        }
        out.extend(ready());
    }

    /// Parse: name, query, parameter types.
    fn parse(&mut self, body: &[u8], out: &mut Vec<u8>) -> Result<(), QueryError> {
        let mut c = Cursor(body);
        let parsed = (|| {
            let name = c.string()?;
            let sql = c.cstr()?;
            let n = c.u16_be()?;
            let types = (0..n).map(|_| c.u32_be()).collect::<Option<Vec<u32>>>()?;
            c.0.is_empty().then_some((name, sql, types))
        })();
        let (name, sql, param_types) = parsed.ok_or_else(invalid_format)?;
        let query = std::str::from_utf8(sql).ok().and_then(classify).ok_or_else(|| unsupported(sql))?;
        if !name.is_empty() {
            if self.statements.contains_key(&name) {
                return Err(query_error("42P05", format!("prepared statement \"{name}\" already exists")));
            }
            if self.statements.len() >= MAX_NAMED {
                return Err(query_error("54000", "too many prepared statements for the portproof testbed"));
            }
        }
        self.statements.insert(name, Statement { query, param_types });
        out.extend(message(b'1', &[]));
        Ok(())
    }

    /// Bind: portal, statement, parameter formats and values, result formats.
    fn bind(&mut self, body: &[u8], out: &mut Vec<u8>) -> Result<(), QueryError> {
        let mut c = Cursor(body);
        let parsed = (|| {
            let portal = c.string()?;
            let statement = c.string()?;
            let n = c.u16_be()?;
            c.take(2 * usize::from(n))?;
            let params = c.u16_be()?;
            for _ in 0..params {
                let len = c.u32_be()?;
                if len != u32::MAX {
                    c.take(len as usize)?;
                }
            }
            let n = c.u16_be()?;
            let formats = (0..n).map(|_| c.u16_be()).collect::<Option<Vec<u16>>>()?;
            c.0.is_empty().then_some((portal, statement, params, formats))
        })();
        let (portal, name, params, formats) = parsed.ok_or_else(invalid_format)?;
        let Some(statement) = self.statements.get(&name) else {
            return Err(query_error("26000", format!("prepared statement \"{name}\" does not exist")));
        };
        if usize::from(params) != statement.param_types.len() {
            let text = format!(
                "bind message supplies {params} parameters, but prepared statement \"{name}\" requires {}",
                statement.param_types.len()
            );
            return Err(query_error("08P01", text));
        }
        if let Some(bad) = formats.iter().find(|f| **f > 1) {
            return Err(query_error("22023", format!("unsupported format code: {bad}")));
        }
        let columns = usize::from(statement.query == Query::Version);
        if formats.len() > 1 && formats.len() != columns {
            let text = format!("bind message has {} result formats but query has {columns} columns", formats.len());
            return Err(query_error("08P01", text));
        }
        if !portal.is_empty() {
            if self.portals.contains_key(&portal) {
                return Err(query_error("42P03", format!("cursor \"{portal}\" already exists")));
            }
            if self.portals.len() >= MAX_NAMED {
                return Err(query_error("54000", "too many portals for the portproof testbed"));
            }
        }
        let query = statement.query;
        self.portals.insert(portal, Portal { query, binary: formats.first() == Some(&1), done: false });
        out.extend(message(b'2', &[]));
        Ok(())
    }

    /// Describe: ParameterDescription and RowDescription (or NoData) of a statement, or the
    /// RowDescription (with the bound formats) of a portal.
    fn describe(&mut self, body: &[u8], out: &mut Vec<u8>) -> Result<(), QueryError> {
        let (&what, rest) = body.split_first().ok_or_else(invalid_format)?;
        let name = whole_string(rest).ok_or_else(invalid_format)?;
        match what {
            b'S' => {
                let Some(statement) = self.statements.get(&name) else {
                    return Err(query_error("26000", format!("prepared statement \"{name}\" does not exist")));
                };
                let mut types = (statement.param_types.len() as u16).to_be_bytes().to_vec();
                for oid in &statement.param_types {
                    types.extend(oid.to_be_bytes());
                }
                out.extend(message(b't', &types));
                out.extend(match statement.query {
                    Query::Version => row_description(false),
                    Query::Empty => message(b'n', &[]),
                });
            }
            b'P' => {
                let Some(portal) = self.portals.get(&name) else {
                    return Err(query_error("34000", format!("portal \"{name}\" does not exist")));
                };
                out.extend(match portal.query {
                    Query::Version => row_description(portal.binary),
                    Query::Empty => message(b'n', &[]),
                });
            }
            _ => return Err(query_error("08P01", format!("invalid DESCRIBE message subtype {what}"))),
        }
        Ok(())
    }

    /// Execute: the row (text and binary `text` are the same bytes), then CommandComplete, or
    /// PortalSuspended when the row limit was reached.
    fn execute(&mut self, body: &[u8], out: &mut Vec<u8>) -> Result<(), QueryError> {
        let mut c = Cursor(body);
        let parsed = (|| {
            let name = c.string()?;
            let max_rows = c.u32_be()?;
            c.0.is_empty().then_some((name, max_rows))
        })();
        let (name, max_rows) = parsed.ok_or_else(invalid_format)?;
        let row = self.data_row();
        let Some(portal) = self.portals.get_mut(&name) else {
            return Err(query_error("34000", format!("portal \"{name}\" does not exist")));
        };
        match portal.query {
            Query::Empty => out.extend(message(b'I', &[])),
            Query::Version => {
                let sent = u32::from(!portal.done);
                if !portal.done {
                    out.extend(row);
                    portal.done = true;
                }
                if max_rows > 0 && sent == max_rows {
                    out.extend(message(b's', &[]));
                } else {
                    out.extend(message(b'C', format!("SELECT {sent}\0").as_bytes()));
                }
            }
        }
        Ok(())
    }

    /// Close: drops a statement or a portal; closing one that does not exist is no error.
    fn close(&mut self, body: &[u8], out: &mut Vec<u8>) -> Result<(), QueryError> {
        let (&what, rest) = body.split_first().ok_or_else(invalid_format)?;
        let name = whole_string(rest).ok_or_else(invalid_format)?;
        match what {
            b'S' => drop(self.statements.remove(&name)),
            b'P' => drop(self.portals.remove(&name)),
            _ => return Err(query_error("08P01", format!("invalid CLOSE message subtype {what}"))),
        }
        out.extend(message(b'3', &[]));
        Ok(())
    }

    /// The one DataRow: the version string.
    fn data_row(&self) -> Vec<u8> {
        let mut body = 1u16.to_be_bytes().to_vec();
        body.extend((self.version.len() as u32).to_be_bytes());
        body.extend(self.version.as_bytes());
        message(b'D', &body)
    }
}

fn invalid_format() -> QueryError {
    query_error("08P01", "invalid message format")
}

/// The error for every query but `SELECT version()`: a syntax error, the one class of error
/// any query can get.
fn unsupported(sql: &[u8]) -> QueryError {
    let sql = String::from_utf8_lossy(sql);
    let mut shown: String = sql.trim().chars().take(60).collect();
    if shown.len() < sql.trim().len() {
        shown.push_str("...");
    }
    query_error("42601", format!("the portproof testbed answers only SELECT version(), not \"{shown}\""))
}

/// The RowDescription of `version()`: one `text` column named `version`.
fn row_description(binary: bool) -> Vec<u8> {
    let mut body = 1u16.to_be_bytes().to_vec();
    put_cstr(&mut body, "version");
    body.extend(0u32.to_be_bytes()); // no table
    body.extend(0u16.to_be_bytes()); // no column number
    body.extend(TEXT_OID.to_be_bytes());
    body.extend((-1i16).to_be_bytes()); // variable length
    body.extend((-1i32).to_be_bytes()); // no type modifier
    body.extend(u16::from(binary).to_be_bytes());
    message(b'T', &body)
}

/// A backend message: type, length (counting itself), body.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(kind);
    out.extend((body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// An authentication request: `R`, the request code, its data.
fn auth_request(code: u32, data: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(data);
    message(b'R', &body)
}

/// ReadyForQuery, idle.
fn ready() -> Vec<u8> {
    message(b'Z', b"I")
}

/// An ErrorResponse with the fields every PostgreSQL error has: severity (localised and not),
/// SQLSTATE, message.
fn error_response(severity: &str, sqlstate: &str, text: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [(b'S', severity), (b'V', severity), (b'C', sqlstate), (b'M', text)] {
        body.push(field);
        put_cstr(&mut body, value);
    }
    body.push(0);
    message(b'E', &body)
}

/// Writes a C string, cut at an interior NUL.
fn put_cstr(out: &mut Vec<u8>, s: &str) {
    out.extend(s.bytes().take_while(|b| *b != 0));
    out.push(0);
}

/// A body that is exactly one C string.
fn whole_cstr(body: &[u8]) -> Option<&[u8]> {
    let mut c = Cursor(body);
    let s = c.cstr()?;
    c.0.is_empty().then_some(s)
}

/// A body that is exactly one C string, as text.
fn whole_string(body: &[u8]) -> Option<String> {
    whole_cstr(body).map(|s| String::from_utf8_lossy(s).into_owned())
}

/// A frontend message as read.
enum Incoming {
    Message(u8, Vec<u8>),
    /// A length under 4 or over the limit.
    BadLength,
    Gone,
}

/// Reads one message of at most `max` bytes.
async fn read_message<R: AsyncRead + Unpin>(s: &mut R, max: usize) -> Incoming {
    let mut head = [0u8; 5];
    if s.read_exact(&mut head).await.is_err() {
        return Incoming::Gone;
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if !(4..=max).contains(&len) {
        return Incoming::BadLength;
    }
    let mut body = vec![0u8; len - 4];
    if s.read_exact(&mut body).await.is_err() {
        return Incoming::Gone;
    }
    Incoming::Message(head[0], body)
}

/// Writes and flushes `bytes` on the bare stream of the negotiation.
async fn write_now(io: &mut BoxIo, bytes: &[u8]) -> Option<()> {
    io.write_all(bytes).await.ok()?;
    io.flush().await.ok()
}

/// `N` random bytes (zeros if the system has no randomness to give, which only weakens salts).
fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    let _ = SystemRandom::new().fill(&mut bytes);
    bytes
}

/// PostgreSQL's C strings, as text, on the shared [`Cursor`].
trait PgRead {
    fn string(&mut self) -> Option<String>;
}

impl PgRead for Cursor<'_> {
    fn string(&mut self) -> Option<String> {
        Some(String::from_utf8_lossy(self.cstr()?).into_owned())
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as SCRAM uses.
fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[(n >> (18 - 6 * i) & 0x3F) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 with padding; `None` on anything else.
fn unbase64(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (index, chunk) in bytes.chunks(4).enumerate() {
        let last = index == bytes.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|b| **b == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for (i, b) in chunk[..4 - pad].iter().enumerate() {
            let v = BASE64.iter().position(|c| c == b)? as u32;
            n |= v << (18 - 6 * i);
        }
        out.extend(&n.to_be_bytes()[1..4 - pad]);
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// MD5 (RFC 1321), which the `md5` method needs and `ring` does not offer.
fn md5(input: &[u8]) -> [u8; 16] {
    const SHIFTS: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
    const K: [u32; 64] = [
        0xd76a_a478,
        0xe8c7_b756,
        0x2420_70db,
        0xc1bd_ceee,
        0xf57c_0faf,
        0x4787_c62a,
        0xa830_4613,
        0xfd46_9501,
        0x6980_98d8,
        0x8b44_f7af,
        0xffff_5bb1,
        0x895c_d7be,
        0x6b90_1122,
        0xfd98_7193,
        0xa679_438e,
        0x49b4_0821,
        0xf61e_2562,
        0xc040_b340,
        0x265e_5a51,
        0xe9b6_c7aa,
        0xd62f_105d,
        0x0244_1453,
        0xd8a1_e681,
        0xe7d3_fbc8,
        0x21e1_cde6,
        0xc337_07d6,
        0xf4d5_0d87,
        0x455a_14ed,
        0xa9e3_e905,
        0xfcef_a3f8,
        0x676f_02d9,
        0x8d2a_4c8a,
        0xfffa_3942,
        0x8771_f681,
        0x6d9d_6122,
        0xfde5_380c,
        0xa4be_ea44,
        0x4bde_cfa9,
        0xf6bb_4b60,
        0xbebf_bc70,
        0x289b_7ec6,
        0xeaa1_27fa,
        0xd4ef_3085,
        0x0488_1d05,
        0xd9d4_d039,
        0xe6db_99e5,
        0x1fa2_7cf8,
        0xc4ac_5665,
        0xf429_2244,
        0x432a_ff97,
        0xab94_23a7,
        0xfc93_a039,
        0x655b_59c3,
        0x8f0c_cc92,
        0xffef_f47d,
        0x8584_5dd1,
        0x6fa8_7e4f,
        0xfe2c_e6e0,
        0xa301_4314,
        0x4e08_11a1,
        0xf753_7e82,
        0xbd3a_f235,
        0x2ad7_d2bb,
        0xeb86_d391,
    ];
    let mut state: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let mut data = input.to_vec();
    data.push(0x80);
    while data.len() % 64 != 56 {
        data.push(0);
    }
    data.extend(((input.len() as u64).wrapping_mul(8)).to_le_bytes());
    for block in data.chunks_exact(64) {
        let m: Vec<u32> = block.chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let rotated =
                a.wrapping_add(f).wrapping_add(K[i]).wrapping_add(m[g]).rotate_left(SHIFTS[(i / 16) * 4 + i % 4]);
            (a, b, c, d) = (d, b.wrapping_add(rotated), b, c);
        }
        for (s, v) in state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    }
    let mut out = [0u8; 16];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWrite;

    const WAIT: Duration = Duration::from_secs(5);

    async fn start(mode: PgMode) -> (Server, TcpStream) {
        crate::serve_and_connect(|l| serve(l, mode)).await
    }

    fn startup(params: &[(&str, &str)]) -> Vec<u8> {
        startup_with(196_608, params)
    }

    fn startup_with(version: u32, params: &[(&str, &str)]) -> Vec<u8> {
        let mut body = version.to_be_bytes().to_vec();
        for (k, v) in params {
            put_cstr(&mut body, k);
            put_cstr(&mut body, v);
        }
        body.push(0);
        let mut out = (body.len() as u32 + 4).to_be_bytes().to_vec();
        out.extend(body);
        out
    }

    fn frontend(kind: u8, body: &[u8]) -> Vec<u8> {
        message(kind, body)
    }

    /// Reads one backend message as (type, body).
    async fn next<R: AsyncRead + Unpin>(c: &mut R) -> (u8, Vec<u8>) {
        match timeout(WAIT, read_message(c, 1 << 20)).await.unwrap() {
            Incoming::Message(kind, body) => (kind, body),
            _ => panic!("no message"),
        }
    }

    /// The fields of an ErrorResponse body, as (code, value).
    fn fields(body: &[u8]) -> Vec<(char, String)> {
        let mut c = Cursor(body);
        let mut out = Vec::new();
        while let Some(code) = c.take(1).map(|b| b[0]).filter(|b| *b != 0) {
            out.push((char::from(code), String::from_utf8(c.cstr().unwrap().to_vec()).unwrap()));
        }
        assert!(c.0.is_empty());
        out
    }

    fn error_of(body: &[u8]) -> (String, String, String) {
        let f = fields(body);
        let get = |k: char| f.iter().find(|(c, _)| *c == k).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(get('S'), get('V'));
        (get('S'), get('C'), get('M'))
    }

    async fn eof<R: AsyncRead + Unpin>(c: &mut R) -> bool {
        let mut buf = [0u8; 64];
        // A FIN, not a reset: the close must not lose what was sent before it.
        matches!(timeout(WAIT, c.read(&mut buf)).await, Ok(Ok(0)))
    }

    /// Reads the messages of a successful start-up after AuthenticationOk, up to ReadyForQuery;
    /// returns the ParameterStatus pairs.
    async fn after_auth_ok<R: AsyncRead + Unpin>(c: &mut R) -> Vec<(String, String)> {
        let mut statuses = Vec::new();
        loop {
            match next(c).await {
                (b'S', body) => {
                    let mut cur = Cursor(&body);
                    let k = cur.string().unwrap();
                    let v = cur.string().unwrap();
                    assert!(cur.0.is_empty());
                    statuses.push((k, v));
                }
                (b'K', body) => assert_eq!(body.len(), 8),
                (b'Z', body) => {
                    assert_eq!(body, b"I");
                    return statuses;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    async fn logged_in(params: &[(&str, &str)]) -> (Server, TcpStream, Vec<(String, String)>) {
        let (server, mut c) = start(PgMode::Server(PgConfig::default())).await;
        c.write_all(&startup(params)).await.unwrap();
        assert_eq!(next(&mut c).await, (b'R', vec![0, 0, 0, 0]));
        let statuses = after_auth_ok(&mut c).await;
        (server, c, statuses)
    }

    #[tokio::test]
    async fn trust_login_reports_what_postgresql_reports() {
        let (_server, mut c, statuses) =
            logged_in(&[("user", "postgres"), ("database", "postgres"), ("application_name", "psql")]).await;
        let get = |k: &str| statuses.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("server_version"), Some("16.0 (portproof testbed)"));
        assert_eq!(get("server_encoding"), Some("UTF8"));
        assert_eq!(get("client_encoding"), Some("UTF8"));
        assert_eq!(get("DateStyle"), Some("ISO, MDY"));
        assert_eq!(get("integer_datetimes"), Some("on"));
        assert_eq!(get("standard_conforming_strings"), Some("on"));
        assert_eq!(get("application_name"), Some("psql"));
        assert_eq!(get("session_authorization"), Some("postgres"));
        c.write_all(&frontend(b'X', &[])).await.unwrap();
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn startup_is_one_write_byte_exact_up_to_the_key() {
        let (_server, mut c) = start(PgMode::Server(PgConfig::default())).await;
        c.write_all(&startup(&[("user", "portproof")])).await.unwrap();
        let mut expected = auth_request(0, &[]);
        for (k, v) in [
            ("application_name", ""),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"),
            ("default_transaction_read_only", "off"),
            ("in_hot_standby", "off"),
            ("integer_datetimes", "on"),
            ("IntervalStyle", "postgres"),
            ("is_superuser", "off"),
            ("server_encoding", "UTF8"),
            ("server_version", "16.0 (portproof testbed)"),
            ("session_authorization", "portproof"),
            ("standard_conforming_strings", "on"),
            ("TimeZone", "Etc/UTC"),
        ] {
            expected.push(b'S');
            expected.extend((k.len() as u32 + v.len() as u32 + 6).to_be_bytes());
            expected.extend(k.as_bytes());
            expected.push(0);
            expected.extend(v.as_bytes());
            expected.push(0);
        }
        expected.extend(b"K\x00\x00\x00\x0c\x00\x00\x10\x92"); // pid 4242, then the secret
        let mut got = vec![0u8; expected.len() + 4 + 6];
        timeout(WAIT, c.read_exact(&mut got)).await.unwrap().unwrap();
        assert_eq!(got[..expected.len()], expected[..]);
        assert_eq!(got[expected.len() + 4..], *b"Z\x00\x00\x00\x05I");
    }

    #[tokio::test]
    async fn ssl_and_gss_requests_get_n_without_ssl() {
        let (_server, mut c) = start(PgMode::Server(PgConfig::default())).await;
        c.write_all(&[0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x30]).await.unwrap(); // GSSENCRequest
        let mut answer = [0u8; 1];
        c.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"N");
        c.write_all(&[0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F]).await.unwrap(); // SSLRequest
        c.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"N");
        c.write_all(&startup(&[("user", "postgres")])).await.unwrap();
        assert_eq!(next(&mut c).await, (b'R', vec![0, 0, 0, 0]));
        after_auth_ok(&mut c).await;
    }

    #[tokio::test]
    async fn a_second_ssl_request_is_an_unsupported_protocol() {
        let (_server, mut c) = start(PgMode::Server(PgConfig::default())).await;
        c.write_all(&[0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F]).await.unwrap();
        let mut answer = [0u8; 1];
        c.read_exact(&mut answer).await.unwrap();
        c.write_all(&[0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F]).await.unwrap();
        let (kind, body) = next(&mut c).await;
        assert_eq!(kind, b'E');
        let text = "unsupported frontend protocol 1234.5679: server supports 3.0 to 3.0";
        assert_eq!(error_of(&body), ("FATAL".into(), "0A000".into(), text.into()));
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn serve_ssl_answers_s_and_speaks_inside_tls() {
        let pki = crate::pki::Pki::new();
        let server =
            serve_ssl(crate::bind_any().await.unwrap(), PgMode::Server(PgConfig::default()), pki.server_config());
        let mut c = TcpStream::connect(server.addr).await.unwrap();
        c.write_all(&[0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F]).await.unwrap();
        let mut answer = [0u8; 1];
        c.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"S");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca.cert_der.clone()).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(crate::pki::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        // libpq 17 sends this ALPN; the server must not refuse it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, c).await.unwrap();
        tls.write_all(&startup(&[("user", "postgres")])).await.unwrap();
        assert_eq!(next(&mut tls).await, (b'R', vec![0, 0, 0, 0]));
        after_auth_ok(&mut tls).await;

        // Without SSLRequest, the same server serves plain TCP.
        let mut c = TcpStream::connect(server.addr).await.unwrap();
        c.write_all(&startup(&[("user", "postgres")])).await.unwrap();
        assert_eq!(next(&mut c).await, (b'R', vec![0, 0, 0, 0]));
    }

    #[tokio::test]
    async fn missing_database_and_role_fail_after_authentication() {
        let (_server, mut c) = start(PgMode::Server(PgConfig::default())).await;
        c.write_all(&startup(&[("user", "postgres"), ("database", "nope")])).await.unwrap();
        assert_eq!(next(&mut c).await, (b'R', vec![0, 0, 0, 0]));
        let (kind, body) = next(&mut c).await;
        assert_eq!(kind, b'E');
        assert_eq!(error_of(&body), ("FATAL".into(), "3D000".into(), "database \"nope\" does not exist".into()));
        assert!(eof(&mut c).await);

        let (_server, mut c) = start(PgMode::Server(PgConfig::default())).await;
        c.write_all(&startup(&[("user", "nobody"), ("database", "nope")])).await.unwrap();
        assert_eq!(next(&mut c).await, (b'R', vec![0, 0, 0, 0]));
        let (_, body) = next(&mut c).await;
        assert_eq!(error_of(&body), ("FATAL".into(), "28000".into(), "role \"nobody\" does not exist".into()));
        assert!(eof(&mut c).await);

        // No database named: the user's name is taken, which is no database here.
        let (_server, mut c) = start(PgMode::Server(PgConfig::default())).await;
        c.write_all(&startup(&[("user", "portproof")])).await.unwrap();
        assert_eq!(next(&mut c).await, (b'R', vec![0, 0, 0, 0]));
        after_auth_ok(&mut c).await;
    }

    #[tokio::test]
    async fn no_user_and_broken_layouts_are_fatal() {
        let (_server, mut c) = start(PgMode::Server(PgConfig::default())).await;
        c.write_all(&startup(&[("database", "postgres")])).await.unwrap();
        let (_, body) = next(&mut c).await;
        assert_eq!(error_of(&body).1, "28000");
        assert!(eof(&mut c).await);

        let (_server, mut c) = start(PgMode::Server(PgConfig::default())).await;
        c.write_all(b"\x00\x00\x00\x0d\x00\x03\x00\x00user\x00").await.unwrap();
        let (_, body) = next(&mut c).await;
        assert_eq!(error_of(&body).1, "08P01");
        assert!(eof(&mut c).await);

        // An impossible length: closed without a word, as PostgreSQL does.
        let (_server, mut c) = start(PgMode::Server(PgConfig::default())).await;
        c.write_all(b"\xff\xff\xff\xff\x00\x03\x00\x00").await.unwrap();
        assert!(eof(&mut c).await);

        // Protocol 2.0 is refused, 3.2 negotiated down to 3.0.
        let (_server, mut c) = start(PgMode::Server(PgConfig::default())).await;
        c.write_all(&startup_with(0x0002_0000, &[("user", "postgres")])).await.unwrap();
        let (_, body) = next(&mut c).await;
        let text = "unsupported frontend protocol 2.0: server supports 3.0 to 3.0";
        assert_eq!(error_of(&body), ("FATAL".into(), "0A000".into(), text.into()));
        let (_server, mut c) = start(PgMode::Server(PgConfig::default())).await;
        c.write_all(&startup_with(0x0003_0002, &[("user", "postgres"), ("_pq_.x", "1")])).await.unwrap();
        assert_eq!(next(&mut c).await, (b'v', b"\x00\x00\x00\x00\x00\x00\x00\x01_pq_.x\x00".to_vec()));
        assert_eq!(next(&mut c).await, (b'R', vec![0, 0, 0, 0]));
    }

    #[tokio::test]
    async fn cancel_request_is_closed_without_an_answer() {
        let (_server, mut c) = start(PgMode::Server(PgConfig::default())).await;
        c.write_all(b"\x00\x00\x00\x10\x04\xd2\x16\x2e\x00\x00\x10\x92\x01\x02\x03\x04").await.unwrap();
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn simple_query_answers_version_and_refuses_the_rest() {
        let (_server, mut c, _) = logged_in(&[("user", "postgres")]).await;
        c.write_all(&frontend(b'Q', b"select   VERSION() ;\0")).await.unwrap();
        let (kind, body) = next(&mut c).await;
        assert_eq!(kind, b'T');
        let mut expected = b"\x00\x01version\x00\x00\x00\x00\x00\x00\x00".to_vec();
        expected.extend(b"\x00\x00\x00\x19\xff\xff\xff\xff\xff\xff\x00\x00");
        assert_eq!(body, expected);
        let version = b"PostgreSQL 16.0 (portproof testbed)";
        let mut row = b"\x00\x01".to_vec();
        row.extend((version.len() as u32).to_be_bytes());
        row.extend(version);
        assert_eq!(next(&mut c).await, (b'D', row));
        assert_eq!(next(&mut c).await, (b'C', b"SELECT 1\0".to_vec()));
        assert_eq!(next(&mut c).await, (b'Z', b"I".to_vec()));

        c.write_all(&frontend(b'Q', b"select 1\0")).await.unwrap();
        let (kind, body) = next(&mut c).await;
        assert_eq!(kind, b'E');
        let (severity, code, _) = error_of(&body);
        assert_eq!((severity.as_str(), code.as_str()), ("ERROR", "42601"));
        assert_eq!(next(&mut c).await, (b'Z', b"I".to_vec()));

        c.write_all(&frontend(b'Q', b" ;\0")).await.unwrap();
        assert_eq!(next(&mut c).await, (b'I', vec![]));
        assert_eq!(next(&mut c).await, (b'Z', b"I".to_vec()));

        c.write_all(&frontend(b'X', &[])).await.unwrap();
        assert!(eof(&mut c).await);
    }

    /// What tokio-postgres sends for `client.query("SELECT version()", &[])`: prepare
    /// (Parse, Describe statement, Sync), then Bind with binary results, Execute, Sync, and
    /// Close of the statement when it is dropped.
    #[tokio::test]
    async fn extended_protocol_as_tokio_postgres_uses_it() {
        let (_server, mut c, _) = logged_in(&[("user", "postgres")]).await;
        let mut batch = frontend(b'P', b"s0\0SELECT version()\0\x00\x00");
        batch.extend(frontend(b'D', b"Ss0\0"));
        batch.extend(frontend(b'S', &[]));
        c.write_all(&batch).await.unwrap();
        assert_eq!(next(&mut c).await, (b'1', vec![]));
        assert_eq!(next(&mut c).await, (b't', vec![0, 0]));
        let (kind, body) = next(&mut c).await;
        assert_eq!((kind, *body.last().unwrap()), (b'T', 0));
        assert_eq!(next(&mut c).await, (b'Z', b"I".to_vec()));

        // Bind: unnamed portal, statement s0, no parameter formats, no parameters, one binary
        // result format.
        let mut batch = frontend(b'B', b"\0s0\0\x00\x00\x00\x00\x00\x01\x00\x01");
        batch.extend(frontend(b'E', b"\0\x00\x00\x00\x00"));
        batch.extend(frontend(b'S', &[]));
        c.write_all(&batch).await.unwrap();
        assert_eq!(next(&mut c).await, (b'2', vec![]));
        let (kind, body) = next(&mut c).await;
        assert_eq!(kind, b'D');
        assert!(body.ends_with(b"PostgreSQL 16.0 (portproof testbed)"));
        assert_eq!(next(&mut c).await, (b'C', b"SELECT 1\0".to_vec()));
        assert_eq!(next(&mut c).await, (b'Z', b"I".to_vec()));

        // pgbench -M extended: unnamed statement, Describe portal, Execute.
        let mut batch = frontend(b'P', b"\0select version();\0\x00\x00");
        batch.extend(frontend(b'B', b"\0\0\x00\x00\x00\x00\x00\x01\x00\x00"));
        batch.extend(frontend(b'D', b"P\0"));
        batch.extend(frontend(b'E', b"\0\x00\x00\x00\x00"));
        batch.extend(frontend(b'S', &[]));
        c.write_all(&batch).await.unwrap();
        assert_eq!(next(&mut c).await, (b'1', vec![]));
        assert_eq!(next(&mut c).await, (b'2', vec![]));
        assert_eq!(next(&mut c).await.0, b'T');
        assert_eq!(next(&mut c).await.0, b'D');
        assert_eq!(next(&mut c).await, (b'C', b"SELECT 1\0".to_vec()));
        assert_eq!(next(&mut c).await, (b'Z', b"I".to_vec()));

        let mut batch = frontend(b'C', b"Ss0\0");
        batch.extend(frontend(b'S', &[]));
        c.write_all(&batch).await.unwrap();
        assert_eq!(next(&mut c).await, (b'3', vec![]));
        assert_eq!(next(&mut c).await, (b'Z', b"I".to_vec()));
    }

    #[tokio::test]
    async fn extended_errors_skip_to_sync() {
        let (_server, mut c, _) = logged_in(&[("user", "postgres")]).await;
        let mut batch = frontend(b'P', b"s1\0SELECT 1\0\x00\x00");
        batch.extend(frontend(b'B', b"\0s1\0\x00\x00\x00\x00\x00\x00"));
        batch.extend(frontend(b'E', b"\0\x00\x00\x00\x00"));
        batch.extend(frontend(b'S', &[]));
        batch.extend(frontend(b'B', b"\0nope\0\x00\x00\x00\x00\x00\x00"));
        batch.extend(frontend(b'S', &[]));
        batch.extend(frontend(b'E', b"\0\x00")); // malformed
        batch.extend(frontend(b'S', &[]));
        c.write_all(&batch).await.unwrap();
        let (kind, body) = next(&mut c).await;
        assert_eq!((kind, error_of(&body).1.as_str()), (b'E', "42601"));
        assert_eq!(next(&mut c).await, (b'Z', b"I".to_vec()));
        let (_, body) = next(&mut c).await;
        assert_eq!(
            error_of(&body),
            ("ERROR".into(), "26000".into(), "prepared statement \"nope\" does not exist".into())
        );
        assert_eq!(next(&mut c).await, (b'Z', b"I".to_vec()));
        let (_, body) = next(&mut c).await;
        assert_eq!(error_of(&body).1, "08P01");
        assert_eq!(next(&mut c).await, (b'Z', b"I".to_vec()));

        // Still serving; an unknown message type is fatal.
        c.write_all(&frontend(b'Q', b"SELECT version()\0")).await.unwrap();
        assert_eq!(next(&mut c).await.0, b'T');
        c.write_all(&frontend(b'!', b"x")).await.unwrap();
        loop {
            let (kind, body) = next(&mut c).await;
            if kind == b'E' {
                assert_eq!(
                    error_of(&body),
                    ("FATAL".into(), "08P01".into(), "invalid frontend message type 33".into())
                );
                break;
            }
        }
        assert!(eof(&mut c).await);

        // A message over the limit is fatal too.
        let (_server, mut c, _) = logged_in(&[("user", "postgres")]).await;
        c.write_all(b"Q\x7f\xff\xff\xff").await.unwrap();
        let (_, body) = next(&mut c).await;
        assert_eq!(error_of(&body).2, "invalid message length");
        assert!(eof(&mut c).await);
    }

    fn with_auth(auth: PgAuth) -> PgMode {
        PgMode::Server(PgConfig { auth, ..PgConfig::default() })
    }

    #[tokio::test]
    async fn md5_checks_the_hash_of_the_password() {
        for (user, password, good) in [("portproof", "portproof-secret", true), ("portproof", "wrong", false)] {
            let (_server, mut c) = start(with_auth(PgAuth::Md5)).await;
            c.write_all(&startup(&[("user", user), ("database", "portproof")])).await.unwrap();
            let (kind, body) = next(&mut c).await;
            assert_eq!((kind, &body[..4]), (b'R', &[0, 0, 0, 5][..]));
            let salt: [u8; 4] = body[4..].try_into().unwrap();
            let mut answer = md5_answer(password, user, &salt).into_bytes();
            answer.push(0);
            c.write_all(&frontend(b'p', &answer)).await.unwrap();
            let (kind, body) = next(&mut c).await;
            if good {
                assert_eq!((kind, body), (b'R', vec![0, 0, 0, 0]));
                after_auth_ok(&mut c).await;
            } else {
                let text = "password authentication failed for user \"portproof\"";
                assert_eq!(error_of(&body), ("FATAL".into(), "28P01".into(), text.into()));
                assert!(eof(&mut c).await);
            }
        }
    }

    #[tokio::test]
    async fn cleartext_and_unknown_roles_under_a_password_method() {
        let (_server, mut c) = start(with_auth(PgAuth::Cleartext)).await;
        c.write_all(&startup(&[("user", "postgres")])).await.unwrap();
        assert_eq!(next(&mut c).await, (b'R', vec![0, 0, 0, 3]));
        c.write_all(&frontend(b'p', b"portproof-secret\0")).await.unwrap();
        assert_eq!(next(&mut c).await, (b'R', vec![0, 0, 0, 0]));
        after_auth_ok(&mut c).await;

        // An unknown role is asked for a password and fails like a wrong one.
        let (_server, mut c) = start(with_auth(PgAuth::Cleartext)).await;
        c.write_all(&startup(&[("user", "nobody")])).await.unwrap();
        assert_eq!(next(&mut c).await, (b'R', vec![0, 0, 0, 3]));
        c.write_all(&frontend(b'p', b"portproof-secret\0")).await.unwrap();
        let (_, body) = next(&mut c).await;
        assert_eq!(error_of(&body).1, "28P01");

        // Anything but a password message is a protocol violation.
        let (_server, mut c) = start(with_auth(PgAuth::Cleartext)).await;
        c.write_all(&startup(&[("user", "postgres")])).await.unwrap();
        next(&mut c).await;
        c.write_all(&frontend(b'Q', b"select version()\0")).await.unwrap();
        let (_, body) = next(&mut c).await;
        let text = "expected password response, got message type 81";
        assert_eq!(error_of(&body), ("FATAL".into(), "08P01".into(), text.into()));
        assert!(eof(&mut c).await);
    }

    /// The client side of SCRAM-SHA-256, as libpq computes it.
    fn client_proof(password: &str, salt: &[u8], iterations: u32, auth_message: &str) -> (Vec<u8>, Vec<u8>) {
        let mut salted = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(iterations).unwrap(),
            salt,
            password.as_bytes(),
            &mut salted,
        );
        let salted = hmac::Key::new(hmac::HMAC_SHA256, &salted);
        let client_key = hmac::sign(&salted, b"Client Key");
        let stored = digest::digest(&digest::SHA256, client_key.as_ref());
        let signature = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, stored.as_ref()), auth_message.as_bytes());
        let proof = client_key.as_ref().iter().zip(signature.as_ref()).map(|(a, b)| a ^ b).collect();
        let server_key = hmac::sign(&salted, b"Server Key");
        let server = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, server_key.as_ref()), auth_message.as_bytes());
        (proof, server.as_ref().to_vec())
    }

    async fn scram_login(user: &str, password: &str) -> (Server, TcpStream, (u8, Vec<u8>), Vec<u8>) {
        let (server, mut c) = start(with_auth(PgAuth::Scram)).await;
        c.write_all(&startup(&[("user", user), ("database", "portproof")])).await.unwrap();
        assert_eq!(next(&mut c).await, (b'R', b"\x00\x00\x00\x0aSCRAM-SHA-256\x00\x00".to_vec()));
        let client_first = "n,,n=,r=fyko+d2lbbFgONRv9qkxdawL";
        let mut initial = b"SCRAM-SHA-256\0".to_vec();
        initial.extend((client_first.len() as u32).to_be_bytes());
        initial.extend(client_first.as_bytes());
        c.write_all(&frontend(b'p', &initial)).await.unwrap();
        let (kind, body) = next(&mut c).await;
        assert_eq!((kind, &body[..4]), (b'R', &[0, 0, 0, 11][..]));
        let server_first = String::from_utf8(body[4..].to_vec()).unwrap();
        let mut attributes = server_first.split(',');
        let nonce = attributes.next().unwrap().strip_prefix("r=").unwrap();
        assert!(nonce.starts_with("fyko+d2lbbFgONRv9qkxdawL") && nonce.len() > 24);
        let salt = unbase64(attributes.next().unwrap().strip_prefix("s=").unwrap()).unwrap();
        assert_eq!(attributes.next(), Some("i=4096"));
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("n=,r=fyko+d2lbbFgONRv9qkxdawL,{server_first},{without_proof}");
        let (proof, server_signature) = client_proof(password, &salt, 4096, &auth_message);
        let last = format!("{without_proof},p={}", base64(&proof));
        c.write_all(&frontend(b'p', last.as_bytes())).await.unwrap();
        let answer = next(&mut c).await;
        (server, c, answer, server_signature)
    }

    #[tokio::test]
    async fn scram_proves_both_ways() {
        let (_server, mut c, answer, signature) = scram_login("portproof", "portproof-secret").await;
        let mut last = vec![0, 0, 0, 12];
        last.extend(format!("v={}", base64(&signature)).as_bytes());
        assert_eq!(answer, (b'R', last));
        assert_eq!(next(&mut c).await, (b'R', vec![0, 0, 0, 0]));
        after_auth_ok(&mut c).await;

        for (user, password) in [("portproof", "wrong"), ("nobody", "portproof-secret")] {
            let (_server, mut c, (kind, body), _) = scram_login(user, password).await;
            assert_eq!(kind, b'E');
            let text = format!("password authentication failed for user \"{user}\"");
            assert_eq!(error_of(&body), ("FATAL".into(), "28P01".into(), text));
            assert!(eof(&mut c).await);
        }
    }

    #[tokio::test]
    async fn scram_garbage_is_a_protocol_violation() {
        for initial in [&b"SCRAM-SHA-1\0\x00\x00\x00\x01x"[..], b"SCRAM-SHA-256\0\xff\xff\xff\xff", b"SCRAM-SHA-256"] {
            let (_server, mut c) = start(with_auth(PgAuth::Scram)).await;
            c.write_all(&startup(&[("user", "portproof")])).await.unwrap();
            next(&mut c).await;
            c.write_all(&frontend(b'p', initial)).await.unwrap();
            let (kind, body) = next(&mut c).await;
            assert_eq!((kind, error_of(&body).1.as_str()), (b'E', "08P01"));
            assert!(eof(&mut c).await);
        }
    }

    #[test]
    fn scram_matches_rfc_7677() {
        let salt = unbase64("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let auth_message = format!(
            "n=user,r=rOprNGfwEbeRWgbNEkqO,{server_first},c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
        );
        let proof = unbase64("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=").unwrap();
        let signature = scram_verify("pencil", &salt, 4096, &auth_message, &proof).unwrap();
        assert_eq!(base64(&signature), "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        assert!(scram_verify("pencil!", &salt, 4096, &auth_message, &proof).is_none());
    }

    #[test]
    fn md5_and_base64_match_their_rfcs() {
        // RFC 1321 §A.5.
        assert_eq!(hex(&md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex(&md5(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hex(&md5(b"12345678901234567890123456789012345678901234567890123456789012345678901234567890")),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
        // The answer libpq gives for password portproof-secret, role portproof, salt 01020304
        // (computed with Python's hashlib).
        assert_eq!(md5_answer("portproof-secret", "portproof", &[1, 2, 3, 4]), "md5bad1ee7a61dd0c5b86243af766e15b8b");
        // RFC 4648 §10.
        for (plain, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(plain.as_bytes()), encoded);
            assert_eq!(unbase64(encoded).unwrap(), plain.as_bytes());
        }
        assert!(unbase64("Zg=").is_none());
        assert!(unbase64("Zg==Zg==").is_none());
        assert!(unbase64("Z!==").is_none());
    }

    #[tokio::test]
    async fn reject_answers_the_startup_with_its_error() {
        let mode = PgMode::Reject { sqlstate: "53300".into(), message: "sorry, too many clients already".into() };
        let (_server, mut c) = start(mode).await;
        c.write_all(&[0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F]).await.unwrap();
        let mut answer = [0u8; 1];
        c.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"N");
        c.write_all(&startup(&[("user", "postgres")])).await.unwrap();
        let (kind, body) = next(&mut c).await;
        assert_eq!(kind, b'E');
        assert_eq!(
            fields(&body),
            [
                ('S', "FATAL".to_owned()),
                ('V', "FATAL".to_owned()),
                ('C', "53300".to_owned()),
                ('M', "sorry, too many clients already".to_owned())
            ]
        );
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn lying_length_claims_2_gib_and_holds() {
        let pki = crate::pki::Pki::new();
        let server = serve_ssl(crate::bind_any().await.unwrap(), PgMode::LyingLength, pki.server_config());
        let mut c = TcpStream::connect(server.addr).await.unwrap();
        c.write_all(&[0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F]).await.unwrap();
        let mut answer = [0u8; 1];
        c.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"N");
        c.write_all(&startup(&[("user", "postgres")])).await.unwrap();
        let mut head = [0u8; 9];
        timeout(WAIT, c.read_exact(&mut head)).await.unwrap().unwrap();
        assert_eq!(head, *b"R\x7f\xff\xff\xf0\x00\x00\x00\x00");
        let mut buf = [0u8; 1];
        assert!(timeout(Duration::from_millis(300), c.read(&mut buf)).await.is_err(), "held open");
    }

    /// tokio-postgres over a rustls stream, for [`serve_ssl`].
    struct RustlsConnect(tokio_rustls::TlsConnector);
    struct RustlsStream(tokio_rustls::client::TlsStream<TcpStream>);

    impl AsyncRead for RustlsStream {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for RustlsStream {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
        }
        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_flush(cx)
        }
        fn poll_shutdown(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    impl tokio_postgres::tls::TlsStream for RustlsStream {
        fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
            tokio_postgres::tls::ChannelBinding::none()
        }
    }

    impl tokio_postgres::tls::TlsConnect<TcpStream> for RustlsConnect {
        type Stream = RustlsStream;
        type Error = std::io::Error;
        type Future = std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<RustlsStream>> + Send>>;
        fn connect(self, stream: TcpStream) -> Self::Future {
            Box::pin(async move {
                let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
                Ok(RustlsStream(self.0.connect(name, stream).await?))
            })
        }
    }

    /// Logs in with tokio-postgres and asks for the version both ways; the client's error
    /// otherwise.
    async fn tokio_postgres_version(
        server: &Server,
        user: &str,
        password: &str,
        database: &str,
        tls: Option<RustlsConnect>,
    ) -> Result<(String, String), tokio_postgres::Error> {
        let mut config = tokio_postgres::Config::new();
        config.user(user).password(password).dbname(database);
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let client = match tls {
            Some(tls) => {
                config.ssl_mode(tokio_postgres::config::SslMode::Require);
                let (client, connection) = timeout(WAIT, config.connect_raw(tcp, tls)).await.unwrap()?;
                tokio::spawn(connection);
                client
            }
            None => {
                config.ssl_mode(tokio_postgres::config::SslMode::Disable);
                let (client, connection) =
                    timeout(WAIT, config.connect_raw(tcp, tokio_postgres::NoTls)).await.unwrap()?;
                tokio::spawn(connection);
                client
            }
        };
        let simple = client.simple_query("SELECT version()").await?;
        let simple = simple
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
            .unwrap();
        let extended: String = client.query_one("SELECT version()", &[]).await?.get(0);
        // A second round on a prepared statement, and its Close when dropped.
        let statement = client.prepare("select version()").await?;
        assert_eq!(client.query(&statement, &[]).await?.len(), 1);
        drop(statement);
        let wrong = client.simple_query("SELECT 1").await.unwrap_err();
        assert_eq!(wrong.code(), Some(&tokio_postgres::error::SqlState::SYNTAX_ERROR));
        Ok((simple, extended))
    }

    #[tokio::test]
    async fn tokio_postgres_logs_in_with_every_method_and_asks_the_version() {
        let version = "PostgreSQL 16.0 (portproof testbed)".to_owned();
        for auth in [PgAuth::Trust, PgAuth::Cleartext, PgAuth::Md5, PgAuth::Scram] {
            let server = serve(crate::bind_any().await.unwrap(), with_auth(auth));
            let got = tokio_postgres_version(&server, "portproof", "portproof-secret", "portproof", None).await;
            assert_eq!(got.unwrap(), (version.clone(), version.clone()), "{auth:?}");
            if auth != PgAuth::Trust {
                let e = tokio_postgres_version(&server, "portproof", "wrong", "portproof", None).await.unwrap_err();
                assert_eq!(e.code(), Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD), "{auth:?}");
            }
            let e = tokio_postgres_version(&server, "portproof", "portproof-secret", "nope", None).await.unwrap_err();
            assert_eq!(e.code(), Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME), "{auth:?}");
        }

        let pki = crate::pki::Pki::new();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca.cert_der.clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(crate::pki::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let server = serve_ssl(crate::bind_any().await.unwrap(), with_auth(PgAuth::Scram), pki.server_config());
        let tls = Some(RustlsConnect(connector.clone()));
        let got = tokio_postgres_version(&server, "portproof", "portproof-secret", "portproof", tls).await;
        assert_eq!(got.unwrap(), (version.clone(), version));
        // A server without SSL refuses the request, and the client gives up.
        let server = serve(crate::bind_any().await.unwrap(), with_auth(PgAuth::Scram));
        let tls = Some(RustlsConnect(connector));
        assert!(tokio_postgres_version(&server, "portproof", "portproof-secret", "portproof", tls).await.is_err());
    }
}
