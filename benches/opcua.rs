//! Time to a full OPC UA discovery verdict (Hello, GetEndpoints, FindServers) of the `opcua`
//! probe against Python's asyncua server, side by side with the asyncua Python client doing
//! the same calls, and nmap's `-sV` on the same port when nmap is installed.
//!
//! Needs the asyncua server on 127.0.0.1:14840 and its venv: `bash testbeds/scripts/opcua.sh`.
//! Then:
//!
//! ```text
//! cargo bench --bench opcua                      # 100 runs of the probe and of asyncua, 3 of nmap
//! PORTPROOF_BENCH_N=500 cargo bench --bench opcua
//! ```
//!
//! The probe runs in this process; the asyncua client in one Python process that runs a round
//! whenever asked and times it itself, so the interpreter's start is not counted against it.
//! Both run 10 warm-up rounds, then N rounds interleaved (probe, asyncua, probe, ...) so that
//! machine noise hits both sides alike. nmap runs as a whole process per run (its start is part
//! of what a user waits for); it is skipped, with a line saying so, when it is not installed,
//! and so is asyncua when its venv is missing. A probe run below `healthy` aborts the bench.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use portproof_probes::{Level, ProbeCx, Target};

const HOST: &str = "127.0.0.1";
const PORT: u16 = 14840;
const WARMUP: usize = 10;
const DEFAULT_N: usize = 100;
/// nmap -sV runs, unless PORTPROOF_BENCH_NMAP_RUNS says otherwise (0 skips nmap: each run
/// takes minutes on a port it does not know).
const NMAP_RUNS: usize = 3;
/// The asyncua venv testbeds/scripts/opcua.sh makes.
const VENV_PYTHON: &str = "/opt/portproof-opcua-venv/bin/python";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let s = sorted(v);
    if s.is_empty() {
        return f64::NAN;
    }
    s[((s.len() - 1) as f64 * p).round() as usize]
}

