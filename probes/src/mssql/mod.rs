//! `mssql`: Microsoft SQL Server (1433), identified from its PRELOGIN answer without a login.
//!
//! PRELOGIN ([MS-TDS] 2.2.6.5) tells the server's version, its encryption setting (off: TLS for
//! the login only; required: Force Encryption; not supported: no certificate), whether it is the
//! instance the target names, MARS, and whether it wants federated authentication: level
//! `speaks`. Unless the server has no TLS, the TLS handshake TDS 7.x carries inside PRELOGIN
//! packets follows, with the TLS engine's diagnosis of the certificate. A server that hangs up
//! on a clear-text PRELOGIN but completes a TLS handshake is tried as TDS 8.0 (strict: TLS first,
//! ALPN `tds/8.0`, PRELOGIN inside). The SQL Server Browser (UDP 1434) lists the host's
//! instances and their ports when `mssql.browser` asks.
//!
//! With `login:` tiberius logs in on a second connection and runs `SELECT @@VERSION`:
//! `healthy`. The probe, not tiberius, does that connection's TLS (see `login.rs`), so the
//! password goes only inside TLS that the shared engine verified with the target's own trust
//! (or with `insecure: true`), or without TLS when `mssql.encrypt: disable` says so. Login errors are
//! decoded by number; 18456 comes with the causes its (server-side) states stand for.

pub mod codes;
mod login;
pub mod options;
mod prelogin_tls;
pub mod wire;
pub use options::*;

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::codes::core::{AUTH_NO_CREDENTIALS, PROTO_MISMATCH};
use crate::net::{self, Conn, Datagrams, ReplyFrom, dial, read_available, read_failure, read_head};
use crate::{Failure, Level, Phase, Probe, ProbeCx, Target, sniff, tls};
use prelogin_tls::PreloginTls;
use wire::Encryption;

/// The `mssql` probe.
#[derive(Debug, Clone, Copy)]
pub struct Mssql;

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "mssql",
    summary: "MS SQL Server: PRELOGIN version and encryption, TLS inside TDS or TDS 8.0 strict, SQL Browser, tiberius login",
    proves: "PRELOGIN (server version and release name, encryption: off / on / not supported / required, whether the port is the named instance, MARS, federated authentication) is `speaks`; the TLS handshake TDS 7.x carries inside PRELOGIN packets, through the engine (an unverified certificate is a warning); a port that hangs up on clear-text PRELOGIN but speaks TLS is tried as TDS 8.0 strict (ALPN `tds/8.0`, PRELOGIN inside TLS); with `mssql.browser` the SQL Server Browser (UDP 1434) lists instances and ports; with `login:` tiberius logs in and runs `SELECT @@VERSION` (`healthy`), over a relay in which the probe does the TLS through the engine, with the target's trust alone (tiberius would add the system store to `tls.ca`): a password goes only inside TLS whose certificate verified (or `insecure`), without TLS only under `encrypt: disable`; a named instance that is not this port fails at `open`",
    default_ports: &[1433],
    options: Some(&SECTION),
    codes: codes::CODES,
    logs_in: true,
    tls_in_band: true,
    ..crate::About::DEFAULT
};

impl Probe for Mssql {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    fn default_require(&self, t: &Target) -> Level {
        t.login_require()
    }
    fn validate(&self, t: &Target) -> Result<(), Failure> {
        t.validate_in_band_tls("expect: mssql negotiates TLS itself (inside PRELOGIN, or first with mssql.encrypt: strict); drop over: tls")
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(run(t, cx))
    }
}

