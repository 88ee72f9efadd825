//! The login connection: tiberius logs in and queries, but the probe owns the TLS.
//!
//! tiberius would negotiate TLS itself, trusting the system store plus `tls.ca` (never the CA
//! alone), reading CA files by their extension, and asserting on server bytes in debug builds.
//! So tiberius is told the server has no encryption, and talks plain TDS into an in-memory pipe;
//! the relay here carries that TDS to the server and does what tiberius was told not to: it asks
//! for the encryption the target wants, runs the TLS handshake through the shared engine (the
//! same trust, client certificate and diagnosis as the first connection, nothing else), and
//! sends tiberius's LOGIN7 inside that TLS. tiberius's PRELOGIN goes out unchanged but for its
//! ENCRYPTION byte; the server's answer comes back with ENCRYPTION "not supported" and an empty
//! thread id. With encryption "off" the LOGIN7 alone travels in TLS and the session continues
//! in clear, as SQL Server does it.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio_util::compat::TokioAsyncWriteCompatExt;

use super::codes;
use super::prelogin_tls::PreloginTls;
use super::wire::{self, Encryption};
use crate::mssql::MssqlEncrypt;
use crate::net::{BoxIo, Conn, dial, read_failure};
use crate::{Failure, Level, Login, Phase, ProbeCx, Secret, Target, tls};

/// The largest TDS message the relay reads whole (tiberius's PRELOGIN and LOGIN7 are small).
const MAX_MESSAGE: usize = 64 * 1024;

/// Logs in with tiberius over a relay that does the TLS, and runs `SELECT @@VERSION`.
/// `encryption` is what the first connection's PRELOGIN answer said (`None`: TDS 8.0 strict).
pub(super) async fn login_and_query(
    t: &Target,
    cx: &mut ProbeCx,
    login: &Login,
    password: &Secret,
    encryption: Option<Encryption>,
) -> Result<(), Failure> {
    let opts = t.options_or_default::<super::MssqlOptions>();
    let (ask, strict) = match (encryption, opts.encrypt.unwrap_or(MssqlEncrypt::Optional)) {
        (None, _) | (_, MssqlEncrypt::Strict) => (Encryption::Required, true),
        (_, MssqlEncrypt::Disable) => (Encryption::NotSupported, false),
        (_, MssqlEncrypt::Mandatory) => (Encryption::On, false),
        _ => (Encryption::Off, false),
    };
    let mut config = tiberius::Config::new();
    config.host(&t.host);
    config.port(t.port);
    config.application_name("portproof");
    config.authentication(tiberius::AuthMethod::sql_server(&login.user, password.expose()));
    // The relay owns the encryption; tiberius sees a server without any.
    config.encryption(tiberius::EncryptionLevel::NotSupported);
    if let Some(db) = &opts.database {
        config.database(db);
    }
    if let Some(i) = &opts.instance {
        config.instance_name(i);
    }
    tls::install_default_provider();
    let (client_end, relay_end) = tokio::io::duplex(MAX_MESSAGE);
    let session = AssertUnwindSafe(async move {
        let mut client =
            tiberius::Client::connect(config, client_end.compat_write()).await.map_err(|e| (Phase::Auth, e))?;
        let row = client
            .simple_query("SELECT @@VERSION")
            .await
            .map_err(|e| (Phase::Query, e))?
            .into_row()
            .await
            .map_err(|e| (Phase::Query, e))?;
        let version = row.as_ref().and_then(|r| r.try_get::<&str, _>(0).ok().flatten()).map(str::to_owned);
        let _ = tokio::time::timeout(Duration::from_millis(200), client.close()).await;
        Ok::<_, (Phase, tiberius::error::Error)>(version)
    })
    .catch_unwind();
    tokio::pin!(session);
    let outcome = {
        let relay = relay(t, cx, relay_end, ask, strict);
        tokio::pin!(relay);
        tokio::select! {
            s = &mut session => Some(s),
            r = &mut relay => match r {
                // The relay ended first: a failure of its own is the verdict.
                Err(f) => return Err(f),
                Ok(()) => None,
            },
        }
    };
    // The relay finished cleanly (both sides closed); tiberius has its answer or its error.
    let outcome = match outcome {
        Some(s) => s,
        None => session.await,
    };
    match outcome {
        Ok(Ok(version)) => {
            if let Some(v) = version {
                // "Microsoft SQL Server 2022 (RTM-CU12) (KB...) - 16.0.4135.4 (X64) ...": first line.
                let first: String = v.lines().next().unwrap_or("").chars().take(256).collect();
                cx.fact("mssql_version_query", first);
            }
            cx.fact("mssql_login", "accepted");
            cx.reach(Level::Healthy);
            Ok(())
        }
        Ok(Err((phase, e))) => Err(failure(cx, e, phase)),
        Err(_) => Err(Failure::new(
            &codes::MALFORMED,
            Phase::Auth,
            "the TDS client crashed on what the server sent during the login",
        )
        .hint("the server's login answer is not TDS as SQL Server sends it: it is not a working SQL Server")),
    }
}

