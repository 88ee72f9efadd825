//! A MySQL/MariaDB responder: the greeting, the login answer and a few queries, and the
//! refusing or lying servers a real one will not impersonate on demand.
//!
//! A real MariaDB (`testbeds/scripts/databases.sh`) is the truth for the `mysql` probe; this
//! responder exists so the demo and the tests run in-process, so MySQL 8 (whose greeting,
//! default plugin and refusals differ from MariaDB's) can be shown without installing it, and so
//! the refusals a real server gives only in awkward states (a blocked host, too many
//! connections) and a packet that lies about its length can be produced at will.
//!
//! It follows the MySQL Client/Server Protocol documentation
//! (<https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html>): the packets of
//! "MySQL Packets" (3-byte length, sequence id), the Connection Phase
//! (<https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html>) with
//! Protocol::HandshakeV10, Protocol::SSLRequest and Protocol::HandshakeResponse41, the
//! OK_Packet and ERR_Packet of "Generic Response Packets"
//! (<https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_err_packet.html>),
//! and for the queries COM_QUERY's text resultset with EOF packets (no CLIENT_DEPRECATE_EOF).
//! The capability flags are those of "Capabilities Flags"
//! (<https://dev.mysql.com/doc/dev/mysql-server/latest/group__group__cs__capabilities__flags.html>);
//! a server version naming MariaDB gets MariaDB's greeting (CLIENT_MYSQL cleared, as MariaDB
//! servers announce themselves) and MariaDB's refusal of an insecure transport (1045), both as
//! MariaDB 10.11 sends them.
//!
//! The password is not checked: a login is accepted when its user is [`MysqlConfig::user`],
//! whatever the scramble, since the probes never send a password (a wrong one counts towards
//! `max_connect_errors` and gets hosts blocked).
//!
//! Every read is bounded (a HandshakeResponse of at most 64 KiB, other packets of at most 1 MiB,
//! no multi-packet payloads), client garbage is answered with ERR 1043 `Bad handshake` or a
//! close instead of a panic, and every connection task ends when its client leaves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use crate::Server;
use crate::bytes::Cursor;
use crate::conn::{BoxIo, accept_each, finish, hold, send};

/// How the responder behaves: a working server, or one of the failures a probe must grade.
#[derive(Clone, Debug)]
pub enum MysqlMode {
    /// A server that greets with Protocol::HandshakeV10, upgrades to TLS on an SSLRequest when
    /// [`MysqlConfig::tls`] is set, answers the HandshakeResponse41 with OK or ERR, and then
    /// serves COM_PING, COM_INIT_DB, COM_QUIT and the queries `SELECT 1`, `SELECT VERSION()`
    /// and `SELECT @@version` (and the `@@version_comment` the interactive client asks), so a
    /// probe's happy path and its refusals can be shown without MySQL or MariaDB.
    Server(MysqlConfig),
    /// Sends an ERR packet instead of the greeting and closes, as MySQL does before any
    /// handshake for 1129 `Host 'x' is blocked because of many connection errors; unblock with
    /// 'mysqladmin flush-hosts'`, 1130 `Host 'x' is not allowed to connect to this MySQL
    /// server` or 1040 `Too many connections`: header 0xFF, the code, then the message, with no
    /// SQLSTATE marker, since the client has not said it speaks protocol 4.1.
    ErrOnConnect {
        /// The error number.
        code: u16,
        /// The error message.
        message: String,
    },
    /// Sends a packet header claiming 0xFFFFFF bytes (the most a packet can hold, the mark of a
    /// payload continued in the next packet), then a plausible greeting one byte every 200 ms
    /// until the client leaves: a reader that waits for the whole packet, or allocates it up
    /// front, never reaches a verdict in time.
    LyingLength,
}

/// What the [`MysqlMode::Server`] announces and accepts, so each outcome of a probe (MySQL or
/// MariaDB named, TLS offered or required, login accepted or refused, database missing) can be
/// arranged.
#[derive(Clone, Debug)]
pub struct MysqlConfig {
    /// The server version of the greeting. Default `8.0.36-portproof`; a MariaDB-style
    /// `5.5.5-10.11.6-MariaDB-portproof` (the `5.5.5-` prefix old replication clients need) makes
    /// the greeting and refusals MariaDB's.
    pub server_version: String,
    /// The authentication plugin named in the greeting. Default `caching_sha2_password`
    /// (MySQL 8's default); `mysql_native_password` is MariaDB's.
    pub auth_plugin: String,
    /// The character set (collation id) of the greeting. Default 255 (`utf8mb4_0900_ai_ci`,
    /// MySQL 8's); 45 (`utf8mb4_general_ci`) is MariaDB's.
    pub charset: u8,
    /// The one user accepted, whatever its password. Default `portproof`.
    pub user: String,
    /// The databases a HandshakeResponse41 or COM_INIT_DB may name; any other gets ERR 1049
    /// (42000) `Unknown database 'x'`. Default `portproof` and `mysql`.
    pub databases: Vec<String>,
    /// Offer TLS (CLIENT_SSL in the greeting) with this configuration, and run the handshake
    /// when the client sends an SSLRequest. Default `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Refuse logins that did not upgrade to TLS, as `require_secure_transport=ON` does: MySQL
    /// answers ERR 3159 (HY000) `Connections using insecure transport are prohibited while
    /// --require_secure_transport=ON.`, MariaDB ERR 1045 (28000) `Access denied`. Default false.
    pub require_secure_transport: bool,
    /// Offer TLS on the first connection only: later greetings lack CLIENT_SSL, as through a
    /// man in the middle that strips it from the login connection. Default false.
    pub tls_first_connection_only: bool,
    /// How many HandshakeResponse41 with a password (an auth response) arrived, over TLS or
    /// not: a test proves that none did. Clones share the count.
    pub passwords_received: Arc<AtomicUsize>,
    /// Answer a login that carries a password with a packet header claiming 16 MiB (and
    /// nothing after it) instead of the OK: a broken server a client must not wait out or
    /// buffer. Default false.
    pub oversized_login_answer: bool,
}