/// What the first connection established.
struct Identity {
    /// The encryption the server chose; `None` for TDS 8.0 strict.
    encryption: Option<Encryption>,
    /// Why the certificate did not verify, when it did not.
    unverified: Option<Failure>,
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let opts = t.options_or_default::<MssqlOptions>();
    // The Browser is asked beside the TCP check, not before it: a firewalled UDP 1434 (common)
    // must not eat the deadline of the check that matters.
    let ask = opts.browser || opts.browser_port.is_some();
    let budget = sniff::poke_budget(cx.remaining()).max(Duration::from_millis(100));
    let port = opts.browser_port.map_or(BROWSER_PORT, std::num::NonZeroU16::get);
    let browser = async { if ask { Some(ask_browser(&t.host, port, budget).await) } else { None } };
    let (found, id) = tokio::join!(browser, identify(t, cx));
    if let Some(found) = found {
        record_browser(cx, found, opts.instance.as_deref(), t.port, port, budget);
    }
    let id = id?;
    let login = t.login.as_ref().filter(|l| l.has_password());
    let Some(login) = login else {
        return Err(Failure::new(
            &AUTH_NO_CREDENTIALS,
            Phase::Auth,
            "the server answered PRELOGIN as SQL Server; without credentials the probe sends no LOGIN7",
        )
        .hint("the server is SQL Server and reachable; a login check needs credentials (login: with a SQL login)"));
    };
    let password = login.password()?;
    let encrypt = opts.encrypt.unwrap_or(MssqlEncrypt::Optional);
    // `insecure` relaxes the certificate check only: clear text takes encrypt: disable.
    let plain_allowed = encrypt == MssqlEncrypt::Disable || login.allows_cleartext();
    if id.encryption == Some(Encryption::NotSupported) && !plain_allowed {
        return Err(Failure::new(
            &codes::PLAINTEXT_LOGIN_REFUSED,
            Phase::Auth,
            "the server does not support encryption, and the probe sends no password outside TLS",
        ));
    }
    // The TLS engine's verdict on the certificate, kept with its code, now the reason no
    // password is sent.
    if let Some(mut f) = id.unverified.filter(|_| !t.tls.insecure) {
        f.phase = Phase::Tls;
        f.message = format!("{}; the probe sends no password over a certificate that does not verify", f.message);
        f.hint = f.hint.or_else(|| {
            Some("name the CA that signed the server certificate with tls.ca, or accept it with insecure: true".into())
        });
        return Err(f);
    }
    login::login_and_query(t, cx, login, &password, id.encryption).await
}

/// The first connection: PRELOGIN, and the TLS handshake that follows it.
async fn identify(t: &Target, cx: &mut ProbeCx) -> Result<Identity, Failure> {
    let opts = t.options_or_default::<MssqlOptions>();
    let encrypt = opts.encrypt.unwrap_or(MssqlEncrypt::Optional);
    let instance = opts.instance.clone().unwrap_or_default();
    if encrypt == MssqlEncrypt::Strict {
        return strict(t, cx, &instance, false).await;
    }
    let asked = match encrypt {
        MssqlEncrypt::Disable => Encryption::NotSupported,
        MssqlEncrypt::Mandatory => Encryption::On,
        _ => Encryption::Off,
    };
    let tcp = dial(cx, &t.host, t.port).await?;
    let peer = tcp.peer();
    let mut conn = Conn::new(tcp, cx.limits.max_read);
    let tape = conn.tape();
    cx.phase(Phase::Greeting);
    conn.write_all(&wire::prelogin_request(asked, &instance))
        .await
        .map_err(|e| read_failure(&e, Phase::Greeting, "sending PRELOGIN"))?;
    let p = match read_prelogin(cx, &mut conn, &tape).await {
        Ok(p) => p,
        Err(Answer::Closed) if sniff::answers_tls(peer, &t.host, cx.remaining()).await => {
            // Force Strict Encryption: the server waits for a ClientHello, not a PRELOGIN.
            cx.fact("mssql_plain_prelogin", "refused (the port completes a TLS handshake)");
            return strict(t, cx, &instance, true).await;
        }
        Err(Answer::Failed(f)) if cx.identified() == Some("tls") => {
            // A TLS alert to a clear-text PRELOGIN: strict, or another TLS service.
            cx.fact("mssql_plain_prelogin", "answered with TLS");
            return strict(t, cx, &instance, true).await.map_err(|e| if e.is(&PROTO_MISMATCH) { f } else { e });
        }
        Err(Answer::Closed) => {
            return Err(Failure::new(
                &codes::NO_RESPONSE,
                Phase::Greeting,
                "the peer closed the connection without answering PRELOGIN",
            ));
        }
        Err(Answer::Failed(f)) => return Err(f),
    };
    let encryption = p.encryption().unwrap_or(Encryption::NotSupported);
    record(cx, &p, "TDS 7.x", &instance)?;
    if encrypt == MssqlEncrypt::Mandatory && encryption == Encryption::NotSupported {
        return Err(Failure::new(
            &codes::ENCRYPTION_REFUSED,
            Phase::Tls,
            "the server does not support encryption, and mssql.encrypt is mandatory",
        )
        .stated());
    }
    if encrypt == MssqlEncrypt::Disable && encryption == Encryption::Required {
        return Err(Failure::new(
            &codes::ENCRYPTION_REQUIRED,
            Phase::Tls,
            "the server forces encryption (Force Encryption), and mssql.encrypt is disable",
        )
        .stated());
    }
    if !encryption.uses_tls() || encrypt == MssqlEncrypt::Disable {
        let _ = conn.shutdown().await;
        return Ok(Identity { encryption: Some(encryption), unverified: None });
    }
    // The handshake inside PRELOGIN packets, on a fresh tape: a failure is diagnosed from
    // what came after the PRELOGIN answer.
    let wrapped = Conn::new(PreloginTls::new(conn), cx.limits.max_read);
    let done = tls::handshake_recorded(cx, wrapped, &t.host, &t.tls, true, &[]).await.map_err(|e| e.failure)?;
    if let Some(f) = &done.unverified {
        cx.warn(&crate::tls::codes::UNVERIFIED, format!("the server certificate does not verify: {}", f.message));
    }
    let mut stream = done.stream;
    // No LOGIN7 follows: close the TDS session (a FIN, not a reset).
    let (tcp, _) = stream.get_mut();
    let _ = tcp.shutdown().await;
    Ok(Identity { encryption: Some(encryption), unverified: done.unverified })
}

