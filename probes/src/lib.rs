//! The probe contract of portproof and one deep probe per protocol.
//!
//! A [`Probe`] goes past the open socket: it proves a port speaks its protocol and, where the
//! protocol has one, that its health check passes. Everything a probe learns is written into
//! its [`ProbeCx`] as it goes, so that a probe cancelled at its deadline still reports the level
//! it reached, the phase it was in and the facts it had gathered (see `../DESIGN.md`).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub mod amqp;
pub mod codes;
pub mod cql;
pub mod files;
pub mod hadoop_ipc;
pub mod hazelcast;
pub mod http;
pub mod ignite;
pub mod ldap;
pub mod modbus;
pub mod mqtt;
pub mod mssql;
pub mod mysql;
pub mod net;
pub mod nettcp;
pub mod ntp;
pub mod opcua;
pub mod options;
pub mod oracle;
pub mod postgres;
pub mod rabbitmq_api;
pub mod rmi;
pub mod sniff;
pub mod tcp;
pub mod thrift;
pub mod tls;
pub mod websocket;
pub mod wire;
pub mod ws_discovery;

mod target;
pub use options::{Flag, FlagKind, Options, Section};
pub use target::{Cleartext, ClientAuth, Login, Over, Secret, Target, TlsOptions};

/// Why bytes could not be read as the protocol a `wire` module parses: the one error of every
/// hand-written parser, a message naming what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

/// `Err(WireError(msg))`, for parsers' early returns.
pub(crate) fn wire_err<T>(msg: impl Into<String>) -> Result<T, WireError> {
    Err(WireError(msg.into()))
}

/// How far a probe got up the result ladder. Ordered: `Unreachable < Open < Speaks < Healthy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// No connection: name resolution failed, refused, no route, connect timeout.
    Unreachable,
    /// Connected, but the expected protocol was not confirmed.
    Open,
    /// The protocol's own handshake confirmed it; the evidence is in `facts`.
    Speaks,
    /// The protocol-level health check passed.
    Healthy,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 4] = [Level::Unreachable, Level::Open, Level::Speaks, Level::Healthy];

    /// The stable lowercase name used in manifests, JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Unreachable => "unreachable",
            Level::Open => "open",
            Level::Speaks => "speaks",
            Level::Healthy => "healthy",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| format!("unknown level {s:?}: expected one of unreachable, open, speaks, healthy"))
    }
}

/// A step of a probe, timed separately and named in failures and timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Turning the host name into addresses.
    Resolve,
    /// The TCP three-way handshake.
    Connect,
    /// The TLS handshake, whether the port starts with TLS or upgrades to it.
    Tls,
    /// Enumerating TLS versions and cipher suites with raw ClientHellos.
    Scan,
    /// Waiting for the server to speak first (banners, server greetings).
    Greeting,
    /// Sending the request and waiting for the head of the answer.
    Request,
    /// Reading the body of the answer.
    Transfer,
    /// Logging in.
    Auth,
    /// Running a query or health call after login.
    Query,
    /// Work of the runner itself, outside any probe (configuration, interruption).
    Run,
}

impl Phase {
    /// Every phase, in the order a probe goes through them.
    pub const ALL: [Phase; 10] = [
        Phase::Resolve,
        Phase::Connect,
        Phase::Tls,
        Phase::Scan,
        Phase::Greeting,
        Phase::Request,
        Phase::Transfer,
        Phase::Auth,
        Phase::Query,
        Phase::Run,
    ];

