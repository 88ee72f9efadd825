//! `json`: the whole report as one document, `{"portproof": VERSION, "results": [...], "summary": {...}}`.

use crate::runner::Report;

/// Pretty-printed JSON of the report; it parses back into the same [`Report`].
pub fn render(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("a report always serializes");
    s.push('\n');
    s
}
