//! `postgres`: PostgreSQL (5432), identified from its own start-up handshake without a login.
//!
//! SSLRequest first (the server answers `S` or `N`; on `S` the TLS engine runs its full
//! diagnosis of the server certificate), then a StartupMessage: the authentication the server
//! asks for (trust, password, md5, SCRAM-SHA-256) is level `speaks`, and an ErrorResponse is
//! decoded with its SQLSTATE and a hint for the usual refusals (28000 no pg_hba.conf entry,
//! 3D000 no such database, 28P01 password failed, 53300 too many connections). No password is
//! ever sent: a server that lets the probe in without one (trust) shows its `server_version`.
//!
//! With `login:` a second connection makes the same SSLRequest and TLS handshake, and hands the
//! stream to tokio-postgres, which logs in (md5, SCRAM) and runs `SELECT version()`: `healthy`.
//! The password goes only over a TLS session whose certificate verified (or `insecure: true`),
//! or in plain text when the server offers no TLS and `sslmode: disable` says so.

pub mod codes;
pub mod options;
pub mod wire;
pub use options::*;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::codes::core;
use crate::net::{BoxIo, Conn, dial, is_reset, read_available, read_failure};
use crate::tls::SslMode;
use crate::{Failure, Level, Phase, Probe, ProbeCx, Target, sniff, tls};

/// The `postgres` probe.
#[derive(Debug, Clone, Copy)]
pub struct Postgres;

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "postgres",
    summary: "PostgreSQL: SSLRequest and TLS diagnosis, the authentication asked for, errors by SQLSTATE",
    proves: "SSLRequest (`S`: the TLS engine's diagnosis of the certificate; an unverified one is a warning, as no password is sent), then a StartupMessage: the authentication asked for (trust, password, md5, SCRAM-SHA-256), or an ErrorResponse, is `speaks` (notices alone are not; an answer to SSLRequest longer than its one byte, like an SSH banner, is another protocol); under trust the server's `server_version` and parameters; errors by SQLSTATE; with `login:` tokio-postgres logs in over the same TLS engine (no password over an unverified certificate) and runs `SELECT version()` (`healthy`)",
    default_ports: &[5432],
    options: Some(&SECTION),
    codes: codes::CODES,
    // Only the user name is used so far: it selects the pg_hba.conf line and the method.
    logs_in: true,
    tls_in_band: true,
    ..crate::About::DEFAULT
};

impl Probe for Postgres {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    /// A user name alone only says whom to identify as; a password source asks for a login.
    fn default_require(&self, t: &Target) -> Level {
        t.login_require()
    }
    fn validate(&self, t: &Target) -> Result<(), Failure> {
        t.validate_in_band_tls(
            "expect: postgres negotiates TLS itself (SSLRequest); drop over: tls and set postgres.sslmode",
        )
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(run(t, cx))
    }
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let opts = t.options_or_default::<PostgresOptions>();
    let user = t.login.as_ref().map_or("postgres", |l| l.user.as_str()).to_owned();
    let database = opts.database.clone().unwrap_or_else(|| user.clone());
    let first = identify(t, cx, &user, &database).await;
    let trust = cx.facts().get("postgres_auth").and_then(|v| v.as_str()) == Some("trust");
    // A missing database the check named is the refusal of what it stated; the user's own
    // (the default) is not.
    let stated_db = opts.database.is_some();
    login_if_asked(t, cx, &opts, &user, &database, first, trust)
        .await
        .map_err(|f| if f.is(&codes::DATABASE_MISSING) { f.stated_if(stated_db) } else { f })
}

