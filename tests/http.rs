//! The tcp and http probes through the binary, against in-process testbeds: every answer the
//! http probe grades, and the hostile peers that must end in a verdict within the deadline.

use std::time::Duration;

use portproof_testbeds::hostile;
use portproof_testbeds::http::{GatewayState, routes, serve as serve_app};

use crate::harness::{code, gateway, listener, portproof, portproof_within, serve};

/// The data-segment limit hostile-peer tests run under: about 14 times what the binary needs
/// (4.6 MB measured), far below what buffering an endless stream for seconds would take.
const BOUND: u64 = 64 << 20;

fn app(state: &str) -> portproof_testbeds::Server {
    let l = listener();
    serve(async { serve_app(l, GatewayState::new(state)) })
}

fn url(s: &portproof_testbeds::Server, path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", s.port())
}

#[test]
fn status_ping_running_is_healthy() {
    let s = app("RUNNING");
    let run = portproof(&["check", &url(&s, routes::STATUS_PING), "--json-field", "state=RUNNING", "-f", "json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let r = run.result();
    assert_eq!(r["level"], "healthy");
    assert_eq!(r["require"], "healthy", "a stated criterion raises the requirement");
    assert_eq!(r["ok"], true);
    assert_eq!(r["facts"]["json_value"], "RUNNING");
    assert_eq!(r["facts"]["http_status"], 200);
    let phases: Vec<&str> = r["phases"].as_array().unwrap().iter().map(|p| p["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["resolve", "connect", "request", "transfer"]);
}

#[test]
fn status_ping_faulted_speaks_and_fails_naming_the_state() {
    let s = app("RUNNING");
    // The state changes while the server runs, as a gateway's would.
    let state = GatewayState::new("FAULTED");
    let l = listener();
    let faulted = serve(async { serve_app(l, state.clone()) });
    let run = portproof(&["check", &url(&faulted, routes::STATUS_PING), "--json-field", "state=RUNNING", "-f", "json"]);
    assert_eq!(run.code, 1);
    let r = run.result();
    assert_eq!(r["level"], "speaks");
    assert_eq!(code(&r), "http.unhealthy_state");
    assert!(r["failure"]["message"].as_str().unwrap().contains("FAULTED"));
    state.set("RUNNING");
    let run = portproof(&["check", &url(&faulted, routes::STATUS_PING), "--json-field", "state=RUNNING"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    drop(s);
}

#[test]
fn a_500_on_a_stated_path_speaks_and_fails() {
    let s = app("RUNNING");
    let target = url(&s, routes::ERROR);
    // A path of its own states what the check asks for: its status is required (2xx), even
    // when the check says `--require speaks`. The ladder still says HTTP was spoken.
    for extra in [&[][..], &["--require", "speaks"][..]] {
        let run = portproof(&[&["check", target.as_str(), "-f", "json"][..], extra].concat());
        let r = run.result();
        assert_eq!((r["level"].as_str(), r["ok"].as_bool()), (Some("speaks"), Some(false)), "{r:#}");
        assert_eq!((code(&r).as_str(), &r["failure"]["stated"]), ("http.status", &true.into()), "{r:#}");
        assert_eq!(run.code, 1);
    }
    let run = portproof(&["check", &target, "--require", "healthy", "-f", "json"]);
    assert_eq!(run.code, 1);
    assert!(run.result()["failure"]["message"].as_str().unwrap().contains("500"));
    let run = portproof(&["check", &target, "--status", "2xx"]);
    assert_eq!(run.code, 1, "an explicit status criterion must be able to fail");
}

#[test]
fn a_404_on_a_stated_path_fails_and_the_site_root_only_needs_http() {
    let s = app("RUNNING");
    // The false pass: `check http://H/health` answering 404 passed at speaks.
    let run = portproof(&["check", &url(&s, "/health"), "-f", "json"]);
    let r = run.result();
    assert_eq!((run.code, code(&r).as_str(), r["level"].as_str()), (1, "http.status", Some("speaks")), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("404"), "{r:#}");
    // The root names no page: any HTTP answer proves HTTP, a 2xx is health.
    let run = portproof(&["check", &url(&s, "/"), "-f", "json"]);
    assert_eq!((run.code, run.result()["level"].as_str()), (0, Some("healthy")), "{}", run.stdout);
}

#[test]
fn a_closed_port_is_tcp_refused() {
    let port = serve(hostile::closed_port());
    let run = portproof(&["check", &format!("127.0.0.1:{port}"), "--expect", "http", "-f", "json"]);
    assert_eq!(run.code, 1);
    let r = run.result();
    assert_eq!(r["level"], "unreachable");
    assert_eq!(code(&r), "tcp.refused");
    assert_eq!(r["failure"]["phase"], "connect");
    assert!(r["failure"]["hint"].as_str().is_some());
}

#[test]
fn an_unknown_host_is_dns_failed() {
    let run = portproof(&["check", "no-such-host.invalid:80", "--expect", "tcp", "-f", "json"]);
    assert_eq!(run.code, 1);
    assert_eq!(code(&run.result()), "dns.failed");
}

#[test]
fn a_silent_peer_times_out_in_its_phase_within_the_deadline() {
    let s = serve(async { hostile::silent(portproof_testbeds::bind_any().await.unwrap()) });
    let run =
        portproof(&["check", &format!("127.0.0.1:{}", s.port()), "--expect", "http", "--timeout", "1s", "-f", "json"]);
    assert_eq!(run.code, 1);
    let r = run.result();
    assert_eq!(code(&r), "request.timeout");
    assert_eq!(r["level"], "open");
    // Correctness bound, not a benchmark: a hang would blow far past it.
    assert!(run.elapsed < Duration::from_secs(4), "verdict after {:?}", run.elapsed);
}

#[test]
fn a_trickling_peer_ends_at_the_deadline() {
    let s = serve(async { hostile::trickle(portproof_testbeds::bind_any().await.unwrap(), b"HTTP/1.1 200 OK\r\n") });
    let run = portproof(&[
        "check",
        &format!("127.0.0.1:{}", s.port()),
        "--expect",
        "http",
        "--timeout",
        "1500ms",
        "-f",
        "json",
    ]);
    let r = run.result();
    assert_eq!(code(&r), "request.timeout", "{r:#}");
    assert!(run.elapsed < Duration::from_secs(5), "verdict after {:?}", run.elapsed);
}

#[test]
fn an_endless_body_is_cut_with_bounded_memory() {
    let s = app("RUNNING");
    let run = portproof_within(&["check", &url(&s, routes::ENDLESS), "--timeout", "10s", "-f", "json"], BOUND);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.result();
    assert_eq!(r["level"], "healthy");
    assert_eq!(r["warnings"][0]["code"], "http.body_truncated");
    assert_eq!(r["facts"]["body_bytes"], 1 << 20);
    assert!(run.elapsed < Duration::from_secs(8), "the cap ends the read, not the deadline: {:?}", run.elapsed);
}

#[test]
fn endless_garbage_is_named_malformed_with_bounded_memory() {
    let s = serve(async { hostile::endless_garbage(portproof_testbeds::bind_any().await.unwrap()) });
    let run = portproof_within(
        &["check", &format!("127.0.0.1:{}", s.port()), "--expect", "http", "--timeout", "5s", "-f", "json"],
        BOUND,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.result();
    assert_eq!(code(&r), "http.malformed", "{r:#}");
    assert_eq!(r["level"], "open");
}

#[test]
fn a_peer_that_hangs_up_without_a_word_is_no_response() {
    let s = serve(async { hostile::slam(portproof_testbeds::bind_any().await.unwrap()) });
    let run = portproof(&["check", &format!("127.0.0.1:{}", s.port()), "--expect", "http", "-f", "json"]);
    let r = run.result();
    assert_eq!(code(&r), "http.no_response", "{r:#}");
    assert!(r.get("identified").is_none());
}

#[test]
fn a_tls_server_on_an_http_check_is_identified() {
    let pki = portproof_testbeds::pki::Pki::new();
    let s = serve(async { hostile::tls_server(portproof_testbeds::bind_any().await.unwrap(), pki.server_config()) });
    let run = portproof(&["check", &format!("127.0.0.1:{}", s.port()), "--expect", "http", "-f", "json"]);
    assert_eq!(run.code, 1);
    let r = run.result();
    assert_eq!(r["identified"], "tls", "{r:#}");
    assert_eq!(code(&r), "proto.mismatch");
    assert!(r["failure"]["hint"].as_str().unwrap().contains("https"));
}

#[test]
fn redirects_are_followed_on_the_same_host_only() {
    let s = app("RUNNING");
    let run = portproof(&["check", &url(&s, routes::REDIRECT_LOCAL), "--json-field", "state=RUNNING", "-f", "json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let r = run.result();
    assert_eq!(r["facts"]["redirects"][0]["status"], 302);
    assert!(r["facts"]["url"].as_str().unwrap().ends_with("/StatusPing"));

    let r = portproof(&["check", &url(&s, routes::REDIRECT_OFFSITE), "-f", "json"]).result();
    assert_eq!(code(&r), "http.redirect_offsite");
    assert!(r["failure"]["message"].as_str().unwrap().contains("elsewhere.invalid"));

    let r = portproof(&["check", &url(&s, routes::REDIRECT_LOOP), "-f", "json"]).result();
    assert_eq!(code(&r), "http.redirect_loop");

    let run = portproof(&["check", &url(&s, routes::REDIRECT_LOCAL), "--status", "302", "-f", "json"]);
    assert_eq!(run.code, 0, "a redirect the check asks for is the answer, not followed");
    assert!(run.result()["facts"].get("redirects").is_none());
}

#[test]
fn https_through_the_tls_engine() {
    let gw = gateway();
    let dir = tempfile::tempdir().unwrap();
    let files = gw.pki.write_to(dir.path()).unwrap();
    let https = format!("https://127.0.0.1:{}/StatusPing", gw.port(8043).unwrap());
    let ca = files.ca.to_str().unwrap();
    let run = portproof(&["check", &https, "--ca", ca, "--json-field", "state=RUNNING", "-f", "json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let r = run.result();
    assert_eq!(r["level"], "healthy");
    assert_eq!(r["over"], "tls");
    assert_eq!(r["facts"]["tls_version"], "TLS 1.3");
    assert!(r["phases"].as_array().unwrap().iter().any(|p| p["phase"] == "tls"));

    let r = portproof(&["check", &https, "-f", "json"]).result();
    assert_eq!(code(&r), "tls.cert_unknown_ca", "the system store does not know the testbed CA");
    assert_eq!(r["level"], "open");

    let r = portproof(&["check", &https, "--insecure", "-f", "json"]).result();
    assert_eq!(r["level"], "healthy");
    assert_eq!(r["warnings"][0]["code"], "tls.unverified");

    let r = portproof(&["check", &https, "--ca", ca, "--sni", "wrong.example", "-f", "json"]).result();
    assert_eq!(code(&r), "tls.cert_name_mismatch");

    let plain = format!("127.0.0.1:{}", gw.port(8088).unwrap());
    let r = portproof(&["check", &plain, "--expect", "https", "-f", "json"]).result();
    assert_eq!(code(&r), "tls.not_tls");
    assert_eq!(r["identified"], "http", "HTTP on an https target is named");

    let metro = format!("127.0.0.1:{}", gw.port(8060).unwrap());
    let r = portproof(&["check", &metro, "--expect", "https", "--ca", ca, "-f", "json"]).result();
    assert_eq!(code(&r), "tls.client_cert_required", "{r:#}");
}

#[test]
fn tcp_is_open_at_best_and_names_a_greeting() {
    let s =
        serve(async { hostile::greeter(portproof_testbeds::bind_any().await.unwrap(), b"SSH-2.0-OpenSSH_9.6\r\n") });
    // A stated wait, so that a loaded test machine cannot make the adaptive one too short; the
    // greeter keeps the connection open, so the check also shows the wait ends with the banner.
    let target = format!("127.0.0.1:{}", s.port());
    let run = portproof(&["check", &target, "--expect", "tcp", "--greeting", "30s", "--timeout", "60s", "-f", "json"]);
    assert_eq!(run.code, 0);
    let r = run.result();
    assert_eq!((r["level"].as_str(), r["require"].as_str()), (Some("open"), Some("open")));
    assert_eq!(r["identified"], "ssh");
    assert!(r["facts"]["banner"].as_str().unwrap().contains("OpenSSH_9.6"));
    assert!(r["duration_ms"].as_f64().unwrap() < 10_000.0, "the banner ends the wait, not the 30 s: {r:#}");
    let quiet = portproof(&["check", &target, "--expect", "tcp", "--greeting", "0s", "-f", "json"]).result();
    assert_eq!(quiet["level"], "open");
    assert!(quiet["identified"].is_null() && quiet["facts"]["banner"].is_null(), "0s: no listening: {quiet:#}");
    let run = portproof(&["check", &format!("127.0.0.1:{}", s.port()), "--expect", "tcp", "--require", "healthy"]);
    assert_eq!(run.code, 2, "tcp cannot prove healthy: a configuration error, not a failed check");
}

#[test]
fn a_server_that_talks_first_is_not_http() {
    let ssh =
        serve(async { hostile::greeter(portproof_testbeds::bind_any().await.unwrap(), b"SSH-2.0-OpenSSH_9.6\r\n") });
    let r = portproof(&["check", &format!("127.0.0.1:{}", ssh.port()), "--expect", "http", "-f", "json"]).result();
    assert_eq!((r["identified"].as_str(), code(&r).as_str()), (Some("ssh"), "proto.mismatch"), "{r:#}");
    let odd = serve(async { hostile::greeter(portproof_testbeds::bind_any().await.unwrap(), b"\x01\x02hello") });
    // Whether the greeting or our request crosses first, the verdict is the same.
    let r = portproof(&["check", &format!("127.0.0.1:{}", odd.port()), "--expect", "http", "-f", "json"]).result();
    assert_eq!(code(&r), "http.malformed", "{r:#}");
    assert_eq!(r["level"], "open");
}

#[test]
fn https_with_a_client_certificate() {
    let pki = portproof_testbeds::pki::Pki::new();
    let l = listener();
    let s =
        serve(async { portproof_testbeds::http::serve_tls(l, GatewayState::new("RUNNING"), pki.mtls_server_config()) });
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_to(dir.path()).unwrap();
    let target = format!("https://127.0.0.1:{}/StatusPing", s.port());
    let (ca, cert, key) =
        (files.ca.to_str().unwrap(), files.client_cert.to_str().unwrap(), files.client_key.to_str().unwrap());
    let run = portproof(&[
        "check",
        &target,
        "--ca",
        ca,
        "--client-cert",
        cert,
        "--client-key",
        key,
        "--json-field",
        "state=RUNNING",
        "-f",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.result()["level"], "healthy");

    let r = portproof(&["check", &target, "--ca", ca, "-f", "json"]).result();
    assert_eq!(code(&r), "tls.client_cert_required", "{r:#}");
    assert!(r["failure"]["hint"].as_str().unwrap().contains("--client-cert"));
    assert!(
        r["failure"]["message"].as_str().unwrap().contains("CN=portproof testbed CA"),
        "names the CA it accepts: {r:#}"
    );
    assert_eq!(r["facts"]["tls_client_cert_requested"], true);
    assert_eq!(r["facts"]["tls_client_cert_sent"], false);
    assert!(r["facts"]["tls_acceptable_cas"][0].as_str().unwrap().contains("portproof testbed CA"));

    // A certificate from another CA is presented, and rejected by name.
    let stranger = portproof_testbeds::pki::Pki::new();
    let other_dir = tempfile::tempdir().unwrap();
    let other = stranger.write_to(other_dir.path()).unwrap();
    let (ocert, okey) = (other.client_cert.to_str().unwrap(), other.client_key.to_str().unwrap());
    let r =
        portproof(&["check", &target, "--ca", ca, "--client-cert", ocert, "--client-key", okey, "-f", "json"]).result();
    assert_eq!(code(&r), "tls.client_cert_rejected", "{r:#}");
    assert_eq!(r["facts"]["tls_client_cert_sent"], true);

    // A key that does not belong to the certificate is a configuration error, before any I/O.
    let run = portproof(&["check", &target, "--ca", ca, "--client-cert", cert, "--client-key", ca]);
    assert_eq!(run.code, 2, "a CA certificate is not a private key: {}", run.stderr);
    assert!(run.stderr.contains(ca), "{}", run.stderr);
}

#[test]
fn a_server_that_answers_before_the_request_is_judged_the_same_every_time() {
    // Whether its bytes or our request cross first, the verdict must not change.
    let s = serve(async {
        hostile::greeter(
            portproof_testbeds::bind_any().await.unwrap(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        )
    });
    for _ in 0..10 {
        let r = portproof(&["check", &format!("127.0.0.1:{}", s.port()), "--expect", "http", "-f", "json"]).result();
        assert_eq!(r["level"], "healthy", "{r:#}");
    }
}

#[test]
fn a_redirect_to_a_dead_port_keeps_the_evidence_and_names_the_redirect() {
    let dead = serve(hostile::closed_port());
    let answer: &'static [u8] =
        format!("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{dead}/StatusPing\r\nContent-Length: 0\r\n\r\n")
            .into_bytes()
            .leak();
    let s = serve(async { hostile::greeter(portproof_testbeds::bind_any().await.unwrap(), answer) });
    let run = portproof(&["check", &format!("127.0.0.1:{}", s.port()), "--expect", "http", "-f", "json"]);
    let r = run.result();
    assert_eq!(r["level"], "speaks", "the port did answer in HTTP: {r:#}");
    assert_eq!(run.code, 0, "speaks is what the check requires");
    assert_eq!(code(&r), "tcp.refused");
    let msg = r["failure"]["message"].as_str().unwrap();
    assert!(msg.starts_with("after HTTP 302 to http://127.0.0.1:"), "{msg}");
}