/// TDS 8.0: TLS with ALPN `tds/8.0` first, then PRELOGIN inside it. `guessed` when the
/// target did not ask for strict and the port only looked like it: then an answer must come
/// soon, as SQL Server's does, or the port is some other TLS service.
async fn strict(t: &Target, cx: &mut ProbeCx, instance: &str, guessed: bool) -> Result<Identity, Failure> {
    let tcp = dial(cx, &t.host, t.port).await?;
    let conn = Conn::new(tcp, cx.limits.max_read);
    let done =
        tls::handshake_recorded(cx, conn, &t.host, &t.tls, true, &[wire::TDS8_ALPN]).await.map_err(|e| e.failure)?;
    if let Some(f) = &done.unverified {
        cx.warn(&crate::tls::codes::UNVERIFIED, format!("the server certificate does not verify: {}", f.message));
    }
    let mut conn = Conn::new(done.stream, cx.limits.max_read);
    let tape = conn.tape();
    cx.phase(Phase::Greeting);
    conn.write_all(&wire::prelogin_request(Encryption::Required, instance))
        .await
        .map_err(|e| read_failure(&e, Phase::Greeting, "sending PRELOGIN inside TLS"))?;
    // Only a window the deadline did not shorten may call silence "not SQL Server"; otherwise
    // the deadline ends the wait, as a timeout.
    let left = cx.remaining().unwrap_or(GUESS_WAIT).saturating_sub(Duration::from_millis(50));
    let answer = if guessed && left > GUESS_WAIT {
        let budget = GUESS_WAIT;
        match tokio::time::timeout(budget, read_prelogin(cx, &mut conn, &tape)).await {
            Ok(a) => a,
            Err(_) => {
                cx.identify("tls");
                return Err(Failure::new(
                    &PROTO_MISMATCH,
                    Phase::Greeting,
                    format!(
                        "the port speaks TLS but answers no PRELOGIN inside it within {} ms: not SQL Server",
                        budget.as_millis()
                    ),
                )
                .hint("a TLS service other than SQL Server listens here: check the port number"));
            }
        }
    } else {
        read_prelogin(cx, &mut conn, &tape).await
    };
    let p = match answer {
        Ok(p) => p,
        Err(Answer::Closed) => {
            cx.identify("tls");
            return Err(Failure::new(
                &codes::NO_RESPONSE,
                Phase::Greeting,
                "the port completes a TLS handshake but closes on a PRELOGIN inside it: not TDS 8.0",
            )
            .hint(
                "a TLS service other than SQL Server listens here, or it refused the tds/8.0 session: check the port",
            ));
        }
        Err(Answer::Failed(f)) => return Err(f),
    };
    record(cx, &p, "TDS 8.0", instance)?;
    cx.fact("mssql_encryption", "strict (TDS 8.0)");
    let _ = conn.shutdown().await;
    Ok(Identity { encryption: None, unverified: done.unverified })
}