/// With a login, the second connection (when the first answer asks for a password).
async fn login_if_asked(
    t: &Target,
    cx: &mut ProbeCx,
    opts: &PostgresOptions,
    user: &str,
    database: &str,
    first: Result<(), Failure>,
    trust: bool,
) -> Result<(), Failure> {
    let (user, database) = (user.to_owned(), database.to_owned());
    match (&t.login, first) {
        (Some(login), Err(f)) if f.is(&core::AUTH_NO_CREDENTIALS) => {
            let password = login.password()?;
            // No password for a server that wants one: the first answer is the verdict.
            if password.expose().is_empty() && !trust {
                return Err(f);
            }
            // A password goes only inside TLS: a server that offered no TLS (or a peer that
            // stops offering it on the second connection) could ask for it in clear text.
            let tls_first = cx.facts().get("postgres_ssl").and_then(|v| v.as_str()) == Some("supported");
            // `insecure` relaxes the certificate check only: clear text takes sslmode: disable.
            let plain_allowed = opts.sslmode == Some(SslMode::Disable) || login.allows_cleartext();
            if !password.expose().is_empty() && !tls_first && !plain_allowed {
                return Err(Failure::new(
                    &codes::PLAINTEXT_LOGIN_REFUSED,
                    Phase::Auth,
                    "the server offers no TLS, and the probe sends no password outside TLS",
                ));
            }
            login_and_query(t, cx, &user, &database, &password, tls_first).await
        }
        (_, r) => r,
    }
}

/// Opens a connection and, when asked and offered, switches it to TLS; `go_on` lets the
/// handshake finish over a certificate that does not verify (recorded as `unverified`).
async fn open(t: &Target, cx: &mut ProbeCx, go_on: bool, need_tls: bool) -> Result<(BoxIo, Option<Failure>), Failure> {
    let mut conn = dial(cx, &t.host, t.port).await?;
    let mode = t.options::<PostgresOptions>().and_then(|o| o.sslmode).unwrap_or(SslMode::Prefer);
    if mode == SslMode::Disable {
        return Ok((Box::new(conn), None));
    }
    cx.phase(Phase::Request);
    conn.write_all(&wire::ssl_request()).await.map_err(|e| read_failure(&e, Phase::Request, "sending SSLRequest"))?;
    let mut answer = [0u8; 1];
    conn.read_exact(&mut answer)
        .await
        .map_err(|e| read_failure(&e, Phase::Request, "waiting for the answer to SSLRequest"))?;
    match answer[0] {
        b'S' => {
            // A fresh tape: a failed handshake is diagnosed from what came after SSLRequest.
            let conn = Conn::new(conn, cx.limits.max_read);
            let done = tls::handshake_recorded(cx, conn, &t.host, &t.tls, go_on, &[]).await.map_err(|e| e.failure)?;
            Ok((Box::new(done.stream), done.unverified))
        }
        b'N' if need_tls => Err(Failure::new(
            &codes::SSL_DOWNGRADED,
            Phase::Tls,
            "the server offered TLS on the first connection and refused it on the login connection: no password was sent",
        )),
        b'N' if mode == SslMode::Prefer => Ok((Box::new(conn), None)),
        other => Err(Failure::new(
            &codes::SSL_REFUSED,
            Phase::Tls,
            format!("the server answered SSLRequest with {:?} this time", char::from(other)),
        )),
    }
}

/// The second connection, with the password: tokio-postgres logs in over our stream and runs
/// `SELECT version()`.
async fn login_and_query(
    t: &Target,
    cx: &mut ProbeCx,
    user: &str,
    database: &str,
    password: &crate::Secret,
    need_tls: bool,
) -> Result<(), Failure> {
    // Without a password nothing secret crosses: an unverified certificate need not stop it.
    let (io, unverified) = open(t, cx, t.tls.insecure || password.expose().is_empty(), need_tls).await?;
    if let Some(f) = unverified
        && !cx.warnings().iter().any(|w| w.code == crate::tls::codes::UNVERIFIED)
    {
        cx.warn(&crate::tls::codes::UNVERIFIED, format!("the server certificate does not verify: {}", f.message));
    }
    cx.phase(Phase::Auth);
    let mut config = tokio_postgres::Config::new();
    config.user(user).dbname(database).application_name("portproof").ssl_mode(tokio_postgres::config::SslMode::Disable);
    if !password.expose().is_empty() {
        config.password(password.expose());
    }
    let (client, connection) =
        config.connect_raw(io, tokio_postgres::NoTls).await.map_err(|e| db_failure(cx, &e, Phase::Auth))?;
    cx.phase(Phase::Query);
    // The connection is driven here, not spawned, so that a deadline drops the socket with it.
    tokio::pin!(connection);
    let query = client.simple_query("SELECT version()");
    let rows = tokio::select! {
        r = query => r.map_err(|e| db_failure(cx, &e, Phase::Query))?,
        c = &mut connection => {
            let e = c.err().map_or_else(|| "the server closed the session".to_owned(), |e| e.to_string());
            return Err(Failure::new(&codes::CLOSED, Phase::Query, e));
        }
    };
    let version = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
        _ => None,
    });
    if let Some(v) = version {
        // "PostgreSQL 15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu, ...".
        if let Some(n) = v.strip_prefix("PostgreSQL ").and_then(|r| r.split_whitespace().next()) {
            cx.fact("product", "PostgreSQL");
            cx.fact("product_version", n);
        }
        cx.fact("postgres_version", v);
    }
    cx.fact("postgres_login", "accepted");
    cx.reach(Level::Healthy);
    drop(client);
    let _ = tokio::time::timeout(Duration::from_millis(200), &mut connection).await;
    Ok(())
}

