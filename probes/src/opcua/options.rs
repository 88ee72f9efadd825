//! Settings of the `opcua` probe.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{Flag, Section};

/// Settings of the `opcua` probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpcuaOptions {
    /// The endpoint URL named in the Hello and in GetEndpoints: a path (`/discovery`) appended
    /// to `opc.tcp://<host>:<port>`, or a whole `opc.tcp://` URL (servers that check the host
    /// name in it want the name they were configured with). Default `opc.tcp://<host>:<port>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Days before the server certificate's expiry from which it draws `opcua.cert_expiring`;
    /// default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_warning_days: Option<u32>,
    /// After discovery, read `Server_ServerStatus` over an anonymous session on a
    /// SecurityPolicy None endpoint (the only read the probe makes): `healthy` then means the
    /// server state is `Running`, and its BuildInfo names product, manufacturer and version.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_status: bool,
}

/// The `opcua` section and its command-line flags.
pub static SECTION: Section = Section::of::<OpcuaOptions>("opcua", FLAGS);

const FLAGS: &[Flag] = &[
    Flag::value(
        "endpoint-url",
        "endpoint_url",
        "URL",
        "OPC UA: endpoint URL for Hello and GetEndpoints, a path (/discovery) or a whole opc.tcp:// URL [default: opc.tcp://HOST:PORT]",
    ),
    Flag::switch(
        "read-status",
        "read_status",
        "OPC UA: read Server_ServerStatus over an anonymous SecurityPolicy None session; healthy then means Running",
    ),
];
