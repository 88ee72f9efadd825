//! The amqp, mqtt and rabbitmq-api probes against the real brokers: RabbitMQ on 5672 (and its
//! management API on 15672) and three Mosquittos: anonymous on 1883, password on 18883, TLS on
//! 18884 (`testbeds/scripts/brokers.sh` prepares them and the vhost and queues used here).

use serde_json::Value;

use crate::harness::{code, portproof, portproof_env, real_peer};

const RABBITMQ: &str = "127.0.0.1:5672";
const RABBITMQ_API: &str = "127.0.0.1:15672";
const MOSQUITTO: &str = "127.0.0.1:1883";
const MOSQUITTO_AUTH: &str = "127.0.0.1:18883";
const MOSQUITTO_TLS: &str = "127.0.0.1:18884";
const START: &str = "bash testbeds/scripts/brokers.sh";
const PW: (&str, &str) = ("PORTPROOF_TEST_PASSWORD", "guest");

fn ca() -> String {
    let state = std::env::var("PORTPROOF_STATE").unwrap_or_else(|_| "/tmp/portproof-testbeds".into());
    format!("{state}/brokers/ca.pem")
}

fn check(args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-f", "json"]);
    let run = portproof_env(&all, env);
    (run.code, run.result())
}

fn fact<'a>(r: &'a Value, k: &str) -> &'a Value {
    &r["facts"][k]
}

#[test]
fn rabbitmq_is_named_without_credentials() {
    if !real_peer("RabbitMQ", RABBITMQ, START) {
        return;
    }
    let (exit, r) = check(&[RABBITMQ, "--expect", "amqp"], &[]);
    assert_eq!(exit, 0, "{r:#}");
    assert_eq!(r["level"], "speaks");
    assert_eq!(code(&r), "auth.no_credentials");
    assert_eq!(fact(&r, "product"), "RabbitMQ");
    assert!(fact(&r, "product_version").as_str().is_some_and(|v| v.starts_with(char::is_numeric)), "{r:#}");
    assert_eq!(fact(&r, "protocol"), "AMQP 0-9-1");
    let mechs = fact(&r, "amqp_mechanisms").as_array().unwrap();
    assert!(mechs.iter().any(|m| m == "PLAIN"), "{r:#}");
    let caps = fact(&r, "amqp_capabilities").as_array().unwrap();
    assert!(caps.iter().any(|c| c == "authentication_failure_close"), "{r:#}");
    assert!(fact(&r, "cluster_name").is_string());
    // The table names the broker too.
    let run = portproof(&["check", RABBITMQ, "--expect", "amqp"]);
    assert!(run.stdout.contains("RabbitMQ") && run.stdout.contains("AMQP 0-9-1"), "{}", run.stdout);
}

#[test]
fn rabbitmq_login_vhost_and_queue() {
    if !real_peer("RabbitMQ", RABBITMQ, START) {
        return;
    }
    let login = [RABBITMQ, "--expect", "amqp", "--user", "guest", "--password-env", PW.0];
    let (exit, r) = check(&login, &[PW]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["require"], "healthy");
    assert_eq!(fact(&r, "amqp_vhost"), "/");
    assert_eq!(fact(&r, "amqp_login_mechanism"), "PLAIN");

    let (exit, r) = check(&[&login[..], &["--queue", "portproof-probe"]].concat(), &[PW]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert!(fact(&r, "amqp_queue_messages").is_u64(), "{r:#}");

    let (exit, r) = check(&[&login[..], &["--queue", "portproof-missing"]].concat(), &[PW]);
    assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "amqp.queue_missing", Some("speaks")), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("NOT_FOUND"), "{r:#}");

    let (exit, r) = check(&[&login[..], &["--vhost", "portproof-denied"]].concat(), &[PW]);
    assert_eq!((exit, code(&r).as_str()), (1, "amqp.vhost_denied"), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("portproof-denied"), "{r:#}");
    assert_eq!(r["failure"]["phase"], "auth");
}

