//! `portproof identify`: which protocol a port speaks, proved by the registry's own probes.
//!
//! Where nmap's `-sV` matches answers against signatures, identify asks each candidate probe
//! to do what it does in a check: a protocol is named only when its probe reached `speaks`, on
//! the same evidence a check needs. The order is what keeps it quick and harmless:
//!
//! 1. listen (greeting-first services name themselves, and nothing is sent);
//! 2. if the port was silent, a TLS handshake (verification not judged: identification only);
//! 3. the candidates, over TLS when the handshake completed: first the probes whose default
//!    ports hold this port (the most specific: `rabbitmq-api` on 15672 before the `http` the
//!    sniffer heard), then the probe the sniffer heard, then the web probes (most
//!    unknown ports are HTTP), then the rest of the registry. A candidate that hears another
//!    protocol moves that one's probe to the front.
//!
//! When a probe wins, the probes that refine it (`About::refines`: the WebSocket upgrade and
//! RabbitMQ's management API refine HTTP) are tried too, and one that is proved is the name.
//!
//! A probe marked [`Identify::OwnPortOnly`] (industrial protocols: a device might act on a
//! request of another protocol) is tried only on its own ports, and [`Identify::Never`] not at
//! all. Candidates run one at a time: a single-threaded server sees one question at a time.

use std::time::{Duration, Instant};

use portproof_probes::{Identify, Level, Over, Probe};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::cli::{UsageError, emit};
use crate::manifest::{Manifest, Overrides, check_host, parse_duration, plan};
use crate::runner::{self, CheckResult, RunOptions};

/// How identify spends its time on one port.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// How long to listen for a greeting before sending anything.
    pub listen: Duration,
    /// The deadline of each candidate probe.
    pub per_try: Duration,
    /// The most time spent on the port in all; candidates left when it runs out are not tried.
    pub total: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { listen: Duration::from_millis(500), per_try: Duration::from_secs(2), total: Duration::from_secs(30) }
    }
}

/// `portproof identify`.
#[derive(Debug, clap::Args)]
pub struct IdentifyArgs {
    /// HOST:PORT[,PORT...] ([v6]:PORT,PORT for IPv6).
    pub target: String,
    /// How long to listen for a greeting before sending anything: greeting-first servers
    /// (SSH, MySQL, SMTP, FTP) speak within a round trip; raise it for a slow link.
    #[arg(long, value_parser = parse_duration, default_value = "500ms")]
    pub listen: Duration,
    /// The deadline of each probe tried.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub per_try: Duration,
    /// The most time spent on one port in all.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,
    /// Output: table (for people) or json.
    #[arg(long, short = 'f', value_enum, default_value_t = IdentifyFormat::Table)]
    pub format: IdentifyFormat,
}

/// The outputs of `identify`: it reports findings, not check results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum IdentifyFormat {
    /// A line a port, with what was tried.
    Table,
    /// A JSON array of findings.
    Json,
}

/// Splits `HOST:PORT[,PORT...]`.
pub fn parse_ports(s: &str) -> Result<(String, Vec<u16>), UsageError> {
    let bad = || UsageError(format!("{s:?} is not HOST:PORT[,PORT...] ([v6]:PORT,PORT for IPv6)"));
    let (host, ports) = match s.strip_prefix('[') {
        Some(rest) => rest.split_once("]:").ok_or_else(bad)?,
        None => s.rsplit_once(':').filter(|(h, _)| !h.contains(':')).ok_or_else(bad)?,
    };
    check_host(host).map_err(|e| UsageError(format!("{s:?}: {e}")))?;
    let mut out = Vec::new();
    for p in ports.split(',') {
        let port = p.trim().parse::<u16>().ok().filter(|p| *p != 0);
        let port = port.ok_or_else(|| UsageError(format!("{s:?}: {p:?} is not a port (1-65535)")))?;
        if !out.contains(&port) {
            out.push(port);
        }
    }
    Ok((host.to_owned(), out))
}

/// Runs `portproof identify`; exit 1 unless every port's protocol was proved.
pub async fn command(a: IdentifyArgs) -> Result<u8, UsageError> {
    let (host, ports) = parse_ports(&a.target)?;
    if a.per_try.is_zero() || a.timeout.is_zero() {
        return Err(UsageError("--per-try and --timeout must be more than 0s".into()));
    }
    let budget = Budget { listen: a.listen, per_try: a.per_try, total: a.timeout };
    let findings = identify_all(&host, &ports, budget).await;
    match a.format {
        IdentifyFormat::Table => emit(&render_table(&findings)),
        IdentifyFormat::Json => emit(&(serde_json::to_string_pretty(&findings).expect("findings serialize") + "\n")),
    }
    Ok(if findings.iter().all(|f| f.protocol.is_some()) { 0 } else { 1 })
}

