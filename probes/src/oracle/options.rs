//! Settings of the `oracle` probe.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{Flag, Section};

/// Settings of the `oracle` probe: the service the listener must know (one of the two, not
/// both; without either the probe identifies the listener only), and whether a REDIRECT may
/// take the probe to another host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OracleOptions {
    /// Service name to ask the listener for (SERVICE_NAME in the connect descriptor, as
    /// `host:1521/ORCLPDB1` names it); an ACCEPT makes the check healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// SID to ask for instead (SID in the connect descriptor, the pre-service-name style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Follow a REDIRECT to an address other than the checked host's own (a dispatcher or
    /// another node elsewhere). Off by default: the listener chooses the address, so following
    /// it would let whoever answers on the port point the probe at any host. Even with this on,
    /// the probe never follows to loopback, unspecified, link-local, multicast or broadcast
    /// addresses unless the checked host is one of the same kind.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub follow_redirects: bool,
}

/// The `oracle` section and its command-line flags.
pub static SECTION: Section = Section::of::<OracleOptions>("oracle", FLAGS);

const FLAGS: &[Flag] = &[
    Flag::value(
        "service-name",
        "service_name",
        "NAME",
        "Oracle: the service name the listener must know (an ACCEPT is healthy)",
    ),
    Flag::value("sid", "sid", "SID", "Oracle: the SID the listener must know, instead of a service name"),
    Flag::switch(
        "follow-redirects",
        "follow_redirects",
        "Oracle: follow a REDIRECT to another host than the checked one (loopback, link-local and other special addresses never are)",
    ),
];
