//! The `mssql` probe against the TDS responder (`testbeds/src/mssql.rs`): no SQL Server can run
//! on this machine, so every case comes from the responder, which tiberius (a real client)
//! checks in the testbed crate's own tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use portproof_testbeds::mssql::{self, BrowserInstance, Encryption, MssqlConfig, MssqlMode};
use portproof_testbeds::pki::Pki;

use crate::harness::{code, listener, portproof_env, serve};

const PW_VAR: &str = "PORTPROOF_TEST_MSSQL_PW";

fn check(port: u16, args: &[&str], password: Option<&str>) -> (i32, serde_json::Value) {
    check_env(port, args, password, &[])
}

fn check_env(port: u16, args: &[&str], password: Option<&str>, env: &[(&str, &str)]) -> (i32, serde_json::Value) {
    let target = format!("127.0.0.1:{port}");
    let mut all = vec!["check", target.as_str(), "-e", "mssql"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-f", "json"]);
    let mut env = env.to_vec();
    env.extend(password.map(|p| (PW_VAR, p)));
    let run = portproof_env(&all, &env);
    (run.code, run.result())
}

fn start(mode: MssqlMode) -> portproof_testbeds::Server {
    let l = listener();
    serve(async { mssql::serve(l, mode) })
}

/// A responder with `encryption`, the testbed PKI's certificate, and the CA's file.
struct Site {
    server: portproof_testbeds::Server,
    ca: String,
    /// LOGIN7 messages the responder received.
    logins: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

impl Site {
    fn logins(&self) -> usize {
        self.logins.load(Ordering::SeqCst)
    }
}

fn site(encryption: Encryption, tweak: impl FnOnce(&mut MssqlConfig)) -> Site {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_to(dir.path()).unwrap();
    let tls = match encryption {
        Encryption::NotSupported => None,
        Encryption::Strict => Some(mssql::strict_tls(pki.server_config())),
        _ => Some(pki.server_config()),
    };
    let mut cfg = MssqlConfig { encryption, tls, password: "portproof-secret".into(), ..MssqlConfig::default() };
    tweak(&mut cfg);
    let logins = cfg.logins.clone();
    Site { server: start(MssqlMode::Server(cfg)), ca: files.ca.to_str().unwrap().to_owned(), logins, _dir: dir }
}

fn login<'a>(ca: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--user", "portproof", "--password-env", PW_VAR, "--ca", ca];
    v.extend_from_slice(extra);
    v
}

#[test]
fn prelogin_names_the_server_and_its_encryption_without_credentials() {
    let s = site(Encryption::Off, |_| {});
    let (exit, r) = check(s.server.port(), &[], None);
    assert_eq!((exit, r["level"].as_str(), code(&r).as_str()), (0, Some("speaks"), "auth.no_credentials"), "{r:#}");
    let f = &r["facts"];
    assert_eq!(f["product"], "Microsoft SQL Server");
    assert_eq!(f["product_version"], "16.0.4135");
    assert_eq!(f["mssql_release"], "SQL Server 2022");
    assert_eq!(f["mssql_encryption"], "off (TLS for the login only)");
    assert_eq!(f["protocol"], "TDS 7.x");
    // The TLS handshake inside PRELOGIN packets ran, through the engine.
    assert!(f["tls_version"].as_str().is_some_and(|v| v.starts_with("TLS 1.")), "{r:#}");
    assert_eq!(f["tls_verified"], false, "no CA given: {r:#}");
    assert!(r["warnings"].to_string().contains("tls.unverified"), "{r:#}");
    // With the CA the certificate verifies and the warning goes.
    let (_, r) = check(s.server.port(), &["--ca", &s.ca], None);
    assert_eq!(r["facts"]["tls_verified"], true, "{r:#}");
    assert!(!r["warnings"].to_string().contains("tls.unverified"), "{r:#}");
}

#[test]
fn each_encryption_setting_is_named() {
    let s = site(Encryption::Required, |c| c.version = (15, 0, 2000));
    let (_, r) = check(s.server.port(), &["--ca", &s.ca], None);
    assert_eq!(r["facts"]["mssql_encryption"], "required", "{r:#}");
    assert_eq!(r["facts"]["mssql_release"], "SQL Server 2019");
    // A server whose certificate is optional, asked for encryption of the whole session; and MARS.
    let s = site(Encryption::Off, |c| c.mars = true);
    let (_, r) = check(s.server.port(), &["--ca", &s.ca, "--encrypt", "mandatory"], None);
    assert_eq!((&r["facts"]["mssql_encryption"], &r["facts"]["mssql_mars"]), (&"on".into(), &true.into()), "{r:#}");
    let s = site(Encryption::NotSupported, |_| {});
    let (_, r) = check(s.server.port(), &[], None);
    assert_eq!(
        (r["level"].as_str(), &r["facts"]["mssql_encryption"]),
        (Some("speaks"), &"not supported".into()),
        "{r:#}"
    );
    assert!(r["warnings"].to_string().contains("mssql.no_encryption"), "{r:#}");
    assert!(r["facts"]["tls_version"].is_null(), "no TLS without encryption: {r:#}");
    // A client that insists on encryption meets a server without it: named, at speaks (the
    // server answered as SQL Server), and the check fails: what it states is required.
    let (exit, r) = check(s.server.port(), &["--encrypt", "mandatory"], None);
    assert_eq!(
        (exit, code(&r).as_str(), r["level"].as_str()),
        (1, "mssql.encryption_refused", Some("speaks")),
        "{r:#}"
    );
    let login = ["--encrypt", "mandatory", "--user", "portproof", "--password-env", PW_VAR];
    let (exit, r) = check(s.server.port(), &login, Some("portproof-secret"));
    assert_eq!((exit, code(&r).as_str()), (1, "mssql.encryption_refused"), "{r:#}");
}

#[test]
fn a_strict_server_is_found_without_being_asked() {
    let s = site(Encryption::Strict, |_| {});
    let (exit, r) = check(s.server.port(), &["--ca", &s.ca], None);
    assert_eq!((exit, r["level"].as_str()), (0, Some("speaks")), "{r:#}");
    assert_eq!(r["facts"]["mssql_encryption"], "strict (TDS 8.0)", "{r:#}");
    assert_eq!(r["facts"]["protocol"], "TDS 8.0");
    assert_eq!(r["facts"]["tls_alpn"], "tds/8.0", "{r:#}");
    // Asked for directly, too.
    let (_, r) = check(s.server.port(), &["--ca", &s.ca, "--encrypt", "strict"], None);
    assert_eq!(r["facts"]["protocol"], "TDS 8.0", "{r:#}");
}

#[test]
fn tiberius_logs_in_and_queries_in_every_encryption_mode() {
    for (enc, extra) in [
        (Encryption::Off, &[][..]),
        (Encryption::On, &["--encrypt", "mandatory"][..]),
        (Encryption::Required, &[][..]),
        (Encryption::Strict, &[][..]),
    ] {
        let s = site(enc, |_| {});
        let (exit, r) = check(s.server.port(), &login(&s.ca, extra), Some("portproof-secret"));
        assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{enc:?}: {r:#}");
        assert!(r["facts"]["mssql_version_query"].as_str().unwrap_or("").starts_with("Microsoft SQL Server"), "{r:#}");
        assert_eq!(r["facts"]["mssql_login"], "accepted");
    }
}

#[test]
fn login_errors_are_decoded_by_number() {
    let s = site(Encryption::Off, |_| {});
    let (exit, r) = check(s.server.port(), &login(&s.ca, &[]), Some("wrong"));
    assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "auth.rejected", Some("speaks")), "{r:#}");
    assert_eq!(r["facts"]["mssql_error"]["number"], 18456);
    assert!(r["failure"]["hint"].as_str().unwrap_or("").contains("state 1"), "{r:#}");
    let (_, r) = check(s.server.port(), &login(&s.ca, &["--database", "nosuchdb"]), Some("portproof-secret"));
    assert_eq!(code(&r), "mssql.database_unavailable", "{r:#}");
    for (n, want) in [(18470, "mssql.login_disabled"), (18452, "mssql.windows_auth_only"), (50000, "mssql.error.50000")]
    {
        let s = site(Encryption::Off, |c| c.login_error = Some((n, 1, 14, "refused for the test".into())));
        let (_, r) = check(s.server.port(), &login(&s.ca, &[]), Some("portproof-secret"));
        assert_eq!(code(&r), want, "{r:#}");
        assert_eq!(r["facts"]["mssql_error"]["number"], n, "{r:#}");
    }
}

