//! `mysql`: MySQL and MariaDB (3306), identified from the server's greeting without a login.
//!
//! The server speaks first: Protocol::HandshakeV10 names the product and version (MariaDB's
//! `5.5.5-` prefix unwrapped), the connection id, capabilities, character set, status and the
//! default authentication plugin (`speaks`). An ERR packet instead (1129 host blocked, 1130
//! host not allowed, 1040 too many connections) is decoded with a hint. When the server offers
//! TLS the probe switches to it (SSLRequest) and the TLS engine diagnoses the certificate.
//!
//! The probe then answers the greeting with a HandshakeResponse41 carrying no password: a
//! client that just hangs up counts as a handshake error, and after `max_connect_errors` of
//! those MySQL blocks the whole host (error 1129), the classic harm done by TCP health checks.
//! The refusal that comes back says how the server sees this client (`user@host`).
//!
//! With `login:` and a password, mysql_async logs in on a second connection and runs
//! `SELECT VERSION()`: `healthy`; with TLS, that connection is the probe's own, the TLS the
//! engine's (see [`login`]). The password goes only over TLS whose certificate verified (or
//! `insecure: true`); outside TLS only with an explicit
//! `sslmode: disable`, because caching_sha2_password sends it encrypted to whatever RSA key
//! the server presents, and a fake server can present its own.

pub mod codes;
mod login;
pub mod options;
pub mod wire;
pub use options::*;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::codes::core;
use crate::net::{BoxIo, Conn, dial, read_available, read_failure, read_head};
use crate::tls::SslMode;
use crate::{Failure, Level, Login, Phase, Probe, ProbeCx, Target, sniff, tls};
use wire::{ErrPacket, MAX_HANDSHAKE_PACKET};

/// The `mysql` probe.
#[derive(Debug, Clone, Copy)]
pub struct Mysql;

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "mysql",
    summary: "MySQL / MariaDB: the greeting (product, version, plugin, TLS), TLS diagnosis, refusals by error code",
    proves: "the greeting (HandshakeV10: MySQL or MariaDB, version with the `5.5.5-` prefix unwrapped, connection id, capabilities, charset, auth plugin) is `speaks`; TLS through the engine when offered; a password-less HandshakeResponse41 (so the server never counts a handshake error against the host) whose refusal shows how the server sees the client; with `login:` and a password, mysql_async logs in (only where the first connection's certificate verified) and runs `SELECT VERSION()` (`healthy`): over TLS it talks to a relay on a private Unix socket, and the relay dials the server itself and does the TLS through the engine (the login connection's certificate checked again, its HandshakeResponse41 sent only inside that TLS)",
    default_ports: &[3306],
    options: Some(&SECTION),
    codes: codes::CODES,
    logs_in: true,
    tls_in_band: true,
    ..crate::About::DEFAULT
};

impl Probe for Mysql {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    /// A user name alone only says whom the refusal names; a password source asks for a login.
    fn default_require(&self, t: &Target) -> Level {
        t.login_require()
    }
    fn validate(&self, t: &Target) -> Result<(), Failure> {
        t.validate_in_band_tls("expect: mysql negotiates TLS itself (SSLRequest); drop over: tls and set mysql.sslmode")
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(run(t, cx))
    }
}

