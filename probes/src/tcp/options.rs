//! Settings of the `tcp` probe.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{Flag, Section};

/// The longest the adaptive greeting wait listens: a server that speaks first does so within a
/// round trip of the connection; one that has said nothing by then is not going to.
pub const MAX_ADAPTIVE_WAIT: Duration = Duration::from_millis(150);
/// The shortest: on loopback a connect takes microseconds, but the server still needs to be
/// scheduled (and OpenSSH to start its session process) before its banner leaves.
pub const MIN_ADAPTIVE_WAIT: Duration = Duration::from_millis(3);

/// Settings of the `tcp` probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpOptions {
    /// How long to listen for a greeting after connecting (`0s` not at all, `2s` for a slow
    /// banner). Unset, the wait adapts to the connection: twice the connect time plus 3 ms, at
    /// most 150 ms, so a check of a silent port on loopback costs milliseconds, not a fixed
    /// 150 ms. The level is `open` either way; the greeting only names the service.
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub greeting: Option<Duration>,
}

impl TcpOptions {
    /// The wait after a connection that took `connect`: the stated one, or the adaptive one.
    pub fn greeting_wait(&self, connect: Duration) -> Duration {
        self.greeting.unwrap_or_else(|| (connect * 2 + MIN_ADAPTIVE_WAIT).min(MAX_ADAPTIVE_WAIT))
    }
}

/// The `tcp` section and its command-line flags.
pub static SECTION: Section = Section::of::<TcpOptions>("tcp", FLAGS);

const FLAGS: &[Flag] = &[Flag::value(
    "greeting",
    "greeting",
    "DURATION",
    "TCP: how long to listen for a greeting after connecting [default: twice the connect time + 3ms, at most 150ms; 0s: not at all]",
)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_greeting_wait_follows_the_connection_unless_stated() {
        let adaptive = TcpOptions::default();
        assert_eq!(adaptive.greeting_wait(Duration::from_micros(50)), Duration::from_micros(3100));
        assert_eq!(adaptive.greeting_wait(Duration::from_millis(20)), Duration::from_millis(43));
        assert_eq!(adaptive.greeting_wait(Duration::from_secs(1)), MAX_ADAPTIVE_WAIT);
        let stated = TcpOptions { greeting: Some(Duration::from_secs(2)) };
        assert_eq!(stated.greeting_wait(Duration::from_micros(50)), Duration::from_secs(2));
        let off = TcpOptions { greeting: Some(Duration::ZERO) };
        assert_eq!(off.greeting_wait(Duration::from_secs(1)), Duration::ZERO);
    }
}
