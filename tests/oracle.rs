//! The oracle probe against the TNS listener responder (no Oracle listener can run here) and
//! against hostile peers.

use std::time::Duration;

use portproof_testbeds::hostile;
use portproof_testbeds::oracle::{self, Captured, ListenerConfig, OracleMode, VersionAnswer};

use crate::harness::{code, listener, portproof, portproof_within, serve};

const BOUND: u64 = 64 << 20;

fn responder(mode: OracleMode) -> portproof_testbeds::Server {
    let l = listener();
    serve(async { oracle::serve(l, mode) })
}

fn with(config: ListenerConfig) -> portproof_testbeds::Server {
    responder(OracleMode::Listener(config))
}

fn check(port: u16, args: &[&str]) -> (i32, serde_json::Value) {
    let target = format!("127.0.0.1:{port}");
    let mut all = vec!["check", target.as_str(), "-e", "oracle"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-f", "json"]);
    let run = portproof(&all);
    (run.code, run.result())
}

/// Whether `counter` reaches `n`: the responder counts on its own task, which may run a moment
/// after the binary has exited.
fn counted(counter: &std::sync::atomic::AtomicUsize, n: usize) -> bool {
    for _ in 0..500 {
        if counter.load(std::sync::atomic::Ordering::Relaxed) >= n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn warnings(r: &serde_json::Value) -> Vec<String> {
    r["warnings"]
        .as_array()
        .map_or_else(Vec::new, |w| w.iter().map(|w| w["code"].as_str().unwrap_or_default().to_owned()).collect())
}

#[test]
fn the_listener_is_named_by_its_version_and_a_known_service_is_healthy() {
    let s = with(ListenerConfig::default());
    let (exit, r) = check(s.port(), &[]);
    assert_eq!((exit, r["level"].as_str(), code(&r).as_str()), (0, Some("speaks"), "oracle.no_service"), "{r:#}");
    let f = &r["facts"];
    assert_eq!(f["oracle_listener_version"], "19.0.0.0.0");
    assert_eq!(f["oracle_vsnnum"], 318_767_104);
    assert_eq!(
        (f["product"].as_str(), f["product_version"].as_str()),
        (Some("Oracle TNS listener"), Some("19.0.0.0.0"))
    );
    assert_eq!(f["oracle_listener_banner"], "TNSLSNR for Linux: Version 19.0.0.0.0 - Production");
    assert_eq!(f["oracle_version_command"], "answered");
    assert_eq!(f["protocol"], "Oracle TNS 314");
    assert!(r["failure"]["hint"].as_str().unwrap().contains("service_name"), "{r:#}");

    let config = ListenerConfig::default();
    let closes = config.orderly_closes.clone();
    let s = with(config);
    let (exit, r) = check(s.port(), &["--service-name", "ORCLPDB1"]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert!(r["failure"].is_null(), "{r:#}");
    // Accepted at 318, as 19c accepts a 19c client; the session ended with DATA EOF in the
    // 32-bit framing of 315 on (the responder counts it).
    assert_eq!((r["facts"]["oracle_tns_version"].as_u64(), r["facts"]["oracle_sdu"].as_u64()), (Some(318), Some(8192)));
    assert!(counted(&closes, 1), "the responder saw no orderly close");
    assert_eq!(
        (r["facts"]["oracle_service"].as_str(), r["facts"]["oracle_service_name"].as_str()),
        (Some("accepted"), Some("ORCLPDB1"))
    );
    assert_eq!(r["facts"]["oracle_listener_version"], "19.0.0.0.0");

    // An 11g database settles on 314, with the 16-bit framing throughout.
    let config = ListenerConfig { max_version: 314, ..ListenerConfig::default() };
    let closes = config.orderly_closes.clone();
    let old = with(config);
    let (exit, r) = check(old.port(), &["--service-name", "ORCLPDB1"]);
    assert_eq!(
        (exit, r["level"].as_str(), r["facts"]["oracle_tns_version"].as_u64()),
        (0, Some("healthy"), Some(314)),
        "{r:#}"
    );
    assert!(counted(&closes, 1), "the responder saw no orderly close");

    // Service names and SIDs are compared without case, as the listener does.
    let (exit, r) = check(s.port(), &["--sid", "orclcdb"]);
    assert_eq!(
        (exit, r["level"].as_str(), r["facts"]["oracle_sid"].as_str()),
        (0, Some("healthy"), Some("orclcdb")),
        "{r:#}"
    );
}

#[test]
fn connect_data_too_long_for_the_connect_packet_goes_in_a_data_packet() {
    // A 120-character service name makes the descriptor longer than the 230 bytes a CONNECT
    // carries; the listener reads it from the DATA packet that follows.
    let long = format!("SALES_{}.EXAMPLE.COM", "X".repeat(102));
    let s = with(ListenerConfig { services: vec![long.clone()], ..ListenerConfig::default() });
    let (exit, r) = check(s.port(), &["--service-name", &long]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    let (exit, r) = check(s.port(), &["--service-name", &format!("{long}2")]);
    assert_eq!((exit, code(&r).as_str()), (1, "oracle.service_unknown"), "{r:#}");
    // A stated service the listener refuses fails even when the check requires only `speaks`.
    let (exit, r) = check(s.port(), &["--service-name", &format!("{long}2"), "--require", "speaks"]);
    assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "oracle.service_unknown", Some("speaks")), "{r:#}");
}

#[test]
fn refusals_are_decoded_by_tns_number() {
    let s = with(ListenerConfig::default());
    let (exit, r) = check(s.port(), &["--service-name", "NOPE"]);
    assert_eq!((exit, r["level"].as_str(), code(&r).as_str()), (1, Some("speaks"), "oracle.service_unknown"), "{r:#}");
    assert_eq!(r["facts"]["oracle_error"], 12514);
    assert_eq!(r["facts"]["oracle_service"], "refused");
    assert!(r["failure"]["message"].as_str().unwrap().contains("TNS-12514"), "{r:#}");
    assert!(r["failure"]["hint"].as_str().unwrap().contains("lsnrctl services"), "{r:#}");

    let (exit, r) = check(s.port(), &["--sid", "NOPE"]);
    assert_eq!(
        (exit, code(&r).as_str(), r["facts"]["oracle_error"].as_u64()),
        (1, "oracle.sid_unknown", Some(12505)),
        "{r:#}"
    );

    for (n, want, hint) in [
        (12516u32, "oracle.no_handler", "processes"),
        (12519, "oracle.no_handler", "processes"),
        (12520, "oracle.no_handler", "dispatcher"),
        (12526, "oracle.restricted", "DISABLE RESTRICTED SESSION"),
        (12528, "oracle.refused.12528", "lsnrctl status"),
    ] {
        let s = with(ListenerConfig { refuse_known: Some(n), ..ListenerConfig::default() });
        let (exit, r) = check(s.port(), &["--service-name", "ORCLPDB1"]);
        assert_eq!((exit, r["level"].as_str(), code(&r).as_str()), (1, Some("speaks"), want), "{r:#}");
        assert_eq!(r["facts"]["oracle_error"], n);
        assert!(r["failure"]["hint"].as_str().unwrap().contains(hint), "{r:#}");
    }
}

#[test]
fn a_listener_that_refuses_the_version_command_still_names_its_version() {
    let s =
        with(ListenerConfig { vsnnum: 186_647_040, version: VersionAnswer::Refuse(1189), ..ListenerConfig::default() });
    let (exit, r) = check(s.port(), &[]);
    assert_eq!((exit, r["level"].as_str(), code(&r).as_str()), (0, Some("speaks"), "oracle.no_service"), "{r:#}");
    assert_eq!(r["facts"]["oracle_listener_version"], "11.2.0.2.0");
    assert!(r["facts"]["oracle_version_command"].as_str().unwrap().starts_with("refused: TNS-01189"), "{r:#}");
    let (exit, r) = check(s.port(), &["--service-name", "ORCLPDB1"]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
}

#[test]
fn a_listener_that_asks_for_a_resend_gets_the_connect_again() {
    let s = with(ListenerConfig { resend_first: true, ..ListenerConfig::default() });
    let (exit, r) = check(s.port(), &["--service-name", "ORCLPDB1"]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["oracle_resend"], true);
    assert_eq!(r["facts"]["oracle_listener_version"], "19.0.0.0.0");
}

#[test]
fn redirects_are_recorded_and_followed() {
    let dispatcher = with(ListenerConfig::default());
    let s =
        with(ListenerConfig { redirect: Some(("127.0.0.1".into(), dispatcher.port())), ..ListenerConfig::default() });
    let (exit, r) = check(s.port(), &["--service-name", "ORCLPDB1"]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    let to = &r["facts"]["oracle_redirect"];
    assert_eq!(
        (to["host"].as_str(), to["port"].as_u64()),
        (Some("127.0.0.1"), Some(u64::from(dispatcher.port()))),
        "{r:#}"
    );
    assert_eq!(r["facts"]["oracle_service"], "accepted");
    assert_eq!(to["followed"], true, "{r:#}");
    // The port checked is still the peer, not the dispatcher.
    assert_eq!(r["facts"]["peer"], format!("127.0.0.1:{}", s.port()), "{r:#}");

    // An address this machine cannot resolve: recorded, said, and the check fails; not
    // followed without the option, unreachable with it.
    let s = with(ListenerConfig { redirect: Some(("db-internal.invalid".into(), 1522)), ..ListenerConfig::default() });
    let (exit, r) = check(s.port(), &["--service-name", "ORCLPDB1"]);
    assert_eq!((exit, r["level"].as_str(), code(&r).as_str()), (1, Some("speaks"), "oracle.redirected"), "{r:#}");
    assert!(warnings(&r).contains(&"oracle.redirect_unresolvable".to_owned()), "{r:#}");
    let (exit, r) = check(s.port(), &["--service-name", "ORCLPDB1", "--follow-redirects"]);
    assert_eq!(
        (exit, r["level"].as_str(), code(&r).as_str()),
        (1, Some("speaks"), "oracle.redirect_unreachable"),
        "{r:#}"
    );
    assert_eq!(r["facts"]["oracle_redirect"]["address"], "db-internal.invalid:1522");
    assert!(warnings(&r).contains(&"oracle.redirect_unresolvable".to_owned()), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("db-internal.invalid:1522"), "{r:#}");

    // A redirect that only loops back to the listener itself is cut short.
    let l = listener();
    let port = l.local_addr().unwrap().port();
    let _looping = serve(async move {
        oracle::serve(
            l,
            OracleMode::Listener(ListenerConfig {
                redirect: Some(("127.0.0.1".into(), port)),
                ..ListenerConfig::default()
            }),
        )
    });
    let (exit, r) = check(port, &["--service-name", "ORCLPDB1"]);
    assert_eq!((exit, code(&r).as_str()), (1, "oracle.redirect_loop"), "{r:#}");
}

#[test]
fn a_tcps_listener_over_tls() {
    let pki = portproof_testbeds::pki::Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.write_to(dir.path()).unwrap().ca;
    let l = listener();
    let s = serve(async { oracle::serve_tls(l, OracleMode::Listener(ListenerConfig::default()), pki.server_config()) });
    let (exit, r) = check(s.port(), &["--tls", "--ca", ca.to_str().unwrap(), "--service-name", "ORCLPDB1"]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["tls_verified"], true, "{r:#}");
    assert_eq!(r["facts"]["oracle_listener_version"], "19.0.0.0.0");
    // Without the CA the certificate's failure is the verdict, before any TNS.
    let (exit, r) = check(s.port(), &["--tls", "--service-name", "ORCLPDB1"]);
    assert_eq!((exit, code(&r).as_str()), (1, "tls.cert_unknown_ca"), "{r:#}");
}

#[test]
fn other_protocols_on_an_oracle_check_are_named() {
    let at = |s: &portproof_testbeds::Server| s.port();
    let http = serve(async {
        hostile::greeter(
            portproof_testbeds::bind_any().await.unwrap(),
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
        )
    });
    let (exit, r) = check(at(&http), &[]);
    assert_eq!(
        (exit, code(&r).as_str(), r["identified"].as_str(), r["level"].as_str()),
        (1, "proto.mismatch", Some("http"), Some("open")),
        "{r:#}"
    );

    let pki = portproof_testbeds::pki::Pki::new();
    let tls = serve(async { hostile::tls_server(portproof_testbeds::bind_any().await.unwrap(), pki.server_config()) });
    let (exit, r) = check(at(&tls), &[]);
    assert_eq!((exit, code(&r).as_str(), r["identified"].as_str()), (1, "proto.mismatch", Some("tls")), "{r:#}");
    assert!(r["failure"]["hint"].as_str().unwrap().contains("over: tls"), "{r:#}");

    let ssh =
        serve(async { hostile::greeter(portproof_testbeds::bind_any().await.unwrap(), b"SSH-2.0-OpenSSH_9.6\r\n") });
    let (_, r) = check(at(&ssh), &[]);
    assert_eq!((code(&r).as_str(), r["identified"].as_str()), ("proto.mismatch", Some("ssh")), "{r:#}");
}

#[test]
fn hostile_peers_on_an_oracle_check() {
    let at = |s: &portproof_testbeds::Server| format!("127.0.0.1:{}", s.port());
    let args = |target: &str, timeout: &'static str| -> Vec<String> {
        ["check", target, "-e", "oracle", "--service-name", "ORCLPDB1", "--timeout", timeout, "-f", "json"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    };
    let run_within = |target: &str, timeout: &'static str| {
        let a = args(target, timeout);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        portproof_within(&a, BOUND)
    };

    let silent = serve(async { hostile::silent(portproof_testbeds::bind_any().await.unwrap()) });
    let run = run_within(&at(&silent), "1s");
    assert_eq!((code(&run.result()).as_str(), run.result()["level"].as_str()), ("request.timeout", Some("open")));
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);

    let garbage = serve(async { hostile::endless_garbage(portproof_testbeds::bind_any().await.unwrap()) });
    let run = run_within(&at(&garbage), "5s");
    let r = run.result();
    assert_eq!((code(&r).as_str(), r["level"].as_str()), ("oracle.malformed", Some("open")), "{r:#}");
    assert!(run.elapsed < Duration::from_secs(7), "{:?}", run.elapsed);

    // A header claiming 65535 bytes, more than the SDU the probe asked for: refused at once.
    let liar = responder(OracleMode::LyingLength);
    let run = run_within(&at(&liar), "5s");
    let r = run.result();
    assert_eq!((code(&r).as_str(), r["level"].as_str()), ("oracle.malformed", Some("open")), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("65535"), "{r:#}");
    assert!(run.elapsed < Duration::from_secs(7), "{:?}", run.elapsed);

    // A plausible length the bytes never fill: the deadline ends it.
    let short = responder(OracleMode::ShortPacket);
    let run = run_within(&at(&short), "1s");
    assert_eq!(code(&run.result()), "request.timeout", "{:#}", run.result());
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);

    let past_end = responder(OracleMode::AcceptPastEnd);
    let run = run_within(&at(&past_end), "5s");
    let r = run.result();
    assert_eq!((code(&r).as_str(), r["level"].as_str()), ("oracle.malformed", Some("open")), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("runs past"), "{r:#}");
    assert!(run.elapsed < Duration::from_secs(7), "{:?}", run.elapsed);

    let trickle = serve(async {
        hostile::trickle(
            portproof_testbeds::bind_any().await.unwrap(),
            b"\x00\x0c\x00\x00\x04\x00\x00\x00\x22\x00\x00\x00",
        )
    });
    let run = run_within(&at(&trickle), "1s");
    assert!(code(&run.result()).ends_with(".timeout"), "{:#}", run.result());
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);

    let slam = serve(async { hostile::slam(portproof_testbeds::bind_any().await.unwrap()) });
    let run = run_within(&at(&slam), "5s");
    assert_eq!(code(&run.result()), "oracle.no_response", "{:#}", run.result());

    let closed = serve(hostile::closed_port());
    let (exit, r) = check(closed, &[]);
    assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "tcp.refused", Some("unreachable")), "{r:#}");
}

