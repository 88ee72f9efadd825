//! Settings of the `mqtt` probe.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{Flag, Section};

/// An MQTT protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MqttVersion {
    /// MQTT 3.1.1 (protocol level 4).
    #[serde(rename = "3.1.1", alias = "4")]
    V311,
    /// MQTT 5.0 (protocol level 5).
    #[serde(rename = "5", alias = "5.0")]
    V5,
}

impl fmt::Display for MqttVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            MqttVersion::V311 => "3.1.1",
            MqttVersion::V5 => "5",
        })
    }
}

impl std::str::FromStr for MqttVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "5" | "5.0" => Ok(MqttVersion::V5),
            "3.1.1" | "4" => Ok(MqttVersion::V311),
            other => Err(format!("unknown MQTT version {other:?}: expected 5 or 3.1.1")),
        }
    }
}

/// Settings of the `mqtt` probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MqttOptions {
    /// Speak only this version; by default MQTT 5 first, then 3.1.1 when the broker refuses 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<MqttVersion>,
    /// After CONNACK, subscribe to a probe topic, publish to it and require the message back
    /// (healthy means the broker routes messages, not only accepts logins).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub roundtrip: bool,
    /// Topic of the round trip; default `portproof/probe/<client id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

/// The `mqtt` section and its command-line flags.
pub static SECTION: Section = Section::of::<MqttOptions>("mqtt", FLAGS);

const FLAGS: &[Flag] = &[
    Flag::value(
        "mqtt-version",
        "version",
        "VERSION",
        "MQTT: version to speak, 5 or 3.1.1 [default: 5, then 3.1.1 if refused]",
    ),
    Flag::switch("roundtrip", "roundtrip", "MQTT: publish to a probe topic and require the message back"),
    Flag::value("topic", "topic", "TOPIC", "MQTT: topic of the round trip [default: portproof/probe/<client id>]"),
];