#[test]
fn rabbitmq_refused_login_names_the_mechanism_and_hides_the_password() {
    if !real_peer("RabbitMQ", RABBITMQ, START) {
        return;
    }
    let secret = "not-the-password-4711";
    let args = [RABBITMQ, "--expect", "amqp", "--user", "guest", "--password-env", PW.0];
    let run = portproof_env(&[&["check"], &args[..], &["-f", "json"]].concat(), &[(PW.0, secret)]);
    assert_eq!(run.code, 1);
    let r = run.result();
    assert_eq!(code(&r), "auth.rejected", "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("PLAIN"), "{r:#}");
    assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
    // The same from a file, in the table.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let run =
        portproof(&["check", RABBITMQ, "-e", "amqp", "--user", "guest", "--password-file", file.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("auth.rejected") && !run.stdout.contains(secret), "{}", run.stdout);
    std::fs::write(&file, "guest\n").unwrap();
    let run =
        portproof(&["check", RABBITMQ, "-e", "amqp", "--user", "guest", "--password-file", file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stdout);
}

#[test]
fn rabbitmq_management_api() {
    if !real_peer("RabbitMQ management API", RABBITMQ_API, START) {
        return;
    }
    let (exit, r) = check(&[RABBITMQ_API, "-e", "rabbitmq-api", "--user", "guest", "--password-env", PW.0], &[PW]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(fact(&r, "product"), "RabbitMQ");
    assert!(fact(&r, "cluster_name").is_string() && fact(&r, "erlang_version").is_string(), "{r:#}");
    assert_eq!(fact(&r, "json_value"), "ok");

    let (exit, r) = check(&[RABBITMQ_API, "-e", "rabbitmq-api"], &[]);
    assert_eq!((exit, r["level"].as_str(), code(&r).as_str()), (0, Some("speaks"), "auth.no_credentials"), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("RabbitMQ"), "{r:#}");

    let (exit, r) =
        check(&[RABBITMQ_API, "-e", "rabbitmq-api", "--user", "guest", "--password-env", PW.0], &[(PW.0, "nope")]);
    assert_eq!((exit, code(&r).as_str()), (1, "auth.rejected"), "{r:#}");
}

#[test]
fn mosquitto_speaks_5_and_311_and_names_itself() {
    if !real_peer("Mosquitto", MOSQUITTO, START) {
        return;
    }
    let (exit, r) = check(&[MOSQUITTO, "--expect", "mqtt"], &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(fact(&r, "mqtt_version"), "5");
    assert_eq!(fact(&r, "mqtt_connack"), "success");
    assert_eq!(fact(&r, "product"), "mosquitto");
    assert!(fact(&r, "mqtt_receive_maximum").is_u64(), "{r:#}");

    let (exit, r) = check(&[MOSQUITTO, "--expect", "mqtt", "--mqtt-version", "3.1.1", "--roundtrip"], &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(fact(&r, "mqtt_version"), "3.1.1");
    assert_eq!(fact(&r, "mqtt_connack"), "accepted");
    assert!(fact(&r, "mqtt_roundtrip").as_str().unwrap().starts_with("portproof/probe/"), "{r:#}");

    let (exit, r) = check(&[MOSQUITTO, "--expect", "mqtt", "--roundtrip", "--topic", "portproof/test/rt"], &[]);
    assert_eq!((exit, fact(&r, "mqtt_roundtrip").as_str()), (0, Some("portproof/test/rt")), "{r:#}");
}

#[test]
fn mosquitto_with_password_decodes_the_refusal() {
    if !real_peer("Mosquitto with a password", MOSQUITTO_AUTH, START) {
        return;
    }
    for version in ["5", "3.1.1"] {
        let (exit, r) = check(&[MOSQUITTO_AUTH, "-e", "mqtt", "--mqtt-version", version, "--require", "healthy"], &[]);
        assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "auth.rejected", Some("speaks")), "{r:#}");
        assert_eq!(fact(&r, "mqtt_connack"), "not_authorized", "{r:#}");
        assert!(r["failure"]["hint"].as_str().unwrap().contains("login"), "{r:#}");
    }
    let pw = ("PORTPROOF_TEST_MQTT_PASSWORD", "portproof-secret");
    let login = [MOSQUITTO_AUTH, "-e", "mqtt", "--user", "portproof", "--password-env", pw.0];
    let (exit, r) = check(&login, &[pw]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    let (exit, r) = check(&login, &[(pw.0, "wrong")]);
    assert_eq!((exit, code(&r).as_str()), (1, "auth.rejected"), "{r:#}");
    assert!(r["failure"]["hint"].as_str().unwrap().contains("password"), "{r:#}");
}

#[test]
fn mosquitto_over_tls() {
    if !real_peer("Mosquitto over TLS", MOSQUITTO_TLS, START) {
        return;
    }
    let ca = ca();
    let (exit, r) = check(&[MOSQUITTO_TLS, "-e", "mqtts", "--ca", &ca, "--roundtrip"], &[]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert!(fact(&r, "tls_version").as_str().is_some_and(|v| v.starts_with("TLS 1.")), "{r:#}");
    assert_eq!(fact(&r, "tls_verified"), true);
    // Without the CA the certificate stops it before any MQTT byte.
    let (exit, r) = check(&[MOSQUITTO_TLS, "-e", "mqtts"], &[]);
    assert_eq!((exit, r["level"].as_str()), (1, Some("open")), "{r:#}");
    assert!(code(&r).starts_with("tls.cert"), "{r:#}");
    // Plain MQTT on the TLS port is named.
    let (exit, r) = check(&[MOSQUITTO_TLS, "-e", "mqtt"], &[]);
    assert_eq!((exit, code(&r).as_str(), r["identified"].as_str()), (1, "proto.mismatch", Some("tls")), "{r:#}");
}

#[test]
fn brokers_on_each_others_ports_are_named() {
    if !real_peer("RabbitMQ", RABBITMQ, START) || !real_peer("Mosquitto", MOSQUITTO, START) {
        return;
    }
    // RabbitMQ answers an MQTT CONNECT with its own protocol header.
    let (exit, r) = check(&[RABBITMQ, "-e", "mqtt"], &[]);
    assert_eq!((exit, code(&r).as_str(), r["identified"].as_str()), (1, "proto.mismatch", Some("amqp")), "{r:#}");
    // Mosquitto hangs up on the AMQP header.
    let (exit, r) = check(&[MOSQUITTO, "-e", "amqp"], &[]);
    assert_eq!((exit, code(&r).as_str(), r["level"].as_str()), (1, "amqp.no_response", Some("open")), "{r:#}");
}
