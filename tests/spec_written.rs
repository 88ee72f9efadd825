//! The probes written from public specifications (issue 16 items 6 and 7, issue 17 item 1):
//! `cql`, `hadoop-ipc`, `ignite` and `hazelcast`, against the testbed's responders, which were
//! written from the same specifications but not from the probes' code (no Cassandra, Hadoop,
//! Ignite or Hazelcast server can run here), and against decoys that must not pass: an HTTP
//! server, a silent port, each other's responders, a real server of another protocol when one
//! runs, and hostile peers (huge lengths, garbage, a close mid-frame, a slow drip). The
//! registry's conformance test also runs every one of them against all the hostile peers.

use std::time::Duration;

use portproof_testbeds::cql::{self, CqlMode};
use portproof_testbeds::hadoop_ipc::{self, HadoopMode};
use portproof_testbeds::hazelcast::{self, HazelcastMode};
use portproof_testbeds::hostile::{self, Hostility};
use portproof_testbeds::ignite::{self, IgniteMode};
use portproof_testbeds::{Server, http};
use serde_json::{Value, json};

use crate::harness::{code, listener, portproof, real_peer, serve};

/// Runs one check of `probe` against the loopback port `port`, with `extra` arguments.
fn check(port: u16, probe: &str, extra: &[&str]) -> (i32, Value) {
    let target = format!("127.0.0.1:{port}");
    let mut args = vec!["check", target.as_str(), "-e", probe, "-f", "json", "--timeout", "3s"];
    args.extend_from_slice(extra);
    let run = portproof(&args);
    (run.code, run.result())
}

fn cql_peer(mode: CqlMode) -> Server {
    let l = listener();
    serve(async { cql::serve(l, mode) })
}

fn hadoop_peer(mode: HadoopMode) -> Server {
    let l = listener();
    serve(async { hadoop_ipc::serve(l, mode) })
}

fn ignite_peer(mode: IgniteMode) -> Server {
    let l = listener();
    serve(async { ignite::serve(l, mode) })
}

fn hazelcast_peer(mode: HazelcastMode) -> Server {
    let l = listener();
    serve(async { hazelcast::serve(l, mode) })
}

#[test]
fn cql_negotiates_down_and_is_healthy_on_ready() {
    let peer = cql_peer(CqlMode::OPEN_V4);
    let (rc, r) = check(peer.port(), "cql", &[]);
    assert_eq!((rc, r["level"].as_str()), (0, Some("healthy")), "{r}");
    assert_eq!(r["facts"]["cql_protocol_version"], 4, "v5 refused, the refusal names 4: {r}");
    assert_eq!(r["facts"]["cql_refused"][0]["version"], 5, "{r}");
    assert_eq!(r["facts"]["cql_versions"], json!(["3.4.5"]));
    assert_eq!(r["facts"]["cql_compression"], json!(["snappy", "lz4"]));
    assert_eq!(r["facts"]["cql_protocol_versions"], json!(["3/v3", "4/v4"]));

    let peer = cql_peer(CqlMode::OPEN_V5);
    let (rc, r) = check(peer.port(), "cql", &[]);
    assert_eq!((rc, r["level"].as_str()), (0, Some("healthy")), "{r}");
    assert_eq!(r["facts"]["cql_protocol_version"], 5);
    assert!(r["facts"].get("cql_refused").is_none(), "{r}");
}

#[test]
fn cql_with_a_password_authenticator_speaks_and_names_it() {
    let peer = cql_peer(CqlMode::PASSWORD_V4);
    let (rc, r) = check(peer.port(), "cql", &[]);
    assert_eq!(rc, 0, "speaks is what cql requires by default: {r}");
    assert_eq!(r["level"], "speaks");
    assert_eq!(code(&r), "auth.no_credentials");
    assert_eq!(r["facts"]["cql_authenticator"], cql::AUTHENTICATOR);
    let (rc, r) = check(peer.port(), "cql", &["--require", "healthy"]);
    assert_eq!((rc, code(&r).as_str()), (1, "auth.no_credentials"), "{r}");
}

#[test]
fn hadoop_ipc_names_both_generations() {
    let peer = hadoop_peer(HadoopMode::Hadoop3);
    let (rc, r) = check(peer.port(), "hadoop-ipc", &[]);
    assert_eq!((rc, r["level"].as_str()), (0, Some("speaks")), "{r}");
    assert_eq!(r["facts"]["hadoop_ipc_version"], 9);
    assert_eq!(r["facts"]["hadoop_ipc_answer"], "protobuf");
    assert_eq!(r["facts"]["hadoop_ipc_exception"], "org.apache.hadoop.ipc.RPC$VersionMismatch");
    assert_eq!(r["facts"]["hadoop_ipc_message"], "Server IPC version 9 cannot communicate with client version 127");
    let peer = hadoop_peer(HadoopMode::Hadoop1);
    let (rc, r) = check(peer.port(), "hadoop-ipc", &[]);
    assert_eq!((rc, r["level"].as_str()), (0, Some("speaks")), "{r}");
    assert_eq!(
        (r["facts"]["hadoop_ipc_version"].as_u64(), r["facts"]["hadoop_ipc_answer"].as_str()),
        (Some(4), Some("writable"))
    );
}