/// Carries tiberius's TDS to the server, doing the encryption it was told not to.
async fn relay(
    t: &Target,
    cx: &mut ProbeCx,
    mut tib: DuplexStream,
    ask: Encryption,
    strict: bool,
) -> Result<(), Failure> {
    let tcp = dial(cx, &t.host, t.port).await?;
    // Only a certificate that verifies (or `insecure`) carries a password.
    let go_on = t.tls.insecure;
    let mut server: BoxIo = if strict {
        let conn = Conn::new(tcp, cx.limits.max_read);
        let done = tls::handshake_recorded(cx, conn, &t.host, &t.tls, go_on, &[wire::TDS8_ALPN])
            .await
            .map_err(|e| e.failure)?;
        Box::new(done.stream)
    } else {
        Box::new(Conn::new(tcp, cx.limits.max_read))
    };
    cx.phase(Phase::Auth);
    let (kind, mut prelogin) = read_message(&mut tib).await.map_err(|e| relay_failure(&e))?;
    if kind != wire::PRELOGIN || !wire::set_encryption(&mut prelogin, ask) {
        return Err(Failure::new(&codes::ERROR, Phase::Auth, "the TDS client did not start with a PRELOGIN"));
    }
    server
        .write_all(&wire::packet(wire::PRELOGIN, &prelogin))
        .await
        .map_err(|e| read_failure(&e, Phase::Auth, "sending PRELOGIN"))?;
    let mut answer = read_answer(&mut server).await?;
    let p = wire::prelogin(&answer).map_err(|e| {
        Failure::new(
            &codes::MALFORMED,
            Phase::Auth,
            format!("the login connection's PRELOGIN answer does not decode: {e}"),
        )
    })?;
    let chosen = p.encryption().unwrap_or(Encryption::NotSupported);
    let tls7 = !strict && ask != Encryption::NotSupported;
    if tls7 && !chosen.uses_tls() {
        return Err(Failure::new(
            &codes::ENCRYPTION_DOWNGRADED,
            Phase::Tls,
            "the server offered encryption on the first connection and refuses it on the login connection: no password was sent",
        ));
    }
    if ask == Encryption::NotSupported && chosen == Encryption::Required {
        return Err(Failure::new(
            &codes::ENCRYPTION_REQUIRED,
            Phase::Tls,
            "the server forces encryption (Force Encryption), and mssql.encrypt is disable",
        )
        .stated());
    }
    wire::set_encryption(&mut answer, Encryption::NotSupported);
    wire::clear_thread_id(&mut answer);
    if !tls7 {
        send(&mut tib, &wire::packet(wire::TABULAR, &answer)).await?;
        return pump(tib, server).await;
    }
    // TDS 7.x: the handshake inside PRELOGIN packets, before tiberius may send its LOGIN7.
    let conn = Conn::new(PreloginTls::new(server), cx.limits.max_read);
    let done = tls::handshake_recorded(cx, conn, &t.host, &t.tls, go_on, &[]).await.map_err(|e| e.failure)?;
    cx.phase(Phase::Auth);
    let mut stream = done.stream;
    stream.get_mut().0.get_mut().set_bare();
    send(&mut tib, &wire::packet(wire::TABULAR, &answer)).await?;
    if chosen != Encryption::Off {
        return pump(tib, stream).await;
    }
    // Encryption "off": the LOGIN7 in TLS, the rest in clear.
    let (kind, login7) = read_message(&mut tib).await.map_err(|e| relay_failure(&e))?;
    for chunk in login7.chunks(4096 - wire::HEADER_LEN).enumerate() {
        let last = (chunk.0 + 1) * (4096 - wire::HEADER_LEN) >= login7.len();
        let mut p = wire::packet(kind, chunk.1);
        if !last {
            p[1] = 0;
        }
        stream.write_all(&p).await.map_err(|e| read_failure(&e, Phase::Auth, "sending LOGIN7 in TLS"))?;
    }
    stream.flush().await.map_err(|e| read_failure(&e, Phase::Auth, "sending LOGIN7 in TLS"))?;
    let (conn, _) = stream.into_inner();
    pump(tib, conn).await
}

/// Copies both ways until either side is done.
async fn pump<S: AsyncRead + AsyncWrite + Unpin>(mut tib: DuplexStream, mut server: S) -> Result<(), Failure> {
    match tokio::io::copy_bidirectional(&mut tib, &mut server).await {
        Ok(_) => Ok(()),
        Err(e) => Err(read_failure(&e, Phase::Auth, "relaying the login")),
    }
}

