//! The postgres probe against the real PostgreSQL on 5432 (and the variants that
//! `testbeds/scripts/databases.sh` starts), and against hostile peers.

use std::time::Duration;

use portproof_testbeds::hostile;

use crate::harness::{code, portproof, portproof_within, real_peer, serve};

const POSTGRES: &str = "127.0.0.1:5432";
const MARIADB: &str = "127.0.0.1:3306";
const START: &str = "the machine's PostgreSQL and MariaDB (bash testbeds/scripts/databases.sh)";
const BOUND: u64 = 64 << 20;

fn check(args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-f", "json"]);
    let run = portproof(&all);
    (run.code, run.result())
}

#[test]
fn postgres_is_named_with_its_auth_and_ssl_without_a_password() {
    if !real_peer("PostgreSQL", POSTGRES, START) {
        return;
    }
    let (exit, r) = check(&[POSTGRES, "-e", "postgres"]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("speaks")), "{r:#}");
    let f = &r["facts"];
    assert!(f["postgres_auth"].is_string(), "{r:#}");
    assert!(["supported", "not offered"].contains(&f["postgres_ssl"].as_str().unwrap()), "{r:#}");
    assert_eq!(f["protocol"], "PostgreSQL 3.0");
    if f["postgres_auth"] == "trust" {
        // The machine's cluster trusts loopback: the server shows its version.
        assert_eq!(f["product"], "PostgreSQL");
        assert!(f["postgres_parameters"]["server_version"].as_str().unwrap().starts_with(char::is_numeric), "{r:#}");
    }
    assert_eq!(code(&r), "auth.no_credentials", "{r:#}");

    let (exit, r) = check(&[POSTGRES, "-e", "postgres", "--database", "portproof_no_such_db", "--require", "healthy"]);
    assert_eq!(
        (exit, code(&r).as_str(), r["level"].as_str()),
        (1, "postgres.database_missing", Some("speaks")),
        "{r:#}"
    );
    assert_eq!(r["facts"]["postgres_sqlstate"], "3D000");

    let (_, r) = check(&[POSTGRES, "-e", "postgres", "--sslmode", "disable"]);
    assert_eq!(r["facts"]["postgres_ssl"], "not asked (sslmode disable)");
    assert!(r["facts"].get("tls_version").is_none(), "{r:#}");
}

#[test]
fn other_services_on_a_postgres_check_are_named() {
    if !real_peer("MariaDB", MARIADB, START) {
        return;
    }
    let (exit, r) = check(&[MARIADB, "-e", "postgres"]);
    assert_eq!((exit, code(&r).as_str(), r["identified"].as_str()), (1, "proto.mismatch", Some("mysql")), "{r:#}");
    assert_eq!(r["level"], "open");
}

#[test]
fn hostile_peers_on_a_postgres_check() {
    let at = |s: &portproof_testbeds::Server| format!("127.0.0.1:{}", s.port());
    let silent = serve(async { hostile::silent(portproof_testbeds::bind_any().await.unwrap()) });
    let run = portproof(&["check", &at(&silent), "-e", "postgres", "--timeout", "1s", "-f", "json"]);
    assert_eq!(code(&run.result()), "request.timeout");
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);

    // N to SSLRequest, then an authentication message that claims 4 GiB.
    let liar = serve(async { hostile::greeter(portproof_testbeds::bind_any().await.unwrap(), b"NR\xff\xff\xff\xff") });
    let run = portproof_within(&["check", &at(&liar), "-e", "postgres", "--timeout", "5s", "-f", "json"], BOUND);
    let r = run.result();
    assert_eq!((code(&r).as_str(), r["level"].as_str()), ("postgres.malformed", Some("open")), "{r:#}");
    assert!(run.elapsed < Duration::from_secs(3), "{:?}", run.elapsed);

    let garbage = serve(async { hostile::endless_garbage(portproof_testbeds::bind_any().await.unwrap()) });
    let run = portproof_within(&["check", &at(&garbage), "-e", "postgres", "--timeout", "5s", "-f", "json"], BOUND);
    assert_eq!(run.result()["level"], "open");

    let trickle =
        serve(async { hostile::trickle(portproof_testbeds::bind_any().await.unwrap(), b"NR\x00\x00\x00\x08") });
    let run = portproof(&["check", &at(&trickle), "-e", "postgres", "--timeout", "1s", "-f", "json"]);
    assert!(code(&run.result()).ends_with(".timeout"), "{:#}", run.result());
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);

    let slam = serve(async { hostile::slam(portproof_testbeds::bind_any().await.unwrap()) });
    let (_, r) = check(&[&at(&slam), "-e", "postgres"]);
    assert_eq!(code(&r), "postgres.no_response", "{r:#}");
}