/// The `--expect` for `check HOST:PORT` given without one (within `timeout`, the check's
/// `--timeout`, when given): what identify proves the port speaks,
/// and whether it runs over TLS without a TLS name of its own. A port that does not answer is
/// checked as `tcp`, so the report says why; an open port whose protocol no probe proves is an
/// error that says what was tried and heard, since only the user can say what it should speak.
pub async fn for_check(host: &str, port: u16, timeout: Option<Duration>) -> Result<(String, bool), UsageError> {
    // The check's own deadline bounds the identification as well (and each try within it).
    let budget = match timeout {
        Some(t) => Budget { total: t, per_try: Budget::default().per_try.min(t), ..Budget::default() },
        None => Budget::default(),
    };
    let f = identify(host, port, budget).await;
    let tried = || f.tried.iter().map(|t| t.expect.as_str()).collect::<Vec<_>>().join(", ");
    match (&f.protocol, &f.suggest) {
        (Some(p), Some(s)) => {
            eprintln!(
                "portproof: {} speaks {p} (identified in {}; tried {}): checking it as {s}",
                f.target,
                portproof_probes::humanize(Duration::from_secs_f64(f.ms / 1000.0)),
                tried()
            );
            Ok((p.clone(), s.contains("over: tls")))
        }
        _ if f.level < Level::Open => Ok(("tcp".to_owned(), false)),
        _ => Err(UsageError(format!(
            "no --expect given, and no probe proved what {} speaks (tried {}{}): say which protocol it must speak with --expect PROTO",
            f.target,
            tried(),
            f.heard.as_ref().map(|h| format!("; it sounds like {h}")).unwrap_or_default()
        ))),
    }
}

/// One probe identify ran, and how far it got.
#[derive(Clone, Debug, Serialize)]
pub struct Tried {
    /// The `expect` it ran as (`https` for `http` over TLS).
    pub expect: String,
    /// The level it reached.
    pub level: Level,
    /// Its failure code, if it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What its answer sounded like, when the sniffer named it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heard: Option<String>,
    /// Its duration.
    pub ms: f64,
}

/// What identify found on one port.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// `host:port`.
    pub target: String,
    /// The `expect` that reached `speaks` (or better): the port's protocol, proved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// The best level any probe reached: `unreachable` when nothing listens, `open` when the
    /// port is open but no probe proved its protocol.
    pub level: Level,
    /// What the sniffer heard when no probe proved a protocol (`ssh`, `redis`): a suggestion,
    /// not a proof.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heard: Option<String>,
    /// Whether the port completed a TLS handshake.
    pub tls: bool,
    /// The evidence, as the winning probe's key facts (product, version, ...).
    pub evidence: Vec<String>,
    /// What to write in a manifest to check this port (`expect: https`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggest: Option<String>,
    /// Every probe run, in order.
    pub tried: Vec<Tried>,
    /// The winning probe's whole result, for `check` without `--expect` and `--format json`.
    #[serde(skip)]
    pub result: Option<CheckResult>,
    /// Time spent on the port.
    pub ms: f64,
}

/// Runs one probe as a one-check manifest, so that it is planned and validated exactly as a
/// check of it would be. `None` when the probe cannot be planned this way (it needs settings
/// identify does not have): such a candidate is skipped.
async fn try_probe(host: &str, port: u16, expect: &str, section: &str, per_try: Duration) -> Option<CheckResult> {
    let quoted = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let yaml = format!(
        "checks:\n  - name: identify\n    host: {}\n    port: {port}\n    expect: {}\n{section}",
        quoted(host),
        quoted(expect)
    );
    let origin = "<identify>";
    let m = Manifest::parse(&yaml, origin).ok()?;
    let o = Overrides { timeout: Some(per_try), ..Overrides::default() };
    let checks = plan(&m, &yaml, origin, &o).ok()?;
    let opts = RunOptions { concurrency: 1, per_host: 1, ..RunOptions::default() };
    let report = runner::run(checks, &opts, CancellationToken::new(), None, |_| {}).await;
    report.results.into_iter().next()
}

/// The candidates in the order they are tried, for a port that did (`tls`) or did not
/// complete a TLS handshake, with the sniffer's guess first.
fn candidates(port: u16, tls: bool, heard: Option<&str>) -> Vec<&'static dyn Probe> {
    let over = if tls { Over::Tls } else { Over::Tcp };
    let allowed = |p: &&'static dyn Probe| {
        let a = p.about();
        a.transports.contains(&over)
            && match a.identify {
                Identify::Anywhere => true,
                Identify::OwnPortOnly => a.default_ports.contains(&port),
                Identify::Never => false,
            }
    };
    let mut all: Vec<&'static dyn Probe> = portproof_probes::registry().iter().copied().filter(allowed).collect();
    // Stable: within a rank, registry order.
    all.sort_by_key(|p| {
        let a = p.about();
        if a.default_ports.contains(&port) {
            0
        } else if heard == Some(a.name) {
            1
        } else if !a.url_schemes.is_empty() {
            2
        } else {
            3
        }
    });
    all
}

