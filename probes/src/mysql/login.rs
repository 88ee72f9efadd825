//! The login connection over TLS: mysql_async logs in and queries, but the probe owns the TLS.
//!
//! mysql_async dials by itself and does its own TLS, so its connection would escape the probe's
//! dialing (the address chosen, the phase timings, the read limit) and the engine's diagnosis.
//! Instead it is given a Unix socket in a private directory, which it takes for a local
//! server: it talks plain MySQL there (and, seeing a socket, treats the link as secure, as it
//! is). The relay at the other end dials the server itself, answers its greeting with an
//! SSLRequest, runs the TLS handshake through the shared engine (the same trust, client
//! certificate and diagnosis as the first connection, nothing else) and only then passes on
//! mysql_async's HandshakeResponse41, with the CLIENT_SSL bit set. The SSLRequest takes one
//! sequence id, so until the server's OK or ERR ends the authentication every packet is
//! renumbered: one up towards the server, one down towards mysql_async. Commands after that
//! restart at zero and pass unchanged.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::UnixListener;

use super::wire::{self, caps};
use super::{client_failure, codes, malformed, read_packet, server_error};
use crate::net::{BoxIo, Conn, dial, read_failure};
use crate::{Failure, Level, Login, Phase, ProbeCx, Target, tls};

/// The largest packet the relay carries (the login and `SELECT VERSION()` are small; the
/// client states a max_allowed_packet of 64 KiB).
const MAX_PACKET: usize = 1 << 20;

/// Logs in with mysql_async over a relay that does the TLS, and runs `SELECT VERSION()`.
pub(super) async fn login_and_query(t: &Target, cx: &mut ProbeCx, login: &Login) -> Result<(), Failure> {
    let password = login.password()?;
    let dir = PrivateDir::new().map_err(|e| local_failure("making a private directory for the relay socket", &e))?;
    let path = dir.0.join("mysql.sock");
    let listener = UnixListener::bind(&path).map_err(|e| local_failure("listening on the relay socket", &e))?;
    let opts = mysql_async::OptsBuilder::default()
        .socket(Some(path.to_string_lossy().into_owned()))
        .user(Some(login.user.clone()))
        .pass(Some(password.expose().to_owned()))
        .db_name(t.options::<super::MysqlOptions>().and_then(|m| m.database.clone()))
        .stmt_cache_size(0)
        // Stated, so the client neither asks the server for them nor sizes buffers by its answer.
        .max_allowed_packet(Some(64 * 1024))
        .wait_timeout(Some(60));
    let session = async move {
        let mut conn = mysql_async::Conn::new(opts).await.map_err(|e| (Phase::Auth, e))?;
        use mysql_async::prelude::Queryable;
        let version: Option<String> = conn.query_first("SELECT VERSION()").await.map_err(|e| (Phase::Query, e))?;
        let _ = tokio::time::timeout(Duration::from_millis(200), conn.disconnect()).await;
        Ok::<_, (Phase, mysql_async::Error)>(version)
    };
    tokio::pin!(session);
    let outcome = {
        let relay = relay(t, cx, listener, &dir);
        tokio::pin!(relay);
        let first = tokio::select! {
            s = &mut session => Some(s),
            r = &mut relay => match r {
                // The relay ended first: a failure of its own is the verdict.
                Err(f) => return Err(f),
                Ok(()) => None,
            },
        };
        // mysql_async fails on the close that follows a packet the relay refused, usually
        // before the relay has finished: the relay's own reason is the better verdict.
        if matches!(first, Some(Err(_))) {
            if let Ok(Err(f)) = tokio::time::timeout(Duration::from_millis(200), &mut relay).await {
                return Err(f);
            }
        }
        first
    };
    let outcome = match outcome {
        Some(s) => s,
        None => session.await,
    };
    match outcome {
        Ok(version) => {
            if let Some(v) = version {
                cx.fact("mysql_version_query", v.chars().take(256).collect::<String>());
            }
            cx.fact("mysql_login", "accepted");
            cx.reach(Level::Healthy);
            Ok(())
        }
        Err((phase, e)) => Err(client_failure(cx, &e, phase)),
    }
}

/// A directory only this user may enter, removed with everything in it when dropped (and
/// earlier, by [`PrivateDir::remove`], once the one client it waits for has connected).
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> std::io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        // A socket path must fit sockaddr_un (108 bytes): a long TMPDIR falls back to /tmp.
        let mut base = std::env::temp_dir();
        if base.as_os_str().len() > 60 {
            base = PathBuf::from("/tmp");
        }
        let mut last = None;
        for _ in 0..8 {
            // Not guessable in advance, so that no other local user can take the name first.
            let mut noise = [0u8; 8];
            let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut noise);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let name = format!("portproof-mysql-{}-{n}-{:016x}", std::process::id(), u64::from_le_bytes(noise));
            let path = base.join(name);
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(PrivateDir(path)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no directory made")))
    }

    /// Removes the directory now: a connected socket needs no name, and a process killed
    /// later (SIGTERM) leaves nothing behind.
    fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        self.remove();
    }
}

fn local_failure(what: &str, e: &std::io::Error) -> Failure {
    Failure::new(&codes::LOCAL_ERROR, Phase::Auth, format!("{what} failed: {e}"))
}