    /// The stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Resolve => "resolve",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Scan => "scan",
            Phase::Greeting => "greeting",
            Phase::Request => "request",
            Phase::Transfer => "transfer",
            Phase::Auth => "auth",
            Phase::Query => "query",
            Phase::Run => "run",
        }
    }

    /// The prefix of this phase's failure codes: a timeout while connecting is `tcp.timeout`,
    /// while resolving `dns.timeout`, otherwise `<phase>.timeout`.
    pub fn code_prefix(self) -> &'static str {
        match self {
            Phase::Resolve => "dns",
            Phase::Connect => "tcp",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why the next level of the ladder was not reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Failure {
    /// Stable dotted name (`tcp.refused`, `http.unhealthy_state`, ...): safe to match on.
    pub code: String,
    /// The phase the probe was in when it failed.
    pub phase: Phase,
    /// What happened, naming the evidence.
    pub message: String,
    /// What to do about it, when there is something to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The server refused something the check stated (`sslmode: require`, a database, a path's
    /// status, a queue, a service name, a register): the check fails whatever level it
    /// reached, because what a check states is required, not a wish.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stated: bool,
}

impl Failure {
    /// A failure with a code string from outside any table; only [`codes::Code`] calls it.
    pub(crate) fn raw(code: String, phase: Phase, message: String) -> Self {
        Failure { code, phase, message, hint: None, stated: false }
    }

    /// Whether this failure is of `code` (exactly, or one of its family or phases).
    pub fn is(&self, code: &codes::Code) -> bool {
        code.matches(&self.code)
    }

    /// A failure of `code`, with its table's hint when it has one.
    pub fn new(code: impl codes::IntoCode, phase: Phase, message: impl Into<String>) -> Self {
        let (code, hint) = code.into_code();
        Failure { code, phase, message: message.into(), hint: hint.map(str::to_owned), stated: false }
    }

    /// The same failure as the refusal of what the check stated: it fails the check at any
    /// level (see [`Outcome::passes`]).
    pub fn stated(mut self) -> Self {
        self.stated = true;
        self
    }

    /// The same failure, marked stated when `stated` holds (the site knows whether the check
    /// asked for what was refused or the probe chose it by default).
    pub fn stated_if(mut self, stated: bool) -> Self {
        self.stated |= stated;
        self
    }

    /// The same failure with a hint that says what to do.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A configuration problem found before any I/O (bad regex, unreadable CA file, ...).
    pub fn config(message: impl Into<String>) -> Self {
        Failure::new(&codes::core::CONFIG_INVALID, Phase::Run, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Reached the level, but something is wrong (a certificate about to expire, a truncated body).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Warning {
    /// Stable dotted name, like failure codes.
    pub code: String,
    /// What was seen.
    pub message: String,
}

/// How long one phase took.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PhaseTime {
    /// Which phase.
    pub phase: Phase,
    /// Its duration in milliseconds. A phase that repeats (a redirect's second connect) is
    /// listed again rather than summed, so the order of events stays visible.
    pub ms: f64,
}

/// What a probe learned: versions, product names, certificate subjects, endpoints, ...
pub type Facts = BTreeMap<String, serde_json::Value>;

/// The result of one probe of one target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Outcome {
    /// The highest level reached.
    pub level: Level,
    /// The protocol actually heard, when it is not the expected one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identified: Option<String>,
    /// Why the next level was not reached; `None` at `healthy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Problems seen at the level reached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// Per-phase durations, in the order they happened.
    #[serde(default)]
    pub phases: Vec<PhaseTime>,
    /// What the probe learned.
    #[serde(default)]
    pub facts: Facts,
}

impl Outcome {
    /// Whether this outcome passes a check that requires `require`: the level is reached, and
    /// nothing the check stated was refused. The one rule of verdicts: the ladder says how far
    /// the probe got; a stated expectation the server refused fails the check at any level.
    pub fn passes(&self, require: Level) -> bool {
        self.level >= require && !self.failure.as_ref().is_some_and(|f| f.stated)
    }
}

/// Limits that protect portproof from its peers.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most bytes any probe reads from one connection; past it the read fails with
    /// `net::ReadLimitExceeded`. A hostile peer can make us wait, never make us grow.
    pub max_read: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_read: 16 << 20 }
    }
}