/// Reads one packet: sequence id and payload, refusing a length beyond `max` before reading
/// (or allocating) the payload.
async fn read_packet<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
    phase: Phase,
    what: &str,
) -> Result<(u8, Vec<u8>), Failure> {
    let mut h = [0u8; 4];
    r.read_exact(&mut h).await.map_err(|e| read_failure(&e, phase, what))?;
    let (len, seq) = wire::header(&h);
    if len > max {
        return Err(malformed(format!("a packet claims {len} bytes; at most {max} are expected here"), phase));
    }
    let mut p = vec![0u8; len];
    r.read_exact(&mut p).await.map_err(|e| read_failure(&e, phase, what))?;
    Ok((seq, p))
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let mode = t.options::<MysqlOptions>().and_then(|m| m.sslmode).unwrap_or(SslMode::Prefer);
    let user = t.login.as_ref().map_or("portproof", |l| l.user.as_str()).to_owned();
    let tcp = dial(cx, &t.host, t.port).await?;
    let peer = tcp.peer();
    let mut conn = Conn::new(Box::new(tcp) as BoxIo, cx.limits.max_read);
    let tape = conn.tape();
    cx.phase(Phase::Greeting);
    let mut h = [0u8; 4];
    let got = read_head(&mut conn, &mut h, Phase::Greeting, "waiting for the server's greeting").await?;
    if got == 0 {
        return Err(no_greeting(cx, t, peer).await);
    }
    let (len, _) = wire::header(&h);
    if got < 4 || len == 0 || len > MAX_HANDSHAKE_PACKET {
        let _ = read_available(&mut conn, 512, Duration::from_millis(100)).await;
        return Err(mismatch(cx, &tape.head()));
    }
    let mut payload = vec![0u8; len];
    conn.read_exact(&mut payload)
        .await
        .map_err(|e| read_failure(&e, Phase::Greeting, "reading the server's greeting"))?;
    match payload.first() {
        Some(0xFF) => {
            let e = wire::err_packet(&payload).map_err(|e| malformed(e.to_string(), Phase::Greeting))?;
            cx.reach(Level::Speaks);
            return Err(server_error(cx, &e, Phase::Greeting));
        }
        Some(10) => {}
        _ => return Err(mismatch(cx, &tape.head())),
    }
    let g = wire::greeting(&payload)
        .map_err(|e| malformed(format!("the greeting does not decode: {e}"), Phase::Greeting))?;
    cx.reach(Level::Speaks);
    cx.fact("protocol", "MySQL protocol 10");
    cx.fact("product", g.product());
    cx.fact("product_version", g.version());
    cx.fact("mysql_version_raw", g.raw_version.as_str());
    cx.fact("mysql_connection_id", g.connection_id);
    cx.fact("mysql_capabilities", g.capability_names());
    cx.fact("mysql_charset", wire::charset_name(g.charset));
    cx.fact("mysql_autocommit", g.status & 0x0002 != 0);
    if let Some(p) = &g.auth_plugin {
        cx.fact("mysql_auth_plugin", p.as_str());
    }
    cx.fact("mysql_ssl", if g.offers_tls() { "offered" } else { "not offered" });
    let tls = g.offers_tls() && mode != SslMode::Disable;
    let mut unverified = None;
    let mut seq = 1u8;
    let mut io: BoxIo = if tls {
        cx.phase(Phase::Tls);
        conn.write_all(&wire::packet(seq, &wire::ssl_request()))
            .await
            .map_err(|e| read_failure(&e, Phase::Tls, "sending SSLRequest"))?;
        seq += 1;
        // A fresh tape: a failed handshake is diagnosed from what came after SSLRequest.
        let conn = Conn::new(conn, cx.limits.max_read);
        let done = tls::handshake_recorded(cx, conn, &t.host, &t.tls, true, &[]).await.map_err(|e| e.failure)?;
        if let Some(f) = &done.unverified {
            cx.warn(&crate::tls::codes::UNVERIFIED, format!("the server certificate does not verify: {}", f.message));
        }
        unverified = done.unverified;
        Box::new(done.stream)
    } else {
        Box::new(conn)
    };
    cx.phase(Phase::Auth);
    io.write_all(&wire::packet(seq, &wire::handshake_response(&user, tls, g.auth_plugin.as_deref())))
        .await
        .map_err(|e| read_failure(&e, Phase::Auth, "answering the greeting"))?;
    let mut conn = Conn::new(io, cx.limits.max_read);
    let verdict = answer(cx, &mut conn, &user).await;
    let _ = conn.shutdown().await;
    let password = t.login.as_ref().filter(|l| l.has_password());
    if let Some(login) = password
        && verdict.is(&core::AUTH_NO_CREDENTIALS)
        && (mode != SslMode::Require || g.offers_tls())
    {
        if let Some(f) = unverified.filter(|_| !t.tls.insecure) {
            return Err(f);
        }
        // `insecure` relaxes the certificate check only: clear text takes sslmode: disable
        // (or the shared login.cleartext: allow).
        if !tls && mode != SslMode::Disable && !login.allows_cleartext() {
            return Err(Failure::new(
                &codes::PLAINTEXT_LOGIN_REFUSED,
                Phase::Auth,
                "the server offers no TLS, and the probe sends no password outside TLS",
            ));
        }
        if tls {
            return login::login_and_query(t, cx, login).await;
        }
        return login_plain(t, cx, login).await;
    }
    let refused_tls = !g.offers_tls() && mode == SslMode::Require;
    if refused_tls {
        return Err(Failure::new(
            &codes::SSL_REFUSED,
            Phase::Tls,
            "the server does not offer TLS (no CLIENT_SSL in its capabilities), and mysql.sslmode is require",
        )
        .stated());
    }
    Err(verdict)
}

