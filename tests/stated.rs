//! What a check states is required, and no level without the protocol's own evidence (issue
//! 12): each false pass the issue lists, against an in-process peer and, where one runs here,
//! a real one (PostgreSQL, RabbitMQ's management API, Python's http.server).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use portproof_testbeds::Server;
use portproof_testbeds::hostile::{self, Hostility};
use portproof_testbeds::http::{GatewayState, serve as serve_app};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{code, listener, portproof, real_peer, require_real, serve};

const POSTGRES: &str = "127.0.0.1:5432";
const RABBITMQ_API: &str = "127.0.0.1:15672";

fn check(args: &[&str]) -> (i32, serde_json::Value) {
    let run = portproof(&[&["check"][..], args, &["-f", "json", "--timeout", "2s"][..]].concat());
    (run.code, run.result())
}

/// A peer that sends `bytes` once the client has spoken, then holds the connection.
fn says(bytes: &[u8]) -> Server {
    let l = listener();
    serve(async { hostile::serve(l, Hostility::Says { bytes: bytes.to_vec(), after_request: true }) })
}

/// A peer that answers PostgreSQL's SSLRequest with `N` and the StartupMessage with nothing but
/// NoticeResponses, one every 50 ms, forever: never an Authentication message.
fn pg_notices_forever() -> Server {
    let l = listener();
    serve(async move {
        let addr = l.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 512];
                    let _ = s.read(&mut buf).await; // SSLRequest
                    let _ = s.write_all(b"N").await;
                    let _ = s.read(&mut buf).await; // StartupMessage
                    let body = b"SNOTICE\0C00000\0Mhello\0\0";
                    loop {
                        let mut m = vec![b'N'];
                        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
                        m.extend_from_slice(body);
                        if s.write_all(&m).await.is_err() {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                });
            }
        });
        Server::new(addr, task)
    })
}

#[test]
fn postgres_needs_an_authentication_message_not_notices() {
    let s = pg_notices_forever();
    let (exit, r) = check(&[&format!("127.0.0.1:{}", s.port()), "-e", "postgres"]);
    assert_eq!(exit, 1, "{r:#}");
    assert_eq!(r["level"], "open", "notices alone are no PostgreSQL handshake: {r:#}");
    assert_eq!(code(&r), "postgres.malformed", "{r:#}");
    assert!(r["facts"]["protocol"].is_null(), "{r:#}");
}

#[test]
fn postgres_reads_no_ssh_banner_as_ssl_supported() {
    // SSH greets first: `SSH-2.0-...` begins with the `S` PostgreSQL answers SSLRequest with.
    let l = listener();
    let s = serve(async {
        hostile::serve(
            l,
            Hostility::Says { bytes: b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n".to_vec(), after_request: false },
        )
    });
    let (exit, r) = check(&[&format!("127.0.0.1:{}", s.port()), "-e", "postgres"]);
    assert_eq!((exit, r["level"].as_str()), (1, Some("open")), "{r:#}");
    assert_eq!(code(&r), "proto.mismatch", "{r:#}");
    assert_eq!(r["identified"], "ssh", "{r:#}");
    assert_ne!(r["facts"]["postgres_ssl"], "supported", "{r:#}");
}

#[test]
fn a_stated_database_the_server_lacks_fails_at_speaks() {
    if !real_peer("PostgreSQL", POSTGRES, "bash testbeds/scripts/databases.sh") {
        return;
    }
    // 5432 lets postgres in by trust, so the server judges the database at once (3D000).
    let (exit, r) = check(&[POSTGRES, "-e", "postgres", "--database", "nosuchdb"]);
    assert_eq!(
        (exit, code(&r).as_str(), r["level"].as_str()),
        (1, "postgres.database_missing", Some("speaks")),
        "{r:#}"
    );
    assert_eq!(r["failure"]["stated"], true, "{r:#}");
    // The same server without a stated database passes at speaks (no login asked for).
    let (exit, r) = check(&[POSTGRES, "-e", "postgres"]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("speaks")), "{r:#}");
}

#[test]
fn rabbitmq_api_is_not_any_http_server() {
    // Before: healthy against `{"status":"ok"}`, speaks against any 401 or page.
    let json_ok =
        says(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}");
    let other_realm =
        says(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"Restricted\"\r\nContent-Length: 0\r\n\r\n");
    for s in [&json_ok, &other_realm] {
        for login in [&[][..], &["--user", "guest", "--password-env", "PATH"][..]] {
            let target = format!("127.0.0.1:{}", s.port());
            let (exit, r) = check(&[&[target.as_str(), "-e", "rabbitmq-api"][..], login].concat());
            assert_eq!((exit, r["level"].as_str()), (1, Some("open")), "{r:#}");
            assert_eq!(code(&r), "rabbitmq.not_management_api", "{r:#}");
            assert_eq!(r["identified"], "http", "{r:#}");
        }
    }
    // The imitation answers as RabbitMQ does: its realm is the evidence.
    let l = listener();
    let app = serve(async { serve_app(l, GatewayState::new("RUNNING")) });
    let (exit, r) = check(&[&format!("127.0.0.1:{}", app.port()), "-e", "rabbitmq-api"]);
    assert_eq!((exit, r["level"].as_str(), code(&r).as_str()), (0, Some("speaks"), "auth.no_credentials"), "{r:#}");
}

