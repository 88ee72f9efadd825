//! `portproof ports`: listeners this test opens, on 127.0.0.1, on the wildcard 0.0.0.0 and on
//! ::1, at an offset where the Ignition profile's ports land on free high ports, must be named
//! with this test's own pid and the address each is bound to.

use std::net::{TcpListener, UdpSocket};

use serde_json::Value;

use crate::harness::portproof;

/// The Ignition profile's HTTP, HTTPS and Metro ports.
const HTTP: u16 = 8088;
const HTTPS: u16 = 8043;
const METRO: u16 = 8060;

/// Listeners on `HTTP + offset` (127.0.0.1) and `HTTPS + offset` (0.0.0.0), at the first offset
/// where both are free: below the ephemeral range, and away from the testbed gateways' offsets.
fn listeners() -> (i32, TcpListener, TcpListener) {
    for offset in (20011..24000).step_by(173) {
        let (Ok(lo), Ok(any)) =
            (TcpListener::bind(("127.0.0.1", HTTP + offset)), TcpListener::bind(("0.0.0.0", HTTPS + offset)))
        else {
            continue;
        };
        return (i32::from(offset), lo, any);
    }
    panic!("no free offset for the listeners");
}

fn port(report: &Value, number: u16) -> &Value {
    report["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == number)
        .unwrap_or_else(|| panic!("{number} in {report:#}"))
}

/// The processes holding a port, as (pid, address) pairs.
fn holders(p: &Value) -> Vec<(u64, String)> {
    p["holders"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| {
            let addr = h["address"].as_str().unwrap().to_owned();
            h["processes"].as_array().unwrap().iter().map(move |x| (x["pid"].as_u64().unwrap(), addr.clone()))
        })
        .collect()
}

fn own_command() -> String {
    std::fs::read_to_string("/proc/self/comm").unwrap().trim_end().to_owned()
}

#[test]
fn names_this_tests_pid_and_the_address_bound() {
    let (offset, lo, any) = listeners();
    let six = TcpListener::bind(("::1", METRO + offset as u16)).ok();
    let off = offset.to_string();
    // Metro is the Gateway Network's port: listed only with the gan feature on.
    let run = portproof(&["ports", "ignition", "--offset", &off, "--format", "json", "--with", "gan"]);
    assert_eq!(run.code, 0, "nothing is known to conflict without --process: {}{}", run.stdout, run.stderr);
    let report = run.json();
    let me = u64::from(std::process::id());
    assert_eq!(report["product"], "Inductive Automation Ignition 8.3 gateway");
    assert_eq!(report["offset"], offset);

    let http = port(&report, HTTP + offset as u16);
    assert_eq!(http["name"], "Gateway HTTP");
    assert_eq!(http["state"], "in-use");
    assert_eq!(holders(http), [(me, "127.0.0.1".to_owned())]);
    assert_eq!(http["holders"][0]["scope"], "loopback");
    assert_eq!(http["holders"][0]["user"], whoami());
    assert!(http["says"].as_str().unwrap().contains("loopback only: other hosts cannot reach it"), "{http:#}");

    let https = port(&report, HTTPS + offset as u16);
    assert_eq!(holders(https), [(me, "0.0.0.0".to_owned())]);
    assert_eq!(https["holders"][0]["scope"], "everywhere");
    assert!(https["says"].as_str().unwrap().contains("on 0.0.0.0 (every address)"), "{https:#}");

    if six.is_some() {
        let metro = port(&report, METRO + offset as u16);
        assert_eq!(holders(metro), [(me, "::1".to_owned())]);
        assert_eq!(metro["holders"][0]["scope"], "loopback");
    }
    drop((lo, any, six));
}

/// The user this test runs as, by /etc/passwd, as the report should name it.
fn whoami() -> String {
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:").map(|r| r.split_whitespace().next().unwrap().to_owned()))
        .unwrap();
    std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.get(2) == Some(&uid.as_str())).then(|| f[0].to_owned())
        })
        .unwrap_or(uid)
}

