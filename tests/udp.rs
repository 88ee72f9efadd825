//! The UDP probes, `ntp` and `ws-discovery`, against real chrony (started by
//! `testbeds/scripts/time.sh`: `local stratum 8` on 127.0.0.1:11123, and one never synchronised
//! on 11124) and against the in-process responders of `testbeds/src/ntp.rs` and
//! `testbeds/src/ws_discovery.rs` for what chrony does not produce: Kiss-o'-Death, wrong
//! origins, replies from another port, READVAR answers, oversized and malformed SOAP.

use portproof_testbeds::Server;
use portproof_testbeds::ntp::{self, NtpMode};
use portproof_testbeds::ws_discovery::{self, WsdMode};
use serde_json::Value;

use crate::harness::{code, portproof, real_udp_peer, serve};

const CHRONY: &str = "127.0.0.1:11123";
const CHRONY_UNSYNC: &str = "127.0.0.1:11124";
const START: &str = "bash testbeds/scripts/time.sh";

/// A mode-3 version-4 request, to see whether chrony is up (its transmit timestamp arbitrary).
fn ntp_request() -> [u8; 48] {
    let mut p = [0u8; 48];
    p[0] = 0x23;
    p[40..48].copy_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
    p
}

fn check(target: &str, expect: &str, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["check", target, "--expect", expect, "--timeout", "2s"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-f", "json"]);
    let run = portproof(&all);
    (run.code, run.result())
}

fn at(s: &Server) -> String {
    format!("127.0.0.1:{}", s.port())
}

#[test]
fn chrony_local_stratum_8_is_healthy() {
    if !real_udp_peer("chrony (local stratum 8)", CHRONY, &ntp_request(), START) {
        return;
    }
    let (exit, r) = check(CHRONY, "ntp", &["--max-offset", "1s"]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    let f = &r["facts"];
    assert_eq!(f["ntp_stratum"], 8, "{r:#}");
    assert_eq!(f["ntp_refid"], "127.127.1.1");
    assert_eq!(f["ntp_leap"], "none");
    assert_eq!(f["protocol"], "NTPv4");
    assert!(f["ntp_offset_ms"].as_f64().unwrap().abs() < 1000.0, "{r:#}");
    assert!(f["ntp_delay_ms"].as_f64().unwrap() >= 0.0);
    assert!(f.get("product").is_none(), "chrony ignores mode 6: no implementation is claimed: {r:#}");
    // The table names stratum and refid.
    let run = portproof(&["check", CHRONY, "--expect", "ntp"]);
    assert!(run.stdout.contains("stratum 8 (127.127.1.1)"), "{}", run.stdout);
}

#[test]
fn unsynchronised_chrony_is_not_healthy() {
    if !real_udp_peer("chrony (unsynchronised)", CHRONY_UNSYNC, &ntp_request(), START) {
        return;
    }
    let (exit, r) = check(CHRONY_UNSYNC, "ntp", &["--max-offset", "1s"]);
    assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "ntp.unsynchronised", Some("speaks")), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("leap indicator 3"), "{r:#}");
    // Without a stated criterion the check requires speaks, which chrony does prove.
    let (exit, r) = check(CHRONY_UNSYNC, "ntp", &[]);
    assert_eq!((exit, r["level"].as_str(), r["require"].as_str()), (0, Some("speaks"), Some("speaks")), "{r:#}");
}

fn ntp_on(mode: NtpMode) -> Server {
    serve(ntp::serve(mode)).expect("bind udp")
}

#[test]
fn kiss_of_death_is_named_with_its_hint() {
    for (kiss, name, hint) in [
        (b"DENY", "ntp.kiss.deny", "access rules"),
        (b"RATE", "ntp.kiss.rate", "rate-limits"),
        (b"INIT", "ntp.kiss.init", "starting"),
    ] {
        let s = ntp_on(NtpMode::Kiss(kiss));
        // A kiss proves NTP, so a check that states no health criterion passes at speaks,
        // naming the kiss; one that asks for health fails.
        let (exit, r) = check(&at(&s), "ntp", &[]);
        assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (0, name, Some("speaks")), "{r:#}");
        let (exit, r) = check(&at(&s), "ntp", &["--require", "healthy"]);
        assert_eq!((exit, code(&r).as_str()), (1, name), "{r:#}");
        assert!(r["failure"]["hint"].as_str().unwrap().contains(hint), "{r:#}");
    }
}

