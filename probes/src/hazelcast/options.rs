//! Settings of the `hazelcast` probe.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{Flag, Section};

/// The cluster name a member accepts when it was not given one.
pub const DEFAULT_CLUSTER: &str = "dev";

/// Settings of the `hazelcast` probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HazelcastOptions {
    /// The cluster name the client authenticates with (default `dev`, Hazelcast's own default).
    /// Stated, a refusal fails the check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Also read the REST health endpoint (`GET /hazelcast/health` on the same port; the
    /// member's REST API must be enabled): `healthy` then needs node and cluster state ACTIVE.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub health: bool,
}

impl HazelcastOptions {
    /// The cluster name offered.
    pub fn cluster(&self) -> &str {
        self.cluster_name.as_deref().unwrap_or(DEFAULT_CLUSTER)
    }
}

/// The `hazelcast` section and its command-line flags.
pub static SECTION: Section = Section::of::<HazelcastOptions>("hazelcast", FLAGS);

const FLAGS: &[Flag] = &[
    Flag::value(
        "hazelcast-cluster",
        "cluster_name",
        "NAME",
        "Hazelcast: the cluster name to authenticate with [default: dev]; a refusal then fails the check",
    ),
    Flag::switch(
        "hazelcast-health",
        "health",
        "Hazelcast: also read the REST health endpoint (/hazelcast/health); healthy then needs node and cluster ACTIVE",
    ),
];