#[test]
fn the_products_process_holds_it_and_any_other_is_a_conflict() {
    let (offset, lo, any) = listeners();
    let off = offset.to_string();
    // This test process stands for the product when --process names it.
    let run = portproof(&["ports", "ignition", "--offset", &off, "--format", "json", "--process", &own_command()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(port(&report, HTTP + offset as u16)["state"], "product");
    let says = port(&report, HTTP + offset as u16)["says"].as_str().unwrap().to_owned();
    assert!(
        says.contains("(loopback only: other hosts cannot reach it): Inductive Automation Ignition 8.3 gateway's own"),
        "{says}"
    );
    assert_eq!(port(&report, HTTPS + offset as u16)["state"], "product");

    // Naming another program makes this test's listener the conflict the document describes.
    let run = portproof(&["ports", "ignition", "--offset", &off, "--process", "ignition-gateway"]);
    assert_eq!(run.code, 1, "a conflict exits 1: {}{}", run.stdout, run.stderr);
    let line = format!("{}/tcp held by {} (pid {}", HTTP + offset as u16, own_command(), std::process::id());
    assert!(run.stdout.contains(&line), "{line} in\n{}", run.stdout);
    assert!(
        run.stdout.contains("Inductive Automation Ignition 8.3 gateway cannot start its Gateway HTTP here"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.lines().any(|l| l.starts_with(&format!("{}/tcp", HTTP + offset as u16)) && l.contains("CONFLICT")),
        "{}",
        run.stdout
    );
    drop((lo, any));
}

#[test]
fn a_manifests_udp_port_is_read_from_the_udp_table() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clock.yaml");
    std::fs::write(
        &path,
        format!("product: A clock\ndefaults: {{ host: 127.0.0.1 }}\nchecks:\n  - {{ name: NTP, port: {port}, expect: ntp }}\n"),
    )
    .unwrap();
    let run = portproof(&["ports", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    let p = &report["ports"][0];
    assert_eq!((p["transport"].as_str(), p["port"].as_u64()), (Some("udp"), Some(u64::from(port))));
    assert_eq!(holders(p), [(u64::from(std::process::id()), "127.0.0.1".to_owned())]);
}

#[test]
fn a_free_port_is_free_and_bad_input_is_a_usage_error() {
    // A port bound and closed again is free (nothing else takes an explicit port in between
    // unless it asks for that very number).
    let free = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.yaml");
    std::fs::write(
        &path,
        format!("product: One\ndefaults: {{ host: h }}\nchecks:\n  - {{ name: Web, port: {free}, expect: http }}\n"),
    )
    .unwrap();
    let run = portproof(&["ports", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.lines().any(|l| l.starts_with(&format!("{free}/tcp")) && l.contains("free")), "{}", run.stdout);

    for (args, says) in [
        (vec!["ports", "nope"], "no profile \"nope\""),
        (vec!["ports", "ignition", "--role", "plc"], "--role plc: the profile has no such role"),
        (
            vec!["ports", "ignition", "--with", "frobnicate"],
            "--with frobnicate: no such feature; its features are: gan,",
        ),
        (vec!["ports", "ignition", "--all"], "give --role"),
        (vec!["ports", "ignition", "--offset", "-9000"], "outside 1..65535"),
    ] {
        let run = portproof(&args);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "checks:\n  - { name: x, port: 70000, expect: http }\n").unwrap();
    let run = portproof(&["ports", bad.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("bad.yaml:2:") && run.stderr.contains("port"), "file, line and field: {}", run.stderr);
}

/// PADS4's RabbitMQ ports are the server's own: a broker bound to the wildcard address is
/// reachable from other hosts, against the document, and `ports` says so (exit 1); one bound to
/// loopback is only in use.
#[test]
fn a_local_only_port_on_a_wildcard_address_is_exposed() {
    const AMQP: u16 = 5672;
    const API: u16 = 15672;
    let (offset, any, lo) = (20011..49000)
        .step_by(211)
        .find_map(|o: u16| {
            let any = TcpListener::bind(("0.0.0.0", AMQP + o)).ok()?;
            let lo = TcpListener::bind(("127.0.0.1", API + o)).ok()?;
            Some((o, any, lo))
        })
        .expect("a free offset for the listeners");
    let off = offset.to_string();
    let run = portproof(&["ports", "pads4", "--offset", &off, "--format", "json"]);
    assert_eq!(run.code, 1, "an exposed local-only port exits 1: {}{}", run.stdout, run.stderr);
    let report = run.json();
    let amqp = port(&report, AMQP + offset);
    assert_eq!((amqp["direction"].as_str(), amqp["state"].as_str()), (Some("local-only"), Some("exposed")), "{amqp:#}");
    assert!(amqp["says"].as_str().unwrap().contains("reachable from other hosts"), "{amqp:#}");
    let api = port(&report, API + offset);
    assert_eq!(api["state"], "in-use", "{api:#}");
    assert_eq!(holders(api), [(u64::from(std::process::id()), "127.0.0.1".to_owned())]);
    let run = portproof(&["ports", "pads4", "--offset", &off]);
    assert!(
        run.stdout.lines().any(|l| l.starts_with(&format!("{}/tcp", AMQP + offset)) && l.contains("EXPOSED")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Not surveyed, their features off (--with F or --all adds them): "), "{}", run.stdout);
    drop((any, lo));
}
