//! `jsonl`: one result per line, written the moment its check finishes, for programs that
//! want to act before the run ends.

use crate::runner::CheckResult;

/// One result as a single line of JSON (no trailing newline).
pub fn line(r: &CheckResult) -> String {
    serde_json::to_string(r).expect("a result always serializes")
}