/// The probe's context: its phase clock and everything learned so far.
///
/// It lives outside the probe's future, so the runner can still read it after dropping the
/// future at the deadline.
#[derive(Debug)]
pub struct ProbeCx {
    level: Level,
    identified: Option<String>,
    warnings: Vec<Warning>,
    facts: Facts,
    phases: Vec<PhaseTime>,
    current: Option<(Phase, Instant)>,
    last: Phase,
    /// Limits on what may be read from peers.
    pub limits: Limits,
    deadline: Option<Instant>,
    /// What it means if the deadline passes now: set while a probe waits for a datagram, whose
    /// silence is its own code (`ntp.no_response`), not a phase timeout.
    silence: Option<(&'static codes::Code, String)>,
}

impl Default for ProbeCx {
    fn default() -> Self {
        ProbeCx::new(None)
    }
}

impl ProbeCx {
    /// A fresh context; `deadline` lets probes budget optional extra work (a second sniffing
    /// connection) so that it never pushes the verdict past the deadline.
    pub fn new(deadline: Option<Instant>) -> Self {
        ProbeCx {
            level: Level::Unreachable,
            identified: None,
            warnings: Vec::new(),
            facts: Facts::new(),
            phases: Vec::new(),
            current: None,
            last: Phase::Resolve,
            limits: Limits::default(),
            deadline,
            silence: None,
        }
    }

    /// Ends the current phase (if any) and starts `phase`.
    pub fn phase(&mut self, phase: Phase) {
        self.end_phase();
        self.current = Some((phase, Instant::now()));
        self.last = phase;
    }

    /// Ends the current phase, recording its duration.
    pub fn end_phase(&mut self) {
        if let Some((phase, start)) = self.current.take() {
            self.phases.push(PhaseTime { phase, ms: millis(start.elapsed()) });
        }
    }

    /// How long the last finished run of `phase` took, if it ran.
    pub fn phase_time(&self, phase: Phase) -> Option<Duration> {
        self.phases.iter().rev().find(|p| p.phase == phase).map(|p| Duration::from_secs_f64(p.ms / 1e3))
    }

    /// The phase running now, or the last one that ran.
    pub fn current_phase(&self) -> Phase {
        self.current.map(|(p, _)| p).unwrap_or(self.last)
    }

    /// Records that `level` was reached; the level never goes down.
    pub fn reach(&mut self, level: Level) {
        self.level = self.level.max(level);
    }

    /// The highest level reached so far.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Records a fact (later values for the same key replace earlier ones).
    pub fn fact(&mut self, key: &str, value: impl Into<serde_json::Value>) {
        self.facts.insert(key.to_owned(), value.into());
    }

    /// The facts gathered so far.
    pub fn facts(&self) -> &Facts {
        &self.facts
    }

