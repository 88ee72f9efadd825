//! Settings of the `ignite` probe.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{Flag, Section};

/// Which of Ignite's listeners the port is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PortKind {
    /// Find out: a communication port greets first with its node id; otherwise the thin-client
    /// handshake; a port that closes on it is tried as a discovery port.
    #[default]
    Auto,
    /// The thin-client (binary client protocol) port, 10800 by default.
    Thin,
    /// TcpDiscoverySpi's port, 47500 by default.
    Discovery,
    /// TcpCommunicationSpi's port, 47100 by default.
    Communication,
}

/// Settings of the `ignite` probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IgniteOptions {
    /// Which Ignite listener the port is (`thin`, `discovery`, `communication`, or `auto`, the
    /// default). Naming it makes the check fail when the port is another of them.
    #[serde(default)]
    pub port_kind: PortKind,
}

/// The `ignite` section and its command-line flags.
pub static SECTION: Section = Section::of::<IgniteOptions>("ignite", FLAGS);

const FLAGS: &[Flag] = &[Flag::value(
    "ignite-port-kind",
    "port_kind",
    "KIND",
    "Ignite: which listener the port is: thin, discovery, communication or auto [default: auto]",
)
.one_of(&["auto", "thin", "discovery", "communication"])];
