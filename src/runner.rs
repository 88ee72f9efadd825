//! Runs checks concurrently and gathers one result per check, whatever happens.
//!
//! Limits: a global one, one per host, and a lower one per (host, probe) where a probe asks
//! for it (industrial protocols: a PLC may allow only a few connections). Each attempt has a
//! deadline; at the deadline the probe's future is dropped and the result names the phase it
//! was in. With `wait`, failed checks are retried with backoff until they pass or time runs
//! out. On cancellation (Ctrl-C) running probes stop and every unfinished check still gets a
//! result, `run.interrupted`. A probe that panics yields `run.panic`, never a missing line.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use portproof_probes::codes::core::{RUN_INTERRUPTED, RUN_PANIC};
use portproof_probes::{Failure, Level, Outcome, Phase, ProbeCx};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::manifest::{Check, Direction};

/// How the runner runs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Most probes running at once.
    pub concurrency: usize,
    /// Most probes running at once against one host.
    pub per_host: usize,
    /// Retry failed checks until they pass or this much time has passed since the start.
    pub wait: Option<Duration>,
    /// First pause between retries; it doubles up to [`MAX_RETRY_INTERVAL`]. Never below 1 s, so
    /// a retrying run stays gentle with devices that allow few connections.
    pub retry_interval: Duration,
}

/// The longest pause between two attempts of one check.
pub const MAX_RETRY_INTERVAL: Duration = Duration::from_secs(5);

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { concurrency: 32, per_host: 6, wait: None, retry_interval: Duration::from_secs(1) }
    }
}

/// One check's result: what was asked, and the probe's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CheckResult {
    /// The check's name.
    pub name: String,
    /// `host:port`.
    pub target: String,
    /// The `expect` of the check.
    pub expect: String,
    /// The probe that ran.
    pub probe: String,
    /// `tcp` or `tls`.
    pub over: String,
    /// Level needed to pass.
    pub require: Level,
    /// Whether a failure of this check fails the run.
    pub optional: bool,
    /// `level >= require`, and nothing the check stated was refused ([`Outcome::passes`]).
    pub ok: bool,
    /// How many attempts were made (more than one with `wait`).
    pub attempts: u32,
    /// Time of the check's attempts and the pauses between them; time queued for a free
    /// connection slot is not included.
    pub duration_ms: f64,
    /// The probe this port will get once it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<String>,
    /// Free text from the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The role whose machine the port is on (a profile's `gateway`, `database`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The feature (`--with`) that turned this check on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
    /// `inbound`, `outbound` or `local-only`.
    #[serde(default)]
    pub direction: Direction,
    /// Where the port number came from: `default`, `8088 +100 (--offset)`, `gateway.port in
    /// gateway.xml:4`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub port_from: String,
    /// Set when the check passes only if nothing answers: why the port must be closed. A
    /// refused or filtered port then passes (`facts.closed` says which), and whatever answers
    /// fails it with `closed.answered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<String>,
    /// The any_of group the check is in, and which members passed on its host: when one did,
    /// this check's failure does not fail the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any_of: Option<AnyOfResult>,
    /// The probe's outcome.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A check's any_of group, as the report shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AnyOfResult {
    /// The group's name.
    pub group: String,
    /// The host the group is judged on (each host of a role needs one member passing).
    pub host: String,
    /// The members that passed on that host.
    pub passed_by: Vec<String>,
}

impl CheckResult {
    /// Whether this result fails the run.
    pub fn fails_run(&self) -> bool {
        !self.ok && !self.optional && !self.covered()
    }

    /// Whether another member of its any_of group passed on the same host.
    pub fn covered(&self) -> bool {
        self.any_of.as_ref().is_some_and(|g| !g.passed_by.is_empty())
    }
}

