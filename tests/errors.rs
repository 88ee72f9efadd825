//! Manifest and command-line mistakes: each one is named at its own line, column and field
//! (or as the flag it is), and exits 2 before any traffic.

use crate::harness::portproof;

/// Writes a manifest of two good checks, then `third`, then a good fourth check, and runs it:
/// a mistake in the 3rd check must not be reported at the first one's line.
fn run_with_third(third: &str, extra: &[&str]) -> (String, crate::harness::Run) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml");
    let src = format!(
        "defaults: {{ host: 127.0.0.1 }}
checks:
  - {{ name: one, port: 1, expect: tcp }}
  - {{ name: two, port: 2, expect: tcp }}
{third}
  - {{ name: four, port: 4, expect: tcp }}
"
    );
    std::fs::write(&path, &src).unwrap();
    let p = path.to_str().unwrap().to_owned();
    let mut args = vec!["run", p.as_str()];
    args.extend_from_slice(extra);
    let run = portproof(&args);
    (p, run)
}

/// The 1-based line and column of the first `key:` of `src` from line `from` on, as a YAML
/// parser reports a key's position.
fn key_at(src: &str, from: usize, key: &str) -> (usize, usize) {
    let pat = format!("{key}:");
    src.lines()
        .enumerate()
        .skip(from - 1)
        .find_map(|(n, l)| {
            l.match_indices(&pat)
                .find(|(i, _)| *i == 0 || matches!(l.as_bytes()[i - 1], b' ' | b'{'))
                .map(|(i, _)| (n + 1, i + 1))
        })
        .unwrap_or_else(|| panic!("{key}: in {src}"))
}

/// Asserts a usage error at `origin:line:column: path: ...` mentioning `says`.
fn assert_at(run: &crate::harness::Run, origin: &str, line: usize, column: usize, path: &str, says: &str) {
    assert_eq!(run.code, 2, "a usage error: {}\n{}", run.stdout, run.stderr);
    let want = format!("portproof: error: {origin}:{line}:{column}: {path}: ");
    assert!(run.stderr.starts_with(&want), "want {want:?}, got {:?}", run.stderr);
    assert!(run.stderr.contains(says), "mentions {says:?}: {}", run.stderr);
}

#[test]
fn each_check_level_mistake_is_at_its_own_key() {
    for (third, path, says) in [
        ("  - { name: three, port: 3, expect: nosuch }", "checks[2].expect", "unknown protocol \"nosuch\""),
        ("  - { name: three, port: 0, expect: tcp }", "checks[2].port", "0 is not a port"),
        (
            "  - name: three\n    port: 3\n    expect: tcp\n    http: { path: / }",
            "checks[2].http",
            "settings for the http probe",
        ),
        ("  - { name: three, port: 3, expect: tcp, over: udp }", "checks[2].over", "runs over tcp"),
        ("  - { name: three, port: 3, expect: tcp, require: healthy }", "checks[2].require", "beyond"),
        ("  - { name: three, port: 3, expect: tcp, login: { user: u } }", "checks[2].login", "does not log in"),
        ("  - { name: three, port: 3, expect: tcp, planned: tcp }", "checks[2].planned", "already the probe"),
        (
            "  - { name: three, port: 3, expect: tcp, tls: { ca: /x.pem } }",
            "checks[2].tls",
            "tls: settings are not used",
        ),
        ("  - { name: one, port: 3, expect: tcp }", "checks[2].name", "used by an earlier check"),
        ("  - { name: three, host: \"127.0.0.1:5432\", port: 3, expect: tcp }", "checks[2].host", "port:"),
        ("  - { name: three, host: \"[::1]\", port: 3, expect: tcp }", "checks[2].host", "without brackets"),
        // A probe's own validation, at the probe's section.
        ("  - { name: three, port: 3, expect: http, http: { path: nope } }", "checks[2].http", "must start with /"),
    ] {
        let (origin, run) = run_with_third(third, &[]);
        let key = path.trim_start_matches("checks[2].");
        // The third check starts on line 5 of the manifest.
        let (line, column) = key_at(&format!("\n\n\n\n{third}"), 5, key);
        assert_at(&run, &origin, line, column, path, says);
    }
}

#[test]
fn the_fourth_check_is_named_as_the_fourth() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml");
    std::fs::write(
        &path,
        "defaults: { host: 127.0.0.1 }
checks:
  - { name: one, port: 1, expect: tcp }
  - { name: two, port: 2, expect: tcp }
  - { name: three, port: 3, expect: tcp }
  - name: four
    port: 0
    expect: tcp
",
    )
    .unwrap();
    let run = portproof(&["run", path.to_str().unwrap()]);
    assert_at(&run, path.to_str().unwrap(), 7, 5, "checks[3].port", "0 is not a port");
}

