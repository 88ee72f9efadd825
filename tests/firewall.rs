//! `portproof firewall`: each format handed to the tool that would load it (`nft -c -f`, `ufw
//! --dry-run`, `firewall-offline-cmd` against a throwaway configuration), the Windows lines held
//! to the Ignition document's own, and every profile's output to its golden file.
//!
//! Nothing is ever loaded: `nft -c` only checks, ufw runs with `--dry-run`, and both ufw and
//! firewall-offline-cmd run in a mount namespace of the test's own where /etc/ufw and
//! /etc/firewalld are copies, so even a tool's mistake cannot change this machine's firewall.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Run, portproof, require_real, skipped};

const PROFILES: &[&str] = &["ignition", "pads4", "wso2-mb"];
const OSES: &[(&str, &str)] =
    &[("windows", "bat"), ("nftables", "nft"), ("ufw", "ufw.sh"), ("firewalld", "firewalld.sh")];

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/firewall").join(name)
}

fn firewall(args: &[&str]) -> Run {
    let mut all = vec!["firewall"];
    all.extend_from_slice(args);
    let run = portproof(&all);
    assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
    run
}

/// Whether `program` is installed (on PATH or in the sbin folders root's PATH has); skips with a
/// noted reason when it is not, or fails under `PORTPROOF_REQUIRE_REAL=1`.
fn installed(program: &str, package: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .any(|d| d.join(program).is_file());
    if !found {
        let msg =
            format!("{program} is not installed (Debian package {package}); run testbeds/scripts/firewall-tools.sh");
        assert!(!require_real(), "PORTPROOF_REQUIRE_REAL=1: {msg}");
        skipped(&msg);
    }
    found
}

/// Whether this test may make a mount namespace (root, or the capability): skips with a noted
/// reason when not, or fails under `PORTPROOF_REQUIRE_REAL=1`.
fn can_unshare() -> bool {
    let ok = Command::new("unshare").args(["-m", "true"]).status().is_ok_and(|s| s.success());
    if !ok {
        let msg = "unshare -m fails here (needs root): the ufw and firewalld checks run in a mount namespace";
        assert!(!require_real(), "PORTPROOF_REQUIRE_REAL=1: {msg}");
        skipped(msg);
    }
    ok
}

/// Runs `script` with bash in a mount namespace where each `(dir, copy)` is bind-mounted over
/// `dir`; what it printed (both streams) and whether it succeeded.
fn in_namespace(binds: &[(&str, &Path)], script: &str) -> (bool, String) {
    let mut prelude = String::from("set -e\n");
    for (dir, copy) in binds {
        prelude.push_str(&format!("mount --bind '{}' '{dir}'\n", copy.display()));
    }
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "bash", "-c", &(prelude + script)])
        .output()
        .expect("run unshare");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

/// A copy of `dir` (or an empty folder when the machine has none) in `under`.
fn copy_of(dir: &str, under: &Path) -> PathBuf {
    let to = under.join(dir.trim_start_matches('/').replace('/', "-"));
    if Path::new(dir).is_dir() {
        let ok = Command::new("cp").args(["-a", dir]).arg(&to).status().expect("cp").success();
        assert!(ok, "copy {dir}");
    } else {
        std::fs::create_dir_all(&to).unwrap();
    }
    to
}

/// A manifest whose product name holds every character that could end a string or run a
/// command in one of the four syntaxes.
const HOSTILE_PRODUCT: &str = r#"Evil "Corp" 'x' %PATH% ^ $(touch /tmp/portproof-pwned) `id` ; & | \ é"#;

