//! `tcp`: connect only. Level `open` is its best; it is the baseline every other probe beats.
//!
//! After connecting it listens briefly, because a port that speaks first (SSH, MySQL, SMTP)
//! names itself for free: that goes into `identified` and the `banner` fact.

use std::time::Duration;

use crate::net::{dial, read_available};
use crate::{Failure, Level, Over, Phase, Probe, ProbeCx, Target, sniff};

/// How long `tcp` waits for a greeting after connecting. Servers that speak first do so at
/// once; waiting longer would only slow every check of a silent port.
const GREETING_WAIT: Duration = Duration::from_millis(150);

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
    let mut conn = dial(cx, &t.host, t.port).await?;
    let wait = cx.remaining().map_or(GREETING_WAIT, |r| GREETING_WAIT.min(r / 4));
    cx.phase(Phase::Greeting);
    let greeting = read_available(&mut conn, 512, wait).await;
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