    /// Records a warning.
    pub fn warn(&mut self, code: impl codes::IntoCode, message: impl Into<String>) {
        let w = Warning { code: code.into_code().0, message: message.into() };
        // A login connection meets the certificate the first connection did: one warning.
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// The warnings recorded so far.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Records the protocol actually heard, when it is not the expected one.
    pub fn identify(&mut self, protocol: impl Into<String>) {
        self.identified = Some(protocol.into());
    }

    /// What was identified so far.
    pub fn identified(&self) -> Option<&str> {
        self.identified.as_deref()
    }

    /// Time left before the deadline, if there is one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Turns what was gathered into the outcome; `Err` carries why the next level was not reached.
    pub fn finish(&mut self, result: Result<(), Failure>) -> Outcome {
        self.end_phase();
        Outcome {
            level: self.level,
            identified: self.identified.clone(),
            failure: result.err(),
            warnings: std::mem::take(&mut self.warnings),
            phases: std::mem::take(&mut self.phases),
            facts: std::mem::take(&mut self.facts),
        }
    }

    /// Says that, until [`ProbeCx::answered`], a deadline reached is the peer's silence, reported
    /// as `code` with `waiting_for` ("an NTP reply") in its message. UDP has no connection to
    /// time out: no answer is the verdict itself.
    pub fn await_answer(&mut self, code: &'static codes::Code, waiting_for: impl Into<String>) {
        self.silence = Some((code, waiting_for.into()));
    }

    /// Ends what [`ProbeCx::await_answer`] began.
    pub fn answered(&mut self) {
        self.silence = None;
    }

    /// The failure for silence while [`ProbeCx::await_answer`] holds, if it does.
    pub fn silence_failure(&self, after: Duration) -> Option<Failure> {
        let (code, what) = self.silence.as_ref()?;
        Some(code.failure(self.current_phase(), format!("no answer within {}: waited for {what}", humanize(after))))
    }

    /// The outcome of a probe cut off at its deadline: `<phase>.timeout` for the phase it was in,
    /// or the probe's own code for silence (see [`ProbeCx::await_answer`]).
    pub fn timed_out(&mut self, after: Duration) -> Outcome {
        if let Some(f) = self.silence_failure(after) {
            return self.finish(Err(f));
        }
        let phase = self.current_phase();
        let failure = codes::core::TIMEOUT
            .failure_in(phase, format!("no answer within {} (deadline reached during {phase})", humanize(after)))
            .hint(timeout_hint(phase));
        self.finish(Err(failure))
    }
}

fn timeout_hint(phase: Phase) -> &'static str {
    match phase {
        Phase::Resolve => "the DNS server did not answer in time; check the resolver configuration",
        Phase::Connect => {
            "no answer to the connection attempt: a firewall is probably dropping packets, or the host is down"
        }
        Phase::Tls => "the port accepted the connection but did not complete a TLS handshake; is it a TLS port?",
        Phase::Scan => "the server stopped answering ClientHellos: it may limit connections per client",
        Phase::Greeting => "the port accepted the connection but the service never greeted; is it the right port?",
        Phase::Request | Phase::Transfer => {
            "the service accepted the connection but did not answer in time; it may be overloaded, hung, or a different protocol"
        }
        Phase::Auth | Phase::Query => "the service stalled after the handshake; check its load and logs",
        Phase::Run => "raise --timeout if the service is known to be slow",
    }
}

/// A duration in milliseconds, to the microsecond: finer digits are float noise, not data.
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// `1.5s`, `250ms`: durations the way people write them in manifests.
pub fn humanize(d: Duration) -> String {
    // Whole milliseconds: a measured wait (2.000499s) reads as what was asked for.
    let ms = d.as_millis();
    if ms < 1000 || ms % 1000 != 0 && ms < 10_000 {
        format!("{ms}ms")
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}s", ms as f64 / 1000.0)
    }
}

/// The boxed future every probe returns, so probes can live in one registry.
pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// The boxed future of [`Probe::run`]: why the probe stopped, if it did.
pub type RunFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + 'a>>;

/// The [`Probe::per_host_group`] of the industrial protocols: one connection at a time per
/// host across all of them, as the design's politeness rule asks.
pub const INDUSTRIAL: &str = "industrial";

