//! The thrift probe against Apache Thrift's own Python servers (`testbeds/scripts/thrift.sh`:
//! thrift 0.22 from PyPI, in the three stacks and over TLS), and against decoys that must not
//! pass: nginx (HTTP), a silent port, a JDK RMI registry or PostgreSQL, and hostile peers.

use crate::harness::{code, portproof, real_peer, serve};

fn check(port: u16, expect: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let target = format!("127.0.0.1:{port}");
    let mut args = vec!["check", &target, "-e", expect, "-f", "json"];
    if !extra.contains(&"--timeout") {
        args.extend_from_slice(&["--timeout", "5s"]);
    }
    args.extend_from_slice(extra);
    let run = portproof(&args);
    (run.code, run.result())
}

fn thrift_peers() -> bool {
    real_peer("the Python Thrift servers", "127.0.0.1:17611", "bash testbeds/scripts/thrift.sh")
}

const CA: &str = "/tmp/portproof-testbeds/thrift/ca.pem";

#[test]
fn each_stack_of_a_real_thrift_server_is_found_and_healthy() {
    if !thrift_peers() {
        return;
    }
    for (port, protocol, framing) in
        [(17611, "binary", "unframed"), (17612, "binary", "framed"), (17613, "compact", "framed")]
    {
        let (rc, r) = check(port, "thrift", &[]);
        assert_eq!(rc, 0, "{port}: {r}");
        assert_eq!(r["level"], "healthy", "{r}");
        assert_eq!(r["facts"]["thrift_protocol"], protocol, "{r}");
        assert_eq!(r["facts"]["thrift_framing"], framing, "{r}");
        assert_eq!(r["facts"]["thrift_exception"], "UNKNOWN_METHOD", "{r}");
        assert_eq!(r["facts"]["thrift_exception_message"], "Unknown function __portproof_no_such_method", "{r}");
        assert!(r["facts"]["thrift_server_language"].as_str().unwrap().starts_with("Python"), "{r}");
    }
}

#[test]
fn thrifts_goes_through_the_tls_engine() {
    if !thrift_peers() {
        return;
    }
    let (rc, r) = check(17711, "thrifts", &["--ca", CA]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(r["level"], "healthy", "{r}");
    assert_eq!(r["facts"]["tls_verified"], true, "{r}");
    assert_eq!(r["facts"]["thrift_framing"], "unframed", "{r}");
    // Without the CA the chain does not verify: that fails the check, whatever Thrift says.
    let (rc, r) = check(17711, "thrifts", &[]);
    assert_eq!(rc, 1, "{r}");
    assert!(code(&r).starts_with("tls.cert_"), "{r}");
    // Plain Thrift to the TLS port is named as a TLS port.
    let (rc, r) = check(17711, "thrift", &[]);
    assert_eq!(rc, 1, "{r}");
    assert_eq!(code(&r), "proto.mismatch", "{r}");
    assert_eq!(r["identified"], "tls", "{r}");
}

#[test]
fn decoys_never_pass() {
    // An HTTP server answers the binary call with a 400: named, not passed.
    let gw = crate::harness::gateway();
    let http = gw.port(8088).expect("the gateway serves 8088");
    let (rc, r) = check(http, "thrift", &[]);
    assert_eq!((rc, r["level"].as_str()), (1, Some("open")), "{r}");
    assert_eq!(code(&r), "proto.mismatch", "{r}");
    // A silent port: each attempt waits its share and the verdict comes within the deadline.
    let silent = serve(async { portproof_testbeds::hostile::silent(portproof_testbeds::bind_any().await.unwrap()) });
    let (rc, r) = check(silent.port(), "thrift", &["--timeout", "3s"]);
    assert_eq!((rc, r["level"].as_str()), (1, Some("open")), "{r}");
    assert_eq!(code(&r), "thrift.no_response", "{r}");
    // Garbage.
    let garbage =
        serve(async { portproof_testbeds::hostile::endless_garbage(portproof_testbeds::bind_any().await.unwrap()) });
    let (rc, r) = check(garbage.port(), "thrift", &[]);
    assert_eq!((rc, r["level"].as_str()), (1, Some("open")), "{r}");
    if real_peer("nginx", "127.0.0.1:18080", "bash testbeds/scripts/nginx.sh") {
        let (rc, r) = check(18080, "thrift", &[]);
        assert_eq!((rc, code(&r).as_str()), (1, "proto.mismatch"), "{r}");
        assert_eq!(r["identified"], "http", "{r}");
    }
    // Another binary protocol's server: the JDK's RMI registry closes on the call.
    if real_peer("the JDK RMI peer", "127.0.0.1:11099", "bash testbeds/scripts/java.sh") {
        let (rc, r) = check(11099, "thrift", &[]);
        assert_eq!((rc, r["level"].as_str()), (1, Some("open")), "{r}");
    }
}
