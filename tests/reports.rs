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
    assert!(t.trim_end().ends_with("# EOF"));
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
