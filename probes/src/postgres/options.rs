//! Settings of the `postgres` probe.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{Flag, Section};

use crate::tls::SslMode;

/// Settings of the `postgres` probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresOptions {
    /// Database named in the StartupMessage; default: the user name, as libpq does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// TLS: `disable`, `prefer` (default) or `require`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslmode: Option<SslMode>,
}

/// The `postgres` section and its command-line flags.
pub static SECTION: Section = Section::of::<PostgresOptions>("postgres", FLAGS);

const FLAGS: &[Flag] = &[crate::tls::sslmode::DATABASE_FLAG, crate::tls::sslmode::SSLMODE_FLAG];