/// How long a port that only looks like TDS 8.0 gets to answer PRELOGIN (SQL Server answers at once).
const GUESS_WAIT: Duration = Duration::from_secs(3);

/// Why no PRELOGIN answer came.
enum Answer {
    /// The peer hung up without a byte.
    Closed,
    /// Anything else, already a verdict.
    Failed(Failure),
}

/// Reads the PRELOGIN answer: one tabular-result packet.
async fn read_prelogin<S: AsyncRead + AsyncWrite + Unpin>(
    cx: &mut ProbeCx,
    conn: &mut Conn<S>,
    tape: &crate::net::Tape,
) -> Result<wire::Prelogin, Answer> {
    let mut h = [0u8; wire::HEADER_LEN];
    let got =
        read_head(conn, &mut h, Phase::Greeting, "waiting for the PRELOGIN answer").await.map_err(Answer::Failed)?;
    if got == 0 {
        return Err(Answer::Closed);
    }
    let header = wire::header(&h);
    let header = match header {
        Ok(hd) if got == h.len() && hd.kind == wire::TABULAR => hd,
        _ => {
            let _ = read_available(conn, 512, Duration::from_millis(100)).await;
            return Err(Answer::Failed(mismatch(cx, &tape.head())));
        }
    };
    let mut body = vec![0u8; header.body_len()];
    conn.read_exact(&mut body)
        .await
        .map_err(|e| Answer::Failed(read_failure(&e, Phase::Greeting, "reading the PRELOGIN answer")))?;
    wire::prelogin(&body).map_err(|e| {
        Answer::Failed(Failure::new(
            &codes::MALFORMED,
            Phase::Greeting,
            format!("the PRELOGIN answer does not decode: {e}"),
        ))
    })
}

/// Writes what the PRELOGIN answer says into the facts: `speaks`, unless the server is not the
/// instance the target names (then it is not the server asked for: `open`, so the check fails).
fn record(cx: &mut ProbeCx, p: &wire::Prelogin, protocol: &str, instance: &str) -> Result<(), Failure> {
    cx.fact("protocol", protocol);
    cx.fact("product", "Microsoft SQL Server");
    if let Some((major, minor, build, _)) = p.version {
        cx.fact("product_version", format!("{major}.{minor}.{build}"));
        if let Some(name) = wire::release_name(major, minor) {
            cx.fact("mssql_release", name);
        }
    }
    if let Some(v) = p.version_string() {
        cx.fact("mssql_version", v);
    }
    if let Some(e) = p.encryption() {
        cx.fact("mssql_encryption", e.describe());
    }
    if let Some(m) = p.mars {
        cx.fact("mssql_mars", m);
    }
    if let Some(f) = p.fed_auth_required {
        cx.fact("mssql_fedauth_required", f);
    }
    if p.encryption() == Some(Encryption::NotSupported) {
        cx.warn(
            &codes::NO_ENCRYPTION,
            "the server supports no encryption: logins cross the network in clear text (obfuscated, not encrypted)",
        );
    }
    if !instance.is_empty() {
        cx.fact("mssql_instance", instance);
        if p.instance_ok == Some(false) {
            return Err(Failure::new(
                &codes::INSTANCE_MISMATCH,
                Phase::Greeting,
                format!("the server on this port is not instance {instance:?}"),
            )
            .stated());
        }
    }
    cx.reach(Level::Speaks);
    Ok(())
}

/// The SQL Server Browser's port.
const BROWSER_PORT: u16 = 1434;

/// Asks the SQL Server Browser for the host's instances (CLNT_UCAST_EX), within `budget`:
/// `None` when it stays silent (stopped, or filtered: both common, hence only a warning).
async fn ask_browser(host: &str, port: u16, budget: Duration) -> Result<Option<Vec<u8>>, Failure> {
    let ask = async {
        let addr = net::lookup(host, port).await?[0];
        // SVR_RESP is one datagram: 3 header bytes and at most 65 535 of data.
        let mut d = Datagrams::open(addr, ReplyFrom::Target, net::MAX_DATAGRAM as u64).await?;
        d.send_raw(&wire::BROWSER_REQUEST).await?;
        Ok(d.recv_within(budget).await?.map(|g| g.bytes))
    };
    // The resolver counts against the budget too.
    tokio::time::timeout(budget, ask).await.unwrap_or(Ok(None))
}