const POSTGRES_SSL: &str = "127.0.0.1:15432";

fn databases_ca() -> String {
    let state = std::env::var("PORTPROOF_STATE").unwrap_or_else(|_| "/tmp/portproof-testbeds".into());
    format!("{state}/databases/ca.pem")
}

#[test]
fn postgres_with_ssl_scram_and_a_strict_pg_hba() {
    if !real_peer("PostgreSQL with SSL", POSTGRES_SSL, "bash testbeds/scripts/databases.sh") {
        return;
    }
    let ca = databases_ca();
    let base = [POSTGRES_SSL, "-e", "postgres", "--user", "portproof", "--database", "portproof"];
    let (exit, r) = check(&[&base[..], &["--ca", &ca, "--sslmode", "require"]].concat());
    assert_eq!((exit, r["level"].as_str(), code(&r).as_str()), (0, Some("speaks"), "auth.no_credentials"), "{r:#}");
    let f = &r["facts"];
    assert_eq!((f["postgres_ssl"].as_str(), f["tls_verified"].as_bool()), (Some("supported"), Some(true)), "{r:#}");
    assert_eq!(f["postgres_auth"], "scram-sha-256");
    assert!(f["postgres_sasl_mechanisms"].as_array().unwrap().iter().any(|m| m == "SCRAM-SHA-256"), "{r:#}");
    assert!(r["warnings"].as_array().is_none_or(|w| w.is_empty()), "{r:#}");

    // Without the CA the certificate is reported, and the server is still identified.
    let (_, r) = check(&base);
    assert_eq!(r["level"], "speaks", "{r:#}");
    assert_eq!(r["warnings"][0]["code"], "tls.unverified", "{r:#}");

    // pg_hba.conf has no line for plain connections of this user, and rejects `blocked`.
    let (exit, r) = check(&[&base[..], &["--sslmode", "disable"]].concat());
    assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (0, "postgres.no_hba_entry", Some("speaks")), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("no encryption"), "{r:#}");
    assert_eq!(r["facts"]["postgres_sqlstate"], "28000");
    let (_, r) = check(&[POSTGRES_SSL, "-e", "postgres", "--user", "blocked", "--database", "portproof", "--ca", &ca]);
    assert_eq!(code(&r), "postgres.no_hba_entry", "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("rejects"), "{r:#}");
}

const MARIADB_TLS: &str = "127.0.0.1:13306";

#[test]
fn mariadb_is_named_from_its_greeting_without_a_password() {
    if !real_peer("MariaDB", MARIADB, START) {
        return;
    }
    let (exit, r) = check(&[MARIADB, "-e", "mysql"]);
    assert_eq!((exit, r["level"].as_str(), code(&r).as_str()), (0, Some("speaks"), "auth.no_credentials"), "{r:#}");
    let f = &r["facts"];
    assert_eq!(f["product"], "MariaDB");
    assert!(f["product_version"].as_str().unwrap().starts_with("10."), "the 5.5.5- prefix is unwrapped: {r:#}");
    assert!(f["mysql_version_raw"].as_str().unwrap().starts_with("5.5.5-"), "{r:#}");
    assert!(f["mysql_auth_plugin"].is_string() && f["mysql_connection_id"].is_u64(), "{r:#}");
    assert_eq!(f["mysql_seen_as"], "127.0.0.1");
    // The machine's root has no password: that is worth a warning.
    let (_, r) = check(&[MARIADB, "-e", "mysql", "--user", "root"]);
    assert_eq!(r["warnings"][0]["code"], "mysql.passwordless_login", "{r:#}");
    // No TLS offered here: sslmode require fails by name. The greeting proved MySQL (speaks),
    // but what the check states is required: the refusal fails it (it passed before).
    let (exit, r) = check(&[MARIADB, "-e", "mysql", "--sslmode", "require"]);
    assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "mysql.ssl_refused", Some("speaks")), "{r:#}");
    assert_eq!(r["failure"]["stated"], true, "{r:#}");
}