fn median(v: &[f64]) -> f64 {
    percentile(v, 0.5)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// One probe run: its wall time and its phases (name, ms).
async fn probe_once(t: &Target) -> Result<(f64, Vec<(String, f64)>), String> {
    let probe = portproof_probes::find("opcua").ok_or("no opcua probe")?;
    let start = Instant::now();
    let mut cx = ProbeCx::new(Some(start + t.timeout));
    let outcome = match tokio::time::timeout(t.timeout, probe.probe(t, &mut cx)).await {
        Ok(o) => o,
        Err(_) => cx.timed_out(t.timeout),
    };
    let took = ms(start.elapsed());
    if outcome.level != Level::Healthy || !outcome.facts.contains_key("opcua_servers") {
        return Err(format!("the probe did not list endpoints and servers: {outcome:?}"));
    }
    Ok((took, outcome.phases.iter().map(|p| (p.phase.as_str().to_owned(), p.ms)).collect()))
}

/// The asyncua client, waiting for a line per round.
struct Asyncua {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Asyncua {
    fn start() -> Result<Asyncua, String> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/opcua_asyncua_client.py");
        let mut child = Command::new(VENV_PYTHON)
            .args([script, &format!("opc.tcp://{HOST}:{PORT}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {VENV_PYTHON}: {e}"))?;
        let input = child.stdin.take().ok_or("no stdin")?;
        let output = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        Ok(Asyncua { child, input, output })
    }

    fn round(&mut self) -> Result<f64, String> {
        writeln!(self.input, "go").and_then(|_| self.input.flush()).map_err(|e| format!("asyncua: {e}"))?;
        let mut line = String::new();
        self.output.read_line(&mut line).map_err(|e| format!("asyncua: {e}"))?;
        line.trim().parse::<f64>().map_err(|e| format!("asyncua answered {line:?}: {e}"))
    }
}

impl Drop for Asyncua {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nmap(runs: usize) -> Result<(Vec<f64>, String), String> {
    let mut times = Vec::new();
    let mut service = String::new();
    for _ in 0..runs {
        let start = Instant::now();
        let out = Command::new("nmap")
            .args(["-sV", "-Pn", "-n", "-p", &PORT.to_string(), HOST])
            .output()
            .map_err(|e| format!("cannot run nmap: {e}"))?;
        times.push(ms(start.elapsed()));
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(line) = text.lines().find(|l| l.starts_with(&format!("{PORT}/tcp"))) {
            service = line.split_whitespace().skip(2).collect::<Vec<_>>().join(" ");
        }
    }
    Ok((times, service))
}

fn main() -> ExitCode {
    let n = match std::env::var("PORTPROOF_BENCH_N") {
        Ok(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("PORTPROOF_BENCH_N={s:?}: give a positive whole number of runs");
                return ExitCode::from(2);
            }
        },
        Err(_) => DEFAULT_N,
    };
    if std::net::TcpStream::connect_timeout(&format!("{HOST}:{PORT}").parse().expect("address"), Duration::from_secs(2))
        .is_err()
    {
        eprintln!("opcua bench: the asyncua server is not reachable on {HOST}:{PORT}.");
        eprintln!("Start it with: bash testbeds/scripts/opcua.sh");
        return ExitCode::SUCCESS;
    }
    println!("opcua bench: {n} runs of the probe and of the asyncua client after {WARMUP} warm-up rounds, interleaved");
    println!("load average at start: {}", loadavg());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut t = Target::new(HOST, PORT);
    t.timeout = Duration::from_secs(5);
    let mut asyncua = match Asyncua::start() {
        Ok(a) => Some(a),
        Err(e) => {
            println!("  asyncua client skipped: {e}");
            None
        }
    };
    let (mut probe, mut bare) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut phases: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for round in 0..WARMUP + n {
        let (took, ph) = match rt.block_on(probe_once(&t)) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let other = match asyncua.as_mut().map(Asyncua::round) {
            Some(Err(e)) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
            Some(Ok(v)) => Some(v),
            None => None,
        };
        if round >= WARMUP {
            probe.push(took);
            bare.extend(other);
            for (p, ms) in ph {
                phases.entry(p).or_default().push(ms);
            }
        }
    }
    drop(asyncua);
    let row = |name: &str, v: &[f64]| {
        println!(
            "  {name:<44} median {:>8.2} ms   p90 {:>8.2} ms   min {:>8.2}   max {:>8.2}",
            median(v),
            percentile(v, 0.9),
            percentile(v, 0.0),
            percentile(v, 1.0)
        );
    };
    println!();
    row("portproof opcua probe (healthy)", &probe);
    let pm = median(&probe);
    if !bare.is_empty() {
        row("asyncua client (GetEndpoints + FindServers)", &bare);
        println!("  asyncua/probe ratio of medians: {:.2}x", median(&bare) / pm);
    }
    // Phases repeat (a connect per connection): each occurrence is one sample of its phase.
    let per: Vec<String> =
        phases.iter().map(|(p, v)| format!("{p} {:.2}/{:.2}", median(v), percentile(v, 0.9))).collect();
    println!("  probe phases (ms, median/p90 of each occurrence): {}", per.join(", "));
    let runs = std::env::var("PORTPROOF_BENCH_NMAP_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(NMAP_RUNS);
    match nmap(runs) {
        Ok(_) if runs == 0 => println!("  nmap skipped: PORTPROOF_BENCH_NMAP_RUNS=0"),
        Ok((v, service)) => {
            row(&format!("nmap -sV ({runs} runs)"), &v);
            println!("  nmap/probe ratio of medians: {:.1}x; nmap named the port: {service:?}", median(&v) / pm);
        }
        Err(e) => println!("  nmap skipped: {e}"),
    }
    println!("load average at end: {}", loadavg());
    ExitCode::SUCCESS
}