/// Counts over all results.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Summary {
    /// Number of checks.
    pub total: usize,
    /// Checks that reached their required level.
    pub ok: usize,
    /// Checks that did not, optional ones included.
    pub failed: usize,
    /// Of `failed`, how many are optional (they do not fail the run).
    pub failed_optional: usize,
    /// Of `failed`, how many are covered by another member of their any_of group that passed
    /// (they do not fail the run).
    #[serde(default)]
    pub failed_covered: usize,
    /// Checks per level reached.
    pub levels: std::collections::BTreeMap<Level, usize>,
    /// The run was interrupted before every check finished.
    pub interrupted: bool,
    /// Every non-optional check passed: the exit code is 0.
    pub passed: bool,
}

/// Everything a run produced; every report format renders this.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    /// The portproof version that made the report.
    pub portproof: String,
    /// What was checked (a profile's product, a manifest's file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// When the run started, RFC 3339.
    pub started: String,
    /// Wall time of the run.
    pub duration_ms: f64,
    /// One result per check, in manifest order.
    pub results: Vec<CheckResult>,
    /// Counts.
    pub summary: Summary,
}

impl Report {
    /// Builds the report and its summary from results in manifest order.
    pub fn new(title: Option<String>, started: SystemTime, duration: Duration, mut results: Vec<CheckResult>) -> Self {
        // Which members of each any_of group passed, per host.
        let mut passed: HashMap<(String, String), Vec<String>> = HashMap::new();
        for r in &results {
            if let Some(g) = &r.any_of {
                let e = passed.entry((g.group.clone(), host_key(&g.host))).or_default();
                if r.ok {
                    e.push(r.name.clone());
                }
            }
        }
        for r in &mut results {
            if let Some(g) = &mut r.any_of {
                g.passed_by = passed[&(g.group.clone(), host_key(&g.host))].clone();
            }
        }
        let mut s = Summary { total: results.len(), ..Summary::default() };
        for r in &results {
            if r.ok {
                s.ok += 1;
            } else {
                s.failed += 1;
                if r.optional {
                    s.failed_optional += 1;
                } else if r.covered() {
                    s.failed_covered += 1;
                }
            }
            *s.levels.entry(r.outcome.level).or_default() += 1;
            if r.outcome.failure.as_ref().is_some_and(|f| f.is(&RUN_INTERRUPTED)) {
                s.interrupted = true;
            }
        }
        s.passed = !results.iter().any(CheckResult::fails_run);
        Report {
            portproof: env!("CARGO_PKG_VERSION").to_owned(),
            title,
            started: humantime::format_rfc3339_seconds(started).to_string(),
            duration_ms: portproof_probes::millis(duration),
            results,
            summary: s,
        }
    }
}

/// Failure code of checks cut short by cancellation, as results spell it (the table's entry is
/// [`RUN_INTERRUPTED`]).
pub const INTERRUPTED: &str = RUN_INTERRUPTED.name;