impl Default for MysqlConfig {
    fn default() -> Self {
        MysqlConfig {
            server_version: "8.0.36-portproof".to_owned(),
            auth_plugin: "caching_sha2_password".to_owned(),
            charset: 255,
            user: "portproof".to_owned(),
            databases: vec!["portproof".to_owned(), "mysql".to_owned()],
            tls: None,
            require_secure_transport: false,
            tls_first_connection_only: false,
            passwords_received: Arc::default(),
            oversized_login_answer: false,
        }
    }
}

/// Serves `mode` on `listener`, the way MySQL runs on 3306: plain TCP first, TLS only after an
/// SSLRequest.
pub fn serve(listener: TcpListener, mode: MysqlMode) -> Server {
    let tls = match &mode {
        MysqlMode::Server(config) => config.tls.clone().map(TlsAcceptor::from),
        _ => None,
    };
    let shared = Arc::new(Shared { mode, tls, next_id: AtomicU32::new(1) });
    accept_each(listener, move |tcp| {
        let shared = shared.clone();
        async move { connection(tcp, &shared).await }
    })
}

const CLIENT_LONG_PASSWORD: u32 = 0x1;
const CLIENT_FOUND_ROWS: u32 = 0x2;
const CLIENT_LONG_FLAG: u32 = 0x4;
const CLIENT_CONNECT_WITH_DB: u32 = 0x8;
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_INTERACTIVE: u32 = 0x400;
const CLIENT_SSL: u32 = 0x800;
const CLIENT_TRANSACTIONS: u32 = 0x2000;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x8_0000;
const CLIENT_CONNECT_ATTRS: u32 = 0x10_0000;
const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 0x20_0000;

const SERVER_STATUS_AUTOCOMMIT: u16 = 2;

const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_PING: u8 = 0x0E;

/// Column types and flags of the resultsets.
const MYSQL_TYPE_LONGLONG: u8 = 0x08;
const MYSQL_TYPE_VAR_STRING: u8 = 0xFD;
const NOT_NULL_FLAG: u16 = 0x1;
const BINARY_FLAG: u16 = 0x80;
/// The `binary` collation of numbers.
const BINARY_CHARSET: u16 = 63;

/// The largest HandshakeResponse41 accepted (its attributes are small).
const MAX_HANDSHAKE: usize = 1 << 16;
/// The largest command packet accepted.
const MAX_PACKET: usize = 1 << 20;
/// How long a client may take for each step of the handshake (MySQL's `connect_timeout`).
const CONNECT_WAIT: Duration = Duration::from_secs(10);
type Stream = BoxIo;

/// What every connection of one server shares.
struct Shared {
    mode: MysqlMode,
    tls: Option<TlsAcceptor>,
    next_id: AtomicU32,
}

async fn connection(tcp: TcpStream, shared: &Shared) {
    let peer = tcp.peer_addr().map_or_else(|_| "localhost".to_owned(), |a| a.ip().to_string());
    let mut s: Stream = Box::new(tcp);
    match &shared.mode {
        MysqlMode::Server(config) => {
            let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
            // `None`: the TLS handshake failed, nothing is left to close cleanly.
            let Some(mut s) = server(s, config, shared.tls.as_ref(), id, &peer).await else { return };
            finish(&mut s).await;
        }
        MysqlMode::ErrOnConnect { code, message } => {
            let _ = send(&mut s, &err_packet(0, *code, None, message)).await;
            finish(&mut s).await;
        }
        MysqlMode::LyingLength => lying_length(&mut s).await,
    }
}