#[test]
fn wrong_origin_is_ignored_and_counted() {
    let s = ntp_on(NtpMode::WrongOrigin);
    let (exit, r) = check(&at(&s), "ntp", &[]);
    assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "ntp.no_response", Some("open")), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("a server reply to another request"), "{r:#}");

    let s = ntp_on(NtpMode::WrongThenRight);
    let (exit, r) = check(&at(&s), "ntp", &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["ntp_ignored_datagrams"], 1, "{r:#}");
}

#[test]
fn a_reply_from_another_port_is_not_ours() {
    let s = ntp_on(NtpMode::OtherPort);
    let (exit, r) = check(&at(&s), "ntp", &[]);
    assert_eq!((exit, code(&r).as_str()), (1, "ntp.no_response"), "{r:#}");
}

#[test]
fn offset_beyond_the_threshold_fails() {
    let s = ntp_on(NtpMode::Synced { stratum: 2, refid: [10, 0, 0, 1], offset: 5.0 });
    let (exit, r) = check(&at(&s), "ntp", &["--require", "healthy"]);
    assert_eq!((exit, code(&r).as_str()), (1, "ntp.offset"), "the default 1s threshold: {r:#}");
    let (exit, r) = check(&at(&s), "ntp", &["--max-offset", "2s"]);
    assert_eq!((exit, code(&r).as_str(), r["require"].as_str()), (1, "ntp.offset", Some("healthy")), "{r:#}");
    let off = r["facts"]["ntp_offset_ms"].as_f64().unwrap();
    assert!((4000.0..6000.0).contains(&off), "{r:#}");
    let (exit, r) = check(&at(&s), "ntp", &["--max-offset", "10s"]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
}

#[test]
fn readvar_names_the_implementation() {
    let s = ntp_on(NtpMode::Ntpsec);
    let (exit, r) = check(&at(&s), "ntp", &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["product"], "ntpd", "{r:#}");
    assert_eq!(r["facts"]["product_version"], "ntpsec-1.2.2");
    assert_eq!(r["facts"]["ntp_system"], "Linux/6.1.0");
}

#[test]
fn nothing_listening_is_udp_refused() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    for expect in ["ntp", "ws-discovery"] {
        let (exit, r) = check(&format!("127.0.0.1:{port}"), expect, &[]);
        assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "udp.refused", Some("unreachable")), "{r:#}");
    }
}

fn wsd_on(mode: WsdMode) -> Server {
    serve(ws_discovery::serve(mode)).expect("bind udp")
}

#[test]
fn ws_discovery_match_from_another_port_is_healthy() {
    let s = wsd_on(WsdMode::Match2009);
    let (exit, r) = check(&at(&s), "ws-discovery", &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    let f = &r["facts"];
    assert_eq!(f["ws_discovery_versions"], serde_json::json!(["2009/01"]), "{r:#}");
    assert_ne!(f["ws_discovery_reply_port"].as_u64(), Some(u64::from(s.port())), "answered from another port");
    let m = &f["ws_discovery_matches"][0];
    assert_eq!(m["address"], "urn:uuid:3b1e7f0a-7d6f-4b43-9d5e-55a0d1f0c0aa");
    assert_eq!(m["types"], serde_json::json!(["p:PadsServer"]));
    assert_eq!(m["xaddrs"], serde_json::json!(["net.tcp://127.0.0.1:7237/"]));
    assert_eq!(m["metadata_version"], 3);
}

#[test]
fn ws_discovery_repeats_a_lost_probe_once() {
    let s = wsd_on(WsdMode::LoseFirst);
    let (exit, r) = check(&at(&s), "ws-discovery", &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "the repeat is answered: {r:#}");
    assert_eq!(r["facts"]["ws_discovery_reply_port"].as_u64(), Some(u64::from(s.port())));
}

#[test]
fn ws_discovery_empty_matches_speaks_only() {
    let s = wsd_on(WsdMode::Empty2005);
    let (exit, r) = check(&at(&s), "ws-discovery", &["--require", "healthy"]);
    assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "ws_discovery.no_matches", Some("speaks")), "{r:#}");
}