#[test]
fn rabbitmq_api_real_management_api_still_speaks() {
    if !real_peer("RabbitMQ management API", RABBITMQ_API, "bash testbeds/scripts/brokers.sh") {
        return;
    }
    let (exit, r) = check(&[RABBITMQ_API, "-e", "rabbitmq-api"]);
    assert_eq!((exit, r["level"].as_str(), code(&r).as_str()), (0, Some("speaks"), "auth.no_credentials"), "{r:#}");
}

/// Python's http.server on an ephemeral loopback port, killed when dropped.
struct PyHttp(Child, u16, #[allow(dead_code)] tempfile::TempDir);

impl Drop for PyHttp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python_http_server() -> Option<PyHttp> {
    let dir = tempfile::tempdir().expect("tempdir");
    let spawned = Command::new("python3")
        .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("python3 is not available ({e}); install it with testbeds/scripts/up.sh");
            assert!(!require_real(), "PORTPROOF_REQUIRE_REAL=1: {msg}");
            eprintln!("SKIPPED: {msg}");
            return None;
        }
    };
    // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
    let port = line.split(" port ").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|p| p.parse().ok());
    let port = port.unwrap_or_else(|| panic!("python3 -m http.server said {line:?}"));
    Some(PyHttp(child, port, dir))
}

#[test]
fn python_http_server_is_no_rabbitmq_and_its_404_fails_a_stated_path() {
    let Some(py) = python_http_server() else { return };
    let (exit, r) = check(&[&format!("127.0.0.1:{}", py.1), "-e", "rabbitmq-api"]);
    assert_eq!(
        (exit, r["level"].as_str(), code(&r).as_str()),
        (1, Some("open"), "rabbitmq.not_management_api"),
        "{r:#}"
    );
    let (exit, r) = check(&[&format!("http://127.0.0.1:{}/health", py.1)]);
    assert_eq!((exit, r["level"].as_str(), code(&r).as_str()), (1, Some("speaks"), "http.status"), "{r:#}");
    let (exit, r) = check(&[&format!("http://127.0.0.1:{}/", py.1)]);
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
}

// ---- credentials: one policy for every probe ----

const PW: &str = "PORTPROOF_TEST_PASSWORD";

/// This machine's address on its outbound interface, when it has one other than loopback: a
/// connected UDP socket names it without sending a datagram.
fn non_loopback_address() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    if ip.is_loopback() || ip.is_unspecified() {
        eprintln!("SKIPPED: this machine has no address other than loopback to test clear-text refusals on");
        return None;
    }
    Some(ip)
}

/// A listener on `ip` (this machine's own non-loopback address), ephemeral port.
fn listener_on(ip: std::net::IpAddr) -> tokio::net::TcpListener {
    serve(tokio::net::TcpListener::bind((ip, 0))).expect("bind")
}

fn check_env(args: &[&str], password: &str) -> (i32, serde_json::Value, String) {
    let run = crate::harness::portproof_env(
        &[&["check"][..], args, &["-f", "json", "--timeout", "3s"][..]].concat(),
        &[(PW, password)],
    );
    let r = run.result();
    (run.code, r, run.stdout)
}

