//! Conformance of the whole probe registry (issues 11 and 12): every registered probe, over each
//! of its transports, meets every standard hostile peer of that transport
//! (`portproof_testbeds::hostile`), through the real path (manifest text, `manifest::plan`,
//! `runner::run`), and must end in a verdict within its deadline plus a margin, with bounded
//! memory, without a panic, and never `ok` — except where the verdict is the truth: a probe
//! whose best level is `open` (`tcp`) proves only that the port accepted, which every TCP peer
//! does, and a peer that sends a protocol's real greeting may pass that protocol's probe. Nor
//! may a probe reach `speaks` against a peer that does not speak its protocol (another
//! protocol's greeting, a `{"status":"ok"}` or a 401 for an HTTP preset, PostgreSQL's `N`
//! followed by notices), whatever the verdict: a level needs the protocol's own evidence.
//!
//! A new probe is covered the day it is registered: nothing here names a probe. A transport a
//! probe lists but refuses (`tcp` over TLS) must be refused with `config.invalid`; a transport
//! it does not list must be refused by the manifest. Both are asserted, nothing is skipped.
//!
//! Memory: this binary has its own counting global allocator. Each check runs on a thread of
//! its own with a current-thread runtime, so the runner's task and the probe's are polled there
//! and what they allocate is charged to that thread: the peak over the check is the figure
//! asserted, per pair. What a library allocates on other threads escapes that figure; the
//! process-wide peak is asserted too, as a backstop.
//!
//! Every code in every result (failure and warnings) must resolve with
//! `portproof_probes::codes::lookup`: a probe cannot emit a code its table lacks.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use portproof::manifest::{self, Check, Manifest, Overrides};
use portproof::runner::{self, CheckResult, RunOptions};
use portproof_probes::{Level, Over, Probe};
use portproof_testbeds::hostile;
use portproof_testbeds::{Server, pki::Pki};
use tokio_util::sync::CancellationToken;

/// The deadline of every check.
const DEADLINE: Duration = Duration::from_millis(1500);
/// How late past the deadline a verdict may come: generous, the machine is two shared cores.
const MARGIN: Duration = Duration::from_secs(1);
/// Checks running at once. Most wait out their deadline against a silent peer, so many fit.
const WORKERS: usize = 16;
/// The most one check may hold allocated at once: the 16 MiB a probe may read from a peer,
/// twice (a buffer and the copy a parser makes of it), and room for TLS and the runtime.
const MEMORY_PER_CHECK: usize = 40 << 20;
/// A check not back by then is hung (a probe blocking its thread): the test fails naming it.
const HANG: Duration = Duration::from_secs(30);

/// (probe, transport, peer, the bug): pairs that break a rule today, each reported in the
/// table and by the lead's issue named here. A pair that passes every rule must leave the list.
const KNOWN_FAILURES: &[(&str, &str, &str, &str)] = &[];

// ---- the counting allocator ----

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_LIVE: Cell<isize> = const { Cell::new(0) };
    static THREAD_PEAK: Cell<isize> = const { Cell::new(0) };
}

fn charge(delta: isize) {
    let _ = THREAD_LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = THREAD_PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
    if delta >= 0 {
        let now = LIVE.fetch_add(delta.unsigned_abs(), Ordering::Relaxed) + delta.unsigned_abs();
        PEAK.fetch_max(now, Ordering::Relaxed);
    } else {
        LIVE.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
    }
}

// SAFETY: every call goes to the system allocator unchanged; only sizes are counted, and the
// counting allocates nothing (const thread-locals without destructors, atomics).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            charge(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            charge(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        charge(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            charge(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Starts counting this thread's peak afresh; returns the baseline to subtract.
fn start_peak() -> isize {
    let live = THREAD_LIVE.with(Cell::get);
    THREAD_PEAK.with(|p| p.set(live));
    live
}

fn thread_peak_since(base: isize) -> usize {
    (THREAD_PEAK.with(Cell::get) - base).max(0).unsigned_abs()
}

// ---- the matrix ----

/// One hostile peer, running, of one transport.
struct LivePeer {
    name: &'static str,
    speaks: Option<&'static str>,
    server: Server,
}

/// One (probe, transport, peer) run.
struct Job {
    probe: &'static dyn Probe,
    over: Over,
    peer: &'static str,
    speaks: Option<&'static str>,
    check: Check,
}

/// What came back from one job.
struct Ran {
    elapsed: Duration,
    peak: usize,
    result: CheckResult,
}