/// The second connection without TLS (`sslmode: disable` only): mysql_async dials and logs in
/// by itself, and runs `SELECT VERSION()`. A TLS login goes through [`login`]'s relay instead.
async fn login_plain(t: &Target, cx: &mut ProbeCx, login: &Login) -> Result<(), Failure> {
    let password = login.password()?;
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(t.host.clone())
        .tcp_port(t.port)
        .user(Some(login.user.clone()))
        .pass(Some(password.expose().to_owned()))
        .db_name(t.options::<MysqlOptions>().and_then(|m| m.database.clone()))
        // Otherwise it asks a local server for its unix socket and reconnects there.
        .prefer_socket(false)
        .tcp_nodelay(true)
        .stmt_cache_size(0)
        // Stated, so the client neither asks the server for them nor sizes buffers by its answer.
        .max_allowed_packet(Some(64 * 1024))
        .wait_timeout(Some(60));
    cx.phase(Phase::Auth);
    let mut conn = mysql_async::Conn::new(opts).await.map_err(|e| client_failure(cx, &e, Phase::Auth))?;
    cx.phase(Phase::Query);
    use mysql_async::prelude::Queryable;
    let version: Option<String> =
        conn.query_first("SELECT VERSION()").await.map_err(|e| client_failure(cx, &e, Phase::Query))?;
    if let Some(v) = version {
        let v: String = v.chars().take(256).collect();
        cx.fact("mysql_version_query", v);
    }
    cx.fact("mysql_login", "accepted");
    cx.reach(Level::Healthy);
    let _ = tokio::time::timeout(Duration::from_millis(200), conn.disconnect()).await;
    Ok(())
}

/// A mysql_async error as a failure: the server's error by number when there is one.
fn client_failure(cx: &mut ProbeCx, e: &mysql_async::Error, phase: Phase) -> Failure {
    if let mysql_async::Error::Server(s) = e {
        let p = ErrPacket { code: s.code, sqlstate: Some(s.state.clone()), message: s.message.clone() };
        let f = server_error(cx, &p, phase);
        if f.is(&core::AUTH_NO_CREDENTIALS) {
            return Failure::new(&core::AUTH_REJECTED, f.phase, format!("the login was refused: error {} {}", s.code, s.message))
                .hint("check the user name, password and the host part of the account (user@host); MariaDB with require_secure_transport also answers 1045 to plain connections");
        }
        return f;
    }
    Failure::new(&codes::ERROR, phase, format!("the login failed: {e}"))
}

/// Reads the server's answer to the password-less HandshakeResponse41. Always a failure: the
/// best case without credentials is `speaks`.
async fn answer(cx: &mut ProbeCx, conn: &mut Conn<BoxIo>, user: &str) -> Failure {
    for _ in 0..2 {
        let (s, p) =
            match read_packet(conn, MAX_HANDSHAKE_PACKET, Phase::Auth, "waiting for the answer to the login").await {
                Ok(x) => x,
                Err(f) => return f,
            };
        let seq = s.wrapping_add(1);
        match p.first() {
            Some(0xFF) => {
                return match wire::err_packet(&p) {
                    Ok(e) => server_error(cx, &e, Phase::Auth),
                    Err(e) => malformed(e.to_string(), Phase::Auth),
                };
            }
            Some(0x00) => {
                cx.warn(
                    &codes::PASSWORDLESS_LOGIN,
                    format!("user {user:?} was let in without a password (the probe sent none)"),
                );
                let _ = conn.write_all(&wire::packet(0, &[0x01])).await; // COM_QUIT
                return Failure::new(
                    &core::AUTH_NO_CREDENTIALS,
                    Phase::Auth,
                    format!("user {user:?} logged in without a password; a query would prove health"),
                )
                .hint("a user without a password is open to anyone who can reach the port: set one");
            }
            // AuthSwitchRequest: answer with an empty response, once.
            Some(0xFE) => {
                if let Some(name) = p.get(1..).and_then(|r| r.split(|&b| b == 0).next()) {
                    cx.fact("mysql_auth_switch", String::from_utf8_lossy(name).into_owned());
                }
                if conn.write_all(&wire::packet(seq, &[])).await.is_err() {
                    break;
                }
            }
            _ => break,
        }
    }
    Failure::new(
        &core::AUTH_NO_CREDENTIALS,
        Phase::Auth,
        "the server wants the authentication exchange the probe does not do without credentials",
    )
    .hint("the server is MySQL/MariaDB and reachable; a login check needs credentials")
}