#[test]
fn mariadb_with_tls_is_diagnosed_through_the_engine() {
    if !real_peer("MariaDB with TLS", MARIADB_TLS, "bash testbeds/scripts/databases.sh") {
        return;
    }
    let ca = databases_ca();
    let (exit, r) = check(&[MARIADB_TLS, "-e", "mysql", "--ca", &ca, "--sslmode", "require"]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("speaks")), "{r:#}");
    let f = &r["facts"];
    assert_eq!((f["mysql_ssl"].as_str(), f["tls_verified"].as_bool()), (Some("offered"), Some(true)), "{r:#}");
    assert!(f["tls_version"].as_str().unwrap().starts_with("TLS 1."), "{r:#}");
    let (_, r) = check(&[MARIADB_TLS, "-e", "mysql", "--sslmode", "disable"]);
    assert!(r["facts"].get("tls_version").is_none(), "{r:#}");
    assert_eq!(r["facts"]["mysql_error"], 1045, "MariaDB refuses plain logins under require_secure_transport: {r:#}");
}

#[test]
fn mysql_refusals_before_the_greeting_and_hostile_greetings() {
    let at = |s: &portproof_testbeds::Server| format!("127.0.0.1:{}", s.port());
    // ERR 1129 in place of a greeting: | len | seq 0 | ff | 69 04 | message
    const BLOCKED: &[u8] = b"\x66\x00\x00\x00\xff\x69\x04Host '10.0.0.9' is blocked because of many connection errors; unblock with 'mysqladmin flush-hosts'";
    let blocked = serve(async { hostile::greeter(portproof_testbeds::bind_any().await.unwrap(), BLOCKED) });
    let (exit, r) = check(&[&at(&blocked), "-e", "mysql", "--require", "healthy"]);
    assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "mysql.host_blocked", Some("speaks")), "{r:#}");
    assert!(r["failure"]["hint"].as_str().unwrap().contains("flush-hosts"), "{r:#}");
    assert_eq!(r["facts"]["mysql_error"], 1129);

    let ssh =
        serve(async { hostile::greeter(portproof_testbeds::bind_any().await.unwrap(), b"SSH-2.0-OpenSSH_9.6\r\n") });
    let (_, r) = check(&[&at(&ssh), "-e", "mysql"]);
    assert_eq!((code(&r).as_str(), r["identified"].as_str()), ("proto.mismatch", Some("ssh")), "{r:#}");

    let liar =
        serve(async { hostile::greeter(portproof_testbeds::bind_any().await.unwrap(), b"\xff\xff\xff\x00\x0a5.7") });
    let run = portproof_within(&["check", &at(&liar), "-e", "mysql", "--timeout", "5s", "-f", "json"], BOUND);
    let r = run.result();
    assert_eq!((code(&r).as_str(), r["level"].as_str()), ("mysql.malformed", Some("open")), "{r:#}");
    assert!(run.elapsed < Duration::from_secs(3), "{:?}", run.elapsed);

    let silent = serve(async { hostile::silent(portproof_testbeds::bind_any().await.unwrap()) });
    let run = portproof(&["check", &at(&silent), "-e", "mysql", "--timeout", "1s", "-f", "json"]);
    assert_eq!(code(&run.result()), "greeting.timeout");
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);

    let slam = serve(async { hostile::slam(portproof_testbeds::bind_any().await.unwrap()) });
    let (_, r) = check(&[&at(&slam), "-e", "mysql"]);
    assert_eq!(code(&r), "mysql.no_response", "{r:#}");
}