#[test]
fn no_password_without_verified_tls_unless_told() {
    // No encryption on the server: refused before any second connection.
    let s = site(Encryption::NotSupported, |_| {});
    let (exit, r) = check(s.server.port(), &login(&s.ca, &[]), Some("portproof-secret"));
    assert_eq!((exit, code(&r).as_str()), (1, "mssql.plaintext_login_refused"), "{r:#}");
    // `insecure` relaxes the certificate check, not the clear-text rule.
    let (_, r) = check(s.server.port(), &login(&s.ca, &["--insecure"]), Some("portproof-secret"));
    assert_eq!(code(&r), "mssql.plaintext_login_refused", "{r:#}");
    assert_eq!(s.logins(), 0, "no LOGIN7 reached the server");
    let (exit, r) = check(s.server.port(), &login(&s.ca, &["--encrypt", "disable"]), Some("portproof-secret"));
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(s.logins(), 1);
    // A certificate that does not verify: no login either.
    let s = site(Encryption::Off, |_| {});
    let args = ["--user", "portproof", "--password-env", PW_VAR];
    let (exit, r) = check(s.server.port(), &args, Some("portproof-secret"));
    assert_eq!(exit, 1, "{r:#}");
    assert!(code(&r).starts_with("tls."), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap_or("").contains("no password"), "{r:#}");
    assert_eq!(s.logins(), 0, "no LOGIN7 reached the server");
    let (exit, r) = check(s.server.port(), &[&args[..], &["--insecure"]].concat(), Some("portproof-secret"));
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(s.logins(), 1);
}

