//! The run's last word on real peers: which tests skipped because a peer was missing, and why.
//!
//! A plain test binary (`harness = false`), so that what it prints is shown without
//! `--nocapture`; cargo runs it after the other integration tests of this package (their names
//! sort first). The file it reads is written by `harness::skipped`.

fn main() {
    let path = concat!(env!("CARGO_TARGET_TMPDIR"), "/portproof-skipped.txt");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    lines.sort_unstable();
    lines.dedup();
    if lines.is_empty() {
        println!("\nreal peers: no test skipped");
    } else {
        println!(
            "\nreal peers: {} test(s) SKIPPED, their peer missing (run bash testbeds/scripts/up.sh):",
            lines.len()
        );
        for l in &lines {
            println!("  {l}");
        }
    }
    // Each run starts its own list.
    let _ = std::fs::remove_file(path);
}