/// The working server: greeting, optional TLS, login, commands. Returns the stream to close,
/// or `None` when the TLS handshake failed.
async fn server(mut s: Stream, config: &MysqlConfig, tls: Option<&TlsAcceptor>, id: u32, peer: &str) -> Option<Stream> {
    let scramble = scramble();
    if send(&mut s, &packet(0, &greeting(config, id, &scramble))).await.is_none() {
        return Some(s);
    }
    let Some((mut seq, mut payload)) = read_timed(&mut s, MAX_HANDSHAKE).await else { return Some(s) };
    let mut secure = false;
    if capabilities(&payload) & CLIENT_SSL != 0 {
        // An SSLRequest: the first 32 bytes of a HandshakeResponse41, with CLIENT_SSL.
        let Some(acceptor) = tls.filter(|_| payload.len() >= 32) else {
            send(&mut s, &bad_handshake(seq.wrapping_add(1))).await;
            return Some(s);
        };
        let Ok(Ok(stream)) = timeout(CONNECT_WAIT, acceptor.accept(s)).await else { return None };
        s = Box::new(stream);
        secure = true;
        let Some(next) = read_timed(&mut s, MAX_HANDSHAKE).await else { return Some(s) };
        (seq, payload) = next;
    }
    let reply = seq.wrapping_add(1);
    let Some(login) = Login::parse(&payload).filter(|l| l.capabilities & CLIENT_PROTOCOL_41 != 0) else {
        send(&mut s, &bad_handshake(reply)).await;
        return Some(s);
    };
    if login.password {
        config.passwords_received.fetch_add(1, Ordering::SeqCst);
    }
    let mariadb = config.server_version.contains("MariaDB");
    let access_denied = || {
        let using = if login.password { "YES" } else { "NO" };
        let text = format!("Access denied for user '{}'@'{peer}' (using password: {using})", login.user);
        err_packet(reply, 1045, Some("28000"), &text)
    };
    if config.require_secure_transport && !secure {
        let answer = if mariadb {
            access_denied()
        } else {
            let text = "Connections using insecure transport are prohibited while --require_secure_transport=ON.";
            err_packet(reply, 3159, Some("HY000"), text)
        };
        send(&mut s, &answer).await;
        return Some(s);
    }
    if login.user != config.user {
        send(&mut s, &access_denied()).await;
        return Some(s);
    }
    if let Some(database) = login.database.as_deref().filter(|d| !d.is_empty()) {
        if !config.databases.iter().any(|d| d == database) {
            send(&mut s, &err_packet(reply, 1049, Some("42000"), &format!("Unknown database '{database}'"))).await;
            return Some(s);
        }
    }
    // caching_sha2_password answers a scramble with "fast auth success" (AuthMoreData 0x03,
    // what MySQL 8 sends when the password's hash is in its cache) before the OK, and clients
    // such as libmariadb wait for it; an empty password gets the OK alone.
    if config.oversized_login_answer && login.password {
        if send(&mut s, &[0xFF, 0xFF, 0xFF, reply]).await.is_some() {
            hold(&mut s).await;
        }
        return Some(s);
    }
    let plugin = login.plugin.as_deref().unwrap_or(&config.auth_plugin);
    let answer = if plugin == "caching_sha2_password" && login.password {
        let mut both = packet(reply, &[0x01, 0x03]);
        both.extend(ok_packet(reply.wrapping_add(1)));
        both
    } else {
        ok_packet(reply)
    };
    if send(&mut s, &answer).await.is_some() {
        commands(&mut s, config).await;
    }
    Some(s)
}

/// Protocol::HandshakeV10.
fn greeting(config: &MysqlConfig, connection_id: u32, scramble: &[u8; 20]) -> Vec<u8> {
    let mut capabilities = CLIENT_LONG_PASSWORD
        | CLIENT_FOUND_ROWS
        | CLIENT_LONG_FLAG
        | CLIENT_CONNECT_WITH_DB
        | CLIENT_PROTOCOL_41
        | CLIENT_INTERACTIVE
        | CLIENT_TRANSACTIONS
        | CLIENT_SECURE_CONNECTION
        | CLIENT_PLUGIN_AUTH
        | CLIENT_CONNECT_ATTRS
        | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;
    if config.tls.is_some() && !(config.tls_first_connection_only && connection_id > 1) {
        capabilities |= CLIENT_SSL;
    }
    if config.server_version.contains("MariaDB") {
        // MariaDB servers clear the bit (their CLIENT_MYSQL) to tell clients who they are.
        capabilities &= !CLIENT_LONG_PASSWORD;
    }
    let mut p = vec![10];
    put_cstr(&mut p, &config.server_version);
    p.extend(connection_id.to_le_bytes());
    p.extend(&scramble[..8]);
    p.push(0);
    p.extend((capabilities as u16).to_le_bytes());
    p.push(config.charset);
    p.extend(SERVER_STATUS_AUTOCOMMIT.to_le_bytes());
    p.extend(((capabilities >> 16) as u16).to_le_bytes());
    p.push(21); // the scramble's length, with its NUL
    p.extend([0; 10]); // reserved; MariaDB's extended capabilities (none) in the last four
    p.extend(&scramble[8..]);
    p.push(0);
    put_cstr(&mut p, &config.auth_plugin);
    p
}

/// 20 random scramble bytes, printable and without NUL (MySQL's are, too).
fn scramble() -> [u8; 20] {
    let mut raw = [0u8; 20];
    let _ = SystemRandom::new().fill(&mut raw);
    raw.map(|b| 0x21 + b % 94)
}