/// The probes that refine `name` (`About::refines`) and may be tried here.
fn refinements(name: &str, port: u16, tls: bool) -> Vec<&'static dyn Probe> {
    candidates(port, tls, None).into_iter().filter(|p| p.about().refines == Some(name)).collect()
}

/// Records `r` of the probe asked as `expect` as the finding's answer.
fn won(f: &mut Finding, expect: &str, section: &str, r: CheckResult) {
    f.level = f.level.max(r.outcome.level);
    f.protocol = Some(expect.to_owned());
    f.evidence = crate::report::key_facts(&r);
    f.suggest = Some(format!("expect: {expect}{}", if section.contains("over: tls") { ", over: tls" } else { "" }));
    f.result = Some(r);
}

/// How a candidate is asked for over `tls`: its TLS name, or its name with `over: tls`; and the
/// manifest lines that go with it (identification does not judge the certificate).
fn ask(p: &dyn Probe, tls: bool) -> (String, &'static str) {
    match (tls, p.tls_alias()) {
        (false, _) => (p.name().to_owned(), ""),
        (true, Some(alias)) => (alias.to_owned(), "    tls: { insecure: true }\n"),
        (true, None) => (p.name().to_owned(), "    over: tls\n    tls: { insecure: true }\n"),
    }
}

fn tried(expect: &str, r: &CheckResult) -> Tried {
    Tried {
        expect: expect.to_owned(),
        level: r.outcome.level,
        code: r.outcome.failure.as_ref().map(|f| f.code.clone()),
        heard: r.outcome.identified.clone(),
        ms: r.duration_ms,
    }
}

/// Identifies the protocol on `host:port`.
pub async fn identify(host: &str, port: u16, budget: Budget) -> Finding {
    let started = Instant::now();
    let target = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let mut f = Finding {
        target,
        protocol: None,
        level: Level::Unreachable,
        heard: None,
        tls: false,
        evidence: Vec::new(),
        suggest: None,
        tried: Vec::new(),
        result: None,
        ms: 0.0,
    };
    // Every step is cut to what is left of the port's total, the first ones included.
    let left = |started: Instant| budget.total.saturating_sub(started.elapsed());
    let listen_for = budget.listen.min(budget.total / 2);
    let listen = format!("    tcp: {{ greeting: {}ms }}\n", listen_for.as_millis());
    // The listen is a quarter of the check's deadline at most (the tcp probe leaves the rest
    // unspent), so the deadline is four times it, within the total.
    let deadline = (listen_for * 4).max(budget.per_try).min(budget.total);
    if let Some(r) = try_probe(host, port, "tcp", &listen, deadline).await {
        f.tried.push(tried("tcp", &r));
        f.level = r.outcome.level;
        f.heard = r.outcome.identified.clone();
        if f.level < Level::Open {
            f.ms = portproof_probes::millis(started.elapsed());
            return f;
        }
    }
    if f.heard.is_none() {
        let tls_check = "    tls: { insecure: true }\n";
        let remaining = left(started);
        if remaining < Duration::from_millis(100) {
            f.ms = portproof_probes::millis(started.elapsed());
            return f;
        }
        if let Some(r) = try_probe(host, port, "tls", tls_check, budget.per_try.min(remaining)).await {
            f.tried.push(tried("tls", &r));
            f.tls = r.outcome.level >= Level::Speaks;
            if f.tls {
                f.evidence = crate::report::key_facts(&r);
            }
            // A plain server that answered the ClientHello in its own words (an HTTP 400).
            f.heard = f.heard.take().or(r.outcome.identified.clone().filter(|h| h != "tls"));
        }
    }
    let mut queue = candidates(port, f.tls, f.heard.as_deref());
    let mut asked = std::collections::HashSet::new();
    while let Some(p) = (!queue.is_empty()).then(|| queue.remove(0)) {
        let left = budget.total.saturating_sub(started.elapsed());
        if left < Duration::from_millis(100) {
            break;
        }
        if !asked.insert(p.name()) {
            continue;
        }
        let (expect, section) = ask(p, f.tls);
        let Some(r) = try_probe(host, port, &expect, section, budget.per_try.min(left)).await else { continue };
        f.tried.push(tried(&expect, &r));
        if r.outcome.level >= Level::Speaks {
            f.heard = None;
            won(&mut f, &expect, section, r);
            // A more specific protocol on top of this one (a WebSocket upgrade over HTTP): when
            // its probe is proved too, it is the better name.
            for refined in refinements(p.name(), port, f.tls) {
                if !asked.insert(refined.name()) {
                    continue;
                }
                let left = budget.total.saturating_sub(started.elapsed());
                if left < Duration::from_millis(100) {
                    break;
                }
                let (expect, section) = ask(refined, f.tls);
                let Some(r) = try_probe(host, port, &expect, section, budget.per_try.min(left)).await else { continue };
                f.tried.push(tried(&expect, &r));
                if r.outcome.level >= Level::Speaks {
                    f.level = Level::Open;
                    won(&mut f, &expect, section, r);
                    break;
                }
            }
            break;
        }
        // What this candidate heard instead goes next, if a probe speaks it.
        if let Some(h) = r.outcome.identified.as_deref()
            && let Some(i) = queue.iter().position(|q| q.name() == h)
        {
            let next = queue.remove(i);
            queue.insert(0, next);
        }
    }
    if f.protocol.is_none() && f.tls {
        // TLS proved, nothing inside it: the handshake is what the port is known to speak.
        f.protocol = Some("tls".into());
        f.level = f.level.max(Level::Speaks);
        f.suggest = Some("expect: tls".into());
    }
    f.ms = portproof_probes::millis(started.elapsed());
    f
}