/// Runs every check; `on_result` sees each result as it finishes (completion order); the
/// report keeps manifest order.
pub async fn run(
    checks: Vec<Check>,
    opts: &RunOptions,
    cancel: CancellationToken,
    title: Option<String>,
    mut on_result: impl FnMut(&CheckResult),
) -> Report {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let global = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mut hosts: HashMap<String, Arc<Semaphore>> = HashMap::new();
    // Probes of one group share one limit per host (Modbus and OPC UA on one PLC); where
    // their stated limits differ, the strictest holds for all of them.
    let mut group_limit: HashMap<(String, &'static str), usize> = HashMap::new();
    for c in &checks {
        if let Some(n) = c.probe.per_host_limit() {
            let key = (host_key(&c.target.host), c.probe.per_host_group());
            let e = group_limit.entry(key).or_insert(n);
            *e = (*e).min(n);
        }
    }
    let mut host_group: HashMap<(String, &'static str), Arc<Semaphore>> = HashMap::new();
    let mut set = JoinSet::new();
    let mut index_of = HashMap::new();
    let mut slots: Vec<Option<CheckResult>> = vec![None; checks.len()];
    let mut shells = Vec::with_capacity(checks.len());

    for (i, check) in checks.into_iter().enumerate() {
        let host_key = host_key(&check.target.host);
        let host =
            hosts.entry(host_key.clone()).or_insert_with(|| Arc::new(Semaphore::new(opts.per_host.max(1)))).clone();
        let group = (host_key, check.probe.per_host_group());
        let narrow = group_limit
            .get(&group)
            .map(|&n| host_group.entry(group).or_insert_with(|| Arc::new(Semaphore::new(n.max(1)))).clone());
        let limits = Limits { global: global.clone(), host, narrow };
        shells.push(shell(&check));
        let (opts, cancel) = (opts.clone(), cancel.clone());
        let handle = set.spawn(run_check(check, limits, opts, cancel, started));
        index_of.insert(handle.id(), i);
    }

    while let Some(joined) = set.join_next_with_id().await {
        let (i, result) = match joined {
            Ok((id, r)) => (index_of[&id], r),
            Err(e) => {
                let i = index_of[&e.id()];
                let msg = panic_message(e);
                let mut r = shells[i].clone();
                r.outcome.failure = Some(
                    Failure::new(&RUN_PANIC, Phase::Run, format!("the probe crashed: {msg}"))
                        .hint("this is a bug in portproof: please report it with this message"),
                );
                (i, r)
            }
        };
        on_result(&result);
        slots[i] = Some(result);
    }
    let results = slots.into_iter().zip(shells).map(|(r, shell)| r.unwrap_or(shell)).collect();
    Report::new(title, started_at, started.elapsed(), results)
}

/// One spelling per host for the per-host limits: `PLC`, `plc.` and `plc` are one machine, and
/// so are `::1` and `0:0::1`. Names are not resolved: two names of one address stay two hosts.
fn host_key(host: &str) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let bare = bare.strip_suffix('.').unwrap_or(bare);
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => bare.to_ascii_lowercase(),
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    if e.is_cancelled() {
        return "cancelled".into();
    }
    let p = e.into_panic();
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// The result of a check that never ran: the fallback that keeps "one result per check" true.
fn shell(c: &Check) -> CheckResult {
    CheckResult {
        name: c.name.clone(),
        target: c.target.authority(),
        expect: c.expect.clone(),
        probe: c.probe.name().to_owned(),
        over: c.target.over.to_string(),
        require: c.require,
        optional: c.optional,
        ok: false,
        attempts: 0,
        duration_ms: 0.0,
        planned: c.planned.clone(),
        note: c.note.clone(),
        role: c.role.clone(),
        feature: c.feature.clone(),
        direction: c.direction,
        port_from: c.port_from.clone(),
        closed: c.closed.clone(),
        any_of: c.any_of.clone().map(|group| AnyOfResult { group, host: c.target.host.clone(), passed_by: Vec::new() }),
        outcome: Outcome {
            level: Level::Unreachable,
            identified: None,
            failure: Some(Failure::new(&RUN_INTERRUPTED, Phase::Run, "the run ended before this check started")),
            warnings: Vec::new(),
            phases: Vec::new(),
            facts: Default::default(),
        },
    }
}

struct Limits {
    global: Arc<Semaphore>,
    host: Arc<Semaphore>,
    narrow: Option<Arc<Semaphore>>,
}

async fn run_check(
    check: Check,
    limits: Limits,
    opts: RunOptions,
    cancel: CancellationToken,
    run_start: Instant,
) -> CheckResult {
    let mut result = shell(&check);
    let mut pause = opts.retry_interval.max(Duration::from_secs(1));
    // Time spent probing and pausing between attempts; waiting for a permit is not the
    // check's own time, and counting it would blame a slow host for a busy runner.
    let mut spent = Duration::ZERO;
    loop {
        // Permits are held for one attempt only, never across a pause.
        let permits = tokio::select! {
            p = acquire(&limits) => p,
            _ = cancel.cancelled() => {
                interrupt_between_attempts(&mut result, "waiting for a free connection slot");
                break;
            }
        };
        let attempt_start = Instant::now();
        result.attempts += 1;
        let timeout = check.target.timeout;
        let mut cx = ProbeCx::new(Some(Instant::now() + timeout));
        let finished = {
            let fut = check.probe.probe(&check.target, &mut cx);
            tokio::select! {
                o = tokio::time::timeout(timeout, fut) => Some(o.ok()),
                _ = cancel.cancelled() => None,
            }
        };
        drop(permits);
        let interrupted = finished.is_none();
        result.outcome = match finished {
            Some(Some(outcome)) => outcome,
            Some(None) => cx.timed_out(timeout),
            None => {
                let phase = cx.current_phase();
                cx.finish(Err(Failure::new(
                    &RUN_INTERRUPTED,
                    phase,
                    format!("interrupted during {phase}, before the check finished"),
                )))
            }
        };
        // An interrupted check did not finish: it never counts as passed.
        result.ok = !interrupted
            && match &check.closed {
                Some(why) => {
                    crate::profile::judge_closed(&mut result.outcome, why, check.probe.name(), check.target.over)
                }
                None => result.outcome.passes(check.require),
            };
        spent += attempt_start.elapsed();
        let Some(wait) = opts.wait else { break };
        if result.ok || interrupted || run_start.elapsed() + pause > wait {
            break;
        }
        let pause_start = Instant::now();
        let cancelled = tokio::select! {
            _ = tokio::time::sleep(pause) => false,
            _ = cancel.cancelled() => true,
        };
        spent += pause_start.elapsed();
        if cancelled {
            interrupt_between_attempts(&mut result, "pausing before the next attempt");
            break;
        }
        pause = (pause * 2).min(MAX_RETRY_INTERVAL);
    }
    result.duration_ms = portproof_probes::millis(spent);
    if result.attempts > 1 {
        result.outcome.facts.insert("attempts".into(), result.attempts.into());
    }
    result
}

/// Marks a check cut short between attempts (or before its first), keeping what the last
/// attempt found in the message.
fn interrupt_between_attempts(result: &mut CheckResult, during: &str) {
    let last = match (&result.outcome.failure, result.attempts) {
        (_, 0) => String::new(),
        (Some(f), n) => format!("; attempt {n} ended with {}: {}", f.code, f.message),
        (None, n) => format!("; attempt {n} reached {}", result.outcome.level),
    };
    result.ok = false;
    result.outcome.failure =
        Some(Failure::new(&RUN_INTERRUPTED, Phase::Run, format!("interrupted while {during}{last}")));
}

async fn acquire(l: &Limits) -> Vec<tokio::sync::OwnedSemaphorePermit> {
    let mut held = Vec::with_capacity(3);
    // Narrowest first (host+probe, host, then global), always in this order so two checks can
    // never wait on each other, and so a check queued behind a busy host holds no global slot
    // that a check of another host could use.
    if let Some(n) = &l.narrow {
        held.push(n.clone().acquire_owned().await.expect("semaphore never closed"));
    }
    held.push(l.host.clone().acquire_owned().await.expect("semaphore never closed"));
    held.push(l.global.clone().acquire_owned().await.expect("semaphore never closed"));
    held
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Check;
    use portproof_probes::{Probe, RunFuture, Target};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A probe that records how many run at once, sleeps, then reaches `speaks`.
    struct Sleepy;
    static RUNNING: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);

    impl Probe for Sleepy {
        fn about(&self) -> &'static portproof_probes::About {
            static ABOUT: portproof_probes::About = portproof_probes::About {
                name: "sleepy",
                summary: "test",
                per_host_limit: Some(1),
                per_host_group: Some("drowsy-and-sleepy"),
                ..portproof_probes::About::DEFAULT
            };
            &ABOUT
        }
        fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> RunFuture<'a> {
            Box::pin(async move {
                // Only the host of the limit test counts: other tests run in parallel.
                let counted = t.host.eq_ignore_ascii_case("plc");
                if counted {
                    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
                    PEAK.fetch_max(now, Ordering::SeqCst);
                }
                cx.phase(Phase::Greeting);
                if t.port == 666 {
                    panic!("probe bug on purpose");
                }
                tokio::time::sleep(Duration::from_millis(u64::from(t.port))).await;
                if counted {
                    RUNNING.fetch_sub(1, Ordering::SeqCst);
                }
                cx.reach(Level::Speaks);
                Ok(())
            })
        }
    }

    /// Another protocol in Sleepy's group, as OPC UA is beside Modbus; it states no limit of
    /// its own, so only the group can hold it back.
    struct Drowsy;
    static SLEEPY: Sleepy = Sleepy;

    impl Probe for Drowsy {
        fn about(&self) -> &'static portproof_probes::About {
            static ABOUT: portproof_probes::About = portproof_probes::About {
                name: "drowsy",
                summary: "test",
                per_host_group: Some("drowsy-and-sleepy"),
                ..portproof_probes::About::DEFAULT
            };
            &ABOUT
        }
        fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> RunFuture<'a> {
            SLEEPY.run(t, cx)
        }
    }

    fn check(name: &str, host: &str, port: u16, timeout: Duration) -> Check {
        let mut target = Target::new(host, port);
        target.timeout = timeout;
        Check {
            name: name.into(),
            target,
            probe: &Sleepy,
            expect: "sleepy".into(),
            require: Level::Speaks,
            optional: false,
            planned: None,
            note: None,
            role: None,
            feature: None,
            direction: Direction::Inbound,
            port_from: String::new(),
            closed: None,
            any_of: None,
        }
    }

    #[tokio::test]
    async fn one_result_per_check_in_manifest_order_even_on_timeout_and_panic() {
        let checks = vec![
            // Sleeps 3 s against a 50 ms deadline: far longer than the runtime may stall while
            // the crashing probe's panic prints its backtrace on this single-threaded runtime.
            check("slow", "a", 3000, Duration::from_millis(50)),
            check("fast", "b", 1, Duration::from_secs(5)),
            check("crash", "c", 666, Duration::from_secs(5)),
        ];
        let mut streamed = Vec::new();
        let r = run(checks, &RunOptions::default(), CancellationToken::new(), None, |r| streamed.push(r.name.clone()))
            .await;
        let names: Vec<_> = r.results.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["slow", "fast", "crash"]);
        assert_eq!(streamed.len(), 3);
        let slow = &r.results[0];
        assert_eq!(slow.outcome.failure.as_ref().map(|f| f.code.as_str()), Some("greeting.timeout"), "{slow:?}");
        assert!(!slow.ok);
        assert!(r.results[1].ok);
        let crash = r.results[2].outcome.failure.as_ref().unwrap();
        assert_eq!(crash.code, "run.panic");
        assert!(crash.message.contains("on purpose"));
        assert_eq!((r.summary.ok, r.summary.failed, r.summary.passed), (1, 2, false));
    }

    #[tokio::test]
    async fn per_host_probe_limit_serializes_one_host() {
        // Two protocols of one group on one host, as Modbus and OPC UA on one PLC, with the
        // per-host limit of the runner itself wide open.
        let checks = (0..6)
            .map(|i| {
                let mut c = check(&format!("c{i}"), "PLC", 30, Duration::from_secs(5));
                if i % 2 == 1 {
                    c.probe = &Drowsy;
                    c.target.host = "plc".into();
                }
                c
            })
            .collect();
        let r = run(checks, &RunOptions::default(), CancellationToken::new(), None, |_| {}).await;
        assert!(r.summary.passed);
        assert_eq!(PEAK.load(Ordering::SeqCst), 1, "one connection per host across the group");
    }

    #[test]
    fn one_host_key_per_spelling_of_a_host() {
        for (a, b) in
            [("PLC", "plc"), ("plc.", "plc"), ("0:0::1", "::1"), ("[::1]", "::1"), ("127.0.0.1.", "127.0.0.1")]
        {
            assert_eq!(host_key(a), host_key(b), "{a} and {b}");
        }
        assert_ne!(host_key("plc1"), host_key("plc"));
        assert_ne!(host_key("::1"), host_key("127.0.0.1"), "names and addresses are not resolved");
    }

    #[tokio::test]
    async fn a_busy_host_does_not_hold_global_slots() {
        // Global limit 2, one connection per host: six slow checks on one host must not keep
        // the quick check of another host waiting behind them.
        let opts = RunOptions { concurrency: 2, per_host: 1, ..Default::default() };
        let mut checks: Vec<Check> =
            (0..6).map(|i| check(&format!("busy{i}"), "busy", 400, Duration::from_secs(5))).collect();
        checks.push(check("other", "other", 1, Duration::from_secs(5)));
        let mut order = Vec::new();
        let r = run(checks, &opts, CancellationToken::new(), None, |res| order.push(res.name.clone())).await;
        assert!(r.summary.passed);
        assert!(order.iter().position(|n| n == "other").unwrap() <= 1, "the other host ran at once: {order:?}");
        let other = r.results.iter().find(|c| c.name == "other").unwrap();
        assert!(other.duration_ms < 300.0, "queue time is not the check's time: {} ms", other.duration_ms);
    }

    #[tokio::test]
    async fn cancellation_still_reports_every_check() {
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            c2.cancel();
        });
        let checks = vec![
            check("long", "x", 5000, Duration::from_secs(10)),
            check("queued", "x", 5000, Duration::from_secs(10)),
        ];
        let r = run(checks, &RunOptions::default(), cancel, None, |_| {}).await;
        assert_eq!(r.results.len(), 2);
        for res in &r.results {
            assert_eq!(res.outcome.failure.as_ref().unwrap().code, INTERRUPTED, "{}", res.name);
        }
        assert_eq!(r.results[0].outcome.failure.as_ref().unwrap().phase, Phase::Greeting, "names the phase it was in");
        assert!(r.summary.interrupted && !r.summary.passed);
    }

    #[tokio::test]
    async fn wait_retries_until_the_deadline() {
        let opts = RunOptions { wait: Some(Duration::from_millis(1500)), ..Default::default() };
        let checks = vec![check("never", "y", 2000, Duration::from_millis(20))];
        let r = run(checks, &opts, CancellationToken::new(), None, |_| {}).await;
        assert_eq!(r.results[0].attempts, 2, "1 s pause, then one more attempt fits in 1.5 s");
        assert_eq!(r.results[0].outcome.facts["attempts"], 2);
    }

    #[tokio::test]
    async fn an_any_of_group_is_covered_per_host_by_a_member_that_passed() {
        let failing = |name: &str, host: &str| {
            let mut c = check(name, host, 3000, Duration::from_millis(30));
            c.any_of = Some("web".into());
            c
        };
        let passing = |name: &str, host: &str| {
            let mut c = check(name, host, 1, Duration::from_secs(5));
            c.any_of = Some("web".into());
            c
        };
        // Host a: one member passes, the other is covered. Host b: neither passes.
        let checks =
            vec![passing("http a", "a"), failing("https a", "a"), failing("http b", "b"), failing("https b", "b")];
        let r = run(checks, &RunOptions::default(), CancellationToken::new(), None, |_| {}).await;
        let https_a = &r.results[1];
        assert!(!https_a.ok && https_a.covered() && !https_a.fails_run(), "{https_a:?}");
        assert_eq!(https_a.any_of.as_ref().unwrap().passed_by, ["http a"]);
        assert!(r.results[2].fails_run() && r.results[3].fails_run(), "host b has no member passing");
        assert_eq!((r.summary.failed, r.summary.failed_covered, r.summary.passed), (3, 1, false));
    }

    #[test]
    fn every_code_the_runner_tests_know_is_in_a_table() {
        for c in ["greeting.timeout", "run.panic", INTERRUPTED] {
            assert!(portproof_probes::codes::lookup(c).is_some(), "{c}");
        }
    }
}