/// The client's capability flags, from an SSLRequest or a HandshakeResponse41; 0 when too short.
fn capabilities(payload: &[u8]) -> u32 {
    payload.get(..4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// What the server needs of a HandshakeResponse41.
struct Login {
    capabilities: u32,
    user: String,
    /// Whether an auth response was sent: the `using password` of Access denied.
    password: bool,
    database: Option<String>,
    /// The plugin the auth response was made with.
    plugin: Option<String>,
}

impl Login {
    /// Parses the fields the client's own capability flags say are there, up to the plugin
    /// name; the connection attributes that follow are not needed.
    fn parse(payload: &[u8]) -> Option<Login> {
        let mut c = Cursor(payload);
        let capabilities = c.u32_le()?;
        c.take(4 + 1 + 23)?; // max packet size, character set, filler
        let user = String::from_utf8_lossy(c.cstr()?).into_owned();
        let auth = if capabilities & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
            let n = c.lenenc()?;
            c.take(usize::try_from(n).ok()?)?
        } else if capabilities & CLIENT_SECURE_CONNECTION != 0 {
            let n = c.u8()?;
            c.take(usize::from(n))?
        } else {
            c.cstr()?
        };
        let database = if capabilities & CLIENT_CONNECT_WITH_DB != 0 {
            c.cstr().map(|d| String::from_utf8_lossy(d).into_owned())
        } else {
            None
        };
        let plugin = if capabilities & CLIENT_PLUGIN_AUTH != 0 {
            c.cstr().map(|p| String::from_utf8_lossy(p).into_owned())
        } else {
            None
        };
        Some(Login { capabilities, user, password: !auth.is_empty(), database, plugin })
    }
}

/// The command phase, until COM_QUIT, the client leaving, or a packet over [`MAX_PACKET`].
async fn commands(s: &mut Stream, config: &MysqlConfig) {
    loop {
        let Some((seq, payload)) = read_packet(s, MAX_PACKET).await else { return };
        let reply = seq.wrapping_add(1);
        let Some((&command, argument)) = payload.split_first() else { return };
        let answer = match command {
            COM_QUIT => return,
            COM_PING => ok_packet(reply),
            COM_INIT_DB => {
                let database = String::from_utf8_lossy(argument);
                if config.databases.iter().any(|d| *d == database) {
                    ok_packet(reply)
                } else {
                    err_packet(reply, 1049, Some("42000"), &format!("Unknown database '{database}'"))
                }
            }
            COM_QUERY => query(reply, &String::from_utf8_lossy(argument), config),
            _ => err_packet(reply, 1047, Some("08S01"), "Unknown command"),
        };
        if send(s, &answer).await.is_none() {
            return;
        }
    }
}

/// A column of a resultset: name, collation, display length, type, flags, decimals.
struct Column<'a> {
    name: &'a str,
    charset: u16,
    length: u32,
    kind: u8,
    flags: u16,
    decimals: u8,
}

/// The answer to COM_QUERY: a one-row resultset for the queries served, ERR 1064 otherwise.
fn query(seq: u8, sql: &str, config: &MysqlConfig) -> Vec<u8> {
    let normal: String = sql
        .trim_matches(|c: char| c == ';' || c.is_whitespace())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    let text = |name, value: &str| {
        // A string column: four bytes a character in utf8mb4, 31 decimals as MySQL reports.
        let column = Column {
            name,
            charset: u16::from(config.charset),
            length: value.chars().count() as u32 * 4,
            kind: MYSQL_TYPE_VAR_STRING,
            flags: NOT_NULL_FLAG,
            decimals: 31,
        };
        resultset(seq, &column, value)
    };
    match normal.as_str() {
        "select 1" => {
            let column = Column {
                name: "1",
                charset: BINARY_CHARSET,
                length: 1,
                kind: MYSQL_TYPE_LONGLONG,
                flags: NOT_NULL_FLAG | BINARY_FLAG,
                decimals: 0,
            };
            resultset(seq, &column, "1")
        }
        "select version()" => text("VERSION()", version_proper(&config.server_version)),
        "select @@version" => text("@@version", version_proper(&config.server_version)),
        "select @@version_comment limit 1" => text("@@version_comment", "portproof testbed"),
        _ => {
            let shown: String = sql.trim().chars().take(80).collect();
            let text = format!(
                "You have an error in your SQL syntax; the portproof testbed answers only SELECT 1, \
                 SELECT VERSION() and SELECT @@version, not '{shown}'"
            );
            err_packet(seq, 1064, Some("42000"), &text)
        }
    }
}

/// What `VERSION()` says: the greeting's version without MariaDB's `5.5.5-` prefix.
fn version_proper(version: &str) -> &str {
    version.strip_prefix("5.5.5-").filter(|v| v.contains("MariaDB")).unwrap_or(version)
}