fn yaml(probe: &str, over: Over, port: u16, ca: &str) -> String {
    format!(
        // The CA goes in defaults: a check's own tls: is refused where it would not be used.
        "defaults:\n  tls: {{ ca: '{ca}' }}\nchecks:\n  - name: conformance\n    host: 127.0.0.1\n    port: {port}\n    expect: {probe}\n    over: {over}\n    timeout: {}ms\n",
        DEADLINE.as_millis()
    )
}

/// Plans one check through the manifest, as the command line would.
fn plan(probe: &str, over: Over, port: u16, ca: &str) -> Result<Check, String> {
    let src = yaml(probe, over, port, ca);
    let m = Manifest::parse(&src, "conformance.yaml").map_err(|e| e.to_string())?;
    let mut checks = manifest::plan(&m, &src, "conformance.yaml", &Overrides::default()).map_err(|e| e.to_string())?;
    assert_eq!(checks.len(), 1);
    Ok(checks.remove(0))
}

fn level_letter(l: Level) -> &'static str {
    match l {
        Level::Unreachable => "U",
        Level::Open => "O",
        Level::Speaks => "S",
        Level::Healthy => "H",
    }
}

/// Every rule a result must keep; the broken ones, in words.
fn violations(job: &Job, ran: &Ran) -> Vec<String> {
    let r = &ran.result;
    let mut v = Vec::new();
    if ran.elapsed > DEADLINE + MARGIN {
        v.push(format!("took {} ms, past the deadline {} ms + margin", ran.elapsed.as_millis(), DEADLINE.as_millis()));
    }
    let code = r.outcome.failure.as_ref().map(|f| f.code.as_str());
    if code == Some("run.panic") {
        v.push(format!("panicked: {}", r.outcome.failure.as_ref().map_or("", |f| f.message.as_str())));
    }
    // The only passes with evidence: an open-only probe at `open` (the peer did accept), and a
    // probe of the very protocol the peer really speaks.
    let open_only = job.probe.best_level() == Level::Open && r.outcome.level <= Level::Open;
    let native = job.speaks == Some(job.probe.name());
    if r.ok && !open_only && !native {
        v.push(format!("passed at {} against a hostile peer", r.outcome.level));
    }
    // Never `speaks` on another protocol's bytes (or on none): a level is reached only on
    // evidence of the probe's own protocol, whatever the verdict.
    if r.outcome.level >= Level::Speaks && !native {
        v.push(format!("reached {} against a peer that does not speak {}", r.outcome.level, job.probe.name()));
    }
    if !r.ok && code.is_none() {
        v.push("failed without a failure code".into());
    }
    if r.outcome.level > job.probe.best_level() {
        v.push(format!("reached {} beyond the probe's best {}", r.outcome.level, job.probe.best_level()));
    }
    if ran.peak > MEMORY_PER_CHECK {
        v.push(format!("allocated {} MiB at its peak", ran.peak >> 20));
    }
    {
        let codes = code.into_iter().chain(r.outcome.warnings.iter().map(|w| w.code.as_str()));
        for c in codes {
            if portproof_probes::codes::lookup(c).is_none() {
                v.push(format!("code {c} is in no code table"));
            }
        }
    }
    v
}