#[test]
fn ignite_names_each_listener() {
    let node = "5f1a3c2e-9b7d-4e21-8a36-0c4d2b1e7f90";
    let thin = ignite_peer(IgniteMode::THIN);
    for kind in ["auto", "thin"] {
        let (rc, r) = check(thin.port(), "ignite", &["--ignite-port-kind", kind]);
        assert_eq!((rc, r["level"].as_str()), (0, Some("healthy")), "{kind}: {r}");
        assert_eq!(r["facts"]["ignite_port_kind"], "thin");
        assert_eq!(r["facts"]["ignite_node_id"], node);
        assert_eq!(r["facts"]["ignite_protocol_version"], "1.4.0");
    }
    // An older server refuses 1.4.0 with its own version; the probe retries at it.
    let old = ignite_peer(IgniteMode::Thin { greatest: (1, 2, 0), authentication: false });
    let (rc, r) = check(old.port(), "ignite", &[]);
    assert_eq!((rc, r["level"].as_str()), (0, Some("healthy")), "{r}");
    assert_eq!(r["facts"]["ignite_protocol_version"], "1.2.0");
    assert!(r["facts"].get("ignite_node_id").is_none(), "1.2.0 sends no node id: {r}");
    let secured = ignite_peer(IgniteMode::Thin { greatest: (1, 7, 1), authentication: true });
    let (rc, r) = check(secured.port(), "ignite", &[]);
    assert_eq!((rc, r["level"].as_str(), code(&r).as_str()), (0, Some("speaks"), "auth.no_credentials"), "{r}");
    assert_eq!(r["facts"]["ignite_server_protocol_version"], "1.7.1");

    let comm = ignite_peer(IgniteMode::Communication);
    for kind in ["auto", "communication"] {
        let (rc, r) = check(comm.port(), "ignite", &["--ignite-port-kind", kind]);
        assert_eq!((rc, r["level"].as_str()), (0, Some("speaks")), "{kind}: {r}");
        assert_eq!(
            (r["facts"]["ignite_port_kind"].as_str(), r["facts"]["ignite_node_id"].as_str()),
            (Some("communication"), Some(node))
        );
    }
    let disco = ignite_peer(IgniteMode::Discovery);
    for kind in ["auto", "discovery"] {
        let (rc, r) = check(disco.port(), "ignite", &["--ignite-port-kind", kind]);
        assert_eq!((rc, r["level"].as_str()), (0, Some("speaks")), "{kind}: {r}");
        assert_eq!(r["facts"]["ignite_port_kind"], "discovery");
    }
    // A named kind that the port is not fails.
    let (rc, r) = check(comm.port(), "ignite", &["--ignite-port-kind", "thin"]);
    assert_eq!((rc, r["level"].as_str()), (1, Some("open")), "{r}");
    let (rc, r) = check(thin.port(), "ignite", &["--ignite-port-kind", "discovery"]);
    assert_eq!((rc, code(&r).as_str()), (1, "ignite.discovery_unconfirmed"), "{r}");
}

