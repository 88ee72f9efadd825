//! The modbus probe against the in-process servers (`testbeds/src/modbus.rs`): tokio-modbus's
//! own server as a device, an all-exception device and a gateway whose target fails, the broken
//! framings and misbehaving devices (identification ignored, late, cut off; misrouted answers),
//! and hostile peers that must end in a verdict within the deadline, with bounded
//! memory. Every server keeps a guard: no test may see a writing function reach it, and the
//! probe's connections must end with a FIN, one at a time, and one at a time across the
//! Modbus and OPC UA ports of one PLC.

use std::time::Duration;

use portproof_testbeds::modbus::{self, Close, DeviceConfig, Guard, ModbusMode};
use portproof_testbeds::{Server, hostile};

use crate::harness::{code, listener, portproof, portproof_within, serve};

/// The data-segment limit of hostile-peer runs (see tests/http.rs).
const BOUND: u64 = 64 << 20;

fn on(mode: ModbusMode) -> (Server, Guard) {
    let l = listener();
    let guard = Guard::default();
    let g = guard.clone();
    (serve(async move { modbus::serve(l, mode, g) }), guard)
}

fn at(s: &Server) -> String {
    format!("127.0.0.1:{}", s.port())
}

fn check(s: &Server, args: &[&str]) -> (i32, serde_json::Value) {
    let target = at(s);
    let mut all = vec!["check", target.as_str(), "-e", "modbus"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-f", "json"]);
    let run = portproof(&all);
    (run.code, run.result())
}

/// The guard's verdict once the server has seen the client leave: read-only, and clean closes.
fn assert_gentle(guard: &Guard) {
    assert!(guard.writes().is_empty(), "the probe sent writing functions: {:02x?}", guard.writes());
    // The server notices the FIN a moment after the probe's process has exited.
    std::thread::sleep(Duration::from_millis(100));
    let closes = guard.closes();
    assert!(!closes.is_empty() && closes.iter().all(|c| *c == Close::Fin), "{closes:?}");
    assert_eq!(guard.peak_connections(), 1);
}

#[test]
fn a_device_with_identification_is_healthy_and_named() {
    let (s, guard) = on(ModbusMode::Device(DeviceConfig::default()));
    let (exit, r) = check(&s, &[]);
    assert_eq!((exit, r["level"].as_str(), r["require"].as_str()), (0, Some("healthy"), Some("speaks")), "{r:#}");
    assert_eq!(r["facts"]["modbus_vendor_name"], "portproof-testbed");
    assert_eq!(r["facts"]["modbus_product_code"], "PP-MB1");
    assert_eq!(r["facts"]["modbus_revision"], "1.0");
    assert_eq!(r["facts"]["product"], "portproof-testbed PP-MB1");
    assert_eq!(r["facts"]["product_version"], "1.0");
    assert_eq!(r["facts"]["modbus_unit"], 1);
    assert!(r["failure"].is_null(), "{r:#}");
    assert_eq!(guard.functions(), [0x2B], "identification alone is enough");
    assert_gentle(&guard);

    // A stated register is read too, and required.
    let (exit, r) = check(&s, &["--register", "0", "--unit", "255"]);
    assert_eq!((exit, r["level"].as_str(), r["require"].as_str()), (0, Some("healthy"), Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["modbus_register"], serde_json::json!({"kind": "holding", "address": 0, "value": 1234}));
    assert_eq!(r["facts"]["modbus_unit"], 255);
    let (exit, r) = check(&s, &["--register", "9"]);
    assert_eq!(
        (exit, code(&r).as_str(), r["level"].as_str()),
        (1, "modbus.exception.illegal_data_address", Some("speaks")),
        "{r:#}"
    );
    assert!(r["failure"]["hint"].as_str().unwrap().contains("modbus.register"), "{r:#}");
    // What the check states is required: a refused register fails even at `--require speaks`.
    let (exit, r) = check(&s, &["--register", "9", "--require", "speaks"]);
    assert_eq!(
        (exit, code(&r).as_str(), &r["failure"]["stated"]),
        (1, "modbus.exception.illegal_data_address", &true.into()),
        "{r:#}"
    );
    let (exit, r) = check(&s, &["--register", "0", "--register-kind", "input"]);
    assert_eq!((exit, r["facts"]["modbus_register"]["value"].as_u64()), (0, Some(4321)), "{r:#}");
    assert_gentle(&guard);
}

#[test]
fn a_device_that_splits_its_identification_is_asked_again() {
    let (s, guard) = on(ModbusMode::Device(DeviceConfig { one_object_per_answer: true, ..DeviceConfig::default() }));
    let (exit, r) = check(&s, &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["product"], "portproof-testbed PP-MB1", "{r:#}");
    assert_eq!(r["facts"]["product_version"], "1.0", "{r:#}");
    assert_eq!(guard.functions(), [0x2B, 0x2B, 0x2B], "one request per object");
    assert_gentle(&guard);
}

#[test]
fn a_device_without_identification_falls_back_to_a_register() {
    let (s, guard) = on(ModbusMode::Device(DeviceConfig { identity: None, ..DeviceConfig::default() }));
    let (exit, r) = check(&s, &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["modbus_register"]["value"], 1234);
    assert!(r["facts"]["modbus_exceptions"][0].as_str().unwrap().contains("illegal_function"), "{r:#}");
    assert_eq!(guard.functions(), [0x2B, 0x03]);
    assert_gentle(&guard);
}

#[test]
fn exceptions_prove_modbus_and_are_named() {
    let (s, guard) = on(ModbusMode::Exception(0x01));
    let (exit, r) = check(&s, &[]);
    assert_eq!(
        (exit, code(&r).as_str(), r["level"].as_str()),
        (0, "modbus.exception.illegal_function", Some("speaks")),
        "an exception proves Modbus, which is what the check requires: {r:#}"
    );
    assert_eq!(r["facts"]["protocol"], "Modbus TCP");
    // Identification, then holding, then input: each refused as not implemented.
    assert_eq!(guard.functions(), [0x2B, 0x03, 0x04]);
    assert_eq!(r["facts"]["modbus_exceptions"].as_array().unwrap().len(), 3, "{r:#}");
    assert_gentle(&guard);

    let (s, _) = on(ModbusMode::Exception(0x06));
    let (_, r) = check(&s, &["--require", "healthy"]);
    assert_eq!(code(&r), "modbus.exception.server_device_busy", "{r:#}");
}

#[test]
fn a_gateway_whose_target_fails_is_asked_once() {
    let (s, guard) = on(ModbusMode::GatewayTargetFailed);
    let (exit, r) = check(&s, &["--unit", "17"]);
    // The stated unit needs a register read, which the gateway's answer rules out: not ok.
    assert_eq!(
        (exit, code(&r).as_str(), r["level"].as_str(), r["require"].as_str()),
        (1, "modbus.exception.gateway_target_failed", Some("speaks"), Some("healthy")),
        "{r:#}"
    );
    assert!(r["failure"]["message"].as_str().unwrap().contains("unit 17"), "{r:#}");
    assert!(r["failure"]["hint"].as_str().unwrap().contains("device behind it"), "{r:#}");
    // No register reads after "target failed": they would only load a struggling gateway.
    assert_eq!(guard.functions(), [0x2B]);
    assert_gentle(&guard);
}

/// The warning codes of a result.
fn warnings(r: &serde_json::Value) -> Vec<String> {
    r["warnings"]
        .as_array()
        .map_or_else(Vec::new, |w| w.iter().filter_map(|w| w["code"].as_str().map(str::to_owned)).collect())
}

#[test]
fn a_device_that_ignores_identification_is_asked_for_a_register() {
    // The identification gets at most 1 s of the 3 s; the register read, on the same
    // connection, the rest.
    let (s, guard) = on(ModbusMode::IgnoresIdentification { late: None });
    let target = at(&s);
    let run = portproof(&["check", &target, "-e", "modbus", "--timeout", "3s", "-f", "json"]);
    let r = run.result();
    assert_eq!((run.code, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["modbus_register"]["value"], 1234, "{r:#}");
    assert!(warnings(&r).contains(&"modbus.identification_unanswered".to_owned()), "{r:#}");
    assert!(run.elapsed < Duration::from_millis(2500), "{:?}", run.elapsed);
    assert_eq!(guard.functions(), [0x2B, 0x03]);
    assert_gentle(&guard);
    // A short deadline shrinks the slice: a third of what is left.
    let run = portproof(&["check", &target, "-e", "modbus", "--register", "1", "--timeout", "900ms", "-f", "json"]);
    let r = run.result();
    assert_eq!((run.code, r["facts"]["modbus_register"]["value"].as_u64()), (0, Some(2)), "{r:#}");

    // A late answer to the identification is told apart by its transaction id: set aside
    // (and its identity kept), and the register's answer read after it.
    let (s, guard) = on(ModbusMode::IgnoresIdentification { late: Some(Duration::from_millis(1500)) });
    let run = portproof(&["check", &at(&s), "-e", "modbus", "--timeout", "4s", "-f", "json"]);
    let r = run.result();
    assert_eq!((run.code, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["modbus_register"]["value"], 1234, "{r:#}");
    assert_eq!(r["facts"]["product"], "portproof-testbed PP-MB1", "{r:#}");
    assert_eq!(guard.functions(), [0x2B, 0x03]);
    assert_gentle(&guard);
}

#[test]
fn a_stated_unit_needs_a_register_of_that_unit() {
    // Identification for any unit, registers for unit 1 only: pymodbus's behaviour.
    let (s, guard) = on(ModbusMode::Device(DeviceConfig { only_unit: Some(1), ..DeviceConfig::default() }));
    let (exit, r) = check(&s, &["--unit", "1"]);
    assert_eq!((exit, r["level"].as_str(), r["require"].as_str()), (0, Some("healthy"), Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["modbus_register"]["value"], 1234, "{r:#}");
    assert_eq!(guard.functions(), [0x2B, 0x03]);
    let (exit, r) = check(&s, &["--unit", "7"]);
    assert_eq!(
        (exit, code(&r).as_str(), r["level"].as_str()),
        (1, "modbus.exception.server_device_failure", Some("speaks")),
        "the identification alone does not prove unit 7: {r:#}"
    );
    assert_eq!(r["facts"]["modbus_vendor_name"], "portproof-testbed", "{r:#}");
    assert!(warnings(&r).contains(&"modbus.identity_any_unit".to_owned()), "{r:#}");
    // Unstated, the default unit's identification still suffices.
    let (exit, r) = check(&s, &[]);
    assert_eq!((exit, r["level"].as_str(), r["require"].as_str()), (0, Some("healthy"), Some("speaks")), "{r:#}");
    assert_gentle(&guard);
}

#[test]
fn a_misrouted_answer_is_not_health_for_a_stated_unit() {
    let (s, guard) = on(ModbusMode::WrongUnit);
    let (exit, r) = check(&s, &["--unit", "1"]);
    assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "modbus.unit_mismatch", Some("speaks")), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("names unit 2"), "{r:#}");
    // Unstated, a warning.
    let (exit, r) = check(&s, &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert!(warnings(&r).contains(&"modbus.unit_mismatch".to_owned()), "{r:#}");
    assert_gentle(&guard);
}

#[test]
fn a_stated_register_is_read_after_any_refusal_but_unavailability() {
    let refusing = |refusal| ModbusMode::Device(DeviceConfig { identity: None, refusal, ..DeviceConfig::default() });
    // Server device failure on the identification says nothing of the registers.
    let (s, guard) = on(refusing(0x04));
    let (exit, r) = check(&s, &["--register", "0"]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["modbus_register"]["value"], 1234, "{r:#}");
    assert_eq!(guard.functions(), [0x2B, 0x03]);
    // Without a criterion the exception proves Modbus, which is all that is required.
    let (exit, r) = check(&s, &[]);
    assert_eq!(
        (exit, code(&r).as_str(), r["level"].as_str()),
        (0, "modbus.exception.server_device_failure", Some("speaks")),
        "{r:#}"
    );
    assert_eq!(guard.functions(), [0x2B, 0x03, 0x2B]);
    assert_gentle(&guard);
    // Busy, or a gateway without a path: no further request.
    for (refusal, name) in [(0x06, "server_device_busy"), (0x0A, "gateway_path_unavailable")] {
        let (s, guard) = on(refusing(refusal));
        let (exit, r) = check(&s, &["--register", "0"]);
        assert_eq!((exit, code(&r)), (1, format!("modbus.exception.{name}")), "{r:#}");
        assert_eq!(guard.functions(), [0x2B]);
    }
}

#[test]
fn the_identity_read_before_a_hang_up_is_kept() {
    let (s, guard) = on(ModbusMode::HangsUpMidIdentification);
    let (_, r) = check(&s, &[]);
    assert_eq!((code(&r).as_str(), r["level"].as_str()), ("modbus.no_response", Some("speaks")), "{r:#}");
    assert_eq!(r["facts"]["modbus_vendor_name"], "portproof-testbed", "{r:#}");
    assert_eq!(r["facts"]["product"], "portproof-testbed", "{r:#}");
    assert_eq!(guard.functions(), [0x2B, 0x2B]);
    assert_gentle(&guard);
}

#[test]
fn a_silent_close_off_port_802_gets_no_client_hello() {
    let (s, guard) = on(ModbusMode::HangsUp);
    let (_, r) = check(&s, &["--timeout", "2s"]);
    assert_eq!((code(&r).as_str(), r["level"].as_str()), ("modbus.no_response", Some("open")), "{r:#}");
    // A side connection (the TLS question) would have been accepted by the time the probe
    // exits; a ClientHello read as Modbus could be a write.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(guard.opened_at().len(), 1, "only the probe's own connection");
    assert_gentle(&guard);
}

#[test]
fn exception_code_zero_is_malformed() {
    let (s, guard) = on(ModbusMode::Exception(0));
    let (exit, r) = check(&s, &[]);
    assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "modbus.malformed", Some("open")), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("code 0"), "{r:#}");
    assert_gentle(&guard);
}

#[test]
fn wrong_transaction_or_protocol_ids_are_malformed() {
    for (mode, words) in [(ModbusMode::WrongTransaction, "transaction id"), (ModbusMode::WrongProtocol, "protocol id")]
    {
        let (s, guard) = on(mode);
        let (exit, r) = check(&s, &[]);
        assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "modbus.malformed", Some("open")), "{r:#}");
        assert!(r["failure"]["message"].as_str().unwrap().contains(words), "{r:#}");
        assert!(guard.writes().is_empty());
    }
}