/// What a probe is, as data: its name, ports, transports, settings and codes. The registry,
/// every command and the generated documentation read it, so a probe states each once, in
/// its own folder (`static ABOUT: About = About { name: "x", ..About::DEFAULT }`).
#[derive(Debug)]
pub struct About {
    /// Stable name used on the command line, in manifests, JSON and metrics.
    pub name: &'static str,
    /// One line for `portproof probes`.
    pub summary: &'static str,
    /// What each level means for this protocol and what else it reports, in Markdown: the
    /// README's probe table is generated from it (`portproof probes --markdown`).
    pub proves: &'static str,
    /// The ports this protocol usually listens on.
    pub default_ports: &'static [u16],
    /// The best level this probe can reach; `tcp` stops at `open`.
    pub best_level: Level,
    /// The transports this probe runs over; the first is its default. A check with another
    /// `over` is refused before any I/O, and the registry's conformance test runs the probe
    /// against hostile peers over each of them.
    pub transports: &'static [Over],
    /// How many connections at once this probe may hold to one host; `None` leaves it to the
    /// runner's per-host limit. Industrial protocols say 1: a PLC may allow only a few.
    pub per_host_limit: Option<usize>,
    /// The probes that share `per_host_limit` on one host: `None` for this probe alone. Modbus
    /// and OPC UA both name [`INDUSTRIAL`], because the PLC that serves both counts their
    /// connections together.
    pub per_host_group: Option<&'static str>,
    /// The probe's manifest section (its settings type, schema and flags), if it takes any.
    pub options: Option<&'static Section>,
    /// Another name that means this probe over TLS (`https` for `http`).
    pub tls_alias: Option<&'static str>,
    /// URL schemes that name this probe on the command line (`http://host/path`).
    pub url_schemes: &'static [UrlScheme],
    /// The libraries under this probe whose logs stay off.
    pub quiet_logs: &'static [Quiet],
    /// The codes this probe's module defines (its `codes!` table), for `portproof codes`.
    pub codes: &'static [&'static codes::Code],
    /// Whether this probe uses `login:` credentials; a login given to any other probe is a
    /// configuration error rather than silently ignored.
    pub logs_in: bool,
    /// Whether this probe reads a check's `tls:` settings when it does not run over TLS: the
    /// `tls` probe (the handshake is the check) and protocols that negotiate TLS inside their
    /// own exchange (PostgreSQL's SSLRequest). For any other probe, `tls:` on a check that is
    /// not over TLS would be ignored, so it is refused as a configuration error.
    pub tls_in_band: bool,
    /// Whether this probe checks what a TLS handshake itself must show (`tls.client_auth`,
    /// `tls.alpn`, `tls.scan`): only the `tls` probe. Elsewhere those settings would be ignored,
    /// a check passing on what it never looked at, so they are refused.
    pub tls_expectations: bool,
    /// Whether `portproof identify` may send this probe's opening to a port of unknown
    /// protocol ([`Identify`]).
    pub identify: Identify,
    /// The probe whose protocol this one is a specialisation of (`http` for the WebSocket
    /// upgrade and RabbitMQ's management API): where that one is identified, `identify` also
    /// tries this one, and names it when it too is proved.
    pub refines: Option<&'static str>,
}

/// Where `portproof identify` may try a probe on a port whose protocol is not known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identify {
    /// On any port: its opening is a harmless question to any server.
    Anywhere,
    /// Only on one of its `default_ports`: industrial protocols, whose request a device of
    /// another protocol (or a PLC behind a gateway) might act on.
    OwnPortOnly,
    /// Never as a candidate: the baselines identify runs itself (`tcp`, `tls`), and probes
    /// over transports it does not scan.
    Never,
}

impl About {
    /// The defaults a probe's `About` starts from: TCP and TLS, best level `healthy`, no
    /// settings, no login.
    pub const DEFAULT: About = About {
        name: "",
        summary: "",
        proves: "",
        default_ports: &[],
        best_level: Level::Healthy,
        transports: &[Over::Tcp, Over::Tls],
        per_host_limit: None,
        per_host_group: None,
        options: None,
        tls_alias: None,
        url_schemes: &[],
        quiet_logs: &[],
        codes: &[],
        logs_in: false,
        tls_in_band: false,
        tls_expectations: false,
        identify: Identify::Anywhere,
        refines: None,
    };
}