#[test]
fn relative_files_are_found_next_to_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml");
    std::fs::write(
        &path,
        "checks:\n  - { name: a, host: 127.0.0.1, port: 1, expect: https, tls: { ca: site-ca.pem } }\n",
    )
    .unwrap();
    // Run from elsewhere: the CA named relative to the manifest is looked for beside it.
    let run = portproof(&["run", path.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let beside = dir.path().join("site-ca.pem");
    assert!(run.stderr.contains(&beside.display().to_string()), "looked for {}: {}", beside.display(), run.stderr);
    assert!(run.stderr.contains(":2:57: checks[0].tls: "), "at the tls key: {}", run.stderr);
}

#[test]
fn command_line_mistakes_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.yaml");
    std::fs::write(&path, "defaults: { host: 127.0.0.1 }\nchecks:\n  - { name: a, port: 1, expect: https }\n").unwrap();
    let m = path.to_str().unwrap();
    let run = portproof(&["run", m, "--ca", "/nonexistent.pem"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.starts_with("portproof: error: --ca /nonexistent.pem: "), "names the flag: {}", run.stderr);
    assert!(!run.stderr.contains("ok.yaml"), "not the manifest's line: {}", run.stderr);
    for host in ["[::1]", "127.0.0.1:5432", "http://gw/"] {
        let run = portproof(&["run", m, "--host", host]);
        assert_eq!(run.code, 2, "--host {host} is a usage error, not dns.failed: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.starts_with("portproof: error: --host: "), "{}", run.stderr);
    }
    let run = portproof(&["run", m, "--host", "::1", "--timeout", "1s", "-f", "json"]);
    assert_ne!(run.code, 2, "an IPv6 address without brackets is a host: {}", run.stderr);
}

#[test]
fn set_items_are_validated_together_and_reach_lists() {
    let gw = crate::harness::gateway();
    let target = format!("127.0.0.1:{}", 8088 + gw.offset);
    // A pointer and its `equals` only make sense together: each alone is incomplete.
    let run = portproof(&[
        "check",
        &target,
        "-e",
        "http",
        "--set",
        "http.path=/StatusPing",
        "--set",
        "http.json.pointer=/state",
        "--set",
        "http.json.equals=RUNNING",
        "-f",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.result()["level"], "healthy", "{}", run.stdout);
    gw.state.set("FAULTED");
    let again = portproof(&[
        "check",
        &target,
        "-e",
        "http",
        "--set",
        "http.path=/StatusPing",
        "--set",
        "http.json.pointer=/state",
        "--set",
        "http.json.equals=RUNNING",
        "-f",
        "json",
    ]);
    assert_eq!(again.code, 1, "the criterion set by --set is applied: {}", again.stdout);
    // A list, as the manifest writes it.
    let run = portproof(&["check", &target, "-e", "http", "--set", "http.status=[404]", "-f", "json"]);
    assert_eq!(run.code, 1, "200 is not in the list [404]: {}{}", run.stdout, run.stderr);
    let run = portproof(&["check", &target, "-e", "http", "--set", "http.status=[999]"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--set http.status") && run.stderr.contains("999"), "{}", run.stderr);
}

#[test]
fn out_of_range_numbers_are_named_as_such() {
    let run = portproof(&["check", "127.0.0.1:502", "-e", "modbus", "--set", "modbus.unit=300"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--set modbus.unit"), "{}", run.stderr);
    assert!(!run.stderr.contains("invalid type: string"), "says what is wrong with 300: {}", run.stderr);
    assert!(run.stderr.contains("300"), "{}", run.stderr);
}

#[test]
fn browser_port_zero_is_refused() {
    let run = portproof(&["check", "127.0.0.1:1433", "-e", "mssql", "--browser-port", "0"]);
    assert_eq!(run.code, 2, "ports are 1..65535: {}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("--browser-port"), "{}", run.stderr);
}

#[test]
fn an_empty_section_is_refused_however_it_is_written() {
    for section in ["http: null", "http:", "http: ~"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        std::fs::write(
            &path,
            format!("checks:\n  - name: a\n    host: h\n    port: 1\n    expect: http\n    {section}\n"),
        )
        .unwrap();
        let run = portproof(&["run", path.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{section}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(":6:"), "{section} at its own line: {}", run.stderr);
        assert!(run.stderr.contains("http is empty"), "{section}: {}", run.stderr);
    }
}

#[test]
fn check_errors_name_the_setting_not_a_manifest_position() {
    let run = portproof(&["check", "127.0.0.1:1", "-e", "https", "--ca", "/nonexistent.pem"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.starts_with("portproof: error: tls: cannot read CA file /nonexistent.pem"), "{}", run.stderr);
    assert!(!run.stderr.contains("checks[0]") && !run.stderr.contains("<command line>"), "{}", run.stderr);
    // TLS settings on a check that does not run over TLS would be ignored: refused.
    let run = portproof(&["check", "127.0.0.1:1", "-e", "tcp", "--ca", "/nonexistent.pem"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not used"), "{}", run.stderr);
}
