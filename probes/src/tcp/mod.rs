//! `tcp`: connect only. Level `open` is its best; it is the baseline every other probe beats.
//!
//! After connecting it listens briefly, because a port that speaks first (SSH, MySQL, SMTP)
//! names itself for free: that goes into `identified` and the `banner` fact. The wait adapts
//! to the connection's own round trip (`options.rs`): a fixed wait would cap a large run at a
//! few hundred checks a second, all spent listening to ports that never speak first.

pub mod options;
pub use options::*;

use std::time::Instant;

use crate::net::{dial, read_available};
use crate::{Failure, Level, Over, Phase, Probe, ProbeCx, Target, sniff};

/// The `tcp` probe.
#[derive(Debug, Clone, Copy)]
pub struct Tcp;

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "tcp",
    summary: "connects only (best level: open); names a service that greets first",
    proves: "connect only (best level `open`); names a service that greets first (SSH, MySQL, SMTP, ...)",
    default_ports: &[],
    best_level: Level::Open,
    transports: &[Over::Tcp],
    options: Some(&SECTION),
    identify: crate::Identify::Never,
    ..crate::About::DEFAULT
};

impl Probe for Tcp {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    fn validate(&self, t: &Target) -> Result<(), Failure> {
        if t.over == Over::Tls {
            return Err(Failure::config(
                "expect: tcp connects only and cannot run over tls; name the protocol inside TLS (expect: https)",
            ));
        }
        Ok(())
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(run(t, cx))
    }
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let started = Instant::now();
    let mut conn = dial(cx, &t.host, t.port).await?;
    let opts = t.options_or_default::<TcpOptions>();
    let wait = opts.greeting_wait(started.elapsed());
    // The verdict (`open`) is already earned: a wait must not turn into a timeout. A stated one
    // is kept up to nine tenths of what is left; the adaptive one never takes more than a
    // quarter.
    let share = |r: std::time::Duration| if opts.greeting.is_some() { r - r / 10 } else { r / 4 };
    let wait = cx.remaining().map_or(wait, |r| wait.min(share(r)));
    if wait.is_zero() {
        return Ok(());
    }
    cx.phase(Phase::Greeting);
    // A patient wait is for the first bytes only: once the greeting has begun, the rest of it
    // follows within the adaptive wait, and a `--greeting 10s` must not hold every banner 10 s.
    let mut greeting = read_available(&mut conn, 1, wait).await;
    if !greeting.is_empty() {
        let rest = wait.min(MIN_ADAPTIVE_WAIT * 10);
        greeting.extend(read_available(&mut conn, 511, rest).await);
    }
    cx.end_phase();
    if !greeting.is_empty() {
        cx.fact("banner", sniff::describe(&greeting));
        if let Some(heard) = sniff::identify(&greeting) {
            cx.identify(heard.protocol);
            cx.fact("banner", heard.detail);
        }
    }
    Ok(())
}
