//! Settings of the `amqp` probe.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{Flag, Section};

/// Settings of the `amqp` probe (AMQP 0-9-1: RabbitMQ and its peers).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmqpOptions {
    /// Virtual host opened after login; default `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,
    /// A queue that must exist (checked with a passive declare, which never creates it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

impl AmqpOptions {
    /// The virtual host to open.
    pub fn vhost(&self) -> &str {
        self.vhost.as_deref().unwrap_or("/")
    }
}

/// The `amqp` section and its command-line flags.
pub static SECTION: Section = Section::of::<AmqpOptions>("amqp", FLAGS);

const FLAGS: &[Flag] = &[
    Flag::value("vhost", "vhost", "VHOST", "AMQP: virtual host to open after login [default: /]"),
    Flag::value("queue", "queue", "QUEUE", "AMQP: queue that must exist (passive declare; needs --user)"),
];
