//! `portproof identify` against the real daemons the test scripts start, and against decoys.

use portproof_testbeds::hostile;

use crate::harness::{portproof, real_peer, serve};

/// The real peers and what identify must prove each one speaks (`up.sh` starts them all).
const PEERS: &[(&str, &str, &[&str])] = &[
    ("MariaDB", "127.0.0.1:3306", &["mysql"]),
    ("PostgreSQL", "127.0.0.1:5432", &["postgres"]),
    ("RabbitMQ", "127.0.0.1:5672", &["amqp"]),
    ("RabbitMQ management API", "127.0.0.1:15672", &["rabbitmq-api"]),
    ("Mosquitto", "127.0.0.1:1883", &["mqtt"]),
    ("Mosquitto with a password", "127.0.0.1:18883", &["mqtt"]),
    ("Mosquitto over TLS", "127.0.0.1:18884", &["mqtts"]),
    ("nginx", "127.0.0.1:18080", &["http"]),
    ("nginx (TLS)", "127.0.0.1:18443", &["https"]),
    // The JDK's registry with the JMX connector bound is both: either name is proved.
    ("the JDK RMI peer", "127.0.0.1:11099", &["rmi", "jmx"]),
    ("the JDK RMI registry", "127.0.0.1:11097", &["rmi"]),
    ("OpenLDAP slapd", "127.0.0.1:10389", &["ldap"]),
    ("OpenLDAP slapd (ldaps)", "127.0.0.1:10636", &["ldaps"]),
    ("Python websockets", "127.0.0.1:19099", &["websocket"]),
];

fn findings(target: &str, extra: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let mut args = vec!["identify", target, "--format", "json"];
    args.extend_from_slice(extra);
    let run = portproof(&args);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    (run.code, v.as_array().expect("an array of findings").clone())
}

#[test]
fn identify_proves_what_every_real_daemon_speaks() {
    for (what, addr, want) in PEERS {
        if !real_peer(what, addr, "bash testbeds/scripts/up.sh") {
            continue;
        }
        let (code, f) = findings(addr, &[]);
        let f = &f[0];
        let got = f["protocol"].as_str().unwrap_or_else(|| panic!("{what} unidentified: {f:#}"));
        assert!(want.contains(&got), "{what}: {got}, expected one of {want:?}: {f:#}");
        assert!(f["level"] == "speaks" || f["level"] == "healthy", "{what}: {f:#}");
        assert_eq!(code, 0, "{what}");
        assert_eq!(f["suggest"].as_str().unwrap().split(',').next().unwrap(), format!("expect: {got}"));
    }
}

#[test]
fn several_ports_at_once_keep_their_order_and_a_closed_one_fails_the_run() {
    if !real_peer("nginx", "127.0.0.1:18080", "bash testbeds/scripts/nginx.sh") {
        return;
    }
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (code, f) = findings(&format!("127.0.0.1:18080,{closed}"), &[]);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0]["protocol"], "http");
    assert_eq!(f[1]["level"], "unreachable", "{:#}", f[1]);
    assert!(f[1]["protocol"].is_null());
    assert_eq!(code, 1, "a port not identified fails the run");
}

#[test]
fn a_silent_port_is_open_and_unknown_within_the_stated_time() {
    let s = serve(async { hostile::silent(portproof_testbeds::bind_any().await.unwrap()) });
    let (code, f) =
        findings(&format!("127.0.0.1:{}", s.port()), &["--listen", "100ms", "--per-try", "300ms", "--timeout", "3s"]);
    let f = &f[0];
    assert_eq!(code, 1);
    assert_eq!(f["level"], "open", "{f:#}");
    assert!(f["protocol"].is_null(), "silence proves nothing: {f:#}");
    assert!(f["tried"].as_array().unwrap().len() >= 3, "it asked the probes in turn: {f:#}");
}

#[test]
fn a_greeting_that_no_probe_proves_is_only_heard() {
    let s =
        serve(async { hostile::greeter(portproof_testbeds::bind_any().await.unwrap(), b"SSH-2.0-OpenSSH_9.6\r\n") });
    let (code, f) = findings(&format!("127.0.0.1:{}", s.port()), &["--per-try", "500ms", "--timeout", "5s"]);
    let f = &f[0];
    assert_eq!(code, 1);
    assert!(f["protocol"].is_null(), "no ssh probe exists, so nothing is proved: {f:#}");
    assert_eq!(f["heard"], "ssh", "{f:#}");
}

#[test]
fn bad_targets_are_usage_errors() {
    for bad in ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:80,x", "::1:80", "127.0.0.1:70000"] {
        let run = portproof(&["identify", bad]);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert!(run.stderr.contains("portproof: error:"), "{bad}: {}", run.stderr);
    }
}

#[test]
fn industrial_probes_are_never_sent_to_a_port_that_is_not_theirs() {
    // The real OPC UA and Modbus peers run on shifted ports, so for identify they are ports of
    // unknown protocol: neither an OPC UA Hello nor a Modbus request may reach them.
    for (what, addr, start) in [
        ("the asyncua OPC UA server", "127.0.0.1:14840", "bash testbeds/scripts/opcua.sh"),
        ("the pymodbus server", "127.0.0.1:15020", "bash testbeds/scripts/industrial.sh"),
    ] {
        if !real_peer(what, addr, start) {
            continue;
        }
        let (_, f) = findings(addr, &["--per-try", "500ms", "--timeout", "4s"]);
        let tried: Vec<&str> =
            f[0]["tried"].as_array().unwrap().iter().map(|t| t["expect"].as_str().unwrap()).collect();
        assert!(!tried.contains(&"opcua") && !tried.contains(&"modbus"), "{what}: {tried:?}");
    }
}

#[test]
fn check_without_expect_checks_what_identify_proved() {
    if !real_peer("nginx (TLS)", "127.0.0.1:18443", "bash testbeds/scripts/nginx.sh") {
        return;
    }
    let run = portproof(&["check", "127.0.0.1:18443", "--format", "json"]);
    assert!(run.stderr.contains("speaks https"), "{}", run.stderr);
    let r = run.result();
    assert_eq!(r["expect"], "https");
    // Identification did not judge the certificate; the check does, as any https check would.
    assert_eq!(r["failure"]["code"], "tls.cert_unknown_ca", "{r:#}");
    assert_eq!(run.code, 1);

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let run = portproof(&["check", &format!("127.0.0.1:{closed}"), "--format", "json"]);
    assert_eq!((run.code, run.result()["failure"]["code"].as_str()), (1, Some("tcp.refused")));

    let s = serve(async { hostile::silent(portproof_testbeds::bind_any().await.unwrap()) });
    let run = portproof(&["check", &format!("127.0.0.1:{}", s.port())]);
    assert_eq!(run.code, 2, "only the user can say what an unknown port must speak");
    assert!(run.stderr.contains("no probe proved") && run.stderr.contains("--expect"), "{}", run.stderr);
}