#[test]
fn hazelcast_authenticates_as_a_client_and_reads_health() {
    let member = hazelcast_peer(HazelcastMode::DEV);
    let (rc, r) = check(member.port(), "hazelcast", &[]);
    assert_eq!((rc, r["level"].as_str()), (0, Some("healthy")), "{r}");
    assert_eq!(r["facts"]["hazelcast_version"], hazelcast::VERSION);
    assert_eq!(r["facts"]["hazelcast_member_uuid"], "3f8e2a10-6c4b-4d7e-9a01-5b2c7d8e9f10");
    assert_eq!(r["facts"]["hazelcast_member_address"], format!("127.0.0.1:{}", member.port()));
    assert_eq!(r["facts"]["hazelcast_cluster_name"], "dev");

    let (rc, r) = check(member.port(), "hazelcast", &["--hazelcast-health"]);
    assert_eq!((rc, r["level"].as_str()), (0, Some("healthy")), "{r}");
    assert_eq!(r["facts"]["hazelcast_cluster_state"], "ACTIVE");

    // A stated cluster name the member refuses fails; the default name's refusal is a fact.
    let (rc, r) = check(member.port(), "hazelcast", &["--hazelcast-cluster", "prod"]);
    assert_eq!((rc, r["level"].as_str()), (1, Some("speaks")), "{r}");
    assert_eq!(code(&r), "hazelcast.auth_failed.credentials_failed");
    assert_eq!(r["failure"]["stated"], true, "{r}");
    let wso2 = hazelcast_peer(HazelcastMode { cluster: "wso2.carbon.domain", ..HazelcastMode::DEV });
    let (rc, r) = check(wso2.port(), "hazelcast", &[]);
    assert_eq!((rc, r["level"].as_str()), (0, Some("speaks")), "{r}");
    let (rc, r) = check(wso2.port(), "hazelcast", &["--hazelcast-cluster", "wso2.carbon.domain"]);
    assert_eq!((rc, r["level"].as_str()), (0, Some("healthy")), "{r}");

    let frozen = hazelcast_peer(HazelcastMode { cluster_state: "FROZEN", ..HazelcastMode::DEV });
    let (rc, r) = check(frozen.port(), "hazelcast", &["--hazelcast-health"]);
    assert_eq!((rc, code(&r).as_str()), (1, "hazelcast.not_active"), "{r}");
    assert_eq!(r["facts"]["hazelcast_cluster_state"], "FROZEN");
    let no_rest = hazelcast_peer(HazelcastMode { rest: false, ..HazelcastMode::DEV });
    let (rc, r) = check(no_rest.port(), "hazelcast", &["--hazelcast-health"]);
    assert_eq!((rc, code(&r).as_str()), (1, "hazelcast.health_unavailable"), "{r}");
}

const PROBES: [&str; 4] = ["cql", "hadoop-ipc", "ignite", "hazelcast"];

/// Every probe against every other probe's responder: a verdict, never `speaks`.
#[test]
fn each_probe_fails_the_others_responders() {
    let peers: Vec<(&str, Server)> = vec![
        ("cql", cql_peer(CqlMode::OPEN_V4)),
        ("hadoop-ipc", hadoop_peer(HadoopMode::Hadoop3)),
        ("hadoop-ipc", hadoop_peer(HadoopMode::Hadoop1)),
        ("ignite", ignite_peer(IgniteMode::THIN)),
        ("hazelcast", hazelcast_peer(HazelcastMode::DEV)),
    ];
    for probe in PROBES {
        for (speaks, peer) in &peers {
            if *speaks == probe {
                continue;
            }
            let (rc, r) = check(peer.port(), probe, &[]);
            assert_eq!(rc, 1, "{probe} against the {speaks} responder: {r}");
            assert!(matches!(r["level"].as_str(), Some("open" | "unreachable")), "{probe} vs {speaks}: {r}");
        }
    }
}

/// An HTTP server, a silent port, hostile peers and real servers of other protocols: each
/// probe ends in a failing verdict without reaching `speaks`.
#[test]
fn decoys_never_pass() {
    let http = {
        let l = listener();
        serve(async { http::serve(l, http::GatewayState::new("RUNNING")) })
    };
    let hostile_peer = |h: Hostility| {
        let l = listener();
        serve(async { hostile::serve(l, h) })
    };
    let silent = hostile_peer(Hostility::Silent);
    let huge =
        hostile_peer(Hostility::Says { bytes: b"\x7f\xff\xff\xff\x84\x00\x00\x00".to_vec(), after_request: true });
    let mid_frame = hostile_peer(Hostility::ResetMidFrame(b"\x84\x00\x00\x00\x06\x00\x00\x00\x40\x00\x03".to_vec()));
    let mut decoys: Vec<(String, u16)> = vec![
        ("http".into(), http.port()),
        ("silent".into(), silent.port()),
        ("huge".into(), huge.port()),
        ("mid-frame".into(), mid_frame.port()),
    ];
    for (what, addr, start) in [
        ("nginx", "127.0.0.1:18080", "bash testbeds/scripts/nginx.sh"),
        ("the JDK RMI peer", "127.0.0.1:11099", "bash testbeds/scripts/java.sh"),
        ("PostgreSQL", "127.0.0.1:5432", "bash testbeds/scripts/databases.sh"),
    ] {
        if real_peer(what, addr, start) {
            decoys.push((what.into(), addr.rsplit(':').next().unwrap().parse().unwrap()));
        }
    }
    for probe in PROBES {
        for (what, port) in &decoys {
            let started = std::time::Instant::now();
            let (rc, r) = check(*port, probe, &[]);
            assert_eq!(rc, 1, "{probe} against {what}: {r}");
            assert!(matches!(r["level"].as_str(), Some("open" | "unreachable")), "{probe} vs {what}: {r}");
            // Not a timing assertion of the probe's speed: a hang would never come back at all.
            assert!(started.elapsed() < Duration::from_secs(30), "{probe} vs {what} hung");
        }
    }
}