/// An ERR packet as a failure, by error number.
fn server_error(cx: &mut ProbeCx, e: &ErrPacket, phase: Phase) -> Failure {
    cx.fact("mysql_error", e.code);
    if let Some(s) = &e.sqlstate {
        cx.fact("mysql_sqlstate", s.as_str());
    }
    // "Access denied for user 'x'@'10.0.0.9'", "Host '10.0.0.9' is not allowed ...": how the
    // server sees this client.
    let seen = match e.message.split("'@'").nth(1) {
        Some(rest) => rest.split('\'').next(),
        None => e.message.strip_prefix("Host '").and_then(|r| r.split('\'').next()),
    };
    if let Some(host) = seen {
        cx.fact("mysql_seen_as", host.chars().take(256).collect::<String>());
    }
    let text = format!("the server refused the connection: error {} {}", e.code, e.message);
    match e.code {
        1129 => Failure::new(&codes::HOST_BLOCKED, phase, text),
        1130 => Failure::new(&codes::HOST_NOT_ALLOWED, phase, text),
        1040 => Failure::new(&codes::TOO_MANY_CONNECTIONS, phase, text),
        // Only a client that names a database hears 1049: the check stated it.
        1049 => Failure::new(&codes::DATABASE_MISSING, phase, text).stated(),
        3159 => Failure::new(&codes::INSECURE_TRANSPORT_REFUSED, phase, text),
        // The expected answer to a login without a password.
        1045 | 1698 => Failure::new(
            &core::AUTH_NO_CREDENTIALS,
            phase,
            format!("the server refused the password-less login as expected: {}", e.message),
        )
        .hint("the server is MySQL/MariaDB and reachable; a login check needs credentials (MariaDB with require_secure_transport also answers 1045 to plain connections)"),
        other => codes::SERVER_ERROR.failure_with(other, phase, text),
    }
}

fn malformed(message: String, phase: Phase) -> Failure {
    Failure::new(&codes::MALFORMED, phase, message)
}

fn mismatch(cx: &mut ProbeCx, head: &[u8]) -> Failure {
    let expected = sniff::Expected { name: "mysql", label: "MySQL", over_tls: None };
    if let Some(f) = sniff::mismatch(cx, head, &expected, Phase::Greeting) {
        return f;
    }
    Failure::new(&codes::MALFORMED, Phase::Greeting, format!("the greeting is not MySQL: {}", sniff::describe(head)))
        .hint("the port speaks something other than MySQL: check the port number")
}

/// No greeting: a silent-close port may be TLS in front of the server; ask on the side.
async fn no_greeting(cx: &mut ProbeCx, t: &Target, peer: Option<SocketAddr>) -> Failure {
    if sniff::answers_tls(peer, &t.host, cx.remaining()).await {
        cx.identify("tls");
        return Failure::new(
            &core::PROTO_MISMATCH,
            Phase::Greeting,
            "the port closed without a greeting but completes a TLS ClientHello: TLS in front of the port (a proxy?)",
        )
        .hint("MySQL greets in plain text and switches to TLS itself; check what listens on this port");
    }
    Failure::new(&codes::NO_RESPONSE, Phase::Greeting, "the peer closed the connection without a greeting")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn err_packets_get_their_codes() {
        let mut cx = ProbeCx::new(None);
        for (number, code) in [
            (1129u16, "mysql.host_blocked"),
            (1130, "mysql.host_not_allowed"),
            (1040, "mysql.too_many_connections"),
            (1049, "mysql.database_missing"),
            (3159, "mysql.insecure_transport_refused"),
            (1045, "auth.no_credentials"),
            (1698, "auth.no_credentials"),
            (1203, "mysql.error.1203"),
        ] {
            let e = ErrPacket { code: number, sqlstate: None, message: "x".into() };
            let f = server_error(&mut cx, &e, Phase::Greeting);
            assert_eq!(f.code, code);
            assert!(f.hint.is_some(), "{code}");
        }
    }

    #[test]
    fn codes_the_tests_know_are_in_the_tables() {
        for c in [
            "mysql.malformed",
            "mysql.no_response",
            "mysql.passwordless_login",
            "mysql.ssl_refused",
            "mysql.ssl_downgraded",
            "mysql.plaintext_login_refused",
            "mysql.host_blocked",
            "mysql.host_not_allowed",
            "mysql.too_many_connections",
            "mysql.database_missing",
            "mysql.insecure_transport_refused",
            "mysql.error.1203",
            "mysql.error",
            "run.local_error",
            "auth.rejected",
            "auth.no_credentials",
            "proto.mismatch",
            "greeting.timeout",
        ] {
            assert!(crate::codes::lookup(c).is_some(), "{c}");
        }
        assert!(std::ptr::eq(crate::codes::lookup("mysql.error").unwrap(), &codes::ERROR));
        assert!(std::ptr::eq(crate::codes::lookup("mysql.error.1203").unwrap(), &codes::SERVER_ERROR));
    }
}
