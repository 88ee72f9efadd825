//! The `opcua` probe against async-opcua's server (`testbeds/src/opcua.rs`), hand-written
//! peers that answer with `ERR` or refuse SecurityPolicy None, hostile peers (each a verdict
//! within the deadline, with bounded memory), and Python's asyncua server, a real independent
//! implementation started by `testbeds/scripts/opcua.sh`.

use std::time::Duration;

use portproof_testbeds::opcua::{self, OpcuaConfig, OpcuaMode};
use portproof_testbeds::pki::Pki;
use portproof_testbeds::{Server, hostile};
use serde_json::Value;

use crate::harness::{code, listener, portproof, portproof_within, real_peer, serve};

/// The data-segment limit of hostile-peer runs (see tests/http.rs).
const BOUND: u64 = 64 << 20;
/// Where testbeds/scripts/opcua.sh starts the asyncua server.
const ASYNCUA: &str = "127.0.0.1:14840";
/// And the asyncua discovery server the first one registers with.
const ASYNCUA_LDS: &str = "127.0.0.1:14841";

fn on(mode: OpcuaMode) -> Server {
    let l = listener();
    serve(async { opcua::serve(l, mode) })
}

fn at(s: &Server) -> String {
    format!("127.0.0.1:{}", s.port())
}

fn check(target: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["check", target, "-e", "opcua", "-f", "json"];
    args.extend_from_slice(extra);
    let run = portproof(&args);
    (run.code, run.result())
}

fn warnings(r: &Value) -> Vec<String> {
    r["warnings"]
        .as_array()
        .map(|w| w.iter().map(|w| w["code"].as_str().unwrap_or("").to_owned()).collect())
        .unwrap_or_default()
}

fn policies(r: &Value) -> Vec<String> {
    let mut p: Vec<String> = r["facts"]["opcua_endpoints"]
        .as_array()
        .unwrap_or_else(|| panic!("no endpoints: {r:#}"))
        .iter()
        .map(|e| format!("{}/{}", e["security_policy"].as_str().unwrap(), e["security_mode"].as_str().unwrap()))
        .collect();
    p.sort();
    p
}

