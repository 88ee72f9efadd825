//! The modbus probe against a real, independent implementation: pymodbus's TCP server on
//! 127.0.0.1:15020, started by `testbeds/scripts/industrial.sh` (unit 1 with device
//! identification, holding registers 0-9 = 1000..1009, input registers 0-9 = 2000..2009).

use serde_json::{Value, json};

use crate::harness::{code, portproof, real_peer};

const PYMODBUS: &str = "127.0.0.1:15020";
const START: &str = "bash testbeds/scripts/industrial.sh";

fn check(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["check", PYMODBUS, "--expect", "modbus"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-f", "json"]);
    let run = portproof(&all);
    (run.code, run.result())
}

#[test]
fn pymodbus_identifies_itself() {
    if !real_peer("the pymodbus server", PYMODBUS, START) {
        return;
    }
    let (exit, r) = check(&[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    let f = &r["facts"];
    assert_eq!(f["modbus_vendor_name"], "portproof-pymodbus", "{r:#}");
    assert_eq!(f["modbus_product_code"], "PPM-1");
    assert_eq!(f["modbus_revision"], "3.16");
    assert_eq!(
        (f["product"].as_str(), f["product_version"].as_str()),
        (Some("portproof-pymodbus PPM-1"), Some("3.16"))
    );
    assert_eq!(f["protocol"], "Modbus TCP");
    // The table names it too.
    let run = portproof(&["check", PYMODBUS, "--expect", "modbus"]);
    assert!(run.stdout.contains("portproof-pymodbus PPM-1 3.16"), "{}", run.stdout);
}

#[test]
fn pymodbus_registers_are_read() {
    if !real_peer("the pymodbus server", PYMODBUS, START) {
        return;
    }
    let (exit, r) = check(&["--register", "2"]);
    assert_eq!((exit, r["level"].as_str(), r["require"].as_str()), (0, Some("healthy"), Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["modbus_register"], json!({"kind": "holding", "address": 2, "value": 1002}));
    let (exit, r) = check(&["--register", "9", "--register-kind", "input"]);
    assert_eq!(exit, 0, "{r:#}");
    assert_eq!(r["facts"]["modbus_register"], json!({"kind": "input", "address": 9, "value": 2009}));
}

#[test]
fn pymodbus_exceptions_are_named() {
    if !real_peer("the pymodbus server", PYMODBUS, START) {
        return;
    }
    // Past the blocks: pymodbus answers illegal data address for both tables.
    let (exit, r) = check(&["--register", "100"]);
    assert_eq!(
        (exit, code(&r).as_str(), r["level"].as_str()),
        (1, "modbus.exception.illegal_data_address", Some("speaks")),
        "{r:#}"
    );
    assert_eq!(r["facts"]["modbus_exceptions"].as_array().map(Vec::len), Some(2), "holding, then input: {r:#}");
    // A unit it does not have: pymodbus still identifies the server (its identity is the
    // server's, not the unit's), and refuses the register with server device failure.
    let (exit, r) = check(&["--unit", "7", "--register", "0"]);
    assert_eq!(
        (exit, code(&r).as_str(), r["level"].as_str()),
        (1, "modbus.exception.server_device_failure", Some("speaks")),
        "{r:#}"
    );
    assert_eq!(r["facts"]["modbus_vendor_name"], "portproof-pymodbus", "{r:#}");
    assert!(r["failure"]["hint"].as_str().unwrap().contains("modbus.unit"), "{r:#}");
}

#[test]
fn pymodbus_identification_does_not_prove_a_stated_unit() {
    if !real_peer("the pymodbus server", PYMODBUS, START) {
        return;
    }
    // pymodbus identifies itself for unit 7, which it does not have: a stated unit is read.
    let (exit, r) = check(&["--unit", "7"]);
    assert_eq!(
        (exit, code(&r).as_str(), r["level"].as_str(), r["require"].as_str()),
        (1, "modbus.exception.server_device_failure", Some("speaks"), Some("healthy")),
        "{r:#}"
    );
    assert_eq!(r["facts"]["modbus_vendor_name"], "portproof-pymodbus", "{r:#}");
    let warned: Vec<&str> = r["warnings"].as_array().unwrap().iter().filter_map(|w| w["code"].as_str()).collect();
    assert!(warned.contains(&"modbus.identity_any_unit"), "{r:#}");
    // Unit 1 is there: its holding register 0 holds 1000.
    let (exit, r) = check(&["--unit", "1"]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["modbus_register"], json!({"kind": "holding", "address": 0, "value": 1000}));
}
