//! The rmi and jmx probes against the JDK's own RMI registry and JMX connector server
//! (`testbeds/scripts/java.sh`), and against decoys that must not pass.

use crate::harness::{code, portproof, real_peer};

fn check(port: u16, expect: &str) -> (i32, serde_json::Value) {
    let target = format!("127.0.0.1:{port}");
    let run = portproof(&["check", &target, "-e", expect, "-f", "json"]);
    (run.code, run.result())
}

fn jdk_peer() -> bool {
    real_peer("the JDK RMI peer", "127.0.0.1:11099", "bash testbeds/scripts/java.sh")
}

#[test]
fn a_jdk_registry_with_jmx_is_healthy_for_both_probes() {
    if !jdk_peer() {
        return;
    }
    for expect in ["rmi", "jmx"] {
        let (rc, r) = check(11099, expect);
        assert_eq!(rc, 0, "{expect}: {r}");
        assert_eq!(r["level"], "healthy", "{r}");
        assert_eq!(r["facts"]["rmi_names"], serde_json::json!(["jmxrmi"]), "{r}");
        assert_eq!(r["facts"]["rmi_client_seen_as"].as_str().unwrap().split(':').next(), Some("127.0.0.1"), "{r}");
    }
}

#[test]
fn a_registry_without_jmx_passes_rmi_and_fails_jmx() {
    if !jdk_peer() {
        return;
    }
    let (rc, r) = check(11097, "rmi");
    assert_eq!((rc, r["level"].as_str()), (0, Some("healthy")), "{r}");
    assert_eq!(r["facts"]["rmi_names"], serde_json::json!(["portproof-hello"]), "{r}");
    let (rc, r) = check(11097, "jmx");
    assert_eq!(rc, 1, "{r}");
    assert_eq!(code(&r), "jmx.not_bound");
    assert_eq!(r["level"], "speaks");
}

#[test]
fn the_jmx_server_port_is_rmi_but_not_a_registry() {
    if !jdk_peer() {
        return;
    }
    let (rc, r) = check(11098, "rmi");
    assert_eq!(rc, 0, "speaks is what rmi requires by default: {r}");
    assert_eq!(r["level"], "speaks");
    assert_eq!(code(&r), "rmi.not_registry");
    assert_eq!(r["facts"]["rmi_registry"], false);
    let (rc, r) = check(11098, "jmx");
    assert_eq!((rc, code(&r).as_str()), (1, "rmi.not_registry"), "{r}");
}

#[test]
fn decoys_never_pass() {
    // nginx (HTTP) and PostgreSQL, when they run; an in-process HTTP gateway always.
    let gw = crate::harness::gateway();
    let http = gw.port(8088).expect("the gateway serves 8088");
    let (rc, r) = check(http, "rmi");
    assert_eq!(rc, 1, "{r}");
    assert_eq!(r["level"], "open");
    assert_eq!(code(&r), "proto.mismatch", "{r}");
    if real_peer("PostgreSQL", "127.0.0.1:5432", "bash testbeds/scripts/databases.sh") {
        let (rc, r) = check(5432, "jmx");
        assert_eq!(rc, 1, "{r}");
        assert_eq!(r["level"], "open", "{r}");
    }
}
