//! Settings of the `mysql` probe.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{Flag, Section};

use crate::tls::SslMode;

/// Settings of the `mysql` probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MysqlOptions {
    /// Database opened by the login; default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// TLS: `disable`, `prefer` (default: switch when the server offers it) or `require`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslmode: Option<SslMode>,
}

/// The `mysql` section and its command-line flags.
pub static SECTION: Section = Section::of::<MysqlOptions>("mysql", FLAGS);

const FLAGS: &[Flag] = &[
    Flag::value(
        "database",
        "database",
        "NAME",
        "Database: named in PostgreSQL's start-up [default: the user name], opened by a MySQL or SQL Server login",
    ),
    Flag::value(
        "sslmode",
        "sslmode",
        "MODE",
        "Database TLS (postgres, mysql): disable, prefer or require [default: prefer]; SQL Server's is --encrypt",
    )
    .one_of(&["disable", "prefer", "require"]),
];
