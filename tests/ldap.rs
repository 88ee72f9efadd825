//! The ldap probe against OpenLDAP slapd 2.5 (`testbeds/scripts/ldap.sh`: anonymous binds and
//! StartTLS on 10389, ldaps on 10636, anonymous binds refused and no TLS on 10390), and against
//! decoys that must not pass.

use crate::harness::{code, portproof, portproof_env, real_peer, serve};

fn check(port: u16, expect: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let target = format!("127.0.0.1:{port}");
    let mut args = vec!["check", &target, "-e", expect, "-f", "json"];
    if !extra.contains(&"--timeout") {
        args.extend_from_slice(&["--timeout", "5s"]);
    }
    args.extend_from_slice(extra);
    let run = portproof_env(&args, &[("LDAP_PW", "portproof-secret"), ("LDAP_BAD", "wrong")]);
    (run.code, run.result())
}

fn slapd() -> bool {
    real_peer("OpenLDAP slapd", "127.0.0.1:10389", "bash testbeds/scripts/ldap.sh")
}

const CA: &str = "/tmp/portproof-testbeds/ldap/ca.pem";
const ADMIN: &str = "cn=admin,dc=portproof,dc=test";

#[test]
fn slapd_anonymous_is_healthy_and_names_openldap() {
    if !slapd() {
        return;
    }
    let (rc, r) = check(10389, "ldap", &[]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(r["level"], "healthy", "{r}");
    let f = &r["facts"];
    assert_eq!(f["product"], "OpenLDAP", "{r}");
    assert_eq!(f["ldap_vendor_from"], "objectClass OpenLDAProotDSE", "{r}");
    assert_eq!(f["ldap_naming_contexts"], serde_json::json!(["dc=portproof,dc=test"]), "{r}");
    assert_eq!(f["ldap_versions"], serde_json::json!(["3"]), "{r}");
    assert_eq!(f["ldap_starttls_offered"], true, "{r}");
    assert!(f["ldap_sasl_mechanisms"].as_array().is_some_and(|m| !m.is_empty()), "{r}");
    assert_eq!(f["ldap_bind"], "anonymous: success", "{r}");
}

#[test]
fn a_refused_anonymous_bind_is_a_fact_not_a_failure() {
    if !slapd() {
        return;
    }
    let (rc, r) = check(10390, "ldap", &[]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(r["facts"]["ldap_bind"], "anonymous: refused (inappropriateAuthentication)", "{r}");
    assert_eq!(r["facts"]["ldap_bind_message"], "anonymous bind disallowed", "{r}");
}

#[test]
fn a_login_binds_and_a_wrong_password_fails_by_name() {
    if !slapd() {
        return;
    }
    let (rc, r) = check(10389, "ldap", &["--user", ADMIN, "--password-env", "LDAP_PW"]);
    assert_eq!((rc, r["level"].as_str()), (0, Some("healthy")), "{r}");
    assert_eq!(r["facts"]["ldap_bind"], "login: success", "{r}");
    let (rc, r) = check(10389, "ldap", &["--user", ADMIN, "--password-env", "LDAP_BAD"]);
    assert_eq!((rc, code(&r).as_str()), (1, "ldap.bind.invalidCredentials"), "{r}");
    assert_eq!(r["failure"]["stated"], true, "{r}");
    // Over StartTLS the same login, now inside TLS.
    let (rc, r) = check(10389, "ldap", &["--starttls", "--ca", CA, "--user", ADMIN, "--password-env", "LDAP_PW"]);
    assert_eq!((rc, r["level"].as_str()), (0, Some("healthy")), "{r}");
    assert_eq!(r["facts"]["tls_verified"], true, "{r}");
}

#[test]
fn starttls_and_ldaps_go_through_the_tls_engine() {
    if !slapd() {
        return;
    }
    let (rc, r) = check(10389, "ldap", &["--starttls", "--ca", CA]);
    assert_eq!((rc, r["level"].as_str()), (0, Some("healthy")), "{r}");
    assert_eq!(r["facts"]["ldap_starttls"], "accepted", "{r}");
    assert!(r["facts"]["tls_version"].as_str().is_some(), "{r}");
    // Without the CA the certificate does not verify: stated, so the check fails.
    let (rc, r) = check(10389, "ldap", &["--starttls"]);
    assert_eq!(rc, 1, "{r}");
    assert!(code(&r).starts_with("tls.cert_"), "{r}");
    // A server without TLS refuses StartTLS: protocolError, and the check fails.
    let (rc, r) = check(10390, "ldap", &["--starttls"]);
    assert_eq!((rc, code(&r).as_str(), r["level"].as_str()), (1, "ldap.starttls.protocolError", Some("speaks")), "{r}");
    let (rc, r) = check(10636, "ldaps", &["--ca", CA]);
    assert_eq!((rc, r["level"].as_str()), (0, Some("healthy")), "{r}");
    let (rc, r) = check(10636, "ldap", &[]);
    assert_eq!(rc, 1, "{r}");
    assert_eq!(r["identified"], "tls", "{r}");
}

#[test]
fn bad_settings_are_refused_before_any_io() {
    let run = portproof(&["check", "127.0.0.1:1", "-e", "ldaps", "--starttls"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("ldap.starttls"), "{}", run.stderr);
    let run = portproof(&["check", "127.0.0.1:1", "-e", "ldap", "--user", ADMIN]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("unauthenticated bind"), "{}", run.stderr);
}

#[test]
fn decoys_never_pass() {
    let gw = crate::harness::gateway();
    let http = gw.port(8088).expect("the gateway serves 8088");
    let (rc, r) = check(http, "ldap", &[]);
    assert_eq!((rc, r["level"].as_str(), code(&r).as_str()), (1, Some("open"), "proto.mismatch"), "{r}");
    let silent = serve(async { portproof_testbeds::hostile::silent(portproof_testbeds::bind_any().await.unwrap()) });
    let (rc, r) = check(silent.port(), "ldap", &["--timeout", "2s"]);
    assert_eq!((rc, code(&r).as_str()), (1, "auth.timeout"), "{r}");
    let garbage =
        serve(async { portproof_testbeds::hostile::endless_garbage(portproof_testbeds::bind_any().await.unwrap()) });
    let (rc, r) = check(garbage.port(), "ldap", &[]);
    assert_eq!((rc, r["level"].as_str()), (1, Some("open")), "{r}");
    if real_peer("nginx", "127.0.0.1:18080", "bash testbeds/scripts/nginx.sh") {
        let (rc, r) = check(18080, "ldap", &[]);
        assert_eq!((rc, r["identified"].as_str()), (1, Some("http")), "{r}");
    }
    if real_peer("PostgreSQL", "127.0.0.1:5432", "bash testbeds/scripts/databases.sh") {
        let (rc, r) = check(5432, "ldap", &[]);
        assert_eq!((rc, r["level"].as_str()), (1, Some("open")), "{r}");
    }
}