/// Most Browser instances kept in the facts; the search for the target's instance sees all.
const MAX_LISTED: usize = 64;

/// What the Browser said, as facts and warnings: the TCP port is the verdict's ground, the
/// Browser only a lead.
fn record_browser(
    cx: &mut ProbeCx,
    found: Result<Option<Vec<u8>>, Failure>,
    instance: Option<&str>,
    target_port: u16,
    port: u16,
    budget: Duration,
) {
    let bytes = match found {
        Ok(Some(b)) => b,
        Ok(None) => {
            return cx.warn(
                &codes::BROWSER_SILENT,
                format!(
                    "no answer from the SQL Server Browser on UDP {port} within {} ms (stopped, or filtered)",
                    budget.as_millis()
                ),
            );
        }
        Err(f) => {
            return cx.warn(
                &codes::BROWSER_UNREACHABLE,
                format!("the SQL Server Browser (UDP {port}) is unreachable ({}): {}", f.code, f.message),
            );
        }
    };
    let list = match wire::browser_response(&bytes) {
        Ok(list) => list,
        Err(e) => {
            return cx.warn(
                &codes::BROWSER_MALFORMED,
                format!("UDP {port} answered, but not as the SQL Server Browser: {e}"),
            );
        }
    };
    let shown: Vec<_> = list.iter().take(MAX_LISTED).collect();
    cx.fact("mssql_browser", serde_json::to_value(&shown).unwrap_or_default());
    if list.len() > MAX_LISTED {
        cx.fact("mssql_browser_instances", list.len());
    }
    let Some(name) = instance else { return };
    match list.iter().find(|i| i.instance.eq_ignore_ascii_case(name)) {
        Some(i) if i.tcp_port.is_some_and(|p| p != target_port) => cx.warn(
            &codes::INSTANCE_ELSEWHERE,
            format!("the Browser says instance {name} listens on TCP {}, not {target_port}", i.tcp_port.unwrap_or(0)),
        ),
        Some(_) => {}
        None => cx.warn(&codes::INSTANCE_UNLISTED, format!("the Browser does not list instance {name}")),
    }
}

fn mismatch(cx: &mut ProbeCx, head: &[u8]) -> Failure {
    let expected = sniff::Expected { name: "mssql", label: "SQL Server (TDS)", over_tls: None };
    if let Some(f) = sniff::mismatch(cx, head, &expected, Phase::Greeting) {
        return f;
    }
    Failure::new(
        &codes::MALFORMED,
        Phase::Greeting,
        format!("the answer to PRELOGIN is not TDS: {}", sniff::describe(head)),
    )
    .hint("the port speaks something other than SQL Server's TDS: check the port number")
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_code_the_tests_know_is_in_a_table() {
        for c in [
            "mssql.browser_malformed",
            "mssql.browser_silent",
            "mssql.browser_unreachable",
            "mssql.database_unavailable",
            "mssql.default_database_unavailable",
            "mssql.encryption_downgraded",
            "mssql.encryption_refused",
            "mssql.encryption_required",
            "mssql.error",
            "mssql.error.50000",
            "mssql.firewall",
            "mssql.instance_elsewhere",
            "mssql.instance_mismatch",
            "mssql.instance_unlisted",
            "mssql.io",
            "mssql.login_disabled",
            "mssql.login_locked",
            "mssql.malformed",
            "mssql.no_encryption",
            "mssql.no_response",
            "mssql.password_expired",
            "mssql.plaintext_login_refused",
            "mssql.routed",
            "mssql.server_unknown",
            "mssql.too_many_connections",
            "mssql.windows_auth_only",
            "auth.no_credentials",
            "auth.rejected",
            "greeting.timeout",
            "request.timeout",
            "proto.mismatch",
        ] {
            assert!(crate::codes::lookup(c).is_some(), "{c}");
        }
        // A failure without a number and a numbered server error are two entries of one name.
        assert!(std::ptr::eq(crate::codes::lookup("mssql.error").unwrap(), &super::codes::ERROR));
        assert!(std::ptr::eq(crate::codes::lookup("mssql.error.50000").unwrap(), &super::codes::SERVER_ERROR));
    }
}
