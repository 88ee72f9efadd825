//! The `portproof tls` report for a person: the verdict and what to do first, then versions
//! and cipher suites, the chain, the client-certificate request and the timings.

use std::fmt::Write;

use serde_json::Value;

use super::paint::{BOLD, DIM, GREEN, Paint, RED, YELLOW};
use crate::runner::CheckResult;

/// Renders one TLS check result.
pub fn render(r: &CheckResult, color: bool) -> String {
    let paint = Paint(color);
    let p = |code: &str, s: &str| paint.p(code, s);
    let f = &r.outcome.facts;
    let s = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("");
    let mut out = String::new();
    let _ = writeln!(out, "{}", p(BOLD, &format!("portproof tls {}", r.target)));

    let (mark, colour) = if r.ok { ("✔", GREEN) } else { ("✘", RED) };
    let summary = match (&r.outcome.failure, s("tls_version")) {
        (None, v) => {
            let auth = f.get("tls_client_auth").and_then(Value::as_str).unwrap_or("not requested");
            format!(
                "{}: {v} {}, chain verified for the name, client certificate: {auth}",
                r.outcome.level,
                s("tls_cipher")
            )
        }
        (Some(fail), _) => format!("{}: {}: {}", r.outcome.level, fail.code, fail.message),
    };
    let _ = writeln!(out, "  {} {}", p(colour, mark), summary);
    if let Some(h) = r.outcome.failure.as_ref().and_then(|f| f.hint.as_ref()) {
        let _ = writeln!(out, "    {}", p(DIM, &format!("hint: {h}")));
    }
    for w in &r.outcome.warnings {
        let _ = writeln!(out, "  {} {}: {}", p(YELLOW, "!"), w.code, w.message);
    }

    if let Some(versions) = f.get("tls_scan").and_then(|v| v.get("versions")).and_then(Value::as_array) {
        let _ = writeln!(out, "\n{}", p(BOLD, "Versions and cipher suites"));
        for v in versions {
            let name = v["version"].as_str().unwrap_or("?");
            if v["accepted"].as_bool() != Some(true) {
                let _ = writeln!(out, "  {name}  {}", p(DIM, "not accepted"));
                continue;
            }
            let order = match v.get("server_order").and_then(Value::as_bool) {
                Some(true) => ", server's order",
                Some(false) => ", client's order",
                None => "",
            };
            let legacy = matches!(name, "TLS 1.0" | "TLS 1.1");
            let label = if legacy { p(YELLOW, "accepted (obsolete)") } else { p(GREEN, "accepted") };
            let _ = writeln!(out, "  {name}  {label}{order}");
            for suite in v["suites"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                let weak = portproof_probes::tls::scan::is_weak(suite);
                let _ = writeln!(
                    out,
                    "           {}",
                    if weak { p(YELLOW, &format!("{suite}  (weak)")) } else { suite.to_owned() }
                );
            }
            if let Some(n) = v["note"].as_str() {
                let _ = writeln!(out, "           {}", p(DIM, n));
            }
        }
    }

    if let Some(certs) = f.get("tls_certificates").and_then(Value::as_array) {
        let _ = writeln!(out, "\n{}", p(BOLD, "Certificate chain, as the server sent it"));
        for (i, c) in certs.iter().enumerate() {
            let self_signed = if c["self_signed"].as_bool() == Some(true) { " (self-signed)" } else { "" };
            let _ = writeln!(out, "  {}  {}{self_signed}", i + 1, c["subject"].as_str().unwrap_or("?"));
            let _ = writeln!(
                out,
                "     issuer {} · {} · {}",
                c["issuer"].as_str().unwrap_or("?"),
                c["key"].as_str().unwrap_or("?"),
                c["signature"].as_str().unwrap_or("?")
            );
            let days = c["days_left"].as_i64().unwrap_or(0);
            let left =
                if days < 0 { p(RED, &format!("expired {} days ago", -days)) } else { format!("{days} days left") };
            let _ = writeln!(
                out,
                "     valid {} to {} ({left})",
                c["not_before"].as_str().unwrap_or("?"),
                c["not_after"].as_str().unwrap_or("?")
            );
            let sans: Vec<&str> = c["sans"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            if !sans.is_empty() {
                let _ = writeln!(out, "     names {}", sans.join(", "));
            }
        }
        if f.get("tls_name_match").and_then(Value::as_bool) == Some(false) {
            let _ = writeln!(out, "  {}", p(RED, "the server certificate does not hold the name connected to"));
        }
    }

    let _ = writeln!(out, "\n{}", p(BOLD, "Client certificate"));
    match f.get("tls_client_cert_requested").and_then(Value::as_bool) {
        Some(true) => {
            let sent =
                if f.get("tls_client_cert_sent").and_then(Value::as_bool) == Some(true) { "sent" } else { "none sent" };
            let _ = writeln!(out, "  requested by the server ({sent})");
            let cas: Vec<&str> = f
                .get("tls_acceptable_cas")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if cas.is_empty() {
                let _ = writeln!(out, "  the server names no acceptable CA");
            }
            for ca in cas {
                let _ = writeln!(out, "  accepts certificates issued by {ca}");
            }
        }
        Some(false) => {
            let _ = writeln!(out, "  not requested");
        }
        None => {
            let _ = writeln!(out, "  {}", p(DIM, "unknown: the handshake did not get that far"));
        }
    }

    let _ = writeln!(out, "\n{}", p(BOLD, "Timings"));
    let phases: Vec<String> = r.outcome.phases.iter().map(|ph| format!("{} {:.1} ms", ph.phase, ph.ms)).collect();
    let conns = f.get("tls_scan").and_then(|s| s.get("connections")).and_then(Value::as_u64);
    let scan = conns.map(|n| format!(" (scan: {n} connections)")).unwrap_or_default();
    let _ = writeln!(out, "  {} · total {:.1} ms{scan}", phases.join(" · "), r.duration_ms);
    out
}
