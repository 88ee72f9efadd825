//! The command line: listings, schema, manifests and profiles, the demo, and exit codes.

use crate::harness::{code, gateway, portproof};

#[test]
fn probes_lists_every_probe_with_its_ports() {
    let run = portproof(&["probes"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("tcp"));
    assert!(run.stdout.lines().any(|l| l.starts_with("http ") && l.contains("8088")), "{}", run.stdout);
    assert!(run.stdout.contains("https"));
}

#[test]
fn profiles_lists_ignition() {
    let run = portproof(&["profiles"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("ignition") && run.stdout.contains("Ignition 8.3"), "{}", run.stdout);
}

#[test]
fn schema_manifest_is_a_json_schema_and_is_published() {
    let run = portproof(&["schema", "manifest"]);
    assert_eq!(run.code, 0);
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(schema["$schema"].as_str().unwrap().contains("json-schema.org"));
    assert!(schema["properties"]["checks"].is_object());
    let published = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/manifest.schema.json")).unwrap();
    let published: serde_json::Value = serde_json::from_str(&published).unwrap();
    assert_eq!(
        published, schema,
        "docs/manifest.schema.json is stale: portproof schema manifest > docs/manifest.schema.json"
    );
}

#[test]
fn help_has_examples_and_exits_zero() {
    let commands = ["check", "run", "profile", "profiles", "probes", "schema", "testbed", "demo"];
    let each = commands.iter().map(|c| vec![*c, "--help"]);
    for args in std::iter::once(vec!["--help"]).chain(each) {
        let args = &args[..];
        let run = portproof(args);
        assert_eq!(run.code, 0, "{args:?}");
        assert!(run.stdout.contains("Examples"), "{args:?}: {}", run.stdout);
    }
}

#[test]
fn usage_errors_exit_2_with_a_reason() {
    let cases: &[(&[&str], &str)] = &[
        (&["check", "127.0.0.1", "--expect", "tcp"], "HOST:PORT"),
        (&["check", "127.0.0.1:80", "--expect", "gopher"], "gopher"),
        (&["check", "127.0.0.1:80", "--expect", "http", "--body-regex", "("], "body_regex"),
        (&["check", "127.0.0.1:80", "--expect", "https", "--ca", "/nonexistent/ca.pem"], "/nonexistent/ca.pem"),
        (&["check", "127.0.0.1:80", "--expect", "tcp", "--timeout", "soon"], "soon"),
        (&["run", "/nonexistent/manifest.yaml"], "/nonexistent/manifest.yaml"),
        (&["profile", "nope"], "ignition"),
        (&["frobnicate"], "frobnicate"),
        (&["check", "127.0.0.1:80", "--expect", "tcp", "--concurrency", "0"], "concurrency"),
        (&["check", "127.0.0.1:80", "--expect", "tcp", "--concurrency", "18446744073709551615"], "concurrency"),
        (&["check", "127.0.0.1:80", "--expect", "tcp", "--timeout", "18446744073709551615s"], "timeout"),
        (&["check", "127.0.0.1:80", "--expect", "http", "--max-body", "20000000"], "max_body"),
    ];
    for (args, needle) in cases {
        let run = portproof(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: stderr lacks {needle:?}: {}", run.stderr);
    }
}

#[test]
fn a_bad_manifest_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "defaults:\n  host: 127.0.0.1\nchecks:\n  - name: web\n    port: 8088\n    expect: http\n    http:\n      pth: /StatusPing\n").unwrap();
    let run = portproof(&["run", path.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    let expected = format!("{}:8:", path.display());
    assert!(run.stderr.contains(&expected), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("pth"), "names the field: {}", run.stderr);
    assert!(run.stdout.is_empty(), "no report for a bad manifest");
}

#[test]
fn run_applies_host_and_offset_and_keeps_manifest_order() {
    let gw = gateway();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml");
    std::fs::write(
        &path,
        "checks:
  - name: web
    port: 8088
    expect: http
    http: { path: /StatusPing, json: { pointer: /state, equals: RUNNING } }
  - name: opcua
    port: 4840
    expect: tcp
  - name: nothing here
    port: 9
    expect: tcp
    optional: true
",
    )
    .unwrap();
    let offset = gw.offset.to_string();
    let run = portproof(&["run", path.to_str().unwrap(), "--host", "127.0.0.1", "--offset", &offset, "-f", "json"]);
    assert_eq!(run.code, 0, "the only failure is optional: {}", run.stdout);
    let j = run.json();
    let names: Vec<&str> = j["results"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["web", "opcua", "nothing here"]);
    assert_eq!(j["results"][0]["target"], format!("127.0.0.1:{}", 8088 + gw.offset));
    assert_eq!(j["results"][0]["level"], "healthy");
    assert_eq!(j["results"][2]["ok"], false);
    assert_eq!(j["summary"]["failed_optional"], 1);
    assert_eq!(j["summary"]["passed"], true);

    gw.state.set("FAULTED");
    let run = portproof(&["run", path.to_str().unwrap(), "--host", "127.0.0.1", "--offset", &offset]);
    assert_eq!(run.code, 1, "a required check failed");
    assert!(run.stdout.contains("http.unhealthy_state"), "{}", run.stdout);
}

#[test]
fn profile_ignition_against_the_testbed() {
    let gw = gateway();
    let offset = gw.offset.to_string();
    let dir = tempfile::tempdir().unwrap();
    let ca = gw.pki.write_to(dir.path()).unwrap().ca;
    let with = "gan,opcua,modbus,mysql,postgres,mssql,oracle";
    let args = ["profile", "ignition", "--host", "127.0.0.1", "--offset", &offset, "--with", with, "-f", "json"];
    let run = portproof(&[&args[..], &["--ca", ca.to_str().unwrap()]].concat());
    assert_eq!(run.code, 0, "{}", run.stdout);
    let j = run.json();
    let results = j["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 10);
    let by_name = |n: &str| results.iter().find(|r| r["name"] == n).unwrap_or_else(|| panic!("no {n}")).clone();
    assert_eq!(by_name("Gateway HTTP")["level"], "healthy");
    assert_eq!(by_name("Gateway HTTPS")["level"], "healthy");
    assert_eq!(by_name("Gateway HTTPS")["facts"]["json_value"], "RUNNING");
    let metro = by_name("Gateway Network (Metro)");
    assert_eq!((metro["level"].as_str(), metro["ok"].as_bool()), (Some("healthy"), Some(true)), "{metro:#}");
    assert_eq!(metro["facts"]["tls_client_cert_requested"], true, "client_auth: required is met: {metro:#}");
    let modbus = by_name("Modbus TCP");
    assert_eq!((modbus["level"].as_str(), modbus["probe"].as_str()), (Some("healthy"), Some("modbus")), "{modbus:#}");
    assert_eq!(modbus["facts"]["product"], "portproof-testbed PP-MB1", "{modbus:#}");
    for name in ["OPC UA server", "OPC UA discovery"] {
        let o = by_name(name);
        assert_eq!(o["level"], "healthy", "{o:#}");
        assert!(!o["facts"]["opcua_endpoints"].as_array().unwrap().is_empty(), "{o:#}");
    }
    let pg = by_name("PostgreSQL");
    assert_eq!(
        (pg["level"].as_str(), pg["facts"]["postgres_auth"].as_str()),
        (Some("speaks"), Some("trust")),
        "{pg:#}"
    );
    assert_eq!(by_name("MySQL/MariaDB")["facts"]["product"], "MySQL");
    let oracle = by_name("Oracle");
    assert_eq!(
        (oracle["level"].as_str(), oracle["ok"].as_bool(), code(&oracle).as_str()),
        (Some("speaks"), Some(true), "oracle.no_service"),
        "{oracle:#}"
    );
    assert_eq!(oracle["facts"]["oracle_listener_version"], "19.0.0.0.0");
    let mssql = by_name("Microsoft SQL Server");
    assert_eq!(
        (mssql["level"].as_str(), mssql["ok"].as_bool(), code(&mssql).as_str()),
        (Some("speaks"), Some(true), "auth.no_credentials"),
        "{mssql:#}"
    );
    assert_eq!(mssql["facts"]["mssql_release"], "SQL Server 2022");
    assert_eq!(mssql["facts"]["tls_verified"], true, "the gateway's CA verifies its certificate: {mssql:#}");
    assert!(j["title"].as_str().unwrap().contains("Ignition"));

    // Without the gateway's CA the HTTPS port is diagnosed, naming the CA it does not know.
    let run = portproof(&args);
    let j = run.json();
    let https = j["results"].as_array().unwrap().iter().find(|r| r["name"] == "Gateway HTTPS").unwrap().clone();
    assert_eq!(code(&https), "tls.cert_unknown_ca", "{https:#}");
    assert!(https["failure"]["message"].as_str().unwrap().contains("portproof testbed CA"));
}

#[test]
fn demo_shows_every_product_healthy() {
    let run = portproof(&["demo", "-f", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let j = run.json();
    let by_name = |n: &str| j["results"].as_array().unwrap().iter().find(|r| r["name"] == n).unwrap().clone();
    let http = by_name("Ignition: Gateway HTTP");
    assert_eq!(http["level"], "healthy");
    assert_eq!(http["facts"]["json_value"], "RUNNING");
    for (name, level) in [
        ("PADS4: RabbitMQ AMQP", "speaks"),
        ("PADS4: RabbitMQ AMQP over TLS", "speaks"),
        ("PADS4: RabbitMQ HTTP API", "speaks"),
        ("WSO2 MB: MQTT", "healthy"),
        ("WSO2 MB: MQTT over TLS", "healthy"),
        ("Ignition: Modbus TCP", "healthy"),
    ] {
        let r = by_name(name);
        assert_eq!((r["level"].as_str(), r["ok"].as_bool()), (Some(level), Some(true)), "{r:#}");
    }
    assert_eq!(by_name("WSO2 MB: AMQP")["facts"]["protocol"], "AMQP 0-9-1");
    let run = portproof(&["demo"]);
    assert_eq!(run.code, 0);
    for text in ["Ignition: Gateway HTTP", "PADS4:", "WSO2 MB: MQTT", "MQTT 5", "AMQP 0-9-1", "Modbus TCP", "PASS"] {
        assert!(run.stdout.contains(text), "{text}: {}", run.stdout);
    }
    // One product alone keeps its own names and title.
    let run = portproof(&["demo", "ignition", "-f", "json"]);
    assert_eq!(run.code, 0);
    let j = run.json();
    assert!(j["results"].as_array().unwrap().iter().any(|r| r["name"] == "Gateway HTTP"));
    assert!(j["title"].as_str().unwrap().contains("Ignition"));
    let run = portproof(&["demo", "nope"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("pads4"), "{}", run.stderr);
}

#[test]
fn colour_is_off_when_piped_and_on_when_asked() {
    let port = crate::harness::serve(portproof_testbeds::hostile::closed_port()).to_string();
    let target = format!("127.0.0.1:{port}");
    let plain = portproof(&["check", &target, "--expect", "tcp"]);
    assert!(!plain.stdout.contains('\x1b'), "{}", plain.stdout);
    let coloured = portproof(&["check", &target, "--expect", "tcp", "--color", "always"]);
    assert!(coloured.stdout.contains("\x1b[31m"), "{}", coloured.stdout);
    let json = portproof(&["check", &target, "--expect", "tcp", "--color", "always", "-f", "json"]);
    assert!(!json.stdout.contains('\x1b'), "colour never reaches JSON");
}

#[test]
fn testbed_serves_until_interrupted() {
    use std::io::{BufRead, BufReader};
    // Some offset's ports may be taken by other tests' connections: the testbed then exits
    // with an error naming the port, and the next offset is tried.
    let mut started = None;
    for attempt in 0..10u32 {
        let offset = (41000 + (std::process::id() % 500 + attempt * 617) % 9000).to_string();
        let mut child = std::process::Command::new(crate::harness::bin())
            .args(["testbed", "--offset", &offset])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut seen = Vec::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            let done = line.contains("Ctrl-C");
            seen.push(line);
            if done {
                break;
            }
        }
        if seen.iter().any(|l| l.contains("Ctrl-C")) {
            started = Some((child, offset, seen));
            break;
        }
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(2), "a testbed that cannot bind exits 2");
    }
    let (mut child, offset, seen) = started.expect("a free offset within 10 tries");
    assert!(seen.iter().any(|l| l.contains("/StatusPing")), "{seen:?}");
    let run = portproof(&["profile", "ignition", "--offset", &offset, "-f", "json"]);
    assert_eq!(run.code, 0, "the profile passes against `portproof testbed`: {}", run.stdout);
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "Ctrl-C ends the testbed cleanly");
}

#[test]
fn ctrl_c_still_writes_the_report() {
    let silent = crate::harness::serve(async {
        portproof_testbeds::hostile::silent(portproof_testbeds::bind_any().await.unwrap())
    });
    let refused = crate::harness::serve(portproof_testbeds::hostile::closed_port());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml");
    std::fs::write(
        &path,
        format!(
            "defaults: {{ host: 127.0.0.1, timeout: 60s }}
checks:
  - {{ name: hangs, port: {}, expect: http }}
  - {{ name: refused, port: {refused}, expect: tcp }}
",
            silent.port()
        ),
    )
    .unwrap();
    let out = dir.path().join("report.json");
    let child = std::process::Command::new(crate::harness::bin())
        .args(["run", path.to_str().unwrap(), "-f", "json", "-o", out.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let started = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "stops promptly, not at the 60 s deadline");
    assert_eq!(output.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(j["results"].as_array().unwrap().len(), 2, "one result per check, always");
    assert_eq!(code(&j["results"][0]), "run.interrupted");
    assert_eq!(j["results"][0]["failure"]["phase"], "request", "names the phase it was in");
    assert_eq!(j["results"][0]["level"], "open", "keeps the level it had reached");
    assert_eq!(code(&j["results"][1]), "tcp.refused", "finished checks keep their result");
    assert_eq!(j["summary"]["interrupted"], true);
    assert!(String::from_utf8_lossy(&output.stderr).contains("interrupted"));
}

#[test]
fn the_code_list_is_generated_from_the_registry() {
    let run = portproof(&["codes", "--markdown"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let published = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/codes.md")).unwrap();
    assert_eq!(published, run.stdout, "docs/codes.md is stale: portproof codes --markdown > docs/codes.md");
    let run = portproof(&["codes", "tls"]);
    assert!(run.stdout.contains("tls.cert_incomplete_chain"), "{}", run.stdout);
    let run = portproof(&["explain", "tls.cert_incomplete_chain"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("What to do") && run.stdout.contains("RFC"), "{}", run.stdout);
    let run = portproof(&["explain", "amqp.closed.403"]);
    assert!(run.stdout.contains("amqp.closed.<detail>"), "a family's member is explained: {}", run.stdout);
    let run = portproof(&["explain", "tls.no_such_thing"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("tls."), "names codes that start alike: {}", run.stderr);
}

#[test]
fn every_code_and_probe_the_readme_names_is_in_the_registry() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let codes = portproof_probes::codes::all();
    let probes: Vec<&str> = portproof_probes::expect_names();
    let mut unknown = Vec::new();
    for (i, part) in readme.split('`').enumerate() {
        // Odd parts are inside backticks: `tls.cert_expired`, `amqp.closed.<reply-code>`.
        let prefixes = ["dns.", "tcp.", "udp.", "tls.", "http.", "amqp.", "mqtt.", "postgres.", "mysql.", "mssql."];
        let more = ["modbus.", "oracle.", "opcua.", "rabbitmq.", "auth.", "proto.", "run.", "config."];
        if i % 2 == 0 || part.contains(' ') || !prefixes.iter().chain(&more).any(|p| part.starts_with(p)) {
            continue;
        }
        let name = part.split(".<").next().unwrap().trim_end_matches(".*");
        if name.ends_with(".rs") || name.ends_with(".sh") || is_setting(name) {
            continue;
        }
        let known = codes.iter().any(|c| {
            c.matches(name)
                || c.name == name
                || (c.shape == portproof_probes::codes::Shape::Family && name.starts_with(c.name))
        }) || name.ends_with(".timeout")
            || part.ends_with(".*")
            || name.split('.').count() == 2 && probes.contains(&name.split('.').next().unwrap()) && part.contains('<');
        if !known {
            unknown.push(part.to_owned());
        }
    }
    unknown.sort();
    unknown.dedup();
    assert!(unknown.is_empty(), "README names codes no table has: {unknown:?}");
    let table = readme.split("## Probes").nth(1).unwrap().split("\n## ").next().unwrap();
    for p in portproof_probes::registry() {
        assert!(table.contains(&format!("| `{}`", p.name())), "README's probe table lacks {}", p.name());
    }
}

#[test]
fn the_readme_probe_table_is_the_registrys() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let begin = "<!-- generated: portproof probes --markdown -->\n";
    let start = readme.find(begin).expect("the README marks its generated probe table") + begin.len();
    let end = start + readme[start..].find("<!-- end of generated table -->").expect("and where it ends");
    let run = portproof(&["probes", "--markdown"]);
    assert_eq!(run.code, 0);
    assert_eq!(
        &readme[start..end],
        run.stdout,
        "the README's probe table is stale: replace it with `portproof probes --markdown`"
    );
    for p in portproof_probes::registry() {
        assert!(!p.about().proves.is_empty(), "{} says what it proves (About::proves), for the README", p.name());
        for c in p.codes() {
            assert!(run.stdout.contains(&format!("`{}`", c.display_name())), "{} is missing from the table", c);
        }
    }
}

/// Whether `a.b` is a manifest setting (`modbus.unit`, `tls.ca`) rather than a code.
fn is_setting(name: &str) -> bool {
    let Some((section, key)) = name.split_once('.') else { return false };
    let schema = match section {
        "tls" => serde_json::to_value(schemars::schema_for!(portproof_probes::TlsOptions)).unwrap(),
        _ => match portproof_probes::section(section) {
            Some(s) => serde_json::to_value(s.schema()).unwrap(),
            None => return false,
        },
    };
    schema["properties"].get(key.split('.').next().unwrap()).is_some()
}

#[test]
fn a_setting_given_twice_is_refused_not_replaced() {
    // The second value silently replacing the first would drop a stated criterion: a false pass.
    for args in [
        &["check", "127.0.0.1:1", "-e", "http", "--json-field", "state=STOPPED", "--json-field", "n=1"][..],
        &["check", "127.0.0.1:1", "-e", "http", "--method", "DELETE", "--method", "GET"][..],
    ] {
        let run = portproof(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: no report");
    }
    let run = portproof(&["check", "127.0.0.1:1", "-e", "http", "-H", "A:1", "-H", "B:2", "-f", "json"]);
    assert_ne!(run.code, 2, "headers repeat: {}", run.stderr);
}

#[test]
fn ctrl_c_on_tls_writes_the_diagnosis_in_table_mode() {
    use std::io::Read;
    // A peer that accepts and never answers: the diagnosis waits until Ctrl-C.
    let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = peer.local_addr().unwrap().port();
    let (accepted, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in peer.incoming().flatten() {
            held.push(conn);
            let _ = accepted.send(());
        }
    });
    let mut child = std::process::Command::new(crate::harness::bin())
        .args(["tls", &format!("127.0.0.1:{port}"), "--timeout", "60s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Ctrl-C once the probe is in flight (it has connected), not after a guessed pause.
    seen.recv().expect("the tls command connects");
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "an interrupted check fails: {out}");
    assert!(out.contains("run.interrupted"), "the table is written on Ctrl-C: {out:?}");
}

#[test]
fn codes_of_a_probe_include_the_core_codes_it_spells() {
    let run = portproof(&["codes", "tcp"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for code in ["tcp.refused", "tcp.unreachable", "tcp.reset", "<phase>.timeout"] {
        assert!(run.stdout.lines().any(|l| l.starts_with(code)), "codes tcp lists {code}: {}", run.stdout);
    }
    assert!(!run.stdout.contains("amqp."), "only what a tcp check can spell: {}", run.stdout);
}

#[test]
fn phased_codes_are_explained_however_they_are_written() {
    for (asked, spelled) in [
        ("tcp.timeout", "tcp.timeout"),
        ("connect.timeout", "tcp.timeout"),
        ("resolve.timeout", "dns.timeout"),
        ("request.timeout", "request.timeout"),
        ("<phase>.timeout", "<phase>.timeout"),
        ("transfer.closed", "transfer.closed"),
    ] {
        let run = portproof(&["explain", asked]);
        assert_eq!(run.code, 0, "explain {asked}: {}", run.stderr);
        assert!(run.stdout.starts_with(&format!("{spelled}\n")), "explain {asked} names {spelled}: {}", run.stdout);
        assert!(run.stdout.contains("deadline") || run.stdout.contains("closed"), "{}", run.stdout);
    }
    let run = portproof(&["explain", "connect.nonsense"]);
    assert_eq!(run.code, 2, "an unknown code is still an error");
}

#[test]
fn a_closed_stdout_ends_every_listing_quietly() {
    for args in [
        &["schema", "manifest"][..],
        &["schema", "report"],
        &["codes"],
        &["codes", "--markdown"],
        &["explain", "tcp.refused"],
        &["probes"],
        &["profiles"],
    ] {
        // The reader is gone before the binary writes a byte, as with `| head -0`.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(crate::harness::bin())
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "portproof {args:?} ends quietly, not with a panic: {stderr}");
        assert!(stderr.is_empty(), "nothing on stderr for {args:?}: {stderr}");
    }
}

#[test]
fn the_table_of_one_check_reads_right() {
    let refused = crate::harness::serve(portproof_testbeds::hostile::closed_port());
    let target = format!("127.0.0.1:{refused}");
    let run = portproof(&["check", &target, "-e", "tcp"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let head = run.stdout.lines().next().unwrap();
    assert!(!head.contains("CHECK"), "a check named by its target has no CHECK column: {}", run.stdout);
    assert!(!run.stdout.contains(&format!("{target}  {target}")), "the target once per line: {}", run.stdout);
    let tail = run.stdout.lines().last().unwrap();
    assert!(tail.contains(" 1 check: "), "one check, not '1 checks': {tail}");
    // The run's time reads like the check's: `in 0.4 ms`, never `in 0 ms` beside `(0.3 ms)`.
    let total = tail.rsplit_once(" in ").unwrap().1;
    assert!(total.ends_with(" ms") && (total.contains('.') || total.len() > 5), "{tail}");
    // An optional check that ran and failed says so.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml");
    std::fs::write(
        &path,
        format!("checks:\n  - {{ name: maybe, host: 127.0.0.1, port: {refused}, expect: tcp, optional: true }}\n"),
    )
    .unwrap();
    let run = portproof(&["run", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "an optional failure does not fail the run: {}", run.stdout);
    assert!(run.stdout.contains("FAIL (optional)") && !run.stdout.contains("skip"), "{}", run.stdout);
    assert!(run.stdout.contains("CHECK"), "named checks keep their column: {}", run.stdout);
}

#[test]
fn errors_have_one_style_whoever_finds_them() {
    let clap = portproof(&["check"]);
    let ours = portproof(&["check", "h:1", "--expect", "gopher"]);
    for run in [&clap, &ours] {
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.starts_with("portproof: error: "), "{:?}", run.stderr);
    }
}

#[test]
fn user_help_names_every_probe_that_logs_in() {
    let run = portproof(&["check", "--help"]);
    let names: Vec<&str> = portproof_probes::registry().iter().filter(|p| p.logs_in()).map(|p| p.name()).collect();
    assert!(names.len() > 2, "{names:?}");
    assert!(run.stdout.contains(&format!("({})", names.join(", "))), "{}", run.stdout);
}

/// Every subcommand `portproof --help` lists, read from the help itself.
fn subcommands() -> Vec<String> {
    let help = portproof(&["--help"]).stdout;
    let list = help.split("Commands:").nth(1).expect("a Commands section").split("\n\n").next().unwrap();
    // A name is indented by two; a wrapped description line by more.
    list.lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn bash_completions_name_every_subcommand_and_the_probe_flags_and_parse() {
    let run = portproof(&["completions", "bash"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let subs = subcommands();
    assert!(subs.len() >= 12, "{subs:?}");
    for sub in &subs {
        assert!(run.stdout.contains(sub.as_str()), "{sub} missing from the bash completions");
    }
    // Probe flags are added from the registry at runtime, not by the derive.
    for flag in ["--json-field", "--set"] {
        assert!(run.stdout.contains(flag), "{flag} missing from the bash completions");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portproof.bash");
    std::fs::write(&path, &run.stdout).unwrap();
    match std::process::Command::new("bash").arg("-n").arg(&path).output() {
        Ok(o) => assert!(o.status.success(), "bash -n: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("bash is needed to check the completion script: {e}"),
    }
    for shell in ["zsh", "fish"] {
        let run = portproof(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(run.stdout.contains("json-field") && run.stdout.contains("completions"), "{shell}");
    }
    assert_eq!(portproof(&["completions", "tcsh"]).code, 2, "an unknown shell is a usage error");
}

#[test]
fn man_page_is_roff_with_a_title_and_every_subcommand() {
    let run = portproof(&["man"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // clap_mangen opens with the `\*(Aq` string definition (.ie/.el), then the title.
    let first = run.stdout.lines().find(|l| !l.starts_with(".ie ") && !l.starts_with(".el ")).unwrap();
    assert!(first.starts_with(".TH portproof 1"), "{first}");
    for sub in subcommands() {
        assert!(run.stdout.contains(&format!(".SH \"PORTPROOF {}\"", sub.to_uppercase())), "{sub} has no section");
    }
    assert!(run.stdout.contains("json\\-field"), "probe flags are in the page");
}

#[test]
fn handshake_expectations_on_another_probe_are_refused_not_ignored() {
    // Only the tls probe looks at client_auth, alpn and scan: elsewhere they would pass unseen.
    for args in [
        &["check", "127.0.0.1:8443", "-e", "https", "--client-auth", "required"][..],
        &["check", "127.0.0.1:5432", "-e", "postgres", "--client-auth", "required"][..],
        &["check", "127.0.0.1:8443", "-e", "https", "--alpn", "h2"][..],
    ] {
        let run = portproof(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("is what the tls probe checks"), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn a_fifo_or_device_named_as_a_file_is_refused_not_read() {
    // Opening a FIFO blocks until a writer comes, and /dev/zero never ends: neither may hang a
    // run outside every deadline.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let fifo = fifo.to_str().unwrap();
    let pw = dir.path().join("m.yaml");
    std::fs::write(
        &pw,
        format!(
            "checks:\n  - {{name: a, host: 127.0.0.1, port: 1, expect: amqp, login: {{user: u, password_file: {fifo}}}}}\n"
        ),
    )
    .unwrap();
    for (args, needle) in [
        (vec!["check", "127.0.0.1:1", "--expect", "https", "--ca", fifo], "not a regular file"),
        (vec!["check", "127.0.0.1:1", "--expect", "https", "--ca", "/dev/zero"], "not a regular file"),
        (vec!["profile", "ignition", "--config", &format!("gateway.xml={fifo}"), "--list"], "not a regular file"),
        (vec!["run", pw.to_str().unwrap()], "not a regular file"),
    ] {
        let run = portproof(&args);
        assert!(run.stderr.contains(needle) || run.stdout.contains(needle), "{args:?}: {} {}", run.stderr, run.stdout);
        assert_ne!(run.code, 0, "{args:?}");
    }
}