fn hostile_manifest(dir: &Path) -> PathBuf {
    let path = dir.join("hostile.yaml");
    let yaml = format!(
        "product: '{}'\nsource: \"a \\\"quoted\\\" document\"\ndefaults: {{ host: 127.0.0.1 }}\nchecks:\n  - {{ name: \"Web \\\"UI\\\" 'x'\", port: 8088, expect: http, note: \"100% ^ $(id) \\\"n\\\"\" }}\n  - {{ name: Time, port: 123, expect: ntp }}\n",
        HOSTILE_PRODUCT.replace('\'', "''")
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

/// The golden file of `profile` for `os`, or, with `PORTPROOF_BLESS=1` (after a profile
/// changed), written anew from the output.
fn golden(profile: &str, os: &str, ext: &str, output: &str) {
    let path = data(&format!("{profile}.{ext}"));
    if std::env::var("PORTPROOF_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, output).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        output,
        want,
        "portproof firewall {profile} --os {os} differs from {} (PORTPROOF_BLESS=1 rewrites it after a profile change)",
        path.display()
    );
}

#[test]
fn every_profile_matches_its_golden_file_for_every_os() {
    for profile in PROFILES {
        for (os, ext) in OSES {
            golden(profile, os, ext, &firewall(&[profile, "--os", os]).stdout);
        }
    }
}

/// A netsh rule with its name taken out: what it opens, which the document and we must agree on.
fn without_name(line: &str) -> String {
    let start = line.find("name=\"").expect("a named rule");
    let end = start + 6 + line[start + 6..].find('"').expect("closing quote");
    format!("{}name=*{}", &line[..start], &line[end + 1..])
}

#[test]
fn windows_rules_include_every_rule_of_the_ignition_document() {
    // The document's four rules are the web ports, Metro "if using GAN" and OPC UA "if enabled".
    let ours = firewall(&["ignition", "--os", "windows", "--with", "gan,opcua"]).stdout;
    let ours: Vec<String> = ours.lines().filter(|l| l.starts_with("netsh ")).map(without_name).collect();
    let document = std::fs::read_to_string(data("ignition-document.txt")).unwrap();
    let rules: Vec<&str> = document.lines().filter(|l| l.starts_with("netsh ")).collect();
    assert_eq!(rules.len(), 4, "the document's four inbound rules");
    for rule in rules {
        assert!(ours.contains(&without_name(rule)), "the document's\n  {rule}\nis not among ours:\n{ours:#?}");
    }
    // Named after the product and the port, as the document's are.
    let text = firewall(&["ignition", "--os", "windows"]).stdout;
    assert!(text.contains("name=\"Inductive Automation Ignition 8.3 gateway - Gateway HTTP (8088/TCP)\""), "{text}");
    // With no feature on, only the gateway's web ports; the rest is named, not opened.
    let ports: Vec<&str> = text.lines().filter_map(|l| l.split(" localport=").nth(1)).collect();
    assert_eq!(ports, ["8088", "8043"], "{text}");
    assert!(
        text.contains("REM Ports of features not on (--with F or --all adds them): require-ssl 8088/tcp; gan 8060/tcp; opcua 4840/tcp, 4096/tcp.\n"),
        "{text}"
    );
}

/// The ports a rule file opens: `localport=`, `dport`, `allow`, `--add-port=`.
fn opened(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.starts_with("REM"))
        .filter_map(|l| {
            let l = l.trim_start();
            l.split(" localport=")
                .nth(1)
                .or_else(|| l.split(" dport ").nth(1).map(|r| r.split(' ').next().unwrap()))
                .or_else(|| l.strip_prefix("ufw allow ").map(|r| r.split('/').next().unwrap()))
                .or_else(|| l.split("--add-port=").nth(1).map(|r| r.split('/').next().unwrap()))
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn all_features_need_a_role_and_each_role_gets_its_own_rules() {
    let run = portproof(&["firewall", "ignition", "--os", "nftables", "--all"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("several machines: give --role (gateway, device, database, backup)"), "{}", run.stderr);
    for os in ["windows", "nftables", "ufw", "firewalld"] {
        let db = firewall(&["ignition", "--os", os, "--role", "database", "--all"]).stdout;
        assert_eq!(opened(&db), ["3306", "5432", "1433", "1521"], "{os}: {db}");
        assert!(db.contains("For the database machine: the database servers the gateway connects to"), "{db}");
        let gw = firewall(&["ignition", "--os", os, "--role", "gateway", "--all"]).stdout;
        assert_eq!(opened(&gw), ["8088", "8043", "8060", "4840", "4096"], "{os}: {gw}");
    }
    // Two roles' nftables files on one machine keep their own tables.
    let db = firewall(&["ignition", "--os", "nftables", "--role", "database", "--with", "postgres"]).stdout;
    assert!(db.contains("\ntable inet portproof_ignition_database {\n"), "{db}");
    assert_eq!(opened(&db), ["5432"], "only the feature asked for: {db}");
    assert!(
        db.contains(
            "Ports of features not on (--with F or --all adds them): mysql 3306/tcp; mssql 1433/tcp; oracle 1521/tcp."
        ),
        "{db}"
    );
    // A declared role whose features are all off has nothing to open, and says why.
    let backup = firewall(&["ignition", "--os", "ufw", "--role", "backup"]).stdout;
    assert!(opened(&backup).is_empty() && backup.contains("Nothing to open inbound."), "{backup}");
    assert!(backup.contains("redundancy 8088/tcp, 8043/tcp, 8060/tcp"), "{backup}");
}

#[test]
fn local_only_ports_are_never_opened_inbound() {
    for args in [vec!["pads4"], vec!["pads4", "--all"], vec!["pads4", "--all", "--role", "server"]] {
        for os in ["windows", "nftables", "ufw", "firewalld"] {
            let mut a = args.clone();
            a.extend(["--os", os]);
            let text = firewall(&a).stdout;
            let ports = opened(&text);
            for local in ["5672", "5671", "15672", "15671"] {
                assert!(!ports.iter().any(|p| p == local), "{a:?} opens local-only {local}: {text}");
            }
            assert!(ports.contains(&"7237".to_owned()), "{a:?}: {text}");
            assert!(text.contains("Never opened inbound, used on this machine only"), "{a:?}: {text}");
            if args.len() > 1 {
                assert!(text.contains("5672/tcp RabbitMQ AMQP, 5671/tcp RabbitMQ AMQP over TLS, 15672/tcp RabbitMQ HTTP API, 15671/tcp RabbitMQ HTTP API over TLS."), "{text}");
                assert!(ports.contains(&"3702".to_owned()) && ports.contains(&"123".to_owned()), "{a:?}: {text}");
            }
        }
    }
}

#[test]
fn a_gateway_xml_moves_the_rules_and_closes_what_it_sets_to_0() {
    let xml = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config/gateway.xml");
    let xml = xml.to_str().unwrap();
    let text = firewall(&["ignition", "--os", "windows", "--with", "gan", "--config", xml]).stdout;
    // gateway.xml sets 8080 and 8443, and 0 for Metro: the rules follow the file.
    let ports = opened(&text);
    assert_eq!(ports, ["8080", "8443"], "{text}");
    assert!(text.contains("the load-balancer health check; gateway.port in gateway.xml:6\n"), "{text}");
    assert!(text.contains("REM Features on: gan.\n"), "gan was asked for, though its one port is closed: {text}");
    assert!(text.contains("Not opened, it must be closed: 8060/tcp Gateway Network (Metro): gateway.metroSSLPort in gateway.xml:8 is 0"), "{text}");
    let nft = firewall(&["ignition", "--os", "nftables", "--config", xml]).stdout;
    assert_eq!(opened(&nft), ["8080", "8443"], "{nft}");
}

#[test]
fn nft_checks_every_profile_and_a_hostile_name() {
    if !installed("nft", "nftables") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hostile = hostile_manifest(dir.path());
    let mut cases: Vec<(String, Vec<&str>)> =
        PROFILES.iter().map(|p| (p.to_string(), vec![*p, "--os", "nftables"])).collect();
    cases.push(("wso2-mb at offset 1".into(), vec!["wso2-mb", "--os", "nftables", "--offset", "1"]));
    cases.push(("hostile".into(), vec![hostile.to_str().unwrap(), "--os", "nftables"]));
    for (what, args) in cases {
        let text = firewall(&args).stdout;
        let file = dir.path().join("rules.nft");
        std::fs::write(&file, &text).unwrap();
        let out = Command::new("nft").arg("-c").arg("-f").arg(&file).output().expect("run nft");
        assert!(
            out.status.success(),
            "nft -c -f refuses the {what} rules: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = firewall(&[hostile.to_str().unwrap(), "--os", "nftables"]).stdout;
    assert!(text.contains("\ntable inet portproof_hostile {"), "{text}");
    assert!(text.contains("udp dport 123 accept"), "the NTP check is UDP: {text}");
    assert!(!Path::new("/tmp/portproof-pwned").exists());
}

#[test]
fn ufw_dry_runs_every_line_with_its_comment() {
    if !installed("ufw", "ufw") || !can_unshare() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hostile = hostile_manifest(dir.path());
    let etc = copy_of("/etc/ufw", dir.path());
    for args in [vec!["ignition", "--os", "ufw"], vec![hostile.to_str().unwrap(), "--os", "ufw"]] {
        let text = firewall(&args).stdout;
        // The output as it is, with ufw made a dry run (it shows the rules it would add).
        let script = format!("ufw() {{ command ufw --dry-run \"$@\"; }}\n{text}");
        let (ok, said) = in_namespace(&[("/etc/ufw", &etc)], &script);
        assert!(ok, "ufw refuses a line: {said}\n{text}");
        for line in text.lines().filter(|l| l.starts_with("ufw allow ")) {
            let (port, proto) = line["ufw allow ".len()..].split_once(' ').unwrap().0.split_once('/').unwrap();
            let comment = line.split_once(" comment '").unwrap().1.trim_end_matches('\'').replace("'\\''", "'");
            let hex: String = comment.bytes().map(|b| format!("{b:02x}")).collect();
            let tuple = format!("### tuple ### allow {proto} {port} 0.0.0.0/0 any 0.0.0.0/0 in comment={hex}");
            assert!(said.contains(&tuple), "ufw did not take {line:?} as {tuple:?}:\n{said}");
        }
    }
    assert!(!Path::new("/tmp/portproof-pwned").exists());
}

#[test]
fn firewalld_takes_the_service_the_lines_define() {
    if !installed("firewall-offline-cmd", "firewalld") || !can_unshare() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hostile = hostile_manifest(dir.path());
    for (args, service, ports) in [
        (vec!["ignition", "--os", "firewalld"], "portproof-ignition-gateway", "8088/tcp 8043/tcp"),
        (
            vec!["ignition", "--os", "firewalld", "--role", "gateway", "--all"],
            "portproof-ignition-gateway",
            "8088/tcp 8043/tcp 8060/tcp 4840/tcp 4096/tcp",
        ),
        (
            vec!["ignition", "--os", "firewalld", "--role", "database", "--all"],
            "portproof-ignition-database",
            "3306/tcp 5432/tcp 1433/tcp 1521/tcp",
        ),
        (
            vec!["wso2-mb", "--os", "firewalld", "--offset", "1"],
            "portproof-wso2-mb",
            "9444/tcp 9764/tcp 5673/tcp 8673/tcp 1884/tcp 8834/tcp 7612/tcp",
        ),
        (vec![hostile.to_str().unwrap(), "--os", "firewalld"], "portproof-hostile", "8088/tcp 123/udp"),
    ] {
        let text = firewall(&args).stdout;
        // A fresh configuration of firewalld's own for each run, so --new-service starts clean.
        let etc = tempfile::tempdir_in(dir.path()).unwrap();
        // firewall-cmd's --permanent lines are what firewall-offline-cmd takes; --reload is the
        // daemon's, which does not run here.
        let script = format!(
            "firewall-cmd() {{ case \"$1\" in --permanent) shift; firewall-offline-cmd \"$@\" ;; --reload) ;; *) echo \"not permanent: $*\"; return 1 ;; esac; }}\n{text}\necho \"ports=$(firewall-offline-cmd --service={service} --get-ports)\"\necho \"services=$(firewall-offline-cmd --list-services)\"\necho \"short=$(firewall-offline-cmd --service={service} --get-short)\"\n"
        );
        let (ok, said) = in_namespace(&[("/etc/firewalld", etc.path())], &script);
        assert!(ok, "firewalld refuses a line: {said}\n{text}");
        assert!(said.contains(&format!("ports={ports}\n")), "{said}");
        assert!(
            said.lines().any(|l| l.starts_with("services=") && l.split(' ').any(|s| s.ends_with(service))),
            "{said}"
        );
        if service == "portproof-hostile" {
            assert!(said.contains(&format!("short={HOSTILE_PRODUCT}\n")), "the name arrives whole: {said}");
        }
    }
    assert!(!Path::new("/tmp/portproof-pwned").exists());
}

#[test]
fn roles_features_and_bad_names_are_usage_errors() {
    for (args, says) in [
        (
            vec!["ignition", "--os", "windows", "--role", "plc"],
            "--role plc: the profile has no such role (its roles: backup, database, device, gateway)",
        ),
        (
            vec!["ignition", "--os", "windows", "--with", "opcua,frobnicate"],
            "--with frobnicate: no such feature; its features are: gan, modbus, mssql, mysql, opcua, oracle, postgres, redundancy, require-ssl",
        ),
        (vec!["ignition", "--os", "windows", "--all"], "give --role"),
        (vec!["ignition", "--os", "windows", "--config", "/nonexistent/gateway.xml"], "/nonexistent/gateway.xml"),
        (vec!["nope", "--os", "windows"], "no profile \"nope\""),
        (vec!["ignition", "--os", "windows", "--offset", "60000"], "<profile ignition>"),
    ] {
        let mut all = vec!["firewall"];
        all.extend_from_slice(&args);
        let run = portproof(&all);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    let run = portproof(&["firewall", "ignition", "--os", "beos"]);
    assert_eq!(run.code, 2);
}

#[test]
fn output_goes_to_a_file_with_o() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ignition.nft");
    let run = firewall(&["ignition", "--os", "nftables", "-o", file.to_str().unwrap()]);
    assert_eq!(run.stdout, "");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), firewall(&["ignition", "--os", "nftables"]).stdout);
}