/// A tokio-postgres error as a failure: the server's ErrorResponse by SQLSTATE when there is one.
fn db_failure(cx: &mut ProbeCx, e: &tokio_postgres::Error, phase: Phase) -> Failure {
    if let Some(db) = e.as_db_error() {
        let mut f = std::collections::BTreeMap::new();
        f.insert('C', db.code().code().to_owned());
        f.insert('M', db.message().to_owned());
        f.insert('S', db.severity().to_owned());
        if let Some(d) = db.detail() {
            f.insert('D', d.to_owned());
        }
        let mut failure = server_error(cx, &f);
        failure.phase = phase;
        return failure;
    }
    Failure::new(&codes::ERROR, phase, format!("the login failed: {e}"))
}

/// The first connection: SSLRequest, StartupMessage, and what the server says before a password.
async fn identify(t: &Target, cx: &mut ProbeCx, user: &str, database: &str) -> Result<(), Failure> {
    let opts = t.options_or_default::<PostgresOptions>();
    let (user, database) = (user.to_owned(), database.to_owned());
    let mut conn = dial(cx, &t.host, t.port).await?;
    let peer = conn.peer();
    let mode = opts.sslmode.unwrap_or(SslMode::Prefer);
    let mut io: BoxIo = if mode == SslMode::Disable {
        cx.fact("postgres_ssl", "not asked (sslmode disable)");
        Box::new(conn)
    } else {
        cx.phase(Phase::Request);
        conn.write_all(&wire::ssl_request())
            .await
            .map_err(|e| read_failure(&e, Phase::Request, "sending SSLRequest"))?;
        let mut answer = [0u8; 1];
        let n = match conn.read(&mut answer).await {
            Ok(n) => n,
            Err(e) if is_reset(&e) => 0,
            Err(e) => return Err(read_failure(&e, Phase::Request, "waiting for the answer to SSLRequest")),
        };
        // PostgreSQL answers SSLRequest with exactly one byte and waits; a peer with more to
        // say at once greets on its own (`SSH-2.0-...` starts with the `S` of "SSL supported").
        if n == 1 && matches!(answer[0], b'S' | b'N') {
            let mut more = [0u8; 511];
            if let Ok(k @ 1..) = conn.get_ref().try_read(&mut more) {
                let mut rest = answer.to_vec();
                rest.extend_from_slice(&more[..k]);
                return Err(mismatch(cx, &rest, Phase::Request));
            }
        }
        match (n, answer[0]) {
            (0, _) => return Err(no_response(cx, t, peer).await),
            (_, b'S') => {
                cx.fact("postgres_ssl", "supported");
                let conn = Conn::new(conn, cx.limits.max_read);
                let done =
                    tls::handshake_recorded(cx, conn, &t.host, &t.tls, true, &[]).await.map_err(|e| e.failure)?;
                if let Some(f) = &done.unverified {
                    cx.warn(
                        &crate::tls::codes::UNVERIFIED,
                        format!("the server certificate does not verify: {}", f.message),
                    );
                }
                Box::new(done.stream)
            }
            (_, b'N') => {
                cx.fact("postgres_ssl", "not offered");
                if mode == SslMode::Require {
                    cx.reach(Level::Speaks);
                    return Err(Failure::new(
                        &codes::SSL_REFUSED,
                        Phase::Tls,
                        "the server answered SSLRequest with N: it does not offer TLS, and postgres.sslmode is require",
                    )
                    .stated());
                }
                Box::new(conn)
            }
            (_, b'E') => {
                // Servers before 7.0 answered with an error; so do some proxies.
                cx.fact("postgres_ssl", "answered with an error");
                return Err(startup_answer(cx, &mut Conn::new(Box::new(conn) as BoxIo, cx.limits.max_read), b'E').await);
            }
            (_, other) => {
                let mut rest = read_available(&mut conn, 511, Duration::from_millis(100)).await;
                rest.insert(0, other);
                return Err(mismatch(cx, &rest, Phase::Request));
            }
        }
    };
    cx.phase(Phase::Greeting);
    io.write_all(&wire::startup(&user, &database))
        .await
        .map_err(|e| read_failure(&e, Phase::Greeting, "sending the StartupMessage"))?;
    cx.fact("postgres_user", user.as_str());
    cx.fact("postgres_database", database.as_str());
    let mut conn = Conn::new(io, cx.limits.max_read);
    let mut first = [0u8; 1];
    match conn.read(&mut first).await {
        Ok(1) => {}
        Ok(_) => {
            return Err(Failure::new(
                &codes::NO_RESPONSE,
                Phase::Greeting,
                "the server closed the connection without answering the StartupMessage",
            ));
        }
        Err(e) => return Err(read_failure(&e, Phase::Greeting, "waiting for the answer to the StartupMessage")),
    }
    let result = startup_answer(cx, &mut conn, first[0]).await;
    let _ = conn.write_all(&wire::TERMINATE).await;
    let _ = conn.shutdown().await;
    Err(result)
}