/// Identifies every port of `host` at once (each port's candidates one after another).
pub async fn identify_all(host: &str, ports: &[u16], budget: Budget) -> Vec<Finding> {
    let mut set = tokio::task::JoinSet::new();
    for (i, &port) in ports.iter().enumerate() {
        let host = host.to_owned();
        set.spawn(async move { (i, identify(&host, port, budget).await) });
    }
    let mut out: Vec<Option<Finding>> = vec![None; ports.len()];
    while let Some(done) = set.join_next().await {
        if let Ok((i, f)) = done {
            out[i] = Some(f);
        }
    }
    out.into_iter().flatten().collect()
}

/// The findings for a person: one line a port, and what was tried.
pub fn render_table(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let what = match (&f.protocol, &f.heard) {
            (Some(p), _) => format!("✔ {p} ({})", f.level),
            (None, Some(h)) => format!("? sounds like {h}, no probe proved it ({})", f.level),
            (None, None) if f.level == Level::Unreachable => format!("✘ {}", f.level),
            (None, None) => format!("? unknown ({})", f.level),
        };
        out.push_str(&format!("{}  {what}", f.target));
        if !f.evidence.is_empty() {
            out.push_str(&format!("  {}", f.evidence.join(", ")));
        }
        out.push_str(&format!("  [{}]\n", portproof_probes::humanize(Duration::from_secs_f64(f.ms / 1000.0))));
        if let Some(s) = &f.suggest {
            out.push_str(&format!("    check it with: {s}\n"));
        }
        let tried: Vec<String> = f
            .tried
            .iter()
            .map(|t| match &t.code {
                Some(c) => format!("{} {} ({c})", t.expect, t.level),
                None => format!("{} {}", t.expect, t.level),
            })
            .collect();
        out.push_str(&format!("    tried: {}\n", tried.join(" · ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_keep_industrial_probes_to_their_own_ports() {
        let names = |port, tls| candidates(port, tls, None).iter().map(|p| p.name()).collect::<Vec<_>>();
        for p in portproof_probes::registry() {
            let a = p.about();
            if a.identify == Identify::OwnPortOnly {
                assert!(!names(39999, false).contains(&a.name), "{} is not tried on a foreign port", a.name);
                let own = a.default_ports[0];
                assert!(names(own, false).contains(&a.name), "{} is tried on its port {own}", a.name);
            }
            if a.identify == Identify::Never {
                assert!(!names(39999, false).contains(&a.name) && !names(39999, true).contains(&a.name));
            }
        }
    }

    #[test]
    fn the_port_owners_go_first_then_the_heard_protocol_then_the_web() {
        let some = portproof_probes::registry().iter().find(|p| p.about().identify == Identify::Anywhere).unwrap();
        let first = candidates(39999, false, Some(some.name()))[0];
        assert_eq!(first.name(), some.name());
        let owner = portproof_probes::registry()
            .iter()
            .find(|p| p.about().identify == Identify::Anywhere && !p.about().default_ports.is_empty())
            .unwrap();
        let port = owner.about().default_ports[0];
        assert!(candidates(port, false, None)[0].about().default_ports.contains(&port));
        let web = candidates(39999, false, None);
        assert!(!web[0].about().url_schemes.is_empty(), "on an unknown port the web probes come first");
    }
}