#[test]
fn postgres_login_and_query_through_tokio_postgres() {
    if !real_peer("PostgreSQL with SSL", POSTGRES_SSL, "bash testbeds/scripts/databases.sh") {
        return;
    }
    let ca = databases_ca();
    let pw = "PORTPROOF_TEST_PG_PASSWORD";
    let args = [POSTGRES_SSL, "-e", "postgres", "--user", "portproof", "--password-env", pw, "--database", "portproof"];
    let run = |extra: &[&str], secret: &str| {
        let mut all = vec!["check"];
        all.extend_from_slice(&args);
        all.extend_from_slice(extra);
        all.extend_from_slice(&["-f", "json"]);
        let run = crate::harness::portproof_env(&all, &[(pw, secret)]);
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "the password is never reported");
        (run.code, run.result())
    };
    let (exit, r) = run(&["--ca", &ca], "portproof-secret");
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["require"], "healthy");
    assert!(r["facts"]["postgres_version"].as_str().unwrap().starts_with("PostgreSQL "), "{r:#}");
    assert_eq!(r["facts"]["postgres_auth"], "scram-sha-256");

    let (exit, r) = run(&["--ca", &ca], "wrong-password");
    assert_eq!((exit, code(&r).as_str(), r["failure"]["phase"].as_str()), (1, "auth.rejected", Some("auth")), "{r:#}");
    assert_eq!(r["facts"]["postgres_sqlstate"], "28P01");

    // Without the CA the password is not sent: the certificate is the verdict.
    let (exit, r) = run(&[], "portproof-secret");
    assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "tls.cert_unknown_ca", Some("speaks")), "{r:#}");
    assert!(r["facts"].get("postgres_login").is_none(), "{r:#}");
}

#[test]
fn postgres_trust_login_without_a_password_is_healthy() {
    if !real_peer("PostgreSQL", POSTGRES, START) {
        return;
    }
    let (exit, r) = check(&[POSTGRES, "-e", "postgres", "--user", "postgres"]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["product"], "PostgreSQL");
}

#[test]
fn mysql_login_and_query_through_mysql_async() {
    if !real_peer("MariaDB with TLS", MARIADB_TLS, "bash testbeds/scripts/databases.sh") {
        return;
    }
    let ca = databases_ca();
    let pw = "PORTPROOF_TEST_MY_PASSWORD";
    let base = [MARIADB_TLS, "-e", "mysql", "--user", "portproof", "--password-env", pw, "--database", "portproof"];
    let run = |extra: &[&str], secret: &str| {
        let mut all = vec!["check"];
        all.extend_from_slice(&base);
        all.extend_from_slice(extra);
        all.extend_from_slice(&["-f", "json"]);
        let run = crate::harness::portproof_env(&all, &[(pw, secret)]);
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "the password is never reported");
        (run.code, run.result())
    };
    let (exit, r) = run(&["--ca", &ca], "portproof-secret");
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert!(r["facts"]["mysql_version_query"].as_str().unwrap().starts_with("10."), "{r:#}");
    let (exit, r) = run(&["--ca", &ca], "not-it");
    assert_eq!((exit, code(&r).as_str(), r["failure"]["phase"].as_str()), (1, "auth.rejected", Some("auth")), "{r:#}");
    assert_eq!(r["facts"]["mysql_error"], 1045);
    // Without the CA no password is sent.
    let (exit, r) = run(&[], "portproof-secret");
    assert_eq!((exit, code(&r).as_str()), (1, "tls.cert_unknown_ca"), "{r:#}");
    assert!(r["facts"].get("mysql_login").is_none(), "{r:#}");
}

mod responders {
    //! The refusals real servers here will not produce on demand, from the testbed responders.

    use portproof_testbeds::mysql::{self, MysqlConfig, MysqlMode};
    use portproof_testbeds::postgres::{self, PgAuth, PgConfig, PgMode};

    use crate::harness::{code, listener, portproof_env, serve};

    fn check(port: u16, args: &[&str], password: Option<&str>) -> (i32, serde_json::Value) {
        let target = format!("127.0.0.1:{port}");
        let mut all = vec!["check", target.as_str()];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-f", "json"]);
        let env: Vec<(&str, &str)> = password.map(|p| ("PORTPROOF_TEST_DB_PW", p)).into_iter().collect();
        let run = portproof_env(&all, &env);
        (run.code, run.result())
    }