/// Reads the server's answers to the StartupMessage, from the type byte already read, up to
/// the verdict. It always ends in a failure: the best case without a password is `speaks`.
async fn startup_answer(cx: &mut ProbeCx, conn: &mut Conn<BoxIo>, mut kind: u8) -> Failure {
    let mut params = serde_json::Map::new();
    let mut before_auth = 0usize;
    loop {
        if !matches!(kind, b'R' | b'E' | b'S' | b'K' | b'Z' | b'N' | b'v') {
            let mut rest = read_available(conn, 511, Duration::from_millis(100)).await;
            rest.insert(0, kind);
            return mismatch(cx, &rest, Phase::Greeting);
        }
        let mut len = [0u8; 4];
        if let Err(e) = conn.read_exact(&mut len).await {
            return read_failure(&e, Phase::Greeting, "reading a PostgreSQL message");
        }
        let mut head = [kind, 0, 0, 0, 0];
        head[1..].copy_from_slice(&len);
        let h = match wire::header(&head) {
            Ok(h) if h.body_len <= wire::MAX_STARTUP_MESSAGE => h,
            Ok(h) => return malformed(format!("a start-up message claims {} bytes", h.body_len)),
            Err(e) => return malformed(e.to_string()),
        };
        let mut body = vec![0u8; h.body_len as usize];
        if let Err(e) = conn.read_exact(&mut body).await {
            return read_failure(&e, Phase::Greeting, "reading a PostgreSQL message");
        }
        // Only an Authentication message or an ErrorResponse is PostgreSQL's own answer to a
        // StartupMessage; notices and parameters alone are bytes any peer can send.
        if cx.level() < Level::Speaks && !matches!(h.kind, b'R' | b'E') {
            before_auth += 1;
            if before_auth > MAX_BEFORE_AUTH {
                return malformed(format!(
                    "{before_auth} messages without an Authentication message or an ErrorResponse: not a PostgreSQL start-up"
                ));
            }
        }
        match h.kind {
            b'R' => match wire::auth(&body) {
                Ok(wire::Auth::Ok) => {
                    cx.reach(Level::Speaks);
                    cx.fact("postgres_auth", "trust");
                }
                Ok(a) => {
                    cx.reach(Level::Speaks);
                    cx.fact("postgres_auth", a.method());
                    if let wire::Auth::Sasl(m) = &a {
                        cx.fact("postgres_sasl_mechanisms", m.clone());
                    }
                    return Failure::new(
                        &core::AUTH_NO_CREDENTIALS,
                        Phase::Auth,
                        format!("the server asks for {} to log in; the probe sends no password", a.method()),
                    )
                    .hint("the server is PostgreSQL and reachable; a login check needs credentials");
                }
                Err(e) => return malformed(e.to_string()),
            },
            b'S' => {
                if let Some((k, v)) = wire::parameter(&body) {
                    // Parameters follow AuthenticationOk: before it they prove nothing.
                    if k == "server_version" && cx.level() >= Level::Speaks {
                        cx.fact("product", "PostgreSQL");
                        cx.fact("product_version", clip(&v));
                    }
                    // Bounded, and under one key: the peer names them, and may send them forever.
                    if params.len() < MAX_PARAMETERS {
                        params.insert(clip(&k), serde_json::Value::String(clip(&v)));
                        cx.fact("postgres_parameters", serde_json::Value::Object(params.clone()));
                    }
                }
            }
            b'E' => {
                let fields = wire::fields(&body);
                // Every PostgreSQL ErrorResponse carries its SQLSTATE and message.
                if !(fields.contains_key(&'C') && fields.contains_key(&'M')) {
                    return malformed("an ErrorResponse without SQLSTATE (C) or message (M)".into());
                }
                cx.reach(Level::Speaks);
                return server_error(cx, &fields);
            }
            b'Z' => {
                cx.fact("protocol", "PostgreSQL 3.0");
                return Failure::new(
                    &core::AUTH_NO_CREDENTIALS,
                    Phase::Auth,
                    "the server let the probe in without a password (trust); a query would prove health",
                )
                .hint(
                    "trust lets anyone from this address in as this user: check pg_hba.conf if that is not intended",
                );
            }
            // BackendKeyData, notices, NegotiateProtocolVersion: nothing to decide on.
            _ => {}
        }
        if cx.level() >= Level::Speaks {
            cx.fact("protocol", "PostgreSQL 3.0");
        }
        let mut next = [0u8; 1];
        match conn.read(&mut next).await {
            Ok(1) => kind = next[0],
            Ok(_) => {
                return Failure::new(
                    &codes::CLOSED,
                    Phase::Greeting,
                    "the server closed the connection during start-up",
                );
            }
            Err(e) => return read_failure(&e, Phase::Greeting, "reading a PostgreSQL message"),
        }
    }
}

