//! `junit`: one testcase per check for CI. A failed check is a `<failure>` whose type is the
//! failure code and whose text carries the message and the hint; a failed optional check is
//! `<skipped>`, so it shows without failing the build, and so is a failed member of an any_of
//! group that another member covered.
//!
//! Written by hand to the schema CI servers read (Jenkins' junit-10.xsd, the Surefire/Ant
//! format; `tests/data/junit-10.xsd`): a general JUnit writer put `<properties>` inside each
//! `<testcase>` and `skipped` on `<testsuites>`, both of which that schema refuses. What those
//! properties said (target, level reached, level required) is the first line of the case's
//! `<system-out>`.

use std::fmt::Write as _;

use crate::runner::Report;

/// The JUnit XML document.
pub fn render(report: &Report) -> String {
    let s = &report.summary;
    let failures = report.results.iter().filter(|r| r.fails_run()).count();
    let skipped = report.results.iter().filter(|r| !r.ok && !r.fails_run()).count();
    let suite = report.title.clone().unwrap_or_else(|| "portproof".into());
    let time = seconds(report.duration_ms);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"portproof\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{time}\">",
        s.total
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time}\" timestamp=\"{}\">",
        attr(&suite),
        s.total,
        attr(&report.started)
    );
    let _ = writeln!(
        x,
        "    <properties>\n      <property name=\"portproof\" value=\"{}\"/>\n    </properties>",
        attr(&report.portproof)
    );
    for r in &report.results {
        let _ = writeln!(
            x,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\">",
            attr(&r.name),
            attr(&format!("{}.{}", r.probe, r.target)),
            seconds(r.duration_ms)
        );
        if !r.ok {
            let f = r.outcome.failure.as_ref();
            let message = match f {
                Some(f) => format!("{} (reached {}, required {}): {}", f.code, r.outcome.level, r.require, f.message),
                None => format!("reached {}, required {}", r.outcome.level, r.require),
            };
            let mut description = message.clone();
            if let Some(h) = f.and_then(|f| f.hint.as_ref()) {
                description.push_str("\nhint: ");
                description.push_str(h);
            }
            if let Some(id) = &r.outcome.identified {
                description.push_str(&format!("\nidentified: {id}"));
            }
            if !r.fails_run() {
                let why = match &r.any_of {
                    Some(g) if !r.optional => {
                        format!("covered by any_of {} ({} passed)", g.group, g.passed_by.join(", "))
                    }
                    _ => "optional check not met".to_owned(),
                };
                let _ = writeln!(
                    x,
                    "      <skipped message=\"{}\">{}</skipped>",
                    attr(&format!("{why}: {message}")),
                    text(&description)
                );
            } else {
                let code = f.map_or_else(|| format!("level.{}", r.outcome.level), |f| f.code.clone());
                let _ = writeln!(
                    x,
                    "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                    attr(&code),
                    attr(&message),
                    text(&description)
                );
            }
        }
        let mut out = format!("target {}, level {}, required {}\n", r.target, r.outcome.level, r.require);
        out.push_str(&serde_json::to_string(&r.outcome.facts).unwrap_or_default());
        for w in &r.outcome.warnings {
            out.push_str(&format!("\nwarning {}: {}", w.code, w.message));
        }
        let _ = writeln!(x, "      <system-out>{}</system-out>", text(&out));
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// Seconds with millisecond precision, as the schema's time pattern allows (no exponent).
fn seconds(ms: f64) -> String {
    format!("{:.3}", ms / 1e3)
}

/// Characters XML 1.0 cannot carry at all (most C0 controls) become U+FFFD: a server's banner
/// may hold any byte, and one such character makes the whole document unreadable.
fn xml_char(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' => c,
        c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
        c => c,
    }
}

/// Element text: `&`, `<` and `>` escaped.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(xml_char) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// An attribute value: quotes escaped too, and tab, line feed and carriage return as
/// character references, which a parser would otherwise turn into spaces.
fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(xml_char) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_keep_line_breaks_and_drop_what_xml_cannot_hold() {
        assert_eq!(attr("a \"b\"\n<c>&\u{1}"), "a &quot;b&quot;&#10;&lt;c&gt;&amp;\u{FFFD}");
        assert_eq!(text("x < y\n\u{0}"), "x &lt; y\n\u{FFFD}");
    }
}