    fn pg(mode: PgMode) -> portproof_testbeds::Server {
        let l = listener();
        serve(async { postgres::serve(l, mode) })
    }

    fn my(mode: MysqlMode) -> portproof_testbeds::Server {
        let l = listener();
        serve(async { mysql::serve(l, mode) })
    }

    /// A MySQL responder offering TLS with a certificate from a fresh PKI; the directory
    /// returned holds the CA file whose path comes with it.
    fn my_tls(config: MysqlConfig) -> (portproof_testbeds::Server, tempfile::TempDir, String) {
        let pki = portproof_testbeds::pki::Pki::new();
        let dir = tempfile::tempdir().unwrap();
        let ca = pki.write_to(dir.path()).unwrap().ca.to_str().unwrap().to_owned();
        (my(MysqlMode::Server(MysqlConfig { tls: Some(pki.server_config()), ..config })), dir, ca)
    }

    #[test]
    fn postgres_refusals_by_sqlstate() {
        for (state, message, want) in [
            ("53300", "sorry, too many clients already", "postgres.too_many_connections"),
            ("57P03", "the database system is starting up", "postgres.starting"),
            (
                "28000",
                "no pg_hba.conf entry for host \"10.0.0.9\", user \"x\", database \"x\", no encryption",
                "postgres.no_hba_entry",
            ),
            ("XX000", "something else", "postgres.error.XX000"),
        ] {
            let s = pg(PgMode::Reject { sqlstate: state.into(), message: message.into() });
            let (_, r) = check(s.port(), &["-e", "postgres"], None);
            assert_eq!((code(&r).as_str(), r["level"].as_str()), (want, Some("speaks")), "{r:#}");
            assert_eq!(r["facts"]["postgres_sqlstate"], state);
        }
        let s = pg(PgMode::LyingLength);
        let (_, r) = check(s.port(), &["-e", "postgres", "--timeout", "5s"], None);
        assert_eq!(code(&r), "postgres.malformed", "{r:#}");
    }

    #[test]
    fn postgres_md5_login_on_the_responder_only_where_plain_text_is_allowed() {
        let s = pg(PgMode::Server(PgConfig { auth: PgAuth::Md5, ..PgConfig::default() }));
        let login = ["-e", "postgres", "--user", "portproof", "--password-env", "PORTPROOF_TEST_DB_PW"];
        // The server offers no TLS: no password leaves without an explicit sslmode: disable.
        let (exit, r) = check(s.port(), &login, Some("portproof-secret"));
        assert_eq!((exit, code(&r).as_str()), (1, "postgres.plaintext_login_refused"), "{r:#}");
        let plain = [&login[..], &["--sslmode", "disable"]].concat();
        let (exit, r) = check(s.port(), &plain, Some("portproof-secret"));
        assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
        assert_eq!(r["facts"]["postgres_auth"], "md5");
        let (exit, r) = check(s.port(), &plain, Some("nope"));
        assert_eq!((exit, code(&r).as_str()), (1, "auth.rejected"), "{r:#}");
    }

    #[test]
    fn postgres_scram_login_over_the_responders_tls() {
        let pki = portproof_testbeds::pki::Pki::new();
        let dir = tempfile::tempdir().unwrap();
        let files = pki.write_to(dir.path()).unwrap();
        let l = listener();
        let cfg = PgConfig { auth: PgAuth::Scram, ..PgConfig::default() };
        let s = serve(async { postgres::serve_ssl(l, PgMode::Server(cfg), pki.server_config()) });
        let ca = files.ca.to_str().unwrap();
        let login = ["-e", "postgres", "--user", "portproof", "--password-env", "PORTPROOF_TEST_DB_PW", "--ca", ca];
        let (exit, r) = check(s.port(), &login, Some("portproof-secret"));
        assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
        assert_eq!(r["facts"]["postgres_auth"], "scram-sha-256");
    }