fn run_all(jobs: Vec<Job>) -> Vec<(Job, Option<Ran>)> {
    let n = jobs.len();
    let queue: Arc<Mutex<VecDeque<(usize, Check)>>> =
        Arc::new(Mutex::new(jobs.iter().enumerate().map(|(i, j)| (i, j.check.clone())).collect()));
    let (tx, rx) = mpsc::channel::<(usize, Ran)>();
    for _ in 0..WORKERS.min(n) {
        let (queue, tx) = (queue.clone(), tx.clone());
        // Detached: a probe that blocks its thread must not keep the test from failing.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            loop {
                let Some((i, check)) = queue.lock().expect("queue").pop_front() else { break };
                let base = start_peak();
                let start = Instant::now();
                let report = rt.block_on(runner::run(
                    vec![check],
                    &RunOptions::default(),
                    CancellationToken::new(),
                    None,
                    |_| {},
                ));
                let elapsed = start.elapsed();
                let peak = thread_peak_since(base);
                let result = report.results.into_iter().next().expect("one result per check");
                if tx.send((i, Ran { elapsed, peak, result })).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut got: Vec<Option<Ran>> = (0..n).map(|_| None).collect();
    let mut left = n;
    while left > 0 {
        match rx.recv_timeout(HANG) {
            Ok((i, ran)) => {
                got[i] = Some(ran);
                left -= 1;
            }
            Err(_) => break,
        }
    }
    jobs.into_iter().zip(got).collect()
}

#[test]
fn the_allocator_counts_what_a_thread_holds() {
    // The memory rule is only as good as this figure: 4 MiB held on a thread must show.
    std::thread::spawn(|| {
        let base = start_peak();
        let held = vec![1u8; 4 << 20];
        std::hint::black_box(&held);
        drop(held);
        assert!(thread_peak_since(base) >= 4 << 20, "peak {}", thread_peak_since(base));
    })
    .join()
    .expect("thread");
}

#[test]
fn every_probe_against_every_hostile_peer() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, &pki.ca.cert_pem).expect("write CA");
    let ca = ca_path.to_str().expect("utf-8 path").to_owned();
    // No ALPN on the server: a probe offering its own (mqtt, amqp) must not be refused in the
    // handshake, or the hostility would never be reached.
    let tls_config = pki.versions_config(portproof_testbeds::rustls::DEFAULT_VERSIONS);

    let (tcp_peers, tls_peers, udp_peers) = rt.block_on(async {
        let mut tcp = Vec::new();
        let mut tls = Vec::new();
        for p in hostile::standard_peers() {
            let l = portproof_testbeds::bind_any().await.expect("bind");
            tcp.push(LivePeer { name: p.name, speaks: p.speaks, server: hostile::serve(l, p.hostility.clone()) });
            let l = portproof_testbeds::bind_any().await.expect("bind");
            tls.push(LivePeer {
                name: p.name,
                speaks: p.speaks,
                server: hostile::serve_tls(l, tls_config.clone(), p.hostility),
            });
        }
        let l = portproof_testbeds::bind_any().await.expect("bind");
        tls.push(LivePeer { name: "tls-stall", speaks: None, server: hostile::tls_stall(l) });
        let mut udp = Vec::new();
        for (name, h) in hostile::standard_udp_peers() {
            udp.push(LivePeer { name, speaks: None, server: hostile::serve_udp(h).await.expect("bind udp") });
        }
        (tcp, tls, udp)
    });

    let mut jobs = Vec::new();
    let mut refused = Vec::new();
    let mut problems = Vec::new();
    for &probe in portproof_probes::registry() {
        for over in [Over::Tcp, Over::Tls, Over::Udp] {
            let listed = probe.transports().contains(&over);
            let peers = match over {
                Over::Tcp => &tcp_peers,
                Over::Tls => &tls_peers,
                Over::Udp => &udp_peers,
            };
            match plan(probe.name(), over, peers[0].server.port(), &ca) {
                Ok(_) if !listed => problems.push(format!(
                    "{} over {over}: the probe does not list {over} in transports(), yet the manifest accepts it",
                    probe.name()
                )),
                Err(e) if !listed => {
                    if !e.contains("over") {
                        problems.push(format!("{} over {over}: refused, but not for its transport: {e}", probe.name()));
                    }
                }
                Err(e) => {
                    // Listed but refused by validate: it must be config.invalid, before any I/O.
                    let accepted = probe.transports().iter().find_map(|&o| plan(probe.name(), o, 1, &ca).ok());
                    let Some(mut check) = accepted else {
                        problems.push(format!("{}: refused over every transport it lists: {e}", probe.name()));
                        continue;
                    };
                    check.target.over = over;
                    match probe.validate(&check.target) {
                        Err(f) if f.code == "config.invalid" => refused.push(format!("{}/{over}", probe.name())),
                        other => problems.push(format!(
                            "{} over {over}: the manifest refused it ({e}) but validate said {other:?}, not config.invalid",
                            probe.name()
                        )),
                    }
                }
                Ok(_) => {
                    for peer in peers {
                        let check = plan(probe.name(), over, peer.server.port(), &ca).expect("planned once already");
                        jobs.push(Job { probe, over, peer: peer.name, speaks: peer.speaks, check });
                    }
                }
            }
        }
    }

    let started = Instant::now();
    let global_base = LIVE.load(Ordering::Relaxed);
    PEAK.store(global_base, Ordering::Relaxed);
    let total = jobs.len();
    let done = run_all(jobs);
    let wall = started.elapsed();
    let global_peak = PEAK.load(Ordering::Relaxed).saturating_sub(global_base);

    // probe/transport -> peer -> cell; and every broken rule.
    let mut table: BTreeMap<String, BTreeMap<&str, String>> = BTreeMap::new();
    let mut peer_order: Vec<(Over, Vec<&str>)> = Vec::new();
    let mut known_seen = Vec::new();
    let mut max_peak = (0usize, String::new());
    let mut slowest = (Duration::ZERO, String::new());
    for (job, ran) in &done {
        let key = format!("{}/{}", job.probe.name(), job.over);
        let order = match peer_order.iter().position(|(o, _)| *o == job.over) {
            Some(i) => &mut peer_order[i].1,
            None => {
                peer_order.push((job.over, Vec::new()));
                &mut peer_order.last_mut().expect("just pushed").1
            }
        };
        if !order.contains(&job.peer) {
            order.push(job.peer);
        }
        let known =
            KNOWN_FAILURES.iter().find(|k| k.0 == job.probe.name() && k.1 == job.over.to_string() && k.2 == job.peer);
        let (cell, broken) = match ran {
            None => ("HUNG".to_owned(), vec![format!("no verdict within {} s: hung", HANG.as_secs())]),
            Some(ran) => {
                let r = &ran.result;
                if ran.peak > max_peak.0 {
                    max_peak = (ran.peak, format!("{key} vs {}", job.peer));
                }
                if ran.elapsed > slowest.0 {
                    slowest = (ran.elapsed, format!("{key} vs {}", job.peer));
                }
                let what = match (&r.outcome.failure, r.ok) {
                    (_, true) => "ok".to_owned(),
                    (Some(f), false) => f.code.clone(),
                    (None, false) => "-".to_owned(),
                };
                (format!("{}:{what}", level_letter(r.outcome.level)), violations(job, ran))
            }
        };
        let mark = match (broken.is_empty(), known.is_some()) {
            (true, false) => "",
            (false, true) => "~",
            (false, false) => "!",
            (true, true) => "?",
        };
        table.entry(key.clone()).or_default().insert(job.peer, format!("{mark}{cell}"));
        match known {
            Some(k) if broken.is_empty() => problems.push(format!(
                "{key} vs {}: listed as a known failure ({}) but keeps every rule now: take it off the list",
                job.peer, k.3
            )),
            Some(_) => known_seen.push(format!("{key} vs {}: {}", job.peer, broken.join("; "))),
            None => {
                for b in broken {
                    let detail = ran
                        .as_ref()
                        .and_then(|r| r.result.outcome.failure.as_ref())
                        .map_or(String::new(), |f| format!(" [{}: {}]", f.code, f.message));
                    problems.push(format!("{key} vs {}: {b}{detail}", job.peer));
                }
            }
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "conformance: {total} runs in {:.1} s; deadline {} ms + {} ms margin; levels U/O/S/H; ! broken, ~ known failure, ? known but kept",
        wall.as_secs_f64(),
        DEADLINE.as_millis(),
        MARGIN.as_millis()
    );
    for (over, peers) in &peer_order {
        let rows: Vec<_> = table.iter().filter(|(k, _)| k.ends_with(&format!("/{over}"))).collect();
        let probe_w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let widths: Vec<usize> = peers
            .iter()
            .map(|p| rows.iter().filter_map(|(_, cells)| cells.get(p).map(String::len)).max().unwrap_or(0).max(p.len()))
            .collect();
        let _ = write!(out, "\n{:probe_w$}", "");
        for (p, w) in peers.iter().zip(&widths) {
            let _ = write!(out, " {p:w$}");
        }
        out.push('\n');
        for (k, cells) in rows {
            let _ = write!(out, "{k:probe_w$}");
            for (p, w) in peers.iter().zip(&widths) {
                let _ = write!(out, " {:w$}", cells.get(p).map_or("", String::as_str));
            }
            out.push('\n');
        }
    }
    let _ =
        writeln!(out, "\nrefused with config.invalid (listed transport, refused by validate): {}", refused.join(", "));
    let none_udp = portproof_probes::registry().iter().all(|p| !p.transports().contains(&Over::Udp));
    if none_udp {
        let _ = writeln!(out, "no probe lists udp yet: the {} UDP peers wait for the first one", udp_peers.len());
    }
    let _ = writeln!(
        out,
        "largest per-check peak allocation: {:.1} MiB ({}); process-wide peak above the start: {:.1} MiB",
        max_peak.0 as f64 / 1048576.0,
        max_peak.1,
        global_peak as f64 / 1048576.0
    );
    let _ = writeln!(out, "slowest verdict: {} ms ({})", slowest.0.as_millis(), slowest.1);
    for k in &known_seen {
        let _ = writeln!(out, "known failure: {k}");
    }
    println!("{out}");

    // The backstop for what escapes the per-thread figure: all checks running at once, each
    // within its budget, plus the peers' own buffers.
    let global_budget = WORKERS * MEMORY_PER_CHECK + (64 << 20);
    if global_peak > global_budget {
        problems.push(format!(
            "the process peaked {} MiB above its start, past {} MiB",
            global_peak >> 20,
            global_budget >> 20
        ));
    }
    assert!(
        problems.is_empty(),
        "{} conformance problems (the table is above):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
