//! The profile model through the binary: features (`--with`), roles on hosts (`--host
//! ROLE=`), any_of groups, `expect: closed`, the product's own configuration files
//! (`--config`), and `profile --list`, against the in-process testbeds.

use portproof_testbeds::gateway::Gateway;
use portproof_testbeds::hostile;

use crate::harness::{code, gateway, portproof, serve};

fn by_name(j: &serde_json::Value, name: &str) -> serde_json::Value {
    j["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no result {name:?} in {j:#}"))
        .clone()
}

/// Waits until nothing accepts connections on 127.0.0.1:`port` (a testbed port just dropped:
/// its accept loop ends when the runtime next polls it).
fn until_closed(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("127.0.0.1:{port} still accepts connections");
}

#[test]
fn with_opcua_fails_when_4840_is_closed_and_passes_when_it_speaks() {
    let mut gw = gateway();
    let offset = gw.offset.to_string();
    let args = ["profile", "ignition", "--offset", &offset, "--with", "opcua", "-f", "json"];
    let run = portproof(&args);
    assert_eq!(run.code, 0, "OPC UA speaks: {}", run.stdout);
    let j = run.json();
    let opc = by_name(&j, "OPC UA server");
    assert_eq!((opc["level"].as_str(), opc["feature"].as_str()), (Some("healthy"), Some("opcua")), "{opc:#}");
    assert_eq!(opc["optional"], false, "a feature asked for is required");
    assert!(j["results"].as_array().unwrap().iter().all(|r| r["name"] != "Modbus TCP"), "modbus is off");
    // Without --with the OPC UA ports are not checked at all, and the run passes on the web
    // ports alone.
    let run = portproof(&["profile", "ignition", "--offset", &offset, "-f", "json"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.json()["results"].as_array().unwrap().len(), 2, "{}", run.stdout);

    let port = gw.port(4840).unwrap();
    gw.ports.retain(|p| p.base != 4840);
    until_closed(port);
    let run = portproof(&args);
    assert_eq!(run.code, 1, "the OPC UA server the site says it uses is down: {}", run.stdout);
    let opc = by_name(&run.json(), "OPC UA server");
    assert_eq!(code(&opc), "tcp.refused", "{opc:#}");
    let table = portproof(&args[..args.len() - 2]);
    assert_eq!(table.code, 1);
    let line = table.stdout.lines().find(|l| l.contains("OPC UA server")).unwrap();
    assert!(line.contains("FAIL") && !line.contains("optional") && line.contains("feature opcua"), "{line}");
    // The same profile without the feature does not look at 4840.
    assert_eq!(portproof(&["profile", "ignition", "--offset", &offset]).code, 0);
}

#[test]
fn host_roles_send_each_check_to_its_host() {
    let gw = gateway();
    // The database server is another machine: 127.0.0.2, at the same offset.
    let db = serve(Gateway::start_on("127.0.0.2".parse().unwrap(), gw.offset)).expect("a site on 127.0.0.2");
    let offset = gw.offset.to_string();
    let run = portproof(&[
        "profile",
        "ignition",
        "--offset",
        &offset,
        "--host",
        "gateway=127.0.0.1",
        "--host",
        "database=127.0.0.2",
        "--with",
        "postgres,mysql",
        "-f",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let j = run.json();
    let target = |n: &str| by_name(&j, n)["target"].as_str().unwrap().to_owned();
    assert_eq!(target("Gateway HTTP"), format!("127.0.0.1:{}", 8088 + gw.offset));
    assert_eq!(target("PostgreSQL"), format!("127.0.0.2:{}", 5432 + db.offset));
    assert_eq!(target("MySQL/MariaDB"), format!("127.0.0.2:{}", 3306 + db.offset));
    assert_eq!(by_name(&j, "PostgreSQL")["role"], "database");
    assert_eq!(by_name(&j, "Gateway HTTP")["role"], "gateway");

    // Two gateways (primary and backup) each get the gateway's checks.
    let run =
        portproof(&["profile", "ignition", "--offset", &offset, "--host", "gateway=127.0.0.1,127.0.0.2", "-f", "json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let j = run.json();
    assert_eq!(by_name(&j, "Gateway HTTP @ 127.0.0.2")["target"], format!("127.0.0.2:{}", 8088 + db.offset));
    assert_eq!(by_name(&j, "Gateway HTTPS @ 127.0.0.1")["any_of"]["host"], "127.0.0.1");

    // A role given no host is named, when one of its checks is asked for.
    let run = portproof(&["profile", "ignition", "--host", "gateway=127.0.0.1", "--with", "postgres"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("role \"database\" has no host") && run.stderr.contains("--host database="),
        "{}",
        run.stderr
    );
    let run = portproof(&["profile", "ignition", "--host", "plc=127.0.0.1"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no such role") && run.stderr.contains("database"), "{}", run.stderr);
}

#[test]
fn an_unknown_feature_is_a_usage_error_listing_the_features() {
    let run = portproof(&["profile", "ignition", "--with", "opc"]);
    assert_eq!(run.code, 2);
    for needle in ["--with opc", "opcua", "gan", "modbus", "require-ssl"] {
        assert!(run.stderr.contains(needle), "{needle}: {}", run.stderr);
    }
}

#[test]
fn expect_closed_passes_on_a_closed_port_and_names_what_answers_on_an_open_one() {
    let ssh =
        serve(async { hostile::greeter(portproof_testbeds::bind_any().await.unwrap(), b"SSH-2.0-OpenSSH_9.6\r\n") });
    let closed = serve(hostile::closed_port());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("closed.yaml");
    std::fs::write(
        &path,
        format!(
            "defaults: {{ host: 127.0.0.1 }}
checks:
  - {{ name: must be shut, port: {closed}, expect: closed }}
  - {{ name: left open, port: {}, expect: closed }}
",
            ssh.port()
        ),
    )
    .unwrap();
    let run = portproof(&["run", path.to_str().unwrap(), "-f", "json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let j = run.json();
    let shut = by_name(&j, "must be shut");
    assert_eq!((shut["ok"].as_bool(), shut["facts"]["closed"].as_str()), (Some(true), Some("refused")), "{shut:#}");
    assert!(shut["failure"].is_null(), "a refused port is what a closed check asks for: {shut:#}");
    assert!(shut["facts"]["closed_evidence"].as_str().unwrap().starts_with("tcp.refused"));
    let open = by_name(&j, "left open");
    assert_eq!((open["ok"].as_bool(), code(&open).as_str()), (Some(false), "closed.answered"), "{open:#}");
    let msg = open["failure"]["message"].as_str().unwrap();
    assert!(msg.contains("ssh") && msg.contains("OpenSSH_9.6"), "names what answered: {msg}");
    assert_eq!(open["closed"], "expect: closed");
    let table = portproof(&["run", path.to_str().unwrap()]);
    assert!(table.stdout.contains("closed as it must be (expect: closed): refused"), "{}", table.stdout);
}

#[test]
fn any_of_passes_when_one_member_passes_and_says_which() {
    let gw = gateway();
    let closed = serve(hostile::closed_port());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yaml");
    let http = gw.port(8088).unwrap();
    let yaml = |https: u16| {
        format!(
            "defaults: {{ host: 127.0.0.1 }}
any_of:
  - {{ name: web, checks: [plain, secure] }}
checks:
  - {{ name: plain, port: {http}, expect: http }}
  - {{ name: secure, port: {https}, expect: https }}
"
        )
    };
    std::fs::write(&path, yaml(closed)).unwrap();
    let run = portproof(&["run", path.to_str().unwrap(), "-f", "json"]);
    assert_eq!(run.code, 0, "HTTP alone is enough: {}", run.stdout);
    let j = run.json();
    let secure = by_name(&j, "secure");
    assert_eq!(secure["ok"], false);
    assert_eq!(secure["any_of"]["passed_by"], serde_json::json!(["plain"]), "{secure:#}");
    assert_eq!(j["summary"]["failed_covered"], 1);
    let table = portproof(&["run", path.to_str().unwrap()]);
    let line = table.stdout.lines().find(|l| l.starts_with("• secure")).unwrap_or_else(|| panic!("{}", table.stdout));
    assert!(line.contains("FAIL (any_of)") && line.contains("any_of web: plain passed"), "{line}");
    // With neither answering, the group fails the run.
    drop(gw);
    until_closed(http);
    let run = portproof(&["run", path.to_str().unwrap(), "-f", "json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(by_name(&run.json(), "plain")["any_of"]["passed_by"], serde_json::json!([]));
}

const REDIRECT: &[u8] =
    b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://127.0.0.1:8043/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

#[test]
fn require_ssl_checks_the_redirect_to_https() {
    let redirecting = serve(async { hostile::greeter(portproof_testbeds::bind_any().await.unwrap(), REDIRECT) });
    let gw = gateway();
    for (port, ok) in [(redirecting.port(), true), (gw.port(8088).unwrap(), false)] {
        let dir = tempfile::tempdir().unwrap();
        let xml = dir.path().join("gateway.xml");
        std::fs::write(
            &xml,
            format!("<properties>\n<entry key=\"gateway.port\">{port}</entry>\n<entry key=\"gateway.sslport\">{}</entry>\n</properties>\n", gw.port(8043).unwrap()),
        )
        .unwrap();
        let run = portproof(&[
            "profile",
            "ignition",
            "--config",
            xml.to_str().unwrap(),
            "--with",
            "require-ssl",
            "-f",
            "json",
        ]);
        let r = by_name(&run.json(), "HTTPS redirect");
        assert_eq!(r["ok"], ok, "{r:#}");
        if !ok {
            assert_eq!(code(&r), "http.status", "the testbed answers 200, no redirect: {r:#}");
        } else {
            assert_eq!(r["facts"]["location"], "https://127.0.0.1:8043/");
        }
    }
}

#[test]
fn a_gateway_xml_moves_the_checks_to_its_ports() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("gateway.xml");
    std::fs::write(&xml, "<properties>\n<entry key=\"gateway.port\">8080</entry>\n</properties>\n").unwrap();
    let run = portproof(&["profile", "ignition", "--list", "--config", xml.to_str().unwrap(), "-f", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    let http = j["checks"].as_array().unwrap().iter().find(|c| c["check"] == "Gateway HTTP").unwrap().clone();
    assert_eq!(
        (http["port"].as_u64(), http["port_from"].as_str()),
        (Some(8080), Some("gateway.port in gateway.xml:2"))
    );
    let https = j["checks"].as_array().unwrap().iter().find(|c| c["check"] == "Gateway HTTPS").unwrap().clone();
    assert_eq!((https["port"].as_u64(), https["port_from"].as_str()), (Some(8043), Some("default")));

    // Against the testbed: the file's ports are where the checks go, with no offset at all.
    let gw = gateway();
    std::fs::write(
        &xml,
        format!(
            "<properties>\n<entry key=\"gateway.port\">{}</entry>\n<entry key=\"gateway.sslport\">{}</entry>\n</properties>\n",
            gw.port(8088).unwrap(),
            gw.port(8043).unwrap()
        ),
    )
    .unwrap();
    let ca = gw.pki.write_to(dir.path()).unwrap().ca;
    let run = portproof(&[
        "profile",
        "ignition",
        "--config",
        xml.to_str().unwrap(),
        "--ca",
        ca.to_str().unwrap(),
        "-f",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let j = run.json();
    let http = by_name(&j, "Gateway HTTP");
    assert_eq!(http["target"], format!("127.0.0.1:{}", gw.port(8088).unwrap()));
    assert_eq!(http["port_from"], "gateway.port in gateway.xml:2");
    assert_eq!(by_name(&j, "Gateway HTTPS")["level"], "healthy");

    // HTTP turned off: the HTTP check expects its port closed, and HTTPS alone carries the
    // web group.
    let closed = serve(hostile::closed_port());
    std::fs::write(
        &xml,
        format!(
            "<properties>\n<entry key=\"gateway.port\">0</entry>\n<entry key=\"gateway.sslport\">{}</entry>\n</properties>\n",
            gw.port(8043).unwrap()
        ),
    )
    .unwrap();
    let run = portproof(&[
        "profile",
        "ignition",
        "--list",
        "--config",
        xml.to_str().unwrap(),
        "--offset",
        &(i32::from(closed) - 8088).to_string(),
        "-f",
        "json",
    ]);
    let j = run.json();
    let http = j["checks"].as_array().unwrap().iter().find(|c| c["check"] == "Gateway HTTP").unwrap().clone();
    assert!(http["closed"].as_str().unwrap().contains("gateway.port in gateway.xml:2 is 0"), "{http:#}");
    assert_eq!(http["any_of"], serde_json::Value::Null, "a closed port cannot stand in for HTTPS");

    // A bad file is named with its line.
    std::fs::write(&xml, "<properties>\n<entry key=\"gateway.port\">80a</entry>\n</properties>\n").unwrap();
    let run = portproof(&["profile", "ignition", "--config", xml.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("gateway.xml:2:") && run.stderr.contains("80a"), "{}", run.stderr);
    let run = portproof(&["profile", "ignition", "--config", "/nonexistent/gateway.xml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("/nonexistent/gateway.xml"), "{}", run.stderr);
}

#[test]
fn a_carbon_xml_offset_moves_every_port_but_the_fixed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let carbon = dir.path().join("carbon.xml");
    std::fs::write(
        &carbon,
        "<Server xmlns=\"http://wso2.org/projects/carbon/carbon.xml\">\n  <Ports>\n    <Offset>3</Offset>\n  </Ports>\n</Server>\n",
    )
    .unwrap();
    let run = portproof(&["profile", "wso2-mb", "--list", "--config", carbon.to_str().unwrap(), "-f", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    let port = |name: &str| {
        let c = j["checks"].as_array().unwrap().iter().find(|c| c["check"] == name).unwrap().clone();
        (c["port"].as_u64().unwrap(), c["port_from"].as_str().unwrap().to_owned())
    };
    // The document's EI-Broker ports are MB's with offset 3: 5675, 8675, 1886, 8836, 7614.
    for (name, want) in
        [("AMQP", 5675), ("AMQP over TLS", 8675), ("MQTT", 1886), ("MQTT over TLS", 8836), ("Thrift", 7614)]
    {
        assert_eq!(port(name).0, want, "{name}");
    }
    assert_eq!(port("AMQP").1, "5672 +3 (Server/Ports/Offset in carbon.xml:3)");
    assert_eq!(port("Clustering member (WKA)"), (4000, "fixed: does not move with the offset".to_owned()));
}

#[test]
fn list_shows_roles_features_and_where_each_port_comes_from() {
    let run = portproof(&["profile", "ignition", "--list", "--with", "opcua", "--offset", "100"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for needle in [
        "ROLES",
        "database",
        "FEATURES",
        "on  opcua",
        "off gan",
        "ANY OF",
        "gateway.xml",
        "8188/tcp",
        "8088 +100 (--offset)",
    ] {
        assert!(run.stdout.contains(needle), "{needle}: {}", run.stdout);
    }
    let run = portproof(&["profile", "pads4", "--list", "-f", "json"]);
    let j = run.json();
    let amqp = j["checks"].as_array().unwrap().iter().find(|c| c["check"] == "RabbitMQ AMQP").unwrap().clone();
    assert_eq!((amqp["direction"].as_str(), amqp["role"].as_str()), (Some("local-only"), Some("server")), "{amqp:#}");
    let wsd = j["checks"].as_array().unwrap().iter().find(|c| c["port"] == 3702).unwrap().clone();
    assert_eq!((wsd["transport"].as_str(), wsd["selected"].as_bool()), (Some("udp"), Some(false)));
    assert!(j["features"].as_array().unwrap().iter().any(|f| f["name"] == "broker-tls"));
    let run = portproof(&["profile", "pads4", "--list", "-f", "junit"]);
    assert_eq!(run.code, 2, "--list is a table or JSON");
}

#[test]
fn host_forms_that_say_two_things_are_usage_errors() {
    for (host, says) in [
        ("127.0.0.1,127.0.0.2", "one host for every role"),
        ("gateway=1.2.3.4,,5.6.7.8", "no empty host"),
        ("gateway=127.0.0.1,127.0.0.1", "given twice"),
    ] {
        let run = portproof(&["profile", "ignition", "--host", host]);
        assert_eq!(run.code, 2, "{host}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{host}: {}", run.stderr);
    }
}

#[test]
fn a_cdata_value_in_gateway_xml_is_read_as_java_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("gateway.xml");
    std::fs::write(&f, "<properties><entry key=\"gateway.port\"><![CDATA[8080]]></entry></properties>\n").unwrap();
    let run = portproof(&["profile", "ignition", "--config", f.to_str().unwrap(), "--list", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("8080") && run.stdout.contains("gateway.port in gateway.xml:1"), "{}", run.stdout);
}