async fn send(tib: &mut DuplexStream, bytes: &[u8]) -> Result<(), Failure> {
    tib.write_all(bytes).await.map_err(|e| relay_failure(&e))
}

fn relay_failure(e: &std::io::Error) -> Failure {
    Failure::new(&codes::ERROR, Phase::Auth, format!("the TDS client stopped: {e}"))
}

/// Reads one TDS message (packets up to the end-of-message bit): its type and joined bodies.
async fn read_message<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<(u8, Vec<u8>)> {
    let mut body = Vec::new();
    loop {
        let mut h = [0u8; wire::HEADER_LEN];
        s.read_exact(&mut h).await?;
        let header = wire::header(&h).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.0))?;
        if body.len() + header.body_len() > MAX_MESSAGE {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "a TDS message over 64 KiB"));
        }
        let start = body.len();
        body.resize(start + header.body_len(), 0);
        s.read_exact(&mut body[start..]).await?;
        if header.status & wire::END_OF_MESSAGE != 0 {
            return Ok((header.kind, body));
        }
    }
}

/// The server's PRELOGIN answer on the login connection.
async fn read_answer(server: &mut BoxIo) -> Result<Vec<u8>, Failure> {
    let (kind, body) = read_message(server).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            Failure::new(
                &codes::MALFORMED,
                Phase::Auth,
                format!("the login connection's PRELOGIN answer is broken: {e}"),
            )
        } else {
            read_failure(&e, Phase::Auth, "waiting for the login connection's PRELOGIN answer")
        }
    })?;
    if kind != wire::TABULAR {
        return Err(Failure::new(
            &codes::MALFORMED,
            Phase::Auth,
            format!("the login connection's PRELOGIN answer has packet type 0x{kind:02x}, not 0x04"),
        ));
    }
    Ok(body)
}

/// A tiberius error as a failure: server errors by number, with the usual causes.
fn failure(cx: &mut ProbeCx, e: tiberius::error::Error, phase: Phase) -> Failure {
    use tiberius::error::Error;
    match e {
        Error::Server(t) => {
            cx.fact("mssql_error", serde_json::json!({"number": t.code(), "state": t.state(), "class": t.class()}));
            let message: String = t.message().chars().take(512).collect();
            server_error(
                t.code(),
                phase,
                format!("the server refused: error {} (state {}): {message}", t.code(), t.state()),
            )
        }
        Error::Routing { host, port } => {
            cx.fact("mssql_routing", format!("{host}:{port}"));
            Failure::new(&codes::ROUTED, phase, format!("the server routes the session to {host}:{port}"))
        }
        Error::Io { kind, message } => {
            Failure::new(&codes::IO, phase, format!("the connection failed during the login: {message} ({kind:?})"))
        }
        other => Failure::new(&codes::ERROR, phase, format!("the login failed: {other}")),
    }
}

/// A server error as a failure: the code its number has (with the table's hint), or
/// `mssql.error.<number>`.
fn server_error(number: u32, phase: Phase, message: String) -> Failure {
    let code = match number {
        18456 => {
            return Failure::new(&crate::codes::core::AUTH_REJECTED, phase, message).hint(
                "login failed; the client always sees state 1, the error log has the real state: 2 or 5 no such login, 6 a Windows login used with SQL authentication, 7 login disabled, 8 wrong password, 11 or 12 no CONNECT SQL permission, 18 password must change, 38 or 40 default or named database cannot be opened, 58 the server accepts Windows authentication only",
            );
        }
        18452 => &codes::WINDOWS_AUTH_ONLY,
        18470 => &codes::LOGIN_DISABLED,
        18486 => &codes::LOGIN_LOCKED,
        18487 | 18488 => &codes::PASSWORD_EXPIRED,
        4060 => &codes::DATABASE_UNAVAILABLE,
        4064 => &codes::DEFAULT_DATABASE_UNAVAILABLE,
        17809 | 17810 => &codes::TOO_MANY_CONNECTIONS,
        40615 => &codes::FIREWALL,
        40532 => &codes::SERVER_UNKNOWN,
        _ => return codes::SERVER_ERROR.failure_with(number, phase, message),
    };
    Failure::new(code, phase, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_by_number() {
        for (n, code) in [
            (18456, "auth.rejected"),
            (18452, "mssql.windows_auth_only"),
            (18470, "mssql.login_disabled"),
            (18488, "mssql.password_expired"),
            (4060, "mssql.database_unavailable"),
            (17810, "mssql.too_many_connections"),
            (50000, "mssql.error.50000"),
        ] {
            let f = server_error(n, Phase::Auth, "x".into());
            assert_eq!(f.code, code);
            assert!(f.hint.is_some(), "{code}");
        }
        assert!(server_error(18456, Phase::Auth, "x".into()).hint.unwrap().contains("state 1"));
    }
}
