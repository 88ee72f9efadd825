//! `postgres`: PostgreSQL (5432), identified from its own start-up handshake without a login.
//!
//! SSLRequest first (the server answers `S` or `N`; on `S` the TLS engine runs its full
//! diagnosis of the server certificate), then a StartupMessage: the authentication the server
//! asks for (trust, password, md5, SCRAM-SHA-256) is level `speaks`, and an ErrorResponse is
//! decoded with its SQLSTATE and a hint for the usual refusals (28000 no pg_hba.conf entry,
//! 3D000 no such database, 28P01 password failed, 53300 too many connections). No password is
//! ever sent: a server that lets the probe in without one (trust) shows its `server_version`.
//!
//! Login with credentials (tokio-postgres, `SELECT version()`, level `healthy`) is the part of
//! this probe still to come; see the issue notes.

pub mod wire;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::{BoxIo, Conn, dial, is_reset, read_available, read_failure};
use crate::{Failure, Level, Over, Phase, Probe, ProbeCx, ProbeFuture, SslMode, Target, sniff, tls};

/// The `postgres` probe.
#[derive(Debug, Clone, Copy)]
pub struct Postgres;

impl Probe for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }
    fn summary(&self) -> &'static str {
        "PostgreSQL: SSLRequest and TLS diagnosis, the authentication asked for, errors by SQLSTATE"
    }
    fn default_ports(&self) -> &'static [u16] {
        &[5432]
    }
    fn logs_in(&self) -> bool {
        // Only the user name is used so far: it selects the pg_hba.conf line and the method.
        true
    }
    fn validate(&self, t: &Target) -> Result<(), Failure> {
        if t.over == Over::Tls {
            return Err(Failure::config(
                "expect: postgres negotiates TLS itself (SSLRequest); drop over: tls and set postgres.sslmode",
            ));
        }
        tls::validate(&t.tls)
    }
    fn probe<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> ProbeFuture<'a> {
        Box::pin(async move {
            let r = run(t, cx).await;
            cx.finish(r)
        })
    }
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let opts = t.postgres.clone().unwrap_or_default();
    let user = t.login.as_ref().map_or("postgres", |l| l.user.as_str()).to_owned();
    let database = opts.database.clone().unwrap_or_else(|| user.clone());
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
        match (n, answer[0]) {
            (0, _) => return Err(no_response(cx, t, peer).await),
            (_, b'S') => {
                cx.fact("postgres_ssl", "supported");
                let done =
                    tls::handshake_recorded(cx, conn, &t.host, &t.tls, true, &[]).await.map_err(|e| e.failure)?;
                if let Some(f) = &done.unverified {
                    cx.warn("tls.unverified", format!("the server certificate does not verify: {}", f.message));
                }
                Box::new(done.stream)
            }
            (_, b'N') => {
                cx.fact("postgres_ssl", "not offered");
                if mode == SslMode::Require {
                    cx.reach(Level::Speaks);
                    return Err(Failure::new(
                        "postgres.ssl_refused",
                        Phase::Tls,
                        "the server answered SSLRequest with N: it does not offer TLS, and postgres.sslmode is require",
                    )
                    .hint("enable ssl = on (with a certificate) in postgresql.conf, or relax sslmode"));
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
                return Err(mismatch(cx, &rest));
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
                "postgres.no_response",
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
    loop {
        if !matches!(kind, b'R' | b'E' | b'S' | b'K' | b'Z' | b'N' | b'v') {
            let mut rest = read_available(conn, 511, Duration::from_millis(100)).await;
            rest.insert(0, kind);
            return mismatch(cx, &rest);
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
        cx.reach(Level::Speaks);
        match h.kind {
            b'R' => match wire::auth(&body) {
                Ok(wire::Auth::Ok) => cx.fact("postgres_auth", "trust"),
                Ok(a) => {
                    cx.fact("postgres_auth", a.method());
                    if let wire::Auth::Sasl(m) = &a {
                        cx.fact("postgres_sasl_mechanisms", m.clone());
                    }
                    return Failure::new(
                        "auth.no_credentials",
                        Phase::Auth,
                        format!("the server asks for {} to log in; the probe sends no password", a.method()),
                    )
                    .hint("the server is PostgreSQL and reachable; a login check needs credentials");
                }
                Err(e) => return malformed(e.to_string()),
            },
            b'S' => {
                if let Some((k, v)) = wire::parameter(&body) {
                    if k == "server_version" {
                        cx.fact("product", "PostgreSQL");
                        cx.fact("product_version", v.clone());
                    }
                    cx.fact(&format!("postgres_{k}"), v);
                }
            }
            b'E' => return server_error(cx, &wire::fields(&body)),
            b'Z' => {
                cx.fact("protocol", "PostgreSQL 3.0");
                return Failure::new(
                    "auth.no_credentials",
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
        cx.fact("protocol", "PostgreSQL 3.0");
        let mut next = [0u8; 1];
        match conn.read(&mut next).await {
            Ok(1) => kind = next[0],
            Ok(_) => {
                return Failure::new(
                    "postgres.closed",
                    Phase::Greeting,
                    "the server closed the connection during start-up",
                );
            }
            Err(e) => return read_failure(&e, Phase::Greeting, "reading a PostgreSQL message"),
        }
    }
}

/// An ErrorResponse as a failure, by SQLSTATE.
fn server_error(cx: &mut ProbeCx, f: &std::collections::BTreeMap<char, String>) -> Failure {
    let state = f.get(&'C').cloned().unwrap_or_default();
    let message = f.get(&'M').cloned().unwrap_or_default();
    cx.fact("protocol", "PostgreSQL 3.0");
    cx.fact("postgres_sqlstate", state.as_str());
    if let Some(sev) = f.get(&'V').or_else(|| f.get(&'S')) {
        cx.fact("postgres_severity", sev.as_str());
    }
    let (code, hint) = match state.as_str() {
        "28000" if message.contains("pg_hba.conf") => (
            "postgres.no_hba_entry",
            "pg_hba.conf has no line (or a reject line) for this host, user, database and SSL mode: add one and reload",
        ),
        "28000" => ("postgres.invalid_authorization", "the role may not exist or may not log in"),
        "28P01" => ("auth.rejected", "check the password, and the role's password encryption (md5 vs scram-sha-256)"),
        "3D000" => ("postgres.database_missing", "the database does not exist: create it or fix postgres.database"),
        "53300" => (
            "postgres.too_many_connections",
            "every connection slot is taken: raise max_connections or use a pooler (PgBouncer)",
        ),
        "57P03" => ("postgres.starting", "the server is starting up, shutting down or in recovery: retry later"),
        _ => ("", "see the server's message and log"),
    };
    let code = if code.is_empty() { format!("postgres.error.{state}") } else { code.to_owned() };
    let mut text = format!("the server refused the start-up: {message} (SQLSTATE {state})");
    if let Some(d) = f.get(&'D') {
        text.push_str(&format!("; {d}"));
    }
    Failure::new(code, Phase::Greeting, text).hint(f.get(&'H').cloned().unwrap_or_else(|| hint.to_owned()))
}

fn malformed(message: String) -> Failure {
    Failure::new("postgres.malformed", Phase::Greeting, message)
        .hint("the peer frames like PostgreSQL but its messages are broken: it is not a working PostgreSQL")
}

fn mismatch(cx: &mut ProbeCx, head: &[u8]) -> Failure {
    if let Some(heard) = sniff::identify(head) {
        cx.identify(heard.protocol);
        return Failure::new(
            "proto.mismatch",
            Phase::Request,
            format!("expected PostgreSQL, the peer answered in {}: {}", heard.protocol, heard.detail),
        )
        .hint(format!("this port speaks {}, not PostgreSQL: check the port number", heard.protocol));
    }
    Failure::new(
        "postgres.malformed",
        Phase::Request,
        format!("the answer is not PostgreSQL: {}", sniff::describe(head)),
    )
    .hint("the port speaks something other than PostgreSQL: check the port number")
}

/// Closed on SSLRequest without a byte: ask on the side whether it is a TLS port.
async fn no_response(cx: &mut ProbeCx, t: &Target, peer: Option<SocketAddr>) -> Failure {
    if let Some(addr) = peer {
        let budget = sniff::poke_budget(cx.remaining());
        if !budget.is_zero()
            && let Some(heard) = sniff::poke(addr, &sniff::client_hello(&t.host), budget).await
            && heard.protocol == "tls"
        {
            cx.identify("tls");
            return Failure::new(
                "proto.mismatch",
                Phase::Request,
                "the port closed on SSLRequest but completes a TLS ClientHello: TLS in front of the port (a proxy?)",
            )
            .hint("PostgreSQL negotiates TLS itself; check what listens on this port");
        }
    }
    Failure::new("postgres.no_response", Phase::Request, "the peer closed the connection without answering SSLRequest")
        .hint("the port accepts connections but does not speak PostgreSQL: check the port number")
}