/// A text resultset of one column and one row, with EOF packets: column count,
/// ColumnDefinition41, EOF, the row, EOF.
fn resultset(mut seq: u8, column: &Column<'_>, value: &str) -> Vec<u8> {
    let mut next = || {
        let current = seq;
        seq = seq.wrapping_add(1);
        current
    };
    let mut out = packet(next(), &[1]);
    let mut definition = Vec::new();
    for part in ["def", "", "", "", column.name, ""] {
        put_lenenc_str(&mut definition, part.as_bytes());
    }
    definition.push(0x0C); // the length of the fixed fields
    definition.extend(column.charset.to_le_bytes());
    definition.extend(column.length.to_le_bytes());
    definition.push(column.kind);
    definition.extend(column.flags.to_le_bytes());
    definition.push(column.decimals);
    definition.extend([0, 0]);
    out.extend(packet(next(), &definition));
    out.extend(packet(next(), &eof()));
    let mut row = Vec::new();
    put_lenenc_str(&mut row, value.as_bytes());
    out.extend(packet(next(), &row));
    out.extend(packet(next(), &eof()));
    out
}

/// EOF_Packet: no warnings, autocommit.
fn eof() -> Vec<u8> {
    let mut p = vec![0xFE, 0, 0];
    p.extend(SERVER_STATUS_AUTOCOMMIT.to_le_bytes());
    p
}

/// OK_Packet: no rows affected, no insert id, autocommit, no warnings.
fn ok_packet(seq: u8) -> Vec<u8> {
    let mut p = vec![0x00, 0, 0];
    p.extend(SERVER_STATUS_AUTOCOMMIT.to_le_bytes());
    p.extend([0, 0]);
    packet(seq, &p)
}

/// ERR_Packet: 0xFF, the code, `#` and the SQLSTATE when given (protocol 4.1), the message.
fn err_packet(seq: u8, code: u16, sqlstate: Option<&str>, message: &str) -> Vec<u8> {
    let mut p = vec![0xFF];
    p.extend(code.to_le_bytes());
    if let Some(state) = sqlstate {
        p.push(b'#');
        p.extend(state.as_bytes().iter().take(5));
    }
    p.extend(message.as_bytes());
    packet(seq, &p)
}

/// ERR 1043 (08S01) `Bad handshake`: what MySQL answers a HandshakeResponse it cannot read.
fn bad_handshake(seq: u8) -> Vec<u8> {
    err_packet(seq, 1043, Some("08S01"), "Bad handshake")
}

/// A packet: 3-byte length, sequence id, payload (cut below 16 MiB, where continuation packets
/// would begin; ours are all far smaller).
fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let payload = &payload[..payload.len().min(0xFF_FFFE)];
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.extend(&(payload.len() as u32).to_le_bytes()[..3]);
    out.push(seq);
    out.extend_from_slice(payload);
    out
}

/// Writes a NUL-terminated string, cut at an interior NUL.
fn put_cstr(out: &mut Vec<u8>, s: &str) {
    out.extend(s.bytes().take_while(|b| *b != 0));
    out.push(0);
}

/// Writes a length-encoded string (our strings are all under 2^16 bytes).
fn put_lenenc_str(out: &mut Vec<u8>, bytes: &[u8]) {
    let bytes = &bytes[..bytes.len().min(0xFFFF)];
    if bytes.len() < 0xFB {
        out.push(bytes.len() as u8);
    } else {
        out.push(0xFC);
        out.extend((bytes.len() as u16).to_le_bytes());
    }
    out.extend_from_slice(bytes);
}

/// A header claiming 0xFFFFFF bytes, then a greeting one byte every 200 ms, until the client
/// leaves.
async fn lying_length(s: &mut Stream) {
    if send(s, &[0xFF, 0xFF, 0xFF, 0x00]).await.is_none() {
        return;
    }
    let body = greeting(&MysqlConfig::default(), 0, &scramble());
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

/// Reads one packet as (sequence id, payload); `None` on end of stream or a payload over `max`.
async fn read_packet<R: AsyncRead + Unpin>(s: &mut R, max: usize) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.ok()?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
    if len > max {
        return None;
    }
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.ok()?;
    Some((head[3], payload))
}

/// [`read_packet`] within [`CONNECT_WAIT`], for the handshake.
async fn read_timed(s: &mut Stream, max: usize) -> Option<(u8, Vec<u8>)> {
    timeout(CONNECT_WAIT, read_packet(s, max)).await.ok().flatten()
}

/// MySQL's length-encoded integers on the shared [`Cursor`].
trait MysqlRead {
    fn lenenc(&mut self) -> Option<u64>;
}

