//! The amqp, mqtt and rabbitmq-api probes against the in-process responders: the cases a real
//! broker will not produce on demand (AMQP 1.0, a 3.1.1-only broker, refusals by reason code,
//! alarms), TLS through the shared engine, and hostile peers that must end in a verdict within
//! the deadline, with bounded memory.

use std::time::Duration;

use portproof_testbeds::amqp::{self, AmqpMode, BrokerConfig};
use portproof_testbeds::mqtt::{self, MqttConfig, MqttMode};
use portproof_testbeds::{Server, hostile};

use crate::harness::{code, listener, portproof, portproof_env, portproof_within, serve};

/// The data-segment limit of hostile-peer runs (see tests/http.rs).
const BOUND: u64 = 64 << 20;
const PW: &str = "PORTPROOF_TEST_PASSWORD";

fn amqp_on(mode: AmqpMode) -> Server {
    let l = listener();
    serve(async { amqp::serve(l, mode) })
}

fn mqtt_on(mode: MqttMode) -> Server {
    let l = listener();
    serve(async { mqtt::serve(l, mode) })
}

fn at(s: &Server) -> String {
    format!("127.0.0.1:{}", s.port())
}

fn check(s: &Server, args: &[&str], password: Option<&str>) -> serde_json::Value {
    let target = at(s);
    let mut all = vec!["check", target.as_str()];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-f", "json"]);
    let env: Vec<(&str, &str)> = password.map(|p| (PW, p)).into_iter().collect();
    portproof_env(&all, &env).result()
}

const LOGIN: [&str; 4] = ["--user", "guest", "--password-env", PW];

#[test]
fn amqp_responder_logs_in_through_lapin_and_refuses_by_name() {
    let s = amqp_on(AmqpMode::Broker(BrokerConfig::default()));
    let r = check(&s, &[&["-e", "amqp"][..], &LOGIN, &["--queue", "portproof-probe"]].concat(), Some("guest"));
    assert_eq!(r["level"], "healthy", "{r:#}");
    assert_eq!(r["facts"]["product"], "portproof-testbed");
    assert_eq!(r["facts"]["amqp_queue_consumers"], 0);

    let r = check(&s, &[&["-e", "amqp"][..], &LOGIN].concat(), Some("wrong"));
    assert_eq!((code(&r).as_str(), r["level"].as_str()), ("auth.rejected", Some("speaks")), "{r:#}");
    let r = check(&s, &[&["-e", "amqp"][..], &LOGIN, &["--vhost", "elsewhere"]].concat(), Some("guest"));
    assert_eq!(code(&r), "amqp.vhost_denied", "{r:#}");
    let r = check(&s, &[&["-e", "amqp"][..], &LOGIN, &["--queue", "portproof-missing"]].concat(), Some("guest"));
    assert_eq!(code(&r), "amqp.queue_missing", "{r:#}");
    // Stated, so required: a missing queue or a denied vhost fails even at `--require speaks`.
    for extra in [["--queue", "portproof-missing"], ["--vhost", "elsewhere"]] {
        let r = check(&s, &[&["-e", "amqp", "--require", "speaks"][..], &LOGIN, &extra].concat(), Some("guest"));
        assert_eq!((r["ok"].as_bool(), &r["failure"]["stated"]), (Some(false), &true.into()), "{r:#}");
    }
}

#[test]
fn a_broker_offering_unlimited_frames_cannot_make_the_login_allocate() {
    // frame-max 0 is "no limit"; a client that sizes its buffers by it asks for gigabytes.
    let s = amqp_on(AmqpMode::Broker(BrokerConfig { frame_max: 0, ..BrokerConfig::default() }));
    let target = at(&s);
    let args = ["check", target.as_str(), "-e", "amqp", "--user", "guest", "--password-env", PW, "-f", "json"];
    let run = crate::harness::portproof_within_env(&args, BOUND, &[(PW, "guest")]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.result()["level"], "healthy");
}