    #[test]
    fn mysql_sends_no_password_outside_tls() {
        let s = my(MysqlMode::Server(MysqlConfig::default()));
        let login = ["-e", "mysql", "--user", "portproof", "--password-env", "PORTPROOF_TEST_DB_PW"];
        let (exit, r) = check(s.port(), &login, Some("portproof-secret"));
        assert_eq!((exit, code(&r).as_str()), (1, "mysql.plaintext_login_refused"), "{r:#}");
        let (exit, r) = check(s.port(), &[&login[..], &["--sslmode", "disable"]].concat(), Some("portproof-secret"));
        assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    }

    #[test]
    fn mysql_login_over_the_responders_tls_is_relayed_through_the_engine() {
        // caching_sha2_password's fast path: AuthMoreData and the OK arrive without a client
        // packet between them, so the relay must carry both directions at once.
        let cfg = MysqlConfig::default();
        let passwords = cfg.passwords_received.clone();
        let (s, _dir, ca) = my_tls(cfg);
        let ca = ca.as_str();
        let login = ["-e", "mysql", "--user", "portproof", "--password-env", "PORTPROOF_TEST_DB_PW"];
        let (exit, r) = check(s.port(), &[&login[..], &["--ca", ca]].concat(), Some("portproof-secret"));
        assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
        assert_eq!(r["facts"]["mysql_version_query"], "8.0.36-portproof", "{r:#}");
        assert_eq!(r["facts"]["tls_version"], "TLS 1.3", "{r:#}");
        assert_eq!(passwords.load(std::sync::atomic::Ordering::SeqCst), 1);
        let phases: Vec<&str> = r["phases"].as_array().unwrap().iter().map(|p| p["phase"].as_str().unwrap()).collect();
        assert_eq!(phases.last(), Some(&"query"), "the relay marks the first command: {r:#}");
        // insecure: true lets an unverified login connection through, and says so for it.
        let (exit, r) = check(s.port(), &[&login[..], &["--insecure"]].concat(), Some("portproof-secret"));
        assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
        let said = r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "tls.unverified" && w["message"].as_str().unwrap().contains("login connection"));
        assert!(said, "{r:#}");
        assert_eq!(passwords.load(std::sync::atomic::Ordering::SeqCst), 2);
        // A user the server does not know: refused by number, in the auth phase.
        let other = ["-e", "mysql", "--user", "nobody", "--password-env", "PORTPROOF_TEST_DB_PW", "--ca", ca];
        let (exit, r) = check(s.port(), &other, Some("portproof-secret"));
        assert_eq!(
            (exit, code(&r).as_str(), r["failure"]["phase"].as_str()),
            (1, "auth.rejected", Some("auth")),
            "{r:#}"
        );
        assert_eq!(r["facts"]["mysql_error"], 1045, "{r:#}");
        // Without the CA the certificate does not verify: no password leaves.
        let before = passwords.load(std::sync::atomic::Ordering::SeqCst);
        let (exit, r) = check(s.port(), &login, Some("portproof-secret"));
        assert_eq!((exit, code(&r).as_str()), (1, "tls.cert_unknown_ca"), "{r:#}");
        assert_eq!(passwords.load(std::sync::atomic::Ordering::SeqCst), before);
    }

    #[test]
    fn mysql_login_answered_with_an_absurd_packet_is_malformed() {
        let (s, _dir, ca) = my_tls(MysqlConfig { oversized_login_answer: true, ..MysqlConfig::default() });
        let ca = ca.as_str();
        let login = ["-e", "mysql", "--user", "portproof", "--password-env", "PORTPROOF_TEST_DB_PW", "--ca", ca];
        let (exit, r) = check(s.port(), &[&login[..], &["--timeout", "5s"]].concat(), Some("portproof-secret"));
        assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "mysql.malformed", Some("speaks")), "{r:#}");
        assert!(r["failure"]["message"].as_str().unwrap().contains("16777215 bytes"), "{r:#}");
    }

    #[test]
    fn mysql_login_connection_stripped_of_tls_gets_no_password() {
        let cfg = MysqlConfig { tls_first_connection_only: true, ..MysqlConfig::default() };
        let passwords = cfg.passwords_received.clone();
        let (s, _dir, ca) = my_tls(cfg);
        let ca = ca.as_str();
        let login = ["-e", "mysql", "--user", "portproof", "--password-env", "PORTPROOF_TEST_DB_PW", "--ca", ca];
        let (exit, r) = check(s.port(), &login, Some("portproof-secret"));
        assert_eq!(
            (exit, code(&r).as_str(), r["level"].as_str()),
            (1, "mysql.ssl_downgraded", Some("speaks")),
            "{r:#}"
        );
        assert_eq!(passwords.load(std::sync::atomic::Ordering::SeqCst), 0, "no password reached the server");
    }

    #[test]
    fn mysql_refusals_by_error_number() {
        for (n, message, want) in [
            (1130u16, "Host '10.0.0.9' is not allowed to connect to this MySQL server", "mysql.host_not_allowed"),
            (1040, "Too many connections", "mysql.too_many_connections"),
        ] {
            let s = my(MysqlMode::ErrOnConnect { code: n, message: message.into() });
            let (_, r) = check(s.port(), &["-e", "mysql"], None);
            assert_eq!((code(&r).as_str(), r["facts"]["mysql_error"].as_u64()), (want, Some(u64::from(n))), "{r:#}");
            if n == 1130 {
                assert_eq!(r["facts"]["mysql_seen_as"], "10.0.0.9", "{r:#}");
            }
        }
        let strict = my(MysqlMode::Server(MysqlConfig { require_secure_transport: true, ..MysqlConfig::default() }));
        let (_, r) = check(strict.port(), &["-e", "mysql"], None);
        assert_eq!(code(&r), "mysql.insecure_transport_refused", "{r:#}");
        assert_eq!(r["facts"]["product"], "MySQL");
        let liar = my(MysqlMode::LyingLength);
        let (_, r) = check(liar.port(), &["-e", "mysql", "--timeout", "5s"], None);
        assert_eq!((code(&r).as_str(), r["level"].as_str()), ("mysql.malformed", Some("open")), "{r:#}");
    }
}