/// A port whose first connection goes to `first` and every later one to `rest`: a server that
/// shows one certificate to the probe's look and another to its login.
fn split(first: u16, rest: u16) -> (u16, tokio::task::JoinHandle<()>) {
    let l = listener();
    let port = l.local_addr().unwrap().port();
    let task = crate::harness::rt().spawn(async move {
        let mut n = 0;
        while let Ok((mut c, _)) = l.accept().await {
            let to = if n == 0 { first } else { rest };
            n += 1;
            tokio::spawn(async move {
                if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await {
                    let _ = tokio::io::copy_bidirectional(&mut c, &mut s).await;
                }
            });
        }
    });
    (port, task)
}

#[test]
fn the_login_connection_is_held_to_the_certificate_trust_of_the_target() {
    // The look sees the CA's certificate; the login meets another PKI's, which the system
    // store trusts (SSL_CERT_FILE stands in for it): with `--ca` only that CA counts, so no
    // LOGIN7 leaves. (tiberius's own TLS would trust the system store as well.)
    for enc in [Encryption::Off, Encryption::Strict] {
        let good = site(enc, |_| {});
        let other = site(enc, |_| {});
        let (port, task) = split(good.server.port(), other.server.port());
        let system = [("SSL_CERT_FILE", other.ca.as_str())];
        let (exit, r) = check_env(port, &login(&good.ca, &[]), Some("portproof-secret"), &system);
        task.abort();
        assert_eq!((exit, r["level"].as_str()), (1, Some("speaks")), "{enc:?}: {r:#}");
        assert!(code(&r).starts_with("tls."), "{enc:?}: {r:#}");
        assert_eq!(other.logins(), 0, "{enc:?}: the password never reached the other certificate");
    }
}

#[test]
fn a_login_connection_without_the_encryption_the_look_saw_sends_no_password() {
    let good = site(Encryption::Off, |_| {});
    let plain = site(Encryption::NotSupported, |_| {});
    let (port, task) = split(good.server.port(), plain.server.port());
    let (exit, r) = check(port, &login(&good.ca, &[]), Some("portproof-secret"));
    task.abort();
    assert_eq!((exit, code(&r).as_str()), (1, "mssql.encryption_downgraded"), "{r:#}");
    assert_eq!(plain.logins(), 0);
}

