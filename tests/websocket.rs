//! The websocket probe against Python's websockets 15.0.1 and nginx proxying it over TLS
//! (`testbeds/scripts/websocket.sh`), and against decoys that must not pass.

use crate::harness::{code, portproof, real_peer, serve};

fn check(target: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["check", target, "-f", "json"];
    if !extra.contains(&"--timeout") {
        args.extend_from_slice(&["--timeout", "5s"]);
    }
    args.extend_from_slice(extra);
    let run = portproof(&args);
    (run.code, run.result())
}

fn ws_peer() -> bool {
    real_peer("the websockets server", "127.0.0.1:19099", "bash testbeds/scripts/websocket.sh")
}

const CA: &str = "/tmp/portproof-testbeds/websocket/ca.pem";

#[test]
fn a_real_websocket_server_upgrades_and_closes() {
    if !ws_peer() {
        return;
    }
    let (rc, r) = check("ws://127.0.0.1:19099/echo", &[]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(r["level"], "healthy", "{r}");
    assert_eq!(r["facts"]["websocket_accept_ok"], true, "{r}");
    assert_eq!(r["facts"]["websocket_close_code"], 1000, "{r}");
    assert_eq!(r["facts"]["http_server"], "Python/3.11 websockets/15.0.1", "{r}");
    // The same with -e and --path.
    let (rc, r) = check("127.0.0.1:19099", &["-e", "websocket", "--path", "/echo"]);
    assert_eq!((rc, r["level"].as_str()), (0, Some("healthy")), "{r}");
}

#[test]
fn refusals_are_decoded() {
    if !ws_peer() {
        return;
    }
    let (rc, r) = check("ws://127.0.0.1:19099/token", &[]);
    assert_eq!((rc, code(&r).as_str(), r["level"].as_str()), (1, "auth.no_credentials", Some("open")), "{r}");
    assert!(r["failure"]["hint"].as_str().unwrap().contains("Bearer"), "{r}");
    assert_eq!(r["facts"]["http_www_authenticate"], "Bearer realm=\"portproof\"", "{r}");
    let (rc, r) = check("ws://127.0.0.1:19099/token", &["--header", "Authorization: Bearer wrong"]);
    assert_eq!((rc, code(&r).as_str()), (1, "auth.rejected"), "{r}");
    let (rc, r) = check("ws://127.0.0.1:19099/forbidden", &[]);
    assert_eq!((rc, code(&r).as_str()), (1, "auth.no_credentials"), "{r}");
    let (rc, r) = check("ws://127.0.0.1:19099/nowhere", &[]);
    assert_eq!((rc, code(&r).as_str()), (1, "websocket.not_found"), "{r}");
}

#[test]
fn wss_through_nginx_and_the_tls_engine() {
    if !real_peer("nginx (wss)", "127.0.0.1:19443", "bash testbeds/scripts/websocket.sh") || !ws_peer() {
        return;
    }
    let (rc, r) = check("wss://127.0.0.1:19443/echo", &["--ca", CA]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(r["level"], "healthy", "{r}");
    assert_eq!(r["facts"]["tls_verified"], true, "{r}");
    let (rc, r) = check("wss://127.0.0.1:19443/echo", &[]);
    assert_eq!(rc, 1, "an unverified chain fails: {r}");
    assert!(code(&r).starts_with("tls.cert_"), "{r}");
    // ws:// to the TLS port: nginx answers plain HTTP with its 400, named as a TLS port.
    let (rc, r) = check("ws://127.0.0.1:19443/echo", &[]);
    assert_eq!((rc, code(&r).as_str(), r["level"].as_str()), (1, "proto.mismatch", Some("open")), "{r}");
    assert_eq!(r["identified"], "tls", "{r}");
}

#[test]
fn decoys_never_pass() {
    // An HTTP server that answers 200 to anything is not a WebSocket endpoint.
    let gw = crate::harness::gateway();
    let http = gw.port(8088).expect("the gateway serves 8088");
    let (rc, r) = check(&format!("ws://127.0.0.1:{http}/"), &[]);
    assert_eq!((rc, r["level"].as_str()), (1, Some("open")), "{r}");
    assert!(code(&r).starts_with("websocket.not_upgraded.") || code(&r) == "websocket.not_found", "{r}");
    let silent = serve(async { portproof_testbeds::hostile::silent(portproof_testbeds::bind_any().await.unwrap()) });
    let (rc, r) = check(&format!("ws://127.0.0.1:{}/", silent.port()), &["--timeout", "2s"]);
    assert_eq!((rc, code(&r).as_str()), (1, "request.timeout"), "{r}");
    if real_peer("nginx", "127.0.0.1:18080", "bash testbeds/scripts/nginx.sh") {
        let (rc, r) = check("ws://127.0.0.1:18080/", &[]);
        assert_eq!(
            (rc, code(&r).as_str(), r["level"].as_str()),
            (1, "websocket.not_upgraded.200", Some("open")),
            "{r}"
        );
    }
    if real_peer("the JDK RMI peer", "127.0.0.1:11099", "bash testbeds/scripts/java.sh") {
        let (rc, r) = check("ws://127.0.0.1:11099/", &[]);
        assert_eq!((rc, r["level"].as_str()), (1, Some("open")), "{r}");
    }
}