#[test]
fn ws_discovery_bad_soap_is_never_an_answer() {
    for (mode, says) in [
        (WsdMode::Oversized, "deeper"),
        (WsdMode::Malformed, "not a SOAP envelope"),
        (WsdMode::Unrelated, "does not answer our Probe"),
    ] {
        let s = wsd_on(mode);
        let (exit, r) = check(&at(&s), "ws-discovery", &[]);
        assert_eq!(
            (exit, code(&r).as_str(), r["level"].as_str()),
            (1, "ws_discovery.no_response", Some("open")),
            "{mode:?}: {r:#}"
        );
        assert!(r["failure"]["message"].as_str().unwrap().contains(says), "{mode:?}: {r:#}");
    }
}

/// A network namespace of this test's own, removed (with what runs in it) when dropped.
struct Netns {
    name: String,
    child: Option<std::process::Child>,
}

impl Netns {
    fn new() -> Option<Netns> {
        let name = format!("portproof-wsd-{}", std::process::id());
        let ip = |args: &[&str]| {
            std::process::Command::new("ip")
                .args(args)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ip(&["netns", "add", &name]) {
            return None;
        }
        let ns = Netns { name, child: None };
        // Loopback up, and the multicast group routed to it: WSDiscovery announces itself there.
        let up = ip(&["netns", "exec", &ns.name, "ip", "link", "set", "lo", "up"])
            && ip(&["netns", "exec", &ns.name, "ip", "route", "add", "239.0.0.0/8", "dev", "lo"]);
        up.then_some(ns)
    }
    fn exec(&self, program: &str) -> std::process::Command {
        let mut c = std::process::Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

const WSD_PYTHON: &str = "/opt/portproof-wsd-venv/bin/python";

#[test]
fn python_wsdiscovery_lists_its_endpoint_inside_a_namespace() {
    use std::io::BufRead;
    let start = "bash testbeds/scripts/wsdiscovery.sh (as root)";
    let ns = std::path::Path::new(WSD_PYTHON).exists().then(Netns::new).flatten();
    let Some(mut ns) = ns else {
        let msg = format!(
            "python WSDiscovery ({WSD_PYTHON}) or a network namespace of its own is not available; run {start}"
        );
        assert!(!crate::harness::require_real(), "PORTPROOF_REQUIRE_REAL=1: {msg}");
        eprintln!("SKIPPED: {msg}");
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/testbeds/scripts/wsd_publish.py");
    let mut child = ns
        .exec(WSD_PYTHON)
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start WSDiscovery");
    let mut line = String::new();
    let out = child.stdout.take().expect("stdout");
    ns.child = Some(child);
    std::io::BufReader::new(out).read_line(&mut line).expect("read WSDiscovery's output");
    assert_eq!(line.trim(), "published", "WSDiscovery did not start");

    let run = ns
        .exec(crate::harness::bin().to_str().expect("utf-8 path"))
        .args(["check", "127.0.0.1:3702", "--expect", "ws-discovery", "-f", "json"])
        .output()
        .expect("run portproof in the namespace");
    let r: Value = serde_json::from_slice::<Value>(&run.stdout).expect("JSON")["results"][0].clone();
    assert_eq!((run.status.code(), r["level"].as_str()), (Some(0), Some("healthy")), "{r:#}");
    let f = &r["facts"];
    assert_eq!(f["ws_discovery_versions"], serde_json::json!(["2005/04"]), "WSDiscovery speaks 2005/04 only: {r:#}");
    assert_ne!(f["ws_discovery_reply_port"], 3702, "it answers from an ephemeral port: {r:#}");
    let m = &f["ws_discovery_matches"][0];
    assert!(m["address"].as_str().unwrap().starts_with("urn:uuid:"), "{r:#}");
    assert_eq!(m["types"], serde_json::json!(["p:PadsServer"]));
    assert_eq!(m["scopes"], serde_json::json!(["http://example.org/pads4"]));
    assert_eq!(m["xaddrs"], serde_json::json!(["net.tcp://127.0.0.1:7237/"]));
}
