//! The http probe against a real nginx (started by `testbeds/scripts/nginx.sh`).

use crate::harness::{code, portproof, real_peer};

const HTTP: &str = "127.0.0.1:18080";
const HTTPS: &str = "127.0.0.1:18443";
const START: &str = "bash testbeds/scripts/nginx.sh";

fn ca() -> String {
    let state = std::env::var("PORTPROOF_STATE").unwrap_or_else(|_| "/tmp/portproof-testbeds".into());
    format!("{state}/nginx/ca.pem")
}

#[test]
fn nginx_status_ping_states() {
    if !real_peer("nginx", HTTP, START) {
        return;
    }
    let run =
        portproof(&["check", &format!("http://{HTTP}/StatusPing"), "--json-field", "state=RUNNING", "-f", "json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let r = run.result();
    assert_eq!(r["level"], "healthy");
    assert!(r["facts"]["server"].as_str().unwrap().starts_with("nginx"));

    let r = portproof(&[
        "check",
        &format!("http://{HTTP}/faulted/StatusPing"),
        "--json-field",
        "state=RUNNING",
        "-f",
        "json",
    ])
    .result();
    assert_eq!(code(&r), "http.unhealthy_state");
    assert_eq!(r["level"], "speaks");

    let r = portproof(&["check", &format!("http://{HTTP}/error"), "--require", "healthy", "-f", "json"]).result();
    assert_eq!(code(&r), "http.status");

    let r = portproof(&["check", &format!("http://{HTTP}/redirect"), "--json-field", "state=RUNNING", "-f", "json"])
        .result();
    assert_eq!(r["level"], "healthy");
    assert_eq!(r["facts"]["redirects"][0]["status"], 302);
}

#[test]
fn nginx_https_with_its_ca() {
    if !real_peer("nginx (TLS)", HTTPS, START) {
        return;
    }
    let ca = ca();
    let run = portproof(&[
        "check",
        &format!("https://{HTTPS}/StatusPing"),
        "--ca",
        &ca,
        "--json-field",
        "state=RUNNING",
        "-f",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let r = run.result();
    assert_eq!(r["level"], "healthy");
    assert_eq!(r["facts"]["tls_chain_length"], 2);

    let r = portproof(&["check", &format!("https://{HTTPS}/StatusPing"), "-f", "json"]).result();
    assert_eq!(code(&r), "tls.cert_unknown_ca");
}

#[test]
fn nginx_wrong_layer_is_identified_both_ways() {
    if !real_peer("nginx", HTTPS, START) {
        return;
    }
    // Plain HTTP to the TLS port: nginx answers 400 "plain HTTP request was sent to HTTPS port".
    let r = portproof(&["check", HTTPS, "--expect", "http", "-f", "json"]).result();
    assert_eq!(r["identified"], "tls", "{r:#}");
    assert_eq!(code(&r), "proto.mismatch");
    // TLS to the plain port: nginx answers our ClientHello with an HTTP 400.
    let r = portproof(&["check", HTTP, "--expect", "https", "-f", "json"]).result();
    assert_eq!(r["identified"], "http", "{r:#}");
    assert_eq!(code(&r), "tls.not_tls");
}
