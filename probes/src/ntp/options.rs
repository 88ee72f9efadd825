//! Settings of the `ntp` probe.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{Flag, Section};

/// The largest clock offset `healthy` allows when the check states none: viewers and other
/// clients take their time from the server, and a second off is already visible to people.
pub const DEFAULT_MAX_OFFSET: Duration = Duration::from_secs(1);

/// Settings of the `ntp` probe. It sends one client request (mode 3) and, unless told not to,
/// one RFC 9327 READVAR (mode 6); never mode 7.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NtpOptions {
    /// The largest offset between the server's clock and this machine's that `healthy` allows
    /// (`250ms`, `2s`; default 1s). Stating it makes the check require `healthy`.
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub max_offset: Option<Duration>,
    /// Whether to ask the server for its implementation and version with an RFC 9327 mode-6
    /// READVAR (default true; ntpd and ntpsec answer, chrony ignores it). Its answer only adds
    /// facts and waits briefly beyond the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readvar: Option<bool>,
}

impl NtpOptions {
    /// The offset `healthy` allows.
    pub fn max_offset(&self) -> Duration {
        self.max_offset.unwrap_or(DEFAULT_MAX_OFFSET)
    }
    /// Whether the READVAR is sent.
    pub fn readvar(&self) -> bool {
        self.readvar.unwrap_or(true)
    }
}

/// The `ntp` section and its command-line flags.
pub static SECTION: Section = Section::of::<NtpOptions>("ntp", FLAGS);

const FLAGS: &[Flag] = &[Flag::value(
    "max-offset",
    "max_offset",
    "DURATION",
    "NTP: largest clock offset from this machine that is healthy [default: 1s]; makes the check require healthy",
)];