#[test]
fn one_connection_at_a_time_per_host() {
    let (s, guard) = on(ModbusMode::Device(DeviceConfig::default()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plc.yaml");
    let checks: String = (0..6)
        .map(|i| {
            format!("  - {{ name: read {i}, port: {}, expect: modbus, modbus: {{ register: {} }} }}\n", s.port(), i % 4)
        })
        .collect();
    std::fs::write(&path, format!("defaults: {{ host: 127.0.0.1 }}\nchecks:\n{checks}")).unwrap();
    let run = portproof(&["run", path.to_str().unwrap(), "-f", "json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json()["summary"]["ok"], 6);
    assert_gentle(&guard);
    assert_eq!(guard.closes().len(), 6);
}

#[test]
fn one_connection_per_plc_across_modbus_and_opcua() {
    // One PLC with a Modbus and an OPC UA port, counting its clients across both (DESIGN:
    // one connection per industrial host), checked with the runner's own per-host limit at 6.
    use portproof_testbeds::opcua::{self, OpcuaConfig, OpcuaMode};
    use portproof_testbeds::tally::{self, Tally};
    let (device, guard) = on(ModbusMode::Device(DeviceConfig::default()));
    let ua = {
        let l = listener();
        serve(async { opcua::serve(l, OpcuaMode::Server(OpcuaConfig::default())) })
    };
    let plc = Tally::default();
    let front = |upstream: &Server| {
        let (l, addr, t) = (listener(), upstream.addr, plc.clone());
        serve(async move { tally::proxy(l, addr, t) })
    };
    let (modbus_port, opcua_port) = (front(&device), front(&ua));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plc.yaml");
    let checks: String = (0..3)
        .map(|i| {
            format!(
                "  - {{ name: modbus {i}, port: {}, expect: modbus }}\n  - {{ name: opcua {i}, port: {}, expect: opcua }}\n",
                modbus_port.port(),
                opcua_port.port()
            )
        })
        .collect();
    std::fs::write(&path, format!("defaults: {{ host: 127.0.0.1 }}\nchecks:\n{checks}")).unwrap();
    let run = portproof(&["run", path.to_str().unwrap(), "--per-host", "6", "-f", "json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let report = run.json();
    assert_eq!(report["summary"]["ok"], 6, "{report:#}");
    let healthy = report["results"].as_array().unwrap().iter().filter(|r| r["level"] == "healthy").count();
    assert_eq!(healthy, 6, "{report:#}");
    // Three Modbus connections and two per OPC UA check (Hello, then discovery), never two at once.
    assert_eq!(plc.total(), 9);
    assert_eq!(plc.peak(), 1, "the PLC saw {} of its clients at once", plc.peak());
    assert!(guard.writes().is_empty());
}

#[test]
fn waiting_retries_are_at_least_a_second_apart() {
    let (s, guard) = on(ModbusMode::GatewayTargetFailed);
    let target = at(&s);
    let args = ["check", target.as_str(), "-e", "modbus", "--require", "healthy", "--wait", "2500ms", "-f", "json"];
    let run = portproof(&args);
    let r = run.result();
    assert_eq!((run.code, code(&r).as_str()), (1, "modbus.exception.gateway_target_failed"), "{r:#}");
    let opened = guard.opened_at();
    assert!(opened.len() >= 2, "--wait retried: {r:#}");
    assert_eq!(r["attempts"].as_u64(), Some(opened.len() as u64), "one connection per attempt");
    for pair in opened.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(990), "retried after {gap:?}");
    }
    assert_gentle(&guard);
}

#[test]
fn hostile_peers_on_a_modbus_check() {
    // TLS on the Modbus port: rustls answers our bytes with an alert, or the side question
    // finds a ClientHello answered.
    let pki = portproof_testbeds::pki::Pki::new();
    let l = listener();
    let tls = serve(async { hostile::tls_server(l, pki.server_config()) });
    let run = portproof_within(&["check", &at(&tls), "-e", "modbus", "--timeout", "3s", "-f", "json"], BOUND);
    let r = run.result();
    assert_eq!(
        (code(&r).as_str(), r["identified"].as_str(), r["level"].as_str()),
        ("proto.mismatch", Some("tls"), Some("open")),
        "{r:#}"
    );

    let silent = serve(async { hostile::silent(portproof_testbeds::bind_any().await.unwrap()) });
    let run = portproof(&["check", &at(&silent), "-e", "modbus", "--timeout", "1s", "-f", "json"]);
    assert_eq!(code(&run.result()), "request.timeout");
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);

    let garbage = serve(async { hostile::endless_garbage(portproof_testbeds::bind_any().await.unwrap()) });
    let run = portproof_within(&["check", &at(&garbage), "-e", "modbus", "--timeout", "5s", "-f", "json"], BOUND);
    let r = run.result();
    assert_eq!((run.code, code(&r).as_str(), r["level"].as_str()), (1, "modbus.malformed", Some("open")), "{r:#}");
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);

    let (absurd, _) = on(ModbusMode::AbsurdLength);
    let run = portproof_within(&["check", &at(&absurd), "-e", "modbus", "--timeout", "5s", "-f", "json"], BOUND);
    let r = run.result();
    assert_eq!((run.code, code(&r).as_str()), (1, "modbus.malformed"), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("65535"), "{r:#}");
    assert!(run.elapsed < Duration::from_secs(3), "the length is refused, not waited for: {:?}", run.elapsed);

    let (trickle, guard) = on(ModbusMode::Trickle);
    let run = portproof(&["check", &at(&trickle), "-e", "modbus", "--timeout", "1500ms", "-f", "json"]);
    assert_eq!(code(&run.result()), "request.timeout");
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);
    assert!(guard.writes().is_empty());

    let slam = serve(async { hostile::slam(portproof_testbeds::bind_any().await.unwrap()) });
    let (_, r) = check(&slam, &[]);
    assert_eq!((code(&r).as_str(), r["level"].as_str()), ("modbus.no_response", Some("open")), "{r:#}");

    let app = {
        let l = listener();
        serve(async { portproof_testbeds::http::serve(l, portproof_testbeds::http::GatewayState::new("RUNNING")) })
    };
    let (_, r) = check(&app, &[]);
    assert_eq!((code(&r).as_str(), r["identified"].as_str()), ("proto.mismatch", Some("http")), "{r:#}");
}

#[test]
fn modbus_inside_tls_runs_through_the_tls_engine() {
    let pki = portproof_testbeds::pki::Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.write_to(dir.path()).unwrap().ca;
    let l = listener();
    let guard = Guard::default();
    let g = guard.clone();
    let s = serve(async move { modbus::serve_tls(l, DeviceConfig::default(), g, pki.server_config()) });
    let (exit, r) = check(&s, &["--tls", "--ca", ca.to_str().unwrap()]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["tls_verified"], true, "{r:#}");
    assert_eq!(r["facts"]["product"], "portproof-testbed PP-MB1");
    // Without the CA the certificate is diagnosed before any Modbus request goes out.
    let (_, r) = check(&s, &["--tls"]);
    assert_eq!((code(&r).as_str(), r["level"].as_str()), ("tls.cert_unknown_ca", Some("open")), "{r:#}");
    // Plain Modbus on it is named as TLS.
    let (_, r) = check(&s, &[]);
    assert_eq!((code(&r).as_str(), r["identified"].as_str()), ("proto.mismatch", Some("tls")), "{r:#}");
    assert_eq!(guard.functions(), [0x2B]);
}

#[test]
fn modbus_settings_belong_to_modbus_checks() {
    let (s, _) = on(ModbusMode::Device(DeviceConfig::default()));
    let run = portproof(&["check", &at(&s), "-e", "tcp", "--unit", "3"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("modbus"), "{}", run.stderr);
}
