//! The TLS engine and the `tls` probe through the binary, one testbed per failure class: each
//! ends in its own code, with the evidence in the message and the facts.

use std::sync::Arc;

use portproof_testbeds::hostile;
use portproof_testbeds::pki::{Flaw, Pki};
use portproof_testbeds::rustls;
use serde_json::Value;

use crate::harness::{code, portproof, serve};

/// A TLS testbed serving `config`, the PKI's CA written to a file, and the address.
struct Bed {
    _server: portproof_testbeds::Server,
    _dir: tempfile::TempDir,
    ca: String,
    addr: String,
}

fn bed(pki: &Pki, config: Arc<rustls::ServerConfig>) -> Bed {
    let server = serve(async { hostile::tls_server(portproof_testbeds::bind_any().await.unwrap(), config) });
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.write_to(dir.path()).unwrap().ca.to_str().unwrap().to_owned();
    Bed { addr: format!("127.0.0.1:{}", server.port()), _server: server, _dir: dir, ca }
}

fn tls(addr: &str, extra: &[&str]) -> Value {
    let mut args = vec!["check", addr, "--expect", "tls", "-f", "json"];
    args.extend_from_slice(extra);
    portproof(&args).result()
}

#[test]
fn a_valid_chain_is_healthy_with_its_certificates_in_the_facts() {
    let pki = Pki::new();
    let b = bed(&pki, pki.server_config());
    let r = tls(&b.addr, &["--ca", &b.ca]);
    assert_eq!(r["level"], "healthy", "{r:#}");
    let certs = r["facts"]["tls_certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 2);
    assert_eq!(certs[0]["subject"], "CN=localhost");
    assert!(certs[0]["sans"].as_array().unwrap().iter().any(|s| s == "127.0.0.1"));
    assert!(certs[1]["self_signed"].as_bool().unwrap());
    assert_eq!(r["facts"]["tls_name_match"], true);
    assert_eq!(r["facts"]["tls_client_cert_requested"], false);
    // Without the CA: the handshake is done (speaks), the chain is not trusted, and that fails
    // the check at the level it reached.
    let r = tls(&b.addr, &[]);
    assert_eq!((r["level"].as_str(), code(&r).as_str()), (Some("speaks"), "tls.cert_unknown_ca"));
    assert_eq!(r["ok"], false, "an untrusted chain never passes: {r:#}");
}

#[test]
fn each_flawed_certificate_has_its_code() {
    let pki = Pki::new();
    let cases = [
        (Flaw::Expired, "tls.cert_expired", "expired on"),
        (Flaw::NotYetValid, "tls.cert_not_yet_valid", "valid only from"),
        (Flaw::WrongHost, "tls.cert_name_mismatch", "wrong.example"),
        (Flaw::SelfSigned, "tls.cert_unknown_ca", "self-signed"),
        (Flaw::MissingIntermediate, "tls.cert_incomplete_chain", "portproof testbed intermediate CA"),
    ];
    for (flaw, expected, evidence) in cases {
        let b = bed(&pki, pki.flawed_config(flaw));
        let run = portproof(&["check", &b.addr, "--expect", "tls", "--ca", &b.ca, "-f", "json"]);
        assert_eq!(run.code, 1, "{flaw:?}: a chain that does not verify fails the check: {}", run.stdout);
        let r = run.result();
        assert_eq!(code(&r), expected, "{flaw:?}: {r:#}");
        assert_eq!(r["level"], "speaks", "{flaw:?}: the handshake itself completed");
        assert_eq!((r["ok"].as_bool(), r["failure"]["stated"].as_bool()), (Some(false), Some(true)), "{flaw:?}");
        let msg = r["failure"]["message"].as_str().unwrap();
        assert!(msg.contains(evidence), "{flaw:?}: {msg}");
        assert!(r["failure"]["hint"].is_string(), "{flaw:?} has a hint");
        // The same certificate under https stops before HTTP, with the same code.
        let https = portproof(&["check", &b.addr, "--expect", "https", "--ca", &b.ca, "-f", "json"]).result();
        assert_eq!((code(&https).as_str(), https["level"].as_str()), (expected, Some("open")), "{flaw:?}");
        assert_eq!(https["ok"], false, "{flaw:?}");
        // And `portproof tls`, the person's diagnosis: the same verdict, a cross, exit 1.
        let run = portproof(&["tls", &b.addr, "--ca", &b.ca]);
        assert_eq!(run.code, 1, "{flaw:?}: {}", run.stdout);
        assert!(run.stdout.contains('✘') && run.stdout.contains(expected), "{flaw:?}: {}", run.stdout);
        assert!(!run.stdout.contains('✔'), "{flaw:?}: {}", run.stdout);
    }
}

#[test]
fn a_certificate_about_to_expire_warns() {
    let pki = Pki::new();
    let b = bed(&pki, pki.flawed_config(Flaw::ExpiringSoon));
    let r = tls(&b.addr, &["--ca", &b.ca]);
    assert_eq!(r["level"], "healthy");
    let w = &r["warnings"][0];
    assert_eq!(w["code"], "tls.cert_expiring", "{r:#}");
    assert!(w["message"].as_str().unwrap().contains("in 10 days"), "{w}");
    let r = tls(&b.addr, &["--ca", &b.ca, "--expiry-warning", "7"]);
    assert!(r.get("warnings").is_none(), "10 days left is fine with a 7-day threshold: {r:#}");
}

#[test]
fn insecure_lets_https_go_on_but_never_makes_a_chain_verify() {
    let pki = Pki::new();
    let b = bed(&pki, pki.flawed_config(Flaw::Expired));
    // The tls probe's healthy means "the chain verifies": insecure cannot give that.
    let r = tls(&b.addr, &["--ca", &b.ca, "--insecure"]);
    assert_eq!((r["level"].as_str(), code(&r).as_str()), (Some("speaks"), "tls.cert_expired"), "{r:#}");
    assert_eq!(r["facts"]["tls_verified"], false);
    // insecure: the check passes at speaks, and says so in a warning.
    assert_eq!(r["ok"], true, "{r:#}");
    assert_eq!(r["warnings"][0]["code"], "tls.unverified", "{r:#}");
    assert!(r["warnings"][0]["message"].as_str().unwrap().contains("expired on"), "{r:#}");
    // `portproof tls` wants a healthy verdict, which insecure cannot give.
    assert_eq!(portproof(&["tls", &b.addr, "--ca", &b.ca, "--insecure"]).code, 1);
}

#[test]
fn mutual_tls_expectations() {
    let pki = Pki::new();
    let required = bed(&pki, pki.mtls_server_config());
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_to(dir.path()).unwrap();
    let (cert, key) = (files.client_cert.to_str().unwrap(), files.client_key.to_str().unwrap());

    let r = tls(&required.addr, &["--ca", &required.ca, "--client-auth", "required"]);
    assert_eq!((r["level"].as_str(), r["ok"].as_bool()), (Some("healthy"), Some(true)), "{r:#}");
    assert!(r["facts"]["tls_acceptable_cas"][0].as_str().unwrap().contains("portproof testbed CA"));
    let schemes = r["facts"]["tls_client_cert_sigschemes"].as_array().unwrap();
    assert!(schemes.iter().any(|s| s == "ECDSA_NISTP256_SHA256"), "the schemes the server accepts: {schemes:?}");

    let r = tls(&required.addr, &["--ca", &required.ca]);
    assert_eq!(code(&r), "tls.client_cert_required", "without an expectation the refusal is the finding");

    let r = tls(&required.addr, &["--ca", &required.ca, "--client-cert", cert, "--client-key", key]);
    assert_eq!(r["level"], "healthy", "{r:#}");
    assert_eq!(r["facts"]["tls_client_cert_sent"], true);

    let r = tls(&required.addr, &["--ca", &required.ca, "--client-auth", "none"]);
    assert_eq!(code(&r), "tls.client_auth_requested");

    // A TLS 1.2 server refuses inside the handshake; required is met all the same.
    let v12 = bed(&pki, pki.mtls_config_with(&[&rustls::version::TLS12]));
    let r = tls(&v12.addr, &["--ca", &v12.ca, "--client-auth", "required"]);
    assert_eq!((r["level"].as_str(), r["ok"].as_bool()), (Some("healthy"), Some(true)), "{r:#}");
    assert_eq!(r["facts"]["tls_client_auth"], "required: refused without a certificate");
    let r = tls(&v12.addr, &["--ca", &v12.ca, "--client-cert", cert, "--client-key", key, "--client-auth", "required"]);
    assert_eq!(r["level"], "healthy", "{r:#}");

    let optional = bed(&pki, pki.optional_mtls_config());
    let r = tls(&optional.addr, &["--ca", &optional.ca, "--client-auth", "optional"]);
    assert_eq!(r["level"], "healthy", "{r:#}");
    let r = tls(&optional.addr, &["--ca", &optional.ca, "--client-auth", "required"]);
    assert_eq!(code(&r), "tls.client_auth_optional", "asked but let in: {r:#}");

    let plain = bed(&pki, pki.server_config());
    let run = portproof(&[
        "check",
        &plain.addr,
        "--expect",
        "tls",
        "--ca",
        &plain.ca,
        "--client-auth",
        "required",
        "-f",
        "json",
    ]);
    assert_eq!(run.code, 1, "a server that lets anyone in fails client_auth: required");
    assert_eq!(code(&run.result()), "tls.client_auth_not_required");
    // Having an identity to offer does not turn it into a mutual-TLS server.
    let r =
        tls(&plain.addr, &["--ca", &plain.ca, "--client-cert", cert, "--client-key", key, "--client-auth", "required"]);
    assert_eq!(code(&r), "tls.client_auth_not_required", "{r:#}");
}

#[test]
fn versions_are_reported() {
    let pki = Pki::new();
    let v12 = bed(&pki, pki.versions_config(&[&rustls::version::TLS12]));
    assert_eq!(tls(&v12.addr, &["--ca", &v12.ca])["facts"]["tls_version"], "TLS 1.2");
    let v13 = bed(&pki, pki.versions_config(&[&rustls::version::TLS13]));
    let r = tls(&v13.addr, &["--ca", &v13.ca]);
    assert_eq!(r["facts"]["tls_version"], "TLS 1.3");
    assert!(r["facts"]["tls_cipher"].as_str().unwrap().starts_with("TLS13_"));
}

#[test]
fn broken_peers_end_in_their_codes() {
    let any = || portproof_testbeds::bind_any();
    let silent = serve(async { hostile::silent(any().await.unwrap()) });
    let r = portproof(&[
        "check",
        &format!("127.0.0.1:{}", silent.port()),
        "--expect",
        "tls",
        "--timeout",
        "1s",
        "-f",
        "json",
    ]);
    assert_eq!(code(&r.result()), "tls.timeout");
    assert!(r.elapsed < std::time::Duration::from_secs(4));

    let slam = serve(async { hostile::slam(any().await.unwrap()) });
    assert_eq!(code(&tls(&format!("127.0.0.1:{}", slam.port()), &[])), "tls.no_response");

    let reset = serve(async { hostile::reset_after_hello(any().await.unwrap()) });
    assert_eq!(code(&tls(&format!("127.0.0.1:{}", reset.port()), &[])), "tls.reset");

    let garbage = serve(async { hostile::endless_garbage(any().await.unwrap()) });
    let r = tls(&format!("127.0.0.1:{}", garbage.port()), &[]);
    assert_eq!(code(&r), "tls.not_tls", "{r:#}");
    assert_eq!(r["level"], "open");

    let ssh = serve(async { hostile::greeter(any().await.unwrap(), b"SSH-2.0-OpenSSH_9.6\r\n") });
    let r = tls(&format!("127.0.0.1:{}", ssh.port()), &[]);
    assert_eq!((code(&r).as_str(), r["identified"].as_str()), ("tls.not_tls", Some("ssh")), "{r:#}");
}

fn versions(r: &Value) -> Vec<String> {
    r["facts"]["tls_versions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_scanner_lists_exactly_the_versions_a_testbed_speaks() {
    let pki = Pki::new();
    let v12 = bed(&pki, pki.versions_config(&[&rustls::version::TLS12]));
    let r = tls(&v12.addr, &["--ca", &v12.ca, "--scan"]);
    assert_eq!(versions(&r), ["TLS 1.2"], "{r:#}");
    let suites = r["facts"]["tls_scan"]["versions"][2]["suites"].as_array().unwrap();
    assert!(
        suites.iter().all(|s| s.as_str().unwrap().starts_with("TLS_ECDHE_")),
        "rustls offers ECDHE only: {suites:?}"
    );
    let v13 = bed(&pki, pki.versions_config(&[&rustls::version::TLS13]));
    assert_eq!(versions(&tls(&v13.addr, &["--ca", &v13.ca, "--scan"])), ["TLS 1.3"]);
}

#[test]
fn tls_command_reports_for_a_person_and_as_json() {
    let pki = Pki::new();
    let b = bed(&pki, pki.mtls_server_config());
    let run = portproof(&["tls", &b.addr, "--ca", &b.ca, "--client-auth", "required"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    for section in
        ["Versions and cipher suites", "Certificate chain", "Client certificate", "Timings", "TLS 1.3  accepted"]
    {
        assert!(run.stdout.contains(section), "missing {section:?}:\n{}", run.stdout);
    }
    assert!(run.stdout.contains("accepts certificates issued by CN=portproof testbed CA"), "{}", run.stdout);
    let run = portproof(&["tls", &b.addr, "--ca", &b.ca, "--format", "json"]);
    let r = run.result();
    assert_eq!(code(&r), "tls.client_cert_required");
    assert_eq!(r["facts"]["tls_scan"]["connections"].as_u64().map(|n| n > 4), Some(true));
}

#[test]
fn nginx_versions_suites_and_chain() {
    if !crate::harness::real_peer("nginx (TLS)", "127.0.0.1:18443", "bash testbeds/scripts/nginx.sh") {
        return;
    }
    let ca = format!(
        "{}/nginx/ca.pem",
        std::env::var("PORTPROOF_STATE").unwrap_or_else(|_| "/tmp/portproof-testbeds".into())
    );
    let r = portproof(&["tls", "127.0.0.1:18443", "--ca", &ca, "--format", "json"]).result();
    assert_eq!(r["level"], "healthy", "{r:#}");
    assert_eq!(versions(&r), ["TLS 1.2", "TLS 1.3"], "nginx is configured for TLSv1.2 and TLSv1.3");
    assert_eq!(r["facts"]["tls_certificates"].as_array().unwrap().len(), 2);
    assert!(r["facts"]["tls_certificates"][0]["key"].as_str().unwrap().starts_with("RSA 2048"));
    assert!(r.get("warnings").is_none(), "nothing weak in nginx's defaults: {r:#}");
}

#[test]
fn a_real_tls_1_0_server_is_diagnosed_with_its_versions() {
    if !crate::harness::real_peer(
        "openssl s_server (TLS 1.0)",
        "127.0.0.1:18444",
        "bash testbeds/scripts/legacy-tls.sh",
    ) {
        return;
    }
    let r = tls("127.0.0.1:18444", &[]);
    assert_eq!(code(&r), "tls.protocol_version", "{r:#}");
    assert!(r["facts"].get("tls_client_cert_requested").is_none(), "the handshake never got that far: {r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("only TLS 1.0"));
    assert_eq!(versions(&r), ["TLS 1.0"]);
    let r = tls("127.0.0.1:18444", &["--scan"]);
    let codes: Vec<&str> = r["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"tls.legacy_version"), "{codes:?}");
    assert!(codes.contains(&"tls.weak_cipher"), "anonymous suites at security level 0: {codes:?}");
}

fn nginx_state() -> String {
    format!("{}/nginx", std::env::var("PORTPROOF_STATE").unwrap_or_else(|_| "/tmp/portproof-testbeds".into()))
}

#[test]
fn nginx_mutual_tls_names_the_requirement_and_the_acceptable_ca() {
    if !crate::harness::real_peer("nginx (mutual TLS)", "127.0.0.1:18445", "bash testbeds/scripts/nginx.sh") {
        return;
    }
    let s = nginx_state();
    let (ca, cert, key) = (format!("{s}/ca.pem"), format!("{s}/client.pem"), format!("{s}/client-key.pem"));
    let run = portproof(&["tls", "127.0.0.1:18445", "--ca", &ca]);
    assert!(run.stdout.contains("requested by the server (none sent)"), "{}", run.stdout);
    assert!(run.stdout.contains("accepts certificates issued by CN=portproof nginx test CA"), "{}", run.stdout);
    // nginx refuses at the HTTP layer, and the https probe names it.
    let r = portproof(&["check", "https://127.0.0.1:18445/StatusPing", "--ca", &ca, "-f", "json"]).result();
    assert_eq!(code(&r), "tls.client_cert_required", "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("CN=portproof nginx test CA"));
    let run = portproof(&[
        "check",
        "https://127.0.0.1:18445/StatusPing",
        "--ca",
        &ca,
        "--client-cert",
        &cert,
        "--client-key",
        &key,
        "--json-field",
        "state=RUNNING",
        "-f",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.result()["facts"]["tls_client_cert_sent"], true);
}

#[test]
fn nginx_tls_1_2_only_in_the_servers_order() {
    if !crate::harness::real_peer("nginx (TLS 1.2 only)", "127.0.0.1:18446", "bash testbeds/scripts/nginx.sh") {
        return;
    }
    let ca = format!("{}/ca.pem", nginx_state());
    let r = tls("127.0.0.1:18446", &["--ca", &ca, "--scan"]);
    assert_eq!(r["facts"]["tls_version"], "TLS 1.2");
    assert_eq!(versions(&r), ["TLS 1.2"]);
    let v12 = &r["facts"]["tls_scan"]["versions"][2];
    assert_eq!(v12["server_order"], true, "ssl_prefer_server_ciphers on: {v12}");
    assert_eq!(v12["suites"][0], "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "the server's first choice leads");
    assert_eq!(v12["suites"].as_array().unwrap().len(), 3);
}

#[test]
fn nginx_refusing_unknown_names_is_sni_required() {
    if !crate::harness::real_peer("nginx (SNI)", "127.0.0.1:18447", "bash testbeds/scripts/nginx.sh") {
        return;
    }
    let ca = format!("{}/ca.pem", nginx_state());
    let r = tls("127.0.0.1:18447", &["--ca", &ca]);
    assert_eq!(code(&r), "tls.sni_required", "an IP address sends no SNI: {r:#}");
    let r = tls("127.0.0.1:18447", &["--ca", &ca, "--sni", "localhost"]);
    assert_eq!(r["level"], "healthy", "{r:#}");
}

#[test]
fn a_real_server_with_no_modern_suite_is_no_shared_cipher() {
    if !crate::harness::real_peer(
        "openssl s_server (TLS 1.2, CBC)",
        "127.0.0.1:18448",
        "bash testbeds/scripts/legacy-tls.sh",
    ) {
        return;
    }
    let r = tls("127.0.0.1:18448", &[]);
    assert_eq!(code(&r), "tls.no_shared_cipher", "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("TLS_RSA_WITH_AES_128_CBC_SHA"), "{r:#}");
    let r = tls("127.0.0.1:18448", &["--scan"]);
    let suites = &r["facts"]["tls_scan"]["versions"][2]["suites"];
    assert_eq!(suites.as_array().unwrap().len(), 2, "AES128-SHA and AES256-SHA: {suites}");
}

#[test]
fn a_real_server_with_a_1024_bit_key_is_named_weak() {
    if !crate::harness::real_peer(
        "openssl s_server (1024-bit key)",
        "127.0.0.1:18449",
        "bash testbeds/scripts/legacy-tls.sh",
    ) {
        return;
    }
    let r = tls("127.0.0.1:18449", &[]);
    let warnings: Vec<&str> = r["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
    assert!(warnings.contains(&"tls.weak_key"), "{r:#}");
    assert_eq!(code(&r), "tls.cert_invalid");
    assert!(r["failure"]["message"].as_str().unwrap().contains("RSA 1024"), "{r:#}");
}

#[test]
fn alpn_is_offered_recorded_and_a_refusal_is_the_servers_alert() {
    if !crate::harness::real_peer("nginx (TLS)", "127.0.0.1:18443", "bash testbeds/scripts/nginx.sh") {
        return;
    }
    let ca = format!("{}/ca.pem", nginx_state());
    let r = tls("127.0.0.1:18443", &["--ca", &ca, "--alpn", "h2,http/1.1"]);
    assert_eq!(r["facts"]["tls_alpn"], "http/1.1", "nginx without http2 picks http/1.1: {r:#}");
    let r = tls("127.0.0.1:18443", &["--ca", &ca, "--alpn", "imap"]);
    assert_eq!(code(&r), "tls.alert.no_application_protocol", "{r:#}");
}

#[test]
fn any_other_alert_keeps_its_name() {
    // A peer that answers every hello with a fatal internal_error alert (80).
    let s = serve(async { hostile::greeter(portproof_testbeds::bind_any().await.unwrap(), &[21, 3, 3, 0, 2, 2, 80]) });
    let r = tls(&format!("127.0.0.1:{}", s.port()), &[]);
    assert_eq!(code(&r), "tls.alert.internal_error", "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("internal_error"));
}

#[test]
fn a_scan_cut_by_the_deadline_keeps_the_verdict() {
    let pki = Pki::new();
    // A server that answers its first connection (the handshake) at once, and every later one
    // (the scanner's) after two seconds.
    let config = pki.server_config();
    let server = serve(async move {
        let l = portproof_testbeds::bind_any().await.unwrap();
        let addr = l.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let task = tokio::spawn(async move {
            let mut first = true;
            while let Ok((s, _)) = l.accept().await {
                let (acceptor, delay) = (acceptor.clone(), !first);
                first = false;
                tokio::spawn(async move {
                    if delay {
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    }
                    let _ = acceptor.accept(s).await;
                });
            }
        });
        portproof_testbeds::Server::new(addr, task)
    });
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.write_to(dir.path()).unwrap().ca;
    let addr = format!("127.0.0.1:{}", server.port());
    let run = portproof(&[
        "check",
        &addr,
        "--expect",
        "tls",
        "--ca",
        ca.to_str().unwrap(),
        "--scan",
        "--timeout",
        "1s",
        "-f",
        "json",
    ]);
    let r = run.result();
    assert_eq!(r["level"], "healthy", "the verdict stands: {r:#}");
    let notes: Vec<&str> =
        r["facts"]["tls_scan"]["versions"].as_array().unwrap().iter().filter_map(|v| v["note"].as_str()).collect();
    assert!(notes.iter().any(|n| n.contains("deadline")), "the scan says it was cut short: {notes:?}");
    assert!(run.elapsed < std::time::Duration::from_secs(3), "{:?}", run.elapsed);
}

#[test]
fn a_pinned_self_signed_certificate_verifies() {
    // `--ca server.pem` with the server's own self-signed certificate, as curl --cacert takes it.
    let (config, pem) = Pki::self_signed_config(&["localhost", "127.0.0.1"]);
    let server = serve(async { hostile::tls_server(portproof_testbeds::bind_any().await.unwrap(), config) });
    let dir = tempfile::tempdir().unwrap();
    let pinned = dir.path().join("server.pem");
    std::fs::write(&pinned, &pem).unwrap();
    let addr = format!("127.0.0.1:{}", server.port());
    let run = portproof(&["tls", &addr, "--ca", pinned.to_str().unwrap(), "--format", "json"]);
    let r = run.result();
    assert_eq!((run.code, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!((r["facts"]["tls_verified"].as_bool(), r["facts"]["tls_pinned"].as_bool()), (Some(true), Some(true)));
    // Pinned for its name only: under another name it is refused for the name, in words.
    let r = tls(&addr, &["--ca", pinned.to_str().unwrap(), "--sni", "gw.example"]);
    assert_eq!((code(&r).as_str(), r["ok"].as_bool()), ("tls.cert_name_mismatch", Some(false)), "{r:#}");
    // Without the pin it is a self-signed certificate not trusted here.
    let r = tls(&addr, &[]);
    assert_eq!(code(&r), "tls.cert_unknown_ca", "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("self-signed"), "{r:#}");
}

#[test]
fn a_rejected_client_certificate_fails_the_check() {
    let pki = Pki::new();
    let b = bed(&pki, pki.mtls_server_config());
    // A client identity from a CA this server does not trust.
    let other = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let files = other.write_to(dir.path()).unwrap();
    let (cert, key) = (files.client_cert.to_str().unwrap(), files.client_key.to_str().unwrap());
    let run = portproof(&[
        "check",
        &b.addr,
        "--expect",
        "tls",
        "--ca",
        &b.ca,
        "--client-cert",
        cert,
        "--client-key",
        key,
        "-f",
        "json",
    ]);
    let r = run.result();
    assert_eq!(code(&r), "tls.client_cert_rejected", "{r:#}");
    assert_eq!((run.code, r["level"].as_str(), r["ok"].as_bool()), (1, Some("speaks"), Some(false)), "{r:#}");
    // Over TLS 1.2 the refusal comes inside the handshake: the same verdict.
    let v12 = bed(&pki, pki.mtls_config_with(&[&rustls::version::TLS12]));
    let run = portproof(&[
        "check",
        &v12.addr,
        "--expect",
        "tls",
        "--ca",
        &v12.ca,
        "--client-cert",
        cert,
        "--client-key",
        key,
        "-f",
        "json",
    ]);
    assert_eq!((run.code, code(&run.result()).as_str()), (1, "tls.client_cert_rejected"), "{}", run.stdout);
}

#[test]
fn a_server_that_lets_a_strangers_certificate_in_is_named() {
    let pki = Pki::new();
    let careless = bed(&pki, pki.careless_mtls_config());
    // Unstated: the finding is the refusal without a certificate, and the warning that any
    // certificate gets in.
    let r = tls(&careless.addr, &["--ca", &careless.ca]);
    assert_eq!(code(&r), "tls.client_cert_required", "{r:#}");
    let warned: Vec<&str> =
        r["warnings"].as_array().map_or(vec![], |w| w.iter().map(|w| w["code"].as_str().unwrap()).collect());
    assert_eq!(warned, ["tls.client_cert_unverified"], "{r:#}");
    assert!(r["facts"]["tls_unknown_client_cert"].as_str().unwrap().starts_with("accepted"), "{r:#}");
    // client_auth: required is not met by a server that lets anyone in with any certificate.
    let run = portproof(&[
        "check",
        &careless.addr,
        "--expect",
        "tls",
        "--ca",
        &careless.ca,
        "--client-auth",
        "required",
        "-f",
        "json",
    ]);
    let r = run.result();
    assert_eq!((run.code, code(&r).as_str()), (1, "tls.client_auth_unverified"), "{r:#}");
    assert_eq!(r["level"], "speaks");
    // Even with the check's own accepted identity, the side question is asked.
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_to(dir.path()).unwrap();
    let (cert, key) = (files.client_cert.to_str().unwrap(), files.client_key.to_str().unwrap());
    let r = tls(&careless.addr, &["--ca", &careless.ca, "--client-cert", cert, "--client-key", key]);
    assert_eq!(r["level"], "healthy", "{r:#}");
    assert_eq!(r["warnings"][0]["code"], "tls.client_cert_unverified", "{r:#}");
    // A server that verifies refuses the stranger: no warning, and required is met.
    let strict = bed(&pki, pki.mtls_server_config());
    let r = tls(&strict.addr, &["--ca", &strict.ca, "--client-auth", "required"]);
    assert_eq!((r["level"].as_str(), r["ok"].as_bool()), (Some("healthy"), Some(true)), "{r:#}");
    assert_eq!(r["facts"]["tls_unknown_client_cert"], "refused", "{r:#}");
    assert!(r.get("warnings").is_none(), "{r:#}");
}

/// An `openssl s_server` started by a test on a free loopback port, stopped when dropped.
struct OpensslServer {
    child: std::process::Child,
    addr: String,
}

impl OpensslServer {
    /// Starts `openssl s_server -www` with `args`; `None` (the test skips) when openssl is
    /// missing, unless PORTPROOF_REQUIRE_REAL=1.
    fn start(args: &[&str]) -> Option<Self> {
        if std::process::Command::new("openssl").arg("version").output().is_err() {
            let msg = "openssl is not installed; bash testbeds/scripts/legacy-tls.sh installs it";
            assert!(!crate::harness::require_real(), "PORTPROOF_REQUIRE_REAL=1: {msg}");
            eprintln!("SKIPPED: {msg}");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let child = std::process::Command::new("openssl")
            .args(["s_server", "-accept", &addr, "-www", "-quiet"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let server = OpensslServer { child, addr };
        for _ in 0..100 {
            if std::net::TcpStream::connect(&server.addr).is_ok() {
                return Some(server);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("openssl s_server {args:?} did not listen on {}", server.addr);
    }
}

impl Drop for OpensslServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `openssl req -x509` for `san` into `dir`: the self-signed certificate (CA:TRUE, as
/// OpenSSL makes it) and its key.
fn openssl_self_signed(dir: &std::path::Path, stem: &str, san: &str) -> (String, String) {
    let (cert, key) = (dir.join(format!("{stem}.pem")), dir.join(format!("{stem}-key.pem")));
    let ok = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=localhost"])
        .args(["-addext", &format!("subjectAltName={san}"), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl req")
        .status
        .success();
    assert!(ok, "openssl req -x509 failed");
    (cert.to_str().unwrap().to_owned(), key.to_str().unwrap().to_owned())
}

#[test]
fn real_openssl_servers_with_bad_certificates_fail_and_a_pinned_one_verifies() {
    let dir = tempfile::tempdir().unwrap();
    if std::process::Command::new("openssl").arg("version").output().is_err() {
        assert!(!crate::harness::require_real(), "PORTPROOF_REQUIRE_REAL=1: openssl is not installed");
        eprintln!("SKIPPED: openssl is not installed; bash testbeds/scripts/legacy-tls.sh installs it");
        return;
    }
    // Self-signed, the way OpenSSL makes it: untrusted without the pin, verified with it.
    let (cert, key) = openssl_self_signed(dir.path(), "self", "DNS:localhost,IP:127.0.0.1");
    let Some(s) = OpensslServer::start(&["-cert", &cert, "-key", &key]) else { return };
    let run = portproof(&["check", &s.addr, "--expect", "tls", "-f", "json"]);
    let r = run.result();
    assert_eq!((run.code, code(&r).as_str(), r["level"].as_str()), (1, "tls.cert_unknown_ca", Some("speaks")), "{r:#}");
    assert!(r["failure"]["message"].as_str().unwrap().contains("self-signed"), "{r:#}");
    let run = portproof(&["tls", &s.addr, "--ca", &cert, "--format", "json"]);
    assert_eq!((run.code, run.result()["level"].as_str()), (0, Some("healthy")), "{}", run.stdout);
    let run = portproof(&["check", &format!("https://{}/", s.addr), "--ca", &cert, "-f", "json"]);
    assert_eq!(run.code, 0, "https over the pinned certificate: {}", run.stdout);
    // Wrong host, pinned: the name still counts.
    let (cert, key) = openssl_self_signed(dir.path(), "wrong", "DNS:wrong.example");
    let Some(s) = OpensslServer::start(&["-cert", &cert, "-key", &key]) else { return };
    let run = portproof(&["tls", &s.addr, "--ca", &cert, "--format", "json"]);
    assert_eq!((run.code, code(&run.result()).as_str()), (1, "tls.cert_name_mismatch"), "{}", run.stdout);
    // Expired and not yet valid (OpenSSL 3.0 cannot date a certificate in the past: rcgen
    // makes them, OpenSSL serves them), each signed by a CA given with --ca.
    let pki = Pki::new();
    let files = pki.write_to(dir.path()).unwrap();
    for (flaw, expected) in [(Flaw::Expired, "tls.cert_expired"), (Flaw::NotYetValid, "tls.cert_not_yet_valid")] {
        let (chain, key) = pki.flawed_pem(flaw);
        let (c, k) = (dir.path().join("flawed.pem"), dir.path().join("flawed-key.pem"));
        std::fs::write(&c, chain).unwrap();
        std::fs::write(&k, key).unwrap();
        let Some(s) = OpensslServer::start(&["-cert", c.to_str().unwrap(), "-key", k.to_str().unwrap()]) else {
            return;
        };
        let run = portproof(&["check", &s.addr, "--expect", "tls", "--ca", files.ca.to_str().unwrap(), "-f", "json"]);
        let r = run.result();
        assert_eq!(
            (run.code, code(&r).as_str(), r["level"].as_str()),
            (1, expected, Some("speaks")),
            "{flaw:?}: {r:#}"
        );
        let run = portproof(&["check", &s.addr, "--expect", "https", "--ca", files.ca.to_str().unwrap(), "-f", "json"]);
        assert_eq!((run.code, code(&run.result()).as_str()), (1, expected), "{flaw:?}");
    }
}

#[test]
fn a_real_openssl_server_that_does_not_verify_client_certificates_is_named() {
    if std::process::Command::new("openssl").arg("version").output().is_err() {
        assert!(!crate::harness::require_real(), "PORTPROOF_REQUIRE_REAL=1: openssl is not installed");
        eprintln!("SKIPPED: openssl is not installed; bash testbeds/scripts/legacy-tls.sh installs it");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_self_signed(dir.path(), "server", "DNS:localhost,IP:127.0.0.1");
    // -Verify demands a certificate; without -verify_return_error a failed verification is
    // only logged, and the client gets in.
    let Some(careless) = OpensslServer::start(&["-cert", &cert, "-key", &key, "-Verify", "1"]) else { return };
    let r = tls(&careless.addr, &["--ca", &cert]);
    let warned: Vec<&str> =
        r["warnings"].as_array().map_or(vec![], |w| w.iter().map(|w| w["code"].as_str().unwrap()).collect());
    assert!(warned.contains(&"tls.client_cert_unverified"), "{r:#}");
    let run = portproof(&[
        "check",
        &careless.addr,
        "--expect",
        "tls",
        "--ca",
        &cert,
        "--client-auth",
        "required",
        "-f",
        "json",
    ]);
    assert_eq!((run.code, code(&run.result()).as_str()), (1, "tls.client_auth_unverified"), "{}", run.stdout);
    // With -verify_return_error the stranger is refused, and required is met.
    let Some(strict) = OpensslServer::start(&["-cert", &cert, "-key", &key, "-Verify", "1", "-verify_return_error"])
    else {
        return;
    };
    let run = portproof(&[
        "check",
        &strict.addr,
        "--expect",
        "tls",
        "--ca",
        &cert,
        "--client-auth",
        "required",
        "-f",
        "json",
    ]);
    let r = run.result();
    assert_eq!((run.code, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    assert_eq!(r["facts"]["tls_unknown_client_cert"], "refused", "{r:#}");
}

#[test]
fn nginx_optional_no_ca_lets_any_certificate_in_and_is_named() {
    if !crate::harness::real_peer("nginx (optional_no_ca)", "127.0.0.1:18450", "bash testbeds/scripts/nginx.sh") {
        return;
    }
    let ca = format!("{}/ca.pem", nginx_state());
    let run = portproof(&["check", "127.0.0.1:18450", "--expect", "tls", "--ca", &ca, "-f", "json"]);
    let r = run.result();
    assert_eq!(r["warnings"][0]["code"], "tls.client_cert_unverified", "{r:#}");
    assert!(r["warnings"][0]["message"].as_str().unwrap().contains("anyone gets in"), "{r:#}");
    assert!(r["facts"]["tls_unknown_client_cert"].as_str().unwrap().starts_with("accepted"), "{r:#}");
    let run = portproof(&[
        "check",
        "127.0.0.1:18450",
        "--expect",
        "tls",
        "--ca",
        &ca,
        "--client-auth",
        "required",
        "-f",
        "json",
    ]);
    let r = run.result();
    assert_eq!((run.code, code(&r).as_str(), r["level"].as_str()), (1, "tls.client_auth_unverified", Some("speaks")));
    // nginx's ssl_verify_client on (18445) takes the stranger in the handshake too and refuses
    // it only at the HTTP layer: the warning says so, and names expect: https for that layer
    // (nginx_mutual_tls_names_the_requirement_and_the_acceptable_ca checks the refusal there).
    let r = tls("127.0.0.1:18445", &["--ca", &ca]);
    assert!(r["facts"]["tls_unknown_client_cert"].as_str().unwrap().starts_with("accepted"), "{r:#}");
    let w = r["warnings"].as_array().unwrap().iter().find(|w| w["code"] == "tls.client_cert_unverified").unwrap();
    assert!(w["message"].as_str().unwrap().contains("expect: https"), "{w}");
}
