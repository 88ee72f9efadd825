//! The TLS policy of protocols that switch to TLS inside their own exchange (PostgreSQL's
//! SSLRequest, MySQL's CLIENT_SSL): one set of modes for every such probe.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Whether a database probe asks for TLS (libpq's sslmode, MySQL's ssl-mode: the modes a probe
/// needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SslMode {
    /// Never send SSLRequest.
    Disable,
    /// Ask for TLS; go on in plain text when the server answers N (the default).
    Prefer,
    /// Ask for TLS; a server that answers N fails with `postgres.ssl_refused`.
    Require,
}

/// `--database`, offered by every database probe for its `database` key (one flag, one help).
pub const DATABASE_FLAG: crate::Flag = crate::Flag::value(
    "database",
    "database",
    "NAME",
    "Database: named in PostgreSQL's start-up [default: the user name], opened by a MySQL or SQL Server login",
);

/// `--sslmode`, offered by the probes whose TLS starts inside their protocol.
pub const SSLMODE_FLAG: crate::Flag = crate::Flag::value(
    "sslmode",
    "sslmode",
    "MODE",
    "Database TLS (postgres, mysql): disable, prefer or require [default: prefer]; SQL Server's is --encrypt",
)
.one_of(&["disable", "prefer", "require"]);