/// One protocol's deep check. Unit structs in a registry; per-target settings live in [`Target`].
/// What a probe is lives in its [`About`]; the trait's other methods are its behaviour.
pub trait Probe: Send + Sync + 'static {
    /// What the probe is (see [`About`]).
    fn about(&self) -> &'static About;

    /// Stable name used on the command line, in manifests, JSON and metrics.
    fn name(&self) -> &'static str {
        self.about().name
    }

    /// One line for `portproof probes`.
    fn summary(&self) -> &'static str {
        self.about().summary
    }

    /// The ports this protocol usually listens on.
    fn default_ports(&self) -> &'static [u16] {
        self.about().default_ports
    }

    /// The best level this probe can reach; `tcp` stops at `open`.
    fn best_level(&self) -> Level {
        self.about().best_level
    }

    /// The level a check requires when its manifest does not say. A probe whose target states
    /// explicit health criteria raises it to `healthy`, so that a stated criterion can fail.
    fn default_require(&self, _t: &Target) -> Level {
        Level::Speaks.min(self.best_level())
    }

    /// How many connections at once this probe may hold to one host; `None` leaves it to the
    /// runner's per-host limit. Industrial protocols say 1: a PLC may allow only a few.
    fn per_host_limit(&self) -> Option<usize> {
        self.about().per_host_limit
    }

    /// The probes that share [`Probe::per_host_limit`] on one host: by default each probe
    /// alone. Modbus and OPC UA both name [`INDUSTRIAL`], because the PLC that serves both
    /// counts their connections together.
    fn per_host_group(&self) -> &'static str {
        self.about().per_host_group.unwrap_or(self.about().name)
    }

    /// The transports this probe runs over; the first is its default. A check with another
    /// `over` is refused before any I/O, and the registry's conformance test runs the probe
    /// against hostile peers over each of them.
    fn transports(&self) -> &'static [Over] {
        self.about().transports
    }

    /// The probe's manifest section (its settings type, schema and flags), if it takes any.
    fn options(&self) -> Option<&'static Section> {
        self.about().options
    }

    /// Another name that means this probe over TLS (`https` for `http`).
    fn tls_alias(&self) -> Option<&'static str> {
        self.about().tls_alias
    }

    /// URL schemes that name this probe on the command line (`http://host/path`).
    fn url_schemes(&self) -> &'static [UrlScheme] {
        self.about().url_schemes
    }

    /// The one-line summary of a result: `generic` holds the facts every probe shares (product,
    /// protocol, TLS version, ...); a probe adds its own around them, in the order people look.
    fn key_facts(&self, _facts: &Facts, generic: Vec<String>) -> Vec<String> {
        generic
    }

    /// The libraries under this probe whose logs stay off.
    fn quiet_logs(&self) -> &'static [Quiet] {
        self.about().quiet_logs
    }

    /// The codes this probe's module defines (its `codes!` table), for `portproof codes`.
    fn codes(&self) -> &'static [&'static codes::Code] {
        self.about().codes
    }

    /// Whether this probe uses `login:` credentials; a login given to any other probe is a
    /// configuration error rather than silently ignored.
    fn logs_in(&self) -> bool {
        self.about().logs_in
    }

    /// Whether this probe reads a check's `tls:` settings when it does not run over TLS: the
    /// `tls` probe (the handshake is the check) and protocols that negotiate TLS inside their
    /// own exchange (PostgreSQL's SSLRequest). For any other probe, `tls:` on a check that is
    /// not over TLS would be ignored, so it is refused as a configuration error.
    fn tls_in_band(&self) -> bool {
        self.about().tls_in_band
    }

    /// Checks the target's settings before any I/O.
    fn validate(&self, _t: &Target) -> Result<(), Failure> {
        Ok(())
    }

    /// The probe's work: `Ok` when it reached all it set out to, `Err` with why it stopped. What
    /// it learned along the way is in `cx`. Cancel-safe: the runner drops the future at the
    /// deadline and builds the outcome from `cx` with [`ProbeCx::timed_out`].
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> RunFuture<'a>;

    /// Runs the probe to its outcome: [`Probe::run`], then what `cx` gathered.
    fn probe<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> ProbeFuture<'a> {
        Box::pin(async move {
            let r = self.run(t, &mut *cx).await;
            cx.finish(r)
        })
    }
}