#[test]
fn a_named_instance_that_is_not_this_port() {
    let s = site(Encryption::Off, |c| c.instance = "SQLEXPRESS".into());
    let (exit, r) = check(s.server.port(), &["--ca", &s.ca, "--instance", "sqlexpress"], None);
    assert_eq!((exit, r["level"].as_str()), (0, Some("speaks")), "{r:#}");
    // Another instance's port is not the server asked for: the check fails.
    let (exit, r) = check(s.server.port(), &["--ca", &s.ca, "--instance", "REPORTING"], None);
    assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "mssql.instance_mismatch", Some("open")), "{r:#}");
    assert_eq!(r["facts"]["product"], "Microsoft SQL Server", "what answered is still named: {r:#}");
}

#[test]
fn the_browser_lists_instances_and_points_at_the_right_port() {
    let s = site(Encryption::Off, |c| c.instance = "SQLEXPRESS".into());
    let udp = serve(async { tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap() });
    let browser_port = udp.local_addr().unwrap().port();
    let instances = vec![
        BrowserInstance {
            server_name: "DB1".into(),
            instance: "MSSQLSERVER".into(),
            version: "16.0.1000.6".into(),
            tcp_port: Some(1433),
            clustered: false,
        },
        BrowserInstance {
            server_name: "DB1".into(),
            instance: "SQLEXPRESS".into(),
            version: "16.0.1000.6".into(),
            tcp_port: Some(49_712),
            clustered: false,
        },
    ];
    let _b = serve(async { mssql::serve_browser(udp, instances) });
    let bp = browser_port.to_string();
    let (_, r) = check(s.server.port(), &["--ca", &s.ca, "--instance", "SQLEXPRESS", "--browser-port", &bp], None);
    let list = r["facts"]["mssql_browser"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 2, "{r:#}");
    assert_eq!(list[1]["tcp_port"], 49_712);
    // The Browser says SQLEXPRESS is on 49712, not on the port probed.
    assert!(r["warnings"].to_string().contains("mssql.instance_elsewhere"), "{r:#}");
    // No Browser on that port: a warning, not a verdict.
    drop(_b);
    let silent = serve(async { tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap() });
    let sp = silent.local_addr().unwrap().port().to_string();
    let (exit, r) = check(s.server.port(), &["--ca", &s.ca, "--browser-port", &sp, "--timeout", "3s"], None);
    assert_eq!(exit, 0, "{r:#}");
    assert!(r["warnings"].to_string().contains("mssql.browser_"), "{r:#}");
}

#[test]
fn hostile_and_foreign_peers_end_in_a_verdict_within_the_deadline() {
    for (mode, want) in [
        (MssqlMode::Garbage, "mssql.malformed"),
        (MssqlMode::LyingLength, "mssql.malformed"),
        (MssqlMode::BadOptionTable, "mssql.malformed"),
        (MssqlMode::CloseOnPrelogin, "mssql.no_response"),
        (MssqlMode::Trickle, "greeting.timeout"),
        (MssqlMode::Silent, "greeting.timeout"),
    ] {
        let name = format!("{mode:?}");
        let s = start(mode);
        let began = Instant::now();
        let (exit, r) = check(s.port(), &["--timeout", "2s"], None);
        assert_eq!((exit, code(&r).as_str()), (1, want), "{name}: {r:#}");
        assert_ne!(r["level"], "speaks", "{name}: {r:#}");
        assert!(began.elapsed() < Duration::from_secs(5), "{name} ended after {:?}", began.elapsed());
    }
    // An HTTP server and a TLS server that is not SQL Server.
    let gw = crate::harness::gateway();
    let (_, r) = check(gw.port(8088).unwrap(), &["--timeout", "3s"], None);
    assert_eq!((code(&r).as_str(), r["identified"].as_str()), ("proto.mismatch", Some("http")), "{r:#}");
    let pki = Pki::new();
    let l = listener();
    let tls = serve(async { portproof_testbeds::hostile::tls_server(l, pki.server_config()) });
    let (exit, r) = check(tls.port(), &["--timeout", "3s"], None);
    assert_eq!(exit, 1, "{r:#}");
    assert_eq!(r["identified"], "tls", "{r:#}");
}