/// Most messages read before an Authentication message or an ErrorResponse: PostgreSQL sends
/// none (a NegotiateProtocolVersion at most), a hostile peer sends notices forever.
const MAX_BEFORE_AUTH: usize = 16;

/// Most ParameterStatus messages kept (PostgreSQL 15 sends 14).
const MAX_PARAMETERS: usize = 32;

/// A peer-chosen string cut to a length a report can carry.
fn clip(s: &str) -> String {
    if s.len() <= 256 {
        return s.to_owned();
    }
    let mut end = 256;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// An ErrorResponse as a failure, by SQLSTATE.
fn server_error(cx: &mut ProbeCx, f: &std::collections::BTreeMap<char, String>) -> Failure {
    let state = clip(&f.get(&'C').cloned().unwrap_or_default());
    let message = clip(&f.get(&'M').cloned().unwrap_or_default());
    cx.fact("protocol", "PostgreSQL 3.0");
    cx.fact("postgres_sqlstate", state.as_str());
    if let Some(sev) = f.get(&'V').or_else(|| f.get(&'S')) {
        cx.fact("postgres_severity", sev.as_str());
    }
    let mut text = format!("the server refused the start-up: {message} (SQLSTATE {state})");
    if let Some(d) = f.get(&'D') {
        text.push_str(&format!("; {}", clip(d)));
    }
    let phase = Phase::Greeting;
    // Both kinds of 28000 share the SQLSTATE; only the server's words tell pg_hba.conf apart.
    let failure = match state.as_str() {
        "28000" if message.contains("pg_hba.conf") => Failure::new(&codes::NO_HBA_ENTRY, phase, text),
        "28000" => Failure::new(&codes::INVALID_AUTHORIZATION, phase, text),
        "28P01" => Failure::new(&core::AUTH_REJECTED, phase, text)
            .hint("check the password, and the role's password encryption (md5 vs scram-sha-256)"),
        "3D000" => Failure::new(&codes::DATABASE_MISSING, phase, text),
        "53300" => Failure::new(&codes::TOO_MANY_CONNECTIONS, phase, text),
        "57P03" => Failure::new(&codes::STARTING, phase, text),
        _ => codes::SERVER_ERROR.failure_with(&state, phase, text),
    };
    // The server's own hint, when it gives one, knows more than ours.
    match f.get(&'H') {
        Some(h) => failure.hint(clip(h)),
        None => failure,
    }
}

fn malformed(message: String) -> Failure {
    Failure::new(&codes::MALFORMED, Phase::Greeting, message)
}

fn mismatch(cx: &mut ProbeCx, head: &[u8], phase: Phase) -> Failure {
    let expected = sniff::Expected { name: "postgres", label: "PostgreSQL", over_tls: None };
    if let Some(f) = sniff::mismatch(cx, head, &expected, phase) {
        return f;
    }
    Failure::new(&codes::MALFORMED, phase, format!("the answer is not PostgreSQL: {}", sniff::describe(head)))
        .hint("the port speaks something other than PostgreSQL: check the port number")
}

/// Closed on SSLRequest without a byte: ask on the side whether it is a TLS port.
async fn no_response(cx: &mut ProbeCx, t: &Target, peer: Option<SocketAddr>) -> Failure {
    if sniff::answers_tls(peer, &t.host, cx.remaining()).await {
        cx.identify("tls");
        return Failure::new(
            &core::PROTO_MISMATCH,
            Phase::Request,
            "the port closed on SSLRequest but completes a TLS ClientHello: TLS in front of the port (a proxy?)",
        )
        .hint("PostgreSQL negotiates TLS itself; check what listens on this port");
    }
    Failure::new(&codes::NO_RESPONSE, Phase::Request, "the peer closed the connection without answering SSLRequest")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_responses_get_their_codes() {
        let mut cx = ProbeCx::new(None);
        for (state, message, hint, code) in [
            ("28000", "no pg_hba.conf entry for host", None, "postgres.no_hba_entry"),
            ("28000", "role \"x\" is not permitted to log in", None, "postgres.invalid_authorization"),
            ("28P01", "password authentication failed", None, "auth.rejected"),
            ("3D000", "database \"x\" does not exist", Some("create it"), "postgres.database_missing"),
            ("XX000", "something else", None, "postgres.error.XX000"),
        ] {
            let mut f = std::collections::BTreeMap::new();
            f.insert('C', state.to_owned());
            f.insert('M', message.to_owned());
            if let Some(h) = hint {
                f.insert('H', h.to_owned());
            }
            let failure = server_error(&mut cx, &f);
            assert_eq!(failure.code, code);
            let want = hint.unwrap_or_else(|| crate::codes::lookup(code).unwrap().hint);
            if code != "auth.rejected" {
                assert_eq!(failure.hint.as_deref(), Some(want), "{code}");
            }
        }
    }

    #[test]
    fn codes_the_tests_know_are_in_the_tables() {
        for c in [
            "postgres.database_missing",
            "postgres.malformed",
            "postgres.no_response",
            "postgres.no_hba_entry",
            "postgres.too_many_connections",
            "postgres.starting",
            "postgres.error.XX000",
            "postgres.error",
            "postgres.plaintext_login_refused",
            "postgres.ssl_downgraded",
            "postgres.ssl_refused",
            "postgres.closed",
            "auth.rejected",
            "auth.no_credentials",
            "proto.mismatch",
            "request.timeout",
        ] {
            assert!(crate::codes::lookup(c).is_some(), "{c}");
        }
        assert!(std::ptr::eq(crate::codes::lookup("postgres.error").unwrap(), &codes::ERROR));
        assert!(std::ptr::eq(crate::codes::lookup("postgres.error.53400").unwrap(), &codes::SERVER_ERROR));
    }
}