impl fmt::Debug for dyn Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every probe, in the order `portproof probes` lists them.
pub fn registry() -> &'static [&'static dyn Probe] {
    &[
        &tcp::Tcp,
        &tls::probe::Tls,
        &http::Http,
        &amqp::Amqp,
        &mqtt::Mqtt,
        &rabbitmq_api::RabbitmqApi,
        &postgres::Postgres,
        &mysql::Mysql,
        &mssql::Mssql,
        &modbus::Modbus,
        &oracle::Oracle,
        &opcua::Opcua,
        &rmi::Rmi,
        &rmi::Jmx,
        &cql::Cql,
        &hadoop_ipc::HadoopIpc,
        &ignite::Ignite,
        &hazelcast::Hazelcast,
        &ntp::Ntp,
        &nettcp::NetTcp,
        &ws_discovery::WsDiscovery,
        &ldap::Ldap,
        &thrift::Thrift,
        &websocket::Websocket,
    ]
}

/// Sets the baseline probe of a check whose port must be closed to listen patiently (1 s): if
/// something does answer there, a greeting-first service is named by what it says, where the
/// adaptive wait of an ordinary connect check might miss a greeting on a loaded machine.
pub fn listen_patiently(t: &mut Target) {
    t.set_options(tcp::TcpOptions { greeting: Some(std::time::Duration::from_secs(1)) });
}

/// The probe that only connects (and names a service that greets first): what a check that
/// must find its port closed (`expect: closed`) listens with, since it states no protocol.
pub fn baseline() -> &'static dyn Probe {
    &tcp::Tcp
}

/// Looks a probe up by its name.
pub fn find(name: &str) -> Option<&'static dyn Probe> {
    registry().iter().copied().find(|p| p.name() == name)
}

/// A library log target a probe keeps quiet.
#[derive(Clone, Copy, Debug)]
pub enum Quiet {
    /// Never logged, whatever `PORTPROOF_LOG` says (it would print secrets).
    Always(&'static str),
    /// Off unless `PORTPROOF_LOG` contains the second word.
    UnlessNamed(&'static str, &'static str),
}

/// A URL scheme a probe answers to: `portproof check https://gw:8043/StatusPing`.
#[derive(Clone, Copy, Debug)]
pub struct UrlScheme {
    /// The scheme, without `://`.
    pub scheme: &'static str,
    /// The port when the URL names none.
    pub default_port: u16,
    /// Whether the scheme means TLS.
    pub tls: bool,
    /// The key of the probe's section that the URL's path and query set.
    pub path_key: Option<&'static str>,
}

/// Resolves an `expect` name: a probe, and whether the name itself implies TLS.
pub fn resolve_expect(name: &str) -> Option<(&'static dyn Probe, bool)> {
    if let Some(p) = find(name) {
        return Some((p, false));
    }
    registry().iter().copied().find(|p| p.tls_alias() == Some(name)).map(|p| (p, true))
}

/// Every name `expect` accepts, for error messages and the JSON Schema.
pub fn expect_names() -> Vec<&'static str> {
    let mut names: Vec<_> = registry().iter().map(|p| p.name()).collect();
    names.extend(registry().iter().filter_map(|p| p.tls_alias()));
    names
}

/// The probe a URL scheme names, with the scheme's details.
pub fn resolve_scheme(scheme: &str) -> Option<(&'static dyn Probe, UrlScheme)> {
    registry().iter().find_map(|p| p.url_schemes().iter().find(|s| s.scheme == scheme).map(|s| (*p, *s)))
}

/// Every manifest section, by the probe that owns it.
pub fn sections() -> impl Iterator<Item = &'static Section> {
    registry().iter().filter_map(|p| p.options())
}