#[test]
fn oracle_settings_are_checked_before_any_io() {
    let run = portproof(&["check", "127.0.0.1:1521", "-e", "oracle", "--service-name", "A", "--sid", "B"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = portproof(&["check", "127.0.0.1:1521", "-e", "oracle", "--service-name", "x)(COMMAND=stop"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("service_name"), "{}", run.stderr);
    // A service name is a stated criterion: it cannot go to another probe.
    let run = portproof(&["check", "127.0.0.1:5432", "-e", "postgres", "--service-name", "A"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

/// A capture server (answers nothing, records what each connection sent) on `ip`.
fn capture_on(ip: &str) -> (portproof_testbeds::Server, Captured) {
    let captured = Captured::default();
    let mode = OracleMode::Capture(captured.clone());
    let addr = format!("{ip}:0");
    let s = serve(async move { oracle::serve(tokio::net::TcpListener::bind(addr).await.expect("bind"), mode) });
    (s, captured)
}

/// What a capture server received, once the connections it counts have ended.
fn captured(c: &Captured, n: usize) -> Vec<Vec<u8>> {
    for _ in 0..200 {
        if c.lock().unwrap().len() >= n {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    c.lock().unwrap().clone()
}

/// What a hostile listener would have a client carry to the address it redirects to: a
/// listener command, and lines for a text protocol (Redis) listening there.
const HOSTILE_CONNECT_DATA: &str =
    "(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=ORCLPDB1)(COMMAND=stop)))\nCONFIG SET dir /tmp\nSET pwned 1\n";

fn redirecting_to(host: &str, port: u16) -> portproof_testbeds::Server {
    with(ListenerConfig {
        redirect: Some((host.into(), port)),
        redirect_connect_data: Some(HOSTILE_CONNECT_DATA.into()),
        ..ListenerConfig::default()
    })
}

/// The probe's own CONNECT, not the peer's connect data, reached the redirect target.
fn assert_own_connect(got: &[u8], host: &str, port: u16) {
    let text = String::from_utf8_lossy(got);
    assert!(text.contains("(SERVICE_NAME=ORCLPDB1)(CID=(PROGRAM=portproof)"), "{text:?}");
    assert!(text.contains(&format!("(HOST={host})(PORT={port})")), "{text:?}");
    for bad in ["COMMAND", "CONFIG", "pwned", "\n"] {
        assert!(!text.contains(bad), "{bad:?} reached the redirect target: {text:?}");
    }
}

#[test]
fn redirects_leave_the_checked_host_only_when_allowed_and_carry_the_probes_own_connect() {
    // Another loopback address is another host as far as the check knows.
    let (elsewhere, seen) = capture_on("127.0.0.2");
    let s = redirecting_to("127.0.0.2", elsewhere.port());
    let (exit, r) = check(s.port(), &["--service-name", "ORCLPDB1"]);
    assert_eq!((exit, r["level"].as_str(), code(&r).as_str()), (1, Some("speaks"), "oracle.redirected"), "{r:#}");
    let to = &r["facts"]["oracle_redirect"];
    assert_eq!(
        (to["address"].as_str(), to["followed"].as_bool()),
        (Some(&*format!("127.0.0.2:{}", elsewhere.port())), Some(false)),
        "{r:#}"
    );
    assert!(r["failure"]["message"].as_str().unwrap().contains("127.0.0.2"), "{r:#}");
    assert!(r["failure"]["hint"].as_str().unwrap().contains("--follow-redirects"), "{r:#}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(seen.lock().unwrap().is_empty(), "the probe connected to a redirect it was not allowed to follow");

    // With the option it goes there, with its own CONNECT; what fails there is said to be there.
    let (exit, r) = check(s.port(), &["--service-name", "ORCLPDB1", "--follow-redirects"]);
    assert_eq!(
        (exit, r["level"].as_str(), code(&r).as_str()),
        (1, Some("speaks"), "oracle.redirect_target.no_response"),
        "{r:#}"
    );
    assert_eq!(r["facts"]["oracle_redirect"]["followed"], true, "{r:#}");
    assert!(r["identified"].is_null(), "{r:#}");
    assert_eq!(r["facts"]["peer"], format!("127.0.0.1:{}", s.port()), "{r:#}");
    let got = captured(&seen, 1);
    // One connection: no TLS side check at the redirect target.
    assert_eq!(got.len(), 1, "{got:?}");
    assert_own_connect(&got[0], "127.0.0.2", elsewhere.port());

    // The checked host itself is followed by default, and gets the probe's own CONNECT too.
    let (here, seen) = capture_on("127.0.0.1");
    let s = redirecting_to("127.0.0.1", here.port());
    let (exit, r) = check(s.port(), &["--service-name", "ORCLPDB1"]);
    assert_eq!((exit, code(&r).as_str()), (1, "oracle.redirect_target.no_response"), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains(&format!("127.0.0.1:{}", here.port())), "{r:#}");
    let got = captured(&seen, 1);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_own_connect(&got[0], "127.0.0.1", here.port());
}

#[test]
fn redirects_never_lead_to_special_addresses() {
    // 0.0.0.0 reaches this machine: a capture server on loopback would get the connection.
    let (local, seen) = capture_on("127.0.0.1");
    for (host, port, kind) in [
        ("0.0.0.0", local.port(), "unspecified"),
        ("169.254.169.254", 80, "link-local"),
        ("fe80::1", 1521, "link-local"),
        ("224.0.0.1", 1521, "multicast"),
    ] {
        let s = redirecting_to(host, port);
        let run = portproof_within(
            &[
                "check",
                &format!("127.0.0.1:{}", s.port()),
                "-e",
                "oracle",
                "--service-name",
                "ORCLPDB1",
                "--follow-redirects",
                "--timeout",
                "5s",
                "-f",
                "json",
            ],
            BOUND,
        );
        let r = run.result();
        assert_eq!((run.code, code(&r).as_str()), (1, "oracle.redirected"), "{host}: {r:#}");
        assert!(r["failure"]["message"].as_str().unwrap().contains(kind), "{host}: {r:#}");
        assert_eq!(r["facts"]["oracle_redirect"]["followed"], false, "{r:#}");
        assert!(run.elapsed < Duration::from_secs(3), "{host}: {:?}", run.elapsed);
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(seen.lock().unwrap().is_empty(), "a redirect to 0.0.0.0 reached this machine");
}

#[test]
fn failures_at_a_redirect_target_are_not_blamed_on_the_checked_port() {
    let ssh =
        serve(async { hostile::greeter(portproof_testbeds::bind_any().await.unwrap(), b"SSH-2.0-OpenSSH_9.6\r\n") });
    let s = with(ListenerConfig { redirect: Some(("127.0.0.1".into(), ssh.port())), ..ListenerConfig::default() });
    let (exit, r) = check(s.port(), &["--service-name", "ORCLPDB1"]);
    assert_eq!(
        (exit, r["level"].as_str(), code(&r).as_str()),
        (1, Some("speaks"), "oracle.redirect_target.mismatch"),
        "{r:#}"
    );
    assert!(r["identified"].is_null(), "{r:#}");
    assert_eq!(r["facts"]["peer"], format!("127.0.0.1:{}", s.port()), "{r:#}");
    let message = r["failure"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("127.0.0.1:{}", ssh.port())) && message.contains("ssh"), "{r:#}");
    assert!(!r["failure"]["hint"].as_str().unwrap().contains("check the port number"), "{r:#}");

    // A target that never answers: its own timeout, before the deadline's.
    let silent = serve(async { hostile::silent(portproof_testbeds::bind_any().await.unwrap()) });
    let s = with(ListenerConfig { redirect: Some(("127.0.0.1".into(), silent.port())), ..ListenerConfig::default() });
    let run = portproof_within(
        &[
            "check",
            &format!("127.0.0.1:{}", s.port()),
            "-e",
            "oracle",
            "--service-name",
            "ORCLPDB1",
            "--timeout",
            "2s",
            "-f",
            "json",
        ],
        BOUND,
    );
    let r = run.result();
    assert_eq!(code(&r), "oracle.redirect_target.timeout", "{r:#}");
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);

    // Nothing listening there.
    let closed = serve(hostile::closed_port());
    let s = with(ListenerConfig { redirect: Some(("127.0.0.1".into(), closed)), ..ListenerConfig::default() });
    let (exit, r) = check(s.port(), &["--service-name", "ORCLPDB1"]);
    assert_eq!((exit, code(&r).as_str()), (1, "oracle.redirect_unreachable"), "{r:#}");
    assert_eq!(r["facts"]["peer"], format!("127.0.0.1:{}", s.port()), "{r:#}");
}

#[test]
fn a_listener_silent_on_the_version_command_is_still_asked_for_the_service() {
    let s = with(ListenerConfig { version: VersionAnswer::Silent, ..ListenerConfig::default() });
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = ["check", &format!("127.0.0.1:{}", s.port()), "-e", "oracle", "-f", "json"]
            .iter()
            .map(|x| x.to_string())
            .collect();
        a.extend(extra.iter().map(|x| (*x).to_owned()));
        a
    };
    let a = args(&["--service-name", "ORCLPDB1", "--timeout", "5s"]);
    let run = portproof_within(&a.iter().map(String::as_str).collect::<Vec<_>>(), BOUND);
    let r = run.result();
    assert_eq!((run.code, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["oracle_version_command"], "unanswered", "{r:#}");
    assert!(run.elapsed < Duration::from_secs(3), "{:?}", run.elapsed);

    // Without a service the version command is the check: its silence is the timeout.
    let a = args(&["--timeout", "1s"]);
    let run = portproof_within(&a.iter().map(String::as_str).collect::<Vec<_>>(), BOUND);
    let r = run.result();
    assert_eq!((code(&r).as_str(), r["level"].as_str()), ("request.timeout", Some("open")), "{r:#}");
}
