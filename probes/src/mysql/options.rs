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

const FLAGS: &[Flag] = &[crate::tls::sslmode::DATABASE_FLAG, crate::tls::sslmode::SSLMODE_FLAG];
