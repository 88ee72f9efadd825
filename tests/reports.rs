//! Every report format, rendered from the same run: one passing, one failing and one failing
//! optional check.

use quick_junit::{NonSuccessKind, TestCaseStatus};

use crate::harness::{Run, gateway, portproof};

fn three_checks(format: &str, extra: &[&str]) -> Run {
    let gw = gateway();
    gw.state.set("FAULTED");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml");
    std::fs::write(
        &path,
        "defaults: { host: 127.0.0.1 }
checks:
  - { name: open port, port: 4840, expect: tcp }
  - name: status
    port: 8088
    expect: http
    http: { path: /StatusPing, json: { pointer: state, equals: RUNNING } }
  - { name: optional closed, port: 9, expect: tcp, optional: true }
",
    )
    .unwrap();
    let offset = gw.offset.to_string();
    let mut args = vec!["run", path.to_str().unwrap(), "--offset", &offset, "-f", format];
    args.extend_from_slice(extra);
    let run = portproof(&args);
    assert_eq!(run.code, 1, "one required check fails: {}\n{}", run.stdout, run.stderr);
    run
}

#[test]
fn json_round_trips_and_has_the_documented_shape() {
    let run = three_checks("json", &[]);
    let report: portproof::runner::Report = serde_json::from_str(&run.stdout).expect("parses into Report");
    let again = serde_json::to_value(&report).unwrap();
    assert_eq!(again, run.json(), "serialize(deserialize(x)) == x");
    let j = run.json();
    assert_eq!(j["portproof"], env!("CARGO_PKG_VERSION"));
    let r = &j["results"][1];
    for field in ["name", "target", "expect", "require", "level", "ok", "failure", "phases", "facts"] {
        assert!(r.get(field).is_some(), "result has {field}: {r:#}");
    }
    for field in ["code", "phase", "message", "hint"] {
        assert!(r["failure"].get(field).is_some(), "failure has {field}");
    }
    assert_eq!(j["summary"]["total"], 3);
    assert_eq!(j["summary"]["ok"], 1);
    assert_eq!(j["summary"]["failed"], 2);
    assert_eq!(j["summary"]["passed"], false);
}

#[test]
fn jsonl_is_one_result_per_line() {
    let run = three_checks("jsonl", &[]);
    let lines: Vec<_> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    let mut names: Vec<String> = lines
        .iter()
        .map(|l| serde_json::from_str::<portproof::runner::CheckResult>(l).expect("each line is a result").name)
        .collect();
    names.sort();
    assert_eq!(names, ["open port", "optional closed", "status"]);
}

#[test]
fn junit_is_valid_xml_with_one_testcase_per_check() {
    let run = three_checks("junit", &[]);
    let doc = quick_junit::Report::deserialize_from_str(&run.stdout).expect("valid JUnit XML");
    assert_eq!(doc.test_suites.len(), 1);
    let cases = &doc.test_suites[0].test_cases;
    assert_eq!(cases.len(), 3);
    assert!(matches!(cases[0].status, TestCaseStatus::Success { .. }));
    match &cases[1].status {
        TestCaseStatus::NonSuccess { kind: NonSuccessKind::Failure, ty, message, description, .. } => {
            assert_eq!(ty.as_deref(), Some("http.unhealthy_state"));
            assert!(message.as_deref().unwrap().contains("FAULTED"));
            assert!(description.as_deref().unwrap().contains("hint:"));
        }
        other => panic!("the failing check is a failure: {other:?}"),
    }
    assert!(matches!(cases[2].status, TestCaseStatus::Skipped { .. }), "a failed optional check is skipped");
}

#[test]
fn table_shows_the_failure_and_its_hint_without_colour_when_piped() {
    let run = three_checks("table", &[]);
    assert!(run.stdout.contains("http.unhealthy_state"), "{}", run.stdout);
    assert!(run.stdout.contains("hint: "), "{}", run.stdout);
    assert!(run.stdout.contains("FAIL"), "{}", run.stdout);
    assert!(!run.stdout.contains('\x1b'), "no colour when not a terminal");
}

#[test]
fn prometheus_uses_blackbox_names() {
    let run = three_checks("prometheus", &[]);
    let t = &run.stdout;
    assert!(
        t.lines().any(|l| l.starts_with("probe_success{") && l.contains("check=\"status\"") && l.ends_with(" 0")),
        "{t}"
    );
    assert!(
        t.lines().any(|l| l.starts_with("probe_success{") && l.contains("check=\"open port\"") && l.ends_with(" 1")),
        "{t}"
    );
    assert!(t.contains("probe_failure{") && t.contains("code=\"http.unhealthy_state\""), "{t}");
    assert!(t.contains("probe_phase_duration_seconds{"), "{t}");
}

/// A run whose names need escaping and whose passing check still carries a failure code.
fn awkward_prometheus(gw: &portproof_testbeds::gateway::Gateway) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml");
    std::fs::write(
        &path,
        r#"defaults: { host: 127.0.0.1 }
checks:
  - { name: "Gateway \"A\"", port: 4840, expect: tcp }
  - { name: "back\\slash and\nnewline", port: 8088, expect: http, http: { path: /StatusPing, json: { pointer: state, equals: RUNNING } } }
  - { name: database, port: 3306, expect: mysql }
  - { name: closed, port: 9, expect: tcp, optional: true }
"#,
    )
    .unwrap();
    let offset = gw.offset.to_string();
    let run = portproof(&["run", path.to_str().unwrap(), "--offset", &offset, "-f", "prometheus"]);
    assert_eq!(run.code, 1, "the FAULTED status fails: {}\n{}", run.stdout, run.stderr);
    run.stdout
}