/// The manifest section called `name`.
pub fn section(name: &str) -> Option<&'static Section> {
    sections().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_round_trip() {
        assert!(Level::Unreachable < Level::Open && Level::Open < Level::Speaks && Level::Speaks < Level::Healthy);
        for l in Level::ALL {
            assert_eq!(l.as_str().parse::<Level>().unwrap(), l);
            assert_eq!(serde_json::to_string(&l).unwrap(), format!("\"{l}\""));
        }
        assert!("up".parse::<Level>().unwrap_err().contains("healthy"));
    }

    #[test]
    fn a_warning_said_twice_is_kept_once() {
        // The login connection of a database probe meets the certificate the first one did.
        let mut cx = ProbeCx::default();
        cx.warn(&crate::tls::codes::CERT_EXPIRING, "the server certificate expires in 9 days");
        cx.warn(&crate::tls::codes::UNVERIFIED, "unknown CA");
        cx.warn(&crate::tls::codes::CERT_EXPIRING, "the server certificate expires in 9 days");
        cx.warn(&crate::tls::codes::CERT_EXPIRING, "the server certificate expires in 8 days");
        let codes: Vec<_> = cx.warnings().iter().map(|w| w.message.as_str()).collect();
        assert_eq!(
            codes,
            ["the server certificate expires in 9 days", "unknown CA", "the server certificate expires in 8 days"]
        );
    }

    #[test]
    fn a_failure_that_fails_the_check_outweighs_the_level() {
        let mut cx = ProbeCx::default();
        cx.reach(Level::Speaks);
        let why = Failure::new(&crate::tls::codes::CERT_EXPIRED, Phase::Tls, "expired");
        let o = cx.finish(Err(why.clone()));
        assert!(o.passes(Level::Speaks) && !o.passes(Level::Healthy), "an ordinary failure only stops the climb");
        let mut cx = ProbeCx::default();
        cx.reach(Level::Speaks);
        let o = cx.finish(Err(why.stated()));
        assert!(!o.passes(Level::Speaks) && !o.passes(Level::Open));
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["failure"]["stated"], true);
        assert_eq!(serde_json::from_value::<Outcome>(json).unwrap(), o);
    }

    #[test]
    fn reach_never_goes_down() {
        let mut cx = ProbeCx::default();
        cx.reach(Level::Speaks);
        cx.reach(Level::Open);
        assert_eq!(cx.level(), Level::Speaks);
    }

    #[test]
    fn timeout_names_the_phase_it_was_in() {
        let mut cx = ProbeCx::default();
        cx.phase(Phase::Connect);
        let o = cx.timed_out(Duration::from_millis(500));
        let f = o.failure.unwrap();
        assert_eq!(f.code, "tcp.timeout");
        assert_eq!(f.phase, Phase::Connect);
        assert!(f.message.contains("500ms"), "{}", f.message);
        assert_eq!(o.phases.len(), 1);

        let mut cx = ProbeCx::default();
        cx.phase(Phase::Connect);
        cx.phase(Phase::Request);
        let o = cx.timed_out(Duration::from_secs(2));
        assert_eq!(o.failure.unwrap().code, "request.timeout");
        assert_eq!(o.phases.iter().map(|p| p.phase).collect::<Vec<_>>(), [Phase::Connect, Phase::Request]);
    }

    #[test]
    fn https_is_http_over_tls() {
        let (p, tls) = resolve_expect("https").unwrap();
        assert_eq!((p.name(), tls), ("http", true));
        let (p, tls) = resolve_expect("tcp").unwrap();
        assert_eq!((p.name(), tls), ("tcp", false));
        assert!(resolve_expect("gopher").is_none());
    }

    #[test]
    fn humanize_reads_like_a_manifest() {
        assert_eq!(humanize(Duration::from_millis(250)), "250ms");
        assert_eq!(humanize(Duration::from_secs(2)), "2s");
        assert_eq!(humanize(Duration::from_millis(1500)), "1500ms");
        assert_eq!(humanize(Duration::from_nanos(2_000_499_840)), "2s", "no nanoseconds");
        assert_eq!(humanize(Duration::from_millis(12_500)), "12.5s");
    }

    #[test]
    fn every_code_the_lib_tests_know_is_in_a_table() {
        for c in ["tls.cert_expiring", "tls.unverified", "tcp.timeout", "request.timeout", "config.invalid"] {
            assert!(codes::lookup(c).is_some(), "{c}");
        }
    }
}