#[test]
fn postgres_never_sends_a_password_when_tls_disappears_on_the_login_connection() {
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = portproof_testbeds::pki::Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_to(dir.path()).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config());
    let l = crate::harness::listener();
    let port = l.local_addr().unwrap().port();
    let after_n = Arc::new(Mutex::new(Vec::<u8>::new()));
    let seen = after_n.clone();
    // First connection: S, TLS, then a SCRAM request. Second: N, then record what the client sends.
    let _peer = crate::harness::rt().spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut req = [0u8; 8];
        s.read_exact(&mut req).await.unwrap();
        s.write_all(b"S").await.unwrap();
        let mut tls = acceptor.accept(s).await.unwrap();
        let mut buf = [0u8; 512];
        let _ = tls.read(&mut buf).await;
        tls.write_all(b"R\x00\x00\x00\x17\x00\x00\x00\x0aSCRAM-SHA-256\x00\x00").await.unwrap();
        let (mut s2, _) = l.accept().await.unwrap();
        s2.read_exact(&mut req).await.unwrap();
        s2.write_all(b"N").await.unwrap();
        let mut rest = vec![0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), s2.read(&mut rest)).await {
            seen.lock().unwrap().extend_from_slice(&rest[..n]);
        }
        drop(tls);
    });
    let target = format!("127.0.0.1:{port}");
    let args = [
        "check",
        &target,
        "-e",
        "postgres",
        "--user",
        "portproof",
        "--password-env",
        "PG_DOWN_PW",
        "--ca",
        files.ca.to_str().unwrap(),
        "-f",
        "json",
    ];
    let run = crate::harness::portproof_env(&args, &[("PG_DOWN_PW", "must-not-leak")]);
    let r = run.result();
    assert_eq!((code(&r).as_str(), r["level"].as_str()), ("postgres.ssl_downgraded", Some("speaks")), "{r:#}");
    std::thread::sleep(Duration::from_millis(100));
    let sent = after_n.lock().unwrap().clone();
    assert!(!String::from_utf8_lossy(&sent).contains("must-not-leak"), "the password was sent: {sent:?}");
}
