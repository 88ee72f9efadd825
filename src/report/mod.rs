//! Report formats, one file each, all rendered from one [`Report`].

pub mod json;
pub mod jsonl;
pub mod junit;
pub mod paint;
pub mod prometheus;
pub mod table;
pub mod tls;

use crate::runner::{CheckResult, Report};

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned lines for people, with hints for failures (colour on a terminal).
    Table,
    /// One JSON document: `{"portproof", "results", "summary"}`.
    Json,
    /// One JSON result per line, written as each check finishes.
    Jsonl,
    /// JUnit XML: one testcase per check, for CI.
    Junit,
    /// Prometheus text exposition: `probe_success`, `probe_duration_seconds`, ...
    Prometheus,
}

/// Renders the whole report in `format`. For `jsonl` this is every line, in manifest order.
pub fn render(report: &Report, format: Format, color: bool) -> String {
    match format {
        Format::Table => table::render(report, color),
        Format::Json => json::render(report),
        Format::Jsonl => report.results.iter().map(|r| jsonl::line(r) + "\n").collect(),
        Format::Junit => junit::render(report),
        Format::Prometheus => prometheus::render(report),
    }
}

/// The few facts worth a glance in a one-line summary, in the order people look for them: the
/// ones every probe shares, arranged by the probe that ran (its own facts around them).
pub fn key_facts(r: &CheckResult) -> Vec<String> {
    let f = &r.outcome.facts;
    let mut out = Vec::new();
    let s = |k: &str| f.get(k).map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()));
    if let Some(product) = s("product") {
        out.push(match s("product_version") {
            Some(v) => format!("{product} {v}"),
            None => product,
        });
    }
    if let Some(p) = s("protocol") {
        out.push(p);
    }
    if let Some(v) = s("tls_version") {
        out.push(v);
    }
    if let Some(auth) = s("tls_client_auth").filter(|a| a != "not requested") {
        out.push(format!("client auth: {auth}"));
    } else if f.get("tls_client_cert_requested").and_then(|v| v.as_bool()) == Some(true) {
        let sent = f.get("tls_client_cert_sent").and_then(|v| v.as_bool()) == Some(true);
        out.push(if sent { "client certificate sent".into() } else { "asks for a client certificate".into() });
    }
    if let Some(b) = s("banner") {
        out.push(b);
    }
    match portproof_probes::find(&r.probe) {
        Some(p) => p.key_facts(f, out),
        None => out,
    }
}
