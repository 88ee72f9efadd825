//! `table`: one line per check for people, then the reason and the fix under each failure.
//!
//! ```text
//!   CHECK          TARGET           EXPECT  LEVEL    RESULT  DETAIL
//! ✔ Gateway HTTP   127.0.0.1:28088  http    healthy  ok      HTTP 200, state=RUNNING (3 ms)
//! ✘ Gateway HTTPS  127.0.0.1:28043  https   open     FAIL    tls.cert_unknown_ca: ...
//!                                                            hint: give the issuing CA with --ca FILE
//! ```

use std::fmt::Write;

use crate::runner::{CheckResult, Report};

use super::key_facts;
use super::paint::{BOLD, DIM, GREEN, Paint, RED, YELLOW};

fn verdict(r: &CheckResult) -> (&'static str, &'static str, &'static str) {
    match (r.ok, r.optional, r.covered()) {
        (true, _, _) => ("✔", "ok", GREEN),
        // It ran and failed; it only does not fail the run. "skip" said it had not run.
        (false, true, _) => ("•", "FAIL (optional)", YELLOW),
        (false, false, true) => ("•", "FAIL (any_of)", YELLOW),
        (false, false, false) => ("✘", "FAIL", RED),
    }
}

fn expect_label(r: &CheckResult) -> String {
    match (&r.closed, &r.planned) {
        // A port that must be closed is checked with its protocol's probe, to name what answers.
        (Some(_), _) if r.expect == crate::manifest::CLOSED => r.expect.clone(),
        (Some(_), _) => format!("closed ({})", r.expect),
        (None, Some(p)) => format!("{} ({p} later)", r.expect),
        (None, None) => r.expect.clone(),
    }
}

/// What the profile model adds to a line: the feature that turned the check on, its any_of
/// group and who covered it, why it must be closed and how it was found.
fn model_notes(r: &CheckResult) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(f) = &r.feature {
        out.push(format!("feature {f}"));
    }
    if let Some(g) = &r.any_of {
        let others: Vec<&String> = g.passed_by.iter().filter(|n| **n != r.name).collect();
        out.push(match (r.ok, others.is_empty()) {
            (false, false) => {
                format!(
                    "any_of {}: {} passed",
                    g.group,
                    others.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )
            }
            (false, true) => format!("any_of {}: no member passed", g.group),
            (true, _) => format!("any_of {}", g.group),
        });
    }
    if let (Some(why), true) = (&r.closed, r.ok) {
        let how = r.outcome.facts.get("closed").and_then(|v| v.as_str()).unwrap_or("closed");
        out.push(format!("closed as it must be ({why}): {how}"));
    }
    out
}

fn detail(r: &CheckResult) -> String {
    let mut parts = key_facts(r);
    if let Some(id) = &r.outcome.identified {
        parts.insert(0, format!("heard {id}"));
    }
    let mut s = match (&r.outcome.failure, r.ok) {
        (Some(f), false) => format!("{}: {}", f.code, f.message),
        (Some(f), true) => {
            let mut s = parts.join(", ");
            if !s.is_empty() {
                s.push_str("; ");
            }
            s.push_str(&format!("not {}: {}", next_level(r), f.code));
            s
        }
        (None, _) => parts.join(", "),
    };
    let notes = model_notes(r);
    if !notes.is_empty() {
        s = if s.is_empty() { notes.join("; ") } else { format!("{}; {s}", notes.join("; ")) };
    }
    let t = millis(r.duration_ms);
    if s.is_empty() {
        s = t;
    } else {
        s.push_str(&format!(" ({t})"));
    }
    s
}

/// A duration the same way everywhere in the table: one decimal below 10 ms, so a run's total
/// never reads "0 ms" beside a check's "(0.2 ms)".
fn millis(ms: f64) -> String {
    if ms < 10.0 { format!("{ms:.1} ms") } else { format!("{ms:.0} ms") }
}

fn next_level(r: &CheckResult) -> &'static str {
    use portproof_probes::Level::*;
    match r.outcome.level {
        Unreachable => "open",
        Open => "speaks",
        Speaks | Healthy => "healthy",
    }
}