#[test]
fn the_password_never_reaches_the_logs_even_at_trace() {
    let s = amqp_on(AmqpMode::Broker(BrokerConfig::default()));
    let secret = "guest";
    let target = at(&s);
    for log in ["trace", "lapin=trace", "debug,lapin::io_loop=trace"] {
        let args = ["check", target.as_str(), "-e", "amqp", "--user", "guest", "--password-env", PW, "-f", "json"];
        let run = portproof_env(&args, &[(PW, secret), ("PORTPROOF_LOG", log)]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        // PLAIN's response is \0guest\0guest: look for the bytes lapin would print, too.
        assert!(!run.stderr.contains("0, 103, 117, 101, 115, 116, 0, 103"), "{log}: {}", run.stderr);
        assert!(!run.stderr.contains("lapin"), "{log}: lapin logs are off");
    }
}

#[test]
fn a_broker_that_drops_a_bad_login_without_a_reason_is_likely_auth_rejected() {
    let s = amqp_on(AmqpMode::Broker(BrokerConfig { auth_failure_close: false, ..BrokerConfig::default() }));
    let r = check(&s, &[&["-e", "amqp"][..], &LOGIN].concat(), Some("wrong"));
    assert_eq!(code(&r), "auth.rejected", "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("likely"), "{r:#}");
    let caps = r["facts"]["amqp_capabilities"].as_array().unwrap();
    assert!(!caps.iter().any(|c| c == "authentication_failure_close"));
}

#[test]
fn other_amqp_versions_and_early_closes_are_named() {
    let s = amqp_on(AmqpMode::Amqp10);
    let r = check(&s, &["-e", "amqp"], None);
    assert_eq!(
        (code(&r).as_str(), r["identified"].as_str(), r["level"].as_str()),
        ("amqp.version_mismatch", Some("amqp1.0"), Some("open")),
        "{r:#}"
    );
    assert!(r["failure"]["message"].as_str().unwrap().contains("AMQP 1.0"), "{r:#}");

    let s = amqp_on(AmqpMode::CloseBeforeStart);
    let r = check(&s, &["-e", "amqp"], None);
    assert_eq!(code(&r), "amqp.closed.320", "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("CONNECTION_FORCED"), "{r:#}");
}

#[test]
fn absurd_amqp_lengths_end_malformed_at_once_with_bounded_memory() {
    for mode in [AmqpMode::AbsurdTable, AmqpMode::HugeFrame] {
        let s = amqp_on(mode);
        let run = portproof_within(&["check", &at(&s), "-e", "amqp", "--timeout", "5s", "-f", "json"], BOUND);
        let r = run.result();
        assert_eq!((run.code, code(&r).as_str()), (1, "amqp.malformed"), "{r:#}");
        assert!(run.elapsed < Duration::from_secs(3), "the length is refused, not waited for: {:?}", run.elapsed);
    }
}

#[test]
fn amqps_runs_through_the_tls_engine_and_plain_amqp_on_it_is_named() {
    let pki = portproof_testbeds::pki::Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_to(dir.path()).unwrap();
    let ca = files.ca.to_str().unwrap();
    let l = listener();
    let s = serve(async { amqp::serve_tls(l, AmqpMode::Broker(BrokerConfig::default()), pki.server_config()) });
    let r = check(&s, &[&["-e", "amqps", "--ca", ca][..], &LOGIN].concat(), Some("guest"));
    assert_eq!(r["level"], "healthy", "{r:#}");
    assert_eq!(r["facts"]["tls_verified"], true);
    // No credential goes over a session whose certificate did not verify.
    let r = check(&s, &[&["-e", "amqps"][..], &LOGIN].concat(), Some("guest"));
    assert_eq!((code(&r).as_str(), r["level"].as_str()), ("tls.cert_unknown_ca", Some("open")), "{r:#}");
    let r = check(&s, &["-e", "amqp"], None);
    assert_eq!((code(&r).as_str(), r["identified"].as_str()), ("proto.mismatch", Some("tls")), "{r:#}");
}

#[test]
fn hostile_peers_on_an_amqp_check() {
    let silent = serve(async { hostile::silent(portproof_testbeds::bind_any().await.unwrap()) });
    let run = portproof(&["check", &at(&silent), "-e", "amqp", "--timeout", "1s", "-f", "json"]);
    assert_eq!(code(&run.result()), "request.timeout");
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);

    let garbage = serve(async { hostile::endless_garbage(portproof_testbeds::bind_any().await.unwrap()) });
    let run = portproof_within(&["check", &at(&garbage), "-e", "amqp", "--timeout", "5s", "-f", "json"], BOUND);
    let r = run.result();
    assert_eq!((run.code, r["level"].as_str()), (1, Some("open")), "{r:#}");
    assert!(["amqp.malformed", "proto.mismatch"].contains(&code(&r).as_str()), "{r:#}");

    let trickle = serve(async {
        hostile::trickle(portproof_testbeds::bind_any().await.unwrap(), b"\x01\x00\x00\x00\x00\x01\xf0")
    });
    let run = portproof(&["check", &at(&trickle), "-e", "amqp", "--timeout", "1s", "-f", "json"]);
    assert_eq!(code(&run.result()), "request.timeout");
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);

    let app = {
        let l = listener();
        serve(async { portproof_testbeds::http::serve(l, portproof_testbeds::http::GatewayState::new("RUNNING")) })
    };
    let r = check(&app, &["-e", "amqp"], None);
    assert_eq!((code(&r).as_str(), r["identified"].as_str()), ("proto.mismatch", Some("http")), "{r:#}");
    let r = check(&app, &["-e", "mqtt"], None);
    assert_eq!((code(&r).as_str(), r["identified"].as_str()), ("proto.mismatch", Some("http")), "{r:#}");
}

#[test]
fn mqtt_falls_back_to_311_both_ways_a_broker_refuses_5() {
    let hangs_up = mqtt_on(MqttMode::SilentOn5);
    let r = check(&hangs_up, &["-e", "mqtt"], None);
    assert_eq!((r["level"].as_str(), r["facts"]["mqtt_version"].as_str()), (Some("healthy"), Some("3.1.1")), "{r:#}");
    assert_eq!(r["facts"]["mqtt_versions_tried"][0], "5: closed without CONNACK");

    let old = mqtt_on(MqttMode::Broker(MqttConfig { v5: false, ..MqttConfig::default() }));
    let r = check(&old, &["-e", "mqtt"], None);
    assert_eq!((r["level"].as_str(), r["facts"]["mqtt_version"].as_str()), (Some("healthy"), Some("3.1.1")), "{r:#}");
    assert_eq!(r["facts"]["mqtt_versions_tried"][0], "5: refused (unacceptable_protocol_version)");
    // Pinned to 5, the refusal is the verdict.
    let r = check(&old, &["-e", "mqtt", "--mqtt-version", "5", "--require", "healthy"], None);
    assert_eq!(
        (code(&r).as_str(), r["level"].as_str()),
        ("mqtt.connack.unacceptable_protocol_version", Some("speaks")),
        "{r:#}"
    );
}

#[test]
fn mqtt_refusals_are_named_by_reason() {
    let cases: [(u8, bool, Option<&str>, &str); 5] = [
        (0x9D, true, Some("mqtt.example:1883"), "mqtt.connack.server_moved"),
        (0x89, true, None, "mqtt.connack.server_busy"),
        (0x8A, true, None, "mqtt.connack.banned"),
        (3, false, None, "mqtt.connack.server_unavailable"),
        (0x86, true, None, "auth.rejected"),
    ];
    for (c, v5_layout, reference, want) in cases {
        let s = mqtt_on(MqttMode::Refuse { code: c, v5_layout, server_reference: reference.map(str::to_owned) });
        let r = check(&s, &["-e", "mqtt", "--mqtt-version", if v5_layout { "5" } else { "3.1.1" }], None);
        assert_eq!((code(&r).as_str(), r["level"].as_str()), (want, Some("speaks")), "{r:#}");
        if let Some(other) = reference {
            assert!(r["failure"]["hint"].as_str().unwrap().contains(other), "{r:#}");
            assert_eq!(r["facts"]["mqtt_server_reference"], other);
        }
    }
}

#[test]
fn mqtt_login_round_trip_and_version_on_the_responder() {
    let s = mqtt_on(MqttMode::Broker(MqttConfig {
        login: Some(("portproof".into(), "secret".into())),
        ..MqttConfig::default()
    }));
    let login = ["--user", "portproof", "--password-env", PW, "--roundtrip"];
    let r = check(&s, &[&["-e", "mqtt"][..], &login].concat(), Some("secret"));
    assert_eq!(r["level"], "healthy", "{r:#}");
    assert_eq!(r["facts"]["product"], "portproof-testbed");
    assert_eq!(r["facts"]["mqtt_maximum_qos"], 1);
    assert!(r["facts"]["mqtt_roundtrip"].is_string(), "{r:#}");
    let r = check(&s, &[&["-e", "mqtt", "--mqtt-version", "3.1.1"][..], &login].concat(), Some("nope"));
    assert_eq!((code(&r).as_str(), r["facts"]["mqtt_connack"].as_str()), ("auth.rejected", Some("not_authorized")));

    let quiet = mqtt_on(MqttMode::Broker(MqttConfig { deny_sys: true, ..MqttConfig::default() }));
    let r = check(&quiet, &["-e", "mqtt"], None);
    assert_eq!(
        (r["level"].as_str(), r["facts"]["mqtt_broker_version"].as_str()),
        (Some("healthy"), Some("not published"))
    );
}

#[test]
fn a_publish_refused_by_an_acl_is_named_at_once() {
    let s = mqtt_on(MqttMode::Broker(MqttConfig { deny_publish: true, ..MqttConfig::default() }));
    let run = portproof(&["check", &at(&s), "-e", "mqtt", "--roundtrip", "--timeout", "5s", "-f", "json"]);
    let r = run.result();
    assert_eq!((code(&r).as_str(), r["level"].as_str()), ("mqtt.publish_refused", Some("speaks")), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("not_authorized"), "{r:#}");
    assert!(run.elapsed < Duration::from_secs(3), "{:?}", run.elapsed);
    // A topic without a round trip, or with control characters, is refused before any I/O.
    let run = portproof(&["check", &at(&s), "-e", "mqtt", "--topic", "a/b"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = portproof(&["check", &at(&s), "-e", "mqtt", "--roundtrip", "--topic", "a\tb"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn failures_name_the_phase_they_happened_in() {
    let s = amqp_on(AmqpMode::Broker(BrokerConfig::default()));
    let r = check(&s, &[&["-e", "amqp"][..], &LOGIN, &["--queue", "portproof-missing"]].concat(), Some("guest"));
    assert_eq!((code(&r).as_str(), r["failure"]["phase"].as_str()), ("amqp.queue_missing", Some("query")), "{r:#}");
    let r = check(&s, &[&["-e", "amqp"][..], &LOGIN].concat(), Some("wrong"));
    assert_eq!(r["failure"]["phase"], "auth", "{r:#}");
    let closing = amqp_on(AmqpMode::CloseBeforeStart);
    let r = check(&closing, &["-e", "amqp"], None);
    assert_eq!(r["failure"]["phase"], "request", "{r:#}");
    let m = mqtt_on(MqttMode::Broker(MqttConfig { login: Some(("u".into(), "p".into())), ..MqttConfig::default() }));
    let r = check(&m, &["-e", "mqtt"], None);
    assert_eq!((code(&r).as_str(), r["failure"]["phase"].as_str()), ("auth.rejected", Some("auth")), "{r:#}");
    // A vhost without a login would never be checked: refused up front.
    let run = portproof(&["check", &at(&s), "-e", "amqp", "--vhost", "x"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn broken_connacks_end_malformed_and_trickles_at_the_deadline() {
    for mode in [MqttMode::BadRemainingLength, MqttMode::LyingConnack] {
        let s = mqtt_on(mode);
        let run = portproof_within(&["check", &at(&s), "-e", "mqtt", "--timeout", "5s", "-f", "json"], BOUND);
        let r = run.result();
        assert_eq!((code(&r).as_str(), r["level"].as_str()), ("mqtt.malformed", Some("open")), "{r:#}");
        assert!(run.elapsed < Duration::from_secs(3), "{:?}", run.elapsed);
    }
    let s = mqtt_on(MqttMode::Trickle);
    let run = portproof(&["check", &at(&s), "-e", "mqtt", "--timeout", "1s", "-f", "json"]);
    assert_eq!(code(&run.result()), "request.timeout");
    assert!(run.elapsed < Duration::from_secs(4), "{:?}", run.elapsed);

    let silent = serve(async { hostile::silent(portproof_testbeds::bind_any().await.unwrap()) });
    let run = portproof(&["check", &at(&silent), "-e", "mqtt", "--timeout", "1s", "-f", "json"]);
    assert_eq!(code(&run.result()), "request.timeout");
    let garbage = serve(async { hostile::endless_garbage(portproof_testbeds::bind_any().await.unwrap()) });
    let run = portproof_within(&["check", &at(&garbage), "-e", "mqtt", "--timeout", "5s", "-f", "json"], BOUND);
    assert_eq!(run.result()["level"], "open");
}

#[test]
fn mqtts_through_the_tls_engine() {
    let pki = portproof_testbeds::pki::Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_to(dir.path()).unwrap();
    let l = listener();
    let s = serve(async { mqtt::serve_tls(l, MqttMode::Broker(MqttConfig::default()), pki.server_config()) });
    let r = check(&s, &["-e", "mqtts", "--ca", files.ca.to_str().unwrap(), "--roundtrip"], None);
    assert_eq!(r["level"], "healthy", "{r:#}");
    assert!(r["facts"]["tls_version"].is_string());
}

#[test]
fn rabbitmq_api_alarms_on_the_imitation() {
    let state = portproof_testbeds::http::GatewayState::new("RUNNING");
    let l = listener();
    let st = state.clone();
    let s = serve(async move { portproof_testbeds::http::serve(l, st) });
    let r = check(&s, &[&["-e", "rabbitmq-api"][..], &LOGIN].concat(), Some("guest"));
    assert_eq!(r["level"], "healthy", "{r:#}");
    state.set_alarms(&["memory", "disk"]);
    let r = check(&s, &[&["-e", "rabbitmq-api"][..], &LOGIN].concat(), Some("guest"));
    assert_eq!((code(&r).as_str(), r["level"].as_str()), ("rabbitmq.alarms", Some("speaks")), "{r:#}");
    let msg = r["failure"]["message"].as_str().unwrap();
    assert!(msg.contains("memory") && msg.contains("disk"), "{msg}");
}

#[test]
fn basic_auth_never_follows_a_redirect_to_another_origin() {
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The second origin records what it is sent.
    let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let l2 = listener();
    let port2 = l2.local_addr().unwrap().port();
    let log = seen.clone();
    let _other = crate::harness::rt().spawn(async move {
        while let Ok((mut s, _)) = l2.accept().await {
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap_or(0);
            log.lock().unwrap().extend_from_slice(&buf[..n]);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
        }
    });
    let redirect: &'static [u8] = Box::leak(
        format!("HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{port2}/\r\ncontent-length: 0\r\n\r\n")
            .into_bytes()
            .into_boxed_slice(),
    );
    let first = serve(async move { hostile::greeter(portproof_testbeds::bind_any().await.unwrap(), redirect) });
    let target = format!("http://{}/", at(&first));
    let run =
        portproof_env(&["check", &target, "--user", "monitor", "--password-env", PW, "-f", "json"], &[(PW, "s3")]);
    assert_eq!(run.result()["facts"]["http_status"], 200, "{}", run.stdout);
    let sent = String::from_utf8_lossy(&seen.lock().unwrap()).to_ascii_lowercase();
    assert!(sent.starts_with("get / "), "{sent}");
    assert!(!sent.contains("authorization"), "credentials followed the redirect: {sent}");
}