#[test]
fn prometheus_is_what_promtool_accepts_escaped_stable_and_shortest() {
    let gw = gateway();
    gw.state.set("FAULTED");
    let (first, second) = (awkward_prometheus(&gw), awkward_prometheus(&gw));
    let t = &first;
    assert!(t.contains(r#"check="Gateway \"A\"""#), "quotes escaped: {t}");
    assert!(t.contains(r#"check="back\\slash and\nnewline""#), "backslash and newline escaped: {t}");
    assert!(t.lines().all(|l| l.starts_with('#') || l.starts_with("probe_")), "no raw newline splits a line: {t}");
    // Series in the same order on every run: only the values may differ.
    let keys = |t: &str| t.lines().map(|l| l.rsplit_once(' ').map_or(l, |(k, _)| k).to_owned()).collect::<Vec<_>>();
    assert_eq!(keys(&first), keys(&second), "the same series in the same order");
    for line in t.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit_once(' ').unwrap().1;
        let v: f64 = value.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(v.to_string(), value, "the shortest text of the value: {line}");
        assert!(value.len() <= 10, "microseconds at most, not 0.013151999999999999: {line}");
    }
    // The mysql check passes at speaks with auth.no_credentials: not a failure series.
    assert!(t.contains(r#"probe_success{check="database""#), "{t}");
    assert!(
        !t.lines().any(|l| l.starts_with(r#"probe_failure{check="database""#)),
        "a passing check has no failure series: {t}"
    );
    assert!(t.contains(r#"probe_failure{check="back"#) && t.contains(r#"code="http.unhealthy_state""#), "{t}");
    assert!(
        t.lines().any(|l| l.starts_with(r#"probe_failure{check="closed""#) && l.ends_with(r#"code="tcp.refused"} 1"#)),
        "{t}"
    );
    if crate::harness::tool("promtool", "prometheus") {
        let (code, said) = crate::harness::pipe_through("promtool", &["check", "metrics"], t);
        assert_eq!(code, 0, "promtool check metrics accepts it: {said}\n{t}");
        assert!(said.trim().is_empty(), "and has nothing to lint: {said}");
    }
}

#[test]
fn prometheus_of_a_check_with_a_quoted_name_is_accepted() {
    let gw = gateway();
    let target = format!("127.0.0.1:{}", 4840 + gw.offset);
    let run = portproof(&["check", &target, "-e", "tcp", "--name", "Gateway \"A\"", "-f", "prometheus"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(r#"probe_success{check="Gateway \"A\"",target="#), "{}", run.stdout);
    if crate::harness::tool("promtool", "prometheus") {
        let (code, said) = crate::harness::pipe_through("promtool", &["check", "metrics"], &run.stdout);
        assert_eq!(code, 0, "{said}\n{}", run.stdout);
    }
}

#[test]
fn junit_validates_against_the_junit_xsd() {
    let run = three_checks("junit", &[]);
    if !crate::harness::tool("xmllint", "libxml2-utils") {
        return;
    }
    let xsd = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/junit-10.xsd");
    let (code, said) = crate::harness::pipe_through("xmllint", &["--noout", "--schema", xsd, "-"], &run.stdout);
    assert_eq!(code, 0, "the JUnit XSD validates the report: {said}\n{}", run.stdout);
    // A name that needs escaping, and a line break that must survive in an attribute.
    let gw = gateway();
    let target = format!("127.0.0.1:{}", 4840 + gw.offset);
    let run = portproof(&["check", &target, "-e", "tcp", "--name", "a \"b\" <c> &\nd", "-f", "junit"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (code, said) = crate::harness::pipe_through("xmllint", &["--noout", "--schema", xsd, "-"], &run.stdout);
    assert_eq!(code, 0, "{said}\n{}", run.stdout);
    let doc = quick_junit::Report::deserialize_from_str(&run.stdout).expect("a second reader agrees");
    assert_eq!(doc.test_suites[0].test_cases[0].name.as_str(), "a \"b\" <c> &\nd", "the name reads back whole");
}

#[test]
fn json_report_has_a_published_schema_it_follows() {
    let run = portproof(&["schema", "report"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let published = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/report.schema.json")).unwrap();
    assert_eq!(
        published, run.stdout,
        "docs/report.schema.json is stale: portproof schema report > docs/report.schema.json"
    );
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let report = three_checks("json", &[]).json();
    let required = |def: &serde_json::Value| -> Vec<String> {
        def["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    };
    for field in required(&schema) {
        assert!(report.get(&field).is_some(), "the report has the schema's required {field}");
    }
    let result = &schema["$defs"]["CheckResult"];
    let known: Vec<&String> = result["properties"].as_object().unwrap().keys().collect();
    for r in report["results"].as_array().unwrap() {
        for field in required(result) {
            assert!(r.get(&field).is_some(), "each result has the schema's required {field}: {r:#}");
        }
        for field in r.as_object().unwrap().keys() {
            assert!(known.contains(&field), "the schema describes every field a result has: {field}");
        }
    }
}

#[test]
fn output_goes_to_a_file_with_o() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.xml");
    let run = three_checks("junit", &["-o", out.to_str().unwrap()]);
    assert!(run.stdout.is_empty());
    let xml = std::fs::read_to_string(&out).unwrap();
    assert!(quick_junit::Report::deserialize_from_str(&xml).is_ok());
}