/// The table, with ANSI colour when `color`.
pub fn render(report: &Report, color: bool) -> String {
    let paint = Paint(color);
    let mut out = String::new();
    if let Some(t) = &report.title {
        let _ = writeln!(out, "{}", paint.p(BOLD, t));
    }
    // A check named by its target (`portproof check HOST:PORT`) would say it twice.
    let named = report.results.iter().any(|r| r.name != r.target);
    let head: Vec<&str> = if named {
        vec!["CHECK", "TARGET", "EXPECT", "LEVEL", "RESULT"]
    } else {
        vec!["TARGET", "EXPECT", "LEVEL", "RESULT"]
    };
    let rows: Vec<Vec<String>> = report
        .results
        .iter()
        .map(|r| {
            let mut row = vec![r.target.clone(), expect_label(r), r.outcome.level.to_string(), verdict(r).1.to_owned()];
            if named {
                row.insert(0, r.name.clone());
            }
            row
        })
        .collect();
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    let mut line = String::from("  ");
    for (h, w) in head.iter().zip(&width) {
        line.push_str(&pad(h, *w));
        line.push_str("  ");
    }
    line.push_str("DETAIL");
    let _ = writeln!(out, "{}", paint.p(DIM, &line));
    let indent = 2 + width.iter().map(|w| w + 2).sum::<usize>();
    let result_column = head.len() - 1;
    for (r, row) in report.results.iter().zip(&rows) {
        let (mark, _, colour) = verdict(r);
        let mut line = format!("{} ", paint.p(colour, mark));
        for (i, (cell, w)) in row.iter().zip(&width).enumerate() {
            let cell = pad(cell, *w);
            line.push_str(&if i == result_column { paint.p(colour, &cell) } else { cell });
            line.push_str("  ");
        }
        line.push_str(&detail(r));
        let _ = writeln!(out, "{}", line.trim_end());
        let sub = |label: &str, text: &str| format!("{}{label}{text}", " ".repeat(indent));
        let failure = r.outcome.failure.as_ref();
        if let Some(h) = failure.and_then(|f| f.hint.as_ref()).filter(|_| !r.ok) {
            let _ = writeln!(out, "{}", paint.p(DIM, &sub("hint: ", h)));
        }
        // A warning that says what the failure on the line above says is not news.
        let shown = |w: &&portproof_probes::Warning| failure.is_none_or(|f| f.code != w.code);
        for w in r.outcome.warnings.iter().filter(shown) {
            let _ = writeln!(out, "{}", paint.p(YELLOW, &sub("warning: ", &format!("{}: {}", w.code, w.message))));
        }
    }
    let s = &report.summary;
    let checks = if s.total == 1 { "check" } else { "checks" };
    let mut tail = format!("{} {checks}: {} ok, {} failed", s.total, s.ok, s.failed);
    let tolerated: Vec<String> = [(s.failed_optional, "optional"), (s.failed_covered, "covered by any_of")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if !tolerated.is_empty() {
        tail.push_str(&format!(" ({})", tolerated.join(", ")));
    }
    tail.push_str(&format!(" in {}", millis(report.duration_ms)));
    if s.interrupted {
        tail.push_str(" — interrupted");
    }
    let verdict = if s.passed { paint.p(GREEN, "PASS") } else { paint.p(RED, "FAIL") };
    let _ = writeln!(out, "{verdict}  {tail}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use portproof_probes::{Failure, Level, Outcome, Phase, Warning};

    fn result(name: &str, failure: Option<Failure>, warnings: Vec<Warning>, ok: bool) -> CheckResult {
        CheckResult {
            name: name.into(),
            target: "127.0.0.1:1".into(),
            expect: "tls".into(),
            probe: "tls".into(),
            over: "tcp".into(),
            require: Level::Healthy,
            optional: false,
            ok,
            attempts: 1,
            duration_ms: 0.25,
            planned: None,
            note: None,
            role: None,
            feature: None,
            direction: Default::default(),
            port_from: String::new(),
            closed: None,
            any_of: None,
            outcome: Outcome {
                level: Level::Speaks,
                identified: None,
                failure,
                warnings,
                phases: Vec::new(),
                facts: Default::default(),
            },
        }
    }

    #[test]
    fn a_failure_is_not_repeated_as_a_warning() {
        let failure = Failure {
            code: "tls.unverified".into(),
            phase: Phase::Tls,
            message: "the chain does not verify".into(),
            hint: None,
            stated: false,
        };
        let same = Warning { code: "tls.unverified".into(), message: "the chain does not verify".into() };
        let other = Warning { code: "tls.cert_expiring".into(), message: "12 days left".into() };
        let r = result("a", Some(failure), vec![same, other], false);
        let report = Report::new(None, std::time::SystemTime::now(), std::time::Duration::from_micros(300), vec![r]);
        let t = render(&report, false);
        assert_eq!(t.matches("tls.unverified").count(), 1, "once, as the failure: {t}");
        assert!(t.contains("warning: tls.cert_expiring: 12 days left"), "other warnings stay: {t}");
        assert!(t.contains("1 check: 0 ok, 1 failed in 0.3 ms"), "{t}");
    }
}