impl MysqlRead for Cursor<'_> {
    fn lenenc(&mut self) -> Option<u64> {
        let width = match self.u8()? {
            n @ 0..=0xFA => return Some(u64::from(n)),
            0xFC => 2,
            0xFD => 3,
            0xFE => 8,
            _ => return None,
        };
        let mut bytes = [0u8; 8];
        bytes[..width].copy_from_slice(self.take(width)?);
        Some(u64::from_le_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    const WAIT: Duration = Duration::from_secs(5);

    async fn start(mode: MysqlMode) -> (Server, TcpStream) {
        crate::serve_and_connect(|l| serve(l, mode)).await
    }

    async fn next<R: AsyncRead + Unpin>(c: &mut R) -> (u8, Vec<u8>) {
        timeout(WAIT, read_packet(c, 1 << 20)).await.unwrap().expect("a packet")
    }

    async fn eof<R: AsyncRead + Unpin>(c: &mut R) -> bool {
        let mut buf = [0u8; 64];
        // A FIN, not a reset: the close must not lose what was sent before it.
        matches!(timeout(WAIT, c.read(&mut buf)).await, Ok(Ok(0)))
    }

    /// The greeting's fields a client reads.
    struct Greeting {
        version: String,
        scramble: Vec<u8>,
        capabilities: u32,
        charset: u8,
        status: u16,
        plugin: String,
    }

    fn parse_greeting(p: &[u8]) -> Greeting {
        let mut c = Cursor(p);
        assert_eq!(c.u8(), Some(10));
        let version = String::from_utf8(c.cstr().unwrap().to_vec()).unwrap();
        c.u32_le().unwrap();
        let mut scramble = c.take(8).unwrap().to_vec();
        assert_eq!(c.u8(), Some(0));
        let low = c.take(2).unwrap();
        let charset = c.u8().unwrap();
        let status = c.take(2).unwrap();
        let high = c.take(2).unwrap();
        let capabilities = u32::from_le_bytes([low[0], low[1], high[0], high[1]]);
        assert_eq!(c.u8(), Some(21));
        assert_eq!(c.take(10).unwrap(), [0; 10]);
        scramble.extend(c.take(12).unwrap());
        assert_eq!(c.u8(), Some(0));
        let plugin = String::from_utf8(c.cstr().unwrap().to_vec()).unwrap();
        assert!(c.0.is_empty());
        Greeting {
            version,
            scramble,
            capabilities,
            charset,
            status: u16::from_le_bytes([status[0], status[1]]),
            plugin,
        }
    }

    /// A HandshakeResponse41 as libmariadb sends it (lenenc auth data, plugin, attributes).
    fn response(user: &str, auth: &[u8], database: Option<&str>, extra: u32) -> Vec<u8> {
        response_with(user, auth, database, extra, "mysql_native_password")
    }

    fn response_with(user: &str, auth: &[u8], database: Option<&str>, extra: u32, plugin: &str) -> Vec<u8> {
        let mut caps = CLIENT_LONG_FLAG
            | CLIENT_PROTOCOL_41
            | CLIENT_TRANSACTIONS
            | CLIENT_SECURE_CONNECTION
            | CLIENT_PLUGIN_AUTH
            | CLIENT_CONNECT_ATTRS
            | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
            | extra;
        if database.is_some() {
            caps |= CLIENT_CONNECT_WITH_DB;
        }
        let mut p = caps.to_le_bytes().to_vec();
        p.extend(0x0100_0000u32.to_le_bytes());
        p.push(45);
        p.extend([0; 23]);
        put_cstr(&mut p, user);
        p.push(auth.len() as u8);
        p.extend(auth);
        if let Some(db) = database {
            put_cstr(&mut p, db);
        }
        put_cstr(&mut p, plugin);
        p.extend(b"\x0c\x0c_client_name\x00"); // a short attribute block (content unchecked)
        p
    }

    fn ssl_request() -> Vec<u8> {
        let mut p =
            (CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_SSL | CLIENT_PLUGIN_AUTH).to_le_bytes().to_vec();
        p.extend(0x0100_0000u32.to_le_bytes());
        p.push(45);
        p.extend([0; 23]);
        p
    }

    /// (code, SQLSTATE, message) of an ERR packet in the 4.1 layout.
    fn err_of(p: &[u8]) -> (u16, String, String) {
        assert_eq!(p[0], 0xFF);
        assert_eq!(p[3], b'#');
        let code = u16::from_le_bytes([p[1], p[2]]);
        (code, String::from_utf8(p[4..9].to_vec()).unwrap(), String::from_utf8(p[9..].to_vec()).unwrap())
    }

    async fn login(
        config: MysqlConfig,
        user: &str,
        auth: &[u8],
        db: Option<&str>,
    ) -> (Server, TcpStream, (u8, Vec<u8>)) {
        let (server, mut c) = start(MysqlMode::Server(config)).await;
        let (seq, greeting) = next(&mut c).await;
        assert_eq!(seq, 0);
        parse_greeting(&greeting);
        c.write_all(&packet(1, &response(user, auth, db, 0))).await.unwrap();
        let answer = next(&mut c).await;
        (server, c, answer)
    }

    #[tokio::test]
    async fn mysql8_greeting_has_what_clients_read() {
        let (server, mut c) = start(MysqlMode::Server(MysqlConfig::default())).await;
        let (seq, payload) = next(&mut c).await;
        assert_eq!(seq, 0);
        let g = parse_greeting(&payload);
        assert_eq!(g.version, "8.0.36-portproof");
        assert_eq!(g.plugin, "caching_sha2_password");
        assert_eq!((g.charset, g.status), (255, 2));
        let wanted = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_WITH_DB;
        assert_eq!(g.capabilities & wanted, wanted);
        assert_eq!(g.capabilities & (CLIENT_SSL | CLIENT_LONG_PASSWORD), CLIENT_LONG_PASSWORD);
        assert_eq!(g.scramble.len(), 20);
        assert!(g.scramble.iter().all(|b| (0x21..=0x7E).contains(b)));
        // Each connection has its own id.
        let ids: Vec<u32> = [payload.clone(), next(&mut TcpStream::connect(server.addr).await.unwrap()).await.1]
            .iter()
            .map(|p| {
                let at = 1 + p.iter().skip(1).position(|b| *b == 0).unwrap() + 1;
                u32::from_le_bytes(p[at..at + 4].try_into().unwrap())
            })
            .collect();
        assert_eq!(ids, [1, 2]);
    }

    #[tokio::test]
    async fn mariadb_greeting_looks_like_mariadb() {
        let config = MysqlConfig {
            server_version: "5.5.5-10.11.6-MariaDB-portproof".into(),
            auth_plugin: "mysql_native_password".into(),
            charset: 45,
            ..MysqlConfig::default()
        };
        let (_server, mut c) = start(MysqlMode::Server(config)).await;
        let g = parse_greeting(&next(&mut c).await.1);
        assert_eq!(
            (g.version.as_str(), g.plugin.as_str(), g.charset),
            ("5.5.5-10.11.6-MariaDB-portproof", "mysql_native_password", 45)
        );
        assert_eq!(g.capabilities & CLIENT_LONG_PASSWORD, 0, "CLIENT_MYSQL cleared");
    }

    #[tokio::test]
    async fn logins_are_accepted_by_user_and_refused_like_mysql() {
        let (_server, _c, answer) = login(MysqlConfig::default(), "portproof", &[7; 20], Some("portproof")).await;
        assert_eq!(answer, (2, vec![0, 0, 0, 2, 0, 0, 0]));

        let (_server, mut c, (seq, p)) = login(MysqlConfig::default(), "root", &[7; 20], None).await;
        assert_eq!(seq, 2);
        assert_eq!(
            err_of(&p),
            (1045, "28000".into(), "Access denied for user 'root'@'127.0.0.1' (using password: YES)".into())
        );
        assert!(eof(&mut c).await);

        let (_server, _c, (_, p)) = login(MysqlConfig::default(), "root", &[], None).await;
        assert!(err_of(&p).2.ends_with("(using password: NO)"));

        let (_server, mut c, (_, p)) = login(MysqlConfig::default(), "portproof", &[], Some("nope")).await;
        assert_eq!(err_of(&p), (1049, "42000".into(), "Unknown database 'nope'".into()));
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn caching_sha2_gets_fast_auth_success_before_the_ok() {
        let (_server, mut c) = start(MysqlMode::Server(MysqlConfig::default())).await;
        next(&mut c).await;
        c.write_all(&packet(1, &response_with("portproof", &[7; 32], None, 0, "caching_sha2_password"))).await.unwrap();
        assert_eq!(next(&mut c).await, (2, vec![0x01, 0x03]));
        assert_eq!(next(&mut c).await, (3, vec![0, 0, 0, 2, 0, 0, 0]));

        // No password: the OK alone.
        let (_server, mut c) = start(MysqlMode::Server(MysqlConfig::default())).await;
        next(&mut c).await;
        c.write_all(&packet(1, &response_with("portproof", &[], None, 0, "caching_sha2_password"))).await.unwrap();
        assert_eq!(next(&mut c).await, (2, vec![0, 0, 0, 2, 0, 0, 0]));
    }

    #[tokio::test]
    async fn insecure_transport_is_refused_as_mysql_and_as_mariadb_refuse_it() {
        let config = MysqlConfig { require_secure_transport: true, ..MysqlConfig::default() };
        let (_server, mut c, (seq, p)) = login(config.clone(), "portproof", &[7; 20], None).await;
        let text = "Connections using insecure transport are prohibited while --require_secure_transport=ON.";
        assert_eq!((seq, err_of(&p)), (2, (3159, "HY000".into(), text.into())));
        assert!(eof(&mut c).await);

        let config = MysqlConfig { server_version: "5.5.5-10.11.6-MariaDB-portproof".into(), ..config };
        let (_server, _c, (_, p)) = login(config, "portproof", &[7; 20], None).await;
        assert_eq!(err_of(&p).0, 1045);
    }

    #[tokio::test]
    async fn ssl_request_upgrades_to_tls_and_the_login_follows_inside() {
        let pki = crate::pki::Pki::new();
        let config =
            MysqlConfig { tls: Some(pki.server_config()), require_secure_transport: true, ..MysqlConfig::default() };
        let (_server, mut c) = start(MysqlMode::Server(config)).await;
        let g = parse_greeting(&next(&mut c).await.1);
        assert_ne!(g.capabilities & CLIENT_SSL, 0);
        c.write_all(&packet(1, &ssl_request())).await.unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca.cert_der.clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(crate::pki::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(client)).connect(name, c).await.unwrap();
        tls.write_all(&packet(2, &response("portproof", &[7; 20], None, CLIENT_SSL))).await.unwrap();
        assert_eq!(next(&mut tls).await, (3, vec![0, 0, 0, 2, 0, 0, 0]));

        // Without TLS configured, an SSLRequest is a bad handshake.
        let (_server, mut c) = start(MysqlMode::Server(MysqlConfig::default())).await;
        next(&mut c).await;
        c.write_all(&packet(1, &ssl_request())).await.unwrap();
        let (seq, p) = next(&mut c).await;
        assert_eq!((seq, err_of(&p)), (2, (1043, "08S01".into(), "Bad handshake".into())));
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn commands_after_login() {
        let (_server, mut c, answer) = login(MysqlConfig::default(), "portproof", &[7; 20], None).await;
        assert_eq!(answer.1[0], 0);

        c.write_all(&packet(0, b"\x03select 1")).await.unwrap();
        assert_eq!(next(&mut c).await, (1, vec![1]));
        assert_eq!(
            next(&mut c).await,
            (2, b"\x03def\x00\x00\x00\x011\x00\x0c\x3f\x00\x01\x00\x00\x00\x08\x81\x00\x00\x00\x00".to_vec())
        );
        assert_eq!(next(&mut c).await, (3, vec![0xFE, 0, 0, 2, 0]));
        assert_eq!(next(&mut c).await, (4, b"\x011".to_vec()));
        assert_eq!(next(&mut c).await, (5, vec![0xFE, 0, 0, 2, 0]));

        c.write_all(&packet(0, b"\x03SELECT  version() ;")).await.unwrap();
        next(&mut c).await;
        let (_, definition) = next(&mut c).await;
        assert!(definition.windows(10).any(|w| w == b"\x09VERSION()"));
        next(&mut c).await;
        assert_eq!(next(&mut c).await, (4, b"\x108.0.36-portproof".to_vec()));
        next(&mut c).await;

        c.write_all(&packet(0, b"\x03drop table x")).await.unwrap();
        let (seq, p) = next(&mut c).await;
        assert_eq!((seq, err_of(&p).0, err_of(&p).1.as_str()), (1, 1064, "42000"));

        c.write_all(&packet(0, &[COM_PING])).await.unwrap();
        assert_eq!(next(&mut c).await, (1, vec![0, 0, 0, 2, 0, 0, 0]));
        c.write_all(&packet(0, b"\x02nope")).await.unwrap();
        assert_eq!(err_of(&next(&mut c).await.1).0, 1049);
        c.write_all(&packet(0, &[0x1F])).await.unwrap();
        assert_eq!(err_of(&next(&mut c).await.1), (1047, "08S01".into(), "Unknown command".into()));
        c.write_all(&packet(0, &[COM_QUIT])).await.unwrap();
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn garbage_gets_bad_handshake_or_a_close() {
        for payload in [&b"\x00\x02\x00\x00"[..], b"", &[0xFF; 40]] {
            let (_server, mut c) = start(MysqlMode::Server(MysqlConfig::default())).await;
            next(&mut c).await;
            c.write_all(&packet(1, payload)).await.unwrap();
            let (_, p) = next(&mut c).await;
            assert_eq!(err_of(&p).0, 1043, "{payload:?}");
            assert!(eof(&mut c).await);
        }
        // A packet over the limit: closed unread.
        let (_server, mut c) = start(MysqlMode::Server(MysqlConfig::default())).await;
        next(&mut c).await;
        c.write_all(&[0xFF, 0xFF, 0xFF, 1]).await.unwrap();
        assert!(eof(&mut c).await);
        // A lenenc auth length running past the end.
        let (_server, mut c) = start(MysqlMode::Server(MysqlConfig::default())).await;
        next(&mut c).await;
        let mut bad = response("portproof", &[], None, 0);
        let at = 32 + "portproof".len() + 1;
        bad[at] = 0xFE;
        c.write_all(&packet(1, &bad[..at + 3])).await.unwrap();
        assert_eq!(err_of(&next(&mut c).await.1).0, 1043);
    }

    #[tokio::test]
    async fn err_on_connect_has_no_sqlstate() {
        let message =
            "Host '127.0.0.1' is blocked because of many connection errors; unblock with 'mysqladmin flush-hosts'";
        let (_server, mut c) = start(MysqlMode::ErrOnConnect { code: 1129, message: message.into() }).await;
        let (seq, p) = next(&mut c).await;
        let mut expected = vec![0xFF, 0x69, 0x04];
        expected.extend(message.as_bytes());
        assert_eq!((seq, p), (0, expected));
        assert!(eof(&mut c).await);
    }

    #[tokio::test]
    async fn lying_length_claims_16_mib_and_trickles() {
        let (_server, mut c) = start(MysqlMode::LyingLength).await;
        let mut head = [0u8; 5];
        timeout(WAIT, c.read_exact(&mut head)).await.unwrap().unwrap();
        assert_eq!(head, [0xFF, 0xFF, 0xFF, 0x00, 10]);
        let t = std::time::Instant::now();
        let mut more = [0u8; 1];
        timeout(WAIT, c.read_exact(&mut more)).await.unwrap().unwrap();
        assert_eq!(&more, b"8");
        assert!(t.elapsed() >= Duration::from_millis(150), "{:?}", t.elapsed());
    }
}