/// Carries mysql_async's packets to the server, doing the TLS it was not asked to do.
async fn relay(t: &Target, cx: &mut ProbeCx, listener: UnixListener, dir: &PrivateDir) -> Result<(), Failure> {
    let tcp = dial(cx, &t.host, t.port).await?;
    let mut server = Conn::new(Box::new(tcp) as BoxIo, cx.limits.max_read);
    cx.phase(Phase::Greeting);
    let (_, greeting) = read_packet(
        &mut server,
        wire::MAX_HANDSHAKE_PACKET,
        Phase::Greeting,
        "waiting for the login connection's greeting",
    )
    .await?;
    if greeting.first() == Some(&0xFF) {
        let e = wire::err_packet(&greeting).map_err(|e| malformed(e.to_string(), Phase::Greeting))?;
        return Err(server_error(cx, &e, Phase::Greeting));
    }
    let g = wire::greeting(&greeting)
        .map_err(|e| malformed(format!("the login connection's greeting does not decode: {e}"), Phase::Greeting))?;
    if !g.offers_tls() {
        return Err(Failure::new(
            &codes::SSL_DOWNGRADED,
            Phase::Tls,
            "the server offered TLS on the first connection and not on the login connection: no password was sent",
        ));
    }
    let (client, _) =
        listener.accept().await.map_err(|e| local_failure("accepting the client on the relay socket", &e))?;
    drop(listener);
    dir.remove();
    let (mut client_read, mut client_write) = tokio::io::split(client);
    write(&mut client_write, 0, &greeting).await?;
    let (_, mut response) =
        read_packet(&mut client_read, wire::MAX_HANDSHAKE_PACKET, Phase::Auth, "reading the client's login").await?;
    if response.len() < 32 {
        return Err(Failure::new(&codes::ERROR, Phase::Auth, "the MySQL client's login packet is too short"));
    }
    let flags = u32::from_le_bytes([response[0], response[1], response[2], response[3]]) | caps::SSL;
    response[..4].copy_from_slice(&flags.to_le_bytes());
    write(&mut server, 1, &response[..32]).await?;
    // Only a certificate that verifies (or `insecure`) carries the login.
    let done =
        tls::handshake_recorded(cx, server, &t.host, &t.tls, t.tls.insecure, &[]).await.map_err(|e| e.failure)?;
    if let Some(f) = &done.unverified {
        cx.warn(
            &crate::tls::codes::UNVERIFIED,
            format!("insecure: true let the login connection's certificate pass: {}", f.message),
        );
    }
    cx.phase(Phase::Auth);
    let (mut server_read, mut server_write) = tokio::io::split(done.stream);
    write(&mut server_write, 2, &response).await?;
    // Until the server's OK or ERR, sequence ids differ by the SSLRequest's one.
    let authenticating = Arc::new(AtomicBool::new(true));
    let (querying, queried) = tokio::sync::oneshot::channel::<()>();
    let up = {
        let authenticating = authenticating.clone();
        async move {
            let mut querying = Some(querying);
            while let Ok((seq, p)) = read_packet(&mut client_read, MAX_PACKET, Phase::Query, "").await {
                let seq = if authenticating.load(Ordering::SeqCst) {
                    seq.wrapping_add(1)
                } else {
                    // The first command after the login: the query phase begins.
                    if let Some(q) = querying.take() {
                        let _ = q.send(());
                    }
                    seq
                };
                if write(&mut server_write, seq, &p).await.is_err() {
                    break;
                }
            }
            let _ = server_write.shutdown().await;
        }
    };
    let down = async move {
        let end = loop {
            let (seq, p) =
                match read_packet(&mut server_read, MAX_PACKET, Phase::Auth, "reading the server's answer").await {
                    Ok(x) => x,
                    Err(f) => break Some(f),
                };
            let seq = if authenticating.load(Ordering::SeqCst) {
                if matches!(p.first(), Some(0x00 | 0xFF)) {
                    authenticating.store(false, Ordering::SeqCst);
                }
                seq.wrapping_sub(1)
            } else {
                seq
            };
            if write(&mut client_write, seq, &p).await.is_err() {
                break None;
            }
        };
        let _ = client_write.shutdown().await;
        end
    };
    let pumps = async { tokio::join!(up, down) };
    tokio::pin!(pumps);
    let ((), from_server) = tokio::select! {
        ends = &mut pumps => ends,
        Ok(()) = queried => {
            cx.phase(Phase::Query);
            pumps.await
        }
    };
    // A packet the relay refused is the verdict: mysql_async would only see the connection
    // close. Any other end (the session's close, the server's FIN) is the session's to judge.
    match from_server {
        Some(f) if f.is(&codes::MALFORMED) => Err(f),
        _ => Ok(()),
    }
}

async fn write<W: AsyncWrite + Unpin>(w: &mut W, seq: u8, payload: &[u8]) -> Result<(), Failure> {
    w.write_all(&wire::packet(seq, payload)).await.map_err(|e| read_failure(&e, Phase::Auth, "relaying the login"))?;
    w.flush().await.map_err(|e| read_failure(&e, Phase::Auth, "relaying the login"))
}