#[test]
fn no_password_crosses_in_clear_text_to_another_host_unless_the_check_allows_it() {
    let Some(ip) = non_loopback_address() else { return };
    let l = listener_on(ip);
    let amqp = serve(async {
        portproof_testbeds::amqp::serve(l, portproof_testbeds::amqp::AmqpMode::Broker(Default::default()))
    });
    let l = listener_on(ip);
    let mqtt = serve(async {
        portproof_testbeds::mqtt::serve(l, portproof_testbeds::mqtt::MqttMode::Broker(Default::default()))
    });
    let l = listener_on(ip);
    let api = serve(async { serve_app(l, GatewayState::new("RUNNING")) });
    let login = ["--user", "guest", "--password-env", PW];
    for (s, expect, level) in [(&amqp, "amqp", "speaks"), (&mqtt, "mqtt", "speaks"), (&api, "http", "open")] {
        let target = format!("{}:{}", authority_of(ip), s.port());
        let (exit, r, _) = check_env(&[&[target.as_str(), "-e", expect][..], &login].concat(), "guest");
        assert_eq!(
            (exit, code(&r).as_str(), r["level"].as_str()),
            (1, "auth.cleartext_refused", Some(level)),
            "{expect}: {r:#}"
        );
        let (_, r, _) =
            check_env(&[&[target.as_str(), "-e", expect, "--cleartext", "allow"][..], &login].concat(), "guest");
        assert_ne!(code(&r), "auth.cleartext_refused", "{expect}: allowed: {r:#}");
    }
    // amqp logs in when allowed (the imitation knows guest/guest).
    let target = format!("{}:{}", authority_of(ip), amqp.port());
    let (exit, r, _) =
        check_env(&[&[target.as_str(), "-e", "amqp", "--cleartext", "allow"][..], &login].concat(), "guest");
    assert_eq!((exit, r["level"].as_str()), (0, Some("healthy")), "{r:#}");
    // The manifest says it the same way: login.cleartext: allow.
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("m.yaml");
    let yaml = |allow: &str| {
        format!(
            "checks:\n  - name: broker\n    host: '{ip}'\n    port: {}\n    expect: amqp\n    login: {{ user: guest, password_env: {PW}{allow} }}\n",
            amqp.port()
        )
    };
    for (allow, want) in [("", "auth.cleartext_refused"), (", cleartext: allow", "")] {
        std::fs::write(&manifest, yaml(allow)).expect("write");
        let run = crate::harness::portproof_env(&["run", manifest.to_str().unwrap(), "-f", "json"], &[(PW, "guest")]);
        assert_eq!(code(&run.result()), want, "{allow:?}: {}{}", run.stdout, run.stderr);
    }
    // A URL's password is under the same rule, and not shown.
    let url = format!("http://guest:s3cret-url-pw@{}:{}/api/overview", authority_of(ip), api.port());
    let run = portproof(&["check", &url, "-f", "json"]);
    assert_eq!((run.code, code(&run.result()).as_str()), (1, "auth.cleartext_refused"), "{}", run.stdout);
    assert!(!run.stdout.contains("s3cret-url-pw") && !run.stderr.contains("s3cret-url-pw"), "{}", run.stdout);
}

#[test]
fn a_urls_user_and_password_are_basic_auth_and_never_shown() {
    let l = listener();
    let api = serve(async { serve_app(l, GatewayState::new("RUNNING")) });
    let clean = format!("http://127.0.0.1:{}/api/overview", api.port());
    let url = format!("http://guest:guest@127.0.0.1:{}/api/overview", api.port());
    let run = portproof(&["check", &url, "-f", "json"]);
    let r = run.result();
    assert_eq!((run.code, r["level"].as_str()), (0, Some("healthy")), "the imitation takes guest:guest only: {r:#}");
    assert_eq!(r["name"], clean.as_str(), "{r:#}");
    assert!(!run.stdout.contains("guest@") && !run.stdout.contains(":guest"), "{}", run.stdout);
    // A wrong password is the refusal of the check's own login: it fails, and is not shown.
    let url = format!("http://guest:s3cret-url-pw@127.0.0.1:{}/api/overview", api.port());
    for format in ["json", "table", "junit", "prometheus"] {
        let run = portproof(&["check", &url, "-f", format]);
        assert_eq!(run.code, 1, "{}", run.stdout);
        assert!(
            !run.stdout.contains("s3cret-url-pw") && !run.stderr.contains("s3cret-url-pw"),
            "{format}: {}",
            run.stdout
        );
    }
    assert_eq!(code(&portproof(&["check", &url, "-f", "json"]).result()), "auth.rejected");
}

#[test]
fn an_expect_that_contradicts_the_url_is_a_usage_error() {
    for (url, expect) in
        [("https://127.0.0.1:1/", "http"), ("http://127.0.0.1:1/", "https"), ("http://127.0.0.1:1/", "amqp")]
    {
        let run = portproof(&["check", url, "-e", expect]);
        assert_eq!(run.code, 2, "{url} -e {expect}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("--expect"), "{}", run.stderr);
    }
    // Agreeing is fine: the same name, or http with --tls for https.
    let l = listener();
    let app = serve(async { serve_app(l, GatewayState::new("RUNNING")) });
    let run = portproof(&["check", &format!("http://127.0.0.1:{}/", app.port()), "-e", "http"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

/// `ip` as the host part of `host:port` (IPv6 in brackets).
fn authority_of(ip: std::net::IpAddr) -> String {
    if ip.is_ipv6() { format!("[{ip}]") } else { ip.to_string() }
}

#[test]
fn http_speaks_only_on_a_complete_response_head() {
    // A status line and then a header that never ends, or a head trickled a byte at a time:
    // neither is an HTTP answer until the blank line comes.
    let endless = {
        let l = listener();
        serve(async { hostile::serve(l, Hostility::EndlessLine(b"HTTP/1.1 200 OK\r\nX-Filler: ".to_vec())) })
    };
    let trickle = {
        let l = listener();
        serve(async {
            hostile::serve(
                l,
                Hostility::Trickle {
                    message: b"HTTP/1.1 200 OK\r\n".to_vec(),
                    every: std::time::Duration::from_millis(100),
                },
            )
        })
    };
    for s in [&endless, &trickle] {
        let (exit, r) = check(&[&format!("127.0.0.1:{}", s.port()), "-e", "http"]);
        assert_eq!((exit, r["level"].as_str()), (1, Some("open")), "{r:#}");
    }
}