#[test]
fn async_opcua_server_lists_its_endpoints_certificate_and_itself() {
    let s = on(OpcuaMode::Server(OpcuaConfig::default()));
    let (exit, r) = check(&at(&s), &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(policies(&r), ["Basic256Sha256/SignAndEncrypt", "None/None"], "{r:#}");
    let f = &r["facts"];
    assert_eq!(f["opcua_protocol_version"], 0);
    assert!(f["opcua_receive_buffer"].as_u64().unwrap() >= 8192, "{r:#}");
    assert_eq!(f["opcua_endpoints"][0]["user_tokens"][0], "anonymous", "{r:#}");
    assert_eq!(f["opcua_application"]["name"], opcua::APPLICATION_NAME, "{r:#}");
    assert_eq!(f["opcua_application"]["uri"], opcua::APPLICATION_URI, "{r:#}");
    let cert = &f["opcua_certificate"];
    assert_eq!(cert["thumbprint"].as_str().map(str::len), Some(40), "a SHA-1 thumbprint: {r:#}");
    assert!(cert["days_left"].as_i64().unwrap() > 30, "{r:#}");
    assert!(cert["subject"].as_str().is_some_and(|s| !s.is_empty()), "{r:#}");
    let servers = f["opcua_servers"].as_array().unwrap_or_else(|| panic!("no FindServers: {r:#}"));
    assert_eq!(servers[0]["name"], opcua::APPLICATION_NAME, "{r:#}");
    assert!(servers[0]["discovery_urls"][0].as_str().unwrap().starts_with("opc.tcp://127.0.0.1:"), "{r:#}");
    assert!(!warnings(&r).contains(&"opcua.security_none_only".to_owned()), "{r:#}");
    assert!(!warnings(&r).contains(&"opcua.endpoint_url_mismatch".to_owned()), "{r:#}");
}

#[test]
fn none_only_and_unusable_host_names_are_warned() {
    let s = on(OpcuaMode::Server(OpcuaConfig {
        secured: false,
        advertised_host: Some("plc-17.portproof.invalid".into()),
        ..Default::default()
    }));
    let (exit, r) = check(&at(&s), &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(policies(&r), ["None/None"], "{r:#}");
    let w = warnings(&r);
    assert!(w.contains(&"opcua.security_none_only".to_owned()), "{r:#}");
    assert!(w.contains(&"opcua.endpoint_url_mismatch".to_owned()), "{r:#}");
    let text = r["warnings"].to_string();
    assert!(text.contains("plc-17.portproof.invalid"), "the warning names the host: {r:#}");
}

#[test]
fn a_secured_only_server_still_lists_its_endpoints() {
    // async-opcua, like most stacks, allows SecurityPolicy None for discovery even when no
    // session endpoint offers it (OPC 10000-4 5.4.4: GetEndpoints needs no security).
    let s = on(OpcuaMode::Server(OpcuaConfig { none: false, ..Default::default() }));
    let (exit, r) = check(&at(&s), &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(policies(&r), ["Basic256Sha256/SignAndEncrypt"], "{r:#}");
    assert!(!warnings(&r).contains(&"opcua.security_none_only".to_owned()), "{r:#}");
}

#[test]
fn an_err_answer_names_its_status_code() {
    let s = on(OpcuaMode::HelloError(opcua::BAD_TCP_ENDPOINT_URL_INVALID, "no such endpoint"));
    let (exit, r) = check(&at(&s), &[]);
    // The ERR proves OPC UA: `speaks`, which meets the default requirement.
    assert_eq!((exit, r["level"].as_str()), (0, Some("speaks")), "{r:#}");
    assert_eq!(code(&r), "opcua.err.Bad_TcpEndpointUrlInvalid", "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("no such endpoint"), "{r:#}");
    assert!(r["failure"]["hint"].as_str().unwrap().contains("endpoint_url"), "{r:#}");
    // The endpoint URL option reaches the Hello: a peer records the bytes it receives.
    use std::sync::{Arc, Mutex};
    use tokio::io::AsyncReadExt;
    let l = listener();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let task = crate::harness::rt().spawn(async move {
        if let Ok((mut c, _)) = l.accept().await {
            let mut buf = [0u8; 1024];
            if let Ok(n) = c.read(&mut buf).await {
                record.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        }
    });
    let (_, r) = check(&format!("127.0.0.1:{port}"), &["--endpoint-url", "/discovery", "--timeout", "2s"]);
    task.abort();
    assert!(r["facts"]["opcua_endpoint_url"].as_str().unwrap().ends_with("/discovery"), "{r:#}");
    let hello = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(hello.starts_with("HELF") && hello.contains(&format!("127.0.0.1:{port}/discovery")), "{hello:?}");
}

#[test]
fn a_server_refusing_none_for_discovery_stays_speaks() {
    let s = on(OpcuaMode::RefuseNone);
    let (exit, r) = check(&at(&s), &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("speaks")), "{r:#}");
    assert_eq!(code(&r), "opcua.status.Bad_SecurityPolicyRejected", "{r:#}");
    // Asked for healthy, the same server fails the check.
    let (exit, _) = check(&at(&s), &["--require", "healthy"]);
    assert_eq!(exit, 1);
    assert_eq!(r["facts"]["opcua_receive_buffer"], 65535, "the Acknowledge was recorded: {r:#}");
}

#[test]
fn an_err_on_the_discovery_connection_names_its_status_code() {
    // The Hello connection is acknowledged; by the discovery connection the server is full.
    let s = on(OpcuaMode::BusyAfterFirst(0x807D_0000, "too many clients"));
    let (exit, r) = check(&at(&s), &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("speaks")), "{r:#}");
    assert_eq!(code(&r), "opcua.err.Bad_TcpServerTooBusy", "{r:#}");
    assert_eq!(r["failure"]["phase"], "request", "{r:#}");
    let message = r["failure"]["message"].as_str().unwrap();
    assert!(message.contains("discovery connection") && message.contains("too many clients"), "{r:#}");
    assert_eq!(r["facts"]["opcua_error"]["code"], "0x807D0000", "{r:#}");

    // An ERR longer than the connection's recorded head (2 KiB) is still named, its reason cut.
    let long: &'static str = Box::leak("too many clients; ".repeat(200).into_boxed_str());
    let s = on(OpcuaMode::BusyAfterFirst(0x807D_0000, long));
    let (_, r) = check(&at(&s), &[]);
    assert_eq!(code(&r), "opcua.err.Bad_TcpServerTooBusy", "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("(cut short)"), "{r:#}");
}

#[test]
fn other_protocols_on_the_port_are_named() {
    let web = {
        let l = listener();
        serve(async { portproof_testbeds::http::serve(l, portproof_testbeds::http::GatewayState::new("RUNNING")) })
    };
    let (exit, r) = check(&at(&web), &[]);
    assert_eq!((exit, r["level"].as_str()), (1, Some("open")), "{r:#}");
    assert_eq!((code(&r).as_str(), r["identified"].as_str()), ("proto.mismatch", Some("http")), "{r:#}");

    let tls = {
        let l = listener();
        serve(async { hostile::tls_server(l, Pki::new().server_config()) })
    };
    let run = portproof_within(&["check", &at(&tls), "-e", "opcua", "--timeout", "5s", "-f", "json"], BOUND);
    let r = run.result();
    assert_eq!((run.code, r["level"].as_str()), (1, Some("open")), "{r:#}");
    assert_eq!(r["identified"].as_str(), Some("tls"), "{r:#}");
}

#[test]
fn hostile_peers_end_in_a_verdict_within_the_deadline() {
    let margin = Duration::from_secs(3);
    let timed = |s: &Server, timeout: &str| {
        let run = portproof_within(&["check", &at(s), "-e", "opcua", "--timeout", timeout, "-f", "json"], BOUND);
        let deadline = humantime::parse_duration(timeout).unwrap();
        assert!(run.elapsed < deadline + margin, "ended before deadline + margin: {:?}", run.elapsed);
        (run.code, run.result())
    };
    let silent = serve(async { hostile::silent(portproof_testbeds::bind_any().await.unwrap()) });
    let (exit, r) = timed(&silent, "1s");
    assert_eq!((exit, code(&r).as_str()), (1, "greeting.timeout"), "{r:#}");

    let garbage = serve(async { hostile::endless_garbage(portproof_testbeds::bind_any().await.unwrap()) });
    let (exit, r) = timed(&garbage, "5s");
    assert_eq!((exit, r["level"].as_str()), (1, Some("open")), "{r:#}");
    assert!(["opcua.malformed", "proto.mismatch"].contains(&code(&r).as_str()), "{r:#}");

    let long = on(OpcuaMode::AbsurdLength);
    let (exit, r) = timed(&long, "5s");
    assert_eq!((exit, code(&r).as_str()), (1, "opcua.malformed"), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("4294967280"), "{r:#}");

    let absurd = on(OpcuaMode::AbsurdAck);
    let (exit, r) = timed(&absurd, "5s");
    assert_eq!((exit, r["level"].as_str(), code(&r).as_str()), (0, Some("speaks"), "opcua.bad_acknowledge"), "{r:#}");

    let ack: &'static [u8] =
        b"ACKF\x1c\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
    let trickle = serve(async { hostile::trickle(portproof_testbeds::bind_any().await.unwrap(), ack) });
    let (exit, r) = timed(&trickle, "2s");
    assert_eq!((exit, code(&r).as_str()), (1, "greeting.timeout"), "{r:#}");

    let slam = serve(async { hostile::slam(portproof_testbeds::bind_any().await.unwrap()) });
    let (exit, r) = timed(&slam, "5s");
    assert_eq!((exit, code(&r).as_str()), (1, "opcua.no_response"), "{r:#}");
}

#[test]
fn tls_over_opcua_is_a_configuration_error() {
    let run = portproof(&["check", "127.0.0.1:4840", "-e", "opcua", "--tls", "-f", "json"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
}

#[test]
fn python_asyncua_server_is_discovered() {
    if !real_peer("the asyncua OPC UA server", ASYNCUA, "bash testbeds/scripts/opcua.sh") {
        return;
    }
    let (exit, r) = check(ASYNCUA, &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(policies(&r), ["Basic256Sha256/SignAndEncrypt", "None/None"], "{r:#}");
    let f = &r["facts"];
    assert_eq!(f["opcua_max_chunk_count"], 1601, "asyncua's Acknowledge: {r:#}");
    assert_eq!(f["opcua_application"]["name"], "portproof asyncua testbed", "{r:#}");
    assert_eq!(f["opcua_application"]["uri"], "urn:portproof:asyncua-testbed", "{r:#}");
    let cert = &f["opcua_certificate"];
    assert!(cert["subject"].as_str().unwrap().contains("portproof asyncua testbed"), "{r:#}");
    assert_eq!(cert["application_uri"], "urn:portproof:asyncua-testbed", "{r:#}");
    assert!(cert["days_left"].as_i64().unwrap() > 30, "a one-year certificate: {r:#}");
    let servers = f["opcua_servers"].as_array().unwrap_or_else(|| panic!("no FindServers: {r:#}"));
    assert!(servers.iter().any(|s| s["name"] == "portproof asyncua testbed"), "{r:#}");
    assert!(!warnings(&r).contains(&"opcua.security_none_only".to_owned()), "{r:#}");
}

#[test]
fn server_status_is_read_when_asked() {
    let s = on(OpcuaMode::Server(OpcuaConfig::default()));
    let (exit, r) = check(&at(&s), &["--read-status"]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["opcua_server_status"]["state"], "Running", "{r:#}");

    // Secured endpoints only: discovery works, the anonymous None session the read needs does not.
    let s = on(OpcuaMode::Server(OpcuaConfig { none: false, ..Default::default() }));
    let (exit, r) = check(&at(&s), &["--read-status"]);
    assert_eq!((exit, r["level"].as_str(), code(&r).as_str()), (1, Some("speaks"), "opcua.status_unreadable"), "{r:#}");
}

#[test]
fn python_asyncua_server_status() {
    if !real_peer("the asyncua OPC UA server", ASYNCUA, "bash testbeds/scripts/opcua.sh") {
        return;
    }
    let (exit, r) = check(ASYNCUA, &["--read-status"]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    let st = &r["facts"]["opcua_server_status"];
    assert_eq!(st["state"], "Running", "{r:#}");
    assert_eq!(st["product"], "FreeOpcUa Python Server", "{r:#}");
    assert_eq!(st["manufacturer"], "FreeOpcUa", "{r:#}");
    assert!(st["software_version"].as_str().is_some_and(|v| !v.is_empty()), "{r:#}");
}

#[test]
fn python_asyncua_discovery_server_lists_what_registered() {
    if !real_peer("the asyncua discovery server", ASYNCUA_LDS, "bash testbeds/scripts/opcua.sh") {
        return;
    }
    let (exit, r) = check(ASYNCUA_LDS, &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    let servers = r["facts"]["opcua_servers"].as_array().unwrap_or_else(|| panic!("no FindServers: {r:#}"));
    let lds = servers.iter().find(|s| s["name"] == "portproof asyncua LDS").unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(lds["type"], "DiscoveryServer", "{r:#}");
    let registered =
        servers.iter().find(|s| s["uri"] == "urn:portproof:asyncua-testbed").unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(registered["discovery_urls"][0], "opc.tcp://127.0.0.1:14840", "{r:#}");
    // None only, and a certificate made to expire within 10 days.
    let w = warnings(&r);
    assert!(w.contains(&"opcua.security_none_only".to_owned()), "{r:#}");
    assert!(w.contains(&"opcua.cert_expiring".to_owned()), "{r:#}");
    assert!(r["facts"]["opcua_certificate"]["days_left"].as_i64().unwrap() <= 10, "{r:#}");
}

/// A port whose first `pass` connections go to `to` and whose next one is closed after its
/// first bytes: a server that drops the session connection (at its connection limit, say).
fn drops_after(pass: usize, to: u16) -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::AsyncReadExt;
    let l = listener();
    let port = l.local_addr().unwrap().port();
    let task = crate::harness::rt().spawn(async move {
        let mut n = 0;
        while let Ok((mut c, _)) = l.accept().await {
            n += 1;
            if n > pass {
                // Read the Hello and the OpenSecureChannel, then hang up.
                let mut buf = [0u8; 4096];
                let _ = tokio::time::timeout(Duration::from_millis(300), async {
                    while matches!(c.read(&mut buf).await, Ok(k) if k > 0) {}
                })
                .await;
                continue;
            }
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
fn a_server_that_drops_the_session_connection_is_a_verdict_not_a_crash() {
    let s = on(OpcuaMode::Server(OpcuaConfig::default()));
    // Hello and discovery pass; the session connection for --read-status is dropped.
    let (port, task) = drops_after(2, s.port());
    let (exit, r) = check(&format!("127.0.0.1:{port}"), &["--read-status", "--timeout", "5s"]);
    task.abort();
    assert_eq!(exit, 1, "{r:#}");
    assert_ne!(code(&r), "run.panic", "{r:#}");
    assert_eq!(r["level"], "speaks", "discovery proved OPC UA: {r:#}");
    assert!(r["facts"]["opcua_endpoints"].as_array().is_some_and(|e| !e.is_empty()), "{r:#}");
}
