//! Settings of the `mssql` probe.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{Flag, Section};

/// How the `mssql` probe asks for encryption, named as Microsoft's drivers name it (`Encrypt=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MssqlEncrypt {
    /// No TLS at all (ENCRYPT_NOT_SUP): the only mode in which a password may cross without TLS.
    Disable,
    /// TLS for the login at least, the whole session if the server forces it (the default;
    /// drivers' `Encrypt=Optional`/`false`).
    Optional,
    /// TLS for the whole session, failing when the server has none (`Encrypt=Mandatory`/`true`).
    Mandatory,
    /// TDS 8.0: TLS before any TDS, ALPN `tds/8.0` (`Encrypt=Strict`, SQL Server 2022).
    Strict,
}

/// Settings of the `mssql` probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MssqlOptions {
    /// Named instance the port should belong to (PRELOGIN says whether it does); default: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Database opened by the login; default: the login's default database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Encryption: `optional` (default), `mandatory`, `strict` or `disable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypt: Option<MssqlEncrypt>,
    /// Also ask the SQL Server Browser (UDP 1434) for the host's instances and their ports.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub browser: bool,
    /// The Browser's UDP port, where a NAT or firewall maps it elsewhere; default 1434.
    /// Non-zero: ports are 1..65535, and 0 would ask the system for any port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser_port: Option<std::num::NonZeroU16>,
}

/// The `mssql` section and its command-line flags.
pub static SECTION: Section = Section::of::<MssqlOptions>("mssql", FLAGS);

const FLAGS: &[Flag] = &[
    Flag::value("instance", "instance", "NAME", "MS SQL: named instance the port must belong to"),
    crate::tls::sslmode::DATABASE_FLAG,
    Flag::value(
        "encrypt",
        "encrypt",
        "MODE",
        "MS SQL: encryption, optional, mandatory, strict (TDS 8.0) or disable [default: optional]",
    )
    .one_of(&["disable", "optional", "mandatory", "strict"]),
    Flag::switch("browser", "browser", "MS SQL: also ask the SQL Server Browser (UDP 1434) for the host's instances"),
    Flag::value(
        "browser-port",
        "browser_port",
        "PORT",
        "MS SQL: the Browser's UDP port when it is not 1434 (implies --browser)",
    ),
];
